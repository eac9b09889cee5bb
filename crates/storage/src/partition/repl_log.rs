//! A partition's replication log (docs/replication.md): every batch the
//! group commit writes ends with the partition's position record, so the
//! WAL is the log. Primaries read it for their replicas
//! (`updates_fn`), replicas append the same batches (`apply_fn`), and a
//! replica too far behind copies a checkpoint of the partition in full
//! (`SyncSource` on the primary, `begin_full_sync_fn` / `write_chunk_fn` /
//! `finish_full_sync_fn` on the replica).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use rocksdb::{WriteBatch, WriteOptions, DB};

use super::{Partition, CLOCK_KEY, META_PREFIX, SUB_CF};
use crate::clock::now_ms;
use crate::position::{self, Epoch, Record};
use crate::Error;

/// Recent batches whose local sequence numbers a partition remembers, so
/// a tailing replica's next pull starts at once (older positions are
/// found by reading the WAL from its start).
const RECENT: usize = 16384;
/// Bytes of recent batches a partition keeps in memory, so tailing replicas
/// are served without reading the WAL.
const TAIL_BYTES: usize = 16 << 20;
/// The tail is kept only while replicas pull: for this long after the last PULL.
const TAIL_WANTED: std::time::Duration = std::time::Duration::from_secs(60);
/// Set on a replica while a full sync is copying; a restart copies again.
const SYNC_MARK: &[u8] = b"\xFF\xFFrepl-full-sync";

fn storage(e: rocksdb::Error) -> Error {
    Error::storage("RocksDB", e)
}

/// Where a partition's log stands.
#[derive(Debug, Default)]
pub struct LogState {
    /// The record of the last batch committed or applied (index 0: none).
    pub last: Record,
    /// The epoch the next committed batch gets (a primary's).
    pub epoch: Epoch,
    /// `(index, epoch, last local sequence of the batch)`, oldest first.
    recent: VecDeque<(u64, Epoch, u64)>,
    /// The last batches' bytes `(index, bytes)`, up to `TAIL_BYTES`.
    tail: VecDeque<(u64, Rc<[u8]>)>,
    tail_bytes: usize,
    /// When a replica last pulled (the tail is kept only while they do).
    last_pull: Option<std::time::Instant>,
    /// A full sync was interrupted: the partition's content is partial.
    pub syncing: bool,
}

impl LogState {
    pub(super) fn open(db: &DB) -> Result<LogState, Error> {
        let last = match db.get(position::KEY).map_err(storage)? {
            Some(v) => match Record::decode(&v) {
                Some(r) => r,
                // An 8-byte position from before records: unknown here, so
                // a replica copies in full once.
                None if v.len() == 8 => Record::default(),
                None => {
                    return Err(Error::Corrupt(format!(
                        "replication position has {} bytes",
                        v.len()
                    )))
                }
            },
            None => Record::default(),
        };
        let syncing = db.get(SYNC_MARK).map_err(storage)?.is_some();
        Ok(LogState {
            last,
            epoch: last.epoch,
            recent: VecDeque::new(),
            tail: VecDeque::new(),
            tail_bytes: 0,
            last_pull: None,
            syncing,
        })
    }

    fn remember(&mut self, r: &Record, seq: u64, data: Option<Vec<u8>>) {
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((r.index, r.epoch, seq));
        self.last = *r;
        let wanted = self.last_pull.is_some_and(|t| t.elapsed() < TAIL_WANTED);
        match data.filter(|_| wanted) {
            Some(d) => {
                self.tail_bytes += d.len();
                self.tail.push_back((r.index, d.into()));
                while self.tail_bytes > TAIL_BYTES {
                    match self.tail.pop_front() {
                        Some((_, d)) => self.tail_bytes -= d.len(),
                        None => break,
                    }
                }
            }
            None => self.clear_tail(),
        }
    }

    fn clear_tail(&mut self) {
        self.tail.clear();
        self.tail_bytes = 0;
    }

    fn lookup(&self, index: u64) -> Option<(Epoch, u64)> {
        let front = self.recent.front()?.0;
        let i = index.checked_sub(front)? as usize;
        self.recent
            .get(i)
            .filter(|e| e.0 == index)
            .map(|e| (e.1, e.2))
    }
}

