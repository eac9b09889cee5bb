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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tessera_cluster::controller::migrate::{MigrateRequest, PartState};
use tessera_cluster::map::{Change, Migration, Stage};
use tessera_cluster::net::{MIGRATE, MIGRATE_COPY, MIGRATE_FENCED, MIGRATE_PULL, RPC_FORMAT};

use super::cluster::Routes;
use super::Core;
use crate::client::{Client, ClientError};
use crate::codes::{ErrorCode, WireError};
use crate::errors::store_error as wire;
use crate::proto::codec::{put_bytes, put_u32, put_u64, Reader};
use crate::proto::{frame, Request, Topology};
use crate::repl::position::{Epoch, Record};
use crate::repl::Host;
use crate::shard::partition::migrate::{slot_ops, SlotOp};
use crate::shard::Partition;

/// How often each core looks at the map's migrations.
const TICK: Duration = Duration::from_millis(20);
/// Bytes asked for per copy chunk or catch-up pull.
const CHUNK_BYTES: u32 = 1 << 20;
/// How long a fenced source waits for writes already admitted to finish.
const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// How long the target waits for its replicas before the flip.
const REPLICA_WAIT: Duration = Duration::from_secs(5);

fn bad(msg: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, msg)
}

fn refused(msg: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::ClusterRefused, msg)
}

fn put_slots(out: &mut Vec<u8>, slots: &[u16]) {
    put_u32(out, slots.len() as u32);
    for s in slots {
        out.extend_from_slice(&s.to_be_bytes());
    }
}

fn read_slots(r: &mut Reader<'_>) -> Result<Vec<u16>, crate::proto::Error> {
    let n = r.count("slots", 2)?;
    (0..n).map(|_| r.u16("slot")).collect()
}

// ---- the source's side ------------------------------------------------------

/// The migration `id`, when this node is the primary of its source shard.
fn as_source(core: &Core, id: u64) -> Result<(Rc<Routes>, Migration), WireError> {
    let cl = core
        .cluster()
        .ok_or_else(|| refused("cluster mode is off on this node"))?;
    let routes = cl.routes();
    let m = routes
        .map
        .migrations
        .iter()
        .find(|m| m.id == id)
        .cloned()
        .ok_or_else(|| refused(format!("no migration {id} in this node's map")))?;
    let mine = routes.my_node().map(|n| n.shard);
    if mine != Some(m.from) || !routes.i_am_primary() {
        return Err(refused(format!(
            "this node is not the primary of migration {id}'s source shard {}",
            m.from
        )));
    }
    Ok((routes, m))
}

fn local_partition(core: &Core, p: u32) -> Result<Rc<Partition>, WireError> {
    core.partition(p)
        .cloned()
        .ok_or_else(|| bad(format!("partition {p} is not on core {}", core.id())))
}

/// Answers `MIGRATE_COPY`, `MIGRATE_PULL` and `MIGRATE_FENCED` (`None`
/// for other actions).
pub async fn serve(
    core: &Core,
    action: u8,
    body: &[u8],
    id: u32,
    out: &mut Vec<u8>,
) -> Option<Result<(), WireError>> {
    let r = match action {
        MIGRATE_COPY => serve_copy(core, body, id, out).await,
        MIGRATE_PULL => serve_pull(core, body, id, out).await,
        MIGRATE_FENCED => serve_fenced(core, body, id, out).await,
        _ => return None,
    };
    Some(r)
}

