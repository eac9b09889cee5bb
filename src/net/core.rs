//! One core's state and how it executes requests.
//!
//! A core owns the partitions `p` with `p % cores == core`. Requests for its
//! own keys run inline against those partitions; requests for other cores'
//! keys travel as one message over the mesh and are never forwarded again.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use ahash::AHashMap;
use futures::channel::oneshot;

use super::mesh::{Mesh, Msg};
use super::metrics::CommandMetrics;
use crate::codes::{ErrorCode, WireError};
use crate::proto::cmd;
use crate::proto::codec::{put_bytes, put_i64, put_u32, put_u64};
use crate::proto::command::{put_found, NamedCommand};
use crate::proto::hello::cursor;
use crate::proto::table;
use crate::proto::{self, frame, Request, Topology};
use crate::shard::backup;
use crate::shard::clock::now_ms;
use crate::shard::tx::Tx;
use crate::shard::{self, Cond, Durability, InlineWrite, Partition, SetOptions};
use crate::slot::{key_slot, SLOTS};
use crate::sync::{Notify, Recent, Watermark};

/// Warm-ups from the blocking pool before a read may touch disk inline.
const WARM_ATTEMPTS: u32 = 2;

/// Writes a request staged: (partition, group).
pub type Writes = Vec<(u32, u64)>;

/// Settings every core shares.
pub struct CoreConfig {
    pub max_frame_bytes: usize,
    pub durability: Durability,
    pub memory_budget: Arc<super::Budget>,
    /// Batches slower than this are logged.
    pub slow_request: Option<std::time::Duration>,
    pub data_dir: std::path::PathBuf,
    /// Where BACKUP may write; `None` refuses backups.
    pub backup_root: Option<std::path::PathBuf>,
    /// The node's persisted replication state (epoch, role, peers); only
    /// role changes and peer discoveries touch it, from the blocking pool.
    pub repl_state: Arc<std::sync::Mutex<crate::repl::state::NodeState>>,
    /// The binary `HOST:PORT` this node gives its primary and peers.
    pub advertise: String,
    /// Replicas that must have applied a group before its acks (0 = async).
    pub min_replicas_to_ack: u32,
    pub replica_ack_timeout: std::time::Duration,
}

/// Per-core counters for INFO.
#[derive(Default)]
pub struct CoreStats {
    pub connections: Cell<u64>,
    pub connections_total: Cell<u64>,
    pub requests: Cell<u64>,
    pub forwarded_out: Cell<u64>,
    pub forwarded_in: Cell<u64>,
    pub errors: Cell<u64>,
    /// WAL syncs (group commits in fsync mode, the periodic sync in wal mode)
    /// and the time they took, in microseconds.
    pub wal_syncs: Cell<u64>,
    pub wal_sync_us: Cell<u64>,
}

/// SCAN positions a core remembers (token → last raw key returned).
const SCAN_TOKENS_KEPT: usize = 65536;

pub struct Core {
    pub id: usize,
    pub topo: Arc<Topology>,
    parts: Vec<Option<Rc<Partition>>>,
    pub local: Vec<Rc<Partition>>,
    pub mesh: Mesh,
    pub config: Arc<CoreConfig>,
    /// The open group number, shared with the partitions.
    pub group: Rc<Cell<u64>>,
    /// Highest group whose writes are committed.
    pub committed: Watermark,
    /// Set when writes are staged and the committer should run.
    pub dirty: Notify,
    pub shutdown: Notify,
    /// Readiness of this core's client connections (one epoll instance).
    pub poller: Rc<super::epoll::Poller>,
    pub peers_drained: Cell<usize>,
    pub drained_notify: Notify,
    pub hello: RefCell<Rc<Vec<u8>>>,
    /// This node's id (from the manifest, as HELLO gives it).
    pub node: Cell<u64>,
    scan_tokens: RefCell<Recent<Vec<u8>>>,
    pub stats: CoreStats,
    /// Requests by command, latency, bytes (for /metrics).
    pub metrics: RefCell<CommandMetrics>,
    /// This core's pub/sub subscribers.
    pub pubsub: RefCell<super::pubsub::PubSub>,
    /// Blocked list pops waiting on each key (woken by writes to the key).
    blocked: RefCell<AHashMap<Vec<u8>, Vec<Rc<Notify>>>>,
    /// On a replica: each local partition's stream.
    pub repl: RefCell<AHashMap<u32, crate::repl::StreamState>>,
    /// What clients may do here (writes only on a primary).
    pub role: RefCell<crate::repl::CoreRole>,
    /// The highest epoch this node has taken or seen.
    pub epoch: Cell<crate::repl::position::Epoch>,
    /// Followers stop when this moves (a role change); running ones are
    /// counted so a role change can wait for them.
    pub follow_gen: Cell<u64>,
    pub followers: Cell<usize>,
    pub followers_done: Notify,
    /// Other nodes of the replication group (binary `HOST:PORT`).
    pub peers: RefCell<Vec<String>>,
    /// On a primary: each replica's address by node id.
    pub replica_addrs: RefCell<AHashMap<u64, String>>,
    /// Full-sync sources being copied (session → checkpoint, last use).
    pub sync_sessions: RefCell<AHashMap<u64, (Rc<crate::shard::repl_log::SyncSource>, Instant)>>,
    pub sync_counter: Cell<u64>,
    /// On a primary: the position each replica reported per partition
    /// ((partition, replica node id) → last batch index applied).
    pub replica_positions: RefCell<AHashMap<(u32, u64), u64>>,
    /// Counts position reports; every waiter sees each one (unlike a
    /// consumed flag, which wakes only the first of several waiting groups).
    pub replica_progress: Watermark,
    /// Counts group commits that wrote batches (replicas' pulls wait on it).
    pub log_written: Watermark,
    /// Groups whose replicas did not acknowledge in time (most recent last).
    unacked_groups: RefCell<VecDeque<u64>>,
    /// The last group handed to `release_group` (acks are released in order).
    release_tail: Cell<u64>,
    pub started: Instant,
    /// This core itself (set once it is in its `Rc`), for tasks it spawns.
    pub this: RefCell<std::rc::Weak<Core>>,
}

