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
    let addr = primary.addr().to_string();
    Node::start_in(dir, move |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
        c.replica_of = Some(addr);
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
