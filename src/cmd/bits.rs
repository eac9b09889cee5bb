//! Bitmaps' apply: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO over string values (the parse: `proto::args::bits`).
//!
//! A bitmap is a string with Redis's bit order: bit 0 is the most
//! significant bit of byte 0. A write rewrites the whole value, as
//! SETRANGE does (docs/redis-compat.md).

use super::keys::{del_key, string_and_expiry};
use super::{CmdResult, Value};
use crate::proto::args::bits::{BitCmd, BitOp, BitRange, Field, FieldOp, FieldType, Overflow};
use crate::shard::tx::Tx;

pub fn apply(t: &mut Tx<'_>, c: &BitCmd<'_>) -> CmdResult {
    Ok(match c {
        BitCmd::SetBit { key, offset, on } => {
            let (mut v, at) = string_and_expiry(t, key)?;
            let byte = (offset >> 3) as usize;
            if v.len() <= byte {
                v.resize(byte + 1, 0);
            }
            let mask = 0x80u8 >> (offset & 7);
            let old = v[byte] & mask != 0;
            if *on {
                v[byte] |= mask;
            } else {
                v[byte] &= !mask;
            }
            t.writable()?;
            t.put_string(key, &v, at);
            Value::Int(old as i64)
        }
        BitCmd::GetBit { key, offset } => {
            Value::Int(t.read_string(key, |v| v.is_some_and(|(_, s)| bit_at(s, *offset)))? as i64)
        }
        BitCmd::BitCount { key, range } => {
            let n = t.read_string(key, |v| match v {
                None => Ok(0),
                Some((_, s)) => range.clone().map(|r| count(s, r)),
            })??;
            Value::Int(n as i64)
        }
        BitCmd::BitPos { key, bit, range } => Value::Int(t.read_string(key, |v| match v {
            // A missing key is an endless run of zeros.
            None => Ok(if *bit { -1 } else { 0 }),
            Some((_, s)) => range.clone().map(|r| position(s, *bit, r)),
        })??),
        BitCmd::BitOp { op, dest, sources } => {
            let mut values = Vec::with_capacity(sources.len());
            for s in sources.iter() {
                values.push(t.get_string(s)?.map(|(_, v)| v).unwrap_or_default());
            }
            let out = combine(*op, &values);
            t.writable()?;
            if out.is_empty() {
                del_key(t, dest)?;
            } else {
                t.put_string(dest, &out, 0);
            }
            Value::Int(out.len() as i64)
        }
        BitCmd::BitField { key, fields, .. } => {
            if fields.iter().all(|f| f.op == FieldOp::Get) {
                return Ok(t.read_string(key, |v| {
                    let s = v.map_or(&[][..], |(_, s)| s);
                    Value::list(fields, |f| Value::Int(get_field(s, f.offset, f.ty)))
                })?);
            }
            let (mut v, at) = string_and_expiry(t, key)?;
            // Redis first grows the string to the farthest bit a write
            // reaches, even when an OVERFLOW FAIL then writes nothing.
            let farthest = fields
                .iter()
                .filter(|f| f.op != FieldOp::Get)
                .map(|f| f.offset + u64::from(f.ty.bits) - 1)
                .max()
                .unwrap_or(0);
            let len = (farthest >> 3) as usize + 1;
            if v.len() < len {
                v.resize(len, 0);
            }
            let replies: Vec<Value> = fields.iter().map(|f| run_field(&mut v, f)).collect();
            t.writable()?;
            t.put_string(key, &v, at);
            Value::Array(replies)
        }
    })
}

