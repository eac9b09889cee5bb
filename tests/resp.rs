//! The Redis protocol front end over real sockets: exact reply bytes,
//! pipelining, inline commands, bad input, transactions, HELLO 3, the real
//! redis-cli and redis-benchmark (the differential run against a real
//! redis-server is tests/resp_differential.rs).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::resp::{conn_on_core, wait_for_blocked, Conn, R};
use common::Node;

fn node() -> Node {
    Node::start(2)
}

#[test]
fn pipelined_inline_and_exact_bytes() {
    let n = node();
    let mut c = Conn::connect(n.resp_addr());
    // Three commands in one write, answered in order.
    let mut batch = Conn::encode(&[b"SET", b"k", b"v"]);
    batch.extend(Conn::encode(&[b"GET", b"k"]));
    batch.extend(b"PING\r\n");
    batch.extend(Conn::encode(&[b"GET", b"missing"]));
    c.send_raw(&batch);
    assert_eq!(c.read(), R::ok());
    assert_eq!(c.read(), R::bulk("v"));
    assert_eq!(c.read(), R::Simple("PONG".into()));
    assert_eq!(c.read(), R::Nil);
    // Inline commands with quotes, as typed into telnet.
    c.send_raw(b"set \"a key\" 'it''s'\r\n");
    assert_eq!(
        c.read().err_word(),
        Some("ERR"),
        "unbalanced-looking quotes are refused"
    );
    let mut c = Conn::connect(n.resp_addr());
    c.send_raw(b"set \"a key\" \"x\\ty\"\r\nget \"a key\"\n");
    assert_eq!(c.read(), R::ok());
    assert_eq!(c.read(), R::bulk("x\ty"));
    // Deep pipelines: 5,000 INCRs in one write.
    let mut many = Vec::new();
    for _ in 0..5000 {
        many.extend(Conn::encode(&[b"INCR", b"counter"]));
    }
    c.send_raw(&many);
    for i in 1..=5000 {
        assert_eq!(c.read(), R::Int(i));
    }
    // Errors carry the registry's RESP prefix and Redis's words.
    c.cmd(&["HSET", "h", "f", "v"]);
    assert_eq!(
        c.cmd(&["GET", "h"]),
        R::Err("WRONGTYPE Operation against a key holding the wrong kind of value".into())
    );
    assert_eq!(
        c.cmd(&["HSET", "h", "f"]),
        R::Err("ERR wrong number of arguments for 'hset' command".into())
    );
    assert_eq!(
        c.cmd(&["INCRBY", "counter", "x"]),
        R::Err("ERR value is not an integer or out of range".into())
    );
    assert_eq!(
        c.cmd(&["FOO", "bar"]),
        R::Err("ERR unknown command 'FOO', with args beginning with: 'bar' ".into())
    );
    assert_eq!(c.cmd(&["FCALL", "f", "0"]).err_word(), Some("ERR"));
    assert_eq!(c.cmd(&["SELECT", "0"]), R::ok());
    assert_eq!(c.cmd(&["SELECT", "16"]).err_word(), Some("ERR"));
    assert_eq!(c.cmd(&["MSET", "{a}1", "1", "{a}2", "2"]), R::ok());
    // Keys of two slots: one commit across them, all or nothing.
    assert_eq!(c.cmd(&["MSETNX", "{a}1", "x", "other", "y"]), R::Int(0));
    assert_eq!(c.cmd(&["GET", "other"]), R::Nil);
    assert_eq!(c.cmd(&["QUIT"]), R::ok());
    assert_eq!(c.try_read(), None, "QUIT closes the connection");
}

