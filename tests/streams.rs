//! Streams (issue 22): Redis 7.0's replies and errors, compared with a
//! real redis-server; blocking reads woken by writes; durability of
//! consumer groups across SIGKILL.

mod common;

use std::time::Duration;

use common::resp::{Conn, R};

/// The figures that describe each server's own layout or the clock
/// (radix-tree sizes, idle times) are blanked on both sides.
fn scrub(words: &[&str], r: R) -> R {
    let cmd: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    match (cmd.as_slice(), r) {
        (["xinfo", "stream", ..], R::Array(mut a)) => {
            for pair in a.chunks_mut(2) {
                if let [R::Bulk(k), v] = pair {
                    if k.starts_with(b"radix-tree") {
                        *v = R::Int(0);
                    }
                }
            }
            R::Array(a)
        }
        (["xinfo", "consumers", ..], R::Array(cs)) => R::Array(
            cs.into_iter()
                .map(|c| match c {
                    R::Array(mut f) => {
                        for pair in f.chunks_mut(2) {
                            if let [R::Bulk(k), v] = pair {
                                if k == b"idle" || k == b"inactive" {
                                    *v = R::Int(0);
                                }
                            }
                        }
                        R::Array(f)
                    }
                    other => other,
                })
                .collect(),
        ),
        (["xpending", _, _, _, ..], R::Array(ps)) => R::Array(
            ps.into_iter()
                .map(|p| match p {
                    R::Array(mut f) if f.len() == 4 => {
                        f[2] = R::Int(0);
                        R::Array(f)
                    }
                    other => other,
                })
                .collect(),
        ),
        (_, r) => r,
    }
}

fn compare(ours: &mut Conn, theirs: &mut Conn, cases: &[&[&str]]) {
    for words in cases {
        let (o, t) = (ours.cmd(words), theirs.cmd(words));
        assert_eq!(scrub(words, o), scrub(words, t), "{words:?}");
    }
}

#[test]
fn entries_ranges_and_trimming_match_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let cases: &[&[&str]] = &[
        &["XADD", "s", "1-1", "a", "1", "b", "2"],
        &["XADD", "s", "1-*", "c", "3"],
        &["XADD", "s", "5", "d", "4"],
        &["XADD", "s", "5-*", "e", "5"],
        &["XADD", "s", "3", "x", "1"],
        &["XADD", "s", "5-1", "x", "1"],
        &["XADD", "s", "0", "x", "1"],
        &["XADD", "s", "0-0", "x", "1"],
        &["XADD", "s", "1-x", "x", "1"],
        &["XADD", "s", "-1", "x", "1"],
        &["XADD", "s", "9", "x"],
        &["XADD", "s", "MAXLEN", "x", "9", "f", "v"],
        &["XADD", "s", "MAXLEN", "-1", "9", "f", "v"],
        &["XADD", "s", "MAXLEN", "5", "MINID", "1", "9", "f", "v"],
        &["XADD", "s", "LIMIT", "5", "9", "f", "v"],
        &["XADD", "s", "MAXLEN", "5", "LIMIT", "5", "9", "f", "v"],
        &[
            "XADD", "s", "MAXLEN", "~", "5", "LIMIT", "-1", "9", "f", "v",
        ],
        &["XADD", "nos", "NOMKSTREAM", "*", "a", "b"],
        &["EXISTS", "nos"],
        &["XADD", "nos", "NOMKSTREAM", "1-1", "a", "b"],
        &["XLEN", "s"],
        &["XLEN", "nos"],
        &["XRANGE", "s", "-", "+"],
        &["XRANGE", "s", "-", "+", "COUNT", "2"],
        &["XRANGE", "s", "-", "+", "COUNT", "0"],
        &["XRANGE", "s", "-", "+", "COUNT", "-3"],
        &["XRANGE", "s", "(1-1", "+"],
        &["XRANGE", "s", "1", "1"],
        &["XRANGE", "s", "5", "(5-1"],
        &[
            "XRANGE",
            "s",
            "(18446744073709551615-18446744073709551615",
            "+",
        ],
        &["XRANGE", "s", "-", "(0-0"],
        &["XRANGE", "s", "x", "+"],
        &["XRANGE", "s", "-", "+", "COUNT"],
        &["XRANGE", "s", "-", "+", "LIMIT", "1"],
        &["XRANGE", "s", "+", "-"],
        &["XREVRANGE", "s", "+", "-"],
        &["XREVRANGE", "s", "+", "-", "COUNT", "1"],
        &["XREVRANGE", "s", "5", "(1-1"],
        &["XRANGE", "nos", "-", "+"],
        &["XDEL", "s", "1-2", "9-9", "1-2"],
        &["XDEL", "s", "bad"],
        &["XDEL", "nos", "1-1"],
        &["XRANGE", "s", "-", "+"],
        &["XINFO", "STREAM", "s"],
        &["XINFO", "STREAM", "nos"],
        &["XINFO", "STREAM", "s", "FULL", "x"],
        &["XTRIM", "s", "MAXLEN", "2"],
        &["XRANGE", "s", "-", "+"],
        &["XINFO", "STREAM", "s"],
        &["XTRIM", "s", "MINID", "5-1"],
        &["XTRIM", "s", "MINID", "0"],
        &["XTRIM", "s"],
        &["XTRIM", "s", "FOO", "1"],
        &["XTRIM", "s", "MAXLEN", "~", "0"],
        &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "1"],
        &["XTRIM", "nos", "MAXLEN", "0"],
        &["XINFO", "STREAM", "s"],
        &["XSETID", "s", "1-1"],
        &["XSETID", "s", "9-9", "ENTRIESADDED", "1"],
        &["XSETID", "s", "9-9", "MAXDELETEDID", "10-0"],
        &[
            "XSETID",
            "s",
            "9-9",
            "ENTRIESADDED",
            "50",
            "MAXDELETEDID",
            "6-0",
        ],
        &["XSETID", "nos", "1-1"],
        &["XINFO", "STREAM", "s"],
        &["XADD", "s", "9-9", "f", "v"],
        &["XADD", "s", "9-*", "f", "v"],
        &["SET", "str", "v"],
        &["XADD", "str", "*", "f", "v"],
        &["XLEN", "str"],
        &["XRANGE", "str", "-", "+"],
        &["TYPE", "s"],
        &["OBJECT", "ENCODING", "s"],
        &["DEL", "s"],
        &["XLEN", "s"],
    ];
    compare(&mut ours, &mut theirs, cases);
}

