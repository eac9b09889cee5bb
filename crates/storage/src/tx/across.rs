//! Transactions across slots: a command whose keys lie in several slots
//! of one node (`Tx::across`), the records of other partitions' keys loaded
//! into it, and its writes handed back for a commit across partitions
//! (`partition::xcommit`).

use super::{envelope, raw_key, subkey, Across, Cf, Error, Partition, Tx, ValueType};
use crate::partition::xcommit::Write;

impl<'p> Tx<'p> {
    /// A transaction whose keys may lie in any slot of `part` (and, once
    /// loaded, in other partitions): a command across slots on one node.
    /// `slot` is its first key's; `slot_of` gives any key's.
    pub fn across(
        part: &'p Partition,
        slot: u16,
        db: u16,
        now_ms: u64,
        slot_of: fn(&[u8]) -> u16,
    ) -> Tx<'p> {
        let mut t = Tx::in_db(part, slot, db, now_ms);
        t.across = Some(Box::new(Across {
            slot_of,
            foreign: Vec::new(),
            loaded: Default::default(),
        }));
        t
    }

    /// The slot of `key`: this transaction's, or across slots the key's own.
    #[inline]
    pub(super) fn slot_of_key(&self, key: &[u8]) -> u16 {
        match &self.across {
            None => self.slot,
            Some(a) => (a.slot_of)(key),
        }
    }

    /// Where `key` is stored: this transaction's space, or in a
    /// transaction across slots the space of the key's own slot.
    #[inline]
    pub(super) fn space_of(&self, key: &[u8]) -> u16 {
        match &self.across {
            None => self.space,
            Some(_) => crate::space::space(crate::space::db_of(self.space), self.slot_of_key(key)),
        }
    }

    /// Whether this transaction may read and write `key`, whose slot is
    /// `slot`: a key of its slot; across slots, a key of any slot of its
    /// partition or one loaded from another partition.
    pub fn serves(&self, key: &[u8], slot: u16) -> bool {
        match &self.across {
            None => slot == self.slot,
            Some(a) => self.part.slots().holds(slot) || a.foreign.iter().any(|k| k == key),
        }
    }

    /// Loads `key` of another partition into a transaction across slots:
    /// its records as `export` gave them there. Reads then see them as
    /// this transaction's own writes.
    pub fn load_foreign(&mut self, key: &[u8], records: Vec<Write>) {
        let Some(a) = self.across.as_mut() else {
            return;
        };
        a.foreign.push(key.to_vec());
        for w in records {
            if let Some(v) = w.value {
                let v: std::rc::Rc<[u8]> = v.into();
                a.loaded.insert((w.cf, w.key.clone()), v.clone());
                self.writes.insert((w.cf, w.key), Some(v));
            }
        }
    }

    /// The stored records of `key` (its metadata record or string, and a
    /// collection's subkeys) as this transaction sees them, to load into a
    /// transaction across slots on another partition. O(N) in a
    /// collection's size.
    pub fn export(&self, key: &[u8]) -> Result<Vec<Write>, Error> {
        let raw = raw_key(self.space_of(key), key);
        let Some(v) = self.get(Cf::Meta, &raw)? else {
            return Ok(Vec::new());
        };
        let (meta, _) = envelope::decode(&v)?;
        let mut out = Vec::new();
        if meta.vtype != ValueType::String {
            let prefix = subkey::prefix(self.space_of(key), key, meta.generation);
            let hi = subkey::end_of(&prefix);
            self.range(&prefix, &hi, false, &mut |k, v| {
                out.push(Write {
                    cf: Cf::Sub,
                    key: k.to_vec(),
                    value: Some(v.to_vec()),
                });
                Ok(true)
            })?;
        }
        out.push(Write {
            cf: Cf::Meta,
            key: raw,
            value: Some(v),
        });
        Ok(out)
    }

    /// This transaction's writes, not staged, for a commit across
    /// partitions (`partition::xcommit`); the compactions it wanted are
    /// left to later writes.
    /// Records loaded from another partition and left unchanged are not
    /// among them.
    pub fn into_writes(self) -> Vec<Write> {
        let mut out = Vec::with_capacity(self.writes.len());
        let loaded = self.across.map(|a| a.loaded).unwrap_or_default();
        self.writes.drain_sorted(|(cf, key), value| {
            let same = !loaded.is_empty()
                && match (loaded.get(&(cf, key.clone())), &value) {
                    (Some(was), Some(now)) => was[..] == now[..],
                    _ => false,
                };
            if same {
                return;
            }
            out.push(Write {
                cf,
                key,
                value: value.map(|v| v.to_vec()),
            })
        });
        out
    }
}
