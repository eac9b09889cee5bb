//! A full disk: the partition is poisoned, its writes get a clear error,
//! reads keep working, no acknowledged write is lost, the node keeps serving.
//! Needs root (it mounts a small tmpfs), as CI has.

mod common;

use std::process::Command;

use common::{block_on, Node};
use tessera::client::Client;
use tessera::codes::ErrorCode;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_poisons_the_partition_and_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=6m", "tmpfs"])
        .arg(&mnt)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "this test mounts a 6 MiB tmpfs and needs root (CI runs as root)"
    );
    let _mount = Mount(mnt.clone());
    let data = mnt.join("data");
    let node = Node::start_in(tempfile::tempdir().unwrap(), |c| {
        c.data_dir = data.clone();
        c.cores = Some(1);
        c.write_buffer_bytes = 64 << 20;
    });
    let addr = node.addr();
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let value = vec![0x5A; 64 << 10];
        let mut acked = Vec::new();
        let mut failure = None;
        // Bounded: 200 × 64 KiB is twice the disk.
        for i in 0..200 {
            let k = format!("fill:{i}");
            match c.set(k.as_bytes(), &value).await {
                Ok(_) => acked.push(k),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let e = failure.expect("a 6 MiB disk fills up");
        assert!(
            matches!(
                e.code(),
                Some(ErrorCode::Poisoned) | Some(ErrorCode::Storage)
            ),
            "clear storage error, got {e:?}"
        );
        assert!(!acked.is_empty());
        // Later writes are refused with POISONED; reads and PING still work.
        let again = c.set(b"more", b"x").await.unwrap_err();
        assert_eq!(again.code(), Some(ErrorCode::Poisoned), "{again:?}");
        assert!(
            again.to_string().contains("No space") || again.to_string().contains("space"),
            "{again}"
        );
        for k in &acked {
            assert_eq!(
                c.get(k.as_bytes()).await.unwrap().unwrap().value.len(),
                value.len(),
                "{k}"
            );
        }
        assert_eq!(c.ping(b"alive").await.unwrap(), b"alive");
        let info = c.info().await.unwrap();
        assert!(
            info.contains("partition0_poisoned:partition 0 stopped accepting writes"),
            "{info}"
        );
    });
    drop(node);
}
