//! The node's side of replication that every part shares: its persisted
//! state (epoch, role, peers; `<data-dir>/replication`), learning a newer
//! epoch or more peers, role changes sent to every core, and pauses that
//! end at shutdown.

use std::time::Duration;

use super::host::Host;
use super::link::timed;
use super::position::Epoch;
use super::state::NodeState;
use super::PeerError;
use crate::codes::{ErrorCode, WireError};
use crate::proto::{frame, Request};

/// ROLE actions.
pub const STATUS: u8 = 0;
pub const REPLICAOF: u8 = 1;
pub const PROMOTE: u8 = 2;
pub const APPLY: u8 = 3;

/// Sleeps, or returns `false` at once when the core is shutting down.
pub async fn pause<H: Host>(h: &H, d: Duration) -> bool {
    let stop = std::pin::pin!(h.shutdown().wait(false));
    timed(d, stop).await.is_none()
}

/// Applies `f` to the persisted state (blocking pool) and saves it when
/// `f` says it changed.
pub async fn update_state<H: Host>(
    h: &H,
    f: impl FnOnce(&mut NodeState) -> bool + Send + 'static,
) -> Result<NodeState, PeerError> {
    let state = h.settings().state.clone();
    let dir = h.settings().data_dir.to_path_buf();
    glommio::executor()
        .spawn_blocking(move || {
            let mut s = state.lock().map_err(|_| PeerError::StatePoisoned)?;
            if f(&mut s) {
                s.save(&dir)?;
            }
            Ok(s.clone())
        })
        .await
}

/// Learns a higher epoch (persisted; never goes down).
pub async fn learn_epoch<H: Host>(h: &H, e: Epoch) {
    if e <= h.repl().epoch() {
        return;
    }
    h.repl().set_epoch(e);
    if let Err(err) = update_state(h, move |s| {
        let up = e > s.epoch;
        s.epoch = s.epoch.max(e);
        up
    })
    .await
    {
        tracing::error!("cannot persist epoch {e}: {err}");
    }
}

/// Remembers peers (persisted when the list changes). A replica takes
/// its primary's current list (`replace`); a primary adds replicas.
pub async fn learn_peers<H: Host>(h: &H, mut list: Vec<String>, replace: bool) {
    list.retain(|p| !p.is_empty() && *p != h.settings().advertise);
    list.sort();
    list.dedup();
    if !h.repl().set_peers(list.clone()) {
        return;
    }
    if let Err(e) = update_state(h, move |s| {
        let mut all = if replace { Vec::new() } else { s.peers.clone() };
        all.extend(list);
        all.sort();
        all.dedup();
        let up = all != s.peers;
        s.peers = all;
        up
    })
    .await
    {
        tracing::error!("cannot persist replication peers: {e}");
    }
}

/// Sends ROLE action 3 to every core (this one included) and returns
/// their answers.
pub async fn broadcast<H: Host>(h: &H, arg: Vec<u8>) -> Result<Vec<String>, WireError> {
    let mut frame_bytes = Vec::new();
    Request::Role {
        action: APPLY,
        arg: &arg,
    }
    .encode(0, &mut frame_bytes);
    let rxs: Vec<_> = (0..h.settings().topo.cores() as usize)
        .map(|c| h.to_core(c, frame_bytes.clone()))
        .collect();
    let mut texts = Vec::new();
    let mut first_err = None;
    for rx in rxs {
        let reply = rx
            .await
            .map_err(|_| WireError::new(ErrorCode::Internal, "a core did not answer"))?;
        let info = frame::check(&reply, usize::MAX)
            .ok()
            .flatten()
            .ok_or_else(|| WireError::new(ErrorCode::Internal, "bad reply from core"))?;
        let body = info.body(&reply);
        if info.kind == frame::STATUS_OK {
            texts.push(String::from_utf8_lossy(body).into_owned());
        } else if first_err.is_none() {
            first_err = Some(crate::proto::decode_error(body));
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(texts),
    }
}
