//! Slot migration on a node (docs/cluster.md, "Moving slots").
//!
//! The controller's map records each migration and its stage; every core
//! acts on the stage for its own partitions:
//! - **Copy** (target primary): each partition holding some of the slots
//!   deletes whatever it had of them, copies them from a checkpoint of each
//!   source partition that holds them (`MIGRATE_COPY`), then replays the
//!   source partitions' later batches for them (`MIGRATE_PULL`), staging it
//!   all in its own group commit so its replicas follow.
//! - **Fence**: the source answers writes to the slots with TRYAGAIN. The
//!   target asks each source partition for its last record once no write to
//!   the slots can still be staged there (`MIGRATE_FENCED`), applies up to
//!   it, waits for its own replicas, and reports the partition drained.
//! - **Cleanup** (after the flip): the source deletes its copy.
//!
//! Core 0 reads its node's board (the controller's) and asks the leader for
//! the next stage: `Fence` once every target partition caught up, the flip
//! once all drained, `Copy` again if one failed while fenced, the end once
//! the source cleaned up.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tessera_cluster::controller::migrate::{MigrateRequest, PartState};
use tessera_cluster::map::{Change, Migration, Stage};
use tessera_cluster::net::{MIGRATE, RPC_FORMAT};

use super::cluster::Routes;
use super::Core;
use crate::shard::Partition;

mod source;
mod target;

pub use source::serve;
pub(super) use source::slot_keys;
use target::{drive_partition, Stop};

/// Fail point `name` (docs/operations.md, "Fault injection"): `Err` with
/// its message when it fires, after pausing for its message's milliseconds
/// if that is a number (`return(abort)` aborts in `hit`).
pub(super) async fn fail_point(name: &str) -> Result<(), String> {
    match crate::shard::failpoint::hit(name) {
        None => Ok(()),
        Some(msg) => match msg.parse::<u64>() {
            Ok(ms) => {
                glommio::timer::sleep(Duration::from_millis(ms)).await;
                Ok(())
            }
            Err(_) => Err(msg),
        },
    }
}

/// How long core 0 waits for the controller to commit a migration step
/// before it asks again.
const ASK_LEADER_WAIT: Duration = Duration::from_secs(10);

/// How often each core looks at the map's migrations.
const TICK: Duration = Duration::from_millis(20);

/// How often the target's core 0 looks at its board while fenced: the
/// fence lasts until it sees every partition drained and asks for the flip.
const FENCE_TICK: Duration = Duration::from_millis(1);

/// The fail point between the hand-over and the flip.
const HANDOVER_POINT: &str = "cluster.migrate-handover";

/// The slots of `m` each local partition holds.
fn local_slots(core: &Core, m: &Migration) -> Vec<(Rc<Partition>, Vec<u16>)> {
    let mut by: HashMap<u32, Vec<u16>> = HashMap::new();
    for &s in &m.slots {
        by.entry(core.topo().partition_of_slot(s))
            .or_default()
            .push(s);
    }
    core.local()
        .iter()
        .filter_map(|p| by.remove(&p.id()).map(|s| (p.clone(), s)))
        .collect()
}

