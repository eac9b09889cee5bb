//! A partition's group commit and upkeep: the staged batch taken once per
//! tick, written inline or (stalled) from the blocking pool, the WAL sync,
//! poisoning after a failed write or sync, and the checkpoints and
//! compactions handed to the blocking pool.

use rocksdb::{ErrorKind, WriteBatch, WriteOptions};

use super::{InlineWrite, Partition, SUB_CF};
use crate::failpoint;
use crate::{Durability, Error};

impl Partition {
    /// Whether writes are staged and not yet taken.
    pub fn has_pending(&self) -> bool {
        let p = self.pending.borrow();
        p.has_staged() || !p.batch.is_empty()
    }

    /// Writes the staged batch (all of it belongs to groups up to the
    /// closed one) on the calling thread without ever waiting in RocksDB;
    /// `None` when nothing is staged. RocksDB's batch never leaves this
    /// crate: a stalled write, and a batch holding range deletions (never
    /// written on the reactor), hand back their bytes for
    /// [`Partition::write_blocking_fn`].
    pub fn write_staged(&self) -> Option<InlineWrite> {
        let (batch, ranged) = self.take_batch()?;
        if ranged {
            return Some(InlineWrite::Offload(batch.data().to_vec()));
        }
        Some(self.write_inline(batch))
    }

    /// Takes the staged batch (all of it belongs to groups up to the closed
    /// one), and whether it holds a range deletion. It is journaled
    /// (`journal.rs`) unless it holds a range deletion: such a batch is
    /// written as it is, after a drain of everything absorbed.
    fn take_batch(&self) -> Option<(WriteBatch, bool)> {
        let mut p = self.pending.borrow_mut();
        p.append_overlay();
        let ranged = std::mem::take(&mut p.ranged);
        if p.batch.is_empty() {
            return None;
        }
        self.stats.groups.set(self.stats.groups.get() + 1);
        let inner = std::mem::take(&mut p.batch);
        let mut batch = if ranged {
            self.take_ranged_drain(&mut p);
            inner
        } else {
            let index = self.log.borrow().last.index + 1;
            p.journaled += inner.size_in_bytes();
            self.taken.set(index);
            self.wrap(index, &inner)
        };
        drop(p);
        self.seal(&mut batch);
        Some((batch, ranged))
    }

    /// Writes a batch on the calling thread without ever waiting in RocksDB.
    fn write_inline(&self, batch: WriteBatch) -> InlineWrite {
        let copy = batch.data().to_vec();
        if let Some(e) = failpoint::hit("storage.batch-write") {
            return InlineWrite::Failed(Error::storage("write a batch", e));
        }
        match self.db.write_opt(batch, &self.write_opts) {
            Ok(()) => InlineWrite::Done(copy),
            Err(e) if e.kind() == ErrorKind::Incomplete => {
                self.stats.stalls.set(self.stats.stalls.get() + 1);
                InlineWrite::Stalled(copy)
            }
            Err(e) => InlineWrite::Failed(Error::storage("write a batch", e)),
        }
    }

