//! Keys of the `sub` column family: one per collection member, plus the
//! sorted-set score index (docs/storage.md).
//!
//! ```text
//! slot u16 BE | key length u32 BE | key | generation u64 BE | tag u8 | rest
//! tag 'm' (0x6D): rest = member (hash field, set member, zset member,
//!                 list index as u64 BE); sets of envelope format 2:
//!                 xxh3-64 of the member, u64 BE | member
//! tag 's' (0x73): rest = order-preserving score (8 bytes) | member
//! ```
//!
//! The key length keeps `a`+`bc` apart from `ab`+`c`; the generation ties a
//! subkey to one life of its key, so DEL and EXPIRE only touch the metadata
//! record and the compaction filter removes the rest later.

/// Tag of member subkeys.
pub const MEMBER: u8 = b'm';
/// Tag of sorted-set score-index subkeys.
pub const SCORE: u8 = b's';

/// Bytes of the prefix of a key of `key_len` bytes: slot, key length,
/// key, generation. The tag follows it.
const fn prefix_len(key_len: usize) -> usize {
    2 + 4 + key_len + 8
}

/// The common prefix of every subkey of one life (`generation`) of `key`.
pub fn prefix(slot: u16, key: &[u8], generation: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(prefix_len(key.len()) + 1 + 16);
    p.extend_from_slice(&slot.to_be_bytes());
    p.extend_from_slice(&(key.len() as u32).to_be_bytes());
    p.extend_from_slice(key);
    p.extend_from_slice(&generation.to_be_bytes());
    p
}

/// `prefix | tag`: where the subkeys with `tag` start.
pub fn tagged(prefix: &[u8], tag: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 1 + 16);
    k.extend_from_slice(prefix);
    k.push(tag);
    k
}

/// The member subkey of `member`.
pub fn member(prefix: &[u8], member: &[u8]) -> Vec<u8> {
    let mut k = tagged(prefix, MEMBER);
    k.extend_from_slice(member);
    k
}

/// The member subkey of `member` in a set of envelope format 2: the
/// member's xxh3-64 first, so members spread evenly over the key space.
pub fn hashed_member(prefix: &[u8], member: &[u8]) -> Vec<u8> {
    let mut k = tagged(prefix, MEMBER);
    k.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(member).to_be_bytes());
    k.extend_from_slice(member);
    k
}

/// The score-index subkey of `(score, member)`.
pub fn score(prefix: &[u8], score: f64, member: &[u8]) -> Vec<u8> {
    let mut k = tagged(prefix, SCORE);
    k.extend_from_slice(&score_bytes(score));
    k.extend_from_slice(member);
    k
}

/// Whether `raw` is a score-index subkey: those are only ever read by
/// range reads, so the read cache does not keep them.
pub fn is_score_entry(raw: &[u8]) -> bool {
    parse(raw).is_some_and(|(_, key, _)| raw.get(prefix_len(key.len())) == Some(&SCORE))
}

/// The smallest key greater than every key starting with `p`, or `None`
/// when `p` is all 0xFF.
pub fn successor(p: &[u8]) -> Option<Vec<u8>> {
    let mut s = p.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xFF {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

/// The end bound of keys starting with `p` (a prefix always starts with a
/// slot below 0xFF00, so a successor exists).
pub fn end_of(p: &[u8]) -> Vec<u8> {
    successor(p).unwrap_or_else(|| vec![0xFF; p.len() + 1])
}

/// Order-preserving bytes of a score: byte order equals numeric order, with
/// -inf first and +inf last. -0.0 is stored as 0.0.
pub fn score_bytes(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// The score of `score_bytes`.
pub fn score_from_bytes(b: &[u8]) -> Option<f64> {
    let a: [u8; 8] = b.get(..8)?.try_into().ok()?;
    let ordered = u64::from_be_bytes(a);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    Some(f64::from_bits(bits))
}

/// Splits a subkey into `(slot, key, generation)`; `None` if malformed.
pub fn parse(raw: &[u8]) -> Option<(u16, &[u8], u64)> {
    let slot = u16::from_be_bytes(raw.get(..2)?.try_into().ok()?);
    let len = u32::from_be_bytes(raw.get(2..6)?.try_into().ok()?) as usize;
    let key = raw.get(6..6 + len)?;
    let generation = u64::from_be_bytes(raw.get(6 + len..prefix_len(len))?.try_into().ok()?);
    Some((slot, key, generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_entries_are_told_from_members() {
        let p = prefix(7, b"zs", 42);
        assert!(is_score_entry(&score(&p, 1.5, b"m")));
        assert!(!is_score_entry(&member(&p, b"m")));
        assert!(!is_score_entry(&member(&p, b"")));
        // A member named like a score entry is still a member.
        assert!(!is_score_entry(&member(&p, b"s")));
        assert!(!is_score_entry(b"\x00"));
    }

    #[test]
    fn scores_sort_numerically() {
        let scores = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -f64::MIN_POSITIVE,
            0.0,
            f64::MIN_POSITIVE,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for w in scores.windows(2) {
            assert!(score_bytes(w[0]) < score_bytes(w[1]), "{} < {}", w[0], w[1]);
        }
        for s in scores {
            assert_eq!(score_from_bytes(&score_bytes(s)), Some(s));
        }
        assert_eq!(score_bytes(-0.0), score_bytes(0.0));
    }

    #[test]
    fn keys_do_not_collide_and_parse_back() {
        let a = member(&prefix(7, b"a", 1), b"bc");
        let b = member(&prefix(7, b"ab", 1), b"c");
        assert_ne!(a, b);
        assert_eq!(parse(&a), Some((7, &b"a"[..], 1)));
        assert_eq!(parse(&b), Some((7, &b"ab"[..], 1)));
        assert_eq!(parse(b"\x00"), None);
        assert_eq!(successor(b"ab\xff"), Some(b"ac".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
    }
}
