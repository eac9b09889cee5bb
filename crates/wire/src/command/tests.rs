//! Round trips and refusals of the request codec.

use super::*;

fn round_trip(req: Request<'_>) {
    let mut out = Vec::new();
    req.encode(42, &mut out);
    let info = frame::check(&out, 1 << 20).unwrap().unwrap();
    assert_eq!(info.id, 42);
    let back = Request::decode(info.kind, info.flags, info.body(&out)).unwrap();
    assert_eq!(back, req);
}

#[test]
fn every_request_round_trips() {
    round_trip(Request::Ping(b"hi"));
    round_trip(Request::Hello { version: 1 });
    round_trip(Request::Get { key: b"k" });
    round_trip(Request::Set {
        key: b"k",
        value: b"\x00\xff",
        args: SetArgs {
            nx: true,
            ttl_ms: Some(5),
            expected_version: Some(9),
            ..Default::default()
        },
    });
    round_trip(Request::Del {
        keys: vec![b"a", b"b"],
    });
    round_trip(Request::Exists { keys: vec![b"a"] });
    round_trip(Request::MGet {
        keys: vec![b"a", b""],
    });
    round_trip(Request::MSet {
        pairs: vec![(b"a", b"1"), (b"b", b"2")],
    });
    round_trip(Request::IncrBy {
        key: b"n",
        delta: -5,
    });
    round_trip(Request::Expire {
        key: b"n",
        ttl_ms: 10,
    });
    round_trip(Request::Persist { key: b"n" });
    round_trip(Request::Ttl { key: b"n" });
    round_trip(Request::Scan {
        cursor: 1 << 50,
        count: 10,
        prefix: b"user:",
    });
    round_trip(Request::DbSize);
    round_trip(Request::Info);
    round_trip(Request::Metrics);
    round_trip(Request::FlushAll);
    round_trip(Request::Pull {
        partition: 3,
        term: 2,
        epoch_node: 5,
        index: 77,
        max_bytes: 1 << 20,
        node: 9,
        known_term: 2,
        addr: b"127.0.0.1:7000",
    });
    round_trip(Request::Sync {
        partition: 1,
        session: 4,
        cf: 255,
        after: b"",
        max_bytes: 1 << 20,
    });
    round_trip(Request::Role {
        action: 2,
        arg: b"force",
    });
    round_trip(Request::Cluster {
        action: 1,
        body: b"{\"v\":1}",
    });
    round_trip(Request::Backup { dir: b"/srv/b/1" });
    round_trip(Request::Command(NamedCommand::new(vec![
        b"HSET", b"h", b"f", b"v",
    ])));
    round_trip(Request::Command(NamedCommand {
        expected_version: Some(7),
        args: vec![b"HDEL", b"h", b"f"],
        keep_going: false,
    }));
    round_trip(Request::Publish {
        channel: b"news",
        message: b"hi",
    });
    round_trip(Request::PubSub {
        kind: 1,
        args: vec![b"a", b"b"],
    });
    round_trip(Request::PubSub {
        kind: 2,
        args: vec![],
    });
    round_trip(Request::SlowLog {
        action: 0,
        count: 10,
    });
    round_trip(Request::Clients {
        kill: true,
        filter: vec![b"id", b"7", b"skipme", b"3"],
    });
    round_trip(Request::Clients {
        kill: false,
        filter: vec![],
    });
    round_trip(Request::BlockingPop {
        timeout_ms: 1500,
        left: true,
        keys: vec![b"{q}a", b"{q}b"],
        dest: Some((b"{q}c", false)),
    });
    round_trip(Request::Batch(vec![
        NamedCommand::new(vec![b"SET", b"{a}1", b"x"]),
        NamedCommand {
            expected_version: Some(0),
            args: vec![b"SADD", b"{a}2", b"m"],
            keep_going: false,
        },
        NamedCommand::new(vec![b"INCR", b"{a}3"]).keep_going(),
        NamedCommand {
            expected_version: Some(9),
            args: vec![b"DEL", b"{a}4"],
            keep_going: true,
        },
    ]));
}

#[test]
fn bad_bodies_are_errors() {
    // Unknown opcode.
    assert!(matches!(
        Request::decode(0xEE, 0, b""),
        Err(Error::UnknownOpcode(0xEE))
    ));
    // Truncated key.
    assert!(Request::decode(Opcode::Get as u8, 0, &[0, 0, 0, 5, b'a']).is_err());
    // Extra bytes.
    assert!(Request::decode(Opcode::Get as u8, 0, &[0, 0, 0, 1, b'a', 0]).is_err());
    // Forged count.
    assert!(Request::decode(Opcode::Del as u8, 0, &[0xff, 0xff, 0xff, 0xff]).is_err());
    // Zero keys.
    assert!(Request::decode(Opcode::Del as u8, 0, &[0, 0, 0, 0]).is_err());
    // Flags on a command without flags; NX and XX together.
    assert!(Request::decode(Opcode::Get as u8, 1, &[0, 0, 0, 1, b'a']).is_err());
    let mut body = Vec::new();
    put_bytes(&mut body, b"k");
    put_bytes(&mut body, b"v");
    assert!(Request::decode(Opcode::Set as u8, set_flags::NX | set_flags::XX, &body).is_err());
}

#[test]
fn db_requests_round_trip_and_refuse_what_they_cannot_wrap() {
    round_trip(
        Request::Set {
            key: b"k",
            value: b"v",
            args: SetArgs {
                xx: true,
                ttl_ms: Some(7),
                ..Default::default()
            },
        }
        .in_db(3),
    );
    round_trip(
        Request::MGet {
            keys: vec![b"a", b"b"],
        }
        .in_db(4095),
    );
    round_trip(Request::FlushDb.in_db(1));
    round_trip(Request::SwapDb { a: 0, b: 2 });
    // Database 0 and requests about no database's keys stay unwrapped.
    assert_eq!(Request::Info.in_db(5), Request::Info);
    assert_eq!(
        Request::Get { key: b"k" }.in_db(0),
        Request::Get { key: b"k" }
    );
    // Refused: DB 0, a wrapped PING, a DB inside a DB (before it is
    // decoded, so nesting cannot recurse), a truncated header.
    let db = |d: u16, op: u8, rest: &[u8]| {
        let mut b = d.to_be_bytes().to_vec();
        b.extend_from_slice(&[op, 0]);
        b.extend_from_slice(rest);
        b
    };
    let get = [0, 0, 0, 1, b'k'];
    assert!(Request::decode(Opcode::Db as u8, 0, &db(0, Opcode::Get as u8, &get)).is_err());
    assert!(Request::decode(Opcode::Db as u8, 0, &db(2, Opcode::Ping as u8, b"")).is_err());
    let mut nested: Vec<u8> = (0..100_000)
        .flat_map(|_| db(2, Opcode::Db as u8, b""))
        .collect();
    nested.extend(db(2, Opcode::Get as u8, &get));
    assert!(Request::decode(Opcode::Db as u8, 0, &nested).is_err());
    assert!(Request::decode(Opcode::Db as u8, 0, &[0, 2, Opcode::Get as u8]).is_err());
    assert_eq!(
        Request::decode(Opcode::Db as u8, 0, &db(2, Opcode::Get as u8, &get)).unwrap(),
        Request::Get { key: b"k" }.in_db(2)
    );
}
