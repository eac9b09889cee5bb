//! Model-based property tests: random command sequences per type, sent to
//! the real server (restarted in the middle of every sequence) and to a
//! plain in-memory model, must give the same answers.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use common::{block_on, Node};
use proptest::prelude::*;
use tessera::client::Client;
use tessera::codes::ErrorCode;
use tessera::proto::value::Value;

/// The in-memory model of one keyspace.
#[derive(Debug, Clone, PartialEq)]
enum M {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    ZSet(BTreeMap<Vec<u8>, f64>),
    List(VecDeque<Vec<u8>>),
}

type Db = BTreeMap<Vec<u8>, M>;
type Answer = Result<Value, ErrorCode>;

const WRONG: Answer = Err(ErrorCode::WrongType);

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn bv(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn int(w: &str) -> i64 {
    w.parse().unwrap()
}

fn is_empty(m: &M) -> bool {
    match m {
        M::Str(_) => false,
        M::Hash(h) => h.is_empty(),
        M::Set(s) => s.is_empty(),
        M::ZSet(z) => z.is_empty(),
        M::List(l) => l.is_empty(),
    }
}

/// Redis's inclusive, negative-from-the-end range over `n` items.
fn norm(start: i64, stop: i64, n: usize) -> Option<(usize, usize)> {
    let n = n as i64;
    let s = if start < 0 { (n + start).max(0) } else { start };
    let e = if stop < 0 { n + stop } else { stop.min(n - 1) };
    (s <= e && s < n && e >= 0).then_some((s as usize, e as usize))
}

fn zsorted(z: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Members, with their scores as pairs (WITHSCORES, a pop's count).
fn scored(items: &[(Vec<u8>, f64)], with: bool) -> Value {
    match with {
        true => Value::Pairs(
            items
                .iter()
                .map(|(m, s)| (bv(m), Value::Double(*s)))
                .collect(),
        ),
        false => Value::Array(items.iter().map(|(m, _)| bv(m)).collect()),
    }
}

/// Applies one command to the model. Only the commands the generators
/// produce are modelled.
fn apply(db: &mut Db, w: &[String]) -> Answer {
    let name = w[0].to_ascii_uppercase();
    let key = bytes(&w[1]);
    macro_rules! get {
        ($variant:ident, $empty:expr) => {
            match db.get(&key) {
                None => $empty,
                Some(M::$variant(x)) => x.clone(),
                Some(_) => return WRONG,
            }
        };
    }
    let answer = match name.as_str() {
        "SET" => {
            db.insert(key.clone(), M::Str(bytes(&w[2])));
            Ok(Value::ok())
        }
        "DEL" => Ok(Value::Int(db.remove(&key).is_some() as i64)),
        "EXISTS" => Ok(Value::Int(db.contains_key(&key) as i64)),
        "TYPE" => Ok(Value::Status(
            match db.get(&key) {
                None => "none",
                Some(M::Str(_)) => "string",
                Some(M::Hash(_)) => "hash",
                Some(M::Set(_)) => "set",
                Some(M::ZSet(_)) => "zset",
                Some(M::List(_)) => "list",
            }
            .into(),
        )),
        // ---- hashes
        "HSET" => {
            let mut h = get!(Hash, BTreeMap::new());
            let mut added = 0;
            for p in w[2..].chunks(2) {
                added += h.insert(bytes(&p[0]), bytes(&p[1])).is_none() as i64;
            }
            db.insert(key.clone(), M::Hash(h));
            Ok(Value::Int(added))
        }
        "HSETNX" => {
            let mut h = get!(Hash, BTreeMap::new());
            let f = bytes(&w[2]);
            if h.contains_key(&f) {
                return Ok(Value::Int(0));
            }
            h.insert(f, bytes(&w[3]));
            db.insert(key.clone(), M::Hash(h));
            Ok(Value::Int(1))
        }
        "HDEL" => {
            let mut h = get!(Hash, BTreeMap::new());
            let n = w[2..]
                .iter()
                .filter(|f| h.remove(f.as_bytes()).is_some())
                .count();
            db.insert(key.clone(), M::Hash(h));
            Ok(Value::Int(n as i64))
        }
        "HGET" => Ok(get!(Hash, BTreeMap::new())
            .get(w[2].as_bytes())
            .map(|v| bv(v))
            .unwrap_or(Value::Nil)),
        "HLEN" => Ok(Value::Int(get!(Hash, BTreeMap::new()).len() as i64)),
        "HGETALL" => Ok(Value::Map(
            get!(Hash, BTreeMap::new())
                .iter()
                .map(|(f, v)| (bv(f), bv(v)))
                .collect(),
        )),
        "HINCRBY" => {
            let mut h = get!(Hash, BTreeMap::new());
            let f = bytes(&w[2]);
            let old = match h.get(&f) {
                None => 0,
                Some(v) => match std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    Some(n) if n.to_string().as_bytes() == v.as_slice() => n,
                    _ => return Err(ErrorCode::NotInteger),
                },
            };
            let new = old.checked_add(int(&w[3])).ok_or(ErrorCode::Overflow)?;
            h.insert(f, new.to_string().into_bytes());
            db.insert(key.clone(), M::Hash(h));
            Ok(Value::Int(new))
        }
        "HRANGE" => {
            // HRANGE key start stop [REV] KEYSONLY
            let h = get!(Hash, BTreeMap::new());
            let (start, stop) = (bytes(&w[2]), bytes(&w[3]));
            let mut keys: Vec<Vec<u8>> = h
                .keys()
                .filter(|f| (start.is_empty() || **f >= start) && (stop.is_empty() || **f < stop))
                .cloned()
                .collect();
            if w.iter().any(|x| x == "REV") {
                keys.reverse();
            }
            Ok(Value::Array(keys.iter().map(|k| bv(k)).collect()))
        }
        // ---- sets
        "SADD" => {
            let mut s = get!(Set, BTreeSet::new());
            let n = w[2..].iter().filter(|m| s.insert(bytes(m))).count();
            db.insert(key.clone(), M::Set(s));
            Ok(Value::Int(n as i64))
        }
        "SREM" => {
            let mut s = get!(Set, BTreeSet::new());
            let n = w[2..].iter().filter(|m| s.remove(m.as_bytes())).count();
            db.insert(key.clone(), M::Set(s));
            Ok(Value::Int(n as i64))
        }
        "SISMEMBER" => Ok(Value::Int(
            get!(Set, BTreeSet::new()).contains(w[2].as_bytes()) as i64,
        )),
        "SCARD" => Ok(Value::Int(get!(Set, BTreeSet::new()).len() as i64)),
        "SMEMBERS" => Ok(Value::Array(
            get!(Set, BTreeSet::new()).iter().map(|m| bv(m)).collect(),
        )),
        "SINTER" | "SUNION" | "SDIFF" | "SUNIONSTORE" | "SINTERSTORE" => {
            let store = name.ends_with("STORE");
            let srcs = if store { &w[2..] } else { &w[1..] };
            let mut sets = Vec::new();
            for k in srcs {
                match db.get(k.as_bytes()) {
                    None => sets.push(BTreeSet::new()),
                    Some(M::Set(s)) => sets.push(s.clone()),
                    Some(_) => return WRONG,
                }
            }
            let mut acc = sets[0].clone();
            for s in &sets[1..] {
                acc = if name.starts_with("SINTER") {
                    acc.intersection(s).cloned().collect()
                } else if name.starts_with("SUNION") {
                    acc.union(s).cloned().collect()
                } else {
                    acc.difference(s).cloned().collect()
                };
            }
            if store {
                let n = acc.len();
                db.insert(key.clone(), M::Set(acc));
                Ok(Value::Int(n as i64))
            } else {
                Ok(Value::Array(acc.iter().map(|m| bv(m)).collect()))
            }
        }
        // ---- sorted sets
        "ZADD" => {
            let mut z = get!(ZSet, BTreeMap::new());
            let mut i = 2;
            let mut flags = BTreeSet::new();
            while ["NX", "XX", "GT", "LT", "CH"].contains(&w[i].as_str()) {
                flags.insert(w[i].as_str());
                i += 1;
            }
            let mut count = 0;
            for p in w[i..].chunks(2) {
                let (s, m): (f64, Vec<u8>) = (p[0].parse().unwrap(), bytes(&p[1]));
                let old = z.get(&m).copied();
                let allowed = match old {
                    None => !flags.contains("XX"),
                    Some(o) => {
                        !flags.contains("NX")
                            && (!flags.contains("GT") || s > o)
                            && (!flags.contains("LT") || s < o)
                    }
                };
                if !allowed {
                    continue;
                }
                match old {
                    None => count += 1,
                    Some(o) if o != s && flags.contains("CH") => count += 1,
                    _ => {}
                }
                z.insert(m, s);
            }
            db.insert(key.clone(), M::ZSet(z));
            Ok(Value::Int(count))
        }
        "ZINCRBY" => {
            let mut z = get!(ZSet, BTreeMap::new());
            let m = bytes(&w[3]);
            let s = z.get(&m).copied().unwrap_or(0.0) + w[2].parse::<f64>().unwrap();
            z.insert(m, s);
            db.insert(key.clone(), M::ZSet(z));
            Ok(Value::Double(s))
        }
        "ZREM" => {
            let mut z = get!(ZSet, BTreeMap::new());
            let n = w[2..]
                .iter()
                .filter(|m| z.remove(m.as_bytes()).is_some())
                .count();
            db.insert(key.clone(), M::ZSet(z));
            Ok(Value::Int(n as i64))
        }
        "ZSCORE" => Ok(get!(ZSet, BTreeMap::new())
            .get(w[2].as_bytes())
            .map(|s| Value::Double(*s))
            .unwrap_or(Value::Nil)),
        "ZCARD" => Ok(Value::Int(get!(ZSet, BTreeMap::new()).len() as i64)),
        "ZRANK" => {
            let z = get!(ZSet, BTreeMap::new());
            Ok(zsorted(&z)
                .iter()
                .position(|(m, _)| m == w[2].as_bytes())
                .map(|r| Value::Int(r as i64))
                .unwrap_or(Value::Nil))
        }
        "ZRANGE" => {
            // ZRANGE key start stop [REV] [WITHSCORES]
            let z = get!(ZSet, BTreeMap::new());
            let mut all = zsorted(&z);
            if w.iter().any(|x| x == "REV") {
                all.reverse();
            }
            let with = w.iter().any(|x| x == "WITHSCORES");
            Ok(match norm(int(&w[2]), int(&w[3]), all.len()) {
                None => scored(&[], with),
                Some((s, e)) => scored(&all[s..=e], with),
            })
        }
        "ZRANGEBYSCORE" | "ZCOUNT" | "ZREMRANGEBYSCORE" => {
            let mut z = get!(ZSet, BTreeMap::new());
            let bound = |x: &str| -> (f64, bool) {
                match x.strip_prefix('(') {
                    Some(r) => (r.parse().unwrap(), true),
                    None => (x.parse().unwrap(), false),
                }
            };
            let ((lo, lx), (hi, hx)) = (bound(&w[2]), bound(&w[3]));
            let hit: Vec<(Vec<u8>, f64)> = zsorted(&z)
                .into_iter()
                .filter(|(_, s)| {
                    (if lx { *s > lo } else { *s >= lo }) && (if hx { *s < hi } else { *s <= hi })
                })
                .collect();
            match name.as_str() {
                "ZCOUNT" => Ok(Value::Int(hit.len() as i64)),
                "ZRANGEBYSCORE" => Ok(scored(&hit, false)),
                _ => {
                    for (m, _) in &hit {
                        z.remove(m);
                    }
                    db.insert(key.clone(), M::ZSet(z));
                    Ok(Value::Int(hit.len() as i64))
                }
            }
        }
        "ZPOPMIN" | "ZPOPMAX" => {
            let mut z = get!(ZSet, BTreeMap::new());
            let mut all = zsorted(&z);
            if name == "ZPOPMAX" {
                all.reverse();
            }
            all.truncate(int(&w[2]) as usize);
            for (m, _) in &all {
                z.remove(m);
            }
            db.insert(key.clone(), M::ZSet(z));
            Ok(scored(&all, true))
        }
        // ---- lists
        "LPUSH" | "RPUSH" => {
            let mut l = get!(List, VecDeque::new());
            for v in &w[2..] {
                if name == "LPUSH" {
                    l.push_front(bytes(v));
                } else {
                    l.push_back(bytes(v));
                }
            }
            let n = l.len();
            db.insert(key.clone(), M::List(l));
            Ok(Value::Int(n as i64))
        }
        "LPOP" | "RPOP" => {
            let existed = db.contains_key(&key);
            let mut l = get!(List, VecDeque::new());
            let count = w.get(2).map(|c| int(c) as usize);
            let mut out = Vec::new();
            for _ in 0..count.unwrap_or(1) {
                let v = if name == "LPOP" {
                    l.pop_front()
                } else {
                    l.pop_back()
                };
                match v {
                    Some(v) => out.push(bv(&v)),
                    None => break,
                }
            }
            db.insert(key.clone(), M::List(l));
            Ok(match count {
                None => out.into_iter().next().unwrap_or(Value::Nil),
                Some(_) if !existed => Value::Nil,
                Some(_) => Value::Array(out),
            })
        }
        "LLEN" => Ok(Value::Int(get!(List, VecDeque::new()).len() as i64)),
        "LRANGE" => {
            let l = get!(List, VecDeque::new());
            Ok(match norm(int(&w[2]), int(&w[3]), l.len()) {
                None => Value::Array(vec![]),
                Some((s, e)) => Value::Array(l.range(s..=e).map(|v| bv(v)).collect()),
            })
        }
        "LINDEX" => {
            let l = get!(List, VecDeque::new());
            let i = int(&w[2]);
            let i = if i < 0 { l.len() as i64 + i } else { i };
            Ok(if i < 0 { None } else { l.get(i as usize) }
                .map(|v| bv(v))
                .unwrap_or(Value::Nil))
        }
        "LSET" => {
            let Some(M::List(l)) = db.get_mut(&key) else {
                return if db.contains_key(&key) {
                    WRONG
                } else {
                    Err(ErrorCode::NoSuchKey)
                };
            };
            let i = int(&w[2]);
            let i = if i < 0 { l.len() as i64 + i } else { i };
            match (i >= 0).then(|| l.get_mut(i as usize)).flatten() {
                Some(slot) => {
                    *slot = bytes(&w[3]);
                    Ok(Value::ok())
                }
                None => Err(ErrorCode::OutOfRange),
            }
        }
        "LINSERT" => {
            let Some(m) = db.get_mut(&key) else {
                return Ok(Value::Int(0));
            };
            let M::List(l) = m else { return WRONG };
            match l.iter().position(|v| v == w[3].as_bytes()) {
                None => Ok(Value::Int(-1)),
                Some(at) => {
                    let at = if w[2] == "BEFORE" { at } else { at + 1 };
                    l.insert(at, bytes(&w[4]));
                    Ok(Value::Int(l.len() as i64))
                }
            }
        }
        "LREM" => {
            let l = get!(List, VecDeque::new());
            let count = int(&w[2]);
            let target = w[3].as_bytes();
            let mut items: Vec<Vec<u8>> = l.into_iter().collect();
            let limit = if count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            let mut removed = 0;
            let idx: Vec<usize> = if count < 0 {
                (0..items.len()).rev().collect()
            } else {
                (0..items.len()).collect()
            };
            let mut drop_at = BTreeSet::new();
            for i in idx {
                if removed < limit && items[i] == target {
                    drop_at.insert(i);
                    removed += 1;
                }
            }
            let mut i = 0;
            items.retain(|_| {
                i += 1;
                !drop_at.contains(&(i - 1))
            });
            db.insert(key.clone(), M::List(items.into_iter().collect()));
            Ok(Value::Int(removed as i64))
        }
        "LTRIM" => {
            let l = get!(List, VecDeque::new());
            let kept = match norm(int(&w[2]), int(&w[3]), l.len()) {
                None => VecDeque::new(),
                Some((s, e)) => l.range(s..=e).cloned().collect(),
            };
            db.insert(key.clone(), M::List(kept));
            Ok(Value::ok())
        }
        "LMOVE" => {
            let to = bytes(&w[2]);
            let mut from_list = match db.get(&key) {
                None => return Ok(Value::Nil),
                Some(M::List(l)) => l.clone(),
                Some(_) => return WRONG,
            };
            let mut to_list = match db.get(&to) {
                None => VecDeque::new(),
                Some(M::List(l)) => l.clone(),
                Some(_) => return WRONG,
            };
            let v = if w[3] == "LEFT" {
                from_list.pop_front()
            } else {
                from_list.pop_back()
            };
            let Some(v) = v else { return Ok(Value::Nil) };
            db.insert(key.clone(), M::List(from_list));
            if key == to {
                to_list = match db.get(&to) {
                    Some(M::List(l)) => l.clone(),
                    _ => VecDeque::new(),
                };
            }
            if w[4] == "LEFT" {
                to_list.push_front(v.clone());
            } else {
                to_list.push_back(v.clone());
            }
            db.insert(to, M::List(to_list));
            Ok(bv(&v))
        }
        other => panic!("the model does not know {other}"),
    };
    db.retain(|_, m| !is_empty(m));
    answer
}

// ---- generators ---------------------------------------------------------------

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{m}a".to_string()),
        Just("{m}b".to_string()),
        Just("{m}c".to_string())
    ]
}

