//! Cluster mode with real processes on loopback (docs/cluster.md): six
//! `tessera serve --cluster` nodes formed with `tessera cluster create
//! --replicas 1`, Redis Cluster clients (redis-py's RedisCluster,
//! `redis-cli -c`), redirects and refusals, and a restart of every node.
//!
//! One fixture serves the whole file (the CI budget). Each node
//! listens on its own loopback address (127.0.0.21, .22, ...), so a restart
//! can take the same ports again without touching a fixed port anyone else
//! uses.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::resp::{Conn, R};

struct ClusterNode {
    child: Child,
    binary: SocketAddr,
    resp: SocketAddr,
    dir: std::path::PathBuf,
    ip: String,
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn word(line: &str, key: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
}

fn start_node(dir: &Path, ip: &str, binary: &str, resp: &str, extra: &[&str]) -> ClusterNode {
    let mut cmd = Command::new(common::binary());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--cluster", "--cores", "1", "--partitions", "2"])
        .args([
            "--listen",
            binary,
            "--resp-listen",
            resp,
            "--http-listen",
            "off",
        ])
        .args([
            "--block-cache-bytes",
            "8388608",
            "--write-buffer-bytes",
            "16777216",
        ])
        .args(extra)
        .stderr(std::fs::File::create(dir.with_extension("stderr.log")).expect("a log file"));
    let (child, line) = common::spawn_until_ready(&mut cmd).expect("tessera starts");
    assert!(
        line.starts_with("tessera ready"),
        "no ready line: {line:?}: {}",
        std::fs::read_to_string(dir.with_extension("stderr.log")).unwrap_or_default()
    );
    ClusterNode {
        child,
        binary: word(&line, "binary=").expect("binary address"),
        resp: word(&line, "resp=").expect("resp address"),
        dir: dir.to_path_buf(),
        ip: ip.to_string(),
    }
}

fn cluster_cmd(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::binary())
        .arg("cluster")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("tessera cluster runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn redis_py(addr: SocketAddr, mode: &str) {
    let py = common::python::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/redis_py/cluster.py");
    let out = Command::new(py)
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(mode)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "redis-py RedisCluster ({mode}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `[start, end]` of every CLUSTER SLOTS entry, with its node count.
fn slot_ranges(c: &mut Conn) -> Vec<(i64, i64, usize)> {
    let R::Array(entries) = c.cmd(&["CLUSTER", "SLOTS"]) else {
        panic!("CLUSTER SLOTS is not an array")
    };
    let mut out: Vec<_> = entries
        .into_iter()
        .map(|e| match e {
            R::Array(items) => match (&items[0], &items[1]) {
                (R::Int(a), R::Int(b)) => (*a, *b, items.len() - 2),
                other => panic!("bad range {other:?}"),
            },
            other => panic!("bad entry {other:?}"),
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_six_node_cluster_serves_redis_cluster_clients_and_survives_a_restart() {
    let root = tempfile::tempdir().unwrap();
    // Cluster mode refuses what does not go with it, before binding anything.
    let refused = Command::new(common::binary())
        .args(["serve", "--cluster", "--replica-of", "127.0.0.1:1"])
        .arg("--data-dir")
        .arg(root.path().join("refused"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("replica-of"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let mut nodes: Vec<ClusterNode> = (0..6)
        .map(|i| {
            let ip = format!("127.0.0.{}", 21 + i);
            let dir = root.path().join(format!("n{i}"));
            let any = format!("{ip}:0");
            start_node(&dir, &ip, &any, &any, &[])
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.binary.to_string()).collect();
    let mut args = vec!["create", "--replicas", "1"];
    args.extend(addrs.iter().map(String::as_str));

    // Bad input: a node that is not in cluster mode, an address that is not one.
    let plain = common::Node::start(1);
    let plain_addr = plain.addr().to_string();
    let (ok, _, err) = cluster_cmd(&["create", &plain_addr]);
    assert!(!ok && err.contains("cluster mode is off"), "{err}");
    let (ok, _, err) = cluster_cmd(&["create", "not-an-address"]);
    assert!(!ok && err.contains("HOST:PORT"), "{err}");
    let (ok, _, err) = cluster_cmd(&["create", "--replicas", "5", &addrs[0], &addrs[1]]);
    assert!(!ok && err.contains("cannot hold"), "{err}");

    // Form it: three primaries, one replica each, every slot assigned.
    let (ok, out, err) = cluster_cmd(&args);
    assert!(ok, "create failed: {err}");
    assert!(
        out.contains("3 shard(s), 16384 of 16384 slots assigned"),
        "{out}"
    );
    assert!(
        !err.contains("shares host"),
        "each node has its own address, so no replica shares its primary's: {err}"
    );
    let (ok, _, err) = cluster_cmd(&args);
    assert!(
        !ok && err.contains("already"),
        "a second create is refused: {err}"
    );
    let (ok, status, err) = cluster_cmd(&["status", "--addr", &addrs[4]]);
    assert!(ok, "{err}");
    assert!(
        status.contains("leader") && status.contains("voters:"),
        "{status}"
    );

    // CLUSTER SLOTS covers every slot once, each range with a primary and a replica.
    let mut c = Conn::connect(nodes[0].resp);
    let ranges = slot_ranges(&mut c);
    let mut next = 0;
    for (a, b, n) in &ranges {
        assert_eq!(*a, next, "{ranges:?}");
        assert_eq!(*n, 2, "{ranges:?}");
        next = b + 1;
    }
    assert_eq!(next, 16384);
    let info = c.cmd(&["CLUSTER", "INFO"]);
    let R::Bulk(info) = info else {
        panic!("{info:?}")
    };
    let info = String::from_utf8_lossy(&info);
    assert!(
        info.contains("cluster_state:ok") && info.contains("cluster_size:3"),
        "{info}"
    );
    let R::Bulk(myid) = c.cmd(&["CLUSTER", "MYID"]) else {
        panic!()
    };
    let R::Bulk(nodes_txt) = c.cmd(&["CLUSTER", "NODES"]) else {
        panic!()
    };
    let nodes_txt = String::from_utf8_lossy(&nodes_txt).into_owned();
    let mine = nodes_txt.lines().find(|l| l.contains("myself")).unwrap();
    assert!(
        mine.starts_with(&*String::from_utf8_lossy(&myid)),
        "{nodes_txt}"
    );
    assert_eq!(nodes_txt.lines().filter(|l| l.contains("slave")).count(), 3);
    assert_eq!(c.cmd(&["CLUSTER", "KEYSLOT", "foo"]), R::Int(12182));

    // Redirects: the owner's RESP address; CROSSSLOT per slot, even on one node.
    let owner_of_foo = ranges
        .iter()
        .position(|r| r.0 <= 12182 && 12182 <= r.1)
        .unwrap();
    let r = c.cmd(&["SET", "foo", "bar"]);
    if owner_of_foo != 0 {
        let R::Err(e) = &r else { panic!("{r:?}") };
        assert!(e.starts_with("MOVED 12182 "), "{e}");
        let target: SocketAddr = e.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(nodes.iter().any(|n| n.resp == target), "{e}");
    }
    assert_eq!(
        c.cmd(&["MSET", "a", "1", "b", "2"]).err_word(),
        Some("CROSSSLOT")
    );
    assert_ne!(
        c.cmd(&["MGET", "{t}a", "{t}b"]).err_word(),
        Some("CROSSSLOT"),
        "keys of one slot never get CROSSSLOT"
    );

    // redis-cli -c follows the MOVED.
    let (first_ip, first_port) = (nodes[0].ip.clone(), nodes[0].resp.port().to_string());
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-h", &first_ip, "-p", &first_port, "-c"])
            .args(args)
            .output()
            .expect("redis-cli runs (tools/setup.sh installs redis-tools)");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["set", "foo", "via-cli"]), "OK");
    assert_eq!(cli(&["get", "foo"]), "via-cli");

    // The binary protocol answers MOVED with the owner's binary address.
    let wrong = if owner_of_foo == 0 { 1 } else { 0 };
    let wrong_addr = nodes[ranges_owner_node(&ranges, wrong, &mut c, &nodes)].binary;
    let e = common::block_on(async move {
        let client = tessera::client::Client::connect_direct(wrong_addr)
            .await
            .unwrap();
        client.get(b"foo").await.unwrap_err()
    });
    assert_eq!(e.code(), Some(tessera::codes::ErrorCode::Moved), "{e}");

    // redis-py's RedisCluster: 10,000 keys over every slot.
    redis_py(nodes[0].resp, "write");

    // The keys of a slot, on its primary (key:4 is in slot 2724, shard 0's).
    assert_eq!(c.cmd(&["CLUSTER", "KEYSLOT", "key:4"]), R::Int(2724));
    let R::Int(n) = c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "2724"]) else {
        panic!()
    };
    let R::Array(keys) = c.cmd(&["CLUSTER", "GETKEYSINSLOT", "2724", "100"]) else {
        panic!()
    };
    assert!(n >= 1 && keys.len() as i64 == n, "{n} {keys:?}");
    assert!(keys.contains(&R::bulk("key:4")), "{keys:?}");

    // Shard 0's replica serves reads to READONLY clients once it has the
    // writes, and redirects writes and plain reads to its primary.
    let primary_id = String::from_utf8_lossy(&myid).into_owned();
    let replica = nodes
        .iter()
        .find(|n| {
            let mut cc = Conn::connect(n.resp);
            let R::Bulk(t) = cc.cmd(&["CLUSTER", "NODES"]) else {
                return false;
            };
            String::from_utf8_lossy(&t)
                .lines()
                .any(|l| l.contains("myself,slave") && l.contains(&primary_id))
        })
        .expect("shard 0's replica");
    let mut rc = Conn::connect(replica.resp);
    assert_eq!(rc.cmd(&["GET", "key:4"]).err_word(), Some("MOVED"));
    assert_eq!(rc.cmd(&["READONLY"]), R::ok());
    common::wait_until(
        "the replica has its shard's keys",
        Duration::from_secs(20),
        || rc.cmd(&["GET", "key:4"]) == R::bulk("v4"),
    );
    assert_eq!(rc.cmd(&["SET", "key:4", "x"]).err_word(), Some("MOVED"));
    assert_eq!(rc.cmd(&["READWRITE"]), R::ok());
    assert_eq!(rc.cmd(&["GET", "key:4"]).err_word(), Some("MOVED"));

    // Restart every node on the same addresses: the map and the data return.
    let mut again = Vec::new();
    for n in nodes.drain(..) {
        let (dir, ip, binary, resp) = (n.dir.clone(), n.ip.clone(), n.binary, n.resp);
        let pid = n.child.id();
        common::sigterm(pid);
        let mut n = n;
        let _ = n.child.wait();
        drop(n);
        again.push((dir, ip, binary, resp));
    }
    let nodes: Vec<ClusterNode> = again
        .iter()
        .map(|(dir, ip, b, r)| start_node(dir, ip, &b.to_string(), &r.to_string(), &[]))
        .collect();
    let mut c = Conn::connect(nodes[0].resp);
    common::wait_until(
        "the restarted cluster is ok",
        Duration::from_secs(30),
        || matches!(c.cmd(&["CLUSTER", "INFO"]), R::Bulk(i) if String::from_utf8_lossy(&i).contains("cluster_state:ok")),
    );
    assert_eq!(
        slot_ranges(&mut c),
        ranges,
        "the same map after the restart"
    );
    common::wait_until("writes are taken again", Duration::from_secs(30), || {
        cli(&["set", "after-restart", "1"]) == "OK"
    });
    redis_py(nodes[0].resp, "read");
    drop(plain);
}

/// The index (in `nodes`) of the primary of `ranges[i]`.
fn ranges_owner_node(
    ranges: &[(i64, i64, usize)],
    i: usize,
    c: &mut Conn,
    nodes: &[ClusterNode],
) -> usize {
    let R::Array(entries) = c.cmd(&["CLUSTER", "SLOTS"]) else {
        panic!()
    };
    for e in entries {
        let R::Array(items) = e else { continue };
        if items[0] != R::Int(ranges[i].0) {
            continue;
        }
        let R::Array(primary) = &items[2] else {
            continue;
        };
        let R::Int(port) = primary[1] else { continue };
        return nodes
            .iter()
            .position(|n| i64::from(n.resp.port()) == port)
            .expect("a known node");
    }
    panic!("no range {i}")
}
