//! Reactors, listeners, routing and the channel mesh (everything glommio).
//!
//! One pinned glommio executor per core. Each accepts on the shared port
//! (SO_REUSEPORT) and on its own port, runs connections to completion
//! inline, forwards requests for other cores' partitions over the mesh, and
//! group-commits its partitions' writes once per tick.

mod admit;
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
pub use tessera_client::sys;

use std::sync::atomic::{AtomicUsize, Ordering};

/// A global byte budget for large frame buffers and replies, shared by all
/// cores, so thousands of clients sending huge frames cannot exhaust memory.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
        }
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