#[test]
fn approximate_trimming_removes_whole_runs_as_redis_does() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    for i in 1..=350 {
        let id = format!("{i}-0");
        for c in [&mut ours, &mut theirs] {
            c.cmd(&["XADD", "t", &id, "f", "v"]);
        }
    }
    compare(
        &mut ours,
        &mut theirs,
        &[
            &["XTRIM", "t", "MAXLEN", "~", "120"],
            &["XLEN", "t"],
            &["XTRIM", "t", "MINID", "~", "240"],
            &["XLEN", "t"],
            &[
                "XADD", "t", "MAXLEN", "~", "10", "LIMIT", "50", "400-0", "f", "v",
            ],
            &["XLEN", "t"],
            &["XTRIM", "t", "MAXLEN", "=", "7"],
            &["XRANGE", "t", "-", "+", "COUNT", "2"],
            &["XINFO", "STREAM", "t"],
        ],
    );
}

#[test]
fn consumer_groups_match_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let cases: &[&[&str]] = &[
        &["XGROUP", "CREATE", "q", "g", "$"],
        &["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"],
        &["XGROUP", "CREATE", "q", "g", "$"],
        &["XGROUP", "CREATE", "q", "g2", "0", "ENTRIESREAD", "-5"],
        &["XGROUP", "CREATE", "q", "g2", "0", "FOO"],
        &["XGROUP", "CREATE", "q", "g2", "bad"],
        &["XGROUP", "CREATECONSUMER", "q", "nog", "c"],
        &["XGROUP", "SETID", "q", "nog", "0"],
        &["XGROUP", "DELCONSUMER", "q", "nog", "c"],
        &["XGROUP", "DESTROY", "q", "nog"],
        &["XGROUP", "DESTROY", "nokey", "g"],
        &["XGROUP", "NOSUCH", "q", "g"],
        &["XADD", "q", "1-0", "job", "a"],
        &["XADD", "q", "2-0", "job", "b"],
        &["XADD", "q", "3-0", "job", "c"],
        &["XADD", "q", "4-0", "job", "d"],
        &["XINFO", "GROUPS", "q"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "q",
            ">",
        ],
        &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "q", ">"],
        &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "q", ">"],
        &["XREADGROUP", "GROUP", "nog", "bob", "STREAMS", "q", ">"],
        &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "nokey", ">"],
        &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "q", "$"],
        &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "q"],
        &["XREADGROUP", "COUNT", "1", "STREAMS", "q", ">"],
        &["XREAD", "GROUP", "g", "c", "STREAMS", "q", "0"],
        &["XREAD", "NOACK", "STREAMS", "q", "0"],
        &["XREAD", "STREAMS", "q", ">"],
        &["XINFO", "GROUPS", "q"],
        &["XINFO", "CONSUMERS", "q", "g"],
        &["XINFO", "CONSUMERS", "q", "nog"],
        &["XPENDING", "q", "g"],
        &["XPENDING", "q", "g", "-", "+", "10"],
        &["XPENDING", "q", "g", "-", "+", "10", "bob"],
        &["XPENDING", "q", "g", "IDLE", "0", "-", "+", "10", "alice"],
        &["XPENDING", "q", "g", "(1-0", "+", "1"],
        &["XPENDING", "q", "g", "-", "+"],
        &["XPENDING", "q", "g", "-", "+", "x"],
        &["XPENDING", "q", "nog"],
        &["XPENDING", "nokey", "g"],
        &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "q", "0"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "COUNT",
            "1",
            "STREAMS",
            "q",
            "2-0",
        ],
        &["XPENDING", "q", "g", "-", "+", "10"],
        &["XACK", "q", "g", "2-0", "9-0"],
        &["XACK", "q", "g", "2-0"],
        &["XACK", "q", "g", "bad"],
        &["XACK", "q", "nog", "1-0"],
        &["XACK", "nokey", "g", "1-0"],
        &["XPENDING", "q", "g"],
        &["XCLAIM", "q", "g", "carol", "0", "3-0", "JUSTID"],
        &["XCLAIM", "q", "g", "carol", "0", "1-0", "RETRYCOUNT", "7"],
        &["XCLAIM", "q", "g", "carol", "3600000", "4-0"],
        &["XCLAIM", "q", "g", "carol", "0", "2-0"],
        &["XCLAIM", "q", "g", "carol", "0", "2-0", "FORCE", "JUSTID"],
        &["XCLAIM", "q", "g", "carol", "x", "1-0"],
        &["XCLAIM", "q", "g", "carol", "0", "1-0", "BOGUS"],
        &["XCLAIM", "q", "g", "carol", "0", "1-0", "IDLE", "x"],
        &["XCLAIM", "q", "nog", "carol", "0", "1-0"],
        &[
            "XCLAIM", "q", "g", "carol", "0", "4-0", "LASTID", "9-0", "JUSTID",
        ],
        &["XINFO", "GROUPS", "q"],
        &["XPENDING", "q", "g", "-", "+", "10"],
        &["XINFO", "CONSUMERS", "q", "g"],
        &["XDEL", "q", "3-0"],
        &["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "q", "0"],
        &["XAUTOCLAIM", "q", "g", "dave", "0", "0", "COUNT", "1"],
        &["XAUTOCLAIM", "q", "g", "dave", "0", "0"],
        &["XAUTOCLAIM", "q", "g", "dave", "0", "0", "JUSTID"],
        &["XAUTOCLAIM", "q", "g", "dave", "0", "(1-0", "COUNT", "0"],
        &["XAUTOCLAIM", "q", "g", "dave", "x", "0"],
        &["XAUTOCLAIM", "q", "g", "dave", "0", "0", "FOO"],
        &["XAUTOCLAIM", "q", "nog", "dave", "0", "0"],
        &["XPENDING", "q", "g", "-", "+", "10"],
        &["XGROUP", "CREATECONSUMER", "q", "g", "erin"],
        &["XGROUP", "CREATECONSUMER", "q", "g", "erin"],
        &["XGROUP", "DELCONSUMER", "q", "g", "dave"],
        &["XGROUP", "DELCONSUMER", "q", "g", "nobody"],
        &["XINFO", "CONSUMERS", "q", "g"],
        &["XPENDING", "q", "g"],
        &["XGROUP", "SETID", "q", "g", "0", "ENTRIESREAD", "0"],
        &["XINFO", "GROUPS", "q"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "erin",
            "NOACK",
            "STREAMS",
            "q",
            ">",
        ],
        &["XPENDING", "q", "g"],
        &["XINFO", "GROUPS", "q"],
        &["XGROUP", "SETID", "q", "g", "$"],
        &["XINFO", "GROUPS", "q"],
        &["XADD", "q", "5-0", "job", "e"],
        &["XINFO", "GROUPS", "q"],
        &["XREADGROUP", "GROUP", "g", "erin", "STREAMS", "q", ">"],
        &["XINFO", "GROUPS", "q"],
        &["XINFO", "STREAM", "q"],
        &["XGROUP", "DESTROY", "q", "g"],
        &["XGROUP", "DESTROY", "q", "g"],
        &["XINFO", "GROUPS", "q"],
        &["XINFO", "STREAM", "q"],
        &["XREAD", "COUNT", "2", "STREAMS", "q", "nokey", "0", "0"],
        &["XREAD", "STREAMS", "q", "$"],
        &["XREAD", "STREAMS", "q", "9-0"],
        &["XREAD", "STREAMS", "q"],
        &["XREAD", "COUNT", "x", "STREAMS", "q", "0"],
        &["XREAD", "BLOCK", "-1", "STREAMS", "q", "0"],
        &["XREAD", "BLOCK", "x", "STREAMS", "q", "0"],
        &["XREAD", "COUNT", "1", "BLOCK", "10", "STREAMS", "q", "0"],
    ];
    compare(&mut ours, &mut theirs, cases);
}

