//! The slow log's entries (SLOWLOG, docs/redis-compat.md): what a core
//! records about a request that ran longer than `slowlog-log-slower-than`,
//! how the SLOWLOGCTL opcode carries them (each core's entries
//! concatenated), and the request's words as Redis shows them (at most 32
//! arguments, each cut at 128 bytes, passwords redacted).

use std::borrow::Cow;

use crate::codec::{put_bytes, put_u32, put_u64, Reader};
use crate::command::{NamedCommand, Request};
use crate::Error;

/// Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING.
pub const MAX_ARGS: usize = 32;
pub const MAX_STRING: usize = 128;

/// One slow request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique and increasing across the node's cores.
    pub id: u64,
    /// Unix time (seconds) it was logged.
    pub time: u64,
    /// Microseconds it ran on its core.
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    /// The client's `addr` and name when known (empty otherwise).
    pub client: Vec<u8>,
    pub name: Vec<u8>,
}

impl Entry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.id);
        put_u64(out, self.time);
        put_u64(out, self.micros);
        put_u32(out, self.args.len() as u32);
        for a in &self.args {
            put_bytes(out, a);
        }
        put_bytes(out, &self.client);
        put_bytes(out, &self.name);
    }

    /// Decodes concatenated entries (every core's reply to SLOWLOGCTL's
    /// `get`).
    pub fn decode_all(body: &[u8]) -> Result<Vec<Entry>, Error> {
        let mut r = Reader::new(body);
        let mut out = Vec::new();
        while r.remaining() > 0 {
            let id = r.u64("id")?;
            let time = r.u64("time")?;
            let micros = r.u64("micros")?;
            let n = r.count("arguments", 4)?;
            let args = (0..n)
                .map(|_| r.bytes("argument").map(<[u8]>::to_vec))
                .collect::<Result<_, _>>()?;
            out.push(Entry {
                id,
                time,
                micros,
                args,
                client: r.bytes("client")?.to_vec(),
                name: r.bytes("name")?.to_vec(),
            });
        }
        Ok(out)
    }
}

/// The words of `req` as a client would have sent them, cut to Redis's
/// limits; a password is `(redacted)`.
pub fn argv(req: &Request<'_>) -> Vec<Vec<u8>> {
    let req = req.db_and_inner().1;
    let mut words: Vec<Cow<'_, [u8]>> = Vec::new();
    let name = |n: &'static str| Cow::Borrowed(n.as_bytes());
    let num = |n: String| Cow::Owned(n.into_bytes());
    match req {
        Request::Command(c) => named(c, &mut words),
        Request::Batch(cmds) => {
            words.push(name("BATCH"));
            for c in cmds {
                named(c, &mut words);
            }
        }
        Request::Get { key } => words.extend([name("GET"), (*key).into()]),
        Request::Set { key, value, args } => {
            words.extend([name("SET"), (*key).into(), (*value).into()]);
            if args.nx {
                words.push(name("NX"));
            }
            if args.xx {
                words.push(name("XX"));
            }
            if args.keep_ttl {
                words.push(name("KEEPTTL"));
            }
            if let Some(ms) = args.ttl_ms {
                words.extend([name("PX"), num(ms.to_string())]);
            }
            if let Some(v) = args.expected_version {
                words.extend([name("VER"), num(v.to_string())]);
            }
        }
        Request::Del { keys } | Request::Exists { keys } | Request::MGet { keys } => {
            words.push(Cow::Owned(req.opcode().name().as_bytes().to_vec()));
            words.extend(keys.iter().map(|k| Cow::Borrowed(*k)));
        }
        Request::MSet { pairs } => {
            words.push(name("MSET"));
            for (k, v) in pairs {
                words.extend([Cow::Borrowed(*k), Cow::Borrowed(*v)]);
            }
        }
        Request::IncrBy { key, delta } => {
            words.extend([name("INCRBY"), (*key).into(), num(delta.to_string())])
        }
        Request::Expire { key, ttl_ms } => {
            words.extend([name("PEXPIRE"), (*key).into(), num(ttl_ms.to_string())])
        }
        Request::Persist { key } => words.extend([name("PERSIST"), (*key).into()]),
        Request::Ttl { key } => words.extend([name("PTTL"), (*key).into()]),
        Request::Auth { .. } => words.extend([name("AUTH"), name("(redacted)")]),
        Request::Publish { channel, message } => {
            words.extend([name("PUBLISH"), (*channel).into(), (*message).into()])
        }
        Request::BlockingPop { left, keys, .. } => {
            words.push(name(if *left { "BLPOP" } else { "BRPOP" }));
            words.extend(keys.iter().map(|k| Cow::Borrowed(*k)));
        }
        Request::Backup { dir } => words.extend([name("BACKUP"), (*dir).into()]),
        Request::Ping([]) => words.push(name("PING")),
        Request::Ping(m) => words.extend([name("PING"), (*m).into()]),
        other => words.push(Cow::Owned(other.opcode().name().as_bytes().to_vec())),
    }
    cut(words)
}