fn wire(e: shard::Error) -> WireError {
    WireError::new(e.code(), e.to_string())
}

/// Appends a complete ok response whose body `f` writes.
fn ok(out: &mut Vec<u8>, id: u32, f: impl FnOnce(&mut Vec<u8>)) {
    let start = frame::begin(out, id, frame::STATUS_OK, 0);
    f(out);
    frame::finish(out, start);
}

impl Core {
    pub fn new(
        id: usize,
        topo: Arc<Topology>,
        local: Vec<Rc<Partition>>,
        mesh: Mesh,
        config: Arc<CoreConfig>,
        group: Rc<Cell<u64>>,
        poller: Rc<super::epoll::Poller>,
    ) -> Core {
        let mut parts = vec![None; topo.partitions() as usize];
        for p in &local {
            parts[p.id() as usize] = Some(p.clone());
        }
        Core {
            id,
            topo,
            parts,
            local,
            mesh,
            config,
            group,
            committed: Watermark::default(),
            dirty: Notify::default(),
            shutdown: Notify::default(),
            poller,
            peers_drained: Cell::new(0),
            drained_notify: Notify::default(),
            hello: RefCell::new(Rc::new(Vec::new())),
            node: Cell::new(0),
            scan_tokens: RefCell::new(Recent::new(SCAN_TOKENS_KEPT)),
            stats: CoreStats::default(),
            metrics: RefCell::new(CommandMetrics::default()),
            pubsub: RefCell::new(Default::default()),
            blocked: RefCell::new(AHashMap::new()),
            repl: RefCell::new(AHashMap::new()),
            role: RefCell::new(crate::repl::CoreRole::Primary),
            epoch: Cell::new(Default::default()),
            follow_gen: Cell::new(0),
            followers: Cell::new(0),
            followers_done: Notify::default(),
            peers: RefCell::new(Vec::new()),
            replica_addrs: RefCell::new(AHashMap::new()),
            sync_sessions: RefCell::new(AHashMap::new()),
            sync_counter: Cell::new(0),
            replica_positions: RefCell::new(AHashMap::new()),
            replica_progress: Watermark::default(),
            log_written: Watermark::default(),
            unacked_groups: RefCell::new(VecDeque::new()),
            release_tail: Cell::new(0),
            started: Instant::now(),
            this: RefCell::new(std::rc::Weak::new()),
        }
    }

    pub fn partition(&self, p: u32) -> Option<&Rc<Partition>> {
        self.parts.get(p as usize).and_then(|x| x.as_ref())
    }

    /// The local partition of `slot`. A miss is a routing bug, reported as an
    /// internal error rather than a panic.
    fn part_of_slot(&self, slot: u16) -> Result<&Rc<Partition>, WireError> {
        let p = self.topo.partition_of_slot(slot);
        self.partition(p).ok_or_else(|| {
            WireError::new(
                ErrorCode::Internal,
                format!("slot {slot} (partition {p}) is not on core {}", self.id),
            )
        })
    }

    /// Runs a single-key storage operation, bringing the key into the block
    /// cache from the blocking pool whenever RocksDB would have to read disk.
    async fn with_key<T>(
        &self,
        key: &[u8],
        mut op: impl FnMut(&Partition, u16) -> Result<T, shard::Error>,
    ) -> Result<T, WireError> {
        let slot = key_slot(key);
        let part = self.part_of_slot(slot)?;
        let mut warmed = 0;
        loop {
            let disk = warmed >= WARM_ATTEMPTS;
            part.allow_disk(disk);
            let r = op(part, slot);
            part.allow_disk(false);
            match r {
                Err(shard::Error::WouldBlock) if !disk => {
                    glommio::executor()
                        .spawn_blocking(part.warm_fn(slot, key))
                        .await;
                    warmed += 1;
                }
                other => return other.map_err(wire),
            }
        }
    }

    /// Executes a request whose keys are all on this core, appending its
    /// response (with `id`) to `out` and the groups it wrote to `writes`.
    pub async fn exec_local(
        &self,
        req: &Request<'_>,
        id: u32,
        out: &mut Vec<u8>,
        writes: &mut Writes,
    ) {
        self.stats.requests.set(self.stats.requests.get() + 1);
        if let Err(e) = self.try_exec_local(req, id, out, writes).await {
            self.stats.errors.set(self.stats.errors.get() + 1);
            proto::encode_error(out, id, &e);
        }
        if !writes.is_empty() {
            self.dirty.notify();
        }
    }

