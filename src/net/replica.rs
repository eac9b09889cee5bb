//! The replica side of a partition stream (docs/replication.md): the core
//! owning a partition pulls the batches after its position and applies
//! them whole (each ends with its position record), or copies the
//! partition in full when the source's WAL no longer reaches back.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::core::Core;
use super::repl_serve::Pulled;
use super::PeerError;
use crate::client::{Client, ClientError};
use crate::codes::ErrorCode;
use crate::proto::codec::Reader;
use crate::proto::Request;
use crate::repl::link::timed;
use crate::repl::position::Record;
use crate::repl::StreamState;
use crate::shard::Partition;

/// Bytes of batches (or full-sync entries) asked for per request.
const PULL_BYTES: u32 = 4 << 20;
/// Wait between pulls that found nothing new.
const IDLE: Duration = Duration::from_millis(2);
/// Wait before reconnecting to an unreachable or refusing source.
const RETRY: Duration = Duration::from_millis(500);
/// A request to the source that takes longer than this drops the connection.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn set_state(core: &Core, p: u32, f: impl FnOnce(&mut StreamState)) {
    core.repl().update_stream(p, f);
}

/// Why a pull did not apply anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    /// The source cannot serve our position: copy in full.
    #[error("{0}")]
    SyncNeeded(String),
    /// The source refused (stale epoch, not a replication source, ...).
    #[error("{0}")]
    Refused(String),
    /// The connection failed.
    #[error("{0}")]
    Lost(String),
    /// Applying failed here: the stream stops.
    #[error("{0}")]
    Fatal(String),
}

async fn call(core: &Core, client: &Client, req: &Request<'_>) -> Result<Vec<u8>, PullError> {
    let answer = std::pin::pin!(client.call(req));
    let stop = std::pin::pin!(core.shutdown().wait(false));
    let r = match timed(CALL_TIMEOUT, futures::future::select(answer, stop)).await {
        None => return Err(PullError::Lost("no answer in time".into())),
        Some(futures::future::Either::Right(_)) => {
            return Err(PullError::Lost("shutting down".into()))
        }
        Some(futures::future::Either::Left((r, _))) => r,
    };
    match r {
        Ok(b) => Ok(b),
        Err(ClientError::Server(e)) if e.code == ErrorCode::SyncNeeded => {
            Err(PullError::SyncNeeded(e.message))
        }
        Err(ClientError::Server(e)) => Err(PullError::Refused(e.message)),
        Err(e) => Err(PullError::Lost(e.to_string())),
    }
}

/// One pull: applies what the source has after our position. Returns
/// whether anything was applied. With `follow`, the source's epoch is
/// checked (a lower one than ours is refused) and learned, and its peers too.
async fn pull_once(
    core: &Core,
    part: &Partition,
    client: &Client,
    follow: bool,
) -> Result<bool, PullError> {
    let p = part.id();
    let rec = part.last_record();
    let req = Request::Pull {
        partition: p,
        term: rec.epoch.term,
        epoch_node: rec.epoch.node,
        index: rec.index,
        max_bytes: PULL_BYTES,
        node: core.node_id(),
        known_term: core.repl().epoch().term,
        addr: core.config().advertise.as_bytes(),
    };
    let body = call(core, client, &req).await?;
    let u = Pulled::decode(&body).map_err(|e| PullError::Lost(format!("bad PULL reply: {e}")))?;
    if follow {
        let known = core.repl().epoch();
        if u.epoch.term < known.term {
            return Err(PullError::Refused(format!(
                "the source's epoch {} is older than {known} known here: it was superseded, follow the current primary",
                u.epoch
            )));
        }
        core.learn_epoch(u.epoch).await;
        core.learn_peers(u.peers, true).await;
    }
    set_state(core, p, |s| s.primary_latest = u.latest);
    if u.batches.is_empty() {
        return Ok(false);
    }
    let done = glommio::executor()
        .spawn_blocking(part.apply_fn(u.batches))
        .await
        .map_err(|e| PullError::Fatal(format!("applying replicated writes failed: {e}")))?;
    part.applied(done);
    let now = part.last_record();
    set_state(core, p, |s| {
        s.position = now;
        if s.primary_latest.index < now.index {
            s.primary_latest = now;
        }
    });
    Ok(true)
}