/// A blocked XREAD or XREADGROUP is woken by another client's XADD, on
/// the key's core or across cores; a timeout answers nil.
#[test]
fn blocking_reads_wake_on_writes() {
    let node = common::Node::start(2);
    let addr = node.resp_addr();
    let mut admin = Conn::connect(addr);
    assert_eq!(
        admin.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "nothing", "$"]),
        R::Nil
    );
    admin.cmd(&["XADD", "{a}s", "1-0", "f", "old"]);
    assert_eq!(admin.cmd(&["XGROUP", "CREATE", "{a}s", "g", "$"]), R::ok());
    let cases: &[(&[&str], &str)] = &[
        (&["XREAD", "BLOCK", "0", "STREAMS", "{a}s", "$"], "{a}s"),
        (
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "w",
                "BLOCK",
                "0",
                "STREAMS",
                "{a}s",
                ">",
            ],
            "{a}s",
        ),
        // Two keys on different cores (no cluster): the write to either wakes it.
        (
            &["XREAD", "BLOCK", "0", "STREAMS", "{a}s", "{b}s", "$", "$"],
            "{b}s",
        ),
    ];
    for (n, (words, target)) in cases.iter().enumerate() {
        eprintln!("case {n}");
        // The group reads from here on (case 0 added an entry).
        admin.cmd(&["XGROUP", "SETID", "{a}s", "g", "$"]);
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        let waiter = std::thread::spawn(move || {
            let mut c = Conn::connect(addr);
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            c.cmd(&w)
        });
        common::resp::wait_for_blocked(&mut admin, 1);
        let id = format!("{}-0", 10 + n);
        admin.cmd(&["XADD", target, &id, "f", "new"]);
        let got = waiter.join().unwrap();
        let R::Array(streams) = got else {
            panic!("{got:?}")
        };
        let R::Array(s) = &streams[0] else { panic!() };
        assert_eq!(s[0], R::bulk(target));
        let R::Array(entries) = &s[1] else { panic!() };
        assert_eq!(entries.len(), 1, "only the new entry: {entries:?}");
        let R::Array(e) = &entries[0] else { panic!() };
        assert_eq!(e[0], R::bulk(&id));
    }
    // The group delivered exactly one entry, and it is pending.
    let R::Array(p) = admin.cmd(&["XPENDING", "{a}s", "g"]) else {
        panic!()
    };
    assert_eq!(p[0], R::Int(1));
    drop(node);
}

