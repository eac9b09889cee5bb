//! Stream entry ids as stream commands take them: `ms-seq`, `ms`, `-`,
//! `+`, `(id` and XADD's `ms-*`, with Redis's errors.

use super::bad;
use crate::codes::WireError;

/// A stream entry's id (`ms-seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Id {
    pub ms: u64,
    pub seq: u64,
}

impl Id {
    pub const MAX: Id = Id {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    fn next(self) -> Option<Id> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(Id { ms: ms + 1, seq: 0 }),
            (ms, seq) => Some(Id { ms, seq: seq + 1 }),
        }
    }

    fn prev(self) -> Option<Id> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(Id {
                ms: ms - 1,
                seq: u64::MAX,
            }),
            (ms, seq) => Some(Id { ms, seq: seq - 1 }),
        }
    }
}

/// Redis's error for an id it cannot parse.
pub fn invalid_id() -> WireError {
    bad("Invalid stream ID specified as stream command argument")
}

/// `ms[-seq]` (a missing sequence is `seq`); `-` and `+` when not
/// `strict`. `Ok(None)` for `ms-*` when `star` allows it.
pub(super) fn parse_id(
    w: &[u8],
    seq: u64,
    strict: bool,
    star: bool,
) -> Result<Option<Id>, WireError> {
    if !strict && w == b"-" {
        return Ok(Some(Id::default()));
    }
    if !strict && w == b"+" {
        return Ok(Some(Id::MAX));
    }
    let num = |p: &[u8]| -> Result<u64, WireError> {
        if p.is_empty() || p.len() > 20 || !p.iter().all(u8::is_ascii_digit) {
            return Err(invalid_id());
        }
        std::str::from_utf8(p)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(invalid_id)
    };
    if w.len() > 127 {
        return Err(invalid_id());
    }
    match w.iter().position(|&b| b == b'-') {
        None => Ok(Some(Id { ms: num(w)?, seq })),
        Some(at) if star && &w[at + 1..] == b"*" => {
            num(&w[..at])?;
            Ok(None)
        }
        Some(at) => Ok(Some(Id {
            ms: num(&w[..at])?,
            seq: num(&w[at + 1..])?,
        })),
    }
}

/// A strict id (no `-`, `+` or `*`), a missing sequence 0.
pub fn strict_id(w: &[u8]) -> Result<Id, WireError> {
    parse_id(w, 0, true, false)?.ok_or_else(invalid_id)
}

/// One end of a range: `-`, `+`, an id, or `(id` (exclusive, moved one
/// id inwards); a missing sequence is 0 for a start, the greatest for an
/// end.
pub(super) fn interval(w: &[u8], start: bool) -> Result<Id, WireError> {
    let seq = if start { 0 } else { u64::MAX };
    if let Some(rest) = w.strip_prefix(b"(").filter(|_| w.len() > 1) {
        let id = parse_id(rest, seq, true, false)?.ok_or_else(invalid_id)?;
        let moved = if start { id.next() } else { id.prev() };
        return moved.ok_or_else(|| {
            bad(if start {
                "invalid start ID for the interval"
            } else {
                "invalid end ID for the interval"
            })
        });
    }
    parse_id(w, seq, false, false)?.ok_or_else(invalid_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_parses_them() {
        assert_eq!(
            parse_id(b"5", 7, true, false),
            Ok(Some(Id { ms: 5, seq: 7 }))
        );
        assert_eq!(
            parse_id(b"5-3", 7, true, false),
            Ok(Some(Id { ms: 5, seq: 3 }))
        );
        assert_eq!(parse_id(b"5-*", 0, true, true), Ok(None));
        assert_eq!(parse_id(b"+", 0, false, false), Ok(Some(Id::MAX)));
        for bad in [
            &b""[..],
            b"-",
            b"5-",
            b"-3",
            b"a-1",
            b"+5",
            b"5-3-1",
            b"18446744073709551616",
        ] {
            assert_eq!(strict_id(bad), Err(invalid_id()), "{bad:?}");
        }
        assert_eq!(
            interval(b"(1-18446744073709551615", true),
            Ok(Id { ms: 2, seq: 0 })
        );
    }
}