    async fn try_exec_local(
        &self,
        req: &Request<'_>,
        id: u32,
        out: &mut Vec<u8>,
        writes: &mut Writes,
    ) -> Result<(), WireError> {
        let now = now_ms();
        if is_write(req) {
            if let Some(e) = self.readonly_error() {
                return Err(e);
            }
        }
        match req {
            Request::Ping(payload) => ok(out, id, |o| o.extend_from_slice(payload)),
            Request::Hello { version } => {
                if *version != proto::hello::PROTOCOL_VERSION {
                    return Err(WireError::new(
                        ErrorCode::BadArguments,
                        format!(
                            "protocol version {version} is not supported; this server speaks {}",
                            proto::hello::PROTOCOL_VERSION
                        ),
                    ));
                }
                let hello = self.hello.borrow().clone();
                ok(out, id, |o| o.extend_from_slice(&hello));
            }
            Request::Get { key } => {
                let start = frame::begin(out, id, frame::STATUS_OK, 0);
                let r = self
                    .with_key(key, |p, s| {
                        p.get(s, key, now, |v| {
                            put_found(out, v.map(|(m, b)| (m.version, b)))
                        })
                    })
                    .await;
                match r {
                    Ok(()) => frame::finish(out, start),
                    Err(e) => {
                        out.truncate(start);
                        return Err(e);
                    }
                }
            }
            Request::Set { key, value, args } => {
                let opts = SetOptions {
                    ttl_ms: args.ttl_ms,
                    cond: if args.nx {
                        Cond::IfAbsent
                    } else if args.xx {
                        Cond::IfPresent
                    } else {
                        Cond::Always
                    },
                    expected_version: args.expected_version,
                    keep_ttl: args.keep_ttl,
                };
                let (outcome, group) = self
                    .with_key(key, |p, s| {
                        p.set(s, key, value, &opts, now)
                            .map(|(o, g)| (o, g.map(|g| (p.id(), g))))
                    })
                    .await?;
                writes.extend(group);
                ok(out, id, |o| {
                    o.push(outcome.applied as u8);
                    put_u64(o, outcome.version);
                });
            }
            Request::Del { keys } => {
                let mut n = 0u64;
                for key in keys {
                    let (existed, group) = self
                        .with_key(key, |p, s| {
                            p.delete(s, key, now)
                                .map(|(e, g)| (e, g.map(|g| (p.id(), g))))
                        })
                        .await?;
                    n += existed as u64;
                    writes.extend(group);
                }
                ok(out, id, |o| put_u64(o, n));
            }
            Request::Exists { keys } => {
                let mut n = 0u64;
                for key in keys {
                    if self
                        .with_key(key, |p, s| p.meta(s, key, now))
                        .await?
                        .is_some()
                    {
                        n += 1;
                    }
                }
                ok(out, id, |o| put_u64(o, n));
            }
            Request::MGet { keys } => {
                let start = frame::begin(out, id, frame::STATUS_OK, 0);
                put_u32(out, keys.len() as u32);
                for key in keys {
                    // A key holding a collection reads as absent, as in Redis's MGET.
                    let r = self
                        .with_key(key, |p, s| {
                            match p.get(s, key, now, |v| {
                                put_found(out, v.map(|(m, b)| (m.version, b)))
                            }) {
                                Err(shard::Error::WrongType) => {
                                    put_found(out, None);
                                    Ok(())
                                }
                                other => other,
                            }
                        })
                        .await;
                    if let Err(e) = r {
                        out.truncate(start);
                        return Err(e);
                    }
                }
                frame::finish(out, start);
            }
            Request::MSet { pairs } => {
                let opts = SetOptions::default();
                for (key, value) in pairs {
                    let (_, group) = self
                        .with_key(key, |p, s| {
                            p.set(s, key, value, &opts, now)
                                .map(|(o, g)| (o, g.map(|g| (p.id(), g))))
                        })
                        .await?;
                    writes.extend(group);
                }
                ok(out, id, |o| put_u64(o, pairs.len() as u64));
            }
            Request::IncrBy { key, delta } => {
                let (value, version, group) = self
                    .with_key(key, |p, s| {
                        p.incr_by(s, key, *delta, now)
                            .map(|(v, ver, g)| (v, ver, (p.id(), g)))
                    })
                    .await?;
                writes.push(group);
                ok(out, id, |o| {
                    put_i64(o, value);
                    put_u64(o, version);
                });
            }
            Request::Expire { key, ttl_ms } => {
                let group = self
                    .with_key(key, |p, s| {
                        p.expire(s, key, *ttl_ms, now)
                            .map(|g| g.map(|g| (p.id(), g)))
                    })
                    .await?;
                writes.extend(group);
                ok(out, id, |o| o.push(group.is_some() as u8));
            }
            Request::Persist { key } => {
                let group = self
                    .with_key(key, |p, s| {
                        p.persist(s, key, now).map(|g| g.map(|g| (p.id(), g)))
                    })
                    .await?;
                writes.extend(group);
                ok(out, id, |o| o.push(group.is_some() as u8));
            }
            Request::Ttl { key } => {
                let ttl = self.with_key(key, |p, s| p.ttl_ms(s, key, now)).await?;
                ok(out, id, |o| put_i64(o, ttl));
            }
            Request::Scan {
                cursor: c,
                count,
                prefix,
            } => {
                let (next, keys) = self.scan(*c, *count, prefix, now).await?;
                ok(out, id, |o| {
                    put_u64(o, next);
                    put_u32(o, keys.len() as u32);
                    for k in &keys {
                        put_bytes(o, k);
                    }
                });
            }
            Request::DbSize => {
                let n: u64 = self.local.iter().map(|p| p.info().estimate_keys).sum();
                ok(out, id, |o| put_u64(o, n));
            }
            Request::Info => {
                let text = self.info_text();
                ok(out, id, |o| o.extend_from_slice(text.as_bytes()));
            }
            Request::Metrics => {
                let text = self.metrics_lines();
                ok(out, id, |o| o.extend_from_slice(text.as_bytes()));
            }
            Request::Backup { dir } => {
                let n = self.backup(dir).await?;
                ok(out, id, |o| put_u64(o, n));
            }
            Request::Command(c) => {
                let (results, group) = self.run_named(std::slice::from_ref(c), now).await?;
                writes.extend(group);
                ok(out, id, |o| {
                    for (version, value) in &results {
                        put_u64(o, *version);
                        value.encode(o);
                    }
                });
            }
            Request::Pull { .. } => self.serve_pull(req, id, out).await?,
            Request::Sync { .. } => self.serve_sync(req, id, out).await?,
            Request::Role { action, arg } => {
                let text = self.role_request(*action, arg).await?;
                ok(out, id, |o| o.extend_from_slice(text.as_bytes()));
            }
            Request::FlushAll => {
                for p in &self.local {
                    let g = p.flush_all().map_err(wire)?;
                    writes.push((p.id(), g));
                }
                ok(out, id, |o| put_u64(o, self.local.len() as u64));
            }
            Request::Publish { channel, message } => {
                let n = self.pubsub.borrow().publish(channel, message);
                ok(out, id, |o| put_u64(o, n));
            }
            Request::PubSub { kind, args } => {
                let ps = self.pubsub.borrow();
                ok(out, id, |o| match kind {
                    0 => {
                        for c in ps.channels(args.first().copied()) {
                            put_bytes(o, &c);
                        }
                    }
                    1 => {
                        for c in args {
                            put_bytes(o, c);
                            put_u64(o, ps.numsub(c));
                        }
                    }
                    _ => put_u64(o, ps.numpat()),
                });
            }
            Request::BlockingPop {
                timeout_ms,
                left,
                keys,
                dest,
            } => {
                let (found, group) = self.blocking_pop(*timeout_ms, *left, keys, *dest).await?;
                writes.extend(group);
                ok(out, id, |o| match found {
                    None => o.push(0),
                    Some((k, v)) => {
                        o.push(1);
                        put_bytes(o, &k);
                        put_bytes(o, &v);
                    }
                });
            }
            Request::Batch(cmds) => {
                let (results, group) = self.run_named(cmds, now).await?;
                writes.extend(group);
                ok(out, id, |o| {
                    put_u32(o, results.len() as u32);
                    for (version, value) in &results {
                        put_u64(o, *version);
                        value.encode(o);
                    }
                });
            }
        }
        Ok(())
    }

