//! Sorted sets: a member subkey holding the score (8 bytes, f64 bits big
//! endian), and a score-index subkey `score bytes | member` ordering the
//! members by (score, member).

use std::collections::BTreeMap;

use super::envelope::ValueType;
use super::partition::{Ahead, Cf};
use super::set::{Rng, SetOp};
use super::subkey;
use super::tx::{Coll, Page, ScoreVisit, Tx};
use super::Error;

const T: ValueType = ValueType::ZSet;

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

/// One end of a score range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    pub score: f64,
    pub exclusive: bool,
}

impl ScoreBound {
    fn above_min(&self, s: f64) -> bool {
        if self.exclusive {
            s > self.score
        } else {
            s >= self.score
        }
    }
    fn below_max(&self, s: f64) -> bool {
        if self.exclusive {
            s < self.score
        } else {
            s <= self.score
        }
    }
}

/// One end of a lex range (`-`, `+`, `[m`, `(m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    fn above_min(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(b) => m >= b.as_slice(),
            LexBound::Excl(b) => m > b.as_slice(),
        }
    }
    fn below_max(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(b) => m <= b.as_slice(),
            LexBound::Excl(b) => m < b.as_slice(),
        }
    }
}

/// What a ZRANGE selects.
#[derive(Debug, Clone, PartialEq)]
pub enum ZRangeBy {
    /// Ranks, negative from the end, inclusive.
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// A ZRANGE: the selection, the direction and an optional LIMIT
/// (offset, count; a negative count = all).
#[derive(Debug, Clone, PartialEq)]
pub struct ZRange {
    pub by: ZRangeBy,
    pub rev: bool,
    pub limit: Option<(u64, i64)>,
}

/// What ZADD did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZAddResult {
    /// Members added (or changed, with CH).
    Count(u64),
    /// INCR: the new score, or `None` when NX/XX/GT/LT refused it.
    Score(Option<f64>),
}

fn read_score(v: &[u8]) -> Result<f64, Error> {
    let a: [u8; 8] = v
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::Corrupt("sorted-set score is not 8 bytes".into()))?;
    Ok(f64::from_be_bytes(a))
}

/// Normalises ranks `start..=stop` (negative from the end) against `size`;
/// `None` when the range is empty.
pub fn rank_range(start: i64, stop: i64, size: u64) -> Option<(u64, u64)> {
    let n = size as i64;
    let s = if start < 0 { (n + start).max(0) } else { start };
    let e = if stop < 0 { n + stop } else { stop.min(n - 1) };
    (s <= e && s < n && e >= 0).then_some((s as u64, e as u64))
}

