//! The real binary: crash safety with SIGKILL (strings, hashes, lists), clean SIGTERM, restarts with
//! another core count, refused data directories, cache mode, fsync counters.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{block_on, wait_until, Proc};
use tessera::client::Client;
use tessera::proto::value::Value;

/// What the crash test's write number `i` does: 0 SET, 1 HSET, 2 RPUSH.
fn crash_op(i: u32) -> u32 {
    (i / 16) % 3
}

/// Four hashes shared by the writers.
fn crash_hash(i: u32) -> String {
    format!("crash:h{}", i % 4)
}

/// One list per writer task (`i % 16`).
fn crash_list(i: u32) -> String {
    format!("crash:l{}", i % 16)
}

fn wal_synced(info: &str) -> u64 {
    common::info_sum(info, "partition", "wal_synced")
}

#[test]
fn sigkill_loses_no_acknowledged_write_in_wal_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let proc = Proc::start(&data, &["--cores", "2", "--durability", "wal"]).unwrap();
    let addr = proc.addr;
    let acked: Arc<Mutex<Vec<u32>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let acked = acked.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            block_on(async move {
                let c = std::rc::Rc::new(Client::connect(addr).await.unwrap());
                let tasks: Vec<_> = (0..16u32)
                    .map(|t| {
                        let c = c.clone();
                        let acked = acked.clone();
                        let stop = stop.clone();
                        glommio::spawn_local(async move {
                            let mut i = t;
                            // Bounded: at most 200k writes in all.
                            while !stop.load(Ordering::Relaxed) && i < 200_000 {
                                let k = format!("crash:{i}");
                                let v = i.to_string();
                                // Strings, hash fields and list pushes, interleaved.
                                let r = match crash_op(i) {
                                    0 => c.set(k.as_bytes(), &i.to_be_bytes()).await.map(|_| ()),
                                    1 => c
                                        .command(&[
                                            b"HSET",
                                            crash_hash(i).as_bytes(),
                                            v.as_bytes(),
                                            v.as_bytes(),
                                        ])
                                        .await
                                        .map(|_| ()),
                                    _ => c
                                        .command(&[
                                            b"RPUSH",
                                            crash_list(i).as_bytes(),
                                            v.as_bytes(),
                                        ])
                                        .await
                                        .map(|_| ()),
                                };
                                if r.is_err() {
                                    return;
                                }
                                acked.lock().unwrap().push(i);
                                i += 16;
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await;
                }
            })
        })
    };
    wait_until("3000 acknowledged writes", Duration::from_secs(120), || {
        acked.lock().unwrap().len() >= 3000
    });
    proc.kill9();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 3000);

    let proc = Proc::start(&data, &["--cores", "2"]).unwrap();
    let addr = proc.addr;
    let missing = block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let mut missing = Vec::new();
        let strings: Vec<u32> = acked
            .iter()
            .copied()
            .filter(|i| crash_op(*i) == 0)
            .collect();
        for &i in acked.iter().filter(|i| crash_op(**i) == 1) {
            let f = i.to_string();
            let (_, v) = c
                .command(&[b"HGET", crash_hash(i).as_bytes(), f.as_bytes()])
                .await
                .unwrap();
            if v != Value::Bytes(f.into_bytes()) {
                missing.push(i);
            }
        }
        // Each writer task pushes to its own list in order: the list holds
        // its acknowledged pushes in order, plus at most the one in flight.
        for t in 0..16u32 {
            let pushed: Vec<Value> = acked
                .iter()
                .filter(|i| crash_op(**i) == 2 && *i % 16 == t)
                .map(|i| Value::Bytes(i.to_string().into_bytes()))
                .collect();
            let (_, v) = c
                .command(&[b"LRANGE", crash_list(t).as_bytes(), b"0", b"-1"])
                .await
                .unwrap();
            let Value::Array(items) = v else {
                panic!("{v:?}")
            };
            assert!(
                items.len() >= pushed.len()
                    && items.len() <= pushed.len() + 1
                    && items[..pushed.len()] == pushed[..],
                "list of writer {t}: {} acknowledged pushes, {} stored",
                pushed.len(),
                items.len()
            );
        }
        for chunk in strings.chunks(500) {
            let keys: Vec<String> = chunk.iter().map(|i| format!("crash:{i}")).collect();
            let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
            let got = c.mget(&refs).await.unwrap();
            for (i, v) in chunk.iter().zip(got) {
                if v.map(|v| v.value) != Some(i.to_be_bytes().to_vec()) {
                    missing.push(*i);
                }
            }
        }
        missing
    });
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(proc.terminate().success());
}

