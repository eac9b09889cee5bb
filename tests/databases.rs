//! Databases beyond the RESP comparisons (tests/resp_differential/
//! databases.rs): they survive a restart, replicate, are refused in
//! cluster mode and beyond `databases`, and the binary protocol's DB
//! request carries them.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::replication::{converge, replica_of};
use common::resp::{Conn, R};
use common::Node;
use tessera::codes::ErrorCode;
use tessera::proto::{Request, SetArgs};

fn two_cores() -> Node {
    Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    })
}

/// Keys of database 5 (strings and collections, with an expiry) and of
/// database 0 with the same names.
fn fill(c: &mut Conn) {
    c.cmd(&["SET", "k", "zero"]);
    assert_eq!(c.cmd(&["SELECT", "5"]), R::ok());
    for i in 0..50 {
        c.cmd(&["SET", &format!("k{i}"), &format!("five{i}")]);
    }
    c.cmd(&["SET", "k", "five"]);
    c.cmd(&["HSET", "h", "f", "v"]);
    c.cmd(&["RPUSH", "l", "a", "b"]);
    c.cmd(&["ZADD", "z", "1.5", "m"]);
    c.cmd(&["EXPIRE", "h", "1000"]);
}

fn check(c: &mut Conn) {
    assert_eq!(c.cmd(&["SELECT", "5"]), R::ok());
    // Commands about no database's keys run as in database 0.
    assert_eq!(c.cmd(&["PUBLISH", "channel", "x"]), R::Int(0));
    assert!(matches!(c.cmd(&["INFO"]), R::Bulk(_)));
    assert_eq!(c.cmd(&["PING"]), R::Simple("PONG".into()));
    assert_eq!(c.cmd(&["GET", "k"]), R::bulk("five"));
    assert_eq!(c.cmd(&["GET", "k49"]), R::bulk("five49"));
    assert_eq!(c.cmd(&["HGETALL", "h"]), R::arr(&["f", "v"]));
    assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), R::arr(&["a", "b"]));
    assert!(matches!(c.cmd(&["TTL", "h"]), R::Int(t) if t > 900));
    assert_eq!(c.cmd(&["DBSIZE"]), R::Int(54));
    assert_eq!(c.cmd(&["SELECT", "0"]), R::ok());
    assert_eq!(c.cmd(&["GET", "k"]), R::bulk("zero"));
    assert_eq!(c.cmd(&["EXISTS", "h", "l", "z", "k49"]), R::Int(0));
}

