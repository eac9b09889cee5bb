//! Keys of any type, and the string commands an atomic batch needs: TYPE,
//! DEL, EXISTS, EXPIRE, PEXPIRE, TTL, PTTL, PERSIST, RENAME, RENAMENX, GET,
//! SET, INCR, INCRBY, DECR, DECRBY.

use super::{spec, syntax, Args, CmdResult, Spec, Value};
use crate::shard::envelope::ValueType;
use crate::shard::tx::Tx;
use crate::shard::Error;

pub const SPECS: &[Spec] = &[
    spec("type", 2, 1, false, type_),
    spec("del", -2, -1, true, del),
    spec("exists", -2, -1, false, exists),
    spec("expire", 3, 1, true, |t, a| expire(t, a, 1000)),
    spec("pexpire", 3, 1, true, |t, a| expire(t, a, 1)),
    spec("ttl", 2, 1, false, |t, a| ttl(t, a, 1000)),
    spec("pttl", 2, 1, false, |t, a| ttl(t, a, 1)),
    spec("persist", 2, 1, true, persist),
    spec("rename", 3, 2, true, |t, a| rename(t, a, false)),
    spec("renamenx", 3, 2, true, |t, a| rename(t, a, true)),
    spec("get", 2, 1, false, get),
    spec("set", -3, 1, true, set),
    spec("incr", 2, 1, true, |t, a| incr(t, a, Some(1))),
    spec("decr", 2, 1, true, |t, a| incr(t, a, Some(-1))),
    spec("incrby", 3, 1, true, |t, a| incr(t, a, None)),
    spec("decrby", 3, 1, true, decrby),
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
        t.load(key)?
            .map(|(m, _)| type_name(m.vtype))
            .unwrap_or("none")
            .into(),
    ))
}

fn del(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let mut n = 0;
    for k in a.rest() {
        if t.load(k)?.is_some() {
            t.writable()?;
            n += t.remove(k)? as i64;
        }
    }
    Ok(Value::Int(n))
}

fn exists(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let mut n = 0;
    for k in a.rest() {
        n += t.load(k)?.is_some() as i64;
    }
    Ok(Value::Int(n))
}

fn expire(t: &mut Tx<'_>, a: &mut Args<'_>, unit_ms: i64) -> CmdResult {
    let key = a.word()?;
    let ttl = a.int()?;
    a.end()?;
    let ms = ttl.checked_mul(unit_ms).ok_or(Error::NotInteger)?;
    if t.load(key)?.is_none() {
        return Ok(Value::Int(0));
    }
    t.writable()?;
    let at = if ms <= 0 {
        // A TTL in the past deletes the key, as in Redis.
        t.remove(key)?;
        return Ok(Value::Int(1));
    } else {
        t.now_ms.saturating_add(ms as u64)
    };
    Ok(Value::Int(t.set_expiry(key, at)? as i64))
}

fn ttl(t: &mut Tx<'_>, a: &mut Args<'_>, unit_ms: u64) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(match t.load(key)? {
        None => -2,
        Some((m, _)) if m.expire_at_ms == 0 => -1,
        Some((m, _)) => {
            let left = m.expire_at_ms - t.now_ms;
            // Round to the nearest unit, as Redis does for TTL.
            ((left + unit_ms / 2) / unit_ms) as i64
        }
    }))
}

fn persist(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    match t.load(key)? {
        Some((m, _)) if m.expire_at_ms != 0 => {
            t.writable()?;
            Ok(Value::Int(t.set_expiry(key, 0)? as i64))
        }
        _ => Ok(Value::Int(0)),
    }
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
    Ok(Value::opt(t.get_string(key)?.map(|(_, v)| v)))
}

/// SET key value [NX|XX] [EX s|PX ms|KEEPTTL] [GET]
fn set(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, value) = (a.word()?, a.word()?);
    let (mut nx, mut xx, mut keep_ttl, mut get) = (false, false, false, false);
    let mut expire_at = None;
    while a.left() > 0 {
        if a.eat("nx") {
            nx = true;
        } else if a.eat("xx") {
            xx = true;
        } else if a.eat("keepttl") {
            keep_ttl = true;
        } else if a.eat("get") {
            get = true;
        } else if let Some(unit) = if a.eat("ex") {
            Some(1000)
        } else if a.eat("px") {
            Some(1)
        } else {
            None
        } {
            let n = a.int()?;
            if n <= 0 || expire_at.is_some() {
                return Err(super::CmdError::Wire(super::bad(
                    "invalid expire time in 'set' command".into(),
                )));
            }
            expire_at = Some(t.now_ms.saturating_add((n as u64).saturating_mul(unit)));
        } else {
            return Err(syntax());
        }
    }
    if (nx && xx) || (keep_ttl && expire_at.is_some()) {
        return Err(syntax());
    }
    let current = t.load(key)?;
    let old = match (&current, get) {
        (Some((m, _)), true) if m.vtype != ValueType::String => return Err(Error::WrongType.into()),
        (Some((_, v)), true) => Value::Bytes(v.clone()),
        _ => Value::Nil,
    };
    let skip = (nx && current.is_some()) || (xx && current.is_none());
    if skip {
        return Ok(if get { old } else { Value::Nil });
    }
    t.writable()?;
    let at = match (expire_at, keep_ttl, &current) {
        (Some(at), _, _) => at,
        (None, true, Some((m, _))) => m.expire_at_ms,
        _ => 0,
    };
    t.put_string(key, value, at);
    Ok(if get { old } else { Value::ok() })
}

fn incr(t: &mut Tx<'_>, a: &mut Args<'_>, by: Option<i64>) -> CmdResult {
    let key = a.word()?;
    let delta = match by {
        Some(d) => d,
        None => a.int()?,
    };
    incr_by(t, key, delta)
}

fn decrby(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let d = a.int()?;
    incr_by(t, key, d.checked_neg().ok_or(Error::Overflow)?)
}

fn incr_by(t: &mut Tx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let (old, at) = match t.get_string(key)? {
        None => (0, 0),
        Some((m, v)) => (
            crate::shard::hash::parse_int(&v).ok_or(Error::NotInteger)?,
            m.expire_at_ms,
        ),
    };
    let new = old.checked_add(delta).ok_or(Error::Overflow)?;
    t.writable()?;
    t.put_string(key, new.to_string().as_bytes(), at);
    Ok(Value::Int(new))
}
