//! Transactions on this core's partitions: the one-key runner of the
//! binary fast opcodes (`on_key`) and the runner of named commands
//! (`run_named`: COMMAND, BATCH, MULTI, blocking pops). Both retry a
//! transaction that would read disk after the blocking pool brought the
//! keys into the cache, so the reactor never waits on disk.

use std::rc::Rc;

use super::{wire, Core, Writes};
use crate::cmd;
use crate::codes::{ErrorCode, WireError};
use crate::proto::args;
use crate::proto::command::NamedCommand;
use crate::shard::space::space as t_space;
use crate::shard::tx::Tx;
use crate::shard::{self, Partition};
use crate::slot::key_slot;

const WARM_ATTEMPTS: u32 = 2;

impl Core {
    /// The local partition of `slot`. A miss is a routing bug, reported as an
    /// internal error rather than a panic.
    #[inline]
    pub(super) fn part_of_slot(&self, slot: u16) -> Result<&Rc<Partition>, WireError> {
        let p = self.topo.partition_of_slot(slot);
        self.partition(p).ok_or_else(|| {
            WireError::new(
                ErrorCode::Internal,
                format!("slot {slot} (partition {p}) is not on core {}", self.id),
            )
        })
    }

    /// The first slot whose partition is on this core.
    fn local_slot(&self) -> Result<u16, WireError> {
        (0..crate::slot::SLOTS)
            .find(|&s| self.partition(self.topo.partition_of_slot(s)).is_some())
            .ok_or_else(|| {
                WireError::new(
                    ErrorCode::Internal,
                    format!("core {} has no partition", self.id),
                )
            })
    }