/// Copies the source's checkpoint of the partition in full, then records
/// its position: tailing resumes from there.
async fn full_sync(core: &Core, part: &Partition, client: &Client) -> Result<(), PullError> {
    let p = part.id();
    set_state(core, p, |s| s.state = "full-sync".into());
    tracing::warn!(partition = p, "full sync: copying the partition in full");
    glommio::executor()
        .spawn_blocking(part.begin_full_sync_fn())
        .await
        .map_err(|e| PullError::Fatal(format!("cannot start a full sync: {e}")))?;
    let mut session = 0;
    let mut after: (u8, Vec<u8>) = (255, Vec::new());
    loop {
        let req = Request::Sync {
            partition: p,
            session,
            cf: after.0,
            after: &after.1,
            max_bytes: PULL_BYTES,
        };
        let body = call(core, client, &req).await?;
        let bad = |e: crate::proto::Error| PullError::Lost(format!("bad SYNC reply: {e}"));
        let mut r = Reader::new(&body);
        session = r.u64("session").map_err(bad)?;
        let record = Record::decode(r.bytes("record").map_err(bad)?)
            .ok_or_else(|| PullError::Lost("bad SYNC record".into()))?;
        let done = r.u8("done").map_err(bad)? != 0;
        let n = r.count("entries", 9).map_err(bad)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let cf = r.u8("cf").map_err(bad)?;
            let k = r.bytes("key").map_err(bad)?.to_vec();
            let v = r.bytes("value").map_err(bad)?.to_vec();
            entries.push((cf, k, v));
        }
        r.end().map_err(bad)?;
        if let Some((cf, k, _)) = entries.last() {
            after = (*cf, k.clone());
        }
        glommio::executor()
            .spawn_blocking(part.write_chunk_fn(entries))
            .await
            .map_err(|e| PullError::Fatal(format!("full sync write failed: {e}")))?;
        if done {
            let seq = glommio::executor()
                .spawn_blocking(part.finish_full_sync_fn(record))
                .await
                .map_err(|e| PullError::Fatal(format!("full sync write failed: {e}")))?;
            part.synced(record, seq);
            set_state(core, p, |s| {
                s.position = record;
                s.full_syncs += 1;
                s.state = "tailing".into();
            });
            tracing::info!(partition = p, "full sync done at {}", record.position());
            return Ok(());
        }
    }
}

/// Follows partition `part` of `primary` until the core stops or the
/// follower generation moves past `gen` (a role change).
pub async fn follow(core: Rc<Core>, part: Rc<Partition>, primary: SocketAddr, gen: u64) {
    core.repl()
        .as_follower(follow_loop(&core, &part, primary, gen))
        .await;
}

async fn follow_loop(core: &Core, part: &Partition, primary: SocketAddr, gen: u64) {
    let p = part.id();
    let live = || core.repl().follow_generation() == gen && !core.shutdown().is_set();
    set_state(core, p, |s| {
        s.position = part.last_record();
        s.state = "connecting".into();
    });
    tracing::info!(partition = p, position = %part.last_record().position(), "following {primary}");
    while live() {
        let client = match Client::connect_partition(primary, p).await {
            Ok(c) => c,
            Err(e) => {
                set_state(core, p, |s| s.state = format!("connecting: {e}"));
                if !core.pause(RETRY).await {
                    return;
                }
                continue;
            }
        };
        set_state(core, p, |s| s.state = "tailing".into());
        let mut outcome = if part.syncing() {
            full_sync(core, part, &client).await.map(|_| true)
        } else {
            Ok(true)
        };
        while live() {
            match outcome {
                Ok(true) => {}
                Ok(false) => {
                    if !core.pause(IDLE).await {
                        return;
                    }
                }
                Err(PullError::SyncNeeded(why)) => {
                    tracing::warn!(partition = p, "{primary}: {why}");
                    outcome = full_sync(core, part, &client).await.map(|_| true);
                    continue;
                }
                Err(PullError::Refused(why)) | Err(PullError::Lost(why)) => {
                    tracing::warn!(partition = p, "replication from {primary}: {why}");
                    set_state(core, p, |s| s.state = format!("connecting: {why}"));
                    break;
                }
                Err(PullError::Fatal(why)) => {
                    tracing::error!(partition = p, "replication stopped: {why}");
                    set_state(core, p, |s| s.state = format!("stopped: {why}"));
                    return;
                }
            }
            if !live() {
                return;
            }
            outcome = pull_once(core, part, &client, true).await;
        }
        if !core.pause(RETRY).await {
            return;
        }
    }
}

/// Promotion: pulls from a peer until the partition reaches `target`.
pub async fn catch_up(
    core: &Rc<Core>,
    part: &Partition,
    peer: &str,
    target: u64,
) -> Result<(), PeerError> {
    let addr: SocketAddr = peer
        .parse()
        .map_err(|_| PeerError::BadAddress(peer.into()))?;
    let client = Client::connect_partition(addr, part.id()).await?;
    if part.syncing() {
        full_sync(core, part, &client).await?;
    }
    while part.last_record().index < target {
        match pull_once(core, part, &client, false).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(PeerError::NothingAfter {
                    peer: peer.into(),
                    have: part.last_record().index,
                    target,
                })
            }
            Err(PullError::SyncNeeded(_)) => full_sync(core, part, &client).await?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
