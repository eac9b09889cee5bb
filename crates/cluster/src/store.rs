//! The controller's Raft storage: the log, the vote and the snapshot in
//! `<data-dir>/cluster/`, and the state machine (the cluster map).
//!
//! - `raft-state.json`: the vote, the committed log id and the last purged
//!   log id, written atomically (temporary file, fsync, rename).
//! - `raft-committed`: the committed log id as it moves, one checksummed
//!   record overwritten in place and not synced, so that a commit costs no
//!   fsync beyond the log's. A process crash keeps it (the page cache
//!   does); a machine crash may lose or tear it, and then the node starts
//!   from the older committed id in `raft-state.json` and learns the rest
//!   from the leader. Until it does its map is older than the leader's, and
//!   the leader grants no write lease to a node behind its epoch.
//! - `raft-log`: the log entries, each `[u32 length][u64 xxh3][JSON]`
//!   (little endian), appended and synced before openraft is told they
//!   are stored. A torn last record (a crash during an append that was never
//!   acknowledged) is dropped at open. Truncation and purging rewrite the
//!   file atomically; the log is small (map changes are rare, and a
//!   snapshot every 1,000 entries bounds it).
//! - `raft-snapshot.json`: the last snapshot (its meta and the map).
//!
//! The state machine is rebuilt at start from the snapshot, and openraft
//! re-applies the committed entries after it (the committed log id is
//! persisted for that).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{Cursor, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use openraft::storage::{LogState, RaftLogReader, RaftSnapshotBuilder, RaftStorage, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, OptionalSend, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership, Vote,
};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::identity::write_atomic;
use crate::map::{ChangeResult, ClusterMap};
use crate::{Error, TypeConfig};

type NodeId = u64;
type SErr = StorageError<NodeId>;

/// The committed map as every reactor sees it: `version` moves on every
/// publication, so a core compares one integer per request and copies the
/// map only when it changed.
#[derive(Default)]
pub struct Published {
    version: AtomicU64,
    map: RwLock<Arc<ClusterMap>>,
    /// This node's id (0: none, nothing is logged) and the slots whose
    /// writes the last map let it admit (one flag per slot; empty: none).
    me: u64,
    writable: std::sync::Mutex<Vec<bool>>,
    /// Whether this node's replication role is a replica's: a map that
    /// makes it a primary lets it admit writes only once it is promoted
    /// (`set_replica`).
    replica: std::sync::atomic::AtomicBool,
}

impl Published {
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current map and its version.
    pub fn get(&self) -> (u64, Arc<ClusterMap>) {
        let m = self.map.read().unwrap_or_else(|p| p.into_inner());
        (self.version(), m.clone())
    }

    /// The publication of node `me`'s maps.
    pub fn new(me: u64) -> Published {
        Published {
            me,
            ..Published::default()
        }
    }

