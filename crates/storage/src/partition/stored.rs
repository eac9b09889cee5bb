//! What a range read finds in RocksDB: an iterator, or for the pops that
//! ask for it (`Ahead::Extend`), read-ahead windows (`window.rs`) filled a
//! chunk at a time, so consecutive pops of one collection read RocksDB
//! once per `WINDOW_CHUNK` entries.

use std::ops::Bound::{Excluded, Included};
use std::rc::Rc;

use rocksdb::{DBRawIterator, ErrorKind};

use super::window::{MAX_WINDOW_ENTRIES, WINDOW_CHUNK, WINDOW_MAX_BYTES, WINDOW_MAX_ENTRY};
use super::Partition;

/// How a range read reads RocksDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ahead {
    /// A plain iterator (reads that visit a range once).
    No,
    /// Read-ahead windows, extended chunk by chunk as the read goes on (a
    /// pop at an end: the next pop starts where this one stopped).
    Extend,
}

/// Where a stored read stands when it has no entry.
pub(crate) enum Status {
    Ok,
    /// RocksDB would have had to read disk.
    WouldBlock,
    Failed(rocksdb::Error),
}

fn status_of(it: &DBRawIterator<'_>) -> Status {
    match it.status() {
        Ok(()) => Status::Ok,
        Err(e) if e.kind() == ErrorKind::Incomplete => Status::WouldBlock,
        Err(e) => Status::Failed(e),
    }
}

/// The stored entries of `[lo, hi)` in the read's order.
pub(crate) enum Stored<'p> {
    Iter(DBRawIterator<'p>),
    Window(Box<WindowRead<'p>>),
}

pub(crate) struct WindowRead<'p> {
    part: &'p Partition,
    lo: Vec<u8>,
    hi: Vec<u8>,
    reverse: bool,
    /// Forward: the entries still to come are `>= pos`; reverse: `< pos`.
    pos: Vec<u8>,
    cur: Option<(Vec<u8>, Rc<[u8]>)>,
    /// The rest of the range through a plain iterator (a window that may
    /// not grow further, or a value too large for one).
    rest: Option<DBRawIterator<'p>>,
    status: Status,
}

impl Partition {
    /// The stored entries of `[lo, hi)`, positioned at the first (the last
    /// when `reverse`).
    pub(crate) fn stored(&self, lo: &[u8], hi: &[u8], reverse: bool, ahead: Ahead) -> Stored<'_> {
        if ahead == Ahead::No || !self.windows_usable() {
            let mut it = self.sub_iter(lo, hi);
            if reverse {
                it.seek_to_last();
            } else {
                it.seek_to_first();
            }
            return Stored::Iter(it);
        }
        let mut w = WindowRead {
            part: self,
            lo: lo.to_vec(),
            hi: hi.to_vec(),
            reverse,
            pos: if reverse { hi.to_vec() } else { lo.to_vec() },
            cur: None,
            rest: None,
            status: Status::Ok,
        };
        w.fetch();
        Stored::Window(Box::new(w))
    }

    /// A random stored key of `[lo, hi)` that a read-ahead window holds
    /// (`r` chooses it), if any: where a random pop's seek starts.
    pub(crate) fn window_pick(&self, lo: &[u8], hi: &[u8], r: u64) -> Option<Vec<u8>> {
        if !self.windows_usable() {
            return None;
        }
        self.cache.borrow().windows.pick(lo, hi, r)
    }

    /// Whether read-ahead windows may be read: the cache is on, and no
    /// FLUSHALL is staged (after one nothing stored is visible).
    fn windows_usable(&self) -> bool {
        self.flushed.get().is_none() && self.cache.borrow().enabled()
    }

    /// Reads up to `WINDOW_CHUNK` stored entries of `[lo, hi)` from the
    /// end the read starts at (fewer when they reach a quarter of
    /// `WINDOW_MAX_BYTES`), and adds them as a window. `false` when it
    /// could not (an entry too large for a window; `status` tells whether
    /// RocksDB would have blocked).
    fn fill_window(&self, lo: &[u8], hi: &[u8], reverse: bool, status: &mut Status) -> bool {
        let mut it = self.sub_iter(lo, hi);
        if reverse {
            it.seek_to_last();
        } else {
            it.seek_to_first();
        }
        let mut read = Vec::new();
        let mut last: Vec<u8> = Vec::new();
        let (mut seen, mut bytes) = (0, 0);
        let p = self.pending.borrow();
        while seen < WINDOW_CHUNK && bytes < WINDOW_MAX_BYTES / 4 && it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if k.len() + v.len() > WINDOW_MAX_ENTRY {
                return false;
            }
            seen += 1;
            bytes += k.len() + v.len();
            last.clear();
            last.extend_from_slice(k);
            // A staged deletion is not in a window (`Windows::staged_delete`):
            // the pops of one group would otherwise read past it again.
            if !matches!(p.sub.get(k), Some((_, None))) {
                read.push((k.to_vec(), Rc::from(v)));
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        if !it.valid() {
            match status_of(&it) {
                Status::Ok => {}
                s => {
                    *status = s;
                    return false;
                }
            }
        }
        drop(p);
        let full = it.valid();
        let (start, end) = match (reverse, full) {
            // The last entry read bounds the window.
            (false, true) => (lo.to_vec(), [last.as_slice(), &[0]].concat()),
            (true, true) => (last, hi.to_vec()),
            (_, false) => (lo.to_vec(), hi.to_vec()),
        };
        self.stats
            .read_ahead
            .set(self.stats.read_ahead.get() + read.len() as u64);
        self.cache.borrow_mut().windows.add(start, end, read);
        true
    }
}

