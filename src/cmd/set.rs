//! Set commands: SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SPOP,
//! SRANDMEMBER, SSCAN, SINTER, SUNION, SDIFF and their STORE forms (keys in
//! one slot).

use std::cell::RefCell;

use super::{Apply, Args, CmdResult, ScanOpts, Value};
use crate::shard::set::{Rng, SetOp};
use crate::shard::tx::Tx;

thread_local! {
    /// One sampling generator per core thread.
    static RNG: RefCell<Rng> = RefCell::new(Rng::seeded());
}

pub const APPLY: &[Apply] = &[
    ("sadd", sadd),
    ("srem", srem),
    ("sismember", sismember),
    ("smismember", smismember),
    ("smembers", smembers),
    ("scard", scard),
    ("spop", spop),
    ("srandmember", srandmember),
    ("sscan", sscan),
    ("sinter", |t, a| combine(t, a, SetOp::Inter)),
    ("sunion", |t, a| combine(t, a, SetOp::Union)),
    ("sdiff", |t, a| combine(t, a, SetOp::Diff)),
    ("sinterstore", |t, a| store(t, a, SetOp::Inter)),
    ("sunionstore", |t, a| store(t, a, SetOp::Union)),
    ("sdiffstore", |t, a| store(t, a, SetOp::Diff)),
];

fn sadd(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(t.sadd(key, a.rest())? as i64))
}

fn srem(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(t.srem(key, a.rest())? as i64))
}

fn sismember(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, m) = (a.word()?, a.word()?);
    Ok(Value::Int(t.smismember(key, &[m])?[0] as i64))
}

fn smismember(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::list(t.smismember(key, a.rest())?, |b| {
        Value::Int(b as i64)
    }))
}

fn smembers(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    Ok(Value::list(t.smembers(a.word()?)?, Value::Bytes))
}

fn scard(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    Ok(Value::Int(t.scard(a.word()?)? as i64))
}

/// SPOP key [count]: one member (or nil) without a count, an array with one.
fn spop(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let count = if a.left() > 0 { Some(a.count()?) } else { None };
    a.end()?;
    let popped = RNG.with(|r| t.spop(key, count.unwrap_or(1), &mut r.borrow_mut()))?;
    Ok(match count {
        Some(_) => Value::list(popped, Value::Bytes),
        None => Value::opt(popped.into_iter().next()),
    })
}

fn srandmember(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let count = if a.left() > 0 { Some(a.int()?) } else { None };
    a.end()?;
    let got = RNG.with(|r| t.srandmember(key, count.unwrap_or(1), &mut r.borrow_mut()))?;
    Ok(match count {
        Some(_) => Value::list(got, Value::Bytes),
        None => Value::opt(got.into_iter().next()),
    })
}

fn sscan(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let o = ScanOpts::parse(a)?;
    let (next, items) = t.sscan(key, o.after.as_deref(), o.count, &|m| o.keep(m))?;
    Ok(Value::Array(vec![
        ScanOpts::cursor(next),
        Value::list(items, Value::Bytes),
    ]))
}

fn combine(t: &mut Tx<'_>, a: &mut Args<'_>, op: SetOp) -> CmdResult {
    Ok(Value::list(t.set_combine(op, a.rest())?, Value::Bytes))
}

fn store(t: &mut Tx<'_>, a: &mut Args<'_>, op: SetOp) -> CmdResult {
    let dest = a.word()?;
    Ok(Value::Int(t.set_combine_store(op, dest, a.rest())? as i64))
}
