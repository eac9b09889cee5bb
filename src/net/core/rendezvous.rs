//! A replica applying commits across partitions (docs/replication.md,
//! "Commits across partitions"). Each partition follows its own stream,
//! so a commit's record batch and its parts' batches arrive on their own
//! schedules; a replica that applied them as they came would show half a
//! commit, and keep it after a crash or a promotion if the rest never came.
//!
//! A stream that reaches such a batch (`xcommit::link_of`) stops there and
//! hands it to the core of the record's partition, which keeps it until
//! the record's batch and every part's batch have arrived (or a part's
//! partition already holds it: a full sync copied it). Then that core
//! holds every core involved (`hold.rs`, as a command across slots does,
//! so requests there wait), applies the record's batch, then each part's
//! batch on its own core, and ends the holds. The record's batch is
//! written first: a crash before the parts leaves the record, and the next
//! start redoes them from it (`xcommit::recover`), as on a primary.
//!
//! The primary puts one commit's record or part in a batch at most
//! (`Partition::links_open`), so a batch joins exactly one commit.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use futures::channel::oneshot;

use super::Core;
use crate::net::mesh::{CrossMsg, Joined};
use crate::shard::partition::xcommit::{Link, Record};
use crate::shard::Partition;

/// The commits a replica's core waits to apply, by record partition and
/// record id (the record partition is on this core).
#[derive(Default)]
pub(super) struct Waiting {
    commits: RefCell<HashMap<(u32, u64), Commit>>,
}

#[derive(Default)]
struct Commit {
    /// The record and its batch, once the record partition's stream
    /// reached it.
    record: Option<(Record, Vec<u8>)>,
    /// The parts' batches by partition (`None`: that partition holds the
    /// part already).
    parts: BTreeMap<u32, Option<Vec<u8>>>,
    /// The streams waiting, told when the commit is applied.
    streams: Vec<oneshot::Sender<Joined>>,
    /// Being applied.
    running: bool,
}

/// How often a waiting commit asks whether a missing part's partition
/// holds the part already.
const RECHECK: std::time::Duration = std::time::Duration::from_millis(100);

fn stopped(c: usize) -> String {
    format!("core {c} stopped")
}