impl<'p> WindowRead<'p> {
    /// Finds the next entry from `pos` on (below `pos` in reverse).
    fn fetch(&mut self) {
        self.cur = None;
        loop {
            let done = if self.reverse {
                self.pos <= self.lo
            } else {
                self.pos >= self.hi
            };
            if done && self.rest.is_none() {
                return;
            }
            if let Some(it) = &mut self.rest {
                if let (Some(k), Some(v)) = (it.key(), it.value()) {
                    self.cur = Some((k.to_vec(), Rc::from(v)));
                } else {
                    self.status = status_of(it);
                }
                return;
            }
            let next = {
                let cache = self.part.cache.borrow();
                let found = if self.reverse {
                    cache.windows.holding_below(&self.pos)
                } else {
                    cache.windows.holding(&self.pos)
                };
                found.map(|(start, w)| {
                    let entry = if self.reverse {
                        let from = start.max(&self.lo).as_slice();
                        w.entries
                            .range::<[u8], _>((Included(from), Excluded(self.pos.as_slice())))
                            .next_back()
                    } else {
                        let to = w.end.as_slice().min(self.hi.as_slice());
                        w.entries
                            .range::<[u8], _>((Included(self.pos.as_slice()), Excluded(to)))
                            .next()
                    };
                    let edge = if self.reverse {
                        start.clone()
                    } else {
                        w.end.clone()
                    };
                    (
                        entry.map(|(k, v)| (k.clone(), v.clone())),
                        edge,
                        w.entries.len(),
                    )
                })
            };
            match next {
                Some((Some((k, v)), _, _)) => {
                    self.pos = if self.reverse {
                        k.clone()
                    } else {
                        [k.as_slice(), &[0]].concat()
                    };
                    self.cur = Some((k, v));
                    return;
                }
                Some((None, edge, held)) => {
                    // This window has nothing more in the read's range.
                    let done = if self.reverse {
                        edge <= self.lo
                    } else {
                        edge >= self.hi
                    };
                    if done {
                        return;
                    }
                    self.pos = edge;
                    if held >= MAX_WINDOW_ENTRIES || !self.fill_at_pos() {
                        self.go_plain();
                    }
                }
                None => {
                    if !self.fill_at_pos() {
                        self.go_plain();
                    }
                }
            }
            if !matches!(self.status, Status::Ok) {
                return;
            }
        }
    }

    fn fill_at_pos(&mut self) -> bool {
        let (lo, hi) = if self.reverse {
            (self.lo.as_slice(), self.pos.as_slice())
        } else {
            (self.pos.as_slice(), self.hi.as_slice())
        };
        self.part
            .fill_window(lo, hi, self.reverse, &mut self.status)
    }

    /// The rest of the range through a plain iterator.
    fn go_plain(&mut self) {
        if !matches!(self.status, Status::Ok) {
            return;
        }
        let mut it = if self.reverse {
            self.part.sub_iter(&self.lo, &self.pos)
        } else {
            self.part.sub_iter(&self.pos, &self.hi)
        };
        if self.reverse {
            it.seek_to_last();
        } else {
            it.seek_to_first();
        }
        self.rest = Some(it);
    }

    fn advance(&mut self) {
        match &mut self.rest {
            Some(it) if self.reverse => it.prev(),
            Some(it) => it.next(),
            None => {}
        }
        self.fetch();
    }
}

impl Stored<'_> {
    /// The current entry, if any.
    pub(crate) fn entry(&self) -> Option<(&[u8], &[u8])> {
        match self {
            Stored::Iter(it) => it.key().zip(it.value()),
            Stored::Window(w) => w.cur.as_ref().map(|(k, v)| (k.as_slice(), &v[..])),
        }
    }

    /// Why there is no current entry (`Status::Ok`: the range is done).
    pub(crate) fn status(&self) -> Status {
        match self {
            Stored::Iter(it) => status_of(it),
            Stored::Window(w) => match &w.status {
                Status::Ok => Status::Ok,
                Status::WouldBlock => Status::WouldBlock,
                Status::Failed(e) => Status::Failed(e.clone()),
            },
        }
    }

    pub(crate) fn advance(&mut self, reverse: bool) {
        match self {
            Stored::Iter(it) if reverse => it.prev(),
            Stored::Iter(it) => it.next(),
            Stored::Window(w) => w.advance(),
        }
    }
}
