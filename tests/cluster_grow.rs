//! Growing, shrinking and replacing nodes under a redis-py load
//! (docs/cluster.md, "Adding and removing nodes"): `tessera cluster
//! add-node`, `rebalance`, `remove-node` and `replace-node` with real
//! processes on loopback, every acknowledged write checked afterwards.
//!
//! One fixture: three primaries grow to five and shrink back to three, then
//! shard 0's primary, given a replica, is replaced. Each node has its own
//! loopback address.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use common::cluster::*;
use common::resp::{Conn, R};

/// The RESP addresses of the primaries CLUSTER SLOTS lists.
fn owners(c: &mut Conn) -> BTreeSet<SocketAddr> {
    let R::Array(entries) = c.cmd(&["CLUSTER", "SLOTS"]) else {
        panic!("CLUSTER SLOTS is not an array")
    };
    entries
        .into_iter()
        .filter_map(|e| {
            let R::Array(items) = e else { return None };
            let R::Array(p) = &items[2] else { return None };
            let (R::Bulk(ip), R::Int(port)) = (&p[0], &p[1]) else {
                return None;
            };
            format!("{}:{port}", String::from_utf8_lossy(ip))
                .parse()
                .ok()
        })
        .collect()
}

fn run(args: &[&str]) -> String {
    let (ok, out, err) = cluster_cmd(args);
    assert!(ok, "tessera cluster {args:?} failed:\n{out}{err}");
    out
}

