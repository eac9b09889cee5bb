//! The binary-protocol connection loop.
//!
//! Few operations per request: one big read takes many frames; every frame
//! of that read runs inline (local) or is forwarded (remote) without a task
//! per request; the batch's writes are awaited once (one group commit); all
//! replies go out in one write, in request order.

use std::rc::Rc;
use std::time::Instant;

use super::core::cluster::Front;
use super::core::{Core, PartReply, Writes};
use super::epoll::Stream;
use super::session::{Session, Verdict};
use super::stall;
use crate::codes::{ErrorCode, WireError};
use crate::proto::codec::compact;
use crate::proto::route::{combine, everywhere, home_core, split, Gather};
use crate::proto::table::{by_opcode, flag};
use crate::proto::{self, frame, Request};

/// Read buffer kept per connection; larger frames borrow from the budget.
const BASE_BUFFER: usize = 64 << 10;
/// A batch stops taking frames once its replies pass this size.
const REPLY_SOFT_CAP: usize = 8 << 20;

enum Seg {
    /// Reply bytes in `out[start..end]`, from writes `writes[w0..w1]`.
    Local {
        start: usize,
        end: usize,
        w0: usize,
        w1: usize,
    },
    /// A reply (id 0) coming back from another core.
    Remote {
        id: u32,
        rx: futures::channel::oneshot::Receiver<Vec<u8>>,
    },
    /// Parts of a fanned-out request; `ws[i]` = writes range of part i.
    Gather {
        id: u32,
        gather: Gather,
        total: usize,
        parts: Vec<(PartReply, Vec<usize>)>,
        ws: Vec<(usize, usize)>,
    },
}

#[derive(Default)]
struct Batch {
    out: Vec<u8>,
    segs: Vec<Seg>,
    writes: Writes,
    /// Whether any segment is not local (then the reply must be assembled).
    mixed: bool,
    /// The opcode of each request, in order (for the metrics).
    ops: Vec<u8>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }
}

fn lost_core() -> WireError {
    WireError::new(
        ErrorCode::ShuttingDown,
        "the owning core stopped before replying",
    )
}

/// Appends a reply frame that came back with id 0, under `id`.
fn append_with_id(out: &mut Vec<u8>, id: u32, reply: &[u8]) {
    if reply.len() < frame::HEADER_LEN {
        proto::encode_error(
            out,
            id,
            &WireError::new(ErrorCode::Internal, "short reply from core"),
        );
        return;
    }
    let at = out.len();
    out.extend_from_slice(reply);
    out[at + 4..at + 8].copy_from_slice(&id.to_be_bytes());
}

struct Conn {
    core: Rc<Core>,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// Bytes of `buf` above `BASE_BUFFER`, taken from the budget.
    borrowed: usize,
    batch: Batch,
    /// Whether this counts as a client connection in the core's stats.
    counted: bool,
    /// Cluster mode: whether this connection checks each request's slot
    /// (a binary client's; the RESP and HTTP front ends check their own
    /// requests, with their own redirects, before they run them here).
    gate: bool,
    /// The ACL user (trusted for the front ends' own batches).
    session: Session,
    /// The client's address (for ACL LOG).
    peer: String,
    /// Came through the TLS listener: HELLO names the TLS ports.
    tls: bool,
}

enum Step {
    /// Frames remain buffered (the batch hit its reply cap).
    More,
    /// Everything complete was processed; read more.
    NeedRead,
    /// Reply, then close the connection.
    Close,
}

impl Conn {
    /// Runs every complete frame in the buffer into the batch.
    async fn process(&mut self) -> Step {
        let max = self.core.config().max_frame_bytes;
        loop {
            if self.batch.out.len() > REPLY_SOFT_CAP {
                return Step::More;
            }
            match frame::check(&self.buf[self.start..self.filled], max) {
                Ok(Some(info)) => {
                    let end = self.start + info.total_len;
                    let bytes = std::mem::take(&mut self.buf);
                    self.run_frame(info, &bytes[self.start..end]).await;
                    self.buf = bytes;
                    self.start = end;
                }
                Ok(None) => return Step::NeedRead,
                Err(e) => {
                    tracing::info!(
                        core = self.core.id(),
                        "client error, closing the connection: {e}"
                    );
                    let id = match &e {
                        proto::Error::FrameTooLarge { id, .. } => *id,
                        _ => 0,
                    };
                    self.local_error(id, &e.to_wire());
                    return Step::Close;
                }
            }
        }
    }

