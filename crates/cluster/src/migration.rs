//! Slot migrations in the map (docs/cluster.md, "Moving slots"): their
//! stages, the changes that move them on, and the flip that gives their
//! slots to the target shard.

use serde::{Deserialize, Serialize};
use tessera_wire::slot::SLOTS;

use crate::map::{Change, ChangeResult, ClusterMap, SlotRange};

/// Where a slot migration stands (docs/cluster.md, "Moving slots").
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The target's primary copies the slots from a checkpoint of the
    /// source and then tails the source's log for them; the source serves
    /// the slots as before.
    Copy,
    /// The source answers writes to the slots with TRYAGAIN while the
    /// target applies the source's last batches for them.
    Fence,
    /// The target has applied every batch the fenced source wrote for the
    /// slots: the source redirects Redis clients with ASK and the target
    /// serves them after ASKING. Only the flip follows (a write the target
    /// took here must never be copied over again).
    Handover,
    /// The target owns the slots (the flip); the source deletes its copy.
    Cleanup,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Copy => "copy",
            Stage::Fence => "fence",
            Stage::Handover => "handover",
            Stage::Cleanup => "cleanup",
        }
    }
}

/// A batch of slots moving from one shard to another: one Raft entry per
/// stage and one fence for the whole batch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The epoch of the map that started it (unique: every change bumps it).
    pub id: u64,
    /// The slots, ascending.
    pub slots: Vec<u16>,
    pub from: u32,
    pub to: u32,
    pub stage: Stage,
    /// Each stage entered so far restarts the copy (a target that lost its
    /// progress asks for `Copy` again): counted for `status`.
    #[serde(default)]
    pub attempts: u32,
}

impl ClusterMap {
    /// Applies a migration change (`MigrateStart`, `MigrateStage`,
    /// `MigrateEnd`), all or nothing.
    pub(crate) fn apply_migration(&mut self, c: &Change) -> ChangeResult {
        match c {
            Change::MigrateStart { slots, from, to } => {
                self.can_migrate(slots, *from, *to)?;
                self.epoch += 1;
                self.migrations.push(Migration {
                    id: self.epoch,
                    slots: slots.clone(),
                    from: *from,
                    to: *to,
                    stage: Stage::Copy,
                    attempts: 1,
                });
                Ok(self.epoch)
            }
            Change::MigrateStage { id, stage } => {
                let i = self.migration_index(*id)?;
                let m = &self.migrations[i];
                match (m.stage, stage) {
                    (Stage::Copy, Stage::Fence)
                    | (Stage::Fence, Stage::Copy)
                    | (Stage::Fence, Stage::Handover) => {}
                    (Stage::Handover, Stage::Cleanup) => {
                        let (slots, to) = (m.slots.clone(), m.to);
                        self.assign(&slots, to);
                    }
                    (a, b) => {
                        return Err(format!(
                            "migration {id} is at stage {}, it cannot go to {}",
                            a.name(),
                            b.name()
                        ))
                    }
                }
                let m = &mut self.migrations[i];
                if *stage == Stage::Copy {
                    m.attempts += 1;
                }
                m.stage = *stage;
                self.epoch += 1;
                Ok(self.epoch)
            }
            Change::MigrateEnd { id } => {
                let i = self.migration_index(*id)?;
                if self.migrations[i].stage == Stage::Handover {
                    return Err(format!(
                        "migration {id} is in the hand-over: the target may have taken writes to its slots, so it only goes forward (the flip follows)"
                    ));
                }
                self.migrations.remove(i);
                self.epoch += 1;
                Ok(self.epoch)
            }
            _ => Err("not a migration change".into()),
        }
    }

    fn migration_index(&self, id: u64) -> Result<usize, String> {
        self.migrations
            .iter()
            .position(|m| m.id == id)
            .ok_or_else(|| format!("no migration {id} in progress"))
    }

