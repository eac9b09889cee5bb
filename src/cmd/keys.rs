//! Keys of any type and strings: TYPE, DEL, UNLINK, EXISTS, EXPIRE,
//! PEXPIRE, EXPIREAT, PEXPIREAT (NX/XX/GT/LT), TTL, PTTL, PERSIST, RENAME,
//! RENAMENX, COPY, GET, SET (NX/XX/EX/PX/EXAT/PXAT/KEEPTTL/GET), SETNX, SETEX,
//! PSETEX, GETSET, GETDEL, GETEX, MGET, MSET, MSETNX (keys in one slot),
//! INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE,
//! SETRANGE, LCS: their apply (the parse: `proto::args::keys`), and the string
//! operations the binary fast opcodes share with them.

use super::{CmdError, CmdResult, Value};
use crate::proto::args::bad;
use crate::proto::args::bits::MAX_STRING;
pub use crate::proto::args::keys::ExpireIf;
use crate::proto::args::keys::{GetExpiry, KeyCmd, ObjectInfo};
use crate::proto::set_opts::{Expire, SetOptions};
use crate::shard::envelope::{Meta, ValueType, FORMAT_V2};
use crate::shard::space;
use crate::shard::tx::Tx;
use crate::shard::Error;

// ---- the string operations every front end runs ----------------------------
//
// The binary protocol's fast opcodes (GET, SET, DEL, EXISTS, MGET, MSET,
// INCRBY, EXPIRE, PERSIST, TTL) are compact encodings of these commands:
// the core runs them through the functions below, as the named commands
// do, and only the encoding of the answer differs.

/// What a SET did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    pub applied: bool,
    /// The new version when applied; otherwise the current one (0 when absent).
    pub version: u64,
    /// The value before, when the options asked for it (GET).
    pub old: Option<Vec<u8>>,
}

/// SET `key` to `value` with its options. A SET without NX, XX, GET,
/// KEEPTTL or a version check does not read the key.
pub fn set_with(
    t: &mut Tx<'_>,
    key: &[u8],
    value: &[u8],
    o: &SetOptions,
) -> Result<SetOutcome, Error> {
    let needs_read = o.nx || o.xx || o.get || o.keep_ttl || o.version.is_some();
    let (current, old): (Option<Meta>, _) = if needs_read {
        t.with_live(key, |v| match v {
            Some((m, _)) if o.get && m.vtype != ValueType::String => Err(Error::WrongType),
            Some((m, body)) => Ok((Some(m), o.get.then(|| body.to_vec()))),
            None => Ok((None, None)),
        })??
    } else {
        (None, None)
    };
    let version = current.map_or(0, |m| m.version);
    if let Some(expected) = o.version {
        if expected != version {
            return Err(Error::VersionConflict { current: version });
        }
    }
    if (o.nx && current.is_some()) || (o.xx && current.is_none()) {
        return Ok(SetOutcome {
            applied: false,
            version,
            old,
        });
    }
    t.writable()?;
    let at = match (o.expire, o.keep_ttl) {
        (Some(Expire::In(ms)), _) => t.now_ms.saturating_add(ms),
        (Some(Expire::At(ms)), _) => ms,
        (None, true) => current.map_or(0, |m| m.expire_at_ms),
        (None, false) => 0,
    };
    Ok(SetOutcome {
        applied: true,
        version: t.put_string(key, value, at),
        old,
    })
}

/// Calls `f` with `key`'s string (and its header); a key of another type
/// reads as absent, as MGET answers it.
pub fn string_or_none<R>(
    t: &Tx<'_>,
    key: &[u8],
    f: impl FnOnce(Option<(&Meta, &[u8])>) -> R,
) -> Result<R, Error> {
    t.with_live(key, |v| {
        f(v.as_ref()
            .filter(|(m, _)| m.vtype == ValueType::String)
            .map(|(m, body)| (m, *body)))
    })
}

/// DEL of one key of any type: whether it existed.
pub fn del_key(t: &mut Tx<'_>, key: &[u8]) -> Result<bool, Error> {
    if t.meta(key)?.is_none() {
        return Ok(false);
    }
    t.writable()?;
    t.remove(key)
}

/// INCRBY: the new value and its version.
pub fn incr_by(t: &mut Tx<'_>, key: &[u8], delta: i64) -> Result<(i64, u64), Error> {
    let (old, at) = t.read_string(key, |v| match v {
        None => Ok((0, 0)),
        Some((m, body)) => crate::shard::hash::parse_int(body)
            .map(|n| (n, m.expire_at_ms))
            .ok_or(Error::NotInteger),
    })??;
    let new = old.checked_add(delta).ok_or(Error::Overflow)?;
    t.writable()?;
    let version = t.put_string(key, new.to_string().as_bytes(), at);
    Ok((new, version))
}

