//! DUMP and RESTORE between redis-server and Tessera: every type, in the
//! encodings redis-server picks for small and large values, moved from
//! redis-server into Tessera and back; RESTORE's options and errors
//! compared reply by reply.

use crate::common::resp::{Conn, R};
use crate::Gen;

fn bytes(r: R) -> Vec<u8> {
    match r {
        R::Bulk(b) => b,
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

/// The value at `key` in a form both servers answer alike: its type and
/// its contents, unordered collections sorted.
fn contents(c: &mut Conn, key: &str) -> (R, R) {
    let t = c.cmd(&["TYPE", key]);
    let mut v = match &t {
        R::Simple(s) if s == "string" => c.cmd(&["GET", key]),
        R::Simple(s) if s == "list" => c.cmd(&["LRANGE", key, "0", "-1"]),
        R::Simple(s) if s == "set" => c.cmd(&["SMEMBERS", key]),
        R::Simple(s) if s == "hash" => c.cmd(&["HGETALL", key]),
        R::Simple(s) if s == "zset" => c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        other => panic!("{key}: type {other:?}"),
    };
    if let (R::Simple(s), R::Array(items)) = (&t, &mut v) {
        if s == "set" {
            items.sort_by_key(|r| format!("{r:?}"));
        } else if s == "hash" {
            let mut pairs: Vec<Vec<R>> = items.chunks(2).map(<[R]>::to_vec).collect();
            pairs.sort_by_key(|p| format!("{:?}", p[0]));
            *items = pairs.concat();
        }
    }
    (t, v)
}

/// Commands that build one value each on redis-server, in each encoding it
/// has: integers and LZF in strings, listpacks and multi-node quicklists,
/// intsets and hash tables, listpack and skiplist hashes and sorted sets,
/// sparse and dense HyperLogLogs.
fn values(g: &mut Gen) -> Vec<(String, Vec<Vec<String>>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let many = |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>();
    let with = |head: &[&str], rest: Vec<String>| {
        let mut v = s(head);
        v.extend(rest);
        v
    };
    let random: String = (0..10_000)
        .map(|_| (b'!' + g.below(90) as u8) as char)
        .collect();
    vec![
        ("str".into(), vec![s(&["SET", "str", "hello"])]),
        ("empty".into(), vec![s(&["SET", "empty", ""])]),
        ("int".into(), vec![s(&["SET", "int", "-2147483648"])]),
        (
            "bigint".into(),
            vec![s(&["SET", "bigint", "9223372036854775807"])],
        ),
        ("lzf".into(), vec![s(&["SET", "lzf", &"abc".repeat(500)])]),
        ("random".into(), vec![s(&["SET", "random", &random])]),
        (
            "list".into(),
            vec![s(&[
                "RPUSH",
                "list",
                "a",
                "0",
                "127",
                "-4096",
                "4095",
                "32767",
                "8388607",
                "-2147483648",
                "9223372036854775807",
                "x",
            ])],
        ),
        (
            "longlist".into(),
            vec![with(
                &["RPUSH", "longlist"],
                many(3000, &|i| {
                    if i % 3 == 0 {
                        i.to_string()
                    } else {
                        format!("element-{i}")
                    }
                }),
            )],
        ),
        (
            "biglist".into(),
            vec![s(&["RPUSH", "biglist", &"z".repeat(20_000), "tail"])],
        ),
        (
            "intset".into(),
            vec![s(&["SADD", "intset", "1", "-70000", "5000000000"])],
        ),
        (
            "bigintset".into(),
            vec![with(&["SADD", "bigintset"], many(600, &|i| i.to_string()))],
        ),
        ("set".into(), vec![s(&["SADD", "set", "a", "b", "12"])]),
        (
            "bigset".into(),
            vec![with(&["SADD", "bigset"], many(300, &|i| format!("m{i}")))],
        ),
        (
            "hash".into(),
            vec![s(&["HSET", "hash", "f", "v", "n", "-7", "e", ""])],
        ),
        (
            "bighash".into(),
            vec![with(
                &["HSET", "bighash"],
                many(400, &|i| {
                    if i % 2 == 0 {
                        format!("f{i}")
                    } else {
                        i.to_string()
                    }
                }),
            )],
        ),
        (
            "zset".into(),
            vec![s(&[
                "ZADD", "zset", "1.5", "a", "-inf", "b", "3", "c", "1e20", "d",
            ])],
        ),
        (
            "bigzset".into(),
            vec![with(
                &["ZADD", "bigzset"],
                many(400, &|i| {
                    if i % 2 == 0 {
                        format!("{}", i as f64 / 7.0)
                    } else {
                        format!("m{i}")
                    }
                }),
            )],
        ),
        ("hll".into(), vec![s(&["PFADD", "hll", "a", "b", "c"])]),
        (
            "bighll".into(),
            vec![with(&["PFADD", "bighll"], many(5000, &|i| format!("e{i}")))],
        ),
    ]
}

#[test]
fn dump_and_restore_move_every_type_both_ways() {
    let (_servers, mut ours, mut theirs) = crate::common::beside_redis();
    let mut g = Gen(99);
    for (key, cmds) in values(&mut g) {
        for cmd in &cmds {
            let words: Vec<&str> = cmd.iter().map(String::as_str).collect();
            assert!(!matches!(theirs.cmd(&words), R::Err(_)), "{key}");
        }
        let want = contents(&mut theirs, &key);
        // redis-server → Tessera.
        let payload = bytes(theirs.cmd(&["DUMP", &key]));
        let restore =
            |c: &mut Conn, k: &str, p: &[u8]| c.cmd_bytes(&[b"RESTORE", k.as_bytes(), b"0", p]);
        assert_eq!(restore(&mut ours, &key, &payload), R::ok(), "{key}");
        assert_eq!(contents(&mut ours, &key), want, "{key} in Tessera");
        // Tessera → redis-server, under another name.
        let ours_payload = bytes(ours.cmd(&["DUMP", &key]));
        let back = format!("back:{key}");
        assert_eq!(restore(&mut theirs, &back, &ours_payload), R::ok(), "{key}");
        assert_eq!(
            contents(&mut theirs, &back),
            want,
            "{key} back in redis-server"
        );
        // Tessera reads its own payloads too.
        assert_eq!(restore(&mut ours, &back, &ours_payload), R::ok(), "{key}");
        assert_eq!(
            contents(&mut ours, &back),
            want,
            "{key} from Tessera's DUMP"
        );
    }
    // A HyperLogLog keeps its estimate and stays a HyperLogLog.
    for e in ["new", "other", "third"] {
        let add = ["PFADD", "back:bighll", e];
        assert_eq!(ours.cmd(&add), theirs.cmd(&add));
    }
    assert_eq!(
        ours.cmd(&["PFCOUNT", "back:bighll"]),
        theirs.cmd(&["PFCOUNT", "back:bighll"])
    );
}

#[test]
fn restore_options_and_errors_match_redis_server() {
    let (_servers, mut ours, mut theirs) = crate::common::beside_redis();
    assert_eq!(theirs.cmd(&["RPUSH", "src", "a", "b"]), R::Int(2));
    let p = bytes(theirs.cmd(&["DUMP", "src"]));
    let mut corrupt = p.clone();
    corrupt[3] ^= 0x55;
    let seal = |body: &[u8]| tessera::proto::dump::seal(body.to_vec());
    let empty_set = seal(&[2, 0]);
    let bad_body = seal(&[1, 2, 1, b'a']);
    // A string payload of RDB version 12 (newer than Redis 7.2's).
    let mut newer = vec![0, 1, b'v', 12, 0];
    newer.extend_from_slice(&tessera::proto::dump::checksum(&newer.clone()).to_le_bytes());
    let abc = seal(&[0, 3, b'a', b'b', b'c']);
    let x = seal(&[0, 1, b'x']);
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"DUMP", b"missing"],
        vec![b"DUMP"],
        vec![b"RESTORE", b"k", b"0"],
        vec![b"RESTORE", b"k", b"0", &p],
        vec![b"RESTORE", b"k", b"0", &p],
        vec![b"RESTORE", b"k", b"abc", &p],
        vec![b"RESTORE", b"k", b"-1", &p],
        vec![b"RESTORE", b"k", b"0", &p, b"REPLACE"],
        vec![b"RESTORE", b"k", b"-1", &p, b"REPLACE"],
        vec![b"RESTORE", b"new", b"abc", &p],
        vec![b"RESTORE", b"new", b"0", &p, b"IDLETIME", b"-1"],
        vec![b"RESTORE", b"new", b"0", &p, b"IDLETIME", b"x"],
        vec![b"RESTORE", b"new", b"0", &p, b"FREQ", b"256"],
        vec![
            b"RESTORE",
            b"new",
            b"0",
            &p,
            b"IDLETIME",
            b"5",
            b"FREQ",
            b"5",
        ],
        vec![b"RESTORE", b"new", b"0", &p, b"IDLETIME"],
        vec![b"RESTORE", b"new", b"0", &p, b"BOGUS"],
        vec![b"RESTORE", b"new", b"0", b"garbage"],
        vec![b"RESTORE", b"new", b"0", &corrupt],
        vec![b"RESTORE", b"new", b"0", &newer],
        vec![b"RESTORE", b"new", b"0", &empty_set],
        vec![b"RESTORE", b"new", b"0", &bad_body],
        vec![b"EXISTS", b"new"],
        vec![
            b"RESTORE",
            b"new",
            b"0",
            &p,
            b"IDLETIME",
            b"100",
            b"ABSTTL",
            b"REPLACE",
        ],
        vec![b"LRANGE", b"new", b"0", b"-1"],
        // An expiry in the past: REPLACE deletes the key, nothing is stored.
        vec![b"RESTORE", b"new", b"1", &p, b"ABSTTL", b"REPLACE"],
        vec![b"EXISTS", b"new"],
        vec![b"RESTORE", b"past", b"1", &p, b"ABSTTL"],
        vec![b"EXISTS", b"past"],
        vec![b"RESTORE", b"s", b"0", &abc],
        vec![b"RESTORE", b"k", b"0", &x, b"REPLACE", b"FREQ", b"0"],
        vec![b"TYPE", b"k"],
        vec![b"GET", b"k"],
    ];
    for args in cases {
        let (a, b) = (ours.cmd_bytes(&args), theirs.cmd_bytes(&args));
        let shown: Vec<String> = args
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        assert_eq!(a, b, "{shown:?}");
    }
    // A relative and an absolute TTL.
    assert_eq!(ours.cmd_bytes(&[b"RESTORE", b"t1", b"100000", &p]), R::ok());
    let far = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 200_000)
        .to_string();
    assert_eq!(
        ours.cmd_bytes(&[b"RESTORE", b"t2", far.as_bytes(), &p, b"ABSTTL"]),
        R::ok()
    );
    for (key, lo, hi) in [("t1", 90_000, 100_000), ("t2", 190_000, 200_000)] {
        match ours.cmd(&["PTTL", key]) {
            R::Int(ms) => assert!((lo..=hi).contains(&ms), "{key}: {ms}"),
            other => panic!("{key}: {other:?}"),
        }
    }
    // A stream: Tessera has none, and says so.
    theirs.cmd(&["XADD", "stream", "*", "f", "v"]);
    let stream = bytes(theirs.cmd(&["DUMP", "stream"]));
    assert_eq!(
        ours.cmd_bytes(&[b"RESTORE", b"stream", b"0", &stream]),
        R::Err("ERR Bad data format: streams are not supported by Tessera".into())
    );
    assert_eq!(ours.cmd(&["EXISTS", "stream"]), R::Int(0));
}
