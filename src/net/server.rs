//! Starting and stopping a node: listeners, one pinned reactor per core,
//! the ready line, and the drain on shutdown.

use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{select, Either};
use glommio::net::TcpListener;
use glommio::sync::Gate;
use glommio::{LocalExecutorBuilder, Placement, PoolPlacement};

use super::admit::Proto;
use super::core::cross::Recovery;
use super::core::forward::inbox_loop;
use super::core::{release_group, Core, CoreConfig};
use super::health::{self, Health};
use super::listen::{bind_binary, bind_per_core, check_ports, deal, BindError, LastPorts};
use super::mesh::{Inbox, Mesh, Msg};
use super::{sys, Budget};
use crate::config::Config;
use crate::proto::{Hello, SlotLayout, Topology};
use crate::repl::position::Epoch;
use crate::repl::CoreRole;
use crate::shard::{Store, StoreConfig};

/// How long a shutdown waits for connections to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often `wal` durability syncs the WAL.
const WAL_SYNC_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The data directory's layout and this node's settings do not fit
    /// (topology, replica-of).
    #[error("{0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] crate::shard::Error),
    #[error(transparent)]
    Replication(#[from] crate::repl::Error),
    #[error(transparent)]
    Limits(#[from] super::sys::LimitError),
    #[error("core {core} failed: {source}")]
    Core { core: usize, source: CoreError },
    #[error("core {core} failed: cannot start reactor: {source}")]
    Reactor {
        core: usize,
        source: glommio::GlommioError<()>,
    },
}

/// Why one core failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    #[error("{0}")]
    OpenPartition(#[source] crate::shard::Error),
    #[error("core {core}: epoll instance: {source}")]
    Epoll { core: usize, source: std::io::Error },
    /// Its start-up error was reported through the start-up channel.
    #[error("did not start")]
    NotStarted,
    #[error("exited during start-up")]
    ExitedEarly,
    #[error("{0}")]
    Recovery(String),
    #[error("{0}")]
    Join(#[source] glommio::GlommioError<()>),
}

/// A running node.
pub struct ServerHandle {
    /// The shared binary-protocol address (the TLS one with `listen off`).
    pub binary_addr: SocketAddr,
    /// Whether the plaintext binary listener is on.
    pub binary_plaintext: bool,
    /// Each core's own address.
    pub core_addrs: Vec<SocketAddr>,
    pub node_id: u64,
    mesh: Mesh,
    joins: Vec<glommio::ExecutorJoinHandle<Result<(), CoreError>>>,
    /// Every core's heartbeat (for the systemd watchdog).
    pub health: Arc<Health>,
    /// The HTTP address, when HTTP is on.
    pub http_addr: Option<SocketAddr>,
    /// The RESP address, when RESP is on.
    pub resp_addr: Option<SocketAddr>,
    /// The TLS listeners' addresses, when on: binary, RESP, HTTPS.
    pub tls_addrs: [Option<SocketAddr>; 3],
    /// The TLS certificate state, reloaded on SIGHUP.
    pub tls: Option<Arc<crate::tls::ServerTls>>,
    /// The cluster controller, in cluster mode (stopped after the cores).
    controller: Option<Arc<tessera_cluster::Controller>>,
}

impl ServerHandle {
    /// The line printed on stdout once every listener is up.
    pub fn ready_line(&self) -> String {
        let show = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_string(), |a| a.to_string());
        let [binary_tls, resp_tls, https] = self.tls_addrs;
        format!(
            "tessera ready binary={} resp={} http={} binary-tls={} resp-tls={} https={}",
            show(self.binary_plaintext.then_some(self.binary_addr)),
            show(self.resp_addr),
            show(self.http_addr),
            show(binary_tls),
            show(resp_tls),
            show(https)
        )
    }

    /// Asks every core to stop accepting, drain, sync and exit.
    pub fn shutdown(&self) {
        for c in 0..self.mesh.cores() {
            self.mesh.send(c, Msg::Shutdown);
        }
    }

    /// Waits for every core to exit.
    pub fn join(self) -> Result<(), ServerError> {
        let mut first_err = None;
        for (core, j) in self.joins.into_iter().enumerate() {
            let r = match j.join() {
                Ok(Ok(())) => Ok(()),
                Ok(Err(source)) => Err(ServerError::Core { core, source }),
                Err(e) => Err(ServerError::Core {
                    core,
                    source: CoreError::Join(e),
                }),
            };
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        if let Some(c) = &self.controller {
            c.stop();
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl From<BindError> for ServerError {
    fn from(e: BindError) -> ServerError {
        ServerError::Listen {
            addr: e.addr,
            source: e.source,
        }
    }
}

/// Starts a node and returns once every core listens.
pub fn start(config: Config) -> Result<ServerHandle, ServerError> {
    config.validate()?;
    // The settings other modules read, checked before anything opens.
    let output_limits = crate::outbuf::limits(&config)?;
    let query_limits = crate::outbuf::query_limits(&config)?;
    crate::tls::files(&config)?;
    let cpus = sys::affinity_cpus();
    let cores = config.cores.unwrap_or(cpus.len()).max(1);
    check_ports(&config, cores).map_err(ServerError::Setup)?;
    sys::raise_limits(cores)?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data_dir = %config.data_dir.display(),
        cores,
        durability = config.durability.as_str(),
        "starting"
    );
    health::status(&format!(
        "opening the data directory {}",
        config.data_dir.display()
    ));

    let stale = config.data_dir.join("sync"); // full syncs' and migrations' checkpoints
    if stale.exists() {
        if let Err(e) = std::fs::remove_dir_all(&stale) {
            tracing::warn!(
                "cannot remove the stale checkpoints in {}: {e}",
                stale.display()
            );
        }
    }
    // Cache mode wipes the data directory at start; the ACL file in it is kept.
    let acl_file = config.acl_file();
    let kept_acl = match config.durability {
        crate::shard::Durability::None => std::fs::read(&acl_file).ok(),
        _ => None,
    };
    let store = Arc::new(Store::open(StoreConfig {
        data_dir: config.data_dir.clone(),
        partitions: config.partitions,
        // The CPUs, not the reactors: a directory created with `--cores 1`
        // on a shared machine can use every CPU after a restart.
        default_partitions: cpus.len().max(1) as u32,
        // A cluster node spreads its slots over every partition (docs/cluster.md).
        interleaved: config.interleaved(),
        databases: config.databases > 1 && !config.cluster, // cluster: db 0 only
        durability: config.durability,
        block_cache_bytes: config.block_cache_bytes,
        read_cache_bytes: config.read_cache_bytes,
        write_buffer_bytes: config.write_buffer_bytes,
        memtable_bytes: config.memtable_bytes,
        background_threads: (cores as i32).max(2),
        wal_retention_seconds: config.wal_retention_seconds,
        wal_retention_mb: config.wal_retention_mb,
    })?);
    // This node's own links (replication, cluster) authenticate as this.
    if let Some((user, pass)) = config.replica_credentials()? {
        tessera_cluster::net::set_link_credentials(Some((user.clone().into_bytes(), pass.clone())));
        crate::client::set_credentials(Some(crate::client::Credentials::new(user, pass)));
    }
    if let Some(bytes) = kept_acl.filter(|_| !acl_file.exists()) {
        if let Err(e) = std::fs::write(&acl_file, bytes) {
            tracing::warn!("cannot restore the ACL file {}: {e}", acl_file.display());
        }
    }
    let acl = Arc::new(
        crate::acl::Acl::open(acl_file, config.password()?)
            .map_err(|e| ServerError::Setup(format!("ACL file: {e}")))?,
    );
    let manifest = store.manifest().clone();
    let layout = match &manifest.layout {
        crate::shard::Layout::Ranges(r) => {
            SlotLayout::Ranges(r.iter().map(|r| (r.start, r.end)).collect())
        }
        crate::shard::Layout::Interleaved => SlotLayout::Interleaved(manifest.partitions),
    };
    let interleaved = matches!(layout, SlotLayout::Interleaved(_));
    if config.slot_layout.is_some() && config.interleaved() != interleaved {
        tracing::warn!(
            "slot-layout only applies when a data directory is created: {} keeps its {} layout",
            config.data_dir.display(),
            if interleaved { "interleaved" } else { "ranges" }
        );
    }
    let topo = Arc::new(
        Topology::from_layout(&layout, cores as u32)
            .map_err(|e| ServerError::Setup(e.to_string()))?,
    );

    // Cluster mode: port 0 means the last start's port while it is free.
    let last = if config.cluster {
        LastPorts::load(&config.data_dir)
    } else {
        LastPorts::default()
    };
    let binary = match config.binary_addr()? {
        Some(a) => Some(bind_binary(a, last.binary, &last.cores, cores)?),
        None => None,
    };
    // HTTP and RESP: one SO_REUSEPORT socket per core on the same port.
    let (http, http_addr) = bind_per_core(config.http_addr()?, last.http, cores)?;
    let (resp, resp_addr) = bind_per_core(config.resp_addr()?, last.resp, cores)?;
    // The TLS twins (docs/security.md, "TLS").
    let tls = match crate::tls::files(&config)? {
        Some(files) => Some(Arc::new(
            crate::tls::ServerTls::new(files)
                .map_err(|e| ServerError::Setup(format!("TLS: {e}")))?,
        )),
        None => None,
    };
    if config.tls_replication || config.tls_cluster {
        let links = crate::tls::files(&config)?.and_then(|f| f.link_options());
        crate::client::tls::set_tls(links.as_ref())
            .map_err(|e| ServerError::Setup(format!("TLS links: {e}")))?;
        if let (true, Some(o)) = (config.tls_cluster, &links) {
            let c = crate::client::tls::client_config(o)
                .map_err(|e| ServerError::Setup(format!("tls-cluster: {e}")))?;
            tessera_cluster::net::set_link_tls(Some(c));
        }
    }
    let tls_binary = match config.tls_addr()? {
        Some(a) => Some(bind_binary(a, last.tls, &last.tls_cores, cores)?),
        None => None,
    };
    let (resp_tls, resp_tls_addr) = bind_per_core(config.resp_tls_addr()?, last.resp_tls, cores)?;
    let (http_tls, https_addr) = bind_per_core(config.http_tls_addr()?, None, cores)?;
    let tls_ports = tls_binary
        .as_ref()
        .map(|b| (b.shared_addr, b.core_addrs.clone()));
    let (tls_shared, tls_own) = tls_binary.map(|b| (b.shared, b.own)).unwrap_or_default();
    // The node's binary address: the plaintext one, or with `listen off`
    // the TLS one (`Config::validate` asks for it then).
    let plain_addr = binary.as_ref().map(|b| b.shared_addr);
    let (shared_addr, core_addrs) = match (&binary, &tls_ports) {
        (Some(b), _) => (b.shared_addr, b.core_addrs.clone()),
        (None, Some((s, c))) => (*s, c.clone()),
        (None, None) => return Err(ServerError::Setup("no binary listener".into())),
    };
    let (plain_shared, plain_own) = binary.map(|b| (b.shared, b.own)).unwrap_or_default();
    let mut listeners = deal(
        cores,
        [
            ((Proto::Binary, false), plain_shared),
            ((Proto::Binary, false), plain_own),
            ((Proto::Http, false), http),
            ((Proto::Resp, false), resp),
            ((Proto::Binary, true), tls_shared),
            ((Proto::Binary, true), tls_own),
            ((Proto::Resp, true), resp_tls),
            ((Proto::Http, true), http_tls),
        ],
    )
    .into_iter();
    if config.cluster {
        LastPorts {
            binary: plain_addr,
            cores: plain_addr.map(|_| core_addrs.clone()).unwrap_or_default(),
            resp: resp_addr,
            http: http_addr,
            tls: tls_ports.as_ref().map(|p| p.0),
            tls_cores: tls_ports.as_ref().map(|p| p.1.clone()).unwrap_or_default(),
            resp_tls: resp_tls_addr,
        }
        .save(&config.data_dir);
    }

    let mut hello = Hello {
        protocol: crate::proto::hello::PROTOCOL_VERSION,
        node_id: manifest.node_id,
        cores: cores as u32,
        layout,
        shared_port: shared_addr.port(),
        core_ports: core_addrs.iter().map(|a| a.port()).collect(),
        durability: config.durability.as_str().to_string(),
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        // Filled per answer in cluster mode (`Core::hello_answer`).
        cluster: Vec::new(),
    };
    let encode = |h: &Hello| {
        h.encode()
            .map(Arc::new)
            .map_err(|e| ServerError::Setup(e.to_string()))
    };
    let plain_hello = encode(&hello)?;
    // HELLO on TLS names the TLS ports: a shard-aware client stays on TLS.
    let tls_hello = match &tls_ports {
        Some((shared, own)) => {
            hello.shared_port = shared.port();
            hello.core_ports = own.iter().map(|a| a.port()).collect();
            Some(encode(&hello)?)
        }
        None => None,
    };
    let hello = plain_hello;

    // Replication: the persisted state, and the role to start in.
    let mut state = crate::repl::state::NodeState::load(&config.data_dir)?;
    if let Some(a) = &config.replica_of {
        if state.role == crate::repl::state::Role::Primary && state.epoch.term > 1 {
            tracing::warn!(
                "this node was promoted (epoch {}), and --replica-of {a} makes it a replica again; drop the flag to keep it a primary",
                state.epoch
            );
        }
        state.role = crate::repl::state::Role::Replica(a.clone());
    }
    let start_role = match &state.role {
        crate::repl::state::Role::Replica(s) => {
            use std::net::ToSocketAddrs;
            let addr = s
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| ServerError::Setup(format!("replica-of {s:?} is not HOST:PORT")))?;
            if config.durability == crate::shard::Durability::None {
                return Err(ServerError::Setup(
                    "replica-of needs a WAL: durability none (cache mode) cannot replicate".into(),
                ));
            }
            // Same partition count; an unreachable primary is retried later.
            match crate::repl::primary_hello(addr) {
                Err(e) => tracing::warn!("{e}; the replica keeps trying"),
                Ok(h) => crate::repl::check_layout(&h, addr, &topo)?,
            }
            CoreRole::Replica(addr)
        }
        crate::repl::state::Role::Primary => {
            if state.epoch.term == 0 {
                state.epoch = Epoch {
                    term: 1,
                    node: manifest.node_id,
                };
            }
            if state.peers.is_empty() {
                CoreRole::Primary
            } else {
                // A former primary with replicas: writes wait until a peer
                // confirms no one was promoted meanwhile (fencing).
                CoreRole::Fenced(format!(
                    "waiting for a peer ({}) to confirm epoch {}",
                    state.peers.join(", "),
                    state.epoch
                ))
            }
        }
    };
    state.save(&config.data_dir)?;
    // The address the other nodes reach this one at: with tls-cluster, the
    // TLS listener's (and its core ports, and RESP's TLS twin), so every
    // link between nodes is TLS.
    let (listed, listed_cores, listed_resp) = match (&tls_ports, config.tls_cluster) {
        (Some((shared, own)), true) => (*shared, own.clone(), resp_tls_addr.or(resp_addr)),
        _ => (shared_addr, core_addrs.clone(), resp_addr),
    };
    let advertise =
        super::listen::advertised(config.advertise.as_deref(), listed, config.tls_cluster)
            .map_err(ServerError::Setup)?;
    let start_state = state.clone();
    let controller = if config.cluster {
        Some(super::core::cluster::start_controller(
            &config,
            &advertise,
            listed_resp,
            http_addr,
            &listed_cores,
            &topo,
        )?)
    } else {
        None
    };
    let (mesh, inboxes) = Mesh::new(cores);
    let core_config = Arc::new(CoreConfig {
        scripting: Arc::new(
            crate::cmd::function::open(&config.data_dir, cores).map_err(ServerError::Setup)?,
        ),
        databases: config.databases,
        cluster_mode: config.cluster,
        max_frame_bytes: config.max_frame_bytes,
        proto_max_bulk_len: query_limits.0,
        client_query_buffer_limit: query_limits.1,
        durability: config.durability,
        memory_budget: Arc::new(Budget::new(config.memory_budget_bytes)),
        stalled_frame_timeout: Duration::from_millis(config.stalled_frame_timeout_ms),
        clients: super::Clients::new(config.maxclients),
        idle_timeout_secs: config.timeout.into(),
        slow_request: (config.slow_request_ms > 0)
            .then(|| Duration::from_millis(config.slow_request_ms)),
        slowlog_slower_than: config.slowlog_log_slower_than.into(),
        slowlog_max_len: usize::try_from(config.slowlog_max_len)
            .unwrap_or(usize::MAX)
            .into(),
        data_dir: config.data_dir.clone(),
        backup_root: config.backup_root.clone(),
        repl_state: Arc::new(std::sync::Mutex::new(state)),
        advertise,
        min_replicas_to_ack: config.min_replicas_to_ack.into(),
        read_cache_bytes: config.read_cache_bytes.into(),
        replica_ack_timeout: Duration::from_millis(config.replica_ack_timeout_ms),
        cluster: controller.clone(),
        migrate_bytes_per_sec: config.migrate_bytes_per_sec,
        acl,
        metrics_without_auth: config.metrics_without_auth,
        protected_mode: config.protected_mode,
        allow_from: config.allow_from()?,
        tls: tls.clone(),
        output_limits,
    });
    let health = Arc::new(Health::new(
        cores,
        health::beat_interval(health::watchdog_interval()),
    ));
    let stall_hook = test_stall_hook();
    let recovery = Arc::new(Recovery::new(cores));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<(usize, Result<(), CoreError>)>();
    let mut joins = Vec::with_capacity(cores);
    for (c, inbox) in inboxes.into_iter().enumerate() {
        let listeners = listeners
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, l)| (k, l.into_raw_fd()))
            .collect();
        let args = CoreArgs {
            id: c,
            store: store.clone(),
            topo: topo.clone(),
            mesh: mesh.clone(),
            inbox,
            recovery: recovery.clone(),
            config: core_config.clone(),
            hello: hello.clone(),
            tls_hello: tls_hello.clone(),
            listeners,
            ready: ready_tx.clone(),
            health: health.clone(),
            stall: stall_hook.filter(|(core, _)| *core == c).map(|(_, d)| d),
            role: start_role.clone(),
            repl: start_state.clone(),
        };
        // Fewer reactors than CPUs (several nodes on one machine, or a node
        // sharing it with its clients): the kernel places them, so two
        // `--cores 1` nodes do not both pin to the first CPU.
        let placement = if cores < cpus.len() {
            Placement::Unbound
        } else {
            Placement::Fixed(cpus[c % cpus.len()])
        };
        let join = LocalExecutorBuilder::new(placement)
            .name(&format!("tessera-core-{c}"))
            .io_memory(64 << 10)
            .blocking_thread_pool_placement(PoolPlacement::Unbound(4))
            .preempt_timer(Duration::from_millis(100))
            .spawn(move || core_main(args))
            .map_err(|source| ServerError::Reactor { core: c, source })?;
        joins.push(join);
    }
    drop(ready_tx);
    let handle = ServerHandle {
        binary_addr: shared_addr,
        binary_plaintext: plain_addr.is_some(),
        core_addrs,
        node_id: manifest.node_id,
        mesh,
        joins,
        health,
        http_addr,
        resp_addr,
        tls_addrs: [tls_ports.as_ref().map(|p| p.0), resp_tls_addr, https_addr],
        tls,
        controller,
    };
    let mut failure = None;
    for _ in 0..cores {
        match ready_rx.recv() {
            Ok((_, Ok(()))) => {}
            Ok((core, Err(source))) => {
                failure.get_or_insert(ServerError::Core { core, source });
            }
            Err(_) => {
                failure.get_or_insert(ServerError::Core {
                    core: 0,
                    source: CoreError::ExitedEarly,
                });
                break;
            }
        }
    }
    if let Some(e) = failure {
        handle.shutdown();
        let _ = handle.join();
        return Err(e);
    }
    Ok(handle)
}

struct CoreArgs {
    id: usize,
    store: Arc<Store>,
    topo: Arc<Topology>,
    mesh: Mesh,
    inbox: Inbox,
    /// Finishes interrupted commits across partitions once all are open.
    recovery: Arc<Recovery>,
    config: Arc<CoreConfig>,
    hello: Arc<Vec<u8>>,
    /// HELLO as a TLS connection gets it (the TLS ports).
    tls_hello: Option<Arc<Vec<u8>>>,
    /// This core's listening sockets: protocol, TLS or not.
    listeners: Vec<((Proto, bool), RawFd)>,
    ready: std::sync::mpsc::Sender<(usize, Result<(), CoreError>)>,
    health: Arc<Health>,
    /// Test hook: block this reactor's thread for this long after start-up.
    stall: Option<Duration>,
    /// The role to start in, and the persisted replication state.
    role: CoreRole,
    repl: crate::repl::state::NodeState,
}

/// `TESSERA_TEST_STALL_CORE=<core>:<ms>` blocks that core's reactor thread
/// once, half a second after start-up, so tests can watch the systemd
/// watchdog react. Not for production use.
fn test_stall_hook() -> Option<(usize, Duration)> {
    let v = std::env::var("TESSERA_TEST_STALL_CORE").ok()?;
    let (core, ms) = v.split_once(':')?;
    Some((core.parse().ok()?, Duration::from_millis(ms.parse().ok()?)))
}

/// Stamps this core's heartbeat while its reactor runs tasks.
async fn heartbeat_loop(core: Rc<Core>, health: Arc<Health>) {
    loop {
        health.beat(core.id());
        core.apply_settings();
        let stop = pin!(core.shutdown().wait(false));
        let tick = pin!(glommio::timer::sleep(health.interval));
        if let Either::Left(_) = select(stop, tick).await {
            return;
        }
    }
}

// Takes over the listeners' raw fds (`from_raw_fd`), each with its SAFETY comment.
#[allow(unsafe_code)]
async fn core_main(a: CoreArgs) -> Result<(), CoreError> {
    let id = a.id;
    crate::shard::space::set_databases(a.config.databases);
    crate::cmd::script::node::attach(a.config.scripting.clone(), id);
    crate::shard::space::set_cluster_mode(a.config.cluster_mode);
    let listeners: Vec<_> = a
        .listeners
        .iter()
        // SAFETY: the fds come from listeners bound in `start` and handed over once.
        .map(|&(k, fd)| (k, unsafe { TcpListener::from_raw_fd(fd) }))
        .collect();
    let group = Rc::new(Cell::new(1u64));
    let cores = a.topo.cores();
    let mut local = Vec::new();
    for p in (0..a.topo.partitions()).filter(|p| (p % cores) as usize == id) {
        health::status(&format!("core {id}: opening partition {p}"));
        let t0 = std::time::Instant::now();
        match a.store.open_partition(p, group.clone()) {
            Ok(part) => {
                tracing::info!(
                    core = id,
                    partition = p,
                    "partition opened in {} ms",
                    t0.elapsed().as_millis()
                );
                local.push(Rc::new(part))
            }
            Err(e) => {
                let _ = a.ready.send((id, Err(CoreError::OpenPartition(e))));
                let _ = a.recovery.arrive(None);
                return Err(CoreError::NotStarted);
            }
        }
    }
    if let Err(e) = a.recovery.arrive(Some(&local)) {
        let _ = a.ready.send((id, Err(CoreError::Recovery(e))));
        return Err(CoreError::NotStarted);
    }
    drop(a.store);
    let poller = match super::epoll::Poller::new() {
        Ok(p) => Rc::new(p),
        Err(source) => {
            let _ = a
                .ready
                .send((id, Err(CoreError::Epoll { core: id, source })));
            return Err(CoreError::NotStarted);
        }
    };
    glommio::spawn_local(poller.clone().run()).detach();
    let core = Rc::new(Core::new(
        id, a.topo, local, a.mesh, a.config, group, poller,
    ));
    Core::set_self(&core);
    core.set_hello(a.hello.as_ref().clone());
    if let Some(h) = &a.tls_hello {
        core.set_tls_hello(h.as_ref().clone());
    }

    let inbox_task = glommio::spawn_local(inbox_loop(core.clone(), a.inbox));
    let commit_task = glommio::spawn_local(commit_loop(core.clone()));
    let sync_task = glommio::spawn_local(wal_sync_loop(core.clone()));
    let gate = Gate::new();
    for ((proto, tls), l) in listeners {
        let core2 = core.clone();
        let gate2 = gate.clone();
        // A dropped glommio task is cancelled: detach it, the gate tracks it.
        if let Ok(t) = gate.spawn(super::accept::accept_loop(core2, l, gate2, proto, tls)) {
            t.detach();
        }
    }
    let beat_task = glommio::spawn_local(heartbeat_loop(core.clone(), a.health.clone()));
    {
        let st = a.repl.clone();
        core.repl().set_epoch(st.epoch);
        core.repl().set_peers(st.peers.clone());
        for p in core.local() {
            p.set_epoch(st.epoch);
        }
        core.repl().set_role(a.role.clone());
        match &a.role {
            CoreRole::Replica(primary) => crate::repl::role::start_followers(&*core, *primary),
            CoreRole::Fenced(_) if id == 0 => {
                glommio::spawn_local(crate::repl::role::confirm_epoch(core.clone())).detach();
            }
            _ => {}
        }
    }
    if let Some(d) = a.stall {
        glommio::spawn_local(async move {
            glommio::timer::sleep(Duration::from_millis(500)).await;
            tracing::warn!(
                core = id,
                "test hook: stalling core {id} for {} ms",
                d.as_millis()
            );
            std::thread::sleep(d);
        })
        .detach();
    }
    if id == 0 && core.cluster().is_some() {
        glommio::spawn_local(super::core::reconcile::reconcile_loop(core.clone())).detach();
    }
    if core.cluster().is_some() {
        glommio::spawn_local(super::core::migrate::migrate_loop(core.clone())).detach();
    }
    let _ = a.ready.send((id, Ok(())));

    core.shutdown().wait(false).await;
    // Followers hold partitions: they end before the partitions close.
    core.repl().stop_followers().await;
    // Stop accepting and let connections finish what they read, within bounds.
    {
        let closing = pin!(gate.close());
        let timeout = pin!(glommio::timer::sleep(DRAIN_TIMEOUT));
        if let Either::Right(_) = select(closing, timeout).await {
            tracing::warn!(
                core = id,
                "connections still busy after {DRAIN_TIMEOUT:?}; closing anyway"
            );
        }
    }
    // Other cores may still forward requests until they have drained too.
    for c in 0..core.mesh().cores() {
        if c != id {
            core.mesh().send(c, Msg::Drained);
        }
    }
    core.peers_drained(core.mesh().cores() - 1).await;
    // Commit what is staged, sync the WAL, then close the partitions.
    while core.has_pending() {
        let (g, targets) = core.commit_group().await;
        release_group(&core, g, targets);
    }
    drop(commit_task);
    drop(sync_task);
    core.sync_wal().await;
    drop(inbox_task);
    drop(beat_task);
    Ok(())
}

/// Commits one group per wake-up. Being woken puts this task at the back of
/// the run queue, so every connection ready in this tick stages first.
async fn commit_loop(core: Rc<Core>) {
    loop {
        core.groups().wait_staged().await;
        if core.has_pending() {
            let (g, targets) = core.commit_group().await;
            release_group(&core, g, targets);
        } else {
            // Nothing staged (e.g. a write that failed before staging):
            // still release anyone waiting on the open group.
            let g = core.skip_group();
            release_group(&core, g, Vec::new());
        }
    }
}

/// `wal` durability: sync the WAL once a second, off the reactor.
async fn wal_sync_loop(core: Rc<Core>) {
    if core.config().durability != crate::shard::Durability::Wal {
        return;
    }
    loop {
        glommio::timer::sleep(WAL_SYNC_INTERVAL).await;
        core.sync_wal().await;
    }
}
