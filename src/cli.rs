//! `tessera cli`: a redis-cli-like command line on the Rust client.
//!
//! Arguments pass through verbatim (`-5` and `-inf` are arguments, not
//! flags). Values print escaped and quoted on a terminal, raw otherwise;
//! errors go to stderr and the exit status is non-zero.

use std::io::Write;
use std::net::SocketAddr;

use crate::client::{Client, ClientError};
use crate::cmd::format_float;
use crate::proto::command::NamedCommand;
use crate::proto::set_opts::SetOptions;
use crate::proto::table;
use crate::proto::value::Value;

/// One printed reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    Nil,
    Int(i64),
    Bytes(Vec<u8>),
    Status(String),
    List(Vec<Output>),
    Text(String),
}

/// Escapes bytes the way redis-cli shows them on a terminal.
pub fn escape(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

impl Output {
    pub fn render(&self, tty: bool, out: &mut Vec<u8>) {
        self.render_at(tty, out, "");
    }

    fn render_at(&self, tty: bool, out: &mut Vec<u8>, indent: &str) {
        match self {
            Output::Nil if tty => out.extend_from_slice(b"(nil)\n"),
            Output::Nil => out.push(b'\n'),
            Output::Int(n) if tty => out.extend_from_slice(format!("(integer) {n}\n").as_bytes()),
            Output::Int(n) => out.extend_from_slice(format!("{n}\n").as_bytes()),
            Output::Bytes(b) if tty => {
                out.extend_from_slice(escape(b).as_bytes());
                out.push(b'\n');
            }
            Output::Bytes(b) => {
                out.extend_from_slice(b);
                out.push(b'\n');
            }
            Output::Status(s) => out.extend_from_slice(format!("{s}\n").as_bytes()),
            Output::Text(s) => out.extend_from_slice(s.as_bytes()),
            Output::List(items) if items.is_empty() && tty => {
                out.extend_from_slice(b"(empty array)\n")
            }
            Output::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if tty {
                        out.extend_from_slice(format!("{indent}{}) ", i + 1).as_bytes());
                        let mut sub = Vec::new();
                        item.render_at(tty, &mut sub, &format!("{indent}   "));
                        out.extend_from_slice(&sub);
                    } else {
                        item.render_at(tty, out, indent);
                    }
                }
            }
        }
    }
}

/// A usage problem or a failed request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Client(#[from] ClientError),
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

fn int(s: &[u8], what: &str) -> Result<i64, CliError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| usage(format!("{what} must be an integer, got {}", escape(s))))
}

fn uint(s: &[u8], what: &str) -> Result<u64, CliError> {
    let n = int(s, what)?;
    u64::try_from(n).map_err(|_| usage(format!("{what} must not be negative")))
}

fn arity(args: &[Vec<u8>], min: usize, max: Option<usize>, syntax: &str) -> Result<(), CliError> {
    let n = args.len();
    if n < min || max.is_some_and(|m| n > m) {
        return Err(usage(format!("wrong number of arguments; usage: {syntax}")));
    }
    Ok(())
}

fn keys(r: &[Vec<u8>]) -> Vec<&[u8]> {
    r.iter().map(|k| k.as_slice()).collect()
}

