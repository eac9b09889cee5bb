//! # tessera-client
//!
//! The async Rust client of Tessera: shard-aware and pipelining. It builds
//! on the wire formats (`tessera-wire`) only, so a program that uses it
//! compiles no RocksDB.
//!
//! `Client::connect` reads HELLO from any port of a node, then opens one
//! connection to each core's own port and sends every request straight to
//! the core that owns its key (zero cross-core hops). `Client::connect_direct`
//! uses one connection and lets the server forward. Any number of requests
//! may be in flight on a connection; replies are matched by request id.
//!
//! The client runs inside a glommio executor (it spawns a reader and a
//! writer task per connection).

mod credentials;
pub mod sync;
pub mod sys;
pub mod tls;

pub use credentials::{credentials, set_credentials, Credentials};

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;

use ahash::AHashMap;
use futures::channel::oneshot;
use futures::{AsyncReadExt, AsyncWriteExt};

use crate::sync::Notify;

mod cluster;
use tessera_wire as proto;
use tessera_wire::cluster_slots::ClusterSlots;
use tessera_wire::codec::{compact, Reader};
use tessera_wire::codes::WireError;
use tessera_wire::command::{read_found, NamedCommand};
use tessera_wire::route::{combine, split, Gather};
use tessera_wire::value::Value;
use tessera_wire::{frame, hello, Hello, Request, SetArgs, Topology, Versioned};

/// Errors the client returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("I/O error: {0}")]
    Io(String),
    /// The server answered with an error from the registry.
    #[error("server error {}: {}", .0.code.name(), .0.message)]
    Server(WireError),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("connection closed")]
    Closed,
}

impl From<proto::Error> for ClientError {
    fn from(e: proto::Error) -> Self {
        ClientError::Protocol(e.to_string())
    }
}

impl ClientError {
    /// The registry code when the server refused the request.
    pub fn code(&self) -> Option<tessera_wire::codes::ErrorCode> {
        match self {
            ClientError::Server(w) => Some(w.code),
            _ => None,
        }
    }
}

/// A reply frame: status and body.
type Reply = Result<Vec<u8>, ClientError>;

struct Inner {
    out: RefCell<Vec<u8>>,
    wake_writer: Notify,
    pending: RefCell<AHashMap<u32, oneshot::Sender<Reply>>>,
    next_id: Cell<u32>,
    /// Set when the connection failed; later calls fail at once.
    dead: RefCell<Option<ClientError>>,
    closing: Cell<bool>,
}

impl Inner {
    fn fail_all(&self, e: ClientError) {
        self.dead.borrow_mut().get_or_insert(e.clone());
        for (_, tx) in self.pending.borrow_mut().drain() {
            let _ = tx.send(Err(e.clone()));
        }
    }
}

