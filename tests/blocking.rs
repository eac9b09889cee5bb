//! BLMPOP, BZMPOP, BZPOPMIN and BZPOPMAX: Redis 7.0's replies and errors
//! (compared with redis-server), clients blocked on one core woken by
//! writes from the other, pops whose keys lie on both cores, nothing lost
//! or taken twice, and the binary protocol's BLOCK opcode.

mod common;

use common::resp::{conn_on_core, first_five_bytes, wait_for_blocked, Conn, R};
use common::{block_on, Node};
use tessera::proto::value::Value;

/// Replies and errors as redis-server's, byte for byte where nothing is
/// popped (`*-1`), in RESP2 and RESP3.
#[test]
fn blocking_mpops_match_redis_server() {
    let (redis, raddr) = common::redis_server::redis_server();
    let node = Node::start(2);
    let mut ours = Conn::connect(node.resp_addr());
    let mut theirs = Conn::connect(raddr);
    let steps: &[&[&str]] = &[
        &["BZPOPMIN", "{b}none", "0.01"],
        &["BZMPOP", "0.01", "1", "{b}none", "MIN"],
        &["BLMPOP", "0.01", "2", "{b}none", "{b}n2", "LEFT"],
        &["ZADD", "{b}z", "1", "a", "2", "b", "3.5", "c", "4", "d"],
        &["RPUSH", "{b}l", "1", "2", "3"],
        &["SET", "{b}s", "v"],
        &["BZPOPMIN", "{b}none", "{b}z", "0"],
        &["BZPOPMAX", "{b}z", "0"],
        &["BZMPOP", "0", "2", "{b}none", "{b}z", "MAX", "COUNT", "1"],
        &["BZMPOP", "1", "1", "{b}z", "min", "COUNT", "9"],
        &["BLMPOP", "0", "1", "{b}l", "RIGHT", "COUNT", "2"],
        &["BLMPOP", "0", "2", "{b}none", "{b}l", "LEFT"],
        // Wrong types, in key order.
        &["BZPOPMIN", "{b}s", "0.01"],
        &["BZPOPMIN", "{b}none", "{b}l", "0.01"],
        &["BZMPOP", "0.01", "2", "{b}none", "{b}s", "MIN"],
        &["BLMPOP", "0.01", "1", "{b}s", "LEFT"],
        // Bad arguments.
        &["BZPOPMIN", "{b}z", "x"],
        &["BZPOPMIN", "{b}z", "-1"],
        &["BZPOPMAX", "{b}z", "inf"],
        &["BZPOPMAX", "{b}z", "1e30"],
        &["BLPOP", "{b}none", "-inf"],
        &["BLMPOP", "x", "1", "{b}l", "LEFT"],
        &["BLMPOP", "-1", "1", "{b}l", "LEFT"],
        &["BLMPOP", "x", "0", "{b}l", "LEFT"],
        &["BLMPOP", "0", "0", "{b}l", "LEFT"],
        &["BLMPOP", "0", "x", "{b}l", "LEFT"],
        &["BLMPOP", "0", "5", "{b}l", "LEFT"],
        &["BLMPOP", "0", "1", "{b}l", "UP"],
        &["BLMPOP", "0", "1", "{b}l", "LEFT", "COUNT", "0"],
        &["BLMPOP", "0", "1", "{b}l", "LEFT", "COUNT"],
        &["BZMPOP", "0", "1", "{b}z", "MIN", "COUNT", "-1"],
        &["BZMPOP", "0", "1", "{b}z", "SIDEWAYS"],
        &["BZMPOP", "0", "1", "{b}z"],
        &["BZPOPMIN", "{b}z"],
        &["BLMPOP", "0", "1", "{b}l"],
    ];
    for w in steps {
        assert_eq!(ours.cmd(w), theirs.cmd(w), "{w:?}");
    }
    // RESP3: scores are doubles.
    for c in [&mut ours, &mut theirs] {
        c.cmd(&["HELLO", "3"]);
        c.cmd(&["ZADD", "{b}z3", "1.5", "m", "2", "n"]);
    }
    for w in [
        &["BZPOPMIN", "{b}z3", "0"][..],
        &["BZMPOP", "0", "1", "{b}z3", "MAX"],
    ] {
        assert_eq!(ours.cmd(w), theirs.cmd(w), "{w:?}");
    }
    let req = b"*3\r\n$8\r\nBZPOPMIN\r\n$6\r\n{b}nil\r\n$4\r\n0.01\r\n";
    assert_eq!(first_five_bytes(node.resp_addr(), req), *b"*-1\r\n");
    assert_eq!(first_five_bytes(raddr, req), *b"*-1\r\n");
    drop(redis);
}

