//! Injected storage faults at each place where storage can fail (batch
//! write, WAL sync, checkpoint, MANIFEST write), in ordinary CI: no root and
//! no tmpfs (tests/full_disk.rs is the real-disk check). A failed write or
//! fsync poisons its partition: writes get POISONED, reads keep working, no
//! acknowledged write is lost, and the node keeps serving. The real binary
//! switches the same points on through TESSERA_FAILPOINTS.

mod common;

use std::process::Stdio;
use std::sync::Mutex;

use common::{block_on, serve_command, Node, Proc};
use tessera::client::Client;
use tessera::codes::ErrorCode;
use tessera::failpoint;
use tessera::shard::Durability;

/// The fail points are process-wide: one test at a time configures them,
/// and every point is switched off when it ends.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Exclusive(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

fn exclusive() -> Exclusive {
    Exclusive(ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()))
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        for p in failpoint::POINTS {
            failpoint::remove(p);
        }
    }
}

fn one_core(durability: Durability) -> Node {
    Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(1);
        c.durability = durability;
    })
}

/// Writes under an injected fault: every write before it is kept, the
/// failed one and every later one get a clear error until a restart.
fn poisoned_by(point: &'static str, durability: Durability) {
    let _points = exclusive();
    let node = one_core(durability);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        for i in 0..20 {
            c.set(format!("k{i}").as_bytes(), b"v").await.unwrap();
        }
    });
    failpoint::cfg(point, "return(injected: the disk went away)").unwrap();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let e = c.set(b"lost", b"x").await.unwrap_err();
        assert!(
            matches!(e.code(), Some(ErrorCode::Poisoned | ErrorCode::Storage)),
            "{point}: {e:?}"
        );
        assert!(e.to_string().contains("injected"), "{e}");
        // The fault is gone, the poisoning stays until a restart.
        failpoint::remove(point);
        let again = c.set(b"later", b"x").await.unwrap_err();
        assert_eq!(again.code(), Some(ErrorCode::Poisoned), "{again:?}");
        // Reads and the rest of the node still work.
        assert_eq!(c.get(b"k3").await.unwrap().unwrap().value, b"v");
        assert_eq!(c.ping(b"alive").await.unwrap(), b"alive");
        let info = c.info().await.unwrap();
        assert!(info.contains("partition0_poisoned:"), "{info}");
    });
    // A restart reopens the partition; every acknowledged write is there.
    let dir = node.stop();
    let node = Node::start_in(dir, |c| {
        c.cores = Some(1);
        c.durability = durability;
    });
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        for i in 0..20 {
            let k = format!("k{i}");
            assert_eq!(
                c.get(k.as_bytes()).await.unwrap().map(|v| v.value),
                Some(b"v".to_vec()),
                "{point}: {k} was acknowledged"
            );
        }
        assert_eq!(c.get(b"later").await.unwrap(), None);
        c.set(b"after-restart", b"x").await.unwrap();
    });
}

#[test]
fn a_failed_batch_write_poisons_the_partition() {
    poisoned_by("storage.batch-write", Durability::Wal);
}

#[test]
fn a_failed_wal_fsync_poisons_the_partition() {
    // With fsync durability a write is acknowledged after its WAL fsync.
    poisoned_by("storage.wal-sync", Durability::Fsync);
}

#[test]
fn a_failed_checkpoint_fails_the_backup_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(1);
        c.backup_root = Some(root.path().to_path_buf());
    });
    let addr = node.addr();
    let t = root.path().join("b1").to_string_lossy().into_owned();
    let _points = exclusive();
    failpoint::cfg("storage.checkpoint", "return").unwrap();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        c.set(b"k", b"v").await.unwrap();
        let e = c.backup(&t).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::Storage), "{e:?}");
        assert!(e.to_string().contains("checkpoint"), "{e}");
        // Writes go on: a checkpoint failure poisons nothing.
        c.set(b"k2", b"v").await.unwrap();
    });
    failpoint::remove("storage.checkpoint");
    let t = root.path().join("b2").to_string_lossy().into_owned();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        assert!(c.backup(&t).await.unwrap() >= 1);
    });
}

