//! SLOWLOG GET/LEN/RESET over RESP (HELP is the table's, as for every
//! container): every core's slow log, gathered
//! with the SLOWLOGCTL opcode and merged newest first (`net::slowlog`).

use std::rc::Rc;

use super::{bad, run_request};
use crate::codes::{ErrorCode, WireError};
use crate::net::core::Core;
use crate::proto::num::parse_int;
use crate::proto::slowlog::Entry;
use crate::proto::value::Value;
use crate::proto::Request;

fn internal(e: impl std::fmt::Display) -> WireError {
    WireError::new(ErrorCode::Internal, e.to_string())
}

pub(super) async fn slowlog(core: &Rc<Core>, args: &[&[u8]]) -> Result<Value, WireError> {
    let sub = args
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    // SLOWLOG shows the node's newest `slowlog-max-len` entries; each core
    // keeps that many of its own.
    let max = core.config().slowlog_max_len();
    match (sub.as_slice(), args.len()) {
        (b"len", 2) => {
            let body = run_request(
                core,
                &Request::SlowLog {
                    action: 1,
                    count: 0,
                },
            )
            .await?;
            let n = crate::proto::codec::Reader::new(&body)
                .u64("len")
                .map_err(internal)?;
            Ok(Value::Int(n.min(max as u64) as i64))
        }
        (b"reset", 2) => {
            run_request(
                core,
                &Request::SlowLog {
                    action: 2,
                    count: 0,
                },
            )
            .await?;
            Ok(Value::ok())
        }
        (b"get", 2 | 3) => {
            let count = match args.get(2) {
                None => 10,
                Some(w) => match parse_int(w) {
                    Some(-1) => max,
                    Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX).min(max),
                    // Not an integer too, as Redis 7.0 answers.
                    _ => return Err(bad("count should be greater than or equal to -1")),
                },
            };
            let count32 = u32::try_from(count).unwrap_or(u32::MAX);
            let body = run_request(
                core,
                &Request::SlowLog {
                    action: 0,
                    count: count32,
                },
            )
            .await?;
            let mut entries = Entry::decode_all(&body).map_err(internal)?;
            entries.sort_by_key(|e| std::cmp::Reverse(e.id));
            entries.truncate(count);
            Ok(Value::Array(entries.into_iter().map(entry).collect()))
        }
        _ => Err(bad(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(args.get(1).copied().unwrap_or_default())
        ))),
    }
}

/// Redis's six fields: id, time, microseconds, arguments, client, name.
fn entry(e: Entry) -> Value {
    Value::Array(vec![
        Value::Int(e.id as i64),
        Value::Int(e.time as i64),
        Value::Int(e.micros as i64),
        Value::Array(e.args.into_iter().map(Value::Bytes).collect()),
        Value::Bytes(e.client),
        Value::Bytes(e.name),
    ])
}
