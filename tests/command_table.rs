//! The command table against the real redis-server 7.0: for every command
//! both serve, `COMMAND INFO` agrees on arity, flags, key positions and ACL
//! categories (subcommands included), and `COMMAND GETKEYS` finds the same
//! keys. redis-py's key parser runs against it in tests/redis_py.rs.

mod common;

use std::collections::BTreeSet;

use common::redis_server::redis_server;
use common::resp::{first_five_bytes, Conn, R};
use common::Node;

/// Commands Tessera adds (docs/protocol.md); Redis does not know them.
const TESSERA_ONLY: &[&str] = &["checkandset", "hrange"];

fn text(r: &R) -> String {
    match r {
        R::Simple(s) => s.clone(),
        R::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not text: {other:?}"),
    }
}

fn fields(e: &R) -> &[R] {
    match e {
        R::Array(f) => f,
        other => panic!("not an entry: {other:?}"),
    }
}

fn set_of(r: &R) -> BTreeSet<String> {
    match r {
        R::Array(items) => items.iter().map(text).collect(),
        other => panic!("not a set: {other:?}"),
    }
}

/// Subcommands of Redis 7.2 that Tessera accepts; redis-server 7.0 does
/// not have them.
const NEWER_THAN_7_0: &[&str] = &["client|no-touch", "client|setinfo"];

/// Compares one Tessera entry with Redis's entry for the same command.
fn compare(ours: &R, theirs: &R) -> usize {
    let (o, t) = (fields(ours), fields(theirs));
    let name = text(&o[0]);
    assert_eq!(
        o.len(),
        10,
        "{name}: Tessera's entry has {} fields",
        o.len()
    );
    assert_eq!(o[1], t[1], "{name}: arity");
    assert_eq!(set_of(&o[2]), set_of(&t[2]), "{name}: flags");
    assert_eq!(o[3..6], t[3..6], "{name}: first key, last key, step");
    assert_eq!(set_of(&o[6]), set_of(&t[6]), "{name}: ACL categories");
    let mut compared = 1;
    let theirs_subs = fields(&t[9]);
    for sub in fields(&o[9]) {
        let sub_name = text(&fields(sub)[0]);
        match theirs_subs.iter().find(|s| text(&fields(s)[0]) == sub_name) {
            Some(twin) => compared += compare(sub, twin),
            None => assert!(
                NEWER_THAN_7_0.contains(&sub_name.as_str()),
                "redis-server has no subcommand {sub_name}"
            ),
        }
    }
    compared
}

/// Tessera's reply `ours` to `words` is redis-server's `theirs`; for two
/// errors, their first words (the codes) agree.
fn assert_same_reply(words: &[&str], ours: R, theirs: R) {
    if ours.err_word().is_some() && theirs.err_word().is_some() {
        assert_eq!(
            ours.err_word(),
            theirs.err_word(),
            "{words:?}: {ours:?} / {theirs:?}"
        );
    } else {
        assert_eq!(ours, theirs, "{words:?}");
    }
}

#[test]
fn command_info_agrees_with_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let R::Array(entries) = ours.cmd(&["COMMAND"]) else {
        panic!("COMMAND is not an array")
    };
    assert_eq!(
        ours.cmd(&["COMMAND", "COUNT"]),
        R::Int(entries.len() as i64)
    );
    let (mut compared, mut only_ours) = (0, Vec::new());
    for e in &entries {
        let name = text(&fields(e)[0]);
        let R::Array(twin) = theirs.cmd(&["COMMAND", "INFO", &name]) else {
            panic!("redis-server's COMMAND INFO is not an array")
        };
        match &twin[0] {
            R::Nil => only_ours.push(name),
            t => compared += compare(e, t),
        }
    }
    only_ours.sort();
    assert_eq!(
        only_ours, TESSERA_ONLY,
        "commands redis-server does not know"
    );
    assert!(compared > 150, "only {compared} entries compared");
    // COMMAND INFO of one name, and of an unknown one, as Redis answers.
    let R::Array(one) = ours.cmd(&["COMMAND", "INFO", "get", "nosuch"]) else {
        panic!()
    };
    assert_eq!(one.len(), 2);
    assert_eq!(one[1], R::Nil);
}

