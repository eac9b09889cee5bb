//! The replica side of a partition stream (docs/replication.md): the core
//! owning a partition pulls the batches after its position and applies
//! them whole (each ends with its position record), or copies the
//! partition in full when the source's WAL no longer reaches back.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::host::Host;
use super::link::timed;
use super::node::{learn_epoch, learn_peers, pause};
use super::serve::{Chunk, Pulled};
use super::PeerError;
use super::StreamState;
use crate::client::{Client, ClientError};
use crate::codes::ErrorCode;
use crate::proto::Request;
use crate::shard::partition::xcommit::link_of;
use crate::shard::Partition;

/// Bytes of batches (or full-sync entries) asked for per request.
const PULL_BYTES: u32 = 4 << 20;
/// Wait between pulls that found nothing new.
const IDLE: Duration = Duration::from_millis(2);
/// Wait before reconnecting to an unreachable or refusing source.
const RETRY: Duration = Duration::from_millis(500);
/// How often a stream waiting for the rest of a commit across partitions
/// checks that it should still run.
const PARKED_CHECK: Duration = Duration::from_millis(100);
/// A request to the source that takes longer than this drops the connection.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn set_state<H: Host>(h: &H, p: u32, f: impl FnOnce(&mut StreamState)) {
    h.repl().update_stream(p, f);
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