    fn local_error(&mut self, id: u32, e: &WireError) {
        self.local_reply(|out| proto::encode_error(out, id, e));
    }

    /// A reply made here, without a write (an error, AUTH's OK).
    fn local_reply(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.batch.out.len();
        encode(&mut self.batch.out);
        let w = self.batch.writes.len();
        self.batch.segs.push(Seg::Local {
            start,
            end: self.batch.out.len(),
            w0: w,
            w1: w,
        });
    }

    /// AUTH, then the connection's user's check of every other request;
    /// `false` when `req` was answered here.
    fn authorize(&mut self, id: u32, req: &Request<'_>) -> bool {
        let core = self.core.clone();
        let acl = &core.config().acl;
        let peer = &self.peer;
        let info = || format!("addr={peer} protocol=binary");
        if let Request::Auth { user, pass } = req {
            let name: &[u8] = if user.is_empty() { b"default" } else { user };
            match self.session.authenticate(acl, name, pass, info) {
                Ok(()) => self.local_reply(|out| {
                    let f = frame::begin(out, id, frame::STATUS_OK, 0);
                    frame::finish(out, f);
                }),
                Err(e) => self.local_error(id, &e),
            }
            return false;
        }
        let no_auth = || by_opcode(req.opcode()).is_some_and(|c| c.has(flag::NO_AUTH));
        let e = match self.session.verdict(acl, no_auth, |u| u.check_request(req)) {
            Verdict::Run => return true,
            Verdict::Refuse(e) => e,
            Verdict::Denied(d) => self.session.denied(acl, d, "toplevel", info()),
            Verdict::Gone => WireError::of(ErrorCode::NoAuth),
        };
        self.local_error(id, &e);
        false
    }

