//! Requests for another core: a client's (answered BUSY at once while
//! that core runs a long script) and the node's own.

use futures::channel::oneshot;

use super::Core;
use crate::codes::{ErrorCode, WireError};
use crate::net::mesh::Msg;
use crate::proto;

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