/// Batches after a position, as a primary (or any copy) serves them.
#[derive(Debug, Default)]
pub struct Updates {
    /// The serving partition's last record when read.
    pub latest: Record,
    /// Whole write batches, in order, each ending with its record.
    pub batches: Vec<Vec<u8>>,
}

/// A batch `apply_fn` wrote: its record, local sequence number and bytes.
pub type Applied = (Record, u64, Vec<u8>);

/// One key/value of a full sync: (0 = default family, 1 = subkeys, key, value).
pub type Entry = (u8, Vec<u8>, Vec<u8>);

fn write(db: &DB, batch: WriteBatch, durability: crate::Durability) -> Result<u64, Error> {
    let mut opts = WriteOptions::default();
    opts.disable_wal(durability == crate::Durability::None);
    db.write_opt(batch, &opts).map_err(storage)?;
    Ok(db.latest_sequence_number())
}

impl Partition {
    /// The last record committed or applied here.
    pub fn last_record(&self) -> Record {
        self.log.borrow().last
    }

    /// Sets the epoch of the batches this partition commits from now on.
    pub fn set_epoch(&self, epoch: Epoch) {
        self.log.borrow_mut().epoch = epoch;
    }

    /// Whether an interrupted full sync left the partition partial.
    pub fn syncing(&self) -> bool {
        self.log.borrow().syncing
    }

    /// Ends a batch the group commit is about to write with the next record.
    pub(super) fn seal(&self, batch: &mut WriteBatch) {
        let mut log = self.log.borrow_mut();
        let last = log.last;
        let r = Record {
            epoch: log.epoch,
            index: last.index + 1,
            clock: self.clock.borrow().last(),
            bytes: last.bytes + batch.size_in_bytes() as u64,
            commit_ms: now_ms(),
        };
        batch.put(position::KEY, r.encode());
        // A failed write poisons the partition (no further batches), so
        // the record can be taken as the last one now.
        log.last = r;
    }

    /// Notes that the sealed batch is written: its local sequence number,
    /// and its bytes for the replicas that tail this partition.
    pub fn note_written(&self, data: Vec<u8>) {
        let seq = self.db.latest_sequence_number();
        let mut log = self.log.borrow_mut();
        let last = log.last;
        log.remember(&last, seq, Some(data));
    }

    /// A replica pulled: keep the tail of recent batches in memory.
    pub fn note_pull(&self) {
        self.log.borrow_mut().last_pull = Some(std::time::Instant::now());
    }

