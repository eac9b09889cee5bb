//! Server configuration: the project's own types, read from an optional
//! TOML file and overridden by command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::shard::{Durability, SlotLayoutKind};

/// Everything `tessera serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Where the partitions live.
    pub data_dir: PathBuf,
    /// Shared binary-protocol address; core c also listens on port+1+c
    /// (ephemeral ports when the port is 0); `off` leaves only the binary
    /// TLS listener (`tls-listen`).
    pub listen: String,
    /// Reactor count; `None` = the CPUs in the process's affinity mask.
    pub cores: Option<usize>,
    /// Partitions of a new data directory; `None` = one per CPU in the
    /// affinity mask (not per core: a directory made with fewer cores can
    /// use every CPU later).
    pub partitions: Option<u32>,
    pub durability: Durability,
    /// Largest frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Global budget for frame buffers above the per-connection base, in bytes.
    pub memory_budget_bytes: usize,
    /// A client holding budget for a partial frame that sends nothing for
    /// this long is disconnected (after 500 ms while another client waits
    /// for budget), in ms.
    pub stalled_frame_timeout_ms: u64,
    /// Client connections the node accepts at once, on every listener
    /// together (Redis's `maxclients`).
    pub maxclients: usize,
    /// Seconds after which a silent client is closed (Redis's `timeout`;
    /// 0 = never; subscribers and blocked pops are exempt).
    pub timeout: u64,
    /// RocksDB block cache shared by all partitions, in bytes.
    pub block_cache_bytes: usize,
    /// RocksDB memtable budget shared by all partitions, in bytes.
    pub write_buffer_bytes: usize,
    /// Size at which a partition's memtable of strings and metadata is
    /// flushed, in bytes; also the partition's budget of absorbed writes
    /// (docs/storage.md, "The write path").
    pub memtable_bytes: usize,
    /// Committed values of recently used keys kept by each core for reads,
    /// in bytes for the whole node (split over the partitions; 0 = off).
    pub read_cache_bytes: usize,
    /// Log filter (`info`, `debug`, `tessera=debug,warn`, ...); RUST_LOG wins when set.
    pub log_level: String,
    /// Request batches slower than this are logged (0 = never).
    pub slow_request_ms: u64,
    /// SLOWLOG records requests that run at least this many microseconds
    /// on their core (Redis's name and default; 0 = every request,
    /// negative = none).
    pub slowlog_log_slower_than: i64,
    /// SLOWLOG keeps this many entries (Redis's name and default).
    pub slowlog_max_len: u64,
    /// Databases SELECT can pick, 0 to `databases - 1` (Redis's name and
    /// default; 1 to 4096). Cluster mode has database 0 only.
    pub databases: u16,
    /// Directory under which BACKUP may write; `None` disables backups.
    pub backup_root: Option<PathBuf>,
    /// HTTP address (`HOST:PORT`, port 0 = ephemeral) or `off`.
    pub http_listen: String,
    /// RESP (Redis protocol) listener: `HOST:PORT` or `off`.
    pub resp_listen: String,
    /// Follow this primary (its binary `HOST:PORT`) as a read-only replica.
    pub replica_of: Option<String>,
    /// The binary `HOST:PORT` this node gives its primary and peers
    /// (default: the listen address, unless that is 0.0.0.0 or ::).
    pub advertise: Option<String>,
    /// WAL kept for replicas to catch up from: seconds, and MiB.
    pub wal_retention_seconds: u64,
    pub wal_retention_mb: u64,
    /// A write is acknowledged only when this many replicas applied it (0 = async).
    pub min_replicas_to_ack: u32,
    /// How long a write waits for those replicas before NOREPLICAS, in ms.
    pub replica_ack_timeout_ms: u64,
    /// Cluster mode (docs/cluster.md): the node serves only the slots the
    /// cluster map gives its shard and redirects the rest.
    pub cluster: bool,
    /// The RESP `HOST:PORT` Redis clients are redirected to (default: the
    /// RESP listen address, unless it is 0.0.0.0 or ::).
    pub resp_advertise: Option<String>,
    /// Cluster mode: a primary silent for this long is failed over, in ms.
    pub cluster_node_timeout_ms: u64,
    /// Cluster mode: the most a slot migration copies per second into this
    /// node (0 = no limit), so foreground requests keep their share.
    pub migrate_bytes_per_sec: u64,
    /// Cluster mode, declarative forming: every node's binary `HOST:PORT`,
    /// the same list in every node's configuration; the first one forms
    /// the cluster once all answer.
    pub cluster_peers: Vec<String>,
    /// Replicas per primary when forming from `cluster-peers`.
    pub cluster_replicas: usize,
    /// How a NEW data directory divides the slots among its partitions;
    /// `None` = interleaved in cluster mode, contiguous ranges otherwise.
    pub slot_layout: Option<SlotLayoutKind>,
    /// The default user's password (Redis's `requirepass`); with it every
    /// connection must authenticate (docs/security.md).
    pub requirepass: Option<String>,
    /// A file holding the default user's password (one line), so the
    /// password stays out of the configuration and the process list.
    pub requirepass_file: Option<PathBuf>,
    /// The ACL file: users are loaded from it at start and by ACL LOAD,
    /// written by ACL SAVE; `None` = `<data-dir>/users.acl`.
    pub aclfile: Option<PathBuf>,
    /// HTTP `/metrics` without credentials even when a password is set
    /// (for a Prometheus scraper on a trusted network).
    pub metrics_without_auth: bool,
    /// The ACL user this node's replication and cluster links authenticate
    /// as on other nodes (empty: the default user); used with
    /// `replica-pass-file` (Redis's `masteruser`).
    pub replica_user: Option<String>,
    /// A file whose first line is `replica-user`'s password (Redis's
    /// `masterauth`, kept out of the configuration).
    pub replica_pass_file: Option<PathBuf>,
    /// Redis's protected mode: while the default user has no password,
    /// clients from other machines are refused with DENIED.
    pub protected_mode: bool,
    /// Networks (CIDR) each listener accepts clients from; empty: every
    /// address.
    pub binary_allow_from: Vec<String>,
    pub resp_allow_from: Vec<String>,
    pub http_allow_from: Vec<String>,
    /// Redis's `client-output-buffer-limit`: what the node holds for a
    /// client that does not read before closing it, per class (parsed by
    /// the server's `outbuf` module).
    pub client_output_buffer_limit: String,
    /// Redis's `proto-max-bulk-len`: the largest RESP bulk string, in
    /// bytes or Redis's units (`32mb`); unset = `max-frame-bytes` less
    /// 1 KiB (a bulk travels inside the node as one frame).
    pub proto_max_bulk_len: Option<String>,
    /// Redis's `client-query-buffer-limit`: the most a RESP connection
    /// buffers of a command not yet complete; unset = `proto-max-bulk-len`
    /// plus 64 KiB (what the largest command with one bulk needs).
    pub client_query_buffer_limit: Option<String>,
    /// TLS (docs/security.md): the node's certificate chain and key (PEM),
    /// read again on SIGHUP.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// The CA that client certificates (and, for this node's own links,
    /// the peers' certificates) must chain to.
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Whether TLS clients must present a certificate; `None` = `yes` when
    /// `tls-ca-cert-file` is set, `no` otherwise.
    pub tls_auth_clients: Option<AuthClients>,
    /// The binary protocol's TLS listener (`HOST:PORT`, core c also on
    /// port+1+c) or `off`.
    pub tls_listen: String,
    /// The RESP TLS listener, or `off`.
    pub resp_tls_listen: String,
    /// The HTTPS listener, or `off`.
    pub http_tls_listen: String,
    /// This node's replication and migration links connect with TLS
    /// (Redis's `tls-replication`); the peers' certificates are checked
    /// against `tls-ca-cert-file`.
    pub tls_replication: bool,
    /// The links between cluster nodes use TLS (Redis's `tls-cluster`):
    /// the node is listed in the cluster map under its `tls-listen`
    /// address and TLS core ports, and its Raft, cluster, replication and
    /// migration links connect with TLS.
    pub tls_cluster: bool,
}

