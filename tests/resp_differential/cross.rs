//! Keys without hash tags, in different slots and on both cores of a
//! 2-core node, where Tessera runs every multi-key command as one commit
//! across partitions (docs/redis-compat.md, "Commands across slots"):
//! the seeded stream, MULTI blocks, and each multi-key command, compared
//! with redis-server reply by reply.

use crate::common::resp::{Conn, R};
use crate::{compare_streams, normalize, random_command, Gen};

/// The stream's keys and their plain names. With the 2-core node's two
/// partitions (slots 0-8191 and 8192-16383): `b` and `c` on core 0, `a`,
/// `d` and `lex` on core 1 (slots 15495, 3300, 7365, 11298, 9546).
const PLAIN: [(&str, &str); 5] = [
    ("{k}1", "a"),
    ("{k}2", "b"),
    ("{k}3", "c"),
    ("{k}4", "d"),
    ("{k}lex", "lex"),
];

fn plain(cmd: Vec<String>) -> Vec<String> {
    cmd.into_iter()
        .map(|w| match PLAIN.iter().find(|(tagged, _)| *tagged == w) {
            Some((_, p)) => p.to_string(),
            None => w,
        })
        .collect()
}

fn random_command_across(g: &mut Gen) -> Vec<String> {
    plain(random_command(g))
}

#[test]
fn plain_keys_lie_in_both_partitions() {
    let halves: std::collections::BTreeSet<bool> = PLAIN
        .iter()
        .map(|(_, k)| tessera::slot::key_slot(k.as_bytes()) >= 8192)
        .collect();
    assert_eq!(halves.len(), 2);
}

#[test]
fn random_commands_across_slots_match_redis_server() {
    let reset: &[&[&str]] = &[&["FLUSHALL"]];
    let checked = compare_streams(&[3, 99], reset, random_command_across, |o, t| {
        // Each key's whole value at the end of every seed.
        for k in ["a", "b", "c", "d"] {
            let kind = t.cmd(&["TYPE", k]);
            assert_eq!(o.cmd(&["TYPE", k]), kind, "TYPE {k}");
            let read: &[&str] = match &kind {
                R::Simple(s) if s == "string" => &["GET", k],
                R::Simple(s) if s == "list" => &["LRANGE", k, "0", "-1"],
                R::Simple(s) if s == "set" => &["SMEMBERS", k],
                R::Simple(s) if s == "zset" => &["ZRANGE", k, "0", "-1", "WITHSCORES"],
                R::Simple(s) if s == "hash" => &["HGETALL", k],
                _ => continue,
            };
            let (a, b) = (o.cmd(read), t.cmd(read));
            assert_eq!(normalize(read[0], a), normalize(read[0], b), "{read:?}");
        }
    });
    for name in [
        "rename",
        "lmove",
        "rpoplpush",
        "sunionstore",
        "sdiffstore",
        "copy",
        "sinter",
    ] {
        assert!(
            checked.contains(name),
            "{name} never answered without an error"
        );
    }
}

#[test]
fn transactions_across_slots_match_redis_server() {
    let (_servers, mut ours, mut theirs) = crate::common::beside_redis();
    let mut g = Gen(4242);
    for block in 0..120 {
        for c in [&mut ours, &mut theirs] {
            assert_eq!(c.cmd(&["MULTI"]), R::ok());
        }
        let mut names = Vec::new();
        for _ in 0..1 + g.below(6) {
            let cmd = random_command_across(&mut g);
            let words: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            assert_eq!(
                ours.cmd(&words),
                theirs.cmd(&words),
                "block {block}: {words:?}"
            );
            names.push(cmd[0].clone());
        }
        match (ours.cmd(&["EXEC"]), theirs.cmd(&["EXEC"])) {
            (R::Array(a), R::Array(b)) => {
                assert_eq!(a.len(), b.len(), "block {block}: {names:?}");
                for ((x, y), name) in a.into_iter().zip(b).zip(&names) {
                    assert_eq!(
                        normalize(name, x),
                        normalize(name, y),
                        "block {block}: {name} in {names:?}"
                    );
                }
            }
            (a, b) => assert_eq!(a, b, "block {block}: {names:?}"),
        }
    }
}

/// Runs `script` on both servers: every reply must be equal (the
/// unordered ones compared sorted).
fn same_replies(ours: &mut Conn, theirs: &mut Conn, script: &[&[&str]]) {
    for words in script {
        let (a, b) = (ours.cmd(words), theirs.cmd(words));
        // SUNION's order is not defined either.
        let name = if words[0] == "SUNION" {
            "SMEMBERS"
        } else {
            words[0]
        };
        assert_eq!(normalize(name, a), normalize(name, b), "{words:?}");
    }
}

