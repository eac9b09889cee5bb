//! Sorted-set commands: ZADD (NX, XX, GT, LT, CH, INCR), ZREM, ZSCORE,
//! ZMSCORE, ZINCRBY, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK, ZRANGE (by
//! rank, BYSCORE, BYLEX, REV, LIMIT, WITHSCORES), ZRANGEBYSCORE,
//! ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE,
//! ZREMRANGEBYRANK, ZREMRANGEBYSCORE, ZREMRANGEBYLEX, ZPOPMIN, ZPOPMAX,
//! ZSCAN, ZUNION, ZINTER, ZDIFF and their *STORE forms (WEIGHTS,
//! AGGREGATE, WITHSCORES). Scores are IEEE doubles; NaN is refused.

use super::{bad, keys_and_limit, keys_end_count, not_named, syntax, Args, ScanOpts, SetOp};
use crate::codes::{ErrorCode, WireError};
use crate::num::{int_arg, parse_float};

type Key<'a> = &'a [u8];

/// ZADD's options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZAddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    /// Count changed members, not only added ones.
    pub ch: bool,
    /// Increment the one given member (ZADD ... INCR).
    pub incr: bool,
}

/// One end of a score range: `1.5` or `(1.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    pub score: f64,
    pub exclusive: bool,
}

/// One end of a lex range: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexBound<'a> {
    Min,
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

/// What a range selects, lower end first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeBy<'a> {
    /// Ranks, negative from the end, inclusive.
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound<'a>, LexBound<'a>),
}

/// A ZRANGE: the selection, the direction and an optional LIMIT (offset,
/// count; a negative count = all).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZRange<'a> {
    pub by: RangeBy<'a>,
    pub rev: bool,
    pub limit: Option<(u64, i64)>,
}

/// How ZUNION and ZINTER combine the scores of one member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Aggregate {
    #[default]
    Sum,
    Min,
    Max,
}

/// A sorted-set command's typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum ZSetCmd<'a> {
    Add {
        key: Key<'a>,
        flags: ZAddFlags,
        pairs: Vec<(f64, &'a [u8])>,
    },
    Rem {
        key: Key<'a>,
        members: &'a [&'a [u8]],
    },
    Score {
        key: Key<'a>,
        member: &'a [u8],
    },
    /// ZRANDMEMBER: without a count one member (or nil); a count >= 0
    /// gives distinct members, < 0 allows repeats; `scores` with
    /// WITHSCORES.
    RandMember {
        key: Key<'a>,
        count: Option<i64>,
        scores: bool,
    },
    MScore {
        key: Key<'a>,
        members: &'a [&'a [u8]],
    },
    IncrBy {
        key: Key<'a>,
        delta: f64,
        member: &'a [u8],
    },
    Card(Key<'a>),
    Count {
        key: Key<'a>,
        min: ScoreBound,
        max: ScoreBound,
    },
    LexCount {
        key: Key<'a>,
        min: LexBound<'a>,
        max: LexBound<'a>,
    },
    /// ZRANK and ZREVRANK [WITHSCORE].
    Rank {
        key: Key<'a>,
        member: &'a [u8],
        rev: bool,
        with_score: bool,
    },
    /// Every ZRANGE form; `range` is `None` when a negative LIMIT offset
    /// selects nothing.
    Range {
        key: Key<'a>,
        range: Option<ZRange<'a>>,
        with_scores: bool,
    },
    /// ZRANGESTORE: ZRANGE's selection of `src` stored in `dest`.
    RangeStore {
        dest: Key<'a>,
        src: Key<'a>,
        range: Option<ZRange<'a>>,
    },
    RemRange {
        key: Key<'a>,
        by: RangeBy<'a>,
    },
    /// ZPOPMIN and ZPOPMAX (`max`).
    /// ZPOPMIN/ZPOPMAX; `counted` when a count was given (RESP3 then
    /// answers pairs, as Redis 7 does).
    Pop {
        key: Key<'a>,
        count: u64,
        counted: bool,
        max: bool,
    },
    Scan {
        key: Key<'a>,
        scan: ScanOpts,
    },
    /// ZUNION, ZINTER, ZDIFF, and with `dest` their STORE forms.
    Combine {
        op: SetOp,
        dest: Option<Key<'a>>,
        keys: &'a [Key<'a>],
        weights: Vec<f64>,
        aggregate: Aggregate,
        with_scores: bool,
    },
    /// ZMPOP numkeys key ... MIN|MAX [COUNT count]: pops from the first key
    /// holding a sorted set.
    MPop {
        keys: &'a [Key<'a>],
        max: bool,
        count: u64,
    },
    /// ZINTERCARD numkeys key ... [LIMIT limit]: the intersection's size,
    /// counting stopped at `limit` (0: no limit).
    InterCard {
        keys: &'a [Key<'a>],
        limit: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

