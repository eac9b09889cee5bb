//! Whole-keyspace reads of the RESP connection: SCAN pages, KEYS, SCAN
//! with a TYPE filter and RANDOMKEY, gathered from every core.

use std::rc::Rc;

use super::{bad, run_frames, run_one, run_request};
use crate::codes::{ErrorCode, WireError};
use crate::net::core::Core;
use crate::proto::command::NamedCommand;
use crate::proto::hello::cursor;
use crate::proto::redis::{self, Plan, Shape};
use crate::proto::value::{glob_match, Value};
use crate::proto::Request;

/// One binary SCAN page of database `db`: the next cursor (0 = done) and
/// its keys.
pub(super) async fn scan_page(
    core: &Rc<Core>,
    db: u16,
    cursor: u64,
    count: u32,
    prefix: &[u8],
) -> Result<(u64, Vec<Vec<u8>>), WireError> {
    let req = Request::Scan {
        cursor,
        count,
        prefix,
    }
    .in_db(db);
    let body = run_request(core, &req).await?;
    let bad = |e: crate::proto::Error| {
        WireError::new(ErrorCode::Internal, format!("bad SCAN reply: {e}"))
    };
    let mut r = crate::proto::codec::Reader::new(&body);
    let next = r.u64("cursor").map_err(bad)?;
    let n = r.count("keys", 4).map_err(bad)?;
    let keys = (0..n)
        .map(|_| r.bytes("key").map(|k| k.to_vec()).map_err(bad))
        .collect::<Result<_, _>>()?;
    Ok((next, keys))
}

/// KEYS: a full scan of every slot, filtered by the glob (documented as
/// O(N) over the whole key space).
pub(super) async fn keys(
    core: &Rc<Core>,
    db: u16,
    pattern: &[u8],
) -> Result<Vec<Vec<u8>>, WireError> {
    let prefix = redis::literal_prefix(pattern);
    let mut found = Vec::new();
    let mut c = 0u64;
    loop {
        let (next, page) = scan_page(core, db, c, 1000, prefix).await?;
        found.extend(page.into_iter().filter(|k| glob_match(pattern, k)));
        if next == 0 {
            return Ok(found);
        }
        c = next;
    }
}

/// SCAN ... TYPE t: the page as plain SCAN gives it (TYPE removed), then
/// the keys whose TYPE is `t` (one pipelined TYPE per key).
pub(super) async fn scan_type(
    core: &Rc<Core>,
    db: u16,
    args: &[&[u8]],
) -> Result<Value, WireError> {
    let mut plain: Vec<&[u8]> = Vec::with_capacity(args.len());
    let mut wanted = None;
    let mut i = 0;
    while i < args.len() {
        if i >= 2 && args[i].eq_ignore_ascii_case(b"type") {
            wanted = Some(
                args.get(i + 1)
                    .ok_or_else(|| bad("syntax error"))?
                    .to_ascii_lowercase(),
            );
            i += 2;
        } else {
            plain.push(args[i]);
            i += 1;
        }
    }
    let wanted = wanted.ok_or_else(|| bad("syntax error"))?;
    let Plan::Run(req, shape) = redis::plan(&plain) else {
        return Err(bad("syntax error"));
    };
    let Value::Array(mut page) = run_one(core, &req.in_db(db), &shape).await? else {
        return Err(WireError::new(ErrorCode::Internal, "bad SCAN reply"));
    };
    let Some(Value::Array(keys)) = page.pop() else {
        return Err(WireError::new(ErrorCode::Internal, "bad SCAN reply"));
    };
    let mut frames = Vec::new();
    for (n, k) in keys.iter().enumerate() {
        if let Value::Bytes(k) = k {
            Request::Command(NamedCommand::new(vec![b"TYPE", k]))
                .in_db(db)
                .encode(n as u32 + 1, &mut frames);
        }
    }
    let types = run_frames(core, frames).await;
    let mut kept = Vec::new();
    for (k, t) in keys.into_iter().zip(types) {
        if let Ok(body) = t {
            if let Ok(Value::Status(t)) = redis::convert(&Shape::Named, &body) {
                if t.as_bytes() == wanted.as_slice() {
                    kept.push(k);
                }
            }
        }
    }
    page.push(Value::Array(kept));
    Ok(Value::Array(page))
}

/// RANDOMKEY: the first key from a random slot onwards (wrapping around);
/// in databases 1 and up, from a random slot's partition onwards.
pub(super) async fn random_key(core: &Rc<Core>, db: u16) -> Result<Option<Vec<u8>>, WireError> {
    let slot = (crate::shard::clock::now_ms() as u16 ^ (crate::net::clients::ids_given() as u16))
        % crate::slot::SLOTS;
    for start in [cursor::make(slot, 0), 0] {
        let mut c = start;
        loop {
            let (next, page) = scan_page(core, db, c, 1, b"").await?;
            if let Some(k) = page.into_iter().next() {
                return Ok(Some(k));
            }
            if next == 0 {
                break;
            }
            c = next;
        }
    }
    Ok(None)
}
