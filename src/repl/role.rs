//! Replication roles (docs/replication.md; serving PULL and SYNC is in
//! `serve.rs`, following a primary in `follow.rs`):
//! `replicaof`, promotion with catch-up from the most advanced peer, and
//! fencing of a restarted former primary.
//!
//! A role change is decided on the core that received it, persisted in
//! `<data-dir>/replication`, then applied by every core (ROLE action 3 over
//! the mesh), each for its own partitions.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::host::Host;
use super::link::{apply_arg, timed};
use super::node::{broadcast, learn_epoch, pause, update_state, APPLY, PROMOTE, REPLICAOF, STATUS};
use super::position::Epoch;
use super::state::Role;
use super::{CoreRole, PeerError};
use crate::codes::{ErrorCode, WireError};
use crate::proto::codec::{put_bytes, put_u32, put_u64, Reader};
use crate::proto::Request;

/// How long a peer may take to answer a status query.
const PEER_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a fenced former primary asks its peers for their epoch.
const CONFIRM_EVERY: Duration = Duration::from_millis(300);

/// What a peer said about itself (ROLE status).
#[derive(Debug, Default)]
pub struct PeerStatus {
    pub epoch: Epoch,
    pub primary: bool,
    /// partition → its last record's (epoch, index).
    pub positions: Vec<(u32, Epoch, u64)>,
}

fn bad(msg: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, msg)
}

fn parse_epoch(s: &str) -> Option<Epoch> {
    let (t, n) = s.split_once(':')?;
    Some(Epoch {
        term: t.parse().ok()?,
        node: u64::from_str_radix(n, 16).ok()?,
    })
}

/// Parses the text of ROLE status (every core's lines, INFO header first).
pub fn parse_status(text: &str) -> PeerStatus {
    let mut st = PeerStatus::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k == "epoch" {
            if let Some(e) = parse_epoch(v) {
                st.epoch = st.epoch.max(e);
            }
        } else if k == "role" {
            st.primary |= v == "primary";
        } else if let Some(p) = k.strip_prefix("partition").and_then(|p| p.parse().ok()) {
            if let Some((e, i)) = v.rsplit_once(':') {
                if let (Some(e), Ok(i)) = (parse_epoch(e), i.parse()) {
                    st.positions.push((p, e, i));
                }
            }
        }
    }
    st
}

/// Asks a node for its role, epoch and positions.
pub async fn query_status(addr: &str) -> Result<PeerStatus, PeerError> {
    let sa: SocketAddr = addr
        .parse()
        .map_err(|_| PeerError::BadAddress(addr.into()))?;
    let ask = async {
        let c = crate::client::Client::connect_direct(sa).await?;
        let body = c
            .call(&Request::Role {
                action: STATUS,
                arg: b"",
            })
            .await?;
        Ok(parse_status(&String::from_utf8_lossy(&body)))
    };
    timed(PEER_TIMEOUT, ask)
        .await
        .unwrap_or(Err(PeerError::Timeout))
}

/// ROLE.
pub async fn request<H: Host>(h: &H, action: u8, arg: &[u8]) -> Result<String, WireError> {
    match action {
        STATUS => Ok(status_text(h)),
        REPLICAOF => {
            let a = std::str::from_utf8(arg)
                .map_err(|_| bad("replicaof needs HOST:PORT"))?
                .trim()
                .to_string();
            if a.eq_ignore_ascii_case("no one") {
                return promote(h, false).await;
            }
            replicaof(h, &a).await
        }
        PROMOTE => promote(h, arg == b"force").await,
        APPLY => apply_role(h, arg).await,
        n => Err(bad(format!("unknown ROLE action {n}"))),
    }
}

/// This core's lines of ROLE status.
fn status_text<H: Host>(h: &H) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let role = match &h.repl().role() {
        CoreRole::Primary => "primary".to_string(),
        CoreRole::Replica(p) => format!("replica {p}"),
        CoreRole::Fenced(_) => "fenced".to_string(),
    };
    let _ = writeln!(s, "role:{role}");
    let _ = writeln!(s, "epoch:{}", h.repl().epoch());
    let _ = writeln!(s, "peers:{}", h.repl().peers().join(","));
    for p in h.local() {
        let _ = writeln!(s, "partition{}:{}", p.id(), p.last_record().position());
    }
    s
}

