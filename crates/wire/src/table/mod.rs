//! The command table: every command Tessera knows, Redis-named or
//! binary-only, declared once with its arity, flags, key positions, ACL
//! categories, group, version and summary.
//!
//! Everything that needs a fact about a command reads it here: RESP
//! dispatch (`proto::redis::plan`), the binary COMMAND and BATCH frames and
//! the CLI (`lookup`), the replica's write check (`Command::is_write`, and
//! `by_opcode` for the fast opcodes), routing and CROSSSLOT
//! (`Command::key_positions`), `COMMAND` and its subcommands (`info`), and
//! the documentation check in tests/docs.rs. A command missing from the
//! table cannot be dispatched, so no check can forget it.
//!
//! The rows live in one file per Redis group (`string.rs`, `hash.rs`, ...);
//! `tessera.rs` holds the binary-only opcodes.

mod bitmap;
mod cluster;
mod connection;
mod generic;
mod geo;
mod hash;
mod hyperloglog;
pub mod info;
mod list;
mod pubsub;
mod scripting;
mod server;
mod set;
mod stream;
mod string;
mod tessera;
mod transactions;
mod zset;

use std::cell::Cell;
use std::sync::OnceLock;

use ahash::AHashMap;

use super::Opcode;
use crate::codes::{ErrorCode, WireError};

pub mod flag;

/// ACL categories a row names explicitly. `@write`, `@read`, `@admin`,
/// `@dangerous`, `@pubsub`, `@fast`, `@slow` and `@blocking` also follow
/// from the flags, as in Redis (`Command::acl_categories`).
pub mod acl {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const PUBSUB: u32 = 1 << 8;
    pub const ADMIN: u32 = 1 << 9;
    pub const FAST: u32 = 1 << 10;
    pub const SLOW: u32 = 1 << 11;
    pub const BLOCKING: u32 = 1 << 12;
    pub const DANGEROUS: u32 = 1 << 13;
    pub const CONNECTION: u32 = 1 << 14;
    pub const TRANSACTION: u32 = 1 << 15;
    pub const BITMAP: u32 = 1 << 16;
    pub const HYPERLOGLOG: u32 = 1 << 17;
    pub const GEO: u32 = 1 << 18;
    pub const STREAM: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;
    /// Every category in the order `ACL CAT` lists them (Redis's).
    pub const ORDERED: [(&str, u32); 21] = [
        ("keyspace", KEYSPACE),
        ("read", READ),
        ("write", WRITE),
        ("set", SET),
        ("sortedset", SORTEDSET),
        ("list", LIST),
        ("hash", HASH),
        ("string", STRING),
        ("bitmap", BITMAP),
        ("hyperloglog", HYPERLOGLOG),
        ("geo", GEO),
        ("stream", STREAM),
        ("pubsub", PUBSUB),
        ("admin", ADMIN),
        ("fast", FAST),
        ("slow", SLOW),
        ("blocking", BLOCKING),
        ("dangerous", DANGEROUS),
        ("connection", CONNECTION),
        ("transaction", TRANSACTION),
        ("scripting", SCRIPTING),
    ];
    /// The bit of category `name`.
    pub fn by_name(name: &str) -> Option<u32> {
        ORDERED.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }
    /// The names of the bits, in bit order.
    pub const NAMES: [&str; 21] = [
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "scripting",
    ];
}

/// The shape of a command's reply, in RESP2 terms (RESP3 sends maps and
/// doubles as such). Every row declares one; `tests/resp_differential.rs`
/// checks the declarations against what redis-server and Tessera answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// A status word (`+OK`, `+string` for TYPE, ...).
    Status,
    /// An integer.
    Int,
    /// An integer, or nil (ZRANK of a missing member).
    IntOrNil,
    /// A bulk string, never nil.
    Bulk,
    /// A bulk string, or nil.
    BulkOrNil,
    /// A double (a bulk string in RESP2).
    Double,
    /// A double, or nil.
    DoubleOrNil,
    /// An array.
    Array,
    /// An array, or nil (a blocking pop that timed out, an aborted EXEC).
    ArrayOrNil,
    /// A map (a flat array of pairs in RESP2).
    Map,
    /// Pushed messages (SUBSCRIBE's confirmations; arrays in RESP2).
    Push,
    /// Depends on the arguments (SET with GET, LPOP with a count, ZADD
    /// with INCR, a container's subcommand, ...).
    Varies,
    /// A binary-protocol body (docs/protocol.md); no RESP reply.
    Binary,
}

