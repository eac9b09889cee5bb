//! Key scans of a partition: pages of live keys from a (slot, key) position,
//! at most 1,024 slots per page, run in the blocking pool.

use rocksdb::{ReadOptions, DB};

use super::{raw_key, storage, Partition, META_PREFIX};
use crate::manifest::PartitionSlots;
use crate::{envelope, Error};

impl Partition {
    /// A closure scanning live keys of database `db` from `(slot, after)`
    /// within this partition (blocking pool). `after` is a raw key already
    /// returned. Database 0 is read slot by slot; databases 1 and up keep
    /// all of a partition's keys under one space, read as one range.
    pub fn scan_fn(
        &self,
        db: u16,
        start_slot: u16,
        after: Option<Vec<u8>>,
        prefix: Vec<u8>,
        count: usize,
        now_ms: u64,
    ) -> impl FnOnce() -> Result<ScanPage, Error> + Send + 'static {
        let handle = self.db.clone();
        let (start, slots) = if db == 0 {
            (start_slot, self.slots)
        } else {
            let (first, end) = crate::space::range(db);
            let one = PartitionSlots {
                first,
                end,
                step: 1,
                next_partition: None,
            };
            (first, one)
        };
        move || scan(&handle, start, slots, after, &prefix, count, now_ms)
    }

    /// Every key of database `db` this partition holds, stored or absorbed
    /// (some may have expired or be deleted: a reader checks), as (slot of
    /// database 0's keys or the space, user key). Reads RocksDB on the
    /// reactor, disk included (SWAPDB, which must see the keys and write
    /// them in one step).
    pub fn keys_of_db(&self, db: u16) -> Result<Vec<(u16, Vec<u8>)>, Error> {
        let (lo, hi) = crate::space::range(db);
        let split = |raw: &[u8]| (u16::from_be_bytes([raw[0], raw[1]]), raw[2..].to_vec());
        let mut opts = ReadOptions::default();
        opts.set_iterate_upper_bound(hi.to_be_bytes().to_vec());
        let mut it = self.db.raw_iterator_opt(opts);
        it.seek(lo.to_be_bytes());
        let mut keys: Vec<(u16, Vec<u8>)> = Vec::new();
        while let Some(raw) = it.key() {
            keys.push(split(raw));
            it.next();
        }
        it.status().map_err(storage)?;
        let pending = self.pending.borrow();
        let absorbed = pending.overlay.keys().filter(|raw| {
            raw.len() >= 2 && (lo..hi).contains(&u16::from_be_bytes([raw[0], raw[1]]))
        });
        keys.extend(absorbed.map(|raw| split(raw)));
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// A closure counting the live keys of database `db` here (blocking
    /// pool; DBSIZE of databases 1 and up, O(N)).
    pub fn count_db_fn(
        &self,
        db: u16,
        now_ms: u64,
    ) -> impl FnOnce() -> Result<u64, Error> + Send + 'static {
        let handle = self.db.clone();
        let (lo, hi) = crate::space::range(db);
        move || {
            let mut opts = ReadOptions::default();
            opts.set_iterate_upper_bound(hi.to_be_bytes().to_vec());
            opts.fill_cache(false);
            let mut it = handle.raw_iterator_opt(opts);
            it.seek(lo.to_be_bytes());
            let mut n = 0;
            while it.valid() {
                let live = it
                    .value()
                    .and_then(envelope::expire_at_ms)
                    .is_some_and(|at| at == 0 || at > now_ms);
                n += u64::from(live);
                it.next();
            }
            it.status().map_err(storage)?;
            Ok(n)
        }
    }
}

/// One page of a scan.
#[derive(Debug, Default)]
pub struct ScanPage {
    /// User keys, in storage order.
    pub keys: Vec<Vec<u8>>,
    /// Where to continue: `(slot, last raw key returned)`, `(slot, None)` for
    /// the start of a slot, or `None` when the partition is exhausted.
    pub resume: Option<(u16, Option<Vec<u8>>)>,
}

/// Most slots one page visits, so an empty stretch cannot make a page slow.
const MAX_SLOTS_PER_PAGE: u32 = 1024;

fn scan(
    db: &DB,
    start_slot: u16,
    slots: PartitionSlots,
    after: Option<Vec<u8>>,
    prefix: &[u8],
    count: usize,
    now_ms: u64,
) -> Result<ScanPage, Error> {
    let end_slot = slots.end;
    let mut opts = ReadOptions::default();
    opts.set_iterate_upper_bound(end_slot.to_be_bytes().to_vec());
    opts.fill_cache(false);
    let mut it = db.raw_iterator_opt(opts);
    let mut page = ScanPage::default();
    let mut slot = start_slot;
    let mut visited = 0u32;
    let mut seek_to: Vec<u8> = match &after {
        Some(raw) => {
            let mut k = raw.clone();
            k.push(0);
            k
        }
        None => raw_key(slot, prefix),
    };
    let count = count.max(1);
    let mut last: Option<Vec<u8>> = None;
    while slot < end_slot {
        if visited >= MAX_SLOTS_PER_PAGE {
            page.resume = Some((slot, last.filter(|k| k[..2] == slot.to_be_bytes())));
            return Ok(page);
        }
        visited += 1;
        it.seek(&seek_to);
        while let Some(key) = it.key() {
            if key.len() < 2 || key[..2] == META_PREFIX {
                break;
            }
            let key_slot = u16::from_be_bytes([key[0], key[1]]);
            if key_slot != slot {
                if prefix.is_empty() {
                    // Jump straight to the next non-empty slot.
                    slot = key_slot;
                    visited += 1;
                } else {
                    break;
                }
            }
            if !key[2..].starts_with(prefix) {
                break;
            }
            let live = it
                .value()
                .and_then(envelope::expire_at_ms)
                .map(|at| at == 0 || at > now_ms)
                .unwrap_or(false);
            if live {
                if page.keys.len() >= count {
                    // `last` is set: count >= 1 keys were returned.
                    let resume_slot = last
                        .as_ref()
                        .map(|k| u16::from_be_bytes([k[0], k[1]]))
                        .unwrap_or(slot);
                    page.resume = Some((resume_slot, last));
                    return Ok(page);
                }
                page.keys.push(key[2..].to_vec());
                last = Some(key.to_vec());
            }
            it.next();
        }
        it.status().map_err(storage)?;
        if !it.valid() && prefix.is_empty() {
            break;
        }
        // The next slot this partition owns (the others hold nothing here).
        slot = match slot.checked_add(slots.step) {
            Some(s) => s,
            None => break,
        };
        seek_to = raw_key(slot, prefix);
    }
    page.resume = None;
    Ok(page)
}
