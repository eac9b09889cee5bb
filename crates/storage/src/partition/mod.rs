//! One partition: a RocksDB instance owning a contiguous slot range, plus the
//! pending group-commit batch of its core.
//!
//! A partition lives on exactly one core and is used through `&self` from
//! that core's tasks only (hence `Cell`/`RefCell`, never locks). Work that
//! may block (a read that misses the block cache, an fsync, a scan) is
//! handed out as a `Send` closure for the core's blocking pool.
//!
//! Group commit: writes are staged into `pending` (a `WriteBatch` plus an
//! overlay that read-modify-write commands and reads consult), tagged with
//! the core's open group number. The core's committer takes the batch once
//! per tick and writes it; acknowledgements wait for that group.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use rocksdb::{DBPinnableSlice, ErrorKind, ReadOptions, ReadTier, WriteOptions, DB};

use super::clock::Hlc;
use super::envelope::{self, Meta};
use super::manifest::PartitionSlots;
use super::{Durability, Error};
use repl_log::LogState;

mod batch;
mod cache;
mod commit;
pub mod journal;
pub mod migrate;
mod pending;
pub mod repl_log;
mod scan;
mod stored;
mod tx_writes;
mod window;
pub mod xcommit;

pub use scan::ScanPage;
pub use stored::Ahead;
pub(crate) use stored::Status;
pub use window::WINDOW_CHUNK;

use cache::ReadCache;
use migrate::SlotOp;
use pending::{Pending, Staged};

/// Prefix of partition-internal keys; slots never reach it (they are < 16384).
pub(super) const META_PREFIX: [u8; 2] = [0xFF, 0xFF];
pub(super) const CLOCK_KEY: &[u8] = b"\xFF\xFFclock-high-water";

/// The stored key of a user key: its slot (2 bytes, big endian), then the key.
pub fn raw_key(slot: u16, key: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(2 + key.len());
    raw.extend_from_slice(&slot.to_be_bytes());
    raw.extend_from_slice(key);
    raw
}

/// Counters of one partition, read by INFO.
#[derive(Debug, Default)]
pub struct PartitionStats {
    pub reads: Cell<u64>,
    pub writes: Cell<u64>,
    pub blocking_reads: Cell<u64>,
    pub groups: Cell<u64>,
    pub stalls: Cell<u64>,
    pub inline_disk_reads: Cell<u64>,
    /// Compactions of collections' subkey ranges run (`want_compaction`).
    pub range_compactions: Cell<u64>,
    /// Subkeys read ahead into the read cache (`read_sub_ahead`) or into
    /// read-ahead windows (`stored.rs`).
    pub read_ahead: Cell<u64>,
}

/// Figures of one partition for INFO.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub id: u32,
    pub slots: PartitionSlots,
    pub estimate_keys: u64,
    pub memtable_bytes: u64,
    pub sst_bytes: u64,
    pub pending_compaction_bytes: u64,
    pub wal_synced: u64,
    pub block_cache_hits: u64,
    pub block_cache_misses: u64,
    pub reads: u64,
    pub writes: u64,
    pub blocking_reads: u64,
    pub groups: u64,
    pub stalls: u64,
    pub inline_disk_reads: u64,
    pub range_compactions: u64,
    /// Subkeys read ahead: into the read cache (a list's pops) or into
    /// read-ahead windows (the other pops).
    pub read_ahead: u64,
    /// RocksDB iterator seeks (every range read and read-ahead makes one).
    pub seeks: u64,
    /// Read cache: lookups answered, lookups that went to RocksDB, keys kept.
    pub read_cache_hits: u64,
    pub read_cache_misses: u64,
    pub read_cache_keys: u64,
    /// Absorbed writes (`journal.rs`): bytes in the overlay, drains
    /// finished, and keys RocksDB wrote into its memtables (journal
    /// records, position records and drained keys alike).
    pub absorbed_bytes: u64,
    pub drains: u64,
    pub keys_written: u64,
    pub poisoned: Option<String>,
}

/// A partition's memory budgets: its read cache, and the absorbed writes
/// its overlay holds before a drain (`journal.rs`).
pub(super) struct Budgets {
    pub(super) read_cache_bytes: usize,
    pub(super) absorb_bytes: usize,
}

