//! The settings every core shares (`CoreConfig`). Those CONFIG SET may
//! change are atomics (`net::resp::config`).

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::shard::Durability;

/// Settings every core shares.
pub struct CoreConfig {
    pub max_frame_bytes: usize,
    /// `proto-max-bulk-len` and `client-query-buffer-limit` (RESP).
    pub proto_max_bulk_len: usize,
    pub client_query_buffer_limit: usize,
    pub durability: Durability,
    pub memory_budget: Arc<crate::net::Budget>,
    /// How long a client may hold budget for a partial frame without
    /// sending (`net::stall`).
    pub stalled_frame_timeout: std::time::Duration,
    /// Client connections open on the node, against `maxclients`.
    pub clients: Arc<crate::net::Clients>,
    /// Redis's `timeout` in seconds (0: none): a client silent this long
    /// is closed (not a subscriber or a client blocked in a pop). CONFIG
    /// SET changes it, as the other atomics here (`net::resp::config`).
    pub idle_timeout_secs: AtomicU64,
    /// Batches slower than this are logged.
    pub slow_request: Option<std::time::Duration>,
    /// SLOWLOG: requests that run at least this many microseconds are
    /// recorded (negative: none are), `slowlog-log-slower-than`.
    pub slowlog_slower_than: AtomicI64,
    /// SLOWLOG: the most entries kept (per core; SLOWLOG shows the newest
    /// this many of the node's).
    pub slowlog_max_len: AtomicUsize,
    pub data_dir: std::path::PathBuf,
    /// The script cache, running scripts and function libraries.
    pub scripting: Arc<crate::cmd::script::node::Scripting>,
    /// Databases SELECT can pick (`databases`; 1 in cluster mode).
    pub databases: u16,
    /// Cluster mode: database 0 only.
    pub cluster_mode: bool,
    /// Where BACKUP may write; `None` refuses backups.
    pub backup_root: Option<std::path::PathBuf>,
    /// The node's persisted replication state (epoch, role, peers); only
    /// role changes and peer discoveries touch it, from the blocking pool.
    pub repl_state: Arc<std::sync::Mutex<crate::repl::state::NodeState>>,
    /// The binary `HOST:PORT` this node gives its primary and peers.
    pub advertise: String,
    /// Replicas that must have applied a group before its acks (0 = async).
    pub min_replicas_to_ack: AtomicU32,
    /// The node's read cache in bytes, shared by its partitions; each core
    /// applies a change to its own partitions (`Core::apply_settings`).
    pub read_cache_bytes: AtomicUsize,
    pub replica_ack_timeout: std::time::Duration,
    /// The cluster controller, in cluster mode.
    pub cluster: Option<Arc<tessera_cluster::Controller>>,
    /// The most a slot migration copies into this node per second (0: no limit).
    pub migrate_bytes_per_sec: u64,
    /// The ACL users every front end checks (docs/security.md).
    pub acl: Arc<crate::acl::Acl>,
    /// HTTP `/metrics` needs no credentials.
    pub metrics_without_auth: bool,
    /// Protected mode (`net::admit`).
    pub protected_mode: bool,
    /// The binary, RESP and HTTP listeners' `allow-from` networks.
    pub allow_from: [Vec<ipnet::IpNet>; 3],
    /// `client-output-buffer-limit`, per class.
    pub output_limits: crate::outbuf::OutputLimits,
    /// The TLS listeners' certificate, reloaded on SIGHUP (`crate::tls`).
    pub tls: Option<Arc<crate::tls::ServerTls>>,
}

impl CoreConfig {
    /// SLOWLOG's threshold in microseconds; `None`: nothing is recorded.
    pub fn slowlog_slower_than(&self) -> Option<u64> {
        u64::try_from(self.slowlog_slower_than.load(Ordering::Relaxed)).ok()
    }

    pub fn slowlog_max_len(&self) -> usize {
        self.slowlog_max_len.load(Ordering::Relaxed)
    }

    pub fn min_replicas_to_ack(&self) -> u32 {
        self.min_replicas_to_ack.load(Ordering::Relaxed)
    }

    /// Redis's `timeout`; `None`: clients may stay silent.
    pub fn idle_timeout(&self) -> Option<std::time::Duration> {
        match self.idle_timeout_secs.load(Ordering::Relaxed) {
            0 => None,
            s => Some(std::time::Duration::from_secs(s)),
        }
    }
}

impl super::Core {
    /// Gives this core's partitions what CONFIG SET changed that they hold
    /// themselves (the read cache's budget, split evenly over the node's
    /// partitions). Runs with every heartbeat, so within a beat of the SET.
    pub fn apply_settings(&self) {
        let total = self.config.read_cache_bytes.load(Ordering::Relaxed);
        if self.read_cache_applied.replace(total) == total {
            return;
        }
        let each = total / self.topo.partitions().max(1) as usize;
        for p in self.parts.iter().flatten() {
            p.set_read_cache_bytes(each);
        }
    }
}
