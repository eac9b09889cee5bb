//! Storage without a network: partitions on real RocksDB in a temp dir.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{commit_group, shard_store, shard_store_with};
use tessera::cmd::keys;
use tessera::proto::set_opts::{Expire, SetOptions};
use tessera::shard::tx::Tx;
use tessera::shard::{Durability, Partition};
use tessera::slot::key_slot;

fn now() -> u64 {
    tessera::shard::clock::now_ms()
}

/// Runs `f` in a transaction of `k`'s slot at `now_ms`, as the core runs
/// a one-key command, and stages what it wrote into the open group.
fn on<T>(
    p: &Partition,
    k: &[u8],
    now_ms: u64,
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, tessera::shard::Error>,
) -> T {
    let mut t = Tx::new(p, key_slot(k), now_ms);
    let r = f(&mut t).unwrap();
    t.commit();
    r
}

/// A deterministic random source: `rnd(n)` is below `n`.
fn xorshift(mut x: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

/// SET `k` to `v` (no options) in the open group.
fn set_str(p: &Partition, k: &str, v: &[u8]) {
    let k = k.as_bytes();
    on(p, k, now(), |t| {
        keys::set_with(t, k, v, &SetOptions::default())
    });
}

/// The string value of `k`, if any.
fn get_str(p: &Partition, k: &str) -> Option<Vec<u8>> {
    let k = k.as_bytes();
    on(p, k, now(), |t| {
        t.read_string(k, |v| v.map(|(_, b)| b.to_vec()))
    })
}

#[test]
fn staged_writes_are_seen_by_read_modify_write_in_the_same_tick() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let k = b"counter";
    let incr = |p: &Partition| on(p, k, now(), |t| keys::incr_by(t, k, 1)).0;
    // Two INCRs and a GET before any commit.
    assert_eq!(incr(&p), 1);
    assert_eq!(incr(&p), 2);
    let seen = get_str(&p, "counter");
    assert_eq!(seen.as_deref(), Some(&b"2"[..]));
    // NX sees the staged key too.
    let nx = SetOptions {
        nx: true,
        ..Default::default()
    };
    assert!(!on(&p, k, now(), |t| keys::set_with(t, k, b"x", &nx)).applied);
    commit_group(&p, &group);
    assert_eq!(incr(&p), 3);
    commit_group(&p, &group);
    let seen = get_str(&p, "counter");
    assert_eq!(seen.as_deref(), Some(&b"3"[..]));
}

#[test]
fn versions_never_run_backwards_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut last = 0;
    for round in 0..5 {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        let k = b"v";
        // A wall clock far in the past must not matter after a reopen.
        let wall = if round % 2 == 0 { now() } else { 1 };
        let out = on(&p, k, wall, |t| {
            keys::set_with(t, k, b"x", &SetOptions::default())
        });
        assert!(
            out.version > last,
            "round {round}: {} after {last}",
            out.version
        );
        last = out.version;
        commit_group(&p, &group);
    }
}

#[test]
fn compaction_removes_expired_keys_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let t0 = now();
    for i in 0..1000 {
        let k = format!("e{i}");
        let opts = SetOptions {
            expire: (i < 900).then_some(Expire::In(1)),
            ..Default::default()
        };
        let k = k.as_bytes();
        on(&p, k, t0, |t| keys::set_with(t, k, b"v", &opts));
    }
    commit_group(&p, &group);
    // Wait (bounded) until the 1 ms TTLs have passed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while now() <= t0 + 1 {
        assert!(std::time::Instant::now() < deadline);
        std::thread::yield_now();
    }
    assert!(
        on(&p, b"e0", now(), |t| t.meta(b"e0")).is_none(),
        "invisible at once"
    );
    (p.compact_fn())();
    // 100 live keys plus the clock's high-water mark and the replication
    // position record remain on disk.
    assert_eq!(p.info().estimate_keys, 102);
}

#[test]
fn cache_mode_wipes_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        set_str(&p, "a", b"1");
        commit_group(&p, &group);
    }
    let s = shard_store(dir.path(), Durability::None);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group).unwrap();
    assert!(on(&p, b"a", now(), |t| t.meta(b"a")).is_none());
}