/// One pipelined connection.
struct Conn {
    inner: Rc<Inner>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.inner.closing.set(true);
        self.inner.wake_writer.notify();
    }
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, ClientError> {
        let stream = tls::connect(addr).await?;
        let inner = Rc::new(Inner {
            out: RefCell::new(Vec::with_capacity(64 << 10)),
            wake_writer: Notify::default(),
            pending: RefCell::new(AHashMap::new()),
            next_id: Cell::new(1),
            dead: RefCell::new(None),
            closing: Cell::new(false),
        });
        let (mut rd, mut wr) = stream.split();
        let reader = inner.clone();
        glommio::spawn_local(async move {
            let mut buf = vec![0u8; 64 << 10];
            let (mut start, mut filled) = (0usize, 0usize);
            loop {
                loop {
                    match frame::check(&buf[start..filled], usize::MAX) {
                        Ok(Some(info)) => {
                            let f = &buf[start..start + info.total_len];
                            let body = info.body(f);
                            let reply = if info.kind == frame::STATUS_OK {
                                Ok(body.to_vec())
                            } else {
                                Err(ClientError::Server(proto::decode_error(body)))
                            };
                            if let Some(tx) = reader.pending.borrow_mut().remove(&info.id) {
                                let _ = tx.send(reply);
                            }
                            start += info.total_len;
                        }
                        Ok(None) => break,
                        Err(e) => {
                            reader.fail_all(ClientError::Protocol(e.to_string()));
                            return;
                        }
                    }
                }
                compact(&mut buf, &mut start, &mut filled);
                if let Some(need) = frame::needed_len(&buf[..filled]) {
                    if need > buf.len() {
                        buf.resize(need, 0);
                    }
                }
                match rd.read(&mut buf[filled..]).await {
                    Ok(0) => {
                        reader.fail_all(ClientError::Closed);
                        return;
                    }
                    Ok(n) => filled += n,
                    Err(e) => {
                        reader.fail_all(ClientError::Io(e.to_string()));
                        return;
                    }
                }
            }
        })
        .detach();
        let writer = inner.clone();
        glommio::spawn_local(async move {
            let mut spare = Vec::with_capacity(64 << 10);
            loop {
                writer.wake_writer.wait(true).await;
                loop {
                    std::mem::swap(&mut spare, &mut *writer.out.borrow_mut());
                    if spare.is_empty() {
                        break;
                    }
                    if let Err(e) = wr.write_all(&spare).await {
                        writer.fail_all(ClientError::Io(e.to_string()));
                        return;
                    }
                    spare.clear();
                }
                // TLS keeps what the socket did not take yet.
                if let Err(e) = wr.flush().await {
                    writer.fail_all(ClientError::Io(e.to_string()));
                    return;
                }
                if writer.closing.get() {
                    let _ = wr.close().await;
                    return;
                }
            }
        })
        .detach();
        let conn = Conn { inner };
        if let Some(c) = credentials() {
            conn.call(&Request::Auth {
                user: &c.user,
                pass: &c.pass,
            })
            .await?;
        }
        Ok(conn)
    }

    /// Sends a request and waits for its reply body.
    async fn call(&self, req: &Request<'_>) -> Reply {
        let rx = self.send(req)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    fn send(&self, req: &Request<'_>) -> Result<oneshot::Receiver<Reply>, ClientError> {
        if let Some(e) = self.inner.dead.borrow().clone() {
            return Err(e);
        }
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id.wrapping_add(1));
        let (tx, rx) = oneshot::channel();
        self.inner.pending.borrow_mut().insert(id, tx);
        req.encode(id, &mut self.inner.out.borrow_mut());
        self.inner.wake_writer.notify();
        Ok(rx)
    }
}

/// A reply read by a [`Pipe`]: the request id and the body, or the
/// server's error.
pub type PipeReply<'a> = (u32, Result<&'a [u8], WireError>);

/// A pipelined connection for one task, with no background tasks: queue
/// requests with [`Pipe::push`], send them with one write ([`Pipe::flush`]),
/// then read the replies in order with [`Pipe::reply`]. This is the
/// cheapest way to drive one core's port (a load generator, a bulk loader);
/// it does not route, so send it only keys its core owns (see
/// [`Topology::core_of_key`] and [`Hello::core_ports`]).
pub struct Pipe {
    stream: tls::BoxIo,
    out: Vec<u8>,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    next_id: u32,
    /// Largest reply accepted (guards against a bogus length prefix).
    max_reply: usize,
}

impl Pipe {
    pub async fn connect(addr: SocketAddr) -> Result<Pipe, ClientError> {
        let stream = tls::connect(addr).await?;
        let mut pipe = Pipe {
            stream,
            out: Vec::with_capacity(16 << 10),
            buf: vec![0; 64 << 10],
            start: 0,
            filled: 0,
            next_id: 1,
            max_reply: 1 << 30,
        };
        if let Some(c) = credentials() {
            pipe.push(&Request::Auth {
                user: &c.user,
                pass: &c.pass,
            });
            pipe.flush().await?;
            if let (_, Err(e)) = pipe.reply().await? {
                return Err(ClientError::Server(e));
            }
        }
        Ok(pipe)
    }

