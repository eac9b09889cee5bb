//! The target's side of a slot migration: each partition holding some of
//! the slots copies them, replays the source's later batches for them, and
//! under the fence applies up to the source's last record.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tessera_cluster::controller::migrate::PartState;
use tessera_cluster::map::{Migration, Stage};
use tessera_cluster::net::{MIGRATE_COPY, MIGRATE_FENCED, MIGRATE_PULL};

use super::super::Core;
use crate::client::{Client, ClientError};
use crate::proto::codec::{put_bytes, put_u32, put_u64, Reader};
use crate::proto::{Request, Topology};
use crate::repl::position::Record;
use crate::repl::serve::Chunk;
use crate::shard::partition::migrate::{slot_ops, SlotOp};
use crate::shard::Partition;

/// Bytes asked for per copy chunk or catch-up pull.
const CHUNK_BYTES: u32 = 1 << 20;
/// How long the target waits for its replicas before the flip.
const REPLICA_WAIT: Duration = Duration::from_secs(5);

fn put_slots(out: &mut Vec<u8>, slots: &[u16]) {
    put_u32(out, slots.len() as u32);
    for s in slots {
        out.extend_from_slice(&s.to_be_bytes());
    }
}

/// Why a partition's attempt stopped.
pub(super) enum Stop {
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
        let chunk =
            Chunk::decode(&reply).map_err(|e| Stop::Failed(format!("bad copy chunk: {e}")))?;
        session = chunk.session;
        let (record, done) = (chunk.record, chunk.done);
        if let Some((cf, key, _)) = chunk.entries.last() {
            after = (*cf, key.clone());
        }
        let ops: Vec<SlotOp> = chunk
            .entries
            .into_iter()
            .map(|(cf, key, value)| SlotOp::Put { cf, key, value })
            .collect();
        part.observe_version(record.clock);
        stage(core, part, m, ops).await?;
        super::fail_point("cluster.migrate-copy")
            .await
            .map_err(Stop::Failed)?;
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
    if n > 0 {
        super::fail_point("cluster.migrate-catch-up")
            .await
            .map_err(Stop::Failed)?;
    }
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
pub(super) async fn drive_partition(
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
        ctl.note_behind(m.id, part.id(), behind);
        match stage_of(&core, m.id) {
            Some((Stage::Copy, a)) if a == m.attempts => {
                if behind == 0 {
                    let here = part.last_record().index;
                    if core
                        .repl()
                        .replicas_reached(&[(part.id(), here)], live_replicas(&core))
                    {
                        report(PartState::CaughtUp);
                    }
                    // Nothing new at the source: look again shortly.
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
        super::fail_point("cluster.migrate-fence")
            .await
            .map_err(Stop::Failed)?;
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
