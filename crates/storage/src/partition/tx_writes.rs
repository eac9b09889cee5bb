//! A transaction's writes, sorted by (column family, raw key).
//!
//! Most commands write one or two keys: a SET, an INCR, an HSET of one
//! field. Those stay in a short sorted array, inline in the transaction
//! up to `INLINE` (nothing to allocate, walk and free on every request);
//! past `SMALL` entries they move into a `BTreeMap`, so a transaction of a
//! million writes still inserts, finds and ranges in O(log n).

use std::collections::BTreeMap;

use smallvec::SmallVec;

use super::Cf;

/// Where a write goes: its column family and raw key.
pub(crate) type WriteKey = (Cf, Vec<u8>);

/// A value, or `None` for a deletion; shared, so staging it into the
/// open group copies nothing.
pub(crate) type WriteValue = Option<std::rc::Rc<[u8]>>;

/// Entries kept in the sorted array before the map takes over.
const SMALL: usize = 8;

/// Entries the array holds without allocating.
const INLINE: usize = 2;

/// A transaction's writes; the last write of a key wins.
#[derive(Debug)]
pub(crate) enum TxWrites {
    Small(SmallVec<[(WriteKey, WriteValue); INLINE]>),
    Large(BTreeMap<WriteKey, WriteValue>),
}

impl Default for TxWrites {
    fn default() -> Self {
        TxWrites::Small(SmallVec::new())
    }
}

impl TxWrites {
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            TxWrites::Small(v) => v.len(),
            TxWrites::Large(m) => m.len(),
        }
    }

    pub(crate) fn get(&self, k: &WriteKey) -> Option<&WriteValue> {
        match self {
            TxWrites::Small(v) => v.binary_search_by(|(x, _)| x.cmp(k)).ok().map(|i| &v[i].1),
            TxWrites::Large(m) => m.get(k),
        }
    }

    pub(crate) fn insert(&mut self, k: WriteKey, value: WriteValue) {
        match self {
            TxWrites::Small(v) => match v.binary_search_by(|(x, _)| x.cmp(&k)) {
                Ok(i) => v[i].1 = value,
                Err(i) if v.len() < SMALL => v.insert(i, (k, value)),
                Err(_) => {
                    let mut m: BTreeMap<WriteKey, WriteValue> =
                        std::mem::take(v).into_iter().collect();
                    m.insert(k, value);
                    *self = TxWrites::Large(m);
                }
            },
            TxWrites::Large(m) => {
                m.insert(k, value);
            }
        }
    }

    /// Forgets the write of `k` (a transaction undoing to a savepoint).
    pub(crate) fn remove(&mut self, k: &WriteKey) {
        match self {
            TxWrites::Small(v) => {
                if let Ok(i) = v.binary_search_by(|(x, _)| x.cmp(k)) {
                    v.remove(i);
                }
            }
            TxWrites::Large(m) => {
                m.remove(k);
            }
        }
    }

    /// Calls `f` with each subkey write in `[lo, hi)`, ascending.
    pub(crate) fn each_sub_in(&self, lo: &[u8], hi: &[u8], mut f: impl FnMut(&[u8], &WriteValue)) {
        let (lo, hi) = ((Cf::Sub, lo.to_vec()), (Cf::Sub, hi.to_vec()));
        match self {
            TxWrites::Small(v) => {
                let start = v.partition_point(|(k, _)| *k < lo);
                for ((_, k), value) in v[start..].iter().take_while(|(k, _)| *k < hi) {
                    f(k, value);
                }
            }
            TxWrites::Large(m) => {
                for ((_, k), value) in m.range(lo..hi) {
                    f(k, value);
                }
            }
        }
    }

    /// Calls `f` with every write, ascending.
    pub(crate) fn drain_sorted(self, mut f: impl FnMut(WriteKey, WriteValue)) {
        match self {
            TxWrites::Small(v) => v.into_iter().for_each(|(k, value)| f(k, value)),
            TxWrites::Large(m) => m.into_iter().for_each(|(k, value)| f(k, value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The small and the large form answer as one BTreeMap would, through
    /// the switch from one to the other.
    #[test]
    fn both_forms_act_as_a_sorted_map() {
        let mut w = TxWrites::default();
        let mut model = BTreeMap::new();
        let mut x: u64 = 7;
        for step in 0..400u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let cf = if x >> 63 == 0 { Cf::Meta } else { Cf::Sub };
            let key = (cf, vec![(x >> 40) as u8 % 32]);
            let value = (step % 3 != 0).then(|| step.to_be_bytes().as_slice().into());
            w.insert(key.clone(), value.clone());
            model.insert(key, value);
            assert_eq!(w.len(), model.len());
            for (k, v) in &model {
                assert_eq!(w.get(k), Some(v));
            }
            let mut seen = Vec::new();
            w.each_sub_in(&[4], &[20], |k, v| seen.push((k.to_vec(), v.clone())));
            let want: Vec<_> = model
                .range((Cf::Sub, vec![4])..(Cf::Sub, vec![20]))
                .map(|((_, k), v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(seen, want);
        }
        assert!(matches!(w, TxWrites::Large(_)));
        let mut all = Vec::new();
        w.drain_sorted(|k, v| all.push((k, v)));
        assert_eq!(all, model.into_iter().collect::<Vec<_>>());
        let mut small = TxWrites::default();
        assert!(small.is_empty());
        small.insert((Cf::Meta, b"b".to_vec()), None);
        small.insert((Cf::Meta, b"a".to_vec()), Some([1u8].as_slice().into()));
        assert!(matches!(small, TxWrites::Small(_)));
        let mut keys = Vec::new();
        small.drain_sorted(|k, _| keys.push(k.1));
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
    }
}
