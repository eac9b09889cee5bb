//! Replication, first part (docs/replication.md): a replica follows every
//! partition of a primary, resumes from its position after a restart, and
//! refuses writes; mismatched partition counts and cache mode are refused.

mod common;

use std::time::{Duration, Instant};

use common::resp::{Conn, R};
use common::Node;
use tessera::client::Client;
use tessera::codes::ErrorCode;

fn replica_of(primary: &Node, dir: tempfile::TempDir) -> Node {
    replica_in(dir, primary.addr().to_string())
}

/// A 2-core, 2-partition replica of the node at `to`, in `dir`.
fn replica_in(dir: tempfile::TempDir, to: String) -> Node {
    Node::start_in(dir, move |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
        c.replica_of = Some(to);
    })
}

/// Waits until `key` reads `want` on the replica's RESP port.
fn converge(c: &mut Conn, words: &[&str], want: &R) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = c.cmd(words);
        if &got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{words:?}: still {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn info(c: &mut Conn) -> String {
    let R::Bulk(b) = c.cmd(&["INFO"]) else {
        panic!()
    };
    String::from_utf8(b).unwrap()
}

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
    assert!(cfg.validate().unwrap_err().contains("durability none"));
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

// ---- three nodes, promotion, fencing, full sync, dropped connections ----

/// Every key with its type and content, read over RESP (a full scan).
fn dump(c: &mut Conn) -> std::collections::BTreeMap<String, String> {
    let R::Array(keys) = c.cmd(&["KEYS", "*"]) else {
        panic!("KEYS")
    };
    let mut out = std::collections::BTreeMap::new();
    for k in keys {
        let R::Bulk(k) = k else { panic!() };
        let k = String::from_utf8(k).unwrap();
        let R::Simple(t) = c.cmd(&["TYPE", &k]) else {
            panic!()
        };
        let mut v = match t.as_str() {
            "string" => c.cmd(&["GET", &k]),
            "hash" => c.cmd(&["HGETALL", &k]),
            "set" => c.cmd(&["SMEMBERS", &k]),
            "zset" => c.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"]),
            "list" => c.cmd(&["LRANGE", &k, "0", "-1"]),
            "none" => continue, // deleted between KEYS and TYPE
            other => panic!("type {other}"),
        };
        if t == "set" || t == "hash" {
            // Unordered replies: compare sorted.
            if let R::Array(items) = &mut v {
                if t == "set" {
                    items.sort_by_key(|i| format!("{i:?}"));
                }
            }
        }
        out.insert(k, format!("{t} {v:?}"));
    }
    out
}

/// Waits until `replica`'s content equals `primary`'s.
fn converge_all(primary: &mut Conn, replica: &mut Conn, what: &str) {
    let want = dump(primary);
    assert!(!want.is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = dump(replica);
        if got == want {
            return;
        }
        let missing = want.iter().filter(|(k, v)| got.get(*k) != Some(v)).count();
        assert!(
            Instant::now() < deadline,
            "{what}: {missing} of {} keys differ; extra {}",
            want.len(),
            got.keys().filter(|k| !want.contains_key(*k)).count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small deterministic generator for random writes.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `n` random writes over every type, with deletions.
fn random_writes(c: &mut Conn, seed: u64, n: usize) {
    let mut rng = Rng(seed);
    for _ in 0..n {
        let k = rng.next(60);
        let m = rng.next(20).to_string();
        let v = rng.next(1000).to_string();
        let r = match rng.next(11) {
            0 | 1 => c.cmd(&["SET", &format!("s{k}"), &v]),
            2 => c.cmd(&["DEL", &format!("s{k}"), &format!("h{k}")]),
            3 => c.cmd(&["HSET", &format!("h{k}"), &m, &v]),
            4 => c.cmd(&["HDEL", &format!("h{k}"), &m]),
            5 => c.cmd(&["SADD", &format!("t{k}"), &m]),
            6 => c.cmd(&["SREM", &format!("t{k}"), &m]),
            7 => c.cmd(&["ZADD", &format!("z{k}"), &v, &m]),
            8 => c.cmd(&["RPUSH", &format!("l{k}"), &v]),
            9 => c.cmd(&["LPOP", &format!("l{k}")]),
            _ => c.cmd(&["INCR", &format!("n{k}")]),
        };
        assert!(!matches!(r, R::Err(_)), "{r:?}");
    }
}

fn role(addr: std::net::SocketAddr, action: u8, arg: impl Into<Vec<u8>>) -> Result<String, String> {
    let arg = arg.into();
    common::block_on(async move {
        let c = Client::connect(addr).await.map_err(|e| e.to_string())?;
        c.role(action, &arg).await.map_err(|e| e.to_string())
    })
}

fn replicaof(node: std::net::SocketAddr, primary: std::net::SocketAddr) -> String {
    role(node, 1, primary.to_string()).expect("replicaof")
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
    // node with another partition count, or to itself, is refused.
    let text = replicaof(r2.addr(), r1.addr());
    assert!(text.contains(&r1.addr().to_string()), "{text}");
    assert!(info(&mut c2).contains(&format!("role:replica of {}", r1.addr())));
    let me = role(r2.addr(), 1, r2.addr().to_string());
    assert!(me.unwrap_err().contains("is this node"));
    let other = Node::start_in(tempfile::tempdir().unwrap(), |c| c.partitions = Some(3));
    let e = role(r2.addr(), 1, other.addr().to_string()).unwrap_err();
    assert!(e.contains("3 partitions"), "{e}");
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

/// Reads `key` from `addr` over the binary protocol.
fn get(addr: std::net::SocketAddr, keys: Vec<String>) -> Vec<Option<Vec<u8>>> {
    common::block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let mut out = Vec::new();
        for k in keys {
            out.push(c.get(k.as_bytes()).await.unwrap().map(|v| v.value));
        }
        out
    })
}

#[test]
fn after_sigkill_of_the_primary_a_promoted_replica_has_every_acknowledged_write_and_the_old_primary_is_fenced(
) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
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
    let primary = common::Proc::start(pdir.path(), &args).unwrap();
    let paddr = primary.addr;
    let r1 = replica_in(tempfile::tempdir().unwrap(), paddr.to_string());
    let r2 = replica_in(tempfile::tempdir().unwrap(), paddr.to_string());
    let mut c1 = Conn::connect(r1.resp_addr());
    let mut c2 = Conn::connect(r2.resp_addr());
    common::wait_until("replicas know each other", Duration::from_secs(30), || {
        info(&mut c1).contains(&format!("core0_peers:{}", r2.addr()))
            && info(&mut c2).contains(&format!("core0_peers:{}", r1.addr()))
    });
    // Writers until the primary dies; every acknowledged write is noted.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, count, done) = (acked.clone(), count.clone(), done.clone());
            std::thread::spawn(move || {
                common::block_on(async move {
                    let Ok(c) = Client::connect(paddr).await else {
                        return;
                    };
                    for i in 0..100_000 {
                        if done.load(Ordering::Relaxed) {
                            return;
                        }
                        let (k, v) = (format!("w{w}:{i}"), format!("{i}"));
                        match c.set(k.as_bytes(), v.as_bytes()).await {
                            Ok(_) => {
                                acked.lock().unwrap().push((k, v));
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => return,
                        }
                    }
                })
            })
        })
        .collect();
    common::wait_until("writes under load", Duration::from_secs(60), || {
        count.load(Ordering::Relaxed) >= 2000
    });
    primary.kill9();
    done.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    // Promote replica 1: it compares positions with replica 2 and catches
    // up from it first if it is ahead.
    let text = role(r1.addr(), 2, "").expect("promote");
    assert!(text.starts_with("promoted: epoch 2:"), "{text}");
    let (keys, values): (Vec<String>, Vec<String>) = acked.iter().cloned().unzip();
    let got = get(r1.addr(), keys.clone());
    let lost: Vec<&String> = keys
        .iter()
        .zip(&got)
        .zip(&values)
        .filter(|((_, g), v)| g.as_deref() != Some(v.as_bytes()))
        .map(|((k, _), _)| k)
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    // The new primary takes writes; promoting it again is refused.
    assert_eq!(c1.cmd(&["SET", "after-promotion", "1"]), R::ok());
    assert!(role(r1.addr(), 2, "")
        .unwrap_err()
        .contains("already a primary"));
    // Replica 2 follows the new primary.
    replicaof(r2.addr(), r1.addr());
    converge(&mut c2, &["GET", "after-promotion"], &R::bulk("1"));
    assert!(info(&mut c2).contains("core0_epoch:2:"));
    // The old primary comes back (same data, same flags): it is fenced,
    // learns it was superseded, and no write of it lands anywhere.
    let old = common::Proc::start(pdir.path(), &args).unwrap();
    let oaddr = old.addr;
    let refused = common::block_on(async move {
        let c = Client::connect(oaddr).await.unwrap();
        let e = c.set(b"from-the-old-primary", b"1").await.unwrap_err();
        (e.code(), e.to_string())
    });
    assert_eq!(refused.0, Some(ErrorCode::ReadOnly), "{}", refused.1);
    common::wait_until(
        "the old primary learns it was superseded",
        Duration::from_secs(30),
        || {
            role(oaddr, 0, "").unwrap().contains("role:fenced")
                && common::block_on(async move {
                    Client::connect(oaddr).await.unwrap().info().await.unwrap()
                })
                .contains("superseded")
        },
    );
    let e = common::block_on(async move {
        let c = Client::connect(oaddr).await.unwrap();
        c.set(b"from-the-old-primary", b"1")
            .await
            .unwrap_err()
            .to_string()
    });
    assert!(e.contains("superseded"), "{e}");
    assert_eq!(
        get(r1.addr(), vec!["from-the-old-primary".into()]),
        vec![None]
    );
    // Made a replica of the new primary, it converges to it.
    replicaof(oaddr, r1.addr());
    let text =
        common::block_on(
            async move { Client::connect(oaddr).await.unwrap().info().await.unwrap() },
        );
    assert!(text.contains("replica of"), "{text}");
    // Its extra, unacknowledged batches diverged from the new primary's
    // history: it copies in full and ends with exactly the new content.
    let mut p = Conn::connect(r1.resp_addr());
    let mut o = Conn::connect(old.resp.unwrap());
    converge_all(
        &mut p,
        &mut o,
        "the old primary as a replica of the new one",
    );
    let got = get(oaddr, keys);
    assert!(got
        .iter()
        .zip(&values)
        .all(|(g, v)| g.as_deref() == Some(v.as_bytes())));
    old.kill9();
}

/// A primary (acks from one replica) with two replicas, where replica 1
/// stopped early and replica 2 acknowledged 300 more writes; then the
/// primary stops for good and replica 1 restarts. Returns replica 1, replica
/// 2 and every acknowledged key.
fn replica_two_ahead() -> (Node, Node, Vec<String>) {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
        c.min_replicas_to_ack = 1;
        c.replica_ack_timeout_ms = 5000;
    });
    let to = primary.addr().to_string();
    let r1 = replica_in(tempfile::tempdir().unwrap(), to.clone());
    let r2 = replica_in(tempfile::tempdir().unwrap(), to.clone());
    let mut c1 = Conn::connect(r1.resp_addr());
    common::wait_until("replica 1 knows replica 2", Duration::from_secs(30), || {
        info(&mut c1).contains(&format!("core1_peers:{}", r2.addr()))
    });
    let mut p = Conn::connect(primary.resp_addr());
    let mut keys = Vec::new();
    let mut write = |from: usize, to: usize| {
        for i in from..to {
            let k = format!("k{i}");
            assert_eq!(p.cmd(&["SET", &k, "v"]), R::ok(), "{k}");
            keys.push(k);
        }
    };
    write(0, 100);
    let dir1 = r1.stop();
    write(100, 400);
    drop(primary);
    let r1 = replica_in(dir1, to);
    (r1, r2, keys)
}

