//! Replication helpers shared by tests/replication.rs and
//! tests/replication_failover.rs: replicas on temp dirs, waiting for a key
//! or a whole data set to converge, random writes, role changes.

use std::time::{Duration, Instant};

use super::resp::{Conn, R};
use super::Node;
use tessera::client::Client;

pub fn replica_of(primary: &Node, dir: tempfile::TempDir) -> Node {
    replica_in(dir, primary.addr().to_string())
}

/// A 2-core, 2-partition replica of the node at `to`, in `dir`.
pub fn replica_in(dir: tempfile::TempDir, to: String) -> Node {
    Node::start_in(dir, move |c| {
        c.cores = Some(2);
        c.partitions = Some(2);
        c.replica_of = Some(to);
    })
}

/// Waits until `key` reads `want` on the replica's RESP port.
pub fn converge(c: &mut Conn, words: &[&str], want: &R) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = c.cmd(words);
        if &got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{words:?}: still {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn info(c: &mut Conn) -> String {
    let R::Bulk(b) = c.cmd(&["INFO"]) else {
        panic!()
    };
    String::from_utf8(b).unwrap()
}

/// Every key with its type and content, read over RESP (a full scan).
pub fn dump(c: &mut Conn) -> std::collections::BTreeMap<String, String> {
    let R::Array(keys) = c.cmd(&["KEYS", "*"]) else {
        panic!("KEYS")
    };
    let mut out = std::collections::BTreeMap::new();
    for k in keys {
        let R::Bulk(k) = k else { panic!() };
        let k = String::from_utf8(k).unwrap();
        let R::Simple(t) = c.cmd(&["TYPE", &k]) else {
            panic!()
        };
        let mut v = match t.as_str() {
            "string" => c.cmd(&["GET", &k]),
            "hash" => c.cmd(&["HGETALL", &k]),
            "set" => c.cmd(&["SMEMBERS", &k]),
            "zset" => c.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"]),
            "list" => c.cmd(&["LRANGE", &k, "0", "-1"]),
            "none" => continue, // deleted between KEYS and TYPE
            other => panic!("type {other}"),
        };
        if t == "set" || t == "hash" {
            // Unordered replies: compare sorted.
            if let R::Array(items) = &mut v {
                if t == "set" {
                    items.sort_by_key(|i| format!("{i:?}"));
                }
            }
        }
        out.insert(k, format!("{t} {v:?}"));
    }
    out
}

/// Waits until `replica`'s content equals `primary`'s.
pub fn converge_all(primary: &mut Conn, replica: &mut Conn, what: &str) {
    let want = dump(primary);
    assert!(!want.is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = dump(replica);
        if got == want {
            return;
        }
        let missing = want.iter().filter(|(k, v)| got.get(*k) != Some(v)).count();
        assert!(
            Instant::now() < deadline,
            "{what}: {missing} of {} keys differ; extra {}",
            want.len(),
            got.keys().filter(|k| !want.contains_key(*k)).count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A small deterministic generator for random writes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `n` random writes over every type, with deletions.
pub fn random_writes(c: &mut Conn, seed: u64, n: usize) {
    let mut rng = Rng(seed);
    for _ in 0..n {
        let k = rng.next(60);
        let m = rng.next(20).to_string();
        let v = rng.next(1000).to_string();
        let r = match rng.next(11) {
            0 | 1 => c.cmd(&["SET", &format!("s{k}"), &v]),
            2 => c.cmd(&["DEL", &format!("s{k}"), &format!("h{k}")]),
            3 => c.cmd(&["HSET", &format!("h{k}"), &m, &v]),
            4 => c.cmd(&["HDEL", &format!("h{k}"), &m]),
            5 => c.cmd(&["SADD", &format!("t{k}"), &m]),
            6 => c.cmd(&["SREM", &format!("t{k}"), &m]),
            7 => c.cmd(&["ZADD", &format!("z{k}"), &v, &m]),
            8 => c.cmd(&["RPUSH", &format!("l{k}"), &v]),
            9 => c.cmd(&["LPOP", &format!("l{k}")]),
            _ => c.cmd(&["INCR", &format!("n{k}")]),
        };
        assert!(!matches!(r, R::Err(_)), "{r:?}");
    }
}

pub fn role(
    addr: std::net::SocketAddr,
    action: u8,
    arg: impl Into<Vec<u8>>,
) -> Result<String, String> {
    let arg = arg.into();
    super::block_on(async move {
        let c = Client::connect(addr).await.map_err(|e| e.to_string())?;
        c.role(action, &arg).await.map_err(|e| e.to_string())
    })
}

pub fn replicaof(node: std::net::SocketAddr, primary: std::net::SocketAddr) -> String {
    role(node, 1, primary.to_string()).expect("replicaof")
}

/// Reads `keys` from `addr` over the binary protocol.
pub fn get(addr: std::net::SocketAddr, keys: Vec<String>) -> Vec<Option<Vec<u8>>> {
    super::block_on(async move {
        let c = Client::connect(addr).await.unwrap();
        let mut out = Vec::new();
        for k in keys {
            out.push(c.get(k.as_bytes()).await.unwrap().map(|v| v.value));
        }
        out
    })
}