    /// Runs named commands whose keys share one slot in one transaction:
    /// all of them apply (one staged unit of the open group) or none does.
    /// Returns each command's (version, value) and the write to wait for.
    async fn run_named(
        &self,
        cmds: &[NamedCommand<'_>],
        now: u64,
    ) -> Result<(Vec<(u64, cmd::Value)>, Option<(u32, u64)>), WireError> {
        let batch = cmds.len() > 1;
        let at = |i: usize, e: WireError| {
            if batch {
                WireError::new(e.code, format!("command {i}: {}", e.message))
            } else {
                e
            }
        };
        let mut specs = Vec::with_capacity(cmds.len());
        let mut keys: Vec<&[u8]> = Vec::new();
        for (i, c) in cmds.iter().enumerate() {
            let spec = cmd::lookup(&c.args).map_err(|e| at(i, e))?;
            keys.extend(spec.0.keys_of(&c.args).map_err(|e| at(i, e))?);
            specs.push(spec);
        }
        let slot = cmd::common_slot(&keys)?;
        let part = self.part_of_slot(slot)?;
        let mut warmed = 0;
        loop {
            let mut tx = Tx::new(part, slot, now);
            let mut results = Vec::with_capacity(cmds.len());
            let mut blocked = false;
            let disk = warmed >= WARM_ATTEMPTS;
            part.allow_disk(disk);
            for (i, (c, spec)) in cmds.iter().zip(&specs).enumerate() {
                match cmd::apply(&mut tx, *spec, &c.args, c.expected_version) {
                    Ok(r) => results.push(r),
                    Err(cmd::CmdError::Store(shard::Error::WouldBlock)) if !disk => {
                        blocked = true;
                        break;
                    }
                    Err(e) => {
                        part.allow_disk(false);
                        return Err(at(i, e.into_wire()));
                    }
                }
            }
            part.allow_disk(false);
            warmed += 1;
            if !blocked {
                let group = tx.commit().map(|g| (part.id(), g));
                if group.is_some() {
                    self.wake_blocked(&keys);
                }
                return Ok((results, group));
            }
            drop(tx);
            glommio::executor()
                .spawn_blocking(part.warm_fn(slot, keys[0]))
                .await;
        }
    }

    /// Wakes the pops blocked on any of `keys` (they retry; the first to run
    /// takes the element).
    fn wake_blocked(&self, keys: &[&[u8]]) {
        let blocked = self.blocked.borrow();
        if blocked.is_empty() {
            return;
        }
        for k in keys {
            if let Some(waiters) = blocked.get(*k) {
                for w in waiters {
                    w.notify();
                }
            }
        }
    }

    /// BLPOP/BRPOP/BLMOVE on the core owning the keys: pops now if any list
    /// has an element, else waits for a write to one of the keys, the
    /// timeout (0 = none) or shutdown. The pop and the timeout are decided
    /// here, so an element is either returned or left in the list.
    async fn blocking_pop(
        &self,
        timeout_ms: u64,
        left: bool,
        keys: &[&[u8]],
        dest: Option<(&[u8], bool)>,
    ) -> Result<(Option<(Vec<u8>, Vec<u8>)>, Option<(u32, u64)>), WireError> {
        let mut all: Vec<&[u8]> = keys.to_vec();
        all.extend(dest.map(|d| d.0));
        cmd::common_slot(&all)?;
        let deadline =
            (timeout_ms > 0).then(|| Instant::now() + std::time::Duration::from_millis(timeout_ms));
        let side: &[u8] = if left { b"LEFT" } else { b"RIGHT" };
        let me = Rc::new(Notify::default());
        let _registered = Blocked::register(self, keys, &me);
        loop {
            for key in keys {
                let words: Vec<&[u8]> = match dest {
                    None => vec![if left { b"LPOP" } else { b"RPOP" }, key],
                    Some((d, to_left)) => {
                        vec![
                            b"LMOVE",
                            key,
                            d,
                            side,
                            if to_left { b"LEFT" } else { b"RIGHT" },
                        ]
                    }
                };
                let (mut r, group) = self
                    .run_named(&[NamedCommand::new(words)], now_ms())
                    .await?;
                if let Some((_, cmd::Value::Bytes(v))) = r.pop() {
                    return Ok((Some((key.to_vec(), v)), group));
                }
            }
            let wait = me.wait(true);
            let stop = self.shutdown.wait(false);
            let timer = async {
                match deadline {
                    Some(d) => {
                        glommio::timer::sleep(d.saturating_duration_since(Instant::now())).await
                    }
                    None => futures::future::pending::<()>().await,
                }
            };
            use futures::future::{select, Either};
            let woke = {
                let wait = std::pin::pin!(wait);
                let stop = std::pin::pin!(stop);
                let timer = std::pin::pin!(timer);
                match select(wait, select(stop, timer)).await {
                    Either::Left(_) => true,
                    Either::Right(_) => false,
                }
            };
            if !woke {
                return Ok((None, None));
            }
        }
    }

    /// Checkpoints this core's partitions into `dir` (and, on the core owning
    /// partition 0, the manifest), off the reactor. Returns the partitions done.
    async fn backup(&self, dir: &[u8]) -> Result<u64, WireError> {
        let bad = |m: String| WireError::new(ErrorCode::BadArguments, m);
        let dir = std::str::from_utf8(dir)
            .map_err(|_| bad("the backup directory is not UTF-8".into()))?;
        let target = backup::check_target(
            self.config.backup_root.as_deref(),
            std::path::Path::new(dir),
        )
        .map_err(bad)?;
        let mine: Vec<u32> = self.local.iter().map(|p| p.id()).collect();
        backup::check_free(&target, &mine, mine.contains(&0)).map_err(bad)?;
        let ex = glommio::executor();
        let mut n = 0;
        for p in &self.local {
            ex.spawn_blocking(p.checkpoint_fn(backup::partition_target(&target, p.id())))
                .await
                .map_err(|e| WireError::new(e.code(), e.to_string()))?;
            n += 1;
        }
        if self.local.iter().any(|p| p.id() == 0) {
            let (data, to) = (self.config.data_dir.clone(), target.clone());
            ex.spawn_blocking(move || backup::write_manifest(&data, &to))
                .await
                .map_err(|e| WireError::new(e.code(), e.to_string()))?;
        }
        tracing::info!(
            core = self.id,
            partitions = n,
            "backup written to {}",
            target.display()
        );
        Ok(n)
    }

    /// One SCAN page within the partition of the cursor's slot.
    async fn scan(
        &self,
        c: u64,
        count: u32,
        prefix: &[u8],
        now: u64,
    ) -> Result<(u64, Vec<Vec<u8>>), WireError> {
        let slot = cursor::slot(c);
        let token = cursor::token(c);
        let part = self.part_of_slot(slot)?;
        let after = if token == 0 {
            None
        } else {
            // An unknown token restarts the slot: keys may repeat, none is skipped.
            self.scan_tokens
                .borrow()
                .get(&token)
                .filter(|k| k.len() >= 2 && k[..2] == slot.to_be_bytes())
                .cloned()
        };
        let count = count.clamp(1, 100_000) as usize;
        let page = glommio::executor()
            .spawn_blocking(part.scan_fn(slot, after, prefix.to_vec(), count, now))
            .await
            .map_err(wire)?;
        let next = match page.resume {
            Some((s, Some(last))) => {
                // Tokens differ per core so a cursor never names another core's entry.
                let mut tokens = self.scan_tokens.borrow_mut();
                let t = (((tokens.next_seq() << 8) | self.id as u64) & cursor::TOKEN_MASK).max(1);
                tokens.insert(t, last);
                cursor::make(s, t)
            }
            Some((s, None)) => cursor::make(s, 0),
            None if part.slots().end >= SLOTS => 0,
            None => cursor::make(part.slots().end, 0),
        };
        Ok((next, page.keys))
    }

    /// This core's metrics in the line format of `net::metrics`.
    fn metrics_lines(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let c = self.id;
        self.metrics.borrow().write_lines(c, &mut s);
        let st = &self.stats;
        for (kind, name, v) in [
            ("g", "tessera_connections", st.connections.get() as f64),
            (
                "c",
                "tessera_connections_accepted_total",
                st.connections_total.get() as f64,
            ),
            (
                "c",
                "tessera_forwarded_out_total",
                st.forwarded_out.get() as f64,
            ),
            (
                "c",
                "tessera_forwarded_in_total",
                st.forwarded_in.get() as f64,
            ),
            ("g", "tessera_mesh_inbox_depth", self.mesh.depth(c) as f64),
            ("c", "tessera_wal_syncs_total", st.wal_syncs.get() as f64),
            (
                "c",
                "tessera_wal_sync_seconds_total",
                st.wal_sync_us.get() as f64 / 1e6,
            ),
        ] {
            let _ = writeln!(s, "{kind} {name} core={c} {v}");
        }
        // Process-wide: reported once, by core 0.
        if c == 0 {
            let _ = writeln!(
                s,
                "c tessera_expired_keys_removed_total node=local {}",
                shard::expired_removed()
            );
            let _ = writeln!(
                s,
                "c tessera_subkeys_removed_total node=local {}",
                shard::subkeys_removed()
            );
        }
        for p in &self.local {
            let i = p.info();
            let l = format!("partition={},core={c}", i.id);
            for (kind, name, v) in [
                ("c", "tessera_partition_reads_total", i.reads),
                ("c", "tessera_partition_writes_total", i.writes),
                (
                    "c",
                    "tessera_partition_blocking_reads_total",
                    i.blocking_reads,
                ),
                (
                    "c",
                    "tessera_partition_inline_disk_reads_total",
                    i.inline_disk_reads,
                ),
                (
                    "c",
                    "tessera_partition_range_compactions_total",
                    i.range_compactions,
                ),
                ("c", "tessera_partition_group_commits_total", i.groups),
                ("c", "tessera_partition_write_stalls_total", i.stalls),
                (
                    "c",
                    "tessera_partition_block_cache_hits_total",
                    i.block_cache_hits,
                ),
                (
                    "c",
                    "tessera_partition_block_cache_misses_total",
                    i.block_cache_misses,
                ),
                ("g", "tessera_partition_memtable_bytes", i.memtable_bytes),
                ("g", "tessera_partition_sst_bytes", i.sst_bytes),
                (
                    "g",
                    "tessera_partition_pending_compaction_bytes",
                    i.pending_compaction_bytes,
                ),
                ("g", "tessera_partition_keys_estimate", i.estimate_keys),
                (
                    "c",
                    "tessera_partition_read_cache_hits_total",
                    i.read_cache_hits,
                ),
                (
                    "c",
                    "tessera_partition_read_cache_misses_total",
                    i.read_cache_misses,
                ),
                ("g", "tessera_partition_read_cache_keys", i.read_cache_keys),
                (
                    "g",
                    "tessera_partition_poisoned",
                    u64::from(i.poisoned.is_some()),
                ),
            ] {
                let _ = writeln!(s, "{kind} {name} {l} {v}");
            }
            // Replication: the log position, and on a replica the stream.
            let rec = p.last_record();
            let mut repl = vec![
                ("g", "tessera_repl_index", rec.index as f64),
                ("g", "tessera_repl_epoch_term", rec.epoch.term as f64),
            ];
            if let Some(r) = self.repl.borrow().get(&i.id) {
                repl.extend([
                    ("g", "tessera_repl_lag_batches", r.lag() as f64),
                    ("g", "tessera_repl_lag_bytes", r.lag_bytes() as f64),
                    ("g", "tessera_repl_lag_seconds", r.lag_seconds()),
                    ("c", "tessera_repl_full_syncs_total", r.full_syncs as f64),
                    ("g", "tessera_repl_tailing", f64::from(r.state == "tailing")),
                ]);
            }
            for (kind, name, v) in repl {
                let _ = writeln!(s, "{kind} {name} {l} {v}");
            }
        }
        let role = match &*self.role.borrow() {
            crate::repl::CoreRole::Primary => 0,
            crate::repl::CoreRole::Replica(_) => 1,
            crate::repl::CoreRole::Fenced(_) => 2,
        };
        let _ = writeln!(s, "g tessera_role core={c} {role}");
        let _ = writeln!(s, "g tessera_epoch_term core={c} {}", self.epoch.get().term);
        s
    }

    fn info_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let st = &self.stats;
        let _ = writeln!(s, "# core {}", self.id);
        let _ = writeln!(s, "core{}_connections:{}", self.id, st.connections.get());
        let _ = writeln!(
            s,
            "core{}_connections_total:{}",
            self.id,
            st.connections_total.get()
        );
        let _ = writeln!(s, "core{}_requests:{}", self.id, st.requests.get());
        let _ = writeln!(s, "core{}_errors:{}", self.id, st.errors.get());
        let _ = writeln!(
            s,
            "core{}_forwarded_out:{}",
            self.id,
            st.forwarded_out.get()
        );
        let _ = writeln!(s, "core{}_forwarded_in:{}", self.id, st.forwarded_in.get());
        let blocked: usize = self.blocked.borrow().values().map(|w| w.len()).sum();
        let _ = writeln!(s, "core{}_blocked_clients:{blocked}", self.id);
        let _ = writeln!(
            s,
            "core{}_committed_group:{}",
            self.id,
            self.committed.get()
        );
        let _ = writeln!(s, "core{}_role:{}", self.id, self.role_text());
        let _ = writeln!(s, "core{}_epoch:{}", self.id, self.epoch.get());
        let _ = writeln!(s, "core{}_peers:{}", self.id, self.peers.borrow().join(","));
        for p in &self.local {
            let i = p.info();
            let n = i.id;
            let _ = writeln!(s, "# partition {n}");
            let _ = writeln!(s, "partition{n}_core:{}", self.id);
            let _ = writeln!(
                s,
                "partition{n}_slots:{}-{}",
                i.slots.start,
                i.slots.end - 1
            );
            let _ = writeln!(s, "partition{n}_keys_estimate:{}", i.estimate_keys);
            let _ = writeln!(s, "partition{n}_reads:{}", i.reads);
            let _ = writeln!(s, "partition{n}_writes:{}", i.writes);
            let _ = writeln!(s, "partition{n}_blocking_reads:{}", i.blocking_reads);
            let _ = writeln!(s, "partition{n}_inline_disk_reads:{}", i.inline_disk_reads);
            let _ = writeln!(s, "partition{n}_range_compactions:{}", i.range_compactions);
            let _ = writeln!(s, "partition{n}_read_cache_hits:{}", i.read_cache_hits);
            let _ = writeln!(s, "partition{n}_read_cache_misses:{}", i.read_cache_misses);
            let _ = writeln!(s, "partition{n}_read_cache_keys:{}", i.read_cache_keys);
            let _ = writeln!(s, "partition{n}_group_commits:{}", i.groups);
            let _ = writeln!(s, "partition{n}_write_stalls:{}", i.stalls);
            let _ = writeln!(s, "partition{n}_wal_synced:{}", i.wal_synced);
            let _ = writeln!(s, "partition{n}_memtable_bytes:{}", i.memtable_bytes);
            let _ = writeln!(s, "partition{n}_sst_bytes:{}", i.sst_bytes);
            let _ = writeln!(
                s,
                "partition{n}_pending_compaction_bytes:{}",
                i.pending_compaction_bytes
            );
            let _ = writeln!(
                s,
                "partition{n}_poisoned:{}",
                i.poisoned.as_deref().unwrap_or("no")
            );
            let _ = writeln!(s, "partition{n}_latest_sequence:{}", p.latest_sequence());
            let rec = p.last_record();
            let _ = writeln!(s, "partition{n}_position:{}", rec.position());
            let _ = writeln!(s, "partition{n}_log_bytes:{}", rec.bytes);
            for ((part, node), at) in self.replica_positions.borrow().iter() {
                if *part == n {
                    let _ = writeln!(s, "partition{n}_replica_{node:016x}_index:{at}");
                }
            }
            if let Some(r) = self.repl.borrow().get(&n) {
                let _ = writeln!(s, "partition{n}_repl_position:{}", r.position.position());
                let _ = writeln!(s, "partition{n}_repl_index:{}", r.position.index);
                let _ = writeln!(s, "partition{n}_repl_lag:{}", r.lag());
                let _ = writeln!(s, "partition{n}_repl_lag_bytes:{}", r.lag_bytes());
                let _ = writeln!(s, "partition{n}_repl_lag_seconds:{:.3}", r.lag_seconds());
                let _ = writeln!(s, "partition{n}_repl_state:{}", r.state);
                let _ = writeln!(s, "partition{n}_repl_full_syncs:{}", r.full_syncs);
            }
        }
        s
    }

