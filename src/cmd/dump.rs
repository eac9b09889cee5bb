//! DUMP and RESTORE's apply: a key of any type to and from Redis's DUMP
//! payload (the codec: `proto::dump`; the parse: `proto::args::keys`).

use super::{CmdResult, Value};
use crate::codes::{ErrorCode, WireError};
use crate::proto::args::bad;
use crate::proto::args::keys::Restore;
use crate::proto::dump::{self, Object};
use crate::shard::envelope::ValueType;
use crate::shard::tx::Tx;
use crate::shard::zset::{ZRange, ZRangeBy};

/// DUMP: the payload of `key`, or nil. O(N) in the members.
pub fn dump(t: &Tx<'_>, key: &[u8]) -> CmdResult {
    let Some(m) = t.meta(key)? else {
        return Ok(Value::Nil);
    };
    let o = match m.vtype {
        ValueType::String => Object::String(t.get_string(key)?.map(|(_, v)| v).unwrap_or_default()),
        ValueType::List => Object::List(t.lrange(key, 0, -1)?),
        ValueType::Set => Object::Set(t.smembers(key)?),
        ValueType::Hash => Object::Hash(t.hgetall(key)?),
        ValueType::ZSet => Object::ZSet(t.zrange(
            key,
            &ZRange {
                by: ZRangeBy::Rank(0, -1),
                rev: false,
                limit: None,
            },
        )?),
        // Redis's stream payload (listpacks in a radix tree, groups and
        // their pending lists) is not written (docs/queues.md).
        ValueType::Stream => {
            return Err(super::CmdError::Wire(bad(
                "DUMP of a stream is not supported by Tessera (docs/queues.md)",
            )))
        }
    };
    Ok(Value::Bytes(dump::encode(&o)))
}

/// RESTORE, checked in Redis's order: the key is free (or REPLACE), the
/// TTL, the payload's version and checksum, the value. A TTL already in
/// the past deletes the key (with REPLACE) and stores nothing.
pub fn restore(t: &mut Tx<'_>, r: &Restore<'_>) -> CmdResult {
    t.writable()?;
    let key = r.key;
    if !r.replace && t.meta(key)?.is_some() {
        return Err(WireError::of(ErrorCode::BusyKey).into());
    }
    let ttl = r.ttl_ms.clone()?;
    let o = dump::decode(r.payload).map_err(|e| bad(e.to_string()))?;
    if r.replace {
        t.remove(key)?;
    }
    let now = t.now_ms as i64;
    let at_ms = match ttl {
        0 => 0,
        _ if r.absttl => ttl,
        _ => now.saturating_add(ttl),
    };
    if at_ms != 0 && at_ms <= now {
        return Ok(Value::ok());
    }
    match o {
        Object::String(v) => {
            t.put_string(key, &v, at_ms as u64);
            return Ok(Value::ok());
        }
        Object::List(items) => {
            let items: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
            t.push(key, false, &items, false)?;
        }
        Object::Set(members) => {
            let members: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
            t.sadd(key, &members)?;
        }
        Object::Hash(pairs) => {
            let pairs: Vec<(&[u8], &[u8])> = pairs
                .iter()
                .map(|(f, v)| (f.as_slice(), v.as_slice()))
                .collect();
            t.hset(key, &pairs)?;
        }
        Object::ZSet(pairs) => {
            t.zstore(key, &pairs)?;
        }
    }
    if at_ms != 0 {
        t.set_expiry(key, at_ms as u64)?;
    }
    Ok(Value::ok())
}