    /// The batches after `(epoch, index)` when the memory tail has them
    /// all (a tailing replica): `None` means read the WAL (`updates_fn`).
    pub fn tail_updates(
        &self,
        epoch: Epoch,
        index: u64,
        max_bytes: usize,
    ) -> Option<(Record, Vec<Rc<[u8]>>)> {
        let log = self.log.borrow();
        if log.syncing || index > log.last.index {
            return None;
        }
        let latest = log.last;
        if index == latest.index {
            return (index == 0 || epoch == latest.epoch).then(|| (latest, Vec::new()));
        }
        let front = log.tail.front()?.0;
        if index + 1 < front {
            return None;
        }
        // The asker's batch must be this history's batch at its index (its
        // record is in the tail, or it is the batch just before it).
        if index > 0 {
            let theirs = match index.checked_sub(front) {
                Some(i) => Record::of_batch(&log.tail[i as usize].1).map(|r| r.epoch),
                None => log.lookup(index).map(|e| e.0),
            };
            if theirs != Some(epoch) {
                return None;
            }
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        for (_, d) in log.tail.iter().skip((index + 1 - front) as usize) {
            bytes += d.len();
            out.push(d.clone());
            if bytes >= max_bytes {
                break;
            }
        }
        Some((latest, out))
    }

    /// A closure reading the batches after position `(epoch, index)`, up
    /// to about `max_bytes` (blocking pool). `Error::SyncNeeded` when the
    /// WAL no longer reaches back, or when the asker's history is not this
    /// one (the batch at its index has another epoch, or it is ahead).
    pub fn updates_fn(
        &self,
        epoch: Epoch,
        index: u64,
        max_bytes: usize,
    ) -> Result<impl FnOnce() -> Result<Updates, Error> + Send + 'static, Error> {
        let log = self.log.borrow();
        if log.syncing {
            return Err(Error::SyncNeeded(format!(
                "partition {} is being copied in full here",
                self.id()
            )));
        }
        let latest = log.last;
        let diverged = move || {
            Error::SyncNeeded(format!(
                "position {epoch}:{index} is not in this node's history (it is at {})",
                latest.position()
            ))
        };
        if index > latest.index || (index == latest.index && index > 0 && epoch != latest.epoch) {
            return Err(diverged());
        }
        // Where to start reading the WAL: just after the asker's batch when
        // it is recent, else from the start of the WAL.
        let start = match log.lookup(index) {
            Some((e, _)) if e != epoch => return Err(diverged()),
            Some((_, seq)) => Some(seq),
            None => None,
        };
        let db = self.db.clone();
        Ok(move || {
            let mut out = Updates {
                latest,
                batches: Vec::new(),
            };
            if index == latest.index {
                return Ok(out);
            }
            let gone = || {
                Error::SyncNeeded(format!(
                    "the WAL no longer reaches back to position {epoch}:{index}"
                ))
            };
            let it = db
                .get_updates_since(start.unwrap_or(0))
                .map_err(|_| gone())?;
            // Found the asker's batch (or it has none: index 0); `located`
            // only when the WAL holds it.
            let mut found = start.is_some() || index == 0;
            let mut located = start.is_some();
            let mut next = index + 1;
            let mut bytes = 0;
            for item in it {
                let (seq, batch) = item.map_err(storage)?;
                if start.is_some_and(|s| seq <= s) || super::journal::is_drain(batch.data()) {
                    continue;
                }
                let rec = Record::of_batch(batch.data());
                if !found {
                    // Searching the WAL for the asker's batch.
                    match rec {
                        Some(r) if r.index < index => continue,
                        Some(r) if r.index == index && r.epoch == epoch => {
                            found = true;
                            located = true;
                            continue;
                        }
                        Some(r) if r.index == index => return Err(diverged()),
                        Some(_) => return Err(gone()),
                        None => continue,
                    }
                }
                match rec {
                    Some(r) if r.index == next => {
                        next += 1;
                        bytes += batch.size_in_bytes();
                        out.batches.push(batch.data().to_vec());
                        if bytes >= max_bytes || r.index >= latest.index {
                            break;
                        }
                    }
                    // A gap, or local writes without a record (a full sync
                    // on this copy): this stretch cannot be replayed.
                    _ => return Err(gone()),
                }
            }
            // Nothing after a batch the WAL holds: the next one is still
            // being written (a group commit waiting out a write stall).
            if out.batches.is_empty() && !located {
                return Err(gone());
            }
            Ok(out)
        })
    }

