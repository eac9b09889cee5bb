//! One core's state and how it executes requests.
//!
//! A core owns the partitions `p` with `p % cores == core`. Requests for its
//! own keys run inline against those partitions; requests for other cores'
//! keys travel as one message over the mesh and are never forwarded again.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures::channel::oneshot;

use super::mesh::Mesh;
use crate::cmd;
use crate::codes::{ErrorCode, WireError};
use crate::proto::codec::{put_bytes, put_i64, put_u32, put_u64};
use crate::proto::command::{put_found, NamedCommand};
use crate::proto::set_opts::SetOptions;
use crate::proto::table;
use crate::proto::{self, frame, Request, Topology};
use crate::repl;
use crate::shard::clock::now_ms;
use crate::shard::Partition;
use crate::sync::{Notify, Recent};

/// Warm-ups from the blocking pool before a read may touch disk inline.
mod blocking;
pub mod cluster;
pub mod commit;
mod config;
pub mod cross;
pub mod forward;
mod hold;
mod host;
mod keyspace;
pub mod migrate;
pub mod reconcile;
mod rendezvous;
mod report;
mod run;
pub mod stats;
pub mod waiters;
pub use commit::release_group;
pub use config::CoreConfig;

/// Writes a request staged: (partition, group).
pub type Writes = Vec<(u32, u64)>;

/// SCAN positions a core remembers (token → last raw key returned).
const SCAN_TOKENS_KEPT: usize = 65536;

pub struct Core {
    id: usize,
    topo: Arc<Topology>,
    parts: Vec<Option<Rc<Partition>>>,
    local: Vec<Rc<Partition>>,
    mesh: Mesh,
    config: Arc<CoreConfig>,
    /// The open group, the committed watermark, staged-writes signal.
    groups: commit::Groups,
    shutdown: Notify,
    /// Readiness of this core's client connections (one epoll instance).
    poller: Rc<super::epoll::Poller>,
    peers_drained: Cell<usize>,
    drained_notify: Notify,
    hello: RefCell<Rc<Vec<u8>>>,
    /// HELLO as a TLS connection gets it (the TLS ports).
    tls_hello: RefCell<Option<Rc<Vec<u8>>>>,
    /// This node's id (from the manifest, as HELLO gives it).
    node: Cell<u64>,
    scan_tokens: RefCell<Recent<Vec<u8>>>,
    stats: stats::Stats,
    /// This core's pub/sub subscribers.
    waiters: waiters::Waiters,
    /// The client connections CLIENT LIST and CLIENT KILL see.
    clients: super::clients::Clients,
    /// The requests that ran slower than `slowlog-log-slower-than`.
    slowlog: super::slowlog::SlowLog,
    /// Role, epoch, peers, streams, replicas' positions, full syncs.
    repl: crate::repl::Replication,
    started: Instant,
    /// The read cache budget this core's partitions were last given
    /// (`apply_settings`).
    read_cache_applied: Cell<usize>,
    /// This core itself (set once it is in its `Rc`), for tasks it spawns.
    this: RefCell<std::rc::Weak<Core>>,
    /// The cluster map's routes, in cluster mode.
    cluster: Option<cluster::CoreCluster>,
    /// Whether a commit across partitions holds this core (`hold.rs`), and
    /// on a replica those waiting for their parts (`rendezvous.rs`).
    hold: hold::Hold,
    waiting: rendezvous::Waiting,
}

