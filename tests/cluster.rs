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
use std::process::Command;
use std::time::Duration;

use common::cluster::*;
use common::resp::{Conn, R};

#[test]
fn a_six_node_cluster_serves_redis_cluster_clients_and_survives_a_restart() {
    let root = tempfile::tempdir().unwrap();
    // Cluster mode refuses what does not go with it, before binding anything.
    refuses_to_start(
        &["serve", "--cluster", "--replica-of", "127.0.0.1:1"],
        &root.path().join("refused"),
        "replica-of",
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
        let (_, out, _) =
            tessera(&[&["cli", "--addr", &nodes[0].binary.to_string()], args].concat());
        out.trim().to_string()
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

    // HELLO carries the map: every slot's owner and every node's per-core
    // ports, so `Client::connect` routes without asking again; the same
    // client then reads `foo` from its owner through the wrong node.
    let (hello, got) = common::block_on(async move {
        let client = tessera::client::Client::connect(wrong_addr).await.unwrap();
        let got = client.get(b"foo").await.unwrap();
        (client.hello().clone(), got)
    });
    let map = tessera::proto::cluster_slots::ClusterSlots::decode(&hello.cluster).unwrap();
    assert_eq!(
        map.ranges
            .iter()
            .map(|r| u32::from(r.end - r.start) + 1)
            .sum::<u32>(),
        16384
    );
    assert_eq!(map.core_ports.len(), 6, "{map:?}");
    for n in &nodes {
        let ports = &map
            .core_ports
            .iter()
            .find(|(a, _)| *a == n.binary.to_string())
            .unwrap()
            .1;
        assert_eq!(ports.len(), 1, "--cores 1: {map:?}");
    }
    assert!(matches!(
        hello.layout,
        tessera::proto::SlotLayout::Interleaved(2)
    ));
    assert_eq!(got.map(|v| v.value), Some(b"via-tessera-cli".to_vec()));

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

    // Placement inside a node: a cluster data directory interleaves the
    // slots, so each primary's contiguous third of them lands on both of
    // its partitions; SCAN walks both and finds each key once.
    let mut scanned = std::collections::BTreeSet::new();
    for n in &nodes {
        let mut cn = Conn::connect(n.resp);
        let R::Bulk(info) = cn.cmd(&["INFO"]) else {
            panic!("INFO")
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        assert!(info.contains("partition1_slots:1-16383/2"), "{info}");
        if !info.contains("cluster_role:primary") {
            continue;
        }
        let writes = |p: u32| -> u64 {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("partition{p}_writes:")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no partition{p}_writes: {info}"))
        };
        let (w0, w1) = (writes(0), writes(1));
        assert!(
            w0 > w0.max(w1) / 3 && w1 > w0.max(w1) / 3,
            "{}: {w0} {w1}",
            n.binary
        );
        let mut cursor = "0".to_string();
        loop {
            let R::Array(page) = cn.cmd(&["SCAN", &cursor, "MATCH", "key:*", "COUNT", "500"])
            else {
                panic!("SCAN")
            };
            let (R::Bulk(next), R::Array(keys)) = (&page[0], &page[1]) else {
                panic!("{page:?}")
            };
            for k in keys {
                let R::Bulk(k) = k else { panic!("{k:?}") };
                assert!(scanned.insert(k.clone()), "{k:?} twice");
            }
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
    }
    assert_eq!(scanned.len(), 10_000, "SCAN over the primaries");

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
    let on_replica = |args: &[&str]| cli_on(replica.binary, args);
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

    // Restart every node, each asking for ephemeral ports again (port 0):
    // each gets its last ports back, so the map's addresses still hold and
    // the map and the data return.
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
    let mut nodes: Vec<ClusterNode> = again
        .iter()
        .map(|(dir, ip, _, _, _)| {
            let any = format!("{ip}:0");
            start_node_http(dir, ip, &any, &any, &any, &[])
        })
        .collect();
    for (n, (_, _, b, r, h)) in nodes.iter().zip(&again) {
        assert_eq!((n.binary, n.resp, n.http), (*b, *r, Some(*h)));
    }
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

    // A node whose last ports were taken meanwhile restarts on new ones and
    // tells the cluster: the map, MOVED, HELLO and CLUSTER NODES point at
    // its new addresses, and every key is still read through any node.
    let i = nodes
        .iter()
        .position(|n| Some(n.resp) == primary_of(&mut c, 0))
        .unwrap();
    let watcher = nodes[(i + 1) % nodes.len()].resp;
    let old = nodes.remove(i);
    common::sigterm(old.child.id());
    let (dir, ip, old_binary, old_resp) = (old.dir.clone(), old.ip.clone(), old.binary, old.resp);
    drop(old);
    let any = format!("{ip}:0");
    // Another listener takes its old ports, as a process of the same user
    // with SO_REUSEPORT could (a plain bind may meet the old node's
    // connections still closing there).
    let hold = |a: SocketAddr| {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_reuse_port(true).unwrap();
        s.bind(&a.into())
            .unwrap_or_else(|e| panic!("hold {a}: {e}"));
        s.listen(8).unwrap();
        s
    };
    let _taken = (hold(old_binary), hold(old_resp));
    let moved = start_node_http(&dir, &ip, &any, &any, &any, &[]);
    assert!(moved.binary != old_binary && moved.resp != old_resp);
    let mut w = Conn::connect(watcher);
    let new_resp = moved.resp.to_string();
    common::wait_until(
        "the map lists the new addresses",
        Duration::from_secs(30),
        || matches!(w.cmd(&["CLUSTER", "NODES"]), R::Bulk(t) if String::from_utf8_lossy(&t).contains(&new_resp)),
    );
    let (ok, status, err) = cluster_cmd(&["status", "--addr", &watcher_binary(&nodes, watcher)]);
    assert!(
        ok && status.contains(&moved.binary.to_string()),
        "{status}{err}"
    );
    assert!(!status.contains(&old_binary.to_string()), "{status}");
    nodes.push(moved);
    redis_py(watcher, "read");
    drop(plain);
}

/// The binary address of the node whose RESP address is `resp`.
fn watcher_binary(nodes: &[ClusterNode], resp: SocketAddr) -> String {
    nodes
        .iter()
        .find(|n| n.resp == resp)
        .unwrap()
        .binary
        .to_string()
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
    let stray = [
        "serve",
        "--cluster",
        "--listen",
        "127.0.0.47:0",
        "--resp-listen",
        "off",
        "--http-listen",
        "off",
    ];
    let args: Vec<&str> = stray.iter().chain(extra.iter()).copied().collect();
    refuses_to_start(&args, &root.path().join("stray"), "not in cluster-peers");
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
    let (ok, _, err) = tessera(&[
        "backup",
        "--addr",
        &a_addr,
        "--to",
        backup.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
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

    // A new, empty node (interleaved, the cluster default) added as a
    // second replica takes the primary's contiguous ranges, restarts in
    // place (the same process, its ports kept) and follows.
    let f_dir = root.path().join("f");
    let mut f = start_node(&f_dir, "127.0.0.54", "127.0.0.54:0", "127.0.0.54:0", &[]);
    let (ok, out, err) = cluster_cmd(&[
        "add-node",
        &f.binary.to_string(),
        "--replica-of",
        "0",
        "--addr",
        &a_addr,
    ]);
    assert!(ok, "add-node failed: {out}{err}");
    common::wait_until(
        "the new replica took the ranges and follows",
        Duration::from_secs(60),
        || {
            let Some(mut rf) = Conn::try_connect(f.resp) else {
                return false;
            };
            rf.try_cmd(&["READONLY"]) == Some(R::ok())
                && rf.try_cmd(&["GET", "old:199"]) == Some(R::bulk("199"))
        },
    );
    assert!(f.child.try_wait().unwrap().is_none(), "restarted in place");
    let log = std::fs::read_to_string(log_of(&f_dir)).unwrap();
    assert!(
        log.contains("takes its primary") && log.matches("tessera ready").count() == 2,
        "{log}"
    );
    let mut rf = Conn::connect(f.resp);
    let info = match rf.cmd(&["INFO"]) {
        R::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO: {other:?}"),
    };
    assert!(info.contains("partition0_slots:0-8191"), "{info}");
    // It tells the map its new layout.
    common::wait_until(
        "the map has the new layout",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(log_of(&f_dir))
                .is_ok_and(|l| l.contains("the map now lists this node"))
        },
    );
    drop((rf, f));

    // A restored backup is a node with data: adopted as a cluster of its own.
    let restored = root.path().join("restored");
    let (ok, _, err) = tessera(&[
        "restore",
        "--from",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let r = start_node(&restored, "127.0.0.53", "127.0.0.53:0", "127.0.0.53:0", &[]);
    let (ok, _, err) = cluster_cmd(&["create", "--adopt", &r.binary.to_string()]);
    assert!(ok, "{err}");
    let mut cr = Conn::connect(r.resp);
    assert_eq!(cr.cmd(&["GET", "old:150"]), R::bulk("150"));
    assert_eq!(cr.cmd(&["GET", "new"]), R::Nil, "the backup predates it");
}