/// `replicaof HOST:PORT`: follow another node from now on.
async fn replicaof<H: Host>(h: &H, addr: &str) -> Result<String, WireError> {
    if h.settings().durability == crate::shard::Durability::None {
        return Err(bad(
            "replicaof needs a WAL: durability none (cache mode) cannot replicate",
        ));
    }
    let target = addr.to_string();
    let ours = h.settings().topo.clone();
    let (sa, hello) = glommio::executor()
        .spawn_blocking(move || {
            use std::net::ToSocketAddrs;
            let sa = target
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| bad(format!("{target:?} is not HOST:PORT")))?;
            let hello = super::primary_hello(sa).map_err(|e| bad(e.to_string()))?;
            super::check_layout(&hello, sa, &ours).map_err(|e| bad(e.to_string()))?;
            Ok::<_, WireError>((sa, hello))
        })
        .await?;
    if hello.node_id == h.node_id() {
        return Err(bad(format!("{addr} is this node")));
    }
    let canonical = sa.to_string();
    let saved = canonical.clone();
    update_state(h, move |s| {
        s.role = Role::Replica(saved);
        true
    })
    .await
    .map_err(|e| WireError::new(ErrorCode::Storage, e.to_string()))?;
    broadcast(h, apply_arg(b'R', canonical.as_bytes())).await?;
    tracing::info!("now a replica of {canonical}");
    Ok(format!("following {canonical}\n"))
}

/// `promote`: take writes with a new epoch, after catching up from the
/// most advanced peer.
async fn promote<H: Host>(h: &H, force: bool) -> Result<String, WireError> {
    if h.repl().is_primary() {
        return Err(bad(format!(
            "this node is already a primary (epoch {})",
            h.repl().epoch()
        )));
    }
    let peers = h.repl().peers();
    let mut statuses = Vec::new();
    let mut unreachable = Vec::new();
    for p in &peers {
        match query_status(p).await {
            Ok(s) => statuses.push((p.clone(), s)),
            Err(e) => unreachable.push(format!("{p} ({e})")),
        }
    }
    if !unreachable.is_empty() {
        if !force {
            return Err(WireError::new(
                ErrorCode::NoReplicas,
                format!(
                    "cannot reach {}: they may hold acknowledged writes this node lacks, so promotion is refused (tessera cli promote --force promotes anyway and may lose them)",
                    unreachable.join(", ")
                ),
            ));
        }
        tracing::warn!(
            "forced promotion without {}: writes only they hold are lost",
            unreachable.join(", ")
        );
    }
    let peer_term = statuses
        .iter()
        .map(|(_, s)| s.epoch.term)
        .max()
        .unwrap_or(0);
    let node = h.node_id();
    let local_term = h.repl().epoch().term;
    // The epoch is persisted first; the role only once every partition
    // caught up (a crash in between restarts this node as a replica
    // that knows the new term, and `promote` can be run again).
    let st = update_state(h, move |s| {
        s.epoch = Epoch {
            term: s.epoch.term.max(peer_term).max(local_term) + 1,
            node,
        };
        true
    })
    .await
    .map_err(|e| WireError::new(ErrorCode::Storage, e.to_string()))?;
    let epoch = st.epoch;
    tracing::info!("promoting to epoch {epoch}");
    let mut arg = vec![b'P'];
    put_u64(&mut arg, epoch.term);
    put_u64(&mut arg, epoch.node);
    let n: usize = statuses.iter().map(|(_, s)| s.positions.len()).sum();
    put_u32(&mut arg, n as u32);
    for (addr, s) in &statuses {
        for (p, e, i) in &s.positions {
            put_u32(&mut arg, *p);
            put_bytes(&mut arg, addr.as_bytes());
            put_u64(&mut arg, e.term);
            put_u64(&mut arg, e.node);
            put_u64(&mut arg, *i);
        }
    }
    let texts = broadcast(h, arg).await?;
    update_state(h, |s| {
        s.role = Role::Primary;
        true
    })
    .await
    .map_err(|e| WireError::new(ErrorCode::Storage, e.to_string()))?;
    Ok(format!("promoted: epoch {epoch}\n{}", texts.concat()))
}