/// Runs one command line (`args[0]` is the command) against `client`.
pub async fn execute(client: &Client, args: &[Vec<u8>]) -> Result<Output, CliError> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(usage("no command given; try `tessera cli ping`"));
    };
    let cmd = String::from_utf8_lossy(cmd).to_ascii_lowercase();
    Ok(match cmd.as_str() {
        "ping" => {
            arity(rest, 0, Some(1), "ping [message]")?;
            match rest.first() {
                None => {
                    client.ping(b"").await?;
                    Output::Status("PONG".into())
                }
                Some(m) => Output::Bytes(client.ping(m).await?),
            }
        }
        "hello" => {
            arity(rest, 0, Some(0), "hello")?;
            Output::Text(format!("{:#?}\n", client.hello()))
        }
        "get" => {
            arity(rest, 1, Some(1), "get key")?;
            match client.get(&rest[0]).await? {
                None => Output::Nil,
                Some(v) => Output::Bytes(v.value),
            }
        }
        "version" => {
            arity(rest, 1, Some(1), "version key")?;
            match client.get(&rest[0]).await? {
                None => Output::Nil,
                Some(v) => Output::Int(v.version as i64),
            }
        }
        "set" => {
            arity(
                rest,
                2,
                None,
                "set key value [NX|XX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] [GET] [VER version]",
            )?;
            let words = keys(&rest[2..]);
            let o = SetOptions::parse(&words, true).map_err(|e| usage(e.message))?;
            let Some(a) = o.fast() else {
                // GET, EXAT or PXAT: the named SET (VER becomes its check).
                let mut named_args = args.to_vec();
                if let Some(i) = words.iter().position(|w| w.eq_ignore_ascii_case(b"ver")) {
                    named_args.drain(3 + i..5 + i);
                }
                return named(client, &named_args, o.version).await;
            };
            let r = client.set_with(&rest[0], &rest[1], a).await?;
            if r.applied {
                Output::Int(r.version as i64)
            } else {
                Output::Nil
            }
        }
        "del" | "exists" => {
            arity(rest, 1, None, &format!("{cmd} key [key ...]"))?;
            let ks = keys(rest);
            let n = if cmd == "del" {
                client.del(&ks).await?
            } else {
                client.exists(&ks).await?
            };
            Output::Int(n as i64)
        }
        "mget" => {
            arity(rest, 1, None, "mget key [key ...]")?;
            let vs = client.mget(&keys(rest)).await?;
            Output::List(
                vs.into_iter()
                    .map(|v| v.map_or(Output::Nil, |v| Output::Bytes(v.value)))
                    .collect(),
            )
        }
        "mset" => {
            if rest.is_empty() || rest.len() % 2 != 0 {
                return Err(usage(
                    "wrong number of arguments; usage: mset key value [key value ...]",
                ));
            }
            let pairs: Vec<(&[u8], &[u8])> = rest
                .chunks(2)
                .map(|c| (c[0].as_slice(), c[1].as_slice()))
                .collect();
            client.mset(&pairs).await?;
            Output::Status("OK".into())
        }
        "incr" | "decr" | "incrby" | "decrby" => {
            let by = cmd.ends_with("by");
            arity(
                rest,
                if by { 2 } else { 1 },
                Some(if by { 2 } else { 1 }),
                &format!("{cmd} key{}", if by { " delta" } else { "" }),
            )?;
            let mut d = if by { int(&rest[1], "delta")? } else { 1 };
            if cmd.starts_with("decr") {
                d = d.checked_neg().ok_or_else(|| usage("delta out of range"))?;
            }
            Output::Int(client.incr_by(&rest[0], d).await?.0)
        }
        "expire" | "pexpire" => {
            arity(rest, 2, Some(2), &format!("{cmd} key ttl"))?;
            let t = uint(&rest[1], "ttl")?;
            let ms = if cmd == "expire" {
                t.saturating_mul(1000)
            } else {
                t
            };
            Output::Int(client.expire_ms(&rest[0], ms).await? as i64)
        }
        "ttl" | "pttl" => {
            arity(rest, 1, Some(1), &format!("{cmd} key"))?;
            let ms = client.ttl_ms(&rest[0]).await?;
            Output::Int(if cmd == "ttl" && ms >= 0 {
                (ms + 999) / 1000
            } else {
                ms
            })
        }
        "persist" => {
            arity(rest, 1, Some(1), "persist key")?;
            Output::Int(client.persist(&rest[0]).await? as i64)
        }
        "scan" => {
            arity(rest, 1, None, "scan cursor [MATCH prefix] [COUNT n]")?;
            let cursor = uint(&rest[0], "cursor")?;
            let (mut prefix, mut count) = (Vec::new(), 10u32);
            let mut i = 1;
            while i < rest.len() {
                let opt = String::from_utf8_lossy(&rest[i]).to_ascii_uppercase();
                let v = rest
                    .get(i + 1)
                    .ok_or_else(|| usage(format!("{opt} needs a value")))?;
                match opt.as_str() {
                    "MATCH" => {
                        // A trailing `*` is accepted for redis-cli habits; only prefixes match.
                        prefix = v.strip_suffix(b"*").unwrap_or(v).to_vec();
                    }
                    "COUNT" => count = uint(v, "COUNT")?.min(u32::MAX as u64) as u32,
                    _ => return Err(usage(format!("unknown SCAN option {opt}"))),
                }
                i += 2;
            }
            let (next, ks) = client.scan(cursor, count, &prefix).await?;
            Output::List(vec![
                Output::Bytes(next.to_string().into_bytes()),
                Output::List(ks.into_iter().map(Output::Bytes).collect()),
            ])
        }
        "dbsize" => {
            arity(rest, 0, Some(0), "dbsize")?;
            Output::Int(client.dbsize().await? as i64)
        }
        "info" => {
            arity(rest, 0, Some(0), "info")?;
            Output::Text(client.info().await?)
        }
        "backup" => {
            arity(rest, 1, Some(1), "backup /absolute/dir/under/backup-root")?;
            let dir = String::from_utf8(rest[0].clone())
                .map_err(|_| usage("the backup directory must be UTF-8"))?;
            let n = client.backup(&dir).await?;
            Output::Status(format!("backup of {n} partitions written to {dir}"))
        }
        "role" => {
            arity(rest, 0, Some(0), "role")?;
            Output::Text(client.role(0, b"").await?)
        }
        "replicaof" => {
            arity(rest, 1, Some(2), "replicaof HOST:PORT | replicaof no one")?;
            let target = rest
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            Output::Text(client.role(1, target.as_bytes()).await?)
        }
        "promote" => {
            arity(rest, 0, Some(1), "promote [--force]")?;
            let force = match rest.first().map(|w| w.as_slice()) {
                None => false,
                Some(b"--force") | Some(b"force") => true,
                Some(_) => return Err(usage("promote takes only --force")),
            };
            Output::Text(client.role(2, if force { b"force" } else { b"" }).await?)
        }
        "cas" => {
            arity(rest, 2, None, "cas version command [arg ...]")?;
            let v = uint(&rest[0], "version")?;
            named(client, &rest[1..], Some(v)).await?
        }
        "batch" => {
            arity(
                rest,
                1,
                None,
                "batch command [arg ...] [; command [arg ...] ...]",
            )?;
            let mut cmds = Vec::new();
            for words in rest.split(|w| w.as_slice() == b";") {
                if words.is_empty() {
                    return Err(usage("an empty command in the batch"));
                }
                cmds.push(NamedCommand::new(keys(words)));
            }
            let results = client.batch(&cmds).await?;
            Output::List(results.into_iter().map(|(_, v)| Output::from(v)).collect())
        }
        _ => {
            // Everything else is a data command of the command table: its
            // name and arity are checked here, before any round trip.
            let row = table::lookup(&keys(args)).map_err(|e| usage(e.message))?;
            if !row.has(table::flag::STORED) {
                return Err(usage(format!(
                    "'{}' is not a data command of the binary protocol; run it with redis-cli on the RESP port",
                    row.name
                )));
            }
            named(client, args, None).await?
        }
    })
}

