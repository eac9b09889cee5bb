//! Redis commands onto Tessera requests: which request (or requests) a
//! RESP command becomes, and how the binary reply turns back into Redis's
//! reply. GET, SET, MGET, MSET, DEL, EXISTS, INCR and SCAN use the fast
//! opcodes (and MGET/MSET/DEL/EXISTS fan out across cores, as in Redis
//! Cluster client libraries); every data-model command goes through the
//! named-command table (`cmd`); connection commands (MULTI, WATCH, HELLO,
//! CLIENT, ...) are the connection's own business.

use super::codec::Reader;
use super::command::{read_found, NamedCommand};
use super::set_opts::SetOptions;
use super::table::{self, flag, Exec, Planner, Reply};
use super::value::{glob_match, Value};
use super::Request;
use crate::codes::{ErrorCode, WireError};
use crate::num::parse_int;

/// How a binary reply body becomes a Redis reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// `u64` version, then a value.
    Named,
    /// Like `Named`, but nil is a null array (LMPOP, ZMPOP: rows whose
    /// reply is `Reply::ArrayOrNil`).
    NamedOrNullArray,
    /// GET: a `found` → bulk or nil.
    Found,
    /// SET opcode: `u8` applied → +OK or nil.
    SetOk,
    /// `u64` → integer (DEL, EXISTS, DBSIZE).
    Count,
    /// Anything → +OK (MSET).
    Ok,
    /// MGET: `u32` n, n × found → array.
    Items,
    /// INCRBY opcode: `i64` value, `u64` version → integer.
    Incr,
    /// SCAN: `u64` cursor, keys → [cursor, keys] keeping keys that match.
    Scan(Option<Vec<u8>>),
    /// INFO: text → bulk string with CRLF line ends.
    Info,
    /// PUBSUB CHANNELS (0), NUMSUB (1), NUMPAT (2), gathered from every core.
    PubSub(u8),
    /// HSCAN/SSCAN/ZSCAN: like `Named`; the connection renames the cursor.
    MemberScan,
    /// A blocking pop: `true` answers [key, element] or a null array
    /// (BLPOP, BRPOP); `false` the element or nil (BLMOVE, BRPOPLPUSH).
    BPop(bool),
    /// BLOCK (BLMPOP, BZMPOP, BZPOPMIN, BZPOPMAX): a value; nil is a null
    /// array.
    Block,
}

pub use super::table::ConnCmd;

/// What to do with one command.
#[derive(Debug)]
pub enum Plan<'a> {
    /// Already answered (the reply value).
    Reply(Value),
    /// An error reply.
    Error(WireError),
    /// One request to run; its reply converts by the shape.
    Run(Request<'a>, Shape),
    Conn(ConnCmd),
}

fn err(m: impl Into<String>) -> Plan<'static> {
    Plan::Error(WireError::new(ErrorCode::BadArguments, m))
}

fn arity(name: &str) -> Plan<'static> {
    err(format!("wrong number of arguments for '{name}' command"))
}

/// Plans one command (`args[0]` is its name): its row of the command table
/// (unknown, refused and wrong-arity commands end here, and a container's
/// subcommand is checked the same way), then its planner.
pub fn plan<'a>(args: &[&'a [u8]]) -> Plan<'a> {
    let cmd = match resp_lookup(args) {
        Ok(c) => c,
        Err(e) => return Plan::Error(e),
    };
    // CONTAINER HELP: the subcommands and their summaries, from the table.
    if args.len() == 2 && args[1].eq_ignore_ascii_case(b"help") && cmd.subcommand(b"help").is_some()
    {
        return Plan::Reply(table::info::help(cmd));
    }
    match cmd.exec {
        Exec::Named => Plan::Run(
            Request::Command(NamedCommand::new(args.to_vec())),
            match cmd.reply_shape() {
                Reply::ArrayOrNil => Shape::NamedOrNullArray,
                _ => Shape::Named,
            },
        ),
        Exec::Conn(c) => Plan::Conn(c),
        Exec::Resp(p) => planner(p, args),
        // `resp_lookup` never answers a binary-only row.
        Exec::Binary => Plan::Error(unknown(args)),
    }
}

