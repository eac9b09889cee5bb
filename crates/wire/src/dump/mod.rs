//! DUMP payloads: one value in Redis's RDB serialization, so DUMP and
//! RESTORE move keys between redis-server and Tessera in both directions.
//!
//! A payload is the value's RDB type byte, the value, the RDB version
//! (2 bytes, little-endian) and a CRC-64 (Jones, Redis's `crc64`; 8 bytes,
//! little-endian) of everything before it.
//!
//! Tessera writes RDB version 10 (Redis 7.0) with the plain encodings every
//! Redis since 2.6 reads: a string (type 0), a list of strings (1), a set of
//! strings (2), a hash of field/value strings (4) and a sorted set with
//! binary double scores (5). It reads those and what redis-server 2.6–7.2
//! DUMPs: integer and LZF-compressed strings, the old sorted set with text
//! scores (3), intsets (11), ziplists (10, 12, 13), quicklists of ziplists
//! (14) and of listpacks (18), and listpacks (16, 17, 20). Streams and module
//! values are refused: Tessera has neither.
//!
//! Every length in a payload comes from the client, so none is trusted
//! for an allocation: counts are checked against the bytes left, and an
//! LZF string's stated size against what its compressed bytes can expand
//! to.

mod packed;

use ahash::AHashSet;

/// The RDB version Tessera writes: Redis 7.0's, which every Redis from 7.0
/// on accepts.
pub const RDB_VERSION: u16 = 10;
/// The newest RDB version Tessera reads: Redis 7.2's.
pub const MAX_RDB_VERSION: u16 = 11;
/// The largest string a payload may unpack to (Redis's
/// `proto-max-bulk-len`).
const MAX_STRING: usize = 512 << 20;

/// One value, as DUMP serialises it and RESTORE stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
}

/// Why a payload was refused (Redis's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    /// Too short, a version newer than 11, or a checksum that does not match.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The value does not decode, is an empty collection, or repeats a
    /// member or field.
    #[error("Bad data format")]
    BadFormat,
    /// A type Tessera does not have (streams, modules).
    #[error("Bad data format: {0} are not supported by Tessera")]
    Unsupported(&'static str),
}

type Result<T> = std::result::Result<T, DumpError>;

// ---- encode -----------------------------------------------------------------

/// The DUMP payload of `o`.
pub fn encode(o: &Object) -> Vec<u8> {
    let mut out = Vec::new();
    match o {
        Object::String(s) => {
            out.push(0);
            put_string(&mut out, s);
        }
        Object::List(items) | Object::Set(items) => {
            out.push(if matches!(o, Object::List(_)) { 1 } else { 2 });
            put_len(&mut out, items.len() as u64);
            for i in items {
                put_string(&mut out, i);
            }
        }
        Object::Hash(pairs) => {
            out.push(4);
            put_len(&mut out, pairs.len() as u64);
            for (f, v) in pairs {
                put_string(&mut out, f);
                put_string(&mut out, v);
            }
        }
        Object::ZSet(pairs) => {
            out.push(5);
            put_len(&mut out, pairs.len() as u64);
            for (m, s) in pairs {
                put_string(&mut out, m);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
    }
    seal(out)
}

/// Redis's CRC-64 (Jones) of `data`: a payload's last 8 bytes are this
/// of the bytes before them.
pub fn checksum(data: &[u8]) -> u64 {
    crc64::crc64(0, data)
}

/// A payload of `body` (a type byte and a value, already serialised):
/// the body, RDB version 10 and the checksum.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// RDB's length: 6 bits, 14 bits (big-endian), or a marker byte and a
/// 32- or 64-bit big-endian length.
fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0x80);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// RDB's opcode for one function library (Redis 7.0's
/// `RDB_OPCODE_FUNCTION2`): the library's code as a string follows.
const FUNCTION_LIBRARY: u8 = 245;

/// FUNCTION DUMP's payload: each library's code after its opcode, then the
/// RDB version and the checksum (a payload redis-server's FUNCTION RESTORE
/// reads).
pub fn encode_functions<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(FUNCTION_LIBRARY);
        put_string(&mut out, code);
    }
    seal(out)
}

