//! Holding cores: a command across slots (`cross.rs`), a replica applying
//! a commit across partitions (`rendezvous.rs`), or BACKUP (`keyspace.rs`)
//! holds every core owning one of its partitions, in core order, so two holders never wait
//! on each other; a held core runs no other request until it is released
//! (`Hold::pass`). A single-slot command pays one check of a flag
//! (`Hold::is_free`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use futures::channel::oneshot;

use super::{wire, Core};
use crate::codes::{ErrorCode, WireError};
use crate::net::mesh::{CrossMsg, Loaded};
use crate::shard::tx::Tx;
use crate::slot::key_slot;
use crate::sync::Notify;

/// Whether a commit across partitions holds this core, and who waits.
#[derive(Default)]
pub(super) struct Hold {
    held: Cell<bool>,
    waiting: RefCell<Vec<oneshot::Sender<()>>>,
    /// Commits across partitions this core coordinates that have not yet
    /// staged their record's deletion (BACKUP waits them out).
    in_flight: Cell<usize>,
    settled: Notify,
}

impl Hold {
    pub(super) fn is_free(&self) -> bool {
        !self.held.get()
    }

    /// Waits until no commit holds this core.
    pub(super) async fn pass(&self) {
        while self.held.get() {
            let (tx, rx) = oneshot::channel();
            self.waiting.borrow_mut().push(tx);
            let _ = rx.await;
        }
    }

    /// `pass` boxed, for the request paths: their futures keep one
    /// pointer for it instead of its whole state.
    pub(super) fn until_free(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>> {
        Box::pin(self.pass())
    }

    /// Waits until no commit holds this core, then holds it.
    pub(super) async fn acquire(&self) {
        self.pass().await;
        self.held.set(true);
    }

    /// A commit across partitions starts; it ends when the guard drops.
    pub(super) fn begin_commit(&self) -> InFlight<'_> {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlight(self)
    }

    /// Waits until no commit across partitions this core coordinates is
    /// under way.
    pub(super) async fn commits_settled(&self) {
        while self.in_flight.get() > 0 {
            self.settled.wait(true).await;
        }
    }

    pub(super) fn release(&self) {
        self.held.set(false);
        for w in self.waiting.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }
}

/// The holds a coordinator has taken; dropped, it ends them (a failed
/// command, or a request dropped before its commit started).
pub(super) struct Held<'c> {
    pub(super) core: &'c Core,
    pub(super) own: bool,
    pub(super) remote: Vec<usize>,
}

impl Held<'_> {
    pub(super) fn end(&mut self) {
        if std::mem::take(&mut self.own) {
            self.core.hold.release();
        }
        for c in self.remote.drain(..) {
            self.core.mesh.send_cross(c, CrossMsg::Release);
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

/// A commit across partitions under way (`Hold::begin_commit`).
pub(super) struct InFlight<'h>(&'h Hold);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
        self.0.settled.notify();
    }
}

fn internal(what: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::Internal, what)
}

impl Core {
    /// The stored records of `keys` (each on one of this core's
    /// partitions), read with the disk allowed.
    pub(super) fn export(&self, db: u16, now: u64, keys: &[Vec<u8>]) -> Result<Loaded, WireError> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let slot = key_slot(k);
            let p = self.topo.partition_of_slot(slot);
            let part = self
                .partition(p)
                .ok_or_else(|| internal(format!("partition {p} is not on core {}", self.id)))?;
            part.allow_disk(true);
            let r = Tx::in_db(part, slot, db, now).export(k);
            part.allow_disk(false);
            out.push((k.clone(), r.map_err(wire)?));
        }
        Ok(out)
    }

    /// Holds the cores of `by_core` (this one included or not) in core
    /// order, loading there the records of the keys given for each (of
    /// database `db`). Dropped, the `Held` ends every hold.
    pub(super) async fn hold_cores(
        &self,
        by_core: BTreeMap<usize, Vec<Vec<u8>>>,
        db: u16,
        now: u64,
    ) -> Result<(Held<'_>, Loaded), WireError> {
        let mut held = Held {
            core: self,
            own: false,
            remote: Vec::new(),
        };
        let mut loaded = Vec::new();
        for (c, keys) in by_core {
            if c == self.id {
                self.hold.acquire().await;
                held.own = true;
                loaded.extend(self.export(db, now, &keys)?);
                continue;
            }
            let (tx, rx) = oneshot::channel();
            self.mesh.send_cross(
                c,
                CrossMsg::Acquire {
                    db,
                    now,
                    keys,
                    reply: tx,
                },
            );
            match rx.await {
                Ok(Ok(records)) => {
                    held.remote.push(c);
                    loaded.extend(records);
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(internal(format!("core {c} stopped"))),
            }
        }
        Ok((held, loaded))
    }

    /// Checkpoints this core's partitions under `target` (their journals
    /// not yet settled), in the blocking pool, for a BACKUP that holds
    /// every core (`keyspace.rs`). Returns how many.
    pub(super) async fn checkpoint_local(
        &self,
        target: &std::path::Path,
    ) -> Result<u64, WireError> {
        let mut n = 0;
        for p in &self.local {
            let dest = crate::shard::backup::partition_target(target, p.id());
            glommio::executor()
                .spawn_blocking(p.raw_checkpoint_fn(dest))
                .await
                .map_err(wire)?;
            n += 1;
        }
        Ok(n)
    }
}
