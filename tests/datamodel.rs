//! The data model over the real server and client: every family's
//! commands, WRONGTYPE everywhere, versions and CAS, check-and-set,
//! (hashkey, sortkey) scans, atomic batches, CROSSSLOT, and bad input.

mod common;

use common::{block_on, server_code, Node};
use tessera::client::{Client, ClientError};
use tessera::codes::ErrorCode;
use tessera::proto::command::NamedCommand;
use tessera::proto::value::Value;

fn b(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

fn arr(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| b(s)).collect())
}

/// Runs one command given as words; returns the answer.
async fn run(c: &Client, words: &[&str]) -> Result<Value, ClientError> {
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    c.command(&args).await.map(|(_, v)| v)
}

async fn ok(c: &Client, words: &[&str]) -> Value {
    run(c, words)
        .await
        .unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

async fn code(c: &Client, words: &[&str]) -> ErrorCode {
    match run(c, words).await {
        Err(e) => e.code().unwrap_or_else(|| panic!("{words:?}: {e}")),
        Ok(v) => panic!("{words:?} should fail, got {v:?}"),
    }
}

#[test]
fn hashes_sets_sorted_sets_and_lists() {
    let node = Node::start(2);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        // Hashes.
        assert_eq!(
            ok(&c, &["HSET", "h", "b", "2", "a", "1"]).await,
            Value::Int(2)
        );
        assert_eq!(ok(&c, &["HSET", "h", "a", "one"]).await, Value::Int(0));
        assert_eq!(ok(&c, &["HSETNX", "h", "a", "x"]).await, Value::Int(0));
        assert_eq!(ok(&c, &["HGET", "h", "a"]).await, b("one"));
        assert_eq!(ok(&c, &["HGET", "h", "zz"]).await, Value::Nil);
        assert_eq!(
            ok(&c, &["HMGET", "h", "a", "zz", "b"]).await,
            Value::Array(vec![b("one"), Value::Nil, b("2")])
        );
        assert_eq!(
            ok(&c, &["HGETALL", "h"]).await,
            Value::Map(vec![(b("a"), b("one")), (b("b"), b("2"))])
        );
        assert_eq!(ok(&c, &["HKEYS", "h"]).await, arr(&["a", "b"]));
        assert_eq!(ok(&c, &["HVALS", "h"]).await, arr(&["one", "2"]));
        assert_eq!(ok(&c, &["HLEN", "h"]).await, Value::Int(2));
        assert_eq!(ok(&c, &["HEXISTS", "h", "b"]).await, Value::Int(1));
        assert_eq!(ok(&c, &["HSTRLEN", "h", "a"]).await, Value::Int(3));
        assert_eq!(ok(&c, &["HINCRBY", "h", "b", "40"]).await, Value::Int(42));
        assert_eq!(ok(&c, &["HINCRBYFLOAT", "h", "f", "1.5"]).await, b("1.5"));
        assert_eq!(
            code(&c, &["HINCRBY", "h", "a", "1"]).await,
            ErrorCode::NotInteger
        );
        assert_eq!(
            code(&c, &["HINCRBY", "h", "b", "x"]).await,
            ErrorCode::NotInteger
        );
        assert_eq!(
            ok(&c, &["HSET", "h", "max", &i64::MAX.to_string()]).await,
            Value::Int(1)
        );
        assert_eq!(
            code(&c, &["HINCRBY", "h", "max", "1"]).await,
            ErrorCode::Overflow
        );
        assert_eq!(
            code(&c, &["HINCRBYFLOAT", "h", "f", "inf"]).await,
            ErrorCode::NotFloat
        );
        assert_eq!(
            ok(&c, &["HDEL", "h", "f", "max", "nope"]).await,
            Value::Int(2)
        );
        // HSCAN pages through every field once.
        for i in 0..25 {
            ok(&c, &["HSET", "hs", &format!("f{i:02}"), "v"]).await;
        }
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        loop {
            let Value::Array(page) = ok(
                &c,
                &["HSCAN", "hs", &cursor, "COUNT", "7", "MATCH", "f?[0-4]"],
            )
            .await
            else {
                panic!("HSCAN answers an array");
            };
            let Value::Bytes(next) = &page[0] else {
                panic!()
            };
            let Value::Array(items) = &page[1] else {
                panic!()
            };
            for pair in items.chunks(2) {
                seen.push(pair[0].clone());
            }
            cursor = String::from_utf8(next.clone()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        let want: Vec<Value> = (0..25)
            .filter(|i| i % 10 < 5)
            .map(|i| b(&format!("f{i:02}")))
            .collect();
        assert_eq!(seen, want);

        // Sets.
        assert_eq!(
            ok(&c, &["SADD", "{s}1", "a", "b", "c", "a"]).await,
            Value::Int(3)
        );
        assert_eq!(
            ok(&c, &["SADD", "{s}2", "b", "c", "d"]).await,
            Value::Int(3)
        );
        assert_eq!(ok(&c, &["SREM", "{s}2", "d", "zz"]).await, Value::Int(1));
        assert_eq!(ok(&c, &["SISMEMBER", "{s}1", "a"]).await, Value::Int(1));
        assert_eq!(
            ok(&c, &["SMISMEMBER", "{s}1", "a", "z"]).await,
            Value::Array(vec![Value::Int(1), Value::Int(0)])
        );
        assert_eq!(ok(&c, &["SMEMBERS", "{s}1"]).await, arr(&["a", "b", "c"]));
        assert_eq!(ok(&c, &["SCARD", "{s}1"]).await, Value::Int(3));
        assert_eq!(ok(&c, &["SINTER", "{s}1", "{s}2"]).await, arr(&["b", "c"]));
        assert_eq!(
            ok(&c, &["SUNION", "{s}1", "{s}2"]).await,
            arr(&["a", "b", "c"])
        );
        assert_eq!(ok(&c, &["SDIFF", "{s}1", "{s}2"]).await, arr(&["a"]));
        assert_eq!(
            ok(&c, &["SINTERSTORE", "{s}3", "{s}1", "{s}2"]).await,
            Value::Int(2)
        );
        assert_eq!(ok(&c, &["SMEMBERS", "{s}3"]).await, arr(&["b", "c"]));
        // Keys of another slot (on one node: a commit across slots).
        assert_eq!(ok(&c, &["SINTER", "{s}1", "other"]).await, arr(&[]));
        let Value::Array(r) = ok(&c, &["SRANDMEMBER", "{s}1", "-5"]).await else {
            panic!()
        };
        assert_eq!(r.len(), 5);
        let Value::Array(popped) = ok(&c, &["SPOP", "{s}1", "2"]).await else {
            panic!()
        };
        assert_eq!(popped.len(), 2);
        assert_eq!(ok(&c, &["SCARD", "{s}1"]).await, Value::Int(1));
        let Value::Array(page) = ok(&c, &["SSCAN", "{s}2", "0"]).await else {
            panic!()
        };
        // One page (cursor 0 = done); members in hash order.
        assert_eq!(page[0], b("0"));
        let Value::Array(mut members) = page[1].clone() else {
            panic!("{page:?}")
        };
        members.sort_by_key(|m| format!("{m:?}"));
        assert_eq!(Value::Array(members), arr(&["b", "c"]));

        // Sorted sets.
        assert_eq!(
            ok(
                &c,
                &["ZADD", "z", "1", "a", "2", "b", "3", "c", "-inf", "min", "+inf", "max"]
            )
            .await,
            Value::Int(5)
        );
        assert_eq!(
            ok(&c, &["ZADD", "z", "CH", "2.5", "b", "3", "c"]).await,
            Value::Int(1)
        );
        assert_eq!(ok(&c, &["ZADD", "z", "NX", "9", "a"]).await, Value::Int(0));
        assert_eq!(
            ok(&c, &["ZADD", "z", "XX", "GT", "CH", "0", "a"]).await,
            Value::Int(0)
        );
        assert_eq!(
            ok(&c, &["ZADD", "z", "INCR", "10", "a"]).await,
            Value::Double(11.0)
        );
        assert_eq!(
            ok(&c, &["ZADD", "z", "NX", "INCR", "1", "a"]).await,
            Value::Nil
        );
        assert_eq!(
            code(&c, &["ZADD", "z", "nan", "x"]).await,
            ErrorCode::NotFloat
        );
        assert_eq!(
            code(&c, &["ZADD", "z", "NX", "XX", "1", "x"]).await,
            ErrorCode::BadArguments
        );
        assert_eq!(ok(&c, &["ZSCORE", "z", "b"]).await, Value::Double(2.5));
        assert_eq!(
            ok(&c, &["ZSCORE", "z", "min"]).await,
            Value::Double(f64::NEG_INFINITY)
        );
        assert_eq!(
            ok(&c, &["ZMSCORE", "z", "c", "nope"]).await,
            Value::Array(vec![Value::Double(3.0), Value::Nil])
        );
        assert_eq!(
            ok(&c, &["ZINCRBY", "z", "-1", "c"]).await,
            Value::Double(2.0)
        );
        assert_eq!(ok(&c, &["ZCARD", "z"]).await, Value::Int(5));
        assert_eq!(ok(&c, &["ZCOUNT", "z", "(2", "+inf"]).await, Value::Int(3));
        assert_eq!(ok(&c, &["ZRANK", "z", "c"]).await, Value::Int(1));
        assert_eq!(ok(&c, &["ZREVRANK", "z", "c"]).await, Value::Int(3));
        assert_eq!(
            ok(&c, &["ZRANGE", "z", "0", "-1"]).await,
            arr(&["min", "c", "b", "a", "max"])
        );
        assert_eq!(
            ok(&c, &["ZRANGE", "z", "0", "1", "REV"]).await,
            arr(&["max", "a"])
        );
        assert_eq!(
            ok(&c, &["ZRANGE", "z", "(2", "11", "BYSCORE", "WITHSCORES"]).await,
            Value::Pairs(vec![
                (b("b"), Value::Double(2.5)),
                (b("a"), Value::Double(11.0))
            ])
        );
        assert_eq!(
            ok(
                &c,
                &["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2"]
            )
            .await,
            arr(&["a", "b"])
        );
        assert_eq!(
            ok(&c, &["ZRANGEBYSCORE", "z", "-inf", "2"]).await,
            arr(&["min", "c"])
        );
        assert_eq!(
            ok(&c, &["ZREVRANGEBYSCORE", "z", "3", "2"]).await,
            arr(&["b", "c"])
        );
        ok(&c, &["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"]).await;
        assert_eq!(
            ok(&c, &["ZRANGEBYLEX", "lex", "[b", "(d"]).await,
            arr(&["b", "c"])
        );
        assert_eq!(
            ok(&c, &["ZRANGE", "lex", "+", "[c", "BYLEX", "REV"]).await,
            arr(&["d", "c"])
        );
        assert_eq!(ok(&c, &["ZLEXCOUNT", "lex", "-", "+"]).await, Value::Int(4));
        assert_eq!(
            ok(&c, &["ZREMRANGEBYLEX", "lex", "[a", "[b"]).await,
            Value::Int(2)
        );
        assert_eq!(
            ok(&c, &["ZSCAN", "lex", "0", "MATCH", "[cd]"]).await,
            Value::Array(vec![
                b("0"),
                Value::Array(vec![b("c"), Value::Double(0.0), b("d"), Value::Double(0.0)])
            ])
        );
        assert_eq!(
            ok(&c, &["ZREVRANGE", "lex", "0", "0", "WITHSCORES"]).await,
            Value::Pairs(vec![(b("d"), Value::Double(0.0))])
        );
        assert_eq!(
            ok(&c, &["ZPOPMIN", "z"]).await,
            Value::Array(vec![b("min"), Value::Double(f64::NEG_INFINITY)])
        );
        assert_eq!(
            ok(&c, &["ZPOPMAX", "z", "2"]).await,
            Value::Pairs(vec![
                (b("max"), Value::Double(f64::INFINITY)),
                (b("a"), Value::Double(11.0))
            ])
        );
        assert_eq!(
            ok(&c, &["ZREMRANGEBYSCORE", "z", "2.5", "2.5"]).await,
            Value::Int(1)
        );
        assert_eq!(
            ok(&c, &["ZREMRANGEBYRANK", "z", "0", "-1"]).await,
            Value::Int(1)
        );
        assert_eq!(ok(&c, &["EXISTS", "z"]).await, Value::Int(0));

        // Lists.
        assert_eq!(
            ok(&c, &["RPUSH", "{l}1", "a", "b", "c"]).await,
            Value::Int(3)
        );
        assert_eq!(ok(&c, &["LPUSH", "{l}1", "z"]).await, Value::Int(4));
        assert_eq!(ok(&c, &["LPUSHX", "{l}none", "x"]).await, Value::Int(0));
        assert_eq!(ok(&c, &["RPUSHX", "{l}1", "d"]).await, Value::Int(5));
        assert_eq!(
            ok(&c, &["LRANGE", "{l}1", "0", "-1"]).await,
            arr(&["z", "a", "b", "c", "d"])
        );
        assert_eq!(
            ok(&c, &["LRANGE", "{l}1", "-2", "100"]).await,
            arr(&["c", "d"])
        );
        assert_eq!(ok(&c, &["LINDEX", "{l}1", "-1"]).await, b("d"));
        assert_eq!(ok(&c, &["LINDEX", "{l}1", "99"]).await, Value::Nil);
        assert_eq!(ok(&c, &["LSET", "{l}1", "1", "A"]).await, Value::ok());
        assert_eq!(
            code(&c, &["LSET", "{l}1", "99", "x"]).await,
            ErrorCode::OutOfRange
        );
        assert_eq!(
            code(&c, &["LSET", "{l}none", "0", "x"]).await,
            ErrorCode::NoSuchKey
        );
        assert_eq!(
            ok(&c, &["LINSERT", "{l}1", "BEFORE", "b", "ins"]).await,
            Value::Int(6)
        );
        assert_eq!(
            ok(&c, &["LINSERT", "{l}1", "AFTER", "nope", "x"]).await,
            Value::Int(-1)
        );
        assert_eq!(ok(&c, &["RPUSH", "{l}1", "b", "b"]).await, Value::Int(8));
        assert_eq!(
            ok(&c, &["LPOS", "{l}1", "b", "RANK", "-1"]).await,
            Value::Int(7)
        );
        assert_eq!(
            ok(&c, &["LPOS", "{l}1", "b", "COUNT", "0"]).await,
            Value::Array(vec![Value::Int(3), Value::Int(6), Value::Int(7)])
        );
        assert_eq!(ok(&c, &["LREM", "{l}1", "-2", "b"]).await, Value::Int(2));
        assert_eq!(
            ok(&c, &["LRANGE", "{l}1", "0", "-1"]).await,
            arr(&["z", "A", "ins", "b", "c", "d"])
        );
        assert_eq!(ok(&c, &["LTRIM", "{l}1", "1", "-2"]).await, Value::ok());
        assert_eq!(
            ok(&c, &["LRANGE", "{l}1", "0", "-1"]).await,
            arr(&["A", "ins", "b", "c"])
        );
        assert_eq!(ok(&c, &["LPOP", "{l}1"]).await, b("A"));
        assert_eq!(ok(&c, &["RPOP", "{l}1", "2"]).await, arr(&["c", "b"]));
        assert_eq!(
            ok(&c, &["LMOVE", "{l}1", "{l}2", "LEFT", "RIGHT"]).await,
            b("ins")
        );
        assert_eq!(ok(&c, &["LLEN", "{l}1"]).await, Value::Int(0));
        assert_eq!(ok(&c, &["RPOP", "{l}1", "2"]).await, Value::Nil);
        assert_eq!(ok(&c, &["LRANGE", "{l}2", "0", "-1"]).await, arr(&["ins"]));
        assert_eq!(
            ok(&c, &["LMOVE", "{l}2", "o", "LEFT", "LEFT"]).await,
            b("ins")
        );
        assert_eq!(ok(&c, &["LLEN", "{l}2"]).await, Value::Int(0));
        assert_eq!(
            ok(&c, &["LMOVE", "o", "{l}2", "RIGHT", "LEFT"]).await,
            b("ins")
        );
        assert_eq!(ok(&c, &["EXISTS", "o"]).await, Value::Int(0));

        // Keys of any type.
        assert_eq!(ok(&c, &["TYPE", "h"]).await, Value::Status("hash".into()));
        assert_eq!(ok(&c, &["TYPE", "{s}2"]).await, Value::Status("set".into()));
        assert_eq!(
            ok(&c, &["TYPE", "{l}2"]).await,
            Value::Status("list".into())
        );
        assert_eq!(
            ok(&c, &["TYPE", "nothing"]).await,
            Value::Status("none".into())
        );
        assert_eq!(ok(&c, &["RENAME", "{s}2", "{s}moved"]).await, Value::ok());
        assert_eq!(ok(&c, &["SMEMBERS", "{s}moved"]).await, arr(&["b", "c"]));
        assert_eq!(ok(&c, &["EXISTS", "{s}2"]).await, Value::Int(0));
        assert_eq!(
            code(&c, &["RENAME", "{s}2", "{s}x"]).await,
            ErrorCode::NoSuchKey
        );
        assert_eq!(ok(&c, &["RENAME", "{s}moved", "e"]).await, Value::ok());
        assert_eq!(ok(&c, &["SMEMBERS", "e"]).await, arr(&["b", "c"]));
        assert_eq!(ok(&c, &["RENAME", "e", "{s}moved"]).await, Value::ok());
        assert_eq!(
            ok(&c, &["RENAMENX", "{s}moved", "{s}3"]).await,
            Value::Int(0)
        );
        // The binary DEL/EXPIRE/TTL/PERSIST opcodes work on collections too.
        assert!(c.expire_ms(b"h", 100_000).await.unwrap());
        assert!(c.ttl_ms(b"h").await.unwrap() > 90_000);
        assert_eq!(ok(&c, &["TTL", "h"]).await, Value::Int(100));
        assert!(c.persist(b"h").await.unwrap());
        assert_eq!(ok(&c, &["PTTL", "h"]).await, Value::Int(-1));
        assert_eq!(c.del(&[b"h", b"{s}moved", b"{l}2"]).await.unwrap(), 3);
        assert_eq!(ok(&c, &["HLEN", "h"]).await, Value::Int(0));
        ok(&c, &["HSET", "gone", "f", "v"]).await;
        assert_eq!(ok(&c, &["PEXPIRE", "gone", "1"]).await, Value::Int(1));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ok(&c, &["HGETALL", "gone"]).await != Value::Map(vec![]) {
            assert!(
                std::time::Instant::now() < deadline,
                "the hash never expired"
            );
            glommio::timer::sleep(std::time::Duration::from_millis(2)).await;
        }
        assert_eq!(
            ok(&c, &["TYPE", "gone"]).await,
            Value::Status("none".into())
        );
    });
}

#[test]
fn wrong_type_on_every_family_changes_nothing() {
    let node = Node::start(1);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        c.set(b"str", b"v").await.unwrap();
        ok(&c, &["HSET", "hash", "f", "v"]).await;
        ok(&c, &["SADD", "set", "m"]).await;
        ok(&c, &["ZADD", "zset", "1", "m"]).await;
        ok(&c, &["RPUSH", "list", "e"]).await;
        let probes: &[&[&str]] = &[
            &["HSET", "K", "f", "v"],
            &["HGET", "K", "f"],
            &["HGETALL", "K"],
            &["SADD", "K", "m"],
            &["SMEMBERS", "K"],
            &["ZADD", "K", "1", "m"],
            &["ZRANGE", "K", "0", "-1"],
            &["LPUSH", "K", "e"],
            &["LRANGE", "K", "0", "-1"],
            &["INCR", "K"],
            &["GET", "K"],
        ];
        let owner = |probe: &str| match probe {
            p if p.starts_with('H') => "hash",
            p if p.starts_with('S') => "set",
            p if p.starts_with('Z') => "zset",
            p if p.starts_with('L') => "list",
            _ => "str",
        };
        for key in ["str", "hash", "set", "zset", "list"] {
            let before = c.command(&[b"TYPE", key.as_bytes()]).await.unwrap();
            for probe in probes {
                if owner(probe[0]) == key {
                    continue;
                }
                let words: Vec<&str> = probe
                    .iter()
                    .map(|w| if *w == "K" { key } else { w })
                    .collect();
                assert_eq!(code(&c, &words).await, ErrorCode::WrongType, "{words:?}");
            }
            // Nothing changed, not even the version.
            assert_eq!(c.command(&[b"TYPE", key.as_bytes()]).await.unwrap(), before);
        }
        assert_eq!(
            server_code(c.get(b"hash").await),
            ErrorCode::WrongType,
            "the GET opcode refuses collections"
        );
        assert_eq!(
            server_code(c.incr_by(b"set", 1).await),
            ErrorCode::WrongType
        );
        // SET replaces any type (as in Redis).
        c.set(b"list", b"now a string").await.unwrap();
        assert_eq!(code(&c, &["LLEN", "list"]).await, ErrorCode::WrongType);
        assert_eq!(
            ok(&c, &["TYPE", "list"]).await,
            Value::Status("string".into())
        );
    });
}

