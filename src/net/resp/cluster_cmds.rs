//! Redis Cluster's commands on the RESP connection (docs/cluster.md):
//! CLUSTER SLOTS, SHARDS, NODES, MYID, INFO, KEYSLOT, COUNTKEYSINSLOT,
//! GETKEYSINSLOT and HELP, answered in Redis 7's formats from the core's
//! copy of the cluster map. READONLY, READWRITE and ASKING set connection
//! state in `conn_cmds.rs`.

use std::rc::Rc;

use tessera_cluster::map::{ClusterMap, Health, NodeInfo};

use super::bad;
use super::keyspace::scan_page;
use crate::codes::WireError;
use crate::net::core::cluster::Routes;
use crate::net::core::Core;
use crate::proto::hello::cursor;
use crate::proto::value::Value;
use crate::slot::{key_slot, SLOTS};

fn disabled() -> WireError {
    bad("This instance has cluster support disabled")
}

/// `HOST:PORT` (IPv6 in brackets) split for Redis's replies.
fn host_port(addr: &str) -> (String, i64) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(0),
        ),
        None => (addr.to_string(), 0),
    }
}

/// The RESP address Redis clients are given for a node (its binary one when
/// RESP is off there).
fn resp_addr(n: &NodeInfo) -> &str {
    n.resp.as_deref().unwrap_or(&n.binary)
}

/// `[ip, port, id, {}]`, a node entry of CLUSTER SLOTS.
fn slots_node(n: &NodeInfo) -> Value {
    let (ip, port) = host_port(resp_addr(n));
    Value::Array(vec![
        Value::bytes(ip),
        Value::Int(port),
        Value::bytes(n.name.clone()),
        Value::Array(Vec::new()),
    ])
}

fn cluster_slots(map: &ClusterMap) -> Value {
    let mut out = Vec::new();
    for r in &map.slots {
        let Some(shard) = map.shards.get(&r.shard) else {
            continue;
        };
        let mut entry = vec![Value::Int(r.start.into()), Value::Int(r.end.into())];
        for id in std::iter::once(&shard.primary).chain(&shard.replicas) {
            if let Some(n) = map.nodes.get(id) {
                entry.push(slots_node(n));
            }
        }
        out.push(Value::Array(entry));
    }
    Value::Array(out)
}

fn pair(k: &str, v: Value) -> (Value, Value) {
    (Value::bytes(k.as_bytes().to_vec()), v)
}

fn cluster_shards(map: &ClusterMap) -> Value {
    let mut out = Vec::new();
    for shard in map.shards.values() {
        let slots = map
            .ranges_of(shard.id)
            .flat_map(|r| [Value::Int(r.start.into()), Value::Int(r.end.into())])
            .collect();
        let mut nodes = Vec::new();
        for id in std::iter::once(&shard.primary).chain(&shard.replicas) {
            let Some(n) = map.nodes.get(id) else {
                continue;
            };
            let (ip, port) = host_port(resp_addr(n));
            let role = if *id == shard.primary {
                "master"
            } else {
                "replica"
            };
            let health = match n.health {
                Health::Up => "online",
                Health::Failed => "failed",
            };
            nodes.push(Value::Map(vec![
                pair("id", Value::bytes(n.name.clone())),
                pair("port", Value::Int(port)),
                pair("ip", Value::bytes(ip.clone())),
                pair("endpoint", Value::bytes(ip)),
                pair("role", Value::bytes(role)),
                pair("replication-offset", Value::Int(0)),
                pair("health", Value::bytes(health)),
            ]));
        }
        out.push(Value::Map(vec![
            pair("slots", Value::Array(slots)),
            pair("nodes", Value::Array(nodes)),
        ]));
    }
    Value::Array(out)
}

fn cluster_nodes(routes: &Routes) -> String {
    use std::fmt::Write;
    let map = &routes.map;
    let mut s = String::new();
    for n in map.nodes.values() {
        let Some(shard) = map.shards.get(&n.shard) else {
            continue;
        };
        let primary = shard.primary == n.id;
        let mut flags = Vec::new();
        if n.id == routes.me {
            flags.push("myself");
        }
        flags.push(if primary { "master" } else { "slave" });
        if n.health == Health::Failed {
            flags.push("fail");
        }
        let master = if primary {
            "-".to_string()
        } else {
            map.nodes
                .get(&shard.primary)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| "-".into())
        };
        let (ip, port) = host_port(resp_addr(n));
        let (_, bus) = host_port(&n.binary);
        let _ = write!(
            s,
            "{} {ip}:{port}@{bus} {} {master} 0 0 {} connected",
            n.name,
            flags.join(","),
            map.epoch
        );
        if primary {
            for r in map.ranges_of(n.shard) {
                if r.start == r.end {
                    let _ = write!(s, " {}", r.start);
                } else {
                    let _ = write!(s, " {}-{}", r.start, r.end);
                }
            }
        }
        s.push('\n');
    }
    s
}

