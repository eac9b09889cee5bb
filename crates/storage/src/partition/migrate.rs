//! Slot migration (docs/cluster.md, "Moving slots"): the storage side.
//!
//! A slot is one key range in each column family (every stored key and
//! subkey starts with its slot, big endian), so a migration copies the
//! slot's ranges from a checkpoint of the source partition
//! (`SyncSource::chunk_fn` for the slots), then replays the source's later batches
//! restricted to the slots (`slot_ops` reads a batch's records), and the
//! source finally drops the ranges (`delete_slots`). The target stages all
//! of it in its open group like any write, so its own replicas follow.

use std::rc::Rc;

use super::batch::{tag, truncated, Cursor};
use super::{journal, Partition};
use crate::envelope;
use crate::Error;

/// One write of a replicated batch that touches a migrating slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotOp {
    /// `cf` 0: strings and metadata, 1: subkeys.
    Put {
        cf: u8,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        cf: u8,
        key: Vec<u8>,
    },
    /// A range deletion, already cut to the slot it overlaps.
    DeleteRange {
        cf: u8,
        from: Vec<u8>,
        to: Vec<u8>,
    },
}

/// The key range of `slot` in either column family.
fn slot_bounds(slot: u16) -> (Vec<u8>, Vec<u8>) {
    let lo = slot.to_be_bytes().to_vec();
    let hi = match slot.checked_add(1) {
        Some(n) => n.to_be_bytes().to_vec(),
        None => vec![0xFF, 0xFF, 0xFF],
    };
    (lo, hi)
}

fn slot_of(key: &[u8]) -> Option<u16> {
    (key.len() >= 2).then(|| u16::from_be_bytes([key[0], key[1]]))
}

/// The writes of a WriteBatch's bytes (RocksDB's `WriteBatch` rep: 8 bytes
/// of sequence, 4 of count, then tagged records) whose keys lie in a slot
/// `keep` accepts. A range deletion is cut into the kept slots it overlaps.
/// Partition-internal keys (position, clock) are never in a slot.
pub fn slot_ops(batch: &[u8], keep: impl Fn(u16) -> bool) -> Result<Vec<SlotOp>, Error> {
    let mut out = Vec::new();
    batch_slot_ops(batch, &keep, &mut out)?;
    Ok(out)
}

/// `slot_ops` into `out`; a journal record's group batch is read in place
/// (the journal's own deletions are not the slots').
fn batch_slot_ops(
    batch: &[u8],
    keep: &dyn Fn(u16) -> bool,
    out: &mut Vec<SlotOp>,
) -> Result<(), Error> {
    if batch.len() < 12 {
        return Err(truncated());
    }
    let mut c = Cursor { b: &batch[12..] };
    let kept = |key: &[u8]| slot_of(key).is_some_and(|s| s < crate::manifest::SLOTS && keep(s));
    while let Some((&t, rest)) = c.b.split_first() {
        c.b = rest;
        let cf = match t {
            tag::CF_DELETE | tag::CF_PUT | tag::CF_SINGLE_DELETE | tag::CF_RANGE_DELETE => {
                let id = c.varint()?;
                u8::try_from(id)
                    .ok()
                    .filter(|&i| i <= journal::CF_ID)
                    .ok_or_else(|| {
                        Error::Corrupt(format!("a write batch names column family {id}"))
                    })?
            }
            _ => 0,
        };
        match t {
            tag::CF_PUT if cf == journal::CF_ID => {
                c.slice()?;
                batch_slot_ops(c.slice()?, keep, out)?;
            }
            tag::CF_RANGE_DELETE if cf == journal::CF_ID => {
                c.slice()?;
                c.slice()?;
            }
            tag::PUT | tag::CF_PUT => {
                let (k, v) = (c.slice()?, c.slice()?);
                if kept(k) {
                    out.push(SlotOp::Put {
                        cf,
                        key: k.to_vec(),
                        value: v.to_vec(),
                    });
                }
            }
            tag::DELETE | tag::CF_DELETE | tag::SINGLE_DELETE | tag::CF_SINGLE_DELETE => {
                let k = c.slice()?;
                if kept(k) {
                    out.push(SlotOp::Delete { cf, key: k.to_vec() });
                }
            }
            tag::RANGE_DELETE | tag::CF_RANGE_DELETE => {
                let (from, to) = (c.slice()?, c.slice()?);
                let first = slot_of(from).unwrap_or(0);
                let last = slot_of(to).unwrap_or(u16::MAX).min(crate::manifest::SLOTS - 1);
                for s in first..=last {
                    if !keep(s) {
                        continue;
                    }
                    let (lo, hi) = slot_bounds(s);
                    let (a, b) = (lo.max(from.to_vec()), hi.min(to.to_vec()));
                    if a < b {
                        out.push(SlotOp::DeleteRange { cf, from: a, to: b });
                    }
                }
            }
            tag::LOG_DATA => {
                c.slice()?;
            }
            tag::NOOP => {}
            other => {
                return Err(Error::Corrupt(format!(
                    "a replicated write batch holds a record of type {other:#x}, which slot migration does not replay"
                )))
            }
        }
    }
    Ok(())
}