#[test]
fn versions_cas_check_and_set_and_sortkey_scans() {
    let node = Node::start(2);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        // Every write bumps the key's version and returns it; reads return it too.
        let (v1, _) = c.command(&[b"HSET", b"u", b"name", b"ann"]).await.unwrap();
        let (v2, _) = c.command(&[b"HSET", b"u", b"age", b"30"]).await.unwrap();
        assert!(v2 > v1);
        let (vr, _) = c.command(&[b"HGET", b"u", b"name"]).await.unwrap();
        assert_eq!(vr, v2, "a read returns the current version");
        let (v0, _) = c.command(&[b"HGET", b"nobody", b"x"]).await.unwrap();
        assert_eq!(v0, 0);
        // CAS on a field write.
        let stale = c
            .command_cas(&[b"HSET", b"u", b"age", b"31"], Some(v1))
            .await;
        assert_eq!(server_code(stale), ErrorCode::VersionConflict);
        assert_eq!(ok(&c, &["HGET", "u", "age"]).await, b("30"));
        let (v3, _) = c
            .command_cas(&[b"HSET", b"u", b"age", b"31"], Some(v2))
            .await
            .unwrap();
        assert!(v3 > v2);
        // 0 = only when the key does not exist.
        assert!(c
            .command_cas(&[b"SADD", b"fresh", b"m"], Some(0))
            .await
            .is_ok());
        assert_eq!(
            server_code(c.command_cas(&[b"SADD", b"fresh", b"n"], Some(0)).await),
            ErrorCode::VersionConflict
        );
        // A string's version from the SET opcode works with named commands.
        let sv = c.set(b"s", b"1").await.unwrap();
        assert_eq!(
            c.command_cas(&[b"INCR", b"s"], Some(sv)).await.unwrap().1,
            Value::Int(2)
        );

        // Pegasus check-and-set: check one field, set another, atomically.
        let cas = |check: &'static [&'static str]| {
            let mut w = vec!["CHECKANDSET", "acct"];
            w.extend_from_slice(check);
            w
        };
        assert_eq!(
            ok(&c, &cas(&["balance", "NOTEXISTS", "balance", "100"])).await,
            Value::Array(vec![Value::Int(1), Value::Nil])
        );
        assert_eq!(
            ok(&c, &cas(&["balance", "INTGE", "150", "status", "rich"])).await,
            Value::Array(vec![Value::Int(0), b("100")])
        );
        assert_eq!(ok(&c, &["HEXISTS", "acct", "status"]).await, Value::Int(0));
        assert_eq!(
            ok(&c, &cas(&["balance", "INTLT", "150", "status", "saving"])).await,
            Value::Array(vec![Value::Int(1), b("100")])
        );
        assert_eq!(
            ok(&c, &cas(&["status", "PREFIX", "sav", "note", "x"])).await,
            Value::Array(vec![Value::Int(1), b("saving")])
        );
        assert_eq!(
            ok(&c, &cas(&["status", "EQ", "rich", "note", "y"])).await,
            Value::Array(vec![Value::Int(0), b("saving")])
        );
        assert_eq!(
            code(&c, &cas(&["status", "INTEQ", "1", "n", "v"])).await,
            ErrorCode::NotInteger
        );
        assert_eq!(
            code(&c, &cas(&["status", "BOGUS", "n", "v"])).await,
            ErrorCode::BadArguments
        );

        // (hashkey, sortkey): fields in byte order, ranges with bounds and filters.
        for sk in [
            "2024-01-01",
            "2024-01-02",
            "2024-02-01",
            "2024-02-15",
            "2025-01-01",
        ] {
            ok(&c, &["HSET", "events", sk, &format!("e@{sk}")]).await;
        }
        let keys_of = |v: Value| match v {
            Value::Array(items) => items,
            Value::Map(pairs) => pairs.into_iter().map(|(k, _)| k).collect(),
            other => panic!("{other:?}"),
        };
        let r = ok(&c, &["HRANGE", "events", "2024-01-02", "2024-02-15"]).await;
        assert_eq!(keys_of(r), vec![b("2024-01-02"), b("2024-02-01")]);
        let r = ok(
            &c,
            &[
                "HRANGE",
                "events",
                "2024-01-02",
                "2024-02-15",
                "STARTEXCL",
                "STOPINCL",
            ],
        )
        .await;
        assert_eq!(keys_of(r), vec![b("2024-02-01"), b("2024-02-15")]);
        let r = ok(
            &c,
            &["HRANGE", "events", "", "", "PREFIX", "2024-02", "KEYSONLY"],
        )
        .await;
        assert_eq!(r, arr(&["2024-02-01", "2024-02-15"]));
        let r = ok(
            &c,
            &[
                "HRANGE", "events", "", "", "SUFFIX", "01", "REV", "LIMIT", "2", "KEYSONLY",
            ],
        )
        .await;
        assert_eq!(r, arr(&["2025-01-01", "2024-02-01"]));
        let r = ok(&c, &["HRANGE", "events", "2024-01-01", "2024-01-02"]).await;
        assert_eq!(r, Value::Map(vec![(b("2024-01-01"), b("e@2024-01-01"))]));
        // Multi-set, multi-get, multi-delete and count under one hashkey.
        assert_eq!(
            ok(&c, &["HSET", "events", "a", "1", "b", "2"]).await,
            Value::Int(2)
        );
        assert_eq!(
            ok(&c, &["HMGET", "events", "a", "b"]).await,
            arr(&["1", "2"])
        );
        assert_eq!(ok(&c, &["HDEL", "events", "a", "b"]).await, Value::Int(2));
        assert_eq!(ok(&c, &["HLEN", "events"]).await, Value::Int(5));
    });
}