/// The next chunk of the slots from a checkpoint of a source partition:
/// body `u64` migration, `u32` partition, `u64` session (0: a new
/// checkpoint), `u8` cf (255: from the start), `bytes` after, `u32` max
/// bytes, slots. Answer as SYNC's.
async fn serve_copy(core: &Core, body: &[u8], id: u32, out: &mut Vec<u8>) -> Result<(), WireError> {
    let mut r = Reader::new(body);
    let e = |e: crate::proto::Error| e.to_wire();
    let (mid, p, session) = (
        r.u64("migration").map_err(e)?,
        r.u32("partition").map_err(e)?,
        r.u64("session").map_err(e)?,
    );
    let cf = r.u8("cf").map_err(e)?;
    let after = r.bytes("after").map_err(e)?.to_vec();
    let max = r.u32("max_bytes").map_err(e)? as usize;
    let slots = read_slots(&mut r).map_err(e)?;
    r.end().map_err(e)?;
    let (_, m) = as_source(core, mid)?;
    if slots.iter().any(|s| m.slots.binary_search(s).is_err()) {
        return Err(bad(format!("a slot asked for is not in migration {mid}")));
    }
    let part = local_partition(core, p)?;
    let repl = core.repl();
    for k in repl.idle_syncs(crate::repl::link::SYNC_IDLE) {
        end_session(core, k);
    }
    let (session, src) = if session == 0 {
        let n = repl.next_sync_id();
        let dir = core
            .settings()
            .data_dir
            .join("sync")
            .join(format!("migrate{mid}-partition{p}-{n}"));
        let src = glommio::executor()
            .spawn_blocking(part.sync_source_fn(dir))
            .await
            .map_err(wire)?;
        let src = Rc::new(src);
        repl.open_sync(n, src.clone());
        (n, src)
    } else {
        let src = repl
            .use_sync(session)
            .ok_or_else(|| refused(format!("copy session {session} is gone; start again")))?;
        (session, src)
    };
    let after = (cf != 255).then_some((cf, after));
    let max = max.clamp(1, core.config().max_frame_bytes / 2);
    let (entries, done) = glommio::executor()
        .spawn_blocking(src.slot_chunk_fn(slots, after, max))
        .await
        .map_err(wire)?;
    let record = src.record;
    drop(src);
    if done {
        end_session(core, session);
    }
    let start = frame::begin(out, id, frame::STATUS_OK, 0);
    put_u64(out, session);
    put_bytes(out, &record.encode());
    out.push(done as u8);
    put_u32(out, entries.len() as u32);
    for (cf, k, v) in &entries {
        out.push(*cf);
        put_bytes(out, k);
        put_bytes(out, v);
    }
    frame::finish(out, start);
    Ok(())
}

fn end_session(core: &Core, session: u64) {
    if let Some(src) = core.repl().close_sync(session) {
        if let Ok(src) = Rc::try_unwrap(src) {
            glommio::spawn_local(glommio::executor().spawn_blocking(move || drop(src))).detach();
        }
    }
}

/// A source partition's batches after a position: body `u64` migration,
/// `u32` partition, `u64` term, `u64` epoch node, `u64` index, `u32` max
/// bytes. Answer: `bytes` latest record, `u32` n, n × `bytes` batch.
async fn serve_pull(core: &Core, body: &[u8], id: u32, out: &mut Vec<u8>) -> Result<(), WireError> {
    let mut r = Reader::new(body);
    let e = |e: crate::proto::Error| e.to_wire();
    let mid = r.u64("migration").map_err(e)?;
    let p = r.u32("partition").map_err(e)?;
    let asked = Epoch {
        term: r.u64("term").map_err(e)?,
        node: r.u64("node").map_err(e)?,
    };
    let index = r.u64("index").map_err(e)?;
    let max = (r.u32("max_bytes").map_err(e)? as usize).clamp(1, core.config().max_frame_bytes / 2);
    r.end().map_err(e)?;
    as_source(core, mid)?;
    let part = local_partition(core, p)?;
    part.note_pull();
    let (latest, batches): (Record, Vec<Rc<[u8]>>) = match part.tail_updates(asked, index, max) {
        Some(found) => found,
        None => {
            let read = part.updates_fn(asked, index, max).map_err(wire)?;
            let u = glommio::executor()
                .spawn_blocking(read)
                .await
                .map_err(wire)?;
            (u.latest, u.batches.into_iter().map(Rc::from).collect())
        }
    };
    let start = frame::begin(out, id, frame::STATUS_OK, 0);
    put_bytes(out, &latest.encode());
    put_u32(out, batches.len() as u32);
    for b in &batches {
        put_bytes(out, b);
    }
    frame::finish(out, start);
    Ok(())
}

