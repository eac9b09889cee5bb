//! Reactors, listeners, routing and the channel mesh (everything glommio).
//!
//! One pinned glommio executor per core. Each accepts on the shared port
//! (SO_REUSEPORT) and on its own port, runs connections to completion
//! inline, forwards requests for other cores' partitions over the mesh, and
//! group-commits its partitions' writes once per tick.

mod accept;
mod admit;
pub mod clients;
mod conn;
pub mod core;
pub mod epoll;
pub mod health;
pub mod http;
mod listen;
mod mesh;
pub mod metrics;
pub mod pubsub;
pub mod resp;
pub mod restart;
pub mod run;
pub mod server;
mod session;
pub mod slowlog;
mod stall;
pub use tessera_client::sys;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Client connections open on the node, against `maxclients`.
#[derive(Debug)]
pub struct Clients {
    /// `maxclients` (CONFIG SET changes it; connections already open stay).
    max: AtomicUsize,
    open: AtomicUsize,
}

/// One open client connection; dropping it frees its place.
pub struct ClientSlot(Arc<Clients>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Clients {
    pub fn new(max: usize) -> Arc<Clients> {
        Arc::new(Clients {
            max: max.into(),
            open: AtomicUsize::new(0),
        })
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed)
    }

    /// A place for a new connection, or `None` at `maxclients`.
    pub fn admit(self: &Arc<Clients>) -> Option<ClientSlot> {
        let mut cur = self.open.load(Ordering::Relaxed);
        loop {
            if cur >= self.max() {
                return None;
            }
            match self.open.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(ClientSlot(self.clone())),
                Err(now) => cur = now,
            }
        }
    }
}

/// A global byte budget for large frame buffers and replies, shared by all
/// cores, so thousands of clients sending huge frames cannot exhaust memory.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
    /// Connections waiting for bytes of the budget (`take_waiting`): while
    /// any does, stalled holders give theirs back early (`net::stall`).
    waiting: AtomicUsize,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The whole budget, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether a connection is waiting for budget.
    pub fn under_pressure(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }

    /// Takes `n` bytes, waiting up to `timeout` for other connections to
    /// give bytes back (stalled ones are evicted meanwhile); `false` when
    /// they did not.
    pub async fn take_waiting(&self, n: usize, timeout: std::time::Duration) -> bool {
        if self.try_take(n) {
            return true;
        }
        if n > self.limit {
            return false;
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let deadline = std::time::Instant::now() + timeout;
        let got = loop {
            glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            if self.try_take(n) {
                break true;
            }
            if std::time::Instant::now() >= deadline {
                break false;
            }
        };
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        got
    }

    /// Takes `n` bytes from the budget, or fails when it would be exceeded.
    pub fn try_take(&self, n: usize) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            if cur + n > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    pub fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}
