//! Requests for another core: a client's (answered BUSY at once while
//! that core runs a long script) and the node's own; and how a core
//! serves its inboxes.

use std::rc::Rc;

use futures::channel::oneshot;

use super::{serve_forwarded, Core};
use crate::codes::{ErrorCode, WireError};
use crate::net::mesh::{Inbox, Msg};
use crate::proto::{self, Opcode};

impl Core {
    /// Sends a client's request frame to another core; the reply arrives
    /// on the receiver. A core that has run one script for longer than
    /// `busy-reply-threshold` is answered for at once with BUSY.
    pub fn forward(&self, core: usize, frame: Vec<u8>) -> oneshot::Receiver<Vec<u8>> {
        if self.config.scripting.busy(core) {
            let (tx, rx) = oneshot::channel();
            let mut out = Vec::new();
            proto::encode_error(&mut out, 0, &WireError::of(ErrorCode::Busy));
            let _ = tx.send(out);
            return rx;
        }
        self.forward_internal(core, frame)
    }

    /// Sends a frame of the node's own (replication, migration) to another
    /// core, busy or not.
    pub fn forward_internal(&self, core: usize, frame: Vec<u8>) -> oneshot::Receiver<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.stats.forwarded_out();
        self.mesh.send(core, Msg::Forward { frame, reply: tx });
        rx
    }
}

/// A forwarded frame's opcode; a DB request's is the wrapped request's.
fn forwarded_opcode(frame: &[u8]) -> Option<Opcode> {
    match frame.get(8).and_then(|&b| Opcode::try_from(b).ok()) {
        Some(Opcode::Db) => frame.get(12).and_then(|&b| Opcode::try_from(b).ok()),
        other => other,
    }
}

/// Serves a core's inboxes: other cores' requests and signals, and (as its
/// own task) the coordinators of commits across partitions.
pub async fn inbox_loop(core: Rc<Core>, (inbox, cross): Inbox) {
    let _cross = glommio::spawn_local(super::cross::cross_loop(core.clone(), cross));
    while let Ok(msg) = inbox.recv_async().await {
        match msg {
            // A blocking pop may wait for long, replication requests read
            // the WAL or catch up: they run as their own tasks so the inbox
            // keeps serving other cores.
            Msg::Forward { frame, reply }
                if matches!(
                    forwarded_opcode(&frame),
                    Some(
                        Opcode::BlockingPop
                            | Opcode::Block
                            | Opcode::Pull
                            | Opcode::Sync
                            | Opcode::Role
                            | Opcode::Cluster
                    )
                ) =>
            {
                glommio::spawn_local(serve_forwarded(core.clone(), frame, reply)).detach();
            }
            Msg::Forward { frame, reply } => serve_forwarded(core.clone(), frame, reply).await,
            Msg::Shutdown => core.shutdown().notify(),
            Msg::Drained => {
                core.peer_drained();
            }
        }
    }
}