    /// A closure that writes a batch's bytes, waiting out a stall (blocking pool).
    pub fn write_blocking_fn(
        &self,
        data: Vec<u8>,
    ) -> impl FnOnce() -> Result<(), Error> + Send + 'static {
        let db = self.db.clone();
        let disable_wal = self.durability == Durability::None;
        let pre = self.take_pre_drain();
        move || {
            if let Some(e) = failpoint::hit("storage.batch-write") {
                return Err(Error::storage("write a batch", e));
            }
            super::journal::write_drain(&db, pre, disable_wal)?;
            let mut opts = WriteOptions::default();
            opts.disable_wal(disable_wal);
            db.write_opt(WriteBatch::from_data(&data), &opts)
                .map_err(|e| Error::storage("write a batch", e))
        }
    }

    /// The latest sequence number written to this partition.
    pub fn latest_sequence(&self) -> u64 {
        self.db.latest_sequence_number()
    }

    /// A closure that fsyncs the WAL (blocking pool).
    pub fn sync_wal_fn(&self) -> impl FnOnce() -> Result<(), Error> + Send + 'static {
        let db = self.db.clone();
        move || {
            if let Some(e) = failpoint::hit("storage.wal-sync") {
                return Err(Error::storage("sync the WAL", e));
            }
            db.flush_wal(true)
                .map_err(|e| Error::storage("sync the WAL", e))
        }
    }

    /// Notes that the batch taken for `group` is written (or, poisoned,
    /// not). Its writes stay in the overlay until a drain (`journal.rs`);
    /// after a failed write they stay too, as Redis keeps a write whose
    /// AOF append failed, and the partition takes no more writes.
    pub fn finish_group(&self, group: u64) {
        if self.flushed.get().is_some_and(|f| f <= group) {
            self.flushed.set(None);
        }
        self.flushed_spaces
            .borrow_mut()
            .retain(|&(g, _, _)| g > group);
        let written = self.group_status(group).is_ok();
        if written {
            self.written.set(self.taken.get());
        }
        self.finish_ranged_drain(written);
    }

    /// Stops the partition accepting writes from `group` on.
    pub fn poison(&self, group: u64, why: &str) {
        let mut p = self.poisoned.borrow_mut();
        if p.is_none() {
            tracing::error!(
                partition = self.id,
                group,
                "partition poisoned, writes refused until restart: {why}"
            );
            *p = Some((
                group,
                format!("partition {} stopped accepting writes: {why}", self.id),
            ));
        }
    }

    /// Whether the writes of `group` are safe (not lost to a poisoning).
    pub fn group_status(&self, group: u64) -> Result<(), Error> {
        match &*self.poisoned.borrow() {
            Some((from, why)) if group >= *from => Err(Error::Poisoned(why.clone())),
            _ => Ok(()),
        }
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned.borrow().is_some()
    }

    /// A closure that writes an online checkpoint of this partition into
    /// `dest` (which must not exist): RocksDB flushes the memtable, then
    /// hard-links the SST files (copies across filesystems) and copies the
    /// rest; then the copy's journal records go into its column families
    /// (`journal::settle_copy`), so whoever reads or restores it finds every
    /// write its position record counts. Runs in the blocking pool.
    pub fn checkpoint_fn(
        &self,
        dest: std::path::PathBuf,
    ) -> impl FnOnce() -> Result<(), Error> + Send + 'static {
        let raw = self.raw_checkpoint_fn(dest.clone());
        move || {
            raw()?;
            super::journal::settle_copy(&dest)
        }
    }

    /// `checkpoint_fn` without settling the copy's journal (BACKUP settles
    /// its copies once it no longer holds the cores).
    pub fn raw_checkpoint_fn(
        &self,
        dest: std::path::PathBuf,
    ) -> impl FnOnce() -> Result<(), Error> + Send + 'static {
        let db = self.db.clone();
        let id = self.id;
        move || {
            let what = format!("checkpoint of partition {id} into {}", dest.display());
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
            }
            if let Some(e) = failpoint::hit("storage.checkpoint") {
                return Err(Error::storage(what, e));
            }
            let fail = |e: rocksdb::Error| Error::storage(what.clone(), e);
            let cp = rocksdb::checkpoint::Checkpoint::new(&db).map_err(fail)?;
            cp.create_checkpoint(&dest).map_err(fail)
        }
    }

    /// Compacts the whole partition, both column families (blocking; tests
    /// and admin use).
    pub fn compact_fn(&self) -> impl FnOnce() + Send + 'static {
        let db = self.db.clone();
        move || {
            db.compact_range::<&[u8], &[u8]>(None, None);
            if let Some(sub) = db.cf_handle(SUB_CF) {
                db.compact_range_cf::<&[u8], &[u8]>(sub, None, None);
            }
        }
    }

    /// The queued range compactions as one job for the blocking pool, unless
    /// one is running or none is queued; `compaction_done` when it returns.
    /// Each range is compacted to the last level, which is where RocksDB
    /// drops tombstones (the memtable is flushed first when it overlaps).
    pub fn take_compaction(&self) -> Option<impl FnOnce() + Send + 'static> {
        if self.compacting.get() || self.compact_queue.borrow().is_empty() {
            return None;
        }
        self.compacting.set(true);
        let ranges = std::mem::take(&mut *self.compact_queue.borrow_mut());
        self.stats
            .range_compactions
            .set(self.stats.range_compactions.get() + ranges.len() as u64);
        let db = self.db.clone();
        Some(move || {
            // Not exclusive: RocksDB's own compactions (L0 above all) go on
            // beside it, so writes never stall behind a collection's cleanup.
            let mut opts = rocksdb::CompactOptions::default();
            opts.set_exclusive_manual_compaction(false);
            if let Some(sub) = db.cf_handle(SUB_CF) {
                for (lo, hi) in ranges {
                    db.compact_range_cf_opt(sub, Some(lo), Some(hi), &opts);
                }
            }
        })
    }

    /// Marks the running range compaction finished.
    pub fn compaction_done(&self) {
        self.compacting.set(false);
    }

    /// A closure that flushes both memtables and waits until RocksDB has no
    /// compaction left to run (blocking; tests).
    pub fn settle_fn(&self) -> impl FnOnce() -> Result<(), Error> + Send + 'static {
        let db = self.db.clone();
        move || {
            let e = |e| Error::storage("settle", e);
            db.flush().map_err(e)?;
            if let Some(sub) = db.cf_handle(SUB_CF) {
                db.flush_cf(&sub).map_err(e)?;
            }
            let mut opts = rocksdb::WaitForCompactOptions::default();
            opts.set_flush(true);
            db.wait_for_compact(&opts).map_err(e)
        }
    }

    /// A closure counting the stored subkeys (blocking; tests and admin use).
    pub fn count_subkeys_fn(&self) -> impl FnOnce() -> u64 + Send + 'static {
        let db = self.db.clone();
        move || {
            let Some(sub) = db.cf_handle(SUB_CF) else {
                return 0;
            };
            let mut it = db.raw_iterator_cf(sub);
            it.seek_to_first();
            let mut n = 0;
            while it.valid() {
                n += 1;
                it.next();
            }
            n
        }
    }
}