/// The real binary: TESSERA_FAILPOINTS makes the MANIFEST write of a new
/// data directory fail, and `tessera serve` stops with a clear error.
#[test]
fn a_failed_manifest_write_stops_the_binary_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve_with = |points: &str| {
        serve_command(&data)
            .env(failpoint::ENV, points)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    let out = serve_with("storage.manifest-write=return");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("MANIFEST") && stderr.contains("storage.manifest-write"),
        "{stderr}"
    );
    // A bad TESSERA_FAILPOINTS is refused, not ignored.
    let out = serve_with("storage.nosuch=return");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fail point"));
}

/// A crash at a named point: the binary aborts at its 31st batch write
/// (`return(abort)`), and every write it acknowledged before is there
/// after a restart.
#[test]
fn an_abort_at_a_batch_write_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("stderr.log");
    let (mut child, line) = common::spawn_until_ready(
        serve_command(&data)
            .args(["--cores", "1", "--durability", "fsync"])
            .env(failpoint::ENV, "storage.batch-write=30*off->return(abort)")
            .stderr(std::fs::File::create(&log).unwrap()),
    )
    .unwrap();
    let addr = common::parse_ready(&line).unwrap();
    let acked = block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let mut acked = Vec::new();
        // Bounded: the point fires within the first 31 batches.
        for i in 0..200 {
            match c.set(format!("k{i}").as_bytes(), b"v").await {
                Ok(_) => acked.push(i),
                Err(_) => break,
            }
        }
        acked
    });
    let status = child.wait().unwrap();
    assert!(!status.success(), "the process aborted");
    assert!(
        !acked.is_empty() && acked.len() < 200,
        "{} acked",
        acked.len()
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("fail point storage.batch-write: aborting"));
    let proc = Proc::start(&data, &["--cores", "1"]).unwrap();
    let addr = proc.addr;
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        for i in acked {
            assert!(
                c.get(format!("k{i}").as_bytes()).await.unwrap().is_some(),
                "k{i} was acknowledged"
            );
        }
    });
}

/// A drain of absorbed writes that fails leaves them absorbed (in the
/// overlay and the journal): nothing is poisoned, reads see every write,
/// the next drain writes them, and a restart finds them all.
#[test]
fn a_failed_drain_keeps_the_writes_absorbed() {
    let _points = exclusive();
    // A small overlay (the floor of `memtable-bytes`), so drains are due.
    let small = |c: &mut tessera::Config| {
        c.cores = Some(1);
        c.memtable_bytes = 64 << 10;
    };
    let node = Node::start_in(tempfile::tempdir().unwrap(), small);
    let addr = node.addr();
    failpoint::cfg("storage.drain-write", "return(injected)").unwrap();
    let value = vec![b'v'; 200];
    let v = value.clone();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        for i in 0..2000 {
            c.set(format!("k{i}").as_bytes(), &v).await.unwrap();
        }
        let info = c.info().await.unwrap();
        assert_eq!(common::info_sum(&info, "partition", "drains"), 0, "{info}");
        assert!(common::info_sum(&info, "partition", "absorbed_bytes") > 400_000);
        let parts = info.matches("_poisoned:").count();
        assert_eq!(info.matches("_poisoned:no").count(), parts, "{info}");
        assert_eq!(c.get(b"k7").await.unwrap().unwrap().value, v);
    });
    failpoint::remove("storage.drain-write");
    let v = value.clone();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        c.set(b"one-more", &v).await.unwrap();
    });
    // The drain that commit starts runs in the blocking pool.
    common::wait_until("a drain", std::time::Duration::from_secs(30), || {
        block_on(async move {
            let c = Client::connect(addr).await.unwrap();
            let info = c.info().await.unwrap();
            common::info_sum(&info, "partition", "drains") > 0
        })
    });
    let dir = node.stop();
    let node = Node::start_in(dir, small);
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        for i in (0..2000).step_by(37) {
            let k = format!("k{i}");
            assert_eq!(
                c.get(k.as_bytes()).await.unwrap().map(|v| v.value),
                Some(value.clone()),
                "{k} was acknowledged"
            );
        }
    });
}
