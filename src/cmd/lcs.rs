//! LCS: the longest common subsequence of two strings, by Redis 7.0's
//! dynamic programme, with its replies (the string, LEN, or IDX's matching
//! ranges, longest-index first).

use super::{CmdError, CmdResult, Value};
use crate::proto::args::bad;
use crate::proto::args::keys::LcsOpts;

/// The largest table LCS builds: (len(a) + 1) × (len(b) + 1) cells of 4
/// bytes. It runs on the core that owns the keys, in one go, so both its
/// memory and its time are bounded here: 256 MiB is about 8,000 × 8,000
/// bytes.
pub const MAX_TABLE_BYTES: u64 = 256 << 20;

pub fn lcs(a: &[u8], b: &[u8], o: &LcsOpts) -> CmdResult {
    let (al, bl) = (a.len(), b.len());
    let cells = (al as u64 + 1) * (bl as u64 + 1);
    if cells.saturating_mul(4) > MAX_TABLE_BYTES {
        return Err(CmdError::Wire(bad(format!(
            "LCS of strings of {al} and {bl} bytes needs a table above {} MiB; Tessera refuses it",
            MAX_TABLE_BYTES >> 20
        ))));
    }
    let w = bl + 1;
    let mut dp = vec![0u32; cells as usize];
    for i in 1..=al {
        for j in 1..=bl {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[al * w + bl];
    if o.len && !o.idx {
        return Ok(Value::Int(i64::from(total)));
    }
    // Walk back from the end, as Redis does, collecting the string and the
    // runs of consecutive matches.
    let mut out = vec![0u8; total as usize];
    let mut k = total as usize;
    let mut ranges = Vec::new();
    // The current run: (a_start, a_end, b_start, b_end).
    let mut run: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (al, bl);
    let mut emit = |run: &mut Option<(usize, usize, usize, usize)>| {
        if let Some((a0, a1, b0, b1)) = run.take() {
            let len = (a1 - a0 + 1) as u64;
            if o.min_match_len == 0 || len >= o.min_match_len {
                ranges.push((a0, a1, b0, b1, len));
            }
        }
    };
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            out[k - 1] = a[i - 1];
            k -= 1;
            run = match run {
                Some((a0, a1, b0, b1)) if a0 == i && b0 == j => Some((a0 - 1, a1, b0 - 1, b1)),
                _ => {
                    emit(&mut run);
                    Some((i - 1, i - 1, j - 1, j - 1))
                }
            };
            i -= 1;
            j -= 1;
            if i == 0 || j == 0 {
                emit(&mut run);
            }
        } else {
            if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit(&mut run);
        }
    }
    if !o.idx {
        return Ok(Value::Bytes(out));
    }
    let pair = |x: usize, y: usize| Value::Array(vec![Value::Int(x as i64), Value::Int(y as i64)]);
    let matches = ranges
        .into_iter()
        .map(|(a0, a1, b0, b1, len)| {
            let mut m = vec![pair(a0, a1), pair(b0, b1)];
            if o.with_match_len {
                m.push(Value::Int(len as i64));
            }
            Value::Array(m)
        })
        .collect();
    Ok(Value::Map(vec![
        (Value::bytes(&b"matches"[..]), Value::Array(matches)),
        (Value::bytes(&b"len"[..]), Value::Int(i64::from(total))),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &[u8], b: &[u8], o: LcsOpts) -> Value {
        lcs(a, b, &o).unwrap_or_else(|_| panic!("lcs"))
    }

    #[test]
    fn redis_documentation_examples() {
        let (a, b) = (&b"ohmytext"[..], &b"mynewtext"[..]);
        assert_eq!(run(a, b, LcsOpts::default()), Value::bytes(&b"mytext"[..]));
        let len = LcsOpts {
            len: true,
            ..Default::default()
        };
        assert_eq!(run(a, b, len), Value::Int(6));
        let idx = LcsOpts {
            idx: true,
            min_match_len: 4,
            with_match_len: true,
            ..Default::default()
        };
        let Value::Map(m) = run(a, b, idx) else {
            panic!("IDX answers a map")
        };
        let i = |n| Value::Int(n);
        let want = Value::Array(vec![Value::Array(vec![
            Value::Array(vec![i(4), i(7)]),
            Value::Array(vec![i(5), i(8)]),
            i(4),
        ])]);
        assert_eq!(m[0].1, want);
        assert_eq!(m[1].1, i(6));
        assert_eq!(
            run(b"", b"abc", LcsOpts::default()),
            Value::bytes(Vec::new())
        );
    }

    #[test]
    fn a_table_above_the_cap_is_refused() {
        let big = vec![b'x'; 20_000];
        assert!(lcs(&big, &big, &LcsOpts::default()).is_err());
    }
}