#[test]
fn atomic_batches_apply_all_or_nothing() {
    let node = Node::start(2);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let cmd = |w: &'static [&'static str]| {
            NamedCommand::new(w.iter().map(|s| s.as_bytes()).collect())
        };
        let r = c
            .batch(&[
                cmd(&["SET", "{u1}name", "ann"]),
                cmd(&["HSET", "{u1}profile", "city", "Oslo"]),
                cmd(&["SADD", "{u1}tags", "new"]),
                cmd(&["HGET", "{u1}profile", "city"]),
                cmd(&["INCR", "{u1}logins"]),
            ])
            .await
            .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[3].1, b("Oslo"), "a batch sees its own earlier writes");
        assert_eq!(r[4].1, Value::Int(1));
        assert!(r[1].0 > 0 && r[0].0 > 0);

        // A failure anywhere leaves nothing applied.
        let e = c
            .batch(&[
                cmd(&["HSET", "{u1}profile", "city", "Paris"]),
                cmd(&["SADD", "{u1}tags", "changed"]),
                cmd(&["INCR", "{u1}name"]),
            ])
            .await;
        let ClientError::Server(w) = e.unwrap_err() else {
            panic!()
        };
        assert_eq!(w.code, ErrorCode::NotInteger);
        assert!(w.message.starts_with("command 2:"), "{}", w.message);
        assert_eq!(ok(&c, &["HGET", "{u1}profile", "city"]).await, b("Oslo"));
        assert_eq!(
            ok(&c, &["SISMEMBER", "{u1}tags", "changed"]).await,
            Value::Int(0)
        );
        // A version check inside a batch guards the whole batch.
        let (ver, _) = c.command(&[b"TYPE", b"{u1}tags"]).await.unwrap();
        let mut guarded = cmd(&["SADD", "{u1}tags", "guarded"]);
        guarded.expected_version = Some(ver + 1);
        let e = c
            .batch(&[cmd(&["HSET", "{u1}profile", "x", "1"]), guarded.clone()])
            .await;
        assert_eq!(server_code(e), ErrorCode::VersionConflict);
        assert_eq!(
            ok(&c, &["HEXISTS", "{u1}profile", "x"]).await,
            Value::Int(0)
        );
        guarded.expected_version = Some(ver);
        c.batch(&[cmd(&["HSET", "{u1}profile", "x", "1"]), guarded])
            .await
            .unwrap();
        assert_eq!(
            ok(&c, &["SISMEMBER", "{u1}tags", "guarded"]).await,
            Value::Int(1)
        );
        // Keys in different slots: one commit across them, all or nothing.
        let mut stale = cmd(&["SET", "{u2}b", "1"]);
        stale.expected_version = Some(12345);
        let e = c.batch(&[cmd(&["SET", "{u1}a", "1"]), stale]).await;
        assert_eq!(server_code(e), ErrorCode::VersionConflict);
        assert_eq!(c.exists(&[b"{u1}a", b"{u2}b"]).await.unwrap(), 0);
        c.batch(&[cmd(&["SET", "{u1}a", "1"]), cmd(&["SET", "{u2}b", "1"])])
            .await
            .unwrap();
        assert_eq!(c.exists(&[b"{u1}a", b"{u2}b"]).await.unwrap(), 2);
        c.del(&[b"{u1}a", b"{u2}b"]).await.unwrap();
        // Unknown commands and wrong arity in a batch say which command.
        let e = c
            .batch(&[cmd(&["SET", "{u1}a", "1"]), cmd(&["NOPE", "{u1}a"])])
            .await;
        let ClientError::Server(w) = e.unwrap_err() else {
            panic!()
        };
        assert_eq!(w.code, ErrorCode::UnknownCommand);
        assert!(w.message.starts_with("command 1:"));
    });
}