    /// Queues a request; returns its id.
    pub fn push(&mut self, req: &Request<'_>) -> u32 {
        let id = self.next_id;
        self.next_id = id.wrapping_add(1);
        req.encode(id, &mut self.out);
        id
    }

    /// Writes every queued request.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let mut r = self.stream.write_all(&self.out).await;
        if r.is_ok() {
            r = self.stream.flush().await;
        }
        self.out.clear();
        r.map_err(|e| ClientError::Io(e.to_string()))
    }

    /// The next reply, in the order the requests were sent.
    pub async fn reply(&mut self) -> Result<PipeReply<'_>, ClientError> {
        loop {
            if let Some(info) = frame::check(&self.buf[self.start..self.filled], self.max_reply)
                .map_err(proto_err)?
            {
                let at = self.start;
                self.start += info.total_len;
                let body = info.body(&self.buf[at..at + info.total_len]);
                let r = if info.kind == frame::STATUS_OK {
                    Ok(body)
                } else {
                    Err(proto::decode_error(body))
                };
                return Ok((info.id, r));
            }
            compact(&mut self.buf, &mut self.start, &mut self.filled);
            let need = frame::needed_len(&self.buf[..self.filled]).unwrap_or(0);
            if need > self.buf.len() || self.filled == self.buf.len() {
                let n = need.max(self.buf.len() * 2);
                self.buf.resize(n, 0);
            }
            match self.stream.read(&mut self.buf[self.filled..]).await {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.filled += n,
                Err(e) => return Err(ClientError::Io(e.to_string())),
            }
        }
    }
}

/// What a conditional SET did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetResult {
    pub applied: bool,
    /// The new version, or the current one when not applied (0 = absent).
    pub version: u64,
}

/// A Tessera client.
pub struct Client {
    hello: Hello,
    topo: Topology,
    /// One connection per core (shard-aware), or a single one (direct).
    conns: Vec<Conn>,
    /// The address connected to.
    addr: SocketAddr,
    /// Cluster mode: the slot owners and the other nodes' clients.
    cluster: Option<cluster::ClusterView>,
    /// The database data requests run in (`select`; 0 = unwrapped).
    db: u16,
}

fn proto_err(e: proto::Error) -> ClientError {
    ClientError::Protocol(e.to_string())
}

impl Client {
    /// Connects shard-aware: HELLO on `addr`, then one connection per core.
    /// When the node is in a cluster, requests go to the primary serving
    /// their slot, on whichever node that is (following MOVED).
    pub async fn connect(addr: SocketAddr) -> Result<Client, ClientError> {
        let mut c = Self::connect_node(addr).await?;
        // In cluster mode HELLO carries the map.
        if !c.hello.cluster.is_empty() {
            let slots = ClusterSlots::decode(&c.hello.cluster).map_err(proto_err)?;
            c.cluster = Some(cluster::ClusterView::new(slots));
        }
        Ok(c)
    }

    /// Connects shard-aware to one node only (no cluster routing).
    pub async fn connect_node(addr: SocketAddr) -> Result<Client, ClientError> {
        let first = Conn::open(addr).await?;
        let hello = Self::handshake(&first).await?;
        let topo = Topology::from_hello(&hello).map_err(proto_err)?;
        let mut conns = Vec::with_capacity(hello.cores as usize);
        for port in &hello.core_ports {
            let mut a = addr;
            a.set_port(*port);
            conns.push(Conn::open(a).await?);
        }
        Ok(Client {
            hello,
            topo,
            conns,
            addr,
            cluster: None,
            db: 0,
        })
    }

    /// Connects with one connection to `addr`; the server forwards requests
    /// for other cores.
    pub async fn connect_direct(addr: SocketAddr) -> Result<Client, ClientError> {
        let conn = Conn::open(addr).await?;
        let hello = Self::handshake(&conn).await?;
        // A single connection: every request goes to it, the server routes.
        let topo = Topology::from_layout(&hello.layout, 1).map_err(proto_err)?;
        Ok(Client {
            hello,
            topo,
            conns: vec![conn],
            addr,
            cluster: None,
            db: 0,
        })
    }