    async fn run_frame(&mut self, info: frame::FrameInfo, bytes: &[u8]) {
        self.batch.ops.push(info.kind);
        let core = self.core.clone();
        let id = info.id;
        let req = match Request::decode(info.kind, info.flags, info.body(bytes)) {
            Ok(r) => r,
            Err(e) => {
                core.stats().error();
                self.local_error(id, &e.to_wire());
                return;
            }
        };
        // Counted by the command it runs, in whatever database.
        if let (Request::InDb { inner, .. }, Some(op)) = (&req, self.batch.ops.last_mut()) {
            *op = inner.opcode() as u8;
        }
        if !self.authorize(id, &req) {
            return;
        }
        if let (true, Request::Hello { version }) = (self.tls, &req) {
            match core.hello_answer(*version, true) {
                Ok(h) => self.local_reply(|out| {
                    let f = frame::begin(out, id, frame::STATUS_OK, 0);
                    out.extend_from_slice(&h);
                    frame::finish(out, f);
                }),
                Err(e) => self.local_error(id, &e),
            }
            return;
        }
        if self.gate {
            if let Err(e) = core.cluster_gate(&req, Front::Binary, Default::default()) {
                self.local_error(id, &e);
                return;
            }
        }
        // Cluster mode: a PUBLISH another node relays is delivered on this
        // node only; a client's PUBLISH is also relayed to every other node.
        let relayed;
        let (req, bytes) = match req {
            Request::Cluster {
                action: tessera_cluster::net::PUBLISH,
                body,
            } => {
                let mut r = crate::proto::codec::Reader::new(body);
                let (Ok(channel), Ok(message)) = (r.bytes("channel"), r.bytes("message")) else {
                    self.local_error(
                        id,
                        &crate::codes::WireError::new(
                            crate::codes::ErrorCode::BadArguments,
                            "a relayed PUBLISH needs a channel and a message",
                        ),
                    );
                    return;
                };
                let p = Request::Publish { channel, message };
                let mut f = Vec::new();
                p.encode(id, &mut f);
                relayed = f;
                (p, relayed.as_slice())
            }
            Request::Publish { channel, message } => {
                if let Some(cl) = core.cluster() {
                    cl.controller().relay_publish(channel, message);
                }
                (req, bytes)
            }
            other => (other, bytes),
        };
        let b = &mut self.batch;
        if let Some(gather) = everywhere(&req) {
            let mut parts = Vec::new();
            let mut ws = Vec::new();
            if gather == Gather::Text {
                let mut head = Vec::new();
                let s = frame::begin(&mut head, 0, frame::STATUS_OK, 0);
                head.extend_from_slice(core.info_header().as_bytes());
                frame::finish(&mut head, s);
                parts.push((PartReply::Ready(head), vec![]));
                ws.push((0, 0));
            }
            for c in 0..core.topo().cores() as usize {
                let w0 = b.writes.len();
                if c == core.id() {
                    let mut r = Vec::new();
                    core.exec_local(&req, 0, &mut r, &mut b.writes).await;
                    parts.push((PartReply::Ready(r), vec![]));
                } else {
                    parts.push((PartReply::Remote(core.forward(c, bytes.to_vec())), vec![]));
                }
                ws.push((w0, b.writes.len()));
            }
            b.mixed = true;
            b.segs.push(Seg::Gather {
                id,
                gather,
                total: 0,
                parts,
                ws,
            });
            return;
        }
        if let Some((gather, split_parts)) = split(core.topo(), &req) {
            let total = match req.db_and_inner().1 {
                Request::MGet { keys } => keys.len(),
                _ => 0,
            };
            let mut parts = Vec::new();
            let mut ws = Vec::new();
            for (c, sub, idx) in split_parts {
                let w0 = b.writes.len();
                if c == core.id() {
                    let mut r = Vec::new();
                    core.exec_local(&sub, 0, &mut r, &mut b.writes).await;
                    parts.push((PartReply::Ready(r), idx));
                } else {
                    let mut f = Vec::new();
                    sub.encode(0, &mut f);
                    parts.push((PartReply::Remote(core.forward(c, f)), idx));
                }
                ws.push((w0, b.writes.len()));
            }
            b.mixed = true;
            b.segs.push(Seg::Gather {
                id,
                gather,
                total,
                parts,
                ws,
            });
            return;
        }
        let home = home_core(core.topo(), &req, core.id());
        if home == core.id() {
            let start = b.out.len();
            let w0 = b.writes.len();
            core.exec_local(&req, id, &mut b.out, &mut b.writes).await;
            b.segs.push(Seg::Local {
                start,
                end: b.out.len(),
                w0,
                w1: b.writes.len(),
            });
        } else {
            b.mixed = true;
            let rx = core.forward(home, bytes.to_vec());
            b.segs.push(Seg::Remote { id, rx });
        }
    }

    /// Waits for the batch's group commit and remote replies, then writes
    /// every reply in request order with one write.
    async fn flush(&mut self, stream: &mut Stream, started: Instant) -> std::io::Result<()> {
        let assembled = self.complete().await;
        let replies = assembled.as_deref().unwrap_or(&self.batch.out);
        self.account(replies, started.elapsed());
        let result = stream.send(replies).await;
        self.recycle();
        result
    }

    /// Counts each reply by its request's command and status, with the
    /// batch's latency.
    fn account(&self, replies: &[u8], took: std::time::Duration) {
        self.core.stats().bytes_out(replies.len());
        self.count_requests(replies, took);
    }

    /// Counts each reply by its request's command and status.
    fn count_requests(&self, replies: &[u8], took: std::time::Duration) {
        let mut at = 0;
        let answered = self.batch.ops.iter().map_while(|&op| {
            let info = frame::check(&replies[at..], usize::MAX).ok().flatten()?;
            at += info.total_len;
            Some((op, info.kind == frame::STATUS_OK))
        });
        self.core.stats().commands(answered, took);
    }

