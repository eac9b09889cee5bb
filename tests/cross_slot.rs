//! Commands whose keys lie on both cores of a node, committed across
//! partitions (docs/redis-compat.md, "Commands across slots"): atomic
//! under concurrent clients, and wholly there or wholly absent after a
//! crash in the middle of a commit or a SIGKILL under load; and the
//! storage's commit records on their own. Replies are compared with
//! redis-server in tests/resp_differential/cross.rs.

mod common;

use std::time::Duration;

use std::cell::Cell;
use std::rc::Rc;

use common::resp::{Conn, R};
use common::{commit_group, serve_command, spawn_until_ready, Node, Proc};
use tessera::cmd::keys;
use tessera::failpoint;
use tessera::proto::set_opts::SetOptions;
use tessera::shard::tx::Tx;
use tessera::shard::{Durability, Partition};
use tessera::slot::key_slot;

/// `a` is on core 1, `b` on core 0 (two partitions: slots 0-8191 and
/// 8192-16383); `c` (core 0) and `d` (core 1) likewise.
const A: &str = "a";
const B: &str = "b";
const C: &str = "c";
const D: &str = "d";

fn int(r: R) -> i64 {
    match r {
        R::Int(n) => n,
        R::Bulk(b) => String::from_utf8(b).unwrap().parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

fn two_cores() -> Node {
    Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    })
}

/// One transfer of 1 from `from` to `to`, by turns as MULTI/EXEC, as a
/// script and as two INCRBYs in one EVAL; whether it was acknowledged.
fn transfer(c: &mut Conn, i: usize, from: &str, to: &str) -> Option<()> {
    match i % 2 {
        0 => {
            c.try_cmd(&["MULTI"])?;
            c.try_cmd(&["DECRBY", from, "1"])?;
            c.try_cmd(&["INCRBY", to, "1"])?;
            match c.try_cmd(&["EXEC"])? {
                R::Array(v) if v.len() == 2 => Some(()),
                other => panic!("EXEC answered {other:?}"),
            }
        }
        _ => match c.try_cmd(&[
            "EVAL",
            "redis.call('DECRBY', KEYS[1], 1); return redis.call('INCRBY', KEYS[2], 1)",
            "2",
            from,
            to,
        ])? {
            R::Int(_) => Some(()),
            other => panic!("EVAL answered {other:?}"),
        },
    }
}

/// The sum of two counters, read in one transaction.
fn sum(c: &mut Conn, x: &str, y: &str) -> i64 {
    assert_eq!(c.cmd(&["MULTI"]), R::ok());
    c.cmd(&["GET", x]);
    c.cmd(&["GET", y]);
    match c.cmd(&["EXEC"]) {
        R::Array(v) => v.into_iter().map(int).sum(),
        other => panic!("EXEC answered {other:?}"),
    }
}

