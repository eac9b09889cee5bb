//! The partition's read cache: recently read and written values by stored
//! key, bounded in bytes, evicting the oldest first.

use std::rc::Rc;

use ahash::AHashMap;

/// Values larger than this are not kept in the read cache.
const CACHE_MAX_VALUE: usize = 64 << 10;
/// Bookkeeping bytes counted per cached entry.
const CACHE_ENTRY_OVERHEAD: usize = 64;

/// The read cache of a partition: committed envelopes by raw key, bounded
/// in bytes. Two generations approximate LRU in O(1): entries go into the
/// current map; when it holds half the budget it becomes the old one (the
/// previous old one is dropped), and a hit in the old map moves the entry
/// back into the current one.
pub(crate) struct ReadCache {
    cur: AHashMap<Vec<u8>, Rc<[u8]>>,
    old: AHashMap<Vec<u8>, Rc<[u8]>>,
    cur_bytes: usize,
    limit: usize,
    pub hits: u64,
    pub misses: u64,
}

impl ReadCache {
    pub(crate) fn new(limit: usize) -> ReadCache {
        ReadCache {
            cur: AHashMap::new(),
            old: AHashMap::new(),
            cur_bytes: 0,
            limit,
            hits: 0,
            misses: 0,
        }
    }

    pub(crate) fn cost(raw: &[u8], v: &[u8]) -> usize {
        raw.len() + v.len() + CACHE_ENTRY_OVERHEAD
    }

    pub(crate) fn enabled(&self) -> bool {
        self.limit > 0
    }

    pub(crate) fn get(&mut self, raw: &[u8]) -> Option<Rc<[u8]>> {
        if self.limit == 0 {
            return None;
        }
        if let Some(v) = self.cur.get(raw) {
            self.hits += 1;
            return Some(v.clone());
        }
        match self.old.remove_entry(raw) {
            Some((k, v)) => {
                self.hits += 1;
                self.insert(k, v.clone());
                Some(v)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// A write committed: the cache takes the new value (write-through, so
    /// a read after a write hits), or drops the key for a deletion or a
    /// large value. One hash probe when the key is cached already; a stale
    /// copy in the old generation is shadowed by the current one.
    pub(crate) fn committed(&mut self, raw: Vec<u8>, v: Option<Rc<[u8]>>) {
        if self.limit == 0 {
            return;
        }
        match v.filter(|v| v.len() <= CACHE_MAX_VALUE) {
            Some(v) => match self.cur.entry(raw) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    self.cur_bytes = self.cur_bytes + v.len() - e.get().len();
                    e.insert(v);
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    self.cur_bytes += Self::cost(e.key(), &v);
                    e.insert(v);
                    self.turn_over_if_full();
                }
            },
            None => {
                if let Some(old) = self.cur.remove(&raw) {
                    self.cur_bytes -= Self::cost(&raw, &old);
                }
                self.old.remove(&raw);
            }
        }
    }

    /// Keeps a value just read from RocksDB (`get` found the key in
    /// neither generation).
    pub(crate) fn fill(&mut self, raw: &[u8], v: Rc<[u8]>) {
        if v.len() <= CACHE_MAX_VALUE {
            self.insert(raw.to_vec(), v);
        }
    }

    pub(crate) fn insert(&mut self, raw: Vec<u8>, v: Rc<[u8]>) {
        self.cur_bytes += Self::cost(&raw, &v);
        self.cur.insert(raw, v);
        self.turn_over_if_full();
    }

    /// The current generation holds half the budget: it becomes the old
    /// one, and the previous old one goes.
    pub(crate) fn turn_over_if_full(&mut self) {
        if self.cur_bytes > self.limit / 2 {
            self.old = std::mem::take(&mut self.cur);
            self.cur_bytes = 0;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.cur.clear();
        self.old.clear();
        self.cur_bytes = 0;
    }

    /// Entries kept (both generations).
    pub(crate) fn len(&self) -> usize {
        self.cur.len() + self.old.len()
    }
}