fn bit_at(s: &[u8], offset: u64) -> bool {
    s.get((offset >> 3) as usize)
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// A BITCOUNT or BITPOS range as inclusive bit positions inside `len`
/// bytes, converted and clamped as Redis does; `None` when empty.
fn bit_span(len: usize, r: BitRange) -> Option<(u64, u64)> {
    let total = if r.bits { len as i64 * 8 } else { len as i64 };
    let (mut start, mut end) = (r.start, r.end.unwrap_or(total - 1));
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    let start = start.max(0);
    let end = end.max(0).min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if r.bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

/// BITCOUNT: the set bits of `s` in the range (the whole string without one).
fn count(s: &[u8], r: Option<BitRange>) -> u64 {
    let span = match r {
        // Redis answers 0 for a range of two negative indexes that run
        // backwards before it converts them.
        Some(r) if r.start < 0 && r.end.is_some_and(|e| e < 0 && r.start > e) => None,
        Some(r) => bit_span(s.len(), r),
        None => bit_span(s.len(), whole()),
    };
    let Some((lo, hi)) = span else { return 0 };
    let (first, last) = ((lo >> 3) as usize, (hi >> 3) as usize);
    let mut n: u64 = s[first..=last]
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    // Take off the bits of the edge bytes outside the range.
    n -= u64::from((s[first] & !(0xffu8 >> (lo & 7))).count_ones());
    n -= u64::from((s[last] & (0x7fu8 >> (hi & 7))).count_ones());
    n
}

fn whole() -> BitRange {
    BitRange {
        start: 0,
        end: None,
        bits: false,
    }
}

/// BITPOS: the first bit equal to `bit` in the range, or -1. Looking for a
/// clear bit without an explicit end, the string counts as padded with
/// zeros, so the answer is then the bit just after the range.
fn position(s: &[u8], bit: bool, r: Option<BitRange>) -> i64 {
    let end_given = r.is_some_and(|r| r.end.is_some());
    let Some((lo, hi)) = bit_span(s.len(), r.unwrap_or_else(whole)) else {
        return -1;
    };
    let mut i = lo;
    while i <= hi {
        let byte = s[(i >> 3) as usize];
        // Whole bytes that cannot hold the bit are skipped at once.
        if i & 7 == 0 && i + 7 <= hi && byte == if bit { 0 } else { 0xff } {
            i += 8;
            continue;
        }
        if bit_at(s, i) == bit {
            return i as i64;
        }
        i += 1;
    }
    if !bit && !end_given {
        hi as i64 + 1
    } else {
        -1
    }
}

/// BITOP over the source strings (missing keys are empty): as long as the
/// longest, shorter ones padded with zeros.
fn combine(op: BitOp, values: &[Vec<u8>]) -> Vec<u8> {
    let len = values.iter().map(Vec::len).max().unwrap_or(0);
    let byte = |v: &Vec<u8>, j: usize| v.get(j).copied().unwrap_or(0);
    (0..len)
        .map(|j| {
            let mut out = byte(&values[0], j);
            if op == BitOp::Not {
                return !out;
            }
            for v in &values[1..] {
                match op {
                    BitOp::And => out &= byte(v, j),
                    BitOp::Or => out |= byte(v, j),
                    _ => out ^= byte(v, j),
                }
            }
            out
        })
        .collect()
}

/// The field of type `ty` at bit `offset` (bits past the end read 0).
fn get_field(s: &[u8], offset: u64, ty: FieldType) -> i64 {
    let first = (offset >> 3) as usize;
    // The field lies in the 9 bytes from its first one: 72 bits.
    let mut window: u128 = 0;
    for i in 0..9 {
        window = window << 8 | u128::from(s.get(first + i).copied().unwrap_or(0));
    }
    let bits = ty.bits;
    let v = (window >> (72 - (offset & 7) as u32 - bits)) & ((1u128 << bits) - 1);
    if ty.signed && v >> (bits - 1) == 1 {
        (v as i128 - (1i128 << bits)) as i64
    } else {
        v as i64
    }
}

/// Writes the low `bits` of `v` at bit `offset`; `s` is long enough.
fn set_field(s: &mut [u8], offset: u64, bits: u32, v: i64) {
    for i in 0..u64::from(bits) {
        let on = (v >> (u64::from(bits) - 1 - i)) & 1 == 1;
        let at = offset + i;
        let mask = 0x80u8 >> (at & 7);
        let byte = &mut s[(at >> 3) as usize];
        if on {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// `target` fitted into `ty` by the overflow rule; `None` for FAIL.
fn fit(target: i128, ty: FieldType, overflow: Overflow) -> Option<i64> {
    let span = 1i128 << ty.bits;
    let (min, max) = if ty.signed {
        (-(span / 2), span / 2 - 1)
    } else {
        (0, span - 1)
    };
    if (min..=max).contains(&target) {
        return Some(target as i64);
    }
    match overflow {
        Overflow::Fail => None,
        Overflow::Sat => Some(if target > max { max } else { min } as i64),
        Overflow::Wrap => {
            let m = target.rem_euclid(span);
            Some(if m > max { m - span } else { m } as i64)
        }
    }
}

/// One BITFIELD operation on the grown string: GET answers the field, SET
/// the old value, INCRBY the new one; nil when OVERFLOW FAIL refused it.
fn run_field(s: &mut [u8], f: &Field) -> Value {
    let old = get_field(s, f.offset, f.ty);
    let (target, answer_old) = match f.op {
        FieldOp::Get => return Value::Int(old),
        // Redis reads a value for an unsigned field as unsigned: -1 is
        // 2^64 - 1, which saturates at the field's maximum.
        FieldOp::Set(x) if !f.ty.signed => (i128::from(x as u64), true),
        FieldOp::Set(x) => (i128::from(x), true),
        FieldOp::IncrBy(x) => (i128::from(old) + i128::from(x), false),
    };
    match fit(target, f.ty, f.overflow) {
        None => Value::Nil,
        Some(new) => {
            set_field(s, f.offset, f.ty.bits, new);
            Value::Int(if answer_old { old } else { new })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: i64, end: Option<i64>, bits: bool) -> Option<BitRange> {
        Some(BitRange { start, end, bits })
    }

    #[test]
    fn counts_and_positions_follow_redis() {
        // The examples of Redis's documentation.
        let s = b"foobar";
        assert_eq!(count(s, None), 26);
        assert_eq!(count(s, range(0, Some(0), false)), 4);
        assert_eq!(count(s, range(1, Some(1), false)), 6);
        assert_eq!(count(s, range(1, Some(1), true)), 1);
        assert_eq!(count(s, range(5, Some(30), true)), 17);
        assert_eq!(count(s, range(-1, Some(-2), false)), 0);
        assert_eq!(count(s, range(-9, Some(-10), false)), 0);
        let s = b"\xff\xf0\x00";
        assert_eq!(position(s, false, None), 12);
        let s = b"\x00\xff\xf0";
        assert_eq!(position(s, true, range(0, None, false)), 8);
        assert_eq!(position(s, true, range(2, None, false)), 16);
        assert_eq!(position(s, true, range(2, Some(-1), true)), 8);
        assert_eq!(position(s, true, range(7, Some(15), true)), 8);
        assert_eq!(position(b"\x00\x00\x00", true, None), -1);
        // All ones: a clear bit is found just past the end, unless the
        // end was given.
        assert_eq!(position(b"\xff\xff", false, None), 16);
        assert_eq!(position(b"\xff\xff", false, range(1, None, false)), 16);
        assert_eq!(position(b"\xff\xff", false, range(0, Some(-1), false)), -1);
        assert_eq!(position(b"", false, None), -1);
    }

    #[test]
    fn bitop_pads_shorter_strings() {
        let v = vec![b"\xf0\x0f".to_vec(), b"\xff".to_vec()];
        assert_eq!(combine(BitOp::And, &v), b"\xf0\x00");
        assert_eq!(combine(BitOp::Or, &v), b"\xff\x0f");
        assert_eq!(combine(BitOp::Xor, &v), b"\x0f\x0f");
        assert_eq!(combine(BitOp::Not, &v[..1]), b"\x0f\xf0");
        assert!(combine(BitOp::Or, &[Vec::new()]).is_empty());
    }

    #[test]
    fn fields_wrap_saturate_and_fail() {
        let u8t = FieldType {
            signed: false,
            bits: 8,
        };
        let i8t = FieldType {
            signed: true,
            bits: 8,
        };
        assert_eq!(fit(300, u8t, Overflow::Wrap), Some(44));
        assert_eq!(fit(300, u8t, Overflow::Sat), Some(255));
        assert_eq!(fit(-1, u8t, Overflow::Sat), Some(0));
        assert_eq!(fit(300, u8t, Overflow::Fail), None);
        assert_eq!(fit(-129, i8t, Overflow::Wrap), Some(127));
        assert_eq!(fit(327, i8t, Overflow::Wrap), Some(71));
        assert_eq!(fit(-1000, i8t, Overflow::Sat), Some(-128));
        let i64t = FieldType {
            signed: true,
            bits: 64,
        };
        assert_eq!(
            fit(i128::from(i64::MAX) + 1, i64t, Overflow::Wrap),
            Some(i64::MIN)
        );
        let mut s = vec![0u8; 3];
        set_field(&mut s, 5, 8, 0xab);
        assert_eq!(get_field(&s, 5, u8t), 0xab);
        assert_eq!(get_field(&s, 5, i8t), 0xab - 256);
        assert_eq!(s, [0b0000_0101, 0b0101_1000, 0]);
        let u63 = FieldType {
            signed: false,
            bits: 63,
        };
        let mut s = vec![0u8; 9];
        set_field(&mut s, 7, 63, i64::MAX);
        assert_eq!(get_field(&s, 7, u63), i64::MAX);
        assert_eq!(get_field(&s, 70, u63), 0);
    }
}