/// Gives `key` the expiry `at` (Unix ms) when the conditions allow it; a
/// time not in the future deletes the key, as in Redis. Whether it did.
pub fn expire_at(t: &mut Tx<'_>, key: &[u8], at: i64, cond: ExpireIf) -> Result<bool, Error> {
    let Some(m) = t.meta(key)? else {
        return Ok(false);
    };
    // No expiry counts as an infinite TTL for GT and LT.
    let current = (m.expire_at_ms != 0).then_some(m.expire_at_ms as i64);
    let allowed = (!cond.nx || current.is_none())
        && (!cond.xx || current.is_some())
        && (!cond.gt || current.is_some_and(|c| at > c))
        && (!cond.lt || current.is_none_or(|c| at < c));
    if !allowed {
        return Ok(false);
    }
    t.writable()?;
    if at <= t.now_ms as i64 {
        return t.remove(key);
    }
    t.set_expiry(key, at as u64)
}

/// PEXPIRE `key` `ms` without conditions (the binary EXPIRE opcode).
pub fn expire_in(t: &mut Tx<'_>, key: &[u8], ms: u64) -> Result<bool, Error> {
    let at = i64::try_from(t.now_ms.saturating_add(ms)).unwrap_or(i64::MAX);
    expire_at(t, key, at, ExpireIf::default())
}

/// PERSIST: whether an expiry was removed.
pub fn persist_key(t: &mut Tx<'_>, key: &[u8]) -> Result<bool, Error> {
    match t.meta(key)? {
        Some(m) if m.expire_at_ms != 0 => {
            t.writable()?;
            t.set_expiry(key, 0)
        }
        _ => Ok(false),
    }
}

/// PTTL: -2 when the key does not exist, -1 when it has no expiry, else
/// the milliseconds left.
pub fn ttl_ms(t: &Tx<'_>, key: &[u8]) -> Result<i64, Error> {
    Ok(match t.meta(key)? {
        None => -2,
        Some(m) if m.expire_at_ms == 0 => -1,
        Some(m) => (m.expire_at_ms - t.now_ms) as i64,
    })
}

// ---- the named commands -----------------------------------------------------

/// OBJECT ENCODING's names for Tessera's layout (docs/redis-compat.md):
/// a string is one stored value, named as Redis names a value SET wrote
/// (`int`, `embstr` up to 44 bytes, `raw`); a set of format 2 keeps its
/// members by hash (`hashtable`); a sorted set keeps a member map and a
/// score index (`skiplist`); hashes, lists and older sets keep one subkey
/// per field, element or member (`subkeys`); a stream is `stream`, as in
/// Redis.
fn encoding(t: &Tx<'_>, key: &[u8], m: &Meta) -> Result<&'static str, CmdError> {
    Ok(match m.vtype {
        ValueType::String => t.read_string(key, |v| match v {
            Some((_, s))
                if crate::proto::num::parse_int(s)
                    .is_some_and(|n| n.to_string().as_bytes() == s) =>
            {
                "int"
            }
            Some((_, s)) if s.len() <= 44 => "embstr",
            _ => "raw",
        })?,
        ValueType::Set if m.format >= FORMAT_V2 => "hashtable",
        ValueType::ZSet => "skiplist",
        ValueType::Hash | ValueType::Set | ValueType::List => "subkeys",
        ValueType::Stream => "stream",
    })
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::String => "string",
        ValueType::Hash => "hash",
        ValueType::Set => "set",
        ValueType::ZSet => "zset",
        ValueType::List => "list",
        ValueType::Stream => "stream",
    }
}

fn too_long() -> CmdError {
    CmdError::Wire(bad(
        "string exceeds maximum allowed size (proto-max-bulk-len)",
    ))
}

/// The string at `key` and its expiry (empty and none when absent).
pub(super) fn string_and_expiry(t: &Tx<'_>, key: &[u8]) -> Result<(Vec<u8>, u64), Error> {
    Ok(match t.get_string(key)? {
        None => (Vec::new(), 0),
        Some((m, v)) => (v, m.expire_at_ms),
    })
}

