//! HyperLogLog's apply: PFADD, PFCOUNT and PFMERGE (the parse:
//! `proto::args::hll`).
//!
//! A HyperLogLog is a string in Redis's own layout, byte for byte, so GET,
//! SET, DUMP and a Redis client's own decoding see what they would see on
//! redis-server, and PFCOUNT gives Redis's estimates for the same input:
//!
//! - a 16-byte header: `HYLL`, the encoding (0 dense, 1 sparse), three zero
//!   bytes, and the cached cardinality (8 bytes, little endian; the top bit
//!   of the last byte set means "not valid");
//! - 16,384 registers of 6 bits: in the dense encoding packed from the
//!   least significant bit (12,288 bytes), in the sparse encoding as runs
//!   (ZERO `00xxxxxx`: 1–64 zero registers; XZERO `01xxxxxx yyyyyyyy`: 1–16,384;
//!   VAL `1vvvvvxx`: 1–4 registers holding 1–32);
//! - an element picks a register with the low 14 bits of its 64-bit
//!   MurmurHash64A (seed `0xadc83b19`) and counts the zeros after them;
//! - a sparse value becomes dense when a register would exceed 32 or the
//!   string would exceed 3,000 bytes (Redis's `hll-sparse-max-bytes`);
//! - the estimate is Ertl's ("New cardinality estimation algorithms for
//!   HyperLogLog sketches", 2017), as in Redis 4 and later.

use super::{CmdError, CmdResult, Value};
use crate::codes::{ErrorCode, WireError};
use crate::proto::args::hll::PfCmd;
use crate::shard::tx::Tx;

const P: u32 = 14;
const Q: usize = 64 - P as usize;
const REGISTERS: usize = 1 << P;
const HDR: usize = 16;
const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// Redis's `hll-sparse-max-bytes` default (header included).
const SPARSE_MAX_BYTES: usize = 3000;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// A register run that does not decode: the value is corrupted.
#[derive(Debug, PartialEq)]
struct Corrupt;

fn corrupt() -> CmdError {
    CmdError::Wire(WireError::new(
        ErrorCode::InvalidObject,
        "Corrupted HLL object detected",
    ))
}

pub fn apply(t: &mut Tx<'_>, c: &PfCmd<'_>) -> CmdResult {
    Ok(match c {
        PfCmd::Add { key, elements } => {
            let (mut v, at, mut updated) = match t.get_string(key)? {
                None => (empty(), 0, true),
                Some((m, v)) => (checked(v)?, m.expire_at_ms, false),
            };
            for e in elements.iter() {
                updated |= add(&mut v, e).map_err(|_| corrupt())?;
            }
            if updated {
                invalidate(&mut v);
                t.writable()?;
                t.put_string(key, &v, at);
            }
            Value::Int(updated as i64)
        }
        PfCmd::Count { keys } if keys.len() == 1 => {
            let Some((m, v)) = t.get_string(keys[0])? else {
                return Ok(Value::Int(0));
            };
            let mut v = checked(v)?;
            if v[15] & 0x80 == 0 {
                return Ok(Value::Int(cached(&v) as i64));
            }
            let card = count(&v).map_err(|_| corrupt())?;
            // Redis keeps the estimate in the header; a replica (which
            // takes no writes) only answers it.
            v[8..16].copy_from_slice(&card.to_le_bytes());
            if t.writable().is_ok() {
                t.put_string(keys[0], &v, m.expire_at_ms);
            }
            Value::Int(card as i64)
        }
        PfCmd::Count { keys } => {
            let mut max = [0u8; REGISTERS];
            for k in keys.iter() {
                if let Some((_, v)) = t.get_string(k)? {
                    merge_into(&mut max, &checked(v)?).map_err(|_| corrupt())?;
                }
            }
            Value::Int(estimate(&histogram_raw(&max)) as i64)
        }
        PfCmd::Merge { dest, sources } => {
            let mut max = [0u8; REGISTERS];
            let mut dense = false;
            let mut target = None;
            for (i, k) in std::iter::once(dest).chain(sources.iter()).enumerate() {
                let Some((m, v)) = t.get_string(k)? else {
                    continue;
                };
                let v = checked(v)?;
                dense |= v[4] == DENSE;
                merge_into(&mut max, &v).map_err(|_| corrupt())?;
                if i == 0 {
                    target = Some((v, m.expire_at_ms));
                }
            }
            let (mut v, at) = target.unwrap_or_else(|| (empty(), 0));
            if dense {
                to_dense(&mut v).map_err(|_| corrupt())?;
            }
            for (j, &r) in max.iter().enumerate() {
                if r != 0 {
                    // The destination was checked while merging, as Redis
                    // relies on; a run that does not decode sets nothing.
                    let _ = set(&mut v, j, r);
                }
            }
            invalidate(&mut v);
            t.writable()?;
            t.put_string(dest, &v, at);
            Value::ok()
        }
    })
}