#[test]
fn databases_survive_a_restart_and_flushdb_leaves_the_others() {
    let node = two_cores();
    let mut c = Conn::connect(node.resp_addr());
    fill(&mut c);
    check(&mut c);
    let dir = node.stop();
    let node = Node::start_in(dir, |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let mut c = Conn::connect(node.resp_addr());
    check(&mut c);
    // FLUSHDB empties database 5 only; FLUSHALL empties every database.
    c.cmd(&["SELECT", "5"]);
    assert_eq!(c.cmd(&["FLUSHDB"]), R::ok());
    assert_eq!(c.cmd(&["DBSIZE"]), R::Int(0));
    assert_eq!(c.cmd(&["GET", "k"]), R::Nil);
    c.cmd(&["SET", "again", "1"]);
    c.cmd(&["SELECT", "0"]);
    assert_eq!(c.cmd(&["GET", "k"]), R::bulk("zero"));
    assert_eq!(c.cmd(&["FLUSHALL"]), R::ok());
    c.cmd(&["SELECT", "5"]);
    assert_eq!(c.cmd(&["GET", "again"]), R::Nil);
}

#[test]
fn a_replica_follows_every_database() {
    let primary = two_cores();
    let mut p = Conn::connect(primary.resp_addr());
    fill(&mut p);
    let replica = replica_of(&primary, tempfile::tempdir().unwrap());
    let mut r = Conn::connect(replica.resp_addr());
    r.cmd(&["SELECT", "5"]);
    converge(&mut r, &["GET", "k49"], &R::bulk("five49"));
    // Later writes, a MOVE and a FLUSHDB reach it too.
    p.cmd(&["MOVE", "k", "7"]);
    p.cmd(&["SELECT", "7"]);
    converge(&mut r, &["GET", "k"], &R::Nil);
    r.cmd(&["SELECT", "7"]);
    converge(&mut r, &["GET", "k"], &R::bulk("five"));
    p.cmd(&["SELECT", "5"]);
    p.cmd(&["FLUSHDB"]);
    r.cmd(&["SELECT", "5"]);
    converge(&mut r, &["DBSIZE"], &R::Int(0));
    r.cmd(&["SELECT", "0"]);
    assert_eq!(r.cmd(&["GET", "k"]), R::bulk("zero"));
    // SWAPDB's writes replicate like any others.
    assert_eq!(p.cmd(&["SWAPDB", "7", "0"]), R::ok());
    converge(&mut r, &["GET", "k"], &R::bulk("five"));
    r.cmd(&["SELECT", "7"]);
    converge(&mut r, &["GET", "k"], &R::bulk("zero"));
    assert!(matches!(r.cmd(&["SWAPDB", "7", "0"]), R::Err(e) if e.starts_with("READONLY")));
    // A replica serves SELECT and reads, and refuses writes in any database.
    r.cmd(&["SELECT", "7"]);
    assert!(matches!(r.cmd(&["SET", "x", "1"]), R::Err(e) if e.starts_with("READONLY")));
}

#[test]
fn databases_setting_and_cluster_mode_bound_select() {
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| c.databases = 4);
    let mut c = Conn::connect(node.resp_addr());
    assert_eq!(c.cmd(&["SELECT", "3"]), R::ok());
    let out_of_range = R::Err("ERR DB index is out of range".into());
    assert_eq!(c.cmd(&["SELECT", "4"]), out_of_range);
    assert_eq!(c.cmd(&["MOVE", "k", "4"]), out_of_range);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "databases"]),
        R::arr(&["databases", "4"])
    );
    drop(c);
    drop(node);
    let mut bad = common::config(tempfile::tempdir().unwrap().path(), 1);
    bad.databases = 0;
    assert!(tessera::start(bad).is_err(), "databases = 0 is refused");
    // Cluster mode has database 0 only, as Redis Cluster.
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| c.cluster = true);
    let mut c = Conn::connect(node.resp_addr());
    assert_eq!(c.cmd(&["SELECT", "0"]), R::ok());
    assert_eq!(
        c.cmd(&["SELECT", "1"]),
        R::Err("ERR SELECT is not allowed in cluster mode".into())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "databases"]),
        R::arr(&["databases", "1"])
    );
}

fn manifest_format(dir: &std::path::Path) -> u32 {
    tessera::shard::manifest::Manifest::read_with_format(dir)
        .unwrap()
        .1
}

/// The data directory's format says when databases 1 and up may hold keys
/// (format 4), so builds that read formats up to 3 refuse it; a directory
/// of the previous release (format 2) still opens and keeps its keys, and
/// a format this build does not know is refused with a clear error.
#[test]
fn the_manifest_format_marks_databases() {
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| c.databases = 1);
    Conn::connect(node.resp_addr()).cmd(&["SET", "k", "v"]);
    let dir = node.stop();
    assert_eq!(
        manifest_format(dir.path()),
        2,
        "one database keeps format 2"
    );
    let node = Node::start_in(dir, |_| {});
    let mut c = Conn::connect(node.resp_addr());
    assert_eq!(c.cmd(&["GET", "k"]), R::bulk("v"));
    assert_eq!(c.cmd(&["SELECT", "3"]), R::ok());
    c.cmd(&["SET", "k", "three"]);
    drop(c);
    let dir = node.stop();
    assert_eq!(manifest_format(dir.path()), 4);
    // Back to one database: the directory keeps format 4 (keys of database
    // 3 are still in it).
    let node = Node::start_in(dir, |c| c.databases = 1);
    let dir = node.stop();
    assert_eq!(manifest_format(dir.path()), 4);
    // A newer build's format: refused by name, the directory untouched.
    let path = dir.path().join("MANIFEST");
    let mut raw = std::fs::read(&path).unwrap();
    raw[11] = 6;
    std::fs::write(&path, &raw).unwrap();
    let err = match tessera::start(common::config(dir.path(), 1)) {
        Ok(_) => panic!("a format 6 directory was opened"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("format 6") && err.contains("newer"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), raw);
    // A cluster node has database 0 only: a new directory keeps format 3.
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| c.cluster = true);
    let dir = node.stop();
    assert_eq!(manifest_format(dir.path()), 3);
}

/// Reads one binary reply frame: (id, status, body).
fn read_reply(s: &mut TcpStream) -> (u32, u8, Vec<u8>) {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut rest).unwrap();
    let id = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    (id, rest[4], rest[6..].to_vec())
}