#[test]
fn promotion_catches_up_from_a_replica_that_is_ahead() {
    let (r1, _r2, keys) = replica_two_ahead();
    let mut c1 = Conn::connect(r1.resp_addr());
    assert_eq!(c1.cmd(&["GET", "k399"]), R::Nil, "replica 1 is behind");
    let text = role(r1.addr(), 2, "").expect("promote");
    assert!(text.contains("caught up from"), "{text}");
    for k in &keys {
        assert_eq!(
            c1.cmd(&["GET", k]),
            R::bulk("v"),
            "{k} acknowledged but lost"
        );
    }
    assert_eq!(c1.cmd(&["SET", "new", "1"]), R::ok());
}

#[test]
fn promotion_is_refused_while_a_peer_is_unreachable_unless_forced() {
    let (r1, r2, _keys) = replica_two_ahead();
    let r2_addr = r2.addr().to_string();
    drop(r2);
    // Through the real command line, as an operator would.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::binary())
            .args(["cli", "--addr", &r1.addr().to_string()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = cli(&["promote"]);
    assert!(
        !ok && err.contains(&r2_addr) && err.contains("--force"),
        "{err}"
    );
    let mut c1 = Conn::connect(r1.resp_addr());
    assert_eq!(c1.cmd(&["SET", "x", "1"]).err_word(), Some("READONLY"));
    assert!(cli(&["role"]).1.contains("role:replica"));
    // Forced: it takes writes, without the writes only replica 2 had.
    let (ok, text, err) = cli(&["promote", "--force"]);
    assert!(ok && text.starts_with("promoted"), "{text} {err}");
    assert!(cli(&["role"]).1.contains("role:primary"));
    assert_eq!(c1.cmd(&["SET", "x", "1"]), R::ok());
    assert_eq!(c1.cmd(&["GET", "k399"]), R::Nil);
}

#[test]
fn a_restarted_primary_waits_for_a_peer_then_serves_its_replica_from_the_wal() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let replica = replica_of(&primary, tempfile::tempdir().unwrap());
    let mut p = Conn::connect(primary.resp_addr());
    random_writes(&mut p, 21, 800);
    let mut r = Conn::connect(replica.resp_addr());
    converge_all(&mut p, &mut r, "before the restart");
    // Writes the replica has not pulled yet when the primary stops: none
    // after the convergence, so it resumes from the WAL, not from memory.
    let dir = primary.stop();
    let primary = Node::start_in(dir, |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    // It knows its replica: writable only once the replica confirmed its epoch.
    let mut p = Conn::connect(primary.resp_addr());
    common::wait_until(
        "the replica confirms the epoch",
        Duration::from_secs(30),
        || p.cmd(&["SET", "after-restart", "1"]) == R::ok(),
    );
    assert!(info(&mut p).contains("core0_role:primary"));
    random_writes(&mut p, 22, 800);
    replicaof(replica.addr(), primary.addr());
    converge_all(&mut p, &mut r, "after the primary's restart");
    let text = info(&mut r);
    assert_eq!(
        common::info_sum(&text, "partition", "repl_full_syncs"),
        0,
        "{text}"
    );
}
