//! Absorbed writes (docs/storage.md, "The write path"): a group's batch
//! reaches RocksDB as one record of the `jrn` column family (its key the
//! batch's replication index, its value the batch), so a group costs one
//! memtable insert and one WAL append whatever it holds. Its writes stay in
//! the partition's overlay, where reads find them, until a drain writes the
//! overlay's last values into the `default` and `sub` families, sorted and
//! deduplicated, together with the deletion of the journal records it
//! covers. A key written many times between drains reaches the memtable
//! once.
//!
//! After a crash the journal's records are replayed in order
//! (`replay`): the drain that deletes them is one batch with the values it
//! writes, so a record is either replayed or already drained. Replicas
//! receive the journaled batches and write the groups' own writes
//! (`unwrap`); drain batches never reach them (`is_drain`).

use std::path::Path;

use rocksdb::{WriteBatch, DB};

use super::batch::{tag, Cursor};
use super::pending::Pending;
use super::{Cf, Partition};
use crate::position::{self, Record};
use crate::Error;

/// Name of the journal column family.
pub const CF: &str = "jrn";
/// Its id: created third (after `default` and `sub`) in every partition.
pub const CF_ID: u8 = 2;
/// Ends every drain batch (and replay batch) as a WAL-only blob (RocksDB's
/// log data: no key, no sequence number), so replication skips it.
const DRAIN_MARK: &[u8] = b"tessera-drain";
/// A drain starts when the journal since the last one holds this many
/// times the overlay's budget.
const JOURNAL_FACTOR: usize = 4;
/// Subkey deletions the overlay holds before they are flushed to RocksDB
/// on their own: a range read (a pop, HGETALL) steps over the overlay's
/// deletions one by one, and RocksDB's own (its tombstones, read-ahead
/// windows, compactions on deletions) keep a pop a pop under any history.
const DEAD_FLUSH: usize = 64;

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn storage(what: &str, e: rocksdb::Error) -> Error {
    Error::storage(what.to_string(), e)
}

/// Whether a WAL batch is a drain or a replay (local only, never replicated).
pub fn is_drain(data: &[u8]) -> bool {
    let tail = 1 + 1 + DRAIN_MARK.len();
    data.len() >= 12 + tail && {
        let t = &data[data.len() - tail..];
        t[0] == tag::LOG_DATA && t[1] as usize == DRAIN_MARK.len() && &t[2..] == DRAIN_MARK
    }
}

/// The batch a replica writes for a replicated batch: a journaled one is
/// its group's writes followed by its position record; any other (a range
/// deletion's batch, or one from a replica that wrote it so) as it is.
pub fn unwrap(data: &[u8]) -> Result<WriteBatch, Error> {
    let bad = || Error::Corrupt("a journaled batch is malformed".into());
    if data.len() > 12 && data[12] == tag::CF_PUT {
        let mut c = Cursor { b: &data[13..] };
        if c.varint()? == u32::from(CF_ID) {
            c.slice()?;
            let inner = c.slice()?;
            let r = Record::of_batch(data).ok_or_else(bad)?;
            if inner.len() < 12 {
                return Err(bad());
            }
            let mut b = WriteBatch::from_data(inner);
            b.put(position::KEY, r.encode());
            return Ok(b);
        }
    }
    Ok(WriteBatch::from_data(data))
}

/// Replays the journal's records into the column families, in order, and
/// deletes them: at open, and in a checkpoint before it is read or
/// restored. Returns the number of records replayed.
pub fn replay(db: &DB) -> Result<u64, Error> {
    let jrn = db
        .cf_handle(CF)
        .ok_or_else(|| Error::Corrupt("no journal column family".into()))?;
    let mut it = db.raw_iterator_cf(jrn);
    it.seek_to_first();
    let mut n = 0u64;
    let mut last = 0u64;
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if v.len() < 12 || k.len() != 8 {
            return Err(Error::Corrupt(format!(
                "journal record {k:?} has {} bytes",
                v.len()
            )));
        }
        db.write(WriteBatch::from_data(v))
            .map_err(|e| storage("replay the journal", e))?;
        last = u64::from_be_bytes(k.try_into().expect("8 bytes"));
        n += 1;
        it.next();
    }
    it.status().map_err(|e| storage("read the journal", e))?;
    drop(it);
    if n > 0 {
        let mut b = WriteBatch::default();
        b.delete_range_cf(jrn, key(0), key(last.saturating_add(1)));
        b.put_log_data(DRAIN_MARK);
        db.write(b)
            .map_err(|e| storage("delete the replayed journal", e))?;
    }
    Ok(n)
}

/// Replays the journal of a checkpoint in `dir` (a copy nothing else has
/// open), so its column families hold everything its position record
/// counts.
pub fn settle_copy(dir: &Path) -> Result<(), Error> {
    let mut opts = rocksdb::Options::default();
    opts.create_missing_column_families(true);
    let what = format!("open checkpoint {}", dir.display());
    let db =
        DB::open_cf(&opts, dir, ["default", super::SUB_CF, CF]).map_err(|e| storage(&what, e))?;
    replay(&db)?;
    db.flush_wal(true).map_err(|e| storage(&what, e))?;
    Ok(())
}