    /// Connects one connection to the core owning `partition` (its port
    /// from HELLO), or keeps the first connection when `addr` is not the
    /// node's own listener (a proxy or a translated address in between):
    /// the node then routes requests to the owning core itself.
    pub async fn connect_partition(
        addr: SocketAddr,
        partition: u32,
    ) -> Result<Client, ClientError> {
        let first = Conn::open(addr).await?;
        let hello = Self::handshake(&first).await?;
        let full = Topology::from_hello(&hello).map_err(proto_err)?;
        let conn = match hello.core_ports.get(full.core_of_partition(partition)) {
            Some(&port) if hello.shared_port == addr.port() && port != addr.port() => {
                let mut a = addr;
                a.set_port(port);
                Conn::open(a).await?
            }
            _ => first,
        };
        let topo = Topology::from_layout(&hello.layout, 1).map_err(proto_err)?;
        Ok(Client {
            hello,
            topo,
            conns: vec![conn],
            addr,
            cluster: None,
            db: 0,
        })
    }

    async fn handshake(conn: &Conn) -> Result<Hello, ClientError> {
        let body = conn
            .call(&Request::Hello {
                version: hello::PROTOCOL_VERSION,
            })
            .await?;
        Hello::decode(&body).map_err(proto_err)
    }

    /// The node's HELLO.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Runs the data requests that follow in database `db` (each is sent
    /// wrapped in a DB request, docs/protocol.md); 0 is the default.
    pub fn select(&mut self, db: u16) {
        self.db = db;
    }

    /// Sends any request, routed and fanned out as needed; returns the reply body.
    pub async fn call(&self, req: &Request<'_>) -> Result<Vec<u8>, ClientError> {
        let wrapped;
        let req = match self.db {
            0 => req,
            db => {
                wrapped = req.clone().in_db(db);
                &wrapped
            }
        };
        if let Some(view) = &self.cluster {
            if let Ok(Some(slot)) = proto::route::request_slot(req) {
                return self.call_in_cluster(view, slot, req).await;
            }
        }
        self.call_here(req).await
    }

    /// Sends a request to this node, routed over its cores.
    pub(crate) async fn call_here(&self, req: &Request<'_>) -> Result<Vec<u8>, ClientError> {
        if self.conns.len() > 1 {
            if let Some((gather, parts)) = split(&self.topo, req) {
                let total = match req.db_and_inner().1 {
                    Request::MGet { keys } => keys.len(),
                    _ => 0,
                };
                return self.gather(gather, total, parts).await;
            }
        }
        let core = proto::route::home_core(&self.topo, req, 0);
        self.conns[core.min(self.conns.len() - 1)].call(req).await
    }

