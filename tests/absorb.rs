//! Absorbed writes (docs/storage.md, "The write path"): a group reaches
//! RocksDB as one journal record, its writes stay in the overlay until a
//! drain writes their last values, and the journal is replayed after a
//! crash. Storage on real RocksDB in a temp dir, then the real server.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::resp::{Conn, R};
use common::shard_store;
use tessera::cmd::keys;
use tessera::proto::set_opts::SetOptions;
use tessera::shard::tx::Tx;
use tessera::shard::{Durability, InlineWrite, Partition};
use tessera::slot::key_slot;

fn set(p: &Partition, k: &str, v: &str) {
    let k = k.as_bytes();
    let mut t = Tx::new(p, key_slot(k), tessera::shard::clock::now_ms());
    keys::set_with(&mut t, k, v.as_bytes(), &SetOptions::default()).unwrap();
    t.commit();
}

fn get(p: &Partition, k: &str) -> Option<String> {
    let k = k.as_bytes();
    let t = Tx::new(p, key_slot(k), tessera::shard::clock::now_ms());
    t.read_string(k, |v| {
        v.map(|(_, b)| String::from_utf8(b.to_vec()).unwrap())
    })
    .unwrap()
}

/// Commits the open group without draining (what the core does until the
/// overlay passes its budget).
fn commit(p: &Partition, group: &Cell<u64>) {
    let g = group.get();
    group.set(g + 1);
    match p.write_staged() {
        Some(InlineWrite::Done(_)) | None => {}
        Some(InlineWrite::Stalled(d) | InlineWrite::Offload(d)) => {
            p.write_blocking_fn(d)().unwrap()
        }
        Some(InlineWrite::Failed(e)) => panic!("{e}"),
    }
    p.finish_group(g);
}

#[test]
fn a_group_is_one_journal_record_and_a_drain_writes_each_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let before = p.info().keys_written;
    // 100 groups of 10 SETs over the same 10 keys.
    for round in 0..100 {
        for k in 0..10 {
            set(&p, &format!("k{k}"), &format!("v{round}"));
        }
        commit(&p, &group);
    }
    let absorbed = p.info().keys_written - before;
    // A journal record and a position record per group (and a clock mark
    // now and then), not the 1,000 writes.
    assert!(
        (200..=210).contains(&absorbed),
        "{absorbed} keys written for 100 groups"
    );
    assert!(p.info().absorbed_bytes > 0);
    assert_eq!(get(&p, "k3").as_deref(), Some("v99"));
    // While a write is staged no drain is taken (its value would hide the
    // last committed one).
    set(&p, "k0", "staged");
    assert!(p.take_drain(true).is_none());
    commit(&p, &group);
    let d = p.take_drain(true).expect("a drain once nothing is staged");
    assert!(p.take_drain(true).is_none(), "one drain at a time");
    d.run(&p).unwrap();
    let drained = p.info().keys_written - before - absorbed - 2;
    // Ten keys, the journal's range deletion and the drain's mark.
    assert!((10..=14).contains(&drained), "{drained} keys drained");
    assert_eq!(p.info().absorbed_bytes, 0);
    assert_eq!(p.info().drains, 1);
    assert_eq!(get(&p, "k0").as_deref(), Some("staged"));
    assert_eq!(get(&p, "k9").as_deref(), Some("v99"));
    assert!(p.take_drain(true).is_none(), "nothing left to drain");
}