#[test]
fn transfers_across_cores_are_atomic_under_concurrent_clients() {
    let node = two_cores();
    let addr = node.resp_addr();
    let mut c = Conn::connect(addr);
    assert_eq!(c.cmd(&["MSET", A, "1000", B, "0"]), R::ok());
    let writers: Vec<_> = (0..4)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                for i in 0..150 {
                    let (from, to) = if (i + w) % 3 == 0 { (B, A) } else { (A, B) };
                    transfer(&mut c, i + w, from, to).expect("acknowledged");
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let mut seen = 0;
                for _ in 0..300 {
                    assert_eq!(sum(&mut c, A, B), 1000, "a transfer was seen half done");
                    let via_script = c.cmd(&[
                        "EVAL",
                        "return redis.call('GET', KEYS[1]) + redis.call('GET', KEYS[2])",
                        "2",
                        A,
                        B,
                    ]);
                    assert_eq!(via_script, R::Int(1000));
                    seen += 1;
                }
                seen
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for r in readers {
        assert_eq!(r.join().unwrap(), 300);
    }
    // 600 transfers: 200 from b to a, 400 from a to b.
    assert_eq!(int(c.cmd(&["GET", A])), 800);
    assert_eq!(int(c.cmd(&["GET", B])), 200);
    // Commands of one slot still run beside them, and MSETNX is all or nothing.
    assert_eq!(c.cmd(&["MSETNX", C, "1", A, "1"]), R::Int(0));
    assert_eq!(c.cmd(&["EXISTS", C]), R::Int(0));
    assert_eq!(c.cmd(&["MSETNX", C, "1", D, "1"]), R::Int(1));
}

/// A crash after a commit's record is written and before its other
/// partition's part is: the next start finishes it, so the command that
/// was never acknowledged is wholly there, and every acknowledged one too.
#[test]
fn a_crash_between_the_parts_of_a_commit_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("stderr.log");
    let args = ["--cores", "2", "--partitions", "2", "--durability", "fsync"];
    let (mut child, line) = spawn_until_ready(
        serve_command(&data)
            .args(args)
            .env(
                failpoint::ENV,
                "storage.xcommit-parts=20*off->return(abort)",
            )
            .stderr(std::fs::File::create(&log).unwrap()),
    )
    .unwrap();
    let resp = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("resp="))
        .and_then(|a| a.parse().ok())
        .expect("resp= on the ready line");
    let mut c = Conn::connect(resp);
    // MSET fans out (no commit across partitions); the counters start there.
    assert_eq!(c.cmd(&["MSET", A, "1000", B, "0"]), R::ok());
    let mut acked = 0;
    // Bounded: the 21st commit across partitions aborts the process.
    for i in 0..100 {
        match transfer(&mut c, i, A, B) {
            Some(()) => acked += 1,
            None => break,
        }
    }
    assert_eq!(acked, 20, "the fail point fires at the 21st commit");
    assert!(!child.wait().unwrap().success(), "the process aborted");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("fail point storage.xcommit-parts: aborting"));
    let node = Proc::start(&data, &args).unwrap();
    let mut c = Conn::connect(node.resp.unwrap());
    // The 21st transfer's record was durable: it is finished, whole.
    assert_eq!(int(c.cmd(&["GET", B])), 21);
    assert_eq!(int(c.cmd(&["GET", A])), 979);
    assert!(node.log().contains("a crash interrupted"), "{}", node.log());
}

/// Three clients doing transfers from a to b, c to d and a to b until
/// the node dies (bounded in count); each answers how many were
/// acknowledged.
fn transfers_until_killed(resp: std::net::SocketAddr) -> Vec<std::thread::JoinHandle<u64>> {
    [(A, B), (C, D), (A, B)]
        .into_iter()
        .map(|(from, to)| {
            std::thread::spawn(move || {
                let mut c = Conn::connect(resp);
                let mut acked = 0u64;
                for i in 0..5000 {
                    match transfer(&mut c, i, from, to) {
                        Some(()) => acked += 1,
                        None => break,
                    }
                }
                acked
            })
        })
        .collect()
}

/// SIGKILL while clients run transfers on two pairs of counters: after the
/// restart each pair still sums to its constant, and every acknowledged
/// transfer is there.
#[test]
fn sigkill_under_load_leaves_every_commit_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--cores", "2", "--partitions", "2"];
    let node = Proc::start(&data, &args).unwrap();
    let resp = node.resp.unwrap();
    let mut c = Conn::connect(resp);
    assert_eq!(
        c.cmd(&["MSET", A, "100000", B, "0", C, "100000", D, "0"]),
        R::ok()
    );
    let workers = transfers_until_killed(resp);
    // Let the clients run, then kill the node under them.
    common::wait_until("transfers under way", Duration::from_secs(60), || {
        int(Conn::connect(resp).cmd(&["GET", B])) >= 200
    });
    node.kill9();
    let acked: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let node = Proc::start(&data, &args).unwrap();
    let mut c = Conn::connect(node.resp.unwrap());
    let (a, b) = (int(c.cmd(&["GET", A])), int(c.cmd(&["GET", B])));
    let (cc, d) = (int(c.cmd(&["GET", C])), int(c.cmd(&["GET", D])));
    assert_eq!(a + b, 100000, "a={a} b={b}");
    assert_eq!(cc + d, 100000, "c={cc} d={d}");
    // Acknowledged transfers are durable (`wal` survives kill -9); at most
    // one unacknowledged transfer per client may be there too.
    assert!(b as u64 >= acked[0] + acked[2] && b as u64 <= acked[0] + acked[2] + 2);
    assert!(d as u64 >= acked[1] && d as u64 <= acked[1] + 1);
}