    /// Server-wide INFO header (the core that answers adds it once).
    pub fn info_header(&self) -> String {
        format!(
            "# server\nversion:{}\nnode_id:{:016x}\ncores:{}\npartitions:{}\ndurability:{}\nuptime_seconds:{}\n",
            env!("CARGO_PKG_VERSION"),
            self.node_id(),
            self.topo.cores(),
            self.topo.partitions(),
            self.config.durability.as_str(),
            self.started.elapsed().as_secs()
        )
    }

    pub fn node_id(&self) -> u64 {
        self.node.get()
    }

    /// Checks, after its group committed, whether a write survived; a
    /// poisoned partition turns the reply into its error.
    pub fn write_error(&self, writes: &[(u32, u64)]) -> Option<WireError> {
        let poisoned = writes.iter().find_map(|&(p, g)| {
            self.partition(p)
                .and_then(|part| part.group_status(g).err())
                .map(wire)
        });
        poisoned.or_else(|| {
            let unacked = self.unacked_groups.borrow();
            writes.iter().find(|w| unacked.contains(&w.1)).map(|_| {
                WireError::new(
                    ErrorCode::NoReplicas,
                    format!(
                        "fewer than {} replicas applied the write within {} ms; it is applied on the primary and may be on some replicas",
                        self.config.min_replicas_to_ack,
                        self.config.replica_ack_timeout.as_millis()
                    ),
                )
            })
        })
    }