/// A fenced source partition's last record: body `u64` migration, `u32`
/// partition. Answered once this core's map has the fence, every write
/// admitted before it has been staged, and the group holding them is
/// written: nothing for the slots can follow the record.
async fn serve_fenced(
    core: &Core,
    body: &[u8],
    id: u32,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let mut r = Reader::new(body);
    let e = |e: crate::proto::Error| e.to_wire();
    let (mid, p) = (
        r.u64("migration").map_err(e)?,
        r.u32("partition").map_err(e)?,
    );
    r.end().map_err(e)?;
    let (_, m) = as_source(core, mid)?;
    if m.stage != Stage::Fence {
        return Err(WireError::new(
            ErrorCode::TryAgain,
            format!(
                "migration {mid} is at stage {} here, not fenced yet",
                m.stage.name()
            ),
        ));
    }
    let part = local_partition(core, p)?;
    let cl = core
        .cluster()
        .ok_or_else(|| refused("cluster mode is off"))?;
    if !cl.drain_writes(DRAIN_WAIT).await {
        return Err(WireError::new(
            ErrorCode::TryAgain,
            "writes admitted before the fence are still running",
        ));
    }
    // The open group may be empty (the fence holds the only writers back):
    // the committer closes it anyway.
    let open = core.groups.open();
    core.groups.note_staged();
    core.groups.wait_committed(open).await;
    part.group_status(open).map_err(wire)?;
    let start = frame::begin(out, id, frame::STATUS_OK, 0);
    put_bytes(out, &part.last_record().encode());
    frame::finish(out, start);
    Ok(())
}

// ---- the target's side ------------------------------------------------------

/// Why a partition's attempt stopped.
enum Stop {
    /// The migration moved on (another attempt, the flip, an end).
    Over,
    Failed(String),
}

impl From<ClientError> for Stop {
    fn from(e: ClientError) -> Stop {
        Stop::Failed(e.to_string())
    }
}

impl From<crate::shard::Error> for Stop {
    fn from(e: crate::shard::Error) -> Stop {
        Stop::Failed(e.to_string())
    }
}

/// The migration `id`'s stage and attempt in this core's newest map.
fn stage_of(core: &Core, id: u64) -> Option<(Stage, u32)> {
    let routes = core.cluster()?.routes();
    let m = routes.map.migrations.iter().find(|m| m.id == id)?;
    Some((m.stage, m.attempts))
}

/// One source partition's stream into a target partition.
struct Stream {
    client: Client,
    partition: u32,
    slots: Vec<u16>,
    /// The last source batch applied (its record).
    at: Record,
}

/// Stages `ops` in `part`, waits for the group, and counts them.
async fn stage(core: &Core, part: &Partition, m: &Migration, ops: Vec<SlotOp>) -> Result<(), Stop> {
    if ops.is_empty() {
        return Ok(());
    }
    let keys = ops.len() as u64;
    let bytes: usize = ops
        .iter()
        .map(|o| match o {
            SlotOp::Put { key, value, .. } => key.len() + value.len(),
            SlotOp::Delete { key, .. } => key.len(),
            SlotOp::DeleteRange { from, to, .. } => from.len() + to.len(),
        })
        .sum();
    let g = part.stage_migrated(ops)?;
    core.groups.note_staged();
    core.groups.wait_committed(g).await;
    part.group_status(g)?;
    throttle(core, bytes).await;
    if let Some(cl) = core.cluster() {
        cl.controller().report_migration(
            m.id,
            part.id(),
            m.attempts,
            PartState::Copying,
            keys,
            bytes as u64,
        );
    }
    Ok(())
}

/// Waits so the copy stays under `migrate-bytes-per-sec`.
async fn throttle(core: &Core, bytes: usize) {
    let rate = core.config().migrate_bytes_per_sec;
    if rate == 0 {
        return;
    }
    let d = Duration::from_secs_f64(bytes as f64 / rate as f64);
    if d >= Duration::from_millis(1) {
        if let Some(cl) = core.cluster() {
            cl.controller().note_throttle_wait();
        }
        glommio::timer::sleep(d).await;
    }
}

