//! Commands whose keys lie in several slots of one node (not in cluster
//! mode, where they get CROSSSLOT): MSETNX, RENAME, SMOVE, the STORE
//! commands, LMOVE, MULTI/EXEC with WATCH, scripts. Each runs as one
//! atomic commit.
//!
//! The coordinator is the core the command was routed to (its first
//! key's). It **holds** every core that owns one of the keys (`hold.rs`),
//! in core order, so two coordinators never wait on each other. The holds load
//! the keys of other partitions into one transaction across slots on the
//! coordinator's partition (`Tx::across`), which runs the commands. What
//! they wrote on one partition is staged there; what they wrote on several
//! is committed with a commit record (`shard::partition::xcommit`): the
//! record and the coordinator's part first, the other parts once that is
//! written, then the holds end. A crash in between leaves the record, and
//! the next start finishes the commit (`Recovery`) before serving.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Barrier, Mutex};

use futures::channel::oneshot;

use super::hold::Held;
use super::run::{apply_specs, Spec};
use super::{wire, Core};
use crate::cmd;
use crate::codes::{ErrorCode, WireError};
use crate::net::mesh::CrossMsg;
use crate::proto::command::NamedCommand;
use crate::shard::partition::xcommit::{self, Part, Record, RecoveryHandle, Write};
use crate::shard::partition::Cf;
use crate::shard::tx::Tx;
use crate::shard::{subkey, Partition};
use crate::slot::key_slot;

/// Serves the coordinators' messages (each core's second inbox), and a
/// replica's commits across partitions (`rendezvous.rs`).
pub async fn cross_loop(core: Rc<Core>, inbox: flume::Receiver<CrossMsg>) {
    while let Ok(msg) = inbox.recv_async().await {
        match msg {
            CrossMsg::Acquire {
                db,
                now,
                keys,
                reply,
            } => {
                let core = core.clone();
                glommio::spawn_local(async move {
                    core.hold.acquire().await;
                    let loaded = core.export(db, now, &keys);
                    let failed = loaded.is_err();
                    if reply.send(loaded).is_err() || failed {
                        core.hold.release();
                    }
                })
                .detach();
            }
            CrossMsg::Stage {
                record,
                parts,
                keys,
                reply,
            } => {
                let core = core.clone();
                glommio::spawn_local(async move {
                    let r = core.stage_parts(record, parts, &keys).await;
                    let _ = reply.send(r);
                })
                .detach();
            }
            CrossMsg::Release => core.hold.release(),
            CrossMsg::Settle { reply } => {
                let core = core.clone();
                glommio::spawn_local(async move {
                    core.hold.commits_settled().await;
                    let _ = reply.send(());
                })
                .detach();
            }
            CrossMsg::Checkpoint { target, reply } => {
                let core = core.clone();
                glommio::spawn_local(async move {
                    let _ = reply.send(core.checkpoint_local(&target).await);
                })
                .detach();
            }
            CrossMsg::Watch {
                keys,
                ready,
                wake,
                gone,
            } => {
                let core = core.clone();
                glommio::spawn_local(async move {
                    let me = Rc::new(crate::sync::Notify::default());
                    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                    let _on = core.waiters.watch(&refs, &me);
                    let _ = ready.send(());
                    let mut gone = gone;
                    loop {
                        let woke = std::pin::pin!(me.wait(true));
                        match futures::future::select(woke, &mut gone).await {
                            futures::future::Either::Left(_) if wake.send(()).is_ok() => {}
                            _ => return,
                        }
                    }
                })
                .detach();
            }
            CrossMsg::Deposit {
                from,
                id,
                partition,
                batch,
                reply,
            } => core.deposit_part(from, id, partition, batch, reply),
            CrossMsg::Check {
                partition,
                from,
                id,
                reply,
            } => {
                let _ = reply.send(core.holds_part(partition, from, id));
            }
            CrossMsg::Apply {
                partition,
                batch,
                reply,
            } => {
                let core = core.clone();
                glommio::spawn_local(async move {
                    let _ = reply.send(core.apply_part(partition, batch).await);
                })
                .detach();
            }
        }
    }
}

/// The user key a stored write belongs to.
fn key_of(w: &Write) -> Option<&[u8]> {
    match w.cf {
        Cf::Meta => w.key.get(2..),
        Cf::Sub => subkey::parse(&w.key).map(|(_, k, _)| k),
    }
}

fn internal(what: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::Internal, what)
}

impl Core {
    /// Waits until no open group of `parts` holds a commit's record or
    /// part (`Partition::links_open`).
    async fn links_written(&self, parts: &[&Rc<Partition>]) {
        while parts.iter().any(|p| p.links_open()) {
            self.groups.note_staged();
            self.groups.wait_written(self.groups.open()).await;
        }
    }