#[test]
fn getkeys_agrees_with_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let cases: &[&[&str]] = &[
        &["SET", "k", "v", "EX", "10", "GET"],
        &["MSET", "a", "1", "b", "2", "c", "3"],
        &["MGET", "a", "b"],
        &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"],
        &["ZINTERSTORE", "d", "1", "a"],
        &["ZDIFFSTORE", "d", "2", "a", "b"],
        &["ZUNION", "3", "a", "b", "c", "WITHSCORES"],
        &["ZDIFF", "1", "a"],
        &["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"],
        &["BLPOP", "a", "b", "c", "1"],
        &["BRPOPLPUSH", "s", "d", "0"],
        &["SINTERSTORE", "d", "a", "b"],
        &["RENAME", "a", "b"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["LMOVE", "a", "b", "LEFT", "LEFT"],
        &["ZADD", "z", "1", "m"],
        &["EXISTS", "a", "b", "c"],
        &[
            "GEORADIUS",
            "s",
            "1",
            "2",
            "3",
            "km",
            "STORE",
            "d1",
            "STOREDIST",
            "d2",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "s",
            "m",
            "3",
            "km",
            "COUNT",
            "2",
            "STORE",
            "d",
        ],
        &[
            "GEORADIUSBYMEMBER",
            "s",
            "m",
            "3",
            "km",
            "STOREDIST",
            "d",
            "STORE",
            "e",
        ],
        &["GEORADIUS_RO", "s", "1", "2", "3", "km"],
        // Errors: no keys, wrong arity, unknown command, a bad key count.
        &["PING"],
        &["GET"],
        &["NOSUCH", "k"],
        &["ZUNIONSTORE", "d", "5", "a"],
        &["ZUNION", "0", "a"],
    ];
    for case in cases {
        let mut words = vec!["COMMAND", "GETKEYS"];
        words.extend_from_slice(case);
        let (o, t) = (ours.cmd(&words), theirs.cmd(&words));
        match (&o, &t) {
            // Both refuse; the words may differ, the refusal may not.
            (R::Err(a), R::Err(b)) => assert_eq!(
                a.split(' ').next(),
                b.split(' ').next(),
                "{case:?}: {a} vs {b}"
            ),
            _ => assert_eq!(o, t, "{case:?}"),
        }
    }
}

/// The subcommand table answers unknown subcommands and wrong arity the
/// way Redis does.
#[test]
fn subcommands_are_checked_like_redis() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    for case in [
        &["CLIENT", "NOSUCH"][..],
        &["CLIENT", "SETNAME"],
        &["COMMAND", "COUNT", "extra"],
        &["CONFIG", "GET"],
        &["PUBSUB", "NUMPAT", "extra"],
    ] {
        assert_eq!(ours.cmd(case), theirs.cmd(case), "{case:?}");
    }
    // HELP lists the subcommands the table has, as Redis's HELP does.
    for container in ["CLIENT", "COMMAND", "CONFIG", "PUBSUB"] {
        let (R::Array(o), R::Array(t)) = (
            ours.cmd(&[container, "HELP"]),
            theirs.cmd(&[container, "HELP"]),
        ) else {
            panic!("{container} HELP is not an array on both")
        };
        assert_eq!(o[0], t[0], "{container} HELP's first line");
        assert!(o.len() > 3, "{container} HELP: {o:?}");
    }
    let R::Array(help) = ours.cmd(&["CLIENT", "HELP"]) else {
        panic!()
    };
    assert!(help.contains(&R::Simple("SETNAME".into())), "{help:?}");
}