fn error_code(body: &[u8]) -> ErrorCode {
    ErrorCode::try_from(u16::from_be_bytes([body[0], body[1]])).unwrap()
}

#[test]
fn the_binary_protocol_names_the_database_per_request() {
    let node = two_cores();
    let mut s = TcpStream::connect(node.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let set = |key: &'static [u8], value: &'static [u8]| Request::Set {
        key,
        value,
        args: SetArgs::default(),
    };
    let mut out = Vec::new();
    set(b"k", b"zero").encode(1, &mut out);
    set(b"k", b"three").in_db(3).encode(2, &mut out);
    Request::Get { key: b"k" }.in_db(3).encode(3, &mut out);
    Request::Get { key: b"k" }.encode(4, &mut out);
    // MGET over both cores, in database 3.
    Request::MGet {
        keys: vec![b"k", b"other", b"k"],
    }
    .in_db(3)
    .encode(5, &mut out);
    s.write_all(&out).unwrap();
    let replies: Vec<_> = (0..5).map(|_| read_reply(&mut s)).collect();
    assert!(replies.iter().all(|r| r.1 == 0), "{replies:?}");
    let found = |body: &[u8]| body[9..].to_vec();
    assert_eq!(found(&replies[2].2)[4..], *b"three");
    assert_eq!(found(&replies[3].2)[4..], *b"zero");
    assert_eq!(replies[4].2[..4], 3u32.to_be_bytes());
    // DB around a request that is not a data request, DB 0, a database out
    // of range: errors, and the connection goes on.
    let mut bad = Vec::new();
    bad.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 6, 0x2D, 0, 0, 3, 0x01, 0]);
    bad.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 7, 0x2D, 0, 0, 0, 0x1B, 0]);
    bad.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 8, 0x2D, 0, 0, 16, 0x1B, 0]);
    s.write_all(&bad).unwrap();
    for id in 6..9 {
        let (got, status, body) = read_reply(&mut s);
        assert_eq!(
            (got, status, error_code(&body)),
            (id, 1, ErrorCode::BadArguments)
        );
    }
    // DBSIZE in database 3 counts its one key.
    let mut out = Vec::new();
    Request::DbSize.in_db(3).encode(9, &mut out);
    s.write_all(&out).unwrap();
    let (id, status, body) = read_reply(&mut s);
    assert_eq!((id, status), (9, 0));
    assert_eq!(body, 1u64.to_be_bytes());
}

#[test]
fn a_blocked_pop_waits_for_its_own_database() {
    let node = two_cores();
    let mut waiting = Conn::connect(node.resp_addr());
    let mut pusher = Conn::connect(node.resp_addr());
    waiting.cmd(&["SELECT", "2"]);
    pusher.cmd(&["SELECT", "1"]);
    waiting.send_raw(&Conn::encode(&[b"BLPOP", b"q", b"10"]));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(pusher.cmd(&["RPUSH", "q", "other"]), R::Int(1));
    pusher.cmd(&["SELECT", "2"]);
    assert_eq!(pusher.cmd(&["RPUSH", "q", "mine"]), R::Int(1));
    assert_eq!(waiting.read(), R::arr(&["q", "mine"]));
    pusher.cmd(&["SELECT", "1"]);
    assert_eq!(pusher.cmd(&["LRANGE", "q", "0", "-1"]), R::arr(&["other"]));
}

#[test]
fn tessera_cli_runs_in_the_database_it_is_given() {
    let node = two_cores();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::binary())
            .args(["cli", "--addr", &node.addr().to_string()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    assert!(cli(&["--db", "6", "set", "k", "six"]).0);
    assert!(cli(&["--db", "6", "hset", "h", "f", "v"]).0);
    assert!(cli(&["set", "k", "zero"]).0);
    assert_eq!(cli(&["--db", "6", "get", "k"]), (true, "six".to_string()));
    assert_eq!(cli(&["get", "k"]), (true, "zero".to_string()));
    assert_eq!(cli(&["--db", "6", "dbsize"]), (true, "2".to_string()));
    let mut c = Conn::connect(node.resp_addr());
    c.cmd(&["SELECT", "6"]);
    assert_eq!(c.cmd(&["HGET", "h", "f"]), R::bulk("v"));
    // A database out of range is refused with the server's error.
    let (ok, _) = cli(&["--db", "16", "get", "k"]);
    assert!(!ok, "database 16 accepted");
}
