//! The cluster map: nodes, shards, the slot → shard table and the config
//! epoch. It is the controller's state machine: every change is a
//! [`Change`] committed in the Raft log and applied here, in log order, on
//! every node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tessera_wire::slot::SLOTS;

pub use crate::migration::{parse_slots, Migration, Stage};

/// The format of the map and of the changes (carried in both, so a later
/// binary can read an older map during a rolling upgrade).
pub const MAP_FORMAT: u32 = 1;

/// A node's health as the controller sees it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Up,
    /// Missed heartbeats for longer than the node timeout.
    Failed,
}

/// One node of the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The Raft node id: random, never reused (a wiped node gets a new one).
    pub id: u64,
    /// The 40-hex name (`CLUSTER MYID`).
    pub name: String,
    /// Binary protocol address (`HOST:PORT`): clients, replication, Raft.
    pub binary: String,
    /// RESP address that Redis clients are redirected to, if RESP is on.
    pub resp: Option<String>,
    /// HTTP address, if HTTP is on.
    pub http: Option<String>,
    /// Per-core binary ports (HELLO's), in core order.
    pub core_ports: Vec<u16>,
    /// Partitions of the node's data directory (a replica's must equal its
    /// primary's).
    pub partitions: u32,
    /// Whether its partitions interleave the slots (a replica's layout must
    /// equal its primary's). Absent in maps written before it existed.
    #[serde(default)]
    pub interleaved: bool,
    /// The shard this node belongs to.
    pub shard: u32,
    pub health: Health,
}

/// A shard: one primary and its replicas (node ids).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    pub id: u32,
    pub primary: u64,
    pub replicas: Vec<u64>,
    /// After a manual failover: how long the new primary waits before it
    /// takes writes, so the old primary's write lease has run out.
    #[serde(default)]
    pub fence_ms: u64,
}

/// Slots `start..=end` belong to `shard`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
    pub shard: u32,
}

/// The whole map. Empty (no cluster id) until the cluster is formed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ClusterMap {
    pub format: u32,
    /// 40-hex id chosen when the cluster is formed; a node of another
    /// cluster refuses this one's messages.
    pub cluster_id: String,
    /// Bumped by every change.
    pub epoch: u64,
    pub nodes: BTreeMap<u64, NodeInfo>,
    pub shards: BTreeMap<u32, Shard>,
    pub slots: Vec<SlotRange>,
    pub migrations: Vec<Migration>,
}

/// A change to the map: the application data of the Raft log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Forms the cluster; refused unless the map is empty.
    Form {
        format: u32,
        cluster_id: String,
        nodes: Vec<NodeInfo>,
        shards: Vec<Shard>,
        slots: Vec<SlotRange>,
    },
    /// Makes `new_primary` (a replica of `shard`) the shard's primary; the
    /// old primary becomes one of its replicas, marked failed. Refused when
    /// `epoch` is not the map's current epoch (a decision taken on an older
    /// map).
    Failover {
        shard: u32,
        new_primary: u64,
        epoch: u64,
        /// 0 when the old primary is silent (its lease ran out already); the
        /// lease's length for a manual promotion of a live shard.
        #[serde(default)]
        fence_ms: u64,
    },
    /// A node's health as the controller's leader sees it.
    SetHealth { node: u64, health: Health },
    /// A node restarted on other addresses (ephemeral ports, a new host
    /// name): clients, replicas and the controller reach it there from now.
    Readdress {
        node: u64,
        binary: String,
        resp: Option<String>,
        http: Option<String>,
        core_ports: Vec<u16>,
        /// The node's slot layout, when it changed (an empty replica that
        /// took its primary's layout and restarted).
        #[serde(default)]
        interleaved: Option<bool>,
    },
    /// Starts moving `slots` (every one served by `from`) to shard `to`.
    MigrateStart { slots: Vec<u16>, from: u32, to: u32 },
    /// Moves migration `id` to `stage`: `Copy` → `Fence` (the target caught
    /// up), `Fence` → `Copy` (the target lost its progress and copies
    /// again), `Fence` → `Cleanup` (the flip: the slots change owner).
    MigrateStage { id: u64, stage: Stage },
    /// Ends migration `id`: after `Cleanup` (done), or before the flip (an
    /// abort: the slots stay with the source).
    MigrateEnd { id: u64 },
    /// Adds a node: the primary of a new shard without slots, or a replica
    /// of shard `replica_of`.
    AddNode {
        node: NodeInfo,
        replica_of: Option<u32>,
    },
    /// Removes a node that serves no slot: a replica, or a primary whose
    /// shard has no slots and no replicas left (the shard goes too).
    RemoveNode { node: u64 },
}