impl<'a> ZSetCmd<'a> {
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<ZSetCmd<'a>, WireError> {
        let combine = match name {
            "zunion" | "zunionstore" => Some(SetOp::Union),
            "zinter" | "zinterstore" => Some(SetOp::Inter),
            "zdiff" | "zdiffstore" => Some(SetOp::Diff),
            _ => None,
        };
        if let Some(op) = combine {
            return zcombine(a, op, name.ends_with("store"));
        }
        if name == "zmpop" {
            let (keys, max, count) = keys_end_count(a, ["min", "max"])?;
            return Ok(ZSetCmd::MPop { keys, max, count });
        }
        if name == "zintercard" {
            let (keys, limit) = keys_and_limit(a)?;
            return Ok(ZSetCmd::InterCard { keys, limit });
        }
        let key = a.word()?;
        Ok(match name {
            "zadd" => zadd(key, a)?,
            "zrem" => ZSetCmd::Rem {
                key,
                members: a.rest(),
            },
            "zrandmember" => {
                let (count, scores) = super::random_count(a, Some("withscores"))?;
                ZSetCmd::RandMember { key, count, scores }
            }
            "zscore" => ZSetCmd::Score {
                key,
                member: a.word()?,
            },
            "zmscore" => ZSetCmd::MScore {
                key,
                members: a.rest(),
            },
            "zincrby" => ZSetCmd::IncrBy {
                key,
                delta: a.float()?,
                member: a.word()?,
            },
            "zcard" => ZSetCmd::Card(key),
            "zcount" => ZSetCmd::Count {
                key,
                min: score_bound(a.word()?)?,
                max: score_bound(a.word()?)?,
            },
            "zlexcount" => ZSetCmd::LexCount {
                key,
                min: lex_bound(a.word()?)?,
                max: lex_bound(a.word()?)?,
            },
            "zrank" | "zrevrank" => {
                let member = a.word()?;
                let with_score = a.eat("withscore");
                a.end()?;
                ZSetCmd::Rank {
                    key,
                    member,
                    rev: name == "zrevrank",
                    with_score,
                }
            }
            "zrange" => zrange(key, a, false)?,
            // `key` is the destination here.
            "zrangestore" => match zrange(a.word()?, a, true)? {
                ZSetCmd::Range {
                    key: src, range, ..
                } => ZSetCmd::RangeStore {
                    dest: key,
                    src,
                    range,
                },
                _ => return Err(syntax()),
            },
            "zrevrange" => zrange_old(key, a, Kind::Rank, true)?,
            "zrangebyscore" => zrange_old(key, a, Kind::Score, false)?,
            "zrevrangebyscore" => zrange_old(key, a, Kind::Score, true)?,
            "zrangebylex" => zrange_old(key, a, Kind::Lex, false)?,
            "zrevrangebylex" => zrange_old(key, a, Kind::Lex, true)?,
            "zremrangebyrank" => zremrange(key, a, Kind::Rank)?,
            "zremrangebyscore" => zremrange(key, a, Kind::Score)?,
            "zremrangebylex" => zremrange(key, a, Kind::Lex)?,
            "zpopmin" | "zpopmax" => {
                let count = a.last_count()?;
                ZSetCmd::Pop {
                    key,
                    count: count.unwrap_or(1),
                    counted: count.is_some(),
                    max: name == "zpopmax",
                }
            }
            "zscan" => ZSetCmd::Scan {
                key,
                scan: ScanOpts::parse(a)?,
            },
            _ => return Err(not_named(name)),
        })
    }
}

fn score_bound(w: &[u8]) -> Result<ScoreBound, WireError> {
    let (exclusive, num) = match w.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, w),
    };
    let score = parse_float(num).ok_or_else(|| bad("min or max is not a float"))?;
    Ok(ScoreBound { score, exclusive })
}

fn lex_bound(w: &[u8]) -> Result<LexBound<'_>, WireError> {
    match w.first() {
        Some(b'-') if w.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if w.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Incl(&w[1..])),
        Some(b'(') => Ok(LexBound::Excl(&w[1..])),
        _ => Err(bad("min or max not valid string range item")),
    }
}

