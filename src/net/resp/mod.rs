//! RESP connections: Redis clients on every core, backed by the same
//! partitions, routing and group commit as the binary protocol.
//!
//! Each read is parsed into as many commands as it holds (`proto::resp`);
//! each command becomes a binary request (`proto::redis::plan`). Requests on
//! keys this core owns run at once on the core (`Core::exec_local`); the
//! rest of a read's requests run as one batch through `conn::execute`
//! (forwarding and group commit exactly as for a binary connection). All
//! of a read's writes are awaited as one group commit, and the replies are
//! turned back into RESP in command order and written with one write. MULTI/EXEC,
//! WATCH, HELLO, CLIENT and the like are this connection's own state
//! (`conn_cmds.rs`); KEYS, RANDOMKEY and typed SCAN read the whole keyspace
//! (`keyspace.rs`).

use std::rc::Rc;
use std::time::Instant;

use super::clients::ClientEntry;
use super::conn::execute;
use super::core::cluster::{ConnFlags, Front};
use super::core::{Core, Writes};
use super::epoll::Stream;
use super::pubsub::Mailbox;
use super::session::{Session, Verdict};
use super::stall;
use super::stall::read_or_stop;
use crate::cmd::Value;
use crate::codes::{ErrorCode, WireError};
use crate::proto::codec::compact;
use crate::proto::redis::{self, ConnCmd, Plan, Shape};
use crate::proto::resp;
use crate::proto::route::{everywhere, home_core, split};
use crate::proto::{decode_error, frame, Request};
use crate::sync::Recent;

mod auth;
mod cluster_cmds;
mod config;
mod conn_cmds;
mod keyspace;
mod messages;
mod multi;
mod output;
mod slowlog;

use conn_cmds::conn_command;
use output::{over_limit, overflowed, send_watching, Sent};

const BASE_BUFFER: usize = 64 << 10;
/// Commands of one read run together at most this many at a time (or
/// until their replies pass `FLUSH_BYTES`).
const CHUNK_COMMANDS: usize = 256;
/// Replies are written once this many bytes are waiting.
const FLUSH_BYTES: usize = 1 << 20;

/// What one connection remembers between commands.
struct State {
    id: u64,
    /// The core serving this connection (shown by CLIENT INFO).
    core: usize,
    name: Option<Vec<u8>>,
    resp3: bool,
    /// Commands queued by MULTI (`None` outside a transaction), and whether
    /// one of them was refused (EXEC then aborts).
    multi: Option<Vec<Vec<Vec<u8>>>>,
    multi_failed: bool,
    /// WATCHed keys with the version they had, in the database selected
    /// when they were watched.
    watched: Vec<(u16, Vec<u8>, u64)>,
    /// The selected database (SELECT; always 0 in cluster mode).
    db: u16,
    last_cmd: String,
    /// Pub/sub: the mailbox (once subscribed), channels and patterns.
    mailbox: Option<Rc<Mailbox>>,
    channels: Vec<Vec<u8>>,
    patterns: Vec<Vec<u8>>,
    /// HSCAN/SSCAN/ZSCAN: integer cursor → the member cursor it stands for.
    cursors: Recent<Vec<u8>>,
    /// Cluster mode: READONLY (reads on a replica of the slot's shard are
    /// served here instead of redirected).
    readonly: bool,
    /// Cluster mode: ASKING was the previous command (for the next one only).
    asking: bool,
    /// The ACL user.
    session: Session,
    /// What CLIENT LIST shows of this connection (`net::clients`).
    entry: Rc<ClientEntry>,
    replies: conn_cmds::Replies,
}

impl State {
    /// Copies what CLIENT LIST shows into the connection's entry; `at` is
    /// the time of the last request.
    fn show_at(&self, at: Instant) {
        let e = &self.entry;
        if *e.name.borrow() != self.name {
            e.name.borrow_mut().clone_from(&self.name);
        }
        if *e.user.borrow() != self.session.user_name() {
            *e.user.borrow_mut() = self.session.user_name().to_string();
        }
        if *e.cmd.borrow() != self.last_cmd {
            e.cmd.borrow_mut().clone_from(&self.last_cmd);
        }
        e.sub.set(self.channels.len());
        e.psub.set(self.patterns.len());
        e.multi
            .set(self.multi.as_ref().map_or(-1, |m| m.len() as i64));
        e.resp.set(if self.resp3 { 3 } else { 2 });
        e.db.set(self.db);
        e.active.set(at);
    }