/// Runs a data-model command (`hset`, `zrange`, ...) through the generic
/// COMMAND frame; an unknown name is the server's UNKNOWN_COMMAND.
async fn named(
    client: &Client,
    args: &[Vec<u8>],
    expected: Option<u64>,
) -> Result<Output, CliError> {
    let (_, v) = client.command_cas(&keys(args), expected).await?;
    Ok(Output::from(v))
}

impl From<Value> for Output {
    fn from(v: Value) -> Output {
        match v {
            Value::Nil => Output::Nil,
            Value::Int(n) => Output::Int(n),
            Value::Bytes(b) => Output::Bytes(b),
            Value::Double(d) => Output::Bytes(format_float(d).into_bytes()),
            Value::Status(s) => Output::Status(s),
            Value::Error(e) => Output::Text(format!("(error) {}", e.resp_text())),
            Value::Array(items) => Output::List(items.into_iter().map(Output::from).collect()),
            Value::Map(pairs) | Value::Pairs(pairs) => Output::List(
                pairs
                    .into_iter()
                    .flat_map(|(k, v)| [Output::from(k), Output::from(v)])
                    .collect(),
            ),
        }
    }
}

/// Connects to `addr`, runs one command and prints it. Returns the exit code.
pub fn run(addr: SocketAddr, db: u16, args: Vec<Vec<u8>>) -> i32 {
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(64 << 10)
        .make();
    let ex = match ex {
        Ok(ex) => ex,
        Err(e) => {
            eprintln!("(error) cannot start the I/O reactor: {e}");
            return 2;
        }
    };
    ex.run(async move {
        let client = match Client::connect(addr).await {
            Ok(mut c) => {
                c.select(db);
                c
            }
            Err(e) => {
                eprintln!("(error) cannot connect to {addr}: {e}");
                return 2;
            }
        };
        let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
        match execute(&client, &args).await {
            Ok(o) => {
                let mut buf = Vec::new();
                o.render(tty, &mut buf);
                let _ = std::io::stdout().write_all(&buf);
                0
            }
            Err(CliError::Client(ClientError::Server(w))) => {
                eprintln!("(error) {}", w.resp_text());
                1
            }
            Err(e) => {
                eprintln!("(error) {e}");
                1
            }
        }
    })
}
