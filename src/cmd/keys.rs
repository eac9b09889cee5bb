//! Keys of any type and strings: TYPE, DEL, UNLINK, EXISTS, EXPIRE,
//! PEXPIRE, EXPIREAT, PEXPIREAT (NX/XX/GT/LT), TTL, PTTL, PERSIST, RENAME,
//! RENAMENX, GET, SET (NX/XX/EX/PX/EXAT/PXAT/KEEPTTL/GET), SETNX, SETEX,
//! PSETEX, GETSET, GETDEL, GETEX, MGET, MSET, MSETNX (keys in one slot),
//! INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT, APPEND, STRLEN, GETRANGE,
//! SETRANGE.

use super::{syntax, Apply, Args, CmdResult, Value};
use crate::proto::set_opts::{Expire, SetOptions};
use crate::shard::envelope::{Meta, ValueType};
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

/// Conditions of an EXPIRE (Redis 7's NX, XX, GT, LT).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExpireIf {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
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

pub const APPLY: &[Apply] = &[
    ("type", type_),
    ("del", del),
    ("unlink", del),
    ("exists", exists),
    ("expire", |t, a| expire(t, a, 1000, false)),
    ("pexpire", |t, a| expire(t, a, 1, false)),
    ("expireat", |t, a| expire(t, a, 1000, true)),
    ("pexpireat", |t, a| expire(t, a, 1, true)),
    ("ttl", |t, a| ttl(t, a, 1000)),
    ("pttl", |t, a| ttl(t, a, 1)),
    ("persist", persist),
    ("rename", |t, a| rename(t, a, false)),
    ("renamenx", |t, a| rename(t, a, true)),
    ("get", get),
    ("set", set),
    ("incr", |t, a| incr(t, a, Some(1))),
    ("decr", |t, a| incr(t, a, Some(-1))),
    ("incrby", |t, a| incr(t, a, None)),
    ("decrby", decrby),
    ("incrbyfloat", incrbyfloat),
    ("setnx", setnx),
    ("setex", |t, a| setex(t, a, 1000)),
    ("psetex", |t, a| setex(t, a, 1)),
    ("getset", getset),
    ("getdel", getdel),
    ("getex", getex),
    ("mget", mget),
    ("mset", |t, a| mset(t, a, false)),
    ("msetnx", |t, a| mset(t, a, true)),
    ("append", append),
    ("strlen", strlen),
    ("getrange", getrange),
    ("setrange", setrange),
];

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::String => "string",
        ValueType::Hash => "hash",
        ValueType::Set => "set",
        ValueType::ZSet => "zset",
        ValueType::List => "list",
    }
}

fn type_(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Status(
        t.meta(key)?
            .map(|m| type_name(m.vtype))
            .unwrap_or("none")
            .into(),
    ))
}

fn del(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let mut n = 0;
    for k in a.rest() {
        n += del_key(t, k)? as i64;
    }
    Ok(Value::Int(n))
}

fn exists(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let mut n = 0;
    for k in a.rest() {
        n += t.meta(k)?.is_some() as i64;
    }
    Ok(Value::Int(n))
}

/// EXPIRE/PEXPIRE (relative) and EXPIREAT/PEXPIREAT (absolute), with
/// Redis 7's NX, XX, GT and LT.
fn expire(t: &mut Tx<'_>, a: &mut Args<'_>, unit_ms: i64, absolute: bool) -> CmdResult {
    let key = a.word()?;
    let n = a.int()?;
    let mut c = ExpireIf::default();
    while a.left() > 0 {
        if a.eat("nx") {
            c.nx = true;
        } else if a.eat("xx") {
            c.xx = true;
        } else if a.eat("gt") {
            c.gt = true;
        } else if a.eat("lt") {
            c.lt = true;
        } else {
            return Err(super::CmdError::Wire(super::bad(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(a.word()?)
            ))));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(super::CmdError::Wire(super::bad(
            "NX and XX, GT or LT options at the same time are not compatible".into(),
        )));
    }
    if c.gt && c.lt {
        return Err(super::CmdError::Wire(super::bad(
            "GT and LT options at the same time are not compatible".into(),
        )));
    }
    let ms = n.checked_mul(unit_ms).ok_or(Error::NotInteger)?;
    let at = if absolute {
        ms
    } else {
        (t.now_ms as i64).checked_add(ms).ok_or(Error::NotInteger)?
    };
    Ok(Value::Int(expire_at(t, key, at, c)? as i64))
}

