//! Streams' apply (the parse: `proto::args::stream`; the storage:
//! `shard::stream`): replies in Redis 7.0's shapes.
//!
//! XREAD and XREADGROUP here never block: BLOCK is honoured by the
//! blocking path (`net::core::blocking`), which runs them again at each
//! write to their keys.

use super::{CmdResult, Value};
use crate::proto::args::stream::{ClaimOpts, GroupId, Id, NewId, StreamCmd, Trim, TrimTo};
use crate::shard::stream::{
    self as st, Claim, ConsumerInfo, Entry, GroupInfo, ReadGroup, Stream, StreamId,
};
use crate::shard::tx::Tx;

fn sid(id: Id) -> StreamId {
    StreamId {
        ms: id.ms,
        seq: id.seq,
    }
}

fn id_value(id: StreamId) -> Value {
    Value::bytes(id.to_string())
}

fn trim(t: Trim) -> st::Trim {
    st::Trim {
        strategy: match t.to {
            TrimTo::MaxLen(n) => st::TrimTo::MaxLen(n),
            TrimTo::MinId(id) => st::TrimTo::MinId(sid(id)),
        },
        approx: t.approx,
        limit: t.limit,
    }
}

/// `[id, [field, value, ...]]`.
fn entry_value((id, fields): Entry) -> Value {
    let mut flat = Vec::with_capacity(fields.len() * 2);
    for (f, v) in fields {
        flat.push(Value::Bytes(f));
        flat.push(Value::Bytes(v));
    }
    Value::Array(vec![id_value(id), Value::Array(flat)])
}

fn entries_value(entries: Vec<Entry>) -> Value {
    Value::list(entries, entry_value)
}

fn claim_value(c: Claim) -> Value {
    match c {
        Claim::Id(id) => id_value(id),
        Claim::Entry(e) => entry_value(e),
    }
}

/// A map with string keys (a flat array in RESP2).
fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::bytes(k), v))
            .collect(),
    )
}

fn opt_int(n: Option<u64>) -> Value {
    n.map_or(Value::Nil, |n| Value::Int(n as i64))
}

fn group_value(g: GroupInfo) -> Value {
    map(vec![
        ("name", Value::Bytes(g.name)),
        ("consumers", Value::Int(g.consumers as i64)),
        ("pending", Value::Int(g.pending as i64)),
        ("last-delivered-id", id_value(g.last_id)),
        ("entries-read", opt_int(g.entries_read)),
        ("lag", opt_int(g.lag)),
    ])
}

fn consumer_value(c: ConsumerInfo) -> Value {
    map(vec![
        ("name", Value::Bytes(c.name)),
        ("pending", Value::Int(c.pending as i64)),
        ("idle", Value::Int(c.idle_ms as i64)),
    ])
}