#[test]
fn flushall_empties_every_core_and_later_writes_stay() {
    let n = node();
    let mut c = Conn::connect(n.resp_addr());
    for i in 0..50 {
        c.cmd(&["SET", &format!("s{i}"), "v"]);
        c.cmd(&["HSET", &format!("h{i}"), "f", "v"]);
        c.cmd(&["RPUSH", &format!("l{i}"), "a", "b"]);
    }
    // FLUSHALL, then in the same pipeline a read and a new write.
    let mut p = Conn::encode(&[b"FLUSHALL"]);
    p.extend(Conn::encode(&[b"GET", b"s1"]));
    p.extend(Conn::encode(&[b"HGETALL", b"h1"]));
    p.extend(Conn::encode(&[b"SET", b"after", b"1"]));
    c.send_raw(&p);
    assert_eq!(c.read(), R::ok());
    assert_eq!(c.read(), R::Nil);
    assert_eq!(c.read(), R::Array(vec![]));
    assert_eq!(c.read(), R::ok());
    assert_eq!(c.cmd(&["KEYS", "*"]), R::arr(&["after"]));
    assert_eq!(c.cmd(&["LRANGE", "l3", "0", "-1"]), R::Array(vec![]));
    assert_eq!(c.cmd(&["FLUSHDB", "ASYNC"]), R::ok());
    assert_eq!(c.cmd(&["KEYS", "*"]), R::Array(vec![]));
    assert_eq!(c.cmd(&["FLUSHALL", "SOMETIMES"]).err_word(), Some("ERR"));
}

#[test]
fn malformed_input_closes_only_that_connection() {
    let n = node();
    for bad in [
        &b"*1\r\n+PING\r\n"[..],
        b"*2\r\n$3\r\nGET\r\n$-7\r\n",
        b"*abc\r\n",
        b"*1\r\n$4\r\nPINGxx\r\n",
    ] {
        let mut c = Conn::connect(n.resp_addr());
        c.send_raw(bad);
        let r = c.read();
        assert!(
            matches!(&r, R::Err(e) if e.starts_with("ERR Protocol error")),
            "{bad:?} → {r:?}"
        );
        assert_eq!(
            c.try_read(),
            None,
            "the connection closes after a protocol error"
        );
    }
    // A bulk length above max-frame-bytes is refused before anything is buffered.
    let mut c = Conn::connect(n.resp_addr());
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$999999999\r\n");
    assert!(matches!(c.read(), R::Err(e) if e.contains("invalid bulk length")));
    // The server is still there for everyone else.
    let mut c = Conn::connect(n.resp_addr());
    assert_eq!(c.cmd(&["PING"]), R::Simple("PONG".into()));
    // A value as large as a frame allows round-trips.
    let big = vec![b'z'; 900 << 10];
    assert_eq!(c.cmd_bytes(&[b"SET", b"big", &big]), R::ok());
    assert_eq!(c.cmd(&["STRLEN", "big"]), R::Int(big.len() as i64));
    // A client that asks for ~2.7 GB of replies and never reads them stalls
    // only itself (its replies go out in chunks under TCP back-pressure);
    // the core keeps serving everyone else.
    let mut hog = Conn::connect(n.resp_addr());
    let mut asks = Vec::new();
    for _ in 0..3000 {
        asks.extend(Conn::encode(&[b"GET", b"big"]));
    }
    hog.send_raw(&asks);
    for _ in 0..20 {
        let mut other = Conn::connect(n.resp_addr());
        assert_eq!(other.cmd(&["PING"]), R::Simple("PONG".into()));
        assert_eq!(other.cmd(&["INCR", "alive"]).err_word(), None);
    }
    drop(hog);
}

