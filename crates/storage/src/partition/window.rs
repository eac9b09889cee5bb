//! Read-ahead windows: exact in-memory copies of the stored `sub` entries
//! of small key ranges, so the pops that walk a collection from one end
//! (ZPOPMIN, ZPOPMAX) read RocksDB once per chunk of entries instead of
//! creating and seeking an iterator per pop.
//!
//! A window `[start, end)` holds every entry RocksDB has committed in that
//! range, and nothing else. It stays exact the way the read cache does:
//! every committed subkey write passes `committed`, a write whose outcome
//! is unknown drops the window that holds it (`forget`), and whatever
//! writes around the overlay clears all windows with the cache. Staged
//! deletions leave their window at once (`staged_delete`): a read merges
//! the staged group on top anyway, and if the group then fails the window
//! is dropped.
//!
//! Windows never overlap, so the one holding a key is the last window
//! starting at or before it.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::rc::Rc;

/// Entries one read from RocksDB adds to a window.
pub const WINDOW_CHUNK: usize = 128;
/// Windows a partition keeps; a new one beyond this drops the oldest.
const MAX_WINDOWS: usize = 64;
/// Entries a window holds at most; a window is not extended beyond it.
pub(crate) const MAX_WINDOW_ENTRIES: usize = 4096;
/// Entries (key and value) larger than this never enter a window (the read
/// goes on with a plain iterator).
pub(crate) const WINDOW_MAX_ENTRY: usize = 4096;
/// Bytes of keys and values one window holds at most (64 windows: 16 MiB
/// per partition at worst); a chunk read stops at a quarter of it.
pub(crate) const WINDOW_MAX_BYTES: usize = 256 << 10;

pub(crate) struct Window {
    /// One past the last key the window knows (exclusive).
    pub(crate) end: Vec<u8>,
    pub(crate) entries: BTreeMap<Vec<u8>, Rc<[u8]>>,
    /// Bytes of the entries' keys and values.
    bytes: usize,
    /// When the window was made, for evicting the oldest.
    born: u64,
}

impl Window {
    fn insert(&mut self, k: Vec<u8>, v: Rc<[u8]>) {
        let add = k.len() + v.len();
        let klen = k.len();
        if let Some(old) = self.entries.insert(k, v) {
            self.bytes -= klen + old.len();
        }
        self.bytes += add;
    }

    fn remove(&mut self, k: &[u8]) {
        if let Some(old) = self.entries.remove(k) {
            self.bytes -= k.len() + old.len();
        }
    }
}

#[derive(Default)]
pub(crate) struct Windows {
    by_start: BTreeMap<Vec<u8>, Window>,
    made: u64,
}

impl Windows {
    pub(crate) fn is_empty(&self) -> bool {
        self.by_start.is_empty()
    }

    /// The window holding `key`: its start and itself.
    pub(crate) fn holding(&self, key: &[u8]) -> Option<(&Vec<u8>, &Window)> {
        let (start, w) = self
            .by_start
            .range::<[u8], _>((Unbounded, Included(key)))
            .next_back()?;
        (key < w.end.as_slice()).then_some((start, w))
    }

    /// The window whose range ends exactly at `end` or holds the key just
    /// below it (a reverse read from `end`).
    pub(crate) fn holding_below(&self, end: &[u8]) -> Option<(&Vec<u8>, &Window)> {
        let (start, w) = self
            .by_start
            .range::<[u8], _>((Unbounded, Excluded(end)))
            .next_back()?;
        (end <= w.end.as_slice()).then_some((start, w))
    }

