//! Redis's `client-output-buffer-limit` (docs/operations.md, "Limits") on
//! the real binary: a subscriber that never reads while 100 MB is published
//! is closed at its hard limit with the node's memory bounded and other
//! clients served throughout; the soft limit closes after its seconds; a
//! normal client's reply over its class's hard limit closes it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::resp::{Conn, R};
use common::{info_sum, rss_bytes, wait_until, Proc};

fn closed_for_output(c: &mut Conn) -> u64 {
    info_sum(&common::replication::info(c), "core", "closed_output_limit")
}

/// Subscribes on a raw socket and reads only the confirmation.
fn silent_subscriber(addr: std::net::SocketAddr, channel: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        format!(
            "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
            channel.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 256];
    while !got.ends_with(b":1\r\n") {
        let n = s.read(&mut b).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&b[..n]);
    }
    s
}

#[test]
fn a_subscriber_that_never_reads_is_closed_at_its_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    // Redis's default: pubsub 32mb 8mb 60.
    let p = Proc::start(&dir.path().join("d"), &["--cores", "2"]).unwrap();
    let resp = p.resp.unwrap();
    let _sub = silent_subscriber(resp, "feed");
    let mut publisher = Conn::connect(resp);
    let mut other = Conn::connect(resp);
    let base = rss_bytes(p.child.id());
    let message = "m".repeat(1 << 20);
    let mut reached = Vec::new();
    let mut peak = 0;
    // 100 MB published, 1 MiB at a time; another client is served after
    // every message.
    for i in 0..100 {
        match publisher.cmd(&["PUBLISH", "feed", &message]) {
            R::Int(n) => reached.push(n),
            other => panic!("PUBLISH {i}: {other:?}"),
        }
        assert_eq!(other.cmd(&["SET", &format!("k{i}"), "v"]), R::ok());
        peak = peak.max(rss_bytes(p.child.id()));
    }
    // The subscriber was reached until its limit, then dropped.
    assert_eq!(reached[0], 1);
    assert_eq!(*reached.last().unwrap(), 0, "{reached:?}");
    let kept = reached.iter().filter(|&&n| n == 1).count();
    // What the kernel's socket buffers took, plus 32 MiB held by the node.
    assert!(
        (32..70).contains(&kept),
        "reached {kept} times: {reached:?}"
    );
    assert_eq!(closed_for_output(&mut other), 1);
    // Memory: the node held at most the limit for the subscriber (plus
    // the reply being written), never the 100 MB.
    assert!(
        peak < base + (80 << 20),
        "RSS grew from {} MiB to {} MiB",
        base >> 20,
        peak >> 20
    );
    assert_eq!(other.cmd(&["GET", "k99"]), R::bulk("v"));
}

#[test]
fn the_soft_limit_closes_after_its_seconds_and_normal_replies_have_a_class() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &[
            "--cores",
            "1",
            "--client-output-buffer-limit",
            "pubsub 0 4mb 1 normal 2mb 0 0",
        ],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let mut c = Conn::connect(resp);
    // Soft only (no hard limit): 30 MiB waits for a subscriber that does
    // not read, then a message more than a second later closes it; only
    // the soft limit can have.
    let _sub = silent_subscriber(resp, "slow");
    let message = "s".repeat(1 << 20);
    for _ in 0..30 {
        assert!(matches!(c.cmd(&["PUBLISH", "slow", &message]), R::Int(_)));
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert!(matches!(c.cmd(&["PUBLISH", "slow", &message]), R::Int(_)));
    wait_until("the soft limit's close", Duration::from_secs(10), || {
        closed_for_output(&mut c) == 1
    });

    // Normal class, hard 2 MB: a reply of 3 MiB closes the client; a
    // 1 MiB one does not.
    let big = "b".repeat(3 << 20);
    assert_eq!(c.cmd(&["SET", "big", &big]), R::ok());
    assert_eq!(c.cmd(&["SET", "small", &"s".repeat(1 << 20)]), R::ok());
    let mut reader = Conn::connect(resp);
    assert!(matches!(reader.cmd(&["GET", "small"]), R::Bulk(_)));
    assert_eq!(
        reader.try_cmd(&["GET", "big"]),
        None,
        "the connection closes"
    );
    assert_eq!(closed_for_output(&mut c), 2);
    // Bad values stop the start with the reason.
    let e = Proc::start(
        &dir.path().join("e"),
        &["--client-output-buffer-limit", "pubsub 1 2"],
    )
    .err()
    .unwrap();
    assert!(e.contains("groups of four"), "{e}");
}
