//! Keys of any type and strings: TYPE, DEL, UNLINK, EXISTS, EXPIRE,
//! PEXPIRE, EXPIREAT, PEXPIREAT (NX/XX/GT/LT), TTL, PTTL, PERSIST, RENAME,
//! RENAMENX, COPY, GET, SET (NX/XX/EX/PX/EXAT/PXAT/KEEPTTL/GET), SETNX, SETEX,
//! PSETEX, GETSET, GETDEL, GETEX, MGET, MSET, MSETNX, INCR, INCRBY, DECR,
//! DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE, SETRANGE, LCS, DUMP,
//! RESTORE.

use super::{bad, not_named, syntax, Args, WordPairs};
use crate::codes::{ErrorCode, WireError};
use crate::set_opts::{Expire, SetOptions};

type Key<'a> = &'a [u8];

/// Conditions of an EXPIRE (Redis 7's NX, XX, GT, LT).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireIf {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

/// What GETEX does to the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetExpiry {
    Persist,
    Set(Expire),
}

/// A keys-or-strings command's typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyCmd<'a> {
    Type(Key<'a>),
    /// SORT and (no `store`) SORT_RO.
    Sort(SortArgs<'a>),
    /// OBJECT ENCODING, FREQ, REFCOUNT or IDLETIME of a key.
    Object {
        key: Key<'a>,
        what: ObjectInfo,
    },
    /// DEL and UNLINK.
    Del(&'a [Key<'a>]),
    Exists(&'a [Key<'a>]),
    /// EXPIRE and its forms: `ms` is relative to now (EXPIRE, PEXPIRE) or
    /// a Unix time (`absolute`: EXPIREAT, PEXPIREAT), in milliseconds.
    Expire {
        key: Key<'a>,
        ms: i64,
        absolute: bool,
        cond: ExpireIf,
    },
    /// TTL (`unit_ms` 1000) and PTTL (1).
    /// TTL, PTTL; with `absolute`, EXPIRETIME and PEXPIRETIME (the Unix
    /// time of the expiry rather than the time left).
    Ttl {
        key: Key<'a>,
        unit_ms: i64,
        absolute: bool,
    },
    Persist(Key<'a>),
    Rename {
        from: Key<'a>,
        to: Key<'a>,
        nx: bool,
    },
    /// COPY source destination [DB n] [REPLACE]; `db` as given (its range
    /// is the server's to check).
    Copy {
        from: Key<'a>,
        to: Key<'a>,
        db: Option<i64>,
        replace: bool,
    },
    /// MOVE key db.
    Move {
        key: Key<'a>,
        db: i64,
    },
    /// DUMP: the value in Redis's serialization (`crate::dump`).
    Dump(Key<'a>),
    Restore(Restore<'a>),
    Get(Key<'a>),
    Set {
        key: Key<'a>,
        value: &'a [u8],
        opts: SetOptions,
    },
    /// INCR, DECR, INCRBY and DECRBY.
    IncrBy {
        key: Key<'a>,
        delta: i64,
    },
    IncrByFloat {
        key: Key<'a>,
        delta: f64,
    },
    SetNx {
        key: Key<'a>,
        value: &'a [u8],
    },
    /// SETEX and PSETEX: the value and its time to live.
    SetEx {
        key: Key<'a>,
        value: &'a [u8],
        ttl_ms: u64,
    },
    GetSet {
        key: Key<'a>,
        value: &'a [u8],
    },
    GetDel(Key<'a>),
    GetEx {
        key: Key<'a>,
        expiry: Option<GetExpiry>,
    },
    MGet(&'a [Key<'a>]),
    /// MSET and MSETNX.
    MSet {
        pairs: WordPairs<'a>,
        nx: bool,
    },
    Append {
        key: Key<'a>,
        value: &'a [u8],
    },
    StrLen(Key<'a>),
    GetRange {
        key: Key<'a>,
        start: i64,
        end: i64,
    },
    SetRange {
        key: Key<'a>,
        offset: usize,
        piece: &'a [u8],
    },
    /// LCS: the options parse after the keys are read, as in Redis.
    Lcs {
        a: Key<'a>,
        b: Key<'a>,
        opts: Result<LcsOpts, WireError>,
    },
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f].
/// The TTL is parsed after the key is found free, as Redis checks it, so
/// it travels as a result; IDLETIME and FREQ are checked and have no
/// effect (Tessera keeps no access clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Restore<'a> {
    pub key: Key<'a>,
    /// Milliseconds to live, or a Unix time in milliseconds (`absttl`);
    /// 0 = no expiry.
    pub ttl_ms: Result<i64, WireError>,
    pub payload: &'a [u8],
    pub replace: bool,
    pub absttl: bool,
}

/// What LCS answers: the common string, its length (LEN), or the matching
/// ranges (IDX, with MINMATCHLEN and WITHMATCHLEN).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LcsOpts {
    pub len: bool,
    pub idx: bool,
    pub min_match_len: u64,
    pub with_match_len: bool,
}

impl LcsOpts {
    fn parse(a: &mut Args<'_>) -> Result<LcsOpts, WireError> {
        let mut o = LcsOpts::default();
        while a.left() > 0 {
            if a.eat("idx") {
                o.idx = true;
            } else if a.eat("len") {
                o.len = true;
            } else if a.eat("withmatchlen") {
                o.with_match_len = true;
            } else if a.left() > 1 && a.eat("minmatchlen") {
                o.min_match_len = a.int()?.max(0) as u64;
            } else {
                return Err(syntax());
            }
        }
        if o.idx && o.len {
            return Err(bad(
                "If you want both the length and indexes, please just use IDX.",
            ));
        }
        Ok(o)
    }
}

/// SORT's options, in Redis's parse (the last of a repeated option wins;
/// GETs accumulate).
#[derive(Debug, Clone, PartialEq)]
pub struct SortArgs<'a> {
    pub key: Key<'a>,
    /// BY pattern; without a `*` it only skips the sorting.
    pub by: Option<&'a [u8]>,
    /// LIMIT offset count.
    pub limit: Option<(i64, i64)>,
    pub gets: Vec<&'a [u8]>,
    pub desc: bool,
    pub alpha: bool,
    pub store: Option<Key<'a>>,
}

impl<'a> SortArgs<'a> {
    fn parse(a: &mut Args<'a>, may_store: bool) -> Result<SortArgs<'a>, WireError> {
        let mut s = SortArgs {
            key: a.word()?,
            by: None,
            limit: None,
            gets: Vec::new(),
            desc: false,
            alpha: false,
            store: None,
        };
        while let Some(w) = a.maybe() {
            let left = a.left();
            match w.to_ascii_lowercase().as_slice() {
                b"asc" => s.desc = false,
                b"desc" => s.desc = true,
                b"alpha" => s.alpha = true,
                b"limit" if left >= 2 => s.limit = Some((a.int()?, a.int()?)),
                b"store" if may_store && left >= 1 => s.store = Some(a.word()?),
                b"by" if left >= 1 => s.by = Some(a.word()?),
                b"get" if left >= 1 => s.gets.push(a.word()?),
                _ => return Err(syntax()),
            }
        }
        Ok(s)
    }
}

/// What OBJECT asks about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectInfo {
    Encoding,
    Freq,
    RefCount,
    IdleTime,
}

impl<'a> KeyCmd<'a> {
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<KeyCmd<'a>, WireError> {
        Ok(match name {
            "type" => KeyCmd::Type(a.word()?),
            "sort" | "sort_ro" => KeyCmd::Sort(SortArgs::parse(a, name == "sort")?),
            "object|encoding" | "object|freq" | "object|refcount" | "object|idletime" => {
                a.word()?; // the subcommand
                KeyCmd::Object {
                    key: a.word()?,
                    what: match name {
                        "object|encoding" => ObjectInfo::Encoding,
                        "object|freq" => ObjectInfo::Freq,
                        "object|refcount" => ObjectInfo::RefCount,
                        _ => ObjectInfo::IdleTime,
                    },
                }
            }
            "del" | "unlink" => KeyCmd::Del(a.rest()),
            "exists" => KeyCmd::Exists(a.rest()),
            "expire" => expire(a, 1000, false)?,
            "pexpire" => expire(a, 1, false)?,
            "expireat" => expire(a, 1000, true)?,
            "pexpireat" => expire(a, 1, true)?,
            "ttl" | "pttl" | "expiretime" | "pexpiretime" => KeyCmd::Ttl {
                key: a.word()?,
                unit_ms: if name.starts_with('p') { 1 } else { 1000 },
                absolute: name.ends_with("expiretime"),
            },
            "persist" => KeyCmd::Persist(a.word()?),
            "rename" | "renamenx" => KeyCmd::Rename {
                from: a.word()?,
                to: a.word()?,
                nx: name == "renamenx",
            },
            "copy" => copy(a)?,
            "move" => move_key(a)?,
            "dump" => KeyCmd::Dump(a.word()?),
            "restore" => KeyCmd::Restore(restore(a)?),
            "get" => KeyCmd::Get(a.word()?),
            "set" => {
                let (key, value) = (a.word()?, a.word()?);
                let opts = SetOptions::parse(a.rest(), false)?;
                KeyCmd::Set { key, value, opts }
            }
            "incr" | "decr" => KeyCmd::IncrBy {
                key: a.word()?,
                delta: if name == "incr" { 1 } else { -1 },
            },
            "incrby" => KeyCmd::IncrBy {
                key: a.word()?,
                delta: a.int()?,
            },
            "decrby" => {
                let key = a.word()?;
                let delta = a
                    .int()?
                    .checked_neg()
                    .ok_or_else(|| WireError::of(ErrorCode::Overflow))?;
                KeyCmd::IncrBy { key, delta }
            }
            "incrbyfloat" => KeyCmd::IncrByFloat {
                key: a.word()?,
                delta: a.float()?,
            },
            "setnx" => KeyCmd::SetNx {
                key: a.word()?,
                value: a.word()?,
            },
            "setex" => setex(a, 1000, name)?,
            "psetex" => setex(a, 1, name)?,
            "getset" => KeyCmd::GetSet {
                key: a.word()?,
                value: a.word()?,
            },
            "getdel" => KeyCmd::GetDel(a.word()?),
            "getex" => getex(a)?,
            "mget" => KeyCmd::MGet(a.rest()),
            "mset" | "msetnx" => KeyCmd::MSet {
                pairs: a.pairs(name)?,
                nx: name == "msetnx",
            },
            "append" => KeyCmd::Append {
                key: a.word()?,
                value: a.word()?,
            },
            "strlen" => KeyCmd::StrLen(a.word()?),
            "getrange" => KeyCmd::GetRange {
                key: a.word()?,
                start: a.int()?,
                end: a.int()?,
            },
            "setrange" => {
                let key = a.word()?;
                let offset = a.int()?;
                let piece = a.word()?;
                let offset = usize::try_from(offset).map_err(|_| bad("offset is out of range"))?;
                KeyCmd::SetRange { key, offset, piece }
            }
            "lcs" => KeyCmd::Lcs {
                a: a.word()?,
                b: a.word()?,
                opts: LcsOpts::parse(a),
            },
            _ => return Err(not_named(name)),
        })
    }
}