    /// A closure applying replicated batches in order (blocking pool): each
    /// lands whole, its record included, so data and position are atomic.
    /// Returns each batch's record, local sequence number and bytes, for
    /// `applied`.
    pub fn apply_fn(
        &self,
        batches: Vec<Vec<u8>>,
    ) -> impl FnOnce() -> Result<Vec<Applied>, Error> + Send + 'static {
        let db = self.db.clone();
        let durability = self.durability;
        let mut prev = self.last_record().index;
        move || {
            let mut done = Vec::with_capacity(batches.len());
            for data in batches {
                let r = Record::of_batch(&data).ok_or_else(|| {
                    Error::Corrupt("a replicated batch has no position record".into())
                })?;
                if r.index != prev + 1 {
                    return Err(Error::Corrupt(format!(
                        "replicated batch {} does not follow {prev}",
                        r.index
                    )));
                }
                prev = r.index;
                let seq = write(&db, super::journal::unwrap(&data)?, durability)?;
                done.push((r, seq, data));
            }
            Ok(done)
        }
    }

    /// Records batches `apply_fn` wrote, and moves the clock past their
    /// versions (a promoted replica never issues a version it has served).
    pub fn applied(&self, done: Vec<Applied>) {
        // The batches bypassed the overlay: cached values may be stale.
        self.cache.borrow_mut().clear();
        let mut log = self.log.borrow_mut();
        for (r, seq, data) in done {
            log.remember(&r, seq, Some(data));
            self.clock.borrow_mut().observe(r.clock);
        }
    }

    /// Starts a full sync (blocking pool): marks the partition as syncing
    /// and deletes every key and member (a batch without a record, so no
    /// copy serves a stretch of WAL across it).
    pub fn begin_full_sync_fn(&self) -> impl FnOnce() -> Result<(), Error> + Send + 'static {
        let db = self.db.clone();
        let durability = self.durability;
        {
            let mut log = self.log.borrow_mut();
            log.syncing = true;
            log.recent.clear();
            log.clear_tail();
            self.cache.borrow_mut().clear();
            // Absorbed writes belong to the history being replaced (the
            // core drained them first: no drain runs now).
            let mut p = self.pending.borrow_mut();
            p.clear();
            p.journaled = 0;
        }
        move || {
            let sub = db
                .cf_handle(SUB_CF)
                .ok_or_else(|| Error::Corrupt("no subkey column family".into()))?;
            let mut b = WriteBatch::default();
            b.put(SYNC_MARK, b"1");
            b.delete_range([0u8, 0].as_slice(), META_PREFIX.as_slice());
            b.delete_range_cf(sub, [0u8].as_slice(), [0xFFu8, 0xFF, 0xFF].as_slice());
            b.delete(position::KEY);
            if let Some(jrn) = db.cf_handle(super::journal::CF) {
                b.delete_range_cf(jrn, [0u8].as_slice(), [0xFFu8; 9].as_slice());
            }
            write(&db, b, durability).map(|_| ())
        }
    }

    /// Writes one chunk of a full sync (blocking pool); the source's
    /// internal keys are skipped (the record is written by `finish`), but
    /// for the commit records and applied marks (`xcommit.rs`).
    pub fn write_chunk_fn(
        &self,
        entries: Vec<Entry>,
    ) -> impl FnOnce() -> Result<(), Error> + Send + 'static {
        let db = self.db.clone();
        let durability = self.durability;
        move || {
            let sub = db
                .cf_handle(SUB_CF)
                .ok_or_else(|| Error::Corrupt("no subkey column family".into()))?;
            let mut b = WriteBatch::default();
            for (cf, k, v) in entries {
                match cf {
                    // Commit records and applied marks are copied: the
                    // copy finishes (and never redoes) commits across
                    // partitions as the source would.
                    0 if k.starts_with(&META_PREFIX) && !super::xcommit::is_commit_key(&k) => {}
                    0 => b.put(&k, &v),
                    _ => b.put_cf(sub, &k, &v),
                }
            }
            write(&db, b, durability).map(|_| ())
        }
    }

    /// Ends a full sync (blocking pool): the clock's mark moves past the
    /// source's clock, and the record of the checkpoint is written last, so
    /// this copy serves the batches after it. Returns the local sequence.
    pub fn finish_full_sync_fn(
        &self,
        r: Record,
    ) -> impl FnOnce() -> Result<u64, Error> + Send + 'static {
        let db = self.db.clone();
        let durability = self.durability;
        move || {
            let mark = match db.get(CLOCK_KEY).map_err(storage)? {
                Some(v) if v.len() == 8 => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&v);
                    u64::from_be_bytes(a)
                }
                _ => 0,
            };
            let mut b = WriteBatch::default();
            b.delete(SYNC_MARK);
            b.put(CLOCK_KEY, mark.max(r.clock + 1).to_be_bytes());
            b.put(position::KEY, r.encode());
            write(&db, b, durability)
        }
    }

    /// Records the end of a full sync.
    pub fn synced(&self, r: Record, seq: u64) {
        self.cache.borrow_mut().clear();
        let mut log = self.log.borrow_mut();
        log.syncing = false;
        log.remember(&r, seq, None);
        self.clock.borrow_mut().observe(r.clock);
    }

    /// A closure opening a checkpoint of this partition in `dir` as the
    /// source of a full sync (blocking pool).
    pub fn sync_source_fn(
        &self,
        dir: PathBuf,
    ) -> impl FnOnce() -> Result<SyncSource, Error> + Send + 'static {
        let cp = self.checkpoint_fn(dir.clone());
        move || {
            cp()?;
            SyncSource::open(dir)
        }
    }
}