/// Copies the stream's slots from a checkpoint of its source partition.
async fn copy(core: &Core, part: &Partition, m: &Migration, s: &mut Stream) -> Result<(), Stop> {
    let mut session = 0u64;
    let mut after: (u8, Vec<u8>) = (255, Vec::new());
    loop {
        if stage_of(core, m.id) != Some((Stage::Copy, m.attempts)) {
            return Err(Stop::Over);
        }
        let mut body = Vec::new();
        put_u64(&mut body, m.id);
        put_u32(&mut body, s.partition);
        put_u64(&mut body, session);
        body.push(after.0);
        put_bytes(&mut body, &after.1);
        put_u32(&mut body, CHUNK_BYTES);
        put_slots(&mut body, &s.slots);
        let reply = s
            .client
            .call(&Request::Cluster {
                action: MIGRATE_COPY,
                body: &body,
            })
            .await?;
        let bad = |e: crate::proto::Error| Stop::Failed(format!("bad copy chunk: {e}"));
        let mut r = Reader::new(&reply);
        session = r.u64("session").map_err(bad)?;
        let record = Record::decode(r.bytes("record").map_err(bad)?)
            .ok_or_else(|| Stop::Failed("bad copy record".into()))?;
        let done = r.u8("done").map_err(bad)? != 0;
        let n = r.count("entries", 9).map_err(bad)?;
        let mut ops = Vec::with_capacity(n);
        for _ in 0..n {
            let cf = r.u8("cf").map_err(bad)?;
            let key = r.bytes("key").map_err(bad)?.to_vec();
            let value = r.bytes("value").map_err(bad)?.to_vec();
            after = (cf, key.clone());
            ops.push(SlotOp::Put { cf, key, value });
        }
        r.end().map_err(bad)?;
        part.observe_version(record.clock);
        stage(core, part, m, ops).await?;
        if done {
            s.at = record;
            return Ok(());
        }
    }
}

/// Applies the source partition's batches after the stream's position;
/// returns how many batches the source still has after what was applied.
async fn pull(core: &Core, part: &Partition, m: &Migration, s: &mut Stream) -> Result<u64, Stop> {
    let mut body = Vec::new();
    put_u64(&mut body, m.id);
    put_u32(&mut body, s.partition);
    put_u64(&mut body, s.at.epoch.term);
    put_u64(&mut body, s.at.epoch.node);
    put_u64(&mut body, s.at.index);
    put_u32(&mut body, CHUNK_BYTES);
    let reply = s
        .client
        .call(&Request::Cluster {
            action: MIGRATE_PULL,
            body: &body,
        })
        .await?;
    let bad = |e: crate::proto::Error| Stop::Failed(format!("bad catch-up reply: {e}"));
    let mut r = Reader::new(&reply);
    let latest = Record::decode(r.bytes("latest").map_err(bad)?)
        .ok_or_else(|| Stop::Failed("bad catch-up record".into()))?;
    let n = r.count("batches", 4).map_err(bad)?;
    let mut ops = Vec::new();
    let mut last = s.at;
    for _ in 0..n {
        let b = r.bytes("batch").map_err(bad)?;
        let rec = Record::of_batch(b)
            .ok_or_else(|| Stop::Failed("a source batch has no record".into()))?;
        if rec.index != last.index + 1 {
            return Err(Stop::Failed(format!(
                "source batch {} does not follow {}",
                rec.index, last.index
            )));
        }
        ops.extend(slot_ops(b, |slot| s.slots.binary_search(&slot).is_ok())?);
        part.observe_version(rec.clock);
        last = rec;
    }
    r.end().map_err(bad)?;
    stage(core, part, m, ops).await?;
    s.at = last;
    Ok(latest.index.saturating_sub(last.index))
}

/// Asks the source partition for its last record under the fence.
async fn fenced(m: &Migration, s: &Stream) -> Result<Record, Stop> {
    let mut body = Vec::new();
    put_u64(&mut body, m.id);
    put_u32(&mut body, s.partition);
    let reply = s
        .client
        .call(&Request::Cluster {
            action: MIGRATE_FENCED,
            body: &body,
        })
        .await?;
    let mut r = Reader::new(&reply);
    r.bytes("record")
        .ok()
        .and_then(Record::decode)
        .ok_or_else(|| Stop::Failed("bad fence reply".into()))
}