/// The table row RESP runs for `args`: not binary-only, arity checked, and
/// for a container (CLIENT, CONFIG, COMMAND, PUBSUB) a known subcommand
/// with its own arity.
pub fn resp_lookup(args: &[&[u8]]) -> Result<&'static table::Command, WireError> {
    let Some(name) = args.first() else {
        return Err(WireError::new(ErrorCode::BadArguments, "empty command"));
    };
    let Some(cmd) = table::get(name).filter(|c| !c.has(flag::BINARY_ONLY)) else {
        return Err(unknown(args));
    };
    if !cmd.arity_fits(args.len()) {
        return Err(table::arity_error(cmd.name));
    }
    if !cmd.subcommands.is_empty() && args.len() > 1 {
        let Some(sub) = cmd.subcommand(args[1]) else {
            return Err(WireError::new(
                ErrorCode::BadArguments,
                format!(
                    "unknown subcommand '{}'. Try {} HELP.",
                    String::from_utf8_lossy(&args[1][..args[1].len().min(128)]),
                    cmd.name.to_ascii_uppercase()
                ),
            ));
        };
        if !sub.arity_fits(args.len()) {
            return Err(table::arity_error(sub.name));
        }
    }
    Ok(cmd)
}

/// Runs a row's RESP planner (the arity is already checked).
fn planner<'a>(p: Planner, args: &[&'a [u8]]) -> Plan<'a> {
    let n = args.len();
    match p {
        Planner::Ping => match n {
            1 => Plan::Reply(Value::Status("PONG".into())),
            2 => Plan::Reply(Value::Bytes(args[1].to_vec())),
            _ => arity("ping"),
        },
        Planner::Echo => Plan::Reply(Value::Bytes(args[1].to_vec())),
        // The databases' range is the server's to check.
        Planner::SwapDb => {
            let index =
                |w: &[u8]| crate::num::db_index(w).map(|n| u16::try_from(n).unwrap_or(u16::MAX));
            match (index(args[1]), index(args[2])) {
                (None, _) => err("invalid first DB index"),
                (_, None) => err("invalid second DB index"),
                (Some(a), Some(b)) => Plan::Run(Request::SwapDb { a, b }, Shape::Ok),
            }
        }
        Planner::Time => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Plan::Reply(Value::Array(vec![
                Value::bytes(now.as_secs().to_string()),
                Value::bytes(now.subsec_micros().to_string()),
            ]))
        }
        Planner::LastSave => Plan::Reply(Value::Int(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs() as i64,
        )),
        Planner::Command => match table::info::command(args) {
            Ok(v) => Plan::Reply(v),
            Err(e) => Plan::Error(e),
        },
        Planner::Config => config(args),
        Planner::DbSize => Plan::Run(Request::DbSize, Shape::Count),
        // ASYNC and SYNC are both accepted; the range deletion is O(1) either way.
        Planner::Flush
            if n == 1
                || (n == 2
                    && matches!(args[1].to_ascii_lowercase().as_slice(), b"async" | b"sync")) =>
        {
            match args[0].eq_ignore_ascii_case(b"flushdb") {
                true => Plan::Run(Request::FlushDb, Shape::Ok),
                false => Plan::Run(Request::FlushAll, Shape::Ok),
            }
        }
        Planner::Flush => err("syntax error"),
        Planner::Info => Plan::Run(Request::Info, Shape::Info),
        Planner::Publish => Plan::Run(
            Request::Publish {
                channel: args[1],
                message: args[2],
            },
            Shape::Count,
        ),
        Planner::PubSub => pubsub(args),
        // The connection names their member cursors with integers.
        Planner::MemberScan => match named(args) {
            Plan::Run(req, _) => Plan::Run(req, Shape::MemberScan),
            other => other,
        },
        Planner::Block => Plan::Run(
            Request::Block {
                args: args.to_vec(),
            },
            Shape::Block,
        ),
        // XREAD and XREADGROUP block only with BLOCK (a bad BLOCK is the
        // command's own error, answered by its parse).
        Planner::XRead => match crate::args::stream::block_option(args) {
            Some((Ok(_), _)) => Plan::Run(
                Request::Block {
                    args: args.to_vec(),
                },
                Shape::Block,
            ),
            _ => Plan::Run(
                Request::Command(NamedCommand::new(args.to_vec())),
                Shape::NamedOrNullArray,
            ),
        },
        Planner::BPop => {
            let left = args[0].eq_ignore_ascii_case(b"blpop");
            blocking(args, left, &args[1..n - 1], None, args[n - 1])
        }
        Planner::BMove => {
            let side = |w: &[u8]| match w.to_ascii_lowercase().as_slice() {
                b"left" => Some(true),
                b"right" => Some(false),
                _ => None,
            };
            match (side(args[3]), side(args[4])) {
                (Some(from), Some(to)) => {
                    blocking(args, from, &args[1..2], Some((args[2], to)), args[5])
                }
                _ => err("syntax error"),
            }
        }
        Planner::BRPopLPush => blocking(args, false, &args[1..2], Some((args[2], true)), args[3]),
        Planner::Get => Plan::Run(Request::Get { key: args[1] }, Shape::Found),
        Planner::Set => set(args),
        Planner::MGet => Plan::Run(
            Request::MGet {
                keys: args[1..].to_vec(),
            },
            Shape::Items,
        ),
        Planner::MSet if (n - 1).is_multiple_of(2) => Plan::Run(
            Request::MSet {
                pairs: args[1..].chunks(2).map(|c| (c[0], c[1])).collect(),
            },
            Shape::Ok,
        ),
        Planner::MSet => arity("mset"),
        Planner::Del => Plan::Run(
            Request::Del {
                keys: args[1..].to_vec(),
            },
            Shape::Count,
        ),
        Planner::Exists => Plan::Run(
            Request::Exists {
                keys: args[1..].to_vec(),
            },
            Shape::Count,
        ),
        Planner::Incr => Plan::Run(
            Request::IncrBy {
                key: args[1],
                delta: if args[0].eq_ignore_ascii_case(b"incr") {
                    1
                } else {
                    -1
                },
            },
            Shape::Incr,
        ),
        Planner::IncrBy => match parse_int(args[2]) {
            Some(delta) => Plan::Run(
                Request::IncrBy {
                    key: args[1],
                    delta,
                },
                Shape::Incr,
            ),
            None => Plan::Error(WireError::of(ErrorCode::NotInteger)),
        },
        Planner::Scan => scan(args),
    }
}

