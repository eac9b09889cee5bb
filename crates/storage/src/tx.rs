//! Transactions over one partition: how every collection command (and every
//! command of an atomic batch) reads and writes.
//!
//! A `Tx` reads through three layers (its own writes, the partition's
//! staged group, RocksDB's memtable and block cache) and keeps its writes
//! to itself until `commit`, which stages them into the open group as one
//! unit. A command that fails, or a read that would block, drops the `Tx`
//! and nothing it wrote is visible: a command or a batch is all or nothing.
//!
//! A `Tx` is bound to one slot, except a transaction across slots
//! (`Tx::across`, a command whose keys lie in several slots of one node):
//! it reaches every slot of its partition, and keys of other partitions
//! once their records are loaded into it (`partition::xcommit`).

use std::collections::VecDeque;
use std::rc::Rc;

use super::envelope::{self, Meta, ValueType};
use super::partition::{raw_key, Ahead, Cf, Partition, Status, WriteKey, WriteValue};
use super::subkey;
use super::Error;

mod across;
mod copy;

/// A member with its value (a hash's field and value).
pub type Pair = (Vec<u8>, Vec<u8>);

/// Members with their values, in order.
pub type Pairs = Vec<Pair>;

/// One page of a member scan: where to continue (`None` = done) and the items.
pub type Page<T> = (Option<Vec<u8>>, Vec<T>);

/// A visitor of sorted-set entries `(member, score)`; returns whether to go on.
pub type ScoreVisit<'f> = dyn FnMut(&[u8], f64) -> Result<bool, Error> + 'f;

/// A live value of any type: its header and body.
pub type Loaded = (Meta, Vec<u8>);

/// A collection's subkeys are compacted once the members deleted from inside
/// its ranges reach its size, and at least this many: reads then step over
/// at most about as many deletions as there are members (plus this many),
/// and the compaction's cost is spread over the deletions that caused it.
pub const DEAD_BEFORE_COMPACTION: u64 = 1024;

/// Every subkey of one life of a key: `[prefix, end of prefix)`.
fn subkey_range(prefix: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (prefix.to_vec(), subkey::end_of(prefix))
}

/// The first list index: lists grow both ways from the middle of u64.
pub const LIST_ORIGIN: u64 = 1 << 63;

/// The metadata of a live collection.
#[derive(Debug, Clone)]
pub struct Coll {
    pub meta: Meta,
    /// Members (for lists: elements).
    pub size: u64,
    /// Lists: index of the first element and one past the last.
    pub head: u64,
    pub tail: u64,
    /// Hashes, sets and sorted sets (format 2): members deleted from inside
    /// the member range since the key's subkeys were last compacted. Their
    /// tombstones are what range reads step over; `save` asks for a
    /// compaction of the key's subkeys once they outnumber the members.
    pub dead: u64,
    /// Sorted sets (format 2): every live score-index subkey's suffix (the
    /// bytes after `prefix | 's'`) is `>= low` and, unless `high` is empty,
    /// `< high`. Pops move them past what they removed, so no later read
    /// seeks over those deletions (docs/storage.md, "Collections under churn").
    pub low: Vec<u8>,
    pub high: Vec<u8>,
    /// `subkey::prefix` of this generation.
    pub prefix: Vec<u8>,
}

impl Coll {
    fn body(&self) -> Vec<u8> {
        let mut b = self.size.to_be_bytes().to_vec();
        match self.meta.vtype {
            ValueType::List => {
                b.extend_from_slice(&self.head.to_be_bytes());
                b.extend_from_slice(&self.tail.to_be_bytes());
            }
            _ if self.meta.format < envelope::FORMAT_V2 => {}
            ValueType::Hash | ValueType::Set => b.extend_from_slice(&self.dead.to_be_bytes()),
            ValueType::ZSet => {
                b.extend_from_slice(&self.dead.to_be_bytes());
                for bound in [&self.low, &self.high] {
                    b.extend_from_slice(&(bound.len() as u32).to_be_bytes());
                    b.extend_from_slice(bound);
                }
            }
            ValueType::String | ValueType::Stream => {}
        }
        b
    }