/// A named command's words; ACL SETUSER's rules and a CONFIG SET of a
/// password are redacted, as Redis does.
fn named<'a>(c: &NamedCommand<'a>, words: &mut Vec<Cow<'a, [u8]>>) {
    let lower = |i: usize| c.args.get(i).map(|w| w.to_ascii_lowercase());
    let redact_from = match (lower(0).as_deref(), lower(1).as_deref()) {
        (Some(b"acl"), Some(b"setuser")) => 3,
        (Some(b"auth"), _) => 1,
        (Some(b"config"), Some(b"set"))
            if matches!(lower(2).as_deref(), Some(b"requirepass" | b"masterauth")) =>
        {
            3
        }
        _ => usize::MAX,
    };
    for (i, w) in c.args.iter().enumerate() {
        words.push(match i >= redact_from {
            true => Cow::Borrowed(b"(redacted)"),
            false => Cow::Borrowed(*w),
        });
    }
}

/// Redis's limits: the first 31 words and a count of the rest past 32;
/// each word's first 128 bytes and a count of the rest.
fn cut(words: Vec<Cow<'_, [u8]>>) -> Vec<Vec<u8>> {
    let total = words.len();
    let keep = if total > MAX_ARGS {
        MAX_ARGS - 1
    } else {
        total
    };
    let mut out: Vec<Vec<u8>> = words
        .into_iter()
        .take(keep)
        .map(|w| {
            if w.len() > MAX_STRING {
                let mut v = w[..MAX_STRING].to_vec();
                v.extend_from_slice(
                    format!("... ({} more bytes)", w.len() - MAX_STRING).as_bytes(),
                );
                v
            } else {
                w.into_owned()
            }
        })
        .collect();
    if total > keep {
        out.push(format!("... ({} more arguments)", total - keep).into_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cut_and_passwords_redacted_as_redis_does() {
        let long = vec![b'x'; 200];
        let mut args: Vec<&[u8]> = vec![b"RPUSH", b"l", &long];
        let many: Vec<Vec<u8>> = (0..40).map(|i| format!("e{i}").into_bytes()).collect();
        args.extend(many.iter().map(Vec::as_slice));
        let a = argv(&Request::Command(NamedCommand::new(args)));
        assert_eq!(a.len(), 32);
        assert_eq!(&a[2][..128], &long[..128]);
        assert_eq!(&a[2][128..], b"... (72 more bytes)");
        assert_eq!(a[31], b"... (12 more arguments)");
        let a = argv(&Request::Command(NamedCommand::new(vec![
            b"ACL", b"SETUSER", b"u", b"on", b">secret",
        ])));
        assert_eq!(a[3], b"(redacted)");
        assert_eq!(a[4], b"(redacted)");
        assert_eq!(a[2], b"u");
        let a = argv(&Request::Auth {
            user: b"u",
            pass: b"p",
        });
        assert_eq!(a, [&b"AUTH"[..], b"(redacted)"]);
        let set = Request::Set {
            key: b"k",
            value: b"v",
            args: crate::command::SetArgs {
                ttl_ms: Some(1500),
                nx: true,
                ..Default::default()
            },
        };
        assert_eq!(argv(&set), [&b"SET"[..], b"k", b"v", b"NX", b"PX", b"1500"]);
    }

    #[test]
    fn entries_survive_their_encoding() {
        let e = Entry {
            id: 7,
            time: 1_700_000_000,
            micros: 12_345,
            args: vec![b"GET".to_vec(), b"k".to_vec()],
            client: b"127.0.0.1:5000".to_vec(),
            name: Vec::new(),
        };
        let mut b = Vec::new();
        e.encode(&mut b);
        e.encode(&mut b);
        assert_eq!(Entry::decode_all(&b).unwrap(), vec![e.clone(), e]);
        assert!(Entry::decode_all(&b[..b.len() - 1]).is_err());
    }
}