/// An iterator over column family `cf` (0: strings and metadata, 1:
/// subkeys) of a checkpoint.
fn cf_iterator(db: &DB, cf: u8) -> Result<rocksdb::DBRawIterator<'_>, Error> {
    Ok(match cf {
        0 => db.raw_iterator(),
        _ => db.raw_iterator_cf(
            db.cf_handle(SUB_CF)
                .ok_or_else(|| Error::Corrupt("no subkey column family".into()))?,
        ),
    })
}

/// A checkpoint of a partition opened read-only: what a full sync copies.
/// Dropping it closes the checkpoint and deletes its directory.
pub struct SyncSource {
    db: Option<Arc<DB>>,
    dir: PathBuf,
    /// The checkpoint's last record: the replica tails from there.
    pub record: Record,
}

impl SyncSource {
    fn open(dir: PathBuf) -> Result<SyncSource, Error> {
        let fail =
            |e: rocksdb::Error| Error::storage(format!("open checkpoint {}", dir.display()), e);
        let db = DB::open_cf_for_read_only(
            &rocksdb::Options::default(),
            &dir,
            ["default", SUB_CF],
            false,
        )
        .map_err(fail)?;
        let record = db
            .get(position::KEY)
            .map_err(storage)?
            .and_then(|v| Record::decode(&v))
            .unwrap_or_default();
        Ok(SyncSource {
            db: Some(Arc::new(db)),
            dir,
            record,
        })
    }

    /// A closure reading the entries after `(cf, key)` (`None`: from the
    /// start), up to about `max_bytes` (blocking pool): every entry (a full
    /// sync), or only those of `slots` (ascending; a slot migration's copy).
    /// Returns them and whether the checkpoint (or the slots) is exhausted.
    pub fn chunk_fn(
        &self,
        slots: Option<Vec<u16>>,
        after: Option<(u8, Vec<u8>)>,
        max_bytes: usize,
    ) -> impl FnOnce() -> Result<(Vec<Entry>, bool), Error> + Send + 'static {
        let db = self.db.clone();
        // Key ranges `[lo, hi)` (no `hi`: to the end), ascending.
        let ranges: Vec<(Vec<u8>, Option<Vec<u8>>)> = match slots {
            None => vec![(Vec::new(), None)],
            Some(slots) => slots
                .iter()
                .map(|&s| {
                    let hi = (u32::from(s) + 1) as u16;
                    (s.to_be_bytes().to_vec(), Some(hi.to_be_bytes().to_vec()))
                })
                .collect(),
        };
        move || {
            let db = db.ok_or_else(|| Error::storage("read the checkpoint", "it is closed"))?;
            let mut out = Vec::new();
            let mut bytes = 0;
            let (first_cf, from) = match &after {
                None => (0, None),
                Some((cf, k)) => (*cf, Some(k.clone())),
            };
            for cf in first_cf..2u8 {
                let mut it = cf_iterator(&db, cf)?;
                let resume = from.as_ref().filter(|_| cf == first_cf);
                for (lo, hi) in &ranges {
                    let inside = |k: &[u8]| {
                        k >= lo.as_slice() && hi.as_ref().is_none_or(|h| k < h.as_slice())
                    };
                    match resume {
                        // Ranges before the resumed key's are done.
                        Some(k) if hi.as_ref().is_some_and(|h| k >= h) => continue,
                        Some(k) if inside(k) => {
                            it.seek(k);
                            if it.key() == Some(k.as_slice()) {
                                it.next();
                            }
                        }
                        _ => it.seek(lo),
                    }
                    while let (Some(k), Some(v)) = (it.key(), it.value()) {
                        if !inside(k) {
                            break;
                        }
                        bytes += k.len() + v.len();
                        out.push((cf, k.to_vec(), v.to_vec()));
                        if bytes >= max_bytes {
                            return Ok((out, false));
                        }
                        it.next();
                    }
                    it.status().map_err(storage)?;
                }
            }
            Ok((out, true))
        }
    }

    /// The directory the checkpoint lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SyncSource {
    fn drop(&mut self) {
        drop(self.db.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
