//! Replication roles (docs/replication.md; serving PULL and SYNC is in
//! `repl_serve.rs`):
//! `replicaof`, promotion with catch-up from the most advanced peer, and
//! fencing of a restarted former primary.
//!
//! A role change is decided on the core that received it, persisted in
//! `<data-dir>/replication`, then applied by every core (ROLE action 3 over
//! the mesh), each for its own partitions.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::core::Core;
use super::PeerError;
use crate::codes::{ErrorCode, WireError};
use crate::proto::codec::{put_bytes, put_u32, put_u64, Reader};
use crate::proto::{frame, Request};
use crate::repl::link::{apply_arg, timed};
use crate::repl::position::Epoch;
use crate::repl::state::{NodeState, Role};
use crate::repl::CoreRole;

/// How long a peer may take to answer a status query.
const PEER_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a fenced former primary asks its peers for their epoch.
const CONFIRM_EVERY: Duration = Duration::from_millis(300);

/// ROLE actions.
pub const STATUS: u8 = 0;
pub const REPLICAOF: u8 = 1;
pub const PROMOTE: u8 = 2;
pub const APPLY: u8 = 3;

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

impl Core {
    /// The READONLY error when this node does not take writes now.
    pub fn readonly_error(&self) -> Option<WireError> {
        match &self.repl().role() {
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
        match &self.repl().role() {
            CoreRole::Primary => "primary".into(),
            CoreRole::Replica(p) => format!("replica of {p}"),
            CoreRole::Fenced(why) => format!("fenced: {why}"),
        }
    }

    /// Sleeps, or returns `false` at once when the core is shutting down.
    pub async fn pause(&self, d: Duration) -> bool {
        let stop = std::pin::pin!(self.shutdown().wait(false));
        timed(d, stop).await.is_none()
    }

    /// Applies `f` to the persisted state (blocking pool) and saves it when
    /// `f` says it changed.
    pub async fn update_state(
        &self,
        f: impl FnOnce(&mut NodeState) -> bool + Send + 'static,
    ) -> Result<NodeState, PeerError> {
        let state = self.config().repl_state.clone();
        let dir = self.config().data_dir.clone();
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
    pub async fn learn_epoch(&self, e: Epoch) {
        if e <= self.repl().epoch() {
            return;
        }
        self.repl().set_epoch(e);
        if let Err(err) = self
            .update_state(move |s| {
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
    pub async fn learn_peers(&self, mut list: Vec<String>, replace: bool) {
        list.retain(|p| !p.is_empty() && *p != self.config().advertise);
        list.sort();
        list.dedup();
        if !self.repl().set_peers(list.clone()) {
            return;
        }
        if let Err(e) = self
            .update_state(move |s| {
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

    /// ROLE.
    pub async fn role_request(&self, action: u8, arg: &[u8]) -> Result<String, WireError> {
        match action {
            STATUS => Ok(self.status_text()),
            REPLICAOF => {
                let a = std::str::from_utf8(arg)
                    .map_err(|_| bad("replicaof needs HOST:PORT"))?
                    .trim()
                    .to_string();
                if a.eq_ignore_ascii_case("no one") {
                    return self.promote(false).await;
                }
                self.replicaof(&a).await
            }
            PROMOTE => self.promote(arg == b"force").await,
            APPLY => self.apply_role(arg).await,
            n => Err(bad(format!("unknown ROLE action {n}"))),
        }
    }

    /// This core's lines of ROLE status.
    fn status_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let role = match &self.repl().role() {
            CoreRole::Primary => "primary".to_string(),
            CoreRole::Replica(p) => format!("replica {p}"),
            CoreRole::Fenced(_) => "fenced".to_string(),
        };
        let _ = writeln!(s, "role:{role}");
        let _ = writeln!(s, "epoch:{}", self.repl().epoch());
        let _ = writeln!(s, "peers:{}", self.repl().peers().join(","));
        for p in self.local() {
            let _ = writeln!(s, "partition{}:{}", p.id(), p.last_record().position());
        }
        s
    }

    /// Sends ROLE action 3 to every core (this one included) and returns
    /// their answers.
    pub(super) async fn broadcast(&self, arg: Vec<u8>) -> Result<Vec<String>, WireError> {
        let mut frame_bytes = Vec::new();
        Request::Role {
            action: APPLY,
            arg: &arg,
        }
        .encode(0, &mut frame_bytes);
        let rxs: Vec<_> = (0..self.topo().cores() as usize)
            .map(|c| self.forward(c, frame_bytes.clone()))
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

    /// `replicaof HOST:PORT`: follow another node from now on.
    async fn replicaof(&self, addr: &str) -> Result<String, WireError> {
        if self.config().durability == crate::shard::Durability::None {
            return Err(bad(
                "replicaof needs a WAL: durability none (cache mode) cannot replicate",
            ));
        }
        let target = addr.to_string();
        let parts = self.topo().partitions();
        let hello = glommio::executor()
            .spawn_blocking(move || {
                use std::net::ToSocketAddrs;
                let sa = target
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| format!("{target:?} is not HOST:PORT"))?;
                let h = crate::repl::primary_hello(sa).map_err(|e| e.to_string())?;
                crate::repl::check_partitions(&h, sa, parts).map_err(|e| e.to_string())?;
                Ok::<_, String>((sa, h))
            })
            .await
            .map_err(bad)?;
        let (sa, hello) = hello;
        if hello.node_id == self.node_id() {
            return Err(bad(format!("{addr} is this node")));
        }
        let canonical = sa.to_string();
        let saved = canonical.clone();
        self.update_state(move |s| {
            s.role = Role::Replica(saved);
            true
        })
        .await
        .map_err(|e| WireError::new(ErrorCode::Storage, e.to_string()))?;
        self.broadcast(apply_arg(b'R', canonical.as_bytes()))
            .await?;
        tracing::info!("now a replica of {canonical}");
        Ok(format!("following {canonical}\n"))
    }

    /// `promote`: take writes with a new epoch, after catching up from the
    /// most advanced peer.
    async fn promote(&self, force: bool) -> Result<String, WireError> {
        if self.repl().is_primary() {
            return Err(bad(format!(
                "this node is already a primary (epoch {})",
                self.repl().epoch()
            )));
        }
        let peers = self.repl().peers();
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
        let node = self.node_id();
        let local_term = self.repl().epoch().term;
        // The epoch is persisted first; the role only once every partition
        // caught up (a crash in between restarts this node as a replica
        // that knows the new term, and `promote` can be run again).
        let st = self
            .update_state(move |s| {
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
        let texts = self.broadcast(arg).await?;
        self.update_state(|s| {
            s.role = Role::Primary;
            true
        })
        .await
        .map_err(|e| WireError::new(ErrorCode::Storage, e.to_string()))?;
        Ok(format!("promoted: epoch {epoch}\n{}", texts.concat()))
    }

    /// This core's part of a role change (ROLE action 3).
    async fn apply_role(&self, arg: &[u8]) -> Result<String, WireError> {
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
                self.repl().stop_followers().await;
                self.repl().set_role(CoreRole::Replica(addr));
                self.start_followers(addr);
                Ok(String::new())
            }
            b'F' => {
                self.repl().stop_followers().await;
                self.repl()
                    .set_role(CoreRole::Fenced(String::from_utf8_lossy(rest).into()));
                Ok(String::new())
            }
            b'W' => {
                let epoch = epoch_of(&mut Reader::new(rest))?;
                self.become_primary(epoch).await;
                Ok(String::new())
            }
            b'P' => {
                let mut r = Reader::new(rest);
                let epoch = epoch_of(&mut r)?;
                let n = r.u32("count").map_err(|e| e.to_wire())?;
                let mut sources = Vec::new();
                for _ in 0..n {
                    let p = r.u32("partition").map_err(|e| e.to_wire())?;
                    let addr = String::from_utf8_lossy(r.bytes("addr").map_err(|e| e.to_wire())?)
                        .into_owned();
                    let e = epoch_of(&mut r)?;
                    let i = r.u64("index").map_err(|e| e.to_wire())?;
                    sources.push((p, addr, e, i));
                }
                self.repl().stop_followers().await;
                self.repl().set_role(CoreRole::Fenced(format!(
                    "promotion to epoch {epoch} in progress"
                )));
                let mut text = String::new();
                for part in self.local().clone() {
                    let mine = part.last_record();
                    // The most advanced peer copy of this partition.
                    let best = sources
                        .iter()
                        .filter(|s| s.0 == part.id())
                        .max_by_key(|s| (s.3, s.2));
                    match best {
                        Some((_, addr, _, target)) if *target > mine.index => {
                            if let Err(e) =
                                super::replica::catch_up(&self.rc(), &part, addr, *target).await
                            {
                                let why = format!(
                                    "promotion to epoch {epoch} incomplete: partition {} could not catch up from {addr}: {e}",
                                    part.id()
                                );
                                self.repl().set_role(CoreRole::Fenced(why.clone()));
                                return Err(WireError::new(ErrorCode::NoReplicas, why));
                            }
                            text.push_str(&format!(
                                "partition {}: caught up from {addr} to index {}\n",
                                part.id(),
                                part.last_record().index
                            ));
                        }
                        _ => text.push_str(&format!(
                            "partition {}: at index {} (no peer ahead)\n",
                            part.id(),
                            mine.index
                        )),
                    }
                }
                self.become_primary(epoch).await;
                Ok(text)
            }
            k => Err(bad(format!("unknown role change {k}"))),
        }
    }

    async fn become_primary(&self, epoch: Epoch) {
        self.repl().stop_followers().await;
        self.learn_epoch(epoch).await;
        for p in self.local() {
            p.set_epoch(epoch);
        }
        self.repl().clear_streams();
        self.repl().set_role(CoreRole::Primary);
    }

    /// Starts a follower for every local partition.
    pub fn start_followers(&self, primary: SocketAddr) {
        let gen = self.repl().follow_generation();
        for p in self.local().clone() {
            glommio::spawn_local(super::replica::follow(self.rc(), p, primary, gen)).detach();
        }
    }
}

/// A restarted former primary: fenced until a peer confirms its epoch is
/// still the highest, or stays fenced naming the newer one.
pub async fn confirm_epoch(core: Rc<Core>) {
    while !core.shutdown().is_set() {
        if !core.repl().is_fenced() {
            return;
        }
        let mine = core.repl().epoch();
        let peers = core.repl().peers();
        for peer in peers {
            let Ok(st) = query_status(&peer).await else {
                continue;
            };
            if !core.repl().is_fenced() {
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
            if let Err(e) = core.broadcast(change).await {
                tracing::error!("role change after the epoch check failed: {e}");
            }
            return;
        }
        if !core.pause(CONFIRM_EVERY).await {
            return;
        }
    }
}