/// A replica applies a commit across partitions only with all of its parts
/// (docs/replication.md): readers on the replica never see a transfer half
/// done, and after the primary's SIGKILL the promoted replica has every
/// acknowledged transfer (`--min-replicas-to-ack 1`), each whole.
#[test]
fn a_replica_and_a_promoted_replica_never_show_half_a_commit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let pdir = tempfile::tempdir().unwrap();
    let args = [
        "--cores",
        "2",
        "--partitions",
        "2",
        "--min-replicas-to-ack",
        "1",
        "--replica-ack-timeout-ms",
        "5000",
    ];
    let primary = Proc::start(pdir.path(), &args).unwrap();
    let resp = primary.resp.unwrap();
    let replica =
        common::replication::replica_in(tempfile::tempdir().unwrap(), primary.addr.to_string());
    let raddr = replica.resp_addr();
    let mut c = Conn::connect(resp);
    assert_eq!(
        c.cmd(&["MSET", A, "100000", B, "0", C, "100000", D, "0"]),
        R::ok()
    );
    let mut rc = Conn::connect(raddr);
    common::replication::converge(&mut rc, &["GET", D], &R::Bulk(b"0".to_vec()));
    let workers = transfers_until_killed(resp);
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Conn::connect(raddr);
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) && reads < 100_000 {
                    assert_eq!(
                        sum(&mut c, A, B),
                        100000,
                        "the replica showed half a transfer"
                    );
                    assert_eq!(
                        sum(&mut c, C, D),
                        100000,
                        "the replica showed half a transfer"
                    );
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    // The replica has applied a few hundred transfers.
    common::wait_until(
        "transfers reach the replica",
        Duration::from_secs(60),
        || int(Conn::connect(raddr).cmd(&["GET", B])) >= 300,
    );
    primary.kill9();
    let acked: Vec<u64> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0, "a reader never read");
    }
    let text = common::replication::role(replica.addr(), 2, "").expect("promote");
    assert!(text.starts_with("promoted"), "{text}");
    let mut c = Conn::connect(raddr);
    let (a, b) = (int(c.cmd(&["GET", A])), int(c.cmd(&["GET", B])));
    let (cc, d) = (int(c.cmd(&["GET", C])), int(c.cmd(&["GET", D])));
    assert_eq!(a + b, 100000, "a={a} b={b}");
    assert_eq!(cc + d, 100000, "c={cc} d={d}");
    // Every acknowledged transfer reached the replica before its
    // acknowledgement; at most one more per client may be there.
    assert!(
        b as u64 >= acked[0] + acked[2] && b as u64 <= acked[0] + acked[2] + 2,
        "b={b} acked={acked:?}"
    );
    assert!(
        d as u64 >= acked[1] && d as u64 <= acked[1] + 1,
        "d={d} acked={acked:?}"
    );
    // The promoted replica takes transfers across its cores.
    transfer(&mut c, 0, A, B).expect("acknowledged");
    assert_eq!(sum(&mut c, A, B), 100000);
}

/// A replica that crashes after a commit's record batch and before its
/// parts' batches finishes the commit from the record at its next start,
/// then follows on: it ends with the primary's data.
#[test]
fn a_replica_crashing_between_the_batches_of_a_commit_finishes_it() {
    let primary = two_cores();
    let mut c = Conn::connect(primary.resp_addr());
    assert_eq!(c.cmd(&["MSET", A, "1000", B, "0"]), R::ok());
    let rdir = tempfile::tempdir().unwrap();
    let rdata = rdir.path().join("data");
    let log = rdir.path().join("stderr.log");
    let paddr = primary.addr().to_string();
    let args = ["--cores", "2", "--partitions", "2", "--replica-of", &paddr];
    let (mut child, _) = spawn_until_ready(
        serve_command(&rdata)
            .args(args)
            .env(
                failpoint::ENV,
                "storage.xcommit-replica-parts=5*off->return(abort)",
            )
            .stderr(std::fs::File::create(&log).unwrap()),
    )
    .unwrap();
    for i in 0..20 {
        transfer(&mut c, i, A, B).expect("acknowledged");
    }
    common::wait_until("the replica aborts", Duration::from_secs(60), || {
        child.try_wait().unwrap().is_some()
    });
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("fail point storage.xcommit-replica-parts: aborting"));
    let replica = Proc::start(&rdata, &args).unwrap();
    assert!(
        replica.log().contains("a crash interrupted"),
        "{}",
        replica.log()
    );
    let mut rc = Conn::connect(replica.resp.unwrap());
    common::replication::converge(&mut rc, &["GET", B], &R::Bulk(b"20".to_vec()));
    assert_eq!(int(rc.cmd(&["GET", A])), 980);
}

