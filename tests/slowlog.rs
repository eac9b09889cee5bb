//! SLOWLOG (docs/redis-compat.md) on the real binary with two cores: with
//! `slowlog-log-slower-than 0` every request is recorded on the core it
//! ran on, and SLOWLOG GET/LEN/RESET see every core's, newest first, cut
//! to `slowlog-max-len`; redis-py parses the entries; errors and HELP
//! answer as redis-server 7.0 does. No assertion depends on timing: a
//! threshold of 0 records everything, a negative one nothing.

mod common;

use common::resp::{admin_only, same_as_redis, Conn, R};
use common::Proc;

fn int(r: R) -> i64 {
    match r {
        R::Int(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// The arguments of each entry of a SLOWLOG GET reply, newest first, with
/// the entries' ids.
fn entries(r: R) -> Vec<(i64, Vec<String>)> {
    let R::Array(es) = r else {
        panic!("not an array: {r:?}")
    };
    es.into_iter()
        .map(|e| {
            let R::Array(f) = e else { panic!("{e:?}") };
            assert_eq!(f.len(), 6, "{f:?}");
            let R::Int(id) = f[0] else { panic!("{f:?}") };
            let R::Array(args) = &f[3] else {
                panic!("{f:?}")
            };
            let args = args
                .iter()
                .map(|a| match a {
                    R::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("{other:?}"),
                })
                .collect();
            (id, args)
        })
        .collect()
}

#[test]
fn every_cores_slow_requests_are_listed_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &[
            "--cores",
            "2",
            "--slowlog-log-slower-than",
            "0",
            "--slowlog-max-len",
            "5",
        ],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let mut c = Conn::connect(resp);
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), R::ok());
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 0);
    // Keys on both cores (the node has two), then one long argument list.
    for i in 0..4 {
        assert_eq!(c.cmd(&["SET", &format!("key{i}"), "v"]), R::ok());
    }
    let long = "x".repeat(300);
    let mut rpush = vec!["RPUSH", "list", long.as_str()];
    let many: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    rpush.extend(many.iter().map(String::as_str));
    assert_eq!(int(c.cmd(&rpush)), 41);
    // Five requests ran; LEN counts them all, but never past max-len.
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 5);
    let got = entries(c.cmd(&["SLOWLOG", "GET", "2"]));
    assert_eq!(got.len(), 2);
    assert!(got[0].0 > got[1].0, "{got:?}");
    // The newest: RPUSH, cut as Redis cuts it.
    let args = &got[0].1;
    assert_eq!(args.len(), 32);
    assert_eq!(&args[..2], ["RPUSH", "list"]);
    assert_eq!(args[2], format!("{}... (172 more bytes)", "x".repeat(128)));
    assert_eq!(args[31], "... (12 more arguments)");
    assert_eq!(got[1].1, ["SET", "key3", "v"]);
    // -1: all of them (max-len), from both cores.
    let all = entries(c.cmd(&["SLOWLOG", "GET", "-1"]));
    assert_eq!(all.len(), 5);
    let sets: Vec<&str> = all
        .iter()
        .filter_map(|e| e.1.get(1).map(String::as_str))
        .collect();
    for k in ["key0", "key1", "key2", "key3"] {
        assert!(sets.contains(&k), "{sets:?}");
    }
    assert!(all.windows(2).all(|w| w[0].0 > w[1].0), "{all:?}");

    // redis-py reads the entries.
    common::python::assert_prints_ok(&format!(
        "import redis\nr = redis.Redis(port={})\nr.get('key1')\nlog = r.slowlog_get(1)\nassert log[0]['command'] == b'GET key1', log\nassert r.slowlog_len() == 5\nassert r.slowlog_reset()\nprint('ok')\n",
        resp.port()
    ));
    // SLOWLOG itself is not recorded, nor a blocked pop's wait.
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 0);
    assert_eq!(c.cmd(&["BLPOP", "empty", "0.1"]), R::Nil);
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 0);
}

#[test]
fn a_negative_threshold_records_nothing_and_errors_match_redis_server() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &["--cores", "2", "--slowlog-log-slower-than", "-1"],
    )
    .unwrap();
    let mut t = Conn::connect(p.resp.unwrap());
    for i in 0..10 {
        assert_eq!(t.cmd(&["SET", &format!("k{i}"), "v"]), R::ok());
    }
    assert_eq!(int(t.cmd(&["SLOWLOG", "LEN"])), 0);
    assert_eq!(t.cmd(&["SLOWLOG", "GET"]), R::Array(vec![]));

    let (_redis, raddr) = common::redis_server::redis_server();
    let mut r = Conn::connect(raddr);
    same_as_redis(
        &mut t,
        &mut r,
        &[
            "SLOWLOG",
            "SLOWLOG GET x",
            "SLOWLOG GET -2",
            "SLOWLOG GET 1 2",
            "SLOWLOG LEN 1",
            "SLOWLOG FOO",
            "SLOWLOG RESET",
        ],
    );
    // Only an admin may read or reset it.
    admin_only(
        &mut t,
        p.resp.unwrap(),
        &[
            &["SLOWLOG", "GET"],
            &["SLOWLOG", "LEN"],
            &["SLOWLOG", "RESET"],
        ],
    );
}

