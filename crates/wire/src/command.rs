//! Commands of protocol v1: opcodes, request bodies and response bodies.
//! Encode and decode sit side by side; `docs/protocol.md` gives the bytes.

use super::codec::{put_bytes, put_i64, put_u16, put_u32, put_u64, Reader};
use super::frame;
use super::Error;

pub use super::opcode::Opcode;

/// SET flags.
pub mod set_flags {
    /// Only if the key does not exist.
    pub const NX: u8 = 0x01;
    /// Only if the key exists.
    pub const XX: u8 = 0x02;
    /// A u64 TTL in ms follows the value.
    pub const TTL: u8 = 0x04;
    /// A u64 expected version follows (CAS; 0 = the key must not exist).
    pub const CAS: u8 = 0x08;
    /// Keep the key's current expiry.
    pub const KEEPTTL: u8 = 0x10;
    pub const ALL: u8 = NX | XX | TTL | CAS | KEEPTTL;
}

/// COMMAND and BATCH flags.
pub mod command_flags {
    /// A u64 expected version of the first key precedes the arguments (CAS).
    pub const CAS: u8 = 0x01;
    /// In a BATCH: a run-time failure of this command takes back its own
    /// writes only, its error becomes its value, and the batch goes on
    /// (EXEC, as Redis runs it).
    pub const KEEP_GOING: u8 = 0x02;
}

/// One named command: an optional expected version of its first key, and
/// its words (`[b"HSET", key, field, value]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedCommand<'a> {
    pub expected_version: Option<u64>,
    pub args: Vec<&'a [u8]>,
    /// `command_flags::KEEP_GOING` (batched commands only).
    pub keep_going: bool,
}

impl<'a> NamedCommand<'a> {
    pub fn new(args: Vec<&'a [u8]>) -> Self {
        NamedCommand {
            expected_version: None,
            args,
            keep_going: false,
        }
    }

    /// A batched command whose failure leaves the others applied.
    pub fn keep_going(self) -> Self {
        NamedCommand {
            keep_going: true,
            ..self
        }
    }

    fn decode(r: &mut Reader<'a>, flags: u8) -> Result<Self, Error> {
        let expected_version = if flags & command_flags::CAS != 0 {
            Some(r.u64("expected version")?)
        } else {
            None
        };
        let n = r.count("argument count", 4)?;
        if n == 0 {
            return Err(Error::BadArguments("a command needs its name".into()));
        }
        let args = (0..n)
            .map(|_| r.bytes("argument"))
            .collect::<Result<_, _>>()?;
        Ok(NamedCommand {
            expected_version,
            args,
            keep_going: flags & command_flags::KEEP_GOING != 0,
        })
    }

    fn flags(&self) -> u8 {
        let cas = match self.expected_version {
            Some(_) => command_flags::CAS,
            None => 0,
        };
        match self.keep_going {
            true => cas | command_flags::KEEP_GOING,
            false => cas,
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        if let Some(v) = self.expected_version {
            put_u64(out, v);
        }
        put_keys(out, &self.args);
    }
}

/// Arguments of SET besides key and value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetArgs {
    pub nx: bool,
    pub xx: bool,
    pub ttl_ms: Option<u64>,
    pub expected_version: Option<u64>,
    pub keep_ttl: bool,
}

