//! Hashes, and the (hashkey, sortkey) model on top of them: a hash's fields
//! are member subkeys, so they are kept in byte order and range-scanned.

use super::envelope::ValueType;
use super::partition::Cf;
use super::set::Rng;
use super::tx::{Coll, Page, Pair, Pairs, Tx};
use super::Error;

const T: ValueType = ValueType::Hash;

/// One end of a sortkey range: `None` = unbounded.
#[derive(Debug, Clone, Default)]
pub struct Bound {
    pub key: Option<Vec<u8>>,
    pub inclusive: bool,
}

/// A sortkey range scan (Pegasus's `get_scanner` / `multi_get` by range).
#[derive(Debug, Clone, Default)]
pub struct SortRange {
    pub start: Bound,
    pub stop: Bound,
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    /// 0 = no limit.
    pub limit: usize,
    pub reverse: bool,
}

/// The check of a check-and-set.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Exists,
    NotExists,
    ValueEquals(Vec<u8>),
    ValuePrefix(Vec<u8>),
    IntEq(i64),
    IntLt(i64),
    IntLe(i64),
    IntGt(i64),
    IntGe(i64),
}

/// Parses an integer strictly, as Redis does: `0`, or an optional `-`
/// then digits without a leading zero, within i64.
pub fn parse_int(b: &[u8]) -> Option<i64> {
    if b == b"0" {
        return Some(0);
    }
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    match digits.first() {
        Some(b'1'..=b'9') if digits.iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    std::str::from_utf8(b).ok()?.parse::<i64>().ok()
}

/// Parses a stored or given float (as INCRBYFLOAT does).
pub fn parse_float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.trim() != s {
        return None;
    }
    let v = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// Formats a float the way INCRBYFLOAT and scores print.
pub fn format_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format!("{v}")
}