    fn publish(&self, map: ClusterMap) {
        let mut m = self.map.write().unwrap_or_else(|p| p.into_inner());
        self.log_writable(&map);
        *m = Arc::new(map);
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Tells whether this node's replication role is a replica's (set
    /// before a promotion starts, so the log's time is never after writes
    /// are admitted, and after a demotion ends) and logs the writes this
    /// changes.
    pub fn set_replica(&self, replica: bool) {
        let m = self.map.write().unwrap_or_else(|p| p.into_inner());
        self.replica.store(replica, Ordering::Release);
        self.log_writable(&m);
    }

    /// Logs which slots' writes this node admits from now on, when the map
    /// changes them (`cluster: writes ...`, with the wall clock in
    /// microseconds and the process id): the record that no slot was ever
    /// writable on two nodes at once (docs/cluster.md, "Moving slots").
    /// Called before the map is visible to the cores, so the line's time is
    /// never after the change took effect.
    fn log_writable(&self, map: &ClusterMap) {
        if self.me == 0 {
            return;
        }
        let mut now = map.writable_slots(self.me);
        if self.replica.load(Ordering::Acquire) {
            now.fill(false);
        }
        let mut was = self.writable.lock().unwrap_or_else(|p| p.into_inner());
        was.resize(now.len(), false);
        if *was == now {
            return;
        }
        // The slots in `a` and not in `b`, as ranges.
        let minus = |a: &[bool], b: &[bool]| {
            let only: Vec<bool> = a.iter().zip(b).map(|(&x, &y)| x && !y).collect();
            crate::migration::flagged_ranges(&only)
        };
        let (gained, lost) = (minus(&now, &was), minus(&was, &now));
        let us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        tracing::info!(
            "cluster: writes epoch={} unix_us={us} pid={} gained={} lost={}",
            map.epoch,
            std::process::id(),
            ranges_text(&gained),
            ranges_text(&lost)
        );
        *was = now;
    }
}

/// `0-99,200` (`-` for none).
fn ranges_text(r: &[(u16, u16)]) -> String {
    if r.is_empty() {
        return "-".into();
    }
    r.iter()
        .map(|&(a, b)| match a == b {
            true => a.to_string(),
            false => format!("{a}-{b}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Serialize, Deserialize, Default)]
struct HardState {
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    map: ClusterMap,
}

struct Inner {
    dir: PathBuf,
    hard: HardState,
    log: BTreeMap<u64, Entry<TypeConfig>>,
    log_file: std::fs::File,
    committed_file: std::fs::File,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    map: ClusterMap,
    snapshot: Option<StoredSnapshot>,
    snapshots_built: u64,
    published: Arc<Published>,
}

/// The storage handle openraft holds (through its v1 adaptor); clones share
/// one state.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
}

fn io_err(e: impl std::error::Error + 'static) -> AnyError {
    AnyError::new(&e)
}

fn encode_record(out: &mut Vec<u8>, json: &[u8]) {
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&xxh3_64(json).to_le_bytes());
    out.extend_from_slice(json);
}

/// The committed log id in `raft-committed`'s record, if it is whole
/// (bytes after it are left from a longer earlier record).
fn read_committed_record(bytes: &[u8]) -> Option<Option<LogId<NodeId>>> {
    serde_json::from_slice(decode_record(bytes)?).ok()
}

/// The JSON of the `[u32 length][u64 xxh3][JSON]` record at the start of
/// `bytes`, if it is whole and its checksum holds.
fn decode_record(bytes: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?);
    let json = bytes.get(12..12 + len)?;
    (xxh3_64(json) == sum).then_some(json)
}

/// Reads the log's records up to the first torn or corrupt one; returns the
/// entries and whether a tail was dropped.
fn read_records(bytes: &[u8]) -> Result<(Vec<Entry<TypeConfig>>, bool), Error> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(json) = decode_record(&bytes[at..]) else {
            return Ok((out, true));
        };
        let len = json.len();
        let e: Entry<TypeConfig> = serde_json::from_slice(json)
            .map_err(|e| Error::Corrupt(format!("raft-log record at byte {at}: {e}")))?;
        out.push(e);
        at += 12 + len;
    }
    Ok((out, false))
}

impl Store {
    /// Opens (or creates) the storage in `dir`.
    pub fn open(dir: &Path, published: Arc<Published>) -> Result<Store, Error> {
        std::fs::create_dir_all(dir)?;
        let hard: HardState = match std::fs::read(dir.join("raft-state.json")) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::Corrupt(format!("raft-state.json: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HardState::default(),
            Err(e) => return Err(e.into()),
        };
        let snapshot: Option<StoredSnapshot> = match std::fs::read(dir.join("raft-snapshot.json")) {
            Ok(b) => Some(
                serde_json::from_slice(&b)
                    .map_err(|e| Error::Corrupt(format!("raft-snapshot.json: {e}")))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let log_path = dir.join("raft-log");
        let bytes = match std::fs::read(&log_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let (entries, torn) = read_records(&bytes)?;
        if torn {
            tracing::warn!(
                "cluster: dropped a torn record at the end of {}",
                log_path.display()
            );
        }
        let committed_path = dir.join("raft-committed");
        let mut hard = hard;
        match std::fs::read(&committed_path) {
            Ok(b) => {
                if let Some(c) = read_committed_record(&b) {
                    hard.committed = hard.committed.max(c);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let committed_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&committed_path)?;
        let log: BTreeMap<u64, Entry<TypeConfig>> =
            entries.into_iter().map(|e| (e.log_id.index, e)).collect();
        let (last_applied, membership, map) = match &snapshot {
            Some(s) => (
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
                s.map.clone(),
            ),
            None => (None, StoredMembership::default(), ClusterMap::default()),
        };
        published.publish(map.clone());
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let store = Store {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                hard,
                log,
                log_file,
                committed_file,
                last_applied,
                membership,
                map,
                snapshot,
                snapshots_built: 0,
                published,
            })),
        };
        if torn {
            store
                .lock()
                .rewrite_log()
                .map_err(|e| Error::Corrupt(e.to_string()))?;
        }
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every
        // change is made after its I/O succeeded), so the poison is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index of the last log entry applied to the map.
    pub fn applied_index(&self) -> Option<u64> {
        self.lock().last_applied.map(|l| l.index)
    }

    /// The map as applied on this node.
    pub fn map(&self) -> ClusterMap {
        self.lock().map.clone()
    }
}

// openraft's storage trait returns its `StorageError` by value; these
// helpers produce exactly what its methods return.
#[expect(
    clippy::result_large_err,
    reason = "the error type is openraft's, returned as its storage trait requires"
)]
impl Inner {
    fn save_hard(&self) -> Result<(), SErr> {
        let b =
            serde_json::to_vec(&self.hard).map_err(|e| StorageIOError::write_vote(io_err(e)))?;
        write_atomic(&self.dir.join("raft-state.json"), &b)
            .map_err(|e| StorageIOError::write_vote(io_err(e)))?;
        Ok(())
    }

    /// Rewrites `raft-log` from the entries in memory.
    fn rewrite_log(&mut self) -> Result<(), SErr> {
        let mut buf = Vec::new();
        for e in self.log.values() {
            let json = serde_json::to_vec(e).map_err(|e| StorageIOError::write_logs(io_err(e)))?;
            encode_record(&mut buf, &json);
        }
        let path = self.dir.join("raft-log");
        write_atomic(&path, &buf).map_err(|e| StorageIOError::write_logs(io_err(e)))?;
        self.log_file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| StorageIOError::write_logs(io_err(e)))?;
        Ok(())
    }

    fn current_snapshot(&self) -> Option<Snapshot<TypeConfig>> {
        let s = self.snapshot.as_ref()?;
        let data = serde_json::to_vec(&s.map).ok()?;
        Some(Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(data)),
        })
    }