/// A named command (its row and arity were checked by `plan`).
pub fn named<'a>(args: &[&'a [u8]]) -> Plan<'a> {
    Plan::Run(
        Request::Command(NamedCommand::new(args.to_vec())),
        Shape::Named,
    )
}

/// Redis's text for an unknown command.
pub fn unknown(args: &[&[u8]]) -> WireError {
    let mut m = format!(
        "unknown command '{}', with args beginning with: ",
        String::from_utf8_lossy(&args[0][..args[0].len().min(128)])
    );
    for a in args.iter().skip(1).take(16) {
        m.push_str(&format!(
            "'{}' ",
            String::from_utf8_lossy(&a[..a.len().min(128)])
        ));
    }
    WireError::new(ErrorCode::UnknownCommand, m)
}

/// SET: the fast opcode for NX/XX/EX/PX/KEEPTTL; GET, EXAT and PXAT go
/// through the named command (both parse the options with `SetOptions`).
fn set<'a>(args: &[&'a [u8]]) -> Plan<'a> {
    match SetOptions::parse(&args[3..], false).map(|o| o.fast()) {
        Err(e) => Plan::Error(e),
        Ok(None) => named(args),
        Ok(Some(a)) => Plan::Run(
            Request::Set {
                key: args[1],
                value: args[2],
                args: a,
            },
            Shape::SetOk,
        ),
    }
}

