//! The value envelope every stored value starts with (formats 1 and 2).
//!
//! ```text
//! offset size field
//! 0      1    envelope format (1 or 2)
//! 1      1    type (1 = string, 2 hash, 3 set, 4 zset, 5 list, 6 stream)
//! 2      1    flags (reserved, 0)
//! 3      8    expire_at_ms, u64 big endian, unix ms; 0 = no expiry
//! 11     8    version, u64 big endian (hybrid logical clock)
//! 19     8    generation, u64 big endian (collections; strings store 0)
//! 27     ..   body (a string's bytes)
//! ```
//!
//! Strings use the same header as collections' metadata records, so new
//! types need no format change.
//!
//! Format 2 has the same header; it is written for collections created (and
//! hashes and sorted sets rewritten) by builds that know it, and changes
//! what the body and the member subkeys mean (docs/storage.md): hash, set
//! and sorted-set bodies add a count of deleted members, a sorted set's the
//! live bounds of its score index, and a set's member subkeys start with a
//! hash of the member. Format 1 records are read as before.

use super::Error;

pub const FORMAT_V1: u8 = 1;
/// Collections with live bounds (sorted sets) and hashed members (sets).
pub const FORMAT_V2: u8 = 2;
pub const HEADER_LEN: usize = 27;

/// The kind of value a key holds.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String = 1,
    Hash = 2,
    Set = 3,
    ZSet = 4,
    List = 5,
    /// A stream (its entries, groups and pending lists in subkeys).
    Stream = 6,
}

impl TryFrom<u8> for ValueType {
    type Error = u8;
    fn try_from(b: u8) -> Result<Self, u8> {
        Ok(match b {
            1 => ValueType::String,
            2 => ValueType::Hash,
            3 => ValueType::Set,
            4 => ValueType::ZSet,
            5 => ValueType::List,
            6 => ValueType::Stream,
            other => return Err(other),
        })
    }
}

/// The decoded header of a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Envelope format the record was (or will be) written in.
    pub format: u8,
    pub vtype: ValueType,
    pub flags: u8,
    pub expire_at_ms: u64,
    pub version: u64,
    pub generation: u64,
}

impl Meta {
    pub fn string(version: u64, expire_at_ms: u64) -> Meta {
        Meta {
            format: FORMAT_V1,
            vtype: ValueType::String,
            flags: 0,
            expire_at_ms,
            version,
            generation: 0,
        }
    }

    /// Whether the value is expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now_ms
    }
}

/// Encodes `meta` and `body` into one stored value.
/// Built in the shared form a transaction stages (one allocation).
pub fn encode_shared(meta: &Meta, body: &[u8]) -> std::rc::Rc<[u8]> {
    let mut out: std::rc::Rc<[u8]> = std::iter::repeat_n(0, HEADER_LEN + body.len()).collect();
    let buf = std::rc::Rc::get_mut(&mut out).expect("a new Rc has no other owner");
    buf[..HEADER_LEN].copy_from_slice(&header(meta));
    buf[HEADER_LEN..].copy_from_slice(body);
    out
}

fn header(meta: &Meta) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = meta.format;
    h[1] = meta.vtype as u8;
    h[2] = meta.flags;
    h[3..11].copy_from_slice(&meta.expire_at_ms.to_be_bytes());
    h[11..19].copy_from_slice(&meta.version.to_be_bytes());
    h[19..27].copy_from_slice(&meta.generation.to_be_bytes());
    h
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Decodes a stored value into its header and body.
pub fn decode(raw: &[u8]) -> Result<(Meta, &[u8]), Error> {
    if raw.len() < HEADER_LEN {
        return Err(Error::Corrupt(format!(
            "value envelope of {} bytes is shorter than its {HEADER_LEN}-byte header",
            raw.len()
        )));
    }
    if raw[0] != FORMAT_V1 && raw[0] != FORMAT_V2 {
        return Err(Error::Corrupt(format!(
            "unknown value envelope format {}",
            raw[0]
        )));
    }
    let vtype = ValueType::try_from(raw[1])
        .map_err(|t| Error::Corrupt(format!("unknown value type {t}")))?;
    let meta = Meta {
        format: raw[0],
        vtype,
        flags: raw[2],
        expire_at_ms: be_u64(&raw[3..]),
        version: be_u64(&raw[11..]),
        generation: be_u64(&raw[19..]),
    };
    Ok((meta, &raw[HEADER_LEN..]))
}

/// Reads only the expiry, for the compaction filter's hot loop.
pub fn expire_at_ms(raw: &[u8]) -> Option<u64> {
    if raw.len() < HEADER_LEN || (raw[0] != FORMAT_V1 && raw[0] != FORMAT_V2) {
        return None;
    }
    Some(be_u64(&raw[3..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let meta = Meta::string(0x0102_0304_0506_0708, 42);
        let raw = encode_shared(&meta, b"hello");
        assert_eq!(raw.len(), HEADER_LEN + 5);
        let (m, body) = decode(&raw).unwrap();
        assert_eq!(m, meta);
        assert_eq!(body, b"hello");
        assert_eq!(expire_at_ms(&raw), Some(42));
    }

    #[test]
    fn rejects_short_and_unknown() {
        assert!(decode(&[1, 1, 0]).is_err());
        let mut raw = encode_shared(&Meta::string(1, 0), b"").to_vec();
        raw[0] = 9;
        assert!(decode(&raw).is_err());
        raw[0] = 2;
        assert_eq!(decode(&raw).unwrap().0.format, FORMAT_V2);
        raw[0] = 1;
        raw[1] = 77;
        assert!(decode(&raw).is_err());
    }
}
