//! The core as replication's host (`repl::Host`): replication's roles,
//! serving and follower loops reach the core's partitions, settings,
//! shutdown signal and the mesh through this, and nothing else.

use std::rc::Rc;

use futures::channel::oneshot;

use super::Core;
use crate::repl::{Host, Replication, Settings};
use crate::shard::partition::xcommit::Link;
use crate::shard::Partition;
use crate::sync::Notify;

impl Host for Core {
    fn repl(&self) -> &Replication {
        &self.repl
    }

    fn core_id(&self) -> usize {
        self.id
    }

    fn node_id(&self) -> u64 {
        self.node.get()
    }

    fn settings(&self) -> Settings<'_> {
        let c = &self.config;
        Settings {
            advertise: &c.advertise,
            data_dir: &c.data_dir,
            max_frame_bytes: c.max_frame_bytes,
            durability: c.durability,
            state: &c.repl_state,
            topo: &self.topo,
        }
    }

    fn partition(&self, id: u32) -> Option<&Rc<Partition>> {
        Core::partition(self, id)
    }

    fn local(&self) -> &[Rc<Partition>] {
        &self.local
    }

    fn shutdown(&self) -> &Notify {
        &self.shutdown
    }

    fn rc(&self) -> Rc<Core> {
        Core::rc(self)
    }

    fn to_core(&self, core: usize, frame: Vec<u8>) -> oneshot::Receiver<Vec<u8>> {
        self.forward_internal(core, frame)
    }

    async fn join_commit(
        &self,
        part: &Rc<Partition>,
        batch: Vec<u8>,
        link: Link,
    ) -> Result<(), String> {
        Core::join_commit(self, part, batch, link).await
    }

    fn forget_commits(&self) {
        Core::forget_commits(self)
    }

    fn replicated(&self) {
        self.waiters.wake_all();
    }
}