    /// Copies what CLIENT LIST shows into the connection's entry, now.
    fn show(&self) {
        self.show_at(Instant::now());
    }

    /// CLIENT INFO's line (also ACL LOG's `client-info`).
    fn client_info(&self) -> String {
        self.show();
        self.entry.line(self.core)
    }

    fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Gives a member cursor (`x` + hex) an integer name for this connection.
    fn remember_cursor(&mut self, member_cursor: Vec<u8>) -> u64 {
        let token = self.cursors.next_seq();
        self.cursors.insert(token, member_cursor);
        token
    }
}

/// HSCAN/SSCAN/ZSCAN cursors a connection remembers.
const CURSORS_KEPT: usize = 1024;

/// One read's worth of commands: frames to run and, in order, how each
/// reply is produced.
///
/// A command whose key this core owns runs at once (`Item::Local`), as long
/// as no earlier command of the read is still waiting in `frames`: its reply
/// frame goes to `local` and its staged writes to `writes`, and `settle`
/// waits for their group commit. Everything else (other cores' keys,
/// multi-key splits, blocking pops) is encoded into `frames` and, together
/// with every later command, runs through `conn::execute`, so the commands
/// of a read always take effect in order.
#[derive(Default)]
struct Pending {
    frames: Vec<u8>,
    items: Vec<Item>,
    next_id: u32,
    /// `Item::Run` entries in `items` (frames waiting to run).
    runs: usize,
    /// Whether each item's reply is dropped (CLIENT REPLY), and whether the
    /// command being planned is.
    muted: Vec<bool>,
    mute: bool,
    local: Vec<u8>,
    writes: Writes,
    /// When the first local command of this batch ran (for the metrics).
    started: Option<Instant>,
}

enum Item {
    Ready(Vec<u8>),
    Run(Shape),
    /// Ran on this core: reply frame `local[start..end]`, writes
    /// `writes[w0..w1]`, opcode `op`.
    Local {
        shape: Shape,
        op: u8,
        start: usize,
        end: usize,
        w0: usize,
        w1: usize,
    },
}

impl Pending {
    fn ready(&mut self, bytes: Vec<u8>) {
        self.push(Item::Ready(bytes));
    }

    fn push(&mut self, item: Item) {
        self.items.push(item);
        self.muted.push(self.mute);
    }

    /// Queues `req`, or runs it now when this core owns its key and nothing
    /// before it is queued.
    async fn run(&mut self, core: &Core, req: &Request<'_>, shape: Shape) {
        if self.runs == 0 && runs_here(core, req, &shape) {
            let (start, w0) = (self.local.len(), self.writes.len());
            self.started.get_or_insert_with(Instant::now);
            core.exec_local(req, 0, &mut self.local, &mut self.writes)
                .await;
            self.push(Item::Local {
                shape,
                op: req.db_and_inner().1.opcode() as u8,
                start,
                end: self.local.len(),
                w0,
                w1: self.writes.len(),
            });
            return;
        }
        self.next_id += 1;
        self.runs += 1;
        req.encode(self.next_id, &mut self.frames);
        self.push(Item::Run(shape));
    }

    /// Forgets the batch (its local commands have run).
    fn clear(&mut self) {
        self.frames.clear();
        self.items.clear();
        self.muted.clear();
        self.next_id = 0;
        self.runs = 0;
        self.local.clear();
        self.writes.clear();
        self.started = None;
    }
}

/// Whether `req` runs on this core as it is: a single-key request whose key
/// this core owns (not a blocking pop, which must watch its client).
fn runs_here(core: &Core, req: &Request<'_>, shape: &Shape) -> bool {
    !matches!(shape, Shape::BPop(_) | Shape::Block)
        && everywhere(req).is_none()
        && split(core.topo(), req).is_none()
        && home_core(core.topo(), req, core.id()) == core.id()
}

fn value_bytes(v: &Value, resp3: bool) -> Vec<u8> {
    let mut out = Vec::new();
    resp::encode(&mut out, v, resp3);
    out
}

fn error_bytes(e: &WireError) -> Vec<u8> {
    let mut out = Vec::new();
    resp::encode_error(&mut out, e);
    out
}