/// SCAN cursor [MATCH pattern] [COUNT n]: the binary SCAN takes a byte
/// prefix, so the pattern's literal prefix goes to the server and the
/// whole pattern filters what comes back.
fn scan<'a>(args: &[&'a [u8]]) -> Plan<'a> {
    let Some(cursor) = std::str::from_utf8(args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return err("invalid cursor");
    };
    let (mut pattern, mut count): (Option<&'a [u8]>, u32) = (None, 10);
    let mut i = 2;
    while i < args.len() {
        let Some(v) = args.get(i + 1) else {
            return err("syntax error");
        };
        match args[i].to_ascii_lowercase().as_slice() {
            b"match" => pattern = Some(*v),
            b"count" => match parse_int(v) {
                Some(c) if c >= 1 => count = c.min(u32::MAX as i64) as u32,
                Some(_) => return err("syntax error"),
                None => return Plan::Error(WireError::of(ErrorCode::NotInteger)),
            },
            b"type" => return Plan::Conn(ConnCmd::ScanType),
            _ => return err("syntax error"),
        }
        i += 2;
    }
    let prefix = pattern.map(literal_prefix).unwrap_or(&[]);
    // A pattern that is only "prefix*" needs no filtering here.
    let filter = pattern
        .filter(|p| p.len() != prefix.len() + 1 || p.last() != Some(&b'*'))
        .map(|p| p.to_vec());
    Plan::Run(
        Request::Scan {
            cursor,
            count,
            prefix,
        },
        Shape::Scan(filter),
    )
}

/// The bytes before a glob pattern's first special character.
pub fn literal_prefix(p: &[u8]) -> &[u8] {
    let end = p
        .iter()
        .position(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
        .unwrap_or(p.len());
    &p[..end]
}

/// A blocking command's timeout: seconds (a float; 0 = forever) in
/// milliseconds, with Redis's errors.
pub fn timeout_ms(word: &[u8]) -> Result<u64, WireError> {
    let bad = |m| WireError::new(ErrorCode::BadArguments, m);
    let Some(secs) = crate::num::parse_float(word) else {
        return Err(bad("timeout is not a float or out of range"));
    };
    // Rounded up, so a positive timeout below a millisecond still times
    // out (never 0 = forever). Redis 7.0 casts the milliseconds to a
    // signed 64-bit integer: an infinite or huge timeout comes out
    // negative, and a tiny negative one as 0.
    let ms = (secs * 1000.0).ceil();
    if !(0.0..9.2e18).contains(&ms) {
        return Err(bad("timeout is negative"));
    }
    Ok(ms as u64)
}

/// BLPOP, BRPOP, BLMOVE, BRPOPLPUSH: the timeout is in seconds (a float;
/// 0 = forever).
fn blocking<'a>(
    _args: &[&'a [u8]],
    left: bool,
    keys: &[&'a [u8]],
    dest: Option<(&'a [u8], bool)>,
    timeout: &[u8],
) -> Plan<'a> {
    let timeout_ms = match timeout_ms(timeout) {
        Ok(t) => t,
        Err(e) => return Plan::Error(e),
    };
    Plan::Run(
        Request::BlockingPop {
            timeout_ms,
            left,
            keys: keys.to_vec(),
            dest,
        },
        Shape::BPop(dest.is_none()),
    )
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT.
fn pubsub<'a>(args: &[&'a [u8]]) -> Plan<'a> {
    let sub = args
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let (kind, rest) = match sub.as_slice() {
        b"channels" if args.len() <= 3 => (0, &args[2..]),
        b"numsub" => (1, &args[2..]),
        b"numpat" if args.len() == 2 => (2, &args[2..]),
        _ => return err("unknown subcommand or wrong number of arguments for 'pubsub' (CHANNELS, NUMSUB, NUMPAT)"),
    };
    if kind == 1 && rest.is_empty() {
        return Plan::Reply(Value::Array(vec![]));
    }
    Plan::Run(
        Request::PubSub {
            kind,
            args: rest.to_vec(),
        },
        Shape::PubSub(kind),
    )
}