fn member() -> impl Strategy<Value = String> {
    "[a-e]{0,2}"
}

fn small() -> impl Strategy<Value = i64> {
    -4i64..5
}

fn score() -> impl Strategy<Value = String> {
    (-6i32..7).prop_map(|h| format!("{}", h as f64 / 2.0))
}

fn common_ops() -> BoxedStrategy<Vec<String>> {
    prop_oneof![
        key().prop_map(|k| vec!["DEL".into(), k]),
        key().prop_map(|k| vec!["TYPE".into(), k]),
        key().prop_map(|k| vec!["EXISTS".into(), k]),
        (key(), member()).prop_map(|(k, v)| vec!["SET".into(), k, v]),
    ]
    .boxed()
}

fn words(parts: Vec<&str>, rest: Vec<String>) -> Vec<String> {
    parts.into_iter().map(String::from).chain(rest).collect()
}

fn hash_ops() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        4 => (key(), prop::collection::vec((member(), member()), 1..4)).prop_map(|(k, fv)| {
            words(vec!["HSET", &k], fv.into_iter().flat_map(|(f, v)| [f, v]).collect())
        }),
        1 => (key(), member(), member()).prop_map(|(k, f, v)| vec!["HSETNX".into(), k, f, v]),
        2 => (key(), prop::collection::vec(member(), 1..3)).prop_map(|(k, fs)| words(vec!["HDEL", &k], fs)),
        2 => (key(), member()).prop_map(|(k, f)| vec!["HGET".into(), k, f]),
        1 => key().prop_map(|k| vec!["HLEN".into(), k]),
        2 => key().prop_map(|k| vec!["HGETALL".into(), k]),
        2 => (key(), member(), small()).prop_map(|(k, f, d)| vec!["HINCRBY".into(), k, f, d.to_string()]),
        2 => (key(), member(), member(), any::<bool>()).prop_map(|(k, a, b, rev)| {
            let mut w = vec!["HRANGE".into(), k, a, b];
            if rev {
                w.push("REV".into());
            }
            w.push("KEYSONLY".into());
            w
        }),
        1 => common_ops(),
    ]
}

