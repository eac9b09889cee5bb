//! Group commit on a core: every tick's staged writes go to RocksDB as one
//! batch per partition, synced as the durability asks, and the writes'
//! acknowledgements are released in group order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use super::Core;
use crate::shard::{self, Durability, InlineWrite, Partition};
use crate::sync::{Notify, Watermark};

/// Groups whose replicas did not acknowledge in time that are remembered.
const UNACKED_KEPT: usize = 4096;

/// The group committer's state, as a service: the open group (shared with
/// the partitions, which stage into it), the committed watermark that
/// acknowledgements wait on, the signal that writes are staged, and the
/// order in which groups' acknowledgements are released.
pub struct Groups {
    open: Rc<Cell<u64>>,
    /// The highest group written (before its replicas acknowledge it).
    written: Watermark,
    committed: Watermark,
    staged: Notify,
    /// The last group handed to `release_group` (acks are released in order).
    release_tail: Cell<u64>,
    /// Groups whose replicas did not acknowledge in time (most recent last).
    unacked: RefCell<VecDeque<u64>>,
}

impl Groups {
    pub fn new(open: Rc<Cell<u64>>) -> Groups {
        Groups {
            open,
            written: Watermark::default(),
            committed: Watermark::default(),
            staged: Notify::default(),
            release_tail: Cell::new(0),
            unacked: RefCell::new(VecDeque::new()),
        }
    }

    /// The group writes stage into now.
    pub fn open(&self) -> u64 {
        self.open.get()
    }

    /// Closes the open group and opens the next; returns the closed one.
    fn close(&self) -> u64 {
        let g = self.open.get();
        self.open.set(g + 1);
        g
    }

    /// Writes were staged: the committer should run.
    pub fn note_staged(&self) {
        self.staged.notify();
    }

    /// Waits until writes are staged.
    pub async fn wait_staged(&self) {
        self.staged.wait(true).await
    }

    /// The highest group whose acknowledgements are released.
    pub fn committed(&self) -> u64 {
        self.committed.get()
    }

    /// Waits until group `g`'s acknowledgements are released.
    pub async fn wait_committed(&self, g: u64) {
        self.committed.reach(g).await
    }

    /// Waits until group `g` is written (and synced as the durability
    /// asks), not for its replicas.
    pub async fn wait_written(&self, g: u64) {
        self.written.reach(g).await
    }

    /// Whether group `g`'s replicas did not acknowledge it in time.
    pub fn unacked(&self, g: u64) -> bool {
        self.unacked.borrow().contains(&g)
    }

    fn note_unacked(&self, g: u64) {
        let mut u = self.unacked.borrow_mut();
        if u.len() >= UNACKED_KEPT {
            u.pop_front();
        }
        u.push_back(g);
    }
}

