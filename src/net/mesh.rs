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

use crate::codes::WireError;
use crate::shard::partition::xcommit::{Part, Write};

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
    /// Each core's second inbox: commits across partitions
    /// (`core/cross.rs`). A held core's first inbox waits at a forwarded
    /// request while this one still takes the holder's messages.
    cross: Vec<flume::Sender<CrossMsg>>,
}

/// A core's receivers: requests and signals, and commits across partitions.
pub(crate) type Inbox = (flume::Receiver<Msg>, flume::Receiver<CrossMsg>);

impl Mesh {
    /// Creates the inboxes of `cores` cores: the mesh and each core's receivers.
    pub fn new(cores: usize) -> (Mesh, Vec<Inbox>) {
        let (tx, rx): (Vec<_>, Vec<_>) = (0..cores).map(|_| flume::unbounded()).unzip();
        let (ctx, crx): (Vec<_>, Vec<_>) = (0..cores).map(|_| flume::unbounded()).unzip();
        let mesh = Mesh {
            inboxes: tx,
            cross: ctx,
        };
        (mesh, rx.into_iter().zip(crx).collect())
    }

    pub fn send(&self, core: usize, msg: Msg) {
        // A closed inbox means that core already exited; the reply channel
        // then reports the loss to the waiting connection.
        let _ = self.inboxes[core].send(msg);
    }

    /// Sends a commit's message to `core`'s second inbox.
    pub fn send_cross(&self, core: usize, msg: CrossMsg) {
        let _ = self.cross[core].send(msg);
    }

    /// Messages waiting in `core`'s inbox.
    pub fn depth(&self, core: usize) -> usize {
        self.inboxes[core].len()
    }

    pub fn cores(&self) -> usize {
        self.inboxes.len()
    }
}

/// Records of keys, as another core's partitions stored them.
pub(crate) type Loaded = Vec<(Vec<u8>, Vec<Write>)>;

/// A coordinator's message to a core that owns some of its keys.
pub enum CrossMsg {
    /// Hold the core, then answer the records of `keys` (of database
    /// `db`). A core that answers an error is not held.
    Acquire {
        db: u16,
        now: u64,
        keys: Vec<Vec<u8>>,
        reply: oneshot::Sender<Result<Loaded, WireError>>,
    },
    /// Stage `parts` (with the applied mark of `record`: its partition,
    /// id and highest version; none when nothing else was written), wake
    /// the blocked pops of `keys`, end the hold, and answer once the
    /// writes are durable.
    Stage {
        record: Option<(u32, u64, u64)>,
        parts: Vec<Part>,
        keys: Vec<Vec<u8>>,
        reply: oneshot::Sender<Result<(), WireError>>,
    },
    /// End the hold (the commit wrote nothing here, or failed).
    Release,
    /// On a replica: the stream of `partition` reached `batch`, which holds
    /// its part of record `id` of partition `from` (on the receiving
    /// core): apply it with the record's batch (`rendezvous.rs`).
    Deposit {
        from: u32,
        id: u64,
        partition: u32,
        batch: Vec<u8>,
        reply: oneshot::Sender<Joined>,
    },
    /// BACKUP holds every core: answer once no commit across partitions
    /// this core coordinates is under way.
    Settle { reply: oneshot::Sender<()> },
    /// BACKUP: checkpoint this core's partitions under `target` (without
    /// settling the copies' journals); answer how many.
    Checkpoint {
        target: std::path::PathBuf,
        reply: oneshot::Sender<Result<u64, WireError>>,
    },
    /// A pop blocked on another core also waits on `keys` (here): register
    /// them, answer `ready`, then send on `wake` at each write to one of
    /// them until `gone` ends.
    Watch {
        keys: Vec<Vec<u8>>,
        ready: oneshot::Sender<()>,
        wake: flume::Sender<()>,
        gone: oneshot::Receiver<()>,
    },
    /// On a replica: whether `partition` (here) holds its part of record
    /// `id` of partition `from`.
    Check {
        partition: u32,
        from: u32,
        id: u64,
        reply: oneshot::Sender<bool>,
    },
    /// On a replica: apply the replicated `batch` to `partition` (here).
    Apply {
        partition: u32,
        batch: Vec<u8>,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// What became of a replicated batch handed over with its commit.
pub enum Joined {
    /// It was applied with the rest of the commit.
    Applied,
    /// Its partition may apply it on its own (the rest is already there).
    Alone,
    Failed(String),
}