/// The movable-key commands of the table (ZUNION, ZINTER, ZDIFF and their
/// STORE forms) answer what redis-server answers, errors included.
#[test]
fn sorted_set_combinations_match_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let setup: &[&[&str]] = &[
        &["ZADD", "{z}a", "1", "x", "2", "y", "3", "z", "-inf", "low"],
        &[
            "ZADD", "{z}b", "10", "y", "20", "z", "30", "w", "inf", "low",
        ],
        &["SADD", "{z}s", "x", "w", "v"],
        &["SET", "{z}str", "v"],
    ];
    let cases: &[&[&str]] = &[
        &["ZUNION", "2", "{z}a", "{z}b", "WITHSCORES"],
        &[
            "ZUNION",
            "2",
            "{z}a",
            "{z}b",
            "WEIGHTS",
            "2",
            "0.5",
            "WITHSCORES",
        ],
        &[
            "ZUNION",
            "2",
            "{z}a",
            "{z}b",
            "AGGREGATE",
            "MAX",
            "WITHSCORES",
        ],
        &[
            "ZUNION",
            "3",
            "{z}a",
            "{z}b",
            "{z}s",
            "AGGREGATE",
            "MIN",
            "WITHSCORES",
        ],
        &["ZINTER", "2", "{z}a", "{z}b", "WITHSCORES"],
        &["ZINTER", "2", "{z}a", "{z}s"],
        &["ZINTER", "2", "{z}a", "{z}missing"],
        &["ZDIFF", "2", "{z}a", "{z}b", "WITHSCORES"],
        &["ZDIFF", "1", "{z}missing"],
        &[
            "ZUNIONSTORE",
            "{z}d",
            "2",
            "{z}a",
            "{z}b",
            "WEIGHTS",
            "1",
            "-1",
        ],
        &["ZRANGE", "{z}d", "0", "-1", "WITHSCORES"],
        &[
            "ZINTERSTORE",
            "{z}d",
            "2",
            "{z}a",
            "{z}b",
            "AGGREGATE",
            "MIN",
        ],
        &["ZRANGE", "{z}d", "0", "-1", "WITHSCORES"],
        &["ZDIFFSTORE", "{z}d", "2", "{z}a", "{z}a"],
        &["EXISTS", "{z}d"],
        &["ZUNIONSTORE", "{z}a", "2", "{z}a", "{z}b"],
        &["ZRANGE", "{z}a", "0", "-1", "WITHSCORES"],
        // Errors.
        &["ZUNION", "2", "{z}a", "{z}str"],
        &["ZUNION", "1", "{z}a", "WEIGHTS", "x"],
        &["ZUNION", "1", "{z}a", "AGGREGATE", "AVG"],
        &["ZUNION", "0", "{z}a"],
        &["ZUNION", "3", "{z}a"],
        &["ZUNION", "x", "{z}a"],
        &["ZDIFF", "1", "{z}a", "WEIGHTS", "1"],
        &["ZUNIONSTORE", "{z}d", "1", "{z}a", "WITHSCORES"],
    ];
    for c in setup.iter().chain(cases) {
        assert_eq!(ours.cmd(c), theirs.cmd(c), "{c:?}");
    }
}

