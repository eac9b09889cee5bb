//! Response bodies of the fast opcodes, and the optional versioned value
//! several of them carry.

use super::super::codec::{put_bytes, put_u64, Reader};
use super::super::Error;

// ---- response bodies --------------------------------------------------------
//
// GET        u8 found; if 1: u64 version, bytes value
// SET        u8 applied, u64 version
// DEL/EXISTS u64 count
// MGET       u32 n; n × (u8 found; if 1: u64 version, bytes value)
// MSET       u64 keys written
// INCRBY     i64 value, u64 version
// EXPIRE     u8 (1 = applied)      PERSIST u8 (1 = expiry removed)
// TTL        i64 ms (-2 missing, -1 no expiry)
// SCAN       u64 next cursor (0 = done), u32 n, n × bytes key
// DBSIZE     u64 estimated keys
// INFO       UTF-8 text, `key:value` lines and `# section` headers
// PING       the request body, echoed
// HELLO      see `hello.rs`
// COMMAND    u64 version of the first key afterwards (0 = absent), value
// BATCH      u32 n; n × (u64 version, value)
// PUBLISH    u64 subscribers reached (summed over cores)
// FLUSHALL   u64 partitions flushed (summed over cores)
// PULL       u64 primary's latest sequence, u32 n, n × (u64 last sequence, bytes batch)
// BPOP       u8 found; if 1: bytes key, bytes element (0 = timed out)
// PUBSUB     kind 0: n × bytes channel; 1: n × (bytes channel, u64 count);
//            2: u64 pattern subscriptions (bodies of all cores concatenated)
// value      see `cmd::Value::encode`
// error      u16 code, then the UTF-8 message (rest of the body)

/// A value with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub value: Vec<u8>,
}

/// Appends an optional versioned value.
pub fn put_found(out: &mut Vec<u8>, v: Option<(u64, &[u8])>) {
    match v {
        None => out.push(0),
        Some((version, value)) => {
            out.push(1);
            put_u64(out, version);
            put_bytes(out, value);
        }
    }
}

/// Reads an optional versioned value.
pub fn read_found(r: &mut Reader<'_>) -> Result<Option<Versioned>, Error> {
    match r.u8("found")? {
        0 => Ok(None),
        1 => Ok(Some(Versioned {
            version: r.u64("version")?,
            value: r.bytes("value")?.to_vec(),
        })),
        other => Err(Error::BadArguments(format!("found flag {other}"))),
    }
}

/// Skips an optional versioned value, returning its encoded bytes.
pub fn skip_found<'a>(r: &mut Reader<'a>, whole: &'a [u8]) -> Result<&'a [u8], Error> {
    let start = whole.len() - r.remaining();
    if r.u8("found")? == 1 {
        r.u64("version")?;
        r.bytes("value")?;
    }
    let end = whole.len() - r.remaining();
    Ok(&whole[start..end])
}