fn ttl(t: &mut Tx<'_>, a: &mut Args<'_>, unit_ms: i64) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(match ttl_ms(t, key)? {
        // Round to the nearest unit, as Redis does for TTL.
        left if left >= 0 => (left + unit_ms / 2) / unit_ms,
        none => none,
    }))
}

fn persist(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(persist_key(t, key)? as i64))
}

fn rename(t: &mut Tx<'_>, a: &mut Args<'_>, nx: bool) -> CmdResult {
    let (from, to) = (a.word()?, a.word()?);
    t.writable()?;
    let done = t.rename(from, to, nx)?;
    Ok(if nx {
        Value::Int(done as i64)
    } else {
        Value::ok()
    })
}

fn get(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::opt(
        t.read_string(key, |v| v.map(|(_, body)| body.to_vec()))?,
    ))
}

/// SET key value [NX|XX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] [GET]
fn set(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, value) = (a.word()?, a.word()?);
    let o = SetOptions::parse(a.rest(), false)?;
    let done = set_with(t, key, value, &o)?;
    Ok(match (o.get, done.applied) {
        (true, _) => Value::opt(done.old),
        (false, true) => Value::ok(),
        (false, false) => Value::Nil,
    })
}

fn incr(t: &mut Tx<'_>, a: &mut Args<'_>, by: Option<i64>) -> CmdResult {
    let key = a.word()?;
    let delta = match by {
        Some(d) => d,
        None => a.int()?,
    };
    Ok(Value::Int(incr_by(t, key, delta)?.0))
}

fn decrby(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let d = a.int()?;
    Ok(Value::Int(
        incr_by(t, key, d.checked_neg().ok_or(Error::Overflow)?)?.0,
    ))
}

fn incrbyfloat(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let d = a.float()?;
    let (old, at) = match t.get_string(key)? {
        None => (0.0, 0),
        Some((m, v)) => (
            crate::shard::hash::parse_float(&v).ok_or(Error::NotFloat)?,
            m.expire_at_ms,
        ),
    };
    let new = old + d;
    if !new.is_finite() {
        return Err(Error::NanOrInfinity.into());
    }
    t.writable()?;
    let text = crate::shard::hash::format_float(new);
    t.put_string(key, text.as_bytes(), at);
    Ok(Value::bytes(text))
}

/// Writes `value` unless the key exists (SETNX) or always; keeps no expiry.
fn setnx(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, value) = (a.word()?, a.word()?);
    if t.meta(key)?.is_some() {
        return Ok(Value::Int(0));
    }
    t.writable()?;
    t.put_string(key, value, 0);
    Ok(Value::Int(1))
}

fn setex(t: &mut Tx<'_>, a: &mut Args<'_>, unit_ms: u64) -> CmdResult {
    let key = a.word()?;
    let n = a.int()?;
    let value = a.word()?;
    if n <= 0 {
        return Err(super::CmdError::Wire(super::bad(format!(
            "invalid expire time in '{}' command",
            if unit_ms == 1 { "psetex" } else { "setex" }
        ))));
    }
    t.writable()?;
    let at = t.now_ms.saturating_add((n as u64).saturating_mul(unit_ms));
    t.put_string(key, value, at);
    Ok(Value::ok())
}

fn getset(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, value) = (a.word()?, a.word()?);
    let old = t.get_string(key)?.map(|(_, v)| v);
    t.writable()?;
    t.put_string(key, value, 0);
    Ok(Value::opt(old))
}