/// One target partition's attempt at migration `m`: `slots` are the
/// migration's slots this partition holds.
async fn drive_partition(
    core: Rc<Core>,
    m: Migration,
    part: Rc<Partition>,
    slots: Vec<u16>,
) -> Result<(), Stop> {
    let ctl = core.cluster().ok_or(Stop::Over)?.controller().clone();
    let report = |state: PartState| ctl.report_migration(m.id, part.id(), m.attempts, state, 0, 0);
    report(PartState::Copying);
    if stage_of(&core, m.id) != Some((Stage::Copy, m.attempts)) {
        // A node restarted while fenced has lost its streams' positions.
        return Err(Stop::Failed(
            "this attempt's progress was lost (a restart); copying again".into(),
        ));
    }
    let source: SocketAddr = {
        let routes = core.cluster().ok_or(Stop::Over)?.routes();
        let addr = routes
            .map
            .shards
            .get(&m.from)
            .and_then(|s| routes.map.nodes.get(&s.primary))
            .map(|n| n.binary.clone())
            .ok_or_else(|| Stop::Failed(format!("shard {} has no primary in the map", m.from)))?;
        addr.parse()
            .map_err(|_| Stop::Failed(format!("the source's address {addr} is not IP:PORT")))?
    };
    // A fresh start: whatever an earlier attempt left goes.
    let g = part.delete_slots(&slots)?;
    core.groups.note_staged();
    core.groups.wait_committed(g).await;
    part.group_status(g)?;
    // The source's partitions holding these slots.
    let probe = Client::connect_partition(source, 0).await?;
    let theirs = Topology::from_layout(&probe.hello().layout, 1)
        .map_err(|e| Stop::Failed(format!("the source's layout: {e}")))?;
    drop(probe);
    let mut by_partition: BTreeMap<u32, Vec<u16>> = BTreeMap::new();
    for &s in &slots {
        by_partition
            .entry(theirs.partition_of_slot(s))
            .or_default()
            .push(s);
    }
    let mut streams = Vec::new();
    for (sp, slots) in by_partition {
        let client = Client::connect_partition(source, sp).await?;
        streams.push(Stream {
            client,
            partition: sp,
            slots,
            at: Record::default(),
        });
    }
    for s in &mut streams {
        copy(&core, &part, &m, s).await?;
    }
    // Catch-up until fenced. Caught up means the source has nothing more
    // and this shard's replicas hold what was applied here, so the fence
    // waits for neither for long.
    loop {
        let mut behind = 0;
        for s in &mut streams {
            behind += pull(&core, &part, &m, s).await?;
        }
        match stage_of(&core, m.id) {
            Some((Stage::Copy, a)) if a == m.attempts => {
                let here = part.last_record().index;
                if behind == 0
                    && core
                        .repl()
                        .replicas_reached(&[(part.id(), here)], live_replicas(&core))
                {
                    report(PartState::CaughtUp);
                    glommio::timer::sleep(Duration::from_millis(2)).await;
                }
            }
            Some((Stage::Fence, a)) if a == m.attempts => break,
            _ => return Err(Stop::Over),
        }
        if core.shutdown().is_set() {
            return Err(Stop::Over);
        }
    }
    // Fenced: apply up to each source partition's last record.
    let fenced_at = Instant::now();
    for s in &mut streams {
        let end = loop {
            match fenced(&m, s).await {
                Ok(r) => break r,
                Err(Stop::Failed(why))
                    if why.contains("TRY_AGAIN") || why.contains("not fenced") =>
                {
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                }
                Err(e) => return Err(e),
            }
        };
        while s.at.index < end.index {
            pull(&core, &part, &m, s).await?;
        }
    }
    let drained_ms = fenced_at.elapsed().as_millis();
    // The target's replicas must have the slots before the flip.
    let want = part.last_record().index;
    let need = live_replicas(&core);
    let deadline = Instant::now() + REPLICA_WAIT;
    while !core.repl().replicas_reached(&[(part.id(), want)], need) {
        let now = Instant::now();
        if now >= deadline {
            return Err(Stop::Failed(format!(
                "the shard's {need} replica(s) did not reach partition {}'s index {want} within {REPLICA_WAIT:?}",
                part.id()
            )));
        }
        core.repl().next_report(deadline - now).await;
    }
    report(PartState::Drained);
    tracing::info!(
        migration = m.id,
        partition = part.id(),
        "slot migration: drained the fenced source in {drained_ms} ms, replicas in {} ms more",
        fenced_at.elapsed().as_millis() - drained_ms
    );
    Ok(())
}