/// Connections wait for readiness through their core's edge-triggered epoll
/// instance (src/net/epoll.rs): a request dribbled in small segments is
/// read piece by piece, replies held back by a full socket resume when the
/// client reads, and connection slots are reused correctly.
#[test]
fn readiness_split_requests_back_pressure_and_reused_slots() {
    let n = node();
    // Requests arriving a few bytes at a time (short reads) are all seen.
    let mut c = Conn::connect(n.resp_addr());
    c.nodelay();
    let mut pipeline = Vec::new();
    for i in 0..200 {
        let v = format!("v{i}");
        pipeline.extend(Conn::encode(&[
            b"SET",
            format!("d{i}").as_bytes(),
            v.as_bytes(),
        ]));
        pipeline.extend(Conn::encode(&[b"GET", format!("d{i}").as_bytes()]));
    }
    for chunk in pipeline.chunks(7) {
        c.send_raw(chunk);
    }
    for i in 0..200 {
        assert_eq!(c.read(), R::ok());
        assert_eq!(c.read(), R::bulk(&format!("v{i}")));
    }
    // ~54 MB of replies to a client that does not read for a while: the
    // server's sends block, and continue once the client drains the socket.
    let big: Vec<u8> = (0..900 << 10).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.cmd_bytes(&[b"SET", b"big", &big]), R::ok());
    let mut asks = Vec::new();
    for _ in 0..60 {
        asks.extend(Conn::encode(&[b"GET", b"big"]));
    }
    asks.extend(Conn::encode(&[b"PING"]));
    c.send_raw(&asks);
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..60 {
        assert!(
            c.read() == R::Bulk(big.clone()),
            "reply {i} is the whole value"
        );
    }
    assert_eq!(c.read(), R::Simple("PONG".into()));
    // Slots of closed connections are reused: 300 connections one after
    // the other, then 50 open together, each still woken for its own data.
    for i in 0..300 {
        let mut c = Conn::connect(n.resp_addr());
        assert_eq!(
            c.cmd(&["ECHO", &format!("e{i}")]),
            R::bulk(&format!("e{i}"))
        );
    }
    let mut open: Vec<Conn> = (0..50).map(|_| Conn::connect(n.resp_addr())).collect();
    for (i, c) in open.iter_mut().enumerate() {
        c.send_raw(&Conn::encode(&[
            b"INCRBY",
            b"shared",
            format!("{i}").as_bytes(),
        ]));
    }
    let mut sum = 0;
    for c in open.iter_mut().rev() {
        let R::Int(v) = c.read() else {
            panic!("INCRBY answers an integer")
        };
        sum = sum.max(v);
    }
    assert_eq!(sum, (0..50).sum::<i64>());
}

#[test]
fn transactions_and_watch() {
    let n = node();
    let mut c = Conn::connect(n.resp_addr());
    assert_eq!(c.cmd(&["MULTI"]), R::ok());
    assert_eq!(c.cmd(&["SET", "{t}a", "1"]), R::Simple("QUEUED".into()));
    assert_eq!(c.cmd(&["INCR", "{t}a"]), R::Simple("QUEUED".into()));
    assert_eq!(
        c.cmd(&["HSET", "{t}h", "f", "v"]),
        R::Simple("QUEUED".into())
    );
    assert_eq!(
        c.cmd(&["EXEC"]),
        R::Array(vec![R::ok(), R::Int(2), R::Int(1)])
    );
    // DISCARD drops the queue.
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "{t}a", "99"]);
    assert_eq!(c.cmd(&["DISCARD"]), R::ok());
    assert_eq!(c.cmd(&["GET", "{t}a"]), R::bulk("2"));
    assert_eq!(c.cmd(&["EXEC"]).err_word(), Some("ERR"));
    // A refused command while queueing aborts EXEC.
    c.cmd(&["MULTI"]);
    assert_eq!(c.cmd(&["HSET", "{t}h"]).err_word(), Some("ERR"));
    c.cmd(&["SET", "{t}a", "5"]);
    assert_eq!(c.cmd(&["EXEC"]).err_word(), Some("EXECABORT"));
    assert_eq!(c.cmd(&["GET", "{t}a"]), R::bulk("2"));
    // Keys in different slots: one commit across them.
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "{t}a", "7"]);
    c.cmd(&["SET", "{u}b", "7"]);
    assert_eq!(c.cmd(&["EXEC"]), R::Array(vec![R::ok(), R::ok()]));
    assert_eq!(c.cmd(&["MGET", "{t}a", "{u}b"]), R::arr(&["7", "7"]));
    c.cmd(&["SET", "{t}a", "2"]);
    // WATCH: a change by another client between WATCH and EXEC aborts (nil).
    let mut other = Conn::connect(n.resp_addr());
    assert_eq!(c.cmd(&["WATCH", "{t}a"]), R::ok());
    assert_eq!(other.cmd(&["SET", "{t}a", "changed"]), R::ok());
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "{t}a", "mine"]);
    assert_eq!(c.cmd(&["EXEC"]), R::Nil);
    assert_eq!(c.cmd(&["GET", "{t}a"]), R::bulk("changed"));
    // Unchanged: EXEC runs.
    c.cmd(&["WATCH", "{t}a"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "{t}a", "mine"]);
    assert_eq!(c.cmd(&["EXEC"]), R::Array(vec![R::ok()]));
    assert_eq!(other.cmd(&["GET", "{t}a"]), R::bulk("mine"));
    // UNWATCH forgets.
    c.cmd(&["WATCH", "{t}a"]);
    other.cmd(&["SET", "{t}a", "again"]);
    c.cmd(&["UNWATCH"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["GET", "{t}a"]);
    assert_eq!(c.cmd(&["EXEC"]), R::Array(vec![R::bulk("again")]));
}