impl Config {
    /// Whether a new data directory interleaves its slots.
    pub fn interleaved(&self) -> bool {
        match self.slot_layout {
            Some(k) => k == SlotLayoutKind::Interleaved,
            None => self.cluster,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./tessera-data"),
            listen: "127.0.0.1:7700".into(),
            cores: None,
            partitions: None,
            durability: Durability::Wal,
            max_frame_bytes: 64 << 20,
            memory_budget_bytes: 1 << 30,
            stalled_frame_timeout_ms: 10_000,
            maxclients: 10_000,
            timeout: 0,
            block_cache_bytes: 512 << 20,
            read_cache_bytes: 128 << 20,
            write_buffer_bytes: 256 << 20,
            memtable_bytes: 64 << 20,
            log_level: "info".into(),
            slow_request_ms: 250,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            databases: 16,
            backup_root: None,
            http_listen: "127.0.0.1:8700".into(),
            resp_listen: "127.0.0.1:6380".into(),
            replica_of: None,
            advertise: None,
            wal_retention_seconds: 3600,
            wal_retention_mb: 1024,
            min_replicas_to_ack: 0,
            replica_ack_timeout_ms: 1000,
            cluster: false,
            resp_advertise: None,
            cluster_node_timeout_ms: 2000,
            migrate_bytes_per_sec: 64 << 20,
            cluster_peers: Vec::new(),
            cluster_replicas: 0,
            slot_layout: None,
            requirepass: None,
            requirepass_file: None,
            aclfile: None,
            metrics_without_auth: false,
            replica_user: None,
            replica_pass_file: None,
            protected_mode: true,
            binary_allow_from: Vec::new(),
            resp_allow_from: Vec::new(),
            http_allow_from: Vec::new(),
            client_output_buffer_limit: "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"
                .into(),
            proto_max_bulk_len: None,
            client_query_buffer_limit: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_cert_file: None,
            tls_auth_clients: None,
            tls_listen: "off".into(),
            resp_tls_listen: "off".into(),
            http_tls_listen: "off".into(),
            tls_replication: false,
            tls_cluster: false,
        }
    }
}