/// The reply shapes the table declares hold for both servers' answers to
/// the commands the differential run does not reach (nil cases included).
#[test]
fn reply_shapes_hold_on_both_servers() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let cases: &[&[&str]] = &[
        &["PING"],
        &["PING", "hi"],
        &["ECHO", "x"],
        &["DBSIZE"],
        &["TIME"],
        &["LASTSAVE"],
        &["CLIENT", "ID"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "shapes"],
        &["CLIENT", "GETNAME"],
        &["COMMAND", "COUNT"],
        &["COMMAND", "INFO", "get"],
        &["COMMAND", "DOCS", "get"],
        &["COMMAND", "GETKEYS", "set", "k", "v"],
        &["CONFIG", "GET", "maxmemory"],
        &["SELECT", "0"],
        &["SET", "{s}str", "v"],
        &["GET", "{s}str"],
        &["GET", "{s}missing"],
        &["TYPE", "{s}str"],
        &["RANDOMKEY"],
        &["ZADD", "{s}z", "1", "a"],
        &["ZSCORE", "{s}z", "a"],
        &["ZSCORE", "{s}z", "missing"],
        &["ZRANK", "{s}z", "a"],
        &["ZRANK", "{s}z", "missing"],
        &["ZINCRBY", "{s}z", "2", "a"],
        &["ZRANGE", "{s}z", "0", "-1", "WITHSCORES"],
        &["ZUNION", "2", "{s}z", "{s}z2", "WITHSCORES"],
        &["ZINTERSTORE", "{s}z3", "1", "{s}z"],
        &["BLPOP", "{s}nolist", "0.01"],
        &["BRPOPLPUSH", "{s}nolist", "{s}other", "0.01"],
        &["LPUSH", "{s}l", "a", "b"],
        &["LINDEX", "{s}l", "5"],
        &["LMOVE", "{s}l", "{s}l2", "LEFT", "RIGHT"],
        &["HSET", "{s}h", "f", "v"],
        &["HGETALL", "{s}h"],
        &["HGET", "{s}h", "nope"],
        &["HINCRBYFLOAT", "{s}h", "n", "1.5"],
        &["MSET", "{s}a", "1", "{s}b", "2"],
        &["MSETNX", "{s}a", "1", "{s}c", "2"],
        &["PUBLISH", "chan", "m"],
        &["PUBSUB", "NUMPAT"],
        &["PUBSUB", "CHANNELS"],
        &["SMISMEMBER", "{s}set", "a"],
        &["PEXPIRE", "{s}str", "100000"],
        &["PTTL", "{s}str"],
        &["PERSIST", "{s}str"],
        &["UNLINK", "{s}a"],
        &["GETEX", "{s}str"],
        &["SETEX", "{s}e", "100", "v"],
        &["PSETEX", "{s}e", "100000", "v"],
        &["MULTI"],
        &["EXEC"],
        &["INFO", "server"],
    ];
    let mut checked = BTreeSet::new();
    for words in cases {
        let row = tessera::proto::table::get(words[0].as_bytes()).expect("a row");
        let row = match row.subcommands {
            [] => row,
            subs => subs
                .iter()
                .find(|s| s.name.rsplit('|').next() == Some(&words[1].to_ascii_lowercase()))
                .expect("a subcommand row"),
        };
        for (who, conn) in [("tessera", &mut ours), ("redis-server", &mut theirs)] {
            let r = conn.cmd(words);
            assert!(!matches!(r, R::Err(_)), "{who} {words:?}: {r:?}");
            assert!(
                r.fits(row.reply_shape()),
                "{who} {words:?} answered {r:?}; the table says {:?}",
                row.reply_shape()
            );
        }
        checked.insert(row.name);
    }
    assert!(checked.len() >= 40, "{checked:?}");
}

/// SET's options go through one parser (`proto::set_opts`) for the fast
/// opcode and the named command alike; both answer as redis-server does,
/// errors and the value left behind included.
#[test]
fn set_options_match_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let cases: &[&[&str]] = &[
        &["SET", "{o}k", "v1"],
        &["SET", "{o}k", "v", "NX", "XX"],
        &["SET", "{o}k", "v", "XX", "NX"],
        &["SET", "{o}k", "v", "EX", "10", "PX", "10"],
        &["SET", "{o}k", "v", "EX", "abc"],
        &["SET", "{o}k", "v", "EX", "abc", "NX", "XX"],
        &["SET", "{o}k", "v", "EX", "0"],
        &["SET", "{o}k", "v", "PX", "-5"],
        &["SET", "{o}k", "v", "EX", "9223372036854775807"],
        &["SET", "{o}k", "v", "EX"],
        &["SET", "{o}k", "v", "KEEPTTL", "EX", "1"],
        &["SET", "{o}k", "v", "EX", "1", "KEEPTTL"],
        &["SET", "{o}k", "v", "BOGUS"],
        &["SET", "{o}k", "v2", "EX", "10", "EX", "20"],
        &["TTL", "{o}k"],
        &["SET", "{o}k", "v3", "KEEPTTL"],
        &["TTL", "{o}k"],
        &["SET", "{o}k", "v4", "GET"],
        &["SET", "{o}k", "v5", "NX", "GET"],
        &["SET", "{o}new", "n", "XX", "GET"],
        &["SET", "{o}k", "v6", "PXAT", "99999999999999", "GET"],
        &["PERSIST", "{o}k"],
        &["SET", "{o}k", "v7", "EXAT", "1"],
        &["GET", "{o}k"],
        &["EXISTS", "{o}k", "{o}new"],
    ];
    for words in cases {
        let (a, b) = (ours.cmd(words), theirs.cmd(words));
        assert_eq!(a, b, "{words:?}");
    }
}