#[test]
fn hello_3_client_and_server_commands() {
    let n = node();
    let mut c = Conn::connect(n.resp_addr());
    let R::Map(info) = c.cmd(&["HELLO", "3", "SETNAME", "tester"]) else {
        panic!("HELLO 3 answers a map");
    };
    assert!(info.contains(&(R::bulk("proto"), R::Int(3))));
    c.cmd(&["HSET", "h", "f", "v"]);
    assert_eq!(
        c.cmd(&["HGETALL", "h"]),
        R::Map(vec![(R::bulk("f"), R::bulk("v"))])
    );
    c.cmd(&["ZADD", "z", "1.5", "m"]);
    assert_eq!(c.cmd(&["ZSCORE", "z", "m"]), R::Double("1.5".into()));
    assert_eq!(c.cmd(&["GET", "nothing"]), R::Nil);
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), R::bulk("tester"));
    assert!(matches!(c.cmd(&["CLIENT", "ID"]), R::Int(id) if id > 0));
    assert!(
        matches!(c.cmd(&["CLIENT", "INFO"]), R::Bulk(b) if String::from_utf8_lossy(&b).contains("name=tester"))
    );
    assert!(matches!(c.cmd(&["COMMAND", "COUNT"]), R::Int(n) if n > 100));
    assert!(
        matches!(c.cmd(&["CONFIG", "GET", "databases"]), R::Map(m) if m == vec![(R::bulk("databases"), R::bulk("16"))])
    );
    assert!(
        matches!(c.cmd(&["INFO"]), R::Bulk(b) if String::from_utf8_lossy(&b).contains("redis_version:"))
    );
    assert!(matches!(c.cmd(&["TIME"]), R::Array(a) if a.len() == 2));
    assert_eq!(c.cmd(&["HELLO", "2"]).err_word(), None);
    assert_eq!(c.cmd(&["ZSCORE", "z", "m"]), R::bulk("1.5"));
    for i in 0..50 {
        c.cmd(&["SET", &format!("scan:{i}"), "x"]);
    }
    let R::Array(keys) = c.cmd(&["KEYS", "scan:*"]) else {
        panic!()
    };
    assert_eq!(keys.len(), 50);
    // SCAN with integer cursors and a glob.
    let mut cursor = "0".to_string();
    let mut seen = 0;
    loop {
        let R::Array(page) = c.cmd(&["SCAN", &cursor, "MATCH", "scan:?", "COUNT", "7"]) else {
            panic!()
        };
        let R::Bulk(next) = &page[0] else { panic!() };
        let R::Array(ks) = &page[1] else { panic!() };
        seen += ks.len();
        cursor = String::from_utf8(next.clone()).unwrap();
        cursor.parse::<u64>().expect("cursors are plain integers");
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen, 10, "scan:0 .. scan:9");
    // SCAN ... TYPE keeps the keys of that type.
    c.cmd(&["HSET", "scan:h", "f", "v"]);
    let mut cursor = "0".to_string();
    let mut hashes = Vec::new();
    loop {
        let R::Array(page) = c.cmd(&[
            "SCAN", &cursor, "MATCH", "scan:*", "TYPE", "hash", "COUNT", "1000",
        ]) else {
            panic!()
        };
        let R::Bulk(next) = &page[0] else { panic!() };
        let R::Array(ks) = &page[1] else { panic!() };
        hashes.extend(ks.clone());
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(hashes, vec![R::bulk("scan:h")]);
    assert!(matches!(c.cmd(&["RANDOMKEY"]), R::Bulk(_)));
    // HSCAN/SSCAN/ZSCAN cursors are plain integers too.
    for i in 0..40 {
        c.cmd(&["HSET", "bigh", &format!("f{i:02}"), "v"]);
        c.cmd(&["SADD", "bigs", &format!("m{i:02}")]);
        c.cmd(&["ZADD", "bigz", &i.to_string(), &format!("m{i:02}")]);
    }
    for (cmd, key, per_item) in [
        ("HSCAN", "bigh", 2),
        ("SSCAN", "bigs", 1),
        ("ZSCAN", "bigz", 2),
    ] {
        let mut cursor = "0".to_string();
        let mut items = 0;
        loop {
            let R::Array(page) = c.cmd(&[cmd, key, &cursor, "COUNT", "7"]) else {
                panic!()
            };
            let R::Bulk(next) = &page[0] else { panic!() };
            let R::Array(got) = &page[1] else { panic!() };
            items += got.len() / per_item;
            cursor = String::from_utf8(next.clone()).unwrap();
            cursor.parse::<u64>().expect("an integer cursor");
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(items, 40, "{cmd}");
    }
    assert_eq!(c.cmd(&["HSCAN", "bigh", "987654"]).err_word(), Some("ERR"));
}

/// One pipeline mixing commands this core runs at once (its own keys) with
/// ones it forwards or splits (the other core's keys, MSET and DEL across
/// both): every reply is what running the commands one by one, in order,
/// gives (checked against a model of the strings).
#[test]
fn a_pipeline_over_both_cores_runs_in_command_order() {
    let n = node();
    for core in 0..2 {
        let mut c = conn_on_core(n.resp_addr(), core);
        let mut model: std::collections::HashMap<String, String> = Default::default();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64 + core as u64;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        };
        let mut batch = Vec::new();
        let mut want = Vec::new();
        for i in 0..3000 {
            let k = format!("p{core}-{}", next(20));
            let k2 = format!("p{core}-{}", next(20));
            let v = format!("v{i}");
            let v2 = format!("w{i}");
            let (cmd, reply): (Vec<&str>, R) = match next(5) {
                0 => {
                    model.insert(k.clone(), v.clone());
                    (vec!["SET", &k, &v], R::ok())
                }
                1 => {
                    let e = model.entry(k.clone()).or_default();
                    e.push_str(&v);
                    (vec!["APPEND", &k, &v], R::Int(e.len() as i64))
                }
                2 => {
                    let r = model.get(&k).map(|s| R::bulk(s)).unwrap_or(R::Nil);
                    (vec!["GET", &k], r)
                }
                3 => {
                    model.insert(k.clone(), v.clone());
                    model.insert(k2.clone(), v2.clone());
                    (vec!["MSET", &k, &v, &k2, &v2], R::ok())
                }
                _ => {
                    let gone = [&k, &k2]
                        .iter()
                        .filter(|x| model.remove(x.as_str()).is_some())
                        .count();
                    (vec!["DEL", &k, &k2], R::Int(gone as i64))
                }
            };
            let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
            batch.extend(Conn::encode(&args));
            want.push((cmd.join(" "), reply));
        }
        c.send_raw(&batch);
        for (i, (cmd, reply)) in want.into_iter().enumerate() {
            assert_eq!(c.read(), reply, "command {i} on core {core}: {cmd}");
        }
    }
}

