//! The serving side of replication (docs/replication.md): PULL answers a
//! replica's request for the write batches after its position (long-polled),
//! SYNC copies a checkpoint of a partition to a replica in chunks.

use super::host::Host;
use super::link::{apply_arg, timed, LONG_POLL, SYNC_IDLE};
use super::node::{broadcast, learn_peers};
use super::position::{Epoch, Record};
use crate::codes::{ErrorCode, WireError};
use crate::errors::store_error as wire;
use crate::proto::codec::{put_bytes, put_u32, put_u64, Reader};
use crate::proto::{frame, Request};
use crate::shard::clock::now_ms;
use std::rc::Rc;
use std::time::Instant;

fn bad(msg: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, msg)
}

/// PULL: the batches after the replica's position.
pub async fn pull<H: Host>(
    h: &H,
    req: &Request<'_>,
    id: u32,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let &Request::Pull {
        partition,
        term,
        epoch_node,
        index,
        max_bytes,
        node,
        known_term,
        addr,
    } = req
    else {
        return Err(bad("not a PULL"));
    };
    let asked = Epoch {
        term,
        node: epoch_node,
    };
    let part = h
        .partition(partition)
        .ok_or_else(|| {
            bad(format!(
                "partition {} is not on core {}",
                partition,
                h.core_id()
            ))
        })?
        .clone();
    let mine = h.repl().epoch();
    if known_term > mine.term && h.repl().is_primary() {
        let why = format!(
            "a replica knows epoch term {}, above this node's {mine}: another node was promoted",
            known_term
        );
        tracing::warn!("fencing: {why}");
        let me = h.rc();
        glommio::spawn_local(async move {
            let _ = broadcast(&*me, apply_arg(b'F', why.as_bytes())).await;
        })
        .detach();
        return Err(WireError::new(
            ErrorCode::ReadOnly,
            format!(
                "this node's epoch {mine} is older than the replica's term {}",
                known_term
            ),
        ));
    }
    h.repl().replica_reached(partition, node, index);
    let addr = String::from_utf8_lossy(addr).into_owned();
    if !addr.is_empty() && h.repl().note_replica(node, &addr) {
        let mut list = h.repl().peers();
        list.push(addr.clone());
        learn_peers(h, list, false).await;
    }
    part.note_pull();
    let max = (max_bytes as usize).clamp(1, h.settings().max_frame_bytes / 2);
    // A caught-up replica's pull waits (a little) for the next commit,
    // so it gets new batches at once instead of polling.
    let mut seen = h.repl().log_mark();
    let deadline = Instant::now() + LONG_POLL;
    let (latest, batches) = loop {
        match part.tail_updates(asked, index, max) {
            Some((latest, b)) if b.is_empty() && !h.shutdown().is_set() => {
                let now = Instant::now();
                if now >= deadline {
                    break (latest, b);
                }
                let next = std::pin::pin!(h.repl().log_past(seen));
                let stop = std::pin::pin!(h.shutdown().wait(false));
                let _ = timed(deadline - now, futures::future::select(next, stop)).await;
                seen = h.repl().log_mark();
            }
            Some(found) => break found,
            None => break wal_batches(&part, asked, index, max).await?,
        }
    };
    let others = h.repl().replicas_but(&addr);
    let epoch = h.repl().epoch();
    let start = frame::begin(out, id, frame::STATUS_OK, 0);
    put_u64(out, epoch.term);
    put_u64(out, epoch.node);
    put_bytes(out, &latest.encode());
    put_u64(out, now_ms());
    put_u32(out, others.len() as u32);
    for o in &others {
        put_bytes(out, o.as_bytes());
    }
    put_u32(out, batches.len() as u32);
    for b in &batches {
        put_bytes(out, b);
    }
    frame::finish(out, start);
    Ok(())
}

/// The batches after `(asked, index)` read from the partition's WAL (on
/// the blocking pool), when its memory tail no longer holds them: PULL's
/// and a migration's catch-up's second source.
pub async fn wal_batches(
    part: &crate::shard::Partition,
    asked: Epoch,
    index: u64,
    max: usize,
) -> Result<(Record, Vec<Rc<[u8]>>), WireError> {
    let read = part.updates_fn(asked, index, max).map_err(wire)?;
    let u = glommio::executor()
        .spawn_blocking(read)
        .await
        .map_err(wire)?;
    Ok((u.latest, u.batches.into_iter().map(Rc::from).collect()))
}

/// SYNC: the next chunk of a partition's checkpoint.
pub async fn sync<H: Host>(
    h: &H,
    req: &Request<'_>,
    id: u32,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let &Request::Sync {
        partition,
        session,
        cf,
        after,
        max_bytes,
    } = req
    else {
        return Err(bad("not a SYNC"));
    };
    let part = h
        .partition(partition)
        .ok_or_else(|| {
            bad(format!(
                "partition {partition} is not on core {}",
                h.core_id()
            ))
        })?
        .clone();
    let (session, src) = checkpoint_session(
        h,
        &part,
        session,
        |n| format!("partition{partition}-{n}"),
        || {
            WireError::new(
                ErrorCode::SyncNeeded,
                format!("full-sync session {session} is gone (idle too long, or the node restarted); start again"),
            )
        },
    )
    .await?;
    let after = (cf != 255).then(|| (cf, after.to_vec()));
    let max = (max_bytes as usize).clamp(1, h.settings().max_frame_bytes / 2);
    let (entries, done) = glommio::executor()
        .spawn_blocking(src.chunk_fn(None, after, max))
        .await
        .map_err(wire)?;
    put_chunk(h, out, id, session, src, &entries, done);
    Ok(())
}