    /// Whether members are stored under a hash of themselves (sets of
    /// format 2), which spreads them evenly over the subkey space so a
    /// random seek is a random member.
    pub fn hashed(&self) -> bool {
        self.meta.vtype == ValueType::Set && self.meta.format >= envelope::FORMAT_V2
    }

    pub fn member_key(&self, m: &[u8]) -> Vec<u8> {
        if self.hashed() {
            subkey::hashed_member(&self.prefix, m)
        } else {
            subkey::member(&self.prefix, m)
        }
    }

    /// Bounds of every member subkey.
    pub fn member_range(&self) -> (Vec<u8>, Vec<u8>) {
        let lo = subkey::tagged(&self.prefix, subkey::MEMBER);
        let hi = subkey::end_of(&lo);
        (lo, hi)
    }

    /// Bounds of the live part of the score index.
    pub fn score_range(&self) -> (Vec<u8>, Vec<u8>) {
        let tag = subkey::tagged(&self.prefix, subkey::SCORE);
        let hi = if self.high.is_empty() {
            subkey::end_of(&tag)
        } else {
            [tag.as_slice(), &self.high].concat()
        };
        let lo = [tag.as_slice(), &self.low].concat();
        (lo, hi)
    }

    /// Widens the live bounds of the score index to take `suffix` in.
    pub fn score_added(&mut self, suffix: &[u8]) {
        if suffix < self.low.as_slice() {
            self.low = suffix.to_vec();
        }
        if !self.high.is_empty() && suffix >= self.high.as_slice() {
            self.high = [suffix, &[0]].concat();
        }
    }

    /// The member part of a member subkey of this collection.
    pub fn member_of<'k>(&self, raw: &'k [u8]) -> &'k [u8] {
        let skip = if self.hashed() { 1 + 8 } else { 1 };
        &raw[self.prefix.len() + skip..]
    }
}

/// Splits `len u32 | bytes` off the front of `b`.
fn take_bytes(b: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let short = || Error::Corrupt("collection metadata bound is truncated".into());
    let len = u32::from_be_bytes(
        b.get(..4)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?,
    );
    let end = 4 + len as usize;
    Ok((b.get(4..end).ok_or_else(short)?, &b[end..]))
}

fn be_u64(b: &[u8]) -> Result<u64, Error> {
    b.get(..8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Corrupt("collection metadata too short".into()))
}

/// A command's view of one partition, bound to one slot of one database.
pub struct Tx<'p> {
    part: &'p Partition,
    /// The keys' slot (Redis Cluster's).
    pub slot: u16,
    /// Where the keys are stored: the slot for database 0, the database's
    /// space otherwise (`crate::space`).
    pub space: u16,
    pub now_ms: u64,
    writes: super::partition::TxWrites,
    /// Subkey ranges to compact once this transaction commits.
    compact: Vec<(Vec<u8>, Vec<u8>)>,
    /// Once a savepoint is taken: each write's key and what it replaced
    /// (`None`: nothing), so `undo_to` can take writes back.
    undo: Option<Vec<(WriteKey, Option<WriteValue>)>>,
    /// A transaction across slots (`Tx::across`); `None` for the usual
    /// one-slot transaction, which pays nothing for it.
    across: Option<Box<Across>>,
}

/// What a transaction across slots keeps: keys of any slot of its
/// partition, and keys of other partitions whose records were loaded into
/// it (`Tx::load_foreign`).
struct Across {
    /// A key's slot (Redis Cluster's; this crate does not compute it).
    slot_of: fn(&[u8]) -> u16,
    /// The keys of other partitions loaded.
    foreign: Vec<Vec<u8>>,
    /// Their records as loaded: `into_writes` leaves out what is unchanged.
    loaded: std::collections::BTreeMap<WriteKey, std::rc::Rc<[u8]>>,
}