/// What applying a change answered: the new epoch, or why it was refused
/// (a refused change leaves the map as it was).
pub type ChangeResult = Result<u64, String>;

impl ClusterMap {
    /// Whether the cluster has been formed.
    pub fn formed(&self) -> bool {
        !self.cluster_id.is_empty()
    }

    /// Applies `c`, all or nothing.
    pub fn apply(&mut self, c: &Change) -> ChangeResult {
        match c {
            Change::Form {
                format,
                cluster_id,
                nodes,
                shards,
                slots,
            } => {
                if *format > MAP_FORMAT {
                    return Err(format!(
                        "map format {format} is newer than this binary's ({MAP_FORMAT})"
                    ));
                }
                if self.formed() {
                    return Err(format!("the cluster {} is already formed", self.cluster_id));
                }
                let next = ClusterMap {
                    format: MAP_FORMAT,
                    cluster_id: cluster_id.clone(),
                    epoch: self.epoch + 1,
                    nodes: nodes.iter().map(|n| (n.id, n.clone())).collect(),
                    shards: shards.iter().map(|s| (s.id, s.clone())).collect(),
                    slots: slots.clone(),
                    migrations: Vec::new(),
                };
                next.validate()?;
                *self = next;
                Ok(self.epoch)
            }
            Change::Failover {
                shard,
                new_primary,
                epoch,
                fence_ms,
            } => {
                if *epoch != self.epoch {
                    return Err(format!(
                        "the failover was decided at epoch {epoch}, the map is at {}",
                        self.epoch
                    ));
                }
                let s = self
                    .shards
                    .get_mut(shard)
                    .ok_or_else(|| format!("no shard {shard}"))?;
                let Some(i) = s.replicas.iter().position(|r| r == new_primary) else {
                    return Err(format!(
                        "node {new_primary:x} is not a replica of shard {shard}"
                    ));
                };
                let old = s.primary;
                s.replicas.remove(i);
                s.replicas.push(old);
                s.primary = *new_primary;
                s.fence_ms = *fence_ms;
                if let Some(n) = self.nodes.get_mut(&old) {
                    n.health = Health::Failed;
                }
                self.epoch += 1;
                Ok(self.epoch)
            }
            Change::SetHealth { node, health } => {
                let n = self
                    .nodes
                    .get_mut(node)
                    .ok_or_else(|| format!("no node {node:x}"))?;
                if n.health == *health {
                    return Ok(self.epoch);
                }
                n.health = *health;
                self.epoch += 1;
                Ok(self.epoch)
            }
            Change::MigrateStart { .. }
            | Change::MigrateStage { .. }
            | Change::MigrateEnd { .. } => self.apply_migration(c),
            Change::AddNode { .. } | Change::RemoveNode { .. } => self.apply_membership(c),
            Change::Readdress {
                node,
                binary,
                resp,
                http,
                core_ports,
                interleaved,
            } => {
                if let Some(other) = self
                    .nodes
                    .values()
                    .find(|n| n.id != *node && n.binary == *binary)
                {
                    return Err(format!("{binary} is node {}'s address", other.name));
                }
                let n = self
                    .nodes
                    .get_mut(node)
                    .ok_or_else(|| format!("no node {node:x}"))?;
                n.binary = binary.clone();
                n.resp = resp.clone();
                n.http = http.clone();
                n.core_ports = core_ports.clone();
                if let Some(i) = interleaved {
                    n.interleaved = *i;
                }
                self.epoch += 1;
                Ok(self.epoch)
            }
        }
    }

