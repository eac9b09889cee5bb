//! Online backup under write load, restore, and the refusals around them.

mod common;

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;

use common::resp::{Conn, R};
use common::{binary, block_on, Node, Proc};
use tessera::codes::ErrorCode;

#[test]
fn backup_under_load_keeps_every_acknowledged_write() {
    let root = tempfile::tempdir().unwrap();
    let root_path = root.path().to_path_buf();
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.cores = Some(2);
        c.partitions = Some(4);
        c.backup_root = Some(root_path.clone());
    });
    let addr = node.addr();
    let target = root.path().join("nightly/1");
    let target_s = target.to_str().unwrap().to_string();
    let outside = tempfile::tempdir().unwrap();
    let outside_s = outside.path().join("b").to_str().unwrap().to_string();
    let written_during = block_on(async move {
        let c = Rc::new(tessera::client::Client::connect(addr).await.unwrap());
        for i in 0..3000u32 {
            c.set(format!("acked:{i}").as_bytes(), format!("v{i}").as_bytes())
                .await
                .unwrap();
        }
        // Writers keep going while the backup runs.
        let stop = Rc::new(Cell::new(false));
        let mut writers = Vec::new();
        for w in 0..4u32 {
            let (c, stop) = (c.clone(), stop.clone());
            writers.push(glommio::spawn_local(async move {
                let mut n = 0u32;
                while !stop.get() {
                    c.set(format!("load:{w}:{n}").as_bytes(), b"x")
                        .await
                        .unwrap();
                    n += 1;
                }
                n
            }));
        }
        // Give the writers a moment to get going before the backup.
        glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(c.backup(&target_s).await.unwrap(), 4, "4 partitions");
        stop.set(true);
        let mut during = 0;
        for w in writers {
            during += w.await;
        }
        // Refusals: outside the root, relative, into the same directory again.
        let e = c.backup(&outside_s).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::BadArguments), "{e}");
        assert!(e.to_string().contains("not inside backup-root"), "{e}");
        let e = c.backup("relative/dir").await.unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
        let e = c.backup(&target_s).await.unwrap_err();
        assert!(e.to_string().contains("already holds a backup"), "{e}");
        during
    });
    assert!(written_during > 0, "the backup ran under write load");
    drop(node);

    // Restore into a new directory and serve it.
    let restored = tempfile::tempdir().unwrap();
    let r = tessera::shard::backup::restore(&target, restored.path()).unwrap();
    assert_eq!(r.partitions, 4);
    assert!(r.files > 0);
    let again = tessera::shard::backup::restore(&target, restored.path()).unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");
    let node = Node::start_in(restored, |c| c.cores = Some(2));
    let addr = node.addr();
    block_on(async move {
        let c = tessera::client::Client::connect(addr).await.unwrap();
        for i in 0..3000u32 {
            let v = c.get(format!("acked:{i}").as_bytes()).await.unwrap();
            assert_eq!(
                v.map(|v| v.value),
                Some(format!("v{i}").into_bytes()),
                "acked:{i} is missing from the restored copy"
            );
        }
    });
}

#[test]
fn backups_are_refused_without_a_backup_root() {
    let node = Node::start(1);
    let addr = node.addr();
    block_on(async move {
        let c = tessera::client::Client::connect(addr).await.unwrap();
        let e = c.backup("/tmp/anywhere").await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::BadArguments));
        assert!(e.to_string().contains("backup-root"), "{e}");
    });
}

#[test]
fn backup_and_restore_commands() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    std::fs::create_dir_all(&root).unwrap();
    let p = Proc::start(
        &dir.path().join("data"),
        &[
            "--cores",
            "1",
            "--partitions",
            "1",
            "--backup-root",
            root.to_str().unwrap(),
        ],
    )
    .unwrap();
    let addr = p.addr.to_string();
    let cli = |args: &[&str]| {
        Command::new(binary())
            .args(["cli", "--addr", &addr])
            .args(args)
            .output()
            .unwrap()
    };
    assert!(cli(&["set", "greeting", "hello"]).status.success());
    // Function libraries go with the backup.
    let mut resp = Conn::connect(p.resp.unwrap());
    let lib = "#!lua name=b\nredis.register_function('hi', function() return 'hi' end)";
    assert_eq!(resp.cmd(&["FUNCTION", "LOAD", lib]), R::bulk("b"));
    let to = root.join("b1");
    let out = Command::new(binary())
        .args(["backup", "--addr", &addr, "--to", to.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backup of 1 partitions"));
    drop(p);

    let new = dir.path().join("restored");
    let out = Command::new(binary())
        .args(["restore", "--from", to.to_str().unwrap(), "--data-dir"])
        .arg(&new)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(binary())
        .args([
            "restore",
            "--from",
            dir.path().to_str().unwrap(),
            "--data-dir",
        ])
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Tessera backup"));

    let p = Proc::start(&new, &["--cores", "1"]).unwrap();
    let out = Command::new(binary())
        .args(["cli", "--addr", &p.addr.to_string(), "get", "greeting"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    let mut resp = Conn::connect(p.resp.unwrap());
    assert_eq!(resp.cmd(&["FCALL", "hi", "0"]), R::bulk("hi"));
}