impl Partition {
    /// Stages writes copied or replayed from another node's partition into
    /// the open group (all of one chunk in one batch), moving the clock past
    /// every version they carry. Returns the group.
    pub fn stage_migrated(&self, ops: Vec<SlotOp>) -> Result<u64, Error> {
        self.check_writable()?;
        let group = self.group.get();
        let sub = self.sub_cf();
        let mut p = self.pending.borrow_mut();
        let mut newest = 0;
        for op in ops {
            match op {
                SlotOp::Put { cf: 0, key, value } => {
                    if let Ok((meta, _)) = envelope::decode(&value) {
                        newest = newest.max(meta.version);
                    }
                    p.stage(key, group, Some(Rc::from(value)));
                }
                SlotOp::Delete { cf: 0, key } => p.stage(key, group, None),
                SlotOp::Put { key, value, .. } => {
                    p.batch.put_cf(sub, &key, &value);
                    p.stage_sub(key, group, Some(Rc::from(value)), |_| false);
                }
                SlotOp::Delete { key, .. } => {
                    p.batch.delete_cf(sub, &key);
                    p.stage_sub(key, group, None, |_| false);
                }
                SlotOp::DeleteRange { cf, from, to } => {
                    // Staged values of the range would be appended after
                    // the deletion: drop them, as FLUSHALL does.
                    p.append_overlay();
                    p.ranged = true;
                    if cf == 0 {
                        p.batch.delete_range(&from, &to);
                    } else {
                        p.batch.delete_range_cf(sub, &from, &to);
                    }
                    p.retain_keys(cf == 0, |k| k >= from.as_slice() && k < to.as_slice());
                    self.cache.borrow_mut().clear();
                }
            }
        }
        drop(p);
        if newest > 0 {
            self.observe_version(newest);
        }
        Ok(group)
    }

    /// Stages the deletion of every key and member of `slots` (a migration's
    /// clean-up on the source, or a fresh start on the target). Returns the
    /// group.
    pub fn delete_slots(&self, slots: &[u16]) -> Result<u64, Error> {
        let ops = slots
            .iter()
            .flat_map(|&s| {
                let (lo, hi) = slot_bounds(s);
                [0u8, 1].map(|cf| SlotOp::DeleteRange {
                    cf,
                    from: lo.clone(),
                    to: hi.clone(),
                })
            })
            .collect();
        self.stage_migrated(ops)
    }

    /// A closure counting the keys of each slot in this partition
    /// (blocking pool): the weights `rebalance` moves slots by. Strings and
    /// collections count one each, whatever their size.
    pub fn slot_keys_fn(
        &self,
    ) -> impl FnOnce() -> Result<std::collections::BTreeMap<u16, u64>, Error> + Send + 'static {
        let db = self.db.clone();
        move || {
            let mut out = std::collections::BTreeMap::new();
            let mut it = db.raw_iterator();
            it.seek_to_first();
            while let Some(k) = it.key() {
                match slot_of(k) {
                    Some(s) if s < crate::manifest::SLOTS => *out.entry(s).or_insert(0) += 1,
                    _ => break,
                }
                it.next();
            }
            it.status()
                .map_err(|e| Error::storage("count the keys per slot", e))?;
            Ok(out)
        }
    }

    /// Moves the clock past `version` (a value or batch another node
    /// wrote), persisting a new high-water mark with the open group when
    /// it reaches the last one.
    pub fn observe_version(&self, version: u64) {
        if let Some(mark) = self.clock.borrow_mut().observe_persisting(version) {
            self.stage_mark(mark);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocksdb::{Options, WriteBatch, DB};

    #[test]
    fn a_batch_is_read_back_and_cut_to_the_kept_slots() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Options::default();
        o.create_if_missing(true);
        o.create_missing_column_families(true);
        let db = DB::open_cf(&o, dir.path(), ["default", super::super::SUB_CF]).unwrap();
        let sub = db.cf_handle(super::super::SUB_CF).unwrap();
        let k = |slot: u16, rest: &str| {
            let mut v = slot.to_be_bytes().to_vec();
            v.extend_from_slice(rest.as_bytes());
            v
        };
        let mut b = WriteBatch::default();
        b.put(k(5, "a"), b"va");
        b.put(k(6, "b"), b"vb");
        b.put_cf(sub, k(5, "m"), b"vm");
        b.delete(k(5, "gone"));
        b.delete_cf(sub, k(6, "x"));
        b.delete_range([0u8, 0].as_slice(), [0xFFu8, 0xFF].as_slice());
        b.delete_range_cf(sub, k(5, "c"), k(7, ""));
        b.put(crate::partition::CLOCK_KEY, b"x");
        let ops = slot_ops(b.data(), |s| s == 5).unwrap();
        let (lo, hi) = slot_bounds(5);
        assert_eq!(
            ops,
            vec![
                SlotOp::Put {
                    cf: 0,
                    key: k(5, "a"),
                    value: b"va".to_vec()
                },
                SlotOp::Put {
                    cf: 1,
                    key: k(5, "m"),
                    value: b"vm".to_vec()
                },
                SlotOp::Delete {
                    cf: 0,
                    key: k(5, "gone")
                },
                SlotOp::DeleteRange {
                    cf: 0,
                    from: lo,
                    to: hi.clone()
                },
                SlotOp::DeleteRange {
                    cf: 1,
                    from: k(5, "c"),
                    to: hi
                },
            ]
        );
        assert!(slot_ops(b.data(), |_| false).unwrap().is_empty());
        let all = slot_ops(b.data(), |_| true).unwrap();
        // Two puts and two deletes in slots 5 and 6, the put and delete of
        // slot 6, 16384 cut range deletions, 2 of the sub range.
        assert_eq!(all.len(), 3 + 2 + 16384 + 2);
        assert!(slot_ops(&b.data()[..b.data().len() - 1], |_| true).is_err());
        assert!(slot_ops(&[0u8; 4], |_| true).is_err());
        let mut bad = b.data()[..12].to_vec();
        bad.push(0x16);
        assert!(slot_ops(&bad, |_| true).is_err());
    }
}