/// The read cache (1 MiB here, so it turns over many times) never answers
/// differently from the model: writes, overwrites, deletions and FLUSHALL,
/// read before and after their group commits, and after a reopen.
#[test]
fn the_read_cache_stays_exact_through_writes_deletes_and_turnover() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = std::collections::HashMap::<String, Vec<u8>>::new();
    let mut rnd = xorshift(0x9e3779b97f4a7c15);
    // Reads may go to disk here (no blocking pool to warm the block cache).
    let read = |p: &Partition, k: &str| {
        p.allow_disk(true);
        get_str(p, k)
    };
    {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        for step in 0..40_000u64 {
            let k = format!("key{}", rnd(3000));
            match rnd(10) {
                0..=3 => {
                    let v = vec![b'a' + (step % 26) as u8; 50 + rnd(300) as usize];
                    set_str(&p, &k, &v);
                    model.insert(k.clone(), v);
                }
                4 => {
                    let raw = k.as_bytes();
                    on(&p, raw, now(), |t| keys::del_key(t, raw));
                    model.remove(&k);
                }
                5 if step % 5000 == 0 => {
                    p.flush_all().unwrap();
                    model.clear();
                }
                _ => {}
            }
            assert_eq!(read(&p, &k), model.get(&k).cloned(), "step {step}, {k}");
            if rnd(3) == 0 {
                commit_group(&p, &group);
                assert_eq!(
                    read(&p, &k),
                    model.get(&k).cloned(),
                    "step {step}, {k} committed"
                );
            }
        }
        commit_group(&p, &group);
        let info = p.info();
        assert!(
            info.read_cache_hits > 10_000,
            "{} hits",
            info.read_cache_hits
        );
        assert!(
            info.read_cache_misses > 100,
            "{} misses",
            info.read_cache_misses
        );
    }
    let s = shard_store(dir.path(), Durability::Wal);
    let p = s.open_partition(0, Rc::new(Cell::new(1))).unwrap();
    for i in 0..3000 {
        let k = format!("key{i}");
        assert_eq!(read(&p, &k), model.get(&k).cloned(), "{k} after reopen");
    }
}

/// Hash fields through the read cache, which keeps members and absent keys
/// too: a model of three hashes under random HSET, HDEL, DEL (a new
/// generation), FLUSHALL and group commits, read back before and after
/// each commit and after a reopen. The cache must answer most reads, and
/// reads of a key found absent must hit it too.
#[test]
fn the_read_cache_keeps_members_and_absence_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = std::collections::HashMap::<(String, String), Vec<u8>>::new();
    let mut rnd = xorshift(0x2545f4914f6cdd1d);
    let hget = |p: &Partition, k: &str, f: &str| {
        p.allow_disk(true);
        let raw = k.as_bytes();
        on(p, raw, now(), |t| t.hget(raw, f.as_bytes()))
    };
    {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        for step in 0..30_000u64 {
            let k = format!("h{}", rnd(3));
            let f = format!("f{}", rnd(400));
            let raw = k.as_bytes();
            match rnd(12) {
                0..=4 => {
                    let v = vec![b'a' + (step % 26) as u8; 1 + rnd(200) as usize];
                    on(&p, raw, now(), |t| t.hset(raw, &[(f.as_bytes(), &v)]));
                    model.insert((k.clone(), f.clone()), v);
                }
                5 | 6 => {
                    on(&p, raw, now(), |t| t.hdel(raw, &[f.as_bytes()]));
                    model.remove(&(k.clone(), f.clone()));
                }
                7 if step % 97 == 0 => {
                    on(&p, raw, now(), |t| keys::del_key(t, raw));
                    model.retain(|(mk, _), _| *mk != k);
                }
                8 if step % 7919 == 0 => {
                    p.flush_all().unwrap();
                    model.clear();
                }
                _ => {}
            }
            let want = model.get(&(k.clone(), f.clone())).cloned();
            assert_eq!(hget(&p, &k, &f), want, "step {step}, {k} {f}");
            if rnd(3) == 0 {
                commit_group(&p, &group);
                assert_eq!(hget(&p, &k, &f), want, "step {step}, {k} {f} committed");
            }
        }
        commit_group(&p, &group);
        let info = p.info();
        assert!(
            info.read_cache_hits > 20_000,
            "{} hits",
            info.read_cache_hits
        );
        assert!(info.read_cache_keys > 0);
        // A missing key and a missing field, read twice: the second read of
        // each is answered by the cache.
        let before = p.info().read_cache_hits;
        for _ in 0..2 {
            assert_eq!(get_str(&p, "never-written"), None);
            assert_eq!(hget(&p, "h0", "never-a-field"), None);
        }
        let hits = p.info().read_cache_hits - before;
        // Each HGET reads the hash's metadata and the field; GET its key.
        assert!(hits >= 3, "{hits} hits for the repeated absent reads");
    }
    let s = shard_store(dir.path(), Durability::Wal);
    let p = s.open_partition(0, Rc::new(Cell::new(1))).unwrap();
    for h in 0..3 {
        for f in 0..400 {
            let (k, f) = (format!("h{h}"), format!("f{f}"));
            let want = model.get(&(k.clone(), f.clone())).cloned();
            assert_eq!(hget(&p, &k, &f), want, "{k} {f} after reopen");
        }
    }
}

