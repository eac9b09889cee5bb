//! # tessera-storage
//!
//! Tessera's storage: the data directory, its manifest, the RocksDB
//! partitions (reads, staging, group-commit writes, the read cache, scans),
//! the value envelope, the version clock, the replication log and its
//! position records, and the named fault points ([`failpoint`]).
//!
//! This is the only crate of the workspace that depends on RocksDB, and it
//! depends on no other crate of ours: other layers see `Partition`, `Store`
//! and this crate's own types. Nothing here knows about sockets, reactors or
//! wire formats.

pub mod backup;
pub mod clock;
pub mod envelope;
pub mod failpoint;
pub mod fuzz;
pub mod hash;
pub mod list;
pub mod manifest;
pub mod partition;
pub mod position;
mod sample;
pub mod set;
pub mod space;
pub mod stream;
pub mod subkey;
pub mod tx;
pub mod zset;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, OnceLock, Weak};

pub use manifest::{Layout, Manifest, PartitionSlots, SlotRange};
pub use partition::journal;
/// The replication log: every batch a partition commits, read back for
/// replicas (it lives with the partition, whose internals it reads).
pub use partition::repl_log;
pub use partition::{InlineWrite, Partition, PartitionInfo, ScanPage, READ_AHEAD, WINDOW_CHUNK};

/// The underlying error of a storage failure: RocksDB's, or an injected
/// fault's message.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// RocksDB failed (or a fault was injected, `crate::failpoint`).
    #[error("storage error: {what}: {source}")]
    Storage { what: String, source: Source },
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("data directory refused: {0}")]
    Manifest(String),
    /// BACKUP's target is not allowed (no backup root, outside it, taken).
    #[error("{0}")]
    BackupRefused(String),
    /// The value may be on disk; the read must be retried after the
    /// blocking pool has brought it into the cache.
    #[error("read would block")]
    WouldBlock,
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("value is not an integer or out of range")]
    NotInteger,
    #[error("increment or decrement would overflow")]
    Overflow,
    #[error("version mismatch: the key's current version is {current}")]
    VersionConflict { current: u64 },
    #[error("{0}")]
    Poisoned(String),
    #[error("no such key")]
    NoSuchKey,
    #[error("value is not a valid float")]
    NotFloat,
    #[error("hash value is not an integer")]
    HashNotInteger,
    #[error("hash value is not a float")]
    HashNotFloat,
    #[error("increment would produce NaN or Infinity")]
    NanOrInfinity,
    #[error("index out of range")]
    OutOfRange,
    /// Replication: the asked position cannot be served from the WAL (it
    /// fell out of retention, or the histories diverged); a full sync is needed.
    #[error("{0}")]
    SyncNeeded(String),
    /// A stream command's consumer group (or its key) is missing.
    #[error("{0}")]
    NoGroup(String),
    /// XGROUP CREATE of a group that exists.
    #[error("Consumer Group name already exists")]
    BusyGroup,
    /// A stream command refused its arguments (Redis's words).
    #[error("{0}")]
    Stream(String),
}

impl Error {
    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// A RocksDB failure (or an injected fault) while doing `what`.
    pub fn storage(what: impl Into<String>, source: impl Into<Source>) -> Error {
        Error::Storage {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// How writes are made durable (one per server).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Cache mode: no WAL; the data directory is wiped at start.
    None,
    /// WAL on, synced in the background once a second.
    Wal,
    /// WAL synced before every group commit's acknowledgements.
    Fsync,
}

/// How a new data directory divides the slots among its partitions.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum SlotLayoutKind {
    /// One contiguous slot range per partition (manifest format 2).
    Ranges,
    /// Partition p owns every slot s with s % P == p (manifest format 3).
    Interleaved,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Wal => "wal",
            Durability::Fsync => "fsync",
        }
    }
}

