//! A core's slow log (SLOWLOG, docs/redis-compat.md): the requests that
//! ran on this core for at least `slowlog-log-slower-than` microseconds,
//! newest first, at most `slowlog-max-len` of them. SLOWLOG gathers every
//! core's (opcode SLOWLOGCTL) and merges them by id, which is unique and
//! increasing across the node.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::proto::slowlog::{argv, Entry};
use crate::proto::Request;

/// The next entry's id, shared by every core.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
pub struct SlowLog {
    entries: RefCell<VecDeque<Entry>>,
}

impl SlowLog {
    /// Records `req`, which ran for `micros`, keeping the newest `max_len`.
    pub fn record(&self, max_len: usize, req: &Request<'_>, micros: u64) {
        if max_len == 0 {
            return;
        }
        let e = Entry {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            time: crate::shard::clock::now_ms() / 1000,
            micros,
            args: argv(req),
            client: Vec::new(),
            name: Vec::new(),
        };
        let mut entries = self.entries.borrow_mut();
        entries.push_front(e);
        entries.truncate(max_len);
    }

    /// The newest `count` entries, encoded one after another.
    pub fn newest(&self, count: usize, out: &mut Vec<u8>) {
        for e in self.entries.borrow().iter().take(count) {
            e.encode(out);
        }
    }

    pub fn entries(&self) -> u64 {
        self.entries.borrow().len() as u64
    }

    /// Clears the log; how many entries it held.
    pub fn reset(&self) -> u64 {
        let mut e = self.entries.borrow_mut();
        let n = e.len() as u64;
        e.clear();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_entries_are_kept() {
        let log = SlowLog::default();
        for i in 0..5u8 {
            log.record(3, &Request::Ping(&[b'a' + i]), u64::from(i));
        }
        assert_eq!(log.entries(), 3);
        let mut b = Vec::new();
        log.newest(2, &mut b);
        let got = Entry::decode_all(&b).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].args, [b"PING".to_vec(), b"e".to_vec()]);
        assert_eq!(got[1].micros, 3);
        assert!(got[0].id > got[1].id);
        log.record(0, &Request::Ping(b"x"), 9);
        assert_eq!(log.entries(), 3);
        assert_eq!(log.reset(), 3);
        assert_eq!(log.entries(), 0);
    }
}
