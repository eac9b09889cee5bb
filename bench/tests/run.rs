//! Short runs of the generator against real servers: Tessera in this
//! process (binary protocol, temp dir, 127.0.0.1:0) and a real redis-server
//! (RESP) on an ephemeral port. Nothing here asserts speed.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use tessera::client::Client;
use tessera::Config;
use tessera_bench::driver::Proto;
use tessera_bench::run::{block_on, run, RunSpec};
use tessera_bench::workload::{Dist, Mix, Op, ValueSize};

fn node(dir: &std::path::Path, cores: usize) -> tessera::ServerHandle {
    tessera::start(Config {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        cores: Some(cores),
        block_cache_bytes: 8 << 20,
        write_buffer_bytes: 16 << 20,
        http_listen: "127.0.0.1:0".into(),
        resp_listen: "127.0.0.1:0".into(),
        ..Config::default()
    })
    .expect("server starts")
}

fn spec(proto: Proto, addr: SocketAddr, mix: Mix, preload: bool) -> RunSpec {
    RunSpec {
        label: "test".into(),
        proto,
        addr,
        conns: 8,
        pipeline: 4,
        keyspace: 500,
        dist: Dist::Uniform,
        mix,
        values: ValueSize { lo: 10, hi: 40 },
        duration: Duration::from_secs(60),
        requests: Some(2000),
        warmup: Duration::ZERO,
        rate: None,
        preload,
        seed: 3,
        cpus: vec![tessera::net::sys::affinity_cpus()[0]; 2],
        progress: false,
    }
}

#[test]
fn binary_runs_write_then_read_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let h = node(dir.path(), 2);
    let addr = h.binary_addr;

    // A write run: exactly the requested count, all answered, no errors.
    let w = run(&spec(Proto::Binary, addr, Mix::only(Op::Set), false)).unwrap();
    assert_eq!(w.ops, 2000);
    assert_eq!(w.error_count(), 0, "{:?}", w.errors);
    assert!(w.qps > 0.0 && w.latency.p50_ms > 0.0);
    assert!(w.latency.p50_ms <= w.latency.p99_ms && w.latency.p99_ms <= w.latency.max_ms);

    // A read run with preload: every key of the space exists, so no read misses.
    let r = run(&spec(Proto::Binary, addr, Mix::only(Op::Get), true)).unwrap();
    assert_eq!((r.ops, r.misses, r.error_count()), (2000, 0, 0));
    let keys = block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        c.scan_all(b"key:").await.unwrap()
    })
    .unwrap();
    assert_eq!(keys.len(), 500, "the preload wrote the whole key space");
    assert!(keys.contains(&b"key:000000000499".to_vec()));

    // Errors are counted by name, not hidden: INCR on binary values fails
    // with NOT_INTEGER on every request.
    let e = run(&spec(Proto::Binary, addr, Mix::only(Op::Incr), false)).unwrap();
    assert_eq!(
        e.errors.get("NOT_INTEGER").copied(),
        Some(2000),
        "{:?}",
        e.errors
    );

    h.shutdown();
    h.join().unwrap();
}

#[test]
fn open_loop_paces_requests() {
    let dir = tempfile::tempdir().unwrap();
    let h = node(dir.path(), 1);
    let mut s = spec(
        Proto::Binary,
        h.binary_addr,
        "get:1,set:1".parse().unwrap(),
        true,
    );
    s.requests = Some(400);
    s.warmup = Duration::ZERO;
    s.rate = Some(2000.0);
    let r = run(&s).unwrap();
    assert_eq!(
        (r.ops, r.misses, r.error_count()),
        (400, 0, 0),
        "{:?}",
        r.errors
    );
    // 8 connections at 250/s each: a connection's 50th request is not due
    // before 196 ms, so the run cannot end sooner however fast the server is.
    assert!(r.seconds >= 0.19, "paced run took only {} s", r.seconds);
    // A timed run ends on its own.
    s.requests = None;
    s.rate = None;
    s.duration = Duration::from_millis(300);
    let t = run(&s).unwrap();
    assert!(t.ops > 0 && t.error_count() == 0, "{t:?}");
    h.shutdown();
    h.join().unwrap();
}

#[test]
fn refuses_a_dead_address_clearly() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let e = run(&spec(Proto::Binary, addr, Mix::only(Op::Get), false)).unwrap_err();
    assert!(e.contains(&addr.to_string()), "{e}");
}

#[path = "../../tests/common/redis_server.rs"]
mod redis_server;

use redis_server::redis_server as redis;

#[test]
fn resp_runs_against_redis_server() {
    let (_redis, addr) = redis();
    let w = run(&spec(Proto::Resp, addr, Mix::only(Op::Set), false)).unwrap();
    assert_eq!((w.ops, w.error_count()), (2000, 0), "{:?}", w.errors);
    let r = run(&spec(Proto::Resp, addr, Mix::only(Op::Get), true)).unwrap();
    assert_eq!((r.ops, r.misses, r.error_count()), (2000, 0, 0));
    // Redis's error replies are counted under their first word.
    let e = run(&spec(Proto::Resp, addr, Mix::only(Op::Incr), false)).unwrap();
    assert_eq!(e.errors.get("ERR").copied(), Some(2000), "{:?}", e.errors);
    assert_eq!(
        tessera_bench::driver::probe_version(Proto::Resp, addr)
            .unwrap()
            .split(' ')
            .next(),
        Some("redis")
    );
}

