//! TLS on every listener and on replication links (docs/security.md,
//! "TLS"), with the real binary, certificates from the `openssl` command
//! line, and real clients: redis-cli --tls, redis-py ssl=True, curl
//! --cacert, tessera cli --tls.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::certs::{self, Certs};
use common::{wait_until, Proc};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// redis-cli over TLS against `addr`, trusting `ca`, with `extra` flags.
fn redis_tls(addr: SocketAddr, ca: &std::path::Path, extra: &[&str], cmd: &[&str]) -> Output {
    Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(ca)
        .args(["-p", &addr.port().to_string()])
        .args(extra)
        .args(cmd)
        .output()
        .unwrap()
}

/// Starts a node with every TLS listener on, plus `args`.
fn tls_node(dir: &std::path::Path, c: &Certs, args: &[&str]) -> Proc {
    let mut all = vec![
        "--cores",
        "2",
        "--tls-listen",
        "127.0.0.1:0",
        "--resp-tls-listen",
        "127.0.0.1:0",
        "--http-tls-listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        c.server_cert.to_str().unwrap(),
        "--tls-key-file",
        c.server_key.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    Proc::start(&dir.join("data"), &all).unwrap()
}

fn tessera_cli(args: &[&str]) -> Output {
    Command::new(common::binary())
        .args(args)
        .env_remove("TESSERA_USER")
        .env_remove("TESSERA_PASSWORD")
        .output()
        .unwrap()
}

/// The node still answers PING over plain RESP.
fn alive(p: &Proc) {
    let o = Command::new("redis-cli")
        .args(["-p", &p.resp.unwrap().port().to_string(), "PING"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "PONG");
}

#[test]
fn every_front_end_speaks_tls_with_real_clients() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs::make(dir.path(), "a");
    let p = tls_node(dir.path(), &c, &[]);
    let (rtls, btls, https) = (
        p.listener("resp-tls"),
        p.listener("binary-tls"),
        p.listener("https"),
    );
    assert!(
        p.ready.contains(&format!("binary-tls={btls}")),
        "{}",
        p.ready
    );

    // redis-cli --tls: commands and a value larger than many TLS records.
    let o = redis_tls(rtls, &c.ca, &[], &["SET", "k", "v"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "OK",
        "{}",
        text(&o)
    );
    let big: String = (0..3_000_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut child = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(&c.ca)
        .args(["-p", &rtls.port().to_string(), "-x", "SET", "big"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(big.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "OK");
    let o = redis_tls(rtls, &c.ca, &["--raw"], &["GET", "big"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim_end(), big);

    // redis-py with ssl=True: a pipeline of 2,000 commands.
    common::python::assert_prints_ok(&format!(
        "import redis\nr = redis.Redis(port={}, ssl=True, ssl_ca_certs={:?})\np = r.pipeline(transaction=False)\nfor i in range(2000):\n    p.set('p%d' % i, i)\np.execute()\nassert r.get('p1999') == b'1999'\nassert r.get('k') == b'v'\nprint('ok')\n",
        rtls.port(),
        c.ca
    ));

    // curl --cacert over HTTPS: health and plain KV.
    let curl = |args: &[&str]| {
        let o = Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(&c.ca)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(
        curl(&[&format!("https://127.0.0.1:{}/healthz", https.port())]).trim(),
        "ok"
    );
    assert!(curl(&[
        "-X",
        "PUT",
        "--data-binary",
        "over-https",
        &format!("https://127.0.0.1:{}/v1/kv/h", https.port())
    ])
    .contains("version"));
    assert_eq!(
        curl(&[&format!("https://127.0.0.1:{}/v1/kv/h", https.port())]),
        "over-https"
    );

    // tessera cli --tls on the binary TLS port: shard-aware, so HELLO over
    // TLS must name the TLS ports (the plain ones would fail the handshake).
    let ca = c.ca.to_str().unwrap();
    let addr = btls.to_string();
    let o = tessera_cli(&["cli", "--tls", "--cacert", ca, "--addr", &addr, "get", "h"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "over-https",
        "{}",
        text(&o)
    );
    let o = tessera_cli(&["--tls", "--cacert", ca, "cli", "--addr", &addr, "hello"]);
    let hello = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        hello.contains(&format!("shared_port: {}", btls.port())),
        "{hello}"
    );
    assert!(
        !hello.contains(&format!("shared_port: {}", p.addr.port())),
        "{hello}"
    );
    // The plain port still names the plain ports.
    let o = tessera_cli(&["cli", "--addr", &p.addr.to_string(), "hello"]);
    assert!(
        text(&o).contains(&format!("shared_port: {}", p.addr.port())),
        "{}",
        text(&o)
    );

    // Client-side mistakes get clear errors.
    let o = tessera_cli(&["cli", "--tls", "--addr", &addr, "get", "h"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--tls needs --cacert"), "{}", text(&o));
    let other = certs::make(dir.path(), "other");
    let o = tessera_cli(&[
        "cli",
        "--tls",
        "--cacert",
        other.ca.to_str().unwrap(),
        "--addr",
        &addr,
        "get",
        "h",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("TLS handshake"), "{}", text(&o));
    let o = tessera_cli(&["serve", "--tls", "--cacert", ca]);
    assert_eq!(o.status.code(), Some(2));

    // Hostile and confused clients: plain RESP to the TLS port, garbage,
    // a TLS client on the plain port. Each fails; the node keeps serving.
    let o = Command::new("redis-cli")
        .args(["-p", &rtls.port().to_string(), "PING"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("PONG"));
    for port in [rtls.port(), btls.port(), https.port()] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4, 5])
            .unwrap();
        s.write_all(&[0xab; 4096]).unwrap();
        let mut sink = Vec::new();
        // The node answers with an alert at most, then closes.
        let _ = s.read_to_end(&mut sink);
        assert!(sink.len() < 64, "{} bytes back", sink.len());
    }
    let o = redis_tls(p.resp.unwrap(), &c.ca, &[], &["PING"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("PONG"));
    alive(&p);
    let o = redis_tls(rtls, &c.ca, &[], &["GET", "k"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "v");

    // SIGHUP never stops a node (here: one with TLS; reloads are tested below).
    unsafe_sighup(p.child.id());
    wait_until("the reload's log line", Duration::from_secs(10), || {
        p.log().contains("SIGHUP: TLS certificate reloaded")
    });
    alive(&p);
}

/// Sends SIGHUP through kill(1).
fn unsafe_sighup(pid: u32) {
    let ok = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn mutual_tls_follows_tls_auth_clients() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs::make(dir.path(), "m");
    let stranger = certs::make(dir.path(), "stranger");
    let ca = c.ca.to_str().unwrap();
    let cert = [
        "--cert",
        c.client_cert.to_str().unwrap(),
        "--key",
        c.client_key.to_str().unwrap(),
    ];
    let bad = [
        "--cert",
        stranger.client_cert.to_str().unwrap(),
        "--key",
        stranger.client_key.to_str().unwrap(),
    ];
    let pong = |o: &Output| String::from_utf8_lossy(&o.stdout).trim() == "PONG";
    // Default with a CA file: yes. No certificate, or one from another CA:
    // refused; the node's CA's client certificate: served.
    for (mode, without, with_stranger) in [
        (None, false, false),
        (Some("yes"), false, false),
        (Some("optional"), true, false),
        (Some("no"), true, true),
    ] {
        let sub = dir.path().join(mode.unwrap_or("default"));
        std::fs::create_dir_all(&sub).unwrap();
        let mut args = vec!["--tls-ca-cert-file", ca];
        if let Some(m) = mode {
            args.extend(["--tls-auth-clients", m]);
        }
        let p = tls_node(&sub, &c, &args);
        let rtls = p.listener("resp-tls");
        assert_eq!(
            pong(&redis_tls(rtls, &c.ca, &[], &["PING"])),
            without,
            "{mode:?}"
        );
        assert!(pong(&redis_tls(rtls, &c.ca, &cert, &["PING"])), "{mode:?}");
        assert_eq!(
            pong(&redis_tls(rtls, &c.ca, &bad, &["PING"])),
            with_stranger,
            "{mode:?}"
        );
        // tessera cli with and without its client certificate.
        let addr = p.listener("binary-tls").to_string();
        let mut args = vec!["--tls", "--cacert", ca];
        args.extend(cert);
        args.extend(["cli", "--addr", &addr, "ping"]);
        let o = tessera_cli(&args);
        assert!(text(&o).contains("PONG"), "{mode:?}: {}", text(&o));
        let o = tessera_cli(&["--tls", "--cacert", ca, "cli", "--addr", &addr, "ping"]);
        assert_eq!(text(&o).contains("PONG"), without, "{mode:?}: {}", text(&o));
        alive(&p);
    }
    // Settings that cannot work are refused at start, with the reason.
    let fail = |args: &[&str]| {
        let sub = tempfile::tempdir().unwrap();
        Proc::start(sub.path(), args).err().expect("refused")
    };
    let e = fail(&["--resp-tls-listen", "127.0.0.1:0"]);
    assert!(e.contains("needs tls-cert-file and tls-key-file"), "{e}");
    let e = fail(&[
        "--resp-tls-listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        c.server_cert.to_str().unwrap(),
        "--tls-key-file",
        c.server_cert.to_str().unwrap(),
    ]);
    assert!(e.contains("TLS"), "{e}");
    let e = fail(&[
        "--resp-tls-listen",
        "127.0.0.1:0",
        "--tls-cert-file",
        c.server_cert.to_str().unwrap(),
        "--tls-key-file",
        c.server_key.to_str().unwrap(),
        "--tls-auth-clients",
        "yes",
    ]);
    assert!(e.contains("needs tls-ca-cert-file"), "{e}");
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let one = certs::make(dir.path(), "one");
    let two = certs::make(dir.path(), "two");
    // The node reads its certificate from fixed paths; a renewal replaces
    // the files, then SIGHUP.
    let (cert, key) = (dir.path().join("node.crt"), dir.path().join("node.key"));
    std::fs::copy(&one.server_cert, &cert).unwrap();
    std::fs::copy(&one.server_key, &key).unwrap();
    let both = dir.path().join("both.crt");
    let mut bundle = std::fs::read(&one.ca).unwrap();
    bundle.extend(std::fs::read(&two.ca).unwrap());
    std::fs::write(&both, bundle).unwrap();
    let files = Certs {
        ca: one.ca.clone(),
        server_cert: cert.clone(),
        server_key: key.clone(),
        client_cert: one.client_cert.clone(),
        client_key: one.client_key.clone(),
    };
    let p = tls_node(dir.path(), &files, &[]);
    let rtls = p.listener("resp-tls");
    let pong = |ca: &std::path::Path| {
        String::from_utf8_lossy(&redis_tls(rtls, ca, &[], &["PING"]).stdout).trim() == "PONG"
    };
    assert!(pong(&one.ca) && !pong(&two.ca));

    // A redis-py connection opened before the reload, trusting both CAs.
    let py = common::python::python();
    let script = format!(
        "import redis, sys\nr = redis.Redis(port={}, ssl=True, ssl_ca_certs={:?}, single_connection_client=True)\nr.set('before', 1)\nprint('ready', flush=True)\nsys.stdin.readline()\nassert r.get('before') == b'1'\nr.set('after', 2)\nprint('same connection ok', flush=True)\n",
        rtls.port(),
        both
    );
    let mut child = Command::new(&py)
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");

    // A renewal that fails (a garbled certificate) keeps the old one.
    std::fs::write(&cert, b"not a certificate").unwrap();
    unsafe_sighup(p.child.id());
    wait_until(
        "the failed reload's log line",
        Duration::from_secs(10),
        || p.log().contains("cannot reload TLS"),
    );
    assert!(pong(&one.ca) && !pong(&two.ca));

    // The real renewal: new connections get the new certificate.
    std::fs::copy(&two.server_cert, &cert).unwrap();
    std::fs::copy(&two.server_key, &key).unwrap();
    unsafe_sighup(p.child.id());
    wait_until("the reload", Duration::from_secs(10), || pong(&two.ca));
    assert!(!pong(&one.ca));

    // The connection from before the reload was not dropped.
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        line.trim(),
        "same connection ok",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn replication_follows_over_tls_and_refuses_an_untrusted_primary() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs::make(dir.path(), "r");
    let other = certs::make(dir.path(), "x");
    // The primary asks every TLS client for a certificate from its CA.
    std::fs::create_dir_all(dir.path().join("p")).unwrap();
    let primary = tls_node(
        &dir.path().join("p"),
        &c,
        &["--tls-ca-cert-file", c.ca.to_str().unwrap()],
    );
    let source = primary.listener("binary-tls").to_string();
    let replica_args = |ca: &Certs| {
        vec![
            "--cores".to_string(),
            "2".into(),
            "--replica-of".into(),
            source.clone(),
            "--tls-replication".into(),
            "--tls-cert-file".into(),
            ca.server_cert.to_str().unwrap().into(),
            "--tls-key-file".into(),
            ca.server_key.to_str().unwrap().into(),
            "--tls-ca-cert-file".into(),
            ca.ca.to_str().unwrap().into(),
        ]
    };
    let args = replica_args(&c);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let replica = Proc::start(&dir.path().join("replica"), &args).unwrap();
    let prim = primary.resp.unwrap().port().to_string();
    for i in 0..200 {
        let o = Command::new("redis-cli")
            .args(["-p", &prim, "SET", &format!("k{i}"), &format!("v{i}")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "OK");
    }
    let rep = replica.resp.unwrap().port().to_string();
    wait_until(
        "the replica to apply the writes",
        Duration::from_secs(30),
        || {
            let o = Command::new("redis-cli")
                .args(["-p", &rep, "GET", "k199"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim() == "v199"
        },
    );

    // A replica whose CA does not know the primary's certificate (and
    // whose own certificate the primary does not trust) never follows.
    let args = replica_args(&other);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let stranger = Proc::start(&dir.path().join("stranger"), &args).unwrap();
    let st = stranger.resp.unwrap().port().to_string();
    wait_until(
        "the refused handshake in the log",
        Duration::from_secs(30),
        || {
            let log = stranger.log();
            log.contains("refused this replica: I/O error: TLS handshake")
                && log.contains("invalid peer certificate")
        },
    );
    let o = Command::new("redis-cli")
        .args(["-p", &st, "GET", "k1"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "");
    alive(&primary);
}
