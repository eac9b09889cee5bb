//! Cluster mode with real processes on loopback (docs/cluster.md): six
//! `tessera serve --cluster` nodes formed with `tessera cluster create
//! --replicas 1`, Redis Cluster clients (redis-py's RedisCluster,
//! `redis-cli -c`), redirects and refusals, and a restart of every node.
//!
//! One fixture serves the whole file (the issue's CI budget). Each node
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
    http: Option<SocketAddr>,
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
    start_node_http(dir, ip, binary, resp, "off", extra)
}

fn start_node_http(
    dir: &Path,
    ip: &str,
    binary: &str,
    resp: &str,
    http: &str,
    extra: &[&str],
) -> ClusterNode {
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
            http,
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
        http: word(&line, "http="),
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
            start_node_http(&dir, &ip, &any, &any, &any, &[])
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.binary.to_string()).collect();
    // `--cores 1` nodes on a machine with more CPUs are not all pinned to
    // the first one: their reactors may run on every CPU of the mask.
    let mask = tessera::net::sys::affinity_cpus();
    if mask.len() > 1 {
        for n in &nodes[..2] {
            let allowed = reactor_cpus(n.child.id());
            assert_eq!(
                allowed,
                mask.len(),
                "reactor of {} on {allowed} CPU(s)",
                n.binary
            );
        }
    }
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
    // Another cluster's messages and joins are refused, with the reason.
    {
        use tessera::cluster::controller::JoinRequest;
        use tessera::cluster::net::{JOIN, RAFT};
        let other = "ab".repeat(20);
        let join = serde_json::to_vec(&JoinRequest {
            format: 1,
            cluster_id: other.clone(),
        })
        .unwrap();
        let e = tessera::cluster_cli::call(&addrs[2], JOIN, &join).unwrap_err();
        assert!(e.contains("belongs to cluster"), "{e}");
        let me: tessera::cluster::controller::IdentityReply = serde_json::from_slice(
            &tessera::cluster_cli::call(&addrs[2], tessera::cluster::net::IDENTITY, b"").unwrap(),
        )
        .unwrap();
        let to = me.node.id;
        let envelope = format!(
            r#"{{"format":1,"cluster_id":"{other}","from":1,"to":{to},"rpc":{{"Vote":{{"vote":{{"leader_id":{{"term":9,"node_id":1}},"committed":false}},"last_log_id":null}}}}}}"#
        );
        let reply = tessera::cluster_cli::call(&addrs[2], RAFT, envelope.as_bytes()).unwrap();
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.contains("Refused") && reply.contains("belongs to cluster"),
            "{reply}"
        );
        let (ok, _, err) = cluster_cmd(&["status", "--addr", "nowhere"]);
        assert!(!ok && err.contains("HOST:PORT"), "{err}");
    }
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

    // `tessera cli` (the Rust client) follows the cluster map.
    let tcli = |args: &[&str]| {
        let out = Command::new(common::binary())
            .args(["cli", "--addr", &nodes[0].binary.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert!(!tcli(&["set", "foo", "via-tessera-cli"]).is_empty());
    assert_eq!(tcli(&["get", "foo"]), "via-tessera-cli");

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

    // HTTP answers a key it does not serve with 307 to the owner's HTTP address.
    {
        use std::io::{Read, Write};
        let owner = primary_of(&mut c, 12182).unwrap();
        let owner_http = nodes
            .iter()
            .find(|n| n.resp == owner)
            .and_then(|n| n.http)
            .unwrap_or_else(|| {
                panic!(
                    "no node with RESP {owner}: {:?}",
                    nodes.iter().map(|n| (n.resp, n.http)).collect::<Vec<_>>()
                )
            });
        let mut s = std::net::TcpStream::connect(nodes[0].http.unwrap()).unwrap();
        s.write_all(b"GET /v1/kv/foo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 307"), "{reply}");
        assert!(
            reply.contains(&format!("Location: http://{owner_http}/v1/kv/foo\r\n")),
            "{reply}"
        );
    }

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

    // A manual promotion goes through the controller: the replica becomes
    // shard 0's primary once the old primary's write lease has run out, the
    // old primary its replica; REPLICAOF is refused in cluster mode.
    let on_replica = |args: &[&str]| {
        let out = Command::new(common::binary())
            .args(["cli", "--addr", &replica.binary.to_string()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = on_replica(&["replicaof", &nodes[1].binary.to_string()]);
    assert!(!ok && text.contains("cluster map decides"), "{text}");
    let (ok, text) = on_replica(&["promote"]);
    assert!(ok && text.contains("primary"), "{text}");
    common::wait_until(
        "the replica is shard 0's primary",
        Duration::from_secs(20),
        || primary_of(&mut c, 0) == Some(replica.resp),
    );
    let (ok, text) = on_replica(&["promote"]);
    assert!(
        !ok && text.contains("already"),
        "a second promotion is refused: {text}"
    );
    let mut new0 = Conn::connect(replica.resp);
    common::wait_until(
        "the promoted replica takes writes",
        Duration::from_secs(20),
        || new0.cmd(&["SET", "{key:4}p", "promoted"]) == R::ok(),
    );
    common::wait_until("the old primary redirects", Duration::from_secs(20), || {
        c.cmd(&["SET", "{key:4}p", "old"]).err_word() == Some("MOVED")
    });
    assert_eq!(new0.cmd(&["GET", "{key:4}p"]), R::bulk("promoted"));

    // PUBLISH reaches subscribers on every node, as in Redis Cluster.
    let mut sub = Conn::connect(nodes[5].resp);
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "news"]),
        R::Array(vec![R::bulk("subscribe"), R::bulk("news"), R::Int(1)])
    );
    let mut publisher = Conn::connect(nodes[0].resp);
    publisher.cmd(&["PUBLISH", "news", "from-node-0"]);
    assert_eq!(
        sub.read(),
        R::Array(vec![
            R::bulk("message"),
            R::bulk("news"),
            R::bulk("from-node-0")
        ])
    );
    drop(sub);

    // Restart every node on the same addresses: the map and the data return.
    let mut again = Vec::new();
    for n in nodes.drain(..) {
        let (dir, ip, binary, resp) = (n.dir.clone(), n.ip.clone(), n.binary, n.resp);
        let http = n.http.expect("http is on");
        let pid = n.child.id();
        common::sigterm(pid);
        let mut n = n;
        let _ = n.child.wait();
        drop(n);
        again.push((dir, ip, binary, resp, http));
    }
    let nodes: Vec<ClusterNode> = again
        .iter()
        .map(|(dir, ip, b, r, h)| {
            start_node_http(dir, ip, &b.to_string(), &r.to_string(), &h.to_string(), &[])
        })
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

/// The fewest CPUs any thread of core 0 (the reactor and its blocking
/// pool, named `tessera-core-0-…`) of process `pid` may run on (their
/// `Cpus_allowed_list`): a pinned reactor would show 1.
fn reactor_cpus(pid: u32) -> usize {
    let mut fewest = None;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("tessera-core-0") {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_string();
        let n: usize = list
            .split(',')
            .map(|r| match r.split_once('-') {
                Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
                None => 1,
            })
            .sum();
        fewest = Some(fewest.map_or(n, |f: usize| f.min(n)));
    }
    fewest.unwrap_or_else(|| panic!("no reactor thread in process {pid}"))
}

/// The RESP address of the primary serving `slot`, as `c`'s node sees it.
fn primary_of(c: &mut Conn, slot: i64) -> Option<SocketAddr> {
    let R::Array(entries) = c.cmd(&["CLUSTER", "SLOTS"]) else {
        return None;
    };
    for e in entries {
        let R::Array(items) = e else { continue };
        let (R::Int(a), R::Int(b)) = (&items[0], &items[1]) else {
            continue;
        };
        if *a <= slot && slot <= *b {
            let R::Array(p) = &items[2] else { return None };
            let (R::Bulk(ip), R::Int(port)) = (&p[0], &p[1]) else {
                return None;
            };
            return format!("{}:{port}", String::from_utf8_lossy(ip))
                .parse()
                .ok();
        }
    }
    None
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn restart(n: &ClusterNode, extra: &[&str]) -> ClusterNode {
    start_node(
        &n.dir,
        &n.ip,
        &n.binary.to_string(),
        &n.resp.to_string(),
        extra,
    )
}

/// Failover with real processes: a primary killed under a redis-py write
/// load with `--min-replicas-to-ack 1` (no acknowledged write lost, the old
/// primary returns as a replica), the controller's leader killed (a new one
/// is elected and fails its shard over too), and a primary stopped past the
/// node timeout (SIGSTOP) that takes no write once resumed.
#[test]
fn primaries_fail_over_without_losing_acknowledged_writes() {
    let root = tempfile::tempdir().unwrap();
    let extra = [
        "--min-replicas-to-ack",
        "1",
        "--cluster-node-timeout-ms",
        "2000",
    ];
    let mut nodes: Vec<Option<ClusterNode>> = (0..6)
        .map(|i| {
            let ip = format!("127.0.0.{}", 31 + i);
            let any = format!("{ip}:0");
            Some(start_node(
                &root.path().join(format!("n{i}")),
                &ip,
                &any,
                &any,
                &extra,
            ))
        })
        .collect();
    let node = |nodes: &[Option<ClusterNode>], i: usize| -> (SocketAddr, SocketAddr) {
        let n = nodes[i].as_ref().unwrap();
        (n.binary, n.resp)
    };
    let mut args = vec!["create".to_string(), "--replicas".into(), "1".into()];
    args.extend((0..6).map(|i| node(&nodes, i).0.to_string()));
    let (ok, _, err) = cluster_cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "create failed: {err}");
    // Shards 0, 1, 2 are nodes 0, 1, 2 (slots 0-5460, 5461-10922, 10923-16383).
    let (slot1, slot2) = (5461 + 100, 10923 + 100);

    let py = common::python::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/redis_py/cluster_load.py");
    let acked = root.path().join("acked");
    let stop = root.path().join("stop");
    let entry = node(&nodes, 3).1; // a replica, never killed here
    let mut load = KillOnDrop(Some(
        Command::new(&py)
            .arg(&script)
            .args([entry.ip().to_string(), entry.port().to_string()])
            .arg("load")
            .arg(&acked)
            .arg(&stop)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    common::wait_until("the load is acknowledged", Duration::from_secs(30), || {
        lines(&acked) >= 300
    });

    // 1. SIGKILL shard 1's primary under the load.
    let mut watch = Conn::connect(node(&nodes, 3).1);
    let old1 = node(&nodes, 1).1;
    let killed = nodes[1].take().unwrap();
    let t0 = std::time::Instant::now();
    let mut killed = killed;
    let _ = killed.child.kill();
    let _ = killed.child.wait();
    common::wait_until("shard 1 is failed over", Duration::from_secs(30), || {
        primary_of(&mut watch, slot1).is_some_and(|p| p != old1)
    });
    let new1 = primary_of(&mut watch, slot1).unwrap();
    // The new primary has no live replica: it takes writes but cannot
    // acknowledge them under --min-replicas-to-ack 1.
    let mut p1 = Conn::connect(new1);
    let key1 = (0..)
        .map(|i| format!("probe{i}"))
        .find(|k| {
            matches!(watch.cmd(&["CLUSTER", "KEYSLOT", k]), R::Int(s) if (5461..=10922).contains(&s))
        })
        .unwrap();
    let mut first = None;
    common::wait_until(
        "the new primary takes writes",
        Duration::from_secs(30),
        || {
            let r = p1.cmd(&["SET", &key1, "x"]);
            let taken = r == R::ok() || r.err_word() == Some("NOREPLICAS");
            if taken && first.is_none() {
                first = Some((t0.elapsed(), r));
            }
            taken
        },
    );
    let (took, reply) = first.unwrap();
    eprintln!("kill → first write taken by the new primary: {took:?} ({reply:?})");
    assert_eq!(
        reply.err_word(),
        Some("NOREPLICAS"),
        "no live replica: {reply:?}"
    );
    // The old primary returns as a replica and converges; acks resume.
    nodes[1] = Some(restart(&killed, &extra));
    drop(killed);
    let mut back = Conn::connect(old1);
    assert_eq!(back.cmd(&["READONLY"]), R::ok());
    common::wait_until(
        "the old primary follows the new one",
        Duration::from_secs(30),
        || back.cmd(&["GET", &key1]) == R::bulk("x"),
    );
    let before = lines(&acked);
    common::wait_until(
        "acks resume after the old primary returns",
        Duration::from_secs(60),
        || lines(&acked) >= before + 200,
    );

    // 2. SIGKILL the controller's leader (node 0, also shard 0's primary):
    // a new leader is elected and fails shard 0 over.
    let old0 = node(&nodes, 0).1;
    let mut leader = nodes[0].take().unwrap();
    let _ = leader.child.kill();
    let _ = leader.child.wait();
    common::wait_until(
        "shard 0 is failed over by a new leader",
        Duration::from_secs(60),
        || primary_of(&mut watch, 0).is_some_and(|p| p != old0),
    );
    let R::Bulk(info) = watch.cmd(&["INFO"]) else {
        panic!()
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    assert!(!info.contains("cluster_controller_leader:none"), "{info}");
    nodes[0] = Some(restart(&leader, &extra));
    drop(leader);

    // 3. SIGSTOP shard 2's primary past the node timeout: once resumed it
    // takes no write, and its replica is the primary.
    let old2 = node(&nodes, 2);
    let pid = nodes[2].as_ref().unwrap().child.id();
    let key2 = (0..)
        .map(|i| format!("stopped{i}"))
        .find(|k| matches!(watch.cmd(&["CLUSTER", "KEYSLOT", k]), R::Int(s) if s >= 10923))
        .unwrap();
    let mut direct = Conn::connect(old2.1);
    assert_eq!(signal(pid, "STOP"), 0);
    common::wait_until("shard 2 is failed over", Duration::from_secs(30), || {
        primary_of(&mut watch, slot2).is_some_and(|p| p != old2.1)
    });
    assert_eq!(signal(pid, "CONT"), 0);
    let r = direct.cmd(&["SET", &key2, "from-the-old-primary"]);
    assert_ne!(
        r,
        R::ok(),
        "a resumed old primary must not take writes: {r:?}"
    );
    let new2 = primary_of(&mut watch, slot2).unwrap();
    let mut p2 = Conn::connect(new2);
    assert_ne!(p2.cmd(&["GET", &key2]), R::bulk("from-the-old-primary"));
    common::wait_until(
        "the resumed node is redirected",
        Duration::from_secs(30),
        || direct.cmd(&["SET", &key2, "y"]).err_word() == Some("MOVED"),
    );

    // Every acknowledged write is readable.
    std::fs::write(&stop, b"").unwrap();
    let out = load.0.take().unwrap().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let verify = Command::new(&py)
        .arg(&script)
        .args([entry.ip().to_string(), entry.port().to_string()])
        .arg("verify")
        .arg(&acked)
        .output()
        .unwrap();
    assert!(
        verify.status.success() && String::from_utf8_lossy(&verify.stdout).trim() == "ok",
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

/// A child process killed when the test ends, even by a panic (the load
/// script would otherwise run on).
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends `signal` to `pid` with kill(1).
fn signal(pid: u32, signal: &str) -> i32 {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.code().unwrap_or(-1))
        .unwrap_or(-1)
}

/// The same six-node cluster formed declaratively: every node gets the same
/// `--cluster-peers` list and `--cluster-replicas 1`, and the first listed
/// forms it once all answer.
#[test]
fn a_cluster_forms_itself_from_cluster_peers() {
    let root = tempfile::tempdir().unwrap();
    // Ports chosen by the kernel on addresses no other test uses.
    let addrs: Vec<String> = (0..6)
        .map(|i| {
            let l = std::net::TcpListener::bind(format!("127.0.0.{}:0", 41 + i)).unwrap();
            l.local_addr().unwrap().to_string()
        })
        .collect();
    let peers = addrs.join(",");
    let extra = ["--cluster-peers", &peers, "--cluster-replicas", "1"];
    // A node that is not in the list refuses to start, and says why.
    let stray = Command::new(common::binary())
        .args([
            "serve",
            "--cluster",
            "--listen",
            "127.0.0.47:0",
            "--resp-listen",
            "off",
        ])
        .args(["--http-listen", "off", "--data-dir"])
        .arg(root.path().join("stray"))
        .args(extra)
        .output()
        .unwrap();
    assert!(!stray.status.success());
    assert!(
        String::from_utf8_lossy(&stray.stderr).contains("not in cluster-peers"),
        "{}",
        String::from_utf8_lossy(&stray.stderr)
    );
    // Started last-listed first: the first listed waits for everyone.
    let mut nodes: Vec<ClusterNode> = (0..6)
        .rev()
        .map(|i| {
            let ip = format!("127.0.0.{}", 41 + i);
            let dir = root.path().join(format!("n{i}"));
            start_node(&dir, &ip, &addrs[i], &format!("{ip}:0"), &extra)
        })
        .collect();
    nodes.reverse();
    let mut c = Conn::connect(nodes[5].resp);
    common::wait_until(
        "the cluster forms itself",
        Duration::from_secs(60),
        || matches!(c.cmd(&["CLUSTER", "INFO"]), R::Bulk(i) if String::from_utf8_lossy(&i).contains("cluster_state:ok")),
    );
    let ranges = slot_ranges(&mut c);
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert!(ranges.iter().all(|r| r.2 == 2), "{ranges:?}");
    let (ok, status, err) = cluster_cmd(&["status", "--addr", &addrs[3]]);
    assert!(
        ok && status.contains("6 node(s), 3 shard(s)"),
        "{status}{err}"
    );
    let mut first = Conn::connect(nodes[0].resp);
    let R::Int(slot) = first.cmd(&["CLUSTER", "KEYSLOT", "{a}"]) else {
        panic!()
    };
    common::wait_until("writes are taken", Duration::from_secs(30), || {
        let p = primary_of(&mut first, slot).unwrap();
        Conn::connect(p).cmd(&["SET", "{a}", "1"]) == R::ok()
    });
}

/// A plain process (no `--cluster`) on `ip`, for the adoption test.
fn start_plain(
    dir: &Path,
    listen: &str,
    resp: &str,
    extra: &[&str],
) -> (Child, SocketAddr, SocketAddr) {
    let mut cmd = Command::new(common::binary());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--cores", "1", "--partitions", "2", "--listen", listen])
        .args(["--resp-listen", resp, "--http-listen", "off"])
        .args(extra)
        .stderr(Stdio::null());
    let (child, line) = common::spawn_until_ready(&mut cmd).expect("tessera starts");
    (
        child,
        word(&line, "binary=").expect("ready line"),
        word(&line, "resp=").expect("ready line"),
    )
}

/// An existing node with a replica, restarted with `--cluster`, is adopted
/// as a one-shard cluster with its data (`create --adopt`); a restored
/// backup becomes a cluster node the same way; `create` refuses nodes that
/// hold keys.
#[test]
fn an_existing_node_and_a_restored_backup_are_adopted() {
    let root = tempfile::tempdir().unwrap();
    let backups = root.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let backup_root = backups.to_str().unwrap().to_string();
    let (a_dir, b_dir) = (root.path().join("a"), root.path().join("b"));
    let (mut a, a_bin, a_resp) = start_plain(
        &a_dir,
        "127.0.0.51:0",
        "127.0.0.51:0",
        &["--backup-root", &backup_root],
    );
    let a_addr = a_bin.to_string();
    let (mut b, b_bin, b_resp) = start_plain(
        &b_dir,
        "127.0.0.52:0",
        "127.0.0.52:0",
        &["--replica-of", &a_addr],
    );
    let mut ca = Conn::connect(a_resp);
    for i in 0..200 {
        assert_eq!(
            ca.cmd(&["SET", &format!("old:{i}"), &i.to_string()]),
            R::ok()
        );
    }
    let mut cb = Conn::connect(b_resp);
    common::wait_until("the replica has the data", Duration::from_secs(20), || {
        cb.cmd(&["GET", "old:199"]) == R::bulk("199")
    });
    let backup = backups.join("b1");
    let out = Command::new(common::binary())
        .args(["backup", "--addr", &a_addr, "--to"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop((ca, cb));
    for c in [&mut a, &mut b] {
        common::sigterm(c.id());
        c.wait().unwrap();
    }

    // Both restart in cluster mode on their addresses; adopted as one shard.
    let a = start_node(&a_dir, "127.0.0.51", &a_addr, &a_resp.to_string(), &[]);
    let b = start_node(
        &b_dir,
        "127.0.0.52",
        &b_bin.to_string(),
        &b_resp.to_string(),
        &[],
    );
    let (ok, _, err) = cluster_cmd(&["create", &a_addr, &b_bin.to_string()]);
    assert!(
        !ok && err.contains("holds about"),
        "nodes with keys are refused: {err}"
    );
    let (ok, out, err) = cluster_cmd(&["create", "--adopt", &a_addr, &b_bin.to_string()]);
    assert!(ok, "adopt failed: {err}");
    assert!(
        out.contains("1 shard(s), 16384 of 16384 slots assigned"),
        "{out}"
    );
    let mut c = Conn::connect(a.resp);
    assert_eq!(slot_ranges(&mut c), vec![(0, 16383, 2)]);
    common::wait_until(
        "the adopted primary takes writes",
        Duration::from_secs(20),
        || c.cmd(&["SET", "new", "1"]) == R::ok(),
    );
    for i in (0..200).step_by(37) {
        assert_eq!(
            c.cmd(&["GET", &format!("old:{i}")]),
            R::bulk(&i.to_string())
        );
    }
    let mut rb = Conn::connect(b.resp);
    assert_eq!(rb.cmd(&["READONLY"]), R::ok());
    common::wait_until(
        "the adopted replica follows",
        Duration::from_secs(20),
        || rb.cmd(&["GET", "new"]) == R::bulk("1"),
    );

    // A restored backup is a node with data: adopted as a cluster of its own.
    let restored = root.path().join("restored");
    let out = Command::new(common::binary())
        .args(["restore", "--from"])
        .arg(&backup)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = start_node(&restored, "127.0.0.53", "127.0.0.53:0", "127.0.0.53:0", &[]);
    let (ok, _, err) = cluster_cmd(&["create", "--adopt", &r.binary.to_string()]);
    assert!(ok, "{err}");
    let mut cr = Conn::connect(r.resp);
    assert_eq!(cr.cmd(&["GET", "old:150"]), R::bulk("150"));
    assert_eq!(cr.cmd(&["GET", "new"]), R::Nil, "the backup predates it");
}
