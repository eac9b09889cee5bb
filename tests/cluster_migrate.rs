//! Moving slots between shards with real processes on loopback
//! (docs/cluster.md, "Moving slots"): `tessera cluster migrate-slots` under
//! a redis-py RedisCluster load, collections and TTLs moved intact, the
//! source's copy cleaned up, the target's replica holding the slots.
//!
//! Four `--cluster` nodes (two shards of a primary and a replica), each on
//! its own loopback address.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::cluster::*;
use common::resp::{Conn, R};

fn int(r: R) -> i64 {
    match r {
        R::Int(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// A hashtag whose slot lies in `range`, from CLUSTER KEYSLOT.
fn tag_in(c: &mut Conn, range: std::ops::Range<i64>, skip: usize) -> (String, i64) {
    (0..)
        .map(|i| format!("{{t{i}}}"))
        .filter_map(|t| {
            let slot = int(c.cmd(&["CLUSTER", "KEYSLOT", &t]));
            range.contains(&slot).then_some((t, slot))
        })
        .nth(skip)
        .unwrap()
}

fn info_field(c: &mut Conn, field: &str) -> i64 {
    let R::Bulk(b) = c.cmd(&["INFO"]) else {
        panic!("INFO is not a bulk string")
    };
    String::from_utf8_lossy(&b)
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .parse()
        .unwrap()
}

/// Members of the hash `fill` writes.
const HASH_FIELDS: usize = 100_000;

/// Writes collections and TTL keys under `tag` through `c` (their owner).
fn fill(c: &mut Conn, tag: &str) {
    for chunk in 0..HASH_FIELDS / 200 {
        let mut args = vec!["HSET".to_string(), format!("{tag}hash")];
        for f in chunk * 200..(chunk + 1) * 200 {
            args.extend([format!("f{f}"), format!("v{f}")]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(int(c.cmd(&a)), 200);
    }
    let mut z = vec!["ZADD".to_string(), format!("{tag}zset")];
    let mut l = vec!["RPUSH".to_string(), format!("{tag}list")];
    let mut s = vec!["SADD".to_string(), format!("{tag}set")];
    for i in 0..1000 {
        z.extend([i.to_string(), format!("m{i}")]);
        l.push(format!("e{i}"));
        s.push(format!("s{i}"));
    }
    for cmd in [&z, &l, &s] {
        let a: Vec<&str> = cmd.iter().map(String::as_str).collect();
        assert_eq!(int(c.cmd(&a)), 1000);
    }
    let long = format!("{tag}long");
    let short = format!("{tag}short");
    assert_eq!(c.cmd(&["SET", &long, "kept", "EX", "1000"]), R::ok());
    assert_eq!(c.cmd(&["SET", &short, "gone", "PX", "4000"]), R::ok());
}

/// Checks what `fill` wrote, through `c` (the slot's owner now).
fn check(c: &mut Conn, tag: &str) {
    let k = |s: &str| format!("{tag}{s}");
    assert_eq!(int(c.cmd(&["HLEN", &k("hash")])), HASH_FIELDS as i64);
    assert_eq!(c.cmd(&["HGET", &k("hash"), "f12345"]), R::bulk("v12345"));
    assert_eq!(int(c.cmd(&["ZCARD", &k("zset")])), 1000);
    assert_eq!(
        c.cmd(&["ZRANGE", &k("zset"), "998", "-1", "WITHSCORES"]),
        R::arr(&["m998", "998", "m999", "999"])
    );
    assert_eq!(int(c.cmd(&["LLEN", &k("list")])), 1000);
    assert_eq!(c.cmd(&["LINDEX", &k("list"), "-1"]), R::bulk("e999"));
    assert_eq!(c.cmd(&["LPOP", &k("list")]), R::bulk("e0"));
    assert_eq!(int(c.cmd(&["SCARD", &k("set")])), 1000);
    assert_eq!(int(c.cmd(&["SISMEMBER", &k("set"), "s500"])), 1);
    let ttl = int(c.cmd(&["TTL", &k("long")]));
    assert!((900..=1000).contains(&ttl), "TTL {ttl}");
    // The short TTL still fires after the move.
    common::wait_until("a moved key's TTL fires", Duration::from_secs(20), || {
        int(c.cmd(&["EXISTS", &k("short")])) == 0
    });
}

fn migrate(addr: SocketAddr, slots: &str, to: &str) -> String {
    let a = addr.to_string();
    let (ok, out, err) = cluster_cmd(&["migrate-slots", slots, "--to", to, "--addr", &a]);
    assert!(ok, "migrate-slots {slots} --to {to} failed: {out}{err}");
    assert!(out.contains("done"), "{out}");
    out
}

#[test]
fn slots_move_between_shards_under_a_redis_py_load() {
    let root = tempfile::tempdir().unwrap();
    let nodes: Vec<ClusterNode> = (0..4)
        .map(|i| {
            let ip = format!("127.0.0.{}", 41 + i);
            let any = format!("{ip}:0");
            start_node_http(
                &root.path().join(format!("n{i}")),
                &ip,
                &any,
                &any,
                &any,
                &[],
            )
        })
        .collect();
    let mut args = vec!["create".to_string(), "--replicas".into(), "1".into()];
    args.extend(nodes.iter().map(|n| n.binary.to_string()));
    let (ok, out, err) = cluster_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "create failed: {err}");
    // Shard 0: node 0 (slots 0-8191) and its replica node 2; shard 1: node 1
    // (8192-16383) and node 3.
    assert!(out.contains("shard 0 slots 0-8191"), "{out}");
    let a0 = nodes[0].binary;

    // Bad input, refused before anything moves.
    for (slots, to, why) in [
        ("0-10", "7", "no shard 7"),
        ("16384", "1", "not a slot"),
        ("20-10", "1", "ends before it starts"),
        ("0-10", "nobody", "neither a shard number"),
    ] {
        let a = a0.to_string();
        let (ok, _, err) = cluster_cmd(&["migrate-slots", slots, "--to", to, "--addr", &a]);
        assert!(!ok && err.contains(why), "{slots} --to {to}: {err}");
    }
    let a = a0.to_string();
    let (ok, out, _) = cluster_cmd(&["migrate-slots", "9000-9010", "--to", "1", "--addr", &a]);
    assert!(ok && out.contains("11 slot(s) already on shard 1"), "{out}");

    // Collections and TTLs in slots that move twice (0-99) and once.
    let mut c0 = Conn::connect(nodes[0].resp);
    let (twice, twice_slot) = tag_in(&mut c0, 0..100, 0);
    let (once, once_slot) = tag_in(&mut c0, 100..4096, 0);
    fill(&mut c0, &twice);
    fill(&mut c0, &once);
    let version_key = format!("{once}v");
    let (ok, before) = cli_on(a0, &["set", &version_key, "x"]);
    assert!(ok, "{before}");
    let before: u64 = before.trim().parse().expect("SET prints the version");

    // A redis-py load over every slot while the slots move.
    let load = Load::start("migrate_load.py", nodes[3].resp, root.path());
    common::wait_until("the load is acknowledged", Duration::from_secs(30), || {
        load.acked() >= 400
    });

    // A client blocked on a key of a slot that moves.
    let mut blocked = Conn::connect(nodes[0].resp);
    let blk = format!("{once}blk");
    blocked.send_raw(&Conn::encode(&[b"BLPOP", blk.as_bytes(), b"0"]));

    // Half of shard 0's slots go to shard 1 (named by a node's id), under the load.
    let R::Bulk(id1) = Conn::connect(nodes[1].resp).cmd(&["CLUSTER", "MYID"]) else {
        panic!("no MYID")
    };
    let out = migrate(a0, "0-4095", &String::from_utf8_lossy(&id1));
    assert!(
        out.contains("4096 slot(s) from shard 0 to shard 1"),
        "{out}"
    );
    let n = load.acked();
    common::wait_until("the load goes on", Duration::from_secs(30), || {
        load.acked() >= n + 200
    });
    assert_eq!(
        blocked.read(),
        R::Err(format!("MOVED {once_slot} {}", nodes[1].resp)),
        "a pop blocked on a moved slot is redirected"
    );
    // And a hundred of them come back, through another node.
    migrate(nodes[2].binary, "0-99", "0");
    let n = load.acked();
    common::wait_until("the load goes on", Duration::from_secs(30), || {
        load.acked() >= n + 200
    });

    let said = load.finish();
    assert_eq!(
        said.trim(),
        "exceptions 0",
        "the client saw errors during the migrations"
    );
    for n in &nodes[..2] {
        let mut c = Conn::connect(n.resp);
        println!(
            "{}: fence last {} ms, max {} ms, tryagain {}",
            n.binary,
            info_field(&mut c, "cluster_migrate_fence_last_ms"),
            info_field(&mut c, "cluster_migrate_fence_max_ms"),
            info_field(&mut c, "core0_tryagain"),
        );
    }

    // The map: 100-4095 on shard 1's primary, the rest where it was.
    let mut c1 = Conn::connect(nodes[1].resp);
    assert_eq!(primary_of(&mut c1, 50), Some(nodes[0].resp));
    assert_eq!(primary_of(&mut c1, 100), Some(nodes[1].resp));
    assert_eq!(primary_of(&mut c1, 4095), Some(nodes[1].resp));
    assert_eq!(primary_of(&mut c1, 4096), Some(nodes[0].resp));
    assert_eq!(slot_ranges(&mut c1).len(), 4);
    let (ok, status, _) = cluster_cmd(&["status", "--addr", &a]);
    assert!(ok && !status.contains("migration "), "{status}");

    // Everything moved intact; the source's copies are gone.
    check(&mut c1, &once);
    let mut back = Conn::connect(nodes[0].resp);
    check(&mut back, &twice);
    let count =
        |c: &mut Conn, slot: i64| int(c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]));
    assert_eq!(count(&mut back, once_slot), 0, "the source cleaned up");
    assert!(count(&mut c1, once_slot) >= 5);
    assert_eq!(
        count(&mut c1, twice_slot),
        0,
        "cleaned up after moving back"
    );
    // The target's replica has the slots it took.
    let mut r1 = Conn::connect(nodes[3].resp);
    assert_eq!(r1.cmd(&["READONLY"]), R::ok());
    assert_eq!(
        int(r1.cmd(&["HLEN", &format!("{once}hash")])),
        HASH_FIELDS as i64
    );
    // The target's clock runs past the versions it received.
    let (ok, after) = cli_on(nodes[1].binary, &["set", &version_key, "y"]);
    assert!(ok, "{after}");
    assert!(after.trim().parse::<u64>().unwrap() > before);
    // Counted: keys moved in, one fence each way.
    assert!(info_field(&mut c1, "cluster_migrate_keys_in") >= HASH_FIELDS as i64);
    assert_eq!(info_field(&mut c1, "cluster_migrate_fences"), 1);
    assert_eq!(info_field(&mut back, "cluster_migrate_fences"), 1);
    assert_eq!(info_field(&mut c1, "cluster_migrations_in_progress"), 0);
    // The fence histogram in /metrics (the target of the first migration).
    let http = nodes[1].http.expect("HTTP is on");
    let mut h = std::net::TcpStream::connect(http).unwrap();
    use std::io::{Read, Write};
    h.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    h.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("tessera_cluster_migrate_fence_seconds_count{node=\"local\"} 1"),
        "{text}"
    );
    // Slots 0-4095 changed node, never writable on two at once.
    let logs: Vec<_> = nodes.iter().map(|n| log_of(&n.dir)).collect();
    assert_eq!(no_slot_writable_on_two_nodes(&logs), 4096);
}

/// The hand-over, held open by a fail point on the target: the source
/// sends Redis clients to the target with ASK, the target serves them only
/// after ASKING, and what they wrote there survives the flip.
#[test]
fn the_hand_over_redirects_with_ask() {
    let root = tempfile::tempdir().unwrap();
    let start = |i: usize, env: &[(&str, &str)]| start_nth(root.path(), i, 51 + i, env);
    let src = start(0, &[]);
    let dst = start(
        1,
        &[(
            "TESSERA_FAILPOINTS",
            "cluster.migrate-handover=1*return(4000)",
        )],
    );
    let (a, b) = (src.binary.to_string(), dst.binary.to_string());
    let (ok, _, err) = cluster_cmd(&["create", &a, &b]);
    assert!(ok, "create failed: {err}");
    let mut s = Conn::connect(src.resp);
    let (tag, slot) = tag_in(&mut s, 0..11, 0);
    let (old, new) = (format!("{tag}old"), format!("{tag}new"));
    assert_eq!(s.cmd(&["SET", &old, "v1"]), R::ok());

    let mut cli = cluster_cmd_bg(&["migrate-slots", "0-10", "--to", "1", "--addr", &a]);
    common::wait_until("the hand-over", Duration::from_secs(30), || {
        cluster_cmd(&["status", "--addr", &a])
            .1
            .contains("stage handover")
    });
    let ask = format!("ASK {slot} {}", dst.resp);
    for cmd in [["SET", new.as_str(), "v2"], ["GET", old.as_str(), ""]] {
        let words: Vec<&str> = cmd.iter().copied().filter(|w| !w.is_empty()).collect();
        assert_eq!(
            s.cmd(&words),
            R::Err(ask.clone()),
            "{words:?} on the source"
        );
    }
    let mut t = Conn::connect(dst.resp);
    assert_eq!(t.cmd(&["SET", &new, "v2"]).err_word(), Some("TRYAGAIN"));
    assert_eq!(t.cmd(&["ASKING"]), R::ok());
    assert_eq!(t.cmd(&["SET", &new, "v2"]), R::ok());
    assert_eq!(t.cmd(&["ASKING"]), R::ok());
    assert_eq!(t.cmd(&["GET", &old]), R::bulk("v1"));
    // ASKING lasts one command.
    assert_eq!(t.cmd(&["GET", &old]).err_word(), Some("TRYAGAIN"));
    assert!(info_field(&mut s, "core0_ask") >= 2);
    // `status` shows the migration's progress, from the target.
    let (ok, st, _) = cluster_cmd(&["status", "--addr", &a]);
    assert!(
        ok && st.contains("stage handover") && st.contains("MiB moved in"),
        "{st}"
    );

    let out = cli.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("done"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(t.cmd(&["GET", &new]), R::bulk("v2"));
    assert_eq!(t.cmd(&["GET", &old]), R::bulk("v1"));
    assert_eq!(s.cmd(&["GET", &old]).err_word(), Some("MOVED"));
    assert_eq!(
        int(s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])),
        0
    );
}