/// Redis's command groups (`COMMAND DOCS`), plus Tessera's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    Hash,
    Set,
    SortedSet,
    List,
    Bitmap,
    HyperLogLog,
    Geo,
    PubSub,
    Transactions,
    Connection,
    Server,
    Cluster,
    Scripting,
    Stream,
    /// Binary-only opcodes.
    Tessera,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Hash => "hash",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::List => "list",
            Group::Bitmap => "bitmap",
            Group::HyperLogLog => "hyperloglog",
            Group::Geo => "geo",
            Group::PubSub => "pubsub",
            Group::Transactions => "transactions",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Cluster => "cluster",
            Group::Scripting => "scripting",
            Group::Stream => "stream",
            Group::Tessera => "tessera",
        }
    }
}

/// Where a command's keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    None,
    /// Words `first..=last` (negative `last` counts from the end: -1 is the
    /// last word) every `step`.
    Range {
        first: u8,
        last: i8,
        step: u8,
    },
    /// `fixed` keys from word 1, then `skip` words that are not keys, then
    /// a key count, then that many keys (ZUNIONSTORE dest numkeys key ...:
    /// fixed 1; ZUNION numkeys key ...: fixed 0; BLMPOP timeout numkeys
    /// key ...: skip 1). Redis calls these movable keys.
    NumKeys {
        fixed: u8,
        skip: u8,
    },
    /// SORT: word 1, and the word after the last STORE (skipping LIMIT's,
    /// GET's and BY's arguments, as Redis's `sortGetKeys` does); SORT_RO:
    /// word 1. Movable, as the keys BY and GET patterns form are.
    Sort,
    /// GEORADIUS and GEORADIUSBYMEMBER: word 1, then the words after the
    /// first STORE and the first STOREDIST among the options (Redis 7's
    /// key specifications, which COMMAND GETKEYS and cluster clients use).
    GeoStore,
    /// XREAD and XREADGROUP: the first half of the words after STREAMS
    /// (Redis's key specification: keyword STREAMS, then keys and ids in
    /// two halves).
    Streams,
}

/// How RESP runs a command that is not a plain named command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    /// A named command: the binary COMMAND frame with the same words.
    Named,
    /// A RESP planner of `proto::redis` (fast opcodes, server commands).
    Resp(Planner),
    /// The connection's own business (MULTI, SUBSCRIBE, HELLO, ...).
    Conn(ConnCmd),
    /// A binary opcode; not reachable from RESP.
    Binary,
}

/// The RESP planners of `proto::redis::plan` (one per command or family).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planner {
    Ping,
    SwapDb,
    Echo,
    Time,
    LastSave,
    Command,
    Config,
    DbSize,
    Flush,
    Info,
    Publish,
    PubSub,
    MemberScan,
    BPop,
    /// BLMPOP, BZMPOP, BZPOPMIN, BZPOPMAX: the BLOCK opcode with the words.
    Block,
    /// XREAD and XREADGROUP: the BLOCK opcode with BLOCK, the named
    /// command without.
    XRead,
    BMove,
    BRPopLPush,
    Get,
    Set,
    MGet,
    MSet,
    Del,
    Exists,
    Incr,
    IncrBy,
    Scan,
}

/// Commands the RESP connection handles itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnCmd {
    /// AUTH: the connection's user (docs/security.md).
    Auth,
    /// ACL and its subcommands.
    Acl,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    Hello,
    Client,
    Quit,
    Reset,
    Keys,
    RandomKey,
    /// SCAN with a TYPE filter (each page's keys are typed on their cores).
    ScanType,
    Subscribe,
    Unsubscribe,
    PSubscribe,
    PUnsubscribe,
    /// CLUSTER and its subcommands (the core's copy of the map).
    Cluster,
    ReadOnly,
    ReadWrite,
    Asking,
    /// SLOWLOG GET/LEN/RESET/HELP (every core's slow log).
    SlowLog,
    /// CONFIG GET/SET (the node's settings, some changeable at run time).
    Config,
    /// SCRIPT LOAD/EXISTS/FLUSH/KILL (the node's script cache).
    Script,
    /// FUNCTION LOAD/LIST/DELETE/... (the node's function libraries).
    Function,
    /// SELECT: the connection's database.
    Select,
}

