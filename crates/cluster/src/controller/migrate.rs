//! Slot migrations on the controller's side (docs/cluster.md, "Moving
//! slots"): the leader commits each stage a node asks for (CLUSTER action
//! [`MIGRATE`]), and every node keeps a board of its own partitions'
//! progress, which its cores write and its core 0 reads to decide the next
//! stage. The board is node-local and never on a request's path.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{refused, Controller};
use crate::map::{Change, Health, Stage};
use crate::net::MIGRATE;
use crate::Error;

/// A `MIGRATE` request: one of the map's migration changes.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct MigrateRequest {
    pub format: u32,
    pub change: Change,
    /// An operator's abort (`MigrateEnd` before the flip, or after it
    /// when the source that should clean up is down).
    #[serde(default)]
    pub abort: bool,
    /// With the hand-over (`MigrateStage` to `Handover`): the flip right
    /// after it, committed as the next log entry in the same round.
    #[serde(default)]
    pub and_flip: bool,
}

/// Where one local partition stands in a migration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum PartState {
    /// The target copies the slots or replays the source's log.
    Copying,
    /// The target has replayed the source's log up to its latest batch.
    CaughtUp,
    /// Fenced: the target applied every batch the source wrote for the
    /// slots, and its replicas have them.
    Drained,
    /// The source deleted its copy of the slots.
    CleanedUp,
    /// The attempt failed here (the message says why): the target copies again.
    Failed(String),
}

/// One partition's line on the board.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PartReport {
    /// The migration's attempt this line belongs to.
    pub attempt: u32,
    pub state: PartState,
    /// Keys and members copied or replayed into this partition.
    pub keys: u64,
    pub bytes: u64,
    /// Batches the source had after the last catch-up pull.
    #[serde(default)]
    pub behind: u64,
}

/// Node-wide migration figures (INFO, `/metrics`).
#[derive(Default, Debug, Clone, Copy)]
pub struct MigrationTotals {
    pub keys_in: u64,
    pub bytes_in: u64,
    pub fences: u64,
    pub fence_last_ms: u64,
    pub fence_max_ms: u64,
    pub throttle_waits: u64,
}

#[derive(Default)]
pub(super) struct Board {
    parts: Mutex<BTreeMap<(u64, u32), PartReport>>,
    totals: Mutex<MigrationTotals>,
    /// The last fences' lengths (ms), at most `FENCES_KEPT`.
    fences_ms: Mutex<std::collections::VecDeque<u64>>,
}