/// A point a transaction's writes can be taken back to (`Tx::undo_to`).
#[derive(Debug, Clone, Copy)]
pub struct Savepoint {
    undo: usize,
    compact: usize,
}

/// Visitor of a range read: gets each live `(subkey, value)`, returns
/// whether to go on.
pub type Visit<'f> = dyn FnMut(&[u8], &[u8]) -> Result<bool, Error> + 'f;

impl<'p> Tx<'p> {
    pub fn new(part: &'p Partition, slot: u16, now_ms: u64) -> Tx<'p> {
        Tx::in_db(part, slot, 0, now_ms)
    }

    /// A transaction on keys of `slot` in database `db`.
    pub fn in_db(part: &'p Partition, slot: u16, db: u16, now_ms: u64) -> Tx<'p> {
        Tx {
            part,
            slot,
            space: crate::space::space(db, slot),
            now_ms,
            writes: Default::default(),
            compact: Vec::new(),
            undo: None,
            across: None,
        }
    }

    /// Marks where the writes stand, so a command that fails part way can
    /// be taken back alone (EXEC goes on past a failed command, as Redis's
    /// does). Costs nothing until taken: only then are writes logged.
    pub fn savepoint(&mut self) -> Savepoint {
        Savepoint {
            undo: self.undo.get_or_insert_with(Vec::new).len(),
            compact: self.compact.len(),
        }
    }

    /// Takes back every write since `sp`, newest first.
    pub fn undo_to(&mut self, sp: Savepoint) {
        self.compact.truncate(sp.compact);
        let Some(undo) = self.undo.as_mut() else {
            return;
        };
        for (k, old) in undo.drain(sp.undo..).rev() {
            match old {
                Some(v) => self.writes.insert(k, v),
                None => self.writes.remove(&k),
            }
        }
    }

    /// Every write goes through here (the undo log, when one is kept).
    fn write(&mut self, k: WriteKey, v: WriteValue) {
        if let Some(undo) = self.undo.as_mut() {
            undo.push((k.clone(), self.writes.get(&k).cloned()));
        }
        self.writes.insert(k, v);
    }

    /// Stages every write into the open group; `None` when nothing was written.
    pub fn commit(self) -> Option<u64> {
        if self.writes.is_empty() {
            return None;
        }
        for (lo, hi) in self.compact {
            self.part.want_compaction(lo, hi);
        }
        Some(self.part.stage_all(self.writes))
    }

    /// Whether the transaction wrote anything.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Asks for a compaction of every subkey of `prefix` once this
    /// transaction commits (a key whose deleted subkeys outnumber its live ones).
    pub fn compact_subkeys(&mut self, prefix: &[u8]) {
        self.compact.push(subkey_range(prefix));
    }

    /// Where `key` is stored (its database's space of its slot).
    pub fn space_of_key(&self, key: &[u8]) -> u16 {
        self.space_of(key)
    }

    /// Fails when the partition refuses writes.
    pub fn writable(&self) -> Result<(), Error> {
        self.part.writable()
    }

    /// The next version of the partition's clock.
    pub fn next_version(&self) -> u64 {
        self.part.new_version(self.now_ms)
    }

    // ---- raw reads and writes ------------------------------------------------

    /// This transaction's own write of `raw`: `Some(None)` for a deletion.
    fn own_write(&self, cf: Cf, raw: &[u8]) -> Option<Option<Vec<u8>>> {
        if self.writes.is_empty() {
            return None;
        }
        let v = self.writes.get(&(cf, raw.to_vec()))?;
        Some(v.as_deref().map(<[u8]>::to_vec))
    }

    pub fn get(&self, cf: Cf, raw: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if let Some(v) = self.own_write(cf, raw) {
            return Ok(v);
        }
        match cf {
            Cf::Meta => self.part.read_meta_raw(raw),
            Cf::Sub => self.part.read_sub(raw),
        }
    }

    /// Reads a subkey like `get`, reading ahead the stored subkeys of
    /// `[lo, hi)` into the read cache when it would go to RocksDB
    /// (`Partition::read_sub_ahead`).
    pub fn get_ahead(&self, raw: &[u8], lo: &[u8], hi: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if let Some(v) = self.own_write(Cf::Sub, raw) {
            return Ok(v);
        }
        self.part.read_sub_ahead(raw, lo, hi)
    }

    pub fn put(&mut self, cf: Cf, raw: Vec<u8>, value: Vec<u8>) {
        self.write((cf, raw), Some(value.into()));
    }

    pub fn delete(&mut self, cf: Cf, raw: Vec<u8>) {
        self.write((cf, raw), None);
    }

    /// Visits the live subkeys in `[lo, hi)` in order (descending when
    /// `reverse`), merging this transaction's writes, the staged group and
    /// RocksDB. `Error::WouldBlock` when RocksDB would have to read disk.
    pub fn range(
        &self,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        f: &mut Visit<'_>,
    ) -> Result<(), Error> {
        self.range_ahead(lo, hi, reverse, Ahead::No, f)
    }

    /// A random stored subkey of `[lo, hi)` a read-ahead window holds.
    pub fn window_pick(&self, lo: &[u8], hi: &[u8], r: u64) -> Option<Vec<u8>> {
        self.part.window_pick(lo, hi, r)
    }

    /// `range`, reading RocksDB through read-ahead windows as `ahead` says
    /// (the pops: `partition/stored.rs`).
    pub fn range_ahead(
        &self,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        ahead: Ahead,
        f: &mut Visit<'_>,
    ) -> Result<(), Error> {
        if lo >= hi {
            // Empty (a start beyond a sorted set's live bound, say).
            return Ok(());
        }
        let mut over = Overlay::new(self, lo, hi, reverse);
        let mut it = self.part.stored(lo, hi, reverse, ahead);
        // The last stored key visited (when `visited`): a warm-up starts there.
        let mut reached: Vec<u8> = Vec::new();
        let mut visited = false;
        loop {
            let db_key = match it.entry() {
                Some((k, _)) => Some(k),
                None => match it.status() {
                    Status::Ok => None,
                    Status::WouldBlock => {
                        match (visited, reverse) {
                            (false, _) => self.part.missed_range(lo, hi, reverse),
                            (true, false) => self.part.missed_range(&reached, hi, false),
                            (true, true) => self.part.missed_range(lo, &reached, true),
                        }
                        return Err(Error::WouldBlock);
                    }
                    Status::Failed(e) => return Err(Error::storage("RocksDB range read", e)),
                },
            };
            let (take_over, same) = match (db_key, over.peek()) {
                (None, None) => return Ok(()),
                (Some(_), None) => (false, false),
                (None, Some(_)) => (true, false),
                (Some(d), Some((o, _))) => {
                    let o = &o[..];
                    let first = if reverse { o > d } else { o < d };
                    (first || o == d, o == d)
                }
            };
            if take_over {
                if same {
                    it.advance(reverse);
                }
                let (k, v) = over.next().expect("peeked");
                if let Some(v) = v {
                    if !f(&k, &v)? {
                        return Ok(());
                    }
                }
            } else {
                let go_on = match it.entry() {
                    Some((k, v)) => {
                        reached.clear();
                        reached.extend_from_slice(k);
                        visited = true;
                        f(k, v)?
                    }
                    None => true,
                };
                if !go_on {
                    return Ok(());
                }
                it.advance(reverse);
            }
        }
    }

    // ---- keys of any type ----------------------------------------------------

    /// The live value of `key` (any type), with its header.
    pub fn load(&self, key: &[u8]) -> Result<Option<Loaded>, Error> {
        self.with_live(key, |v| v.map(|(m, body)| (m, body.to_vec())))
    }

    /// Calls `f` with the live value of `key` (its header and body, not
    /// copied): this transaction's writes first, then the partition's.
    pub fn with_live<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<(Meta, &[u8])>) -> R,
    ) -> Result<R, Error> {
        let k = (Cf::Meta, raw_key(self.space_of(key), key));
        match self.writes.get(&k) {
            None => self.part.read_live_with(&k.1, self.now_ms, f),
            Some(None) => Ok(f(None)),
            Some(Some(v)) => {
                let (meta, body) = envelope::decode(v)?;
                Ok(f((!meta.is_expired(self.now_ms)).then_some((meta, body))))
            }
        }
    }