    /// Adds the entries `[start, end)` read from RocksDB. Windows it
    /// overlaps or touches are merged into it (two exact copies of one
    /// committed state agree where they overlap, so their union is exact),
    /// or dropped when the merged window would pass its budget: the pops at
    /// the two ends of a small sorted set share one window.
    pub(crate) fn add(&mut self, start: Vec<u8>, end: Vec<u8>, read: Vec<(Vec<u8>, Rc<[u8]>)>) {
        self.made += 1;
        let mut w = Window {
            end,
            entries: BTreeMap::new(),
            bytes: 0,
            born: self.made,
        };
        for (k, v) in read {
            w.insert(k, v);
        }
        let mut start = start;
        let met: Vec<Vec<u8>> = self
            .by_start
            .range::<[u8], _>((Unbounded, Included(w.end.as_slice())))
            .rev()
            .take_while(|(_, o)| o.end >= start)
            .map(|(s, _)| s.clone())
            .collect();
        for s in met {
            let o = self.by_start.remove(&s).expect("listed");
            let fits = w.bytes + o.bytes <= WINDOW_MAX_BYTES
                && w.entries.len() + o.entries.len() <= MAX_WINDOW_ENTRIES;
            if !fits {
                // One that only touches stays as it is; one that overlaps goes.
                if o.end == start || s == w.end {
                    self.by_start.insert(s, o);
                }
                continue;
            }
            if s < start {
                start = s;
            }
            if o.end > w.end {
                w.end = o.end;
            }
            for (k, v) in o.entries {
                if !w.entries.contains_key(&k) {
                    w.insert(k, v);
                }
            }
        }
        if self.by_start.len() >= MAX_WINDOWS {
            let oldest = self
                .by_start
                .iter()
                .min_by_key(|(_, w)| w.born)
                .map(|(s, _)| s.clone())
                .expect("not empty");
            self.by_start.remove(&oldest);
        }
        self.by_start.insert(start, w);
    }

    /// A key of `[lo, hi)` that a window holds, chosen by `r` among those
    /// of the highest window holding any.
    pub(crate) fn pick(&self, lo: &[u8], hi: &[u8], r: u64) -> Option<Vec<u8>> {
        let inside = (Included(lo), Excluded(hi));
        for (_, w) in self
            .by_start
            .range::<[u8], _>((Unbounded, Excluded(hi)))
            .rev()
        {
            if w.end.as_slice() <= lo {
                // Windows never overlap: the ones below end lower still.
                break;
            }
            let n = w.entries.range::<[u8], _>(inside).count() as u64;
            if n > 0 {
                let i = (r % n) as usize;
                return w
                    .entries
                    .range::<[u8], _>(inside)
                    .nth(i)
                    .map(|(k, _)| k.clone());
            }
        }
        None
    }

    fn holding_mut(&mut self, key: &[u8]) -> Option<&mut Window> {
        let (_, w) = self
            .by_start
            .range_mut::<[u8], _>((Unbounded, Included(key)))
            .next_back()?;
        (key < w.end.as_slice()).then_some(w)
    }

    /// A subkey write committed: the window holding it takes it.
    pub(crate) fn committed(&mut self, raw: &[u8], v: Option<&Rc<[u8]>>) {
        if self.by_start.is_empty() {
            return;
        }
        let Some(w) = self.holding_mut(raw) else {
            return;
        };
        match v {
            None => w.remove(raw),
            Some(v)
                if raw.len() + v.len() <= WINDOW_MAX_ENTRY
                    && w.entries.len() < MAX_WINDOW_ENTRIES
                    && w.bytes + raw.len() + v.len() <= WINDOW_MAX_BYTES =>
            {
                w.insert(raw.to_vec(), v.clone())
            }
            // Too large to keep: the window goes, so it never misses it.
            Some(_) => self.forget(raw),
        }
    }

    /// A deletion was staged: it leaves its window now.
    pub(crate) fn staged_delete(&mut self, raw: &[u8]) {
        if let Some(w) = self.holding_mut(raw) {
            w.remove(raw);
        }
    }

