//! CONFIG GET and CONFIG SET: the node's settings by Redis's names (and a
//! few of Tessera's own). Those a running node can change are atomics in
//! the `CoreConfig` every core shares, so a CONFIG SET on any connection
//! reaches every core at once; the rest answer Redis's "can't set
//! immutable config". Replies and errors are Redis 7.0's.

use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use super::bad;
use crate::codes::WireError;
use crate::net::core::{Core, CoreConfig};
use crate::proto::num::parse_int;
use crate::proto::value::{glob_match, Value};
use crate::shard::Durability;

/// How a changeable setting takes a value: an integer in `[min, max]`.
struct Int {
    min: i64,
    max: i64,
    apply: fn(&CoreConfig, i64),
}

/// Or text that `check` accepts (its error is the one CONFIG SET answers).
struct Text {
    check: fn(&str) -> Result<(), String>,
    apply: fn(&CoreConfig, &str),
}

enum Set {
    Int(Int),
    Text(Text),
}

/// A value checked and ready to apply.
enum Checked<'a> {
    Int(&'a Int, i64),
    Text(&'a Text, String),
}

struct Setting {
    name: &'static str,
    get: fn(&CoreConfig) -> String,
    /// `None`: set at start only (flags or the TOML file).
    set: Option<Set>,
}

const fn fixed(name: &'static str, get: fn(&CoreConfig) -> String) -> Setting {
    Setting {
        name,
        get,
        set: None,
    }
}

/// `busy-reply-threshold` (ms) under `name`.
const fn busy_reply_threshold(name: &'static str) -> Setting {
    Setting {
        name,
        get: |c| {
            c.scripting
                .busy_threshold_ms
                .load(Ordering::Relaxed)
                .to_string()
        },
        set: Some(Set::Int(Int {
            min: 0,
            max: i64::MAX,
            apply: |c, v| {
                c.scripting
                    .busy_threshold_ms
                    .store(v as u64, Ordering::Relaxed)
            },
        })),
    }
}

/// Every setting CONFIG knows, in the order CONFIG GET * lists them.
const SETTINGS: &[Setting] = &[
    Setting {
        name: "slowlog-log-slower-than",
        get: |c| c.slowlog_slower_than.load(Ordering::Relaxed).to_string(),
        set: Some(Set::Int(Int {
            min: -1,
            max: i64::MAX,
            apply: |c, v| c.slowlog_slower_than.store(v, Ordering::Relaxed),
        })),
    },
    Setting {
        name: "slowlog-max-len",
        get: |c| c.slowlog_max_len().to_string(),
        set: Some(Set::Int(Int {
            min: 0,
            max: i64::MAX,
            apply: |c, v| c.slowlog_max_len.store(v as usize, Ordering::Relaxed),
        })),
    },
    Setting {
        name: "maxclients",
        get: |c| c.clients.max().to_string(),
        set: Some(Set::Int(Int {
            min: 1,
            max: u32::MAX as i64,
            apply: |c, v| c.clients.set_max(v as usize),
        })),
    },
    Setting {
        name: "timeout",
        get: |c| c.idle_timeout_secs.load(Ordering::Relaxed).to_string(),
        set: Some(Set::Int(Int {
            min: 0,
            max: i32::MAX as i64,
            apply: |c, v| c.idle_timeout_secs.store(v as u64, Ordering::Relaxed),
        })),
    },
    Setting {
        name: "min-replicas-to-ack",
        get: |c| c.min_replicas_to_ack().to_string(),
        set: Some(Set::Int(Int {
            min: 0,
            max: i32::MAX as i64,
            apply: |c, v| c.min_replicas_to_ack.store(v as u32, Ordering::Relaxed),
        })),
    },
    Setting {
        name: "read-cache-bytes",
        get: |c| c.read_cache_bytes.load(Ordering::Relaxed).to_string(),
        set: Some(Set::Int(Int {
            min: 0,
            max: i64::MAX,
            apply: |c, v| c.read_cache_bytes.store(v as usize, Ordering::Relaxed),
        })),
    },
    busy_reply_threshold("busy-reply-threshold"),
    // Its name before Redis 7.0, still an alias there.
    busy_reply_threshold("lua-time-limit"),
    Setting {
        name: "log-level",
        get: |_| crate::logs::level(),
        set: Some(Set::Text(Text {
            check: crate::logs::check,
            apply: |_, v| {
                if let Err(e) = crate::logs::set_level(v) {
                    tracing::warn!("log-level {v:?} not applied: {e}");
                }
            },
        })),
    },
    fixed("databases", |_| match crate::shard::space::cluster_mode() {
        true => "1".into(),
        false => crate::shard::space::databases().to_string(),
    }),
    fixed("maxmemory", |_| "0".into()),
    fixed("maxmemory-policy", |_| "noeviction".into()),
    fixed("appendonly", |c| {
        match c.durability {
            Durability::None => "no",
            _ => "yes",
        }
        .into()
    }),
    fixed("appendfsync", |c| {
        match c.durability {
            Durability::None => "no",
            Durability::Wal => "everysec",
            Durability::Fsync => "always",
        }
        .into()
    }),
    fixed("durability", |c| c.durability.as_str().into()),
    fixed("save", |_| String::new()),
    fixed("cluster-enabled", |c| {
        match c.cluster.is_some() {
            true => "yes",
            false => "no",
        }
        .into()
    }),
    fixed("proto-max-bulk-len", |c| c.proto_max_bulk_len.to_string()),
    fixed("client-query-buffer-limit", |c| {
        c.client_query_buffer_limit.to_string()
    }),
    fixed("dir", |c| absolute(&c.data_dir)),
];

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

fn lookup(name: &[u8]) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// CONFIG GET and CONFIG SET (`args[1]` says which).
pub(super) fn config(core: &Rc<Core>, args: &[&[u8]]) -> Result<Value, WireError> {
    if let Some(e) = arity_error(args) {
        return Err(e);
    }
    let cfg = core.config();
    match args[1].to_ascii_lowercase().as_slice() {
        b"get" => get(cfg, &args[2..]),
        _ => set(cfg, &args[2..]),
    }
}

/// The settings each pattern names (a glob, or an exact name), once each.
fn get(cfg: &CoreConfig, patterns: &[&[u8]]) -> Result<Value, WireError> {
    let mut found: Vec<&Setting> = Vec::new();
    for p in patterns {
        let lower = p.to_ascii_lowercase();
        let glob = lower.iter().any(|b| b"*?[".contains(b));
        for s in SETTINGS {
            let hit = match glob {
                true => glob_match(&lower, s.name.as_bytes()),
                false => s.name.as_bytes() == lower.as_slice(),
            };
            if hit && !found.iter().any(|f| f.name == s.name) {
                found.push(s);
            }
        }
    }
    Ok(Value::Map(
        found
            .into_iter()
            .map(|s| (Value::bytes(s.name), Value::bytes((s.get)(cfg))))
            .collect(),
    ))
}

/// Sets every pair or none: all are checked first, as Redis 7 does.
fn set(cfg: &CoreConfig, pairs: &[&[u8]]) -> Result<Value, WireError> {
    if !pairs.len().is_multiple_of(2) {
        return Err(bad("syntax error"));
    }
    let failed = |name: &str, why: &str| {
        bad(format!(
            "CONFIG SET failed (possibly related to argument '{name}') - {why}"
        ))
    };
    // Redis names the first unknown option before any other complaint.
    if let Some(unknown) = pairs.chunks(2).find(|p| lookup(p[0]).is_none()) {
        return Err(bad(format!(
            "Unknown option or number of arguments for CONFIG SET - '{}'",
            String::from_utf8_lossy(unknown[0])
        )));
    }
    let mut plan: Vec<(&Setting, &Set, &[u8])> = Vec::new();
    for p in pairs.chunks(2) {
        let s = lookup(p[0]).expect("checked above");
        let name = String::from_utf8_lossy(p[0]);
        let Some(how) = &s.set else {
            return Err(failed(&name, "can't set immutable config"));
        };
        if plan.iter().any(|(done, _, _)| done.name == s.name) {
            return Err(failed(&name, "duplicate parameter"));
        }
        plan.push((s, how, p[1]));
    }
    let mut values = Vec::with_capacity(plan.len());
    for (s, how, raw) in &plan {
        values.push(check(s.name, how, raw).map_err(|why| failed(s.name, &why))?);
    }
    for v in values {
        match v {
            Checked::Int(int, v) => (int.apply)(cfg, v),
            Checked::Text(text, v) => (text.apply)(cfg, &v),
        }
    }
    Ok(Value::ok())
}

/// Parses one value as its setting takes it, or says why not.
fn check<'a>(name: &str, how: &'a Set, raw: &[u8]) -> Result<Checked<'a>, String> {
    match how {
        Set::Int(int) => {
            let v = parse_int(raw).ok_or("argument couldn't be parsed into an integer")?;
            if !(int.min..=int.max).contains(&v) {
                return Err(format!(
                    "argument must be between {} and {} inclusive",
                    int.min, int.max
                ));
            }
            Ok(Checked::Int(int, v))
        }
        Set::Text(text) => {
            let v = std::str::from_utf8(raw)
                .map_err(|_| format!("{name} must be UTF-8"))?
                .to_string();
            (text.check)(&v)?;
            Ok(Checked::Text(text, v))
        }
    }
}

/// CONFIG GET's and SET's argument counts, as Redis words them.
fn arity_error(args: &[&[u8]]) -> Option<WireError> {
    let (sub, least) = match args[1].to_ascii_lowercase().as_slice() {
        b"get" => ("config|get", 3),
        _ => ("config|set", 4),
    };
    (args.len() < least).then(|| bad(format!("wrong number of arguments for '{sub}' command")))
}