    /// Waits until `min_replicas_to_ack` replicas report positions at or
    /// beyond each `(partition, sequence)`, or the timeout; returns whether
    /// they did.
    async fn replicas_reached(&self, targets: &[(u32, u64)]) -> bool {
        let need = self.config.min_replicas_to_ack as usize;
        let deadline = Instant::now() + self.config.replica_ack_timeout;
        loop {
            let seen = self.replica_progress.get();
            let done = {
                let pos = self.replica_positions.borrow();
                targets.iter().all(|&(p, seq)| {
                    pos.iter()
                        .filter(|((part, _), at)| *part == p && **at >= seq)
                        .count()
                        >= need
                })
            };
            if done {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let wait = std::pin::pin!(self.replica_progress.reach(seen + 1));
            let sleep = std::pin::pin!(glommio::timer::sleep(deadline - now));
            let _ = futures::future::select(wait, sleep).await;
        }
    }

    /// Counts a new connection (binary or RESP) and sets TCP_NODELAY on it.
    pub fn connection_opened(&self, stream: &super::epoll::Stream) {
        let _ = stream.set_nodelay(true);
        let st = &self.stats;
        st.connections.set(st.connections.get() + 1);
        st.connections_total.set(st.connections_total.get() + 1);
    }

    /// Sends a request frame to another core; the reply arrives on the receiver.
    pub fn forward(&self, core: usize, frame: Vec<u8>) -> oneshot::Receiver<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.stats
            .forwarded_out
            .set(self.stats.forwarded_out.get() + 1);
        self.mesh.send(core, Msg::Forward { frame, reply: tx });
        rx
    }