/// One command (or subcommand, named `parent|sub`).
#[derive(Debug)]
pub struct Command {
    /// Lower case.
    pub name: &'static str,
    /// Redis's convention: `n` = exactly n words (the name included),
    /// `-n` = at least n.
    pub arity: i32,
    /// `flag::*` bits.
    pub flags: u32,
    pub keys: Keys,
    /// `acl::*` bits named explicitly (the rest follow from the flags).
    acl: u32,
    pub group: Group,
    /// The Redis version that introduced it (Tessera's for its own).
    pub since: &'static str,
    pub summary: &'static str,
    /// Redis's command tips (request and response policies, output order).
    pub tips: &'static [&'static str],
    pub subcommands: &'static [Command],
    pub exec: Exec,
    /// Declared by every row (`Command::reply`); a test checks.
    reply: Option<Reply>,
}

/// A row: the builder the group files use.
#[allow(clippy::too_many_arguments)]
pub(crate) const fn c(
    group: Group,
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: Keys,
    acl: u32,
    since: &'static str,
    summary: &'static str,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys,
        acl,
        group,
        since,
        summary,
        tips: &[],
        subcommands: &[],
        exec: Exec::Named,
        reply: None,
    }
}

/// Keys at `first..=last` every `step`.
pub(crate) const fn k(first: u8, last: i8, step: u8) -> Keys {
    Keys::Range { first, last, step }
}

pub(crate) const NONE: Keys = Keys::None;

impl Command {
    pub(crate) const fn resp(mut self, p: Planner) -> Command {
        self.exec = Exec::Resp(p);
        self
    }

    pub(crate) const fn conn(mut self, c: ConnCmd) -> Command {
        self.exec = Exec::Conn(c);
        self
    }

    pub(crate) const fn binary(mut self) -> Command {
        self.exec = Exec::Binary;
        self
    }

