//! A named command's typed answer ([`Value`]) and its binary encoding
//! (docs/protocol.md, "Values"), and Redis's glob matching, which the
//! server's SCAN family, `COMMAND LIST FILTERBY PATTERN` and pub/sub share.

use crate::codec::{put_bytes, put_u16, put_u32, put_u64, Reader};
use crate::codes::{ErrorCode, WireError};
use crate::Error as ProtoError;

/// A command's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Int(i64),
    Bytes(Vec<u8>),
    Double(f64),
    Array(Vec<Value>),
    /// Field → value pairs (HGETALL).
    Map(Vec<(Value, Value)>),
    /// A short status word (`OK`, a type name).
    Status(String),
    /// Members with their scores or values (WITHSCORES, WITHVALUES): a
    /// flat array in RESP2, an array of two-element arrays in RESP3, as
    /// Redis 7 answers them.
    Pairs(Vec<(Value, Value)>),
    /// A command's error in a BATCH whose command carried `KEEP_GOING`
    /// (EXEC's array holds the errors of the commands that failed).
    Error(WireError),
}

impl Value {
    pub fn ok() -> Value {
        Value::Status("OK".into())
    }

    pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
        Value::Bytes(b.into())
    }

    pub fn opt(b: Option<Vec<u8>>) -> Value {
        b.map(Value::Bytes).unwrap_or(Value::Nil)
    }

    pub fn list<T>(items: impl IntoIterator<Item = T>, f: impl Fn(T) -> Value) -> Value {
        Value::Array(items.into_iter().map(f).collect())
    }

    /// Appends the binary encoding (docs/protocol.md, "Values").
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Nil => out.push(0),
            Value::Int(n) => {
                out.push(1);
                put_u64(out, *n as u64);
            }
            Value::Bytes(b) => {
                out.push(2);
                put_bytes(out, b);
            }
            Value::Double(d) => {
                out.push(3);
                put_u64(out, d.to_bits());
            }
            Value::Array(items) => {
                out.push(4);
                put_u32(out, items.len() as u32);
                for i in items {
                    i.encode(out);
                }
            }
            Value::Map(pairs) => {
                out.push(5);
                put_u32(out, pairs.len() as u32);
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Value::Status(s) => {
                out.push(6);
                put_bytes(out, s.as_bytes());
            }
            Value::Pairs(pairs) => {
                out.push(7);
                put_u32(out, pairs.len() as u32);
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Value::Error(e) => {
                out.push(8);
                put_u16(out, e.code.number());
                put_bytes(out, e.message.as_bytes());
            }
        }
    }

    /// Decodes one value; `depth` bounds nesting so hostile input cannot
    /// exhaust the stack.
    pub fn decode(r: &mut Reader<'_>, depth: u32) -> Result<Value, ProtoError> {
        if depth > 16 {
            return Err(ProtoError::BadArguments("value nested too deeply".into()));
        }
        Ok(match r.u8("value tag")? {
            0 => Value::Nil,
            1 => Value::Int(r.i64("integer")?),
            2 => Value::Bytes(r.bytes("bytes")?.to_vec()),
            3 => Value::Double(f64::from_bits(r.u64("double")?)),
            4 => {
                let n = r.count("array length", 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(Value::decode(r, depth + 1)?);
                }
                Value::Array(items)
            }
            tag @ (5 | 7) => {
                let n = r.count("pair count", 2)?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    pairs.push((Value::decode(r, depth + 1)?, Value::decode(r, depth + 1)?));
                }
                match tag {
                    5 => Value::Map(pairs),
                    _ => Value::Pairs(pairs),
                }
            }
            6 => Value::Status(String::from_utf8_lossy(r.bytes("status")?).into_owned()),
            8 => {
                let code = ErrorCode::try_from(r.u16("error code")?).unwrap_or(ErrorCode::Internal);
                let message = String::from_utf8_lossy(r.bytes("error message")?).into_owned();
                Value::Error(WireError::new(code, message))
            }
            t => return Err(ProtoError::BadArguments(format!("unknown value tag {t}"))),
        })
    }
}

/// Redis's glob matching (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), on bytes.
pub fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => {
            let rest = &p[1..];
            (0..=s.len()).any(|i| glob_match(rest, &s[i..]))
        }
        Some(b'?') => !s.is_empty() && glob_match(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(&c) = s.first() else {
                return false;
            };
            let mut i = 1;
            let negate = p.get(1) == Some(&b'^');
            if negate {
                i += 1;
            }
            let mut matched = false;
            while i < p.len() && p[i] != b']' {
                if p[i] == b'\\' && i + 1 < p.len() {
                    matched |= p[i + 1] == c;
                    i += 2;
                } else if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
                    let (lo, hi) = (p[i].min(p[i + 2]), p[i].max(p[i + 2]));
                    matched |= (lo..=hi).contains(&c);
                    i += 3;
                } else {
                    matched |= p[i] == c;
                    i += 1;
                }
            }
            // An unclosed class matches up to the end of the pattern, as in Redis.
            let rest = if i < p.len() { &p[i + 1..] } else { &p[i..] };
            matched != negate && glob_match(rest, &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob_match(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && glob_match(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"user:*", b"user:42"));
        assert!(!glob_match(b"user:?", b"user:42"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-c]llo", b"hbllo"));
        assert!(glob_match(b"a\\*b", b"a*b"));
        assert!(!glob_match(b"a\\*b", b"axb"));
    }

    #[test]
    fn values_round_trip() {
        let v = Value::Array(vec![
            Value::Nil,
            Value::Int(-3),
            Value::bytes(b"x".to_vec()),
            Value::Double(f64::NEG_INFINITY),
            Value::Map(vec![(Value::bytes(b"f".to_vec()), Value::Int(1))]),
            Value::ok(),
        ]);
        let mut out = Vec::new();
        v.encode(&mut out);
        let back = Value::decode(&mut Reader::new(&out), 0).unwrap();
        assert_eq!(back, v);
        // Forged lengths and deep nesting are errors, not allocations or overflows.
        assert!(Value::decode(&mut Reader::new(&[4, 0xff, 0xff, 0xff, 0xff]), 0).is_err());
        assert!(Value::decode(&mut Reader::new(&[4, 0, 0, 0, 1].repeat(40)), 0).is_err());
    }
}
