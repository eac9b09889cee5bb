//! SORT and SORT_RO's apply (the parse: `proto::args::keys::SortArgs`),
//! in Redis 7.0's order: the elements of a list, set or sorted set, sorted
//! as numbers (C's `strtod`, ties by bytes) or with ALPHA as bytes, by the
//! elements or by the keys a BY pattern forms, cut by LIMIT, answered as
//! themselves or as what GET patterns find, or stored as a list.
//!
//! A pattern's keys are read in this transaction, so they must lie in the
//! sorted key's slot (a `{hash tag}` in the pattern); Redis 7.0 refuses
//! BY and GET patterns in cluster mode altogether.
//!
//! Unsafe code: one call of C's `strtod` (`strtod` below), so a score is
//! parsed exactly as Redis parses it (leading spaces, hex floats, `inf`,
//! ERANGE), which no Rust parser reproduces.
#![allow(unsafe_code)]

use std::cmp::Ordering;

use super::{CmdError, CmdResult, Value};
use crate::codes::{ErrorCode, WireError};
use crate::proto::args::bad;
use crate::proto::args::keys::SortArgs;
use crate::shard::envelope::ValueType;
use crate::shard::tx::Tx;
use crate::shard::zset::{ZRange, ZRangeBy};
use crate::slot::key_slot;

pub fn apply(t: &mut Tx<'_>, s: &SortArgs<'_>) -> CmdResult {
    let vtype = t.meta(s.key)?.map(|m| m.vtype);
    let mut elems: Vec<Vec<u8>> = match vtype {
        None => Vec::new(),
        Some(ValueType::List) => t.lrange(s.key, 0, -1)?,
        Some(ValueType::Set) => t.smembers(s.key)?,
        Some(ValueType::ZSet) => {
            let all = ZRange {
                by: ZRangeBy::Rank(0, -1),
                rev: false,
                limit: None,
            };
            t.zrange(s.key, &all)?.into_iter().map(|(m, _)| m).collect()
        }
        Some(_) => return Err(WireError::of(ErrorCode::WrongType).into()),
    };
    let sorting = s.by.is_none_or(|p| p.contains(&b'*'));
    if sorting {
        sort(t, s.by, s.alpha, s.desc, &mut elems)?;
    } else if vtype == Some(ValueType::Set) && s.store.is_some() {
        // Redis sorts a set it stores unsorted by its members (ALPHA), so
        // the stored list does not depend on the set's internal order.
        sort(t, None, true, s.desc, &mut elems)?;
    } else if s.desc && vtype != Some(ValueType::Set) {
        // BY without a `*`: the stored order, from the end with DESC.
        elems.reverse();
    }
    let (start, end) = limits(s.limit, elems.len() as i64);
    let picked = if start <= end && end >= 0 {
        &elems[start as usize..=end as usize]
    } else {
        &[][..]
    };
    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for e in picked {
        if s.gets.is_empty() {
            out.push(Some(e.clone()));
        }
        for g in &s.gets {
            out.push(lookup(t, g, e)?);
        }
    }
    let Some(dest) = s.store else {
        return Ok(Value::list(out, Value::opt));
    };
    t.writable()?;
    if t.meta(dest)?.is_some() {
        t.remove(dest)?;
    }
    if !out.is_empty() {
        // A GET that found nothing stores an empty string.
        let values: Vec<Vec<u8>> = out.into_iter().map(Option::unwrap_or_default).collect();
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_slice()).collect();
        t.push(dest, false, &refs, false)?;
        return Ok(Value::Int(values.len() as i64));
    }
    Ok(Value::Int(0))
}

/// LIMIT's range of `n` elements, as Redis clamps it (inclusive; empty
/// when `start > end`).
fn limits(limit: Option<(i64, i64)>, n: i64) -> (i64, i64) {
    let (mut start, mut end) = match limit {
        None => (0, n - 1),
        Some((offset, count)) => {
            let start = offset.max(0);
            let end = if count < 0 {
                n - 1
            } else {
                start.saturating_add(count) - 1
            };
            (start, end)
        }
    };
    if start >= n {
        start = n - 1;
        end = n - 2;
    }
    (start, end.min(n - 1))
}

/// Sorts `elems` by themselves or by what BY finds, as numbers or (ALPHA)
/// bytes, descending with DESC.
fn sort(
    t: &Tx<'_>,
    by: Option<&[u8]>,
    alpha: bool,
    desc: bool,
    elems: &mut Vec<Vec<u8>>,
) -> Result<(), CmdError> {
    // (element, the bytes to compare, the score to compare)
    let mut keyed: Vec<(Vec<u8>, Option<Vec<u8>>, f64)> = Vec::with_capacity(elems.len());
    for e in elems.drain(..) {
        let by = match by {
            Some(p) => lookup(t, p, &e)?,
            None => Some(e.clone()),
        };
        // A BY key that is missing scores 0.
        let score = match (&by, alpha) {
            (Some(v), false) => {
                strtod(v).ok_or_else(|| bad("One or more scores can't be converted into double"))?
            }
            _ => 0.0,
        };
        keyed.push((e, by, score));
    }
    keyed.sort_by(|a, b| {
        let o = if alpha {
            // What BY did not find sorts first.
            a.1.cmp(&b.1)
        } else {
            a.2.partial_cmp(&b.2)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        };
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    elems.extend(keyed.into_iter().map(|(e, _, _)| e));
    Ok(())
}

/// C's `strtod` of the bytes up to the first NUL, as Redis converts a
/// SORT score: the whole text must be a number (leading spaces, `inf` and
/// hex floats included), not out of range, not NaN.
fn strtod(v: &[u8]) -> Option<f64> {
    let text = v.split(|&b| b == 0).next().unwrap_or_default();
    let c = std::ffi::CString::new(text).ok()?;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call,
    // and `end` is a valid place for strtod to store its end pointer.
    let (d, rest, erange) = unsafe {
        *libc::__errno_location() = 0;
        let d = libc::strtod(c.as_ptr(), &mut end);
        (d, *end, *libc::__errno_location() == libc::ERANGE)
    };
    (rest == 0 && !erange && !d.is_nan()).then_some(d)
}

/// What a BY or GET pattern finds for element `e` (Redis's
/// `lookupKeyByPattern`): `#` is the element; the first `*` is replaced by
/// it; `->field` after the `*` reads a hash field, otherwise a string is
/// read; nothing when the pattern has no `*` or the key is missing or of
/// another type.
fn lookup(t: &Tx<'_>, pattern: &[u8], e: &[u8]) -> Result<Option<Vec<u8>>, CmdError> {
    if pattern == b"#" {
        return Ok(Some(e.to_vec()));
    }
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let after = &pattern[star + 1..];
    let (rest, field) = match after.windows(2).position(|w| w == b"->") {
        Some(f) if f + 2 < after.len() => (&after[..f], Some(&after[f + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + e.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(e);
    key.extend_from_slice(rest);
    if !t.serves(&key, key_slot(&key)) {
        return Err(bad(format!(
            "SORT's pattern formed the key '{}' outside the sorted key's slot: keys a BY or GET pattern forms must share the sorted key's slot (give the pattern its {{hash tag}})",
            String::from_utf8_lossy(&key[..key.len().min(128)])
        ))
        .into());
    }
    Ok(match (t.meta(&key)?.map(|m| m.vtype), field) {
        (Some(ValueType::Hash), Some(f)) => t.hget(&key, f)?,
        (Some(ValueType::String), None) => t.get_string(&key)?.map(|(_, v)| v),
        _ => None,
    })
}