/// CONFIG SET changes the slow log's settings and `maxclients` on every core
/// of a running node, CONFIG GET shows the values in force, and CONFIG's
/// errors match redis-server 7.0's to the letter.
#[test]
fn config_set_changes_settings_at_run_time_on_every_core() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &["--cores", "2", "--slowlog-log-slower-than", "-1"],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let mut c = Conn::connect(resp);
    let pair = |k: &str, v: &str| R::Array(vec![R::bulk(k), R::bulk(v)]);
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "slowlog-log-slower-than"]),
        pair("slowlog-log-slower-than", "-1")
    );
    let set_keys = |c: &mut Conn| {
        for i in 0..4 {
            assert_eq!(c.cmd(&["SET", &format!("key{i}"), "v"]), R::ok());
        }
    };
    set_keys(&mut c);
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 0);
    // Every request is recorded now, on both cores.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        R::ok()
    );
    set_keys(&mut c);
    let all = entries(c.cmd(&["SLOWLOG", "GET", "-1"]));
    let keys: Vec<&str> = all.iter().map(|e| e.1[1].as_str()).collect();
    assert_eq!(keys, ["key3", "key2", "key1", "key0"]);
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "2"]), R::ok());
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 2);
    // Several at once; then nothing is recorded again.
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "slowlog-log-slower-than",
            "-1",
            "slowlog-max-len",
            "128"
        ]),
        R::ok()
    );
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), R::ok());
    set_keys(&mut c);
    assert_eq!(int(c.cmd(&["SLOWLOG", "LEN"])), 0);
    // maxclients: a second connection is refused while it is 1.
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "1"]), R::ok());
    let refused = Conn::connect(resp).cmd(&["PING"]);
    assert_eq!(refused, R::Err("ERR max number of clients reached".into()));
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "100"]), R::ok());
    assert_eq!(Conn::connect(resp).cmd(&["PING"]), R::Simple("PONG".into()));
    // The log filter, checked before it applies.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "log-level", "debug,tessera=trace"]),
        R::ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "log-level"]),
        pair("log-level", "debug,tessera=trace")
    );
    let bad = c.cmd(&["CONFIG", "SET", "log-level", "tessera=loud"]);
    assert!(
        matches!(&bad, R::Err(e) if e.starts_with("ERR CONFIG SET failed (possibly related to argument 'log-level') - ")),
        "{bad:?}"
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "log-level", "info"]), R::ok());
    // The read cache: off empties every partition's within a heartbeat,
    // and reads then keep nothing; on again, reads fill it. (Polled, a
    // bounded number of times: each core applies it with its heartbeat.)
    let cached = |c: &mut Conn| -> u64 {
        let R::Bulk(info) = c.cmd(&["INFO"]) else {
            panic!()
        };
        String::from_utf8_lossy(&info)
            .lines()
            .filter(|l| l.starts_with("partition") && l.contains("_read_cache_keys:"))
            .map(|l| l.rsplit(':').next().unwrap().trim().parse::<u64>().unwrap())
            .sum()
    };
    let settle = |c: &mut Conn, want_zero: bool| {
        for _ in 0..200 {
            // Absent keys: their absence is read from RocksDB and cached
            // (the keys written above are still in the overlay).
            for i in 0..8 {
                assert_eq!(c.cmd(&["GET", &format!("absent{i}")]), R::Nil);
            }
            if (cached(c) == 0) == want_zero {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the read cache did not follow CONFIG SET (want empty: {want_zero})");
    };
    settle(&mut c, false);
    assert_eq!(c.cmd(&["CONFIG", "SET", "read-cache-bytes", "0"]), R::ok());
    settle(&mut c, true);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "read-cache-bytes", "1048576"]),
        R::ok()
    );
    settle(&mut c, false);
    // What is fixed at start says what is in force.
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "durability"]),
        pair("durability", "wal")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "APPENDFSYNC"]),
        pair("appendfsync", "everysec")
    );
    let R::Array(slow) = c.cmd(&["CONFIG", "GET", "slowlog*"]) else {
        panic!()
    };
    assert_eq!(slow.len(), 4, "{slow:?}");

    let (_redis, raddr) = common::redis_server::redis_server();
    let mut r = Conn::connect(raddr);
    same_as_redis(
        &mut c,
        &mut r,
        &[
            "CONFIG SET",
            "CONFIG SET timeout",
            "CONFIG GET",
            "CONFIG SET nosuch 1",
            "CONFIG SET timeout abc",
            "CONFIG SET timeout -1",
            "CONFIG SET timeout 1x",
            "CONFIG SET maxclients 0",
            "CONFIG SET slowlog-max-len -1",
            "CONFIG SET slowlog-log-slower-than -2",
            "CONFIG SET databases 4",
            "CONFIG SET databases 4 timeout x",
            "CONFIG SET timeout x nosuch 1",
            "CONFIG SET timeout 1 TIMEOUT 2",
            "CONFIG SET timeout 5 slowlog-max-len",
            "CONFIG SET Timeout 7",
            "CONFIG GET timeout",
            "CONFIG GET nosuch",
            "CONFIG SET timeout 0",
            "CONFIG GET maxmemory-policy",
        ],
    );
    admin_only(
        &mut c,
        resp,
        &[
            &["CONFIG", "GET", "timeout"],
            &["CONFIG", "SET", "timeout", "0"],
        ],
    );
}
