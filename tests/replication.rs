//! Replication, first part (docs/replication.md): a replica follows every
//! partition of a primary, resumes from its position after a restart, and
//! refuses writes; mismatched partition counts, slot layouts and cache mode are refused;
//! three nodes, dropped connections, restarts under load and full syncs.
//! Promotion and fencing are in tests/replication_failover.rs.

mod common;

use std::time::{Duration, Instant};

use common::replication::*;
use common::resp::{Conn, R};
use common::Node;
use tessera::client::Client;
use tessera::codes::ErrorCode;

#[test]
fn a_replica_follows_every_partition_and_resumes_after_a_restart() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let mut p = Conn::connect(primary.resp_addr());
    for i in 0..300 {
        p.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    p.cmd(&["HSET", "h", "f", "v"]);
    p.cmd(&["RPUSH", "l", "a", "b"]);
    p.cmd(&["ZADD", "z", "1.5", "m"]);
    let replica = replica_of(&primary, tempfile::tempdir().unwrap());
    let mut r = Conn::connect(replica.resp_addr());
    // Each partition has its own stream: wait for every key.
    for i in 0..300 {
        converge(&mut r, &["GET", &format!("k{i}")], &R::bulk(&i.to_string()));
    }
    converge(
        &mut r,
        &["HGETALL", "h"],
        &R::Array(vec![R::bulk("f"), R::bulk("v")]),
    );
    converge(&mut r, &["LRANGE", "l", "0", "-1"], &R::arr(&["a", "b"]));
    converge(&mut r, &["ZSCORE", "z", "m"], &R::bulk("1.5"));
    // Writes keep flowing; deletions too.
    p.cmd(&["DEL", "k0"]);
    p.cmd(&["SET", "live", "1"]);
    converge(&mut r, &["GET", "live"], &R::bulk("1"));
    converge(&mut r, &["GET", "k0"], &R::Nil);
    // The replica refuses writes on every protocol, naming its primary.
    let e = r.cmd(&["SET", "x", "1"]);
    assert!(
        matches!(&e, R::Err(m) if m.starts_with("READONLY") && m.contains(&primary.addr().to_string())),
        "{e:?}"
    );
    assert_eq!(r.cmd(&["HSET", "h", "g", "w"]).err_word(), Some("READONLY"));
    let raddr = replica.addr();
    let code = common::block_on(async move {
        let c = Client::connect(raddr).await.unwrap();
        c.set(b"x", b"1").await.unwrap_err().code()
    });
    assert_eq!(code, Some(ErrorCode::ReadOnly));
    let text = info(&mut r);
    assert!(text.contains("role:replica of"), "{text}");
    // Restart the replica while the primary keeps writing: it resumes from
    // its stored position (its data is there at once) and catches up.
    let dir = replica.stop();
    for i in 300..400 {
        p.cmd(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    let replica = replica_of(&primary, dir);
    let mut r = Conn::connect(replica.resp_addr());
    assert_eq!(
        r.cmd(&["GET", "k299"]),
        R::bulk("299"),
        "applied data survives the restart"
    );
    let text = info(&mut r);
    let positions: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split_once("_repl_index:"))
        .map(|(_, v)| v.trim().parse().unwrap())
        .collect();
    assert_eq!(positions.len(), 2, "{text}");
    assert!(
        positions.iter().all(|p| *p > 0),
        "resumes from a stored position: {text}"
    );
    for i in 300..400 {
        converge(&mut r, &["GET", &format!("k{i}")], &R::bulk(&i.to_string()));
    }
}

#[test]
fn mismatched_partitions_and_cache_mode_are_refused() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path(), 1);
    cfg.partitions = Some(3);
    cfg.replica_of = Some(primary.addr().to_string());
    let err = tessera::start(cfg)
        .err()
        .expect("a replica with 3 partitions is refused");
    let msg = err.to_string();
    assert!(msg.contains("2 partitions") && msg.contains("3"), "{msg}");
    let mut cfg = common::config(dir.path(), 1);
    cfg.durability = tessera::shard::Durability::None;
    cfg.replica_of = Some(primary.addr().to_string());
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("durability none"));
}