/// The result of writing a batch inline.
pub enum InlineWrite {
    /// Written; the batch's bytes (kept for replicas, `note_written`).
    Done(Vec<u8>),
    /// RocksDB would have stalled; the batch is returned (as its bytes) to be
    /// written from the blocking pool instead.
    Stalled(Vec<u8>),
    /// Not tried: the batch holds range deletions (a migration's clean-up,
    /// FLUSHALL), which are written from the blocking pool, never on the
    /// reactor (their bytes, as for `Stalled`).
    Offload(Vec<u8>),
    Failed(Error),
}

/// The column families of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cf {
    /// Metadata records and strings: `slot | key`.
    Meta,
    /// Collection members and the sorted-set score index (see `subkey`).
    Sub,
}

pub(crate) use tx_writes::{TxWrites, WriteKey, WriteValue};

/// Name of the subkey column family.
pub const SUB_CF: &str = "sub";

/// A read that missed the block cache, to be warmed from the blocking pool.
enum Miss {
    Point(Cf, Vec<u8>),
    /// A range read of `[lo, hi)` stopped for disk, in the given direction;
    /// `lo` (forward) or `hi` (reverse) is where it had got to.
    Range {
        lo: Vec<u8>,
        hi: Vec<u8>,
        reverse: bool,
    },
}

/// Entries one warm-up of a range miss reads from where the read stopped:
/// enough for the pages a command reads at once, without reading all of a
/// large collection when it only wanted its first members.
const WARM_RANGE_ENTRIES: usize = 4096;

/// Subkeys a read-ahead (`Partition::read_sub_ahead`) keeps in the read cache.
pub const READ_AHEAD: u64 = 64;

/// Bytes of a stored value, from the overlay or pinned in RocksDB.
pub enum RawValue<'a> {
    Staged(Rc<[u8]>),
    Pinned(DBPinnableSlice<'a>),
}

impl std::ops::Deref for RawValue<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            RawValue::Staged(v) => v,
            RawValue::Pinned(v) => v,
        }
    }
}

pub struct Partition {
    id: u32,
    slots: PartitionSlots,
    pub(super) db: Arc<DB>,
    /// The last read that would have blocked (warmed by `warm_fn`).
    miss: RefCell<Option<Miss>>,
    /// Kept for the statistics tickers (WAL synced) it owns.
    options: rocksdb::Options,
    pub(super) durability: Durability,
    write_opts: WriteOptions,
    read_inline: ReadOptions,
    read_disk: ReadOptions,
    /// Set while a read that kept missing the cache after warming may read
    /// disk on the reactor (so a cache too small to hold what was warmed
    /// cannot make a command retry forever).
    disk_ok: Cell<bool>,
    pub(super) clock: RefCell<Hlc>,
    /// Replication: the last position record, the epoch of new batches,
    /// recent batches' local sequence numbers (`repl_log.rs`).
    pub(super) log: RefCell<LogState>,
    /// What recently read or written keys and members hold, or that they
    /// are absent (`cache.rs`). Exact: every write passes through the
    /// overlay and reaches the cache when its group commits; writes that
    /// bypass the overlay (replication, full sync) and FLUSHALL clear it.
    pub(super) cache: RefCell<ReadCache>,
    pending: RefCell<Pending>,
    /// The core's open group number, shared by all its partitions.
    group: Rc<Cell<u64>>,
    /// The group of a staged FLUSH not yet committed: until then RocksDB's
    /// older data must read as gone.
    flushed: Cell<Option<u64>>,
    /// The spaces `[lo, hi)` of a staged FLUSHDB (with its group) not yet
    /// committed: until then RocksDB's older data there must read as gone.
    flushed_spaces: RefCell<Vec<(u64, u16, u16)>>,
    /// The last group a commit record or part was staged in (`xcommit.rs`).
    links_group: Cell<u64>,
    /// Group from which writes failed, and why.
    poisoned: RefCell<Option<(u64, String)>>,
    /// Subkey ranges waiting to be compacted, and whether a compaction of
    /// this partition's ranges is running (one at a time).
    compact_queue: RefCell<Vec<(Vec<u8>, Vec<u8>)>>,
    compacting: Cell<bool>,
    /// Absorbed writes (`journal.rs`): the overlay's budget in bytes, the
    /// replication index of the last journaled batch taken and of the last
    /// one written, whether a drain is running or wanted, drains finished,
    /// and the drain a range deletion's batch writes before itself.
    absorb_bytes: usize,
    taken: Cell<u64>,
    written: Cell<u64>,
    draining: Cell<bool>,
    drain_wanted: Cell<bool>,
    drain_count: Cell<u64>,
    /// The first journal record no drain has deleted.
    jrn_from: Cell<u64>,
    pre_drain: RefCell<Option<journal::Drain>>,
    pub stats: PartitionStats,
}