    /// The header of `key`'s live value, if any.
    pub fn meta(&self, key: &[u8]) -> Result<Option<Meta>, Error> {
        self.with_live(key, |v| v.map(|(m, _)| m))
    }

    /// Calls `f` with `key`'s live string and its header, not copied;
    /// `WrongType` when it holds a collection.
    pub fn read_string<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<(&Meta, &[u8])>) -> R,
    ) -> Result<R, Error> {
        self.with_live(key, |v| match v {
            Some((m, _)) if m.vtype != ValueType::String => Err(Error::WrongType),
            Some((m, body)) => Ok(f(Some((&m, body)))),
            None => Ok(f(None)),
        })?
    }

    /// The key's current version, 0 when it does not exist.
    pub fn version_of(&self, key: &[u8]) -> Result<u64, Error> {
        Ok(self.meta(key)?.map(|m| m.version).unwrap_or(0))
    }

    /// Writes a whole record for `key` (any type).
    pub fn store(&mut self, key: &[u8], meta: &Meta, body: &[u8]) {
        self.write(
            (Cf::Meta, raw_key(self.space_of(key), key)),
            Some(envelope::encode_shared(meta, body)),
        );
    }

    /// Deletes `key` whatever its type, in O(1): a collection's members stay
    /// until compaction drops their dead generation. Returns whether it existed.
    pub fn remove(&mut self, key: &[u8]) -> Result<bool, Error> {
        if self.meta(key)?.is_none() {
            return Ok(false);
        }
        self.delete(Cf::Meta, raw_key(self.space_of(key), key));
        Ok(true)
    }

    /// Sets the expiry of a live key (0 = none) and bumps its version.
    pub fn set_expiry(&mut self, key: &[u8], expire_at_ms: u64) -> Result<bool, Error> {
        let Some((mut meta, body)) = self.load(key)? else {
            return Ok(false);
        };
        if expire_at_ms != 0 && expire_at_ms <= self.now_ms {
            return self.remove(key);
        }
        meta.expire_at_ms = expire_at_ms;
        meta.version = self.next_version();
        self.store(key, &meta, &body);
        Ok(true)
    }

    // ---- collections -----------------------------------------------------------

    /// The live collection `key` of type `t`; `WrongType` when the key holds
    /// another type.
    pub fn coll(&self, key: &[u8], t: ValueType) -> Result<Option<Coll>, Error> {
        let Some((meta, body)) = self.load(key)? else {
            return Ok(None);
        };
        if meta.vtype != t {
            return Err(Error::WrongType);
        }
        let size = be_u64(&body)?;
        let (mut head, mut tail) = (0, 0);
        let (mut low, mut high, mut dead) = (Vec::new(), Vec::new(), 0);
        match t {
            ValueType::List => {
                head = be_u64(body.get(8..).unwrap_or(&[]))?;
                tail = be_u64(body.get(16..).unwrap_or(&[]))?;
            }
            _ if meta.format < envelope::FORMAT_V2 => {}
            ValueType::Hash | ValueType::Set => dead = be_u64(body.get(8..).unwrap_or(&[]))?,
            ValueType::ZSet => {
                dead = be_u64(body.get(8..).unwrap_or(&[]))?;
                let mut rest = body.get(16..).unwrap_or(&[]);
                for bound in [&mut low, &mut high] {
                    let (b, r) = take_bytes(rest)?;
                    *bound = b.to_vec();
                    rest = r;
                }
            }
            ValueType::String | ValueType::Stream => {}
        }
        Ok(Some(Coll {
            prefix: subkey::prefix(self.space_of(key), key, meta.generation),
            meta,
            size,
            head,
            tail,
            dead,
            low,
            high,
        }))
    }

    /// The collection `key` of type `t`, or a new empty one (a new
    /// generation) to write into. `save` makes it exist.
    pub fn coll_or_new(&self, key: &[u8], t: ValueType) -> Result<Coll, Error> {
        if let Some(c) = self.coll(key, t)? {
            return Ok(c);
        }
        let generation = self.next_version();
        Ok(Coll {
            meta: Meta {
                format: envelope::FORMAT_V2,
                vtype: t,
                flags: 0,
                expire_at_ms: 0,
                version: generation,
                generation,
            },
            size: 0,
            head: LIST_ORIGIN,
            tail: LIST_ORIGIN,
            dead: 0,
            low: Vec::new(),
            high: Vec::new(),
            prefix: subkey::prefix(self.space_of(key), key, generation),
        })
    }

    /// Writes the collection's metadata with a new version; an empty
    /// collection is deleted (as in Redis).
    pub fn save(&mut self, key: &[u8], c: &mut Coll) {
        if c.size == 0 {
            self.delete(Cf::Meta, raw_key(self.space_of(key), key));
            return;
        }
        c.meta.version = self.next_version();
        if matches!(c.meta.vtype, ValueType::ZSet | ValueType::Hash) {
            // Format 1 hashes and sorted sets gain the format 2 fields on
            // their first write (a set's member layout cannot change).
            c.meta.format = envelope::FORMAT_V2;
        }
        if c.dead >= c.size.max(DEAD_BEFORE_COMPACTION) {
            self.compact.push(subkey_range(&c.prefix));
            c.dead = 0;
        }
        let body = c.body();
        self.store(key, &c.meta.clone(), &body);
    }

    /// Removes `members` of the collection `key` of type `t` (members whose
    /// subkey is the only one: hash fields, set members); returns how many
    /// were there.
    pub fn remove_members(
        &mut self,
        key: &[u8],
        t: ValueType,
        members: &[&[u8]],
    ) -> Result<u64, Error> {
        let Some(mut c) = self.coll(key, t)? else {
            return Ok(0);
        };
        self.writable()?;
        let mut removed = 0;
        for m in members {
            let k = c.member_key(m);
            if self.get(Cf::Sub, &k)?.is_some() {
                self.delete(Cf::Sub, k);
                removed += 1;
                c.size -= 1;
                c.dead += 1;
            }
        }
        if removed > 0 {
            self.save(key, &mut c);
        }
        Ok(removed)
    }

    /// Visits the members of `c` (`(member, value)`), ascending or descending.
    pub fn members(&self, c: &Coll, reverse: bool, f: &mut Visit<'_>) -> Result<(), Error> {
        let (lo, hi) = c.member_range();
        self.range(&lo, &hi, reverse, &mut |k, v| f(c.member_of(k), v))
    }

    /// Every member of `c` with its value, ascending.
    pub fn all_members(&self, c: &Coll) -> Result<Pairs, Error> {
        let mut out = Vec::with_capacity(c.size.min(1 << 16) as usize);
        self.members(c, false, &mut |m, v| {
            out.push((m.to_vec(), v.to_vec()));
            Ok(true)
        })?;
        Ok(out)
    }

    // ---- strings (batches and the generic command path) -----------------------

    /// The live string value of `key`; `WrongType` for collections.
    pub fn get_string(&self, key: &[u8]) -> Result<Option<(Meta, Vec<u8>)>, Error> {
        match self.load(key)? {
            None => Ok(None),
            Some((m, _)) if m.vtype != ValueType::String => Err(Error::WrongType),
            Some(x) => Ok(Some(x)),
        }
    }

    /// Writes a string (replacing a value of any type) with a new version.
    pub fn put_string(&mut self, key: &[u8], value: &[u8], expire_at_ms: u64) -> u64 {
        let version = self.next_version();
        self.store(key, &Meta::string(version, expire_at_ms), value);
        version
    }
}

