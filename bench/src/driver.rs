//! The two wire protocols the generator speaks: Tessera's binary protocol
//! (through the shard-aware Rust client) and RESP (redis-server, and
//! Tessera's Redis port once it exists).

use std::net::SocketAddr;
use std::time::Instant;

use futures::{AsyncReadExt, AsyncWriteExt};
use redis_protocol::resp2::decode::decode_range;
use redis_protocol::resp2::types::RangeFrame;
use tessera_client::{Client, ClientError, Pipe};
use tessera_wire::codec::{compact, Reader};
use tessera_wire::command::{read_found, NamedCommand};
use tessera_wire::{Request, SetArgs};

use crate::workload::{key_name, Op, Req};

/// Which protocol to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// Tessera's binary protocol, shard-aware (each socket talks to the core owning its keys).
    Binary,
    /// The Redis protocol (RESP2).
    Resp,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A read found no value.
    Miss,
    /// An error reply or a failure, by name.
    Err(String),
}

/// One connection.
pub enum Driver {
    /// A task-free pipelined connection to the port of the core that owns
    /// every key this connection uses.
    Binary(Pipe, Vec<u8>),
    Resp(RespConn),
}

impl Driver {
    pub async fn connect(proto: Proto, addr: SocketAddr) -> Result<Driver, String> {
        match proto {
            Proto::Binary => Pipe::connect(addr)
                .await
                .map(|p| Driver::Binary(p, Vec::with_capacity(32)))
                .map_err(|e| format!("connect {addr}: {e}")),
            Proto::Resp => RespConn::connect(addr).await.map(Driver::Resp),
        }
    }

    /// Sends `reqs` pipelined and pushes each reply's outcome and arrival
    /// time to `out`, in request order. Returns false when the connection
    /// is dead (every request then ends in an error).
    pub async fn run(
        &mut self,
        reqs: &[Req],
        values: &[u8],
        out: &mut Vec<(Outcome, Instant)>,
    ) -> bool {
        match self {
            Driver::Binary(p, key) => binary_batch(p, key, reqs, values, out).await,
            Driver::Resp(c) => c.batch(reqs, values, out).await,
        }
    }
}

fn client_error(e: &ClientError) -> &'static str {
    match e {
        ClientError::Server(w) => w.code.name(),
        ClientError::Io(_) => "io",
        ClientError::Closed => "closed",
        ClientError::Protocol(_) => "protocol",
        // ClientError is non_exhaustive: a kind added later.
        _ => "client",
    }
}

/// Marks the requests from `from` on as failed; returns false (dead).
fn fail_rest(out: &mut Vec<(Outcome, Instant)>, n: usize, from: usize, name: &str) -> bool {
    for _ in from..n {
        out.push((Outcome::Err(name.to_string()), Instant::now()));
    }
    false
}

async fn binary_batch(
    p: &mut Pipe,
    key: &mut Vec<u8>,
    reqs: &[Req],
    values: &[u8],
    out: &mut Vec<(Outcome, Instant)>,
) -> bool {
    for r in reqs {
        key_name(r.key, key);
        let k = &key[..];
        let value = &values[r.value_at..r.value_at + r.value_len];
        let score = r.key.to_string();
        let req = match r.op {
            Op::Set => Request::Set {
                key: k,
                value,
                args: SetArgs::default(),
            },
            Op::Get => Request::Get { key: k },
            Op::Incr => Request::IncrBy { key: k, delta: 1 },
            Op::Del => Request::Del { keys: vec![k] },
            op => {
                let ck = collection_key(op, k);
                p.push(&Request::Command(NamedCommand::new(collection_words(
                    op, &ck, value, &score,
                ))));
                continue;
            }
        };
        p.push(&req);
    }
    if let Err(e) = p.flush().await {
        return fail_rest(out, reqs.len(), 0, client_error(&e));
    }
    for (i, r) in reqs.iter().enumerate() {
        let o = match p.reply().await {
            Ok((_, Ok(body))) if r.op == Op::Get => match read_found(&mut Reader::new(body)) {
                Ok(Some(_)) => Outcome::Ok,
                Ok(None) => Outcome::Miss,
                Err(_) => Outcome::Err("protocol".into()),
            },
            Ok((_, Ok(body))) if r.op == Op::RPop => {
                // u64 version, then the value: tag 0 is nil (an empty list).
                match body.get(8) {
                    Some(0) => Outcome::Miss,
                    Some(_) => Outcome::Ok,
                    None => Outcome::Err("protocol".into()),
                }
            }
            Ok((_, Ok(_))) => Outcome::Ok,
            Ok((_, Err(w))) => Outcome::Err(w.code.name().to_string()),
            Err(e) => return fail_rest(out, reqs.len(), i, client_error(&e)),
        };
        out.push((o, Instant::now()));
    }
    true
}

