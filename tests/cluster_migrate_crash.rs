//! A slot migration survives a crash of its source or its target in each
//! stage (docs/cluster.md, "Moving slots"): a fail point aborts the node
//! at the copy, the catch-up or the fence, the node is started again, and
//! the migration resumes or copies again until it is done, with every
//! acknowledged write in place.
//!
//! Each run has its own two-node cluster (shard 0 on one node, shard 1 on
//! the other) on its own loopback addresses, and a redis-py writer.

mod common;

use std::time::{Duration, Instant};

use common::cluster::*;
use common::resp::{Conn, R};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Victim {
    Source,
    Target,
}

fn run(k: usize, point: &str, victim: Victim) {
    let root = tempfile::tempdir().unwrap();
    let start = |i: usize, env: &[(&str, &str)]| start_nth(root.path(), i, 61 + 2 * k + i, env);
    let fail = format!("{point}=1*return(abort)");
    let env = [("TESSERA_FAILPOINTS", fail.as_str())];
    let mut nodes = [
        Some(start(0, if victim == Victim::Source { &env } else { &[] })),
        Some(start(1, if victim == Victim::Target { &env } else { &[] })),
    ];
    let node = |nodes: &[Option<ClusterNode>; 2], i: usize| nodes[i].as_ref().unwrap().binary;
    let (a, b) = (node(&nodes, 0).to_string(), node(&nodes, 1).to_string());
    let (ok, _, err) = cluster_cmd(&["create", &a, &b]);
    assert!(ok, "create failed: {err}");
    // A hash in the moving slots, large enough for several copy chunks.
    let mut c = Conn::connect(nodes[0].as_ref().unwrap().resp);
    let key = (0..)
        .map(|i| format!("{{h{i}}}big"))
        .find(|k| matches!(c.cmd(&["CLUSTER", "KEYSLOT", k]), R::Int(n) if n < 2000))
        .unwrap();
    for chunk in 0..10 {
        let mut args = vec!["HSET".to_string(), key.clone()];
        for f in chunk * 500..(chunk + 1) * 500 {
            args.extend([format!("f{f}"), "x".repeat(300)]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(c.cmd(&a), R::Int(500));
    }
    let R::Int(slot) = c.cmd(&["CLUSTER", "KEYSLOT", &key]) else {
        panic!("no KEYSLOT")
    };
    let moving = "0-1999";

    // A writer over every slot, through the node that does not crash.
    let entry = nodes[usize::from(victim == Victim::Source)]
        .as_ref()
        .unwrap()
        .resp;
    let load = Load::start("cluster_load.py", entry, root.path());
    common::wait_until("the load is acknowledged", Duration::from_secs(30), || {
        load.acked() >= 200
    });
    let survivor = if victim == Victim::Source { &b } else { &a };
    let mut cli = cluster_cmd_bg(&["migrate-slots", moving, "--to", "1", "--addr", survivor]);
    // The fail point aborts the victim in its stage.
    let i = usize::from(victim == Victim::Target);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = nodes[i].as_mut().unwrap().child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "{point}: the {victim:?} did not crash"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "{point}: {status:?}");
    let old = nodes[i].take().unwrap();
    nodes[i] = Some(restart(&old, &[]));
    drop(old);

    let out = cli.0.take().unwrap().wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.contains("done"),
        "{point}: {said}"
    );
    load.finish();
    let mut t = Conn::connect(nodes[1].as_ref().unwrap().resp);
    assert_eq!(t.cmd(&["HLEN", &key]), R::Int(5000), "{point}");
    assert_eq!(
        primary_of(&mut t, slot),
        Some(nodes[1].as_ref().unwrap().resp)
    );
    let mut s = Conn::connect(nodes[0].as_ref().unwrap().resp);
    assert_eq!(
        s.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]),
        R::Int(0),
        "{point}: the source cleaned up"
    );
    let logs: Vec<_> = nodes
        .iter()
        .map(|n| log_of(&n.as_ref().unwrap().dir))
        .collect();
    assert_eq!(
        no_slot_writable_on_two_nodes(&logs),
        2000,
        "{point}: the moved slots changed node once each"
    );
}

#[test]
fn a_migration_survives_a_crash_of_either_side_in_each_stage() {
    let runs = [
        ("cluster.migrate-copy", Victim::Target),
        ("cluster.migrate-catch-up", Victim::Target),
        ("cluster.migrate-fence", Victim::Target),
        ("cluster.migrate-serve-copy", Victim::Source),
        ("cluster.migrate-serve-pull", Victim::Source),
        ("cluster.migrate-serve-fenced", Victim::Source),
    ];
    for (k, (point, victim)) in runs.into_iter().enumerate() {
        run(k, point, victim);
    }
}