fn cluster_info(routes: &Routes) -> String {
    let map = &routes.map;
    let assigned = map.slots_assigned();
    let failed: u32 = map
        .slots
        .iter()
        .filter(|r| {
            map.shards
                .get(&r.shard)
                .and_then(|s| map.nodes.get(&s.primary))
                .is_some_and(|p| p.health == Health::Failed)
        })
        .map(|r| u32::from(r.end - r.start) + 1)
        .sum();
    let ok = map.formed() && assigned == u32::from(SLOTS) && failed == 0;
    format!(
        "cluster_enabled:1\r\ncluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:{failed}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
        if ok { "ok" } else { "fail" },
        assigned - failed,
        map.nodes.len(),
        map.shards.len(),
        map.epoch,
        map.epoch,
    )
}

/// Keys of this node in `slot`: all of them, or up to `limit`.
async fn keys_in_slot(
    core: &Rc<Core>,
    slot: u16,
    limit: Option<usize>,
) -> Result<Vec<Vec<u8>>, WireError> {
    let mut found = Vec::new();
    let mut c = cursor::make(slot, 0);
    loop {
        let (next, page) = scan_page(core, 0, c, 1000, b"").await?;
        let mut past = false;
        for k in page {
            if key_slot(&k) == slot {
                found.push(k);
            } else {
                past = true;
            }
        }
        if let Some(l) = limit {
            if found.len() >= l {
                found.truncate(l);
                return Ok(found);
            }
        }
        if past || next == 0 || cursor::slot(next) != slot {
            return Ok(found);
        }
        c = next;
    }
}

fn slot_arg(a: &[u8]) -> Result<u16, WireError> {
    std::str::from_utf8(a)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| (0..i64::from(SLOTS)).contains(s))
        .map(|s| s as u16)
        .ok_or_else(|| bad("Invalid slot"))
}

const HELP: &[&str] = &[
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port@bus-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "HELP",
    "    Print this help.",
];

/// CLUSTER <sub> ...
pub(super) async fn cluster(core: &Rc<Core>, args: &[&[u8]]) -> Result<Value, WireError> {
    let sub = args
        .get(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    if sub == "help" {
        return Ok(Value::list(HELP, |l| Value::Status(l.to_string())));
    }
    if sub == "keyslot" {
        return match args {
            [_, _, key] => Ok(Value::Int(key_slot(key).into())),
            _ => Err(arity(&sub)),
        };
    }
    let cl = core.cluster().ok_or_else(disabled)?;
    let routes = cl.routes();
    match (sub.as_str(), args.len()) {
        ("slots", 2) => Ok(cluster_slots(&routes.map)),
        ("shards", 2) => Ok(cluster_shards(&routes.map)),
        ("nodes", 2) => Ok(Value::Bytes(cluster_nodes(&routes).into_bytes())),
        ("myid", 2) => Ok(Value::bytes(cl.controller().identity().name)),
        ("info", 2) => Ok(Value::Bytes(cluster_info(&routes).into_bytes())),
        ("countkeysinslot", 3) => {
            let slot = slot_arg(args[2])?;
            Ok(Value::Int(
                keys_in_slot(core, slot, None).await?.len() as i64
            ))
        }
        ("getkeysinslot", 4) => {
            let slot = slot_arg(args[2])?;
            let count = std::str::from_utf8(args[3])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad("Invalid number of keys"))?;
            let keys = keys_in_slot(core, slot, Some(count as usize)).await?;
            Ok(Value::list(keys, Value::Bytes))
        }
        (
            "slots" | "shards" | "nodes" | "myid" | "info" | "countkeysinslot" | "getkeysinslot",
            _,
        ) => Err(arity(&sub)),
        _ => Err(bad(format!(
            "unknown subcommand '{}'. Try CLUSTER HELP.",
            String::from_utf8_lossy(args.get(1).copied().unwrap_or_default())
        ))),
    }
}

fn arity(sub: &str) -> WireError {
    bad(format!(
        "wrong number of arguments for 'cluster|{sub}' command"
    ))
}
