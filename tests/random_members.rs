//! HRANDFIELD, ZRANDMEMBER and SRANDMEMBER: Redis 7.0's replies and errors
//! where they are determined (compared with redis-server, RESP2 and
//! RESP3), and where they are random: distinct or repeated as the count
//! says, every member as likely, after churn too. Also RESP3's pairs for
//! ZRANGE WITHSCORES.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::resp::{same_as_redis, Conn, R};
use common::Node;

/// A reply's items, sorted (for replies whose order is random).
fn sorted(r: R) -> Vec<String> {
    let R::Array(items) = r else { panic!("{r:?}") };
    let mut v: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    v.sort();
    v
}

#[test]
fn determined_replies_match_redis_server() {
    let (redis, raddr) = common::redis_server::redis_server();
    let node = Node::start(2);
    let mut ours = Conn::connect(node.resp_addr());
    let mut theirs = Conn::connect(raddr);
    same_as_redis(
        &mut ours,
        &mut theirs,
        &[
            "HSET h a 1 b 2 c 3",
            "ZADD z 1 a 2.5 b 3 c",
            "SADD s a b c",
            "SET str x",
            "HRANDFIELD nohash",
            "HRANDFIELD nohash 2",
            "HRANDFIELD nohash 0 WITHVALUES",
            "HRANDFIELD h 0",
            "HRANDFIELD h 0 WITHVALUES",
            "HRANDFIELD h x",
            "HRANDFIELD h 1 withvalues x",
            "HRANDFIELD h 1 foo",
            "HRANDFIELD h -9223372036854775808",
            "HRANDFIELD h -9223372036854775807 WITHVALUES",
            "HRANDFIELD h 4611686018427387904 WITHVALUES",
            "HRANDFIELD str",
            "HRANDFIELD str 0",
            "ZRANDMEMBER noz",
            "ZRANDMEMBER noz 3 WITHSCORES",
            "ZRANDMEMBER z 0",
            "ZRANDMEMBER z 1 WITHSCORES x",
            "ZRANDMEMBER z 99999999999999999999",
            "ZRANDMEMBER z -9223372036854775808",
            "ZRANDMEMBER str 0",
            "SRANDMEMBER s -9223372036854775808",
            "SRANDMEMBER s 1 2",
        ],
    );
    // A count at least the size answers every member once (in some order).
    for w in [
        &["HRANDFIELD", "h", "3"][..],
        &["HRANDFIELD", "h", "10", "WITHVALUES"],
        &["ZRANDMEMBER", "z", "3"],
        &["ZRANDMEMBER", "z", "7", "WITHSCORES"],
        &["SRANDMEMBER", "s", "5"],
    ] {
        let (a, b) = (ours.cmd(w), theirs.cmd(w));
        if w.len() == 4 {
            // Flat in RESP2: compare the pairs.
            let pairs = |r: R| {
                let R::Array(v) = r else { panic!() };
                let mut p: Vec<String> = v.chunks(2).map(|c| format!("{c:?}")).collect();
                p.sort();
                p
            };
            assert_eq!(pairs(a), pairs(b), "{w:?}");
        } else {
            assert_eq!(sorted(a), sorted(b), "{w:?}");
        }
    }
    // RESP3: pairs for WITHSCORES and WITHVALUES, as Redis 7 has them.
    for c in [&mut ours, &mut theirs] {
        c.cmd(&["HELLO", "3"]);
    }
    for w in [
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"][..],
        &["ZRANGEBYSCORE", "z", "-inf", "+inf", "WITHSCORES"],
        &["ZREVRANGE", "z", "0", "1", "WITHSCORES"],
        &["ZUNION", "1", "z", "WITHSCORES"],
        &["ZRANGE", "z", "0", "-1"],
        &["ZRANDMEMBER", "z", "1"],
        &["ZRANDMEMBER", "nothere"],
    ] {
        if w[0] == "ZRANDMEMBER" && w.len() == 3 {
            let (a, b) = (ours.cmd(w), theirs.cmd(w));
            assert!(
                matches!((&a, &b), (R::Array(x), R::Array(y)) if x.len() == 1 && y.len() == 1),
                "{a:?} {b:?}"
            );
            continue;
        }
        assert_eq!(ours.cmd(w), theirs.cmd(w), "{w:?}");
    }
    for w in [
        &["HRANDFIELD", "h", "3", "WITHVALUES"][..],
        &["ZRANDMEMBER", "z", "3", "WITHSCORES"],
    ] {
        assert_eq!(sorted(ours.cmd(w)), sorted(theirs.cmd(w)), "{w:?}");
    }
    drop(redis);
}

