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