/// A migration is aborted by the operator, first with its source up, then
/// with its source dead for good: the slots stay with the source, the
/// target drops what it copied, the following `migrate-slots` reports the
/// abort, and once the source is back its slots move normally.
#[test]
fn a_migration_is_aborted_even_when_its_source_is_dead() {
    let root = tempfile::tempdir().unwrap();
    let start = |i: usize, env: &[(&str, &str)]| start_nth(root.path(), i, 81 + i, env);
    // Every catch-up pull the source serves takes 3 s: the copy is on the
    // target while the migration is still at its copy stage.
    let env = [(
        "TESSERA_FAILPOINTS",
        "cluster.migrate-serve-pull=return(3000)",
    )];
    let mut source = start(0, &env);
    let target = start(1, &[]);
    // Three voters, so the controller keeps its quorum without the source.
    let third = start(2, &[]);
    let addrs: Vec<String> = [&source, &target, &third]
        .iter()
        .map(|n| n.binary.to_string())
        .collect();
    let (ok, _, err) = cluster_cmd(&["create", &addrs[0], &addrs[1], &addrs[2]]);
    assert!(ok, "create failed: {err}");
    let a2 = addrs[2].as_str();
    let (ok, out, _) = cluster_cmd(&["abort-migration", "--addr", a2]);
    assert!(ok && out.contains("no migration in progress"), "{out}");

    let mut c = Conn::connect(source.resp);
    let keys: Vec<(String, i64)> = (0..)
        .map(|i| format!("k{i}"))
        .filter_map(|k| match c.cmd(&["CLUSTER", "KEYSLOT", &k]) {
            R::Int(s) if s < 2000 => Some((k, s)),
            _ => None,
        })
        .take(50)
        .collect();
    for (k, _) in &keys {
        assert_eq!(c.cmd(&["SET", k, "v"]), R::ok());
    }
    let slot = keys[0].1.to_string();
    let mut t = Conn::connect(target.resp);
    let copied = |t: &mut Conn| t.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot]) == R::Int(1);

    for source_dies in [false, true] {
        let mut cli = cluster_cmd_bg(&["migrate-slots", "0-1999", "--to", "1", "--addr", a2]);
        common::wait_until("the target has the copy", Duration::from_secs(30), || {
            copied(&mut t)
        });
        if source_dies {
            assert_eq!(signal(source.child.id(), "KILL"), 0);
            let _ = source.child.wait();
        } else {
            // One migration at a time.
            let (ok, _, err) = cluster_cmd(&["migrate-slots", "9000", "--to", "2", "--addr", a2]);
            assert!(!ok && err.contains("one migration at a time"), "{err}");
        }
        // A dead source may have led the controller: until a new leader
        // is elected the abort says so and is run again.
        let mut said = String::new();
        common::wait_until("the abort commits", Duration::from_secs(30), || {
            let (ok, out, err) = cluster_cmd(&["abort-migration", "--addr", a2]);
            said = format!("{out}{err}");
            assert!(ok || err.contains("leader"), "{said}");
            ok
        });
        assert!(said.contains("aborted"), "{said}");
        common::wait_until("the target drops its copy", Duration::from_secs(20), || {
            !copied(&mut t)
        });
        let out = cli.0.take().unwrap().wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && said.contains("was aborted"),
            "{said}"
        );
        if !source_dies {
            // Unfenced and still the owner.
            assert_eq!(c.cmd(&["SET", &keys[1].0, "v"]), R::ok());
        }
    }

    // Slots do not move from a source that is down (`migrate-slots` and
    // `rebalance` cannot reach it), nor are they weighed.
    let (ok, _, err) = cluster_cmd(&["migrate-slots", "2000-2010", "--to", "1", "--addr", a2]);
    assert!(!ok && err.contains("is down"), "{err}");
    let (ok, _, err) = cluster_cmd(&["rebalance", "--addr", a2]);
    assert!(!ok && err.contains(&source.binary.to_string()), "{err}");

    // The source comes back with its slots and every key; they move now.
    let again = restart(&source, &[]);
    drop(std::mem::replace(&mut source, again));
    let mut c = Conn::connect(source.resp);
    for (k, _) in &keys {
        assert_eq!(c.cmd(&["GET", k]), R::bulk("v"), "{k}");
    }
    let (ok, out, err) = cluster_cmd(&["migrate-slots", "0-1999", "--to", "1", "--addr", a2]);
    assert!(ok && out.contains("done"), "{out}{err}");
    for (k, _) in &keys {
        assert_eq!(t.cmd(&["GET", k]), R::bulk("v"), "{k}");
    }
    let logs: Vec<_> = [&source, &target, &third]
        .iter()
        .map(|n| log_of(&n.dir))
        .collect();
    assert_eq!(no_slot_writable_on_two_nodes(&logs), 2000);
}