/// Draws `n` single members with `cmd` and counts them.
fn draw(c: &mut Conn, cmd: &[&str], n: usize) -> BTreeMap<String, u32> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        match c.cmd(cmd) {
            R::Bulk(b) => *seen.entry(String::from_utf8(b).unwrap()).or_default() += 1,
            other => panic!("{other:?}"),
        }
    }
    seen
}

#[test]
fn random_members_are_distinct_or_repeated_and_equally_likely() {
    let node = Node::start(1);
    let mut c = Conn::connect(node.resp_addr());
    // Members with very uneven gaps between their names, and many deleted
    // ones around them (the sampler must not favour a member after a gap).
    for i in 0..2000 {
        let f = format!("gone{i:04}");
        c.cmd(&["HSET", "h", &f, "x"]);
        c.cmd(&["ZADD", "z", &i.to_string(), &f]);
    }
    for m in ["a", "b", "zzzzzzzz"] {
        c.cmd(&["HSET", "h", m, "v"]);
        c.cmd(&["ZADD", "z", "1", m]);
    }
    for i in 0..2000 {
        let f = format!("gone{i:04}");
        c.cmd(&["HDEL", "h", &f]);
        c.cmd(&["ZREM", "z", &f]);
    }
    // 3,000 single draws of 3 members: about 1,000 each (a standard
    // deviation of about 26).
    for cmd in [&["HRANDFIELD", "h"][..], &["ZRANDMEMBER", "z"]] {
        let seen = draw(&mut c, cmd, 3000);
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert!(
            seen.values().all(|&n| (800..1200).contains(&n)),
            "{cmd:?}: {seen:?}"
        );
    }
    // Positive counts: distinct members; negative: repeats, exactly that many.
    for _ in 0..50 {
        let R::Array(v) = c.cmd(&["HRANDFIELD", "h", "2"]) else {
            panic!()
        };
        let distinct: BTreeSet<_> = v.iter().map(|x| format!("{x:?}")).collect();
        assert_eq!((v.len(), distinct.len()), (2, 2));
    }
    let R::Array(v) = c.cmd(&["ZRANDMEMBER", "z", "-30", "WITHSCORES"]) else {
        panic!()
    };
    assert_eq!(v.len(), 60);
    for pair in v.chunks(2) {
        assert_eq!(pair[1], R::bulk("1"), "{pair:?}");
    }
    let R::Array(v) = c.cmd(&["HRANDFIELD", "h", "-30"]) else {
        panic!()
    };
    let distinct: BTreeSet<_> = v.iter().map(|x| format!("{x:?}")).collect();
    assert_eq!(v.len(), 30);
    assert!(distinct.len() <= 3);
    // A negative count beyond the documented bound is refused, not built.
    let e = c.cmd(&["HRANDFIELD", "h", "-9223372036854775807"]);
    assert!(
        matches!(&e, R::Err(m) if m.contains("at most 4194304")),
        "{e:?}"
    );
    let e = c.cmd(&["SRANDMEMBER", "s", "-4194305"]);
    assert!(matches!(&e, R::Err(_)), "{e:?}");
    assert_eq!(c.cmd(&["PING"]), R::Simple("PONG".into()));
}