/// EXPIRE/PEXPIRE (relative) and EXPIREAT/PEXPIREAT (absolute), with
/// Redis 7's NX, XX, GT and LT.
fn expire<'a>(a: &mut Args<'a>, unit_ms: i64, absolute: bool) -> Result<KeyCmd<'a>, WireError> {
    let key = a.word()?;
    let n = a.int()?;
    let mut cond = ExpireIf::default();
    while let Some(w) = a.maybe() {
        match w.to_ascii_lowercase().as_slice() {
            b"nx" => cond.nx = true,
            b"xx" => cond.xx = true,
            b"gt" => cond.gt = true,
            b"lt" => cond.lt = true,
            _ => {
                return Err(bad(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(w)
                )))
            }
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        return Err(bad(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if cond.gt && cond.lt {
        return Err(bad("GT and LT options at the same time are not compatible"));
    }
    let ms = n
        .checked_mul(unit_ms)
        .ok_or_else(|| WireError::of(ErrorCode::NotInteger))?;
    Ok(KeyCmd::Expire {
        key,
        ms,
        absolute,
        cond,
    })
}

/// COPY's options, with Redis's errors (a database out of range, or the
/// source named as the destination, is the server's to refuse).
fn copy<'a>(a: &mut Args<'a>) -> Result<KeyCmd<'a>, WireError> {
    let (from, to) = (a.word()?, a.word()?);
    let mut replace = false;
    let mut db = None;
    while a.left() > 0 {
        if a.eat("replace") {
            replace = true;
        } else if a.left() > 1 && a.eat("db") {
            db = Some(db_word(a)?);
        } else {
            return Err(syntax());
        }
    }
    Ok(KeyCmd::Copy {
        from,
        to,
        db,
        replace,
    })
}

