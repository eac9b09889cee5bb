//! The `tessera` binary: parses the command line and configuration, then
//! hands over to the library.

use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tessera::shard::{Durability, SlotLayoutKind};
use tessera::Config;

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Tessera: a persistent, thread-per-core key-value database"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The ACL user the client commands (cli, backup, cluster) authenticate as
    /// [default: TESSERA_USER, else the default user].
    #[arg(long, global = true, value_name = "USER")]
    user: Option<String>,
    /// The password for --user, or for the default user when --user is not given
    /// [default: TESSERA_PASSWORD]. Visible in the process list: prefer the variable.
    #[arg(long, global = true, value_name = "PASSWORD")]
    pass: Option<String>,
    #[command(flatten)]
    tls: tessera::tls::ClientTlsFlags,
}

/// The client commands' credentials: the flags, else the environment.
fn client_credentials(cli: &Cli) -> Result<Option<tessera::client::Credentials>, String> {
    use tessera::client::Credentials;
    match (&cli.user, &cli.pass) {
        (user, Some(pass)) => Ok(Some(Credentials::new(
            user.clone().unwrap_or_default(),
            pass.clone(),
        ))),
        (Some(user), None) => match Credentials::from_env() {
            Some(c) => Ok(Some(Credentials::new(user.clone(), c.pass))),
            None => Err("--user needs --pass (or TESSERA_PASSWORD)".into()),
        },
        (None, None) => Ok(Credentials::from_env()),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a node. With no flags: data in ./tessera-data, binary protocol on 127.0.0.1:7700.
    Serve(Box<ServeArgs>),
    /// Send one command to a node, like redis-cli (e.g. `tessera cli set k v`).
    Cli(CliArgs),
    /// Ask a running node for an online backup of every partition, written by the node into
    /// DIR on its own machine (DIR must lie under the node's backup-root).
    Backup(BackupArgs),
    /// Turn a backup directory into a new data directory that `tessera serve` opens.
    Restore(RestoreArgs),
    /// Form a cluster of `--cluster` nodes and show its state (docs/cluster.md).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Form a cluster of nodes started with --cluster: the first N / (R + 1) nodes become
    /// primaries with the 16384 slots spread evenly over them, the others their replicas
    /// (like `redis-cli --cluster create`). Never prompts; prints the map.
    Create {
        /// Replicas per primary.
        #[arg(long, default_value_t = 0, value_name = "R", conflicts_with = "adopt")]
        replicas: usize,
        /// Adopt an existing node with its data (restarted with --cluster, or a restored
        /// backup) as a one-shard cluster serving every slot: the first address is the
        /// primary, the others its replicas. Without it every node must be empty.
        #[arg(long)]
        adopt: bool,
        /// The nodes' binary HOST:PORT addresses (the --listen or --advertise of each).
        #[arg(required = true, value_name = "HOST:PORT")]
        nodes: Vec<String>,
    },
    /// Print the nodes, roles, slot ranges, epoch, the controller's leader and lag, as the
    /// node at --addr sees them.
    Status {
        /// Any node's binary HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
        addr: String,
    },
    /// Move slots to another shard while they are served (docs/cluster.md, "Moving slots"):
    /// the target copies them, catches up, then a fence of a few milliseconds (writes answer
    /// TRYAGAIN) hands them over. One migration per source shard; prints each stage until
    /// done. Safe to run again: moved slots are skipped, a migration in progress is followed.
    MigrateSlots {
        /// Slots, e.g. `0-99,200,300-310`.
        #[arg(value_name = "SLOTS")]
        slots: String,
        /// The target: a shard number, or the 40-hex id of one of its nodes.
        #[arg(long, value_name = "SHARD")]
        to: String,
        /// Any node's binary HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
        addr: String,
    },
    /// Abort the migration in progress while it is copying or fenced (its slots stay with the
    /// source; the target drops what it copied). A migration whose flip is done is finished
    /// by its source's clean-up; only when that source is down can it be ended here.
    AbortMigration {
        /// Any node's binary HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
        addr: String,
    },
    /// Add an empty node started with --cluster: the primary of a new shard without slots
    /// (run rebalance to give it its share), or with --replica-of a replica of a shard.
    AddNode {
        /// The new node's binary HOST:PORT.
        #[arg(value_name = "NEW")]
        new: String,
        /// Make it a replica of this shard (a shard number, or one of its nodes' 40-hex id).
        #[arg(long, value_name = "ID|SHARD")]
        replica_of: Option<String>,
        /// Any member's binary HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
        addr: String,
    },
    /// Remove a node: a primary's slots move to the other primaries first (refused if it is
    /// the only one, or if its shard has replicas); the node keeps redirecting until stopped.
    RemoveNode {
        /// The node's 40-hex id or binary HOST:PORT.
        #[arg(value_name = "ID")]
        node: String,
        /// Any member's binary HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
        addr: String,
    },
    /// Move slots so every primary holds about as many keys as the others (weighted by key
    /// count, so empty new primaries get their share); one migration per source and target.
    Rebalance {
        /// Leave shards within this percentage of the even share alone.
        #[arg(long, default_value_t = 2.0, value_name = "PCT")]
        threshold: f64,
        /// Any member's binary HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
        addr: String,
    },
    /// Replace a node: NEW joins OLD's shard as a replica and catches up, takes over as
    /// primary if OLD was one, then OLD is removed. OLD may be down once its shard failed over.
    ReplaceNode {
        /// The node leaving: its 40-hex id or binary HOST:PORT.
        #[arg(value_name = "OLD")]
        old: String,
        /// The empty --cluster node taking its place: its binary HOST:PORT.
        #[arg(value_name = "NEW")]
        new: String,
        /// Any member's binary HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
        addr: String,
    },
}

#[derive(clap::Args)]
struct BackupArgs {
    /// Any port of the node.
    #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
    addr: SocketAddr,
    /// Absolute directory on the node's machine, under its backup-root; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
}

#[derive(clap::Args)]
struct RestoreArgs {
    /// A directory written by `tessera backup`.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The new data directory (must not exist or be empty); start it with `tessera serve --data-dir`.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file; flags given here override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (created on first start).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Shared binary-protocol address; core c also listens on PORT+1+c (port 0 = ephemeral
    /// ports); `off` leaves only --tls-listen [default: 127.0.0.1:7700].
    #[arg(long, value_name = "HOST:PORT|off")]
    listen: Option<String>,
    /// Number of reactors [default: the CPUs in this process's affinity mask, so `taskset` works].
    /// On a machine shared with the clients (a laptop, a 2-CPU box running the load too), use
    /// fewer: on 2 CPUs, `--cores 1` served redis-benchmark C1000 at 0.85-1.0x redis-server where
    /// the default got 0.65-0.89x, with half the CPU per request (docs/operations.md).
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// Partitions (RocksDB instances) of a NEW data directory [default: the CPUs in the affinity
    /// mask, whatever --cores says, so the directory can use every CPU later]. More partitions
    /// leave room for more cores later, but each group commit then writes (and syncs) more WALs.
    #[arg(long, value_name = "P")]
    partitions: Option<u32>,
    /// none: cache, no WAL, data wiped at start; wal: WAL synced every second (survives kill -9);
    /// fsync: WAL synced before every acknowledgement (survives power loss) [default: wal]
    #[arg(long, value_enum)]
    durability: Option<Durability>,
    /// Largest frame accepted, in bytes [default: 67108864 (64 MiB)].
    #[arg(long, value_name = "BYTES")]
    max_frame_bytes: Option<usize>,
    /// Largest RESP bulk string, in bytes or Redis's units (32mb) [default: max-frame-bytes
    /// less 1 KiB].
    #[arg(long, value_name = "SIZE")]
    proto_max_bulk_len: Option<String>,
    /// The most a RESP connection buffers of a command not yet complete; past it the
    /// client gets an error and is closed [default: proto-max-bulk-len + 64 KiB].
    #[arg(long, value_name = "SIZE")]
    client_query_buffer_limit: Option<String>,
    /// Global memory budget for large frame buffers, in bytes [default: 1073741824 (1 GiB)].
    #[arg(long, value_name = "BYTES")]
    memory_budget_bytes: Option<usize>,
    /// RocksDB block cache shared by all partitions, in bytes [default: 536870912 (512 MiB)].
    #[arg(long, value_name = "BYTES")]
    block_cache_bytes: Option<usize>,
    /// RocksDB memtable budget shared by all partitions, in bytes [default: 268435456 (256 MiB)].
    #[arg(long, value_name = "BYTES")]
    write_buffer_bytes: Option<usize>,
    /// Size at which a partition's memtable of strings and metadata is flushed, in bytes; also
    /// the bytes of written values a partition absorbs in memory before a drain writes each key
    /// once into RocksDB (docs/storage.md, "The write path"). Smaller memtables (4 MiB) stay in
    /// the CPU cache and made small-keyspace writes 8-13% faster, but flush and compact more:
    /// under heavy writes over millions of keys they were 17% slower (BENCHMARKS.md)
    /// [default: 67108864 (64 MiB)].
    #[arg(long, value_name = "BYTES")]
    memtable_bytes: Option<usize>,
    /// Read cache: committed values of recently read or written keys and collection members,
    /// and which of them are absent, kept by the core owning them so a GET, an HGET or an
    /// HSET's member check skips RocksDB; bytes for the whole node, 0 = off [default:
    /// 134217728 (128 MiB)].
    #[arg(long, value_name = "BYTES")]
    read_cache_bytes: Option<usize>,
    /// Log filter: error, warn, info, debug, trace, or per module (`tessera=debug,warn`).
    /// RUST_LOG overrides it when set [default: info].
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Log request batches that take at least this long, in ms; 0 = never [default: 250].
    #[arg(long, value_name = "MS")]
    slow_request_ms: Option<u64>,
    /// SLOWLOG records requests that run at least this many microseconds on their core;
    /// 0 = every request, negative = none [default: 10000].
    #[arg(long, value_name = "MICROS", allow_negative_numbers = true)]
    slowlog_log_slower_than: Option<i64>,
    /// SLOWLOG keeps this many entries [default: 128].
    #[arg(long, value_name = "N")]
    slowlog_max_len: Option<u64>,
    /// Databases Redis clients can SELECT (0 to N-1), 1 to 4096; cluster mode has database 0
    /// only [default: 16].
    #[arg(long, value_name = "N")]
    databases: Option<u16>,
    /// HTTP interface (health, info, KV): HOST:PORT, port 0 = ephemeral, or `off`
    /// [default: 127.0.0.1:8700].
    #[arg(long, value_name = "HOST:PORT|off")]
    http_listen: Option<String>,
    /// Redis-protocol (RESP2/RESP3) listener, served by every core like the binary port:
    /// HOST:PORT, port 0 = ephemeral, or `off` [default: 127.0.0.1:6380].
    #[arg(long, value_name = "HOST:PORT|off")]
    resp_listen: Option<String>,
    /// Follow this primary (its binary HOST:PORT) as a read-only replica; partition counts
    /// must match (docs/replication.md). Without it, the role kept in the data directory
    /// (set by `tessera cli replicaof` / `promote`) applies.
    #[arg(long, value_name = "HOST:PORT")]
    replica_of: Option<String>,
    /// The binary HOST:PORT this node gives its primary and the other replicas, which use it
    /// to compare positions at promotion and to fence a former primary [default: the --listen
    /// address, unless it is 0.0.0.0 or ::].
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Acknowledge a write only when this many replicas have applied it; otherwise the client
    /// gets NOREPLICAS after --replica-ack-timeout-ms [default: 0, asynchronous].
    #[arg(long, value_name = "N")]
    min_replicas_to_ack: Option<u32>,
    /// How long a write waits for --min-replicas-to-ack replicas, in ms [default: 1000].
    #[arg(long, value_name = "MS")]
    replica_ack_timeout_ms: Option<u64>,
    /// Directory under which `tessera backup` may make this node write backups [default: none,
    /// backups refused].
    #[arg(long, value_name = "DIR")]
    backup_root: Option<PathBuf>,
    /// Cluster mode (docs/cluster.md): the node starts with no slots, joins a cluster formed
    /// by `tessera cluster create`, serves its shard's slots and answers MOVED for the others.
    /// Not with --replica-of: the cluster map decides whom a node follows. A listener
    /// given port 0 takes the port it had at the last start again while it is free, so a
    /// cluster restarted on ephemeral ports finds itself.
    #[arg(long)]
    cluster: bool,
    /// The RESP HOST:PORT that Redis clients are redirected to (MOVED, CLUSTER SLOTS)
    /// [default: the --resp-listen address, unless it is 0.0.0.0 or ::].
    #[arg(long, value_name = "HOST:PORT")]
    resp_advertise: Option<String>,
    /// Cluster mode: a primary that answers no controller heartbeat for this long is failed
    /// over to its most advanced replica; a primary with replicas stops taking writes after
    /// three quarters of it without hearing from the controller [default: 2000].
    #[arg(long, value_name = "MS")]
    cluster_node_timeout_ms: Option<u64>,
    /// Cluster mode: the most a slot migration copies into this node per second, so
    /// foreground requests keep their share of the CPU and disk; 0 = no limit
    /// [default: 67108864, 64 MiB/s].
    #[arg(long, value_name = "BYTES")]
    migrate_bytes_per_sec: Option<u64>,
    /// Cluster mode, formed declaratively: every node's binary HOST:PORT, comma-separated, the
    /// same list on every node (this node's --listen or --advertise among them). The first
    /// one forms the cluster, as `tessera cluster create` would, once every peer answers.
    #[arg(long, value_name = "HOST:PORT,...", value_delimiter = ',')]
    cluster_peers: Option<Vec<String>>,
    /// Replicas per primary when forming from --cluster-peers [default: 0].
    #[arg(long, value_name = "R")]
    cluster_replicas: Option<usize>,
    /// How a NEW data directory divides the 16384 slots among its partitions: interleaved
    /// (partition p owns every slot s with s % P == p, so a cluster node owning a third of the
    /// slots still uses every core) or ranges (one contiguous range each). A replica needs its
    /// primary's layout; use ranges for a new replica of an adopted single node
    /// [default: interleaved with --cluster, ranges otherwise].
    #[arg(long, value_enum)]
    slot_layout: Option<SlotLayoutKind>,
    /// The default user's password: every client must then AUTH (docs/security.md). Prefer
    /// --requirepass-file, which keeps it out of the process list [default: none, open].
    #[arg(long, value_name = "PASSWORD")]
    requirepass: Option<String>,
    /// A file whose first line is the default user's password (for systemd credentials).
    #[arg(long, value_name = "FILE")]
    requirepass_file: Option<PathBuf>,
    /// The ACL file: users load from it at start and on ACL LOAD; ACL SAVE writes it
    /// atomically [default: DATA_DIR/users.acl].
    #[arg(long, value_name = "FILE")]
    aclfile: Option<PathBuf>,
    /// Serve HTTP /metrics without credentials even when a password is set (/healthz and
    /// /readyz are always open).
    #[arg(long)]
    metrics_without_auth: bool,
    /// The ACL user this node's replication and cluster links authenticate as on other
    /// nodes [default: the default user, with --replica-pass-file].
    #[arg(long, value_name = "USER")]
    replica_user: Option<String>,
    /// A file whose first line is the password of --replica-user (Redis's masterauth).
    #[arg(long, value_name = "FILE")]
    replica_pass_file: Option<PathBuf>,
    /// Redis's protected mode: while the default user has no password, clients from other
    /// machines get DENIED and are disconnected [default: yes].
    #[arg(long, value_name = "yes|no", value_parser = parse_yes_no)]
    protected_mode: Option<bool>,
    /// Redis's client-output-buffer-limit: per class (normal, replica, pubsub) a hard limit,
    /// a soft limit and its seconds, in Redis's units; a client holding more is disconnected
    /// [default: "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"].
    #[arg(long, value_name = "LIMITS")]
    client_output_buffer_limit: Option<String>,
    #[command(flatten)]
    tls: tessera::tls::ServeTlsFlags,
    /// A client holding memory budget for a frame it has not finished sending is disconnected
    /// after sending nothing for this long, or after 500 ms while another client waits for
    /// budget, so stalled clients cannot starve active ones [default: 10000].
    #[arg(long, value_name = "MS")]
    stalled_frame_timeout_ms: Option<u64>,
    /// Client connections accepted at once, all listeners together; the next one gets
    /// `-ERR max number of clients reached` (Redis's maxclients) [default: 10000].
    #[arg(long, value_name = "N")]
    maxclients: Option<usize>,
    /// Close a client silent for this many seconds; 0 = never (Redis's timeout; subscribers
    /// and clients blocked in a pop are exempt) [default: 0].
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Networks the binary listener (and its per-core ports) accepts clients from, as CIDRs
    /// or addresses, comma-separated [default: every address].
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',')]
    binary_allow_from: Option<Vec<String>>,
    /// Networks the RESP listener accepts clients from [default: every address].
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',')]
    resp_allow_from: Option<Vec<String>>,
    /// Networks the HTTP listener accepts clients from [default: every address].
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',')]
    http_allow_from: Option<Vec<String>>,
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err(format!("{s:?} is neither yes nor no")),
    }
}