impl Tx<'_> {
    fn hash(&self, key: &[u8]) -> Result<Option<Coll>, Error> {
        self.coll(key, T)
    }

    /// HSET: sets fields; returns how many were new.
    pub fn hset(&mut self, key: &[u8], pairs: &[(&[u8], &[u8])]) -> Result<u64, Error> {
        self.writable()?;
        let mut c = self.coll_or_new(key, T)?;
        let mut added = 0;
        for (f, v) in pairs {
            let k = c.member_key(f);
            if self.get(Cf::Sub, &k)?.is_none() {
                added += 1;
                c.size += 1;
            }
            self.put(Cf::Sub, k, v.to_vec());
        }
        self.save(key, &mut c);
        Ok(added)
    }

    /// HSETNX: sets the field only when it is absent.
    pub fn hsetnx(&mut self, key: &[u8], field: &[u8], value: &[u8]) -> Result<bool, Error> {
        if self.hget(key, field)?.is_some() {
            return Ok(false);
        }
        self.hset(key, &[(field, value)])?;
        Ok(true)
    }

    pub fn hget(&self, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match self.hash(key)? {
            None => Ok(None),
            Some(c) => self.get(Cf::Sub, &c.member_key(field)),
        }
    }

    pub fn hmget(&self, key: &[u8], fields: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let Some(c) = self.hash(key)? else {
            return Ok(vec![None; fields.len()]);
        };
        fields
            .iter()
            .map(|f| self.get(Cf::Sub, &c.member_key(f)))
            .collect()
    }

    /// HDEL: returns how many fields were removed.
    pub fn hdel(&mut self, key: &[u8], fields: &[&[u8]]) -> Result<u64, Error> {
        self.remove_members(key, T, fields)
    }

    /// Every field and value, in field byte order.
    pub fn hgetall(&self, key: &[u8]) -> Result<Pairs, Error> {
        match self.hash(key)? {
            None => Ok(Vec::new()),
            Some(c) => self.all_members(&c),
        }
    }

    /// HRANDFIELD: `count` random fields with their values (>= 0
    /// distinct, < 0 with repeats; `crate::sample`).
    pub fn hrandfield(&self, key: &[u8], count: i64, rng: &mut Rng) -> Result<Pairs, Error> {
        match self.hash(key)? {
            None => Ok(Vec::new()),
            Some(c) => self.random_members(&c, count, rng),
        }
    }

    pub fn hlen(&self, key: &[u8]) -> Result<u64, Error> {
        Ok(self.hash(key)?.map(|c| c.size).unwrap_or(0))
    }

    /// HINCRBY: the field must hold an integer; overflow is refused.
    pub fn hincrby(&mut self, key: &[u8], field: &[u8], delta: i64) -> Result<i64, Error> {
        let old = match self.hget(key, field)? {
            None => 0,
            Some(v) => parse_int(&v).ok_or(Error::HashNotInteger)?,
        };
        let new = old.checked_add(delta).ok_or(Error::Overflow)?;
        self.hset(key, &[(field, new.to_string().as_bytes())])?;
        Ok(new)
    }

    /// HINCRBYFLOAT: the result must be finite.
    pub fn hincrbyfloat(&mut self, key: &[u8], field: &[u8], delta: f64) -> Result<f64, Error> {
        let old = match self.hget(key, field)? {
            None => 0.0,
            Some(v) => parse_float(&v).ok_or(Error::HashNotFloat)?,
        };
        let new = old + delta;
        if !new.is_finite() {
            return Err(Error::NanOrInfinity);
        }
        self.hset(key, &[(field, format_float(new).as_bytes())])?;
        Ok(new)
    }

    /// HSCAN: up to `count` fields after `after`, filtered by `keep`; the
    /// returned cursor is the last field visited (`None` = done).
    pub fn hscan(
        &self,
        key: &[u8],
        after: Option<&[u8]>,
        count: usize,
        keep: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Page<Pair>, Error> {
        let Some(c) = self.hash(key)? else {
            return Ok((None, Vec::new()));
        };
        self.scan_members(&c, after, count, keep)
    }

    /// Up to `count` members visited after `after` (the cursor), with values.
    pub fn scan_members(
        &self,
        c: &Coll,
        after: Option<&[u8]>,
        count: usize,
        keep: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Page<Pair>, Error> {
        let (mut lo, hi) = c.member_range();
        if let Some(a) = after {
            lo = c.member_key(a);
            lo.push(0);
        }
        let mut out = Vec::new();
        let mut visited = 0usize;
        let mut last: Option<Vec<u8>> = None;
        let mut more = false;
        self.range(&lo, &hi, false, &mut |k, v| {
            if visited >= count.max(1) {
                more = true;
                return Ok(false);
            }
            visited += 1;
            let m = c.member_of(k);
            if keep(m) {
                out.push((m.to_vec(), v.to_vec()));
            }
            last = Some(m.to_vec());
            Ok(true)
        })?;
        Ok((if more { last } else { None }, out))
    }

    /// Sortkey range scan within one hashkey.
    pub fn hrange(&self, key: &[u8], r: &SortRange) -> Result<Pairs, Error> {
        let Some(c) = self.hash(key)? else {
            return Ok(Vec::new());
        };
        let (base_lo, base_hi) = c.member_range();
        let lo = match &r.start.key {
            Some(s) => c.member_key(s),
            None => base_lo,
        };
        let hi = match &r.stop.key {
            Some(s) => {
                let mut k = c.member_key(s);
                // Include the stop key itself by extending the bound past it.
                k.push(0);
                k
            }
            None => base_hi,
        };
        if lo >= hi {
            return Ok(Vec::new());
        }
        let n = c.prefix.len() + 1;
        let mut out = Vec::new();
        self.range(&lo, &hi, r.reverse, &mut |k, v| {
            let m = &k[n..];
            let excluded = |b: &Bound| !b.inclusive && b.key.as_deref() == Some(m);
            if excluded(&r.start) || excluded(&r.stop) {
                return Ok(true);
            }
            if m.starts_with(&r.prefix) && m.ends_with(&r.suffix) {
                out.push((m.to_vec(), v.to_vec()));
            }
            Ok(r.limit == 0 || out.len() < r.limit)
        })?;
        Ok(out)
    }

    /// Pegasus check-and-set: checks `check_field`, and when the check
    /// passes sets `set_field` to `value`, atomically. Returns whether it
    /// was set and the checked field's value.
    pub fn check_and_set(
        &mut self,
        key: &[u8],
        check_field: &[u8],
        check: &Check,
        set_field: &[u8],
        value: &[u8],
    ) -> Result<(bool, Option<Vec<u8>>), Error> {
        let current = self.hget(key, check_field)?;
        let int = |v: &Option<Vec<u8>>| v.as_deref().and_then(parse_int);
        let int_check = |f: &dyn Fn(i64) -> bool| -> Result<bool, Error> {
            match &current {
                None => Ok(false),
                Some(_) => int(&current).map(f).ok_or(Error::NotInteger),
            }
        };
        let pass = match check {
            Check::Exists => current.is_some(),
            Check::NotExists => current.is_none(),
            Check::ValueEquals(v) => current.as_deref() == Some(v.as_slice()),
            Check::ValuePrefix(p) => current.as_deref().is_some_and(|c| c.starts_with(p)),
            Check::IntEq(n) => int_check(&|x| x == *n)?,
            Check::IntLt(n) => int_check(&|x| x < *n)?,
            Check::IntLe(n) => int_check(&|x| x <= *n)?,
            Check::IntGt(n) => int_check(&|x| x > *n)?,
            Check::IntGe(n) => int_check(&|x| x >= *n)?,
        };
        if pass {
            self.hset(key, &[(set_field, value)])?;
        }
        Ok((pass, current))
    }
}