/// A blocked XREADGROUP whose client disconnects takes nothing: the next
/// entry goes to the next reader, and nothing is pending for the gone one.
#[test]
fn a_gone_reader_takes_nothing() {
    let node = common::Node::start(1);
    let addr = node.resp_addr();
    let mut admin = Conn::connect(addr);
    admin.cmd(&["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"]);
    {
        let mut gone = Conn::connect(addr);
        gone.send_raw(&Conn::encode(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            b"gone",
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"q",
            b">",
        ]));
        common::resp::wait_for_blocked(&mut admin, 1);
    }
    common::resp::wait_for_blocked(&mut admin, 0);
    admin.cmd(&["XADD", "q", "1-0", "f", "v"]);
    let got = admin.cmd(&["XREADGROUP", "GROUP", "g", "next", "STREAMS", "q", ">"]);
    assert_ne!(got, R::Nil, "the entry is still there for the next reader");
    let R::Array(p) = admin.cmd(&["XPENDING", "q", "g", "-", "+", "10"]) else {
        panic!()
    };
    assert_eq!(p.len(), 1);
    let R::Array(e) = &p[0] else { panic!() };
    assert_eq!(e[1], R::bulk("next"));
}

/// SIGKILL with delivered, unacknowledged entries: after the restart every
/// acknowledged XADD is there, the pending entries are still pending with
/// their consumer and delivery count, and XAUTOCLAIM hands them to another
/// consumer once they are idle long enough.
#[test]
fn pending_entries_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args: [&str; 0] = [];
    let p = common::Proc::start(&data, &args).unwrap();
    let mut c = Conn::connect(p.resp.unwrap());
    c.cmd(&["XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"]);
    for i in 1..=100 {
        let id = format!("{i}-0");
        assert_eq!(
            c.cmd(&["XADD", "jobs", &id, "n", &i.to_string()]),
            R::bulk(&id)
        );
    }
    let R::Array(read) = c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "w1",
        "COUNT",
        "30",
        "STREAMS",
        "jobs",
        ">",
    ]) else {
        panic!()
    };
    assert_eq!(read.len(), 1);
    let ids: Vec<String> = (1..=10).map(|i| format!("{i}-0")).collect();
    let mut ack = vec!["XACK", "jobs", "workers"];
    ack.extend(ids.iter().map(String::as_str));
    assert_eq!(c.cmd(&ack), R::Int(10));
    p.kill9();

    let p = common::Proc::start(&data, &args).unwrap();
    let mut c = Conn::connect(p.resp.unwrap());
    assert_eq!(c.cmd(&["XLEN", "jobs"]), R::Int(100));
    let R::Array(sum) = c.cmd(&["XPENDING", "jobs", "workers"]) else {
        panic!()
    };
    assert_eq!(sum[0], R::Int(20));
    assert_eq!(sum[1], R::bulk("11-0"));
    assert_eq!(sum[2], R::bulk("30-0"));
    assert_eq!(
        sum[3],
        R::Array(vec![R::Array(vec![R::bulk("w1"), R::bulk("20")])])
    );
    // Not idle long enough yet: nothing is claimed.
    let R::Array(none) = c.cmd(&["XAUTOCLAIM", "jobs", "workers", "w2", "3600000", "0"]) else {
        panic!()
    };
    assert_eq!(none[1], R::Array(vec![]));
    std::thread::sleep(Duration::from_millis(60));
    let R::Array(claimed) = c.cmd(&[
        "XAUTOCLAIM",
        "jobs",
        "workers",
        "w2",
        "50",
        "0",
        "COUNT",
        "100",
        "JUSTID",
    ]) else {
        panic!()
    };
    let R::Array(got) = &claimed[1] else { panic!() };
    assert_eq!(got.len(), 20, "{claimed:?}");
    assert_eq!(got[0], R::bulk("11-0"));
    // The group goes on after the delivered ones.
    let R::Array(next) = c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "w2",
        "COUNT",
        "1",
        "STREAMS",
        "jobs",
        ">",
    ]) else {
        panic!()
    };
    let R::Array(s) = &next[0] else { panic!() };
    let R::Array(e) = &s[1] else { panic!() };
    let R::Array(first) = &e[0] else { panic!() };
    assert_eq!(first[0], R::bulk("31-0"));
}