#[test]
fn blocked_pops_wake_lose_nothing_and_take_nothing_when_gone() {
    let n = Node::start(2);
    let addr = n.resp_addr();
    let mut admin = Conn::connect(addr);
    // A client blocked on each core, woken by a write from the other.
    for core in [0, 1] {
        let mut waiter = conn_on_core(addr, core);
        let mut writer = conn_on_core(addr, 1 - core);
        waiter.send_raw(&Conn::encode(&[b"BZPOPMIN", b"{w}z", b"{w}y", b"0"]));
        wait_for_blocked(&mut admin, 1);
        assert_eq!(writer.cmd(&["ZADD", "{w}y", "2", "b", "1", "a"]), R::Int(2));
        assert_eq!(waiter.read(), R::arr(&["{w}y", "a", "1"]));
        waiter.send_raw(&Conn::encode(&[
            b"BZMPOP", b"0", b"1", b"{w}z", b"MAX", b"COUNT", b"3",
        ]));
        wait_for_blocked(&mut admin, 1);
        writer.cmd(&["ZADD", "{w}z", "5", "x", "6", "y"]);
        assert_eq!(
            waiter.read(),
            R::Array(vec![
                R::bulk("{w}z"),
                R::Array(vec![R::arr(&["y", "6"]), R::arr(&["x", "5"])])
            ])
        );
        waiter.send_raw(&Conn::encode(&[b"BLMPOP", b"0", b"1", b"{w}l", b"LEFT"]));
        wait_for_blocked(&mut admin, 1);
        writer.cmd(&["RPUSH", "{w}l", "first", "second"]);
        assert_eq!(
            waiter.read(),
            R::Array(vec![R::bulk("{w}l"), R::arr(&["first"])])
        );
        writer.cmd(&["DEL", "{w}y", "{w}l"]);
    }
    // Consumers on both cores and a producer: every member popped once.
    let consumers: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = conn_on_core(addr, i % 2);
                let mut got = Vec::new();
                loop {
                    let w: &[&str] = match i % 3 {
                        0 => &["BZPOPMIN", "{j}z", "1"],
                        1 => &["BZPOPMAX", "{j}z", "1"],
                        _ => &["BZMPOP", "1", "1", "{j}z", "MIN", "COUNT", "2"],
                    };
                    match c.cmd(w) {
                        R::Array(v) if v.len() == 3 => got.push(v[1].clone()),
                        R::Array(v) => match &v[1] {
                            R::Array(pairs) => got.extend(pairs.iter().map(|p| match p {
                                R::Array(ms) => ms[0].clone(),
                                other => panic!("{other:?}"),
                            })),
                            other => panic!("{other:?}"),
                        },
                        R::Nil => return got,
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    let mut producer = Conn::connect(addr);
    for i in 0..300 {
        let m = format!("m{i}");
        assert_eq!(
            producer.cmd(&["ZADD", "{j}z", &i.to_string(), &m]),
            R::Int(1)
        );
    }
    let mut all: Vec<String> = consumers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .map(|r| match r {
            R::Bulk(b) => String::from_utf8(b).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    all.sort_by_key(|s| s[1..].parse::<u32>().unwrap());
    let want: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    assert_eq!(all, want, "lost or duplicated members");
    assert_eq!(producer.cmd(&["ZCARD", "{j}z"]), R::Int(0));
    // A client that disconnects while blocked takes nothing.
    for core in [0, 1] {
        let mut gone = conn_on_core(addr, core);
        gone.send_raw(&Conn::encode(&[b"BZPOPMIN", b"{g}z", b"0"]));
        wait_for_blocked(&mut producer, 1);
        drop(gone);
        wait_for_blocked(&mut producer, 0);
        producer.cmd(&["ZADD", "{g}z", "1", "kept"]);
        assert_eq!(
            producer.cmd(&["ZRANGE", "{g}z", "0", "-1"]),
            R::arr(&["kept"]),
            "core {core}"
        );
        producer.cmd(&["DEL", "{g}z"]);
    }
}

/// The binary protocol's BLOCK opcode (the Rust client's `block`): the
/// same commands, a timeout's nil, and the errors.
#[test]
fn the_block_opcode_runs_the_same_commands() {
    let n = Node::start(2);
    let addr = n.addr();
    block_on(async move {
        let c = tessera::client::Client::connect(addr).await.unwrap();
        c.command(&[b"ZADD", b"bz", b"1", b"a", b"2", b"b"])
            .await
            .unwrap();
        assert_eq!(
            c.block(&[b"BZPOPMAX", b"bz", b"0"]).await.unwrap(),
            Value::Array(vec![
                Value::bytes("bz"),
                Value::bytes("b"),
                Value::Double(2.0)
            ])
        );
        assert_eq!(
            c.block(&[b"BLMPOP", b"0.01", b"1", b"nolist", b"LEFT"])
                .await
                .unwrap(),
            Value::Nil
        );
        let e = c.block(&[b"BZPOPMIN", b"bz", b"-1"]).await.unwrap_err();
        assert!(e.to_string().contains("timeout is negative"), "{e}");
        let e = c.block(&[b"ZPOPMIN", b"bz"]).await.unwrap_err();
        assert!(e.to_string().contains("not a command BLOCK runs"), "{e}");
        // Keys of several slots wait on each (below).
        assert_eq!(
            c.block(&[b"BZPOPMIN", b"a", b"b", b"0.01"]).await.unwrap(),
            Value::Nil
        );
    });
}

/// Blocking pops whose keys lie on both cores of a node (not in cluster
/// mode): woken by a write to a key of either core, and the pop (or the
/// move) is one commit across partitions. `a` and `d` are on core 1, `b`
/// and `c` on core 0 (two partitions).
#[test]
fn blocking_pops_wait_on_keys_of_several_cores() {
    let n = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let addr = n.resp_addr();
    let mut admin = Conn::connect(addr);
    let mut waiter = Conn::connect(addr);
    let mut writer = Conn::connect(addr);
    // Nothing there: the timeout, and one blocked client (not one per core).
    assert_eq!(waiter.cmd(&["BLPOP", "a", "b", "0.01"]), R::Nil);
    waiter.send_raw(&Conn::encode(&[b"BLPOP", b"a", b"b", b"0"]));
    wait_for_blocked(&mut admin, 1);
    assert_eq!(writer.cmd(&["RPUSH", "b", "x"]), R::Int(1));
    assert_eq!(waiter.read(), R::arr(&["b", "x"]));
    assert_eq!(admin.cmd(&["EXISTS", "b"]), R::Int(0));
    // BLMOVE from a key of one core to a key of the other.
    waiter.send_raw(&Conn::encode(&[
        b"BLMOVE", b"a", b"b", b"LEFT", b"RIGHT", b"0",
    ]));
    wait_for_blocked(&mut admin, 1);
    assert_eq!(writer.cmd(&["RPUSH", "a", "v1", "v2"]), R::Int(2));
    assert_eq!(waiter.read(), R::bulk("v1"));
    assert_eq!(admin.cmd(&["LRANGE", "a", "0", "-1"]), R::arr(&["v2"]));
    assert_eq!(admin.cmd(&["LRANGE", "b", "0", "-1"]), R::arr(&["v1"]));
    // BZPOPMIN over a key of each core, woken from the second one.
    waiter.send_raw(&Conn::encode(&[b"BZPOPMIN", b"c", b"d", b"0"]));
    wait_for_blocked(&mut admin, 1);
    assert_eq!(writer.cmd(&["ZADD", "d", "2", "m", "1", "n"]), R::Int(2));
    assert_eq!(waiter.read(), R::arr(&["d", "n", "1"]));
    // Something already there pops at once, from the first non-empty key.
    assert_eq!(
        waiter.cmd(&["BLMPOP", "0", "2", "c", "a", "LEFT", "COUNT", "5"]),
        R::Array(vec![R::bulk("a"), R::arr(&["v2"])])
    );
    // A client gone while blocked takes nothing, here or on the other core.
    let mut gone = Conn::connect(addr);
    gone.send_raw(&Conn::encode(&[b"BLPOP", b"c2", b"a", b"0"]));
    wait_for_blocked(&mut admin, 1);
    drop(gone);
    wait_for_blocked(&mut admin, 0);
    assert_eq!(writer.cmd(&["RPUSH", "a", "kept"]), R::Int(1));
    assert_eq!(admin.cmd(&["LRANGE", "a", "0", "-1"]), R::arr(&["kept"]));
}