#[derive(clap::Args)]
#[command(
    after_help = "Commands:\n  ping [msg] | hello | get key | version key\n  set key value [EX s|PX ms] [NX|XX] [KEEPTTL] [VER version]\n  del key... | exists key... | mget key... | mset key value [key value ...]\n  incr key | decr key | incrby key n | decrby key n\n  expire key s | pexpire key ms | ttl key | pttl key | persist key\n  scan cursor [MATCH prefix] [COUNT n] | dbsize | info\n\nData model (docs/protocol.md lists every one; Redis's words):\n  hashes   hset hget hmget hdel hgetall hkeys hvals hlen hexists hincrby hincrbyfloat hscan hstrlen hsetnx\n  sortkeys hrange key start stop [STARTEXCL] [STOPINCL] [PREFIX p] [SUFFIX s] [LIMIT n] [REV] [KEYSONLY]\n           checkandset key check_field EXISTS|NOTEXISTS|EQ v|PREFIX p|INTLT n|... set_field value\n  sets     sadd srem sismember smismember smembers scard spop srandmember sscan sinter sunion sdiff (+store)\n  zsets    zadd zrem zscore zmscore zincrby zcard zcount zrank zrevrank zrange zrangebyscore zpopmin zpopmax ...\n  lists    lpush rpush lpushx rpushx lpop rpop lrange llen lindex lset linsert ltrim lrem lpos lmove\n  keys     type rename renamenx (and the commands above)\n  cas VERSION command...                 run only if the first key's version is VERSION (0 = absent)\n  batch cmd args ; cmd args ; ...        all or nothing, keys in one slot\n\nReplication (docs/replication.md):\n  role                                   role, epoch, peers and each partition's position\n  replicaof HOST:PORT | replicaof no one follow another node from now on | same as promote\n  promote [--force]                      take writes with a new epoch after catching up from the\n                                         most advanced replica (--force: even if one is unreachable)\n\nValues print escaped on a terminal and raw otherwise; errors go to stderr with exit status 1."
)]
struct CliArgs {
    /// Any port of the node (the shared one or a core's).
    #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
    addr: SocketAddr,
    /// The database to run the command in (Redis's SELECT; 0 to `databases` - 1).
    #[arg(long, default_value_t = 0, value_name = "N")]
    db: u16,
    /// The command and its arguments, passed through verbatim.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "COMMAND"
    )]
    args: Vec<std::ffi::OsString>,
}