/// What a range read merges over RocksDB: the staged group's subkeys in
/// the range, taken a chunk at a time, and this transaction's own writes on
/// top (a key in both takes the transaction's), in the read's order.
struct Overlay<'p> {
    part: &'p Partition,
    /// What of the range the staged group has not yet been read from.
    lo: Vec<u8>,
    hi: Vec<u8>,
    reverse: bool,
    staged: VecDeque<Written>,
    staged_done: bool,
    /// Entries the next copy of the staged group takes: a few first (a pop
    /// stops at its first live entry), more as the read goes on.
    chunk: usize,
    /// This transaction's writes in the range, in the read's order.
    own: std::iter::Peekable<std::vec::IntoIter<Written>>,
}

/// A subkey and its value, or `None` for a deletion.
/// (Shared with the overlay: a chunk copies no bytes.)
type Written = (Rc<[u8]>, Option<Rc<[u8]>>);

/// Staged subkeys a range read copies at a time: first, and at most.
const STAGED_FIRST: usize = 4;
const STAGED_CHUNK: usize = 32;

impl<'p> Overlay<'p> {
    fn new(tx: &Tx<'p>, lo: &[u8], hi: &[u8], reverse: bool) -> Self {
        let mut own = Vec::new();
        tx.writes.each_sub_in(lo, hi, |k, v| {
            own.push((Rc::from(k), v.as_deref().map(Rc::from)));
        });
        if reverse {
            own.reverse();
        }
        Overlay {
            part: tx.part,
            lo: lo.to_vec(),
            hi: hi.to_vec(),
            reverse,
            staged: VecDeque::new(),
            staged_done: false,
            chunk: STAGED_FIRST,
            own: own.into_iter().peekable(),
        }
    }

