//! A partition's group-commit staging and its absorbed writes: the open
//! WriteBatch, and the overlay of values that reads consult first. An
//! overlay entry stays after its group is written (the group reached
//! RocksDB only as one journal record, `journal.rs`) until a drain hands
//! the overlay to RocksDB's column families, sorted and deduplicated.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included};
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
    pub(super) sub: SubOverlay,
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
            sub: SubOverlay::default(),
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

    /// Stages a subkey write. A deletion of a put the overlay holds, of a
    /// key RocksDB surely lacks (`absent`), takes the entry out of the
    /// overlay instead: nothing needs shadowing, so range reads never step
    /// over it and no deletion flush writes it (a member pushed and popped,
    /// or added and removed, between two drains never reaches RocksDB).
    pub(super) fn stage_sub(
        &mut self,
        raw: Vec<u8>,
        group: u64,
        value: Staged,
        absent: impl FnOnce(&[u8]) -> bool,
    ) {
        let klen = raw.len();
        if value.is_none() && matches!(self.sub.get(&raw), Some((_, Some(_)))) && absent(&raw) {
            if let Some((_, old)) = self.sub.remove(&raw) {
                self.bytes -= klen + cost(&[], &old);
            }
            return;
        }
        let dead = value.is_none().then(|| raw.clone());
        self.bytes += cost(&raw, &value);
        let replaced_put = match self.sub.insert(raw, (group, value)) {
            Some((_, old)) => {
                self.bytes -= klen + cost(&[], &old);
                old.is_some()
            }
            None => false,
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
                self.sub.remove(&k);
                self.bytes = self.bytes.saturating_sub(cost(&k, &None));
                f(k);
            }
        }
    }
}

/// A subkey's entry in the overlay: the group that last wrote it and its
/// value.
pub(super) type SubEntry = (u64, Staged);

/// The overlay's subkeys: a hash map for the point reads and writes every
/// collection command makes (one hash of the key, where a tree of a few
/// hundred thousand keys sharing their collection's prefix compared it
/// with some thirty others), and the keys in order for range reads. Both
/// index the entries by their place in `slab`, so walking the order (a
/// drain) reads the entries without hashing every key again, in the order
/// they were first written when keys grow with time (a list's pushes).
/// (One tree per collection, comparing only what follows its prefix, was
/// measured too: no faster, BENCHMARKS.md.)
#[derive(Default)]
pub(super) struct SubOverlay {
    map: AHashMap<Rc<[u8]>, u32>,
    order: BTreeMap<Rc<[u8]>, u32>,
    slab: Vec<SubEntry>,
    /// Places in `slab` no key uses.
    free: Vec<u32>,
}

impl SubOverlay {
    pub(super) fn get(&self, k: &[u8]) -> Option<&SubEntry> {
        self.map.get(k).map(|&i| &self.slab[i as usize])
    }

