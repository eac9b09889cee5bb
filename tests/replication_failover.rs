//! Replication failover: promotion after SIGKILL of the primary with every
//! acknowledged write kept and the old primary fenced, promotion that
//! catches up from a replica ahead, refusal while a peer is unreachable
//! (unless forced), and a restarted primary serving its replica from the
//! WAL (moved from tests/replication.rs).

mod common;

use std::time::Duration;

use common::replication::*;
use common::resp::{Conn, R};
use common::Node;
use tessera::client::Client;
use tessera::codes::ErrorCode;

#[test]
fn after_sigkill_of_the_primary_a_promoted_replica_has_every_acknowledged_write_and_the_old_primary_is_fenced(
) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let pdir = tempfile::tempdir().unwrap();
    let args = [
        "--cores",
        "2",
        "--partitions",
        "2",
        "--min-replicas-to-ack",
        "1",
        "--replica-ack-timeout-ms",
        "5000",
    ];
    let primary = common::Proc::start(pdir.path(), &args).unwrap();
    let paddr = primary.addr;
    let r1 = replica_in(tempfile::tempdir().unwrap(), paddr.to_string());
    let r2 = replica_in(tempfile::tempdir().unwrap(), paddr.to_string());
    let mut c1 = Conn::connect(r1.resp_addr());
    let mut c2 = Conn::connect(r2.resp_addr());
    common::wait_until("replicas know each other", Duration::from_secs(30), || {
        info(&mut c1).contains(&format!("core0_peers:{}", r2.addr()))
            && info(&mut c2).contains(&format!("core0_peers:{}", r1.addr()))
    });
    // Writers until the primary dies; every acknowledged write is noted.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, count, done) = (acked.clone(), count.clone(), done.clone());
            std::thread::spawn(move || {
                common::block_on(async move {
                    let Ok(c) = Client::connect(paddr).await else {
                        return;
                    };
                    for i in 0..100_000 {
                        if done.load(Ordering::Relaxed) {
                            return;
                        }
                        let (k, v) = (format!("w{w}:{i}"), format!("{i}"));
                        match c.set(k.as_bytes(), v.as_bytes()).await {
                            Ok(_) => {
                                acked.lock().unwrap().push((k, v));
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => return,
                        }
                    }
                })
            })
        })
        .collect();
    common::wait_until("writes under load", Duration::from_secs(60), || {
        count.load(Ordering::Relaxed) >= 2000
    });
    primary.kill9();
    done.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    // Promote replica 1: it compares positions with replica 2 and catches
    // up from it first if it is ahead.
    let text = role(r1.addr(), 2, "").expect("promote");
    assert!(text.starts_with("promoted: epoch 2:"), "{text}");
    let (keys, values): (Vec<String>, Vec<String>) = acked.iter().cloned().unzip();
    let got = get(r1.addr(), keys.clone());
    let lost: Vec<&String> = keys
        .iter()
        .zip(&got)
        .zip(&values)
        .filter(|((_, g), v)| g.as_deref() != Some(v.as_bytes()))
        .map(|((k, _), _)| k)
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    // The new primary takes writes; promoting it again is refused.
    assert_eq!(c1.cmd(&["SET", "after-promotion", "1"]), R::ok());
    assert!(role(r1.addr(), 2, "")
        .unwrap_err()
        .contains("already a primary"));
    // Replica 2 follows the new primary.
    replicaof(r2.addr(), r1.addr());
    converge(&mut c2, &["GET", "after-promotion"], &R::bulk("1"));
    assert!(info(&mut c2).contains("core0_epoch:2:"));
    // The old primary comes back (same data, same flags): it is fenced,
    // learns it was superseded, and no write of it lands anywhere.
    let old = common::Proc::start(pdir.path(), &args).unwrap();
    let oaddr = old.addr;
    let refused = common::block_on(async move {
        let c = Client::connect(oaddr).await.unwrap();
        let e = c.set(b"from-the-old-primary", b"1").await.unwrap_err();
        (e.code(), e.to_string())
    });
    assert_eq!(refused.0, Some(ErrorCode::ReadOnly), "{}", refused.1);
    common::wait_until(
        "the old primary learns it was superseded",
        Duration::from_secs(30),
        || {
            role(oaddr, 0, "").unwrap().contains("role:fenced")
                && common::block_on(async move {
                    Client::connect(oaddr).await.unwrap().info().await.unwrap()
                })
                .contains("superseded")
        },
    );
    let e = common::block_on(async move {
        let c = Client::connect(oaddr).await.unwrap();
        c.set(b"from-the-old-primary", b"1")
            .await
            .unwrap_err()
            .to_string()
    });
    assert!(e.contains("superseded"), "{e}");
    assert_eq!(
        get(r1.addr(), vec!["from-the-old-primary".into()]),
        vec![None]
    );
    // Made a replica of the new primary, it converges to it.
    replicaof(oaddr, r1.addr());
    let text =
        common::block_on(
            async move { Client::connect(oaddr).await.unwrap().info().await.unwrap() },
        );
    assert!(text.contains("replica of"), "{text}");
    // Its extra, unacknowledged batches diverged from the new primary's
    // history: it copies in full and ends with exactly the new content.
    let mut p = Conn::connect(r1.resp_addr());
    let mut o = Conn::connect(old.resp.unwrap());
    converge_all(
        &mut p,
        &mut o,
        "the old primary as a replica of the new one",
    );
    let got = get(oaddr, keys);
    assert!(got
        .iter()
        .zip(&values)
        .all(|(g, v)| g.as_deref() == Some(v.as_bytes())));
    old.kill9();
}

