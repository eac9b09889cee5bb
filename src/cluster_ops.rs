//! `tessera cluster add-node | remove-node | rebalance | replace-node`
//! (docs/cluster.md, "Adding and removing nodes"): growing, shrinking and
//! replacing nodes while the cluster serves, through the controller's map
//! changes and slot migrations (`cluster_cli::run_migration`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tessera_cluster::controller::{IdentityReply, JoinRequest, MembershipRequest};
use tessera_cluster::map::{Change, ClusterMap, Health, NodeInfo, MAP_FORMAT};
use tessera_cluster::net::{ADD_NODE, IDENTITY, JOIN, REMOVE_NODE, RPC_FORMAT, SLOT_KEYS};

use crate::cluster_cli::{
    call, call_request, json, key_count, resolve, run_migration, shard_named, status,
};
use crate::proto::Request;

/// How long a new node may take to apply the map, or a replacement to
/// catch up with its primary.
const WAIT: Duration = Duration::from_secs(120);
/// A replacement is promoted once every partition is this few batches
/// behind its primary (the promotion catches up the rest).
const CAUGHT_UP_BATCHES: u64 = 100;

fn say(out: &mut dyn std::io::Write, text: String) {
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The node `name` names: its 40-hex id or its binary address.
fn node_named<'a>(map: &'a ClusterMap, name: &str) -> Result<&'a NodeInfo, String> {
    map.node_named(name)
        .or_else(|| {
            let a = resolve(name).ok()?;
            map.nodes
                .values()
                .find(|n| resolve(&n.binary).ok() == Some(a))
        })
        .ok_or_else(|| {
            format!("{name:?} is not a node of this cluster (give its id or its binary HOST:PORT)")
        })
}

fn membership(addr: &str, map: &ClusterMap, action: u8, change: Change) -> Result<u64, String> {
    let body = serde_json::to_vec(&MembershipRequest {
        format: RPC_FORMAT,
        cluster_id: map.cluster_id.clone(),
        change,
    })
    .map_err(|e| e.to_string())?;
    json(addr, &call(addr, action, &body)?)
}

