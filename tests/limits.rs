//! Who may connect and how much a client may hold (docs/security.md,
//! docs/operations.md "Limits"): `allow-from`, slowloris (stalled senders
//! give the memory budget to active ones), `maxclients` and the idle
//! `timeout`, on the real binary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::resp::{Conn, R};
use common::{wait_until, Proc};

/// Each listener's `allow-from` list refuses other addresses with DENIED
/// on every front end (a loopback client is outside 10.0.0.0/8), while
/// another listener without a list serves them; a bad network stops the
/// start. (Protected mode refuses only non-loopback clients, which the
/// unit tests of `net::admit` inject.)
#[test]
fn allow_from_refuses_other_addresses() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &[
            "--cores",
            "1",
            "--resp-allow-from",
            "10.0.0.0/8",
            "--http-allow-from",
            "10.0.0.0/8,2001:db8::/32",
        ],
    )
    .unwrap();
    let mut s = std::net::TcpStream::connect(p.resp.unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert!(
        got.starts_with("-DENIED this listener does not accept connections from your address"),
        "{got:?}"
    );
    let o = Command::new("curl")
        .args([
            "-s",
            "-w",
            " %{http_code}",
            &format!("http://{}/healthz", p.http.unwrap()),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.ends_with(" 403") && out.contains("DENIED"), "{out}");
    // The binary listener (no list, no password) serves a loopback
    // client: protected mode leaves it alone.
    let addr = p.addr.to_string();
    let o = Command::new(common::binary())
        .args(["cli", "--addr", &addr, "ping"])
        .env_remove("TESSERA_PASSWORD")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    drop(p);
    let e = Proc::start(&dir.path().join("e"), &["--resp-allow-from", "10.0.0.0/33"])
        .err()
        .unwrap();
    assert!(
        e.contains("resp-allow-from") && e.contains("10.0.0.0/33"),
        "{e}"
    );
}

/// Slowloris: clients that announce large commands (RESP bulks and binary
/// frames), send part of them and stall hold the memory budget only until
/// an active client needs it: they are evicted and the active client's
/// large writes go through. The node's memory stays bounded by the budget.
#[test]
fn stalled_clients_give_the_budget_to_active_ones() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let budget = 64usize << 20;
    let p = Proc::start(
        &dir.path().join("d"),
        &[
            "--cores",
            "2",
            "--memory-budget-bytes",
            &budget.to_string(),
            // Long: only the pressure of an active client evicts here.
            "--stalled-frame-timeout-ms",
            "600000",
        ],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let part = vec![b'x'; 2 << 20];
    let mut stalled = Vec::new();
    for i in 0..40 {
        let part = part.clone();
        let (binary, addr) = (i % 2 == 0, if i % 2 == 0 { p.addr } else { resp });
        stalled.push(std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let head = if binary {
                // A 16 MiB SET frame, cut after its first 2 MiB.
                let mut f = Vec::new();
                let big = vec![b'y'; 16 << 20];
                tessera::proto::Request::Set {
                    key: format!("stall{i}").as_bytes(),
                    value: &big,
                    args: Default::default(),
                }
                .encode(1, &mut f);
                f.truncate(64);
                f
            } else {
                format!("*3\r\n$3\r\nSET\r\n$7\r\nstall{i:02}\r\n$16777216\r\n").into_bytes()
            };
            let _ = s.write_all(&head);
            // The server may stop reading (and evict): a failed write ends it.
            let _ = s.write_all(&part);
            s
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // An active client writes 1 MiB values, on RESP and binary.
    let mut c = Conn::connect(resp);
    let value = "v".repeat(1 << 20);
    for k in 0..8 {
        assert_eq!(
            c.cmd(&["SET", &format!("big{k}"), &value]),
            R::ok(),
            "SET big{k}"
        );
    }
    assert_eq!(c.cmd(&["STRLEN", "big7"]), R::Int(1 << 20));
    // The same through the binary protocol: a 1 MiB SET frame.
    {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(p.addr).unwrap();
        let mut f = Vec::new();
        tessera::proto::Request::Set {
            key: b"bigbin",
            value: value.as_bytes(),
            args: Default::default(),
        }
        .encode(9, &mut f);
        s.write_all(&f).unwrap();
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        let info = loop {
            if let Some(i) = tessera::proto::frame::check(&reply, usize::MAX).unwrap() {
                break i;
            }
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "the binary connection closed");
            reply.extend_from_slice(&chunk[..n]);
        };
        assert_eq!(info.kind, tessera::proto::frame::STATUS_OK, "{reply:?}");
    }
    let info = common::replication::info(&mut c);
    let evicted: u64 = info
        .lines()
        .filter_map(|l| l.split_once("_evicted_stalled:"))
        .map(|(_, v)| v.trim().parse::<u64>().unwrap())
        .sum();
    assert!(evicted > 0, "no stalled client was evicted:\n{info}");
    // RSS: the budget plus the node's own memory (caches, memtables,
    // reactors), measured at about 150 MiB on this build.
    let rss = common::rss_bytes(p.child.id());
    assert!(rss < budget + (384 << 20), "RSS {} MiB", rss >> 20);
    drop(stalled);
}

/// A client that holds budget for a partial command and sends nothing for
/// `stalled-frame-timeout-ms` is disconnected even without pressure; one
/// that stalls inside its base buffer is not.
#[test]
fn a_stalled_partial_frame_times_out() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &["--cores", "1", "--stalled-frame-timeout-ms", "300"],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let mut small = std::net::TcpStream::connect(resp).unwrap();
    small
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc")
        .unwrap();
    let mut big = std::net::TcpStream::connect(resp).unwrap();
    big.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n")
        .unwrap();
    big.write_all(&vec![b'x'; 200 << 10]).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut rest = Vec::new();
    let n = big.read_to_end(&mut rest).unwrap();
    assert_eq!(n, 0, "the stalled holder is closed without a reply");
    let mut c = Conn::connect(resp);
    let info = common::replication::info(&mut c);
    assert!(info.contains("core0_evicted_stalled:1"), "{info}");
    // The small one is still there and can finish its command.
    small.write_all(&[b'x'; 97]).unwrap();
    small.write_all(b"\r\n").unwrap();
    let mut reply = [0u8; 5];
    small
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    small.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n");
}

/// `maxclients` counts every listener's clients: past it a client gets
/// Redis's error and is closed, and a freed place is taken again. With
/// `timeout`, a silent client is closed while a subscriber stays.
#[test]
fn maxclients_and_the_idle_timeout() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(
        &dir.path().join("d"),
        &["--cores", "2", "--maxclients", "3"],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let mut held: Vec<Conn> = (0..2).map(|_| Conn::connect(resp)).collect();
    for c in held.iter_mut() {
        assert_eq!(c.cmd(&["PING"]), R::Simple("PONG".into()));
    }
    let mut third = std::net::TcpStream::connect(p.addr).unwrap();
    let mut f = Vec::new();
    tessera::proto::Request::Ping(b"x").encode(1, &mut f);
    third.write_all(&f).unwrap();
    let mut head = [0u8; 64];
    let n = third.read(&mut head).unwrap();
    assert!(n > 0, "the third client (binary) is served");
    let mut fourth = std::net::TcpStream::connect(resp).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = String::new();
    fourth.read_to_string(&mut got).unwrap();
    assert_eq!(got, "-ERR max number of clients reached\r\n");
    drop(held.pop());
    wait_until("a freed place", Duration::from_secs(30), || {
        Conn::try_connect(resp)
            .and_then(|mut c| c.try_cmd(&["PING"]))
            .is_some_and(|r| r == R::Simple("PONG".into()))
    });
    drop((held, third, p));
    // The idle timeout.
    let p = Proc::start(&dir.path().join("e"), &["--cores", "1", "--timeout", "1"]).unwrap();
    let resp = p.resp.unwrap();
    let mut sub = Conn::connect(resp);
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "ch"]),
        R::Array(vec![R::bulk("subscribe"), R::bulk("ch"), R::Int(1)])
    );
    let mut idle = std::net::TcpStream::connect(resp).unwrap();
    idle.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    idle.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"+PONG\r\n", "answered, then closed once silent");
    // A client blocked in a pop longer than the timeout is not idle: after
    // the pop times out it goes on (a pause well under the timeout first).
    let mut b = Conn::connect(resp);
    assert_eq!(b.cmd(&["BLPOP", "nothing", "2"]), R::Nil);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.cmd(&["PING"]), R::Simple("PONG".into()));
    // The subscriber, silent for longer, still gets messages.
    let mut c = Conn::connect(resp);
    assert_eq!(c.cmd(&["PUBLISH", "ch", "m"]), R::Int(1));
    assert_eq!(
        sub.read(),
        R::Array(vec![R::bulk("message"), R::bulk("ch"), R::bulk("m")])
    );
}