    /// The batch's replies in request order, once its group commit and
    /// remote replies are in: `None` when they are `batch.out` as it is,
    /// else the assembled bytes.
    async fn complete(&mut self) -> Option<Vec<u8>> {
        let core = self.core.clone();
        let batch = &mut self.batch;
        if let Some(max) = batch.writes.iter().map(|w| w.1).max() {
            core.groups().wait_committed(max).await;
        }
        // A poisoned partition or a group the replicas did not acknowledge.
        let any_failed = core.write_error(&batch.writes).is_some();
        if !batch.mixed && !any_failed {
            None
        } else {
            let mut out = Vec::with_capacity(batch.out.len());
            for seg in batch.segs.drain(..) {
                match seg {
                    Seg::Local { start, end, w0, w1 } => {
                        match core.write_error(&batch.writes[w0..w1]) {
                            None => out.extend_from_slice(&batch.out[start..end]),
                            Some(e) => {
                                let id = frame::check(&batch.out[start..end], usize::MAX)
                                    .ok()
                                    .flatten()
                                    .map(|i| i.id)
                                    .unwrap_or(0);
                                proto::encode_error(&mut out, id, &e);
                            }
                        }
                    }
                    Seg::Remote { id, rx } => match rx.await {
                        Ok(reply) => append_with_id(&mut out, id, &reply),
                        Err(_) => proto::encode_error(&mut out, id, &lost_core()),
                    },
                    Seg::Gather {
                        id,
                        gather,
                        total,
                        parts,
                        ws,
                    } => {
                        let mut done = Vec::with_capacity(parts.len());
                        for ((reply, idx), (w0, w1)) in parts.into_iter().zip(ws) {
                            let mut bytes = match reply {
                                PartReply::Ready(b) => b,
                                PartReply::Remote(rx) => match rx.await {
                                    Ok(b) => b,
                                    Err(_) => {
                                        let mut e = Vec::new();
                                        proto::encode_error(&mut e, 0, &lost_core());
                                        e
                                    }
                                },
                            };
                            if let Some(e) = core.write_error(&batch.writes[w0..w1]) {
                                bytes.clear();
                                proto::encode_error(&mut bytes, 0, &e);
                            }
                            done.push((bytes, idx));
                        }
                        combine(&mut out, id, gather, total, &done);
                    }
                }
            }
            Some(out)
        }
    }

    /// Empties the batch, keeping the reply buffer's capacity.
    fn recycle(&mut self) {
        let b = &mut self.batch;
        b.out.clear();
        b.segs.clear();
        b.writes.clear();
        b.mixed = false;
        b.ops.clear();
    }

    /// Makes room for the next read; grows the buffer (from the budget) for
    /// a frame larger than it, doubling as the frame's bytes arrive (so a
    /// client holds only what it sent, not what it announced), waiting for
    /// budget while stalled clients are evicted; fails when none comes.
    async fn prepare_read(&mut self) -> Result<(), WireError> {
        if self.start == self.filled && self.borrowed > 0 {
            self.buf.truncate(BASE_BUFFER);
            self.buf.shrink_to_fit();
            self.core.config().memory_budget.give_back(self.borrowed);
            self.borrowed = 0;
        }
        compact(&mut self.buf, &mut self.start, &mut self.filled);
        let need = frame::needed_len(&self.buf[..self.filled]).unwrap_or(0);
        let budget = &self.core.config().memory_budget;
        // A frame larger than the whole budget can never be read: refused
        // at once, before the client sends it.
        if need.saturating_sub(BASE_BUFFER) > budget.limit() {
            return Err(WireError::new(
                ErrorCode::OutOfMemory,
                format!("a {need}-byte frame is larger than memory-budget-bytes"),
            ));
        }
        if need > self.buf.len() && self.filled == self.buf.len() {
            let extra = (self.buf.len() * 2).min(need) - self.buf.len();
            let cfg = self.core.config();
            if !cfg
                .memory_budget
                .take_waiting(extra, cfg.stalled_frame_timeout)
                .await
            {
                return Err(WireError::new(
                    ErrorCode::OutOfMemory,
                    format!("no memory budget left for a {need}-byte frame"),
                ));
            }
            self.borrowed += extra;
            let len = self.buf.len() + extra;
            self.buf.resize(len, 0);
        }
        Ok(())
    }