/// EXPIRETIME and PEXPIRETIME answer as redis-server does: -2 without the
/// key, -1 without an expiry, else the expiry's Unix time (seconds rounded
/// as TTL rounds, or milliseconds), also after PERSIST and a new EXPIREAT.
#[test]
fn expiretime_matches_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let at_ms = 4_102_444_800_123u64; // 2100-01-01, plus 123 ms
    let steps: Vec<Vec<String>> = vec![
        vec!["EXPIRETIME".into(), "{x}k".into()],
        vec!["PEXPIRETIME".into(), "{x}k".into()],
        vec!["SET".into(), "{x}k".into(), "v".into()],
        vec!["EXPIRETIME".into(), "{x}k".into()],
        vec!["PEXPIREAT".into(), "{x}k".into(), at_ms.to_string()],
        vec!["EXPIRETIME".into(), "{x}k".into()],
        vec!["PEXPIRETIME".into(), "{x}k".into()],
        vec!["EXPIREAT".into(), "{x}k".into(), "4102444801".into()],
        vec!["PEXPIRETIME".into(), "{x}k".into()],
        vec!["PERSIST".into(), "{x}k".into()],
        vec!["PEXPIRETIME".into(), "{x}k".into()],
        vec!["HSET".into(), "{x}h".into(), "f".into(), "v".into()],
        vec!["PEXPIREAT".into(), "{x}h".into(), at_ms.to_string()],
        vec!["EXPIRETIME".into(), "{x}h".into()],
        vec!["EXPIRETIME".into()],
        vec!["EXPIRETIME".into(), "{x}k".into(), "extra".into()],
    ];
    for words in &steps {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_same_reply(&w, ours.cmd(&w), theirs.cmd(&w));
    }
    assert_eq!(
        ours.cmd(&["PEXPIRETIME", "{x}h"]),
        R::Int(at_ms as i64),
        "the expiry itself, not a stand-in"
    );
}

/// PING and ECHO inside MULTI answer in their places at EXEC, and commands
/// that fail there answer their errors while the others apply, as in
/// redis-server; a PING-only transaction still honours WATCH.
#[test]
fn multi_runs_ping_echo_and_failing_commands_as_redis_server_does() {
    let (_redis, raddr) = redis_server();
    let node = Node::start(2);
    let addrs = [node.resp_addr(), raddr];
    let (mut ours, mut theirs) = (Conn::connect(addrs[0]), Conn::connect(addrs[1]));
    let script: &[&[&str]] = &[
        &["MULTI"],
        &["PING"],
        &["SET", "{m}k", "v"],
        &["ECHO", "hi"],
        &["PING", "there"],
        &["GET", "{m}k"],
        &["EXEC"],
        &["MULTI"],
        &["PING"],
        &["ECHO", "only"],
        &["EXEC"],
        // Commands that fail when EXEC runs them (a wrong type, a bad
        // argument, PING's extra argument) answer their errors in EXEC's
        // array and the others still apply.
        &["MULTI"],
        &["SET", "{m}s", "str"],
        &["LPUSH", "{m}s", "x"],
        &["INCR", "{m}n"],
        &["SET", "{m}k", "v", "EX", "nope"],
        &["INCR", "{m}s"],
        &["PING", "a", "b"],
        &["HSET", "{m}h", "f", "v"],
        &["ZADD", "{m}h", "1", "m"],
        &["SADD", "{m}t", "a", "b"],
        &["EXEC"],
        &["GET", "{m}n"],
        &["GET", "{m}k"],
        &["HGETALL", "{m}h"],
        &["TYPE", "{m}s"],
        &["SCARD", "{m}t"],
        // A transaction whose only command fails when EXEC runs it.
        &["MULTI"],
        &["SET", "{m}k", "v", "EX", "nope"],
        &["EXEC"],
        // Commands that are not data commands run at EXEC too, their
        // replies in their places.
        &["MULTI"],
        &["CLIENT", "SETNAME", "tx"],
        &["SET", "{m}p", "1"],
        &["PUBLISH", "nobody", "hi"],
        &["CLIENT", "GETNAME"],
        &["GET", "{m}p"],
        &["EXEC"],
        // ECHO's arity is checked while queueing: EXEC is refused.
        &["MULTI"],
        &["ECHO", "a", "b"],
        &["SET", "{m}n", "9"],
        &["EXEC"],
        &["GET", "{m}n"],
    ];
    for words in script {
        assert_same_reply(words, ours.cmd(words), theirs.cmd(words));
    }
    // INFO answers inside EXEC; a command that writes outside the batch or
    // subscribes is refused while queueing (docs/redis-compat.md).
    assert_eq!(ours.cmd(&["MULTI"]), R::ok());
    ours.cmd(&["INFO", "server"]);
    ours.cmd(&["INCR", "{m}p"]);
    match ours.cmd(&["EXEC"]) {
        R::Array(items) => {
            assert!(matches!(&items[0], R::Bulk(b) if b.starts_with(b"# Server")));
            assert_eq!(items[1], R::Int(2));
        }
        r => panic!("{r:?}"),
    }
    for refused in [
        &["FLUSHALL"][..],
        &["SUBSCRIBE", "ch"],
        &["CLIENT", "REPLY", "OFF"],
    ] {
        assert_eq!(ours.cmd(&["MULTI"]), R::ok());
        assert_eq!(ours.cmd(refused).err_word(), Some("ERR"), "{refused:?}");
        assert_eq!(ours.cmd(&["EXEC"]).err_word(), Some("EXECABORT"));
    }
    // A watched key another client changes: the PING-only transaction is
    // not run (a null reply), on both servers.
    for (conn, addr) in [(&mut ours, addrs[0]), (&mut theirs, addrs[1])] {
        assert_eq!(conn.cmd(&["WATCH", "{m}k"]), R::ok());
        assert_eq!(Conn::connect(addr).cmd(&["SET", "{m}k", "w"]), R::ok());
        assert_eq!(conn.cmd(&["MULTI"]), R::ok());
        assert_eq!(conn.cmd(&["PING"]), R::Simple("QUEUED".into()));
        let r = conn.cmd(&["EXEC"]);
        assert_eq!(r, R::Nil, "{addr}");
    }
}