#[test]
fn nodes_are_added_removed_and_replaced_under_a_redis_py_load() {
    let root = tempfile::tempdir().unwrap();
    // The first three (one of them leads the controller) pause once in
    // the middle of a membership change.
    let pause = [(
        "TESSERA_FAILPOINTS",
        "cluster.membership-change=1*return(3000)",
    )];
    let nodes: Vec<ClusterNode> = (0..8)
        .map(|i| {
            let env: &[(&str, &str)] = if i < 3 { &pause } else { &[] };
            start_nth(root.path(), i, 71 + i, env)
        })
        .collect();
    let addr = |i: usize| nodes[i].binary.to_string();
    let a1 = addr(1);
    run(&["create", &addr(0), &addr(1), &addr(2)]);

    // Bad input first.
    let (ok, _, err) = cluster_cmd(&["add-node", &addr(0), "--addr", &a1]);
    assert!(ok, "adding a member again is a no-op: {err}");
    let (ok, _, err) = cluster_cmd(&["remove-node", "127.0.0.1:1", "--addr", &a1]);
    assert!(!ok && err.contains("not a node of this cluster"), "{err}");
    let (ok, _, err) = cluster_cmd(&["rebalance", "--threshold", "150", "--addr", &a1]);
    assert!(!ok && err.contains("percentage"), "{err}");

    // Through shard 1's primary, which stays throughout.
    let load = Load::start("migrate_load.py", nodes[1].resp, root.path());
    let progress = |what: &str| {
        let n = load.acked();
        common::wait_until(what, Duration::from_secs(60), || load.acked() >= n + 200);
    };
    progress("the load is acknowledged");

    // Grow: two empty primaries, then their share. Membership changes run
    // one at a time: while the first is paused on the leader, a second is
    // refused.
    let mut first = cluster_cmd_bg(&["add-node", &addr(3), "--addr", &a1]);
    common::wait_until(
        "the leader pauses the change",
        Duration::from_secs(30),
        || {
            nodes[..3].iter().any(|n| {
                std::fs::read_to_string(log_of(&n.dir))
                    .unwrap_or_default()
                    .contains("fail point cluster.membership-change: pausing")
            })
        },
    );
    let (ok, _, err) = cluster_cmd(&["add-node", &addr(4), "--addr", &a1]);
    assert!(!ok && err.contains("one at a time"), "{err}");
    let done = first.0.take().unwrap().wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(out.contains("as the primary of shard 3"), "{out}");
    run(&["add-node", &addr(4), "--addr", &a1]);
    let mut watch = Conn::connect(nodes[1].resp);
    assert_eq!(
        owners(&mut watch).len(),
        3,
        "no slots yet for the new primaries"
    );
    let out = run(&["rebalance", "--addr", &a1]);
    assert!(out.contains("migration(s) planned"), "{out}");
    progress("the load goes on after growing");
    let five = owners(&mut watch);
    assert_eq!(five.len(), 5, "{five:?}");
    // Run again, it is safe (the load moves the balance a little).
    run(&["rebalance", "--threshold", "20", "--addr", &a1]);
    assert_eq!(owners(&mut watch).len(), 5);

    // Shrink: the two leave again, their slots going to the others.
    for i in [3, 4] {
        let out = run(&["remove-node", &addr(i), "--addr", &a1]);
        assert!(out.contains("removed"), "{out}");
    }
    progress("the load goes on after shrinking");
    let three = owners(&mut watch);
    assert_eq!(
        three,
        [0, 1, 2].iter().map(|&i| nodes[i].resp).collect(),
        "back to the first three primaries"
    );
    // A removed node still redirects.
    let mut gone = Conn::connect(nodes[3].resp);
    assert_eq!(gone.cmd(&["SET", "{a}x", "1"]).err_word(), Some("MOVED"));

    // Replace shard 0's primary (given a replica first) with a new node.
    let out = run(&["add-node", &addr(5), "--replica-of", "0", "--addr", &a1]);
    assert!(out.contains("as a replica in shard 0"), "{out}");
    let out = run(&["replace-node", &addr(0), &addr(6), "--addr", &a1]);
    assert!(
        out.contains("is shard 0's primary") && out.contains("removed"),
        "{out}"
    );
    progress("the load goes on after the replacement");
    let (ok, status, _) = cluster_cmd(&["status", "--addr", &a1]);
    assert!(ok);
    assert!(!status.contains(&addr(0)), "{status}");
    assert!(owners(&mut watch).contains(&nodes[6].resp));

    let said = load.finish();
    assert_eq!(said.trim(), "exceptions 0", "the client saw errors");
    let logs: Vec<_> = nodes.iter().map(|n| log_of(&n.dir)).collect();
    let moved = no_slot_writable_on_two_nodes(&logs);
    assert!(moved > 16384 / 5, "only {moved} slots changed node");

    // A dead primary is replaced once its shard has failed over: node 6
    // dies, node 5 takes shard 0 over, and node 7 takes node 6's place.
    let mut c = Conn::connect(nodes[1].resp);
    let key = (0..)
        .map(|i| format!("{{d{i}}}k"))
        .find(|k| {
            let s = int_slot(&mut c, k);
            primary_of(&mut c, s) == Some(nodes[6].resp)
        })
        .unwrap();
    let mut p = Conn::connect(nodes[6].resp);
    // Until its write lease is renewed (the controller's leader may just
    // have left with node 0), the primary answers CLUSTERDOWN.
    common::wait_until("a write to node 6", Duration::from_secs(30), || {
        match p.cmd(&["SET", &key, "kept"]) {
            R::Err(e) if e.starts_with("CLUSTERDOWN") => false,
            other => {
                assert_eq!(other, R::ok());
                true
            }
        }
    });
    // Replication is asynchronous here (no min-replicas-to-ack): the write
    // is on node 5, shard 0's replica, before node 6 dies, or a failover
    // may rightly lose it.
    let mut replica = Conn::connect(nodes[5].resp);
    assert_eq!(replica.cmd(&["READONLY"]), R::ok());
    common::wait_until("node 5 has the write", Duration::from_secs(30), || {
        replica.cmd(&["GET", &key]) == R::bulk("kept")
    });
    assert_eq!(signal(nodes[6].child.id(), "KILL"), 0);
    let slot = int_slot(&mut c, &key);
    common::wait_until("shard 0 fails over", Duration::from_secs(30), || {
        primary_of(&mut c, slot) == Some(nodes[5].resp)
    });
    let out = run(&["replace-node", &addr(6), &addr(7), "--addr", &a1]);
    assert!(out.contains("removed"), "{out}");
    let (_, status, _) = cluster_cmd(&["status", "--addr", &a1]);
    assert!(
        !status.contains(&addr(6)) && status.contains(&addr(7)),
        "{status}"
    );
    let mut r = Conn::connect(nodes[5].resp);
    assert_eq!(r.cmd(&["GET", &key]), R::bulk("kept"));
}

fn int_slot(c: &mut Conn, key: &str) -> i64 {
    match c.cmd(&["CLUSTER", "KEYSLOT", key]) {
        R::Int(n) => n,
        other => panic!("KEYSLOT: {other:?}"),
    }
}