/// Runs `frames` and returns each reply's status and body.
async fn run_frames(core: &Rc<Core>, frames: Vec<u8>) -> Vec<Result<Vec<u8>, WireError>> {
    if frames.is_empty() {
        return Vec::new();
    }
    let replies = execute(core.clone(), frames).await;
    let mut out = Vec::new();
    let mut at = 0;
    while at < replies.len() {
        let Ok(Some(info)) = frame::check(&replies[at..], usize::MAX) else {
            break;
        };
        out.push(reply_frame(&replies[at..at + info.total_len]).map(<[u8]>::to_vec));
        at += info.total_len;
    }
    out
}

/// Runs one request alone and converts its reply.
async fn run_one(core: &Rc<Core>, req: &Request<'_>, shape: &Shape) -> Result<Value, WireError> {
    redis::convert(shape, &run_request(core, req).await?)
}

/// Runs one request as a batch of its own; its reply body.
async fn run_request(core: &Rc<Core>, req: &Request<'_>) -> Result<Vec<u8>, WireError> {
    let mut f = Vec::new();
    req.encode(1, &mut f);
    run_frames(core, f).await.pop().unwrap_or_else(|| {
        Err(WireError::new(
            ErrorCode::Internal,
            "no reply from the core",
        ))
    })
}

/// Resolves when the peer has closed its side (a blocked client that went
/// away); pipelined bytes waiting to be read leave it pending.
async fn peer_gone(stream: &mut Stream) {
    let mut b = [0u8; 1];
    match stream.peek(&mut b).await {
        Ok(0) | Err(_) => {}
        Ok(_) => futures::future::pending::<()>().await,
    }
}

/// Runs the pending commands and appends their replies, in order, to `out`.
/// With `watch`, a batch holding a blocking pop stops (and its pops are
/// abandoned, taking no element) when the client disconnects: returns
/// `false` then.
async fn settle(
    core: &Rc<Core>,
    p: &mut Pending,
    st: &mut State,
    out: &mut Vec<u8>,
    watch: Option<&mut Stream>,
) -> bool {
    let frames = std::mem::take(&mut p.frames);
    let blocking = p
        .items
        .iter()
        .any(|i| matches!(i, Item::Run(Shape::BPop(_) | Shape::Block)));
    let replies = match watch.filter(|_| blocking) {
        Some(stream) => {
            let run = std::pin::pin!(run_frames(core, frames));
            let gone = std::pin::pin!(peer_gone(stream));
            match futures::future::select(run, gone).await {
                futures::future::Either::Left((r, _)) => r,
                futures::future::Either::Right(_) => {
                    p.clear();
                    return false;
                }
            }
        }
        None => run_frames(core, frames).await,
    };
    // The local commands' writes: committed (and acknowledged by the
    // replicas the configuration asks for) before any reply goes out.
    if let Some(max) = p.writes.iter().map(|w| w.1).max() {
        core.groups().wait_committed(max).await;
    }
    let took = p.started.map(|t0| t0.elapsed()).unwrap_or_default();
    let mut replies = replies.into_iter();
    for (item, muted) in p.items.drain(..).zip(p.muted.drain(..)) {
        let mark = out.len();
        let (shape, converted) = match item {
            Item::Ready(b) => {
                out.extend_from_slice(if muted { &[] } else { &b[..] });
                continue;
            }
            Item::Run(shape) => {
                let converted = match replies.next() {
                    Some(Ok(body)) => redis::convert(&shape, &body),
                    Some(Err(e)) => Err(e),
                    None => Err(WireError::new(ErrorCode::Internal, "a reply is missing")),
                };
                (shape, converted)
            }
            Item::Local {
                shape,
                op,
                start,
                end,
                w0,
                w1,
            } => {
                let reply = match core.write_error(&p.writes[w0..w1]) {
                    Some(e) => Err(e),
                    None => reply_frame(&p.local[start..end]),
                };
                // Counted as a binary connection counts its requests.
                core.stats().command(op, reply.is_ok(), took);
                let converted = reply.and_then(|body| redis::convert(&shape, body));
                (shape, converted)
            }
        };
        match converted {
            Ok(Value::Nil)
                if matches!(
                    shape,
                    Shape::BPop(true) | Shape::NamedOrNullArray | Shape::Block
                ) =>
            {
                resp::encode_null_array(out, st.resp3)
            }
            Ok(Value::Array(mut page)) if shape == Shape::MemberScan => {
                // [cursor, items]: the member cursor becomes an integer.
                if let Some(Value::Bytes(c)) = page.first_mut() {
                    if c.as_slice() != b"0" {
                        *c = st
                            .remember_cursor(std::mem::take(c))
                            .to_string()
                            .into_bytes();
                    }
                }
                resp::encode(out, &Value::Array(page), st.resp3)
            }
            Ok(v) => resp::encode(out, &v, st.resp3),
            Err(e) => resp::encode_error(out, &e),
        }
        if muted {
            out.truncate(mark);
        }
    }
    p.clear();
    true
}