/// The default family's user keys of a batch, in batch order (internal
/// `\xFF\xFF` records left out).
struct UserKeys(Vec<Vec<u8>>);

impl rocksdb::WriteBatchIteratorCf for UserKeys {
    fn put_cf(&mut self, cf: u32, key: &[u8], _value: &[u8]) {
        self.delete_cf(cf, key);
    }
    fn delete_cf(&mut self, cf: u32, key: &[u8]) {
        if cf == 0 && !key.starts_with(&[0xFF, 0xFF]) {
            self.0.push(key.to_vec());
        }
    }
    fn merge_cf(&mut self, _cf: u32, _key: &[u8], _value: &[u8]) {
        panic!("no merges are written");
    }
}

#[test]
fn a_group_batch_writes_each_key_once_in_key_order_after_its_flush() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        for i in 0..200 {
            set_str(&p, &format!("old{i}"), b"x");
        }
        commit_group(&p, &group);
        // One group: a write before a FLUSHALL and one after it.
        set_str(&p, "before", b"x");
        p.flush_all().unwrap();
        set_str(&p, "after", b"1");
        commit_offloaded(&p, &group, "a FLUSHALL's batch");
        // The next: 50 keys (spread over slots, staged in reverse), half of
        // them written again, one deleted. (Batch iteration stops at a range
        // deletion, hence a group without one.)
        for i in (0..50).rev() {
            set_str(&p, &format!("n{i}"), b"1");
        }
        for i in (0..50).step_by(2) {
            set_str(&p, &format!("n{i}"), b"2");
        }
        let k7 = b"n7";
        assert!(on(&p, k7, now(), |t| keys::del_key(t, k7)));
        let g = group.get();
        group.set(g + 1);
        // The batch as written (its bytes come back with the write).
        let Some(tessera::shard::InlineWrite::Done(data)) = p.write_staged() else {
            panic!("a batch, written inline");
        };
        let mut keys = UserKeys(Vec::new());
        // Journaled: the group's own batch is the journal record's value.
        tessera::shard::journal::unwrap(&data)
            .unwrap()
            .iterate_cf(&mut keys);
        assert_eq!(keys.0.len(), 50, "each staged key once");
        assert!(
            keys.0.windows(2).all(|w| w[0] < w[1]),
            "keys in ascending order"
        );
        p.finish_group(g);
    }
    // Reopened (no overlay, no read cache): what RocksDB holds.
    let s = shard_store(dir.path(), Durability::Wal);
    let p = s.open_partition(0, Rc::new(Cell::new(1))).unwrap();
    assert_eq!(
        get_str(&p, "old3"),
        None,
        "FLUSHALL removed the earlier group"
    );
    assert_eq!(
        get_str(&p, "before"),
        None,
        "and the write staged before it"
    );
    assert_eq!(get_str(&p, "after").as_deref(), Some(&b"1"[..]));
    assert_eq!(get_str(&p, "n0").as_deref(), Some(&b"2"[..]));
    assert_eq!(get_str(&p, "n1").as_deref(), Some(&b"1"[..]));
    assert_eq!(get_str(&p, "n48").as_deref(), Some(&b"2"[..]));
    assert_eq!(get_str(&p, "n7"), None);
}