/// A decoded request, borrowing its byte strings from the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    Ping(&'a [u8]),
    Hello {
        version: u16,
    },
    /// Authenticates the connection as `user` (the default user when
    /// empty) with `pass`.
    Auth {
        user: &'a [u8],
        pass: &'a [u8],
    },
    Get {
        key: &'a [u8],
    },
    Set {
        key: &'a [u8],
        value: &'a [u8],
        args: SetArgs,
    },
    Del {
        keys: Vec<&'a [u8]>,
    },
    Exists {
        keys: Vec<&'a [u8]>,
    },
    MGet {
        keys: Vec<&'a [u8]>,
    },
    MSet {
        pairs: Vec<(&'a [u8], &'a [u8])>,
    },
    IncrBy {
        key: &'a [u8],
        delta: i64,
    },
    Expire {
        key: &'a [u8],
        ttl_ms: u64,
    },
    Persist {
        key: &'a [u8],
    },
    Ttl {
        key: &'a [u8],
    },
    Scan {
        cursor: u64,
        count: u32,
        prefix: &'a [u8],
    },
    DbSize,
    Info,
    /// Online checkpoint of every partition into `dir` on the server.
    Backup {
        dir: &'a [u8],
    },
    /// Every core's metrics in the internal line format (net::metrics).
    Metrics,
    /// A named command (hashes, sets, sorted sets, lists, keys, strings).
    Command(NamedCommand<'a>),
    /// Named commands whose keys share one slot, applied all or nothing.
    Batch(Vec<NamedCommand<'a>>),
    /// Delivers `message` to `channel`'s subscribers (and matching patterns).
    Publish {
        channel: &'a [u8],
        message: &'a [u8],
    },
    /// Deletes every key (every partition of every core).
    FlushAll,
    /// Replication: the write batches of `partition` after position
    /// `(term, epoch node, index)`, up to about `max_bytes`.
    Pull {
        partition: u32,
        term: u64,
        epoch_node: u64,
        index: u64,
        max_bytes: u32,
        /// The asking replica's node id (its position counts toward acks).
        node: u64,
        /// The highest epoch term the asker knows (a primary that sees a
        /// higher one than its own stops taking writes).
        known_term: u64,
        /// The asker's binary `HOST:PORT` (peers learn of each other).
        addr: &'a [u8],
    },
    /// Replication: the next chunk of a checkpoint of `partition`
    /// (session 0 starts one), after `(cf, key)` (`cf` 255 = from the start).
    Sync {
        partition: u32,
        session: u64,
        cf: u8,
        after: &'a [u8],
        max_bytes: u32,
    },
    /// Replication role: `action` 0 = status (every core's lines), 1 =
    /// replicaof (`arg` = `HOST:PORT`), 2 = promote (`arg` = `force` or
    /// empty), 3 = one core's part of a role change (internal).
    Role {
        action: u8,
        arg: &'a [u8],
    },
    /// Cluster control (docs/cluster.md): `action` picks what `body` holds
    /// (a node's identity, a Raft message for the controller, a cluster to
    /// form, the status); the bodies are versioned JSON documents.
    Cluster {
        action: u8,
        body: &'a [u8],
    },
    /// Pops from the first non-empty list of `keys` (from the left or the
    /// right), waiting up to `timeout_ms` (0 = forever) for a push; with
    /// `dest`, pushes the element there (BLMOVE). All keys in one slot.
    BlockingPop {
        timeout_ms: u64,
        left: bool,
        keys: Vec<&'a [u8]>,
        dest: Option<(&'a [u8], bool)>,
    },
    /// Pub/sub figures of one core: `kind` 0 = channels (matching the
    /// optional pattern in `args`), 1 = subscribers of each channel in
    /// `args`, 2 = pattern subscriptions.
    PubSub {
        kind: u8,
        args: Vec<&'a [u8]>,
    },
    /// One core's client connections: listed (one CLIENT LIST line each)
    /// or, with `kill`, closed, those `filter` picks: pairs of a field
    /// (`id`, `addr`, `laddr`, `user`, `type`, `skipme`, `caller`) and its value.
    Clients {
        kill: bool,
        filter: Vec<&'a [u8]>,
    },
    /// One core's slow log: `action` 0 = its newest `count` entries
    /// (each entry encoded as the slow log's own type), 1 = how many it
    /// holds, 2 = clear it.
    SlowLog {
        action: u8,
        count: u32,
    },
    /// A blocking command of the command table (`args`: its words as in
    /// Redis, the name first and the timeout in seconds where Redis has it),
    /// waiting for one of its keys to have something to pop; nil when the
    /// time runs out. All keys in one slot.
    Block {
        args: Vec<&'a [u8]>,
    },
    /// `inner` run in database `db` (RESP's SELECT; never 0: database 0
    /// is every request's own). Only data requests are wrapped
    /// (`Opcode::in_database`).
    InDb {
        db: u16,
        inner: Box<Request<'a>>,
    },
    /// Deletes every key of the request's database (FLUSHDB).
    FlushDb,
    /// Exchanges the keys of databases `a` and `b` (SWAPDB), core by core.
    SwapDb {
        a: u16,
        b: u16,
    },
}

fn keys<'a>(r: &mut Reader<'a>) -> Result<Vec<&'a [u8]>, Error> {
    let n = r.count("key count", 4)?;
    if n == 0 {
        return Err(Error::BadArguments("at least one key is required".into()));
    }
    (0..n).map(|_| r.bytes("key")).collect()
}

