//! Replication: a replica's partitions follow the same partitions of a
//! primary (docs/replication.md).
//!
//! Built so far: each partition of a replica is followed by the core that
//! owns it, which pulls the primary's write batches after its position
//! (PULL, read from the primary's WAL with `get_updates_since`) and applies
//! each one atomically with the position it reaches, so a restarted replica
//! resumes where it was. Not yet: full sync from a checkpoint, acks
//! (`--min-replicas-to-ack`), epochs, promotion and fencing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::proto::{frame, Hello, Request};

/// Where a partition's stream stands (INFO).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamState {
    /// The primary's last sequence applied here.
    pub position: u64,
    /// The primary's latest sequence when last asked.
    pub primary_latest: u64,
    /// `connecting`, `tailing`, or why the stream stopped.
    pub state: String,
}

impl StreamState {
    /// Sequence numbers the replica is behind (0 when caught up).
    pub fn lag(&self) -> u64 {
        self.primary_latest.saturating_sub(self.position)
    }
}

/// Asks a primary for its HELLO over a plain blocking socket (used once at
/// start to check that partition counts match).
pub fn primary_hello(addr: SocketAddr) -> Result<Hello, String> {
    let fail = |e: String| format!("cannot reach the primary at {addr}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| fail(e.to_string()))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| fail(e.to_string()))?;
    let mut req = Vec::new();
    Request::Hello {
        version: crate::proto::hello::PROTOCOL_VERSION,
    }
    .encode(1, &mut req);
    s.write_all(&req).map_err(|e| fail(e.to_string()))?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).map_err(|e| fail(e.to_string()))?;
    let len = u32::from_be_bytes(head) as usize;
    if len > 16 << 20 {
        return Err(fail(format!("HELLO reply of {len} bytes")));
    }
    let mut rest = vec![0u8; len];
    s.read_exact(&mut rest).map_err(|e| fail(e.to_string()))?;
    let mut whole = head.to_vec();
    whole.extend_from_slice(&rest);
    let info = frame::check(&whole, usize::MAX)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("short HELLO reply".into()))?;
    if info.kind != frame::STATUS_OK {
        return Err(fail(
            crate::proto::decode_error(info.body(&whole)).to_string(),
        ));
    }
    Hello::decode(info.body(&whole)).map_err(|e| fail(e.to_string()))
}

/// Checks that a replica with `partitions` partitions can follow `primary`.
pub fn check_primary(primary: SocketAddr, partitions: u32) -> Result<(), String> {
    let h = primary_hello(primary)?;
    let theirs = h.slot_ranges.len() as u32;
    if theirs != partitions {
        return Err(format!(
            "the primary at {primary} has {theirs} partitions and this data directory has {partitions}: a replica needs the same partition count (create it with --partitions {theirs})"
        ));
    }
    Ok(())
}
