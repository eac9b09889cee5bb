//! Databases (SELECT, MOVE, COPY ... DB, FLUSHDB, DBSIZE, KEYS, SCAN,
//! RANDOMKEY, WATCH) compared with redis-server reply by reply, and the
//! seeded command stream with SELECT between its commands.

use crate::common::resp::{Conn, R};
use crate::{compare_streams, random_command, Gen};

/// The seeded stream, now and then switching databases (outside MULTI:
/// Tessera refuses SELECT inside a transaction, docs/redis-compat.md).
fn command_in_some_database(g: &mut Gen) -> Vec<String> {
    match g.below(15) {
        0 => vec![
            "SELECT".into(),
            g.pick(&["0", "1", "2", "2", "16", "-1", "x"]).into(),
        ],
        _ => random_command(g),
    }
}

#[test]
fn random_commands_across_databases_match_redis_server() {
    let reset: &[&[&str]] = &[&["SELECT", "0"], &["FLUSHALL"]];
    let checked = compare_streams(&[5, 606], reset, command_in_some_database, |o, t| {
        // Each database's keys, compared at the end of every seed.
        for db in ["0", "1", "2"] {
            for c in [&mut *o, &mut *t] {
                assert_eq!(c.cmd(&["SELECT", db]), R::ok());
            }
            assert_eq!(
                sorted(o.cmd(&["KEYS", "*"])),
                sorted(t.cmd(&["KEYS", "*"])),
                "db {db}"
            );
        }
    });
    for name in ["select", "move", "copy"] {
        assert!(
            checked.contains(name),
            "{name} never answered without an error"
        );
    }
}

fn sorted(r: R) -> R {
    match r {
        R::Array(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            R::Array(items)
        }
        other => other,
    }
}

/// Runs `script` on both servers; every reply must be equal (SMEMBERS's
/// compared sorted).
fn same_replies(ours: &mut Conn, theirs: &mut Conn, script: &[&[&str]]) {
    for words in script {
        let (a, b) = (ours.cmd(words), theirs.cmd(words));
        let (a, b) = match words[0] {
            "SMEMBERS" => (sorted(a), sorted(b)),
            _ => (a, b),
        };
        assert_eq!(a, b, "{words:?}");
    }
}

/// Every key of the selected database through SCAN, sorted.
fn scan_all(c: &mut Conn) -> Vec<R> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    loop {
        let R::Array(page) = c.cmd(&["SCAN", &cursor, "COUNT", "3"]) else {
            panic!("SCAN answered no array");
        };
        let [R::Bulk(next), R::Array(found)] = &page[..] else {
            panic!("SCAN's reply: {page:?}");
        };
        keys.extend(found.iter().cloned());
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            keys.sort_by_key(|k| format!("{k:?}"));
            return keys;
        }
    }
}