fn zadd<'a>(key: Key<'a>, a: &mut Args<'a>) -> Result<ZSetCmd<'a>, WireError> {
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
        return Err(bad("XX and NX options at the same time are not compatible"));
    }
    if (f.gt && f.lt) || (f.nx && (f.gt || f.lt)) {
        return Err(bad(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    let words = a.rest();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(syntax());
    }
    if f.incr && words.len() != 2 {
        return Err(bad("INCR option supports a single increment-element pair"));
    }
    let pairs = words
        .chunks(2)
        .map(|p| {
            let s = parse_float(p[0]).ok_or_else(|| WireError::of(ErrorCode::NotFloat))?;
            Ok((s, p[1]))
        })
        .collect::<Result<_, WireError>>()?;
    Ok(ZSetCmd::Add {
        key,
        flags: f,
        pairs,
    })
}

/// The selection of `kind` from two words, in the order given.
fn selection<'a>(kind: Kind, lo: &'a [u8], hi: &'a [u8]) -> Result<RangeBy<'a>, WireError> {
    Ok(match kind {
        Kind::Rank => RangeBy::Rank(int_arg(lo)?, int_arg(hi)?),
        Kind::Score => RangeBy::Score(score_bound(lo)?, score_bound(hi)?),
        Kind::Lex => RangeBy::Lex(lex_bound(lo)?, lex_bound(hi)?),
    })
}

/// A range from its two words as given: with REV, a score or lex range
/// names the max first.
fn range_of<'a>(
    kind: Kind,
    rev: bool,
    w1: &'a [u8],
    w2: &'a [u8],
) -> Result<ZRange<'a>, WireError> {
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
fn finish<'a>(
    a: &mut Args<'_>,
    key: Key<'a>,
    mut r: ZRange<'a>,
    mut with_scores: bool,
    allow_scores: bool,
) -> Result<ZSetCmd<'a>, WireError> {
    while a.left() > 0 {
        if allow_scores && a.eat("withscores") {
            with_scores = true;
        } else if a.eat("limit") {
            let o = a.int()?;
            let n = a.int()?;
            if matches!(r.by, RangeBy::Rank(..)) {
                return Err(bad(
                    "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
                ));
            }
            if o < 0 {
                return Ok(ZSetCmd::Range {
                    key,
                    range: None,
                    with_scores,
                });
            }
            r.limit = Some((o as u64, n));
        } else {
            return Err(syntax());
        }
    }
    if with_scores && matches!(r.by, RangeBy::Lex(..)) {
        return Err(bad(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(ZSetCmd::Range {
        key,
        range: Some(r),
        with_scores,
    })
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT o c] [WITHSCORES];
/// for ZRANGESTORE (`store`) without WITHSCORES.
fn zrange<'a>(key: Key<'a>, a: &mut Args<'a>, store: bool) -> Result<ZSetCmd<'a>, WireError> {
    let (w1, w2) = (a.word()?, a.word()?);
    let mut kind = Kind::Rank;
    let mut rev = false;
    let mut with_scores = false;
    let mut tail: Vec<&'a [u8]> = Vec::new();
    while a.left() > 0 {
        if a.eat("byscore") {
            kind = Kind::Score;
        } else if a.eat("bylex") {
            kind = Kind::Lex;
        } else if a.eat("rev") {
            rev = true;
        } else if !store && a.eat("withscores") {
            with_scores = true;
        } else {
            tail.push(a.word()?);
        }
    }
    let r = range_of(kind, rev, w1, w2)?;
    finish(&mut Args::new(&tail), key, r, with_scores, !store)
}

/// ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX.
fn zrange_old<'a>(
    key: Key<'a>,
    a: &mut Args<'a>,
    kind: Kind,
    rev: bool,
) -> Result<ZSetCmd<'a>, WireError> {
    let (w1, w2) = (a.word()?, a.word()?);
    let r = range_of(kind, rev, w1, w2)?;
    if kind == Kind::Rank {
        let with_scores = a.eat("withscores");
        a.end()?;
        return Ok(ZSetCmd::Range {
            key,
            range: Some(r),
            with_scores,
        });
    }
    finish(a, key, r, false, kind == Kind::Score)
}

fn zremrange<'a>(key: Key<'a>, a: &mut Args<'a>, kind: Kind) -> Result<ZSetCmd<'a>, WireError> {
    let by = selection(kind, a.word()?, a.word()?)?;
    Ok(ZSetCmd::RemRange { key, by })
}