#[test]
fn memtable_bytes_sets_when_strings_flush() {
    let dir = tempfile::tempdir().unwrap();
    // 128 KiB memtables; the node's memtable budget (8 MiB) is far above
    // what is written, so only this setting can make RocksDB flush.
    let s = shard_store_with(dir.path(), Durability::Wal, 128 << 10);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    assert_eq!(p.info().sst_bytes, 0);
    let value = vec![b'v'; 256];
    for i in 0..4000 {
        set_str(&p, &format!("key{i}"), &value);
        if i % 100 == 99 {
            commit_group(&p, &group);
        }
    }
    // Flushes run in RocksDB's background threads: wait for one (bounded).
    let mut flushed = false;
    for _ in 0..600 {
        if p.info().sst_bytes > 0 {
            flushed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(flushed, "1 MB of strings never flushed a 128 KiB memtable");
    assert!(p.info().memtable_bytes < 1 << 20);
    assert_eq!(get_str(&p, "key3999").as_deref(), Some(&value[..]));
}

/// A list against a `VecDeque` model: pushes and pops at both ends, with
/// groups committed now and then (so many elements are staged at once) and
/// a reopen (so pops find nothing in the read cache and read ahead from
/// RocksDB). LRANGE merges the staged group with RocksDB a chunk at a time.
#[test]
fn list_pops_read_ahead_and_ranges_merge_the_staged_group_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = std::collections::VecDeque::<Vec<u8>>::new();
    let mut rnd = xorshift(0x9e3779b97f4a7c15);
    let k: &[u8] = b"list";
    let lrange = |p: &Partition| on(p, k, now(), |t| t.lrange(k, 0, -1));
    let mut next = 0u64;
    for life in 0..2 {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        p.allow_disk(true);
        if life == 1 {
            // Nothing is cached after the reopen: 200 pops from the right
            // take 4 read-aheads of 64 elements, not 200 point reads.
            let before = p.info().read_ahead;
            let popped = on(&p, k, now(), |t| t.pop(k, false, 200));
            let want: Vec<Vec<u8>> = (0..200).map(|_| model.pop_back().unwrap()).collect();
            assert_eq!(popped, want);
            assert_eq!(p.info().read_ahead - before, 256);
            commit_group(&p, &group);
        }
        for step in 0..4_000u64 {
            let left = rnd(2) == 0;
            match rnd(10) {
                0..=4 => {
                    let values: Vec<Vec<u8>> = (0..1 + rnd(3))
                        .map(|_| {
                            next += 1;
                            format!("e{next}-{}", "x".repeat(rnd(40) as usize)).into_bytes()
                        })
                        .collect();
                    let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
                    let len = on(&p, k, now(), |t| t.push(k, left, &refs, false));
                    for v in values {
                        match left {
                            true => model.push_front(v),
                            false => model.push_back(v),
                        }
                    }
                    assert_eq!(len, model.len() as u64, "step {step}");
                }
                5..=8 => {
                    let n = 1 + rnd(3);
                    let popped = on(&p, k, now(), |t| t.pop(k, left, n));
                    let want: Vec<Vec<u8>> = (0..n)
                        .map_while(|_| match left {
                            true => model.pop_front(),
                            false => model.pop_back(),
                        })
                        .collect();
                    assert_eq!(popped, want, "step {step}");
                }
                _ => {
                    let all: Vec<Vec<u8>> = model.iter().cloned().collect();
                    assert_eq!(lrange(&p), all, "step {step}");
                }
            }
            if rnd(40) == 0 {
                commit_group(&p, &group);
            }
        }
        commit_group(&p, &group);
        let all: Vec<Vec<u8>> = model.iter().cloned().collect();
        assert_eq!(lrange(&p), all);
        assert!(model.len() > 200, "{} elements", model.len());
    }
}

/// Range reads in both directions over a staged group of many members
/// (more than one chunk), committed members and the transaction's own
/// writes, stopping early and running to the end.
#[test]
fn range_reads_merge_a_large_staged_group_both_ways() {
    use tessera::shard::zset::{ZAddFlags, ZRange, ZRangeBy};
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let k: &[u8] = b"z";
    let mut model = std::collections::BTreeMap::<Vec<u8>, f64>::new();
    let zadd = |m: &mut std::collections::BTreeMap<Vec<u8>, f64>, i: u64| {
        let member = format!("m{i:04}").into_bytes();
        on(&p, k, now(), |t| {
            t.zadd(k, ZAddFlags::default(), &[(i as f64, &member)])
        });
        m.insert(member, i as f64);
    };
    // Committed: even scores; staged: odd ones and a few removals.
    for i in (0..300).step_by(2) {
        zadd(&mut model, i);
    }
    commit_group(&p, &group);
    for i in (1..300).step_by(2) {
        zadd(&mut model, i);
    }
    for i in (0..300).step_by(7) {
        let member = format!("m{i:04}").into_bytes();
        on(&p, k, now(), |t| t.zrem(k, &[&member]));
        model.remove(&member);
    }
    let mut ranked: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    for rev in [false, true] {
        for (start, stop) in [(0i64, -1i64), (0, 9), (100, 160)] {
            let r = ZRange {
                by: ZRangeBy::Rank(start, stop),
                rev,
                limit: None,
            };
            let mut want = ranked.clone();
            if rev {
                want.reverse();
            }
            let stop = if stop < 0 {
                want.len() as i64 - 1
            } else {
                stop
            };
            let want: Vec<_> = want[start as usize..=stop as usize].to_vec();
            let got = on(&p, k, now(), |t| t.zrange(k, &r));
            assert_eq!(got, want, "rev {rev} {start}..{stop}");
        }
    }
    // The transaction's own writes shadow the staged ones in its reads.
    let mut t = Tx::new(&p, key_slot(k), now());
    t.zadd(k, ZAddFlags::default(), &[(1e9, b"m0001")]).unwrap();
    t.zrem(k, &[b"m0003"]).unwrap();
    let all = ZRange {
        by: ZRangeBy::Rank(0, -1),
        rev: true,
        limit: None,
    };
    let got = t.zrange(k, &all).unwrap();
    assert_eq!(got[0], (b"m0001".to_vec(), 1e9));
    assert!(!got.iter().any(|(m, _)| m == b"m0003"));
    assert_eq!(got.len(), model.len() - 1);
}

#[test]
fn a_migration_clean_up_is_written_from_the_blocking_pool() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    for k in ["a", "b"] {
        set_str(&p, k, b"x");
    }
    commit_group(&p, &group);
    p.delete_slots(&[tessera::slot::key_slot(b"a")]).unwrap();
    commit_offloaded(&p, &group, "a clean-up's range deletions");
    assert_eq!(get_str(&p, "a"), None);
    assert_eq!(get_str(&p, "b").as_deref(), Some(&b"x"[..]));
    // The next group, without range deletions, is written inline again.
    set_str(&p, "c", b"y");
    let g = group.get();
    group.set(g + 1);
    assert!(matches!(
        p.write_staged(),
        Some(tessera::shard::InlineWrite::Done(_))
    ));
    p.finish_group(g);
}

