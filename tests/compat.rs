//! A data directory written by the release before envelope format 2 (issue
//! 16) opens, answers as it did, takes writes, and is then marked format 4
//! (format 2's records, with databases; the default `databases` is 16) so
//! that older builds refuse it.
//!
//! `tests/fixtures/format1-datadir.tar` was written by `tessera serve
//! --partitions 2` built from commit 52c83c5 through redis-cli (the
//! commands are in `tests/fixtures/format1-datadir.txt`), then stopped with
//! SIGTERM.

mod common;

use common::resp::{Conn, R};
use common::Node;

fn untar_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tar =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format1-datadir.tar");
    let ok = std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar runs");
    assert!(ok.success(), "tar -xf {}", tar.display());
    dir
}

fn manifest_format(dir: &std::path::Path) -> u32 {
    let raw = std::fs::read(dir.join("MANIFEST")).unwrap();
    u32::from_be_bytes(raw[8..12].try_into().unwrap())
}

fn sorted(r: R) -> Vec<Vec<u8>> {
    let R::Array(items) = r else {
        panic!("not an array: {r:?}")
    };
    let mut out: Vec<Vec<u8>> = items
        .into_iter()
        .map(|i| match i {
            R::Bulk(b) => b,
            other => panic!("{other:?}"),
        })
        .collect();
    out.sort();
    out
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[test]
fn a_format_1_directory_opens_reads_and_writes() {
    let dir = untar_fixture();
    assert_eq!(manifest_format(dir.path()), 1, "the fixture is format 1");
    let node = Node::start_in(dir, |c| c.cores = Some(1));
    assert_eq!(manifest_format(node.dir.path()), 4, "opened: now format 4");
    let mut c = Conn::connect(node.resp_addr());

    // Everything the old build wrote reads as it did.
    assert_eq!(c.cmd(&["GET", "greeting"]), R::bulk("hello"));
    assert_eq!(
        c.cmd(&["HGETALL", "user:1"]),
        R::arr(&["city", "Oslo", "name", "ann"])
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "board", "0", "-1", "WITHSCORES"]),
        R::arr(&["bob", "7", "ann", "10", "cid", "12"])
    );
    assert_eq!(
        c.cmd(&["LRANGE", "queue", "0", "-1"]),
        R::arr(&["job1", "job2", "job3"])
    );
    assert_eq!(c.cmd(&["SCARD", "tags"]), R::Int(100));
    let tags: Vec<Vec<u8>> = (0..100).map(|i| b(&format!("tag{i:03}"))).collect();
    assert_eq!(sorted(c.cmd(&["SMEMBERS", "tags"])), tags);
    assert_eq!(c.cmd(&["SISMEMBER", "tags", "tag042"]), R::Int(1));

    // Writes to the old records: the sorted set becomes format 2 (bounds),
    // the set stays format 1 and keeps working.
    assert_eq!(c.cmd(&["ZPOPMIN", "board"]), R::arr(&["bob", "7"]));
    assert_eq!(c.cmd(&["ZADD", "board", "1", "dan"]), R::Int(1));
    assert_eq!(
        c.cmd(&["ZRANGE", "board", "0", "-1"]),
        R::arr(&["dan", "ann", "cid"])
    );
    assert_eq!(c.cmd(&["ZPOPMAX", "board"]), R::arr(&["cid", "12"]));
    assert_eq!(
        c.cmd(&["ZRANGE", "board", "0", "-1"]),
        R::arr(&["dan", "ann"])
    );
    let mut popped = Vec::new();
    for _ in 0..100 {
        match c.cmd(&["SPOP", "tags"]) {
            R::Bulk(m) => popped.push(m),
            other => panic!("{other:?}"),
        }
    }
    popped.sort();
    assert_eq!(popped, tags, "every member of the format 1 set popped once");
    assert_eq!(c.cmd(&["SPOP", "tags"]), R::Nil);
    assert_eq!(c.cmd(&["HDEL", "user:1", "city"]), R::Int(1));
    assert_eq!(c.cmd(&["HGETALL", "user:1"]), R::arr(&["name", "ann"]));
    assert_eq!(c.cmd(&["RPOP", "queue"]), R::bulk("job3"));

    // A restart reads back what the new build wrote.
    let dir = node.stop();
    let node = Node::start_in(dir, |c| c.cores = Some(1));
    let mut c = Conn::connect(node.resp_addr());
    assert_eq!(
        c.cmd(&["ZRANGE", "board", "0", "-1"]),
        R::arr(&["dan", "ann"])
    );
    assert_eq!(c.cmd(&["HGETALL", "user:1"]), R::arr(&["name", "ann"]));
    assert_eq!(
        c.cmd(&["LRANGE", "queue", "0", "-1"]),
        R::arr(&["job1", "job2"])
    );
    assert_eq!(c.cmd(&["EXISTS", "tags"]), R::Int(0));
}