/// A new HyperLogLog: sparse, every register zero (one XZERO run), its
/// cached cardinality 0 and valid.
fn empty() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.extend_from_slice(&[SPARSE, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&xzero(XZERO_MAX_LEN));
    v
}

/// The string if it has a HyperLogLog's header and, dense, its size
/// (Redis's `isHLLObjectOrReply`).
fn checked(v: Vec<u8>) -> Result<Vec<u8>, CmdError> {
    let ok = v.len() >= HDR
        && v.starts_with(b"HYLL")
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE);
    if ok {
        Ok(v)
    } else {
        Err(CmdError::Wire(WireError::new(
            ErrorCode::WrongType,
            "Key is not a valid HyperLogLog string value.",
        )))
    }
}

fn invalidate(v: &mut [u8]) {
    v[15] |= 0x80;
}

fn cached(v: &[u8]) -> u64 {
    u64::from_le_bytes(v[8..16].try_into().expect("8 bytes"))
}

/// Adds one element; whether a register grew.
fn add(v: &mut Vec<u8>, element: &[u8]) -> Result<bool, Corrupt> {
    let (index, rank) = pattern(element);
    set(v, index, rank)
}

/// The register an element picks and the length of its run of zeros
/// plus one (Redis's `hllPatLen`).
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// MurmurHash64A as Redis has it (little-endian words).
fn murmur64a(data: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = u64::from(seed) ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut k = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// Raises register `index` to `rank` if it is lower, in either encoding.
fn set(v: &mut Vec<u8>, index: usize, rank: u8) -> Result<bool, Corrupt> {
    if v[4] == DENSE {
        Ok(dense_set(&mut v[HDR..], index, rank))
    } else {
        sparse_set(v, index, rank)
    }
}

fn dense_get(r: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u32::from(r[byte]);
    let b1 = u32::from(r.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(r: &mut [u8], i: usize, rank: u8) -> bool {
    if rank <= dense_get(r, i) {
        return false;
    }
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u32::from(rank);
    r[byte] &= !((63u32 << fb) as u8);
    r[byte] |= (v << fb) as u8;
    if let Some(b) = r.get_mut(byte + 1) {
        *b &= !((63u32 >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
    true
}

/// One sparse run: how many registers it covers, its value (0 for the
/// zero runs) and its length in bytes.
fn run_at(v: &[u8], p: usize) -> (usize, u8, usize) {
    let b = v[p];
    if b & 0x80 != 0 {
        ((b & 3) as usize + 1, ((b >> 2) & 0x1f) + 1, 1)
    } else if b & 0x40 != 0 {
        // A run cut off at the end reads a zero, as Redis reads the
        // string's terminator.
        let lo = v.get(p + 1).copied().unwrap_or(0) as usize;
        ((((b & 0x3f) as usize) << 8 | lo) + 1, 0, 2)
    } else {
        ((b & 0x3f) as usize + 1, 0, 1)
    }
}

fn val(value: u8, len: usize) -> u8 {
    0x80 | (value - 1) << 2 | (len as u8 - 1)
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [0x40 | (l >> 8) as u8, l as u8]
}

/// A run of `len` zero registers, ZERO or XZERO as Redis picks.
fn zeros(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero(len));
    } else {
        seq.push(len as u8 - 1);
    }
}

/// Redis's `hllSparseSet`: the run holding `index` is split around it (or
/// updated in place), neighbouring equal values merge, and the string
/// turns dense when a value or the size does not fit.
fn sparse_set(v: &mut Vec<u8>, index: usize, rank: u8) -> Result<bool, Corrupt> {
    if rank > VAL_MAX_VALUE {
        return promote(v, index, rank);
    }
    let (mut p, mut first, mut prev) = (HDR, 0, None);
    let (span, value, oplen) = loop {
        if p >= v.len() {
            return Err(Corrupt);
        }
        let run = run_at(v, p);
        if index < first + run.0 {
            break run;
        }
        prev = Some(p);
        p += run.2;
        first += run.0;
    };
    let is_val = v[p] & 0x80 != 0;
    if is_val && value >= rank {
        return Ok(false);
    }
    if span == 1 && (is_val || oplen == 1) {
        // A run of one register (a VAL, or a ZERO): rewritten in place.
        v[p] = val(rank, 1);
    } else {
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_val {
            if index != first {
                seq.push(val(value, index - first));
            }
            seq.push(val(rank, 1));
            if index != last {
                seq.push(val(value, last - index));
            }
        } else {
            if index != first {
                zeros(&mut seq, index - first);
            }
            seq.push(val(rank, 1));
            if index != last {
                zeros(&mut seq, last - index);
            }
        }
        if seq.len() > oplen && v.len() + seq.len() - oplen > SPARSE_MAX_BYTES {
            return promote(v, index, rank);
        }
        v.splice(p..p + oplen, seq);
    }
    // Merge neighbouring VAL runs of one value, scanning at most five
    // runs from the one before the change.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < v.len() && scan > 0 {
        scan -= 1;
        let b = v[p];
        if b & 0x80 == 0 {
            p += if b & 0x40 != 0 { 2 } else { 1 };
            continue;
        }
        if let Some(&next) = v.get(p + 1) {
            if next & 0x80 != 0 {
                let (l1, v1, _) = run_at(v, p);
                let (l2, v2, _) = run_at(v, p + 1);
                if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                    v[p + 1] = val(v1, l1 + l2);
                    v.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate(v);
    Ok(true)
}

fn promote(v: &mut Vec<u8>, index: usize, rank: u8) -> Result<bool, Corrupt> {
    to_dense(v)?;
    Ok(dense_set(&mut v[HDR..], index, rank))
}

/// Redis's `hllSparseToDense`: the header (cached cardinality included)
/// is kept; a dense value is left as it is.
fn to_dense(v: &mut Vec<u8>) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&v[..HDR]);
    dense[4] = DENSE;
    let regs = &mut dense[HDR..];
    let mut idx = 0;
    for_runs(v, |len, value| {
        if value == 0 {
            idx += len;
            return true;
        }
        if idx + len > REGISTERS {
            return false;
        }
        for _ in 0..len {
            dense_set(regs, idx, value);
            idx += 1;
        }
        true
    });
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *v = dense;
    Ok(())
}

/// Calls `f(len, value)` for each sparse run until it answers false.
fn for_runs(v: &[u8], mut f: impl FnMut(usize, u8) -> bool) {
    let mut p = HDR;
    while p < v.len() {
        let (len, value, oplen) = run_at(v, p);
        if !f(len, value) {
            return;
        }
        p += oplen;
    }
}

/// Raises `max` to the registers of `v` (Redis's `hllMerge`).
fn merge_into(max: &mut [u8; REGISTERS], v: &[u8]) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&v[HDR..], i));
        }
        return Ok(());
    }
    let mut i = 0;
    for_runs(v, |len, value| {
        if value != 0 {
            if i + len > REGISTERS {
                return false;
            }
            for m in &mut max[i..i + len] {
                *m = (*m).max(value);
            }
        }
        i += len;
        true
    });
    if i == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// The estimate of a HyperLogLog in either encoding.