/// Settings of the storage layer.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Partitions to create when the directory is new; `None` = the default given.
    pub partitions: Option<u32>,
    pub default_partitions: u32,
    /// When the directory is new: interleave the slots over the partitions
    /// (format 3, for cluster nodes) instead of contiguous ranges.
    pub interleaved: bool,
    /// The node serves databases 1 and up: the manifest says so (format 4
    /// or 5) before any of their keys is written, so older builds refuse
    /// the directory.
    pub databases: bool,
    pub durability: Durability,
    /// One block cache shared by all partitions.
    pub block_cache_bytes: usize,
    /// One memtable budget shared by all partitions.
    pub write_buffer_bytes: usize,
    /// Flush size of each partition's `default` memtable.
    pub memtable_bytes: usize,
    /// Read cache for the whole store, split evenly over the partitions.
    pub read_cache_bytes: usize,
    /// RocksDB background threads shared by all partitions.
    pub background_threads: i32,
    /// WAL kept after flushes so replicas can catch up (seconds, MiB; 0 = RocksDB's default).
    pub wal_retention_seconds: u64,
    pub wal_retention_mb: u64,
}

/// RocksDB resources shared by every partition of the process.
struct Shared {
    env: rocksdb::Env,
    cache: rocksdb::Cache,
    write_buffers: rocksdb::WriteBufferManager,
}

/// An opened data directory. Partitions are opened by the core that owns them.
pub struct Store {
    config: StoreConfig,
    manifest: Manifest,
    shared: Shared,
    /// Whether this run created the directory (RocksDB instances may be created).
    fresh: bool,
}

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(what, e)
}

pub(crate) fn partition_dir(data_dir: &Path, p: u32) -> PathBuf {
    data_dir.join(format!("partition-{p:04}"))
}

fn random_u64() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    // Fall back on time and pid; the id only has to differ between nodes.
    clock::now_ms() ^ ((std::process::id() as u64) << 32)
}

