//! One core's replication state, as a service: its role, the node's epoch
//! and peers as this core knows them, its partitions' streams (on a
//! replica), the positions its replicas report (on a primary), the
//! followers it runs and the full-sync sessions it serves. Nothing outside
//! reaches its fields; `net` (roles, the serving side, the following side,
//! INFO) goes through these methods.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ahash::AHashMap;

use super::position::Epoch;
use super::{CoreRole, StreamState};
use crate::codes::{ErrorCode, WireError};
use crate::shard::repl_log::SyncSource;
use crate::sync::{Notify, Watermark};

#[derive(Default)]
pub struct Replication {
    /// What clients may do here (writes only on a primary).
    role: RefCell<CoreRole>,
    /// The highest epoch this node has taken or seen.
    epoch: Cell<Epoch>,
    /// Other nodes of the replication group (binary `HOST:PORT`).
    peers: RefCell<Vec<String>>,
    /// On a replica: each local partition's stream.
    streams: RefCell<AHashMap<u32, StreamState>>,
    /// Followers stop when this moves (a role change); running ones are
    /// counted so a role change can wait for them.
    follow_gen: Cell<u64>,
    followers: Cell<usize>,
    followers_done: Notify,
    /// On a primary: each replica's address by node id.
    replica_addrs: RefCell<AHashMap<u64, String>>,
    /// On a primary: the position each replica reported per partition
    /// ((partition, replica node id) → last batch index applied).
    replica_positions: RefCell<AHashMap<(u32, u64), u64>>,
    /// Counts position reports; every waiter sees each one (unlike a
    /// consumed flag, which wakes only the first of several waiting groups).
    replica_progress: Watermark,
    /// Counts group commits that wrote batches (replicas' pulls wait on it).
    log_written: Watermark,
    /// Full-sync sources being copied (session → checkpoint, last use).
    sync_sessions: RefCell<AHashMap<u64, (Rc<SyncSource>, Instant)>>,
    sync_counter: Cell<u64>,
}

impl Replication {
    // ---- role and epoch ----------------------------------------------------

    pub fn role(&self) -> CoreRole {
        self.role.borrow().clone()
    }

    pub fn set_role(&self, role: CoreRole) {
        *self.role.borrow_mut() = role;
    }

    /// The READONLY error when this node does not take writes now.
    pub fn readonly_error(&self) -> Option<WireError> {
        match &self.role() {
            CoreRole::Primary => None,
            CoreRole::Replica(p) => Some(WireError::new(
                ErrorCode::ReadOnly,
                format!("You can't write against a read only replica: this node follows {p}"),
            )),
            CoreRole::Fenced(why) => Some(WireError::new(
                ErrorCode::ReadOnly,
                format!("this node does not take writes: {why}"),
            )),
        }
    }

    pub fn role_text(&self) -> String {
        match &self.role() {
            CoreRole::Primary => "primary".into(),
            CoreRole::Replica(p) => format!("replica of {p}"),
            CoreRole::Fenced(why) => format!("fenced: {why}"),
        }
    }

    pub fn is_primary(&self) -> bool {
        *self.role.borrow() == CoreRole::Primary
    }

    pub fn is_fenced(&self) -> bool {
        matches!(*self.role.borrow(), CoreRole::Fenced(_))
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch.get()
    }

    pub fn set_epoch(&self, e: Epoch) {
        self.epoch.set(e);
    }

    // ---- peers --------------------------------------------------------------

    pub fn peers(&self) -> Vec<String> {
        self.peers.borrow().clone()
    }

    /// Replaces the peer list; whether it changed.
    pub fn set_peers(&self, list: Vec<String>) -> bool {
        let mut peers = self.peers.borrow_mut();
        if *peers == list {
            return false;
        }
        *peers = list;
        true
    }

    /// Records a replica's address; whether it is new (or moved).
    pub fn note_replica(&self, node: u64, addr: &str) -> bool {
        let prev = self
            .replica_addrs
            .borrow_mut()
            .insert(node, addr.to_string());
        prev.as_deref() != Some(addr)
    }

    /// Every known replica's address but `except`.
    pub fn replicas_but(&self, except: &str) -> Vec<String> {
        self.replica_addrs
            .borrow()
            .values()
            .filter(|x| *x != except)
            .cloned()
            .collect()
    }