/// The collection workloads write what they say, over both protocols: the
/// pushes land (RPOP then finds them), and HSET/ZADD leave a hash and a
/// sorted set per key.
#[test]
fn collection_workloads_run_over_both_protocols() {
    let dir = tempfile::tempdir().unwrap();
    let h = node(dir.path(), 2);
    let addr = h.binary_addr;
    for op in [Op::HSet, Op::ZAdd, Op::LPush] {
        let w = run(&spec(Proto::Binary, addr, Mix::only(op), false)).unwrap();
        assert_eq!(
            (w.ops, w.error_count()),
            (2000, 0),
            "{op:?}: {:?}",
            w.errors
        );
    }
    // 2000 pushes over 500 keys, then 1000 pops: each finds an element
    // unless the uniform draw emptied that key's list first.
    let mut pop = spec(Proto::Binary, addr, Mix::only(Op::RPop), false);
    pop.requests = Some(1000);
    let p = run(&pop).unwrap();
    assert_eq!(p.error_count(), 0, "{:?}", p.errors);
    assert!(
        p.misses < 1000,
        "RPOP found no element: {} misses",
        p.misses
    );
    let (kinds, sizes) = block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let k = b"hash:000000000007";
        let (_, t) = c.command(&[b"TYPE", k]).await.unwrap();
        let (_, n) = c.command(&[b"HLEN", k]).await.unwrap();
        (t, n)
    })
    .unwrap();
    assert_eq!(
        (kinds, sizes),
        (
            tessera::proto::value::Value::Status("hash".into()),
            tessera::proto::value::Value::Int(1)
        )
    );
    // The same workloads against redis-server, over RESP.
    let (_redis, raddr) = redis();
    for op in [Op::HSet, Op::ZAdd, Op::LPush, Op::RPop] {
        let w = run(&spec(Proto::Resp, raddr, Mix::only(op), false)).unwrap();
        assert_eq!(
            (w.ops, w.error_count()),
            (2000, 0),
            "{op:?}: {:?}",
            w.errors
        );
    }
    drop(h);
}

/// Against a 3-primary cluster the generator sends every key to the core of
/// the node serving its slot: no request is answered MOVED and no core
/// forwards one (counted in every node's INFO, not timed).
#[test]
fn binary_runs_against_a_cluster_with_no_cross_node_hop() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<_> = dirs
        .iter()
        .map(|d| {
            tessera::start(Config {
                data_dir: d.path().to_path_buf(),
                listen: "127.0.0.1:0".into(),
                cores: Some(1),
                partitions: Some(2),
                block_cache_bytes: 8 << 20,
                write_buffer_bytes: 16 << 20,
                http_listen: "off".into(),
                resp_listen: "off".into(),
                cluster: true,
                ..Config::default()
            })
            .expect("server starts")
        })
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|h| h.binary_addr.to_string()).collect();
    let map = tessera::cluster_cli::create(&addrs, 0).expect("the cluster forms");
    assert_eq!(map.slots_assigned(), 16384);
    let addr = nodes[1].binary_addr;
    let w = run(&spec(Proto::Binary, addr, Mix::only(Op::Set), false)).unwrap();
    assert_eq!((w.ops, w.error_count()), (2000, 0), "{:?}", w.errors);
    let r = run(&spec(Proto::Binary, addr, Mix::only(Op::Get), true)).unwrap();
    assert_eq!(r.error_count(), 0, "{:?}", r.errors);
    let mut requests = 0;
    for h in &nodes {
        let a = h.binary_addr;
        let info = block_on(async move {
            let c = Client::connect_direct(a).await.unwrap();
            c.info().await.unwrap()
        })
        .unwrap();
        let field = |f: &str| -> u64 {
            info.lines()
                .filter(|l| l.starts_with("core") && l.contains(&format!("_{f}:")))
                .filter_map(|l| l.split(':').nth(1)?.parse::<u64>().ok())
                .sum()
        };
        assert_eq!(field("moved"), 0, "{info}");
        assert_eq!(field("forwarded_out"), 0, "{info}");
        requests += field("requests");
    }
    assert!(requests >= 4000, "every node served its share: {requests}");
    // The Rust client follows the map too: a key of every node, from one.
    block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        for i in 0..30 {
            let k = format!("client:{i}");
            c.set(k.as_bytes(), b"v").await.unwrap();
            assert_eq!(c.get(k.as_bytes()).await.unwrap().unwrap().value, b"v");
        }
    })
    .unwrap();
    for h in nodes {
        h.shutdown();
        h.join().unwrap();
    }
}
