//! Replication: a replica's partitions follow the same partitions of a
//! primary (docs/replication.md).
//!
//! Every batch a partition commits ends with its position record
//! (`position`), so the WAL is the replication log: each partition of a
//! replica is followed by the core that owns it, which pulls the batches
//! after its position (PULL) and applies each whole, record included, or
//! copies a checkpoint in full (SYNC) when the WAL no longer reaches back.
//! The node's epoch, role and peers persist in `state` (`node` learns and
//! saves them); `role` holds replicaof, promotion and fencing, `serve` the
//! source's side (PULL, SYNC) and `follow` the replica's. They run on a
//! core through the `Host` trait (`host`), which `net`'s core implements:
//! replication never names `net`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::proto::{frame, Hello, Request, Topology};

/// The position records of the storage's replication log (they live in
/// `shard`, which writes them; replication reads them).
pub use crate::shard::position;
pub mod core_state;
pub mod follow;
pub mod fuzz;
pub mod host;
pub mod link;
pub mod node;
pub mod role;
pub mod serve;
pub mod state;

pub use core_state::Replication;
pub use follow::apply_batches;
pub use host::{Host, Settings};
use position::Record;

/// Errors of a core's work with its peers (status queries, promotion's
/// catch-up) and with the persisted replication state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    #[error("{0:?} is not IP:PORT")]
    BadAddress(String),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error("no answer in time")]
    Timeout,
    #[error(transparent)]
    Pull(#[from] follow::PullError),
    #[error("{peer} has nothing after index {have} (expected {target})")]
    NothingAfter {
        peer: String,
        have: u64,
        target: u64,
    },
    #[error("replication state lock poisoned")]
    StatePoisoned,
    #[error(transparent)]
    State(#[from] Error),
}

/// What a core lets clients do, by the node's role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CoreRole {
    #[default]
    Primary,
    /// Follows this primary; writes answer READONLY naming it.
    Replica(SocketAddr),
    /// Refuses writes until the reason clears (a restarted former primary
    /// waiting for a peer to confirm its epoch, a promotion in progress).
    Fenced(String),
}

/// Where a partition's stream stands (INFO).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamState {
    /// The last batch applied here.
    pub position: Record,
    /// The source's last batch when last asked.
    pub primary_latest: Record,
    /// `connecting`, `tailing`, `full-sync`, or why the stream stopped.
    pub state: String,
    /// Full syncs this stream has done since the process started.
    pub full_syncs: u64,
}

impl StreamState {
    /// Batches the replica is behind (0 when caught up).
    pub fn lag(&self) -> u64 {
        self.primary_latest
            .index
            .saturating_sub(self.position.index)
    }

    /// Bytes of batches the replica is behind.
    pub fn lag_bytes(&self) -> u64 {
        self.primary_latest
            .bytes
            .saturating_sub(self.position.bytes)
    }

    /// How much older, in commit time, the last applied batch is than the
    /// source's last batch (0 when caught up).
    pub fn lag_seconds(&self) -> f64 {
        if self.lag() == 0 {
            return 0.0;
        }
        self.primary_latest
            .commit_ms
            .saturating_sub(self.position.commit_ms) as f64
            / 1000.0
    }
}

/// Why replication state could not be read or written, or a primary could
/// not be followed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: cannot parse line {line:?}", path.display())]
    Parse {
        path: std::path::PathBuf,
        line: String,
    },
    #[error("cannot reach the primary at {addr}: {source}")]
    Unreachable {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the primary at {addr} answered HELLO badly: {why}")]
    BadHello { addr: SocketAddr, why: String },
    #[error("the primary at {primary} has {theirs} partitions and this data directory has {ours}: a replica needs the same partition count (create it with --partitions {theirs})")]
    PartitionCount {
        primary: SocketAddr,
        theirs: u32,
        ours: u32,
    },
    #[error("the primary at {primary} {theirs} and this data directory {ours}: a replica needs its primary's layout (a cluster node's data directory interleaves; start the replica on an empty data directory with the primary's mode: --cluster or not)")]
    Layout {
        primary: SocketAddr,
        theirs: &'static str,
        ours: &'static str,
    },
}

/// Asks a primary for its HELLO over a blocking socket, TLS with
/// `tls-replication` (used once at start to check that partition counts
/// match).
pub fn primary_hello(addr: SocketAddr) -> Result<Hello, Error> {
    let io = |source| Error::Unreachable { addr, source };
    let bad = |why: String| Error::BadHello { addr, why };
    let mut s = crate::client::tls::connect_blocking(
        addr,
        Duration::from_secs(10),
        Duration::from_secs(10),
    )
    .map_err(io)?;
    let mut req = Vec::new();
    Request::Hello {
        version: crate::proto::hello::PROTOCOL_VERSION,
    }
    .encode(1, &mut req);
    s.write_all(&req).and_then(|()| s.flush()).map_err(io)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).map_err(io)?;
    let len = u32::from_be_bytes(head) as usize;
    if len > 16 << 20 {
        return Err(bad(format!("a reply of {len} bytes")));
    }
    let mut rest = vec![0u8; len];
    s.read_exact(&mut rest).map_err(io)?;
    let mut whole = head.to_vec();
    whole.extend_from_slice(&rest);
    let info = frame::check(&whole, usize::MAX)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("a short reply".into()))?;
    if info.kind != frame::STATUS_OK {
        return Err(bad(
            crate::proto::decode_error(info.body(&whole)).to_string()
        ));
    }
    Hello::decode(info.body(&whole)).map_err(|e| bad(e.to_string()))
}

/// Checks that a replica whose layout is `ours` can follow the primary at
/// `primary`, whose HELLO is `h`: partition p of the replica applies the
/// primary's partition p, so both must give every slot to the same
/// partition.
pub fn check_layout(h: &Hello, primary: SocketAddr, ours: &Topology) -> Result<(), Error> {
    let theirs = h.partitions();
    if theirs != ours.partitions() {
        return Err(Error::PartitionCount {
            primary,
            theirs,
            ours: ours.partitions(),
        });
    }
    let same = Topology::from_hello(h).is_ok_and(|t| t.same_layout(ours));
    if !same {
        let name = |interleaved: bool| match interleaved {
            true => "interleaves the slots over its partitions",
            false => "gives each partition a contiguous slot range",
        };
        return Err(Error::Layout {
            primary,
            theirs: name(matches!(h.layout, crate::proto::SlotLayout::Interleaved(_))),
            ours: name(ours.interleaved()),
        });
    }
    Ok(())
}