/// Every core, in cluster mode: carries out its part of the map's
/// migrations (and core 0 asks for each next stage).
pub async fn migrate_loop(core: Rc<Core>) {
    let Some(cl) = core.cluster() else {
        return;
    };
    let ctl = cl.controller().clone();
    // (migration, attempt, partition) driven here; cleaned migrations.
    let mut running: HashMap<(u64, u32, u32), Rc<std::cell::Cell<bool>>> = HashMap::new();
    let mut cleaned: HashSet<u64> = HashSet::new();
    let mut steps = Steps::default();
    // Migrations this core copies into, with how many drivers still run.
    let mut targeted: HashMap<u64, (Migration, Rc<std::cell::Cell<u32>>)> = HashMap::new();
    let mut seen_epoch = 0;
    loop {
        let routes = cl.routes();
        // A new map may have moved a blocked pop's slot away: they look.
        if routes.map.epoch != seen_epoch {
            seen_epoch = routes.map.epoch;
            core.waiters.wake_all();
        }
        let my_shard = routes.my_node().map(|n| n.shard);
        let primary = routes.i_am_primary();
        let live: Vec<u64> = routes.map.migrations.iter().map(|m| m.id).collect();
        running.retain(|(id, _, _), alive| live.contains(id) && alive.get());
        cleaned.retain(|id| live.contains(id));
        for m in &routes.map.migrations {
            let local = local_slots(&core, m);
            if local.is_empty() || !primary {
                continue;
            }
            if my_shard == Some(m.to) && matches!(m.stage, Stage::Copy | Stage::Fence) {
                // One driver per partition; a failed one is started again
                // (after a pause) without touching the others.
                for (part, slots) in local {
                    let key = (m.id, m.attempts, part.id());
                    if running.contains_key(&key) {
                        continue;
                    }
                    let alive = Rc::new(std::cell::Cell::new(true));
                    running.insert(key, alive.clone());
                    let drivers = targeted
                        .entry(m.id)
                        .or_insert_with(|| (m.clone(), Rc::default()))
                        .1
                        .clone();
                    drivers.set(drivers.get() + 1);
                    let (core2, m2, alive2, ctl2) =
                        (core.clone(), m.clone(), alive.clone(), ctl.clone());
                    glommio::spawn_local(async move {
                        let _running = Running(drivers);
                        let id = part.id();
                        if let Err(Stop::Failed(why)) =
                            drive_partition(core2, m2.clone(), part, slots).await
                        {
                            tracing::warn!(
                                migration = m2.id,
                                partition = id,
                                "slot migration: {why}"
                            );
                            ctl2.report_migration(
                                m2.id,
                                id,
                                m2.attempts,
                                PartState::Failed(why),
                                0,
                                0,
                            );
                            // Copying again (a new driver) after a pause.
                            glommio::timer::sleep(Duration::from_millis(500)).await;
                            alive2.set(false);
                        }
                    })
                    .detach();
                }
            } else if my_shard == Some(m.from)
                && m.stage == Stage::Cleanup
                && !cleaned.contains(&m.id)
            {
                cleaned.insert(m.id);
                for (part, slots) in local {
                    match delete_slots(&core, &part, &slots).await {
                        Ok(()) => ctl.report_migration(
                            m.id,
                            part.id(),
                            m.attempts,
                            PartState::CleanedUp,
                            0,
                            0,
                        ),
                        Err(e) => {
                            tracing::warn!(migration = m.id, "slot migration clean-up: {e}");
                            cleaned.remove(&m.id);
                        }
                    }
                }
            }
        }
        // An aborted migration (gone from the map, its slots not this
        // shard's): what the copy staged here is dropped.
        let ended: Vec<u64> = targeted
            .keys()
            .filter(|id| !live.contains(id))
            .copied()
            .collect();
        for (m, drivers) in ended.iter().filter_map(|id| targeted.remove(id)) {
            let ours = |s: &u16| routes.map.shard_of_slot(*s).map(|sh| sh.id) == my_shard;
            if !m.slots.iter().any(ours) {
                glommio::spawn_local(drop_aborted(core.clone(), m, drivers)).detach();
            }
        }
        let mut tick = TICK;
        if core.id() == 0 {
            coordinate(&core, &routes, &mut steps).await;
            ctl.forget_migrations(&live);
            if primary
                && routes.map.migrations.iter().any(|m| {
                    Some(m.to) == my_shard && matches!(m.stage, Stage::Fence | Stage::Handover)
                })
            {
                tick = FENCE_TICK;
            }
        }
        let stop = std::pin::pin!(core.shutdown().wait(false));
        let tick = std::pin::pin!(glommio::timer::sleep(tick));
        if let futures::future::Either::Left(_) = futures::future::select(stop, tick).await {
            return;
        }
    }
}