#[test]
fn fsync_mode_syncs_the_wal_before_each_ack() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let proc = Proc::start(&data, &["--cores", "1", "--durability", "fsync"]).unwrap();
    let addr = proc.addr;
    let (before, after) = block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let before = wal_synced(&c.info().await.unwrap());
        // One at a time: each write is its own group commit.
        for i in 0..50u32 {
            c.set(format!("s{i}").as_bytes(), b"v").await.unwrap();
        }
        (before, wal_synced(&c.info().await.unwrap()))
    });
    assert!(
        after >= before + 50,
        "RocksDB counted {} WAL syncs for 50 acked writes",
        after - before
    );
    assert!(proc.terminate().success());
}

#[test]
fn sigterm_exits_zero_and_a_restart_with_other_cores_keeps_every_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let proc = Proc::start(&data, &["--cores", "2", "--partitions", "2"]).unwrap();
    let addr = proc.addr;
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let keys: Vec<String> = (0..500).map(|i| format!("keep:{i}")).collect();
        let pairs: Vec<(&[u8], &[u8])> =
            keys.iter().map(|k| (k.as_bytes(), k.as_bytes())).collect();
        c.mset(&pairs).await.unwrap();
    });
    assert!(proc.terminate().success(), "SIGTERM exits 0");

    let proc = Proc::start(&data, &["--cores", "1"]).unwrap();
    let addr = proc.addr;
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        assert_eq!(c.hello().cores, 1);
        assert_eq!(
            c.hello().partitions() as usize,
            2,
            "partitions are fixed at creation"
        );
        let keys: Vec<String> = (0..500).map(|i| format!("keep:{i}")).collect();
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let got = c.mget(&refs).await.unwrap();
        for (k, v) in keys.iter().zip(got) {
            assert_eq!(v.unwrap().value, k.as_bytes());
        }
        assert_eq!(c.scan_all(b"keep:").await.unwrap().len(), 500);
    });
    assert!(proc.terminate().success());

    let err = Proc::start(&data, &["--partitions", "4"]).err().unwrap();
    assert!(err.contains("created with 2 partitions"), "{err}");
}

/// A new directory gets a partition per CPU in the affinity mask even when
/// fewer reactors serve it (`--cores 1` on a shared machine), so a restart
/// with every CPU runs a reactor per partition.
#[test]
fn partitions_follow_the_cpus_not_the_cores() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let proc = Proc::start(&data, &["--cores", "1"]).unwrap();
    let addr = proc.addr;
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        assert_eq!(c.hello().cores, 1);
        assert_eq!(
            c.hello().partitions() as usize,
            cpus,
            "one partition per CPU"
        );
        c.set(b"k", b"v").await.unwrap();
    });
    assert!(proc.terminate().success());
    let proc = Proc::start(&data, &[]).unwrap();
    let addr = proc.addr;
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        assert_eq!(c.hello().cores as usize, cpus, "a reactor per CPU");
        assert_eq!(c.get(b"k").await.unwrap().unwrap().value, b"v");
    });
    assert!(proc.terminate().success());
}

#[test]
fn damaged_or_foreign_data_directories_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let proc = Proc::start(&data, &["--cores", "2"]).unwrap();
    assert!(proc.terminate().success());
    let manifest = data.join("MANIFEST");
    let good = std::fs::read(&manifest).unwrap();

    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    std::fs::write(&manifest, &bad).unwrap();
    let err = Proc::start(&data, &[]).err().unwrap();
    assert!(err.contains("checksum mismatch"), "{err}");

    let mut future = good.clone();
    future[11] = 7;
    std::fs::write(&manifest, &future).unwrap();
    let err = Proc::start(&data, &[]).err().unwrap();
    assert!(err.contains("format 7"), "{err}");

    std::fs::write(&manifest, &good).unwrap();
    std::fs::rename(data.join("partition-0001"), tmp.path().join("moved")).unwrap();
    let err = Proc::start(&data, &[]).err().unwrap();
    assert!(err.contains("partition 1 is missing"), "{err}");

    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), b"mine").unwrap();
    let err = Proc::start(&foreign, &[]).err().unwrap();
    assert!(err.contains("not a Tessera data directory"), "{err}");
    assert!(foreign.join("notes.txt").exists(), "nothing was touched");
}