    async fn gather(
        &self,
        gather: Gather,
        total: usize,
        parts: Vec<(usize, Request<'_>, Vec<usize>)>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut rxs = Vec::with_capacity(parts.len());
        for (core, sub, idx) in &parts {
            rxs.push((self.conns[*core].send(sub)?, idx.clone()));
        }
        let mut done = Vec::with_capacity(rxs.len());
        for (rx, idx) in rxs {
            let mut f = Vec::new();
            match rx.await.map_err(|_| ClientError::Closed)? {
                Ok(body) => {
                    let s = frame::begin(&mut f, 0, frame::STATUS_OK, 0);
                    f.extend_from_slice(&body);
                    frame::finish(&mut f, s);
                }
                Err(ClientError::Server(w)) => proto::encode_error(&mut f, 0, &w),
                Err(e) => return Err(e),
            }
            done.push((f, idx));
        }
        let mut out = Vec::new();
        combine(&mut out, 0, gather, total, &done);
        let info = frame::check(&out, usize::MAX)
            .map_err(proto_err)?
            .ok_or_else(|| ClientError::Protocol("incomplete combined reply".into()))?;
        let body = info.body(&out).to_vec();
        if info.kind == frame::STATUS_OK {
            Ok(body)
        } else {
            Err(ClientError::Server(proto::decode_error(&body)))
        }
    }

    /// ROLE: 0 = status text, 1 = replicaof (`arg` = `HOST:PORT` or `no
    /// one`), 2 = promote (`arg` = `force` or empty). Returns the text.
    pub async fn role(&self, action: u8, arg: &[u8]) -> Result<String, ClientError> {
        let b = self.call(&Request::Role { action, arg }).await?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    pub async fn ping(&self, payload: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.call(&Request::Ping(payload)).await
    }

    pub async fn get(&self, key: &[u8]) -> Result<Option<Versioned>, ClientError> {
        let b = self.call(&Request::Get { key }).await?;
        let mut r = Reader::new(&b);
        let v = read_found(&mut r).map_err(proto_err)?;
        r.end().map_err(proto_err)?;
        Ok(v)
    }

    /// SET; returns the new version.
    pub async fn set(&self, key: &[u8], value: &[u8]) -> Result<u64, ClientError> {
        Ok(self.set_with(key, value, SetArgs::default()).await?.version)
    }

    /// SET with NX/XX, TTL, KEEPTTL or CAS.
    pub async fn set_with(
        &self,
        key: &[u8],
        value: &[u8],
        args: SetArgs,
    ) -> Result<SetResult, ClientError> {
        let b = self.call(&Request::Set { key, value, args }).await?;
        let mut r = Reader::new(&b);
        let applied = r.u8("applied").map_err(proto_err)? == 1;
        let version = r.u64("version").map_err(proto_err)?;
        Ok(SetResult { applied, version })
    }

    async fn count(&self, req: Request<'_>) -> Result<u64, ClientError> {
        let b = self.call(&req).await?;
        Reader::new(&b).u64("count").map_err(proto_err)
    }

    pub async fn del(&self, keys: &[&[u8]]) -> Result<u64, ClientError> {
        self.count(Request::Del {
            keys: keys.to_vec(),
        })
        .await
    }

    pub async fn exists(&self, keys: &[&[u8]]) -> Result<u64, ClientError> {
        self.count(Request::Exists {
            keys: keys.to_vec(),
        })
        .await
    }

    pub async fn mget(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, ClientError> {
        let b = self
            .call(&Request::MGet {
                keys: keys.to_vec(),
            })
            .await?;
        let mut r = Reader::new(&b);
        let n = r.u32("count").map_err(proto_err)? as usize;
        (0..n)
            .map(|_| read_found(&mut r).map_err(proto_err))
            .collect()
    }

    pub async fn mset(&self, pairs: &[(&[u8], &[u8])]) -> Result<u64, ClientError> {
        self.count(Request::MSet {
            pairs: pairs.to_vec(),
        })
        .await
    }

    /// INCRBY; returns the new value and its version.
    pub async fn incr_by(&self, key: &[u8], delta: i64) -> Result<(i64, u64), ClientError> {
        let b = self.call(&Request::IncrBy { key, delta }).await?;
        let mut r = Reader::new(&b);
        Ok((
            r.i64("value").map_err(proto_err)?,
            r.u64("version").map_err(proto_err)?,
        ))
    }

    /// PEXPIRE; a TTL of 0 deletes the key. Returns whether the key existed.
    pub async fn expire_ms(&self, key: &[u8], ttl_ms: u64) -> Result<bool, ClientError> {
        let b = self.call(&Request::Expire { key, ttl_ms }).await?;
        Ok(Reader::new(&b).u8("applied").map_err(proto_err)? == 1)
    }

    pub async fn persist(&self, key: &[u8]) -> Result<bool, ClientError> {
        let b = self.call(&Request::Persist { key }).await?;
        Ok(Reader::new(&b).u8("applied").map_err(proto_err)? == 1)
    }

    /// Remaining TTL in ms: -2 when missing, -1 when the key has no expiry.
    pub async fn ttl_ms(&self, key: &[u8]) -> Result<i64, ClientError> {
        let b = self.call(&Request::Ttl { key }).await?;
        Reader::new(&b).i64("ttl").map_err(proto_err)
    }

    /// One SCAN page; a returned cursor of 0 ends the scan.
    pub async fn scan(
        &self,
        cursor: u64,
        count: u32,
        prefix: &[u8],
    ) -> Result<(u64, Vec<Vec<u8>>), ClientError> {
        let b = self
            .call(&Request::Scan {
                cursor,
                count,
                prefix,
            })
            .await?;
        let mut r = Reader::new(&b);
        let next = r.u64("cursor").map_err(proto_err)?;
        let n = r.count("keys", 4).map_err(proto_err)?;
        let keys = (0..n)
            .map(|_| r.bytes("key").map(|k| k.to_vec()).map_err(proto_err))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((next, keys))
    }

    /// Every key matching `prefix`, scanning page by page.
    pub async fn scan_all(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, ClientError> {
        let mut all = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan(cursor, 1000, prefix).await?;
            all.extend(keys);
            if next == 0 {
                return Ok(all);
            }
            cursor = next;
        }
    }

    /// Estimated number of keys (RocksDB's estimate, summed over partitions).
    pub async fn dbsize(&self) -> Result<u64, ClientError> {
        self.count(Request::DbSize).await
    }

    /// Asks the node to write an online checkpoint of every partition into
    /// `dir` on its own machine (under its `backup-root`); returns the
    /// partitions written.
    pub async fn backup(&self, dir: &str) -> Result<u64, ClientError> {
        self.count(Request::Backup {
            dir: dir.as_bytes(),
        })
        .await
    }

    pub async fn info(&self) -> Result<String, ClientError> {
        let b = self.call(&Request::Info).await?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// Runs a blocking command as Redis words (`["BZPOPMIN", "z", "1.5"]`;
    /// BLMPOP, BZMPOP, BZPOPMIN, BZPOPMAX): the answer once something was
    /// popped, or nil when the timeout ran out.
    pub async fn block(&self, args: &[&[u8]]) -> Result<Value, ClientError> {
        let b = self
            .call(&Request::Block {
                args: args.to_vec(),
            })
            .await?;
        let mut r = Reader::new(&b);
        let value = Value::decode(&mut r, 0).map_err(proto_err)?;
        r.end().map_err(proto_err)?;
        Ok(value)
    }

    /// Runs a named command (`["HSET", "h", "f", "v"]`); returns the first
    /// key's version afterwards (0 when it does not exist) and the answer.
    pub async fn command(&self, args: &[&[u8]]) -> Result<(u64, Value), ClientError> {
        self.command_cas(args, None).await
    }

    /// A named command that applies only if its first key's version is
    /// `expected` (0 = the key must not exist); VERSION_CONFLICT otherwise.
    pub async fn command_cas(
        &self,
        args: &[&[u8]],
        expected: Option<u64>,
    ) -> Result<(u64, Value), ClientError> {
        let b = self
            .call(&Request::Command(NamedCommand {
                expected_version: expected,
                args: args.to_vec(),
                keep_going: false,
            }))
            .await?;
        let mut r = Reader::new(&b);
        let version = r.u64("version").map_err(proto_err)?;
        let value = Value::decode(&mut r, 0).map_err(proto_err)?;
        r.end().map_err(proto_err)?;
        Ok((version, value))
    }

    /// Applies named commands whose keys share one slot all or nothing
    /// (CROSS_SLOT otherwise); returns each one's (version, answer).
    pub async fn batch(&self, cmds: &[NamedCommand<'_>]) -> Result<Vec<(u64, Value)>, ClientError> {
        let b = self.call(&Request::Batch(cmds.to_vec())).await?;
        let mut r = Reader::new(&b);
        let n = r.count("results", 9).map_err(proto_err)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let version = r.u64("version").map_err(proto_err)?;
            out.push((version, Value::decode(&mut r, 0).map_err(proto_err)?));
        }
        r.end().map_err(proto_err)?;
        Ok(out)
    }
}