impl Core {
    /// A replica's stream of `part` reached `batch`, which carries `link`:
    /// returns once the batch is applied with the rest of its commit.
    pub(super) async fn join_commit(
        &self,
        part: &Rc<Partition>,
        batch: Vec<u8>,
        link: Link,
    ) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let alone = match link {
            // Already here (a crash after the record, redone at start): the
            // batch holds nothing new of the commit.
            Link::Part { from, id }
                if part.applied_from(from).map_err(|e| e.to_string())? >= id =>
            {
                true
            }
            Link::Part { from, id } => {
                let (c, partition) = (self.topo.core_of_partition(from), part.id());
                if c == self.id {
                    self.deposit_part(from, id, partition, batch.clone(), tx);
                } else {
                    let msg = CrossMsg::Deposit {
                        from,
                        id,
                        partition,
                        batch: batch.clone(),
                        reply: tx,
                    };
                    self.mesh.send_cross(c, msg);
                }
                false
            }
            Link::Record(record) => {
                self.deposit_record(part, record, batch.clone(), tx);
                false
            }
        };
        let joined = match alone {
            true => Joined::Alone,
            false => rx
                .await
                .unwrap_or_else(|_| Joined::Failed("the commit's core stopped".into())),
        };
        match joined {
            Joined::Applied => Ok(()),
            Joined::Alone => crate::repl::apply_batches(part, vec![batch]).await,
            Joined::Failed(e) => Err(e),
        }
    }

    /// Another stream's part of record `id` of `from` (a partition here).
    pub(super) fn deposit_part(
        &self,
        from: u32,
        id: u64,
        partition: u32,
        batch: Vec<u8>,
        reply: oneshot::Sender<Joined>,
    ) {
        let Some(home) = self.partition(from) else {
            let _ = reply.send(Joined::Failed(format!(
                "partition {from} is not on core {}",
                self.id
            )));
            return;
        };
        match home.applied_from(from) {
            // The record's batch is applied (a full sync copied it, or a
            // crash after it): the part may follow on its own.
            Ok(applied) if applied >= id => {
                let _ = reply.send(Joined::Alone);
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = reply.send(Joined::Failed(e.to_string()));
                return;
            }
        }
        {
            let mut commits = self.waiting.commits.borrow_mut();
            let c = commits.entry((from, id)).or_default();
            c.parts.insert(partition, Some(batch));
            c.streams.push(reply);
        }
        self.try_apply(from, id);
    }

    /// The record partition's own stream reached the record's batch.
    fn deposit_record(
        &self,
        home: &Rc<Partition>,
        record: Record,
        batch: Vec<u8>,
        reply: oneshot::Sender<Joined>,
    ) {
        let (from, id) = (home.id(), record.id);
        let missing: Vec<u32> = {
            let mut commits = self.waiting.commits.borrow_mut();
            let c = commits.entry((from, id)).or_default();
            let missing = record
                .parts
                .iter()
                .map(|p| p.partition)
                .filter(|p| *p != from && !c.parts.contains_key(p))
                .collect();
            c.record = Some((record, batch));
            c.streams.push(reply);
            missing
        };
        // A part's partition may hold it already (a full sync copied it
        // past this point, now or while the commit waits): then its stream
        // never brings it. Asked until the part arrives or is there.
        for p in missing {
            let core = self.rc();
            glommio::spawn_local(async move {
                loop {
                    let waiting = core
                        .waiting
                        .commits
                        .borrow()
                        .get(&(from, id))
                        .map(|c| c.parts.contains_key(&p) || c.running);
                    if waiting != Some(false) {
                        return;
                    }
                    if core.part_is_there(p, from, id).await {
                        if let Some(c) = core.waiting.commits.borrow_mut().get_mut(&(from, id)) {
                            c.parts.entry(p).or_insert(None);
                        }
                        core.try_apply(from, id);
                        return;
                    }
                    glommio::timer::sleep(RECHECK).await;
                }
            })
            .detach();
        }
        self.try_apply(from, id);
    }

    /// Asks the core of `partition` whether it holds its part of record
    /// `id` of `from`.
    async fn part_is_there(&self, partition: u32, from: u32, id: u64) -> bool {
        let c = self.topo.core_of_partition(partition);
        if c == self.id {
            return self.holds_part(partition, from, id);
        }
        let (tx, rx) = oneshot::channel();
        let msg = CrossMsg::Check {
            partition,
            from,
            id,
            reply: tx,
        };
        self.mesh.send_cross(c, msg);
        rx.await == Ok(true)
    }

    /// Whether `partition` (here) holds its part of record `id` of `from`.
    pub(super) fn holds_part(&self, partition: u32, from: u32, id: u64) -> bool {
        self.partition(partition)
            .and_then(|p| p.applied_from(from).ok())
            .is_some_and(|a| a >= id)
    }

    /// Applies the commit once its record and every part arrived.
    fn try_apply(&self, from: u32, id: u64) {
        let ready = {
            let mut commits = self.waiting.commits.borrow_mut();
            let Some(c) = commits.get_mut(&(from, id)) else {
                return;
            };
            let complete = c.record.as_ref().is_some_and(|(r, _)| {
                r.parts
                    .iter()
                    .all(|p| p.partition == from || c.parts.contains_key(&p.partition))
            });
            if !complete || c.running {
                return;
            }
            c.running = true;
            let (_, batch) = c.record.take().expect("complete");
            (batch, std::mem::take(&mut c.parts))
        };
        let core = self.rc();
        glommio::spawn_local(async move {
            let (record_batch, parts) = ready;
            let r = core.apply_commit(from, record_batch, parts).await;
            let streams = core
                .waiting
                .commits
                .borrow_mut()
                .remove(&(from, id))
                .map(|c| c.streams)
                .unwrap_or_default();
            for s in streams {
                let _ = s.send(match &r {
                    Ok(()) => Joined::Applied,
                    Err(e) => Joined::Failed(e.clone()),
                });
            }
        })
        .detach();
    }

    /// Holds the cores of the record partition `from` and of `parts`,
    /// applies the record's batch, then every part's.
    async fn apply_commit(
        &self,
        from: u32,
        record_batch: Vec<u8>,
        parts: BTreeMap<u32, Option<Vec<u8>>>,
    ) -> Result<(), String> {
        let home = self
            .partition(from)
            .cloned()
            .ok_or_else(|| format!("partition {from} is not on core {}", self.id))?;
        let mut cores: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        cores.insert(self.id, Vec::new());
        for &p in parts.keys() {
            cores.insert(self.topo.core_of_partition(p), Vec::new());
        }
        let (held, _) = self.hold_cores(cores, 0, 0).await.map_err(|e| e.message)?;
        crate::repl::apply_batches(&home, vec![record_batch]).await?;
        // Crash tests abort here (`return(abort)`); other actions do nothing.
        let _ = crate::shard::failpoint::hit("storage.xcommit-replica-parts");
        let mut replies = Vec::new();
        for (p, batch) in parts {
            let Some(batch) = batch else { continue };
            let c = self.topo.core_of_partition(p);
            if c == self.id {
                self.apply_part(p, batch).await?;
                continue;
            }
            let (tx, rx) = oneshot::channel();
            self.mesh.send_cross(
                c,
                CrossMsg::Apply {
                    partition: p,
                    batch,
                    reply: tx,
                },
            );
            replies.push((c, rx));
        }
        let mut failed = None;
        for (c, rx) in replies {
            if let Err(e) = rx.await.unwrap_or_else(|_| Err(stopped(c))) {
                failed.get_or_insert(e);
            }
        }
        drop(held);
        failed.map_or(Ok(()), Err)
    }

    /// Applies another core's part batch to `partition` (here; the core is
    /// held by the commit's core).
    pub(super) async fn apply_part(&self, partition: u32, batch: Vec<u8>) -> Result<(), String> {
        let part = self
            .partition(partition)
            .cloned()
            .ok_or_else(|| format!("partition {partition} is not on core {}", self.id))?;
        crate::repl::apply_batches(&part, vec![batch]).await
    }

    /// The streams stopped (a role change): commits not being applied are
    /// dropped; their streams pull them again if they follow again.
    pub(super) fn forget_commits(&self) {
        self.waiting.commits.borrow_mut().retain(|_, c| c.running);
    }
}