/// SINTERCARD and ZINTERCARD, replies and error texts to the letter, against
/// redis-server.
#[test]
fn intercard_commands_match_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let steps: &[&[&str]] = &[
        &["SADD", "{s}1", "a", "b", "c", "d"],
        &["SADD", "{s}2", "b", "c", "d", "e"],
        &["SET", "{s}str", "x"],
        &["SINTERCARD", "2", "{s}1", "{s}2"],
        &["SINTERCARD", "2", "{s}1", "{s}2", "LIMIT", "2"],
        &["SINTERCARD", "2", "{s}1", "{s}2", "limit", "0"],
        &["SINTERCARD", "1", "{s}1", "LIMIT", "10"],
        &["SINTERCARD", "2", "{s}1", "{s}none"],
        &["SINTERCARD", "2", "{s}none", "{s}str"],
        &["SINTERCARD", "2", "{s}1", "{s}str"],
        &["SINTERCARD", "0", "{s}1"],
        &["SINTERCARD", "-1", "{s}1"],
        &["SINTERCARD", "x", "{s}1"],
        &["SINTERCARD", "3", "{s}1", "{s}2"],
        &["SINTERCARD", "1", "{s}1", "LIMIT", "-1"],
        &["SINTERCARD", "1", "{s}1", "LIMIT", "x"],
        &["SINTERCARD", "1", "{s}1", "LIMIT"],
        &["SINTERCARD", "1", "{s}1", "foo"],
        &["SINTERCARD", "1"],
        &["ZADD", "{s}z1", "1", "a", "2", "b", "3", "c"],
        &["ZADD", "{s}z2", "5", "b", "6", "c", "7", "d"],
        &["ZINTERCARD", "2", "{s}z1", "{s}z2"],
        &["ZINTERCARD", "2", "{s}z1", "{s}1"],
        &["ZINTERCARD", "2", "{s}z1", "{s}z2", "LIMIT", "1"],
        &["ZINTERCARD", "1", "{s}none"],
        &["ZINTERCARD", "2", "{s}z1", "{s}str"],
        &["ZINTERCARD", "2", "{s}none", "{s}str"],
        &["ZINTERCARD", "0", "{s}z1"],
        &["ZINTERCARD", "x", "{s}z1"],
        &["ZINTERCARD", "3", "{s}z1"],
        &["ZINTERCARD", "1", "{s}z1", "LIMIT", "-1"],
        &["ZINTERCARD", "1", "{s}z1", "LIMIT"],
        &["ZINTERCARD", "1", "{s}z1", "foo"],
    ];
    for w in steps {
        assert_eq!(ours.cmd(w), theirs.cmd(w), "{w:?}");
    }
    assert_eq!(
        ours.cmd(&["SINTERCARD", "2", "{s}1", "{s}2"]),
        R::Int(3),
        "the count itself"
    );
    assert_eq!(
        ours.cmd(&["ZINTERCARD", "2", "{s}z1", "{s}z2"]),
        R::Int(2),
        "the count itself"
    );
}