use crate::errors::store_error as wire;

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
        let cluster = config.cluster.clone().map(cluster::CoreCluster::new);
        let read_cache = config
            .read_cache_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        Core {
            id,
            topo,
            parts,
            local,
            mesh,
            config,
            groups: commit::Groups::new(group),
            shutdown: Notify::default(),
            poller,
            peers_drained: Cell::new(0),
            drained_notify: Notify::default(),
            hello: RefCell::new(Rc::new(Vec::new())),
            tls_hello: RefCell::new(None),
            node: Cell::new(0),
            scan_tokens: RefCell::new(Recent::new(SCAN_TOKENS_KEPT)),
            stats: stats::Stats::default(),
            waiters: waiters::Waiters::default(),
            clients: Default::default(),
            slowlog: Default::default(),
            repl: Default::default(),
            started: Instant::now(),
            read_cache_applied: Cell::new(read_cache),
            this: RefCell::new(std::rc::Weak::new()),
            cluster,
            hold: Default::default(),
            waiting: Default::default(),
        }
    }

    pub fn partition(&self, p: u32) -> Option<&Rc<Partition>> {
        self.parts.get(p as usize).and_then(|x| x.as_ref())
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
        let timed = self
            .config
            .slowlog_slower_than()
            .filter(|_| slowlog_times(req))
            .map(|t| (t, Instant::now()));
        let result = self.try_exec_local(req, id, out, writes).await;
        self.stats.request(result.is_ok());
        if let Some((limit, t0)) = timed {
            let micros = t0.elapsed().as_micros() as u64;
            if micros >= limit {
                self.slowlog
                    .record(self.config.slowlog_max_len(), req, micros);
            }
        }
        if let Err(e) = result {
            proto::encode_error(out, id, &e);
        }
        if !writes.is_empty() {
            self.groups.note_staged();
        }
    }

    async fn try_exec_local(
        &self,
        req: &Request<'_>,
        id: u32,
        out: &mut Vec<u8>,
        writes: &mut Writes,
    ) -> Result<(), WireError> {
        if !self.hold.is_free() {
            self.hold.until_free().await;
        }
        let now = now_ms();
        let (db, req) = req.db_and_inner();
        if db != 0 && crate::shard::space::checked(i64::from(db)).is_none() {
            return Err(WireError::new(
                ErrorCode::BadArguments,
                match self.cluster {
                    Some(_) => "SELECT is not allowed in cluster mode".to_string(),
                    None => format!("DB index is out of range ({db})"),
                },
            ));
        }
        // Cluster mode: a write is refused while its slot's migration is
        // fenced, and counted while it runs (a fence waits for it).
        let _admitted = match is_write(req) {
            true => {
                if let Some(e) = self.repl.readonly_error() {
                    // A node the map already made its shard's primary is
                    // being promoted: a Redis Cluster client retries after
                    // CLUSTERDOWN, as during any failover.
                    return Err(match &self.cluster {
                        Some(cl) if cl.routes().i_am_primary() => WireError::new(
                            ErrorCode::ClusterDown,
                            "this node is being promoted to its shard's primary; retry in a moment",
                        ),
                        _ => e,
                    });
                }
                match &self.cluster {
                    Some(cl) => Some(cl.admit_write(req, &self.stats)?),
                    None => None,
                }
            }
            false => None,
        };
        match req {
            Request::Ping(payload) => ok(out, id, |o| o.extend_from_slice(payload)),
            // The connection answers AUTH itself (`net::conn`).
            Request::Auth { .. } => {
                return Err(WireError::new(
                    ErrorCode::BadArguments,
                    "AUTH is answered by the connection it authenticates",
                ))
            }
            Request::Hello { version } => {
                let hello = self.hello_answer(*version, false)?;
                ok(out, id, |o| o.extend_from_slice(&hello));
            }
            Request::Get { key } => {
                let start = frame::begin(out, id, frame::STATUS_OK, 0);
                let r = self
                    .on_key(db, key, now, writes, |t| {
                        t.read_string(key, |v| put_found(out, v.map(|(m, b)| (m.version, b))))
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
                let opts = SetOptions::from(args);
                let done = self
                    .on_key(db, key, now, writes, |t| {
                        cmd::keys::set_with(t, key, value, &opts)
                    })
                    .await?;
                ok(out, id, |o| {
                    o.push(done.applied as u8);
                    put_u64(o, done.version);
                });
            }
            Request::Del { keys } => {
                let mut n = 0u64;
                for key in keys {
                    n += self
                        .on_key(db, key, now, writes, |t| cmd::keys::del_key(t, key))
                        .await? as u64;
                }
                ok(out, id, |o| put_u64(o, n));
            }
            Request::Exists { keys } => {
                let mut n = 0u64;
                for key in keys {
                    n += self
                        .on_key(db, key, now, writes, |t| t.meta(key))
                        .await?
                        .is_some() as u64;
                }
                ok(out, id, |o| put_u64(o, n));
            }
            Request::MGet { keys } => {
                let start = frame::begin(out, id, frame::STATUS_OK, 0);
                put_u32(out, keys.len() as u32);
                for key in keys {
                    let r = self
                        .on_key(db, key, now, writes, |t| {
                            cmd::keys::string_or_none(t, key, |v| {
                                put_found(out, v.map(|(m, b)| (m.version, b)))
                            })
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
                    self.on_key(db, key, now, writes, |t| {
                        cmd::keys::set_with(t, key, value, &opts)
                    })
                    .await?;
                }
                ok(out, id, |o| put_u64(o, pairs.len() as u64));
            }
            Request::IncrBy { key, delta } => {
                let (value, version) = self
                    .on_key(db, key, now, writes, |t| cmd::keys::incr_by(t, key, *delta))
                    .await?;
                ok(out, id, |o| {
                    put_i64(o, value);
                    put_u64(o, version);
                });
            }
            Request::Expire { key, ttl_ms } => {
                let done = self
                    .on_key(db, key, now, writes, |t| {
                        cmd::keys::expire_in(t, key, *ttl_ms)
                    })
                    .await?;
                ok(out, id, |o| o.push(done as u8));
            }
            Request::Persist { key } => {
                let done = self
                    .on_key(db, key, now, writes, |t| cmd::keys::persist_key(t, key))
                    .await?;
                ok(out, id, |o| o.push(done as u8));
            }
            Request::Ttl { key } => {
                let ttl = self
                    .on_key(db, key, now, writes, |t| cmd::keys::ttl_ms(t, key))
                    .await?;
                ok(out, id, |o| put_i64(o, ttl));
            }
            Request::Scan {
                cursor: c,
                count,
                prefix,
            } => {
                let (next, keys) = self.scan(db, *c, *count, prefix, now).await?;
                ok(out, id, |o| {
                    put_u64(o, next);
                    put_u32(o, keys.len() as u32);
                    for k in &keys {
                        put_bytes(o, k);
                    }
                });
            }
            Request::DbSize if db == 0 => {
                let n: u64 = self.local.iter().map(|p| p.info().estimate_keys).sum();
                ok(out, id, |o| put_u64(o, n));
            }
            Request::DbSize => {
                let n = self.count_db(db, now).await?;
                ok(out, id, |o| put_u64(o, n));
            }
            Request::Info => {
                let text = self.info_text();
                ok(out, id, |o| o.extend_from_slice(text.as_bytes()));
            }
            Request::Clients { kill, filter } => {
                let f = super::clients::Filter::parse(filter);
                if *kill {
                    let n = self.clients.kill(&f);
                    ok(out, id, |o| put_u64(o, n));
                } else {
                    let text = self.clients.list(self.id, &f);
                    ok(out, id, |o| o.extend_from_slice(text.as_bytes()));
                }
            }
            Request::SlowLog { action, count } => match action {
                0 => ok(out, id, |o| self.slowlog.newest(*count as usize, o)),
                1 => ok(out, id, |o| put_u64(o, self.slowlog.entries())),
                _ => ok(out, id, |o| put_u64(o, self.slowlog.reset())),
            },
            Request::Metrics => {
                let text = self.metrics_lines();
                ok(out, id, |o| o.extend_from_slice(text.as_bytes()));
            }
            Request::Backup { dir } => {
                let n = self.backup(dir).await?;
                ok(out, id, |o| put_u64(o, n));
            }
            Request::Command(c) => {
                let (results, group) = self.run_named(std::slice::from_ref(c), db, now).await?;
                writes.extend(group);
                ok(out, id, |o| {
                    for (version, value) in &results {
                        put_u64(o, *version);
                        value.encode(o);
                    }
                });
            }
            Request::Pull { .. } => repl::serve::pull(self, req, id, out).await?,
            Request::Sync { .. } => repl::serve::sync(self, req, id, out).await?,
            Request::Role { action, arg } => {
                if let Some(cl) = &self.cluster {
                    // In a cluster the map decides roles (docs/cluster.md).
                    if let Some(text) = cl.role_request(*action).await? {
                        ok(out, id, |o| o.extend_from_slice(text.as_bytes()));
                        return Ok(());
                    }
                }
                let text = repl::role::request(self, *action, arg).await?;
                ok(out, id, |o| o.extend_from_slice(text.as_bytes()));
            }
            Request::Cluster { action, body } => {
                let Some(cl) = &self.cluster else {
                    return Err(WireError::new(
                        ErrorCode::ClusterRefused,
                        "cluster mode is off on this node (start it with --cluster)",
                    ));
                };
                if *action == tessera_cluster::net::SLOTS {
                    let t = cl.routes().slot_owners();
                    ok(out, id, |o| t.encode(o));
                    return Ok(());
                }
                if let Some(r) = migrate::serve(self, *action, body, id, out).await {
                    return r;
                }
                let answer = cl
                    .controller()
                    .request(*action, body.to_vec())
                    .await
                    .map_err(|e| WireError::new(ErrorCode::ClusterRefused, e.to_string()))?;
                ok(out, id, |o| o.extend_from_slice(&answer));
            }
            Request::FlushDb => {
                for p in &self.local {
                    let g = p.flush_db(db).map_err(wire)?;
                    writes.push((p.id(), g));
                }
                ok(out, id, |o| put_u64(o, self.local.len() as u64));
            }
            Request::SwapDb { a, b } => {
                let n = self.swap_dbs(*a, *b, now, writes)?;
                ok(out, id, |o| put_u64(o, n));
            }
            // `db_and_inner` unwrapped it; DB never wraps DB.
            Request::InDb { .. } => {
                return Err(WireError::new(
                    ErrorCode::BadArguments,
                    "DB wraps data requests only",
                ))
            }
            Request::FlushAll => {
                for p in &self.local {
                    let g = p.flush_all().map_err(wire)?;
                    writes.push((p.id(), g));
                }
                ok(out, id, |o| put_u64(o, self.local.len() as u64));
            }
            Request::Publish { channel, message } => {
                let n = self.waiters.publish(channel, message);
                ok(out, id, |o| put_u64(o, n));
            }
            Request::PubSub { kind, args } => {
                let ps = &self.waiters;
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
                let (found, group) = self
                    .blocking_pop(db, *timeout_ms, *left, keys, *dest)
                    .await?;
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
            Request::Block { args } => {
                let (value, group) = self.blocking_command(db, args).await?;
                writes.extend(group);
                ok(out, id, |o| value.encode(o));
            }
            Request::Batch(cmds) => {
                let (results, group) = self.run_named(cmds, db, now).await?;
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

    /// This core's replication state.
    pub fn repl(&self) -> &crate::repl::Replication {
        &self.repl
    }

    // ---- what the other modules of `net` read -------------------------------

    pub fn id(&self) -> usize {
        self.id
    }

    pub fn topo(&self) -> &Arc<Topology> {
        &self.topo
    }

    /// This core's partitions.
    pub fn local(&self) -> &Vec<Rc<Partition>> {
        &self.local
    }

    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    pub fn config(&self) -> &Arc<CoreConfig> {
        &self.config
    }

    /// The group committer's state.
    pub fn groups(&self) -> &commit::Groups {
        &self.groups
    }

    /// Set when the server stops.
    pub fn shutdown(&self) -> &Notify {
        &self.shutdown
    }

    /// Readiness of this core's client connections.
    pub fn poller(&self) -> &Rc<super::epoll::Poller> {
        &self.poller
    }

    /// This core's client connections.
    pub fn clients(&self) -> &super::clients::Clients {
        &self.clients
    }

    pub fn stats(&self) -> &stats::Stats {
        &self.stats
    }

    /// This core's pub/sub subscribers.
    pub fn waiters(&self) -> &waiters::Waiters {
        &self.waiters
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// This core, for the tasks a request spawns.
    pub(in crate::net) fn rc(&self) -> Rc<Core> {
        self.this
            .borrow()
            .upgrade()
            .expect("a core outlives its requests")
    }

    /// Makes `core` reachable from the tasks it spawns; once, after `new`.
    pub fn set_self(core: &Rc<Core>) {
        *core.this.borrow_mut() = Rc::downgrade(core);
    }

    /// The HELLO answer for a client speaking `version`: the node's (with
    /// the TLS ports for a TLS connection), with the current cluster map
    /// in cluster mode.
    pub fn hello_answer(&self, version: u16, tls: bool) -> Result<Rc<Vec<u8>>, WireError> {
        if version != proto::hello::PROTOCOL_VERSION {
            return Err(WireError::new(
                ErrorCode::BadArguments,
                format!(
                    "protocol version {version} is not supported; this server speaks {}",
                    proto::hello::PROTOCOL_VERSION
                ),
            ));
        }
        let hello = match &*self.tls_hello.borrow() {
            Some(h) if tls => h.clone(),
            _ => self.hello.borrow().clone(),
        };
        let Some(cl) = self.cluster() else {
            return Ok(hello);
        };
        let internal = |e: proto::Error| WireError::new(ErrorCode::Internal, e.to_string());
        let mut h = proto::Hello::decode(&hello).map_err(internal)?;
        cl.routes().slot_owners().encode(&mut h.cluster);
        h.encode().map(Rc::new).map_err(internal)
    }

    /// The HELLO this node answers, and the node id in it.
    pub fn set_hello(&self, hello: Vec<u8>) {
        self.node.set(
            crate::proto::Hello::decode(&hello)
                .map(|h| h.node_id)
                .unwrap_or(0),
        );
        *self.hello.borrow_mut() = Rc::new(hello);
    }

    /// The HELLO a TLS connection gets.
    pub fn set_tls_hello(&self, hello: Vec<u8>) {
        *self.tls_hello.borrow_mut() = Some(Rc::new(hello));
    }

    /// Another core finished draining its connections.
    pub fn peer_drained(&self) {
        self.peers_drained.set(self.peers_drained.get() + 1);
        self.drained_notify.notify();
    }

    /// Waits until `n` other cores drained theirs.
    pub async fn peers_drained(&self, n: usize) {
        while self.peers_drained.get() < n {
            self.drained_notify.wait(true).await;
        }
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
            writes.iter().find(|w| self.groups.unacked(w.1)).map(|_| {
                WireError::new(
                    ErrorCode::NoReplicas,
                    format!(
                        "fewer than {} replicas applied the write within {} ms; it is applied on the primary and may be on some replicas",
                        self.config.min_replicas_to_ack(),
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
        let need = self.config.min_replicas_to_ack() as usize;
        let deadline = Instant::now() + self.config.replica_ack_timeout;
        loop {
            if self.repl().replicas_reached(targets, need) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.repl().next_report(deadline - now).await;
        }
    }

    /// Counts a new connection (binary or RESP) and sets TCP_NODELAY on it.
    pub fn connection_opened(&self, stream: &super::epoll::Stream) {
        let _ = stream.set_nodelay(true);
        self.stats.connection_opened();
    }

    // ---- group commit ------------------------------------------------------
}

/// Whether SLOWLOG times `req`: not the requests that wait by design (a
/// blocked pop, a replica's long-polled PULL, a checkpoint's SYNC chunk,
/// the cluster's own messages) and not SLOWLOG's own gathering, as Redis
/// does not count a blocked client's wait.
fn slowlog_times(req: &Request<'_>) -> bool {
    !matches!(
        req.db_and_inner().1,
        Request::BlockingPop { .. }
            | Request::Block { .. }
            | Request::Pull { .. }
            | Request::Sync { .. }
            | Request::Cluster { .. }
            | Request::SlowLog { .. }
    )
}

/// Whether a request writes (refused on a replica or a fenced node), from the
/// command table: a named command's row (BLOCK's command too), or its opcode's
/// (FCALL: the function's flags). An unknown command is never run at all.
fn is_write(req: &Request<'_>) -> bool {
    // FCALL, EVAL or EVALSHA declared `no-writes` reads only, as in Redis.
    let named = |c: &NamedCommand<'_>| {
        table::lookup(&c.args)
            .is_ok_and(|t| t.is_write() && !cmd::function::declared_read_only(t.name, &c.args))
    };
    match req {
        Request::Command(c) => named(c),
        Request::Batch(cmds) => cmds.iter().any(named),
        Request::Block { args } => table::lookup(args).is_ok_and(|t| t.is_write()),
        other => table::by_opcode(other.opcode()).is_some_and(|t| t.is_write()),
    }
}

/// Runs one forwarded request frame on this core (never forwarding it again)
/// and sends its reply once its writes have committed.
pub async fn serve_forwarded(
    core: Rc<Core>,
    frame_bytes: Vec<u8>,
    reply: oneshot::Sender<Vec<u8>>,
) {
    core.stats.forwarded_in();
    let mut out = Vec::new();
    let mut writes = Writes::new();
    let mut reply = reply;
    match frame::check(&frame_bytes, usize::MAX) {
        Ok(Some(info)) => match Request::decode(info.kind, info.flags, info.body(&frame_bytes)) {
            Ok(req)
                if matches!(
                    req.db_and_inner().1,
                    Request::BlockingPop { .. } | Request::Block { .. }
                ) =>
            {
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
        core2.groups.wait_committed(max).await;
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