    /// Checks the map's invariants: every shard's nodes exist and name the
    /// shard, a replica has its primary's partition count, the slot ranges
    /// are ordered, disjoint and name existing shards.
    pub fn validate(&self) -> Result<(), String> {
        if !is_hex40(&self.cluster_id) {
            return Err(format!(
                "cluster id {:?} is not 40 hex digits",
                self.cluster_id
            ));
        }
        for n in self.nodes.values() {
            if !self.shards.contains_key(&n.shard) {
                return Err(format!("node {} names unknown shard {}", n.name, n.shard));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in self.shards.values() {
            let p = self
                .nodes
                .get(&s.primary)
                .ok_or_else(|| format!("shard {} has an unknown primary", s.id))?;
            for id in std::iter::once(&s.primary).chain(&s.replicas) {
                let n = self
                    .nodes
                    .get(id)
                    .ok_or_else(|| format!("shard {} names an unknown node {id:x}", s.id))?;
                if n.shard != s.id {
                    return Err(format!("node {} is listed in two shards", n.name));
                }
                if !seen.insert(*id) {
                    return Err(format!("node {} appears twice", n.name));
                }
                if let Some(e) = unlike_primary(n, p) {
                    return Err(e);
                }
            }
        }
        let mut next = 0u32;
        for r in &self.slots {
            if u32::from(r.start) < next || r.end < r.start || r.end >= SLOTS {
                return Err(format!("bad slot range {}-{}", r.start, r.end));
            }
            if !self.shards.contains_key(&r.shard) {
                return Err(format!(
                    "slots {}-{} name unknown shard {}",
                    r.start, r.end, r.shard
                ));
            }
            next = u32::from(r.end) + 1;
        }
        Ok(())
    }

    /// The shard serving `slot`, if any.
    pub fn shard_of_slot(&self, slot: u16) -> Option<&Shard> {
        let i = self.slots.partition_point(|r| r.end < slot);
        let r = self.slots.get(i)?;
        (r.start <= slot)
            .then(|| self.shards.get(&r.shard))
            .flatten()
    }

    /// Slots served by some shard.
    pub fn slots_assigned(&self) -> u32 {
        self.slots
            .iter()
            .map(|r| u32::from(r.end - r.start) + 1)
            .sum()
    }

    /// The slot ranges of one shard.
    pub fn ranges_of(&self, shard: u32) -> impl Iterator<Item = &SlotRange> {
        self.slots.iter().filter(move |r| r.shard == shard)
    }

    /// The node with this 40-hex name.
    pub fn node_named(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes
            .values()
            .find(|n| n.name.eq_ignore_ascii_case(name))
    }
}

/// Why `replica` cannot follow `primary`: its partition p applies the
/// primary's partition p, so both data directories need the same
/// partition count. (A slot layout that differs is no reason: an empty
/// replica takes its primary's, docs/cluster.md "Data placement inside a
/// node", and every node that joins a cluster is empty.)
pub(crate) fn unlike_primary(replica: &NodeInfo, primary: &NodeInfo) -> Option<String> {
    let (r, p) = (replica, primary);
    if r.partitions != p.partitions {
        return Some(format!(
            "replica {} ({}) has {} partitions but its primary {} ({}) has {}: a replica needs its primary's partition count (start it on an empty data directory with --partitions {})",
            r.name, r.binary, r.partitions, p.name, p.binary, p.partitions, p.partitions
        ));
    }
    None
}

/// Whether `s` is 40 hex digits (a node name, a cluster id).
pub fn is_hex40(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How a new cluster is laid out: which nodes are primaries, whom each
/// replica follows, which slots each shard serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub nodes: Vec<NodeInfo>,
    pub shards: Vec<Shard>,
    pub slots: Vec<SlotRange>,
    /// Things the operator should know (a replica on its primary's host).
    pub warnings: Vec<String>,
}

/// Lays out `nodes` with `replicas` replicas per primary, as
/// `redis-cli --cluster create --cluster-replicas` does: the first
/// `n / (replicas + 1)` nodes are primaries, the slots are spread evenly
/// over them in contiguous ranges, and each replica goes to a primary on
/// another host when it can.
pub fn layout(mut nodes: Vec<NodeInfo>, replicas: usize) -> Result<Layout, String> {
    let n = nodes.len();
    if n == 0 {
        return Err("no nodes given".into());
    }
    let primaries = n / (replicas + 1);
    if primaries == 0 {
        return Err(format!(
            "{n} node(s) cannot hold one primary with {replicas} replica(s) each"
        ));
    }
    if primaries > SLOTS as usize {
        return Err(format!("{primaries} primaries exceed the {SLOTS} slots"));
    }
    let mut names = std::collections::BTreeSet::new();
    for nd in &nodes {
        if !names.insert(nd.id) {
            return Err(format!("node {} ({}) is listed twice", nd.name, nd.binary));
        }
    }
    let mut shards: Vec<Shard> = (0..primaries)
        .map(|i| Shard {
            id: i as u32,
            primary: nodes[i].id,
            replicas: Vec::new(),
            fence_ms: 0,
        })
        .collect();
    for (i, nd) in nodes.iter_mut().enumerate().take(primaries) {
        nd.shard = i as u32;
    }
    let host = |a: &str| {
        a.rsplit_once(':')
            .map(|h| h.0.to_string())
            .unwrap_or_default()
    };
    let mut warnings = Vec::new();
    // Replicas beyond `primaries * replicas` (an uneven count) are spread too.
    for i in primaries..n {
        let (rhost, rid) = (host(&nodes[i].binary), nodes[i].id);
        // The primary with the fewest replicas, preferring another host.
        let fewest = shards.iter().map(|s| s.replicas.len()).min().unwrap_or(0);
        let choice = shards
            .iter()
            .position(|s| s.replicas.len() == fewest && host(&nodes[s.id as usize].binary) != rhost)
            .or_else(|| shards.iter().position(|s| s.replicas.len() == fewest))
            .unwrap_or(0);
        let s = &mut shards[choice];
        s.replicas.push(rid);
        let p = &nodes[choice];
        if host(&p.binary) == rhost {
            warnings.push(format!(
                "replica {} shares host {rhost} with its primary {}",
                nodes[i].binary, p.binary
            ));
        }
        if let Some(e) = unlike_primary(&nodes[i], p) {
            return Err(e);
        }
        nodes[i].shard = choice as u32;
    }
    // redis-cli's split: ranges of SLOTS / primaries slots, rounded.
    let per = f64::from(SLOTS) / primaries as f64;
    let mut slots = Vec::new();
    let (mut first, mut cursor) = (0u32, 0f64);
    for i in 0..primaries {
        let mut last = (cursor + per - 1.0).round() as u32;
        if last >= u32::from(SLOTS) || i == primaries - 1 {
            last = u32::from(SLOTS) - 1;
        }
        last = last.max(first);
        slots.push(SlotRange {
            start: first as u16,
            end: last as u16,
            shard: i as u32,
        });
        first = last + 1;
        cursor += per;
    }
    Ok(Layout {
        nodes,
        shards,
        slots,
        warnings,
    })
}

/// Maps for the crate's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) fn node(id: u64, addr: &str, partitions: u32) -> NodeInfo {
        NodeInfo {
            id,
            name: format!("{id:040x}"),
            binary: addr.into(),
            resp: None,
            http: None,
            core_ports: vec![],
            partitions,
            interleaved: true,
            shard: 0,
            health: Health::Up,
        }
    }