    pub(crate) const fn tips(mut self, tips: &'static [&'static str]) -> Command {
        self.tips = tips;
        self
    }

    pub(crate) const fn subs(mut self, subs: &'static [Command]) -> Command {
        self.subcommands = subs;
        self
    }

    pub(crate) const fn reply(mut self, r: Reply) -> Command {
        self.reply = Some(r);
        self
    }

    /// The shape of its reply.
    pub fn reply_shape(&self) -> Reply {
        self.reply.unwrap_or(Reply::Varies)
    }

    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// Whether it changes data (refused on a replica or a fenced node).
    /// Whether the command may write: flagged `write`, or EVAL and EVALSHA,
    /// whose scripts may (Redis's key specs: RW). A replica refuses them,
    /// a migration's fence waits for them, ACL asks write permission.
    pub fn is_write(&self) -> bool {
        self.has(flag::WRITE)
            || (self.group == Group::Scripting
                && matches!(self.keys, Keys::NumKeys { .. })
                && !self.has(flag::READONLY))
    }

    /// Redis's movable keys: found by parsing the words, not by position.
    pub fn movable_keys(&self) -> bool {
        matches!(
            self.keys,
            Keys::NumKeys { .. } | Keys::Sort | Keys::GeoStore | Keys::Streams
        )
    }

    /// Whether `n` words (the name included) fit the arity.
    pub fn arity_fits(&self, n: usize) -> bool {
        if self.arity >= 0 {
            n == self.arity as usize
        } else {
            n >= self.arity.unsigned_abs() as usize
        }
    }

    /// Redis's first key, last key and step (`COMMAND INFO`; movable keys
    /// give the fixed keys only).
    pub fn legacy_keys(&self) -> (i64, i64, i64) {
        match self.keys {
            Keys::None | Keys::NumKeys { fixed: 0, .. } | Keys::Streams => (0, 0, 0),
            Keys::Range { first, last, step } => (first as i64, last as i64, step as i64),
            Keys::NumKeys { fixed, .. } => (1, fixed as i64, 1),
            Keys::Sort | Keys::GeoStore => (1, 1, 1),
        }
    }

    /// The words of `args` (`args[0]` is the name) that are keys, in order.
    /// Fails only for movable keys whose count is bad.
    pub fn key_positions(&self, args: &[&[u8]]) -> Result<Vec<usize>, WireError> {
        let n = args.len();
        match self.keys {
            Keys::None => Ok(Vec::new()),
            Keys::Range { first, last, step } => {
                let first = first as usize;
                if first >= n {
                    return Ok(Vec::new());
                }
                let last = if last < 0 {
                    (n as i64 + last as i64).max(0) as usize
                } else {
                    (last as usize).min(n - 1)
                };
                Ok((first..=last).step_by((step as usize).max(1)).collect())
            }
            Keys::Sort => {
                let mut keys = vec![1];
                let mut store = None;
                let mut i = 2;
                while i < n {
                    let w = args[i].to_ascii_lowercase();
                    match w.as_slice() {
                        b"limit" => i += 2,
                        b"get" | b"by" => i += 1,
                        b"store" if i + 1 < n && self.name == "sort" => store = Some(i + 1),
                        _ => {}
                    }
                    i += 1;
                }
                keys.extend(store);
                Ok(keys)
            }
            Keys::GeoStore => Ok(geo::store_keys(self.name, args)),
            Keys::Streams => stream::key_positions(self.name, args),
            Keys::NumKeys { .. } if self.group == Group::Scripting => {
                scripting::key_positions(args)
            }
            Keys::NumKeys { fixed, skip } => {
                let fixed = fixed as usize;
                let at = fixed + skip as usize + 1;
                // Redis words these errors in three ways: ZUNION's family;
                // SINTERCARD; LMPOP and ZMPOP (SINTERCARD's count error,
                // ZUNION's for too many keys).
                let newer = matches!(
                    self.name,
                    "sintercard" | "lmpop" | "zmpop" | "blmpop" | "bzmpop"
                );
                let too_many = match self.name {
                    "sintercard" => "Number of keys can't be greater than number of args",
                    _ => "syntax error",
                };
                let count = args
                    .get(at)
                    .and_then(|w| std::str::from_utf8(w).ok())
                    .and_then(|s| s.parse::<i64>().ok());
                let count = match count {
                    None if newer => None,
                    None => return Err(WireError::of(ErrorCode::NotInteger)),
                    Some(c) => Some(c).filter(|&c| c > 0),
                };
                let Some(count) = count else {
                    return Err(WireError::new(
                        ErrorCode::BadArguments,
                        match newer {
                            true => "numkeys should be greater than 0".to_string(),
                            false => format!(
                                "at least 1 input key is needed for '{}' command",
                                self.name
                            ),
                        },
                    ));
                };
                let count = count as usize;
                if at + count >= n {
                    return Err(WireError::new(ErrorCode::BadArguments, too_many));
                }
                Ok((1..=fixed).chain(at + 1..=at + count).collect())
            }
        }
    }

    /// The key words of `args`.
    pub fn keys_of<'a>(&self, args: &[&'a [u8]]) -> Result<Vec<&'a [u8]>, WireError> {
        Ok(self
            .key_positions(args)?
            .into_iter()
            .map(|i| args[i])
            .collect())
    }

    /// Every ACL category: the explicit ones and those the flags imply
    /// (Redis's `setImplicitACLCategories`).
    pub fn acl_categories(&self) -> u32 {
        let mut a = self.acl;
        for (f, c) in [
            (flag::WRITE, acl::WRITE),
            (flag::READONLY, acl::READ),
            (flag::ADMIN, acl::ADMIN | acl::DANGEROUS),
            (flag::PUBSUB, acl::PUBSUB),
            (flag::FAST, acl::FAST),
            (flag::BLOCKING, acl::BLOCKING),
        ] {
            // A read-only script (EVAL_RO) is not `@read` (Redis's rule).
            if self.has(f) && !(c == acl::READ && self.acl & acl::SCRIPTING != 0) {
                a |= c;
            }
        }
        if a & acl::FAST == 0 {
            a |= acl::SLOW;
        }
        a
    }

    /// The subcommand `parent|sub` named by `word` (case-insensitive).
    pub fn subcommand(&self, word: &[u8]) -> Option<&'static Command> {
        self.subcommands.iter().find(|s| {
            s.name
                .split_once('|')
                .is_some_and(|(_, sub)| sub.as_bytes().eq_ignore_ascii_case(word))
        })
    }
}

/// Every row of every group file.
fn rows() -> impl Iterator<Item = &'static Command> {
    [
        bitmap::COMMANDS,
        cluster::COMMANDS,
        connection::COMMANDS,
        generic::COMMANDS,
        geo::COMMANDS,
        hash::COMMANDS,
        hyperloglog::COMMANDS,
        list::COMMANDS,
        pubsub::COMMANDS,
        scripting::COMMANDS,
        server::COMMANDS,
        set::COMMANDS,
        stream::COMMANDS,
        string::COMMANDS,
        tessera::COMMANDS,
        transactions::COMMANDS,
        zset::COMMANDS,
    ]
    .into_iter()
    .flat_map(|g| g.iter())
}