#[test]
fn databases_keep_their_keys_apart_as_in_redis_server() {
    let (_servers, mut ours, mut theirs) = crate::common::beside_redis();
    let script: &[&[&str]] = &[
        &["SET", "{x}s", "zero"],
        &["SELECT", "3"],
        &["GET", "{x}s"],
        &["SET", "{x}s", "three"],
        &["HSET", "{x}h", "f", "1", "g", "2"],
        &["RPUSH", "{x}l", "a", "b", "c"],
        &["ZADD", "{x}z", "1", "m", "2", "n"],
        &["SADD", "{x}t", "p", "q"],
        &["EXPIRE", "{x}h", "1000"],
        &["DBSIZE"],
        &["MOVE", "{x}s", "0"],
        &["MOVE", "{x}h", "5"],
        &["MOVE", "{x}h", "3"],
        &["MOVE", "{x}missing", "5"],
        &["MOVE", "{x}l", "16"],
        &["MOVE", "{x}l", "-1"],
        &["MOVE", "{x}l", "abc"],
        &["COPY", "{x}l", "{x}l", "DB", "7"],
        &["COPY", "{x}z", "{x}z2", "DB", "7"],
        &["COPY", "{x}z", "{x}z2", "DB", "7"],
        &["COPY", "{x}z", "{x}z2", "DB", "7", "REPLACE"],
        &["COPY", "{x}z", "{x}z", "DB", "3"],
        &["COPY", "{x}z", "{x}z", "DB", "99"],
        &["DBSIZE"],
        &["SELECT", "5"],
        &["HGETALL", "{x}h"],
        &["TTL", "{x}h"],
        &["DBSIZE"],
        &["RANDOMKEY"],
        &["SELECT", "7"],
        &["LRANGE", "{x}l", "0", "-1"],
        &["ZRANGE", "{x}z2", "0", "-1", "WITHSCORES"],
        &["DBSIZE"],
        &["FLUSHDB"],
        &["DBSIZE"],
        &["RANDOMKEY"],
        &["SELECT", "3"],
        &["LRANGE", "{x}l", "0", "-1"],
        &["SMEMBERS", "{x}t"],
        &["SELECT", "0"],
        &["GET", "{x}s"],
        &["SELECT", "16"],
        &["SELECT", "-1"],
        &["SELECT", "nope"],
        &["SELECT", "+1"],
        &["SELECT", "01"],
        &["MOVE", "{x}s", "+1"],
        &["COPY", "{x}s", "{x}t", "DB", "+1"],
        &["SELECT", "1", "2"],
        &["MOVE", "{x}s"],
        &["GET", "{x}s"],
        &["CONFIG", "GET", "databases"],
    ];
    same_replies(&mut ours, &mut theirs, script);
    // SCAN and KEYS of one database see only its keys.
    for c in [&mut ours, &mut theirs] {
        c.cmd(&["SELECT", "9"]);
        for i in 0..20 {
            c.cmd(&["SET", &format!("nine:{i}"), "x"]);
        }
        c.cmd(&["SELECT", "10"]);
        c.cmd(&["SET", "ten", "x"]);
        c.cmd(&["SELECT", "9"]);
    }
    let mine = scan_all(&mut ours);
    assert_eq!(mine.len(), 20);
    assert_eq!(mine, scan_all(&mut theirs));
    assert_eq!(
        sorted(ours.cmd(&["KEYS", "nine:1*"])),
        sorted(theirs.cmd(&["KEYS", "nine:1*"]))
    );
    assert_eq!(ours.cmd(&["DBSIZE"]), R::Int(20));
    // CLIENT INFO shows the database; RESET goes back to 0.
    let R::Bulk(info) = ours.cmd(&["CLIENT", "INFO"]) else {
        panic!("CLIENT INFO");
    };
    assert!(String::from_utf8_lossy(&info).contains(" db=9 "));
    assert_eq!(ours.cmd(&["RESET"]), theirs.cmd(&["RESET"]));
    assert_eq!(ours.cmd(&["GET", "nine:1"]), R::Nil);
    assert_eq!(ours.cmd(&["GET", "{x}s"]), R::Bulk(b"zero".to_vec()));
}

#[test]
fn watch_and_multi_stay_in_their_database() {
    let (_redis, raddr) = crate::common::redis_server::redis_server();
    let node = crate::node();
    let (mut ours, mut other_ours) = (
        Conn::connect(node.resp_addr()),
        Conn::connect(node.resp_addr()),
    );
    let (mut theirs, mut other_theirs) = (Conn::connect(raddr), Conn::connect(raddr));
    for (c, other) in [
        (&mut ours, &mut other_ours),
        (&mut theirs, &mut other_theirs),
    ] {
        for w in [
            &["SELECT", "2"][..],
            &["WATCH", "w"],
            &["MULTI"],
            &["INCR", "w"],
        ] {
            c.cmd(w);
        }
        // The same name in another database: the transaction runs.
        other.cmd(&["SELECT", "4"]);
        other.cmd(&["SET", "w", "40"]);
        assert_eq!(c.cmd(&["EXEC"]), R::Array(vec![R::Int(1)]));
        // The watched key itself: it does not.
        for w in [&["WATCH", "w"][..], &["MULTI"], &["INCR", "w"]] {
            c.cmd(w);
        }
        other.cmd(&["SELECT", "2"]);
        other.cmd(&["SET", "w", "20"]);
        assert_eq!(c.cmd(&["EXEC"]), R::Nil);
        // Watched in 2, executed in 4 after SELECT: still watched in 2.
        for w in [
            &["WATCH", "w"][..],
            &["SELECT", "4"],
            &["MULTI"],
            &["INCR", "w"],
        ] {
            c.cmd(w);
        }
        other.cmd(&["SET", "w", "21"]);
        assert_eq!(c.cmd(&["EXEC"]), R::Nil);
        assert_eq!(c.cmd(&["GET", "w"]), R::Bulk(b"40".to_vec()));
    }
    // Tessera refuses SELECT inside MULTI, and the transaction is aborted.
    ours.cmd(&["MULTI"]);
    assert!(
        matches!(ours.cmd(&["SELECT", "1"]), R::Err(e) if e.contains("cannot run inside a transaction"))
    );
    assert!(matches!(ours.cmd(&["EXEC"]), R::Err(e) if e.starts_with("EXECABORT")));
}

