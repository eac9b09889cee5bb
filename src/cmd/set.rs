//! Set commands' apply (their parse: `proto::args::set`).

use std::cell::RefCell;

use super::{scan_page, set_op, CmdResult, Value};
use crate::proto::args::set::SetCmd;
use crate::shard::set::Rng;
use crate::shard::tx::Tx;

thread_local! {
    /// One sampling generator per core thread.
    static RNG: RefCell<Rng> = RefCell::new(Rng::seeded());
}

/// Runs `f` with this core's sampling generator (SPOP, SRANDMEMBER,
/// HRANDFIELD, ZRANDMEMBER).
pub(super) fn with_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    RNG.with(|r| f(&mut r.borrow_mut()))
}

/// One member (or nil) without a count, an array with one.
fn one_or_many(items: Vec<Vec<u8>>, counted: bool) -> Value {
    if counted {
        Value::list(items, Value::Bytes)
    } else {
        Value::opt(items.into_iter().next())
    }
}

pub fn apply(t: &mut Tx<'_>, c: &SetCmd<'_>) -> CmdResult {
    Ok(match *c {
        SetCmd::Add { key, members } => Value::Int(t.sadd(key, members)? as i64),
        SetCmd::Rem { key, members } => Value::Int(t.srem(key, members)? as i64),
        SetCmd::IsMember { key, member } => Value::Int(t.smismember(key, &[member])?[0] as i64),
        SetCmd::MIsMember { key, members } => {
            Value::list(t.smismember(key, members)?, |b| Value::Int(b as i64))
        }
        SetCmd::Members(key) => Value::list(t.smembers(key)?, Value::Bytes),
        SetCmd::Card(key) => Value::Int(t.scard(key)? as i64),
        SetCmd::Pop { key, count } => {
            let popped = with_rng(|r| t.spop(key, count.unwrap_or(1), r))?;
            one_or_many(popped, count.is_some())
        }
        SetCmd::RandMember { key, count } => {
            let got = with_rng(|r| t.srandmember(key, count.unwrap_or(1), r))?;
            one_or_many(got, count.is_some())
        }
        SetCmd::Scan { key, ref scan } => {
            let (next, items) =
                t.sscan(key, scan.after.as_deref(), scan.count, &|m| scan.keep(m))?;
            scan_page(next, Value::list(items, Value::Bytes))
        }
        SetCmd::Combine { op, keys } => Value::list(t.set_combine(set_op(op), keys)?, Value::Bytes),
        SetCmd::Store { op, dest, keys } => {
            Value::Int(t.set_combine_store(set_op(op), dest, keys)? as i64)
        }
        SetCmd::InterCard { keys, limit } => Value::Int(t.sintercard(keys, limit)? as i64),
        SetCmd::Move { src, dst, member } => Value::Int(t.smove(src, dst, member)? as i64),
    })
}
