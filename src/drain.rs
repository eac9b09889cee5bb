//! Drains of a partition's absorbed writes (docs/storage.md, "The write
//! path"), on the core that owns it: the committer starts them when the
//! overlay passes its budget, and whoever reads the column families
//! directly (SCAN's pages, the per-slot key counts, a replica about to
//! apply batches or to start a full sync) waits for one first.

use std::rc::Rc;
use std::time::Duration;

use crate::shard::journal::Drain;
use crate::shard::Partition;

/// Writes a drain in the blocking pool and finishes it; then runs the
/// range compactions queued before it was taken (their deletions are now
/// in the column families). Returns whether it was written.
pub async fn run(p: &Partition, mut d: Drain) -> bool {
    let job = p.take_compaction();
    let r = glommio::executor().spawn_blocking(d.write_fn(p)).await;
    if let Err(e) = &r {
        tracing::warn!(partition = p.id(), "a drain failed (retried later): {e}");
    }
    p.drain_done(d, r.is_ok());
    match job {
        Some(job) if r.is_ok() => {
            glommio::executor().spawn_blocking(job).await;
            p.compaction_done();
        }
        Some(_) => p.compaction_done(),
        None => {}
    }
    r.is_ok()
}

/// Starts a drain without waiting for it.
pub fn start(p: &Rc<Partition>, d: Drain) {
    let p = p.clone();
    glommio::spawn_local(async move {
        run(&p, d).await;
    })
    .detach();
}

/// Waits until every write acknowledged before the call is in the column
/// families: runs a drain when one can be taken, else asks the committer
/// for one and waits for it.
pub async fn settle(p: &Partition) {
    let need = p.drains() + if p.draining() { 2 } else { 1 };
    loop {
        if let Some(d) = p.take_drain(true) {
            if run(p, d).await {
                return;
            }
        }
        if !p.draining() && (!p.absorbed() || p.drains() >= need) {
            return;
        }
        p.want_drain();
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits until no drain is running (before a batch holding range
/// deletions, which must follow every drain).
pub async fn idle(p: &Partition) {
    while p.draining() {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}