/// The libraries' codes in a FUNCTION DUMP payload (Redis's or Tessera's).
/// Redis's errors: `VersionOrChecksum`, or `BadFormat` for anything but
/// function libraries.
pub fn decode_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>> {
    let body = unseal(payload)?;
    let mut r = Reader { buf: body };
    let mut codes = Vec::new();
    while !r.buf.is_empty() {
        if r.byte()? != FUNCTION_LIBRARY {
            return Err(DumpError::BadFormat);
        }
        codes.push(r.string()?);
    }
    Ok(codes)
}

// ---- decode -----------------------------------------------------------------

/// The body of `payload` once its version and checksum are checked.
fn unseal(payload: &[u8]) -> Result<&[u8]> {
    if payload.len() < 10 {
        return Err(DumpError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > MAX_RDB_VERSION
        || checksum(&payload[..payload.len() - 8]) != u64::from_le_bytes(crc)
    {
        return Err(DumpError::VersionOrChecksum);
    }
    Ok(body)
}

/// Checks the version and the checksum of `payload`, then decodes it.
pub fn decode(payload: &[u8]) -> Result<Object> {
    let mut r = Reader {
        buf: unseal(payload)?,
    };
    let o = r.object()?;
    if !r.buf.is_empty() {
        return Err(DumpError::BadFormat);
    }
    check(&o)?;
    Ok(o)
}

/// A collection must have members, each once, and scores must be numbers
/// (Redis's loader refuses the same).
fn check(o: &Object) -> Result<()> {
    fn unique<'a>(mut keys: impl ExactSizeIterator<Item = &'a [u8]>) -> Result<()> {
        let mut seen = AHashSet::with_capacity(keys.len());
        match keys.len() {
            0 => Err(DumpError::BadFormat),
            _ if keys.all(|k| seen.insert(k)) => Ok(()),
            _ => Err(DumpError::BadFormat),
        }
    }
    match o {
        Object::String(_) => Ok(()),
        Object::List(items) if items.is_empty() => Err(DumpError::BadFormat),
        Object::List(_) => Ok(()),
        Object::Set(items) => unique(items.iter().map(Vec::as_slice)),
        Object::Hash(pairs) => unique(pairs.iter().map(|(f, _)| f.as_slice())),
        Object::ZSet(pairs) if pairs.iter().any(|(_, s)| s.is_nan()) => Err(DumpError::BadFormat),
        Object::ZSet(pairs) => unique(pairs.iter().map(|(m, _)| m.as_slice())),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(DumpError::BadFormat);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// A length, or (`true`) the number of a special string encoding.
    fn len_or_encoding(&mut self) -> Result<(u64, bool)> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3f), false),
            1 => ((u64::from(b & 0x3f) << 8) | u64::from(self.byte()?), false),
            2 if b == 0x80 => (u64::from(u32::from_be_bytes(self.array()?)), false),
            2 if b == 0x81 => (u64::from_be_bytes(self.array()?), false),
            2 => return Err(DumpError::BadFormat),
            _ => (u64::from(b & 0x3f), true),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A count of things that take at least `min_bytes` each: never more
    /// than the bytes left can hold.
    fn count(&mut self, min_bytes: usize) -> Result<usize> {
        match self.len_or_encoding()? {
            (n, false) if n <= (self.buf.len() / min_bytes) as u64 => Ok(n as usize),
            _ => Err(DumpError::BadFormat),
        }
    }

    fn string(&mut self) -> Result<Vec<u8>> {
        match self.len_or_encoding()? {
            (n, false) => Ok(self
                .take(usize::try_from(n).map_err(|_| DumpError::BadFormat)?)?
                .to_vec()),
            (0, true) => Ok((self.byte()? as i8).to_string().into_bytes()),
            (1, true) => Ok(i16::from_le_bytes(self.array()?).to_string().into_bytes()),
            (2, true) => Ok(i32::from_le_bytes(self.array()?).to_string().into_bytes()),
            (3, true) => self.lzf(),
            _ => Err(DumpError::BadFormat),
        }
    }

    /// An LZF-compressed string: its compressed length, its length, its
    /// bytes. One LZF back-reference (3 bytes) expands to at most 264.
    fn lzf(&mut self) -> Result<Vec<u8>> {
        let packed = self.count(1)?;
        let len = match self.len_or_encoding()? {
            (n, false) => usize::try_from(n).map_err(|_| DumpError::BadFormat)?,
            _ => return Err(DumpError::BadFormat),
        };
        if len == 0 || len > MAX_STRING || len > packed.saturating_mul(264) {
            return Err(DumpError::BadFormat);
        }
        let out = lzf::decompress(self.take(packed)?, len).map_err(|_| DumpError::BadFormat)?;
        if out.len() != len {
            return Err(DumpError::BadFormat);
        }
        Ok(out)
    }

    fn object(&mut self) -> Result<Object> {
        let t = self.byte()?;
        Ok(match t {
            0 => Object::String(self.string()?),
            1 | 2 => {
                let n = self.count(1)?;
                let items = (0..n).map(|_| self.string()).collect::<Result<_>>()?;
                if t == 1 {
                    Object::List(items)
                } else {
                    Object::Set(items)
                }
            }
            3 | 5 => {
                let n = self.count(2)?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let m = self.string()?;
                    let s = if t == 5 {
                        f64::from_le_bytes(self.array()?)
                    } else {
                        self.text_double()?
                    };
                    pairs.push((m, s));
                }
                Object::ZSet(pairs)
            }
            4 => {
                let n = self.count(2)?;
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    pairs.push((self.string()?, self.string()?));
                }
                Object::Hash(pairs)
            }
            10 => Object::List(packed::ziplist(&self.string()?)?),
            11 => Object::Set(packed::intset(&self.string()?)?),
            12 => Object::ZSet(scored(packed::ziplist(&self.string()?)?)?),
            13 => Object::Hash(paired(packed::ziplist(&self.string()?)?)?),
            14 | 18 => {
                let n = self.count(1)?;
                let mut items = Vec::new();
                for _ in 0..n {
                    // Quicklist 2 names each node's container: 1 one
                    // element (a large one), 2 a listpack.
                    let container = if t == 14 {
                        0
                    } else {
                        match self.len_or_encoding()? {
                            (n @ (1 | 2), false) => n,
                            _ => return Err(DumpError::BadFormat),
                        }
                    };
                    let blob = self.string()?;
                    match container {
                        0 => items.extend(packed::ziplist(&blob)?),
                        1 => items.push(blob),
                        2 => items.extend(packed::listpack(&blob)?),
                        _ => return Err(DumpError::BadFormat),
                    }
                }
                Object::List(items)
            }
            16 => Object::Hash(paired(packed::listpack(&self.string()?)?)?),
            17 => Object::ZSet(scored(packed::listpack(&self.string()?)?)?),
            20 => Object::Set(packed::listpack(&self.string()?)?),
            15 | 19 | 21 => return Err(DumpError::Unsupported("streams")),
            6 | 7 => return Err(DumpError::Unsupported("module values")),
            _ => return Err(DumpError::BadFormat),
        })
    }

    /// The old sorted set's score: a length byte (253 NaN, 254 +inf,
    /// 255 -inf) and the number in text.
    fn text_double(&mut self) -> Result<f64> {
        Ok(match self.byte()? {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            n => text_score(self.take(n as usize)?)?,
        })
    }
}

fn text_score(b: &[u8]) -> Result<f64> {
    crate::num::parse_float(b).ok_or(DumpError::BadFormat)
}

/// A packed hash: field, value, field, value, ...
fn paired(items: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if !items.len().is_multiple_of(2) {
        return Err(DumpError::BadFormat);
    }
    let mut it = items.into_iter();
    let mut pairs = Vec::with_capacity(it.len() / 2);
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        pairs.push((f, v));
    }
    Ok(pairs)
}

/// A packed sorted set: member, score, member, score, ...
fn scored(items: Vec<Vec<u8>>) -> Result<Vec<(Vec<u8>, f64)>> {
    paired(items)?
        .into_iter()
        .map(|(m, s)| Ok((m, text_score(&s)?)))
        .collect()
}

#[cfg(test)]
mod tests;
