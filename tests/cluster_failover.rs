//! Cluster failover with real processes on loopback (docs/cluster.md): a
//! primary killed under a redis-py load, the controller's leader killed, a
//! primary stopped past the node timeout, and the controller's quorum lost.
//! Helpers: tests/common/cluster.rs.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::cluster::*;
use common::resp::{Conn, R};

/// Failover with real processes: a primary killed under a redis-py write
/// load with `--min-replicas-to-ack 1` (no acknowledged write lost, the old
/// primary returns as a replica), the controller's leader killed (a new one
/// is elected, fails its shard over too and replaces the dead voter with a
/// learner), and a primary stopped past the
/// node timeout (SIGSTOP) that takes no write once resumed. Then three of
/// the five voters are stopped: the map freezes (a promotion is refused with
/// the reason), reads are still served, and once they resume a leader is
/// elected and the map is whole.
#[test]
fn primaries_fail_over_without_losing_acknowledged_writes() {
    let root = tempfile::tempdir().unwrap();
    let extra = [
        "--min-replicas-to-ack",
        "1",
        "--cluster-node-timeout-ms",
        "2000",
    ];
    let mut nodes: Vec<Option<ClusterNode>> = (0..6)
        .map(|i| {
            let ip = format!("127.0.0.{}", 31 + i);
            let any = format!("{ip}:0");
            Some(start_node(
                &root.path().join(format!("n{i}")),
                &ip,
                &any,
                &any,
                &extra,
            ))
        })
        .collect();
    let node = |nodes: &[Option<ClusterNode>], i: usize| -> (SocketAddr, SocketAddr) {
        let n = nodes[i].as_ref().unwrap();
        (n.binary, n.resp)
    };
    let mut args = vec!["create".to_string(), "--replicas".into(), "1".into()];
    args.extend((0..6).map(|i| node(&nodes, i).0.to_string()));
    let (ok, _, err) = cluster_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "create failed: {err}");
    // Shards 0, 1, 2 are nodes 0, 1, 2 (slots 0-5460, 5461-10922, 10923-16383).
    let (slot1, slot2) = (5461 + 100, 10923 + 100);

    // Through a replica, never killed here.
    let load = Load::start("cluster_load.py", node(&nodes, 3).1, root.path());
    common::wait_until("the load is acknowledged", Duration::from_secs(30), || {
        load.acked() >= 300
    });

    // 1. SIGKILL shard 1's primary under the load.
    let mut watch = Conn::connect(node(&nodes, 3).1);
    let old1 = node(&nodes, 1).1;
    let killed = nodes[1].take().unwrap();
    let t0 = std::time::Instant::now();
    let mut killed = killed;
    let _ = killed.child.kill();
    let _ = killed.child.wait();
    common::wait_until("shard 1 is failed over", Duration::from_secs(30), || {
        primary_of(&mut watch, slot1).is_some_and(|p| p != old1)
    });
    let new1 = primary_of(&mut watch, slot1).unwrap();
    // The new primary has no live replica: it takes writes but cannot
    // acknowledge them under --min-replicas-to-ack 1.
    let mut p1 = Conn::connect(new1);
    let key1 = (0..)
        .map(|i| format!("probe{i}"))
        .find(|k| {
            matches!(watch.cmd(&["CLUSTER", "KEYSLOT", k]), R::Int(s) if (5461..=10922).contains(&s))
        })
        .unwrap();
    let mut first = None;
    common::wait_until(
        "the new primary takes writes",
        Duration::from_secs(30),
        || {
            let r = p1.cmd(&["SET", &key1, "x"]);
            let taken = r == R::ok() || r.err_word() == Some("NOREPLICAS");
            if taken && first.is_none() {
                first = Some((t0.elapsed(), r));
            }
            taken
        },
    );
    let (took, reply) = first.unwrap();
    eprintln!("kill → first write taken by the new primary: {took:?} ({reply:?})");
    assert_eq!(
        reply.err_word(),
        Some("NOREPLICAS"),
        "no live replica: {reply:?}"
    );
    // The old primary returns as a replica and converges; acks resume.
    nodes[1] = Some(restart(&killed, &extra));
    drop(killed);
    let mut back = Conn::connect(old1);
    assert_eq!(back.cmd(&["READONLY"]), R::ok());
    common::wait_until(
        "the old primary follows the new one",
        Duration::from_secs(30),
        || back.cmd(&["GET", &key1]) == R::bulk("x"),
    );
    let before = load.acked();
    common::wait_until(
        "acks resume after the old primary returns",
        Duration::from_secs(60),
        || load.acked() >= before + 200,
    );

    // 2. SIGKILL the controller's leader (node 0, also shard 0's primary):
    // a new leader is elected and fails shard 0 over.
    let old0 = node(&nodes, 0).1;
    let mut leader = nodes[0].take().unwrap();
    let _ = leader.child.kill();
    let _ = leader.child.wait();
    common::wait_until(
        "shard 0 is failed over by a new leader",
        Duration::from_secs(60),
        || primary_of(&mut watch, 0).is_some_and(|p| p != old0),
    );
    let R::Bulk(info) = watch.cmd(&["INFO"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(!info.contains("cluster_controller_leader:none"), "{info}");
    // The dead voter is replaced by a live learner: five voters, not it.
    common::wait_until(
        "the dead voter is replaced",
        Duration::from_secs(30),
        || {
            let (ok, st, _) = cluster_cmd(&["status", "--addr", &node(&nodes, 3).0.to_string()]);
            let voters = st
                .lines()
                .find(|l| l.starts_with("voters:"))
                .map(addrs_in)
                .unwrap_or_default();
            ok && voters.len() == 5 && !voters.contains(&leader.binary)
        },
    );
    nodes[0] = Some(restart(&leader, &extra));
    drop(leader);

    // 3. SIGSTOP shard 2's primary past the node timeout: once resumed it
    // takes no write, and its replica is the primary.
    let old2 = node(&nodes, 2);
    let pid = nodes[2].as_ref().unwrap().child.id();
    let key2 = (0..)
        .map(|i| format!("stopped{i}"))
        .find(|k| matches!(watch.cmd(&["CLUSTER", "KEYSLOT", k]), R::Int(s) if s >= 10923))
        .unwrap();
    let mut direct = Conn::connect(old2.1);
    assert_eq!(signal(pid, "STOP"), 0);
    common::wait_until("shard 2 is failed over", Duration::from_secs(30), || {
        primary_of(&mut watch, slot2).is_some_and(|p| p != old2.1)
    });
    assert_eq!(signal(pid, "CONT"), 0);
    let r = direct.cmd(&["SET", &key2, "from-the-old-primary"]);
    assert_ne!(
        r,
        R::ok(),
        "a resumed old primary must not take writes: {r:?}"
    );
    let r = direct.cmd(&["FLUSHALL"]);
    assert!(
        matches!(r.err_word(), Some("CLUSTERDOWN" | "READONLY")),
        "nor writes without a key: {r:?}"
    );
    let new2 = primary_of(&mut watch, slot2).unwrap();
    let mut p2 = Conn::connect(new2);
    assert_ne!(p2.cmd(&["GET", &key2]), R::bulk("from-the-old-primary"));
    common::wait_until(
        "the resumed node is redirected",
        Duration::from_secs(30),
        || direct.cmd(&["SET", &key2, "y"]).err_word() == Some("MOVED"),
    );

    // Every acknowledged write is readable.
    load.finish();

    quorum_loss_freezes_the_map(&nodes, slot1, &mut watch);
}

/// The `(binary)` addresses a `tessera cluster status` line lists.
fn addrs_in(line: &str) -> Vec<SocketAddr> {
    line.split('(')
        .skip(1)
        .filter_map(|p| p.split(')').next()?.parse().ok())
        .collect()
}

/// Stops three of the five voters, the leader among them, and checks that
/// the map is frozen but data is served; then resumes them.
fn quorum_loss_freezes_the_map(nodes: &[Option<ClusterNode>], slot1: i64, watch: &mut Conn) {
    // `watch` may be stopped below; it is only used before and after.
    let live: Vec<&ClusterNode> = nodes.iter().flatten().collect();
    let by_binary = |a: SocketAddr| live.iter().find(|n| n.binary == a).copied();
    let (ok, status, err) = cluster_cmd(&["status", "--addr", &live[0].binary.to_string()]);
    assert!(ok, "{err}");
    let line = |prefix: &str| {
        status
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line: {status}"))
            .to_string()
    };
    let voters = addrs_in(&line("voters:"));
    let leader = line("controller:")
        .split("leader ")
        .nth(1)
        .map(addrs_in)
        .and_then(|a| a.first().copied())
        .unwrap_or_else(|| panic!("no leader: {status}"));
    assert_eq!(voters.len(), 5, "{status}");
    // One primary stays up; the leader and two other voters stop.
    let mut primary = |slot: i64| {
        let p = primary_of(watch, slot);
        live.iter().find(|n| Some(n.resp) == p).copied().unwrap()
    };
    // A voter (a learner never stands for election, so it would keep
    // naming the stopped leader) that is a primary and not the leader.
    let keeper = [slot1, 0, 16383]
        .into_iter()
        .map(&mut primary)
        .find(|n| n.binary != leader && voters.contains(&n.binary))
        .unwrap();
    let key = (0..)
        .map(|i| format!("quorum{i}"))
        .find(|k| primary(i64::from(tessera::slot::key_slot(k.as_bytes()))).binary == keeper.binary)
        .unwrap();
    let mut stopped: Vec<SocketAddr> = vec![leader];
    stopped.extend(
        voters
            .iter()
            .filter(|&&v| v != leader && v != keeper.binary)
            .take(2),
    );
    let epoch = |c: &mut Conn| -> i64 {
        let R::Bulk(i) = c.cmd(&["CLUSTER", "INFO"]) else {
            panic!()
        };
        String::from_utf8_lossy(&i)
            .lines()
            .find_map(|l| {
                l.strip_prefix("cluster_current_epoch:")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap()
    };
    let mut kc = Conn::connect(keeper.resp);
    common::wait_until("a write is acknowledged", Duration::from_secs(30), || {
        kc.cmd(&["SET", &key, "before"]) == R::ok()
    });
    let before = epoch(&mut kc);
    for a in &stopped {
        assert_eq!(signal(by_binary(*a).unwrap().child.id(), "STOP"), 0);
    }
    common::wait_until(
        "the controller has no leader",
        Duration::from_secs(30),
        || matches!(kc.cmd(&["INFO"]), R::Bulk(i) if String::from_utf8_lossy(&i).contains("cluster_controller_leader:none")),
    );
    // A map change is refused with the reason; data is still served.
    let (ok, text) = cli_on(keeper.binary, &["promote"]);
    assert!(!ok && text.contains("no quorum"), "{text}");
    assert_eq!(kc.cmd(&["GET", &key]), R::bulk("before"));
    assert_eq!(epoch(&mut kc), before, "the map is frozen");

    for a in &stopped {
        assert_eq!(signal(by_binary(*a).unwrap().child.id(), "CONT"), 0);
    }
    common::wait_until(
        "a leader is elected and writes resume",
        Duration::from_secs(60),
        || {
            let leader = matches!(kc.cmd(&["INFO"]), R::Bulk(i) if !String::from_utf8_lossy(&i).contains("cluster_controller_leader:none"));
            let owner = primary_of(watch, i64::from(tessera::slot::key_slot(key.as_bytes())));
            leader
                && owner.is_some_and(|o| Conn::connect(o).cmd(&["SET", &key, "after"]) == R::ok())
        },
    );
    assert!(epoch(&mut kc) >= before);
    let ranges = slot_ranges(watch);
    assert_eq!(
        ranges.iter().map(|(a, b, _)| b - a + 1).sum::<i64>(),
        16384,
        "{ranges:?}"
    );
}
