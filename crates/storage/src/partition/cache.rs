//! The partition's read cache: what recently read or written keys and
//! collection members hold, including that they are absent, bounded in
//! bytes, evicting the oldest first.
//!
//! It is exact because the core owns its partition: every write passes
//! through the partition's overlay and reaches the cache when its group
//! commits, and whatever writes around the overlay (replication, a full
//! sync, FLUSHALL) clears it.

use std::rc::Rc;

use ahash::AHashMap;

use super::window::Windows;
use super::Cf;

/// Values larger than this are not kept in the read cache.
const CACHE_MAX_VALUE: usize = 64 << 10;
/// Bookkeeping bytes counted per cached entry.
const CACHE_ENTRY_OVERHEAD: usize = 64;

/// What the cache knows of a key: its stored bytes, or `None` when the key
/// is absent (a read found nothing, or a deletion committed).
pub(crate) type Known = Option<Rc<[u8]>>;

type Map = AHashMap<Vec<u8>, Known>;

/// One generation: metadata records and strings, and collection members
/// (two maps, because a subkey's bytes can equal some string's key).
#[derive(Default)]
struct Generation {
    meta: Map,
    sub: Map,
}

impl Generation {
    fn of(&mut self, cf: Cf) -> &mut Map {
        match cf {
            Cf::Meta => &mut self.meta,
            Cf::Sub => &mut self.sub,
        }
    }

    fn len(&self) -> usize {
        self.meta.len() + self.sub.len()
    }
}

/// The read cache of a partition, bounded in bytes. Two generations
/// approximate LRU in O(1): entries go into the current one; when it holds
/// half the budget it becomes the old one (the previous old one is
/// dropped), and a hit in the old generation moves the entry back into
/// the current one.
pub(crate) struct ReadCache {
    cur: Generation,
    old: Generation,
    cur_bytes: usize,
    limit: usize,
    pub hits: u64,
    pub misses: u64,
    /// Read-ahead windows of range reads (`window.rs`), kept exact and
    /// cleared with the cache.
    pub(crate) windows: Windows,
}

fn cost(raw: &[u8], v: &Known) -> usize {
    raw.len() + v.as_ref().map_or(0, |v| v.len()) + CACHE_ENTRY_OVERHEAD
}

fn cacheable(v: &Known) -> bool {
    v.as_ref().is_none_or(|v| v.len() <= CACHE_MAX_VALUE)
}