pub fn apply(t: &mut Tx<'_>, c: &StreamCmd<'_>) -> CmdResult {
    Ok(match c {
        StreamCmd::Add {
            key,
            create,
            trim: tr,
            id,
            fields,
        } => {
            let id = match *id {
                NewId::Auto => st::NewId::Auto,
                NewId::Seq(ms) => st::NewId::Seq(ms),
                NewId::Exact(id) => st::NewId::Exact(sid(id)),
            };
            let added = t.xadd(key, *create, id, tr.map(trim), fields)?;
            added.map_or(Value::Nil, id_value)
        }
        StreamCmd::Len(key) => Value::Int(t.xlen(key)? as i64),
        // COUNT 0 answers a null array, as Redis's does.
        StreamCmd::Range { count: Some(0), .. } => Value::Nil,
        StreamCmd::Range {
            key,
            from,
            to,
            count,
            reverse,
        } => entries_value(t.xrange(key, sid(*from), sid(*to), *count, *reverse)?),
        StreamCmd::Del { key, ids } => {
            let ids: Vec<StreamId> = ids.iter().map(|&i| sid(i)).collect();
            Value::Int(t.xdel(key, &ids)? as i64)
        }
        StreamCmd::Trim { key, trim: tr } => Value::Int(t.xtrim(key, trim(*tr))? as i64),
        StreamCmd::SetId {
            key,
            last,
            entries_added,
            max_deleted,
        } => {
            t.xsetid(key, sid(*last), *entries_added, max_deleted.map(sid))?;
            Value::ok()
        }
        StreamCmd::Read { count, streams } => {
            let streams: Vec<(&[u8], Option<StreamId>)> =
                streams.iter().map(|&(k, id)| (k, id.map(sid))).collect();
            let found = t.xread(&streams, count.filter(|&c| c > 0))?;
            match found.is_empty() {
                true => Value::Nil,
                false => Value::list(found, |(k, e)| {
                    Value::Array(vec![Value::Bytes(k), entries_value(e)])
                }),
            }
        }
        StreamCmd::ReadGroup {
            group,
            consumer,
            count,
            noack,
            streams,
        } => read_group(
            t,
            group,
            consumer,
            count.filter(|&c| c > 0),
            *noack,
            streams,
        )?,
        StreamCmd::Ack { key, group, ids } => {
            let ids: Vec<StreamId> = ids.iter().map(|&i| sid(i)).collect();
            Value::Int(t.xack(key, group, &ids)? as i64)
        }
        StreamCmd::Pending {
            key,
            group,
            range: None,
        } => {
            let s = t.xpending_summary(key, group)?;
            if s.count == 0 {
                Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil])
            } else {
                Value::Array(vec![
                    Value::Int(s.count as i64),
                    s.first.map_or(Value::Nil, id_value),
                    s.last.map_or(Value::Nil, id_value),
                    Value::list(s.consumers, |(name, n)| {
                        Value::Array(vec![Value::Bytes(name), Value::bytes(n.to_string())])
                    }),
                ])
            }
        }
        StreamCmd::Pending {
            key,
            group,
            range: Some(r),
        } => {
            let found = t.xpending(
                key,
                group,
                r.min_idle,
                sid(r.from),
                sid(r.to),
                r.count,
                r.consumer,
            )?;
            Value::list(found, |p| {
                Value::Array(vec![
                    id_value(p.id),
                    Value::Bytes(p.consumer),
                    Value::Int(p.idle_ms as i64),
                    Value::Int(p.deliveries as i64),
                ])
            })
        }
        StreamCmd::Claim {
            key,
            group,
            consumer,
            min_idle,
            ids,
            opts,
        } => {
            let ids: Vec<StreamId> = ids.iter().map(|&i| sid(i)).collect();
            let o = claim_opts(t.now_ms, *min_idle, opts);
            Value::list(t.xclaim(key, group, consumer, &ids, o)?, claim_value)
        }
        StreamCmd::AutoClaim {
            key,
            group,
            consumer,
            min_idle,
            start,
            count,
            just_id,
        } => {
            let (next, claimed, deleted) = t.xautoclaim(
                key,
                group,
                consumer,
                *min_idle,
                sid(*start),
                *count,
                *just_id,
            )?;
            Value::Array(vec![
                id_value(next),
                Value::list(claimed, claim_value),
                Value::list(deleted, id_value),
            ])
        }
        StreamCmd::GroupCreate {
            key,
            group,
            id,
            mkstream,
            entries_read,
        } => {
            t.xgroup_create(key, group, id.map(sid), *mkstream, *entries_read)?;
            Value::ok()
        }
        StreamCmd::GroupSetId {
            key,
            group,
            id,
            entries_read,
        } => {
            t.xgroup_setid(key, group, id.map(sid), *entries_read)?;
            Value::ok()
        }
        StreamCmd::GroupDestroy { key, group } => {
            Value::Int(i64::from(t.xgroup_destroy(key, group)?))
        }
        StreamCmd::GroupCreateConsumer {
            key,
            group,
            consumer,
        } => Value::Int(i64::from(t.xgroup_createconsumer(key, group, consumer)?)),
        StreamCmd::GroupDelConsumer {
            key,
            group,
            consumer,
        } => Value::Int(t.xgroup_delconsumer(key, group, consumer)? as i64),
        StreamCmd::InfoStream { key, full: None } => {
            let (s, first, last) = t.xinfo_stream(key)?;
            let mut fields = stream_figures(&s);
            fields.extend([
                ("groups", Value::Int(s.groups as i64)),
                ("first-entry", first.map_or(Value::Nil, entry_value)),
                ("last-entry", last.map_or(Value::Nil, entry_value)),
            ]);
            map(fields)
        }
        StreamCmd::InfoStream {
            key,
            full: Some(count),
        } => info_full(t, key, *count)?,
        StreamCmd::InfoGroups(key) => Value::list(t.xinfo_groups(key)?, group_value),
        StreamCmd::InfoConsumers { key, group } => {
            Value::list(t.xinfo_consumers(key, group)?, consumer_value)
        }
    })
}

/// The figures both forms of XINFO STREAM start with, in Redis's order.
fn stream_figures(s: &Stream) -> Vec<(&'static str, Value)> {
    vec![
        ("length", Value::Int(s.length as i64)),
        // Redis's radix tree has no counterpart here (docs/queues.md).
        ("radix-tree-keys", Value::Int(0)),
        ("radix-tree-nodes", Value::Int(0)),
        ("last-generated-id", id_value(s.last_id)),
        ("max-deleted-entry-id", id_value(s.max_deleted)),
        ("entries-added", Value::Int(s.entries_added as i64)),
        ("recorded-first-entry-id", id_value(s.first_id)),
    ]
}