    /// Stages parts on this core's partitions, ends the hold, and waits
    /// until they are durable.
    async fn stage_parts(
        &self,
        record: Option<(u32, u64, u64)>,
        parts: Vec<Part>,
        keys: &[Vec<u8>],
    ) -> Result<(), WireError> {
        let mut groups = Vec::new();
        let mut failed = None;
        if record.is_some() {
            let mine: Vec<&Rc<Partition>> = parts
                .iter()
                .filter_map(|p| self.partition(p.partition))
                .collect();
            self.links_written(&mine).await;
        }
        for part in parts {
            let Some(p) = self.partition(part.partition) else {
                failed = Some(internal(format!(
                    "partition {} is not on core {}",
                    part.partition, self.id
                )));
                continue;
            };
            let staged = match record {
                Some((from, id, max_version)) => p.stage_part(from, id, max_version, part.writes),
                None => p.stage_writes(part.writes),
            };
            match staged {
                Ok(g) => groups.push((p.id(), g)),
                Err(e) => failed = Some(wire(e)),
            }
        }
        self.hold.release();
        if !groups.is_empty() {
            self.groups.note_staged();
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            self.waiters.wake(&keys);
        }
        if let Some(g) = groups.iter().map(|g| g.1).max() {
            self.groups.wait_committed(g).await;
        }
        match failed.or_else(|| self.write_error(&groups)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Runs named commands whose keys lie in several slots as one atomic
    /// commit (see the module's comment). Returns what `run_named` does.
    pub(super) async fn run_across(
        &self,
        cmds: &[NamedCommand<'_>],
        specs: &[Spec<'_>],
        keys: &[&[u8]],
        db: u16,
        now: u64,
    ) -> Result<(Vec<(u64, cmd::Value)>, Option<(u32, u64)>), WireError> {
        let partition_of = |k: &[u8]| self.topo.partition_of_slot(key_slot(k));
        // The coordinator's partition: its first key's, when on this core.
        let home = keys
            .iter()
            .find_map(|k| self.partition(partition_of(k)))
            .or_else(|| self.local.first())
            .cloned()
            .ok_or_else(|| internal(format!("core {} has no partition", self.id)))?;
        let slot = keys
            .iter()
            .map(|k| key_slot(k))
            .find(|&s| home.slots().holds(s))
            .unwrap_or(home.slots().first);
        // The keys to load, by core (this core is always held).
        let mut by_core: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
        by_core.entry(self.id).or_default();
        for k in keys {
            let p = partition_of(k);
            let ks = by_core.entry(self.topo.core_of_partition(p)).or_default();
            if p != home.id() {
                ks.push(k.to_vec());
            }
        }
        for ks in by_core.values_mut() {
            ks.sort();
            ks.dedup();
        }
        let (mut held, loaded) = self.hold_cores(by_core, db, now).await?;
        let at = |i: usize, e: WireError| match cmds.len() {
            1 => e,
            _ => WireError::new(e.code, format!("command {i}: {}", e.message)),
        };
        home.allow_disk(true);
        let mut tx = Tx::across(&home, slot, db, now, key_slot);
        for (k, records) in loaded {
            tx.load_foreign(&k, records);
        }
        let applied = apply_specs(&mut tx, cmds, specs, true, &at);
        home.allow_disk(false);
        let results = applied?.ok_or_else(|| internal("a read waited for the disk"))?;
        let mut parts: BTreeMap<u32, Vec<Write>> = BTreeMap::new();
        for w in tx.into_writes() {
            let p = key_of(&w).map_or(home.id(), partition_of);
            parts.entry(p).or_default().push(w);
        }
        let keys_of_core = |c: usize| -> Vec<Vec<u8>> {
            keys.iter()
                .filter(|k| self.topo.core_of_partition(partition_of(k)) == c)
                .map(|k| k.to_vec())
                .collect()
        };
        match parts.len() {
            0 => Ok((results, None)),
            1 if parts.contains_key(&home.id()) => {
                let writes = parts.remove(&home.id()).unwrap_or_default();
                let g = home.stage_writes(writes).map_err(wire)?;
                self.waiters.wake(keys);
                Ok((results, Some((home.id(), g))))
            }
            _ => {
                // Every version the transaction wrote came from this
                // partition's clock, before this one.
                let id = home.next_commit_id(now);
                let record = Record {
                    id,
                    from: home.id(),
                    max_version: id,
                    parts: parts
                        .into_iter()
                        .map(|(partition, writes)| Part { partition, writes })
                        .collect(),
                };
                let remote: Vec<(usize, Vec<Vec<u8>>)> = std::mem::take(&mut held.remote)
                    .into_iter()
                    .map(|c| (c, keys_of_core(c)))
                    .collect();
                held.own = false;
                // From here the commit runs to its end even if the request
                // is dropped: the record may already be durable.
                let (tx, rx) = oneshot::channel();
                let core = self.rc();
                let mine = keys_of_core(self.id);
                glommio::spawn_local(async move {
                    let r = core.commit_across(&home, record, remote, mine).await;
                    let _ = tx.send(r.map(|g| (home.id(), g)));
                })
                .detach();
                let done = rx
                    .await
                    .map_err(|_| internal("the commit's task stopped"))??;
                Ok((results, Some(done)))
            }
        }
    }

    /// Commits `record` across partitions: the record with the
    /// coordinator's part, once durable every other part, then forgets the
    /// record. Ends this core's hold and those of `remote` (each with the
    /// keys to wake there). Returns the record's group.
    async fn commit_across(
        &self,
        home: &Rc<Partition>,
        record: Record,
        remote: Vec<(usize, Vec<Vec<u8>>)>,
        mine: Vec<Vec<u8>>,
    ) -> Result<u64, WireError> {
        let _flight = self.hold.begin_commit();
        // Dropped on an early return, this ends every hold.
        let mut held = Held {
            core: self,
            own: true,
            remote: remote.iter().map(|r| r.0).collect(),
        };
        self.links_written(&[home]).await;
        let g = home.stage_record(&record).map_err(wire)?;
        self.groups.note_staged();
        // Written here, not yet acknowledged by replicas: they apply the
        // record only with its parts (`rendezvous.rs`). The request waits
        // for their acknowledgement of every group in the end.
        self.groups.wait_written(g).await;
        // The record's write failed (the partition is poisoned): no other
        // part is staged, and the next start finishes the commit if the
        // record reached the disk after all.
        home.group_status(g).map_err(wire)?;
        // Crash tests abort here (`return(abort)`); other actions do nothing.
        let _ = crate::shard::failpoint::hit("storage.xcommit-parts");
        let Record {
            id,
            from,
            max_version,
            parts,
        } = record;
        let mark = Some((from, id, max_version));
        let mut by_core: BTreeMap<usize, Vec<Part>> = BTreeMap::new();
        for part in parts.into_iter().filter(|p| p.partition != home.id()) {
            let c = self.topo.core_of_partition(part.partition);
            by_core.entry(c).or_default().push(part);
        }
        // Each remote core ends its own hold once it staged its parts.
        held.remote.clear();
        let mut replies = Vec::new();
        for (c, keys) in remote {
            let (tx, rx) = oneshot::channel();
            let parts = by_core.remove(&c).unwrap_or_default();
            self.mesh.send_cross(
                c,
                CrossMsg::Stage {
                    record: mark,
                    parts,
                    keys,
                    reply: tx,
                },
            );
            replies.push((c, rx));
        }
        let mine_parts = by_core.remove(&self.id).unwrap_or_default();
        if let Some(c) = by_core.keys().next() {
            // Every written key's core was held: this is a routing bug.
            // The record stays, and the next start finishes the commit.
            return Err(internal(format!(
                "a commit across partitions wrote on core {c}, which it did not hold"
            )));
        }
        // `stage_parts` ends this core's hold.
        held.own = false;
        let local = self.stage_parts(mark, mine_parts, &mine);
        let mut failed = local.await.err();
        for (c, rx) in replies {
            let r = rx
                .await
                .unwrap_or_else(|_| Err(internal(format!("core {c} stopped"))));
            failed = failed.or(r.err());
        }
        if let Some(e) = failed {
            // A part was not staged: the record stays, and the next start
            // finishes the commit.
            return Err(e);
        }
        if home.forget_record(id).is_ok() {
            self.groups.note_staged();
        }
        Ok(g)
    }
}

/// The start-up pass that finishes commits a crash interrupted: every
/// core opens its partitions, then one of them runs `xcommit::recover`
/// over all of them before any core serves.
pub struct Recovery {
    barrier: Barrier,
    handles: Mutex<Vec<RecoveryHandle>>,
    failed: Mutex<Option<String>>,
}

impl Recovery {
    pub fn new(cores: usize) -> Recovery {
        Recovery {
            barrier: Barrier::new(cores),
            handles: Mutex::new(Vec::new()),
            failed: Mutex::new(None),
        }
    }

    /// Called once by every core, with the partitions it opened (`None`:
    /// it could not open them, and the node will not start). Blocks until
    /// every core has arrived and the pass has run; returns its error.
    pub fn arrive(&self, local: Option<&[Rc<Partition>]>) -> Result<(), String> {
        match local {
            Some(parts) => locked(&self.handles).extend(parts.iter().map(|p| p.recovery_handle())),
            None => *locked(&self.failed) = Some("a core could not open its partitions".into()),
        }
        if self.barrier.wait().is_leader() && locked(&self.failed).is_none() {
            let handles = std::mem::take(&mut *locked(&self.handles));
            match xcommit::recover(&handles) {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    parts = n,
                    "finished {n} parts of commits across partitions a crash interrupted"
                ),
                Err(e) => {
                    *locked(&self.failed) = Some(format!("finishing interrupted commits: {e}"))
                }
            }
        }
        self.barrier.wait();
        if let Some(e) = locked(&self.failed).clone() {
            return Err(e);
        }
        for p in local.unwrap_or_default() {
            p.resume_clock().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// A mutex's value, also after a thread panicked holding it.
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
