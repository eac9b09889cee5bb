//! Sorted-set commands: ZADD (NX, XX, GT, LT, CH, INCR), ZREM, ZSCORE,
//! ZMSCORE, ZINCRBY, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK, ZRANGE (by
//! rank, BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGEBYSCORE,
//! ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE,
//! ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX, ZPOPMIN, ZPOPMAX,
//! ZSCAN, ZUNION, ZINTER, ZDIFF and their *STORE forms (WEIGHTS,
//! AGGREGATE, WITHSCORES). Scores are IEEE doubles; NaN is refused.

use super::{bad, syntax, Apply, Args, CmdError, CmdResult, ScanOpts, Value};
use crate::shard::hash::parse_float;
use crate::shard::set::SetOp;
use crate::shard::tx::Tx;
use crate::shard::zset::{
    Aggregate, LexBound, ScoreBound, ZAddFlags, ZAddResult, ZRange, ZRangeBy,
};

pub const APPLY: &[Apply] = &[
    ("zadd", zadd),
    ("zrem", zrem),
    ("zscore", zscore),
    ("zmscore", zmscore),
    ("zincrby", zincrby),
    ("zcard", zcard),
    ("zcount", zcount),
    ("zlexcount", zlexcount),
    ("zrank", |t, a| zrank(t, a, false)),
    ("zrevrank", |t, a| zrank(t, a, true)),
    ("zrange", zrange),
    ("zrevrange", |t, a| zrange_old(t, a, Kind::Rank, true)),
    ("zrangebyscore", |t, a| zrange_old(t, a, Kind::Score, false)),
    ("zrevrangebyscore", |t, a| {
        zrange_old(t, a, Kind::Score, true)
    }),
    ("zrangebylex", |t, a| zrange_old(t, a, Kind::Lex, false)),
    ("zrevrangebylex", |t, a| zrange_old(t, a, Kind::Lex, true)),
    ("zremrangebyrank", |t, a| zremrange(t, a, Kind::Rank)),
    ("zremrangebyscore", |t, a| zremrange(t, a, Kind::Score)),
    ("zremrangebylex", |t, a| zremrange(t, a, Kind::Lex)),
    ("zpopmin", |t, a| zpop(t, a, false)),
    ("zpopmax", |t, a| zpop(t, a, true)),
    ("zscan", zscan),
    ("zunion", |t, a| zcombine(t, a, SetOp::Union, false)),
    ("zinter", |t, a| zcombine(t, a, SetOp::Inter, false)),
    ("zdiff", |t, a| zcombine(t, a, SetOp::Diff, false)),
    ("zunionstore", |t, a| zcombine(t, a, SetOp::Union, true)),
    ("zinterstore", |t, a| zcombine(t, a, SetOp::Inter, true)),
    ("zdiffstore", |t, a| zcombine(t, a, SetOp::Diff, true)),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

fn wire(m: &str) -> CmdError {
    CmdError::Wire(bad(m.into()))
}

fn score_bound(w: &[u8]) -> Result<ScoreBound, CmdError> {
    let (exclusive, num) = match w.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, w),
    };
    let score = parse_float(num).ok_or_else(|| wire("min or max is not a float"))?;
    Ok(ScoreBound { score, exclusive })
}

fn lex_bound(w: &[u8]) -> Result<LexBound, CmdError> {
    match w.first() {
        Some(b'-') if w.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if w.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Incl(w[1..].to_vec())),
        Some(b'(') => Ok(LexBound::Excl(w[1..].to_vec())),
        _ => Err(wire("min or max not valid string range item")),
    }
}

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