/// The key of a collection operation: `key:N` becomes `hash:N`, `zset:N`
/// or `list:N`, so workloads of different types never meet on one key.
fn collection_key(op: Op, k: &[u8]) -> Vec<u8> {
    let prefix: &[u8] = match op {
        Op::HSet => b"hash:",
        Op::ZAdd => b"zset:",
        _ => b"list:",
    };
    [prefix, k.strip_prefix(b"key:").unwrap_or(k)].concat()
}

/// The words of a collection operation on key `k` (the same for both protocols).
fn collection_words<'a>(op: Op, k: &'a [u8], value: &'a [u8], score: &'a str) -> Vec<&'a [u8]> {
    match op {
        Op::HSet => vec![b"HSET", k, b"f", value],
        Op::ZAdd => vec![b"ZADD", k, score.as_bytes(), b"m"],
        Op::LPush => vec![b"LPUSH", k, value],
        Op::RPop => vec![b"RPOP", k],
        other => unreachable!("{other:?} is not a collection operation"),
    }
}

/// A RESP connection: pipelined requests written at once, replies parsed
/// in order with redis-protocol (without copying values).
pub struct RespConn {
    stream: tessera_client::tls::BoxIo,
    wbuf: Vec<u8>,
    rbuf: Vec<u8>,
    start: usize,
    filled: usize,
    key: Vec<u8>,
}

/// Commands are encoded by Tessera's own RESP codec.
pub use tessera_wire::resp::encode_command;

impl RespConn {
    pub async fn connect(addr: SocketAddr) -> Result<RespConn, String> {
        let stream = tessera_client::tls::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut conn = RespConn {
            stream,
            wbuf: Vec::with_capacity(16 << 10),
            rbuf: vec![0; 64 << 10],
            start: 0,
            filled: 0,
            key: Vec::with_capacity(16),
        };
        if let Some(c) = tessera_client::credentials() {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if !c.user.is_empty() {
                args.push(&c.user);
            }
            args.push(&c.pass);
            conn.text_command(&args).await?;
        }
        Ok(conn)
    }

    /// The next reply frame (ranges relative to the returned base offset
    /// in `rbuf`), reading more as needed.
    async fn frame(&mut self) -> Result<(RangeFrame, usize), String> {
        loop {
            match decode_range(&self.rbuf[self.start..self.filled]) {
                Ok(Some((frame, used))) => {
                    let base = self.start;
                    self.start += used;
                    return Ok((frame, base));
                }
                Ok(None) => {}
                Err(e) => return Err(format!("bad RESP reply: {e}")),
            }
            compact(&mut self.rbuf, &mut self.start, &mut self.filled);
            if self.filled == self.rbuf.len() {
                let n = self.rbuf.len() * 2;
                self.rbuf.resize(n, 0);
            }
            match self.stream.read(&mut self.rbuf[self.filled..]).await {
                Ok(0) => return Err("closed".into()),
                Ok(n) => self.filled += n,
                Err(e) => return Err(format!("io: {e}")),
            }
        }
    }