/// CONFIG GET and SET answer on the connection, which knows the node's
/// settings (`net::resp::config`); CONFIG RESETSTAT is accepted.
fn config<'a>(args: &[&'a [u8]]) -> Plan<'a> {
    let sub = args.get(1).map(|s| s.to_ascii_lowercase());
    match sub.as_deref() {
        Some(b"get" | b"set") => Plan::Conn(ConnCmd::Config),
        Some(b"resetstat") => Plan::Reply(Value::ok()),
        _ => arity("config"),
    }
}

// ---- replies ----------------------------------------------------------------------

/// Converts an ok reply body of `shape` into a value.
pub fn convert(shape: &Shape, body: &[u8]) -> Result<Value, WireError> {
    let bad = |e: super::Error| WireError::new(ErrorCode::Internal, format!("bad reply: {e}"));
    let mut r = Reader::new(body);
    Ok(match shape {
        Shape::Named | Shape::NamedOrNullArray | Shape::MemberScan => {
            r.u64("version").map_err(bad)?;
            Value::decode(&mut r, 0).map_err(bad)?
        }
        Shape::Block => Value::decode(&mut r, 0).map_err(bad)?,
        Shape::Found => Value::opt(read_found(&mut r).map_err(bad)?.map(|v| v.value)),
        Shape::SetOk => {
            if r.u8("applied").map_err(bad)? == 1 {
                Value::ok()
            } else {
                Value::Nil
            }
        }
        Shape::Count => Value::Int(r.u64("count").map_err(bad)? as i64),
        Shape::Ok => Value::ok(),
        Shape::Items => {
            let n = r.u32("n").map_err(bad)?;
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(Value::opt(
                    read_found(&mut r).map_err(bad)?.map(|v| v.value),
                ));
            }
            Value::Array(items)
        }
        Shape::Incr => Value::Int(r.i64("value").map_err(bad)?),
        Shape::Scan(filter) => {
            let next = r.u64("cursor").map_err(bad)?;
            let n = r.count("keys", 4).map_err(bad)?;
            let mut keys = Vec::with_capacity(n);
            for _ in 0..n {
                let k = r.bytes("key").map_err(bad)?;
                if filter.as_deref().is_none_or(|p| glob_match(p, k)) {
                    keys.push(Value::Bytes(k.to_vec()));
                }
            }
            Value::Array(vec![Value::bytes(next.to_string()), Value::Array(keys)])
        }
        Shape::BPop(with_key) => match r.u8("found").map_err(bad)? {
            0 => Value::Nil,
            _ => {
                let key = r.bytes("key").map_err(bad)?.to_vec();
                let v = r.bytes("element").map_err(bad)?.to_vec();
                if *with_key {
                    Value::Array(vec![Value::Bytes(key), Value::Bytes(v)])
                } else {
                    Value::Bytes(v)
                }
            }
        },
        Shape::PubSub(0) => {
            let mut all = std::collections::BTreeSet::new();
            while r.remaining() > 0 {
                all.insert(r.bytes("channel").map_err(bad)?.to_vec());
            }
            Value::Array(all.into_iter().map(Value::Bytes).collect())
        }
        Shape::PubSub(1) => {
            // Every core lists the requested channels in order: sum per position.
            let mut order: Vec<(Vec<u8>, i64)> = Vec::new();
            while r.remaining() > 0 {
                let c = r.bytes("channel").map_err(bad)?.to_vec();
                let n = r.u64("count").map_err(bad)? as i64;
                match order.iter_mut().find(|(k, _)| *k == c) {
                    Some((_, total)) => *total += n,
                    None => order.push((c, n)),
                }
            }
            Value::Array(
                order
                    .into_iter()
                    .flat_map(|(c, n)| [Value::Bytes(c), Value::Int(n)])
                    .collect(),
            )
        }
        Shape::PubSub(_) => {
            let mut n = 0;
            while r.remaining() > 0 {
                n += r.u64("count").map_err(bad)? as i64;
            }
            Value::Int(n)
        }
        Shape::Info => {
            let text = String::from_utf8_lossy(body);
            let mut out =
                String::from("# Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\n");
            out.push_str(&format!(
                "tessera_version:{}\r\n",
                env!("CARGO_PKG_VERSION")
            ));
            for line in text.lines() {
                if line.starts_with("# server")
                    || line == "version:".to_string() + env!("CARGO_PKG_VERSION")
                {
                    continue;
                }
                out.push_str(line);
                out.push_str("\r\n");
            }
            Value::Bytes(out.into_bytes())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_paths_and_named_commands() {
        assert!(matches!(
            plan(&[b"GET", b"k"]),
            Plan::Run(Request::Get { .. }, Shape::Found)
        ));
        assert!(matches!(
            plan(&[b"set", b"k", b"v", b"EX", b"5", b"NX"]),
            Plan::Run(Request::Set { .. }, Shape::SetOk)
        ));
        assert!(matches!(
            plan(&[b"set", b"k", b"v", b"GET"]),
            Plan::Run(Request::Command(_), Shape::Named)
        ));
        assert!(matches!(
            plan(&[b"set", b"k", b"v", b"EX", b"0"]),
            Plan::Error(_)
        ));
        assert!(matches!(
            plan(&[b"set", b"k", b"v", b"NX", b"XX"]),
            Plan::Error(_)
        ));
        assert!(matches!(
            plan(&[b"HSET", b"h", b"f", b"v"]),
            Plan::Run(Request::Command(_), Shape::Named)
        ));
        let Plan::Error(e) = plan(&[b"nosuch", b"a"]) else {
            panic!()
        };
        assert_eq!(
            e.message,
            "unknown command 'nosuch', with args beginning with: 'a' "
        );
        assert!(matches!(
            plan(&[b"EVAL", b"return 1", b"0"]),
            Plan::Run(Request::Command(_), Shape::Named)
        ));
        assert!(matches!(
            plan(&[b"FCALL", b"f", b"0"]),
            Plan::Run(Request::Command(_), Shape::Named)
        ));
        assert!(matches!(
            plan(&[b"FUNCTION", b"LIST"]),
            Plan::Conn(ConnCmd::Function)
        ));
        assert!(matches!(plan(&[b"multi"]), Plan::Conn(ConnCmd::Multi)));
    }

    #[test]
    fn scan_sends_the_literal_prefix_and_filters_the_rest() {
        assert_eq!(literal_prefix(b"user:*"), b"user:");
        assert_eq!(literal_prefix(b"u?er"), b"u");
        let Plan::Run(Request::Scan { prefix, count, .. }, Shape::Scan(f)) =
            plan(&[b"SCAN", b"0", b"MATCH", b"user:*", b"COUNT", b"100"])
        else {
            panic!()
        };
        assert_eq!((prefix, count, f), (&b"user:"[..], 100, None));
        let Plan::Run(_, Shape::Scan(f)) = plan(&[b"SCAN", b"0", b"MATCH", b"u*:[0-9]"]) else {
            panic!()
        };
        assert_eq!(f.as_deref(), Some(&b"u*:[0-9]"[..]));
    }
}