    pub(crate) fn formed(l: &Layout) -> ClusterMap {
        let mut m = ClusterMap::default();
        m.apply(&Change::Form {
            format: MAP_FORMAT,
            cluster_id: "ab".repeat(20),
            nodes: l.nodes.clone(),
            shards: l.shards.clone(),
            slots: l.slots.clone(),
        })
        .unwrap();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{formed, node};
    use super::*;

    #[test]
    fn six_nodes_one_replica_each_cover_every_slot_once() {
        let nodes: Vec<_> = (1..=6)
            .map(|i| node(i, &format!("127.0.0.1:{}", 7000 + i), 2))
            .collect();
        let l = layout(nodes, 1).unwrap();
        assert_eq!(l.shards.len(), 3);
        assert!(l.shards.iter().all(|s| s.replicas.len() == 1));
        assert_eq!(l.warnings.len(), 3, "every replica shares 127.0.0.1");
        let m = formed(&l);
        assert_eq!(m.slots_assigned(), 16384);
        assert_eq!(m.epoch, 1);
        assert_eq!(m.shard_of_slot(0).unwrap().id, 0);
        assert_eq!(m.shard_of_slot(5460).unwrap().id, 0);
        assert_eq!(m.shard_of_slot(5461).unwrap().id, 1);
        assert_eq!(m.shard_of_slot(16383).unwrap().id, 2);
        assert_eq!(
            m.slots.iter().map(|r| (r.start, r.end)).collect::<Vec<_>>(),
            vec![(0, 5460), (5461, 10922), (10923, 16383)],
            "redis-cli's split"
        );
    }

    #[test]
    fn a_failover_swaps_the_primary_once_and_marks_the_old_one_failed() {
        let nodes: Vec<_> = (1..=4)
            .map(|i| node(i, &format!("10.0.0.{i}:7000"), 2))
            .collect();
        let mut m = formed(&layout(nodes, 1).unwrap());
        let s0 = m.shards[&0].clone();
        let r = s0.replicas[0];
        assert_eq!(
            m.apply(&Change::Failover {
                shard: 0,
                new_primary: r,
                epoch: 1,
                fence_ms: 0
            }),
            Ok(2)
        );
        assert_eq!(m.shards[&0].primary, r);
        assert_eq!(m.shards[&0].replicas, vec![s0.primary]);
        assert_eq!(m.nodes[&s0.primary].health, Health::Failed);
        m.validate().unwrap();
        // The same decision again (an older epoch) is refused.
        assert!(m
            .apply(&Change::Failover {
                shard: 0,
                new_primary: s0.primary,
                epoch: 1,
                fence_ms: 0
            })
            .unwrap_err()
            .contains("epoch"));
        assert!(m
            .apply(&Change::Failover {
                shard: 0,
                new_primary: 99,
                epoch: 2,
                fence_ms: 0
            })
            .is_err());
        assert_eq!(
            m.apply(&Change::SetHealth {
                node: s0.primary,
                health: Health::Up
            }),
            Ok(3)
        );
        assert_eq!(
            m.apply(&Change::SetHealth {
                node: s0.primary,
                health: Health::Up
            }),
            Ok(3),
            "no change, no new epoch"
        );
    }

    #[test]
    fn replicas_prefer_another_host() {
        let nodes = vec![
            node(1, "10.0.0.1:7000", 2),
            node(2, "10.0.0.2:7000", 2),
            node(3, "10.0.0.1:7001", 2),
            node(4, "10.0.0.2:7001", 2),
        ];
        let l = layout(nodes, 1).unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.shards[0].replicas, vec![4]);
        assert_eq!(l.shards[1].replicas, vec![3]);
    }