fn put_keys(out: &mut Vec<u8>, keys: &[&[u8]]) {
    put_u32(out, keys.len() as u32);
    for k in keys {
        put_bytes(out, k);
    }
}

impl<'a> Request<'a> {
    pub fn opcode(&self) -> Opcode {
        match self {
            Request::Ping(_) => Opcode::Ping,
            Request::Hello { .. } => Opcode::Hello,
            Request::Auth { .. } => Opcode::Auth,
            Request::Get { .. } => Opcode::Get,
            Request::Set { .. } => Opcode::Set,
            Request::Del { .. } => Opcode::Del,
            Request::Exists { .. } => Opcode::Exists,
            Request::MGet { .. } => Opcode::MGet,
            Request::MSet { .. } => Opcode::MSet,
            Request::IncrBy { .. } => Opcode::IncrBy,
            Request::Expire { .. } => Opcode::Expire,
            Request::Persist { .. } => Opcode::Persist,
            Request::Ttl { .. } => Opcode::Ttl,
            Request::Scan { .. } => Opcode::Scan,
            Request::DbSize => Opcode::DbSize,
            Request::Info => Opcode::Info,
            Request::Backup { .. } => Opcode::Backup,
            Request::Metrics => Opcode::Metrics,
            Request::Command(_) => Opcode::Command,
            Request::Batch(_) => Opcode::Batch,
            Request::Publish { .. } => Opcode::Publish,
            Request::PubSub { .. } => Opcode::PubSub,
            Request::Clients { .. } => Opcode::Clients,
            Request::SlowLog { .. } => Opcode::SlowLog,
            Request::Block { .. } => Opcode::Block,
            Request::BlockingPop { .. } => Opcode::BlockingPop,
            Request::FlushAll => Opcode::FlushAll,
            Request::Pull { .. } => Opcode::Pull,
            Request::Sync { .. } => Opcode::Sync,
            Request::Role { .. } => Opcode::Role,
            Request::Cluster { .. } => Opcode::Cluster,
            Request::InDb { .. } => Opcode::Db,
            Request::FlushDb => Opcode::FlushDb,
            Request::SwapDb { .. } => Opcode::SwapDb,
        }
    }