    pub(super) fn contains_key(&self, k: &[u8]) -> bool {
        self.map.contains_key(k)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sets `raw`'s entry; answers the one it replaced.
    pub(super) fn insert(&mut self, raw: Vec<u8>, e: SubEntry) -> Option<SubEntry> {
        if let Some(&i) = self.map.get(raw.as_slice()) {
            return Some(std::mem::replace(&mut self.slab[i as usize], e));
        }
        self.insert_rc(Rc::from(raw), e);
        None
    }

    pub(super) fn remove(&mut self, k: &[u8]) -> Option<SubEntry> {
        let (k, i) = self.map.remove_entry(k)?;
        self.order.remove(&k);
        self.free.push(i);
        Some(std::mem::take(&mut self.slab[i as usize]))
    }

    /// Keeps the entries for which `f` holds (called in key order).
    pub(super) fn retain(&mut self, mut f: impl FnMut(&[u8], &mut SubEntry) -> bool) {
        let (mut kept, mut gone) = (Vec::new(), Vec::new());
        for (k, &i) in &self.order {
            match f(k, &mut self.slab[i as usize]) {
                true => kept.push((k.clone(), i)),
                false => gone.push(k.clone()),
            }
        }
        if gone.is_empty() {
            return;
        }
        if kept.len() >= gone.len() {
            for k in gone {
                self.remove(&k);
            }
            return;
        }
        // Most went (a drain): the few left are placed again (the hash map
        // keeps its capacity).
        let mut slab = std::mem::take(&mut self.slab);
        self.order.clear();
        self.map.clear();
        self.free.clear();
        for (k, i) in kept {
            let e = std::mem::take(&mut slab[i as usize]);
            self.insert_rc(k, e);
        }
    }

    /// Places a new key's entry (in a free place of `slab` when one is).
    fn insert_rc(&mut self, k: Rc<[u8]>, e: SubEntry) {
        let i = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = e;
                i
            }
            None => {
                self.slab.push(e);
                (self.slab.len() - 1) as u32
            }
        };
        self.order.insert(k.clone(), i);
        self.map.insert(k, i);
    }

    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.slab.clear();
        self.free.clear();
    }

    /// Every entry, in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], &SubEntry)> {
        self.order
            .iter()
            .map(|(k, &i)| (&k[..], &self.slab[i as usize]))
    }

    /// The entries of `[lo, hi)`, in key order.
    pub(super) fn range<'a>(
        &'a self,
        lo: &[u8],
        hi: &[u8],
    ) -> impl DoubleEndedIterator<Item = (&'a Rc<[u8]>, &'a SubEntry)> + 'a {
        self.order
            .range::<[u8], _>((Included(lo), Excluded(hi)))
            .map(|(k, &i)| (k, &self.slab[i as usize]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subkey of collection `key` (tag `m`) with `rest` after its prefix.
    fn sub(key: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut k = crate::subkey::tagged(&crate::subkey::prefix(7, key, 1), b'm');
        k.extend_from_slice(rest);
        k
    }

    #[test]
    fn the_hash_map_and_the_order_stay_in_step() {
        let mut o = SubOverlay::default();
        let mut all = Vec::new();
        for key in [&b"a"[..], b"ab", b"b", b"zz"] {
            for rest in [&b""[..], b"\x00", b"m1", b"m2", b"\xff\xff"] {
                all.push(sub(key, rest));
            }
        }
        // And keys too short for a prefix.
        all.extend([vec![0u8], vec![0, 7, 0], vec![0xff; 3]]);
        // Each entry's value is its key, so a mixed-up place shows.
        let val = |k: &[u8]| Some(Rc::from(k));
        for (i, k) in all.iter().enumerate() {
            assert!(o.insert(k.clone(), (i as u64, val(k))).is_none());
        }
        let check = |o: &SubOverlay, want: &[Vec<u8>]| {
            let got: Vec<Vec<u8>> = o.iter().map(|(k, _)| k.to_vec()).collect();
            assert_eq!(got, want);
            for (k, (_, v)) in o.iter() {
                assert_eq!(v.as_deref(), Some(k));
                assert_eq!(o.get(k).and_then(|e| e.1.as_deref()), Some(k));
            }
        };
        all.sort();
        let keys = |it: Vec<&[u8]>| it.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
        assert_eq!(keys(o.iter().map(|(k, _)| k).collect()), all);
        // Every range, both ways, against the sorted list.
        let mut bounds = all.clone();
        bounds.extend([
            vec![],
            vec![0, 7],
            sub(b"ab", b"m"),
            sub(b"b", b"z"),
            vec![0xff; 9],
        ]);
        for lo in &bounds {
            for hi in &bounds {
                if lo >= hi {
                    continue;
                }
                let want: Vec<Vec<u8>> = all
                    .iter()
                    .filter(|k| *k >= lo && *k < hi)
                    .cloned()
                    .collect();
                let got: Vec<Vec<u8>> = o.range(lo, hi).map(|(k, _)| k.to_vec()).collect();
                assert_eq!(got, want, "[{lo:?}, {hi:?})");
                let mut back: Vec<Vec<u8>> =
                    o.range(lo, hi).rev().map(|(k, _)| k.to_vec()).collect();
                back.reverse();
                assert_eq!(back, want, "[{lo:?}, {hi:?}) reversed");
            }
        }
        // Removal, a freed place taken again, and retain (a few going, then
        // most) keep the three in step.
        assert!(o.remove(&all[3]).is_some());
        assert!(o.remove(&all[3]).is_none());
        let new = sub(b"n", b"new");
        assert!(o.insert(new.clone(), (99, val(&new))).is_none());
        let mut left: Vec<Vec<u8>> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, k)| k.clone())
            .chain([new.clone()])
            .collect();
        left.sort();
        check(&o, &left);
        o.retain(|k, _| k.len() != 3);
        left.retain(|k| k.len() != 3);
        check(&o, &left);
        o.retain(|k, _| k.ends_with(b"m1"));
        left.retain(|k| k.ends_with(b"m1"));
        assert_eq!(left.len(), 4);
        check(&o, &left);
        // `a`+`m1` was the third key written.
        assert_eq!(o.insert(left[0].clone(), (7, None)).map(|e| e.0), Some(2));
        o.retain(|_, _| false);
        assert!(o.is_empty() && o.iter().next().is_none());
    }
}