/// Listeners whose ports coincide (here RESP on core 0's own binary
/// port) are refused before anything binds: with SO_REUSEPORT they would
/// share the port and take each other's connections at random.
#[test]
fn listeners_on_one_port_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    // A port this test holds, so no other listener is disturbed.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let out = std::process::Command::new(common::binary())
        .arg("serve")
        .arg("--data-dir")
        .arg(tmp.path().join("d"))
        .args(["--cores", "2", "--http-listen", "off"])
        .args(["--listen", &format!("127.0.0.1:{}", port - 1)])
        .args(["--resp-listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "resp-listen 127.0.0.1:{port} is the same port as core 0's port {port}"
        )),
        "{err}"
    );
    assert!(held.local_addr().is_ok());
}

#[test]
fn cache_mode_starts_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let proc = Proc::start(&data, &["--cores", "1"]).unwrap();
    let addr = proc.addr;
    block_on(async move {
        Client::connect(addr)
            .await
            .unwrap()
            .set(b"old", b"v")
            .await
            .unwrap();
    });
    assert!(proc.terminate().success());
    let proc = Proc::start(&data, &["--cores", "1", "--durability", "none"]).unwrap();
    let addr = proc.addr;
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        assert_eq!(
            c.get(b"old").await.unwrap(),
            None,
            "a cache does not resurrect old keys"
        );
        c.set(b"new", b"v").await.unwrap();
        assert_eq!(c.get(b"new").await.unwrap().unwrap().value, b"v");
    });
    assert!(proc.terminate().success());
}

#[test]
fn cli_passes_arguments_through_and_reports_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let proc = Proc::start(&data, &["--cores", "2"]).unwrap();
    let addr = proc.addr.to_string();
    let cli = |args: &[&str]| {
        std::process::Command::new(common::binary())
            .args(["cli", "--addr", &addr])
            .args(args)
            .output()
            .unwrap()
    };
    let o = cli(&["set", "k", "-inf"]);
    assert!(o.status.success(), "{o:?}");
    let o = cli(&["get", "k"]);
    assert_eq!(o.stdout, b"-inf\n");
    // SET's options come from the one parser: the fast opcode answers the
    // new version, GET (the named SET) the old value, VER checks the version.
    let o = cli(&["set", "s", "a", "PX", "100000"]);
    let version = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(version.parse::<u64>().is_ok(), "{o:?}");
    let o = cli(&["set", "s", "b", "VER", &version, "GET"]);
    assert_eq!(o.stdout, b"a\n", "{o:?}");
    let o = cli(&["set", "s", "c", "VER", &version, "GET"]);
    assert!(!o.status.success(), "a stale VER is refused: {o:?}");
    let o = cli(&["set", "s", "c", "EX", "1", "PX", "1"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("syntax error"),
        "{o:?}"
    );
    let o = cli(&["get", "s"]);
    assert_eq!(o.stdout, b"b\n");
    let o = cli(&["incrby", "n", "-5"]);
    assert_eq!(o.stdout, b"-5\n");
    let o = cli(&["incr", "k"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not an integer"),
        "{o:?}"
    );
    let o = cli(&["scan", "0", "match", "k"]);
    assert!(o.status.success());
    let o = cli(&["frobnicate"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown command"));
    // The command table answers before any round trip: arity, and commands
    // that only RESP runs.
    let o = cli(&["hset", "h"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("wrong number of arguments for 'hset' command"),
        "{o:?}"
    );
    let o = cli(&["subscribe", "news"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("redis-cli"),
        "{o:?}"
    );
    let o = cli(&["zunionstore", "{z}d", "1", "{z}a"]);
    assert!(o.status.success(), "{o:?}");
    assert!(proc.terminate().success());
}
