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
        .filter_map(|l| l.split_once("_repl_position:"))
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