/// BACKUP while clients run transfers between cores: every restored copy
/// has each transfer on both counters or on neither.
#[test]
fn a_backup_under_transfers_holds_whole_commits() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().to_path_buf();
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
        c.backup_root = Some(root_path);
    });
    let resp = node.resp_addr();
    let mut c = Conn::connect(resp);
    assert_eq!(
        c.cmd(&["MSET", A, "100000", B, "0", C, "100000", D, "0"]),
        R::ok()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = [(A, B), (D, C), (B, A)]
        .into_iter()
        .map(|(from, to)| {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut c = Conn::connect(resp);
                let mut i = 0;
                // Bounded in count; the backups end it sooner.
                while !stop.load(Ordering::Relaxed) && i < 20_000 {
                    transfer(&mut c, i, from, to).expect("acknowledged");
                    acked.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                i
            })
        })
        .collect();
    common::wait_until("transfers under way", Duration::from_secs(60), || {
        acked.load(Ordering::Relaxed) >= 300
    });
    let addr = node.addr();
    let targets: Vec<_> = (0..4).map(|i| root.path().join(format!("b{i}"))).collect();
    for t in &targets {
        let t = t.to_str().unwrap().to_string();
        let n = common::block_on(async move {
            let c = tessera::client::Client::connect(addr).await.unwrap();
            c.backup(&t).await.unwrap()
        });
        assert_eq!(n, 2, "both partitions");
    }
    stop.store(true, Ordering::Relaxed);
    let done: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(done > 0);
    for t in &targets {
        let restored = tempfile::tempdir().unwrap();
        tessera::shard::backup::restore(t, restored.path()).unwrap();
        let copy = Node::start_in(restored, |c| c.cores = Some(2));
        let mut c = Conn::connect(copy.resp_addr());
        let (a, b) = (int(c.cmd(&["GET", A])), int(c.cmd(&["GET", B])));
        let (cc, d) = (int(c.cmd(&["GET", C])), int(c.cmd(&["GET", D])));
        assert_eq!(
            (a + b, cc + d),
            (100000, 100000),
            "{t:?}: a={a} b={b} c={cc} d={d}"
        );
    }
}

// ---- the storage's commit records, on real RocksDB without a server ----

fn now() -> u64 {
    tessera::shard::clock::now_ms()
}

