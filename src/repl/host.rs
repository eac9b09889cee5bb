//! What replication needs of the core it runs on, as a trait: the core's
//! replication state, its partitions, its settings, its shutdown signal,
//! and the way to every core of the node (the mesh). `net::core::Core`
//! implements it; replication's roles, serving and follower loops are
//! written against it, so `repl` never names `net`.

use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use futures::channel::oneshot;

use super::state::NodeState;
use super::Replication;
use crate::shard::partition::xcommit::Link;
use crate::shard::{Durability, Partition};
use crate::sync::Notify;

/// The node's settings replication reads.
#[derive(Clone, Copy)]
pub struct Settings<'a> {
    /// The binary `HOST:PORT` this node gives its primary and peers.
    pub advertise: &'a str,
    pub data_dir: &'a Path,
    /// Replies are kept under half of this.
    pub max_frame_bytes: usize,
    pub durability: Durability,
    /// The node's persisted replication state (epoch, role, peers); touched
    /// only from the blocking pool.
    pub state: &'a Arc<Mutex<NodeState>>,
    /// The node's cores, partitions and slot layout.
    pub topo: &'a crate::proto::Topology,
}

/// A core, as replication sees it.
pub trait Host: Sized + 'static {
    /// This core's replication state.
    fn repl(&self) -> &Replication;
    fn core_id(&self) -> usize;
    /// The node's id (HELLO).
    fn node_id(&self) -> u64;
    fn settings(&self) -> Settings<'_>;
    /// A partition this core owns.
    fn partition(&self, id: u32) -> Option<&Rc<Partition>>;
    /// Every partition this core owns.
    fn local(&self) -> &[Rc<Partition>];
    /// Set when the node shuts down.
    fn shutdown(&self) -> &Notify;
    /// A counted handle on this core, for tasks that outlive a request.
    fn rc(&self) -> Rc<Self>;
    /// Sends the request `frame` to core `core` of this node (this one
    /// included); the receiver gets its reply frame.
    fn to_core(&self, core: usize, frame: Vec<u8>) -> oneshot::Receiver<Vec<u8>>;
    /// A follower of `part` reached `batch`, which carries a record or a
    /// part of a commit across partitions: returns once it is applied
    /// together with the rest of that commit.
    fn join_commit(
        &self,
        part: &Rc<Partition>,
        batch: Vec<u8>,
        link: Link,
    ) -> impl std::future::Future<Output = Result<(), String>>;
    /// The followers stopped: commits waiting for their parts are dropped.
    fn forget_commits(&self);
    /// Replicated writes were applied on this core: reads blocked here
    /// (a replica's XREAD BLOCK) try again.
    fn replicated(&self);
}