/// A primary (acks from one replica) with two replicas, where replica 1
/// stopped early and replica 2 acknowledged 300 more writes; then the
/// primary stops for good and replica 1 restarts. Returns replica 1, replica
/// 2 and every acknowledged key.
fn replica_two_ahead() -> (Node, Node, Vec<String>) {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
        c.min_replicas_to_ack = 1;
        c.replica_ack_timeout_ms = 5000;
    });
    let to = primary.addr().to_string();
    let r1 = replica_in(tempfile::tempdir().unwrap(), to.clone());
    let r2 = replica_in(tempfile::tempdir().unwrap(), to.clone());
    let mut c1 = Conn::connect(r1.resp_addr());
    common::wait_until("replica 1 knows replica 2", Duration::from_secs(30), || {
        info(&mut c1).contains(&format!("core1_peers:{}", r2.addr()))
    });
    let mut p = Conn::connect(primary.resp_addr());
    let mut keys = Vec::new();
    let mut write = |from: usize, to: usize| {
        for i in from..to {
            let k = format!("k{i}");
            assert_eq!(p.cmd(&["SET", &k, "v"]), R::ok(), "{k}");
            keys.push(k);
        }
    };
    write(0, 100);
    let dir1 = r1.stop();
    write(100, 400);
    drop(primary);
    let r1 = replica_in(dir1, to);
    (r1, r2, keys)
}

#[test]
fn promotion_catches_up_from_a_replica_that_is_ahead() {
    let (r1, _r2, keys) = replica_two_ahead();
    let mut c1 = Conn::connect(r1.resp_addr());
    assert_eq!(c1.cmd(&["GET", "k399"]), R::Nil, "replica 1 is behind");
    let text = role(r1.addr(), 2, "").expect("promote");
    assert!(text.contains("caught up from"), "{text}");
    for k in &keys {
        assert_eq!(
            c1.cmd(&["GET", k]),
            R::bulk("v"),
            "{k} acknowledged but lost"
        );
    }
    assert_eq!(c1.cmd(&["SET", "new", "1"]), R::ok());
}

#[test]
fn promotion_is_refused_while_a_peer_is_unreachable_unless_forced() {
    let (r1, r2, _keys) = replica_two_ahead();
    let r2_addr = r2.addr().to_string();
    drop(r2);
    // Through the real command line, as an operator would.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(common::binary())
            .args(["cli", "--addr", &r1.addr().to_string()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = cli(&["promote"]);
    assert!(
        !ok && err.contains(&r2_addr) && err.contains("--force"),
        "{err}"
    );
    let mut c1 = Conn::connect(r1.resp_addr());
    assert_eq!(c1.cmd(&["SET", "x", "1"]).err_word(), Some("READONLY"));
    assert!(cli(&["role"]).1.contains("role:replica"));
    // Forced: it takes writes, without the writes only replica 2 had.
    let (ok, text, err) = cli(&["promote", "--force"]);
    assert!(ok && text.starts_with("promoted"), "{text} {err}");
    assert!(cli(&["role"]).1.contains("role:primary"));
    assert_eq!(c1.cmd(&["SET", "x", "1"]), R::ok());
    assert_eq!(c1.cmd(&["GET", "k399"]), R::Nil);
}

#[test]
fn a_restarted_primary_waits_for_a_peer_then_serves_its_replica_from_the_wal() {
    let primary = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    let replica = replica_of(&primary, tempfile::tempdir().unwrap());
    let mut p = Conn::connect(primary.resp_addr());
    random_writes(&mut p, 21, 800);
    let mut r = Conn::connect(replica.resp_addr());
    converge_all(&mut p, &mut r, "before the restart");
    // Writes the replica has not pulled yet when the primary stops: none
    // after the convergence, so it resumes from the WAL, not from memory.
    let dir = primary.stop();
    let primary = Node::start_in(dir, |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
    });
    // It knows its replica: writable only once the replica confirmed its epoch.
    let mut p = Conn::connect(primary.resp_addr());
    common::wait_until(
        "the replica confirms the epoch",
        Duration::from_secs(30),
        || p.cmd(&["SET", "after-restart", "1"]) == R::ok(),
    );
    assert!(info(&mut p).contains("core0_role:primary"));
    random_writes(&mut p, 22, 800);
    replicaof(replica.addr(), primary.addr());
    converge_all(&mut p, &mut r, "after the primary's restart");
    let text = info(&mut r);
    assert_eq!(
        common::info_sum(&text, "partition", "repl_full_syncs"),
        0,
        "{text}"
    );
}