/// This core's part of a role change (ROLE action 3).
async fn apply_role<H: Host>(h: &H, arg: &[u8]) -> Result<String, WireError> {
    let (&kind, rest) = arg.split_first().ok_or_else(|| bad("empty role change"))?;
    let epoch_of = |r: &mut Reader<'_>| -> Result<Epoch, WireError> {
        Ok(Epoch {
            term: r.u64("term").map_err(|e| e.to_wire())?,
            node: r.u64("node").map_err(|e| e.to_wire())?,
        })
    };
    match kind {
        b'R' => {
            let addr: SocketAddr = std::str::from_utf8(rest)
                .ok()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| bad("bad primary address"))?;
            h.repl().stop_followers().await;
            h.forget_commits();
            h.repl().set_role(CoreRole::Replica(addr));
            start_followers(h, addr);
            Ok(String::new())
        }
        b'F' => {
            h.repl().stop_followers().await;
            h.forget_commits();
            h.repl()
                .set_role(CoreRole::Fenced(String::from_utf8_lossy(rest).into()));
            Ok(String::new())
        }
        b'W' => {
            let epoch = epoch_of(&mut Reader::new(rest))?;
            become_primary(h, epoch).await;
            Ok(String::new())
        }
        b'P' => {
            let mut r = Reader::new(rest);
            let epoch = epoch_of(&mut r)?;
            let n = r.u32("count").map_err(|e| e.to_wire())?;
            let mut sources = Vec::new();
            for _ in 0..n {
                let p = r.u32("partition").map_err(|e| e.to_wire())?;
                let addr =
                    String::from_utf8_lossy(r.bytes("addr").map_err(|e| e.to_wire())?).into_owned();
                let e = epoch_of(&mut r)?;
                let i = r.u64("index").map_err(|e| e.to_wire())?;
                sources.push((p, addr, e, i));
            }
            h.repl().stop_followers().await;
            h.repl().set_role(CoreRole::Fenced(format!(
                "promotion to epoch {epoch} in progress"
            )));
            h.forget_commits();
            // Every partition catches up at once: a commit across
            // partitions is applied only when all its batches arrived.
            let parts = h.local().to_vec();
            let caught = parts.iter().map(|part| {
                let mine = part.last_record();
                // The most advanced peer copy of this partition.
                let best = sources
                    .iter()
                    .filter(|s| s.0 == part.id())
                    .max_by_key(|s| (s.3, s.2));
                async move {
                    match best {
                        Some((_, addr, _, target)) if *target > mine.index => {
                            match super::follow::catch_up(h, part, addr, *target).await {
                                Err(e) => Err(format!(
                                    "promotion to epoch {epoch} incomplete: partition {} could not catch up from {addr}: {e}",
                                    part.id()
                                )),
                                Ok(()) => Ok(format!(
                                    "partition {}: caught up from {addr} to index {}\n",
                                    part.id(),
                                    part.last_record().index
                                )),
                            }
                        }
                        _ => Ok(format!(
                            "partition {}: at index {} (no peer ahead)\n",
                            part.id(),
                            mine.index
                        )),
                    }
                }
            });
            let mut text = String::new();
            for r in futures::future::join_all(caught).await {
                match r {
                    Ok(line) => text.push_str(&line),
                    Err(why) => {
                        h.forget_commits();
                        h.repl().set_role(CoreRole::Fenced(why.clone()));
                        return Err(WireError::new(ErrorCode::NoReplicas, why));
                    }
                }
            }
            become_primary(h, epoch).await;
            Ok(text)
        }
        k => Err(bad(format!("unknown role change {k}"))),
    }
}

async fn become_primary<H: Host>(h: &H, epoch: Epoch) {
    h.repl().stop_followers().await;
    h.forget_commits();
    learn_epoch(h, epoch).await;
    for p in h.local() {
        p.set_epoch(epoch);
    }
    h.repl().clear_streams();
    h.repl().set_role(CoreRole::Primary);
}

/// Starts a follower for every local partition.
pub fn start_followers<H: Host>(h: &H, primary: SocketAddr) {
    let gen = h.repl().follow_generation();
    for p in h.local().to_vec() {
        glommio::spawn_local(super::follow::follow(h.rc(), p, primary, gen)).detach();
    }
}

/// A restarted former primary: fenced until a peer confirms its epoch is
/// still the highest, or stays fenced naming the newer one.
pub async fn confirm_epoch<H: Host>(h: Rc<H>) {
    while !h.shutdown().is_set() {
        if !h.repl().is_fenced() {
            return;
        }
        let mine = h.repl().epoch();
        let peers = h.repl().peers();
        for peer in peers {
            let Ok(st) = query_status(&peer).await else {
                continue;
            };
            if !h.repl().is_fenced() {
                return;
            }
            let change = if st.epoch.term > mine.term {
                let why = format!(
                    "superseded: {peer} has epoch {}, above this node's {mine}; make this node a replica of the current primary (tessera cli replicaof HOST:PORT)",
                    st.epoch
                );
                tracing::warn!("{why}");
                apply_arg(b'F', why.as_bytes())
            } else {
                tracing::info!("{peer} confirmed epoch {mine}: taking writes");
                let mut a = vec![b'W'];
                put_u64(&mut a, mine.term);
                put_u64(&mut a, mine.node);
                a
            };
            if let Err(e) = broadcast(&*h, change).await {
                tracing::error!("role change after the epoch check failed: {e}");
            }
            return;
        }
        if !pause(&*h, CONFIRM_EVERY).await {
            return;
        }
    }
}
