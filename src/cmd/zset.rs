//! Sorted-set commands' apply (their parse: `proto::args::zset`).

use super::{first_popped, scan_page, set_op, CmdResult, Value};
use crate::proto::args::zset::{Aggregate, LexBound, RangeBy, ScoreBound, ZRange, ZSetCmd};
use crate::shard::tx::Tx;
use crate::shard::zset::{self as store, ZAddResult};

fn score(b: ScoreBound) -> store::ScoreBound {
    store::ScoreBound {
        score: b.score,
        exclusive: b.exclusive,
    }
}

fn lex(b: LexBound<'_>) -> store::LexBound {
    match b {
        LexBound::Min => store::LexBound::Min,
        LexBound::Max => store::LexBound::Max,
        LexBound::Incl(m) => store::LexBound::Incl(m.to_vec()),
        LexBound::Excl(m) => store::LexBound::Excl(m.to_vec()),
    }
}

fn range_by(by: RangeBy<'_>) -> store::ZRangeBy {
    match by {
        RangeBy::Rank(a, b) => store::ZRangeBy::Rank(a, b),
        RangeBy::Score(a, b) => store::ZRangeBy::Score(score(a), score(b)),
        RangeBy::Lex(a, b) => store::ZRangeBy::Lex(lex(a), lex(b)),
    }
}

fn zrange(r: ZRange<'_>) -> store::ZRange {
    store::ZRange {
        by: range_by(r.by),
        rev: r.rev,
        limit: r.limit,
    }
}

fn aggregate(a: Aggregate) -> store::Aggregate {
    match a {
        Aggregate::Sum => store::Aggregate::Sum,
        Aggregate::Min => store::Aggregate::Min,
        Aggregate::Max => store::Aggregate::Max,
    }
}

/// Members, flat with their scores (ZPOPMIN without a count, ZSCAN: flat
/// in RESP3 too).
fn scored(items: Vec<(Vec<u8>, f64)>, with_scores: bool) -> Value {
    let mut out = Vec::with_capacity(items.len() * if with_scores { 2 } else { 1 });
    for (m, s) in items {
        out.push(Value::Bytes(m));
        if with_scores {
            out.push(Value::Double(s));
        }
    }
    Value::Array(out)
}

/// Members, with their scores as pairs (ZRANGE and the set operations'
/// WITHSCORES, ZRANDMEMBER, ZPOPMIN with a count: pairs in RESP3).
fn ranged(items: Vec<(Vec<u8>, f64)>, with_scores: bool) -> Value {
    if with_scores {
        Value::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Value::Bytes(m), Value::Double(s)))
                .collect(),
        )
    } else {
        Value::list(items, |(m, _)| Value::Bytes(m))
    }
}

fn double_or_nil(s: Option<f64>) -> Value {
    s.map_or(Value::Nil, Value::Double)
}

pub fn apply(t: &mut Tx<'_>, c: &ZSetCmd<'_>) -> CmdResult {
    Ok(match *c {
        ZSetCmd::Add {
            key,
            flags: f,
            ref pairs,
        } => {
            let flags = store::ZAddFlags {
                nx: f.nx,
                xx: f.xx,
                gt: f.gt,
                lt: f.lt,
                ch: f.ch,
                incr: f.incr,
            };
            match t.zadd(key, flags, pairs)? {
                ZAddResult::Count(n) => Value::Int(n as i64),
                ZAddResult::Score(s) => double_or_nil(s),
            }
        }
        ZSetCmd::Rem { key, members } => Value::Int(t.zrem(key, members)? as i64),
        ZSetCmd::Score { key, member } => double_or_nil(t.zscore(key, member)?),
        ZSetCmd::RandMember { key, count, scores } => {
            let got = super::set::with_rng(|r| t.zrandmember(key, count.unwrap_or(1), r))?;
            match count {
                None => Value::opt(got.into_iter().next().map(|(m, _)| m)),
                Some(_) => ranged(got, scores),
            }
        }
        ZSetCmd::MScore { key, members } => {
            let mut out = Vec::with_capacity(members.len());
            for m in members {
                out.push(double_or_nil(t.zscore(key, m)?));
            }
            Value::Array(out)
        }
        ZSetCmd::IncrBy { key, delta, member } => Value::Double(t.zincrby(key, delta, member)?),
        ZSetCmd::Card(key) => Value::Int(t.zcard(key)? as i64),
        ZSetCmd::Count { key, min, max } => {
            Value::Int(t.zcount(key, score(min), score(max))? as i64)
        }
        ZSetCmd::LexCount { key, min, max } => {
            let r = store::ZRange {
                by: store::ZRangeBy::Lex(lex(min), lex(max)),
                rev: false,
                limit: None,
            };
            Value::Int(t.zrange(key, &r)?.len() as i64)
        }
        ZSetCmd::Rank {
            key,
            member,
            rev,
            with_score,
        } => match t.zrank(key, member, rev)? {
            None => Value::Nil,
            Some((r, s)) if with_score => {
                Value::Array(vec![Value::Int(r as i64), Value::Double(s)])
            }
            Some((r, _)) => Value::Int(r as i64),
        },
        // A negative LIMIT offset selects nothing, of a sorted set.
        ZSetCmd::Range {
            key, range: None, ..
        } => t.zcard(key).map(|_| Value::Array(Vec::new()))?,
        ZSetCmd::Range {
            key,
            range: Some(r),
            with_scores,
        } => ranged(t.zrange(key, &zrange(r))?, with_scores),
        ZSetCmd::RangeStore { dest, src, range } => {
            let items = match range {
                // The source's type is checked all the same.
                None => t.zcard(src).map(|_| Vec::new())?,
                Some(r) => t.zrange(src, &zrange(r))?,
            };
            Value::Int(t.zstore(dest, &items)? as i64)
        }
        ZSetCmd::RemRange { key, by } => Value::Int(t.zremrange(key, range_by(by))? as i64),
        ZSetCmd::Pop {
            key,
            count,
            counted,
            max,
        } => {
            let popped = t.zpop(key, count, max)?;
            match counted {
                true => ranged(popped, true),
                false => scored(popped, true),
            }
        }
        ZSetCmd::Scan { key, ref scan } => {
            let (next, items) =
                t.zscan(key, scan.after.as_deref(), scan.count, &|m| scan.keep(m))?;
            scan_page(next, scored(items, true))
        }
        // Pairs of [member, score].
        ZSetCmd::MPop { keys, max, count } => first_popped(
            keys,
            |k| t.zpop(k, count, max),
            |(m, s)| Value::Array(vec![Value::Bytes(m), Value::Double(s)]),
        )?,
        ZSetCmd::InterCard { keys, limit } => Value::Int(t.zintercard(keys, limit)? as i64),
        ZSetCmd::Combine {
            op,
            dest,
            keys,
            ref weights,
            aggregate: agg,
            with_scores,
        } => {
            let (op, agg) = (set_op(op), aggregate(agg));
            match dest {
                Some(d) => Value::Int(t.zcombine_store(op, d, keys, weights, agg)? as i64),
                None => ranged(t.zcombine(op, keys, weights, agg)?, with_scores),
            }
        }
    })
}