/// Redis's `tls-auth-clients`: whether a TLS client must present a
/// certificate signed by `tls-ca-cert-file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AuthClients {
    /// No client certificate is asked for.
    No,
    /// A client certificate is checked when one is presented.
    Optional,
    /// Every client must present a valid certificate (mutual TLS).
    Yes,
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{what} {value:?} is neither HOST:PORT nor off")]
    Listen {
        what: &'static str,
        value: String,
        source: std::net::AddrParseError,
    },
    /// A value out of its range, or settings that do not go together.
    #[error("{0}")]
    Invalid(&'static str),
    /// A setting's value, with the reason it is refused.
    #[error("{0}")]
    Setting(String),
    #[error("{0} is empty: its first line is the password")]
    Empty(&'static str),
    #[error("{what}: {value:?} is not a network (CIDR such as 10.0.0.0/8 or 2001:db8::/32) or an address")]
    Network { what: &'static str, value: String },
}

/// The first line of a password file (without its line end).
fn first_line(path: &Path, what: &'static str) -> Result<Vec<u8>, ConfigError> {
    let text = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(ConfigError::Empty(what));
    }
    Ok(line.to_vec())
}

/// Parses a listener setting: `HOST:PORT` or `off`.
fn listen_or_off(what: &'static str, v: &str) -> Result<Option<SocketAddr>, ConfigError> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|source| ConfigError::Listen {
        what,
        value: v.to_string(),
        source,
    })
}