#[test]
fn the_journal_is_replayed_at_open_and_a_flush_is_never_undone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        for i in 0..50 {
            set(&p, &format!("old{i}"), "x");
            commit(&p, &group);
        }
        // Drained, then absorbed again after the drain.
        p.take_drain(true).unwrap().run(&p).unwrap();
        set(&p, "old1", "y");
        commit(&p, &group);
        // A FLUSHALL while writes are absorbed, then more writes.
        set(&p, "before", "x");
        p.flush_all().unwrap();
        set(&p, "after", "1");
        commit(&p, &group);
        for i in 0..20 {
            set(&p, &format!("new{i}"), &format!("{i}"));
            set(&p, "counter", &format!("{i}"));
            commit(&p, &group);
        }
        assert!(p.info().absorbed_bytes > 0, "the last writes are absorbed");
        // Dropped without a drain, as a kill -9 would leave it.
    }
    let s = shard_store(dir.path(), Durability::Wal);
    let p = s.open_partition(0, Rc::new(Cell::new(1))).unwrap();
    assert_eq!(
        p.info().absorbed_bytes,
        0,
        "replayed into the column families"
    );
    assert_eq!(
        get(&p, "old1"),
        None,
        "FLUSHALL is not undone by the journal"
    );
    assert_eq!(get(&p, "old7"), None);
    assert_eq!(get(&p, "before"), None);
    assert_eq!(get(&p, "after").as_deref(), Some("1"));
    assert_eq!(get(&p, "new13").as_deref(), Some("13"));
    assert_eq!(get(&p, "counter").as_deref(), Some("19"));
}

#[test]
fn a_server_under_pipelined_overwrites_writes_few_memtable_keys() {
    let node = common::Node::start(1);
    let mut c = Conn::connect(node.resp_addr());
    const N: usize = 5_000;
    for i in 0..N {
        let k = format!("key{}", i % 20);
        let v = format!("value{i}");
        c.send_raw(&Conn::encode(&[
            b"SET".as_slice(),
            k.as_bytes(),
            v.as_bytes(),
        ]));
    }
    for _ in 0..N {
        assert!(matches!(c.read(), R::Simple(_)));
    }
    let info = match c.cmd(&["INFO"]) {
        R::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("{other:?}"),
    };
    let written = common::info_sum(&info, "partition", "keys_written");
    let groups = common::info_sum(&info, "partition", "group_commits");
    assert!(
        written <= 2 * groups + 50 && written < N as u64 / 2,
        "{written} memtable keys for {N} SETs in {groups} groups"
    );
    for i in 0..20 {
        let k = format!("key{i}");
        let want = format!("value{}", N - 20 + i);
        assert_eq!(c.cmd(&["GET", &k]), R::Bulk(want.into_bytes()));
    }
    // SCAN reads the column families: it drains first, and finds every key.
    let mut found = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let R::Array(parts) = c.cmd(&["SCAN", &cursor, "COUNT", "1000"]) else {
            panic!("SCAN");
        };
        let (R::Bulk(next), R::Array(keys)) = (&parts[0], &parts[1]) else {
            panic!("SCAN reply");
        };
        for k in keys {
            if let R::Bulk(k) = k {
                found.insert(k.clone());
            }
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(found.len(), 20, "{found:?}");
}

/// SADDs 1,000 members to `k`, then SPOPs 600 of them one group at a time,
/// running the drains the committer would take; returns the deletion
/// flushes and the keys RocksDB wrote during the pops beyond each group's
/// journal and position records.
fn sadd_then_spop(p: &Partition, group: &Cell<u64>, k: &[u8], drain_first: bool) -> (u64, u64) {
    let names: Vec<Vec<u8>> = (0..1000).map(|i| format!("m{i:04}").into_bytes()).collect();
    let refs: Vec<&[u8]> = names.iter().map(|n| n.as_slice()).collect();
    let mut t = Tx::new(p, key_slot(k), tessera::shard::clock::now_ms());
    assert_eq!(t.sadd(k, &refs).unwrap(), 1000);
    t.commit();
    commit(p, group);
    if drain_first {
        p.take_drain(true).unwrap().run(p).unwrap();
    }
    let (before, seeks) = (p.info().keys_written, p.info().seeks);
    let mut rng = tessera::shard::set::Rng::seeded();
    let mut popped = std::collections::BTreeSet::new();
    let mut flushes = 0;
    for _ in 0..600 {
        let mut t = Tx::new(p, key_slot(k), tessera::shard::clock::now_ms());
        let got = t.spop(k, 1, &mut rng).unwrap();
        t.commit();
        assert_eq!(got.len(), 1);
        assert!(popped.insert(got[0].clone()), "popped twice");
        commit(p, group);
        // What the core's committer does after each group.
        if let Some(d) = p.take_drain(false) {
            flushes += 1;
            d.run(p).unwrap();
        }
    }
    let t = Tx::new(p, key_slot(k), tessera::shard::clock::now_ms());
    assert_eq!(t.scard(k).unwrap(), 400);
    // A pop takes a member a read-ahead window holds (a seek reads a
    // chunk of them): far fewer seeks than pops.
    let seeks = p.info().seeks - seeks;
    assert!(seeks < 100, "{seeks} RocksDB seeks for 600 pops");
    (flushes, p.info().keys_written - before - 2 * 600)
}

#[test]
fn member_deletions_are_flushed_early_so_pops_stay_pops() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    // Members RocksDB holds: their deletions go to it 64 at a time,
    // without a full drain.
    let (flushes, written) = sadd_then_spop(&p, &group, b"stored", true);
    assert!((8..=10).contains(&flushes), "{flushes} deletion flushes");
    assert_eq!(p.info().drains, 1, "only the first, asked for");
    assert!(written >= 600 - 64, "{written} deletions written");
    // Members added and popped between two drains leave the overlay at
    // once (RocksDB surely lacks them): no deletion to flush, and RocksDB
    // gets no tombstone to step over.
    // (The first set's last deletions, fewer than a flush's 64, may go now.)
    let (flushes, written) = sadd_then_spop(&p, &group, b"absorbed", false);
    assert!(flushes <= 1, "{flushes} deletion flushes");
    assert!(
        written < 64,
        "{written} keys written for members RocksDB never held"
    );
}