fn storage(e: rocksdb::Error) -> Error {
    Error::storage("RocksDB", e)
}

impl Partition {
    pub(super) fn new(
        id: u32,
        slots: PartitionSlots,
        db: Arc<DB>,
        options: rocksdb::Options,
        durability: Durability,
        group: Rc<Cell<u64>>,
        budgets: Budgets,
    ) -> Result<Partition, Error> {
        let Budgets {
            read_cache_bytes,
            absorb_bytes,
        } = budgets;
        journal::replay(&db)?;
        let high_water = match db.get(CLOCK_KEY).map_err(storage)? {
            Some(v) if v.len() == 8 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&v);
                u64::from_be_bytes(a)
            }
            Some(v) => {
                return Err(Error::Corrupt(format!(
                    "partition {id}: clock high-water mark has {} bytes",
                    v.len()
                )))
            }
            None => 0,
        };
        let log = LogState::open(&db)?;
        let mut write_opts = WriteOptions::default();
        write_opts.set_no_slowdown(true);
        write_opts.disable_wal(durability == Durability::None);
        let mut read_inline = ReadOptions::default();
        read_inline.set_read_tier(ReadTier::BlockCache);
        Ok(Partition {
            id,
            slots,
            db,
            miss: RefCell::new(None),
            options,
            durability,
            write_opts,
            read_inline,
            read_disk: ReadOptions::default(),
            disk_ok: Cell::new(false),
            clock: RefCell::new(Hlc::resume(high_water)),
            log: RefCell::new(log),
            cache: RefCell::new(ReadCache::new(read_cache_bytes)),
            pending: RefCell::new(Pending::new()),
            group,
            poisoned: RefCell::new(None),
            compact_queue: RefCell::new(Vec::new()),
            compacting: Cell::new(false),
            flushed: Cell::new(None),
            flushed_spaces: RefCell::new(Vec::new()),
            links_group: Cell::new(u64::MAX),
            absorb_bytes,
            taken: Cell::new(0),
            written: Cell::new(0),
            draining: Cell::new(false),
            drain_wanted: Cell::new(false),
            drain_count: Cell::new(0),
            jrn_from: Cell::new(0),
            pre_drain: RefCell::new(None),
            stats: PartitionStats::default(),
        })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn slots(&self) -> PartitionSlots {
        self.slots
    }

    // ---- reads -------------------------------------------------------------

    /// The stored bytes of `raw`, from the overlay, the memtable or the block
    /// cache. `Error::WouldBlock` means the value may be on disk: run
    /// `warm_fn` in the blocking pool, then retry.
    fn read_raw(&self, raw: &[u8]) -> Result<Option<RawValue<'_>>, Error> {
        if let Some(e) = self.pending.borrow().overlay.get(raw) {
            return Ok(e.value.clone().map(RawValue::Staged));
        }
        if self.hidden(raw) {
            return Ok(None);
        }
        if let Some(v) = self.cache.borrow_mut().get(Cf::Meta, raw) {
            return Ok(v.map(RawValue::Staged));
        }
        match self.db.get_pinned_opt(raw, self.read_opts()) {
            Ok(v) if self.cache.borrow().enabled() => {
                let v: Option<Rc<[u8]>> = v.map(|v| Rc::from(&v[..]));
                self.cache.borrow_mut().fill(Cf::Meta, raw, v.clone());
                Ok(v.map(RawValue::Staged))
            }
            Ok(v) => Ok(v.map(RawValue::Pinned)),
            Err(e) if e.kind() == ErrorKind::Incomplete => {
                *self.miss.borrow_mut() = Some(Miss::Point(Cf::Meta, raw.to_vec()));
                Err(Error::WouldBlock)
            }
            Err(e) => Err(storage(e)),
        }
    }

    fn read_opts(&self) -> &ReadOptions {
        if self.disk_ok.get() {
            &self.read_disk
        } else {
            &self.read_inline
        }
    }

    /// Lets reads on this core touch disk until `allow_disk(false)`: the
    /// last resort after warming did not keep what a command needs in the
    /// block cache (counted as `inline_disk_reads`).
    pub fn allow_disk(&self, on: bool) {
        if on {
            self.stats
                .inline_disk_reads
                .set(self.stats.inline_disk_reads.get() + 1);
        }
        self.disk_ok.set(on);
    }

    fn sub_cf(&self) -> &rocksdb::ColumnFamily {
        // The column family is created when the partition opens (see Store::open_partition).
        self.db
            .cf_handle(SUB_CF)
            .expect("the sub column family is opened with the partition")
    }

    /// Reads a subkey: the overlay first, then the read cache, then the
    /// memtable or block cache.
    pub(super) fn read_sub(&self, raw: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match self.known_sub(raw) {
            Some(v) => Ok(v),
            None => self.read_stored_sub(raw),
        }
    }

    /// Reads a subkey like `read_sub`; when neither the staged group nor
    /// the read cache knows it, first reads the stored subkeys of
    /// `[lo, hi)` into the cache, so the reads of the next ones hit it: a
    /// list's pops walk its elements in order. `[lo, hi)` holds `raw` and
    /// at most `READ_AHEAD` keys. It is read forwards even for pops from
    /// the right: RocksDB steps backwards at several times the cost
    /// (BENCHMARKS.md, issue 18's sixth session).
    pub(super) fn read_sub_ahead(
        &self,
        raw: &[u8],
        lo: &[u8],
        hi: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        if let Some(v) = self.known_sub(raw) {
            return Ok(v);
        }
        if self.cache.borrow().enabled() {
            self.read_ahead(lo, hi)?;
            if let Some(v) = self.cache.borrow_mut().get(Cf::Sub, raw) {
                return Ok(v.map(|v| v.to_vec()));
            }
        }
        self.read_stored_sub(raw)
    }

    /// What the staged group (or a staged FLUSHALL) or the read cache
    /// knows of a subkey; `None` when only RocksDB can tell.
    fn known_sub(&self, raw: &[u8]) -> Option<Option<Vec<u8>>> {
        if let Some((_, staged)) = self.pending.borrow().sub.get(raw) {
            return Some(staged.as_ref().map(|v| v.to_vec()));
        }
        if self.hidden(raw) {
            return Some(None);
        }
        let known = self.cache.borrow_mut().get(Cf::Sub, raw)?;
        Some(known.map(|v| v.to_vec()))
    }

    /// Reads a subkey from the memtable or block cache and keeps what it
    /// found (or that it is absent) in the read cache.
    fn read_stored_sub(&self, raw: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match self
            .db
            .get_pinned_cf_opt(self.sub_cf(), raw, self.read_opts())
        {
            Ok(v) => {
                let mut cache = self.cache.borrow_mut();
                if cache.enabled() {
                    cache.fill(Cf::Sub, raw, v.as_deref().map(Rc::from));
                }
                Ok(v.map(|v| v.to_vec()))
            }
            Err(e) if e.kind() == ErrorKind::Incomplete => {
                *self.miss.borrow_mut() = Some(Miss::Point(Cf::Sub, raw.to_vec()));
                Err(Error::WouldBlock)
            }
            Err(e) => Err(storage(e)),
        }
    }

    /// Fills the read cache with up to `READ_AHEAD` stored subkeys of
    /// `[lo, hi)` (those the staged group holds are left to it).
    /// `Error::WouldBlock` when not even the first is in memory.
    fn read_ahead(&self, lo: &[u8], hi: &[u8]) -> Result<(), Error> {
        let mut it = self.sub_iter(lo, hi);
        it.seek_to_first();
        let p = self.pending.borrow();
        let mut cache = self.cache.borrow_mut();
        let mut read = 0u64;
        while read < READ_AHEAD && it.valid() {
            if let (Some(k), Some(v)) = (it.key(), it.value()) {
                if !p.sub.contains_key(k) {
                    cache.fill(Cf::Sub, k, Some(Rc::from(v)));
                }
            }
            read += 1;
            it.next();
        }
        self.stats
            .read_ahead
            .set(self.stats.read_ahead.get() + read);
        match it.status() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Incomplete && read == 0 => {
                drop((p, cache));
                self.missed_range(lo, hi, false);
                Err(Error::WouldBlock)
            }
            // What was read is kept; the point read handles the rest.
            Err(e) if e.kind() == ErrorKind::Incomplete => Ok(()),
            Err(e) => Err(storage(e)),
        }
    }

    /// Reads a metadata record or string as owned bytes (transactions).
    pub(super) fn read_meta_raw(&self, raw: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.read_raw(raw)?.map(|v| v.to_vec()))
    }

    /// Up to `n` staged subkeys in `[lo, hi)`, nearest `lo` first (nearest
    /// `hi` when `reverse`): range reads take the staged group a chunk at a
    /// time, so one that stops early copies only what it passed.
    pub(super) fn staged_sub_chunk(
        &self,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        n: usize,
    ) -> Vec<(Rc<[u8]>, Staged)> {
        if lo >= hi {
            return Vec::new();
        }
        let p = self.pending.borrow();
        let range = p.sub.range(lo, hi);
        let copy = |(k, (_, v)): (&Rc<[u8]>, &(u64, Staged))| (k.clone(), v.clone());
        match reverse {
            false => range.take(n).map(copy).collect(),
            true => range.rev().take(n).map(copy).collect(),
        }
    }

    /// An iterator over stored subkeys in `[lo, hi)` that never reads disk
    /// (it ends with `Incomplete` instead).
    pub(super) fn sub_iter(&self, lo: &[u8], hi: &[u8]) -> rocksdb::DBRawIterator<'_> {
        let mut opts = ReadOptions::default();
        if !self.disk_ok.get() {
            opts.set_read_tier(ReadTier::BlockCache);
        }
        opts.set_iterate_lower_bound(lo.to_vec());
        // After a staged FLUSH nothing stored is visible: an empty range.
        let hi = if self.hidden(lo) { lo } else { hi };
        opts.set_iterate_upper_bound(hi.to_vec());
        self.db.raw_iterator_cf_opt(self.sub_cf(), opts)
    }

    /// Records that a range read of `[lo, hi)` would have blocked after
    /// reaching `lo` (forward) or `hi` (reverse).
    pub(super) fn missed_range(&self, lo: &[u8], hi: &[u8], reverse: bool) {
        *self.miss.borrow_mut() = Some(Miss::Range {
            lo: lo.to_vec(),
            hi: hi.to_vec(),
            reverse,
        });
    }

    /// A closure that reads `raw` from disk into the block cache.
    /// Warms what the last `WouldBlock` missed, or else the key's metadata.
    pub fn warm_fn(&self, slot: u16, key: &[u8]) -> impl FnOnce() + Send + 'static {
        let db = self.db.clone();
        let miss = self
            .miss
            .borrow_mut()
            .take()
            .unwrap_or_else(|| Miss::Point(Cf::Meta, raw_key(slot, key)));
        self.stats
            .blocking_reads
            .set(self.stats.blocking_reads.get() + 1);
        move || {
            // The values themselves are not needed: the reads fill the block cache.
            let cf = |c: Cf| match c {
                Cf::Meta => db.cf_handle("default"),
                Cf::Sub => db.cf_handle(SUB_CF),
            };
            match miss {
                Miss::Point(c, raw) => {
                    if let Some(h) = cf(c) {
                        let _ = db.get_pinned_cf(h, &raw);
                    }
                }
                Miss::Range { lo, hi, reverse } => {
                    if let Some(h) = cf(Cf::Sub) {
                        let mut opts = ReadOptions::default();
                        opts.set_iterate_lower_bound(lo);
                        opts.set_iterate_upper_bound(hi);
                        let mut it = db.raw_iterator_cf_opt(h, opts);
                        if reverse {
                            it.seek_to_last();
                        } else {
                            it.seek_to_first();
                        }
                        let mut n = 0;
                        while it.valid() && n < WARM_RANGE_ENTRIES {
                            n += 1;
                            if reverse {
                                it.prev();
                            } else {
                                it.next();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Calls `f` with the live value of `raw` (its header and body, not
    /// copied): how transactions read keys.
    pub(super) fn read_live_with<R>(
        &self,
        raw: &[u8],
        now_ms: u64,
        f: impl FnOnce(Option<(Meta, &[u8])>) -> R,
    ) -> Result<R, Error> {
        self.stats.reads.set(self.stats.reads.get() + 1);
        let Some(v) = self.read_raw(raw)? else {
            return Ok(f(None));
        };
        let (meta, body) = envelope::decode(&v)?;
        Ok(f((!meta.is_expired(now_ms)).then_some((meta, body))))
    }

    // ---- writes ------------------------------------------------------------

    fn check_writable(&self) -> Result<(), Error> {
        match &*self.poisoned.borrow() {
            Some((_, why)) => Err(Error::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    fn next_version(&self, now_ms: u64) -> u64 {
        let (v, mark) = self.clock.borrow_mut().next(now_ms);
        if let Some(mark) = mark {
            self.stage_mark(mark);
        }
        v
    }

    /// Stages a new high-water mark of the clock (in the overlay, like any
    /// value, so drains and replays carry it).
    pub(super) fn stage_mark(&self, mark: u64) {
        let group = self.group.get();
        self.pending.borrow_mut().stage(
            CLOCK_KEY.to_vec(),
            group,
            Some(Rc::from(&mark.to_be_bytes()[..])),
        );
    }

    /// Stages a transaction's writes into the open group, all or nothing
    /// (they join one WriteBatch). Returns the group.
    pub(super) fn stage_all(&self, writes: TxWrites) -> u64 {
        let group = self.group.get();
        // Looked up by name, so only when a subkey is written.
        let mut sub = None;
        let mut p = self.pending.borrow_mut();
        let mut cache = self.cache.borrow_mut();
        let n = writes.len() as u64;
        // Whether the sub column family surely lacks a key (memtables and
        // filters, never disk). Not while a drain is written: its batch may
        // hold an older put of the key.
        let draining = self.draining.get();
        let absent = |cf, k: &[u8]| !draining && !self.db.key_may_exist_cf(cf, k);
        writes.drain_sorted(|(cf, raw), value: Staged| {
            cache.shadowed(cf, &raw);
            match (cf, &value) {
                (Cf::Meta, _) => p.stage(raw, group, value),
                (Cf::Sub, Some(v)) => {
                    p.batch
                        .put_cf(*sub.get_or_insert_with(|| self.sub_cf()), &raw, v);
                    p.stage_sub(raw, group, value, |_| false);
                }
                (Cf::Sub, None) => {
                    let cf = *sub.get_or_insert_with(|| self.sub_cf());
                    p.batch.delete_cf(cf, &raw);
                    if !cache.windows.is_empty() {
                        cache.windows.staged_delete(&raw);
                    }
                    p.stage_sub(raw, group, value, |k| absent(cf, k));
                }
            }
        });
        self.stats.writes.set(self.stats.writes.get() + n);
        group
    }

    /// FLUSHALL of this partition: one range deletion per column family in
    /// the open group (every user key and member; the clock's high-water
    /// mark stays). Returns the group.
    pub fn flush_all(&self) -> Result<u64, Error> {
        self.check_writable()?;
        let group = self.group.get();
        let sub = self.sub_cf();
        let mut p = self.pending.borrow_mut();
        p.batch
            .delete_range([0u8, 0].as_slice(), META_PREFIX.as_slice());
        p.batch
            .delete_range_cf(sub, [0u8].as_slice(), [0xFFu8, 0xFF].as_slice());
        p.ranged = true;
        p.clear();
        self.cache.borrow_mut().clear();
        self.flushed.set(Some(group));
        Ok(group)
    }

    /// FLUSHDB: stages the deletion of every key and member of database
    /// `db` (one range deletion per column family, applied with the group
    /// commit). Returns the group.
    pub fn flush_db(&self, db: u16) -> Result<u64, Error> {
        let (lo, hi) = crate::space::range(db);
        let ops = [0u8, 1]
            .map(|cf| SlotOp::DeleteRange {
                cf,
                from: lo.to_be_bytes().to_vec(),
                to: hi.to_be_bytes().to_vec(),
            })
            .into();
        let group = self.stage_migrated(ops)?;
        self.flushed_spaces.borrow_mut().push((group, lo, hi));
        Ok(group)
    }

    /// Whether `raw` lies where a staged, uncommitted FLUSHALL or FLUSHDB
    /// deleted everything RocksDB holds.
    fn hidden(&self, raw: &[u8]) -> bool {
        if self.flushed.get().is_some() {
            return true;
        }
        let spaces = self.flushed_spaces.borrow();
        !spaces.is_empty() && {
            let s = raw.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            spaces.iter().any(|&(_, lo, hi)| (lo..hi).contains(&s))
        }
    }

    /// The next version of the partition's clock (also used as a new
    /// collection's generation).
    pub(super) fn new_version(&self, now_ms: u64) -> u64 {
        self.next_version(now_ms)
    }

    pub(super) fn writable(&self) -> Result<(), Error> {
        self.check_writable()
    }

    // ---- group commit ------------------------------------------------------

    // ---- figures -------------------------------------------------------------

    /// Sets the read cache's budget in bytes (0: off).
    pub fn set_read_cache_bytes(&self, bytes: usize) {
        self.cache.borrow_mut().set_limit(bytes);
    }

    pub fn info(&self) -> PartitionInfo {
        let prop = |name: &str| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        PartitionInfo {
            id: self.id,
            slots: self.slots,
            estimate_keys: prop("rocksdb.estimate-num-keys"),
            memtable_bytes: prop("rocksdb.cur-size-all-mem-tables"),
            sst_bytes: prop("rocksdb.total-sst-files-size"),
            pending_compaction_bytes: prop("rocksdb.estimate-pending-compaction-bytes"),
            wal_synced: self
                .options
                .get_ticker_count(rocksdb::statistics::Ticker::WalFileSynced),
            block_cache_hits: self
                .options
                .get_ticker_count(rocksdb::statistics::Ticker::BlockCacheHit),
            block_cache_misses: self
                .options
                .get_ticker_count(rocksdb::statistics::Ticker::BlockCacheMiss),
            reads: self.stats.reads.get(),
            writes: self.stats.writes.get(),
            blocking_reads: self.stats.blocking_reads.get(),
            groups: self.stats.groups.get(),
            stalls: self.stats.stalls.get(),
            inline_disk_reads: self.stats.inline_disk_reads.get(),
            range_compactions: self.stats.range_compactions.get(),
            read_ahead: self.stats.read_ahead.get(),
            seeks: self
                .options
                .get_ticker_count(rocksdb::statistics::Ticker::NumberDbSeek),
            read_cache_hits: self.cache.borrow().hits,
            read_cache_misses: self.cache.borrow().misses,
            read_cache_keys: self.cache.borrow().len() as u64,
            absorbed_bytes: self.absorbed_bytes(),
            drains: self.drains(),
            keys_written: self
                .options
                .get_ticker_count(rocksdb::statistics::Ticker::NumberKeysWritten),
            poisoned: self.poisoned.borrow().as_ref().map(|(_, w)| w.clone()),
        }
    }

    /// Queues a compaction of the subkeys in `[lo, hi)` (a collection whose
    /// deleted members outnumber its live ones; `Tx::save`).
    pub(super) fn want_compaction(&self, lo: Vec<u8>, hi: Vec<u8>) {
        let mut q = self.compact_queue.borrow_mut();
        if !q.iter().any(|(l, h)| *l == lo && *h == hi) {
            q.push((lo, hi));
        }
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        // The subkey compaction filter reads this DB from RocksDB's threads;
        // stopping background work first means it never holds the last
        // reference (which would close the DB from inside a compaction).
        self.db.cancel_all_background_work(true);
    }
}