    /// Why `slots` cannot start moving from `from` to `to`, if they cannot.
    pub fn can_migrate(&self, slots: &[u16], from: u32, to: u32) -> Result<(), String> {
        if slots.is_empty() {
            return Err("no slots to move".into());
        }
        if !slots.windows(2).all(|w| w[0] < w[1]) {
            return Err("the slots must be given in ascending order, each once".into());
        }
        for s in [from, to] {
            if !self.shards.contains_key(&s) {
                return Err(format!("no shard {s}"));
            }
        }
        if from == to {
            return Err(format!("the slots already belong to shard {to}"));
        }
        if let Some(m) = self.migrations.first() {
            return Err(format!(
                "migration {} (shard {} to {}, stage {}) is in progress: one migration at a time",
                m.id,
                m.from,
                m.to,
                m.stage.name()
            ));
        }
        for &slot in slots {
            match self.shard_of_slot(slot) {
                Some(s) if s.id == from => {}
                Some(s) => {
                    return Err(format!(
                        "slot {slot} belongs to shard {}, not to shard {from}",
                        s.id
                    ))
                }
                None => return Err(format!("slot {slot} has no owner")),
            }
        }
        Ok(())
    }

    /// Gives `slots` to shard `to`, rebuilding the ordered range list.
    fn assign(&mut self, slots: &[u16], to: u32) {
        let mut owner = vec![u32::MAX; SLOTS as usize];
        for r in &self.slots {
            for s in r.start..=r.end {
                owner[s as usize] = r.shard;
            }
        }
        for &s in slots {
            owner[s as usize] = to;
        }
        self.slots = ranges_of_owners(&owner);
    }

    /// The slots whose writes node `me` admits under this map, as ranges:
    /// its shard's when it is the primary, less those of a migration from
    /// its shard that is fenced or in the hand-over, plus those of a
    /// migration to its shard in the hand-over (ASKING clients). The same
    /// rule as the gate's (`src/net/core/cluster.rs`, `Routes::check` and
    /// `admit_write`); the write lease is not part of it.
    /// One flag per slot (see `flagged_ranges`).
    pub fn writable_slots(&self, me: u64) -> Vec<bool> {
        let mut w = vec![false; SLOTS as usize];
        let Some(shard) = self.nodes.get(&me).map(|n| n.shard) else {
            return w;
        };
        if self.shards.get(&shard).map(|s| s.primary) != Some(me) {
            return w;
        }
        for r in self.ranges_of(shard) {
            w[r.start as usize..=r.end as usize].fill(true);
        }
        for m in &self.migrations {
            let fenced = matches!(m.stage, Stage::Fence | Stage::Handover);
            for &s in &m.slots {
                if m.from == shard && fenced {
                    w[s as usize] = false;
                } else if m.to == shard && m.stage == Stage::Handover {
                    w[s as usize] = true;
                }
            }
        }
        w
    }

    /// The migration moving `slot`, if any.
    pub fn migration_of(&self, slot: u16) -> Option<&Migration> {
        self.migrations
            .iter()
            .find(|m| m.slots.binary_search(&slot).is_ok())
    }
}

/// The ordered ranges of a slot → shard table (`u32::MAX`: no owner).
fn ranges_of_owners(owner: &[u32]) -> Vec<SlotRange> {
    let mut out: Vec<SlotRange> = Vec::new();
    for (s, &shard) in owner.iter().enumerate() {
        if shard == u32::MAX {
            continue;
        }
        match out.last_mut() {
            Some(r) if r.shard == shard && u32::from(r.end) + 1 == s as u32 => r.end = s as u16,
            _ => out.push(SlotRange {
                start: s as u16,
                end: s as u16,
                shard,
            }),
        }
    }
    out
}

/// The ascending ranges of the slots flagged in `on` (indexed by slot).
pub fn flagged_ranges(on: &[bool]) -> Vec<(u16, u16)> {
    let owner: Vec<u32> = on.iter().map(|&f| if f { 0 } else { u32::MAX }).collect();
    ranges_of_owners(&owner)
        .into_iter()
        .map(|r| (r.start, r.end))
        .collect()
}

