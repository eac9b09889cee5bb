//! Hash commands and the (hashkey, sortkey) model: HSET, HSETNX, HGET,
//! HMGET, HDEL, HGETALL, HKEYS, HVALS, HLEN, HEXISTS, HINCRBY,
//! HINCRBYFLOAT, HSCAN, HSTRLEN, HRANGE (sortkey range scan) and
//! CHECKANDSET.

use super::{bad, syntax, Apply, Args, CmdError, CmdResult, ScanOpts, Value, WordPairs};
use crate::shard::hash::{format_float, Bound, Check, SortRange};
use crate::shard::tx::Tx;

pub const APPLY: &[Apply] = &[
    ("hset", hset),
    ("hmset", hmset),
    ("hsetnx", hsetnx),
    ("hget", hget),
    ("hmget", hmget),
    ("hdel", hdel),
    ("hgetall", hgetall),
    ("hkeys", |t, a| hpart(t, a, true)),
    ("hvals", |t, a| hpart(t, a, false)),
    ("hlen", hlen),
    ("hexists", hexists),
    ("hstrlen", hstrlen),
    ("hincrby", hincrby),
    ("hincrbyfloat", hincrbyfloat),
    ("hscan", hscan),
    ("hrange", hrange),
    ("checkandset", checkandset),
];

fn field_pairs<'a>(a: &mut Args<'a>, name: &str) -> Result<WordPairs<'a>, CmdError> {
    a.pairs().ok_or_else(|| {
        CmdError::Wire(bad(format!(
            "wrong number of arguments for '{name}' command"
        )))
    })
}

fn hset(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let pairs = field_pairs(a, "hset")?;
    Ok(Value::Int(t.hset(key, &pairs)? as i64))
}

fn hmset(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let pairs = field_pairs(a, "hmset")?;
    t.hset(key, &pairs)?;
    Ok(Value::ok())
}

fn hsetnx(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, f, v) = (a.word()?, a.word()?, a.word()?);
    Ok(Value::Int(t.hsetnx(key, f, v)? as i64))
}

fn hget(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, f) = (a.word()?, a.word()?);
    Ok(Value::opt(t.hget(key, f)?))
}

fn hmget(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let fields = a.rest();
    Ok(Value::list(t.hmget(key, fields)?, Value::opt))
}

fn hdel(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Int(t.hdel(key, a.rest())? as i64))
}

fn hgetall(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    Ok(Value::Map(
        t.hgetall(key)?
            .into_iter()
            .map(|(f, v)| (Value::Bytes(f), Value::Bytes(v)))
            .collect(),
    ))
}

fn hpart(t: &mut Tx<'_>, a: &mut Args<'_>, keys: bool) -> CmdResult {
    let key = a.word()?;
    Ok(Value::list(t.hgetall(key)?, |(f, v)| {
        Value::Bytes(if keys { f } else { v })
    }))
}

fn hlen(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    Ok(Value::Int(t.hlen(a.word()?)? as i64))
}

fn hexists(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, f) = (a.word()?, a.word()?);
    Ok(Value::Int(t.hget(key, f)?.is_some() as i64))
}

fn hstrlen(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, f) = (a.word()?, a.word()?);
    Ok(Value::Int(
        t.hget(key, f)?.map(|v| v.len()).unwrap_or(0) as i64
    ))
}

fn hincrby(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, f) = (a.word()?, a.word()?);
    let d = a.int()?;
    Ok(Value::Int(t.hincrby(key, f, d)?))
}

fn hincrbyfloat(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, f) = (a.word()?, a.word()?);
    let d = a.float()?;
    Ok(Value::bytes(format_float(t.hincrbyfloat(key, f, d)?)))
}

fn hscan(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let o = ScanOpts::parse(a)?;
    let (next, items) = t.hscan(key, o.after.as_deref(), o.count, &|m| o.keep(m))?;
    let mut flat = Vec::with_capacity(items.len() * 2);
    for (f, v) in items {
        flat.push(Value::Bytes(f));
        flat.push(Value::Bytes(v));
    }
    Ok(Value::Array(vec![
        ScanOpts::cursor(next),
        Value::Array(flat),
    ]))
}

/// HRANGE key start stop [STARTEXCL] [STOPINCL] [PREFIX p] [SUFFIX s]
/// [LIMIT n] [REV] [KEYSONLY]. An empty start or stop is unbounded; start
/// is inclusive and stop exclusive unless told otherwise (Pegasus's
/// defaults).
fn hrange(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let key = a.word()?;
    let bound = |b: &[u8], inclusive| Bound {
        key: (!b.is_empty()).then(|| b.to_vec()),
        inclusive,
    };
    let mut r = SortRange {
        start: bound(a.word()?, true),
        stop: bound(a.word()?, false),
        ..Default::default()
    };
    let mut keys_only = false;
    while a.left() > 0 {
        if a.eat("startexcl") {
            r.start.inclusive = false;
        } else if a.eat("stopincl") {
            r.stop.inclusive = true;
        } else if a.eat("prefix") {
            r.prefix = a.word()?.to_vec();
        } else if a.eat("suffix") {
            r.suffix = a.word()?.to_vec();
        } else if a.eat("limit") {
            r.limit = a.count()? as usize;
        } else if a.eat("rev") {
            r.reverse = true;
        } else if a.eat("keysonly") {
            keys_only = true;
        } else {
            return Err(syntax());
        }
    }
    let items = t.hrange(key, &r)?;
    Ok(if keys_only {
        Value::list(items, |(f, _)| Value::Bytes(f))
    } else {
        Value::Map(
            items
                .into_iter()
                .map(|(f, v)| (Value::Bytes(f), Value::Bytes(v)))
                .collect(),
        )
    })
}

/// CHECKANDSET key check_field check_type [operand] set_field value.
/// check_type: EXISTS, NOTEXISTS, EQ v, PREFIX p, INTEQ n, INTLT n,
/// INTLE n, INTGT n, INTGE n. Answers [1|0, the checked field's value].
fn checkandset(t: &mut Tx<'_>, a: &mut Args<'_>) -> CmdResult {
    let (key, check_field) = (a.word()?, a.word()?);
    let kind = String::from_utf8_lossy(a.word()?).to_ascii_lowercase();
    let check = match kind.as_str() {
        "exists" => Check::Exists,
        "notexists" => Check::NotExists,
        "eq" => Check::ValueEquals(a.word()?.to_vec()),
        "prefix" => Check::ValuePrefix(a.word()?.to_vec()),
        "inteq" => Check::IntEq(a.int()?),
        "intlt" => Check::IntLt(a.int()?),
        "intle" => Check::IntLe(a.int()?),
        "intgt" => Check::IntGt(a.int()?),
        "intge" => Check::IntGe(a.int()?),
        other => return Err(CmdError::Wire(bad(format!("unknown check type '{other}'")))),
    };
    let (set_field, value) = (a.word()?, a.word()?);
    a.end()?;
    let (done, current) = t.check_and_set(key, check_field, &check, set_field, value)?;
    Ok(Value::Array(vec![
        Value::Int(done as i64),
        Value::opt(current),
    ]))
}
