//! RENAME, COPY and MOVE: a key's value written under another name or in
//! another database (within one slot, or across slots in a transaction
//! across them); SWAPDB on one partition.

use super::{raw_key, subkey, Cf, Error, Meta, Pairs, Tx, ValueType};

impl Tx<'_> {
    /// RENAME within the slot: moves the value (a collection's members are
    /// copied under a new generation, O(N)). Keeps the expiry. `Ok(false)`
    /// when `only_if_absent` and `to` exists.
    pub fn rename(&mut self, from: &[u8], to: &[u8], only_if_absent: bool) -> Result<bool, Error> {
        let Some((meta, body)) = self.load(from)? else {
            return Err(Error::NoSuchKey);
        };
        if from == to {
            return Ok(!only_if_absent);
        }
        if only_if_absent && self.load(to)?.is_some() {
            return Ok(false);
        }
        self.write_copy(from, meta, &body, to, self.space_of(to))?;
        self.delete(Cf::Meta, raw_key(self.space_of(from), from));
        Ok(true)
    }

    /// COPY within the slot: `to` (in database `to_db`) gets `from`'s
    /// value and expiry (a collection's members copied under a new
    /// generation, O(N)). `Ok(false)` when `from` is missing, or `to`
    /// exists and not `replace`.
    pub fn copy(
        &mut self,
        from: &[u8],
        to: &[u8],
        to_db: u16,
        replace: bool,
    ) -> Result<bool, Error> {
        let Some((meta, body)) = self.load(from)? else {
            return Ok(false);
        };
        let to_space = crate::space::space(to_db, self.slot_of_key(to));
        if !replace && self.with_space(to_space, |t| t.load(to))?.is_some() {
            return Ok(false);
        }
        self.write_copy(from, meta, &body, to, to_space)?;
        Ok(true)
    }

    /// MOVE: `key` goes to database `to_db` unless a key of that name is
    /// there (`Ok(false)`, as when `key` is missing). O(N) for a collection,
    /// whose members are rewritten under the other database's space.
    pub fn move_to(&mut self, key: &[u8], to_db: u16) -> Result<bool, Error> {
        if !self.copy(key, key, to_db, false)? {
            return Ok(false);
        }
        self.delete(Cf::Meta, raw_key(self.space_of(key), key));
        Ok(true)
    }

    /// Writes the record of `from` (`meta`, `body`) under `to` in
    /// `to_space` with a new version; a collection's members are copied
    /// under a new generation.
    fn write_copy(
        &mut self,
        from: &[u8],
        meta: Meta,
        body: &[u8],
        to: &[u8],
        to_space: u16,
    ) -> Result<(), Error> {
        let mut new = meta;
        new.version = self.next_version();
        if meta.vtype != ValueType::String {
            new.generation = self.next_version();
            let members = self.members_of(from, &meta)?;
            self.put_members(to_space, to, new.generation, members);
        }
        self.with_space(to_space, |t| t.store(to, &new, body));
        Ok(())
    }

    /// Runs `f` with this transaction's keys in `space` (another database
    /// of the same slot), then returns to its own. Across slots, `space`
    /// must be the database's space of the keys `f` touches.
    fn with_space<R>(&mut self, space: u16, f: impl FnOnce(&mut Self) -> R) -> R {
        let here = std::mem::replace(&mut self.space, space);
        let r = f(self);
        self.space = here;
        r
    }

    /// SWAPDB on this partition: every key of database `a` goes to `b` and
    /// every key of `b` to `a`, with its expiry (a collection's members
    /// rewritten under a new generation), all in this transaction.
    /// `keys_a`, `keys_b`: the databases' keys here (`keys_of_db`);
    /// `slot_of` gives a key's slot. Returns the keys moved. O(N) in both
    /// databases' size, in memory too.
    pub fn swap_dbs(
        &mut self,
        (a, keys_a): (u16, &[(u16, Vec<u8>)]),
        (b, keys_b): (u16, &[(u16, Vec<u8>)]),
        slot_of: &dyn Fn(&[u8]) -> u16,
    ) -> Result<u64, Error> {
        self.writable()?;
        let mut held = Vec::new();
        for (from, to, keys) in [(a, b, keys_a), (b, a, keys_b)] {
            for (_, key) in keys {
                self.slot = slot_of(key);
                self.space = crate::space::space(from, self.slot);
                let Some((meta, body)) = self.load(key)? else {
                    continue;
                };
                let members = self.members_of(key, &meta)?;
                self.delete(Cf::Meta, raw_key(self.space, key));
                held.push((to, self.slot, key, meta, body, members));
            }
        }
        let moved = held.len() as u64;
        for (to, slot, key, mut meta, body, members) in held {
            self.slot = slot;
            self.space = crate::space::space(to, slot);
            meta.version = self.next_version();
            if meta.vtype != ValueType::String {
                meta.generation = self.next_version();
                self.put_members(self.space, key, meta.generation, members);
            }
            self.store(key, &meta, &body);
        }
        Ok(moved)
    }

    /// A collection's members (what follows its subkey prefix, and the
    /// value) in this transaction's space; none for a string.
    fn members_of(&self, key: &[u8], meta: &Meta) -> Result<Pairs, Error> {
        let mut members = Vec::new();
        if meta.vtype != ValueType::String {
            let prefix = subkey::prefix(self.space_of(key), key, meta.generation);
            let hi = subkey::end_of(&prefix);
            self.range(&prefix, &hi, false, &mut |k, v| {
                members.push((k[prefix.len()..].to_vec(), v.to_vec()));
                Ok(true)
            })?;
        }
        Ok(members)
    }

    /// Writes `members` (from `members_of`) under `key`'s `generation` in
    /// `space`.
    fn put_members(&mut self, space: u16, key: &[u8], generation: u64, members: Pairs) {
        let prefix = subkey::prefix(space, key, generation);
        for (rest, v) in members {
            let mut k = prefix.clone();
            k.extend_from_slice(&rest);
            self.put(Cf::Sub, k, v);
        }
    }
}