/// Members added and removed between two drains leave the overlay at once
/// (RocksDB never held them); the journal still holds both writes, so a
/// reopen after a crash replays them into the same state, and a member
/// added again after its removal stays.
#[test]
fn removed_absorbed_members_leave_the_overlay_and_replay_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let members = |p: &Partition| {
        let t = Tx::new(p, key_slot(b"s"), tessera::shard::clock::now_ms());
        t.smembers(b"s").unwrap()
    };
    {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        let names: Vec<Vec<u8>> = (0..200).map(|i| format!("m{i:03}").into_bytes()).collect();
        let refs: Vec<&[u8]> = names.iter().map(|n| n.as_slice()).collect();
        let mut t = Tx::new(&p, key_slot(b"s"), tessera::shard::clock::now_ms());
        assert_eq!(t.sadd(b"s", &refs).unwrap(), 200);
        t.commit();
        commit(&p, &group);
        let full = p.info().absorbed_bytes;
        // All but m007 go, one group at a time; m042 comes back.
        for m in refs.iter().filter(|m| **m != b"m007") {
            let mut t = Tx::new(&p, key_slot(b"s"), tessera::shard::clock::now_ms());
            assert_eq!(t.srem(b"s", &[m]).unwrap(), 1);
            t.commit();
            commit(&p, &group);
        }
        let mut t = Tx::new(&p, key_slot(b"s"), tessera::shard::clock::now_ms());
        assert_eq!(t.sadd(b"s", &[b"m042"]).unwrap(), 1);
        t.commit();
        commit(&p, &group);
        let left = p.info().absorbed_bytes;
        assert!(
            left * 20 < full,
            "the overlay kept {left} of {full} bytes for 2 members"
        );
        assert_eq!(p.take_drain(false).map(|_| ()), None, "nothing to flush");
        assert_eq!(members(&p), [b"m007".to_vec(), b"m042".to_vec()]);
        // Dropped without a drain, as a kill -9 would leave it.
    }
    let s = shard_store(dir.path(), Durability::Wal);
    let p = s.open_partition(0, Rc::new(Cell::new(1))).unwrap();
    assert_eq!(members(&p), [b"m007".to_vec(), b"m042".to_vec()]);
    let t = Tx::new(&p, key_slot(b"s"), tessera::shard::clock::now_ms());
    assert_eq!(t.scard(b"s").unwrap(), 2);
}