/// SMOVE, in Redis's order of checks, against redis-server; the member
/// really moves (and the emptied source is gone).
#[test]
fn smove_matches_redis_server() {
    let (_servers, mut ours, mut theirs) = common::beside_redis();
    let steps: &[&[&str]] = &[
        &["SMOVE", "{m}a", "{m}b", "x"],
        &["SADD", "{m}a", "x", "y"],
        &["SET", "{m}str", "v"],
        &["SMOVE", "{m}a", "{m}str", "x"],
        &["SMOVE", "{m}none", "{m}str", "x"],
        &["SMOVE", "{m}str", "{m}a", "x"],
        &["SMOVE", "{m}a", "{m}a", "x"],
        &["SMOVE", "{m}a", "{m}a", "z"],
        &["SMOVE", "{m}a", "{m}b", "z"],
        &["SMOVE", "{m}a", "{m}b", "x"],
        &["SMEMBERS", "{m}a"],
        &["SMEMBERS", "{m}b"],
        &["SMOVE", "{m}a", "{m}b", "y"],
        &["EXISTS", "{m}a"],
        &["SCARD", "{m}b"],
        &["SMOVE", "{m}a", "{m}b"],
        &["SMOVE", "{m}a", "{m}b", "x", "extra"],
    ];
    for w in steps {
        assert_eq!(ours.cmd(w), theirs.cmd(w), "{w:?}");
    }
    assert_eq!(ours.cmd(&["SISMEMBER", "{m}b", "y"]), R::Int(1));
}