/// Checkpoint session `session` of `part` (a replica's full sync, a slot
/// migration's copy), or a new one (`session` 0) in the data directory's
/// `sync/<name(n)>-<ms>`, after dropping idle sessions. `gone`: the error
/// for a session that no longer exists.
pub async fn checkpoint_session<H: Host>(
    h: &H,
    part: &crate::shard::Partition,
    session: u64,
    name: impl FnOnce(u64) -> String,
    gone: impl FnOnce() -> WireError,
) -> Result<(u64, Rc<crate::shard::partition::repl_log::SyncSource>), WireError> {
    for k in h.repl().idle_syncs(SYNC_IDLE) {
        end_sync(h, k);
    }
    if session != 0 {
        let src = h.repl().use_sync(session).ok_or_else(gone)?;
        return Ok((session, src));
    }
    let n = h.repl().next_sync_id();
    let dir = h
        .settings()
        .data_dir
        .join("sync")
        .join(format!("{}-{}", name(n), now_ms()));
    let src = glommio::executor()
        .spawn_blocking(part.sync_source_fn(dir))
        .await
        .map_err(wire)?;
    let src = Rc::new(src);
    tracing::info!(
        partition = part.id(),
        session = n,
        "checkpoint session started at {}",
        src.record.position()
    );
    h.repl().open_sync(n, src.clone());
    Ok((n, src))
}

/// Answers one chunk of a checkpoint session (SYNC's answer, and a slot
/// migration's copy): `u64` session, `bytes` record, `u8` done, `u32` n,
/// n × (`u8` cf, `bytes` key, `bytes` value). The last chunk ends the
/// session.
pub fn put_chunk<H: Host>(
    h: &H,
    out: &mut Vec<u8>,
    id: u32,
    session: u64,
    src: Rc<crate::shard::partition::repl_log::SyncSource>,
    entries: &[crate::shard::partition::repl_log::Entry],
    done: bool,
) {
    let record = src.record;
    drop(src);
    if done {
        end_sync(h, session);
    }
    let start = frame::begin(out, id, frame::STATUS_OK, 0);
    put_u64(out, session);
    put_bytes(out, &record.encode());
    out.push(done as u8);
    put_u32(out, entries.len() as u32);
    for (cf, k, v) in entries {
        out.push(*cf);
        put_bytes(out, k);
        put_bytes(out, v);
    }
    frame::finish(out, start);
}

/// Drops a full-sync session (closing and deleting its checkpoint off
/// the reactor).
fn end_sync<H: Host>(h: &H, session: u64) {
    if let Some(src) = h.repl().close_sync(session) {
        if let Ok(src) = Rc::try_unwrap(src) {
            glommio::spawn_local(glommio::executor().spawn_blocking(move || drop(src))).detach();
        }
    }
}

/// Decodes one chunk of a checkpoint session (the layout `put_chunk`
/// writes): a replica's full sync and a slot migration's copy read it.
pub struct Chunk {
    pub session: u64,
    pub record: Record,
    pub done: bool,
    /// (column family, key, value), in the source's order.
    pub entries: Vec<(u8, Vec<u8>, Vec<u8>)>,
}

impl Chunk {
    pub fn decode(body: &[u8]) -> Result<Chunk, crate::proto::Error> {
        let mut r = Reader::new(body);
        let session = r.u64("session")?;
        let record = Record::decode(r.bytes("record")?)
            .ok_or_else(|| crate::proto::Error::BadArguments("bad position record".into()))?;
        let done = r.u8("done")? != 0;
        let n = r.count("entries", 9)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let cf = r.u8("cf")?;
            let key = r.bytes("key")?.to_vec();
            let value = r.bytes("value")?.to_vec();
            entries.push((cf, key, value));
        }
        r.end()?;
        Ok(Chunk {
            session,
            record,
            done,
            entries,
        })
    }
}

/// Decodes a PULL reply.
pub struct Pulled {
    pub epoch: Epoch,
    pub latest: Record,
    pub peers: Vec<String>,
    pub batches: Vec<Vec<u8>>,
}

impl Pulled {
    pub fn decode(body: &[u8]) -> Result<Pulled, crate::proto::Error> {
        let mut r = Reader::new(body);
        let epoch = Epoch {
            term: r.u64("term")?,
            node: r.u64("node")?,
        };
        let latest = Record::decode(r.bytes("latest")?)
            .ok_or_else(|| crate::proto::Error::BadArguments("bad position record".into()))?;
        let _now = r.u64("now")?;
        let n = r.count("peers", 4)?;
        let mut peers = Vec::with_capacity(n);
        for _ in 0..n {
            peers.push(String::from_utf8_lossy(r.bytes("peer")?).into_owned());
        }
        let n = r.count("batches", 4)?;
        let mut batches = Vec::with_capacity(n);
        for _ in 0..n {
            batches.push(r.bytes("batch")?.to_vec());
        }
        r.end()?;
        Ok(Pulled {
            epoch,
            latest,
            peers,
            batches,
        })
    }
}
