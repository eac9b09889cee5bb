//! SET's options, parsed once for every front end: RESP's SET (the fast
//! opcode, or the named command when GET, EXAT or PXAT ask for it), the
//! named SET that MULTI, BATCH and the binary COMMAND frame run, and
//! `tessera cli set`.

use crate::codes::{ErrorCode, WireError};
use crate::command::SetArgs;
use crate::num::int_arg;

/// When a SET's value expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expire {
    /// Milliseconds from now (EX, PX).
    In(u64),
    /// A Unix time in milliseconds (EXAT, PXAT).
    At(u64),
}

/// The words after `SET key value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetOptions {
    pub nx: bool,
    pub xx: bool,
    pub keep_ttl: bool,
    /// Answer the old value (GET).
    pub get: bool,
    pub expire: Option<Expire>,
    /// Tessera's `VER version`: set only if the key's version is this
    /// (check-and-set); accepted only where the caller allows it.
    pub version: Option<u64>,
}

fn syntax() -> WireError {
    WireError::new(ErrorCode::BadArguments, "syntax error")
}

impl SetOptions {
    /// Parses them as Redis 7 does: each option is checked against the
    /// ones before it (a conflict, an unknown word or a missing value is a
    /// syntax error; a repeated EX/PX/EXAT/PXAT takes the last value), then
    /// the expire time (not an integer: NOT_INTEGER; zero, negative or too
    /// large: "invalid expire time in 'set' command").
    pub fn parse(words: &[&[u8]], allow_version: bool) -> Result<SetOptions, WireError> {
        let mut o = SetOptions::default();
        // (milliseconds per unit, absolute, the value's word)
        let mut expire: Option<(u64, bool, &[u8])> = None;
        let mut version: Option<&[u8]> = None;
        let mut i = 0;
        while i < words.len() {
            let w = words[i].to_ascii_lowercase();
            let next = words.get(i + 1).copied();
            let unit = match w.as_slice() {
                b"ex" => Some((1000, false)),
                b"px" => Some((1, false)),
                b"exat" => Some((1000, true)),
                b"pxat" => Some((1, true)),
                _ => None,
            };
            match (w.as_slice(), unit, next) {
                (b"nx", ..) if !o.xx => o.nx = true,
                (b"xx", ..) if !o.nx => o.xx = true,
                (b"get", ..) => o.get = true,
                (b"keepttl", ..) if expire.is_none() => o.keep_ttl = true,
                // Another kind of expiry than one already given conflicts;
                // the same kind again replaces it.
                (_, Some((ms, absolute)), Some(n))
                    if !o.keep_ttl && expire.is_none_or(|(m, a, _)| (m, a) == (ms, absolute)) =>
                {
                    expire = Some((ms, absolute, n));
                    i += 1;
                }
                (b"ver", _, Some(n)) if allow_version && version.is_none() => {
                    version = Some(n);
                    i += 1;
                }
                _ => return Err(syntax()),
            }
            i += 1;
        }
        if let Some((ms, absolute, word)) = expire {
            let n = int_arg(word)?;
            let at = u64::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .and_then(|n| n.checked_mul(ms))
                .filter(|&t| t <= i64::MAX as u64)
                .ok_or_else(|| {
                    WireError::new(
                        ErrorCode::BadArguments,
                        "invalid expire time in 'set' command",
                    )
                })?;
            o.expire = Some(if absolute {
                Expire::At(at)
            } else {
                Expire::In(at)
            });
        }
        if let Some(v) = version {
            let n = int_arg(v)?;
            o.version = Some(u64::try_from(n).map_err(|_| {
                WireError::new(ErrorCode::BadArguments, "VER must not be negative")
            })?);
        }
        Ok(o)
    }

    /// The fast opcode's arguments, when the options need nothing else
    /// (GET, EXAT and PXAT run as the named command).
    pub fn fast(&self) -> Option<SetArgs> {
        let ttl_ms = match self.expire {
            None => None,
            Some(Expire::In(ms)) => Some(ms),
            Some(Expire::At(_)) => return None,
        };
        (!self.get).then_some(SetArgs {
            nx: self.nx,
            xx: self.xx,
            ttl_ms,
            expected_version: self.version,
            keep_ttl: self.keep_ttl,
        })
    }
}

/// The binary SET opcode's arguments as the options they stand for: the
/// opcode is a compact encoding of the same SET.
impl From<&SetArgs> for SetOptions {
    fn from(a: &SetArgs) -> SetOptions {
        SetOptions {
            nx: a.nx,
            xx: a.xx,
            keep_ttl: a.keep_ttl,
            get: false,
            expire: a.ttl_ms.map(Expire::In),
            version: a.expected_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &str) -> Result<SetOptions, WireError> {
        let w: Vec<&[u8]> = words.split_whitespace().map(str::as_bytes).collect();
        SetOptions::parse(&w, false)
    }

    fn message(words: &str) -> String {
        parse(words).unwrap_err().message
    }

    #[test]
    fn options_as_redis_parses_them() {
        let o = parse("nx EX 10 get").unwrap();
        assert!(o.nx && o.get && !o.xx);
        assert_eq!(o.expire, Some(Expire::In(10_000)));
        assert_eq!(o.fast(), None, "GET needs the named command");
        assert_eq!(parse("PXAT 5").unwrap().expire, Some(Expire::At(5)));
        assert_eq!(parse("ex 1 ex 2").unwrap().expire, Some(Expire::In(2000)));
        let fast = parse("XX PX 7 ").unwrap().fast().unwrap();
        assert!(fast.xx && fast.ttl_ms == Some(7) && !fast.keep_ttl);
        assert!(parse("keepttl").unwrap().fast().unwrap().keep_ttl);
        assert_eq!(parse("").unwrap(), SetOptions::default());
    }

    #[test]
    fn errors_as_redis_words_them() {
        for bad in [
            "nx xx",
            "xx nx",
            "ex 1 px 1",
            "keepttl ex 1",
            "ex 1 keepttl",
            "ex",
            "bogus",
            "ver 1",
        ] {
            assert_eq!(message(bad), "syntax error", "{bad}");
        }
        // The syntax is checked before the number.
        assert_eq!(message("ex abc nx xx"), "syntax error");
        assert_eq!(parse("ex abc").unwrap_err().code, ErrorCode::NotInteger);
        for bad in ["ex 0", "px -5", "ex 9223372036854775807"] {
            assert_eq!(
                message(bad),
                "invalid expire time in 'set' command",
                "{bad}"
            );
        }
        let w: Vec<&[u8]> = vec![b"VER", b"3", b"NX"];
        let o = SetOptions::parse(&w, true).unwrap();
        assert_eq!(o.fast().unwrap().expected_version, Some(3));
        // The opcode's arguments stand for the same options.
        assert_eq!(SetOptions::from(&o.fast().unwrap()), o);
    }
}