impl Tx<'_> {
    fn zset(&self, key: &[u8]) -> Result<Option<Coll>, Error> {
        self.coll(key, T)
    }

    fn zscore_in(&self, c: &Coll, member: &[u8]) -> Result<Option<f64>, Error> {
        match self.get(Cf::Sub, &c.member_key(member))? {
            None => Ok(None),
            Some(v) => read_score(&v).map(Some),
        }
    }

    /// Writes both subkeys of a member, removing its old index entry, and
    /// widens the index's live bounds to the new entry. The old entry of a
    /// member whose score changes is not counted as dead: compacting a large
    /// sorted set every time half its scores changed cost ZADD-heavy loads
    /// up to a third of their rate (BENCHMARKS.md, issue 16), so those
    /// deletions are left to RocksDB's own compactions.
    fn zput(&mut self, c: &mut Coll, member: &[u8], old: Option<f64>, score: f64) {
        if let Some(o) = old {
            self.delete(Cf::Sub, subkey::score(&c.prefix, o, member));
        }
        let score = if score == 0.0 { 0.0 } else { score };
        self.put(Cf::Sub, c.member_key(member), score.to_be_bytes().to_vec());
        let index = subkey::score(&c.prefix, score, member);
        c.score_added(&index[c.prefix.len() + 1..]);
        self.put(Cf::Sub, index, Vec::new());
    }

    /// Deletes both subkeys of a member. Both tombstones count as dead
    /// unless `behind_bound` (a pop moved the index's bound past them; the
    /// member subkey is only ever read by point lookups and scans).
    fn zdel(&mut self, c: &mut Coll, member: &[u8], score: f64, behind_bound: bool) {
        self.delete(Cf::Sub, c.member_key(member));
        self.delete(Cf::Sub, subkey::score(&c.prefix, score, member));
        c.dead += if behind_bound { 1 } else { 2 };
    }

    /// ZADD with Redis's NX/XX/GT/LT/CH/INCR rules. Scores are never NaN
    /// (the caller refuses NaN; an INCR producing NaN is `NanOrInfinity`).
    pub fn zadd(
        &mut self,
        key: &[u8],
        f: ZAddFlags,
        pairs: &[(f64, &[u8])],
    ) -> Result<ZAddResult, Error> {
        self.writable()?;
        let existing = self.zset(key)?;
        if existing.is_none() && f.xx {
            return Ok(if f.incr {
                ZAddResult::Score(None)
            } else {
                ZAddResult::Count(0)
            });
        }
        let mut c = match existing {
            Some(c) => c,
            None => self.coll_or_new(key, T)?,
        };
        let mut count = 0;
        let mut incr_result = None;
        for &(score, member) in pairs {
            let old = self.zscore_in(&c, member)?;
            let new = if f.incr {
                let s = old.unwrap_or(0.0) + score;
                if s.is_nan() {
                    return Err(Error::NanOrInfinity);
                }
                s
            } else {
                score
            };
            let allowed = match old {
                None => !f.xx,
                Some(o) => !f.nx && (!f.gt || new > o) && (!f.lt || new < o),
            };
            if !allowed {
                continue;
            }
            match old {
                None => {
                    c.size += 1;
                    count += 1;
                }
                Some(o) if o != new => {
                    if f.ch {
                        count += 1;
                    }
                }
                Some(_) => {}
            }
            if old != Some(new) {
                self.zput(&mut c, member, old, new);
            }
            incr_result = Some(new);
        }
        if !self.is_empty() {
            self.save(key, &mut c);
        }
        Ok(if f.incr {
            ZAddResult::Score(incr_result)
        } else {
            ZAddResult::Count(count)
        })
    }

    pub fn zincrby(&mut self, key: &[u8], delta: f64, member: &[u8]) -> Result<f64, Error> {
        let f = ZAddFlags {
            incr: true,
            ..Default::default()
        };
        match self.zadd(key, f, &[(delta, member)])? {
            ZAddResult::Score(Some(s)) => Ok(s),
            _ => Err(Error::Corrupt("ZINCRBY did not apply".into())),
        }
    }

    pub fn zrem(&mut self, key: &[u8], members: &[&[u8]]) -> Result<u64, Error> {
        let Some(mut c) = self.zset(key)? else {
            return Ok(0);
        };
        self.writable()?;
        let mut n = 0;
        for m in members {
            if let Some(s) = self.zscore_in(&c, m)? {
                self.zdel(&mut c, m, s, false);
                c.size -= 1;
                n += 1;
            }
        }
        if n > 0 {
            self.save(key, &mut c);
        }
        Ok(n)
    }

    pub fn zscore(&self, key: &[u8], member: &[u8]) -> Result<Option<f64>, Error> {
        match self.zset(key)? {
            None => Ok(None),
            Some(c) => self.zscore_in(&c, member),
        }
    }

    /// ZRANDMEMBER: `count` random members with their scores (>= 0
    /// distinct, < 0 with repeats; `crate::sample`).
    pub fn zrandmember(
        &self,
        key: &[u8],
        count: i64,
        rng: &mut Rng,
    ) -> Result<Vec<(Vec<u8>, f64)>, Error> {
        let Some(c) = self.zset(key)? else {
            return Ok(Vec::new());
        };
        self.random_members(&c, count, rng)?
            .into_iter()
            .map(|(m, v)| Ok((m, read_score(&v)?)))
            .collect()
    }

    pub fn zcard(&self, key: &[u8]) -> Result<u64, Error> {
        Ok(self.zset(key)?.map(|c| c.size).unwrap_or(0))
    }

    /// Visits the score index in order: `(member, score)`.
    fn zwalk(
        &self,
        c: &Coll,
        from: Option<f64>,
        rev: bool,
        ahead: Ahead,
        f: &mut ScoreVisit<'_>,
    ) -> Result<(), Error> {
        // The live bounds first; a start score can only narrow them.
        let (mut lo, mut hi) = c.score_range();
        if let Some(s) = from {
            let mut k = subkey::tagged(&c.prefix, subkey::SCORE);
            k.extend_from_slice(&subkey::score_bytes(s));
            if rev {
                // Everything with this score sorts before its successor.
                hi = hi.min(subkey::end_of(&k));
            } else {
                lo = lo.max(k);
            }
        }
        let n = c.prefix.len() + 1;
        self.range_ahead(&lo, &hi, rev, ahead, &mut |k, _| {
            let score = subkey::score_from_bytes(&k[n..])
                .ok_or_else(|| Error::Corrupt("short score index key".into()))?;
            f(&k[n + 8..], score)
        })
    }

    /// ZRANGE in all its forms: `(member, score)` in the requested order.
    pub fn zrange(&self, key: &[u8], r: &ZRange) -> Result<Vec<(Vec<u8>, f64)>, Error> {
        let Some(c) = self.zset(key)? else {
            return Ok(Vec::new());
        };
        let (mut skip, mut left) = match r.limit {
            Some((o, n)) => (o, if n < 0 { u64::MAX } else { n as u64 }),
            None => (0, u64::MAX),
        };
        let mut out = Vec::new();
        if left == 0 {
            return Ok(out);
        }
        let mut emit = |m: &[u8], s: f64, out: &mut Vec<(Vec<u8>, f64)>| -> bool {
            if skip > 0 {
                skip -= 1;
                return true;
            }
            out.push((m.to_vec(), s));
            left -= 1;
            left > 0
        };
        match &r.by {
            ZRangeBy::Rank(start, stop) => {
                let Some((s, e)) = rank_range(*start, *stop, c.size) else {
                    return Ok(out);
                };
                let mut i = 0u64;
                self.zwalk(&c, None, r.rev, Ahead::No, &mut |m, sc| {
                    if i >= s {
                        out.push((m.to_vec(), sc));
                    }
                    i += 1;
                    Ok(i <= e)
                })?;
            }
            ZRangeBy::Score(min, max) => {
                // With REV the walk starts at max and goes down.
                let (from, rev) = (if r.rev { max.score } else { min.score }, r.rev);
                self.zwalk(&c, Some(from), rev, Ahead::No, &mut |m, sc| {
                    if !min.above_min(sc) {
                        return Ok(!rev);
                    }
                    if !max.below_max(sc) {
                        return Ok(rev);
                    }
                    Ok(emit(m, sc, &mut out))
                })?;
            }
            ZRangeBy::Lex(min, max) => {
                self.members(&c, r.rev, &mut |m, v| {
                    if !min.above_min(m) {
                        return Ok(!r.rev);
                    }
                    if !max.below_max(m) {
                        return Ok(r.rev);
                    }
                    Ok(emit(m, read_score(v)?, &mut out))
                })?;
            }
        }
        Ok(out)
    }

    /// ZCOUNT: members with min <= score <= max.
    pub fn zcount(&self, key: &[u8], min: ScoreBound, max: ScoreBound) -> Result<u64, Error> {
        let r = ZRange {
            by: ZRangeBy::Score(min, max),
            rev: false,
            limit: None,
        };
        Ok(self.zrange(key, &r)?.len() as u64)
    }

    /// ZRANK/ZREVRANK (O(rank)).
    pub fn zrank(&self, key: &[u8], member: &[u8], rev: bool) -> Result<Option<(u64, f64)>, Error> {
        let Some(c) = self.zset(key)? else {
            return Ok(None);
        };
        let Some(score) = self.zscore_in(&c, member)? else {
            return Ok(None);
        };
        let mut rank = 0u64;
        let mut found = false;
        self.zwalk(&c, None, rev, Ahead::No, &mut |m, _| {
            if m == member {
                found = true;
                return Ok(false);
            }
            rank += 1;
            Ok(true)
        })?;
        Ok(found.then_some((rank, score)))
    }

    /// Removes the given members (already known to be in the set).
    fn zremove_all(&mut self, key: &[u8], victims: &[(Vec<u8>, f64)]) -> Result<u64, Error> {
        if victims.is_empty() {
            return Ok(0);
        }
        self.writable()?;
        let Some(mut c) = self.zset(key)? else {
            return Ok(0);
        };
        for (m, s) in victims {
            self.zdel(&mut c, m, *s, false);
        }
        c.size -= victims.len() as u64;
        self.save(key, &mut c);
        Ok(victims.len() as u64)
    }

    /// ZREMRANGEBYRANK / BYSCORE / BYLEX: removes what `by` selects.
    pub fn zremrange(&mut self, key: &[u8], by: ZRangeBy) -> Result<u64, Error> {
        let victims = self.zrange(
            key,
            &ZRange {
                by,
                rev: false,
                limit: None,
            },
        )?;
        self.zremove_all(key, &victims)
    }

    /// ZPOPMIN/ZPOPMAX: removes and returns up to `count` members. The
    /// index's live bound moves past the last member taken, so the next pop
    /// seeks straight to the first live entry instead of stepping over the
    /// deletions of every earlier pop.
    pub fn zpop(
        &mut self,
        key: &[u8],
        count: u64,
        max: bool,
    ) -> Result<Vec<(Vec<u8>, f64)>, Error> {
        let Some(mut c) = self.zset(key)? else {
            return Ok(Vec::new());
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        self.writable()?;
        let mut victims = Vec::new();
        // The next pop starts where this one stops: read ahead.
        self.zwalk(&c, None, max, Ahead::Extend, &mut |m, s| {
            victims.push((m.to_vec(), s));
            Ok((victims.len() as u64) < count)
        })?;
        let Some((m, s)) = victims.last() else {
            return Ok(victims);
        };
        let last = subkey::score(&c.prefix, *s, m);
        let suffix = &last[c.prefix.len() + 1..];
        if max {
            c.high = suffix.to_vec();
        } else {
            c.low = [suffix, &[0]].concat();
        }
        for (m, s) in &victims {
            self.zdel(&mut c, m, *s, true);
        }
        c.size -= victims.len() as u64;
        self.save(key, &mut c);
        Ok(victims)
    }

    /// ZSCAN: up to `count` members after `after`, with scores.
    pub fn zscan(
        &self,
        key: &[u8],
        after: Option<&[u8]>,
        count: usize,
        keep: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Page<(Vec<u8>, f64)>, Error> {
        let Some(c) = self.zset(key)? else {
            return Ok((None, Vec::new()));
        };
        let (next, items) = self.scan_members(&c, after, count, keep)?;
        let items = items
            .into_iter()
            .map(|(m, v)| Ok((m, read_score(&v)?)))
            .collect::<Result<_, Error>>()?;
        Ok((next, items))
    }

    /// SSCAN, on the set's member subkeys.
    pub fn sscan(
        &self,
        key: &[u8],
        after: Option<&[u8]>,
        count: usize,
        keep: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Page<Vec<u8>>, Error> {
        let Some(c) = self.coll(key, ValueType::Set)? else {
            return Ok((None, Vec::new()));
        };
        let (next, items) = self.scan_members(&c, after, count, keep)?;
        Ok((next, items.into_iter().map(|(m, _)| m).collect()))
    }

    /// The (member, score) pairs of a sorted set, or of a set with every
    /// score 1 (ZUNION and friends take both, as Redis does).
    fn scored_members(&self, key: &[u8]) -> Result<Vec<(Vec<u8>, f64)>, Error> {
        match self.zset(key) {
            Ok(None) => Ok(Vec::new()),
            Ok(Some(_)) => self.zrange(
                key,
                &ZRange {
                    by: ZRangeBy::Rank(0, -1),
                    rev: false,
                    limit: None,
                },
            ),
            Err(Error::WrongType) => Ok(self
                .set_combine(SetOp::Union, &[key])?
                .into_iter()
                .map(|m| (m, 1.0))
                .collect()),
            Err(e) => Err(e),
        }
    }

    /// ZUNION, ZINTER and ZDIFF: the combined (member, score) pairs ordered
    /// by (score, member). `weights` has one weight per key (ZDIFF: all 1).
    /// ZINTERCARD: the size of the intersection of sorted sets (or sets)
    /// in this slot, counted up to `limit` (0: all).
    pub fn zintercard(&self, keys: &[&[u8]], limit: u64) -> Result<u64, Error> {
        let n = self
            .zcombine(SetOp::Inter, keys, &[], Aggregate::Sum)?
            .len() as u64;
        Ok(if limit == 0 { n } else { n.min(limit) })
    }

    pub fn zcombine(
        &self,
        op: SetOp,
        keys: &[&[u8]],
        weights: &[f64],
        agg: Aggregate,
    ) -> Result<Vec<(Vec<u8>, f64)>, Error> {
        let mut sources = Vec::with_capacity(keys.len());
        // Every key's type is checked before any result depends on order.
        for k in keys {
            sources.push(self.scored_members(k)?);
        }
        let weighted = |s: f64, w: f64| {
            let v = s * w;
            // inf * 0 is NaN; Redis takes it as 0.
            if v.is_nan() {
                0.0
            } else {
                v
            }
        };
        let mut acc: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for (i, src) in sources.into_iter().enumerate() {
            let w = weights.get(i).copied().unwrap_or(1.0);
            if i == 0 {
                acc = src.into_iter().map(|(m, s)| (m, weighted(s, w))).collect();
                continue;
            }
            match op {
                SetOp::Union => {
                    for (m, s) in src {
                        let s = weighted(s, w);
                        acc.entry(m)
                            .and_modify(|a| *a = agg.apply(*a, s))
                            .or_insert(s);
                    }
                }
                SetOp::Inter => {
                    let other: BTreeMap<Vec<u8>, f64> = src.into_iter().collect();
                    acc.retain(|m, _| other.contains_key(m));
                    for (m, a) in acc.iter_mut() {
                        *a = agg.apply(*a, weighted(other[m], w));
                    }
                }
                SetOp::Diff => {
                    for (m, _) in src {
                        acc.remove(&m);
                    }
                }
            }
            if acc.is_empty() && op != SetOp::Union {
                break;
            }
        }
        let mut out: Vec<(Vec<u8>, f64)> = acc.into_iter().collect();
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE: replaces `dest` with the
    /// result; returns its size.
    pub fn zcombine_store(
        &mut self,
        op: SetOp,
        dest: &[u8],
        keys: &[&[u8]],
        weights: &[f64],
        agg: Aggregate,
    ) -> Result<u64, Error> {
        self.writable()?;
        let items = self.zcombine(op, keys, weights, agg)?;
        self.zstore(dest, &items)
    }

    /// Replaces `dest` (of any type) with the sorted set of `items`, or
    /// deletes it when there are none (the *STORE commands); their count.
    pub fn zstore(&mut self, dest: &[u8], items: &[(Vec<u8>, f64)]) -> Result<u64, Error> {
        self.writable()?;
        self.remove(dest)?;
        if items.is_empty() {
            return Ok(0);
        }
        let pairs: Vec<(f64, &[u8])> = items.iter().map(|(m, s)| (*s, m.as_slice())).collect();
        self.zadd(dest, ZAddFlags::default(), &pairs)?;
        Ok(items.len() as u64)
    }
}

/// How ZUNION and ZINTER combine the scores of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    #[default]
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            // inf + -inf is NaN; Redis takes it as 0.
            Aggregate::Sum => {
                let s = a + b;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        }
    }
}