/// LMPOP and ZMPOP against redis-server: the first key holding the type,
/// Redis's order of checks and its error texts; no key to pop answers a
/// null array (`*-1`), byte for byte.
#[test]
fn lmpop_and_zmpop_match_redis_server() {
    let (redis, raddr) = redis_server();
    let node = Node::start(2);
    let mut ours = Conn::connect(node.resp_addr());
    let mut theirs = Conn::connect(raddr);
    let steps: &[&[&str]] = &[
        &["LMPOP", "1", "{l}none", "LEFT"],
        &["RPUSH", "{l}b", "1", "2", "3"],
        &["SET", "{l}s", "v"],
        &["LMPOP", "2", "{l}a", "{l}b", "LEFT"],
        &["LMPOP", "2", "{l}a", "{l}b", "right", "COUNT", "5"],
        &["LMPOP", "1", "{l}b", "LEFT"],
        &["LMPOP", "2", "{l}s", "{l}b", "LEFT"],
        &["LMPOP", "2", "{l}none", "{l}s", "LEFT"],
        &["RPUSH", "{l}b", "x"],
        &["LMPOP", "2", "{l}b", "{l}s", "LEFT"],
        &["LMPOP", "0", "{l}a", "LEFT"],
        &["LMPOP", "x", "{l}a", "LEFT"],
        &["LMPOP", "2", "{l}a", "LEFT"],
        &["LMPOP", "5", "{l}a", "LEFT"],
        &["LMPOP", "1", "{l}a"],
        &["LMPOP", "1", "{l}a", "UP"],
        &["LMPOP", "1", "{l}a", "LEFT", "COUNT", "0"],
        &["LMPOP", "1", "{l}a", "LEFT", "COUNT", "-1"],
        &["LMPOP", "1", "{l}a", "LEFT", "COUNT", "x"],
        &["LMPOP", "1", "{l}a", "LEFT", "COUNT"],
        &["LMPOP", "1", "{l}a", "LEFT", "COUNT", "1", "COUNT", "2"],
        &["LMPOP", "1", "{l}a", "LEFT", "foo"],
        &["ZADD", "{l}z", "1", "a", "2", "b", "3.5", "c"],
        &["ZMPOP", "2", "{l}none", "{l}z", "MIN"],
        &["ZMPOP", "1", "{l}z", "max", "COUNT", "5"],
        &["ZMPOP", "1", "{l}z", "MAX"],
        &["ZMPOP", "2", "{l}s", "{l}z", "MIN"],
        &["ZMPOP", "0", "{l}z", "MIN"],
        &["ZMPOP", "2", "{l}z", "MIN"],
        &["ZMPOP", "1", "{l}z"],
        &["ZMPOP", "1", "{l}z", "UP"],
        &["ZMPOP", "1", "{l}z", "MIN", "COUNT", "0"],
    ];
    for w in steps {
        assert_eq!(ours.cmd(w), theirs.cmd(w), "{w:?}");
    }
    assert_eq!(
        ours.cmd(&["ZMPOP", "1", "{l}z", "MIN"]),
        R::Nil,
        "the set was emptied"
    );
    let req = b"*4\r\n$5\r\nLMPOP\r\n$1\r\n1\r\n$6\r\n{l}nil\r\n$4\r\nLEFT\r\n";
    assert_eq!(first_five_bytes(node.resp_addr(), req), *b"*-1\r\n");
    assert_eq!(first_five_bytes(raddr, req), *b"*-1\r\n");
    drop(redis);
}

/// OBJECT: Redis's replies and errors where Tessera's layout agrees
/// (strings, missing keys, FREQ under noeviction, arity, unknown
/// subcommands), and Tessera's own names for collections.
#[test]
fn object_matches_redis_server_where_layouts_agree() {
    let (redis, raddr) = redis_server();
    let node = Node::start(2);
    let mut ours = Conn::connect(node.resp_addr());
    let mut theirs = Conn::connect(raddr);
    let long = "a".repeat(45);
    for c in [&mut ours, &mut theirs] {
        for (k, v) in [
            ("i", "123"),
            ("e", "hello"),
            ("n", "0123"),
            ("r", long.as_str()),
        ] {
            c.cmd(&["SET", k, v]);
        }
    }
    for w in [
        &["OBJECT", "ENCODING", "i"][..],
        &["OBJECT", "encoding", "e"],
        &["OBJECT", "ENCODING", "n"],
        &["OBJECT", "ENCODING", "r"],
        &["OBJECT", "ENCODING", "nokey"],
        &["OBJECT", "REFCOUNT", "e"],
        &["OBJECT", "REFCOUNT", "nokey"],
        &["OBJECT", "IDLETIME", "e"],
        &["OBJECT", "IDLETIME", "nokey"],
        &["OBJECT", "FREQ", "e"],
        &["OBJECT", "FREQ", "nokey"],
        &["OBJECT", "FOO", "e"],
        &["OBJECT", "ENCODING"],
        &["OBJECT", "ENCODING", "e", "x"],
        &["OBJECT", "HELP", "x"],
        &["OBJECT"],
    ] {
        assert_eq!(ours.cmd(w), theirs.cmd(w), "{w:?}");
    }
    assert!(matches!(ours.cmd(&["OBJECT", "HELP"]), R::Array(v) if v.len() > 5));
    ours.cmd(&["HSET", "h", "f", "v"]);
    ours.cmd(&["ZADD", "z", "1", "m"]);
    ours.cmd(&["SADD", "s", "m"]);
    ours.cmd(&["RPUSH", "l", "x"]);
    for (k, name) in [
        ("h", "subkeys"),
        ("z", "skiplist"),
        ("s", "hashtable"),
        ("l", "subkeys"),
    ] {
        assert_eq!(ours.cmd(&["OBJECT", "ENCODING", k]), R::bulk(name), "{k}");
    }
    drop(redis);
}