/// The replicas of this node's shard the map has as up.
fn live_replicas(core: &Core) -> usize {
    let Some(cl) = core.cluster() else {
        return 0;
    };
    let routes = cl.routes();
    routes
        .my_node()
        .and_then(|n| routes.map.shards.get(&n.shard))
        .map(|s| {
            s.replicas
                .iter()
                .filter(|r| {
                    routes
                        .map
                        .nodes
                        .get(r)
                        .is_some_and(|n| n.health == tessera_cluster::map::Health::Up)
                })
                .count()
        })
        .unwrap_or(0)
}

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
    // (migration, attempt) whose partitions run here; cleaned migrations.
    let mut running: HashMap<(u64, u32), Rc<std::cell::Cell<bool>>> = HashMap::new();
    let mut cleaned: HashSet<u64> = HashSet::new();
    let mut fence_started: HashMap<u64, Instant> = HashMap::new();
    loop {
        let routes = cl.routes();
        let my_shard = routes.my_node().map(|n| n.shard);
        let primary = routes.i_am_primary();
        let live: Vec<u64> = routes.map.migrations.iter().map(|m| m.id).collect();
        running.retain(|(id, _), alive| live.contains(id) && alive.get());
        cleaned.retain(|id| live.contains(id));
        for m in &routes.map.migrations {
            let local = local_slots(&core, m);
            if local.is_empty() || !primary {
                continue;
            }
            if my_shard == Some(m.to)
                && m.stage != Stage::Cleanup
                && !running.contains_key(&(m.id, m.attempts))
            {
                let alive = Rc::new(std::cell::Cell::new(true));
                running.insert((m.id, m.attempts), alive.clone());
                for (part, slots) in local {
                    let (core2, m2, alive2, ctl2) =
                        (core.clone(), m.clone(), alive.clone(), ctl.clone());
                    glommio::spawn_local(async move {
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
                    let r = async {
                        let g = part.delete_slots(&slots)?;
                        core.groups.note_staged();
                        core.groups.wait_committed(g).await;
                        part.group_status(g)
                    }
                    .await;
                    match r {
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
        if core.id() == 0 {
            coordinate(&core, &routes, &mut fence_started).await;
            ctl.forget_migrations(&live);
        }
        let stop = std::pin::pin!(core.shutdown().wait(false));
        let tick = std::pin::pin!(glommio::timer::sleep(TICK));
        if let futures::future::Either::Left(_) = futures::future::select(stop, tick).await {
            return;
        }
    }
}

/// Core 0: asks the controller's leader for each migration's next stage
/// once every partition of this node that takes part is ready for it.
async fn coordinate(core: &Rc<Core>, routes: &Routes, fence_started: &mut HashMap<u64, Instant>) {
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
    fence_started.retain(|id, _| routes.map.migrations.iter().any(|m| m.id == *id));
    for m in &routes.map.migrations {
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
                        stage: Stage::Cleanup,
                    })
                }
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
        let what = format!("{change:?}");
        let body = serde_json::to_vec(&MigrateRequest {
            format: RPC_FORMAT,
            change: change.clone(),
        })
        .unwrap_or_default();
        match ctl.request(MIGRATE, body).await {
            Ok(_) => {
                tracing::info!(migration = m.id, "slot migration: {what} committed");
                match change {
                    Change::MigrateStage {
                        stage: Stage::Fence,
                        ..
                    } => {
                        fence_started.insert(m.id, Instant::now());
                    }
                    Change::MigrateStage {
                        stage: Stage::Cleanup,
                        ..
                    } => {
                        if let Some(t) = fence_started.remove(&m.id) {
                            ctl.note_fence(t.elapsed().as_millis() as u64);
                        }
                    }
                    _ => {}
                }
            }
            Err(e) => tracing::warn!(
                migration = m.id,
                "slot migration: {what} not committed: {e}"
            ),
        }
    }
}