impl ReadCache {
    pub(crate) fn new(limit: usize) -> ReadCache {
        ReadCache {
            cur: Generation::default(),
            old: Generation::default(),
            cur_bytes: 0,
            limit,
            hits: 0,
            misses: 0,
            windows: Windows::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.limit > 0
    }

    /// What the cache knows of `raw`: `None` when it does not know.
    pub(crate) fn get(&mut self, cf: Cf, raw: &[u8]) -> Option<Known> {
        if self.limit == 0 {
            return None;
        }
        if let Some(v) = self.cur.of(cf).get(raw) {
            self.hits += 1;
            return Some(v.clone());
        }
        match self.old.of(cf).remove_entry(raw) {
            Some((k, v)) => {
                self.hits += 1;
                self.insert(cf, k, v.clone());
                Some(v)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Drops what the cache knows of `raw` (its read-ahead windows stay): a
    /// write absorbed into the overlay shadows it until a drain writes the
    /// new value to RocksDB, after which a read finds it there.
    pub(crate) fn shadowed(&mut self, cf: Cf, raw: &[u8]) {
        if self.cur.len() + self.old.len() == 0 {
            return;
        }
        if let Some(old) = self.cur.of(cf).remove(raw) {
            self.cur_bytes -= cost(raw, &old);
        }
        self.old.of(cf).remove(raw);
    }

    /// Keeps what a read from RocksDB found (`get` knew nothing of it).
    pub(crate) fn fill(&mut self, cf: Cf, raw: &[u8], v: Known) {
        if self.limit > 0 && cacheable(&v) {
            self.insert(cf, raw.to_vec(), v);
        }
    }

    fn insert(&mut self, cf: Cf, raw: Vec<u8>, v: Known) {
        self.cur_bytes += cost(&raw, &v);
        let key_len = raw.len();
        if let Some(old) = self.cur.of(cf).insert(raw, v) {
            // Only `fill` after a miss and `get` moving an old entry insert,
            // so the key is new to this generation; keep the count exact anyway.
            self.cur_bytes -= key_len + old.map_or(0, |o| o.len()) + CACHE_ENTRY_OVERHEAD;
        }
        self.turn_over_if_full();
    }

    /// The current generation holds half the budget: it becomes the old
    /// one, and the previous old one goes. The new generation starts with
    /// the room the last one ended with, so it never rehashes on the way.
    fn turn_over_if_full(&mut self) {
        if self.cur_bytes > self.limit / 2 {
            let room = Generation {
                meta: Map::with_capacity(self.cur.meta.len()),
                sub: Map::with_capacity(self.cur.sub.len()),
            };
            self.old = std::mem::replace(&mut self.cur, room);
            self.cur_bytes = 0;
        }
    }

    /// A new budget (CONFIG SET read-cache-bytes). A smaller one starts
    /// the cache afresh, so it holds no more than the new budget at once;
    /// 0 turns it off (and empty, so it is exact when turned on again).
    pub(crate) fn set_limit(&mut self, limit: usize) {
        if limit < self.limit {
            self.clear();
        }
        self.limit = limit;
    }

    pub(crate) fn clear(&mut self) {
        self.cur = Generation::default();
        self.old = Generation::default();
        self.cur_bytes = 0;
        self.windows.clear();
    }

    /// Entries kept (both generations, both column families).
    pub(crate) fn len(&self) -> usize {
        self.cur.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Known {
        Some(Rc::from(s.as_bytes()))
    }

    #[test]
    fn knows_values_and_absence_per_column_family() {
        let mut c = ReadCache::new(1 << 20);
        assert_eq!(c.get(Cf::Meta, b"k"), None);
        c.fill(Cf::Meta, b"k", None);
        assert_eq!(c.get(Cf::Meta, b"k"), Some(None));
        // The same bytes as a subkey are another key.
        assert_eq!(c.get(Cf::Sub, b"k"), None);
        c.fill(Cf::Sub, b"k", v("member"));
        assert_eq!(c.get(Cf::Sub, b"k"), Some(v("member")));
        assert_eq!(c.get(Cf::Meta, b"k"), Some(None));
        // An absorbed write shadows it: the cache forgets it.
        c.shadowed(Cf::Sub, b"k");
        c.fill(Cf::Sub, b"k", None);
        assert_eq!(c.get(Cf::Sub, b"k"), Some(None));
        c.shadowed(Cf::Sub, b"k");
        assert_eq!(c.get(Cf::Sub, b"k"), None);
        assert_eq!((c.hits, c.misses), (4, 3));
    }

    #[test]
    fn large_values_are_forgotten_not_kept() {
        let mut c = ReadCache::new(1 << 30);
        c.fill(Cf::Meta, b"k", v("small"));
        c.shadowed(Cf::Meta, b"k");
        let big: Known = Some(Rc::from(vec![0u8; CACHE_MAX_VALUE + 1]));
        c.fill(Cf::Meta, b"k", big);
        assert_eq!(c.get(Cf::Meta, b"k"), None);
        assert_eq!(c.cur_bytes, 0);
    }

    #[test]
    fn the_budget_evicts_the_oldest_generation() {
        // Each entry costs 1 + 10 + 64 = 75 bytes; half of 1,000 is 6 entries.
        let mut c = ReadCache::new(1000);
        for i in 0..20u8 {
            c.fill(Cf::Sub, &[i], Some(Rc::from(vec![i; 10])));
            assert!(c.cur_bytes <= 500, "{} bytes after {i}", c.cur_bytes);
        }
        assert!(c.len() <= 14, "{} entries", c.len());
        assert_eq!(c.get(Cf::Sub, &[0]), None);
        assert_eq!(c.get(Cf::Sub, &[19]), Some(Some(Rc::from(vec![19u8; 10]))));
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