    // ---- group commit ------------------------------------------------------

    /// Writes every staged batch of this core as one group, then (in `fsync`
    /// mode) syncs the WAL off the reactor. Returns the group and, per
    /// partition written, the sequence it reached; `release_group` then
    /// releases the group's acknowledgements.
    pub async fn commit_group(&self) -> (u64, Vec<(u32, u64)>) {
        let g = self.group.get();
        self.group.set(g + 1);
        let mut written: Vec<Rc<Partition>> = Vec::new();
        for p in &self.local {
            let Some(batch) = p.take_batch() else {
                continue;
            };
            // Taken with the batch: a stalled write awaits below, and the
            // compactions of commands staged meanwhile must wait for their
            // own batch, or they would run before their deletions exist.
            let compaction = p.take_compaction();
            let wrote = match p.write_inline(batch) {
                InlineWrite::Done(data) => {
                    p.note_written(data);
                    true
                }
                InlineWrite::Stalled(data) => {
                    // Never sleep in RocksDB on the reactor: wait out the stall in the pool.
                    match glommio::executor()
                        .spawn_blocking(p.write_blocking_fn(data.clone()))
                        .await
                    {
                        Ok(()) => {
                            p.note_written(data);
                            true
                        }
                        Err(e) => {
                            p.poison(g, &format!("write failed: {e}"));
                            false
                        }
                    }
                }
                InlineWrite::Failed(e) => {
                    p.poison(g, &format!("write failed: {e}"));
                    false
                }
            };
            p.finish_group(g);
            if wrote {
                written.push(p.clone());
            }
            match compaction {
                Some(job) if wrote => start_range_compaction(p, job),
                // The deletions that asked for it were not written either.
                Some(_) => p.compaction_done(),
                None => {}
            }
        }
        if !written.is_empty() {
            self.log_written.advance(self.log_written.get() + 1);
        }
        let targets: Vec<(u32, u64)> = written
            .iter()
            .map(|p| (p.id(), p.last_record().index))
            .collect();
        if self.config.durability == Durability::Fsync && !written.is_empty() {
            let syncs: Vec<_> = written.iter().map(|p| p.sync_wal_fn()).collect();
            let results = self.timed_sync(syncs).await;
            for (p, r) in written.iter().zip(results) {
                if let Err(e) = r {
                    p.poison(g, &format!("WAL fsync failed: {e}"));
                }
            }
        }
        (g, targets)
    }

    /// Opens a new group with nothing in it (releases waiters on the open one).
    pub fn skip_group(&self) -> u64 {
        let g = self.group.get();
        self.group.set(g + 1);
        g
    }