/// A drain taken from the overlay (`Partition::take_drain`).
pub struct Drain {
    /// Entries of groups before this one are in `data`.
    group: u64,
    /// A flush of these subkey deletions only (the journal stays whole).
    dead: Option<Vec<(Vec<u8>, bool)>>,
    /// Journal records before this index are deleted once it is written.
    upto: u64,
    /// The batch (taken by `write_fn`).
    batch: Option<WriteBatch>,
}

/// Writes a drain's batch (blocking pool).
pub(super) fn write_drain(
    db: &DB,
    batch: Option<WriteBatch>,
    disable_wal: bool,
) -> Result<(), Error> {
    let Some(batch) = batch else {
        return Ok(());
    };
    if let Some(e) = crate::failpoint::hit("storage.drain-write") {
        return Err(Error::storage("write a drain", e));
    }
    let mut opts = rocksdb::WriteOptions::default();
    opts.disable_wal(disable_wal);
    db.write_opt(batch, &opts)
        .map_err(|e| Error::storage("write a drain", e))
}

/// Writes the deletions of `keys` that RocksDB may hold (blocking pool). A
/// member added and removed between two drains never reached RocksDB: no
/// tombstone is written for it, so range reads over the collection's
/// stored members (a random SPOP's seek) never step over one. Nothing else
/// writes the column families meanwhile (drains are one at a time, and
/// range deletions wait for them).
fn write_dead(db: &DB, keys: &[(Vec<u8>, bool)], disable_wal: bool) -> Result<(), Error> {
    let sub = db
        .cf_handle(super::SUB_CF)
        .ok_or_else(|| Error::Corrupt("no subkey column family".into()))?;
    let mut b = WriteBatch::default();
    for (k, check) in keys {
        // A deletion that replaced an absorbed put is checked (`false`
        // only when RocksDB surely lacks it: memtables, filters); any
        // other deleted a member read from RocksDB.
        if !check || db.key_may_exist_cf(&sub, k) {
            b.delete_cf(sub, k);
        }
    }
    if b.is_empty() {
        return Ok(());
    }
    b.put_log_data(DRAIN_MARK);
    write_drain(db, Some(b), disable_wal)
}

impl Drain {
    /// A closure writing the drain (blocking pool).
    pub fn write_fn(
        &mut self,
        p: &Partition,
    ) -> impl FnOnce() -> Result<(), Error> + Send + 'static {
        let db = p.db.clone();
        let batch = self.batch.take();
        let disable_wal = p.durability == crate::Durability::None;
        let dead = self.dead.clone();
        move || match dead {
            Some(keys) => write_dead(&db, &keys, disable_wal),
            None => write_drain(&db, batch, disable_wal),
        }
    }

    /// Writes the drain on the calling thread and finishes it (tests).
    pub fn run(mut self, p: &Partition) -> Result<(), Error> {
        let r = self.write_fn(p)();
        p.drain_done(self, r.is_ok());
        r
    }
}