#[test]
fn each_multi_key_command_across_slots_matches_redis_server() {
    let (_servers, mut ours, mut theirs) = crate::common::beside_redis();
    let script: &[&[&str]] = &[
        &["MSETNX", "a", "1", "b", "2"],
        &["MSETNX", "c", "3", "b", "9"],
        &["MGET", "a", "b", "c"],
        &["RENAME", "a", "c"],
        &["RENAMENX", "b", "c"],
        &["RENAMENX", "b", "d"],
        &["MGET", "a", "b", "c", "d"],
        &["SADD", "s1", "x", "y", "z"],
        &["SADD", "s2", "y", "z", "w"],
        &["SMOVE", "s1", "s2", "x"],
        &["SMOVE", "s1", "s2", "nope"],
        &["SMEMBERS", "s1"],
        &["SMEMBERS", "s2"],
        &["SINTERSTORE", "d1", "s1", "s2"],
        &["SUNIONSTORE", "d2", "s1", "s2"],
        &["SDIFFSTORE", "d3", "s2", "s1"],
        &["SINTERCARD", "2", "s1", "s2"],
        &["SUNION", "s1", "s2"],
        &["SMEMBERS", "d2"],
        &["ZADD", "z1", "1", "m", "2", "n"],
        &["ZADD", "z2", "3", "n", "4", "o"],
        &["ZUNIONSTORE", "zu", "2", "z1", "z2", "WEIGHTS", "1", "2"],
        &["ZINTERSTORE", "zi", "2", "z1", "z2", "AGGREGATE", "MAX"],
        &["ZDIFFSTORE", "zd", "2", "z1", "z2"],
        &["ZRANGESTORE", "zr", "zu", "0", "1"],
        &["ZRANGE", "zu", "0", "-1", "WITHSCORES"],
        &["ZUNION", "2", "z1", "z2", "WITHSCORES"],
        &["ZINTERCARD", "2", "z1", "z2"],
        &["RPUSH", "l1", "p", "q", "r"],
        &["LMOVE", "l1", "l2", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "l1", "l2"],
        &["LMPOP", "2", "nolist", "l2", "RIGHT", "COUNT", "5"],
        &["LRANGE", "l1", "0", "-1"],
        // One element moved onto its own list keeps the key and its expiry.
        &["RPUSH", "one", "x"],
        &["EXPIRE", "one", "1000"],
        &["LMOVE", "one", "one", "LEFT", "RIGHT"],
        &["TTL", "one"],
        &["COPY", "zu", "copied"],
        &["ZRANGE", "copied", "0", "-1", "WITHSCORES"],
        &["SET", "bits1", "ab"],
        &["SET", "bits2", "cd"],
        &["BITOP", "XOR", "bits3", "bits1", "bits2"],
        &["GET", "bits3"],
        &["PFADD", "h1", "a", "b"],
        &["PFADD", "h2", "c"],
        &["PFMERGE", "h3", "h1", "h2"],
        &["PFCOUNT", "h3"],
        &["PFCOUNT", "h1", "h2"],
        &["RPUSH", "{s}ids", "3", "1", "2"],
        &["SORT", "{s}ids", "STORE", "sorted"],
        &["LRANGE", "sorted", "0", "-1"],
        &["GEOADD", "g1", "13.36", "38.11", "palermo"],
        &["GEOSEARCHSTORE", "g2", "g1", "FROMLONLAT", "13", "38", "BYRADIUS", "200", "km", "ASC"],
        &["ZCARD", "g2"],
        &["SET", "w1", "1"],
        &["WATCH", "w1", "w2"],
        &["MULTI"],
        &["INCR", "w1"],
        &["INCR", "w2"],
        &["EXEC"],
        &["WATCH", "w1", "w2"],
        &["SET", "w2", "changed"],
        &["MULTI"],
        &["INCR", "w1"],
        &["EXEC"],
        &["MGET", "w1", "w2"],
        &["EVAL", "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[1]); return redis.call('MGET', KEYS[1], KEYS[2])", "2", "e1", "e2", "v"],
        &["EVAL", "return redis.call('INCRBY', KEYS[1], 5) + redis.call('INCRBY', KEYS[2], 7)", "2", "n1", "n2"],
        &["MGET", "e1", "e2", "e3", "n1", "n2"],
        &["DEL", "a", "b", "c", "d", "s1", "s2", "z1", "z2"],
    ];
    same_replies(&mut ours, &mut theirs, script);
}
