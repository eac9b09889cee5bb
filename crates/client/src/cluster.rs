//! Cluster mode (docs/cluster.md): a client connected to a `--cluster` node
//! learns the slot owners (`CLUSTER` action SLOTS), sends each keyed
//! request straight to the primary serving its slot (one shard-aware
//! client per node, opened on first use), and on a MOVED refreshes the
//! table and retries, a bounded number of times.

use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use ahash::AHashMap;
use tessera_wire::cluster_slots::ClusterSlots;
use tessera_wire::codes::ErrorCode;
use tessera_wire::Request;

use crate::{Client, ClientError};

/// `CLUSTER` action SLOTS.
pub(crate) const SLOTS: u8 = 6;
/// How many MOVED answers one request follows before it gives up.
pub(crate) const MAX_REDIRECTS: usize = 5;
/// How many TRYAGAIN answers (a slot migration's fence, milliseconds long)
/// one request waits out, `TRYAGAIN_PAUSE` apart, before it gives up.
const MAX_TRYAGAIN: usize = 100;
const TRYAGAIN_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// What a cluster-mode client knows of the cluster.
pub(crate) struct ClusterView {
    slots: RefCell<ClusterSlots>,
    /// Clients of the other nodes, by binary address.
    others: RefCell<AHashMap<SocketAddr, Rc<Client>>>,
}

fn resolve(a: &str) -> Option<SocketAddr> {
    a.to_socket_addrs().ok()?.next()
}

impl ClusterView {
    pub(crate) fn new(slots: ClusterSlots) -> ClusterView {
        ClusterView {
            slots: RefCell::new(slots),
            others: RefCell::default(),
        }
    }

    /// The primary serving `slot`, if the table has one.
    pub(crate) fn owner(&self, slot: u16) -> Option<SocketAddr> {
        self.slots.borrow().primary_of(slot).and_then(resolve)
    }

    pub(crate) fn replace(&self, slots: ClusterSlots) {
        *self.slots.borrow_mut() = slots;
    }

    /// The client of node `addr`, connected on first use.
    pub(crate) async fn node(&self, addr: SocketAddr) -> Result<Rc<Client>, ClientError> {
        if let Some(c) = self.others.borrow().get(&addr) {
            return Ok(c.clone());
        }
        let c = Rc::new(Client::connect_node(addr).await?);
        self.others.borrow_mut().insert(addr, c.clone());
        Ok(c)
    }

    /// Forgets a node's client (its connection failed).
    pub(crate) fn forget(&self, addr: SocketAddr) {
        self.others.borrow_mut().remove(&addr);
    }
}

impl Client {
    /// Asks the node for its slot owners; `None` outside cluster mode.
    pub async fn fetch_slots(&self) -> Option<ClusterSlots> {
        let body = self
            .call_here(&Request::Cluster {
                action: SLOTS,
                body: b"",
            })
            .await
            .ok()?;
        ClusterSlots::decode(&body).ok()
    }

    /// Cluster mode: runs `req` on the primary of `slot`, following MOVED.
    pub(crate) async fn call_in_cluster(
        &self,
        view: &ClusterView,
        slot: u16,
        req: &Request<'_>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut last = None;
        let mut waits = 0;
        let mut redirects = 0;
        while redirects <= MAX_REDIRECTS {
            let owner = view.owner(slot);
            let r = match owner {
                Some(a) if a != self.addr => match view.node(a).await {
                    Ok(c) => c.call_here(req).await,
                    Err(e) => Err(e),
                },
                _ => self.call_here(req).await,
            };
            match r {
                Err(ClientError::Server(e)) if e.code == ErrorCode::Moved => {
                    last = Some(ClientError::Server(e));
                    redirects += 1;
                    if let Some(t) = self.fetch_slots().await {
                        view.replace(t);
                    }
                }
                Err(ClientError::Server(e))
                    if e.code == ErrorCode::TryAgain && waits < MAX_TRYAGAIN =>
                {
                    waits += 1;
                    glommio::timer::sleep(TRYAGAIN_PAUSE).await;
                }
                Err(e @ (ClientError::Io(_) | ClientError::Closed)) => {
                    if let Some(a) = owner {
                        view.forget(a);
                    }
                    return Err(e);
                }
                other => return other,
            }
        }
        Err(last.unwrap_or(ClientError::Closed))
    }
}