/// MOVE key db: the database must be an integer (Redis's error).
fn move_key<'a>(a: &mut Args<'a>) -> Result<KeyCmd<'a>, WireError> {
    let key = a.word()?;
    Ok(KeyCmd::Move {
        key,
        db: db_word(a)?,
    })
}

/// The next word as a database index, or Redis's `value is not an integer
/// or out of range`.
fn db_word(a: &mut Args<'_>) -> Result<i64, WireError> {
    crate::num::db_index(a.word()?).ok_or_else(|| WireError::of(ErrorCode::NotInteger))
}

fn restore<'a>(a: &mut Args<'a>) -> Result<Restore<'a>, WireError> {
    let key = a.word()?;
    let ttl = a.word()?;
    let payload = a.word()?;
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, false, false);
    while a.left() > 0 {
        if a.eat("replace") {
            replace = true;
        } else if a.eat("absttl") {
            absttl = true;
        } else if a.left() > 1 && !freq && a.eat("idletime") {
            if a.int()? < 0 {
                return Err(bad("Invalid IDLETIME value, must be >= 0"));
            }
            idle = true;
        } else if a.left() > 1 && !idle && a.eat("freq") {
            if !(0..=255).contains(&a.int()?) {
                return Err(bad("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = true;
        } else {
            return Err(syntax());
        }
    }
    let ttl_ms = crate::num::int_arg(ttl).and_then(|t| {
        if t < 0 {
            Err(bad("Invalid TTL value, must be >= 0"))
        } else {
            Ok(t)
        }
    });
    Ok(Restore {
        key,
        ttl_ms,
        payload,
        replace,
        absttl,
    })
}

fn setex<'a>(a: &mut Args<'a>, unit_ms: u64, name: &str) -> Result<KeyCmd<'a>, WireError> {
    let key = a.word()?;
    let n = a.int()?;
    let value = a.word()?;
    if n <= 0 {
        return Err(bad(format!("invalid expire time in '{name}' command")));
    }
    Ok(KeyCmd::SetEx {
        key,
        value,
        ttl_ms: (n as u64).saturating_mul(unit_ms),
    })
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
fn getex<'a>(a: &mut Args<'a>) -> Result<KeyCmd<'a>, WireError> {
    let key = a.word()?;
    let mut expiry = None;
    if a.eat("persist") {
        expiry = Some(GetExpiry::Persist);
    } else if a.left() > 0 {
        let (unit, absolute) = if a.eat("ex") {
            (1000, false)
        } else if a.eat("px") {
            (1, false)
        } else if a.eat("exat") {
            (1000, true)
        } else if a.eat("pxat") {
            (1, true)
        } else {
            return Err(syntax());
        };
        let n = a.int()?;
        if n <= 0 {
            return Err(bad("invalid expire time in 'getex' command"));
        }
        let ms = (n as u64).saturating_mul(unit);
        expiry = Some(GetExpiry::Set(if absolute {
            Expire::At(ms)
        } else {
            Expire::In(ms)
        }));
    }
    a.end()?;
    Ok(KeyCmd::GetEx { key, expiry })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(words: &'a [&'a [u8]]) -> Result<KeyCmd<'a>, WireError> {
        super::super::parse_words(words, KeyCmd::parse)
    }

    #[test]
    fn options_and_their_errors() {
        assert_eq!(
            parse(&[b"pexpire", b"k", b"5", b"XX", b"gt"]).unwrap(),
            KeyCmd::Expire {
                key: b"k",
                ms: 5,
                absolute: false,
                cond: ExpireIf {
                    xx: true,
                    gt: true,
                    ..Default::default()
                }
            }
        );
        let e = parse(&[b"expire", b"k", b"5", b"nx", b"gt"]).unwrap_err();
        assert!(e.message.contains("not compatible"), "{e}");
        let e = parse(&[b"expire", b"k", b"5", b"soon"]).unwrap_err();
        assert_eq!(e.message, "Unsupported option soon");
        assert_eq!(
            parse(&[b"expire", b"k", b"9223372036854775807"])
                .unwrap_err()
                .code,
            ErrorCode::NotInteger
        );
        assert_eq!(
            parse(&[b"decrby", b"k", b"-9223372036854775808"])
                .unwrap_err()
                .code,
            ErrorCode::Overflow
        );
        assert_eq!(
            parse(&[b"getex", b"k", b"PX", b"20"]).unwrap(),
            KeyCmd::GetEx {
                key: b"k",
                expiry: Some(GetExpiry::Set(Expire::In(20)))
            }
        );
        assert!(parse(&[b"getex", b"k", b"PX", b"0"]).is_err());
        assert!(parse(&[b"getex", b"k", b"persist", b"x"]).is_err());
        assert_eq!(
            parse(&[b"psetex", b"k", b"0", b"v"]).unwrap_err().message,
            "invalid expire time in 'psetex' command"
        );
        assert_eq!(
            parse(&[b"msetnx", b"a", b"1", b"b"]).unwrap_err().message,
            "wrong number of arguments for 'msetnx' command"
        );
        assert_eq!(
            parse(&[b"setrange", b"k", b"-1", b"x"])
                .unwrap_err()
                .message,
            "offset is out of range"
        );
    }
}
