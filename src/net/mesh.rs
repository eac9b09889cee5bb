//! The channel mesh between cores.
//!
//! Every core has one inbox (an unbounded flume channel) that every other
//! core can send to. The rules that keep it free of deadlocks:
//! - a forwarded request is executed where it lands and never forwarded again;
//! - a reply travels on its own oneshot channel, so it never waits behind a
//!   request;
//! - sends never block (unbounded); back-pressure is each connection's cap on
//!   requests in flight (one read buffer's worth), not a full queue.

use futures::channel::oneshot;

pub enum Msg {
    /// A request frame (id ignored) to run on the receiving core.
    Forward {
        frame: Vec<u8>,
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// Stop accepting, drain connections, then exit.
    Shutdown,
    /// The sending core has drained its connections during shutdown.
    Drained,
}

#[derive(Clone)]
pub struct Mesh {
    inboxes: Vec<flume::Sender<Msg>>,
}

impl Mesh {
    /// Creates the inboxes of `cores` cores: the mesh and each core's receiver.
    pub fn new(cores: usize) -> (Mesh, Vec<flume::Receiver<Msg>>) {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..cores).map(|_| flume::unbounded()).unzip();
        (Mesh { inboxes: tx }, rx)
    }

    pub fn send(&self, core: usize, msg: Msg) {
        // A closed inbox means that core already exited; the reply channel
        // then reports the loss to the waiting connection.
        let _ = self.inboxes[core].send(msg);
    }

    /// Messages waiting in `core`'s inbox.
    pub fn depth(&self, core: usize) -> usize {
        self.inboxes[core].len()
    }

    pub fn cores(&self) -> usize {
        self.inboxes.len()
    }
}