impl Partition {
    pub(super) fn jrn_cf(&self) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(CF)
            .expect("the journal column family is opened with the partition")
    }

    /// The batch that journals a group's batch `inner` as record `index`.
    pub(super) fn wrap(&self, index: u64, inner: &WriteBatch) -> WriteBatch {
        let mut b = WriteBatch::default();
        b.put_cf(self.jrn_cf(), key(index), inner.data());
        b
    }

    /// Every overlay entry, sorted, then the deletion of the journal's
    /// records up to `index` (from the first one no drain deleted yet: the
    /// deletions never overlap, so RocksDB's fragmenting of them stays
    /// linear).
    fn drain_batch(&self, p: &Pending, index: u64) -> WriteBatch {
        let mut b = WriteBatch::default();
        let mut meta: Vec<_> = p.overlay.iter().collect();
        meta.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, e) in meta {
            match &e.value {
                Some(v) => b.put(k, v),
                None => b.delete(k),
            }
        }
        let sub = self.sub_cf();
        for (k, (_, v)) in p.sub.iter() {
            match v {
                Some(v) => b.put_cf(sub, k, v),
                None => b.delete_cf(sub, k),
            }
        }
        let from = self.jrn_from.get();
        if from <= index {
            b.delete_range_cf(self.jrn_cf(), key(from), key(index + 1));
        }
        b.put_log_data(DRAIN_MARK);
        b
    }

    /// Takes a drain of every absorbed write when one is due (the overlay
    /// or the journal passed its budget, `force`, or one was asked for)
    /// and possible: nothing staged or in flight, no drain running, not
    /// poisoned. Run its `write_fn` in the blocking pool, then `drain_done`.
    pub fn take_drain(&self, force: bool) -> Option<Drain> {
        if self.draining.get() || self.is_poisoned() || self.taken.get() != self.written.get() {
            return None;
        }
        let mut p = self.pending.borrow_mut();
        if p.has_staged() || !p.batch.is_empty() {
            return None;
        }
        let empty = p.overlay.is_empty() && p.sub.is_empty() && p.journaled == 0;
        let due = force
            || self.drain_wanted.get()
            || p.bytes >= self.absorb_bytes
            || p.journaled >= self.absorb_bytes * JOURNAL_FACTOR;
        if !empty && !due && p.dead.len() >= DEAD_FLUSH {
            let keys = p.dead_before(self.group.get());
            if keys.is_empty() {
                return None;
            }
            self.draining.set(true);
            return Some(Drain {
                group: self.group.get(),
                dead: Some(keys),
                upto: 0,
                batch: None,
            });
        }
        if empty || !due {
            return None;
        }
        let upto = self.written.get() + 1;
        let batch = Some(self.drain_batch(&p, upto - 1));
        p.journaled = 0;
        self.draining.set(true);
        self.drain_wanted.set(false);
        Some(Drain {
            group: self.group.get(),
            dead: None,
            upto,
            batch,
        })
    }

    /// The drain a batch holding range deletions writes before itself
    /// (`write_blocking_fn`): every absorbed write, its own included, so
    /// no journal record is replayed after the range deletion.
    pub(super) fn take_ranged_drain(&self, p: &mut Pending) {
        if p.overlay.is_empty() && p.sub.is_empty() && p.journaled == 0 {
            return;
        }
        let upto = self.taken.get() + 1;
        let batch = Some(self.drain_batch(p, upto - 1));
        p.journaled = 0;
        *self.pre_drain.borrow_mut() = Some(Drain {
            group: self.group.get(),
            dead: None,
            upto,
            batch,
        });
    }

    /// Asks for a drain at the next chance (a reader of the column
    /// families waits for it: `drains`).
    pub fn want_drain(&self) {
        self.drain_wanted.set(true);
    }

    /// Whether the staged batch holds a range deletion.
    pub fn ranged_staged(&self) -> bool {
        self.pending.borrow().ranged
    }

    /// Whether a drain is being written.
    pub fn draining(&self) -> bool {
        self.draining.get()
    }

    /// Drains finished here since the partition opened.
    pub fn drains(&self) -> u64 {
        self.drain_count.get()
    }

    /// Whether writes are absorbed that the column families do not hold yet.
    pub fn absorbed(&self) -> bool {
        let p = self.pending.borrow();
        !p.overlay.is_empty() || !p.sub.is_empty() || p.journaled > 0 || p.has_staged()
    }

    /// Bytes absorbed in the overlay (INFO).
    pub fn absorbed_bytes(&self) -> u64 {
        self.pending.borrow().bytes as u64
    }

    /// Finishes a drain: when written, its entries leave the overlay for
    /// the read cache (those written again since stay).
    pub fn drain_done(&self, d: Drain, written: bool) {
        self.draining.set(false);
        if let Some(keys) = d.dead {
            let mut p = self.pending.borrow_mut();
            if !written {
                p.dead.extend(keys);
                return;
            }
            let mut cache = self.cache.borrow_mut();
            p.flushed_dead(keys, |raw| cache.windows.committed(&raw, None));
            return;
        }
        if written {
            self.drain_count.set(self.drain_count.get() + 1);
            self.drained(&d);
        }
    }

    /// A full drain `d` is written: the journal records it covers are
    /// deleted, and its entries leave the overlay.
    fn drained(&self, d: &Drain) {
        self.jrn_from.set(self.jrn_from.get().max(d.upto));
        self.drained_before(d.group);
    }

    /// Drops the overlay's entries of groups before `group`, now in the
    /// column families: strings and metadata go to the read cache (a GET
    /// after a drain hits it), read-ahead windows take the drained subkeys
    /// (the cache forgot members when they were staged, so their reads
    /// find them in RocksDB).
    pub(super) fn drained_before(&self, group: u64) {
        let mut p = self.pending.borrow_mut();
        let mut cache = self.cache.borrow_mut();
        p.drained(group, |sub, raw, value| {
            if !sub {
                if cache.enabled() {
                    cache.fill(Cf::Meta, raw, value.clone());
                }
            } else if !cache.windows.is_empty() {
                cache.windows.committed(raw, value.as_ref());
            }
        });
    }

    /// Finishes the drain a range deletion's batch wrote before itself.
    pub(super) fn finish_ranged_drain(&self, written: bool) {
        if let Some(d) = self.pre_drain.borrow_mut().take() {
            if written {
                self.drained(&d);
            }
        }
    }

    /// The drain batch to write before a range deletion's batch, if any.
    pub(super) fn take_pre_drain(&self) -> Option<WriteBatch> {
        self.pre_drain
            .borrow_mut()
            .as_mut()
            .and_then(|d| d.batch.take())
    }
}