/// The body of a reply frame, or the error it carries.
fn reply_frame(bytes: &[u8]) -> Result<&[u8], WireError> {
    match frame::check(bytes, usize::MAX) {
        Ok(Some(info)) if info.kind == frame::STATUS_OK => Ok(info.body(bytes)),
        Ok(Some(info)) => Err(decode_error(info.body(bytes))),
        _ => Err(WireError::new(
            ErrorCode::Internal,
            "a malformed reply from the core",
        )),
    }
}

/// Counts the connection while it lives, and drops its subscriptions.
struct Counted(Rc<Core>, u64);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.stats().connection_closed();
        self.0.waiters().forget(self.1);
    }
}

/// Serves one RESP connection until it closes, fails, or the core stops.
pub async fn serve(core: Rc<Core>, mut stream: Stream) {
    core.connection_opened(&stream);
    let id = super::clients::next_id();
    let _counted = Counted(core.clone(), id);
    let session = Session::new(&core.config().acl);
    let listed = core.clients().open(id, &stream, "resp");
    let mut st = State {
        id,
        core: core.id(),
        name: None,
        resp3: false,
        multi: None,
        multi_failed: false,
        watched: Vec::new(),
        db: 0,
        last_cmd: String::new(),
        mailbox: None,
        channels: Vec::new(),
        patterns: Vec::new(),
        cursors: Recent::new(CURSORS_KEPT),
        readonly: false,
        asking: false,
        session,
        entry: listed.entry.clone(),
        replies: Default::default(),
    };
    let max_bulk = core.config().proto_max_bulk_len;
    let max_query = core.config().client_query_buffer_limit;
    let limits = core.config().output_limits;
    let normal_since = std::cell::Cell::new(None);
    let budget = core.config().memory_budget.clone();
    let stall_timeout = core.config().stalled_frame_timeout;
    let mut progress = Instant::now();
    let mut buf = vec![0u8; BASE_BUFFER];
    let mut borrowed = 0usize;
    let (mut start, mut filled) = (0usize, 0usize);
    let mut out = Vec::new();
    let mut pending = Pending::default();
    let result = 'conn: loop {
        let mut close = false;
        loop {
            let parsed = match resp::parse(&buf[start..filled], max_bulk) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    settle(&core, &mut pending, &mut st, &mut out, None).await;
                    resp::encode_error(
                        &mut out,
                        &WireError::new(ErrorCode::BadFrame, e.to_string()),
                    );
                    close = true;
                    break;
                }
            };
            let args = parsed.args(&buf[start..filled]);
            let used = parsed.len;
            if !args.is_empty() && handle(&core, &mut st, &mut pending, &mut out, &args).await {
                close = true;
            }
            start += used;
            if close {
                break;
            }
            // Long pipelines run in chunks, and their replies go out as they
            // come: a client that sends without reading then stalls on TCP
            // back-pressure instead of making the server hold every reply.
            if pending.items.len() >= CHUNK_COMMANDS || pending.local.len() >= FLUSH_BYTES {
                if !settle(&core, &mut pending, &mut st, &mut out, Some(&mut stream)).await {
                    break 'conn Ok(());
                }
                if out.len() >= FLUSH_BYTES {
                    if let Some(class) = over_limit(&st, &limits, &normal_since, &out) {
                        overflowed(&core, st.id, class);
                        break 'conn Ok(());
                    }
                    let mb = st.mailbox.as_deref();
                    match send_watching(&mut stream, &out, mb).await {
                        Ok(Sent::Done) => {}
                        Ok(Sent::Overflow) => {
                            overflowed(&core, st.id, "pubsub");
                            break 'conn Ok(());
                        }
                        Err(_) => break 'conn Err(()),
                    }
                    out.clear();
                }
            }
        }
        if !settle(&core, &mut pending, &mut st, &mut out, Some(&mut stream)).await {
            break 'conn Ok(());
        }
        messages::deliver(&st, &mut out);
        if let Some(class) = over_limit(&st, &limits, &normal_since, &out) {
            overflowed(&core, st.id, class);
            break 'conn Ok(());
        }
        if !out.is_empty() {
            core.stats().bytes_out(out.len());
            // Let the other connections that are ready this round run first,
            // so replies go out together at the end of the round (as Redis
            // writes them before it sleeps): the client is woken once for
            // many replies instead of once per reply.
            glommio::executor().yield_now().await;
            match send_watching(&mut stream, &out, st.mailbox.as_deref()).await {
                Ok(Sent::Done) => {}
                Ok(Sent::Overflow) => {
                    overflowed(&core, st.id, "pubsub");
                    break 'conn Ok(());
                }
                Err(_) => break 'conn Err(()),
            }
            out.clear();
            // A reply counts as activity (`timeout`): a blocking pop that
            // waited long is not idle when it returns.
            progress = Instant::now();
        }
        if close || core.shutdown().is_set() {
            break 'conn Ok(());
        }
        // Room for the next read: compact, and grow for a command larger
        // than the buffer (from the shared memory budget).
        if start == filled && borrowed > 0 {
            buf.truncate(BASE_BUFFER);
            buf.shrink_to_fit();
            budget.give_back(borrowed);
            borrowed = 0;
        }
        compact(&mut buf, &mut start, &mut filled);
        if filled == buf.len() {
            // Double, up to client-query-buffer-limit: a command that
            // needs more is refused and the connection closed (as Redis
            // closes a client past the limit).
            let grow = (buf.len() * 2).min(max_query).saturating_sub(buf.len());
            let e = if grow == 0 {
                Some(WireError::new(
                    ErrorCode::FrameTooLarge,
                    format!(
                        "the command does not fit in client-query-buffer-limit ({max_query} bytes)"
                    ),
                ))
            } else if !budget.take_waiting(grow, stall_timeout).await {
                Some(WireError::new(
                    ErrorCode::OutOfMemory,
                    "no memory budget left for this command",
                ))
            } else {
                None
            };
            if let Some(e) = e {
                let _ = stream.send(&error_bytes(&e)).await;
                break 'conn Err(());
            }
            borrowed += grow;
            buf.resize(buf.len() + grow, 0);
        }
        // What CLIENT LIST shows, as of this read.
        st.show_at(progress);
        let read = match st.mailbox.clone() {
            // Subscribed: a message may arrive while the client is silent.
            Some(mb) if st.subscriptions() > 0 => {
                let r = std::pin::pin!(read_or_stop(&core, &mut stream, &mut buf[filled..]));
                let m = std::pin::pin!(mb.ready.wait(true));
                match futures::future::select(r, m).await {
                    futures::future::Either::Left((r, _)) => r,
                    futures::future::Either::Right(_) => continue 'conn,
                }
            }
            // A client holding budget for a partial command must keep sending.
            _ => match stall::read(
                &core,
                &mut stream,
                &mut buf[filled..],
                borrowed > 0,
                progress,
            )
            .await
            {
                stall::Read::Data(n) => Some(n),
                stall::Read::Closed | stall::Read::Evicted => None,
            },
        };
        let Some(n) = read else {
            break 'conn Ok(());
        };
        core.stats().bytes_in(n);
        filled += n;
        progress = Instant::now();
    };
    if borrowed > 0 {
        budget.give_back(borrowed);
    }
    let _ = result;
}