/// Rows by their name's bytes (a lookup needs no UTF-8 check).
fn by_name() -> &'static AHashMap<&'static [u8], &'static Command> {
    static TABLE: OnceLock<AHashMap<&'static [u8], &'static Command>> = OnceLock::new();
    TABLE.get_or_init(|| rows().map(|c| (c.name.as_bytes(), c)).collect())
}

/// Every top-level command, sorted by name.
pub fn all() -> Vec<&'static Command> {
    let mut v: Vec<_> = by_name().values().copied().collect();
    v.sort_by_key(|c| c.name);
    v
}

/// Every command RESP serves (what `COMMAND` lists), sorted by name.
pub fn redis_commands() -> Vec<&'static Command> {
    all()
        .into_iter()
        .filter(|c| !c.has(flag::BINARY_ONLY))
        .collect()
}

thread_local! {
    /// The row this thread found last (`get`).
    static LAST: Cell<Option<&'static Command>> = const { Cell::new(None) };
}

/// The command named `name` (any case).
///
/// A request looks its command up several times (parsing, routing, the
/// ACL check, the command itself) and a pipeline mostly repeats one, so
/// the row found last on this thread is compared first, without hashing
/// (BENCHMARKS.md, issue 18's sixth session).
pub fn get(name: &[u8]) -> Option<&'static Command> {
    if let Some(c) = LAST
        .with(Cell::get)
        .filter(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
    {
        return Some(c);
    }
    if name.len() > 32 {
        return None;
    }
    let mut buf = [0u8; 32];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let found = by_name().get(&*lower).copied();
    if found.is_some() {
        LAST.with(|l| l.set(found));
    }
    found
}

/// Redis's wrong-arity error.
pub fn arity_error(name: &str) -> WireError {
    WireError::new(
        ErrorCode::BadArguments,
        format!("wrong number of arguments for '{name}' command"),
    )
}

/// The command `args[0]`, its arity checked (any front end).
pub fn lookup(args: &[&[u8]]) -> Result<&'static Command, WireError> {
    let Some(name) = args.first() else {
        return Err(WireError::new(ErrorCode::BadArguments, "empty command"));
    };
    let cmd = get(name).ok_or_else(|| {
        WireError::new(
            ErrorCode::UnknownCommand,
            format!(
                "unknown command '{}'",
                String::from_utf8_lossy(&name[..name.len().min(128)])
            ),
        )
    })?;
    if !cmd.arity_fits(args.len()) {
        return Err(arity_error(cmd.name));
    }
    // A container's stored subcommand (OBJECT ENCODING key) is a named
    // command of its own: its row has the keys, arity and parse.
    if let Some(sub) = args
        .get(1)
        .and_then(|w| cmd.subcommand(w))
        .filter(|s| s.has(flag::STORED))
    {
        if !sub.arity_fits(args.len()) {
            return Err(arity_error(sub.name));
        }
        return Ok(sub);
    }
    Ok(cmd)
}

/// The row of a request's opcode, for the fast opcodes and the binary-only
/// ones (`Command` and `Batch` carry named commands, which have their own).
pub fn by_opcode(op: Opcode) -> Option<&'static Command> {
    static OPS: OnceLock<[Option<&'static Command>; 64]> = OnceLock::new();
    let ops = OPS.get_or_init(|| {
        let mut ops = [None; 64];
        for b in 0..64u8 {
            if let Ok(op) = Opcode::try_from(b) {
                ops[b as usize] = opcode_command(op).and_then(|n| get(n.as_bytes()));
            }
        }
        ops
    });
    ops.get(op as usize).copied().flatten()
}

/// The command an opcode runs.
fn opcode_command(op: Opcode) -> Option<&'static str> {
    use Opcode::*;
    Some(match op {
        Ping => "ping",
        Hello => "hello",
        Auth => "auth",
        Get => "get",
        Set => "set",
        Del => "del",
        Exists => "exists",
        MGet => "mget",
        MSet => "mset",
        IncrBy => "incrby",
        Expire => "pexpire",
        Persist => "persist",
        Ttl => "pttl",
        Scan => "scan",
        DbSize => "dbsize",
        Info => "info",
        Backup => "backup",
        Metrics => "metrics",
        Publish => "publish",
        BlockingPop => "bpop",
        PubSub => "pubsub",
        FlushAll => "flushall",
        Pull => "pull",
        Sync => "sync",
        Role => "role",
        Cluster => "clusterctl",
        Clients => "clientctl",
        SlowLog => "slowlogctl",
        Block => "block",
        FlushDb => "flushdb",
        SwapDb => "swapdb",
        Command | Batch | Db => return None,
    })
}

#[cfg(test)]
mod tests;
