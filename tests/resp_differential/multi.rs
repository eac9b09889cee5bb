//! The seeded command stream inside MULTI blocks: each reply while
//! queueing, and EXEC's array element by element, must equal
//! redis-server's. Blocks mix commands that fail at run time (wrong types,
//! bad numbers, missing keys for RENAME) with ones that apply, so EXEC's
//! partial application (the failed commands' errors in their places, the
//! others applied) is compared on every block.

use crate::common::resp::{Conn, R};
use crate::{node, normalize, random_command, Gen};

#[test]
fn transactions_of_random_commands_match_redis_server() {
    let (_servers, mut ours, mut theirs) = crate::common::beside_redis();
    let mut failed_inside = 0;
    for seed in [11u64, 2024, 777] {
        let mut g = Gen(seed);
        for c in [&mut ours, &mut theirs] {
            c.cmd(&["DEL", "{k}1", "{k}2", "{k}3", "{k}4", "{k}lex"]);
        }
        for block in 0..150 {
            for c in [&mut ours, &mut theirs] {
                assert_eq!(c.cmd(&["MULTI"]), R::ok());
            }
            let mut names = Vec::new();
            for _ in 0..1 + g.below(6) {
                let cmd = random_command(&mut g);
                let words: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
                let (a, b) = (ours.cmd(&words), theirs.cmd(&words));
                assert_eq!(a, b, "seed {seed}, block {block}, queueing {words:?}");
                names.push(cmd[0].clone());
            }
            let (a, b) = (ours.cmd(&["EXEC"]), theirs.cmd(&["EXEC"]));
            match (a, b) {
                (R::Array(a), R::Array(b)) => {
                    assert_eq!(a.len(), b.len(), "seed {seed}, block {block}: {names:?}");
                    for ((x, y), name) in a.into_iter().zip(b).zip(&names) {
                        failed_inside += matches!(y, R::Err(_)) as usize;
                        assert_eq!(
                            normalize(name, x),
                            normalize(name, y),
                            "seed {seed}, block {block}: {name} in {names:?}"
                        );
                    }
                }
                (a, b) => assert_eq!(a, b, "seed {seed}, block {block}: {names:?}"),
            }
        }
    }
    // The blocks did exercise commands failing inside EXEC.
    assert!(
        failed_inside >= 20,
        "only {failed_inside} failures inside EXEC"
    );
}

/// Blocking pops inside MULTI do not block: EXEC's array holds what each
/// would have answered at once, in RESP2 and RESP3, as redis-server's.
#[test]
fn blocking_pops_inside_multi_match_redis_server() {
    let (_redis, raddr) = crate::common::redis_server::redis_server();
    let n = node();
    let block: &[&[&str]] = &[
        &["BLPOP", "{b}l1", "{b}l2", "0"],
        &["RPUSH", "{b}l2", "a", "b", "c", "d", "e"],
        &["BLPOP", "{b}l1", "{b}l2", "0"],
        &["BRPOP", "{b}l2", "1.5"],
        &["BLMOVE", "{b}l2", "{b}l1", "LEFT", "RIGHT", "0"],
        &["BRPOPLPUSH", "{b}l2", "{b}l1", "0"],
        &["BRPOPLPUSH", "{b}none", "{b}l1", "0"],
        &["BLMPOP", "0", "2", "{b}none", "{b}l1", "LEFT", "COUNT", "5"],
        &["BLMPOP", "0", "1", "{b}none", "LEFT"],
        &["BZPOPMIN", "{b}z", "0"],
        &["ZADD", "{b}z", "1", "m", "2.5", "n", "3", "o"],
        &["BZPOPMIN", "{b}z", "{b}none", "0"],
        &["BZPOPMAX", "{b}none", "{b}z", "0"],
        &["BZMPOP", "0", "1", "{b}z", "MIN", "COUNT", "3"],
        &["BZMPOP", "0", "1", "{b}z", "MAX"],
        &["LMPOP", "1", "{b}none", "LEFT"],
        &["BLPOP", "{b}l1", "x"],
        &["BLPOP", "{b}l1", "-1"],
        &["SET", "{b}s", "v"],
        &["BLPOP", "{b}s", "0"],
        &["BZPOPMIN", "{b}s", "0"],
    ];
    for protocol in ["2", "3"] {
        let mut ours = Conn::connect(n.resp_addr());
        let mut theirs = Conn::connect(raddr);
        for c in [&mut ours, &mut theirs] {
            assert!(!matches!(c.cmd(&["HELLO", protocol]), R::Err(_)));
            c.cmd(&["DEL", "{b}l1", "{b}l2", "{b}z", "{b}s"]);
            assert_eq!(c.cmd(&["MULTI"]), R::ok());
            for words in block {
                assert_eq!(c.cmd(words), R::Simple("QUEUED".into()), "{words:?}");
            }
        }
        let (a, b) = (ours.cmd(&["EXEC"]), theirs.cmd(&["EXEC"]));
        assert!(
            matches!(&b, R::Array(items) if items.len() == block.len()),
            "{b:?}"
        );
        assert_eq!(a, b, "RESP{protocol}");
    }
}