fn count(v: &[u8]) -> Result<u64, Corrupt> {
    let mut h = [0u32; 64];
    if v[4] == DENSE {
        for i in 0..REGISTERS {
            h[dense_get(&v[HDR..], i) as usize] += 1;
        }
    } else {
        let mut idx = 0;
        for_runs(v, |len, value| {
            idx += len;
            h[value as usize] += len as u32;
            true
        });
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&h))
}

fn histogram_raw(regs: &[u8; REGISTERS]) -> [u32; 64] {
    let mut h = [0u32; 64];
    for &r in regs {
        h[r as usize] += 1;
    }
    h
}

/// Ertl's estimate from the registers' histogram, in Redis's order of
/// floating-point operations (so the answers are Redis's to the unit).
fn estimate(h: &[u32; 64]) -> u64 {
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(h[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(h[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(h[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_value_is_redis_empty_sparse_string() {
        let v = empty();
        assert_eq!(&v[..5], b"HYLL\x01");
        assert_eq!(&v[HDR..], &[0x7f, 0xff]);
        assert_eq!(count(&v), Ok(0));
    }

    #[test]
    fn sparse_and_dense_agree_register_for_register() {
        let mut sparse = empty();
        let mut dense = empty();
        to_dense(&mut dense).unwrap();
        assert_eq!(dense.len(), DENSE_SIZE);
        for i in 0..400u32 {
            let e = i.to_string();
            assert_eq!(
                add(&mut sparse, e.as_bytes()),
                add(&mut dense, e.as_bytes())
            );
        }
        assert_eq!(sparse[4], SPARSE, "400 elements stay sparse");
        let (mut a, mut b) = ([0; REGISTERS], [0; REGISTERS]);
        merge_into(&mut a, &sparse).unwrap();
        merge_into(&mut b, &dense).unwrap();
        assert!(a == b);
        assert_eq!(count(&sparse), count(&dense));
        let n = count(&sparse).unwrap();
        assert!((390..=410).contains(&n), "estimate {n} for 400");
        to_dense(&mut sparse).unwrap();
        assert_eq!(&sparse[HDR..], &dense[HDR..]);
    }

    #[test]
    fn a_growing_sparse_value_turns_dense_past_its_size_limit() {
        let mut v = empty();
        let mut i = 0u32;
        while v[4] == SPARSE {
            assert!(v.len() <= SPARSE_MAX_BYTES);
            add(&mut v, &i.to_le_bytes()).unwrap();
            i += 1;
        }
        assert_eq!(v.len(), DENSE_SIZE);
        assert!(i > 1000, "turned dense after {i} elements");
    }

    #[test]
    fn truncated_and_overlong_runs_are_corrupt() {
        let mut v = empty();
        v.truncate(HDR + 1);
        assert_eq!(count(&v), Err(Corrupt));
        let mut w = empty();
        w.push(val(3, 4));
        assert_eq!(count(&w), Err(Corrupt));
        // Redis's merge stops before a run past the last register and
        // accepts what it read: so does this one.
        assert_eq!(merge_into(&mut [0; REGISTERS], &w), Ok(()));
        let mut short = empty();
        short.truncate(HDR);
        short.push(0x3f);
        assert_eq!(merge_into(&mut [0; REGISTERS], &short), Err(Corrupt));
        let mut x = empty();
        x.truncate(HDR);
        assert_eq!(add(&mut x, b"a"), Err(Corrupt));
    }

    #[test]
    fn murmur_matches_the_reference_vectors() {
        // MurmurHash64A of the empty string with seed 0 is 0, and the
        // tail bytes are mixed in little-endian order.
        assert_eq!(murmur64a(b"", 0), 0);
        assert_ne!(murmur64a(b"ab", 7), murmur64a(b"ba", 7));
        assert_ne!(murmur64a(b"12345678", 1), murmur64a(b"12345679", 1));
    }
}