impl Config {
    /// Reads a TOML file; unknown keys are refused so typos do not pass silently.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The HTTP address, or `None` when HTTP is off.
    pub fn http_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        listen_or_off("http-listen", &self.http_listen)
    }

    /// The RESP address, or `None` when RESP is off.
    pub fn resp_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        listen_or_off("resp-listen", &self.resp_listen)
    }

    /// The plaintext binary address, or `None` when it is off.
    pub fn binary_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        listen_or_off("listen", &self.listen)
    }

    /// The binary TLS address, or `None` when it is off.
    pub fn tls_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        listen_or_off("tls-listen", &self.tls_listen)
    }

    /// The RESP TLS address, or `None` when it is off.
    pub fn resp_tls_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        listen_or_off("resp-tls-listen", &self.resp_tls_listen)
    }

    /// The HTTPS address, or `None` when it is off.
    pub fn http_tls_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        listen_or_off("http-tls-listen", &self.http_tls_listen)
    }

    /// The ACL file's path.
    pub fn acl_file(&self) -> PathBuf {
        self.aclfile
            .clone()
            .unwrap_or_else(|| self.data_dir.join("users.acl"))
    }

    /// The default user's password from `requirepass` or
    /// `requirepass-file` (its first line), if one is set.
    pub fn password(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        if let Some(p) = &self.requirepass {
            return Ok(Some(p.as_bytes().to_vec()));
        }
        match &self.requirepass_file {
            Some(path) => first_line(path, "requirepass-file").map(Some),
            None => Ok(None),
        }
    }

    /// The binary, RESP and HTTP listeners' `allow-from` networks.
    pub fn allow_from(&self) -> Result<[Vec<ipnet::IpNet>; 3], ConfigError> {
        let parse = |what: &'static str, list: &[String]| {
            list.iter()
                .map(|n| {
                    let n = n.trim();
                    // A bare address is the network of that address alone.
                    n.parse::<ipnet::IpNet>()
                        .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| ConfigError::Network {
                            what,
                            value: n.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok([
            parse("binary-allow-from", &self.binary_allow_from)?,
            parse("resp-allow-from", &self.resp_allow_from)?,
            parse("http-allow-from", &self.http_allow_from)?,
        ])
    }

    /// What this node's own links authenticate with (`replica-user`,
    /// `replica-pass-file`).
    pub fn replica_credentials(&self) -> Result<Option<(String, Vec<u8>)>, ConfigError> {
        match &self.replica_pass_file {
            Some(path) => Ok(Some((
                self.replica_user.clone().unwrap_or_default(),
                first_line(path, "replica-pass-file")?,
            ))),
            None if self.replica_user.is_some() => {
                Err(ConfigError::Invalid("replica-user needs replica-pass-file"))
            }
            None => Ok(None),
        }
    }

    /// Checks values that would otherwise fail late.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.databases == 0 || self.databases > crate::shard::space::MAX_DATABASES {
            return Err(ConfigError::Invalid("databases must be 1 to 4096"));
        }
        self.http_addr()?;
        self.resp_addr()?;
        if self.binary_addr()?.is_none() {
            if self.tls_addr()?.is_none() {
                return Err(ConfigError::Invalid(
                    "listen off needs tls-listen: the binary protocol is how tessera cli, replicas and cluster nodes reach a node",
                ));
            }
            if self.cluster && !self.tls_cluster {
                return Err(ConfigError::Invalid(
                    "listen off in cluster mode needs tls-cluster: the other nodes reach this one over the binary protocol",
                ));
            }
        }
        if self.replica_of.is_some() && self.durability == Durability::None {
            return Err(ConfigError::Invalid(
                "replica-of needs a WAL: durability none (cache mode) cannot replicate",
            ));
        }
        if self.cluster && self.replica_of.is_some() {
            return Err(ConfigError::Invalid(
                "cluster and replica-of do not go together: in a cluster the map decides whom a node follows (tessera cluster create --replicas)",
            ));
        }
        if self.cluster && self.durability == Durability::None {
            return Err(ConfigError::Invalid(
                "cluster mode needs a WAL: durability none (cache mode) cannot replicate or fail over",
            ));
        }
        if !self.cluster_peers.is_empty() && !self.cluster {
            return Err(ConfigError::Invalid(
                "cluster-peers needs cluster mode (--cluster / cluster = true)",
            ));
        }
        if self
            .cluster_peers
            .iter()
            .any(|p| std::net::ToSocketAddrs::to_socket_addrs(p.as_str()).is_err())
        {
            return Err(ConfigError::Invalid(
                "every cluster-peers entry must be a binary HOST:PORT",
            ));
        }
        if self.cluster_node_timeout_ms < 200 {
            return Err(ConfigError::Invalid(
                "cluster-node-timeout-ms must be at least 200",
            ));
        }
        if self.max_frame_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max-frame-bytes must be at least 1024",
            ));
        }
        if self.maxclients == 0 {
            return Err(ConfigError::Invalid("maxclients must be at least 1"));
        }
        if self.stalled_frame_timeout_ms < 100 {
            return Err(ConfigError::Invalid(
                "stalled-frame-timeout-ms must be at least 100",
            ));
        }
        if self.cores == Some(0) {
            return Err(ConfigError::Invalid("cores must be at least 1"));
        }
        if self.memtable_bytes < 64 << 10 {
            return Err(ConfigError::Invalid(
                "memtable-bytes must be at least 65536",
            ));
        }
        if self.requirepass.is_some() && self.requirepass_file.is_some() {
            return Err(ConfigError::Invalid(
                "requirepass and requirepass-file do not go together: give one",
            ));
        }
        if self.requirepass.as_deref() == Some("") {
            return Err(ConfigError::Invalid(
                "requirepass must not be empty (leave it out for no password)",
            ));
        }
        self.password()?;
        self.replica_credentials()?;
        self.allow_from()?;
        if self.partitions == Some(0) {
            return Err(ConfigError::Invalid("partitions must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_are_kebab_case_and_unknown_keys_fail() {
        let c: Config = toml::from_str(
            "data-dir = \"/tmp/x\"\nlisten = \"127.0.0.1:0\"\ndurability = \"fsync\"\nmax-frame-bytes = 2048\n",
        )
        .unwrap();
        assert_eq!(c.durability, Durability::Fsync);
        assert_eq!(c.max_frame_bytes, 2048);
        assert_eq!(c.cores, None);
        assert!(toml::from_str::<Config>("no-such-key = 1").is_err());
    }

    #[test]
    fn cluster_refuses_replica_of_and_cache_mode() {
        let mut c = Config {
            cluster: true,
            ..Config::default()
        };
        assert!(c.validate().is_ok());
        c.replica_of = Some("127.0.0.1:7000".into());
        assert!(c.validate().unwrap_err().to_string().contains("replica-of"));
        c.replica_of = None;
        c.durability = Durability::None;
        assert!(c.validate().unwrap_err().to_string().contains("WAL"));
        let t: Config =
            toml::from_str("cluster = true\nresp-advertise = \"10.0.0.1:6380\"\n").unwrap();
        assert!(t.cluster);
        assert_eq!(t.resp_advertise.as_deref(), Some("10.0.0.1:6380"));
    }

    #[test]
    fn memtable_bytes_has_a_floor() {
        let mut c = Config::default();
        assert_eq!(c.memtable_bytes, 64 << 20);
        assert!(c.validate().is_ok());
        c.memtable_bytes = 1024;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("memtable-bytes"));
    }
}