fn set_ops() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        4 => (key(), prop::collection::vec(member(), 1..4)).prop_map(|(k, ms)| words(vec!["SADD", &k], ms)),
        2 => (key(), prop::collection::vec(member(), 1..3)).prop_map(|(k, ms)| words(vec!["SREM", &k], ms)),
        1 => (key(), member()).prop_map(|(k, m)| vec!["SISMEMBER".into(), k, m]),
        1 => key().prop_map(|k| vec!["SCARD".into(), k]),
        2 => key().prop_map(|k| vec!["SMEMBERS".into(), k]),
        2 => (prop_oneof![Just("SINTER"), Just("SUNION"), Just("SDIFF")], key(), key())
            .prop_map(|(op, a, b)| vec![op.into(), a, b]),
        1 => (prop_oneof![Just("SUNIONSTORE"), Just("SINTERSTORE")], key(), key(), key())
            .prop_map(|(op, d, a, b)| vec![op.into(), d, a, b]),
        1 => common_ops(),
    ]
}

fn zset_ops() -> impl Strategy<Value = Vec<String>> {
    let flag = prop_oneof![Just(""), Just("NX"), Just("XX"), Just("GT"), Just("LT")];
    prop_oneof![
        4 => (key(), flag, any::<bool>(), prop::collection::vec((score(), member()), 1..4)).prop_map(
            |(k, f, ch, pairs)| {
                let mut w = vec!["ZADD".to_string(), k];
                if !f.is_empty() {
                    w.push(f.into());
                }
                if ch {
                    w.push("CH".into());
                }
                w.extend(pairs.into_iter().flat_map(|(s, m)| [s, m]));
                w
            }
        ),
        1 => (key(), score(), member()).prop_map(|(k, s, m)| vec!["ZINCRBY".into(), k, s, m]),
        2 => (key(), prop::collection::vec(member(), 1..3)).prop_map(|(k, ms)| words(vec!["ZREM", &k], ms)),
        1 => (key(), member()).prop_map(|(k, m)| vec!["ZSCORE".into(), k, m]),
        1 => key().prop_map(|k| vec!["ZCARD".into(), k]),
        1 => (key(), member()).prop_map(|(k, m)| vec!["ZRANK".into(), k, m]),
        3 => (key(), small(), small(), any::<bool>(), any::<bool>()).prop_map(|(k, a, b, rev, with)| {
            let mut w = vec!["ZRANGE".into(), k, a.to_string(), b.to_string()];
            if rev {
                w.push("REV".into());
            }
            if with {
                w.push("WITHSCORES".into());
            }
            w
        }),
        2 => (prop_oneof![Just("ZRANGEBYSCORE"), Just("ZCOUNT"), Just("ZREMRANGEBYSCORE")], key(), score(), score(), any::<bool>())
            .prop_map(|(op, k, lo, hi, excl)| {
                let lo = if excl { format!("({lo}") } else { lo };
                vec![op.into(), k, lo, hi]
            }),
        2 => (prop_oneof![Just("ZPOPMIN"), Just("ZPOPMAX")], key(), 0i64..3)
            .prop_map(|(op, k, n)| vec![op.into(), k, n.to_string()]),
        1 => common_ops(),
    ]
}