/// The first word of each array in `items` (an entry's or a pending
/// entry's id).
fn first_words(items: &[R]) -> std::collections::BTreeSet<String> {
    items
        .iter()
        .map(|e| match e {
            R::Array(e) => match &e[0] {
                R::Bulk(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Under `min-replicas-to-ack 1`, a replica promoted after the primary's
/// SIGKILL has every acknowledged XADD, and every acknowledged XACK and
/// delivery: its pending lists are exactly the delivered, unacknowledged
/// entries (streams on both cores).
#[test]
fn a_promoted_replica_keeps_every_acknowledged_put_and_ack() {
    use common::replication::{replica_in, role};
    use std::collections::BTreeSet;
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
    let replica = replica_in(tempfile::tempdir().unwrap(), primary.addr.to_string());
    let mut c = Conn::connect(primary.resp.unwrap());
    let keys = ["{a}q", "{b}q"];
    for k in keys {
        // Until the replica is connected, writes wait for its ack.
        assert_eq!(
            c.cmd(&["XGROUP", "CREATE", k, "g", "$", "MKSTREAM"]),
            R::ok()
        );
    }
    let mut added: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 2];
    let mut pending: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 2];
    for i in 0..300 {
        let s = i % 2;
        let R::Bulk(id) = c.cmd(&["XADD", keys[s], "*", "n", &i.to_string()]) else {
            panic!("XADD {i}")
        };
        added[s].insert(String::from_utf8(id).unwrap());
        if i % 3 == 0 {
            let got = c.cmd(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "w",
                "COUNT",
                "2",
                "STREAMS",
                keys[s],
                ">",
            ]);
            let R::Array(streams) = got else {
                panic!("{got:?}")
            };
            let R::Array(sk) = &streams[0] else { panic!() };
            let R::Array(entries) = &sk[1] else { panic!() };
            for (j, e) in entries.iter().enumerate() {
                let R::Array(e) = e else { panic!() };
                let R::Bulk(id) = &e[0] else { panic!() };
                let id = String::from_utf8(id.clone()).unwrap();
                // Every other delivery is acknowledged.
                if j == 0 {
                    assert_eq!(c.cmd(&["XACK", keys[s], "g", &id]), R::Int(1));
                } else {
                    pending[s].insert(id);
                }
            }
        }
    }
    primary.kill9();
    let text = role(replica.addr(), 2, "").expect("promote");
    assert!(text.starts_with("promoted"), "{text}");
    let mut r = Conn::connect(replica.resp_addr());
    for s in 0..2 {
        let R::Array(all) = r.cmd(&["XRANGE", keys[s], "-", "+"]) else {
            panic!()
        };
        let ids = first_words(&all);
        assert!(
            ids.is_superset(&added[s]),
            "{}: an acknowledged XADD is missing",
            keys[s]
        );
        let R::Array(p) = r.cmd(&["XPENDING", keys[s], "g", "-", "+", "1000"]) else {
            panic!()
        };
        let ids = first_words(&p);
        assert_eq!(
            ids, pending[s],
            "{}: pending entries after promotion",
            keys[s]
        );
    }
    // The promoted node serves the group on: the next read starts after
    // the last delivered entry.
    assert_eq!(
        r.cmd(&["XADD", keys[0], "*", "after", "1"]).err_word(),
        None
    );
    let got = r.cmd(&["XREADGROUP", "GROUP", "g", "w2", "STREAMS", keys[0], ">"]);
    let R::Array(streams) = got else {
        panic!("{got:?}")
    };
    let R::Array(sk) = &streams[0] else { panic!() };
    let R::Array(entries) = &sk[1] else { panic!() };
    assert!(!entries.is_empty());
}

/// Group and consumer names are capped (docs/queues.md): a longer one is
/// refused with an error and nothing is created.
#[test]
fn names_longer_than_the_cap_are_refused() {
    use tessera::proto::args::stream::MAX_NAME;
    let node = common::Node::start(1);
    let mut c = Conn::connect(node.resp_addr());
    let (ok, long) = ("g".repeat(MAX_NAME), "g".repeat(MAX_NAME + 1));
    assert_eq!(
        c.cmd(&["XGROUP", "CREATE", "s", &ok, "$", "MKSTREAM"]),
        R::ok()
    );
    for words in [
        vec!["XGROUP", "CREATE", "s", &long, "$", "MKSTREAM"],
        vec!["XGROUP", "CREATECONSUMER", "s", &ok, &long],
        vec!["XREADGROUP", "GROUP", &ok, &long, "STREAMS", "s", ">"],
        vec!["XCLAIM", "s", &ok, &long, "0", "1-0"],
        vec!["XAUTOCLAIM", "s", &ok, &long, "0", "0"],
    ] {
        let r = c.cmd(&words);
        assert!(
            matches!(&r, R::Err(e) if e.contains("longer than 1024 bytes")),
            "{:?}: {r:?}",
            &words[..2]
        );
    }
    let R::Array(groups) = c.cmd(&["XINFO", "GROUPS", "s"]) else {
        panic!()
    };
    assert_eq!(groups.len(), 1);
    assert_eq!(c.cmd(&["XINFO", "CONSUMERS", "s", &ok]), R::Array(vec![]));
}

/// A stream with a consumer group and pending entries moves between
/// shards (`tessera cluster migrate-slots`) whole: its entries, the
/// group's position, the pending entries with their consumer and count.
#[test]
fn a_queue_with_pending_entries_moves_between_shards() {
    use common::cluster::{cluster_cmd, start_nth};
    let root = tempfile::tempdir().unwrap();
    let src = start_nth(root.path(), 0, 61, &[]);
    let dst = start_nth(root.path(), 1, 62, &[]);
    let a = src.binary.to_string();
    let (ok, _, err) = cluster_cmd(&["create", &a, &dst.binary.to_string()]);
    assert!(ok, "create failed: {err}");
    let mut s = Conn::connect(src.resp);
    let tag = (0..)
        .map(|i| format!("{{q{i}}}"))
        .find(|t| matches!(s.cmd(&["CLUSTER", "KEYSLOT", t]), R::Int(n) if n <= 10))
        .unwrap();
    let q = format!("{tag}jobs");
    assert_eq!(
        s.cmd(&["XGROUP", "CREATE", &q, "g", "$", "MKSTREAM"]),
        R::ok()
    );
    for i in 1..=50 {
        let id = format!("{i}-0");
        assert_eq!(s.cmd(&["XADD", &q, &id, "n", &i.to_string()]), R::bulk(&id));
    }
    let got = s.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c1",
        "COUNT",
        "20",
        "STREAMS",
        &q,
        ">",
    ]);
    assert!(matches!(got, R::Array(_)), "{got:?}");
    assert_eq!(
        s.cmd(&["XACK", &q, "g", "1-0", "2-0", "3-0", "4-0", "5-0"]),
        R::Int(5)
    );
    let (ok, out, err) = cluster_cmd(&["migrate-slots", "0-10", "--to", "1", "--addr", &a]);
    assert!(ok && out.contains("done"), "migrate-slots: {out}{err}");

    assert_eq!(s.cmd(&["XLEN", &q]).err_word(), Some("MOVED"));
    let mut t = Conn::connect(dst.resp);
    assert_eq!(t.cmd(&["XLEN", &q]), R::Int(50));
    assert_eq!(
        t.cmd(&["XPENDING", &q, "g"]),
        R::Array(vec![
            R::Int(15),
            R::bulk("6-0"),
            R::bulk("20-0"),
            R::Array(vec![R::Array(vec![R::bulk("c1"), R::bulk("15")])]),
        ])
    );
    // The group goes on where it stopped, on the new shard.
    let R::Array(next) = t.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c2",
        "COUNT",
        "1",
        "STREAMS",
        &q,
        ">",
    ]) else {
        panic!()
    };
    let R::Array(sk) = &next[0] else { panic!() };
    assert_eq!(
        first_words(match &sk[1] {
            R::Array(e) => e,
            other => panic!("{other:?}"),
        }),
        ["21-0".to_string()].into()
    );
    assert_eq!(t.cmd(&["XACK", &q, "g", "6-0"]), R::Int(1));
}