#[test]
fn bad_input_gets_clear_errors() {
    let node = Node::start(1);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        assert_eq!(code(&c, &["HSET", "h", "f"]).await, ErrorCode::BadArguments);
        assert_eq!(
            code(&c, &["HSET", "h", "f", "v", "g"]).await,
            ErrorCode::BadArguments
        );
        assert_eq!(code(&c, &["HGET", "h"]).await, ErrorCode::BadArguments);
        assert_eq!(code(&c, &["ZADD", "z", "1"]).await, ErrorCode::BadArguments);
        assert_eq!(
            code(&c, &["ZADD", "z", "one", "m"]).await,
            ErrorCode::NotFloat
        );
        assert_eq!(
            code(&c, &["ZRANGE", "z", "a", "b"]).await,
            ErrorCode::NotInteger
        );
        assert_eq!(
            code(&c, &["ZRANGE", "z", "x", "1", "BYSCORE"]).await,
            ErrorCode::BadArguments
        );
        assert_eq!(
            code(&c, &["ZRANGEBYLEX", "z", "a", "b"]).await,
            ErrorCode::BadArguments
        );
        assert_eq!(
            code(&c, &["LRANGE", "l", "0", "x"]).await,
            ErrorCode::NotInteger
        );
        assert_eq!(
            code(&c, &["LPOS", "l", "x", "RANK", "0"]).await,
            ErrorCode::BadArguments
        );
        assert_eq!(code(&c, &["SPOP", "s", "-1"]).await, ErrorCode::OutOfRange);
        assert_eq!(
            code(&c, &["HSCAN", "h", "bogus"]).await,
            ErrorCode::BadArguments
        );
        assert_eq!(
            code(&c, &["NOSUCHCOMMAND", "x"]).await,
            ErrorCode::UnknownCommand
        );
        assert_eq!(
            ok(&c, &["INCRBY", "n", "9223372036854775807"]).await,
            Value::Int(i64::MAX)
        );
        assert_eq!(code(&c, &["INCR", "n"]).await, ErrorCode::Overflow);
        assert_eq!(
            code(&c, &["HINCRBY", "h", "f", "1.5"]).await,
            ErrorCode::NotInteger
        );
        // Empty keys, members and values are ordinary bytes.
        assert_eq!(ok(&c, &["HSET", "", "", ""]).await, Value::Int(1));
        assert_eq!(
            ok(&c, &["HGETALL", ""]).await,
            Value::Map(vec![(b(""), b(""))])
        );
        assert_eq!(ok(&c, &["SADD", "e", ""]).await, Value::Int(1));
        assert_eq!(ok(&c, &["SISMEMBER", "e", ""]).await, Value::Int(1));
        // A member as large as a frame allows is stored and read back whole;
        // a larger frame is refused and the server stays up.
        let big = vec![b'x'; 900 << 10];
        let (_, v) = c.command(&[b"SADD", b"big", &big]).await.unwrap();
        assert_eq!(v, Value::Int(1));
        let (_, v) = c.command(&[b"SMEMBERS", b"big"]).await.unwrap();
        assert_eq!(v, Value::Array(vec![Value::Bytes(big.clone())]));
        let huge = vec![b'y'; 2 << 20];
        let e = c.command(&[b"HSET", b"big2", b"f", &huge]).await;
        assert!(e.is_err());
        let c = Client::connect(addr).await.unwrap();
        assert_eq!(ok(&c, &["SCARD", "big"]).await, Value::Int(1));
        assert_eq!(ok(&c, &["EXISTS", "big2"]).await, Value::Int(0));
    });
}