#[test]
fn with_min_replicas_to_ack_an_acknowledged_write_is_on_the_replica() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
        c.min_replicas_to_ack = 1;
        c.replica_ack_timeout_ms = 300;
    });
    let replica = replica_of(&primary, tempfile::tempdir().unwrap());
    let mut r = Conn::connect(replica.resp_addr());
    let deadline = Instant::now() + Duration::from_secs(30);
    while info(&mut r).matches("_repl_state:tailing").count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the replica never started tailing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut p = Conn::connect(primary.resp_addr());
    // Each acknowledged write is already applied on the replica: read it
    // there at once, without waiting.
    for i in 0..100 {
        let k = format!("acked{i}");
        assert_eq!(p.cmd(&["SET", &k, "v"]), R::ok(), "write {i}");
        assert_eq!(
            r.cmd(&["GET", &k]),
            R::bulk("v"),
            "write {i} acknowledged but not on the replica"
        );
    }
    assert_eq!(p.cmd(&["HSET", "h", "f", "v"]), R::Int(1));
    assert_eq!(r.cmd(&["HGET", "h", "f"]), R::bulk("v"));
    // Without the replica, writes fail with NOREPLICAS after the timeout;
    // they are applied on the primary (documented: "may have been applied").
    drop(replica);
    for i in 0..6 {
        // Keys on both partitions, over connections on both cores.
        let k = format!("lonely{i}");
        let mut c = Conn::connect(primary.resp_addr());
        let e = c.cmd(&["SET", &k, "1"]);
        assert_eq!(e.err_word(), Some("NOREPLICAS"), "{k}: {e:?}");
        assert_eq!(c.cmd(&["GET", &k]), R::bulk("1"));
    }
}

#[test]
fn three_nodes_converge_and_a_replica_switches_primary_at_run_time() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let mut p = Conn::connect(primary.resp_addr());
    random_writes(&mut p, 7, 1500);
    let r1 = replica_of(&primary, tempfile::tempdir().unwrap());
    let r2 = replica_of(&primary, tempfile::tempdir().unwrap());
    random_writes(&mut p, 8, 1500);
    let mut c1 = Conn::connect(r1.resp_addr());
    let mut c2 = Conn::connect(r2.resp_addr());
    converge_all(&mut p, &mut c1, "replica 1");
    converge_all(&mut p, &mut c2, "replica 2");
    let text = info(&mut c1);
    for field in ["repl_lag:0", "repl_lag_bytes:0", "repl_lag_seconds:0.000"] {
        assert_eq!(text.matches(field).count(), 2, "{field}: {text}");
    }
    assert!(text.contains("core0_epoch:1:"), "{text}");
    // Each replica learned of the other from the primary.
    common::wait_until("replicas know each other", Duration::from_secs(30), || {
        info(&mut c1).contains(&r2.addr().to_string())
            && info(&mut c2).contains(&r1.addr().to_string())
    });
    // At run time, replica 2 follows replica 1 (a chain); replicaof to a
    // node with another partition count or slot layout, or to itself, is
    // refused.
    let text = replicaof(r2.addr(), r1.addr());
    assert!(text.contains(&r1.addr().to_string()), "{text}");
    assert!(info(&mut c2).contains(&format!("role:replica of {}", r1.addr())));
    let me = role(r2.addr(), 1, r2.addr().to_string());
    assert!(me.unwrap_err().contains("is this node"));
    let other = Node::start_in(tempfile::tempdir().unwrap(), |c| c.partitions = Some(3));
    let e = role(r2.addr(), 1, other.addr().to_string()).unwrap_err();
    assert!(e.contains("3 partitions"), "{e}");
    let interleaved = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.partitions = Some(2);
        c.slot_layout = Some(tessera::shard::SlotLayoutKind::Interleaved);
    });
    let e = role(r2.addr(), 1, interleaved.addr().to_string()).unwrap_err();
    assert!(e.contains("needs its primary's layout"), "{e}");
    assert!(info(&mut c2).contains(&format!("role:replica of {}", r1.addr())));
    random_writes(&mut p, 9, 1000);
    converge_all(&mut p, &mut c2, "replica 2 through replica 1");
}

/// A TCP proxy that drops every connection it carries every `every`.
struct Proxy {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    drops: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    fn start(upstream: std::net::SocketAddr, every: Duration) -> Proxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let drops = Arc::new(AtomicUsize::new(0));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (s, d, lv) = (stop.clone(), drops.clone(), live.clone());
        std::thread::spawn(move || {
            let mut last = Instant::now();
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((down, _)) => {
                        down.set_nonblocking(false).unwrap();
                        let Ok(up) = TcpStream::connect(upstream) else {
                            continue;
                        };
                        let _ = down.set_nodelay(true);
                        let _ = up.set_nodelay(true);
                        for (mut a, mut b) in [
                            (down.try_clone().unwrap(), up.try_clone().unwrap()),
                            (up.try_clone().unwrap(), down.try_clone().unwrap()),
                        ] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut a, &mut b);
                                let _ = a.shutdown(Shutdown::Both);
                                let _ = b.shutdown(Shutdown::Both);
                            });
                        }
                        lv.lock().unwrap().extend([down, up]);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
                if last.elapsed() >= every {
                    last = Instant::now();
                    let mut v = lv.lock().unwrap();
                    if !v.is_empty() {
                        d.fetch_add(1, Ordering::Relaxed);
                    }
                    for c in v.drain(..) {
                        let _ = c.shutdown(Shutdown::Both);
                    }
                }
            }
            for c in lv.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        });
        Proxy { addr, stop, drops }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_replica_behind_a_connection_dropping_proxy_loses_and_duplicates_nothing() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let proxy = Proxy::start(primary.addr(), Duration::from_millis(40));
    let replica = replica_in(tempfile::tempdir().unwrap(), proxy.addr.to_string());
    let mut p = Conn::connect(primary.resp_addr());
    let n = 3000;
    let drops = || proxy.drops.load(std::sync::atomic::Ordering::Relaxed);
    for i in 0..n {
        // A list shows a lost or a doubled batch; counters too.
        p.cmd(&["RPUSH", "seq", &i.to_string()]);
        p.cmd(&["INCR", &format!("count{}", i % 7)]);
        if i % 500 == 499 {
            // At least one cut of the stream between chunks of writes.
            let before = drops();
            common::wait_until("the proxy cuts the stream", Duration::from_secs(30), || {
                drops() > before
            });
        }
    }
    let mut r = Conn::connect(replica.resp_addr());
    converge_all(&mut p, &mut r, "replica behind the proxy");
    let R::Array(items) = r.cmd(&["LRANGE", "seq", "0", "-1"]) else {
        panic!()
    };
    assert_eq!(items.len(), n);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item, &R::bulk(&i.to_string()));
    }
    assert!(
        drops() >= 6,
        "the proxy cut the stream only {} times",
        drops()
    );
}