    /// A write's outcome is unknown: the window holding it goes.
    pub(crate) fn forget(&mut self, raw: &[u8]) {
        if let Some((start, _)) = self.holding(raw) {
            let start = start.clone();
            self.by_start.remove(&start);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.by_start.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(k: &str) -> (Vec<u8>, Rc<[u8]>) {
        (k.as_bytes().to_vec(), Rc::from(&b""[..]))
    }

    fn keys(w: &Windows, start: &str) -> Vec<String> {
        let w = &w.by_start[start.as_bytes()];
        w.entries
            .keys()
            .map(|k| String::from_utf8(k.clone()).unwrap())
            .collect()
    }

    #[test]
    fn windows_follow_commits_and_extend_at_either_end() {
        let mut w = Windows::default();
        w.add(b"c".to_vec(), b"f".to_vec(), vec![e("c"), e("d")]);
        assert!(w.holding(b"e").is_some());
        assert!(w.holding(b"f").is_none());
        assert!(w.holding(b"b").is_none());
        // A committed put inside joins; one outside does not.
        w.committed(b"e", Some(&Rc::from(&b"v"[..])));
        w.committed(b"g", Some(&Rc::from(&b"v"[..])));
        assert_eq!(keys(&w, "c"), ["c", "d", "e"]);
        // A staged deletion leaves at once; a committed one too.
        w.staged_delete(b"c");
        w.committed(b"d", None);
        assert_eq!(keys(&w, "c"), ["e"]);
        // Extended upwards, then downwards: still one window.
        w.add(b"f".to_vec(), b"h".to_vec(), vec![e("g")]);
        w.add(b"a".to_vec(), b"c".to_vec(), vec![e("b")]);
        assert_eq!(w.by_start.len(), 1);
        assert_eq!(keys(&w, "a"), ["b", "e", "g"]);
        assert_eq!(w.by_start[&b"a"[..]].end, b"h");
        assert!(w.holding_below(b"h").is_some());
        assert!(w.holding_below(b"a").is_none());
        // A write of unknown outcome drops the window.
        w.forget(b"f");
        assert!(w.is_empty());
    }

    #[test]
    fn overlapping_windows_merge_and_the_oldest_is_evicted() {
        let mut w = Windows::default();
        w.add(b"a".to_vec(), b"d".to_vec(), vec![e("b")]);
        w.add(b"m".to_vec(), b"p".to_vec(), vec![e("n")]);
        // Overlaps the first: one window over both ranges.
        w.add(b"c".to_vec(), b"e".to_vec(), vec![e("c")]);
        assert_eq!(w.by_start.len(), 2);
        assert_eq!(keys(&w, "a"), ["b", "c"]);
        assert_eq!(w.by_start[&b"a"[..]].end, b"e");
        // Touches both: all three become one.
        w.add(b"e".to_vec(), b"m".to_vec(), vec![e("f")]);
        assert_eq!(w.by_start.len(), 1);
        assert_eq!(keys(&w, "a"), ["b", "c", "f", "n"]);
        assert_eq!(w.by_start[&b"a"[..]].end, b"p");
        for i in 0..(MAX_WINDOWS as u8 + 4) {
            w.add(vec![b'q', i, 0], vec![b'q', i, 1], vec![]);
        }
        assert_eq!(w.by_start.len(), MAX_WINDOWS);
        assert!(w.holding(b"n").is_none(), "the oldest went first");
    }

    #[test]
    fn windows_stay_within_their_byte_budget() {
        let mut w = Windows::default();
        let big = |k: &str| {
            (
                k.as_bytes().to_vec(),
                Rc::from(vec![0u8; WINDOW_MAX_ENTRY - 8]),
            )
        };
        let chunk: Vec<_> = (0..40).map(|i| big(&format!("a{i:03}"))).collect();
        w.add(b"a".to_vec(), b"b".to_vec(), chunk);
        let bytes = w.by_start[&b"a"[..]].bytes;
        assert_eq!(bytes, 40 * (4 + WINDOW_MAX_ENTRY - 8));
        // A chunk that would take the window past the budget becomes a
        // window of its own.
        let chunk: Vec<_> = (0..40).map(|i| big(&format!("b{i:03}"))).collect();
        w.add(b"b".to_vec(), b"c".to_vec(), chunk);
        assert_eq!(w.by_start.len(), 2);
        assert!(w.by_start.values().all(|x| x.bytes <= WINDOW_MAX_BYTES));
        // A committed entry that would pass the budget drops the window.
        for i in 0..40 {
            w.committed(format!("b{i:03}x").as_bytes(), Some(&big("x").1));
        }
        assert!(w.holding(b"b000").is_none());
        // Removing entries gives their bytes back.
        w.add(b"d".to_vec(), b"e".to_vec(), vec![big("d1"), big("d2")]);
        w.committed(b"d1", None);
        w.staged_delete(b"d2");
        assert_eq!(w.by_start[&b"d"[..]].bytes, 0);
    }
}