    /// Runs WAL syncs in the blocking pool and counts their time.
    async fn timed_sync<F>(&self, syncs: Vec<F>) -> Vec<Result<(), String>>
    where
        F: FnOnce() -> Result<(), String> + Send + 'static,
    {
        let t0 = std::time::Instant::now();
        let results = glommio::executor()
            .spawn_blocking(move || syncs.into_iter().map(|f| f()).collect::<Vec<_>>())
            .await;
        let st = &self.stats;
        st.wal_syncs.set(st.wal_syncs.get() + 1);
        st.wal_sync_us
            .set(st.wal_sync_us.get() + t0.elapsed().as_micros() as u64);
        results
    }

    /// Whether any local partition has staged writes.
    pub fn has_pending(&self) -> bool {
        self.local.iter().any(|p| p.has_pending())
    }

    /// Syncs every local partition's WAL (blocking pool).
    pub async fn sync_wal(&self) {
        if self.config.durability == Durability::None {
            return;
        }
        let syncs: Vec<_> = self.local.iter().map(|p| p.sync_wal_fn()).collect();
        let results = self.timed_sync(syncs).await;
        for (p, r) in self.local.iter().zip(results) {
            if let Err(e) = r {
                p.poison(self.group.get(), &format!("WAL fsync failed: {e}"));
            }
        }
    }
}

/// Runs a partition's range compactions (`Partition::take_compaction`) in
/// the blocking pool, after the batch that asked for them was written.
/// Nothing waits for it.
fn start_range_compaction(p: &Rc<Partition>, job: impl FnOnce() + Send + 'static) {
    let p = p.clone();
    glommio::spawn_local(async move {
        glommio::executor().spawn_blocking(job).await;
        p.compaction_done();
    })
    .detach();
}

/// Releases group `g`'s acknowledgements: at once, or with
/// `min-replicas-to-ack` once enough replicas applied it (`targets`: the
/// sequence it reached per partition) or the timeout passed, and never
/// before every earlier group. The next group commits meanwhile.
pub fn release_group(core: &Rc<Core>, g: u64, targets: Vec<(u32, u64)>) {
    if core.config.min_replicas_to_ack == 0 {
        core.committed.advance(g);
        return;
    }
    let prev = core.release_tail.replace(g);
    let core = core.clone();
    glommio::spawn_local(async move {
        if !targets.is_empty() && !core.replicas_reached(&targets).await {
            let mut u = core.unacked_groups.borrow_mut();
            if u.len() >= 4096 {
                u.pop_front();
            }
            u.push_back(g);
        }
        core.committed.reach(prev).await;
        core.committed.advance(g);
    })
    .detach();
}

/// Whether a request writes (refused on a replica or a fenced node), from
/// the command table: a named command's row, or its opcode's. A command
/// the table does not know is not run at all, so it cannot slip through.
fn is_write(req: &Request<'_>) -> bool {
    let named = |c: &NamedCommand<'_>| table::lookup(&c.args).is_ok_and(|t| t.is_write());
    match req {
        Request::Command(c) => named(c),
        Request::Batch(cmds) => cmds.iter().any(named),
        other => table::by_opcode(other.opcode()).is_some_and(|t| t.is_write()),
    }
}

/// A blocked pop's registration on its keys, removed when it ends.
struct Blocked<'a> {
    core: &'a Core,
    keys: Vec<Vec<u8>>,
    me: Rc<Notify>,
}

impl<'a> Blocked<'a> {
    fn register(core: &'a Core, keys: &[&[u8]], me: &Rc<Notify>) -> Blocked<'a> {
        let mut b = core.blocked.borrow_mut();
        for k in keys {
            b.entry(k.to_vec()).or_default().push(me.clone());
        }
        Blocked {
            core,
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            me: me.clone(),
        }
    }
}

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        let mut b = self.core.blocked.borrow_mut();
        for k in &self.keys {
            if let Some(ws) = b.get_mut(k) {
                ws.retain(|w| !Rc::ptr_eq(w, &self.me));
                if ws.is_empty() {
                    b.remove(k);
                }
            }
        }
    }
}

/// Runs one forwarded request frame on this core (never forwarding it again)
/// and sends its reply once its writes have committed.
pub async fn serve_forwarded(
    core: Rc<Core>,
    frame_bytes: Vec<u8>,
    reply: oneshot::Sender<Vec<u8>>,
) {
    core.stats
        .forwarded_in
        .set(core.stats.forwarded_in.get() + 1);
    let mut out = Vec::new();
    let mut writes = Writes::new();
    let mut reply = reply;
    match frame::check(&frame_bytes, usize::MAX) {
        Ok(Some(info)) => match Request::decode(info.kind, info.flags, info.body(&frame_bytes)) {
            Ok(req @ Request::BlockingPop { .. }) => {
                // A client that disconnects while blocked must not take an
                // element: stop waiting when the asking core drops the reply.
                let run = std::pin::pin!(core.exec_local(&req, 0, &mut out, &mut writes));
                let gone = std::pin::pin!(reply.cancellation());
                if let futures::future::Either::Right(_) = futures::future::select(run, gone).await
                {
                    return;
                }
            }
            Ok(req) => core.exec_local(&req, 0, &mut out, &mut writes).await,
            Err(e) => proto::encode_error(&mut out, 0, &e.to_wire()),
        },
        _ => proto::encode_error(
            &mut out,
            0,
            &WireError::new(ErrorCode::Internal, "malformed forwarded frame"),
        ),
    }
    if writes.is_empty() {
        let _ = reply.send(out);
        return;
    }
    let max = writes.iter().map(|w| w.1).max().unwrap_or(0);
    let core2 = core.clone();
    glommio::spawn_local(async move {
        core2.committed.reach(max).await;
        if let Some(e) = core2.write_error(&writes) {
            out.clear();
            proto::encode_error(&mut out, 0, &e);
        }
        let _ = reply.send(out);
    })
    .detach();
}

/// A part's reply: computed here, or coming from another core.
pub enum PartReply {
    Ready(Vec<u8>),
    Remote(oneshot::Receiver<Vec<u8>>),
}