    #[test]
    fn bad_layouts_and_maps_are_refused() {
        assert!(layout(vec![], 0).is_err());
        assert!(layout(vec![node(1, "a:1", 2)], 1).is_err());
        let e = layout(vec![node(1, "a:1", 2), node(2, "b:1", 4)], 1).unwrap_err();
        assert!(e.contains("partitions"), "{e}");
        let ranged = NodeInfo {
            interleaved: false,
            ..node(2, "b:1", 2)
        };
        // Another layout is no reason (an empty replica takes its primary's).
        assert!(layout(vec![node(1, "a:1", 2), ranged], 1).is_ok());
        let e = layout(vec![node(1, "a:1", 2), node(1, "b:1", 2)], 0).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let l = layout(vec![node(1, "a:1", 2)], 0).unwrap();
        let mut m = formed(&l);
        let again = Change::Form {
            format: MAP_FORMAT,
            cluster_id: "cd".repeat(20),
            nodes: l.nodes.clone(),
            shards: l.shards.clone(),
            slots: l.slots.clone(),
        };
        let before = m.clone();
        assert!(m.apply(&again).unwrap_err().contains("already formed"));
        assert_eq!(m, before, "a refused change leaves the map as it was");
        let mut empty = ClusterMap::default();
        let overlapping = Change::Form {
            format: MAP_FORMAT,
            cluster_id: "cd".repeat(20),
            nodes: l.nodes.clone(),
            shards: l.shards.clone(),
            slots: vec![
                SlotRange {
                    start: 0,
                    end: 10,
                    shard: 0,
                },
                SlotRange {
                    start: 5,
                    end: 20,
                    shard: 0,
                },
            ],
        };
        assert!(empty.apply(&overlapping).is_err());
        assert!(!empty.formed());
        let newer = Change::Form {
            format: MAP_FORMAT + 1,
            cluster_id: "cd".repeat(20),
            nodes: l.nodes,
            shards: l.shards,
            slots: l.slots,
        };
        assert!(empty.apply(&newer).unwrap_err().contains("newer"));
    }

    #[test]
    fn a_node_is_readdressed_unless_the_address_is_taken() {
        let l = layout(vec![node(1, "a:1", 2), node(2, "b:1", 2)], 1).unwrap();
        let mut m = formed(&l);
        let change = |node: u64, binary: &str| Change::Readdress {
            node,
            binary: binary.into(),
            resp: Some("a:6380".into()),
            http: None,
            core_ports: vec![9],
            interleaved: Some(false),
        };
        let e = m.apply(&change(2, "a:1")).unwrap_err();
        assert!(e.contains("address"), "{e}");
        assert!(m.apply(&change(7, "c:1")).unwrap_err().contains("no node"));
        let before = m.epoch;
        assert_eq!(m.apply(&change(2, "c:1")), Ok(before + 1));
        let n = &m.nodes[&2];
        assert_eq!(
            (n.binary.as_str(), n.core_ports.as_slice()),
            ("c:1", &[9][..])
        );
        assert_eq!(n.resp.as_deref(), Some("a:6380"));
        assert!(!n.interleaved, "the new layout is recorded");
    }
}