/// The full-scale slowloris: 2,000 clients each announce a 512 MB
/// bulk (accepted: `--max-frame-bytes` above it), send 128 KiB of it and
/// stall. The node's memory stays within its budget plus each
/// connection's base buffer, and an active client's 1 MiB writes are
/// served throughout (the stalled ones are evicted for it).
#[test]
fn two_thousand_stalled_clients_announcing_512_mb_bulks() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let budget = 128usize << 20;
    let p = Proc::start(
        &dir.path().join("d"),
        &[
            "--cores",
            "2",
            "--memory-budget-bytes",
            &budget.to_string(),
            "--max-frame-bytes",
            "600000000",
            "--stalled-frame-timeout-ms",
            "600000",
        ],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let part = vec![b'x'; 128 << 10];
    let mut stalled = Vec::new();
    for i in 0..2000 {
        let mut s = std::net::TcpStream::connect(resp).unwrap();
        let head = format!("*3\r\n$3\r\nSET\r\n$6\r\ns{i:05}\r\n$536870912\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // The node may stop reading (or evict): a short write is fine.
        s.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let _ = s.write_all(&part);
        stalled.push(s);
    }
    // An active client writes 1 MiB values while they stall.
    let mut c = Conn::connect(resp);
    let value = "v".repeat(1 << 20);
    for k in 0..16 {
        assert_eq!(
            c.cmd(&["SET", &format!("big{k}"), &value]),
            R::ok(),
            "SET big{k}"
        );
    }
    assert_eq!(c.cmd(&["STRLEN", "big15"]), R::Int(1 << 20));
    assert_eq!(c.cmd(&["PING"]), R::Simple("PONG".into()));
    let rss = common::rss_bytes(p.child.id());
    // The budget, 2,000 base buffers of 64 KiB (125 MiB), and the node's
    // own memory (caches, memtables, reactors; about 150 MiB here).
    let bound = budget + 2000 * (64 << 10) + (256 << 20);
    assert!(
        rss < bound,
        "RSS {} MiB over {} MiB",
        rss >> 20,
        bound >> 20
    );
    eprintln!("RSS with 2,000 stalled clients: {} MiB", rss >> 20);
    drop(stalled);
}

/// `proto-max-bulk-len` bounds one bulk and `client-query-buffer-limit`
/// what a RESP connection buffers of an incomplete command: past either
/// the client gets an error and is closed, others are served; settings
/// that cannot work stop the start.
#[test]
fn proto_max_bulk_len_and_client_query_buffer_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let p = Proc::start(
        &data,
        &[
            "--proto-max-bulk-len",
            "1mb",
            "--client-query-buffer-limit",
            "2mb",
        ],
    )
    .unwrap();
    let resp = p.resp.unwrap();
    let mut ok = Conn::connect(resp);
    let fits = "v".repeat(900 << 10);
    assert_eq!(ok.cmd(&["SET", "k", &fits]), R::ok());
    // One bulk past proto-max-bulk-len.
    // Only the announcement is sent: the server refuses the length before
    // any of the bulk, and a client still writing a megabyte to a socket
    // the server closed would see the reset instead of the reply.
    let mut big = Conn::connect(resp);
    big.send_raw(format!("*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n${}\r\n", (1 << 20) + 1).as_bytes());
    let e = big.try_read();
    assert!(matches!(&e, Some(R::Err(m)) if m.contains("bulk")), "{e:?}");
    assert_eq!(big.try_cmd(&["PING"]), None, "closed");
    // Bulks that each fit, in one command just past the query buffer (the
    // rest it sends fits in the sockets' buffers, so it is not refused
    // by a reset before it reads the reply).
    let mut many = Conn::connect(resp);
    let (most, rest) = ("v".repeat(1000 << 10), "v".repeat(100 << 10));
    let e = many.try_cmd(&["MSET", "a", &most, "b", &most, "c", &rest]);
    assert!(
        matches!(&e, Some(R::Err(m)) if m.contains("client-query-buffer-limit")),
        "{e:?}"
    );
    assert_eq!(many.try_cmd(&["PING"]), None, "closed");
    // The others are served, and nothing of the refused commands was written.
    assert_eq!(ok.cmd(&["STRLEN", "k"]), R::Int(900 << 10));
    assert_eq!(ok.cmd(&["EXISTS", "k2", "a", "b", "c"]), R::Int(0));
    drop(p);

    for (args, why) in [
        (
            &["--proto-max-bulk-len", "1gb"][..],
            "proto-max-bulk-len 1073741824 must be at least 1024 and at most max-frame-bytes",
        ),
        (
            &[
                "--proto-max-bulk-len",
                "2mb",
                "--client-query-buffer-limit",
                "1mb",
            ][..],
            "client-query-buffer-limit 1048576 is smaller than proto-max-bulk-len 2097152",
        ),
        (
            &["--client-query-buffer-limit", "lots"][..],
            "client-query-buffer-limit: \"lots\" is not a size",
        ),
    ] {
        let e = Proc::start(&data, args).err().expect("refused");
        assert!(e.contains(why), "{args:?}: {e}");
    }
}