/// Parses a slot list such as `0-99,200,300-310` into ascending slots.
pub fn parse_slots(text: &str) -> Result<Vec<u16>, String> {
    let mut out = std::collections::BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let num = |t: &str| -> Result<u16, String> {
            t.trim()
                .parse::<u16>()
                .ok()
                .filter(|&n| n < SLOTS)
                .ok_or_else(|| format!("{t:?} is not a slot (0 to {})", SLOTS - 1))
        };
        let (a, b) = (num(a)?, num(b)?);
        if b < a {
            return Err(format!("slot range {part} ends before it starts"));
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        return Err("no slots given".into());
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::layout;
    use crate::map::testing::{formed, node};

    #[test]
    fn a_migration_moves_its_slots_only_at_the_flip() {
        let nodes: Vec<_> = (1..=3).map(|i| node(i, &format!("h:{i}"), 2)).collect();
        let mut m = formed(&layout(nodes, 0).unwrap());
        let slots = parse_slots("0-9, 20,5461").unwrap();
        assert_eq!(slots.len(), 12);
        let start = |slots: &[u16], from, to| Change::MigrateStart {
            slots: slots.to_vec(),
            from,
            to,
        };
        // Slot 5461 is shard 1's.
        let e = m.apply(&start(&slots, 0, 2)).unwrap_err();
        assert!(e.contains("slot 5461 belongs to shard 1"), "{e}");
        assert!(m.apply(&start(&slots[..11], 0, 0)).is_err());
        assert!(m.apply(&start(&slots[..11], 0, 9)).is_err());
        assert!(m.apply(&start(&[3, 2], 0, 2)).is_err());
        let id = m.apply(&start(&slots[..11], 0, 2)).unwrap();
        assert_eq!(m.migration_of(20).map(|g| g.id), Some(id));
        assert!(m.migration_of(10).is_none());
        // One at a time.
        let e = m.apply(&start(&[5461], 1, 2)).unwrap_err();
        assert!(e.contains("one migration at a time"), "{e}");
        let stage = |stage| Change::MigrateStage { id, stage };
        // Copy cannot flip directly.
        assert!(m.apply(&stage(Stage::Cleanup)).is_err());
        m.apply(&stage(Stage::Fence)).unwrap();
        assert_eq!(m.shard_of_slot(5).unwrap().id, 0, "no flip before Cleanup");
        m.apply(&stage(Stage::Copy)).unwrap();
        assert_eq!(m.migrations[0].attempts, 2);
        m.apply(&stage(Stage::Fence)).unwrap();
        // The flip comes only after the hand-over, which never goes back.
        assert!(m.apply(&stage(Stage::Cleanup)).is_err());
        m.apply(&stage(Stage::Handover)).unwrap();
        assert_eq!(m.shard_of_slot(5).unwrap().id, 0);
        // Writes: the source lost the slots at the fence, the target takes
        // ASKING clients in the hand-over; never both.
        let (p0, p2) = (m.shards[&0].primary, m.shards[&2].primary);
        let writable = |n| flagged_ranges(&m.writable_slots(n));
        assert_eq!(writable(p0), vec![(10, 19), (21, 5460)]);
        assert_eq!(writable(p2), vec![(0, 9), (20, 20), (10923, 16383)]);
        // An abort is refused here: the hand-over only goes forward.
        let e = m.apply(&Change::MigrateEnd { id }).unwrap_err();
        assert!(e.contains("hand-over"), "{e}");
        assert!(m.apply(&stage(Stage::Copy)).is_err());
        m.apply(&stage(Stage::Cleanup)).unwrap();
        for s in slots[..11].iter() {
            assert_eq!(m.shard_of_slot(*s).unwrap().id, 2, "slot {s}");
        }
        assert_eq!(m.shard_of_slot(10).unwrap().id, 0);
        assert_eq!(m.shard_of_slot(21).unwrap().id, 0);
        assert_eq!(m.slots_assigned(), 16384);
        m.validate().unwrap();
        let before = m.epoch;
        assert_eq!(m.apply(&Change::MigrateEnd { id }), Ok(before + 1));
        assert!(m.migrations.is_empty());
        assert!(m.apply(&Change::MigrateEnd { id }).is_err());
        assert!(parse_slots("5-3").is_err());
        assert!(parse_slots("16384").is_err());
        assert!(parse_slots("").is_err());
    }
}