fn list_ops() -> impl Strategy<Value = Vec<String>> {
    let side = || prop_oneof![Just("LEFT"), Just("RIGHT")];
    prop_oneof![
        4 => (prop_oneof![Just("LPUSH"), Just("RPUSH")], key(), prop::collection::vec(member(), 1..4))
            .prop_map(|(op, k, vs)| words(vec![op, &k], vs)),
        2 => (prop_oneof![Just("LPOP"), Just("RPOP")], key(), prop::option::of(0i64..3)).prop_map(|(op, k, n)| {
            let mut w = vec![op.to_string(), k];
            w.extend(n.map(|n| n.to_string()));
            w
        }),
        1 => key().prop_map(|k| vec!["LLEN".into(), k]),
        3 => (key(), small(), small()).prop_map(|(k, a, b)| vec!["LRANGE".into(), k, a.to_string(), b.to_string()]),
        1 => (key(), small()).prop_map(|(k, i)| vec!["LINDEX".into(), k, i.to_string()]),
        1 => (key(), small(), member()).prop_map(|(k, i, v)| vec!["LSET".into(), k, i.to_string(), v]),
        1 => (key(), prop_oneof![Just("BEFORE"), Just("AFTER")], member(), member())
            .prop_map(|(k, w, p, v)| vec!["LINSERT".into(), k, w.into(), p, v]),
        1 => (key(), small(), member()).prop_map(|(k, n, v)| vec!["LREM".into(), k, n.to_string(), v]),
        1 => (key(), small(), small()).prop_map(|(k, a, b)| vec!["LTRIM".into(), k, a.to_string(), b.to_string()]),
        1 => (key(), key(), side(), side()).prop_map(|(a, b, s, t)| vec!["LMOVE".into(), a, b, s.into(), t.into()]),
        1 => common_ops(),
    ]
}