/// ZUNION/ZINTER/ZDIFF numkeys key ... [WEIGHTS w ...] [AGGREGATE
/// SUM|MIN|MAX] [WITHSCORES], and the *STORE forms with a destination
/// first and no WITHSCORES. ZDIFF takes neither WEIGHTS nor AGGREGATE. The
/// key count was checked when the keys were found (`table`).
fn zcombine<'a>(a: &mut Args<'a>, op: SetOp, store: bool) -> Result<ZSetCmd<'a>, WireError> {
    let dest = if store { Some(a.word()?) } else { None };
    let n = a.count()? as usize;
    let rest = a.rest();
    let keys = rest.get(..n).ok_or_else(syntax)?;
    let a = &mut Args::new(&rest[n..]);
    let (mut weights, mut aggregate, mut with_scores) = (Vec::new(), Aggregate::Sum, false);
    while a.left() > 0 {
        if op != SetOp::Diff && weights.is_empty() && a.eat("weights") {
            for _ in 0..n {
                let w = a.word()?;
                weights.push(parse_float(w).ok_or_else(|| bad("weight value is not a float"))?);
            }
        } else if op != SetOp::Diff && a.eat("aggregate") {
            let w = a.word()?;
            aggregate = match w.to_ascii_lowercase().as_slice() {
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
    Ok(ZSetCmd::Combine {
        op,
        dest,
        keys,
        weights,
        aggregate,
        with_scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(words: &'a [&'a [u8]]) -> Result<ZSetCmd<'a>, WireError> {
        super::super::parse_words(words, ZSetCmd::parse)
    }

    #[test]
    fn ranges_in_every_form() {
        let ZSetCmd::Range {
            range: Some(r),
            with_scores,
            ..
        } = parse(&[
            b"zrange",
            b"z",
            b"(5",
            b"1",
            b"BYSCORE",
            b"rev",
            b"limit",
            b"1",
            b"2",
            b"withscores",
        ])
        .unwrap()
        else {
            panic!("not a range")
        };
        assert!(with_scores && r.rev);
        assert_eq!(r.limit, Some((1, 2)));
        assert_eq!(
            r.by,
            RangeBy::Score(
                ScoreBound {
                    score: 1.0,
                    exclusive: false
                },
                ScoreBound {
                    score: 5.0,
                    exclusive: true
                }
            )
        );
        assert_eq!(
            parse(&[b"zrangebylex", b"z", b"-", b"+", b"LIMIT", b"-1", b"3"]).unwrap(),
            ZSetCmd::Range {
                key: b"z",
                range: None,
                with_scores: false
            }
        );
        let e = parse(&[b"zrange", b"z", b"0", b"1", b"limit", b"0", b"1"]).unwrap_err();
        assert!(e.message.contains("LIMIT is only supported"), "{e}");
        let e = parse(&[b"zrange", b"z", b"[a", b"[b", b"bylex", b"withscores"]).unwrap_err();
        assert!(e.message.contains("WITHSCORES not supported"), "{e}");
        assert!(parse(&[b"zcount", b"z", b"x", b"1"]).is_err());
        assert!(parse(&[b"zrangebylex", b"z", b"a", b"+"]).is_err());
    }

    #[test]
    fn zadd_and_combine() {
        let e = parse(&[b"zadd", b"z", b"nx", b"gt", b"1", b"m"]).unwrap_err();
        assert!(e.message.contains("not compatible"), "{e}");
        assert_eq!(
            parse(&[b"zadd", b"z", b"one", b"m"]).unwrap_err().code,
            ErrorCode::NotFloat
        );
        assert!(parse(&[b"zadd", b"z", b"incr", b"1", b"m", b"2", b"n"]).is_err());
        let keys: &[&[u8]] = &[b"a", b"b"];
        assert_eq!(
            parse(&[
                b"zunionstore",
                b"d",
                b"2",
                b"a",
                b"b",
                b"weights",
                b"1",
                b"2",
                b"aggregate",
                b"MAX"
            ])
            .unwrap(),
            ZSetCmd::Combine {
                op: SetOp::Union,
                dest: Some(b"d"),
                keys,
                weights: vec![1.0, 2.0],
                aggregate: Aggregate::Max,
                with_scores: false
            }
        );
        assert!(parse(&[b"zdiff", b"2", b"a", b"b", b"weights", b"1", b"2"]).is_err());
        assert!(parse(&[b"zinterstore", b"d", b"1", b"a", b"withscores"]).is_err());
    }
}