    /// One reply's outcome and arrival time.
    async fn reply(&mut self) -> Result<(Outcome, Instant), String> {
        let (frame, base) = self.frame().await?;
        let o = match frame {
            RangeFrame::Error(r) => {
                let text = &self.rbuf[base + r.0..base + r.1];
                let word = text.split(|b| *b == b' ').next().unwrap_or(b"ERR");
                Outcome::Err(String::from_utf8_lossy(word).into_owned())
            }
            RangeFrame::Null => Outcome::Miss,
            _ => Outcome::Ok,
        };
        Ok((o, Instant::now()))
    }

    /// Writes `wbuf` (and what TLS holds back).
    async fn send(&mut self) -> std::io::Result<()> {
        self.stream.write_all(&self.wbuf).await?;
        self.stream.flush().await
    }

    /// Sends one command and returns its reply when it is a string.
    pub async fn text_command(&mut self, args: &[&[u8]]) -> Result<String, String> {
        self.wbuf.clear();
        encode_command(&mut self.wbuf, args);
        self.send().await.map_err(|e| format!("io: {e}"))?;
        let (frame, base) = self.frame().await?;
        match frame {
            RangeFrame::BulkString(r) | RangeFrame::SimpleString(r) => {
                Ok(String::from_utf8_lossy(&self.rbuf[base + r.0..base + r.1]).into_owned())
            }
            RangeFrame::Error(r) => {
                Err(String::from_utf8_lossy(&self.rbuf[base + r.0..base + r.1]).into_owned())
            }
            other => Err(format!("unexpected reply {other:?}")),
        }
    }

    async fn batch(
        &mut self,
        reqs: &[Req],
        values: &[u8],
        out: &mut Vec<(Outcome, Instant)>,
    ) -> bool {
        self.wbuf.clear();
        for r in reqs {
            key_name(r.key, &mut self.key);
            let k = &self.key[..];
            match r.op {
                Op::Set => encode_command(
                    &mut self.wbuf,
                    &[b"SET", k, &values[r.value_at..r.value_at + r.value_len]],
                ),
                Op::Get => encode_command(&mut self.wbuf, &[b"GET", k]),
                Op::Incr => encode_command(&mut self.wbuf, &[b"INCR", k]),
                Op::Del => encode_command(&mut self.wbuf, &[b"DEL", k]),
                op => {
                    let score = r.key.to_string();
                    let value = &values[r.value_at..r.value_at + r.value_len];
                    let ck = collection_key(op, k);
                    encode_command(&mut self.wbuf, &collection_words(op, &ck, value, &score))
                }
            }
        }
        let failed = |out: &mut Vec<(Outcome, Instant)>, from: usize, why: &str| {
            let name = if why.starts_with("closed") {
                "closed"
            } else {
                "io"
            };
            for _ in from..reqs.len() {
                out.push((Outcome::Err(name.into()), Instant::now()));
            }
            false
        };
        if let Err(e) = self.send().await {
            return failed(out, 0, &format!("io: {e}"));
        }
        for i in 0..reqs.len() {
            match self.reply().await {
                Ok(r) => out.push(r),
                Err(e) => return failed(out, i, &e),
            }
        }
        true
    }
}

/// The server's version: HELLO for Tessera, `INFO server` for RESP.
pub fn probe_version(proto: Proto, addr: SocketAddr) -> Option<String> {
    crate::run::block_on(async move {
        match proto {
            Proto::Binary => Client::connect_direct(addr)
                .await
                .ok()
                .map(|c| format!("tessera {}", c.hello().server_version)),
            Proto::Resp => {
                let mut c = RespConn::connect(addr).await.ok()?;
                let info = c.text_command(&[b"INFO", b"server"]).await.ok()?;
                info.lines()
                    .find_map(|l| l.strip_prefix("redis_version:"))
                    .map(|v| format!("redis {}", v.trim()))
            }
        }
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"key:1", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$0\r\n\r\n");
    }
}