fn getdel(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let old = t.get_string(key)?.map(|(_, v)| v);
    if old.is_some() {
        t.writable()?;
        t.remove(key)?;
    }
    Ok(Value::opt(old))
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
fn getex(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let mut at: Option<u64> = None;
    if a.eat("persist") {
        at = Some(0);
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
            return Err(super::CmdError::Wire(super::bad(
                "invalid expire time in 'getex' command".into(),
            )));
        }
        let ms = (n as u64).saturating_mul(unit);
        at = Some(if absolute {
            ms
        } else {
            t.now_ms.saturating_add(ms)
        });
    }
    a.end()?;
    let Some((m, v)) = t.get_string(key)? else {
        return Ok(Value::Nil);
    };
    if let Some(at) = at {
        if at != m.expire_at_ms {
            t.writable()?;
            t.set_expiry(key, at)?;
        }
    }
    Ok(Value::Bytes(v))
}

fn mget(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let mut out = Vec::new();
    for k in a.rest() {
        // MGET answers nil for keys of other types, as in Redis.
        out.push(Value::opt(string_or_none(t, k, |v| {
            v.map(|(_, body)| body.to_vec())
        })?));
    }
    Ok(Value::Array(out))
}

fn mset(t: &mut Tx<'_>, a: &mut Args<'_>, nx: bool) -> CmdResult {
    let pairs = a.pairs().ok_or_else(|| {
        super::CmdError::Wire(super::bad(format!(
            "wrong number of arguments for '{}' command",
            if nx { "msetnx" } else { "mset" }
        )))
    })?;
    if nx {
        for (k, _) in &pairs {
            if t.meta(k)?.is_some() {
                return Ok(Value::Int(0));
            }
        }
    }
    t.writable()?;
    for (k, v) in pairs {
        t.put_string(k, v, 0);
    }
    Ok(if nx { Value::Int(1) } else { Value::ok() })
}

/// Longest string APPEND and SETRANGE may build (Redis's proto-max-bulk-len).
const MAX_STRING: usize = 512 << 20;

fn too_long() -> super::CmdError {
    super::CmdError::Wire(super::bad(
        "string exceeds maximum allowed size (proto-max-bulk-len)".into(),
    ))
}

fn append(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, more) = (a.word()?, a.word()?);
    let (mut v, at) = match t.get_string(key)? {
        None => (Vec::new(), 0),
        Some((m, v)) => (v, m.expire_at_ms),
    };
    if v.len() + more.len() > MAX_STRING {
        return Err(too_long());
    }
    v.extend_from_slice(more);
    t.writable()?;
    t.put_string(key, &v, at);
    Ok(Value::Int(v.len() as i64))
}

fn strlen(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(
        t.get_string(key)?.map(|(_, v)| v.len()).unwrap_or(0) as i64,
    ))
}

/// GETRANGE key start end: inclusive, negative from the end.
fn getrange(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let (s, e) = (a.int()?, a.int()?);
    let v = t.get_string(key)?.map(|(_, v)| v).unwrap_or_default();
    // Redis's clamping: negative from the end, then both ends into the string.
    if s < 0 && e < 0 && s > e {
        return Ok(Value::bytes(Vec::new()));
    }
    let n = v.len() as i64;
    let s = if s < 0 { (n + s).max(0) } else { s };
    let e = if e < 0 { (n + e).max(0) } else { e.min(n - 1) };
    if n == 0 || s > e {
        return Ok(Value::bytes(Vec::new()));
    }
    Ok(Value::Bytes(v[s as usize..=e as usize].to_vec()))
}

fn setrange(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let offset = a.int()?;
    let piece = a.word()?;
    if offset < 0 {
        return Err(super::CmdError::Wire(super::bad(
            "offset is out of range".into(),
        )));
    }
    let offset = offset as usize;
    let (mut v, at) = match t.get_string(key)? {
        None => (Vec::new(), 0),
        Some((m, v)) => (v, m.expire_at_ms),
    };
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
    Ok(Value::Int(v.len() as i64))
}