async fn call<H: Host>(h: &H, client: &Client, req: &Request<'_>) -> Result<Vec<u8>, PullError> {
    let answer = std::pin::pin!(client.call(req));
    let stop = std::pin::pin!(h.shutdown().wait(false));
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
async fn pull_once<H: Host>(
    h: &H,
    part: &Rc<Partition>,
    client: &Client,
    follow: bool,
    live: &dyn Fn() -> bool,
) -> Result<bool, PullError> {
    let p = part.id();
    let rec = part.last_record();
    let req = Request::Pull {
        partition: p,
        term: rec.epoch.term,
        epoch_node: rec.epoch.node,
        index: rec.index,
        max_bytes: PULL_BYTES,
        node: h.node_id(),
        known_term: h.repl().epoch().term,
        addr: h.settings().advertise.as_bytes(),
    };
    let body = call(h, client, &req).await?;
    let u = Pulled::decode(&body).map_err(|e| PullError::Lost(format!("bad PULL reply: {e}")))?;
    if follow {
        let known = h.repl().epoch();
        if u.epoch.term < known.term {
            return Err(PullError::Refused(format!(
                "the source's epoch {} is older than {known} known here: it was superseded, follow the current primary",
                u.epoch
            )));
        }
        learn_epoch(h, u.epoch).await;
        learn_peers(h, u.peers, true).await;
    }
    // Tailing from the first answer on: before it, the lag is unknown.
    set_state(h, p, |s| {
        s.primary_latest = u.latest;
        s.state = "tailing".into();
    });
    if u.batches.is_empty() {
        return Ok(false);
    }
    // Writes this node absorbed as a primary must not shadow the batches
    // applied below.
    crate::drain::settle(part).await;
    let mut batches = u.batches;
    // A batch carrying a commit across partitions is applied with the rest
    // of its commit (the batches after it are pulled again).
    let mut linked = None;
    for (i, b) in batches.iter().enumerate() {
        let link = link_of(b).map_err(|e| PullError::Fatal(format!("a replicated batch: {e}")))?;
        if let Some(link) = link {
            linked = Some((i, link));
            break;
        }
    }
    let joined = linked.map(|(i, link)| (batches.drain(i..).next(), link));
    if !batches.is_empty() {
        apply_batches(part, batches)
            .await
            .map_err(PullError::Fatal)?;
    }
    if let Some((Some(batch), link)) = joined {
        let joined = std::pin::pin!(h.join_commit(part, batch, link));
        wait_joined(h, joined, live).await?;
    }
    // Readers blocked on this core (XREAD BLOCK on a replica) look again.
    h.replicated();
    let now = part.last_record();
    set_state(h, p, |s| {
        s.position = now;
        if s.primary_latest.index < now.index {
            s.primary_latest = now;
        }
    });
    Ok(true)
}

/// Applies replicated batches in order (blocking pool), each whole.
pub async fn apply_batches(part: &Partition, batches: Vec<Vec<u8>>) -> Result<(), String> {
    let done = glommio::executor()
        .spawn_blocking(part.apply_fn(batches))
        .await
        .map_err(|e| format!("applying replicated writes failed: {e}"))?;
    part.applied(done);
    Ok(())
}

/// Waits until a batch handed over with its commit is applied, or the
/// stream should stop (a role change, shutdown).
async fn wait_joined<H: Host>(
    h: &H,
    mut joined: std::pin::Pin<&mut impl std::future::Future<Output = Result<(), String>>>,
    live: &dyn Fn() -> bool,
) -> Result<(), PullError> {
    loop {
        let tick = std::pin::pin!(pause(h, PARKED_CHECK));
        match futures::future::select(joined.as_mut(), tick).await {
            futures::future::Either::Left((r, _)) => return r.map_err(PullError::Fatal),
            futures::future::Either::Right((alive, _)) if !alive || !live() => {
                return Err(PullError::Lost(
                    "stopped while a commit across partitions waited for its other partitions"
                        .into(),
                ))
            }
            futures::future::Either::Right(_) => {}
        }
    }
}

/// Copies the source's checkpoint of the partition in full, then records
/// its position: tailing resumes from there.
async fn full_sync<H: Host>(h: &H, part: &Rc<Partition>, client: &Client) -> Result<(), PullError> {
    let p = part.id();
    set_state(h, p, |s| s.state = "full-sync".into());
    tracing::warn!(partition = p, "full sync: copying the partition in full");
    crate::drain::settle(part).await;
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
        let body = call(h, client, &req).await?;
        let Chunk {
            session: next,
            record,
            done,
            entries,
        } = Chunk::decode(&body).map_err(|e| PullError::Lost(format!("bad SYNC reply: {e}")))?;
        session = next;
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
            set_state(h, p, |s| {
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
pub async fn follow<H: Host>(h: Rc<H>, part: Rc<Partition>, primary: SocketAddr, gen: u64) {
    h.repl()
        .as_follower(follow_loop(&*h, &part, primary, gen))
        .await;
}

async fn follow_loop<H: Host>(h: &H, part: &Rc<Partition>, primary: SocketAddr, gen: u64) {
    let p = part.id();
    let live = || h.repl().follow_generation() == gen && !h.shutdown().is_set();
    set_state(h, p, |s| {
        s.position = part.last_record();
        s.state = "connecting".into();
    });
    tracing::info!(partition = p, position = %part.last_record().position(), "following {primary}");
    let mut last_refusal = String::new();
    while live() {
        let client = match Client::connect_partition(primary, p).await {
            Ok(c) => c,
            Err(e) => {
                // A refusal of this node's credentials or certificates is
                // logged once (a plain connect failure only shows in the
                // state).
                let text = e.to_string();
                let settings = match e.code() {
                    Some(_) => Some("replica-user, replica-pass-file"),
                    None if text.contains("TLS handshake") => {
                        Some("tls-ca-cert-file, tls-cert-file, tls-replication")
                    }
                    None => None,
                };
                if let Some(settings) = settings.filter(|_| text != last_refusal) {
                    tracing::warn!(
                        partition = p,
                        "{primary} refused this replica: {text} ({settings})"
                    );
                    last_refusal = text;
                }
                set_state(h, p, |s| s.state = format!("connecting: {e}"));
                if !pause(h, RETRY).await {
                    return;
                }
                continue;
            }
        };
        set_state(h, p, |s| s.state = "connected".into());
        let mut outcome = if part.syncing() {
            full_sync(h, part, &client).await.map(|_| true)
        } else {
            Ok(true)
        };
        while live() {
            match outcome {
                Ok(true) => {}
                Ok(false) => {
                    if !pause(h, IDLE).await {
                        return;
                    }
                }
                Err(PullError::SyncNeeded(why)) => {
                    tracing::warn!(partition = p, "{primary}: {why}");
                    outcome = full_sync(h, part, &client).await.map(|_| true);
                    continue;
                }
                Err(PullError::Refused(why)) | Err(PullError::Lost(why)) => {
                    tracing::warn!(partition = p, "replication from {primary}: {why}");
                    set_state(h, p, |s| s.state = format!("connecting: {why}"));
                    break;
                }
                Err(PullError::Fatal(why)) => {
                    tracing::error!(partition = p, "replication stopped: {why}");
                    set_state(h, p, |s| s.state = format!("stopped: {why}"));
                    return;
                }
            }
            if !live() {
                return;
            }
            outcome = pull_once(h, part, &client, true, &live).await;
        }
        if !pause(h, RETRY).await {
            return;
        }
    }
}

/// Promotion: pulls from a peer until the partition reaches `target`.
pub async fn catch_up<H: Host>(
    h: &H,
    part: &Rc<Partition>,
    peer: &str,
    target: u64,
) -> Result<(), PeerError> {
    let addr: SocketAddr = peer
        .parse()
        .map_err(|_| PeerError::BadAddress(peer.into()))?;
    let client = Client::connect_partition(addr, part.id()).await?;
    if part.syncing() {
        full_sync(h, part, &client).await?;
    }
    while part.last_record().index < target {
        match pull_once(h, part, &client, false, &|| true).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(PeerError::NothingAfter {
                    peer: peer.into(),
                    have: part.last_record().index,
                    target,
                })
            }
            Err(PullError::SyncNeeded(_)) => full_sync(h, part, &client).await?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