    fn staged_front(&mut self) -> Option<&Written> {
        if self.staged.is_empty() && !self.staged_done {
            let want = self.chunk;
            self.chunk = (want * 2).min(STAGED_CHUNK);
            let chunk = self
                .part
                .staged_sub_chunk(&self.lo, &self.hi, self.reverse, want);
            self.staged_done = chunk.len() < want;
            if let Some((last, _)) = chunk.last() {
                // Narrow the rest of the range to beyond the chunk's last key.
                if self.reverse {
                    self.hi = last.to_vec();
                } else {
                    self.lo.clear();
                    self.lo.extend_from_slice(last);
                    self.lo.push(0);
                }
            }
            self.staged.extend(chunk);
        }
        self.staged.front()
    }

    /// Whether the next entry is the staged group's (not this transaction's).
    fn next_is_staged(&mut self) -> Option<bool> {
        self.staged_front();
        let reverse = self.reverse;
        let first = match (self.staged.front(), self.own.peek()) {
            (None, None) => return None,
            (Some(_), None) => return Some(true),
            (None, Some(_)) => return Some(false),
            (Some((s, _)), Some((o, _))) if s == o => None,
            (Some((s, _)), Some((o, _))) => Some(if reverse { s > o } else { s < o }),
        };
        if first.is_none() {
            // The transaction's write shadows the staged one.
            self.staged.pop_front();
        }
        Some(first.unwrap_or(false))
    }

    fn peek(&mut self) -> Option<&Written> {
        match self.next_is_staged()? {
            true => self.staged.front(),
            false => self.own.peek(),
        }
    }

    fn next(&mut self) -> Option<Written> {
        match self.next_is_staged()? {
            true => self.staged.pop_front(),
            false => self.own.next(),
        }
    }
}