/// An XREAD BLOCK on a replica is woken by the primary's XADD.
#[test]
fn a_blocked_read_on_a_replica_wakes_on_replicated_writes() {
    let primary = common::Node::start(2);
    let replica = common::replication::replica_of(&primary, tempfile::tempdir().unwrap());
    let mut p = Conn::connect(primary.resp_addr());
    assert_eq!(p.cmd(&["XADD", "s", "1-0", "f", "v"]), R::bulk("1-0"));
    let mut r = Conn::connect(replica.resp_addr());
    common::replication::converge(&mut r, &["XLEN", "s"], &R::Int(1));
    let addr = replica.resp_addr();
    let reader = std::thread::spawn(move || {
        Conn::connect(addr).cmd(&["XREAD", "BLOCK", "20000", "STREAMS", "s", "$"])
    });
    common::resp::wait_for_blocked(&mut r, 1);
    assert_eq!(p.cmd(&["XADD", "s", "2-0", "f", "new"]), R::bulk("2-0"));
    let got = reader.join().unwrap();
    let R::Array(streams) = &got else {
        panic!("{got:?}")
    };
    let R::Array(sk) = &streams[0] else { panic!() };
    let R::Array(entries) = &sk[1] else { panic!() };
    assert_eq!(first_words(entries), ["2-0".to_string()].into());
}