/// Handles one command; returns whether the connection should close after
/// the replies so far are written.
async fn handle(
    core: &Rc<Core>,
    st: &mut State,
    p: &mut Pending,
    out: &mut Vec<u8>,
    words: &[&[u8]],
) -> bool {
    let mut args: Vec<&[u8]> = words.to_vec();
    p.mute = st.replies.mute_next();
    st.last_cmd = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
    // HSCAN/SSCAN/ZSCAN take integer cursors here; the storage takes the
    // member cursor each one stands for.
    let member_scan = matches!(st.last_cmd.as_str(), "hscan" | "sscan" | "zscan");
    let resolved;
    if member_scan && args.len() > 2 && args[2] != b"0" {
        let token = std::str::from_utf8(args[2])
            .ok()
            .and_then(|t| t.parse::<u64>().ok());
        match token.and_then(|t| st.cursors.get(&t)) {
            Some(c) => {
                resolved = c.clone();
                args[2] = &resolved;
            }
            None => {
                p.ready(error_bytes(&bad("invalid cursor")));
                return false;
            }
        }
    }
    // The ACL user: NOAUTH before AUTH, NOPERM beyond the user's rules.
    match auth::gate(core, st, &args) {
        Verdict::Run => {}
        Verdict::Refuse(e) => {
            if st.multi.is_some() {
                st.multi_failed = true;
            }
            p.ready(error_bytes(&e));
            return false;
        }
        // `gate` answers a denial with Refuse (NOPERM, logged); Gone: the
        // user was removed, and the connection closes.
        Verdict::Gone | Verdict::Denied(_) => return true,
    }
    let plan = redis::plan(&args);
    // ASKING lasts for one command (a migration's target honours it).
    let asking = st.asking;
    if !matches!(plan, Plan::Conn(ConnCmd::Asking)) {
        st.asking = false;
    }
    // Cluster mode: a key in a slot another node serves is redirected
    // before it is queued or run (in MULTI too: EXEC then aborts).
    if let Plan::Run(req, _) = &plan {
        let flags = ConnFlags {
            readonly: st.readonly,
            asking,
        };
        if let Err(e) = core.cluster_gate(req, Front::Resp, flags) {
            if st.multi.is_some() {
                st.multi_failed = true;
            }
            p.ready(error_bytes(&e));
            return false;
        }
    }
    // RESP2 subscribers may only (un)subscribe, ping, quit or reset.
    if st.subscriptions() > 0 && !st.resp3 {
        match &plan {
            Plan::Conn(
                ConnCmd::Subscribe
                | ConnCmd::Unsubscribe
                | ConnCmd::PSubscribe
                | ConnCmd::PUnsubscribe
                | ConnCmd::Quit
                | ConnCmd::Reset,
            ) => {}
            _ if st.last_cmd == "ping" => {
                let msg = args.get(1).map(|m| m.to_vec()).unwrap_or_default();
                p.ready(value_bytes(
                    &Value::Array(vec![Value::bytes(b"pong".to_vec()), Value::Bytes(msg)]),
                    false,
                ));
                return false;
            }
            _ => {
                p.ready(error_bytes(&bad(format!(
                    "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    st.last_cmd
                ))));
                return false;
            }
        }
    }
    // Inside MULTI everything but the transaction's own commands is queued.
    if st.multi.is_some() {
        match &plan {
            Plan::Conn(
                ConnCmd::Exec
                | ConnCmd::Discard
                | ConnCmd::Multi
                | ConnCmd::Watch
                | ConnCmd::Quit
                | ConnCmd::Reset,
            ) => {}
            _ => {
                let reply = match multi::queueable(&args) {
                    Ok(()) => {
                        if let Some(q) = st.multi.as_mut() {
                            q.push(args.iter().map(|a| a.to_vec()).collect());
                        }
                        Value::Status("QUEUED".into())
                    }
                    Err(e) => {
                        st.multi_failed = true;
                        let e = match &plan {
                            Plan::Error(pe) => pe.clone(),
                            _ => e,
                        };
                        p.ready(error_bytes(&e));
                        return false;
                    }
                };
                p.ready(value_bytes(&reply, st.resp3));
                return false;
            }
        }
    }
    match plan {
        Plan::Reply(v) => p.ready(value_bytes(&v, st.resp3)),
        Plan::Error(e) => p.ready(error_bytes(&e)),
        Plan::Run(req, shape) => p.run(core, &req.in_db(st.db), shape).await,
        Plan::Conn(c) => {
            // Connection commands see every earlier reply first.
            settle(core, p, st, out, None).await;
            let mark = out.len();
            let close = conn_command(core, st, out, c, &args).await;
            if p.mute && !st.replies.back_on() {
                out.truncate(mark);
            }
            return close;
        }
    }
    false
}

fn ok_or_error(out: &mut Vec<u8>, r: Result<Value, WireError>, resp3: bool) {
    match r {
        Ok(v) => resp::encode(out, &v, resp3),
        Err(e) => resp::encode_error(out, &e),
    }
}

fn bad(m: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, m)
}