/// Fence lengths kept for the histogram.
const FENCES_KEPT: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Controller {
    /// Records partition `partition`'s state in migration `id`, attempt
    /// `attempt`, adding `keys` and `bytes` moved in.
    pub fn report_migration(
        &self,
        id: u64,
        partition: u32,
        attempt: u32,
        state: PartState,
        keys: u64,
        bytes: u64,
    ) {
        let mut b = lock(&self.board.parts);
        let line = b.entry((id, partition)).or_insert(PartReport {
            attempt,
            state: PartState::Copying,
            keys: 0,
            bytes: 0,
            behind: 0,
        });
        if line.attempt != attempt {
            line.attempt = attempt;
            line.keys = 0;
            line.bytes = 0;
        }
        line.state = state;
        line.keys += keys;
        line.bytes += bytes;
        drop(b);
        let mut t = lock(&self.board.totals);
        t.keys_in += keys;
        t.bytes_in += bytes;
    }

    /// Notes how many batches the source still had after a catch-up pull.
    pub fn note_behind(&self, id: u64, partition: u32, behind: u64) {
        if let Some(line) = lock(&self.board.parts).get_mut(&(id, partition)) {
            line.behind = behind;
        }
    }

    /// Every line of the board: migration → partition → its line.
    pub fn migration_boards(&self) -> BTreeMap<u64, BTreeMap<u32, PartReport>> {
        let mut out: BTreeMap<u64, BTreeMap<u32, PartReport>> = BTreeMap::new();
        for ((id, p), r) in lock(&self.board.parts).iter() {
            out.entry(*id).or_default().insert(*p, r.clone());
        }
        out
    }

    /// The board's lines of migration `id`, by partition.
    pub fn migration_board(&self, id: u64) -> BTreeMap<u32, PartReport> {
        lock(&self.board.parts)
            .range((id, 0)..=(id, u32::MAX))
            .map(|((_, p), r)| (*p, r.clone()))
            .collect()
    }

    /// Forgets the lines of migrations no longer in the map.
    pub fn forget_migrations(&self, live: &[u64]) {
        lock(&self.board.parts).retain(|(id, _), _| live.contains(id));
    }

    /// Records one fence's length (from the fence's commit to the flip's).
    pub fn note_fence(&self, ms: u64) {
        let mut t = lock(&self.board.totals);
        t.fences += 1;
        t.fence_last_ms = ms;
        t.fence_max_ms = t.fence_max_ms.max(ms);
        drop(t);
        let mut f = lock(&self.board.fences_ms);
        if f.len() >= FENCES_KEPT {
            f.pop_front();
        }
        f.push_back(ms);
    }

    /// The kept fences as a histogram over `bounds_s` (upper bounds in
    /// seconds, then +Inf): their sum in seconds, their count and the count
    /// in each bucket.
    pub fn fence_histogram(&self, bounds_s: &[f64]) -> (f64, u64, Vec<u64>) {
        let f = lock(&self.board.fences_ms);
        let mut buckets = vec![0u64; bounds_s.len() + 1];
        let mut sum = 0.0;
        for &ms in f.iter() {
            let s = ms as f64 / 1e3;
            sum += s;
            let i = bounds_s
                .iter()
                .position(|&b| s <= b)
                .unwrap_or(bounds_s.len());
            buckets[i] += 1;
        }
        (sum, f.len() as u64, buckets)
    }

    /// Counts a wait of the copy for `migrate-bytes-per-sec`.
    pub fn note_throttle_wait(&self) {
        lock(&self.board.totals).throttle_waits += 1;
    }

    pub fn migration_totals(&self) -> MigrationTotals {
        *lock(&self.board.totals)
    }

    /// A migration change (MIGRATE), committed by the leader; a follower
    /// forwards it. A migration that moves data refuses a source or target
    /// whose primary is down.
    pub(super) async fn migrate(&self, r: MigrateRequest, body: &[u8]) -> Result<u64, Error> {
        if let Some(answer) = self.on_leader(MIGRATE, body).await {
            return answer;
        }
        let map = self.store.map();
        if !map.formed() {
            return Err(refused("the cluster is not formed"));
        }
        if let Change::MigrateStart { slots, from, to } = &r.change {
            map.can_migrate(slots, *from, *to).map_err(refused)?;
            for s in [from, to] {
                let primary = map.shards.get(s).and_then(|sh| map.nodes.get(&sh.primary));
                match primary {
                    Some(n) if n.health == Health::Up => {}
                    Some(n) => {
                        return Err(refused(format!(
                            "shard {s}'s primary {} ({}) is down: slots move only between live primaries",
                            n.name, n.binary
                        )))
                    }
                    None => return Err(refused(format!("shard {s} has no primary"))),
                }
            }
        }
        if let (true, Change::MigrateEnd { id }) = (r.abort, &r.change) {
            let m = map
                .migrations
                .iter()
                .find(|m| m.id == *id)
                .ok_or_else(|| refused(format!("no migration {id} in progress")))?;
            let source = map
                .shards
                .get(&m.from)
                .and_then(|s| map.nodes.get(&s.primary));
            if m.stage == Stage::Cleanup && source.is_some_and(|n| n.health == Health::Up) {
                return Err(refused(format!(
                    "migration {id} has flipped: its slots are shard {}'s, and the source, which is up, ends it once it has deleted its copy",
                    m.to
                )));
            }
        }
        if r.and_flip {
            let Change::MigrateStage {
                id,
                stage: Stage::Handover,
            } = r.change
            else {
                return Err(refused("only the hand-over is followed by the flip"));
            };
            let flip = Change::MigrateStage {
                id,
                stage: Stage::Cleanup,
            };
            return self
                .commit_in_order("the hand-over and the flip", vec![r.change, flip])
                .await;
        }
        match &r.change {
            Change::MigrateStart { .. }
            | Change::MigrateStage { .. }
            | Change::MigrateEnd { .. } => self.commit("the migration step", r.change).await,
            _ => Err(refused("MIGRATE takes a migration change")),
        }
    }
}
