//! A partition's group-commit staging and its absorbed writes: the open
//! WriteBatch, and the overlay of values that reads consult first. An
//! overlay entry stays after its group is written (the group reached
//! RocksDB only as one journal record, `journal.rs`) until a drain hands
//! the overlay to RocksDB's column families, sorted and deduplicated.

use std::collections::BTreeMap;
use std::rc::Rc;

use ahash::AHashMap;
use rocksdb::WriteBatch;

/// A staged value: the encoded envelope, or `None` for a deletion.
pub(super) type Staged = Option<Rc<[u8]>>;

/// A metadata record or string in the overlay: the group that last wrote
/// it and its value.
pub(super) struct Entry {
    pub(super) group: u64,
    pub(super) value: Staged,
}

fn cost(key: &[u8], v: &Staged) -> usize {
    key.len() + v.as_ref().map_or(0, |v| v.len()) + 48
}

pub(super) struct Pending {
    /// Writes other than staged metadata records and strings, in staging
    /// order: subkeys, range deletions (FLUSHALL), clock marks.
    pub(super) batch: WriteBatch,
    /// Metadata records and strings (default column family) written since
    /// the last drain, each with its last value.
    pub(super) overlay: AHashMap<Vec<u8>, Entry>,
    /// Keys staged into the overlay since the batch was last taken (may
    /// repeat): their last values join the next batch, in key order, after
    /// `batch`'s own writes (a range deletion clears the overlay, so what
    /// follows it stays after it).
    pub(super) staged: Vec<Vec<u8>>,
    /// Subkeys (the `sub` column family) written since the last drain,
    /// ordered for range reads, with the group that last wrote each.
    pub(super) sub: BTreeMap<Vec<u8>, (u64, Staged)>,
    /// Whether `batch` holds a range deletion (a migration's clean-up,
    /// FLUSHALL): such a batch is written from the blocking pool.
    pub(super) ranged: bool,
    /// Bytes the overlay and `sub` hold (keys, values and a fixed cost per
    /// entry): a drain starts when they pass the partition's budget.
    pub(super) bytes: usize,
    /// Bytes of the batches journaled since the last drain.
    pub(super) journaled: usize,
    /// Subkeys staged as deleted since the last drain or deletion flush
    /// (may repeat, or have been written again since): range reads step
    /// over `sub`'s deletions, so they are flushed early (`journal.rs`).
    /// With each, whether the deletion replaced a put the overlay held (so
    /// RocksDB may never have had the member: the flush checks).
    pub(super) dead: Vec<(Vec<u8>, bool)>,
}

impl Pending {
    pub(super) fn new() -> Pending {
        Pending {
            batch: WriteBatch::default(),
            overlay: AHashMap::new(),
            staged: Vec::new(),
            sub: BTreeMap::new(),
            ranged: false,
            bytes: 0,
            journaled: 0,
            dead: Vec::new(),
        }
    }

    pub(super) fn stage(&mut self, raw: Vec<u8>, group: u64, value: Staged) {
        self.staged.push(raw.clone());
        self.bytes += cost(&raw, &value);
        match self.overlay.entry(raw) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                self.bytes -= cost(o.key(), &o.get().value);
                o.insert(Entry { group, value });
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Entry { group, value });
            }
        }
    }

    pub(super) fn stage_sub(&mut self, raw: Vec<u8>, group: u64, value: Staged) {
        let dead = value.is_none().then(|| raw.clone());
        self.bytes += cost(&raw, &value);
        let replaced_put = match self.sub.entry(raw) {
            std::collections::btree_map::Entry::Occupied(mut o) => {
                self.bytes -= cost(o.key(), &o.get().1);
                let put = o.get().1.is_some();
                o.insert((group, value));
                put
            }
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((group, value));
                false
            }
        };
        if let Some(k) = dead {
            self.dead.push((k, replaced_put));
        }
    }

    /// Forgets every absorbed write of a user key (FLUSHALL, a full
    /// sync); the clock's high-water mark stays.
    pub(super) fn clear(&mut self) {
        self.overlay
            .retain(|k, _| k.starts_with(&super::META_PREFIX));
        self.staged.retain(|k| k.starts_with(&super::META_PREFIX));
        self.sub.clear();
        self.dead.clear();
        self.recount();
    }

    /// Drops the overlay's (`meta`) or `sub`'s entries for which `gone` holds.
    pub(super) fn retain_keys(&mut self, meta: bool, gone: impl Fn(&[u8]) -> bool) {
        match meta {
            true => self.overlay.retain(|k, _| !gone(k)),
            false => self.sub.retain(|k, _| !gone(k)),
        }
        self.recount();
    }

    fn recount(&mut self) {
        self.bytes = self
            .overlay
            .iter()
            .map(|(k, e)| cost(k, &e.value))
            .sum::<usize>()
            + self.sub.iter().map(|(k, (_, v))| cost(k, v)).sum::<usize>();
    }

    /// Whether the overlay's last values of the keys staged since the
    /// batch was taken are still to join it.
    pub(super) fn has_staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Moves the last values of the keys staged since the batch was taken
    /// into `batch`, in key order (the memtable inserts of a drain or a
    /// replay walk neighbouring skiplist nodes). A key staged twice is
    /// written once, with its last value.
    pub(super) fn append_overlay(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let mut keys = std::mem::take(&mut self.staged);
        keys.sort_unstable();
        keys.dedup();
        for raw in keys {
            // Gone: a range deletion staged after it removed it.
            let Some(e) = self.overlay.get(&raw) else {
                continue;
            };
            match &e.value {
                Some(v) => self.batch.put(&raw, v),
                None => self.batch.delete(&raw),
            }
        }
    }

    /// Removes the entries of groups before `group` (now in RocksDB's
    /// column families), handing each to `f` (`true` for a subkey).
    pub(super) fn drained(&mut self, group: u64, mut f: impl FnMut(bool, &[u8], &Staged)) {
        for (raw, e) in self.overlay.extract_if(|_, e| e.group < group) {
            f(false, &raw, &e.value);
        }
        self.sub.retain(|k, (g, v)| {
            let keep = *g >= group;
            if !keep {
                f(true, k, v);
            }
            keep
        });
        self.dead
            .retain(|(k, _)| matches!(self.sub.get(k), Some((_, None))));
        self.recount();
    }

    /// The subkeys staged as deleted in groups before `group` that are
    /// still deleted, sorted, each once (with whether the flush checks).
    pub(super) fn dead_before(&mut self, group: u64) -> Vec<(Vec<u8>, bool)> {
        let mut keys = std::mem::take(&mut self.dead);
        keys.sort_unstable();
        keys.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 |= later.1;
            }
            same
        });
        keys.retain(|(k, _)| matches!(self.sub.get(k), Some((g, None)) if *g < group));
        keys
    }

    /// Removes the deletions `keys` flushed to RocksDB, unless written
    /// again since; hands each removed one to `f`.
    pub(super) fn flushed_dead(&mut self, keys: Vec<(Vec<u8>, bool)>, mut f: impl FnMut(Vec<u8>)) {
        for (k, _) in keys {
            if let Some((_, None)) = self.sub.get(&k) {
                if let Some((raw, _)) = self.sub.remove_entry(&k) {
                    self.bytes = self.bytes.saturating_sub(cost(&raw, &None));
                    f(raw);
                }
            }
        }
    }
}