#[test]
fn a_replica_killed_and_restarted_under_load_resumes_without_a_full_sync() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let rdir = tempfile::tempdir().unwrap();
    let to = primary.addr().to_string();
    let args = [
        "--cores",
        "2",
        "--partitions",
        "2",
        "--replica-of",
        to.as_str(),
    ];
    let replica = common::Proc::start(rdir.path(), &args).unwrap();
    let mut p = Conn::connect(primary.resp_addr());
    random_writes(&mut p, 11, 500);
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let (s, n) = (stop.clone(), count.clone());
    let paddr = primary.resp_addr();
    let writer = std::thread::spawn(move || {
        let mut c = Conn::connect(paddr);
        let mut i = 0;
        while !s.load(Ordering::Relaxed) && i < 200_000 {
            assert_eq!(
                c.cmd(&["SET", &format!("load{}", i % 300), &i.to_string()]),
                R::ok()
            );
            i += 1;
            n.store(i, Ordering::Relaxed);
        }
    });
    let mut r = Conn::connect(replica.resp.unwrap());
    converge(&mut r, &["GET", "load10"], &R::bulk("10"));
    // SIGKILL under load, then a restart with the same data directory; the
    // writes go on throughout (checked by count, not by time).
    replica.kill9();
    let replica = common::Proc::start(rdir.path(), &args).unwrap();
    let mut r = Conn::connect(replica.resp.unwrap());
    let text = info(&mut r);
    assert!(
        common::info_sum(&text, "partition", "repl_index") > 0,
        "{text}"
    );
    let at_restart = count.load(Ordering::Relaxed);
    common::wait_until("writes after the restart", Duration::from_secs(60), || {
        count.load(Ordering::Relaxed) >= at_restart + 300
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    converge_all(&mut p, &mut r, "restarted replica");
    let text = info(&mut r);
    assert_eq!(
        common::info_sum(&text, "partition", "repl_full_syncs"),
        0,
        "{text}"
    );
}

#[test]
fn a_replica_behind_the_primarys_wal_copies_the_partitions_in_full() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
        // No WAL kept after a flush, and small memtables: the WAL moves on fast.
        c.wal_retention_seconds = 0;
        c.wal_retention_mb = 0;
        c.write_buffer_bytes = 1 << 20;
    });
    let to = primary.addr().to_string();
    let replica = replica_in(tempfile::tempdir().unwrap(), to.clone());
    let mut p = Conn::connect(primary.resp_addr());
    random_writes(&mut p, 12, 300);
    let mut r = Conn::connect(replica.resp_addr());
    converge_all(&mut p, &mut r, "replica before the stop");
    // Stopped while the primary writes far more than its memtables and its
    // in-memory tail (16 MiB per partition) hold: the WAL it needs is gone,
    // so it copies both partitions in full.
    let dir = replica.stop();
    let big = "x".repeat(8000);
    for i in 0..12_000 {
        p.cmd(&["SET", &format!("big{i}"), &big]);
    }
    p.cmd(&["DEL", "big0", "s1", "s2"]);
    let replica = replica_in(dir, to);
    let mut r = Conn::connect(replica.resp_addr());
    converge_all(&mut p, &mut r, "replica after a full sync");
    let text = info(&mut r);
    for n in 0..2 {
        let syncs: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("partition{n}_repl_full_syncs:")))
            .unwrap()
            .parse()
            .unwrap();
        assert!(syncs >= 1, "partition {n} was not copied in full: {text}");
    }
    // Tailing goes on after the copy.
    p.cmd(&["SET", "after-sync", "1"]);
    converge(&mut r, &["GET", "after-sync"], &R::bulk("1"));
}