    fn save_snapshot(&mut self, s: StoredSnapshot) -> Result<(), SErr> {
        let sig = Some(s.meta.signature());
        let b = serde_json::to_vec(&s)
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), io_err(e)))?;
        write_atomic(&self.dir.join("raft-snapshot.json"), &b)
            .map_err(|e| StorageIOError::write_snapshot(sig, io_err(e)))?;
        self.snapshot = Some(s);
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for Store {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        Ok(self
            .lock()
            .log
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for Store {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let mut g = self.lock();
        g.snapshots_built += 1;
        let last = g.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: g.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                last.map(|l| l.index).unwrap_or(0),
                g.snapshots_built
            ),
        };
        let map = g.map.clone();
        let data = serde_json::to_vec(&map)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), io_err(e)))?;
        g.save_snapshot(StoredSnapshot {
            meta: meta.clone(),
            map,
        })?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStorage<TypeConfig> for Store {
    type LogReader = Store;
    type SnapshotBuilder = Store;

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), SErr> {
        let mut g = self.lock();
        g.hard.vote = Some(*vote);
        g.save_hard()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, SErr> {
        Ok(self.lock().hard.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), SErr> {
        let mut g = self.lock();
        if g.hard.committed != committed {
            g.hard.committed = committed;
            let mut rec = Vec::new();
            let json = serde_json::to_vec(&committed)
                .map_err(|e| StorageIOError::write_vote(io_err(e)))?;
            encode_record(&mut rec, &json);
            std::os::unix::fs::FileExt::write_all_at(&g.committed_file, &rec, 0)
                .map_err(|e| StorageIOError::write_vote(io_err(e)))?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, SErr> {
        Ok(self.lock().hard.committed)
    }

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let g = self.lock();
        let last = g
            .log
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(g.hard.last_purged);
        Ok(LogState {
            last_purged_log_id: g.hard.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn append_to_log<I>(&mut self, entries: I) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
    {
        let mut g = self.lock();
        let mut buf = Vec::new();
        let mut new = Vec::new();
        for e in entries {
            let json = serde_json::to_vec(&e).map_err(|x| StorageIOError::write_logs(io_err(x)))?;
            encode_record(&mut buf, &json);
            new.push(e);
        }
        g.log_file
            .write_all(&buf)
            .and_then(|_| g.log_file.sync_data())
            .map_err(|e| StorageIOError::write_logs(io_err(e)))?;
        for e in new {
            g.log.insert(e.log_id.index, e);
        }
        Ok(())
    }

    async fn delete_conflict_logs_since(&mut self, log_id: LogId<NodeId>) -> Result<(), SErr> {
        let mut g = self.lock();
        g.log.split_off(&log_id.index);
        g.rewrite_log()
    }

    async fn purge_logs_upto(&mut self, log_id: LogId<NodeId>) -> Result<(), SErr> {
        let mut g = self.lock();
        g.hard.last_purged = Some(log_id);
        g.save_hard()?;
        let keep = g.log.split_off(&(log_id.index + 1));
        g.log = keep;
        g.rewrite_log()
    }

    async fn last_applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), SErr> {
        let g = self.lock();
        Ok((g.last_applied, g.membership.clone()))
    }

    async fn apply_to_state_machine(
        &mut self,
        entries: &[Entry<TypeConfig>],
    ) -> Result<Vec<ChangeResult>, SErr> {
        let mut g = self.lock();
        let mut out = Vec::with_capacity(entries.len());
        let mut changed = false;
        for e in entries {
            g.last_applied = Some(e.log_id);
            match &e.payload {
                EntryPayload::Blank => out.push(Ok(g.map.epoch)),
                EntryPayload::Normal(change) => {
                    let r = g.map.apply(change);
                    changed |= r.is_ok();
                    out.push(r);
                }
                EntryPayload::Membership(m) => {
                    g.membership = StoredMembership::new(Some(e.log_id), m.clone());
                    out.push(Ok(g.map.epoch));
                }
            }
        }
        if changed {
            let map = g.map.clone();
            g.published.publish(map);
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SErr> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), SErr> {
        let map: ClusterMap = serde_json::from_slice(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), io_err(e)))?;
        let mut g = self.lock();
        g.save_snapshot(StoredSnapshot {
            meta: meta.clone(),
            map: map.clone(),
        })?;
        g.last_applied = meta.last_log_id;
        g.membership = meta.last_membership.clone();
        g.map = map.clone();
        g.published.publish(map);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SErr> {
        Ok(self.lock().current_snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(c: Option<LogId<NodeId>>) -> Vec<u8> {
        let mut rec = Vec::new();
        encode_record(&mut rec, &serde_json::to_vec(&c).unwrap());
        rec
    }

    #[test]
    fn the_committed_record_is_read_whole_or_not_at_all() {
        let id = |i| Some(LogId::new(openraft::CommittedLeaderId::new(3, 7), i));
        let r = record(id(1234));
        assert_eq!(read_committed_record(&r), Some(id(1234)));
        // Overwritten in place by a shorter record: the old tail is ignored.
        let mut over = record(id(99_999_999));
        let short = record(id(5));
        assert!(short.len() < over.len());
        over[..short.len()].copy_from_slice(&short);
        assert_eq!(read_committed_record(&over), Some(id(5)));
        // Torn or flipped: nothing.
        assert_eq!(read_committed_record(&r[..r.len() - 1]), None);
        let mut bad = r.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(read_committed_record(&bad), None);
        assert_eq!(read_committed_record(&[]), None);
    }

    #[test]
    fn a_restart_takes_the_newer_of_the_two_committed_ids() {
        let d = tempfile::tempdir().unwrap();
        let id = |i| Some(LogId::new(openraft::CommittedLeaderId::new(1, 1), i));
        let open = || Store::open(d.path(), Arc::new(Published::new(1))).unwrap();
        let committed = |s: &Store| s.lock().hard.committed;
        let s = open();
        assert_eq!(committed(&s), None);
        block_on(s.clone().save_committed(id(7))).unwrap();
        drop(s);
        assert_eq!(committed(&open()), id(7), "from raft-committed");
        // raft-state.json holds a newer one (a vote saved later): it wins.
        let s = open();
        {
            let mut g = s.lock();
            g.hard.committed = id(9);
            g.save_hard().unwrap();
        }
        drop(s);
        assert_eq!(committed(&open()), id(9));
        // A torn raft-committed falls back to raft-state.json's.
        std::fs::write(d.path().join("raft-committed"), b"\x05\0\0").unwrap();
        assert_eq!(committed(&open()), id(9));
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}