#[test]
fn pubsub_reaches_subscribers_on_every_core_in_order() {
    let n = node();
    let mut sub = conn_on_core(n.resp_addr(), 0);
    let mut sub2 = conn_on_core(n.resp_addr(), 1);
    let mut publisher = conn_on_core(n.resp_addr(), 1);
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "news", "sport"]),
        R::Array(vec![R::bulk("subscribe"), R::bulk("news"), R::Int(1)])
    );
    assert_eq!(
        sub.read(),
        R::Array(vec![R::bulk("subscribe"), R::bulk("sport"), R::Int(2)])
    );
    assert_eq!(
        sub2.cmd(&["PSUBSCRIBE", "n*"]),
        R::Array(vec![R::bulk("psubscribe"), R::bulk("n*"), R::Int(1)])
    );
    // Subscribed RESP2 clients may only (un)subscribe, ping, quit and reset.
    assert_eq!(sub.cmd(&["GET", "k"]).err_word(), Some("ERR"));
    assert_eq!(
        sub.cmd(&["PING"]),
        R::Array(vec![R::bulk("pong"), R::bulk("")])
    );
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "hello"]), R::Int(2));
    assert_eq!(sub.read(), R::arr(&["message", "news", "hello"]));
    assert_eq!(sub2.read(), R::arr(&["pmessage", "n*", "news", "hello"]));
    assert_eq!(publisher.cmd(&["PUBLISH", "zzz", "x"]), R::Int(0));
    // Publish order per publisher survives the hop between cores.
    let mut burst = Vec::new();
    for i in 0..200 {
        burst.extend(Conn::encode(&[
            b"PUBLISH",
            b"sport",
            format!("m{i}").as_bytes(),
        ]));
    }
    publisher.send_raw(&burst);
    for _ in 0..200 {
        assert_eq!(publisher.read(), R::Int(1));
    }
    for i in 0..200 {
        assert_eq!(sub.read(), R::arr(&["message", "sport", &format!("m{i}")]));
    }
    assert_eq!(
        publisher.cmd(&["PUBSUB", "CHANNELS"]),
        R::arr(&["news", "sport"])
    );
    assert_eq!(
        publisher.cmd(&["PUBSUB", "CHANNELS", "s*"]),
        R::arr(&["sport"])
    );
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMSUB", "news", "none"]),
        R::Array(vec![R::bulk("news"), R::Int(1), R::bulk("none"), R::Int(0)])
    );
    assert_eq!(publisher.cmd(&["PUBSUB", "NUMPAT"]), R::Int(1));
    // Unsubscribing from everything returns the connection to normal.
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE"]),
        R::Array(vec![R::bulk("unsubscribe"), R::bulk("news"), R::Int(1)])
    );
    assert_eq!(
        sub.read(),
        R::Array(vec![R::bulk("unsubscribe"), R::bulk("sport"), R::Int(0)])
    );
    assert_eq!(sub.cmd(&["SET", "k", "v"]), R::ok());
    drop(sub2);
    // A closed subscriber is forgotten.
    let deadline = Instant::now() + Duration::from_secs(10);
    while publisher.cmd(&["PUBSUB", "NUMPAT"]) != R::Int(0) {
        assert!(
            Instant::now() < deadline,
            "the closed subscriber was not forgotten"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // RESP3 subscribers get pushes and may run other commands.
    let mut s3 = conn_on_core(n.resp_addr(), 0);
    s3.cmd(&["HELLO", "3"]);
    s3.cmd(&["SUBSCRIBE", "news"]);
    assert_eq!(s3.cmd(&["SET", "k3", "v"]), R::ok());
    publisher.cmd(&["PUBLISH", "news", "pushed"]);
    assert_eq!(s3.read(), R::arr(&["message", "news", "pushed"]));
}

#[test]
fn blocking_pops_wait_wake_and_lose_nothing() {
    let n = node();
    let addr = n.resp_addr();
    let mut c = Conn::connect(addr);
    // Timeouts: a null array (BLPOP) or nil (BLMOVE); bad timeouts refused.
    assert_eq!(c.cmd(&["BLPOP", "{q}empty", "0.05"]), R::Nil);
    assert_eq!(
        c.cmd(&["BLMOVE", "{q}empty", "{q}d", "LEFT", "RIGHT", "0.05"]),
        R::Nil
    );
    assert_eq!(
        c.cmd(&["BLPOP", "{q}a", "-1"]),
        R::Err("ERR timeout is negative".into())
    );
    assert_eq!(
        c.cmd(&["BLPOP", "{q}a", "x"]),
        R::Err("ERR timeout is not a float or out of range".into())
    );
    // Keys of several slots wait on each (tests/blocking.rs).
    assert_eq!(c.cmd(&["BLPOP", "{q}a", "other", "0.01"]), R::Nil);
    // An element already there is popped at once, from the first non-empty key.
    c.cmd(&["RPUSH", "{q}b", "x", "y"]);
    assert_eq!(
        c.cmd(&["BLPOP", "{q}a", "{q}b", "1"]),
        R::arr(&["{q}b", "x"])
    );
    assert_eq!(
        c.cmd(&["BRPOP", "{q}a", "{q}b", "1"]),
        R::arr(&["{q}b", "y"])
    );
    // A blocked client on each core is woken by a push from the other core.
    for core in [0, 1] {
        let mut waiter = conn_on_core(addr, core);
        let mut pusher = conn_on_core(addr, 1 - core);
        waiter.send_raw(&Conn::encode(&[b"BLPOP", b"{q}w", b"0"]));
        assert_eq!(pusher.cmd(&["RPUSH", "{q}w", "hello"]), R::Int(1));
        assert_eq!(waiter.read(), R::arr(&["{q}w", "hello"]));
        waiter.send_raw(&Conn::encode(&[
            b"BLMOVE",
            b"{q}w",
            b"{q}moved",
            b"LEFT",
            b"RIGHT",
            b"0",
        ]));
        pusher.cmd(&["LPUSH", "{q}w", "m"]);
        assert_eq!(waiter.read(), R::bulk("m"));
        assert_eq!(
            pusher.cmd(&["LRANGE", "{q}moved", "0", "-1"]).clone(),
            R::Array(std::iter::repeat_n(R::bulk("m"), core + 1).collect())
        );
    }
    // Several consumers on both cores and a producer: every element pushed
    // is popped exactly once.
    let consumers: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = conn_on_core(addr, i % 2);
                let mut got = Vec::new();
                loop {
                    match c.cmd(&["BLPOP", "{q}jobs", "1"]) {
                        R::Array(kv) => got.push(kv[1].clone()),
                        R::Nil => return got,
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    let mut producer = Conn::connect(addr);
    for i in 0..300 {
        assert!(matches!(
            producer.cmd(&["RPUSH", "{q}jobs", &i.to_string()]),
            R::Int(_)
        ));
    }
    let mut all: Vec<String> = consumers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .map(|r| match r {
            R::Bulk(b) => String::from_utf8(b).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    all.sort_by_key(|s| s.parse::<u32>().unwrap());
    let want: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    assert_eq!(all, want, "lost or duplicated elements");
    assert_eq!(producer.cmd(&["LLEN", "{q}jobs"]), R::Int(0));
    // A client that disconnects while blocked takes nothing.
    for core in [0, 1] {
        let mut gone = conn_on_core(addr, core);
        gone.send_raw(&Conn::encode(&[b"BLPOP", b"{q}left", b"0"]));
        wait_for_blocked(&mut producer, 1);
        drop(gone);
        wait_for_blocked(&mut producer, 0);
        producer.cmd(&["RPUSH", "{q}left", "kept"]);
        assert_eq!(
            producer.cmd(&["LPOP", "{q}left"]),
            R::bulk("kept"),
            "core {core}"
        );
    }
}

fn tool(name: &str) -> Command {
    let path = format!("/usr/bin/{name}");
    assert!(
        std::path::Path::new(&path).exists(),
        "{name} is missing: tools/setup.sh installs redis-tools"
    );
    Command::new(path)
}

#[test]
fn redis_cli_and_redis_benchmark_work() {
    let n = node();
    let addr = n.resp_addr();
    let port = addr.port().to_string();
    let cli = |args: &[&str]| {
        let o = tool("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(cli(&["set", "cli", "hello"]), "OK\n");
    assert_eq!(cli(&["get", "cli"]), "hello\n");
    assert_eq!(cli(&["rpush", "l", "a", "b"]), "2\n");
    assert_eq!(cli(&["lrange", "l", "0", "-1"]), "a\nb\n");
    // Mass insertion with --pipe.
    let mut input = Vec::new();
    for i in 0..5000 {
        input.extend(Conn::encode(&[
            b"SET",
            format!("pipe:{i}").as_bytes(),
            b"v",
        ]));
    }
    let mut child = tool("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port, "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&input).unwrap();
    }
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("errors: 0, replies: 5000"), "{text}");
    assert_eq!(cli(&["exists", "pipe:4999"]), "1\n");
    // redis-benchmark's standard tests, small and bounded: no error replies.
    let o = tool("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-q",
            "-n",
            "2000",
            "-c",
            "20",
            "-P",
            "4",
        ])
        .args([
            "-t",
            "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,mset",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    for t in [
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_100",
        "MSET",
    ] {
        assert!(
            text.contains(&format!("{t}: ")) || text.contains(&format!("{t} (")),
            "{t} missing from:\n{text}"
        );
    }
    assert!(
        !text.contains("ERR") && !text.to_lowercase().contains("error"),
        "{text}"
    );
}

/// A server inside another process (the tests' own) has no log filter of
/// its own to replace: CONFIG SET log-level says so rather than answer OK.
#[test]
fn config_set_log_level_needs_the_servers_own_logging() {
    let n = node();
    let mut c = Conn::connect(n.resp_addr());
    let r = c.cmd(&["CONFIG", "SET", "log-level", "info"]);
    assert!(
        matches!(&r, R::Err(e) if e.contains("logging was not started")),
        "{r:?}"
    );
}
