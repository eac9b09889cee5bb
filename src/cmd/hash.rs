//! Hash commands' apply (their parse: `proto::args::hash`).

use super::{scan_page, CmdResult, Value};
use crate::proto::args::hash::{Bound, Check, HashCmd, SortRange};
use crate::shard::hash::{self as store, format_float};
use crate::shard::tx::Tx;

fn bound(b: &Bound<'_>) -> store::Bound {
    store::Bound {
        key: b.key.map(<[u8]>::to_vec),
        inclusive: b.inclusive,
    }
}

fn sort_range(r: &SortRange<'_>) -> store::SortRange {
    store::SortRange {
        start: bound(&r.start),
        stop: bound(&r.stop),
        prefix: r.prefix.to_vec(),
        suffix: r.suffix.to_vec(),
        limit: r.limit,
        reverse: r.reverse,
    }
}

fn check(c: &Check<'_>) -> store::Check {
    match *c {
        Check::Exists => store::Check::Exists,
        Check::NotExists => store::Check::NotExists,
        Check::ValueEquals(v) => store::Check::ValueEquals(v.to_vec()),
        Check::ValuePrefix(p) => store::Check::ValuePrefix(p.to_vec()),
        Check::IntEq(n) => store::Check::IntEq(n),
        Check::IntLt(n) => store::Check::IntLt(n),
        Check::IntLe(n) => store::Check::IntLe(n),
        Check::IntGt(n) => store::Check::IntGt(n),
        Check::IntGe(n) => store::Check::IntGe(n),
    }
}

fn pairs(items: Vec<(Vec<u8>, Vec<u8>)>) -> Value {
    Value::Map(
        items
            .into_iter()
            .map(|(f, v)| (Value::Bytes(f), Value::Bytes(v)))
            .collect(),
    )
}

pub fn apply(t: &mut Tx<'_>, c: &HashCmd<'_>) -> CmdResult {
    Ok(match *c {
        HashCmd::Set { key, ref pairs, ok } => {
            let n = t.hset(key, pairs)?;
            if ok {
                Value::ok()
            } else {
                Value::Int(n as i64)
            }
        }
        HashCmd::SetNx { key, field, value } => Value::Int(t.hsetnx(key, field, value)? as i64),
        HashCmd::Get { key, field } => Value::opt(t.hget(key, field)?),
        HashCmd::MGet { key, fields } => Value::list(t.hmget(key, fields)?, Value::opt),
        HashCmd::Del { key, fields } => Value::Int(t.hdel(key, fields)? as i64),
        HashCmd::GetAll(key) => pairs(t.hgetall(key)?),
        HashCmd::RandField { key, count, values } => {
            let got = super::set::with_rng(|r| t.hrandfield(key, count.unwrap_or(1), r))?;
            match count {
                None => Value::opt(got.into_iter().next().map(|(f, _)| f)),
                Some(_) if values => Value::Pairs(
                    got.into_iter()
                        .map(|(f, v)| (Value::Bytes(f), Value::Bytes(v)))
                        .collect(),
                ),
                Some(_) => Value::list(got, |(f, _)| Value::Bytes(f)),
            }
        }
        HashCmd::Keys(key) => Value::list(t.hgetall(key)?, |(f, _)| Value::Bytes(f)),
        HashCmd::Vals(key) => Value::list(t.hgetall(key)?, |(_, v)| Value::Bytes(v)),
        HashCmd::Len(key) => Value::Int(t.hlen(key)? as i64),
        HashCmd::Exists { key, field } => Value::Int(t.hget(key, field)?.is_some() as i64),
        HashCmd::StrLen { key, field } => {
            Value::Int(t.hget(key, field)?.map_or(0, |v| v.len()) as i64)
        }
        HashCmd::IncrBy { key, field, delta } => Value::Int(t.hincrby(key, field, delta)?),
        HashCmd::IncrByFloat { key, field, delta } => {
            Value::bytes(format_float(t.hincrbyfloat(key, field, delta)?))
        }
        HashCmd::Scan { key, ref scan } => {
            let (next, items) =
                t.hscan(key, scan.after.as_deref(), scan.count, &|m| scan.keep(m))?;
            let mut flat = Vec::with_capacity(items.len() * 2);
            for (f, v) in items {
                flat.push(Value::Bytes(f));
                flat.push(Value::Bytes(v));
            }
            scan_page(next, Value::Array(flat))
        }
        HashCmd::Range {
            key,
            ref range,
            keys_only,
        } => {
            let items = t.hrange(key, &sort_range(range))?;
            if keys_only {
                Value::list(items, |(f, _)| Value::Bytes(f))
            } else {
                pairs(items)
            }
        }
        HashCmd::CheckAndSet {
            key,
            check_field,
            check: ref chk,
            set_field,
            value,
        } => {
            let (done, current) =
                t.check_and_set(key, check_field, &check(chk), set_field, value)?;
            Value::Array(vec![Value::Int(done as i64), Value::opt(current)])
        }
    })
}