    // ---- this core's streams (on a replica) -----------------------------------

    pub fn update_stream(&self, partition: u32, f: impl FnOnce(&mut StreamState)) {
        f(self.streams.borrow_mut().entry(partition).or_default());
    }

    pub fn stream(&self, partition: u32) -> Option<StreamState> {
        self.streams.borrow().get(&partition).cloned()
    }

    pub fn clear_streams(&self) {
        self.streams.borrow_mut().clear();
    }

    // ---- followers ------------------------------------------------------------

    /// The current follower generation: a follower started under it runs
    /// until `stop_followers`.
    pub fn follow_generation(&self) -> u64 {
        self.follow_gen.get()
    }

    /// Runs `f` counted as a follower (a role change waits for it).
    pub async fn as_follower<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        self.followers.set(self.followers.get() + 1);
        let r = f.await;
        self.followers.set(self.followers.get() - 1);
        self.followers_done.notify();
        r
    }

    /// Tells every follower to stop and waits until they have.
    pub async fn stop_followers(&self) {
        self.follow_gen.set(self.follow_gen.get() + 1);
        while self.followers.get() > 0 {
            self.followers_done.wait(true).await;
        }
    }

    // ---- replicas' positions (on a primary) -----------------------------------

    /// A replica reported `index` applied for `partition`.
    pub fn replica_reached(&self, partition: u32, node: u64, index: u64) {
        self.replica_positions
            .borrow_mut()
            .insert((partition, node), index);
        self.replica_progress
            .advance(self.replica_progress.get() + 1);
    }

    /// Each replica's position in `partition`: (node, index).
    pub fn replica_positions(&self, partition: u32) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self
            .replica_positions
            .borrow()
            .iter()
            .filter(|((p, _), _)| *p == partition)
            .map(|((_, node), at)| (*node, *at))
            .collect();
        v.sort_unstable();
        v
    }

    /// Whether at least `need` replicas reached each `(partition, index)`.
    pub fn replicas_reached(&self, targets: &[(u32, u64)], need: usize) -> bool {
        let pos = self.replica_positions.borrow();
        targets.iter().all(|&(p, seq)| {
            pos.iter()
                .filter(|((part, _), at)| *part == p && **at >= seq)
                .count()
                >= need
        })
    }

    /// Waits for the next position report, at most `d`.
    pub async fn next_report(&self, d: Duration) {
        let seen = self.replica_progress.get();
        let wait = std::pin::pin!(self.replica_progress.reach(seen + 1));
        let sleep = std::pin::pin!(glommio::timer::sleep(d));
        let _ = futures::future::select(wait, sleep).await;
    }

    // ---- the log replicas pull ------------------------------------------------

    /// A group commit wrote batches.
    pub fn log_grew(&self) {
        self.log_written.advance(self.log_written.get() + 1);
    }

    /// How many group commits wrote batches so far.
    pub fn log_mark(&self) -> u64 {
        self.log_written.get()
    }

    /// Waits until the log grew past `mark`.
    pub async fn log_past(&self, mark: u64) {
        self.log_written.reach(mark + 1).await
    }

    // ---- full-sync sessions ---------------------------------------------------

    /// Sessions unused for longer than `idle`.
    pub fn idle_syncs(&self, idle: Duration) -> Vec<u64> {
        self.sync_sessions
            .borrow()
            .iter()
            .filter(|(_, (_, used))| used.elapsed() > idle)
            .map(|(k, _)| *k)
            .collect()
    }

    /// A number for a new session.
    pub fn next_sync_id(&self) -> u64 {
        let n = self.sync_counter.get() + 1;
        self.sync_counter.set(n);
        n
    }

    pub fn open_sync(&self, session: u64, src: Rc<SyncSource>) {
        self.sync_sessions
            .borrow_mut()
            .insert(session, (src, Instant::now()));
    }

    /// A session's source, marked used now.
    pub fn use_sync(&self, session: u64) -> Option<Rc<SyncSource>> {
        let mut s = self.sync_sessions.borrow_mut();
        let e = s.get_mut(&session)?;
        e.1 = Instant::now();
        Some(e.0.clone())
    }

    pub fn close_sync(&self, session: u64) -> Option<Rc<SyncSource>> {
        self.sync_sessions
            .borrow_mut()
            .remove(&session)
            .map(|(src, _)| src)
    }
}