pub fn apply(t: &mut Tx<'_>, c: &KeyCmd<'_>) -> CmdResult {
    Ok(match *c {
        KeyCmd::Type(key) => {
            Value::Status(t.meta(key)?.map_or("none", |m| type_name(m.vtype)).into())
        }
        KeyCmd::Sort(ref s) => return super::sort::apply(t, s),
        KeyCmd::Dump(key) => return super::dump::dump(t, key),
        KeyCmd::Restore(ref r) => return super::dump::restore(t, r),
        KeyCmd::Object { key, what } => {
            let Some(m) = t.meta(key)? else {
                return Ok(Value::Nil);
            };
            match what {
                ObjectInfo::Encoding => Value::bytes(encoding(t, key, &m)?),
                // Nothing is shared between keys.
                ObjectInfo::RefCount => Value::Int(1),
                // Reads are not recorded: the time since the last write,
                // from the version clock (unix ms << 16).
                ObjectInfo::IdleTime => {
                    Value::Int((t.now_ms.saturating_sub(m.version >> 16) / 1000) as i64)
                }
                // The policy is noeviction: Redis's answer then.
                ObjectInfo::Freq => return Err(bad(
                    "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
                ).into()),
            }
        }
        KeyCmd::Del(keys) => {
            let mut n = 0;
            for k in keys {
                n += del_key(t, k)? as i64;
            }
            Value::Int(n)
        }
        KeyCmd::Exists(keys) => {
            let mut n = 0;
            for k in keys {
                n += t.meta(k)?.is_some() as i64;
            }
            Value::Int(n)
        }
        KeyCmd::Expire {
            key,
            ms,
            absolute,
            cond,
        } => {
            let at = if absolute {
                ms
            } else {
                (t.now_ms as i64).checked_add(ms).ok_or(Error::NotInteger)?
            };
            Value::Int(expire_at(t, key, at, cond)? as i64)
        }
        KeyCmd::Ttl {
            key,
            unit_ms,
            absolute,
        } => {
            let ms = match ttl_ms(t, key)? {
                left if left >= 0 && absolute => left + t.now_ms as i64,
                other => other,
            };
            // Round to the nearest unit, as Redis does for TTL and
            // EXPIRETIME.
            Value::Int(if ms >= 0 {
                (ms + unit_ms / 2) / unit_ms
            } else {
                ms
            })
        }
        KeyCmd::Persist(key) => Value::Int(persist_key(t, key)? as i64),
        KeyCmd::Copy {
            from,
            to,
            db,
            replace,
        } => {
            let here = space::db_of(t.space);
            let to_db = match db {
                None => here,
                Some(_) if space::cluster_mode() => {
                    return Err(
                        bad("Copying to another database is not allowed in cluster mode").into(),
                    )
                }
                Some(n) => space::checked(n).ok_or_else(|| bad("DB index is out of range"))?,
            };
            if from == to && to_db == here {
                return Err(bad("source and destination objects are the same").into());
            }
            t.writable()?;
            Value::Int(t.copy(from, to, to_db, replace)? as i64)
        }
        KeyCmd::Move { key, db } => {
            if space::cluster_mode() {
                return Err(bad("MOVE is not allowed in cluster mode").into());
            }
            let to_db = space::checked(db).ok_or_else(|| bad("DB index is out of range"))?;
            if to_db == space::db_of(t.space) {
                return Err(bad("source and destination objects are the same").into());
            }
            t.writable()?;
            Value::Int(t.move_to(key, to_db)? as i64)
        }
        KeyCmd::Rename { from, to, nx } => {
            t.writable()?;
            let done = t.rename(from, to, nx)?;
            if nx {
                Value::Int(done as i64)
            } else {
                Value::ok()
            }
        }
        KeyCmd::Get(key) => Value::opt(t.read_string(key, |v| v.map(|(_, body)| body.to_vec()))?),
        KeyCmd::Set {
            key,
            value,
            ref opts,
        } => {
            let done = set_with(t, key, value, opts)?;
            match (opts.get, done.applied) {
                (true, _) => Value::opt(done.old),
                (false, true) => Value::ok(),
                (false, false) => Value::Nil,
            }
        }
        KeyCmd::IncrBy { key, delta } => Value::Int(incr_by(t, key, delta)?.0),
        KeyCmd::IncrByFloat { key, delta } => {
            let (old, at) = match t.get_string(key)? {
                None => (0.0, 0),
                Some((m, v)) => (
                    crate::shard::hash::parse_float(&v).ok_or(Error::NotFloat)?,
                    m.expire_at_ms,
                ),
            };
            let new = old + delta;
            if !new.is_finite() {
                return Err(Error::NanOrInfinity.into());
            }
            t.writable()?;
            let text = crate::shard::hash::format_float(new);
            t.put_string(key, text.as_bytes(), at);
            Value::bytes(text)
        }
        // Writes the value unless the key exists; keeps no expiry.
        KeyCmd::SetNx { key, value } => {
            if t.meta(key)?.is_some() {
                return Ok(Value::Int(0));
            }
            t.writable()?;
            t.put_string(key, value, 0);
            Value::Int(1)
        }
        KeyCmd::SetEx { key, value, ttl_ms } => {
            t.writable()?;
            let at = t.now_ms.saturating_add(ttl_ms);
            t.put_string(key, value, at);
            Value::ok()
        }
        KeyCmd::GetSet { key, value } => {
            let old = t.get_string(key)?.map(|(_, v)| v);
            t.writable()?;
            t.put_string(key, value, 0);
            Value::opt(old)
        }
        KeyCmd::GetDel(key) => {
            let old = t.get_string(key)?.map(|(_, v)| v);
            if old.is_some() {
                t.writable()?;
                t.remove(key)?;
            }
            Value::opt(old)
        }
        KeyCmd::GetEx { key, expiry } => {
            let Some((m, v)) = t.get_string(key)? else {
                return Ok(Value::Nil);
            };
            let at = expiry.map(|e| match e {
                GetExpiry::Persist => 0,
                GetExpiry::Set(Expire::At(ms)) => ms,
                GetExpiry::Set(Expire::In(ms)) => t.now_ms.saturating_add(ms),
            });
            if let Some(at) = at {
                if at != m.expire_at_ms {
                    t.writable()?;
                    t.set_expiry(key, at)?;
                }
            }
            Value::Bytes(v)
        }
        KeyCmd::MGet(keys) => {
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                // MGET answers nil for keys of other types, as in Redis.
                out.push(Value::opt(string_or_none(t, k, |v| {
                    v.map(|(_, body)| body.to_vec())
                })?));
            }
            Value::Array(out)
        }
        KeyCmd::MSet { ref pairs, nx } => {
            if nx {
                for (k, _) in pairs {
                    if t.meta(k)?.is_some() {
                        return Ok(Value::Int(0));
                    }
                }
            }
            t.writable()?;
            for (k, v) in pairs {
                t.put_string(k, v, 0);
            }
            if nx {
                Value::Int(1)
            } else {
                Value::ok()
            }
        }
        KeyCmd::Append { key, value } => {
            let (mut v, at) = string_and_expiry(t, key)?;
            if v.len() + value.len() > MAX_STRING {
                return Err(too_long());
            }
            v.extend_from_slice(value);
            t.writable()?;
            t.put_string(key, &v, at);
            Value::Int(v.len() as i64)
        }
        KeyCmd::StrLen(key) => Value::Int(t.get_string(key)?.map_or(0, |(_, v)| v.len()) as i64),
        KeyCmd::GetRange { key, start, end } => {
            let v = t.get_string(key)?.map(|(_, v)| v).unwrap_or_default();
            Value::Bytes(substring(&v, start, end).to_vec())
        }
        KeyCmd::SetRange { key, offset, piece } => {
            let (mut v, at) = string_and_expiry(t, key)?;
            if piece.is_empty() {
                return Ok(Value::Int(v.len() as i64));
            }
            if offset + piece.len() > MAX_STRING {
                return Err(too_long());
            }
            if v.len() < offset + piece.len() {
                v.resize(offset + piece.len(), 0);
            }
            v[offset..offset + piece.len()].copy_from_slice(piece);
            t.writable()?;
            t.put_string(key, &v, at);
            Value::Int(v.len() as i64)
        }
        KeyCmd::Lcs { a, b, ref opts } => {
            let read = |key| {
                t.with_live(key, |v| match v {
                    Some((m, _)) if m.vtype != ValueType::String => None,
                    v => Some(v.map(|(_, body)| body.to_vec()).unwrap_or_default()),
                })
            };
            let (Some(x), Some(y)) = (read(a)?, read(b)?) else {
                return Err(CmdError::Wire(bad(
                    "The specified keys must contain string values",
                )));
            };
            return super::lcs::lcs(&x, &y, opts.as_ref().map_err(|e| e.clone())?);
        }
    })
}

/// GETRANGE's slice: `s..=e` inclusive, negative from the end, clamped
/// into the string as Redis clamps it.
fn substring(v: &[u8], s: i64, e: i64) -> &[u8] {
    if s < 0 && e < 0 && s > e {
        return &[];
    }
    let n = v.len() as i64;
    let s = if s < 0 { (n + s).max(0) } else { s };
    let e = if e < 0 { (n + e).max(0) } else { e.min(n - 1) };
    if n == 0 || s > e {
        return &[];
    }
    &v[s as usize..=e as usize]
}
