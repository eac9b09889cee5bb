//! Growing and shrinking the cluster in the map (docs/cluster.md, "Adding
//! and removing nodes"): a node joins as the primary of a new shard without
//! slots (slot migrations then give it some) or as a replica of a shard,
//! and leaves once it serves no slot.

use crate::map::{unlike_primary, Change, ChangeResult, ClusterMap, Health, Shard};

impl ClusterMap {
    /// Applies `AddNode` or `RemoveNode`, all or nothing.
    pub(crate) fn apply_membership(&mut self, c: &Change) -> ChangeResult {
        let mut next = self.clone();
        match c {
            Change::AddNode { node, replica_of } => {
                if let Some(n) = self
                    .nodes
                    .values()
                    .find(|n| n.id == node.id || n.name == node.name || n.binary == node.binary)
                {
                    return Err(format!(
                        "{} ({}) is already in the cluster as node {}",
                        node.name, node.binary, n.name
                    ));
                }
                let mut n = node.clone();
                n.health = Health::Up;
                match replica_of {
                    Some(s) => {
                        let shard = next
                            .shards
                            .get_mut(s)
                            .ok_or_else(|| format!("no shard {s}"))?;
                        let primary = &self.nodes[&shard.primary];
                        if let Some(e) = unlike_primary(&n, primary) {
                            return Err(e);
                        }
                        shard.replicas.push(n.id);
                        n.shard = *s;
                    }
                    None => {
                        let id = self.shards.keys().max().map_or(0, |m| m + 1);
                        next.shards.insert(
                            id,
                            Shard {
                                id,
                                primary: n.id,
                                replicas: Vec::new(),
                                fence_ms: 0,
                            },
                        );
                        n.shard = id;
                    }
                }
                next.nodes.insert(n.id, n);
            }
            Change::RemoveNode { node } => {
                let n = self
                    .nodes
                    .get(node)
                    .ok_or_else(|| format!("node {node:x} is not in the cluster"))?;
                let shard = next
                    .shards
                    .get_mut(&n.shard)
                    .ok_or_else(|| format!("node {}'s shard is missing", n.name))?;
                if shard.primary == *node {
                    if !shard.replicas.is_empty() {
                        return Err(format!(
                            "{} ({}) is the primary of shard {}, which has replicas: promote one of them or remove them first",
                            n.name, n.binary, n.shard
                        ));
                    }
                    if self.ranges_of(n.shard).next().is_some() {
                        return Err(format!(
                            "{} ({}) still serves slots of shard {}: move them to other shards first (remove-node does that)",
                            n.name, n.binary, n.shard
                        ));
                    }
                    if self
                        .migrations
                        .iter()
                        .any(|m| m.from == n.shard || m.to == n.shard)
                    {
                        return Err(format!("shard {} takes part in a migration", n.shard));
                    }
                    next.shards.remove(&n.shard);
                } else {
                    shard.replicas.retain(|r| r != node);
                }
                next.nodes.remove(node);
            }
            _ => return Err("not a membership change".into()),
        }
        next.validate()?;
        next.epoch += 1;
        *self = next;
        Ok(self.epoch)
    }
}

#[cfg(test)]
mod tests {
    use crate::map::testing::{formed, node};
    use crate::map::{layout, Change, NodeInfo};

    fn at(id: u64, partitions: u32) -> NodeInfo {
        node(id, &format!("h:{id}"), partitions)
    }

    #[test]
    fn nodes_join_as_empty_shards_or_replicas_and_leave_only_without_slots() {
        let mut m = formed(&layout(vec![at(1, 2), at(2, 2)], 0).unwrap());
        let add = |n: NodeInfo, replica_of| Change::AddNode {
            node: n,
            replica_of,
        };
        m.apply(&add(at(3, 2), None)).unwrap();
        assert_eq!(m.nodes[&3].shard, 2);
        assert_eq!(m.shards[&2].primary, 3);
        assert_eq!(m.ranges_of(2).count(), 0);
        let e = m.apply(&add(at(3, 2), None)).unwrap_err();
        assert!(e.contains("already in the cluster"), "{e}");
        let e = m.apply(&add(at(4, 3), Some(0))).unwrap_err();
        assert!(e.contains("partitions"), "{e}");
        assert!(m.apply(&add(at(4, 2), Some(9))).is_err());
        m.apply(&add(at(4, 2), Some(0))).unwrap();
        assert_eq!(m.shards[&0].replicas, vec![4]);
        let rm = |node| Change::RemoveNode { node };
        // A primary with slots, or with replicas, stays.
        assert!(m.apply(&rm(2)).unwrap_err().contains("still serves slots"));
        assert!(m.apply(&rm(1)).unwrap_err().contains("has replicas"));
        let before = m.epoch;
        m.apply(&rm(4)).unwrap();
        assert!(m.shards[&0].replicas.is_empty() && !m.nodes.contains_key(&4));
        m.apply(&rm(3)).unwrap();
        assert!(!m.shards.contains_key(&2));
        assert_eq!(m.epoch, before + 2);
        assert!(m.apply(&rm(3)).is_err());
    }
}