/// Waits until `cond` holds of the map `addr` has applied.
fn wait_map(addr: &str, what: &str, cond: impl Fn(&ClusterMap) -> bool) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    loop {
        if status(addr).is_ok_and(|s| cond(&s.map)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{addr}: {what} not seen after {WAIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `add-node NEW [--replica-of ID|SHARD]`: joins an empty `--cluster` node
/// as the primary of a new shard without slots (`rebalance` gives it
/// some), or as a replica of a shard. Already a member: nothing to do.
pub fn add_node(
    addr: &str,
    new: &str,
    replica_of: Option<&str>,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    resolve(new)?;
    let map = status(addr)?.map;
    if !map.formed() {
        return Err(format!("{addr} is not in a formed cluster"));
    }
    let id: IdentityReply = json(new, &call(new, IDENTITY, b"")?)?;
    if let Some(n) = map.nodes.get(&id.node.id) {
        say(
            out,
            format!("{new} ({}) is already in shard {}", n.name, n.shard),
        );
        return Ok(());
    }
    match id.cluster_id.as_deref() {
        Some(c) if c != map.cluster_id => {
            return Err(format!(
                "{new} ({}) belongs to cluster {c}; a node joins one cluster for the life of its data directory",
                id.node.name
            ))
        }
        _ => {}
    }
    let keys = key_count(new)?;
    if keys > 0 {
        return Err(format!(
            "{new} holds about {keys} key(s); a node added to a cluster must be empty"
        ));
    }
    let shard = replica_of.map(|r| shard_named(&map, r)).transpose()?;
    let join = serde_json::to_vec(&JoinRequest {
        format: MAP_FORMAT,
        cluster_id: map.cluster_id.clone(),
    })
    .map_err(|e| e.to_string())?;
    call(new, JOIN, &join)?;
    let node = id.node.clone();
    let epoch = membership(
        addr,
        &map,
        ADD_NODE,
        Change::AddNode {
            node,
            replica_of: shard,
        },
    )?;
    wait_map(new, "its own entry in the map", |m| {
        m.epoch >= epoch && m.nodes.contains_key(&id.node.id)
    })?;
    let map = status(addr)?.map;
    let shard = map.nodes.get(&id.node.id).map_or(0, |n| n.shard);
    say(
        out,
        match replica_of {
            Some(_) => format!("added {} ({new}) as a replica in shard {shard}", id.node.name),
            None => format!(
                "added {} ({new}) as the primary of shard {shard}, without slots yet (run rebalance)",
                id.node.name
            ),
        },
    );
    Ok(())
}

/// Keys per slot on each primary, for the slots its shard serves.
fn slot_weights(map: &ClusterMap) -> Result<BTreeMap<u16, u64>, String> {
    let mut w = BTreeMap::new();
    for shard in map.shards.values() {
        let Some(p) = map.nodes.get(&shard.primary) else {
            continue;
        };
        if map.ranges_of(shard.id).next().is_none() {
            continue;
        }
        if p.health != Health::Up {
            return Err(format!(
                "shard {}'s primary {} ({}) is down: its slots cannot be weighed or moved",
                shard.id, p.name, p.binary
            ));
        }
        let b = call(&p.binary, SLOT_KEYS, b"")?;
        let mut r = crate::proto::codec::Reader::new(&b);
        let bad = |e: crate::proto::Error| format!("{}: bad SLOT_KEYS answer: {e}", p.binary);
        for _ in 0..r.count("slots", 10).map_err(bad)? {
            let (s, n) = (r.u16("slot").map_err(bad)?, r.u64("keys").map_err(bad)?);
            if map.shard_of_slot(s).is_some_and(|o| o.id == shard.id) {
                w.insert(s, n);
            }
        }
    }
    Ok(w)
}

/// The moves `(from, to, slots)` that even out the shards in `keep`,
/// emptying every other shard. A slot weighs its keys, plus a little so
/// that empty slots spread too; `threshold` is the share of the ideal load
/// a shard may be off by.
fn plan(
    map: &ClusterMap,
    weights: &BTreeMap<u16, u64>,
    keep: &[u32],
    threshold: f64,
) -> Vec<(u32, u32, Vec<u16>)> {
    let weight = |s: u16| weights.get(&s).copied().unwrap_or(0) * 1000 + 1;
    let mut load: BTreeMap<u32, u64> = keep.iter().map(|&s| (s, 0)).collect();
    let mut owned: BTreeMap<u32, Vec<u16>> = BTreeMap::new();
    for r in &map.slots {
        for s in r.start..=r.end {
            owned.entry(r.shard).or_default().push(s);
            if let Some(l) = load.get_mut(&r.shard) {
                *l += weight(s);
            }
        }
    }
    let total: u64 = owned.values().flatten().map(|&s| weight(s)).sum();
    let ideal = total as f64 / keep.len().max(1) as f64;
    // Candidate slots: all of a shard that goes, the top of an overloaded one.
    let mut give: Vec<(u32, u16)> = Vec::new();
    for (&shard, slots) in &owned {
        match load.get(&shard).copied() {
            None => give.extend(slots.iter().map(|&s| (shard, s))),
            Some(l) if l as f64 > ideal * (1.0 + threshold) => {
                let mut left = l as f64;
                for &s in slots.iter().rev() {
                    if left <= ideal {
                        break;
                    }
                    left -= weight(s) as f64;
                    give.push((shard, s));
                }
            }
            Some(_) => {}
        }
    }
    let mut moves: BTreeMap<(u32, u32), Vec<u16>> = BTreeMap::new();
    for (from, s) in give {
        let w = weight(s);
        let Some((&to, _)) = load
            .iter()
            .filter(|(&t, _)| t != from)
            .min_by_key(|(_, &l)| l)
        else {
            break;
        };
        let leaving = !keep.contains(&from);
        if !leaving && (load[&to] + w) as f64 > ideal {
            continue;
        }
        *load.get_mut(&to).unwrap_or(&mut 0) += w;
        if let Some(l) = load.get_mut(&from) {
            *l -= w;
        }
        moves.entry((from, to)).or_default().push(s);
    }
    moves
        .into_iter()
        .map(|((f, t), mut s)| {
            s.sort_unstable();
            (f, t, s)
        })
        .collect()
}

/// Prints each shard's keys and slots, as the plan weighs them.
fn say_loads(map: &ClusterMap, weights: &BTreeMap<u16, u64>, out: &mut dyn std::io::Write) {
    let each: Vec<String> = map
        .shards
        .keys()
        .map(|&id| {
            let slots: Vec<u16> = map.ranges_of(id).flat_map(|r| r.start..=r.end).collect();
            let keys: u64 = slots
                .iter()
                .map(|s| weights.get(s).copied().unwrap_or(0))
                .sum();
            format!("shard {id} {keys} keys in {} slots", slots.len())
        })
        .collect();
    say(out, format!("now: {}", each.join(", ")));
}

fn run_plan(
    addr: &str,
    moves: Vec<(u32, u32, Vec<u16>)>,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    for (from, to, slots) in moves {
        let map = status(addr)?.map;
        run_migration(addr, &map, from, to, slots, out)?;
    }
    Ok(())
}

/// `rebalance [--threshold PCT]`: moves slots so that every primary holds
/// about the same number of keys (primaries without slots included).
pub fn rebalance(
    addr: &str,
    threshold_pct: f64,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    if !(0.0..100.0).contains(&threshold_pct) {
        return Err(format!(
            "--threshold {threshold_pct} is not a percentage below 100"
        ));
    }
    let map = status(addr)?.map;
    if !map.formed() {
        return Err(format!("{addr} is not in a formed cluster"));
    }
    let weights = slot_weights(&map)?;
    say_loads(&map, &weights, out);
    let keep: Vec<u32> = map.shards.keys().copied().collect();
    let moves = plan(&map, &weights, &keep, threshold_pct / 100.0);
    if moves.is_empty() {
        say(
            out,
            format!("balanced within {threshold_pct}%: nothing to move"),
        );
        return Ok(());
    }
    say(out, format!("{} migration(s) planned", moves.len()));
    run_plan(addr, moves, out)
}

/// `remove-node ID`: a primary's slots move to the other primaries first
/// (refused when there is none, or when its shard still has replicas); a
/// replica just leaves. The node keeps running and redirects until stopped.
pub fn remove_node(addr: &str, name: &str, out: &mut dyn std::io::Write) -> Result<(), String> {
    let map = status(addr)?.map;
    let n = node_named(&map, name)?.clone();
    let shard = map
        .shards
        .get(&n.shard)
        .ok_or_else(|| format!("node {}'s shard is missing from the map", n.name))?;
    if shard.primary == n.id {
        if !shard.replicas.is_empty() {
            return Err(format!(
                "{} ({}) is the primary of shard {}, which has replicas: remove them first, or use replace-node",
                n.name, n.binary, n.shard
            ));
        }
        if map.ranges_of(n.shard).next().is_some() {
            let keep: Vec<u32> = map
                .shards
                .keys()
                .copied()
                .filter(|&s| s != n.shard)
                .collect();
            if keep.is_empty() {
                return Err(format!(
                    "{} ({}) is the only primary: removing it would leave every slot without an owner",
                    n.name, n.binary
                ));
            }
            let weights = slot_weights(&map)?;
            say_loads(&map, &weights, out);
            say(
                out,
                format!("moving shard {}'s slots to the other primaries", n.shard),
            );
            run_plan(addr, plan(&map, &weights, &keep, 0.0), out)?;
        }
    }
    let map = status(addr)?.map;
    let epoch = membership(addr, &map, REMOVE_NODE, Change::RemoveNode { node: n.id })?;
    say(
        out,
        format!(
            "removed {} ({}) at epoch {epoch}; it redirects clients until it is stopped",
            n.name, n.binary
        ),
    );
    Ok(())
}

/// The INFO text of the node at `addr`.
fn info_of(addr: &str) -> Result<String, String> {
    Ok(String::from_utf8_lossy(&call_request(addr, &Request::Info)?).into_owned())
}

/// The `partitionN_<field>:value` lines of an INFO text, by partition.
fn partition_info(info: &str, field: &str) -> BTreeMap<u32, String> {
    let suffix = format!("_{field}:");
    info.lines()
        .filter_map(|l| {
            let (head, v) = l.split_once(&suffix)?;
            let n = head.strip_prefix("partition")?.parse().ok()?;
            Some((n, v.trim().to_string()))
        })
        .collect()
}

/// A position's `(epoch, index)` (`term:id:index` in INFO).
fn split_position(p: &str) -> Option<(&str, u64)> {
    let (epoch, index) = p.rsplit_once(':')?;
    Some((epoch, index.parse().ok()?))
}

/// Whether every partition of the replica at `addr` tails its primary
/// within `CAUGHT_UP_BATCHES` and has applied at least `want` (each
/// partition's primary position when the wait began, unless a failover
/// changed the epoch since). A replica that has not heard from its primary
/// yet, or is copying a partition in full, is not caught up, whatever its
/// lag says. The promotion then catches up the rest from the old primary.
fn caught_up(addr: &str, want: &BTreeMap<u32, String>) -> bool {
    let Ok(info) = info_of(addr) else {
        return false;
    };
    let (states, positions, lags) = (
        partition_info(&info, "repl_state"),
        partition_info(&info, "repl_position"),
        partition_info(&info, "repl_lag"),
    );
    !want.is_empty()
        && want.iter().all(|(n, w)| {
            let tailing = states.get(n).is_some_and(|s| s == "tailing");
            let at = positions.get(n).and_then(|p| split_position(p));
            let lag = lags.get(n).and_then(|l| l.parse::<u64>().ok());
            let near = lag.is_some_and(|l| l <= CAUGHT_UP_BATCHES);
            tailing
                && near
                && match (split_position(w), at) {
                    (Some((we, wi)), Some((e, i))) if we == e => i >= wi,
                    (_, at) => at.is_some(),
                }
        })
}

/// `replace-node OLD NEW`: NEW joins OLD's shard as a replica and catches
/// up; if OLD is the primary, NEW is promoted (through the controller, as
/// `promote` is); then OLD leaves. OLD may be down once its shard has
/// failed over.
pub fn replace_node(
    addr: &str,
    old: &str,
    new: &str,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    let map = status(addr)?.map;
    let o = node_named(&map, old)?.clone();
    let shard = map
        .shards
        .get(&o.shard)
        .ok_or_else(|| format!("node {}'s shard is missing from the map", o.name))?;
    if shard.primary == o.id && o.health != Health::Up {
        return Err(format!(
            "{} ({}) is down and still its shard's primary: wait for the failover (it needs a replica), then replace it",
            o.name, o.binary
        ));
    }
    let primary = map
        .nodes
        .get(&shard.primary)
        .ok_or_else(|| format!("shard {}'s primary is missing from the map", o.shard))?;
    add_node(addr, new, Some(&o.shard.to_string()), out)?;
    let id: IdentityReply = json(new, &call(new, IDENTITY, b"")?)?;
    // What NEW must hold before it may take over: every partition of the
    // primary as it is now.
    let want = partition_info(&info_of(&primary.binary)?, "position");
    let deadline = Instant::now() + WAIT;
    while !caught_up(new, &want) {
        if Instant::now() > deadline {
            return Err(format!(
                "{new} has not caught up with its primary after {WAIT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    say(
        out,
        format!("{new} caught up with shard {}'s primary", o.shard),
    );
    let map = status(addr)?.map;
    if map.shards.get(&o.shard).is_some_and(|s| s.primary == o.id) {
        call_request(
            new,
            &Request::Role {
                action: crate::repl::node::PROMOTE,
                arg: b"",
            },
        )?;
        wait_map(addr, "the new primary", |m| {
            m.shards
                .get(&o.shard)
                .is_some_and(|s| s.primary == id.node.id)
        })?;
        let deadline = Instant::now() + WAIT;
        while !status(new).is_ok_and(|s| s.lease_ok) {
            if Instant::now() > deadline {
                return Err(format!(
                    "{new} was promoted but holds no write lease after {WAIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        say(out, format!("{new} is shard {}'s primary", o.shard));
    }
    remove_node(addr, &o.name, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_cluster::map::layout;

    fn formed(primaries: u64) -> ClusterMap {
        let nodes = (1..=primaries)
            .map(|id| NodeInfo {
                id,
                name: format!("{id:040x}"),
                binary: format!("h:{id}"),
                resp: None,
                http: None,
                core_ports: vec![],
                partitions: 1,
                interleaved: false,
                shard: 0,
                health: Health::Up,
            })
            .collect();
        let l = layout(nodes, 0).unwrap();
        let mut m = ClusterMap::default();
        m.apply(&Change::Form {
            format: MAP_FORMAT,
            cluster_id: "ab".repeat(20),
            nodes: l.nodes,
            shards: l.shards,
            slots: l.slots,
        })
        .unwrap();
        m
    }

    fn loads(m: &ClusterMap, w: &BTreeMap<u16, u64>, moves: &[(u32, u32, Vec<u16>)]) -> Vec<u64> {
        let mut m = m.clone();
        for (from, to, slots) in moves {
            let id = m
                .apply(&Change::MigrateStart {
                    slots: slots.clone(),
                    from: *from,
                    to: *to,
                })
                .unwrap();
            for st in [
                tessera_cluster::map::Stage::Fence,
                tessera_cluster::map::Stage::Handover,
                tessera_cluster::map::Stage::Cleanup,
            ] {
                m.apply(&Change::MigrateStage { id, stage: st }).unwrap();
            }
            m.apply(&Change::MigrateEnd { id }).unwrap();
        }
        m.shards
            .keys()
            .map(|&s| {
                m.ranges_of(s)
                    .flat_map(|r| r.start..=r.end)
                    .map(|x| w.get(&x).copied().unwrap_or(0))
                    .sum()
            })
            .collect()
    }

    #[test]
    fn the_plan_weighs_keys_not_slots() {
        // Three shards; shard 0's first 100 slots hold nearly every key.
        let m = formed(3);
        let w: BTreeMap<u16, u64> = (0..16384u16)
            .map(|s| (s, if s < 100 { 1000 } else { 1 }))
            .collect();
        let moves = plan(&m, &w, &[0, 1, 2], 0.05);
        assert!(!moves.is_empty());
        let l = loads(&m, &w, &moves);
        let total: u64 = l.iter().sum();
        for x in &l {
            assert!(
                (*x as f64) < total as f64 / 3.0 * 1.15,
                "loads {l:?} after {moves:?}"
            );
        }
        // Nothing to do once balanced.
        let even: BTreeMap<u16, u64> = (0..16384u16).map(|s| (s, 1)).collect();
        assert!(plan(&m, &even, &[0, 1, 2], 0.05).is_empty());
        // Draining shard 2: all its slots go, and only to 0 and 1.
        let moves = plan(&m, &even, &[0, 1], 0.0);
        let l = loads(&m, &even, &moves);
        assert_eq!(l[2], 0);
        assert!(moves.iter().all(|(f, t, _)| *f == 2 && *t != 2));
        assert!((l[0] as i64 - l[1] as i64).abs() < 200, "{l:?}");
    }

    #[test]
    fn new_shards_get_their_share_from_every_shard() {
        let mut m = formed(3);
        for id in [4, 5] {
            let mut n = m.nodes[&1].clone();
            n.id = id;
            n.name = format!("{id:040x}");
            n.binary = format!("h:{id}");
            m.apply(&Change::AddNode {
                node: n,
                replica_of: None,
            })
            .unwrap();
        }
        let w: BTreeMap<u16, u64> = (0..16384u16).map(|s| (s, 18)).collect();
        let keep: Vec<u32> = m.shards.keys().copied().collect();
        let moves = plan(&m, &w, &keep, 0.02);
        let l = loads(&m, &w, &moves);
        let total: u64 = l.iter().sum();
        for x in &l {
            let share = *x as f64 / (total as f64 / 5.0);
            assert!((0.9..1.1).contains(&share), "loads {l:?} after {moves:?}");
        }
    }
}
