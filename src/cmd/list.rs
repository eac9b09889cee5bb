//! List commands' apply (their parse: `proto::args::list`).

use super::{first_popped, CmdResult, Value};
use crate::proto::args::list::ListCmd;
use crate::shard::tx::Tx;

pub fn apply(t: &mut Tx<'_>, c: &ListCmd<'_>) -> CmdResult {
    Ok(match *c {
        ListCmd::MPop { keys, left, count } => {
            first_popped(keys, |k| t.pop(k, left, count), Value::Bytes)?
        }
        ListCmd::Push {
            key,
            left,
            only_if_exists,
            values,
        } => Value::Int(t.push(key, left, values, only_if_exists)? as i64),
        ListCmd::Pop { key, left, count } => {
            let exists = t.llen(key)? > 0;
            let items = t.pop(key, left, count.unwrap_or(1))?;
            match count {
                None => Value::opt(items.into_iter().next()),
                Some(_) if !exists => Value::Nil,
                Some(_) => Value::list(items, Value::Bytes),
            }
        }
        ListCmd::Range { key, start, stop } => {
            Value::list(t.lrange(key, start, stop)?, Value::Bytes)
        }
        ListCmd::Len(key) => Value::Int(t.llen(key)? as i64),
        ListCmd::Index { key, index } => Value::opt(t.lindex(key, index)?),
        ListCmd::Set { key, index, value } => {
            t.lset(key, index, value)?;
            Value::ok()
        }
        ListCmd::Insert {
            key,
            before,
            pivot,
            value,
        } => Value::Int(t.linsert(key, before, pivot, value)?),
        ListCmd::Trim { key, start, stop } => {
            t.ltrim(key, start, stop)?;
            Value::ok()
        }
        ListCmd::Rem { key, count, value } => Value::Int(t.lrem(key, count, value)? as i64),
        ListCmd::Pos {
            key,
            value,
            rank,
            count,
            maxlen,
        } => {
            let found = t.lpos(key, value, rank, count.unwrap_or(1), maxlen)?;
            match count {
                None => found.first().map_or(Value::Nil, |&i| Value::Int(i as i64)),
                Some(_) => Value::list(found, |i| Value::Int(i as i64)),
            }
        }
        ListCmd::Move {
            from,
            to,
            from_left,
            to_left,
        } => Value::opt(t.lmove(from, to, from_left, to_left)?),
    })
}