fn zadd(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let mut f = ZAddFlags::default();
    loop {
        if a.eat("nx") {
            f.nx = true;
        } else if a.eat("xx") {
            f.xx = true;
        } else if a.eat("gt") {
            f.gt = true;
        } else if a.eat("lt") {
            f.lt = true;
        } else if a.eat("ch") {
            f.ch = true;
        } else if a.eat("incr") {
            f.incr = true;
        } else {
            break;
        }
    }
    if f.nx && f.xx {
        return Err(wire(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (f.gt && f.lt) || (f.nx && (f.gt || f.lt)) {
        return Err(wire(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    let words = a.rest();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(syntax());
    }
    if f.incr && words.len() != 2 {
        return Err(wire("INCR option supports a single increment-element pair"));
    }
    let mut pairs = Vec::with_capacity(words.len() / 2);
    for p in words.chunks(2) {
        let s = parse_float(p[0]).ok_or(crate::shard::Error::NotFloat)?;
        pairs.push((s, p[1]));
    }
    Ok(match t.zadd(key, f, &pairs)? {
        ZAddResult::Count(n) => Value::Int(n as i64),
        ZAddResult::Score(s) => s.map(Value::Double).unwrap_or(Value::Nil),
    })
}

fn zrem(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(t.zrem(key, a.rest())? as i64))
}

fn zscore(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, m) = (a.word()?, a.word()?);
    Ok(t.zscore(key, m)?.map(Value::Double).unwrap_or(Value::Nil))
}

fn zmscore(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let mut out = Vec::new();
    for m in a.rest() {
        out.push(t.zscore(key, m)?.map(Value::Double).unwrap_or(Value::Nil));
    }
    Ok(Value::Array(out))
}

fn zincrby(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let d = a.float()?;
    let m = a.word()?;
    Ok(Value::Double(t.zincrby(key, d, m)?))
}

fn zcard(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    Ok(Value::Int(t.zcard(a.word()?)? as i64))
}

fn zcount(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let (min, max) = (score_bound(a.word()?)?, score_bound(a.word()?)?);
    Ok(Value::Int(t.zcount(key, min, max)? as i64))
}

fn zlexcount(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let (min, max) = (lex_bound(a.word()?)?, lex_bound(a.word()?)?);
    let r = ZRange {
        by: ZRangeBy::Lex(min, max),
        rev: false,
        limit: None,
    };
    Ok(Value::Int(t.zrange(key, &r)?.len() as i64))
}

fn zrank(t: &mut Tx<'_>, a: &mut Args<'_>, rev: bool) -> CmdResult {
    let (key, m) = (a.word()?, a.word()?);
    let with_score = a.eat("withscore");
    a.end()?;
    Ok(match t.zrank(key, m, rev)? {
        None => Value::Nil,
        Some((r, s)) if with_score => Value::Array(vec![Value::Int(r as i64), Value::Double(s)]),
        Some((r, _)) => Value::Int(r as i64),
    })
}

/// The selection of `kind` from two words, in the order given.
fn selection(kind: Kind, lo: &[u8], hi: &[u8]) -> Result<ZRangeBy, CmdError> {
    Ok(match kind {
        Kind::Rank => {
            let p =
                |w: &[u8]| crate::shard::hash::parse_int(w).ok_or(crate::shard::Error::NotInteger);
            ZRangeBy::Rank(p(lo)?, p(hi)?)
        }
        Kind::Score => ZRangeBy::Score(score_bound(lo)?, score_bound(hi)?),
        Kind::Lex => ZRangeBy::Lex(lex_bound(lo)?, lex_bound(hi)?),
    })
}

/// A range from its two words as given: with REV, a score or lex range
/// names the max first.
fn range_of(kind: Kind, rev: bool, w1: &[u8], w2: &[u8]) -> Result<ZRange, CmdError> {
    let (lo, hi) = if rev && kind != Kind::Rank {
        (w2, w1)
    } else {
        (w1, w2)
    };
    Ok(ZRange {
        by: selection(kind, lo, hi)?,
        rev,
        limit: None,
    })
}

/// The shared tail of every ZRANGE form: [LIMIT o c] [WITHSCORES].
fn finish(
    t: &mut Tx<'_>,
    a: &mut Args<'_>,
    key: &[u8],
    mut r: ZRange,
    mut with_scores: bool,
    allow_scores: bool,
) -> CmdResult {
    while a.left() > 0 {
        if allow_scores && a.eat("withscores") {
            with_scores = true;
        } else if a.eat("limit") {
            let o = a.int()?;
            let n = a.int()?;
            if matches!(r.by, ZRangeBy::Rank(..)) {
                return Err(wire(
                    "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
                ));
            }
            if o < 0 {
                return Ok(Value::Array(Vec::new()));
            }
            r.limit = Some((o as u64, n));
        } else {
            return Err(syntax());
        }
    }
    if with_scores && matches!(r.by, ZRangeBy::Lex(..)) {
        return Err(wire(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(scored(t.zrange(key, &r)?, with_scores))
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES].
fn zrange(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let (w1, w2) = (a.word()?, a.word()?);
    let mut kind = Kind::Rank;
    let mut rev = false;
    let mut with_scores = false;
    let mut tail: Vec<&[u8]> = Vec::new();
    while a.left() > 0 {
        if a.eat("byscore") {
            kind = Kind::Score;
        } else if a.eat("bylex") {
            kind = Kind::Lex;
        } else if a.eat("rev") {
            rev = true;
        } else if a.eat("withscores") {
            with_scores = true;
        } else {
            tail.push(a.word()?);
        }
    }
    let r = range_of(kind, rev, w1, w2)?;
    let mut rest = Args::new(&tail);
    finish(t, &mut rest, key, r, with_scores, true)
}

/// ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX.
fn zrange_old(t: &mut Tx<'_>, a: &mut Args<'_>, kind: Kind, rev: bool) -> CmdResult {
    let key = a.word()?;
    let (w1, w2) = (a.word()?, a.word()?);
    let r = range_of(kind, rev, w1, w2)?;
    if kind == Kind::Rank {
        let with_scores = a.eat("withscores");
        a.end()?;
        return Ok(scored(t.zrange(key, &r)?, with_scores));
    }
    finish(t, a, key, r, false, kind == Kind::Score)
}

fn zremrange(t: &mut Tx<'_>, a: &mut Args<'_>, kind: Kind) -> CmdResult {
    let key = a.word()?;
    let by = selection(kind, a.word()?, a.word()?)?;
    Ok(Value::Int(t.zremrange(key, by)? as i64))
}

fn zpop(t: &mut Tx<'_>, a: &mut Args<'_>, max: bool) -> CmdResult {
    let key = a.word()?;
    let count = if a.left() > 0 { a.count()? } else { 1 };
    a.end()?;
    Ok(scored(t.zpop(key, count, max)?, true))
}

fn zscan(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let o = ScanOpts::parse(a)?;
    let (next, items) = t.zscan(key, o.after.as_deref(), o.count, &|m| o.keep(m))?;
    Ok(Value::Array(vec![
        ScanOpts::cursor(next),
        scored(items, true),
    ]))
}

/// ZUNION/ZINTER/ZDIFF numkeys key ... [WEIGHTS w ...] [AGGREGATE
/// SUM|MIN|MAX] [WITHSCORES], and the *STORE forms with a destination
/// first and no WITHSCORES. ZDIFF takes neither WEIGHTS nor AGGREGATE. The
/// key count was checked when the keys were found (`proto::table`).
fn zcombine(t: &mut Tx<'_>, a: &mut Args<'_>, op: SetOp, store: bool) -> CmdResult {
    let dest = if store { Some(a.word()?) } else { None };
    let n = a.count()? as usize;
    let keys: Vec<&[u8]> = (0..n).map(|_| a.word()).collect::<Result<_, _>>()?;
    let (mut weights, mut agg, mut with_scores) = (Vec::new(), Aggregate::Sum, false);
    while a.left() > 0 {
        if op != SetOp::Diff && weights.is_empty() && a.eat("weights") {
            for _ in 0..n {
                let w = a.word()?;
                weights.push(parse_float(w).ok_or_else(|| wire("weight value is not a float"))?);
            }
        } else if op != SetOp::Diff && a.eat("aggregate") {
            let w = a.word()?;
            agg = match w.to_ascii_lowercase().as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return Err(syntax()),
            };
        } else if !store && a.eat("withscores") {
            with_scores = true;
        } else {
            return Err(syntax());
        }
    }
    Ok(match dest {
        Some(d) => Value::Int(t.zcombine_store(op, d, &keys, &weights, agg)? as i64),
        None => scored(t.zcombine(op, &keys, &weights, agg)?, with_scores),
    })
}