    /// Runs one key's command (a fast opcode) in a transaction of the
    /// key's slot, bringing the key into the block cache from the blocking
    /// pool whenever RocksDB would have to read disk; what it wrote joins
    /// `writes`.
    pub(super) async fn on_key<T>(
        &self,
        db: u16,
        key: &[u8],
        now: u64,
        writes: &mut Writes,
        mut op: impl FnMut(&mut Tx<'_>) -> Result<T, shard::Error>,
    ) -> Result<T, WireError> {
        let slot = key_slot(key);
        let part = self.part_of_slot(slot)?;
        let mut warmed = 0;
        loop {
            let disk = warmed >= WARM_ATTEMPTS;
            part.allow_disk(disk);
            let mut t = Tx::in_db(part, slot, db, now);
            let r = op(&mut t);
            part.allow_disk(false);
            match r {
                Err(shard::Error::WouldBlock) if !disk => {
                    drop(t);
                    glommio::executor()
                        .spawn_blocking(part.warm_fn(t_space(db, slot), key))
                        .await;
                    // A commit across partitions may have taken this core
                    // meanwhile (the request passed its hold on arrival).
                    if !self.hold.is_free() {
                        self.hold.until_free().await;
                    }
                    warmed += 1;
                }
                Err(e) => return Err(wire(e)),
                Ok(r) => {
                    writes.extend(t.commit().map(|g| (part.id(), g)));
                    return Ok(r);
                }
            }
        }
    }

    /// Runs named commands whose keys share one slot in one transaction:
    /// all of them apply (one staged unit of the open group) or none does,
    /// except that a command flagged `keep_going` which fails (its
    /// arguments or at run time) takes back only its own writes and
    /// answers its error as its value (EXEC, as Redis runs it).
    /// Returns each command's (version, value) and the write to wait for.
    pub(super) async fn run_named(
        &self,
        cmds: &[NamedCommand<'_>],
        db: u16,
        now: u64,
    ) -> Result<(Vec<(u64, cmd::Value)>, Option<(u32, u64)>), WireError> {
        let batch = cmds.len() > 1;
        let at = |i: usize, e: WireError| {
            if batch {
                WireError::new(e.code, format!("command {i}: {}", e.message))
            } else {
                e
            }
        };
        let mut specs = Vec::with_capacity(cmds.len());
        let mut keys: Vec<&[u8]> = Vec::new();
        for (i, c) in cmds.iter().enumerate() {
            let spec = (|| {
                let row = cmd::lookup(&c.args)?;
                let mine = row.keys_of(&c.args)?;
                let parsed = args::parse(row, &c.args)?;
                // The command's first key: its CAS check and its version.
                Ok((parsed, mine))
            })();
            match spec {
                Ok((parsed, mine)) => {
                    specs.push(Ok((parsed, mine.first().copied().unwrap_or_default())));
                    keys.extend(mine);
                }
                Err(e) if c.keep_going => specs.push(Err(e)),
                Err(e) => return Err(at(i, e)),
            }
        }
        // Every command failed before it ran (KEEP_GOING): their errors.
        if specs.iter().all(|s| s.is_err()) {
            let errors = specs.into_iter().filter_map(Result::err);
            return Ok((errors.map(|e| (0, cmd::Value::Error(e))).collect(), None));
        }
        let slot = match cmd::common_slot(&keys) {
            // Keys in several slots of this node (not in cluster mode,
            // which asked Redis Cluster's question before): one commit
            // across them (`cross.rs`).
            Err(e) if e.code == ErrorCode::CrossSlot && self.cluster.is_none() => {
                return self.run_across(cmds, &specs, &keys, db, now).await;
            }
            // A script that declares no keys runs in a slot of this core.
            Err(_)
                if keys.is_empty()
                    && specs
                        .iter()
                        .flatten()
                        .any(|(p, _)| matches!(p, args::Named::Script(_))) =>
            {
                self.local_slot()?
            }
            other => other?,
        };
        let part = match self.part_of_slot(slot) {
            Ok(part) => part,
            // A key of another core of this node (a blocking pop's, which
            // waits on keys of several): one commit across (`cross.rs`).
            Err(_) if self.cluster.is_none() => {
                return self.run_across(cmds, &specs, &keys, db, now).await
            }
            Err(e) => return Err(e),
        };
        let mut warmed = 0;
        loop {
            // A commit across partitions holds this core: wait it out.
            if !self.hold.is_free() {
                self.hold.until_free().await;
            }
            let mut tx = Tx::in_db(part, slot, db, now);
            let disk = warmed >= WARM_ATTEMPTS;
            part.allow_disk(disk);
            let applied = apply_specs(&mut tx, cmds, &specs, disk, &at);
            part.allow_disk(false);
            warmed += 1;
            if let Some(results) = applied? {
                let group = tx.commit().map(|g| (part.id(), g));
                if group.is_some() {
                    self.waiters.wake(&keys);
                }
                return Ok((results, group));
            }
            drop(tx);
            glommio::executor()
                .spawn_blocking(
                    part.warm_fn(t_space(db, slot), keys.first().copied().unwrap_or_default()),
                )
                .await;
        }
    }
}

/// A command parsed for `run_named`: its arguments and first key, or the
/// error a `keep_going` command answers.
pub(super) type Spec<'a> = Result<(args::Named<'a>, &'a [u8]), WireError>;

/// Runs the parsed commands in `tx`, in order. `Ok(None)` when a read
/// would wait for the disk (only when `disk` is off): nothing may be kept.
/// A failing `keep_going` command takes back its own writes and answers
/// its error as its value; any other failure ends the run (`at` names the
/// command in a batch).
#[inline]
pub(super) fn apply_specs(
    tx: &mut Tx<'_>,
    cmds: &[NamedCommand<'_>],
    specs: &[Spec<'_>],
    disk: bool,
    at: &dyn Fn(usize, WireError) -> WireError,
) -> Result<Option<Vec<(u64, cmd::Value)>>, WireError> {
    let mut results = Vec::with_capacity(cmds.len());
    for (i, (c, spec)) in cmds.iter().zip(specs).enumerate() {
        let (parsed, first) = match spec {
            Ok(s) => s,
            Err(e) => {
                results.push((0, cmd::Value::Error(e.clone())));
                continue;
            }
        };
        let undo = c.keep_going.then(|| tx.savepoint());
        match cmd::apply(tx, parsed, first, c.expected_version) {
            Ok(r) => results.push(r),
            Err(cmd::CmdError::Store(shard::Error::WouldBlock)) if !disk => return Ok(None),
            Err(e) => match undo {
                Some(sp) => {
                    tx.undo_to(sp);
                    results.push((0, cmd::Value::Error(e.into_wire())));
                }
                None => return Err(at(i, e.into_wire())),
            },
        }
    }
    Ok(Some(results))
}