/// Runs `f` in a transaction of `k`'s slot and stages what it wrote.
fn on<T>(
    p: &Partition,
    k: &[u8],
    f: impl FnOnce(&mut Tx<'_>) -> Result<T, tessera::shard::Error>,
) -> T {
    let mut t = Tx::new(p, key_slot(k), now());
    let r = f(&mut t).unwrap();
    t.commit();
    r
}

/// Two keys, one per partition of a 2-partition store (slot ranges: 0 to
/// 8191, 8192 to 16383).
fn keys_on_both(s: &tessera::shard::Store) -> (Vec<u8>, Vec<u8>) {
    let m = s.manifest();
    let on_part = |p: u32| {
        (0..)
            .map(|i| format!("k{i}").into_bytes())
            .find(|k| m.slots_of(p).holds(key_slot(k)))
            .unwrap()
    };
    (on_part(0), on_part(1))
}

/// SETs `k` to `v` in a transaction that is not staged; its writes.
fn set_writes(p: &Partition, k: &[u8], v: &[u8]) -> Vec<tessera::shard::partition::xcommit::Write> {
    let mut t = Tx::new(p, key_slot(k), now());
    keys::set_with(&mut t, k, v, &SetOptions::default()).unwrap();
    t.into_writes()
}

/// A commit across partitions whose record was written but whose other
/// part was not (a crash in between) is finished when the store opens
/// again; one whose part was written is not redone over later writes; one
/// whose record was never written leaves nothing.
#[test]
fn a_commit_across_partitions_is_whole_after_a_crash() {
    use tessera::shard::partition::xcommit::{recover, Part, Record};
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let s = common::shard_store_of(dir.path(), Durability::Wal, 8 << 20, 2);
        let g0 = Rc::new(Cell::new(1));
        let g1 = Rc::new(Cell::new(1));
        let p0 = s.open_partition(0, g0.clone()).unwrap();
        let p1 = s.open_partition(1, g1.clone()).unwrap();
        (s, (p0, g0), (p1, g1))
    };
    let record = |p0: &Partition, p1: &Partition, a: &[u8], b: &[u8], v: &[u8]| {
        let parts = vec![
            Part {
                partition: 0,
                writes: set_writes(p0, a, v),
            },
            Part {
                partition: 1,
                writes: set_writes(p1, b, v),
            },
        ];
        let id = p0.next_commit_id(now());
        Record {
            id,
            from: 0,
            max_version: id,
            parts,
        }
    };
    let value =
        |p: &Partition, k: &[u8]| on(p, k, |t| t.read_string(k, |v| v.map(|(_, b)| b.to_vec())));
    let (a, b) = {
        let (s, _, _) = open();
        keys_on_both(&s)
    };

    // 1. The record is written, the other part is not.
    let first_id;
    {
        let (_s, (p0, g0), (p1, _g1)) = open();
        let r = record(&p0, &p1, &a, &b, b"one");
        first_id = r.id;
        p0.stage_record(&r).unwrap();
        commit_group(&p0, &g0);
        assert_eq!(value(&p1, &b), None, "the part is not staged yet");
    }
    {
        let (_s, (p0, _), (p1, g1)) = open();
        let handles = [p0.recovery_handle(), p1.recovery_handle()];
        assert_eq!(recover(&handles).unwrap(), 1, "the missing part is redone");
        p1.resume_clock().unwrap();
        assert_eq!(value(&p0, &a).as_deref(), Some(&b"one"[..]));
        assert_eq!(value(&p1, &b).as_deref(), Some(&b"one"[..]));
        assert_eq!(p1.applied_from(0).unwrap(), first_id);
        // The clock moved past the record's versions.
        let later = set_writes(&p1, &b, b"x");
        assert!(!later.is_empty());
        assert!(p1.next_commit_id(0) > first_id);
        assert_eq!(recover(&handles).unwrap(), 0, "the record is forgotten");
        commit_group(&p1, &g1);
    }

    // 2. Both parts written, the record not yet forgotten, a later write
    //    on the other partition: reopening redoes nothing.
    {
        let (_s, (p0, g0), (p1, g1)) = open();
        let r = record(&p0, &p1, &a, &b, b"two");
        p0.stage_record(&r).unwrap();
        commit_group(&p0, &g0);
        p1.stage_part(0, r.id, r.max_version, r.parts[1].writes.clone())
            .unwrap();
        commit_group(&p1, &g1);
        on(&p1, &b, |t| {
            keys::set_with(t, &b, b"later", &SetOptions::default())
        });
        commit_group(&p1, &g1);
    }
    {
        let (_s, (p0, _), (p1, _)) = open();
        let handles = [p0.recovery_handle(), p1.recovery_handle()];
        assert_eq!(recover(&handles).unwrap(), 0, "the part is marked applied");
        assert_eq!(value(&p0, &a).as_deref(), Some(&b"two"[..]));
        assert_eq!(value(&p1, &b).as_deref(), Some(&b"later"[..]));
    }

    // 3. The record is staged, never written: neither part is there.
    {
        let (_s, (p0, _), (p1, _)) = open();
        let r = record(&p0, &p1, &a, &b, b"three");
        p0.stage_record(&r).unwrap();
    }
    {
        let (_s, (p0, _), (p1, _)) = open();
        let handles = [p0.recovery_handle(), p1.recovery_handle()];
        assert_eq!(recover(&handles).unwrap(), 0);
        assert_eq!(value(&p0, &a).as_deref(), Some(&b"two"[..]));
        assert_eq!(value(&p1, &b).as_deref(), Some(&b"later"[..]));
    }
}