#[test]
fn swapdb_exchanges_databases_as_redis_server_does() {
    let (_servers, mut ours, mut theirs) = crate::common::beside_redis();
    let script: &[&[&str]] = &[
        &["SELECT", "1"],
        &["SET", "{s}a", "1"],
        &["HSET", "{s}h", "f", "v", "g", "w"],
        &["RPUSH", "{s}l", "x", "y"],
        &["EXPIRE", "{s}a", "100"],
        &["SELECT", "2"],
        &["SET", "{s}a", "2"],
        &["ZADD", "{s}z", "1", "m", "2", "n"],
        &["SWAPDB", "1", "2"],
        &["GET", "{s}a"],
        &["TTL", "{s}a"],
        &["HGETALL", "{s}h"],
        &["LRANGE", "{s}l", "0", "-1"],
        &["ZRANGE", "{s}z", "0", "-1"],
        &["DBSIZE"],
        &["SELECT", "1"],
        &["GET", "{s}a"],
        &["TTL", "{s}a"],
        &["ZRANGE", "{s}z", "0", "-1", "WITHSCORES"],
        &["HSET", "{s}h", "new", "1"],
        &["SWAPDB", "0", "1"],
        &["SWAPDB", "1", "1"],
        &["DBSIZE"],
        &["SELECT", "0"],
        &["ZRANGE", "{s}z", "0", "-1"],
        &["HGETALL", "{s}h"],
        &["SWAPDB", "16", "1"],
        &["SWAPDB", "1", "16"],
        &["SWAPDB", "x", "1"],
        &["SWAPDB", "1", "y"],
        &["SWAPDB", "-1", "1"],
        &["SWAPDB", "+1", "2"],
        &["SWAPDB", "1", "02"],
        &["SWAPDB", "1"],
    ];
    same_replies(&mut ours, &mut theirs, script);
    // Many keys on both cores, database 0 among them.
    for c in [&mut ours, &mut theirs] {
        c.cmd(&["FLUSHALL"]);
        for (db, n) in [("0", 40), ("3", 25)] {
            c.cmd(&["SELECT", db]);
            for i in 0..n {
                c.cmd(&["SADD", &format!("db{db}:{i}"), "m", &i.to_string()]);
            }
        }
        assert_eq!(c.cmd(&["SWAPDB", "3", "0"]), R::ok());
    }
    for db in ["0", "3"] {
        for c in [&mut ours, &mut theirs] {
            c.cmd(&["SELECT", db]);
        }
        let keys = sorted(ours.cmd(&["KEYS", "*"]));
        assert_eq!(keys, sorted(theirs.cmd(&["KEYS", "*"])), "db {db}");
        assert!(matches!(&keys, R::Array(k) if k.len() == if db == "0" { 25 } else { 40 }));
        assert_eq!(
            sorted(ours.cmd(&["SMEMBERS", "db3:7"])),
            sorted(theirs.cmd(&["SMEMBERS", "db3:7"]))
        );
    }
}