/// XCLAIM's options in storage terms: IDLE and TIME become a delivery
/// time, clamped to now as Redis clamps it.
fn claim_opts(now: u64, min_idle: u64, o: &ClaimOpts) -> st::ClaimOpts {
    let at = match (o.idle, o.time) {
        (_, Some(time)) => Some(time),
        (Some(idle), None) => Some((now as i64).saturating_sub(idle)),
        (None, None) => None,
    };
    st::ClaimOpts {
        min_idle_ms: min_idle,
        delivered_ms: at.map(|at| {
            if at < 0 || at as u64 > now {
                now
            } else {
                at as u64
            }
        }),
        retry_count: o.retry_count,
        force: o.force,
        just_id: o.just_id,
        last_id: o.last_id.map(sid),
    }
}

/// XREADGROUP over its streams: new entries answer only the streams that
/// had some (nil when none did); history reads answer every stream.
fn read_group(
    t: &mut Tx<'_>,
    group: &[u8],
    consumer: &[u8],
    count: Option<u64>,
    noack: bool,
    streams: &[(&[u8], GroupId)],
) -> CmdResult {
    let mut out = Vec::new();
    for &(key, id) in streams {
        let read = match id {
            GroupId::New => ReadGroup::New,
            GroupId::After(id) => ReadGroup::After(sid(id)),
        };
        let got = t.xreadgroup(key, group, consumer, read, count, noack)?;
        if got.is_empty() && id == GroupId::New {
            continue;
        }
        let items = Value::list(got, |(id, fields)| match fields {
            Some(f) => entry_value((id, f)),
            None => Value::Array(vec![id_value(id), Value::Nil]),
        });
        out.push(Value::Array(vec![Value::bytes(key), items]));
    }
    Ok(match out.is_empty() {
        true => Value::Nil,
        false => Value::Array(out),
    })
}

/// XINFO STREAM FULL: the figures, `count` entries (0: all), and every
/// group with its pending entries and consumers.
fn info_full(t: &Tx<'_>, key: &[u8], count: u64) -> CmdResult {
    let (s, _, _) = t.xinfo_stream(key)?;
    let limit = (count > 0).then_some(count);
    let entries = t.xrange(key, StreamId::ZERO, StreamId::MAX, limit, false)?;
    let mut groups = Vec::new();
    for g in t.xinfo_groups(key)? {
        let pending = t.xpending(
            key,
            &g.name,
            0,
            StreamId::ZERO,
            StreamId::MAX,
            limit.unwrap_or(u64::MAX),
            None,
        )?;
        let now = t.now_ms;
        let pel = Value::list(pending, |p| {
            Value::Array(vec![
                id_value(p.id),
                Value::Bytes(p.consumer),
                Value::Int(now.saturating_sub(p.idle_ms) as i64),
                Value::Int(p.deliveries as i64),
            ])
        });
        let mut consumers = Vec::new();
        for c in t.xinfo_consumers(key, &g.name)? {
            let own = t.xpending(
                key,
                &g.name,
                0,
                StreamId::ZERO,
                StreamId::MAX,
                limit.unwrap_or(u64::MAX),
                Some(&c.name),
            )?;
            consumers.push(map(vec![
                ("name", Value::Bytes(c.name.clone())),
                (
                    "seen-time",
                    Value::Int(now.saturating_sub(c.idle_ms) as i64),
                ),
                ("pel-count", Value::Int(c.pending as i64)),
                (
                    "pending",
                    Value::list(own, |p| {
                        Value::Array(vec![
                            id_value(p.id),
                            Value::Int(now.saturating_sub(p.idle_ms) as i64),
                            Value::Int(p.deliveries as i64),
                        ])
                    }),
                ),
            ]));
        }
        groups.push(map(vec![
            ("name", Value::Bytes(g.name.clone())),
            ("last-delivered-id", id_value(g.last_id)),
            ("entries-read", opt_int(g.entries_read)),
            ("lag", opt_int(g.lag)),
            ("pel-count", Value::Int(g.pending as i64)),
            ("pending", pel),
            ("consumers", Value::Array(consumers)),
        ]));
    }
    let mut fields = stream_figures(&s);
    fields.extend([
        ("entries", entries_value(entries)),
        ("groups", Value::Array(groups)),
    ]);
    Ok(map(fields))
}