impl Core {
    /// Writes every staged batch of this core as one group, then (in `fsync`
    /// mode) syncs the WAL off the reactor. Returns the group and, per
    /// partition written, the sequence it reached; `release_group` then
    /// releases the group's acknowledgements.
    pub async fn commit_group(&self) -> (u64, Vec<(u32, u64)>) {
        let g = self.groups.close();
        let mut written: Vec<Rc<Partition>> = Vec::new();
        for p in &self.local {
            if p.ranged_staged() {
                // Range deletions follow every drain (the one they write
                // first covers all that is absorbed).
                crate::drain::idle(p).await;
            }
            let Some(write) = p.write_staged() else {
                continue;
            };
            // A range deletion's batch writes everything absorbed before
            // itself, so its compactions can run once it is written; the
            // others' run after the drain that takes their deletions.
            let compaction = match &write {
                InlineWrite::Offload(_) => p.take_compaction(),
                _ => None,
            };
            let wrote = match write {
                InlineWrite::Done(data) => {
                    p.note_written(data);
                    true
                }
                InlineWrite::Stalled(data) | InlineWrite::Offload(data) => {
                    // Never sleep in RocksDB on the reactor: wait out the
                    // stall in the pool; range deletions go there too.
                    match glommio::executor()
                        .spawn_blocking(p.write_blocking_fn(data.clone()))
                        .await
                    {
                        Ok(()) => {
                            p.note_written(data);
                            true
                        }
                        Err(e) => {
                            p.poison(g, &format!("write failed: {e}"));
                            false
                        }
                    }
                }
                InlineWrite::Failed(e) => {
                    p.poison(g, &format!("write failed: {e}"));
                    false
                }
            };
            p.finish_group(g);
            if wrote {
                written.push(p.clone());
                if let Some(d) = p.take_drain(false) {
                    crate::drain::start(p, d);
                }
            }
            match compaction {
                Some(job) if wrote => start_range_compaction(p, job),
                // The deletions that asked for it were not written either.
                Some(_) => p.compaction_done(),
                None => {}
            }
        }
        if !written.is_empty() {
            self.repl().log_grew();
        }
        let targets: Vec<(u32, u64)> = written
            .iter()
            .map(|p| (p.id(), p.last_record().index))
            .collect();
        if self.config.durability == Durability::Fsync && !written.is_empty() {
            let syncs: Vec<_> = written.iter().map(|p| p.sync_wal_fn()).collect();
            let results = self.timed_sync(syncs).await;
            for (p, r) in written.iter().zip(results) {
                if let Err(e) = r {
                    p.poison(g, &format!("WAL fsync failed: {e}"));
                }
            }
        }
        (g, targets)
    }

    /// Opens a new group with nothing in it (releases waiters on the open one).
    pub fn skip_group(&self) -> u64 {
        self.groups.close()
    }

    /// Runs WAL syncs in the blocking pool and counts their time.
    pub(super) async fn timed_sync<F>(&self, syncs: Vec<F>) -> Vec<Result<(), shard::Error>>
    where
        F: FnOnce() -> Result<(), shard::Error> + Send + 'static,
    {
        let t0 = std::time::Instant::now();
        let results = glommio::executor()
            .spawn_blocking(move || syncs.into_iter().map(|f| f()).collect::<Vec<_>>())
            .await;
        self.stats.wal_sync(t0.elapsed());
        results
    }

    /// Whether any local partition has staged writes.
    pub fn has_pending(&self) -> bool {
        self.local.iter().any(|p| p.has_pending())
    }

    /// Syncs every local partition's WAL (blocking pool).
    pub async fn sync_wal(&self) {
        if self.config.durability == Durability::None {
            return;
        }
        let syncs: Vec<_> = self.local.iter().map(|p| p.sync_wal_fn()).collect();
        let results = self.timed_sync(syncs).await;
        for (p, r) in self.local.iter().zip(results) {
            if let Err(e) = r {
                p.poison(self.groups.open(), &format!("WAL fsync failed: {e}"));
            }
        }
    }
}

/// Runs a partition's range compactions (`Partition::take_compaction`) in
/// the blocking pool, after the batch that asked for them was written.
/// Nothing waits for it.
pub(super) fn start_range_compaction(p: &Rc<Partition>, job: impl FnOnce() + Send + 'static) {
    let p = p.clone();
    glommio::spawn_local(async move {
        glommio::executor().spawn_blocking(job).await;
        p.compaction_done();
    })
    .detach();
}

/// Releases group `g`'s acknowledgements: at once, or with
/// `min-replicas-to-ack` once enough replicas applied it (`targets`: the
/// sequence it reached per partition) or the timeout passed, and never
/// before every earlier group. The next group commits meanwhile.
pub fn release_group(core: &Rc<Core>, g: u64, targets: Vec<(u32, u64)>) {
    let groups = &core.groups;
    groups.written.advance(g);
    if core.config.min_replicas_to_ack() == 0 {
        groups.committed.advance(g);
        return;
    }
    let prev = groups.release_tail.replace(g);
    let core = core.clone();
    glommio::spawn_local(async move {
        if !targets.is_empty() && !core.replicas_reached(&targets).await {
            core.groups.note_unacked(g);
        }
        core.groups.committed.reach(prev).await;
        core.groups.committed.advance(g);
    })
    .detach();
}