impl Store {
    /// Opens or creates the data directory described by `config`.
    pub fn open(config: StoreConfig) -> Result<Store, Error> {
        let dir = &config.data_dir;
        let has_manifest = dir.join(manifest::FILE_NAME).exists();
        let is_empty = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(Error::io(format!("read {}", dir.display()), e)),
        };
        if !has_manifest && !is_empty {
            return Err(Error::Manifest(format!(
                "{} is not empty and has no MANIFEST; it is not a Tessera data directory",
                dir.display()
            )));
        }
        if config.durability == Durability::None && has_manifest {
            // A cache must not resurrect deleted keys: start empty.
            std::fs::remove_dir_all(dir).map_err(io_err(format!("wipe {}", dir.display())))?;
        }
        let fresh = !dir.join(manifest::FILE_NAME).exists();
        let manifest = if fresh {
            std::fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
            let p = config
                .partitions
                .unwrap_or(config.default_partitions)
                .max(1);
            if p > 16384 {
                return Err(Error::Manifest(format!("{p} partitions: at most 16384")));
            }
            let mut m = match config.interleaved {
                true => Manifest::interleaved(random_u64(), p, clock::now_ms()),
                false => Manifest::new(random_u64(), p, clock::now_ms()),
            };
            m.databases = config.databases;
            for i in 0..p {
                std::fs::create_dir_all(partition_dir(dir, i))
                    .map_err(io_err(format!("create partition {i}")))?;
            }
            m.write_to(dir)?;
            m
        } else {
            let (mut m, format) = Manifest::read_with_format(dir)?;
            if let Some(p) = config.partitions {
                if p != m.partitions {
                    return Err(Error::Manifest(format!(
                        "{} was created with {} partitions; --partitions {p} only applies when creating a data directory",
                        dir.display(),
                        m.partitions
                    )));
                }
            }
            for i in 0..m.partitions {
                let pd = partition_dir(dir, i);
                if !pd.join("CURRENT").exists() {
                    return Err(Error::Manifest(format!(
                        "partition {i} is missing ({} has no RocksDB CURRENT file)",
                        pd.display()
                    )));
                }
            }
            // From now on the partitions may hold format 2 records (and,
            // with `databases`, keys of databases 1 and up): builds that
            // cannot read them must refuse the directory.
            let gains_databases = config.databases && !m.databases;
            m.databases |= config.databases;
            if format < manifest::FORMAT_V2 || gains_databases {
                m.write_to(dir)?;
            }
            m
        };
        let mut env =
            rocksdb::Env::new().map_err(|e| Error::storage("create the RocksDB environment", e))?;
        env.set_background_threads(config.background_threads.max(1));
        env.set_high_priority_background_threads(1);
        let cache = rocksdb::Cache::new_lru_cache(config.block_cache_bytes);
        // Two separate budgets: charging memtables to the block cache would
        // let a write budget larger than the cache evict every block a read
        // just warmed.
        let write_buffers =
            rocksdb::WriteBufferManager::new_write_buffer_manager(config.write_buffer_bytes, false);
        Ok(Store {
            config,
            manifest,
            shared: Shared {
                env,
                cache,
                write_buffers,
            },
            fresh,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn durability(&self) -> Durability {
        self.config.durability
    }

    /// Opens partition `p`. `group` is the owning core's open group number.
    pub fn open_partition(&self, p: u32, group: Rc<Cell<u64>>) -> Result<Partition, Error> {
        if p >= self.manifest.partitions {
            return Err(Error::Manifest(format!("no partition {p}")));
        }
        let slots = self.manifest.slots_of(p);
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(self.fresh);
        opts.set_env(&self.shared.env);
        opts.set_write_buffer_manager(&self.shared.write_buffers);
        // Strings and metadata: memtables of `memtable-bytes`; smaller
        // ones compact L0 at more files (BENCHMARKS.md, 2026-11-22 12:20
        // UTC, for their trade-off).
        let l0 = level0_trigger(self.config.memtable_bytes);
        opts.set_write_buffer_size(self.config.memtable_bytes);
        opts.set_level_zero_file_num_compaction_trigger(l0);
        // RocksDB's margins above the trigger (its defaults are 4, 20, 36).
        opts.set_level_zero_slowdown_writes_trigger(l0 + 16);
        opts.set_level_zero_stop_writes_trigger(l0 + 32);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&self.shared.cache);
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_keep_log_file_num(2);
        opts.set_wal_ttl_seconds(self.config.wal_retention_seconds);
        opts.set_wal_size_limit_mb(self.config.wal_retention_mb);
        opts.enable_statistics();
        opts.set_compaction_filter("tessera-expiry", expiry_filter);
        opts.create_missing_column_families(true);
        // Subkeys: the same table settings, and a filter that drops members
        // of dead generations (it reads the metadata through `this`).
        let this: Arc<OnceLock<Weak<rocksdb::DB>>> = Arc::new(OnceLock::new());
        let mut sub_opts = rocksdb::Options::default();
        sub_opts.set_write_buffer_manager(&self.shared.write_buffers);
        sub_opts.set_block_based_table_factory(&table);
        sub_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Files crowded with deletions (a sorted set's old score entries,
        // popped members) are compacted without waiting for size triggers,
        // so range reads stop stepping over them (docs/storage.md).
        sub_opts.add_compact_on_deletion_collector_factory(256, 96, 0.0);
        let filter_db = this.clone();
        sub_opts.set_compaction_filter(
            "tessera-generations",
            move |_l: u32, k: &[u8], _v: &[u8]| subkey_filter(&filter_db, k),
        );
        // The journal (absorbed groups' batches, partition/journal.rs):
        // written once, read back only after a crash, deleted by drains.
        let mut jrn_opts = rocksdb::Options::default();
        jrn_opts.set_write_buffer_manager(&self.shared.write_buffers);
        jrn_opts.set_write_buffer_size(self.config.memtable_bytes);
        jrn_opts.set_compression_type(rocksdb::DBCompressionType::None);
        let cfs = vec![
            rocksdb::ColumnFamilyDescriptor::new("default", opts.clone()),
            rocksdb::ColumnFamilyDescriptor::new(partition::SUB_CF, sub_opts),
            rocksdb::ColumnFamilyDescriptor::new(partition::journal::CF, jrn_opts),
        ];
        let path = partition_dir(&self.config.data_dir, p);
        let db = rocksdb::DB::open_cf_descriptors(&opts, &path, cfs)
            .map_err(|e| Error::storage(format!("open partition {p} at {}", path.display()), e))?;
        let db = Arc::new(db);
        let _ = this.set(Arc::downgrade(&db));
        let cache = self.config.read_cache_bytes / self.manifest.partitions.max(1) as usize;
        Partition::new(
            p,
            slots,
            db,
            opts,
            self.config.durability,
            group,
            partition::Budgets {
                read_cache_bytes: cache,
                absorb_bytes: self.config.memtable_bytes,
            },
        )
    }
}

/// L0 files at which a column family compacts them: 64 MiB of memtables
/// (so small memtables do not compact every few MiB), at least RocksDB's
/// default of 4 files, at most 16.
fn level0_trigger(memtable_bytes: usize) -> i32 {
    ((64usize << 20) / memtable_bytes.max(1)).clamp(4, 16) as i32
}

/// Drops values whose expiry has passed. RocksDB turns the removal into a
/// tombstone above older versions, so nothing older resurfaces.
/// Values dropped by the expiry compaction filter in this process.
static EXPIRED_REMOVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many expired values compactions have removed since the process started.
pub fn expired_removed() -> u64 {
    EXPIRED_REMOVED.load(std::sync::atomic::Ordering::Relaxed)
}

fn expiry_filter(_level: u32, key: &[u8], value: &[u8]) -> rocksdb::compaction_filter::Decision {
    use rocksdb::compaction_filter::Decision;
    if key.len() >= 2 && key[..2] == [0xFF, 0xFF] {
        return Decision::Keep;
    }
    match envelope::expire_at_ms(value) {
        Some(at) if at != 0 && at <= clock::now_ms() => {
            EXPIRED_REMOVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Decision::Remove
        }
        _ => Decision::Keep,
    }
}

/// Runs `f` and counts the entries RocksDB stepped over on this thread
/// meanwhile: deleted and overwritten entries an iterator or a point read
/// had to pass (perf context `internal_key_skipped_count` plus
/// `internal_delete_skipped_count`). It measures what reads cost in work,
/// not time, so tests can bound it.
pub fn count_skipped<R>(f: impl FnOnce() -> R) -> (R, u64) {
    use rocksdb::perf::{set_perf_stats, PerfContext, PerfMetric, PerfStatsLevel};
    set_perf_stats(PerfStatsLevel::EnableCount);
    let mut ctx = PerfContext::default();
    ctx.reset();
    let r = f();
    let skipped = ctx.metric(PerfMetric::InternalKeySkippedCount)
        + ctx.metric(PerfMetric::InternalDeleteSkippedCount);
    set_perf_stats(PerfStatsLevel::Disable);
    (r, skipped)
}

/// Subkeys dropped by the generation compaction filter in this process.
static SUBKEYS_REMOVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many subkeys of deleted, expired or recreated collections compactions
/// have removed since the process started.
pub fn subkeys_removed() -> u64 {
    SUBKEYS_REMOVED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Keeps a subkey only while its key's metadata is live, of a collection
/// type, and of the same generation. The metadata is read from the DB (the
/// memtable included), so a subkey written in the same batch as its
/// metadata is never dropped.
fn subkey_filter(
    db: &OnceLock<Weak<rocksdb::DB>>,
    key: &[u8],
) -> rocksdb::compaction_filter::Decision {
    use rocksdb::compaction_filter::Decision;
    let Some(db) = db.get().and_then(Weak::upgrade) else {
        return Decision::Keep;
    };
    let Some((slot, user_key, generation)) = subkey::parse(key) else {
        return Decision::Keep;
    };
    let meta_key = partition::raw_key(slot, user_key);
    let live = match db.get_pinned(&meta_key) {
        Ok(Some(v)) => match envelope::decode(&v) {
            Ok((m, _)) => {
                m.vtype != envelope::ValueType::String
                    && m.generation == generation
                    && !m.is_expired(clock::now_ms())
            }
            Err(_) => true,
        },
        Ok(None) => false,
        // A failed read keeps the subkey: dropping live data is the one thing not allowed.
        Err(_) => true,
    };
    if live {
        Decision::Keep
    } else {
        SUBKEYS_REMOVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Decision::Remove
    }
}
