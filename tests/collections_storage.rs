//! Collections without a network: transactions on a real RocksDB partition
//! in a temp dir, the generation compaction filter, and the merge of
//! staged and stored subkeys.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{commit_group, shard_store};
use tessera::shard::tx::Tx;
use tessera::shard::{Durability, Partition};
use tessera::slot::key_slot;

fn now() -> u64 {
    tessera::shard::clock::now_ms()
}

/// Runs `f` in a transaction on `key`'s slot, warming and retrying when a
/// read would block (as the core does), then stages the writes.
fn run<T>(
    p: &Partition,
    key: &[u8],
    mut f: impl FnMut(&mut Tx<'_>) -> Result<T, tessera::shard::Error>,
) -> T {
    let slot = key_slot(key);
    loop {
        let mut tx = Tx::new(p, slot, now());
        match f(&mut tx) {
            Ok(v) => {
                tx.commit();
                return v;
            }
            Err(tessera::shard::Error::WouldBlock) => {
                drop(tx);
                (p.warm_fn(slot, key))();
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn deleting_a_large_hash_is_o1_and_compaction_reclaims_every_member() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let key = b"big";
    const N: usize = 100_000;
    for chunk in 0..(N / 10_000) {
        let fields: Vec<(Vec<u8>, Vec<u8>)> = (chunk * 10_000..(chunk + 1) * 10_000)
            .map(|i| {
                (
                    format!("field-{i:06}").into_bytes(),
                    format!("v{i}").into_bytes(),
                )
            })
            .collect();
        let pairs: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (&f[..], &v[..])).collect();
        run(&p, key, |tx| tx.hset(key, &pairs));
        commit_group(&p, &group);
    }
    assert_eq!(run(&p, key, |tx| tx.hlen(key)), N as u64);
    (p.compact_fn())();
    assert_eq!(
        (p.count_subkeys_fn())(),
        N as u64,
        "every member is a subkey"
    );

    // DEL writes one tombstone, whatever the size.
    let writes_before = p.info().writes;
    assert!(run(&p, key, |tx| tx.remove(key)));
    commit_group(&p, &group);
    assert_eq!(p.info().writes - writes_before, 1);
    assert_eq!(run(&p, key, |tx| tx.hlen(key)), 0);

    // A new hash under the same name is a new generation: none of the old
    // members show through, and compaction keeps only the new ones.
    run(&p, key, |tx| tx.hset(key, &[(b"only", b"1")]));
    commit_group(&p, &group);
    assert_eq!(
        run(&p, key, |tx| tx.hgetall(key)),
        vec![(b"only".to_vec(), b"1".to_vec())]
    );
    (p.compact_fn())();
    assert_eq!((p.count_subkeys_fn())(), 1, "dead generation left on disk");
    assert!(tessera::shard::subkeys_removed() >= N as u64);
}

#[test]
fn overwriting_or_expiring_a_collection_kills_its_members() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    run(&p, b"s", |tx| tx.sadd(b"s", &[b"a", b"b", b"c"]));
    run(&p, b"z", |tx| {
        tx.zadd(b"z", Default::default(), &[(1.0, b"a"), (2.0, b"b")])
    });
    commit_group(&p, &group);
    (p.compact_fn())();
    assert_eq!((p.count_subkeys_fn())(), 3 + 2 * 2);
    // A string over the set; an expiry in the past on the sorted set.
    run(&p, b"s", |tx| Ok(tx.put_string(b"s", b"now a string", 0)));
    run(&p, b"z", |tx| {
        let at = tx.now_ms + 1;
        tx.set_expiry(b"z", at)
    });
    commit_group(&p, &group);
    std::thread::sleep(std::time::Duration::from_millis(5)); // let the 1 ms expiry pass
    assert_eq!(run(&p, b"z", |tx| tx.zcard(b"z")), 0);
    (p.compact_fn())();
    assert_eq!((p.count_subkeys_fn())(), 0);
}

#[test]
fn staged_and_stored_members_merge_in_order_and_deletions_hide() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let k = b"h";
    run(&p, k, |tx| {
        tx.hset(k, &[(b"a", b"1"), (b"c", b"3"), (b"e", b"5")])
    });
    commit_group(&p, &group);
    // Staged, not committed: a new field between stored ones, a deletion
    // and an overwrite.
    run(&p, k, |tx| tx.hset(k, &[(b"b", b"2"), (b"e", b"55")]));
    run(&p, k, |tx| tx.hdel(k, &[b"c"]));
    let want: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"a".to_vec(), b"1".to_vec()),
        (b"b".to_vec(), b"2".to_vec()),
        (b"e".to_vec(), b"55".to_vec()),
    ];
    assert_eq!(run(&p, k, |tx| tx.hgetall(k)), want);
    let r = tessera::shard::hash::SortRange {
        reverse: true,
        ..Default::default()
    };
    let mut rev = want.clone();
    rev.reverse();
    assert_eq!(run(&p, k, |tx| tx.hrange(k, &r)), rev);
    assert_eq!(run(&p, k, |tx| tx.hlen(k)), 3);
    commit_group(&p, &group);
    assert_eq!(run(&p, k, |tx| tx.hgetall(k)), want);
}

