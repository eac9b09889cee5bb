//! List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP (with count),
//! LRANGE, LLEN, LINDEX, LSET, LINSERT, LTRIM, LREM, LPOS, LMOVE and
//! RPOPLPUSH (LMOVE and RPOPLPUSH with both keys in one slot).

use super::{bad, syntax, Apply, Args, CmdError, CmdResult, Value};
use crate::shard::tx::Tx;

pub const APPLY: &[Apply] = &[
    ("lpush", |t, a| push(t, a, true, false)),
    ("rpush", |t, a| push(t, a, false, false)),
    ("lpushx", |t, a| push(t, a, true, true)),
    ("rpushx", |t, a| push(t, a, false, true)),
    ("lpop", |t, a| pop(t, a, true)),
    ("rpop", |t, a| pop(t, a, false)),
    ("lrange", lrange),
    ("llen", llen),
    ("lindex", lindex),
    ("lset", lset),
    ("linsert", linsert),
    ("ltrim", ltrim),
    ("lrem", lrem),
    ("lpos", lpos),
    ("lmove", lmove),
    ("rpoplpush", rpoplpush),
];

fn push(t: &mut Tx<'_>, a: &mut Args<'_>, left: bool, only_if_exists: bool) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(
        t.push(key, left, a.rest(), only_if_exists)? as i64
    ))
}

/// LPOP/RPOP key [count]: one element (or nil) without a count; an array
/// (or nil when the list does not exist) with one.
fn pop(t: &mut Tx<'_>, a: &mut Args<'_>, left: bool) -> CmdResult {
    let key = a.word()?;
    let count = if a.left() > 0 { Some(a.count()?) } else { None };
    a.end()?;
    let exists = t.llen(key)? > 0;
    let items = t.pop(key, left, count.unwrap_or(1))?;
    Ok(match count {
        None => Value::opt(items.into_iter().next()),
        Some(_) if !exists => Value::Nil,
        Some(_) => Value::list(items, Value::Bytes),
    })
}

fn lrange(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let (s, e) = (a.int()?, a.int()?);
    Ok(Value::list(t.lrange(key, s, e)?, Value::Bytes))
}

fn llen(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    Ok(Value::Int(t.llen(a.word()?)? as i64))
}

fn lindex(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let i = a.int()?;
    Ok(Value::opt(t.lindex(key, i)?))
}

fn lset(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let i = a.int()?;
    t.lset(key, i, a.word()?)?;
    Ok(Value::ok())
}

fn linsert(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let before = if a.eat("before") {
        true
    } else if a.eat("after") {
        false
    } else {
        return Err(syntax());
    };
    let (pivot, v) = (a.word()?, a.word()?);
    Ok(Value::Int(t.linsert(key, before, pivot, v)?))
}

fn ltrim(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let (s, e) = (a.int()?, a.int()?);
    t.ltrim(key, s, e)?;
    Ok(Value::ok())
}

fn lrem(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let n = a.int()?;
    Ok(Value::Int(t.lrem(key, n, a.word()?)? as i64))
}

/// LPOS key element [RANK r] [COUNT n] [MAXLEN m]: an index (or nil)
/// without COUNT, an array with it.
fn lpos(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, v) = (a.word()?, a.word()?);
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0u64);
    while a.left() > 0 {
        if a.eat("rank") {
            rank = a.int()?;
            if rank == 0 || rank == i64::MIN {
                return Err(CmdError::Wire(bad(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into(),
                )));
            }
        } else if a.eat("count") {
            count = Some(a.count()?);
        } else if a.eat("maxlen") {
            maxlen = a.count()?;
        } else {
            return Err(syntax());
        }
    }
    let found = t.lpos(key, v, rank, count.unwrap_or(1), maxlen)?;
    Ok(match count {
        None => found
            .first()
            .map(|&i| Value::Int(i as i64))
            .unwrap_or(Value::Nil),
        Some(_) => Value::list(found, |i| Value::Int(i as i64)),
    })
}

fn side(w: &[u8]) -> Result<bool, CmdError> {
    if w.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if w.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(syntax())
    }
}

fn lmove(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (from, to) = (a.word()?, a.word()?);
    let (fl, tl) = (side(a.word()?)?, side(a.word()?)?);
    Ok(Value::opt(t.lmove(from, to, fl, tl)?))
}

fn rpoplpush(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (from, to) = (a.word()?, a.word()?);
    Ok(Value::opt(t.lmove(from, to, false, true)?))
}