/// Commits the staged group, which holds range deletions (`what`): it must
/// come back to be written from the blocking pool, never inline on the
/// reactor.
fn commit_offloaded(p: &Partition, group: &Cell<u64>, what: &str) {
    let g = group.get();
    group.set(g + 1);
    let Some(tessera::shard::InlineWrite::Offload(data)) = p.write_staged() else {
        panic!("{what}: not handed to the blocking pool");
    };
    p.write_blocking_fn(data)().unwrap();
    p.finish_group(g);
}

/// ZPOPMIN and ZPOPMAX read RocksDB through read-ahead windows: they stay
/// exact against a model while members are added (including beyond the
/// popped end), removed and popped, with commits at random points and a
/// reopen, next to a set's SPOPs in the same slot; and pops of a sorted
/// set nothing has cached seek once per chunk of 128 entries, not once per
/// pop.
#[test]
fn pops_through_read_ahead_windows_stay_exact() {
    use std::collections::{BTreeMap, BTreeSet};
    use tessera::shard::set::Rng;
    use tessera::shard::zset::{ZAddFlags, ZRange, ZRangeBy};
    let dir = tempfile::tempdir().unwrap();
    let (z, st): (&[u8], &[u8]) = (b"{w}z", b"{w}s");
    let mut zm = BTreeMap::<Vec<u8>, f64>::new();
    let mut sm = BTreeSet::<Vec<u8>>::new();
    let mut rnd = xorshift(0x2545f4914f6cdd1d);
    let mut rng = Rng::seeded();
    let ranked = |zm: &BTreeMap<Vec<u8>, f64>| {
        let mut r: Vec<(Vec<u8>, f64)> = zm.iter().map(|(m, s)| (m.clone(), *s)).collect();
        r.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        r
    };
    let all = ZRange {
        by: ZRangeBy::Rank(0, -1),
        rev: false,
        limit: None,
    };
    for life in 0..2 {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        p.allow_disk(true);
        if life == 0 {
            for i in 0..2_000u64 {
                let m = format!("m{i}").into_bytes();
                let score = (i * 7919 % 2_000) as f64;
                on(&p, z, now(), |t| {
                    t.zadd(z, ZAddFlags::default(), &[(score, &m)])
                });
                on(&p, st, now(), |t| t.sadd(st, &[&m]));
                zm.insert(m.clone(), score);
                sm.insert(m);
            }
            commit_group(&p, &group);
        } else {
            // Nothing is cached after the reopen: 300 single pops from one
            // end, then 100 SPOPs, each pop its own command.
            let before = p.info().seeks;
            for _ in 0..300 {
                let got = on(&p, z, now(), |t| t.zpop(z, 1, false));
                let want = ranked(&zm)[0].clone();
                zm.remove(&want.0);
                assert_eq!(got, vec![want]);
            }
            assert_eq!(p.info().seeks - before, 3, "one seek per 128 pops");
            // The other end: a window of its own.
            let before = p.info().seeks;
            for _ in 0..200 {
                let got = on(&p, z, now(), |t| t.zpop(z, 1, true));
                let want = ranked(&zm).pop().unwrap();
                zm.remove(&want.0);
                assert_eq!(got, vec![want]);
            }
            assert_eq!(p.info().seeks - before, 2, "one seek per 128 pops");
            commit_group(&p, &group);
        }
        for step in 0..3_000u64 {
            let m = format!("m{}", rnd(3_000)).into_bytes();
            match rnd(12) {
                0..=3 => {
                    // Scores from below the current minimum to above the maximum.
                    let score = rnd(2_400) as f64 - 200.0;
                    on(&p, z, now(), |t| {
                        t.zadd(z, ZAddFlags::default(), &[(score, &m)])
                    });
                    zm.insert(m.clone(), score);
                    on(&p, st, now(), |t| t.sadd(st, &[&m]));
                    sm.insert(m);
                }
                4 => {
                    on(&p, z, now(), |t| t.zrem(z, &[&m]));
                    zm.remove(&m);
                    on(&p, st, now(), |t| t.srem(st, &[&m]));
                    sm.remove(&m);
                }
                5..=6 => {
                    let (n, max) = (1 + rnd(2), rnd(2) == 0);
                    let got = on(&p, z, now(), |t| t.zpop(z, n, max));
                    let mut r = ranked(&zm);
                    if max {
                        r.reverse();
                    }
                    let want: Vec<(Vec<u8>, f64)> = r.into_iter().take(n as usize).collect();
                    for (m, _) in &want {
                        zm.remove(m);
                    }
                    assert_eq!(got, want, "step {step}");
                }
                7..=8 => {
                    let got = on(&p, st, now(), |t| t.spop(st, 1, &mut rng));
                    match got.first() {
                        Some(g) => assert!(sm.remove(g), "step {step}: popped a stranger"),
                        None => assert!(sm.is_empty(), "step {step}"),
                    }
                }
                _ => {
                    let got = on(&p, z, now(), |t| t.zrange(z, &all));
                    assert_eq!(got, ranked(&zm), "step {step}");
                    let got: BTreeSet<Vec<u8>> =
                        on(&p, st, now(), |t| t.smembers(st)).into_iter().collect();
                    assert_eq!(got, sm, "step {step}");
                }
            }
            if rnd(30) == 0 {
                commit_group(&p, &group);
            }
        }
        commit_group(&p, &group);
        assert_eq!(on(&p, z, now(), |t| t.zrange(z, &all)), ranked(&zm));
        assert!(
            zm.len() > 300 && sm.len() > 300,
            "{} {}",
            zm.len(),
            sm.len()
        );
    }
}
