//! The source's side of a slot migration: the copy from a checkpoint, the
//! catch-up from the log and the fence's last record, each answered by the
//! core owning the partition asked for.

use std::rc::Rc;
use std::time::Duration;

use tessera_cluster::map::{Migration, Stage};
use tessera_cluster::net::{MIGRATE_COPY, MIGRATE_FENCED, MIGRATE_PULL, SLOT_KEYS};

use super::super::cluster::Routes;
use super::super::Core;
use crate::codes::{ErrorCode, WireError};
use crate::errors::store_error as wire;
use crate::proto::codec::{put_bytes, put_u32, put_u64, Reader};
use crate::proto::frame;
use crate::repl::position::Epoch;
use crate::shard::Partition;

/// How long a fenced source waits for writes already admitted to finish.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

fn bad(msg: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, msg)
}

fn refused(msg: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::ClusterRefused, msg)
}

fn read_slots(r: &mut Reader<'_>) -> Result<Vec<u16>, crate::proto::Error> {
    let n = r.count("slots", 2)?;
    (0..n).map(|_| r.u16("slot")).collect()
}

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
    let point = match action {
        MIGRATE_COPY => "cluster.migrate-serve-copy",
        MIGRATE_PULL => "cluster.migrate-serve-pull",
        MIGRATE_FENCED => "cluster.migrate-serve-fenced",
        SLOT_KEYS => return Some(serve_slot_keys(core, body, id, out).await),
        _ => return None,
    };
    if let Err(why) = super::fail_point(point).await {
        return Some(Err(WireError::new(ErrorCode::Internal, why)));
    }
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
    let (session, src) = crate::repl::serve::checkpoint_session(
        core,
        &part,
        session,
        |n| format!("migrate{mid}-partition{p}-{n}"),
        || refused(format!("copy session {session} is gone; start again")),
    )
    .await?;
    let after = (cf != 255).then_some((cf, after));
    let max = max.clamp(1, core.config().max_frame_bytes / 2);
    let (entries, done) = glommio::executor()
        .spawn_blocking(src.chunk_fn(Some(slots), after, max))
        .await
        .map_err(wire)?;
    crate::repl::serve::put_chunk(core, out, id, session, src, &entries, done);
    Ok(())
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
    let (latest, batches) = match part.tail_updates(asked, index, max) {
        Some(found) => found,
        None => crate::repl::serve::wal_batches(&part, asked, index, max).await?,
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

/// Keys per slot on this node (body empty), or on this core only (body
/// `[1]`, what the other cores are asked): `u32` n, n × (`u16` slot, `u64`
/// keys).
async fn serve_slot_keys(
    core: &Core,
    body: &[u8],
    id: u32,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let counts = slot_keys(core, body.is_empty()).await?;
    let start = frame::begin(out, id, frame::STATUS_OK, 0);
    put_u32(out, counts.len() as u32);
    for (s, n) in counts {
        out.extend_from_slice(&s.to_be_bytes());
        put_u64(out, n);
    }
    frame::finish(out, start);
    Ok(())
}

/// Keys per slot in this core's partitions, and with `every_core` in the
/// other cores' too (each asked over the mesh).
pub(in crate::net::core) async fn slot_keys(
    core: &Core,
    every_core: bool,
) -> Result<std::collections::BTreeMap<u16, u64>, WireError> {
    let mut counts = std::collections::BTreeMap::<u16, u64>::new();
    for p in core.local() {
        crate::drain::settle(p).await;
        let part = glommio::executor()
            .spawn_blocking(p.slot_keys_fn())
            .await
            .map_err(wire)?;
        for (s, n) in part {
            *counts.entry(s).or_insert(0) += n;
        }
    }
    if every_core {
        for c in (0..core.topo().cores() as usize).filter(|&c| c != core.id()) {
            let mut f = Vec::new();
            crate::proto::Request::Cluster {
                action: SLOT_KEYS,
                body: &[1],
            }
            .encode(0, &mut f);
            let reply = core.forward_internal(c, f).await.map_err(|_| {
                WireError::new(ErrorCode::Internal, format!("core {c} did not answer"))
            })?;
            let info = frame::check(&reply, usize::MAX)
                .ok()
                .flatten()
                .filter(|i| i.kind == frame::STATUS_OK)
                .ok_or_else(|| {
                    WireError::new(
                        ErrorCode::Internal,
                        format!("core {c} could not count its keys"),
                    )
                })?;
            let mut r = Reader::new(info.body(&reply));
            let e = |e: crate::proto::Error| e.to_wire();
            for _ in 0..r.count("slots", 10).map_err(e)? {
                let (s, n) = (r.u16("slot").map_err(e)?, r.u64("keys").map_err(e)?);
                *counts.entry(s).or_insert(0) += n;
            }
        }
    }
    Ok(counts)
}