    fn pending_frame_id(&self) -> u32 {
        if self.filled >= 8 {
            u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
        } else {
            0
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.borrowed > 0 {
            self.core.config().memory_budget.give_back(self.borrowed);
        }
        if self.counted {
            self.core.stats().connection_closed();
        }
    }
}

/// Runs complete request frames as one batch (routing, forwarding and group
/// commit exactly as for a binary connection) and returns the reply frames
/// in request order. The HTTP front end speaks through this.
pub(crate) async fn execute(core: Rc<Core>, frames: Vec<u8>) -> Vec<u8> {
    let filled = frames.len();
    let mut conn = Conn {
        core,
        buf: frames,
        start: 0,
        filled,
        borrowed: 0,
        batch: Batch::default(),
        counted: false,
        gate: false,
        session: Session::trusted(),
        peer: String::new(),
        tls: false,
    };
    let mut replies = Vec::new();
    let t0 = Instant::now();
    loop {
        let step = conn.process().await;
        if !conn.batch.is_empty() {
            let from = replies.len();
            match conn.complete().await {
                None => replies.extend_from_slice(&conn.batch.out),
                Some(out) => replies.extend_from_slice(&out),
            }
            conn.count_requests(&replies[from..], t0.elapsed());
            conn.recycle();
        }
        if !matches!(step, Step::More) {
            return replies;
        }
    }
}

/// Serves one connection until it closes, fails, or the core shuts down.
pub(crate) async fn serve(core: Rc<Core>, mut stream: Stream) {
    core.connection_opened(&stream);
    let listed = core
        .clients()
        .open(super::clients::next_id(), &stream, "binary");
    let entry = listed.entry.clone();
    let mut conn = Conn {
        core: core.clone(),
        buf: vec![0u8; BASE_BUFFER],
        start: 0,
        filled: 0,
        borrowed: 0,
        batch: Batch::default(),
        counted: true,
        gate: true,
        session: Session::new(&core.config().acl),
        peer: stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        tls: stream.is_tls(),
    };
    let mut progress = Instant::now();
    loop {
        let t0 = Instant::now();
        let started = core.config().slow_request.map(|t| (t, t0));
        let step = conn.process().await;
        let requests = conn.batch.segs.len();
        if !conn.batch.is_empty() {
            if conn.flush(&mut stream, t0).await.is_err() {
                return;
            }
            // A reply counts as activity (`timeout`): a blocking pop that
            // waited long is not idle when it returns.
            progress = Instant::now();
        }
        if let Some((limit, t0)) = started {
            let took = t0.elapsed();
            if took >= limit && requests > 0 {
                tracing::warn!(
                    core = core.id(),
                    requests,
                    "slow requests: a batch of {requests} took {} ms (slow-request-ms = {})",
                    took.as_millis(),
                    limit.as_millis()
                );
            }
        }
        match step {
            Step::Close => return,
            Step::More => continue,
            Step::NeedRead => {}
        }
        if core.shutdown().is_set() {
            return;
        }
        if let Err(e) = conn.prepare_read().await {
            tracing::info!(
                core = core.id(),
                "client error, closing the connection: {}",
                e.message
            );
            let id = conn.pending_frame_id();
            conn.local_error(id, &e);
            let _ = conn.flush(&mut stream, Instant::now()).await;
            return;
        }
        let filled = conn.filled;
        let holding = conn.borrowed > 0;
        entry.active.set(Instant::now());
        if *entry.user.borrow() != conn.session.user_name() {
            *entry.user.borrow_mut() = conn.session.user_name().to_string();
        }
        // A client holding budget for a partial frame must keep sending.
        let n = match stall::read(
            &core,
            &mut stream,
            &mut conn.buf[filled..],
            holding,
            progress,
        )
        .await
        {
            stall::Read::Data(n) => n,
            stall::Read::Closed | stall::Read::Evicted => return,
        };
        core.stats().bytes_in(n);
        conn.filled += n;
        progress = Instant::now();
    }
}