/// Deletes `slots`' key ranges from `part` in the group commit (its
/// replicas drop them too).
async fn delete_slots(
    core: &Core,
    part: &Partition,
    slots: &[u16],
) -> Result<(), crate::shard::Error> {
    let g = part.delete_slots(slots)?;
    core.groups.note_staged();
    core.groups.wait_committed(g).await;
    part.group_status(g)
}

/// Counts a running driver of a migration until it ends.
struct Running(Rc<std::cell::Cell<u32>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// The target's side of an abort: once this core's drivers of `m` have
/// stopped, deletes the slots' key ranges from its partitions (in the
/// group commit, so its replicas drop them too).
async fn drop_aborted(core: Rc<Core>, m: Migration, drivers: Rc<std::cell::Cell<u32>>) {
    while drivers.get() > 0 {
        glommio::timer::sleep(TICK).await;
    }
    for (part, slots) in local_slots(&core, &m) {
        match delete_slots(&core, &part, &slots).await {
            Ok(()) => tracing::info!(
                migration = m.id,
                partition = part.id(),
                "slot migration aborted: the copied slots are dropped"
            ),
            Err(e) => tracing::warn!(
                migration = m.id,
                "slot migration aborted: dropping the copied slots failed: {e}"
            ),
        }
    }
}

/// What core 0's coordinator remembers between two looks.
#[derive(Default)]
struct Steps {
    /// When each fenced migration's fence was committed.
    fence_started: HashMap<u64, Instant>,
    /// The epoch each migration's last committed step made: until this
    /// node's map reaches it, the step is not asked for again.
    committed: HashMap<u64, u64>,
}

/// Core 0: asks the controller's leader for each migration's next stage
/// once every partition of this node that takes part is ready for it.
async fn coordinate(core: &Rc<Core>, routes: &Routes, steps: &mut Steps) {
    let Some(cl) = core.cluster() else {
        return;
    };
    let ctl = cl.controller();
    let Some(me) = routes.my_node() else {
        return;
    };
    if !routes.i_am_primary() {
        return;
    }
    let live = |id: &u64| routes.map.migrations.iter().any(|m| m.id == *id);
    steps.fence_started.retain(|id, _| live(id));
    steps.committed.retain(|id, _| live(id));
    for m in &routes.map.migrations {
        if steps
            .committed
            .get(&m.id)
            .is_some_and(|&e| routes.map.epoch < e)
        {
            continue;
        }
        // This node's partitions holding the slots (on every core).
        let need: HashSet<u32> = m
            .slots
            .iter()
            .map(|&s| core.topo().partition_of_slot(s))
            .collect();
        let board = ctl.migration_board(m.id);
        let all = |ok: &dyn Fn(&PartState) -> bool, this_attempt: bool| {
            need.iter().all(|p| {
                board
                    .get(p)
                    .is_some_and(|r| (!this_attempt || r.attempt == m.attempts) && ok(&r.state))
            })
        };
        let failed = need.iter().any(|p| {
            board
                .get(p)
                .is_some_and(|r| r.attempt == m.attempts && matches!(r.state, PartState::Failed(_)))
        });
        let next = if me.shard == m.to {
            match m.stage {
                Stage::Copy
                    if all(
                        &|s| matches!(s, PartState::CaughtUp | PartState::Drained),
                        true,
                    ) =>
                {
                    Some(Change::MigrateStage {
                        id: m.id,
                        stage: Stage::Fence,
                    })
                }
                Stage::Fence if all(&|s| *s == PartState::Drained, true) => {
                    Some(Change::MigrateStage {
                        id: m.id,
                        stage: Stage::Handover,
                    })
                }
                // Every write to the slots is here: only the flip is left
                // (also after a restart in the hand-over).
                Stage::Handover => Some(Change::MigrateStage {
                    id: m.id,
                    stage: Stage::Cleanup,
                }),
                Stage::Fence if failed => Some(Change::MigrateStage {
                    id: m.id,
                    stage: Stage::Copy,
                }),
                _ => None,
            }
        } else if me.shard == m.from
            && m.stage == Stage::Cleanup
            && all(&|s| *s == PartState::CleanedUp, false)
        {
            Some(Change::MigrateEnd { id: m.id })
        } else {
            None
        };
        let Some(change) = next else {
            continue;
        };
        let fence_over = |steps: &mut Steps, epoch: u64| {
            steps.committed.insert(m.id, epoch);
            if let Some(t) = steps.fence_started.remove(&m.id) {
                let ms = t.elapsed().as_millis() as u64;
                ctl.note_fence(ms);
                tracing::info!(migration = m.id, "slot migration: fence {ms} ms");
            }
        };
        let flip = Change::MigrateStage {
            id: m.id,
            stage: Stage::Cleanup,
        };
        match change {
            Change::MigrateStage {
                stage: Stage::Fence,
                ..
            } => {
                if let Some(e) = commit(ctl, m.id, change, false).await {
                    steps.committed.insert(m.id, e);
                    steps.fence_started.insert(m.id, Instant::now());
                }
            }
            // The flip follows the hand-over at once: both in one request,
            // which the leader commits back to back, unless the fail point
            // between them is set.
            Change::MigrateStage {
                stage: Stage::Handover,
                ..
            } if !crate::shard::failpoint::armed(HANDOVER_POINT) => {
                if let Some(e) = commit(ctl, m.id, change, true).await {
                    fence_over(steps, e);
                }
            }
            Change::MigrateStage {
                stage: Stage::Handover,
                ..
            } => {
                if commit(ctl, m.id, change, false).await.is_none() {
                    continue;
                }
                if let Err(why) = fail_point(HANDOVER_POINT).await {
                    tracing::warn!(migration = m.id, "slot migration: {why}");
                    continue;
                }
                if let Some(e) = commit(ctl, m.id, flip, false).await {
                    fence_over(steps, e);
                }
            }
            Change::MigrateStage {
                stage: Stage::Cleanup,
                ..
            } => {
                if let Some(e) = commit(ctl, m.id, change, false).await {
                    fence_over(steps, e);
                }
            }
            _ => {
                if let Some(e) = commit(ctl, m.id, change, false).await {
                    steps.committed.insert(m.id, e);
                }
            }
        }
    }
}

/// Asks the controller's leader to commit a migration change (and the
/// flip right after it, with `and_flip`); the epoch it made, if it did.
async fn commit(
    ctl: &std::sync::Arc<tessera_cluster::Controller>,
    id: u64,
    change: Change,
    and_flip: bool,
) -> Option<u64> {
    let what = if and_flip {
        format!("{change:?} and the flip")
    } else {
        format!("{change:?}")
    };
    let body = serde_json::to_vec(&MigrateRequest {
        format: RPC_FORMAT,
        change,
        abort: false,
        and_flip,
    })
    .unwrap_or_default();
    let t0 = Instant::now();
    let asked = std::pin::pin!(ctl.request(MIGRATE, body));
    let late = std::pin::pin!(glommio::timer::sleep(ASK_LEADER_WAIT));
    let answer = match futures::future::select(asked, late).await {
        futures::future::Either::Left((a, _)) => a,
        futures::future::Either::Right(_) => {
            tracing::warn!(
                migration = id,
                "slot migration: {what}: no answer in {ASK_LEADER_WAIT:?}; asking again"
            );
            return None;
        }
    };
    match answer {
        Ok(epoch) => {
            tracing::info!(
                migration = id,
                "slot migration: {what} committed in {} ms",
                t0.elapsed().as_millis()
            );
            // An unreadable answer still committed: wait for no epoch.
            Some(serde_json::from_slice(&epoch).unwrap_or(0))
        }
        Err(e) => {
            tracing::warn!(migration = id, "slot migration: {what} not committed: {e}");
            None
        }
    }
}