    /// This request run in database `db`: itself for database 0 and for
    /// requests that are not about one database's keys (PING, INFO, SWAPDB,
    /// ...), else wrapped in a DB request.
    pub fn in_db(self, db: u16) -> Request<'a> {
        match (db, self) {
            (0, r) => r,
            (db, Request::InDb { inner, .. }) => Request::InDb { db, inner },
            (db, r) if r.opcode().in_database() => Request::InDb {
                db,
                inner: Box::new(r),
            },
            (_, r) => r,
        }
    }

    /// The request's database and the request run in it.
    pub fn db_and_inner(&self) -> (u16, &Request<'a>) {
        match self {
            Request::InDb { db, inner } => (*db, inner),
            r => (0, r),
        }
    }

    /// Decodes a request body. Unknown opcodes, unknown flags, missing or
    /// extra bytes are errors; nothing here panics on any input.
    pub fn decode(opcode: u8, flags: u8, body: &'a [u8]) -> Result<Request<'a>, Error> {
        let op = Opcode::try_from(opcode).map_err(Error::UnknownOpcode)?;
        let allowed = match op {
            Opcode::Set => set_flags::ALL,
            Opcode::Command => command_flags::CAS,
            _ => 0,
        };
        if flags & !allowed != 0 {
            return Err(Error::BadArguments(format!(
                "{} does not take flags {flags:#04x}",
                op.name()
            )));
        }
        let mut r = Reader::new(body);
        let req = match op {
            Opcode::Ping => Request::Ping(r.rest()),
            Opcode::Hello => Request::Hello {
                version: r.u16("protocol version")?,
            },
            Opcode::Auth => Request::Auth {
                user: r.bytes("user")?,
                pass: r.bytes("password")?,
            },
            Opcode::Get => Request::Get {
                key: r.bytes("key")?,
            },
            Opcode::Set => {
                let key = r.bytes("key")?;
                let value = r.bytes("value")?;
                let ttl_ms = if flags & set_flags::TTL != 0 {
                    Some(r.u64("ttl")?)
                } else {
                    None
                };
                let expected_version = if flags & set_flags::CAS != 0 {
                    Some(r.u64("expected version")?)
                } else {
                    None
                };
                let args = SetArgs {
                    nx: flags & set_flags::NX != 0,
                    xx: flags & set_flags::XX != 0,
                    ttl_ms,
                    expected_version,
                    keep_ttl: flags & set_flags::KEEPTTL != 0,
                };
                if args.nx && args.xx {
                    return Err(Error::BadArguments("SET takes NX or XX, not both".into()));
                }
                if args.keep_ttl && args.ttl_ms.is_some() {
                    return Err(Error::BadArguments(
                        "SET takes a TTL or KEEPTTL, not both".into(),
                    ));
                }
                if args.ttl_ms == Some(0) {
                    return Err(Error::BadArguments("SET TTL must be positive".into()));
                }
                Request::Set { key, value, args }
            }
            Opcode::Del => Request::Del {
                keys: keys(&mut r)?,
            },
            Opcode::Exists => Request::Exists {
                keys: keys(&mut r)?,
            },
            Opcode::MGet => Request::MGet {
                keys: keys(&mut r)?,
            },
            Opcode::MSet => {
                let n = r.count("pair count", 8)?;
                if n == 0 {
                    return Err(Error::BadArguments("MSET needs at least one pair".into()));
                }
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    pairs.push((r.bytes("key")?, r.bytes("value")?));
                }
                Request::MSet { pairs }
            }
            Opcode::IncrBy => Request::IncrBy {
                key: r.bytes("key")?,
                delta: r.i64("delta")?,
            },
            Opcode::Expire => Request::Expire {
                key: r.bytes("key")?,
                ttl_ms: r.u64("ttl")?,
            },
            Opcode::Persist => Request::Persist {
                key: r.bytes("key")?,
            },
            Opcode::Ttl => Request::Ttl {
                key: r.bytes("key")?,
            },
            Opcode::Scan => Request::Scan {
                cursor: r.u64("cursor")?,
                count: r.u32("count")?,
                prefix: r.bytes("prefix")?,
            },
            Opcode::DbSize => Request::DbSize,
            Opcode::Info => Request::Info,
            Opcode::Metrics => Request::Metrics,
            Opcode::FlushAll => Request::FlushAll,
            Opcode::Pull => Request::Pull {
                partition: r.u32("partition")?,
                term: r.u64("term")?,
                epoch_node: r.u64("epoch node")?,
                index: r.u64("index")?,
                max_bytes: r.u32("max bytes")?,
                node: r.u64("node id")?,
                known_term: r.u64("known term")?,
                addr: r.bytes("address")?,
            },
            Opcode::Sync => Request::Sync {
                partition: r.u32("partition")?,
                session: r.u64("session")?,
                cf: r.u8("column family")?,
                after: r.bytes("after")?,
                max_bytes: r.u32("max bytes")?,
            },
            Opcode::Role => Request::Role {
                action: r.u8("action")?,
                arg: r.bytes("argument")?,
            },
            Opcode::Cluster => Request::Cluster {
                action: r.u8("action")?,
                body: r.bytes("body")?,
            },
            Opcode::Backup => Request::Backup {
                dir: r.bytes("dir")?,
            },
            Opcode::Command => Request::Command(NamedCommand::decode(&mut r, flags)?),
            Opcode::Batch => {
                let n = r.count("command count", 5)?;
                if n == 0 {
                    return Err(Error::BadArguments("an empty batch".into()));
                }
                let mut cmds = Vec::with_capacity(n);
                for _ in 0..n {
                    let f = r.u8("command flags")?;
                    if f & !(command_flags::CAS | command_flags::KEEP_GOING) != 0 {
                        return Err(Error::BadArguments(format!(
                            "a batched command does not take flags {f:#04x}"
                        )));
                    }
                    cmds.push(NamedCommand::decode(&mut r, f)?);
                }
                Request::Batch(cmds)
            }
            Opcode::Publish => Request::Publish {
                channel: r.bytes("channel")?,
                message: r.bytes("message")?,
            },
            Opcode::BlockingPop => {
                let timeout_ms = r.u64("timeout")?;
                let left = r.u8("side")? != 0;
                let keys = keys(&mut r)?;
                let dest = match r.u8("has destination")? {
                    0 => None,
                    _ => Some((r.bytes("destination")?, r.u8("destination side")? != 0)),
                };
                Request::BlockingPop {
                    timeout_ms,
                    left,
                    keys,
                    dest,
                }
            }
            Opcode::PubSub => {
                let kind = r.u8("pubsub kind")?;
                if kind > 2 {
                    return Err(Error::BadArguments(format!("pubsub kind {kind}")));
                }
                let n = r.count("argument count", 4)?;
                let args = (0..n)
                    .map(|_| r.bytes("argument"))
                    .collect::<Result<_, _>>()?;
                Request::PubSub { kind, args }
            }
            Opcode::Clients => {
                let kill = r.u8("clients action")? != 0;
                let n = r.count("filter words", 4)?;
                if n % 2 != 0 {
                    return Err(Error::BadArguments(
                        "a clients filter is field and value pairs".into(),
                    ));
                }
                let filter = (0..n)
                    .map(|_| r.bytes("filter word"))
                    .collect::<Result<_, _>>()?;
                Request::Clients { kill, filter }
            }
            Opcode::SlowLog => {
                let action = r.u8("slowlog action")?;
                if action > 2 {
                    return Err(Error::BadArguments(format!("slowlog action {action}")));
                }
                let count = r.u32("count")?;
                Request::SlowLog { action, count }
            }
            Opcode::Block => Request::Block {
                args: keys(&mut r)?,
            },
            Opcode::FlushDb => Request::FlushDb,
            Opcode::SwapDb => Request::SwapDb {
                a: r.u16("first database")?,
                b: r.u16("second database")?,
            },
            Opcode::Db => {
                let db = r.u16("database")?;
                let op = r.u8("opcode")?;
                let fl = r.u8("flags")?;
                // Checked before decoding, so DB inside DB never recurses.
                match Opcode::try_from(op) {
                    Ok(inner) if !inner.in_database() => {
                        return Err(Error::BadArguments(format!(
                            "DB wraps data requests only, not {}",
                            inner.name()
                        )))
                    }
                    _ => {}
                }
                let inner = Request::decode(op, fl, r.rest())?;
                if db == 0 {
                    return Err(Error::BadArguments(
                        "DB 0 is every request's own: send the request unwrapped".into(),
                    ));
                }
                Request::InDb {
                    db,
                    inner: Box::new(inner),
                }
            }
        };
        r.end()?;
        Ok(req)
    }

    /// The flags byte of this request's frame.
    pub fn flags(&self) -> u8 {
        match self {
            Request::Set { args, .. } => {
                let mut f = 0;
                if args.nx {
                    f |= set_flags::NX;
                }
                if args.xx {
                    f |= set_flags::XX;
                }
                if args.ttl_ms.is_some() {
                    f |= set_flags::TTL;
                }
                if args.expected_version.is_some() {
                    f |= set_flags::CAS;
                }
                if args.keep_ttl {
                    f |= set_flags::KEEPTTL;
                }
                f
            }
            Request::Command(c) => c.flags(),
            _ => 0,
        }
    }

    /// Appends the body of this request to `out`.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Request::Ping(p) => out.extend_from_slice(p),
            Request::Hello { version } => put_u16(out, *version),
            Request::Auth { user, pass } => {
                put_bytes(out, user);
                put_bytes(out, pass);
            }
            Request::Get { key } | Request::Persist { key } | Request::Ttl { key } => {
                put_bytes(out, key)
            }
            Request::Set { key, value, args } => {
                put_bytes(out, key);
                put_bytes(out, value);
                if let Some(t) = args.ttl_ms {
                    put_u64(out, t);
                }
                if let Some(v) = args.expected_version {
                    put_u64(out, v);
                }
            }
            Request::Del { keys } | Request::Exists { keys } | Request::MGet { keys } => {
                put_keys(out, keys)
            }
            Request::MSet { pairs } => {
                put_u32(out, pairs.len() as u32);
                for (k, v) in pairs {
                    put_bytes(out, k);
                    put_bytes(out, v);
                }
            }
            Request::IncrBy { key, delta } => {
                put_bytes(out, key);
                put_i64(out, *delta);
            }
            Request::Expire { key, ttl_ms } => {
                put_bytes(out, key);
                put_u64(out, *ttl_ms);
            }
            Request::Scan {
                cursor,
                count,
                prefix,
            } => {
                put_u64(out, *cursor);
                put_u32(out, *count);
                put_bytes(out, prefix);
            }
            Request::DbSize
            | Request::Info
            | Request::Metrics
            | Request::FlushAll
            | Request::FlushDb => {}
            Request::SwapDb { a, b } => {
                put_u16(out, *a);
                put_u16(out, *b);
            }
            Request::InDb { db, inner } => {
                put_u16(out, *db);
                out.push(inner.opcode() as u8);
                out.push(inner.flags());
                inner.encode_body(out);
            }
            Request::Backup { dir } => put_bytes(out, dir),
            Request::Command(c) => c.encode_body(out),
            Request::Batch(cmds) => {
                put_u32(out, cmds.len() as u32);
                for c in cmds {
                    out.push(c.flags());
                    c.encode_body(out);
                }
            }
            Request::Publish { channel, message } => {
                put_bytes(out, channel);
                put_bytes(out, message);
            }
            Request::Pull {
                partition,
                term,
                epoch_node,
                index,
                max_bytes,
                node,
                known_term,
                addr,
            } => {
                put_u32(out, *partition);
                put_u64(out, *term);
                put_u64(out, *epoch_node);
                put_u64(out, *index);
                put_u32(out, *max_bytes);
                put_u64(out, *node);
                put_u64(out, *known_term);
                put_bytes(out, addr);
            }
            Request::Sync {
                partition,
                session,
                cf,
                after,
                max_bytes,
            } => {
                put_u32(out, *partition);
                put_u64(out, *session);
                out.push(*cf);
                put_bytes(out, after);
                put_u32(out, *max_bytes);
            }
            Request::Role { action, arg } | Request::Cluster { action, body: arg } => {
                out.push(*action);
                put_bytes(out, arg);
            }
            Request::BlockingPop {
                timeout_ms,
                left,
                keys,
                dest,
            } => {
                put_u64(out, *timeout_ms);
                out.push(*left as u8);
                put_keys(out, keys);
                match dest {
                    None => out.push(0),
                    Some((d, to_left)) => {
                        out.push(1);
                        put_bytes(out, d);
                        out.push(*to_left as u8);
                    }
                }
            }
            Request::PubSub { kind, args } => {
                out.push(*kind);
                put_u32(out, args.len() as u32);
                for a in args {
                    put_bytes(out, a);
                }
            }
            Request::Clients { kill, filter } => {
                out.push(*kill as u8);
                put_u32(out, filter.len() as u32);
                for w in filter {
                    put_bytes(out, w);
                }
            }
            Request::SlowLog { action, count } => {
                out.push(*action);
                put_u32(out, *count);
            }
            Request::Block { args } => put_keys(out, args),
        }
    }

    /// Appends the whole frame of this request to `out`.
    pub fn encode(&self, id: u32, out: &mut Vec<u8>) {
        let start = frame::begin(out, id, self.opcode() as u8, self.flags());
        self.encode_body(out);
        frame::finish(out, start);
    }
}

mod found;
pub use found::{put_found, read_found, skip_found, Versioned};

#[cfg(test)]
mod tests;