/// Runs `ops` against a fresh 2-core node, restarting it after `cut` ops,
/// and against the model; the first difference fails the case.
fn check(ops: Vec<Vec<String>>, cut: usize) -> Result<(), TestCaseError> {
    let cut = cut % (ops.len() + 1);
    let mut db = Db::new();
    let mut node = Node::start(2);
    for (phase, range) in [(0, 0..cut), (1, cut..ops.len())] {
        if phase == 1 {
            let dir = node.stop();
            node = Node::start_in(dir, |c| c.cores = Some(2));
        }
        let addr = node.addr();
        let batch: Vec<Vec<String>> = ops[range.clone()].to_vec();
        let got: Vec<Answer> = block_on(async move {
            let c = Client::connect(addr).await.unwrap();
            let mut out = Vec::new();
            for w in &batch {
                let args: Vec<&[u8]> = w.iter().map(|s| s.as_bytes()).collect();
                out.push(match c.command(&args).await {
                    Ok((_, v)) => Ok(v),
                    Err(e) => Err(e.code().unwrap_or_else(|| panic!("{w:?}: {e}"))),
                });
            }
            out
        });
        for (w, got) in ops[range].iter().zip(got) {
            let want = apply(&mut db, w);
            prop_assert_eq!(&got, &want, "command {:?} (phase {})", w, phase);
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 12,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hashes_match_the_model(ops in prop::collection::vec(hash_ops(), 1..50), cut in any::<usize>()) {
        check(ops, cut)?;
    }

    #[test]
    fn sets_match_the_model(ops in prop::collection::vec(set_ops(), 1..50), cut in any::<usize>()) {
        check(ops, cut)?;
    }

    #[test]
    fn sorted_sets_match_the_model(ops in prop::collection::vec(zset_ops(), 1..50), cut in any::<usize>()) {
        check(ops, cut)?;
    }

    #[test]
    fn lists_match_the_model(ops in prop::collection::vec(list_ops(), 1..50), cut in any::<usize>()) {
        check(ops, cut)?;
    }
}