#[test]
fn a_failed_command_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let k = b"h";
    run(&p, k, |tx| tx.hset(k, &[(b"n", b"not a number")]));
    commit_group(&p, &group);
    let slot = key_slot(k);
    let mut tx = Tx::new(&p, slot, now());
    tx.hset(k, &[(b"other", b"x")]).unwrap();
    assert!(matches!(
        tx.hincrby(k, b"n", 1),
        Err(tessera::shard::Error::HashNotInteger)
    ));
    drop(tx); // The caller drops a failed transaction.
    assert!(!p.has_pending());
    assert_eq!(run(&p, k, |tx| tx.hget(k, b"other")), None);
}

#[test]
fn cold_range_reads_are_warmed_off_the_reactor_then_retried() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Vec<u8>> = (0..2000).map(|i| format!("m{i:05}").into_bytes()).collect();
    {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        let refs: Vec<&[u8]> = members.iter().map(|m| m.as_slice()).collect();
        run(&p, b"set", |tx| tx.sadd(b"set", &refs));
        commit_group(&p, &group);
        (p.compact_fn())(); // Into SST files, out of the memtable.
    }
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let slot = key_slot(b"set");
    let mut blocked = 0;
    let got = loop {
        let tx = Tx::new(&p, slot, now());
        match tx.smembers(b"set") {
            Ok(v) => break v,
            Err(tessera::shard::Error::WouldBlock) => {
                blocked += 1;
                drop(tx);
                (p.warm_fn(slot, b"set"))();
            }
            Err(e) => panic!("{e}"),
        }
        assert!(blocked < 10, "warming does not make progress");
    };
    assert!(blocked >= 1, "a cold read should not have read disk inline");
    assert_eq!(got, members);
}

#[test]
fn flush_all_hides_everything_at_once_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = shard_store(dir.path(), Durability::Wal);
        let group = Rc::new(Cell::new(1));
        let p = s.open_partition(0, group.clone()).unwrap();
        run(&p, b"h", |tx| tx.hset(b"h", &[(b"f", b"v")]));
        run(&p, b"s", |tx| Ok(tx.put_string(b"s", b"v", 0)));
        commit_group(&p, &group);
        run(&p, b"l", |tx| tx.push(b"l", true, &[b"staged"], false));
        p.flush_all().unwrap();
        // Before the group is written: stored and staged data read as gone,
        // and a write after the flush is kept.
        assert_eq!(run(&p, b"h", |tx| tx.hgetall(b"h")), vec![]);
        assert_eq!(run(&p, b"l", |tx| tx.llen(b"l")), 0);
        run(&p, b"after", |tx| Ok(tx.put_string(b"after", b"1", 0)));
        commit_group(&p, &group);
        assert!(run(&p, b"s", |tx| tx.load(b"s")).is_none());
        assert!(run(&p, b"after", |tx| tx.load(b"after")).is_some());
    }
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    assert!(run(&p, b"h", |tx| tx.load(b"h")).is_none());
    assert!(run(&p, b"after", |tx| tx.load(b"after")).is_some());
    (p.compact_fn())();
    assert_eq!((p.count_subkeys_fn())(), 0);
}

/// A savepoint takes back exactly the writes after it: new keys, changed
/// ones and deletions, in one transaction that then commits the rest (what
/// EXEC does with a command that fails).
#[test]
fn undoing_to_a_savepoint_keeps_the_writes_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = shard_store(dir.path(), Durability::Wal);
    let group = Rc::new(Cell::new(1));
    let p = s.open_partition(0, group.clone()).unwrap();
    let key = b"{u}h";
    run(&p, key, |tx| tx.hset(b"{u}h", &[(b"gone", b"0")]));
    commit_group(&p, &group);
    run(&p, key, |tx| {
        tx.hset(b"{u}h", &[(b"a", b"1"), (b"b", b"1")])?;
        let sp = tx.savepoint();
        tx.hset(b"{u}h", &[(b"a", b"2"), (b"c", b"2")])?;
        tx.hdel(b"{u}h", &[b"gone", b"b"])?;
        tx.put_string(b"{u}s", b"later", 0);
        assert_eq!(tx.hlen(b"{u}h")?, 2);
        tx.undo_to(sp);
        // A second savepoint after the undo works from where it stands.
        let sp = tx.savepoint();
        tx.hset(b"{u}h", &[(b"d", b"3")])?;
        tx.undo_to(sp);
        Ok(())
    });
    commit_group(&p, &group);
    let all = run(&p, key, |tx| tx.hgetall(b"{u}h"));
    let expected: Vec<(Vec<u8>, Vec<u8>)> = [("a", "1"), ("b", "1"), ("gone", "0")]
        .iter()
        .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(all, expected);
    assert_eq!(run(&p, key, |tx| tx.hlen(b"{u}h")), 3);
    assert!(run(&p, b"{u}s", |tx| tx.load(b"{u}s")).is_none());
}