fn config_from(a: ServeArgs) -> Result<Config, String> {
    let mut c = match &a.config {
        Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    a.tls.apply(&mut c);
    if let Some(v) = a.data_dir {
        c.data_dir = v;
    }
    if let Some(v) = a.listen {
        c.listen = v;
    }
    if a.cores.is_some() {
        c.cores = a.cores;
    }
    if a.partitions.is_some() {
        c.partitions = a.partitions;
    }
    if let Some(v) = a.durability {
        c.durability = v;
    }
    if let Some(v) = a.max_frame_bytes {
        c.max_frame_bytes = v;
    }
    if a.proto_max_bulk_len.is_some() {
        c.proto_max_bulk_len = a.proto_max_bulk_len;
    }
    if a.client_query_buffer_limit.is_some() {
        c.client_query_buffer_limit = a.client_query_buffer_limit;
    }
    if let Some(v) = a.memory_budget_bytes {
        c.memory_budget_bytes = v;
    }
    if let Some(v) = a.read_cache_bytes {
        c.read_cache_bytes = v;
    }
    if let Some(v) = a.block_cache_bytes {
        c.block_cache_bytes = v;
    }
    if let Some(v) = a.write_buffer_bytes {
        c.write_buffer_bytes = v;
    }
    if let Some(v) = a.memtable_bytes {
        c.memtable_bytes = v;
    }
    if let Some(v) = a.log_level {
        c.log_level = v;
    }
    if let Some(v) = a.slow_request_ms {
        c.slow_request_ms = v;
    }
    if let Some(v) = a.slowlog_log_slower_than {
        c.slowlog_log_slower_than = v;
    }
    if let Some(v) = a.slowlog_max_len {
        c.slowlog_max_len = v;
    }
    if let Some(v) = a.databases {
        c.databases = v;
    }
    if a.backup_root.is_some() {
        c.backup_root = a.backup_root;
    }
    if a.requirepass.is_some() {
        c.requirepass = a.requirepass;
    }
    if a.requirepass_file.is_some() {
        c.requirepass_file = a.requirepass_file;
    }
    if a.aclfile.is_some() {
        c.aclfile = a.aclfile;
    }
    if a.metrics_without_auth {
        c.metrics_without_auth = true;
    }
    if a.replica_user.is_some() {
        c.replica_user = a.replica_user;
    }
    if a.replica_pass_file.is_some() {
        c.replica_pass_file = a.replica_pass_file;
    }
    if let Some(v) = a.protected_mode {
        c.protected_mode = v;
    }
    if let Some(v) = a.client_output_buffer_limit {
        c.client_output_buffer_limit = v;
    }
    if let Some(v) = a.stalled_frame_timeout_ms {
        c.stalled_frame_timeout_ms = v;
    }
    if let Some(v) = a.maxclients {
        c.maxclients = v;
    }
    if let Some(v) = a.timeout {
        c.timeout = v;
    }
    if let Some(v) = a.binary_allow_from {
        c.binary_allow_from = v;
    }
    if let Some(v) = a.resp_allow_from {
        c.resp_allow_from = v;
    }
    if let Some(v) = a.http_allow_from {
        c.http_allow_from = v;
    }
    if let Some(v) = a.http_listen {
        c.http_listen = v;
    }
    if let Some(v) = a.resp_listen {
        c.resp_listen = v;
    }
    if a.replica_of.is_some() {
        c.replica_of = a.replica_of;
    }
    if a.advertise.is_some() {
        c.advertise = a.advertise;
    }
    if let Some(n) = a.min_replicas_to_ack {
        c.min_replicas_to_ack = n;
    }
    if let Some(ms) = a.replica_ack_timeout_ms {
        c.replica_ack_timeout_ms = ms;
    }
    if a.cluster {
        c.cluster = true;
    }
    if a.resp_advertise.is_some() {
        c.resp_advertise = a.resp_advertise;
    }
    if let Some(ms) = a.cluster_node_timeout_ms {
        c.cluster_node_timeout_ms = ms;
    }
    if let Some(b) = a.migrate_bytes_per_sec {
        c.migrate_bytes_per_sec = b;
    }
    if let Some(p) = a.cluster_peers {
        c.cluster_peers = p;
    }
    if let Some(r) = a.cluster_replicas {
        c.cluster_replicas = r;
    }
    if a.slot_layout.is_some() {
        c.slot_layout = a.slot_layout;
    }
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// Resolves when SIGTERM or SIGINT arrives.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let (tx, rx) = flume::bounded::<()>(1);
    std::thread::Builder::new()
        .name("tessera-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                let _ = tx.send(());
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(async move {
        let _ = rx.recv_async().await;
    })
}

fn main() {
    let cli = Cli::parse();
    let serve = matches!(cli.command, Command::Serve(_));
    if serve && (cli.user.is_some() || cli.pass.is_some() || cli.tls.given()) {
        eprintln!("tessera: --user, --pass, --tls, --cacert, --cert, --key and --sni are for the client commands; a node's own links use replica-user, replica-pass-file, tls-replication and tls-cluster");
        std::process::exit(2);
    }
    if !serve {
        let set = client_credentials(&cli)
            .map(tessera::client::set_credentials)
            .and_then(|()| cli.tls.options())
            .and_then(|o| tessera::client::tls::set_tls(o.as_ref()));
        if let Err(e) = set {
            eprintln!("tessera: {e}");
            std::process::exit(2);
        }
    }
    let code = match cli.command {
        Command::Serve(a) => {
            let result = config_from(*a).and_then(|c| {
                tessera::logs::init(&c.log_level)?;
                tessera::failpoint::setup_from_env().map_err(|e| e.to_string())?;
                let stop = shutdown_signal()?;
                tessera::run(c, stop).map_err(|e| e.to_string())
            });
            match result {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("tessera: {e}");
                    1
                }
            }
        }
        Command::Cli(a) => {
            let args = a.args.into_iter().map(|s| s.into_vec()).collect();
            tessera::cli::run(a.addr, a.db, args)
        }
        Command::Backup(a) => {
            let dir = a.to.to_string_lossy().into_owned().into_bytes();
            tessera::cli::run(a.addr, 0, vec![b"backup".to_vec(), dir])
        }
        Command::Cluster(c) => {
            let r = match c {
                ClusterCommand::Create {
                    replicas,
                    adopt,
                    nodes,
                } => if adopt {
                    tessera::cluster_cli::adopt(&nodes)
                } else {
                    tessera::cluster_cli::create(&nodes, replicas)
                }
                .map(|m| tessera::cluster_cli::render_map(&m)),
                ClusterCommand::Status { addr } => tessera::cluster_cli::status_report(&addr),
                ClusterCommand::MigrateSlots { slots, to, addr } => {
                    tessera::cluster_cli::migrate_slots(&addr, &slots, &to, &mut std::io::stdout())
                        .map(|_| String::new())
                }
                ClusterCommand::AbortMigration { addr } => {
                    tessera::cluster_cli::abort_migration(&addr)
                }
                ClusterCommand::AddNode {
                    new,
                    replica_of,
                    addr,
                } => tessera::cluster_ops::add_node(
                    &addr,
                    &new,
                    replica_of.as_deref(),
                    &mut std::io::stdout(),
                )
                .map(|_| String::new()),
                ClusterCommand::RemoveNode { node, addr } => {
                    tessera::cluster_ops::remove_node(&addr, &node, &mut std::io::stdout())
                        .map(|_| String::new())
                }
                ClusterCommand::Rebalance { threshold, addr } => {
                    tessera::cluster_ops::rebalance(&addr, threshold, &mut std::io::stdout())
                        .map(|_| String::new())
                }
                ClusterCommand::ReplaceNode { old, new, addr } => {
                    tessera::cluster_ops::replace_node(&addr, &old, &new, &mut std::io::stdout())
                        .map(|_| String::new())
                }
            };
            match r {
                Ok(text) => {
                    print!("{text}");
                    0
                }
                Err(e) => {
                    eprintln!("tessera cluster: {e}");
                    1
                }
            }
        }
        Command::Restore(a) => match tessera::shard::backup::restore(&a.from, &a.data_dir) {
            Ok(r) => {
                println!(
                    "restored {} partitions into {} ({} files, {} hard-linked); start it with: \
                     tessera serve --data-dir {}",
                    r.partitions,
                    a.data_dir.display(),
                    r.files,
                    r.linked,
                    a.data_dir.display()
                );
                0
            }
            Err(e) => {
                eprintln!("tessera: restore failed: {e}");
                1
            }
        },
    };
    std::process::exit(code);
}
