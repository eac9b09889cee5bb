//! `COMMAND` and its subcommands, built from the table in Redis 7's reply
//! formats: the 10-field entries of `COMMAND INFO` (name, arity, flags,
//! first key, last key, step, ACL categories, tips, key specs,
//! subcommands), `COMMAND DOCS` (summary, since, group), `COMMAND COUNT`,
//! `COMMAND LIST` and `COMMAND GETKEYS`.

use super::{acl, flag, get, redis_commands, Command, Keys};
use crate::codes::{ErrorCode, WireError};
use crate::value::{glob_match, Value};

fn bad(m: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, m)
}

fn status(s: &str) -> Value {
    Value::Status(s.into())
}

/// A command visible to Redis clients (not binary-only), by any case.
fn redis_command(name: &[u8]) -> Option<&'static Command> {
    get(name).filter(|c| !c.has(flag::BINARY_ONLY))
}

/// `COMMAND ...` (`args[0]` is `COMMAND`); the arity of the subcommand
/// was checked by the dispatcher.
pub fn command(args: &[&[u8]]) -> Result<Value, WireError> {
    let Some(sub) = args.get(1) else {
        return Ok(Value::Array(
            redis_commands().into_iter().map(entry).collect(),
        ));
    };
    let rest = &args[2..];
    match sub.to_ascii_lowercase().as_slice() {
        b"count" => Ok(Value::Int(redis_commands().len() as i64)),
        b"info" if rest.is_empty() => Ok(Value::Array(
            redis_commands().into_iter().map(entry).collect(),
        )),
        b"info" => Ok(Value::Array(
            rest.iter()
                .map(|n| redis_command(n).map(entry).unwrap_or(Value::Nil))
                .collect(),
        )),
        b"docs" => {
            let pick: Vec<&Command> = if rest.is_empty() {
                redis_commands()
            } else {
                rest.iter().filter_map(|n| redis_command(n)).collect()
            };
            Ok(Value::Map(
                pick.into_iter()
                    .map(|c| (Value::bytes(c.name), docs(c)))
                    .collect(),
            ))
        }
        b"list" => list(rest),
        b"getkeys" => getkeys(rest).map(|keys| Value::list(keys, Value::bytes)),
        _ => Err(bad(format!(
            "unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(sub)
        ))),
    }
}

/// `CONTAINER HELP`: one line per subcommand (its name and summary), as
/// Redis answers it.
pub fn help(c: &Command) -> Value {
    let upper = c.name.to_ascii_uppercase();
    let mut lines = vec![Value::Status(format!(
        "{upper} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    for s in c.subcommands {
        let sub = s.name.split_once('|').map_or(s.name, |(_, sub)| sub);
        lines.push(Value::Status(sub.to_ascii_uppercase()));
        lines.push(Value::Status(format!(
            "    {}.",
            s.summary.trim_end_matches('.')
        )));
    }
    Value::Array(lines)
}

/// One `COMMAND INFO` entry.
pub fn entry(c: &Command) -> Value {
    let (first, last, step) = c.legacy_keys();
    let mut flags: Vec<Value> = flag::NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| c.has(1 << i))
        .map(|(_, n)| status(n))
        .collect();
    if c.movable_keys() {
        flags.push(status("movablekeys"));
    }
    let cats = c.acl_categories();
    let categories = acl::NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| cats & (1 << i) != 0)
        .map(|(_, n)| status(&format!("@{n}")))
        .collect();
    Value::Array(vec![
        Value::bytes(c.name),
        Value::Int(c.arity as i64),
        Value::Array(flags),
        Value::Int(first),
        Value::Int(last),
        Value::Int(step),
        Value::Array(categories),
        Value::list(c.tips, |t| Value::bytes(*t)),
        Value::Array(key_specs(c)),
        Value::list(c.subcommands, entry),
    ])
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::bytes(k), v))
            .collect(),
    )
}

/// Redis 7 key specs, derived from the key positions: one range spec, or
/// for movable keys a range spec for the fixed keys and a keynum spec.
fn key_specs(c: &Command) -> Vec<Value> {
    let access: &[&str] = if c.is_write() {
        &["RW", "update"]
    } else {
        &["RO", "access"]
    };
    let spec = |index: i64, find: Value| {
        map(vec![
            ("flags", Value::list(access, |f| status(f))),
            (
                "begin_search",
                map(vec![
                    ("type", Value::bytes("index")),
                    ("spec", map(vec![("index", Value::Int(index))])),
                ]),
            ),
            ("find_keys", find),
        ])
    };
    let range = |lastkey: i64, keystep: i64| {
        map(vec![
            ("type", Value::bytes("range")),
            (
                "spec",
                map(vec![
                    ("lastkey", Value::Int(lastkey)),
                    ("keystep", Value::Int(keystep)),
                    ("limit", Value::Int(0)),
                ]),
            ),
        ])
    };
    match c.keys {
        Keys::None => Vec::new(),
        Keys::Range { first, last, step } => {
            // lastkey counts from the begin index; a negative one from the end.
            let lastkey = if last < 0 {
                last as i64
            } else {
                last as i64 - first as i64
            };
            vec![spec(first as i64, range(lastkey, step as i64))]
        }
        Keys::Sort | Keys::GeoStore => vec![spec(1, range(0, 1))],
        // XREAD, XREADGROUP: after the keyword STREAMS, half the words.
        Keys::Streams => vec![map(vec![
            ("flags", Value::list(access, |f| status(f))),
            (
                "begin_search",
                map(vec![
                    ("type", Value::bytes("keyword")),
                    (
                        "spec",
                        map(vec![
                            ("keyword", Value::bytes("STREAMS")),
                            (
                                "startfrom",
                                Value::Int(if c.name == "xreadgroup" { 4 } else { 1 }),
                            ),
                        ]),
                    ),
                ]),
            ),
            (
                "find_keys",
                map(vec![
                    ("type", Value::bytes("range")),
                    (
                        "spec",
                        map(vec![
                            ("lastkey", Value::Int(-1)),
                            ("keystep", Value::Int(1)),
                            ("limit", Value::Int(2)),
                        ]),
                    ),
                ]),
            ),
        ])],
        Keys::NumKeys { fixed, skip } => {
            let mut specs = Vec::new();
            if fixed > 0 {
                specs.push(spec(1, range(fixed as i64 - 1, 1)));
            }
            let keynum = map(vec![
                ("type", Value::bytes("keynum")),
                (
                    "spec",
                    map(vec![
                        ("keynumidx", Value::Int(0)),
                        ("firstkey", Value::Int(1)),
                        ("keystep", Value::Int(1)),
                    ]),
                ),
            ]);
            specs.push(spec(fixed as i64 + skip as i64 + 1, keynum));
            specs
        }
    }
}

/// One `COMMAND DOCS` entry: summary, since, group (no argument trees).
fn docs(c: &Command) -> Value {
    let mut pairs = vec![
        ("summary", Value::bytes(c.summary)),
        ("since", Value::bytes(c.since)),
        ("group", Value::bytes(c.group.name())),
    ];
    if !c.subcommands.is_empty() {
        pairs.push((
            "subcommands",
            Value::Map(
                c.subcommands
                    .iter()
                    .map(|s| (Value::bytes(s.name), docs(s)))
                    .collect(),
            ),
        ));
    }
    map(pairs)
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`.
fn list(rest: &[&[u8]]) -> Result<Value, WireError> {
    let all = redis_commands();
    let keep: Box<dyn Fn(&Command) -> bool> = match rest {
        [] => Box::new(|_| true),
        [by, kind, what] if by.eq_ignore_ascii_case(b"filterby") => {
            match kind.to_ascii_lowercase().as_slice() {
                b"module" => Box::new(|_| false),
                b"aclcat" => {
                    let cat = what.to_ascii_lowercase();
                    let Some(bit) = acl::NAMES.iter().position(|n| n.as_bytes() == cat) else {
                        return Ok(Value::Array(vec![]));
                    };
                    Box::new(move |c| c.acl_categories() & (1 << bit) != 0)
                }
                b"pattern" => {
                    let p = what.to_ascii_lowercase();
                    Box::new(move |c| glob_match(&p, c.name.as_bytes()))
                }
                _ => return Err(bad("syntax error")),
            }
        }
        _ => return Err(bad("syntax error")),
    };
    Ok(Value::Array(
        all.into_iter()
            .filter(|c| keep(c))
            .map(|c| Value::bytes(c.name))
            .collect(),
    ))
}

/// `COMMAND GETKEYS command [arg ...]`: the keys a command names, by its
/// positions or, for movable keys, by parsing it. Redis's error texts.
pub fn getkeys<'a>(words: &[&'a [u8]]) -> Result<Vec<&'a [u8]>, WireError> {
    let Some(mut c) = words.first().and_then(|n| redis_command(n)) else {
        return Err(bad("Invalid command specified"));
    };
    if let Some(sub) = words.get(1).and_then(|w| c.subcommand(w)) {
        c = sub;
    }
    if !c.arity_fits(words.len()) {
        return Err(bad("Invalid number of arguments specified for command"));
    }
    if c.keys == Keys::None {
        return Err(bad("The command has no key arguments"));
    }
    let keys = c
        .keys_of(words)
        .map_err(|_| bad("Invalid arguments specified for command"))?;
    if keys.is_empty() {
        return Err(bad("The command has no key arguments"));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&[u8]> {
        s.split(' ').map(|w| w.as_bytes()).collect()
    }

    #[test]
    fn getkeys_answers_positions_and_movable_keys() {
        assert_eq!(getkeys(&words("set k v")).unwrap(), words("k"));
        assert_eq!(getkeys(&words("mset a 1 b 2")).unwrap(), words("a b"));
        assert_eq!(
            getkeys(&words("zunionstore d 2 a b weights 1 2")).unwrap(),
            words("d a b")
        );
        assert_eq!(
            getkeys(&words("blmove a b left right 0")).unwrap(),
            words("a b")
        );
        assert!(getkeys(&words("ping")).is_err());
        assert!(getkeys(&words("nosuch k")).is_err());
        assert!(getkeys(&words("get")).is_err());
        assert!(getkeys(&words("zunionstore d 5 a")).is_err());
    }

    #[test]
    fn entries_have_ten_fields_and_movable_keys_say_so() {
        let Value::Array(e) = entry(get(b"zunionstore").unwrap()) else {
            panic!()
        };
        assert_eq!(e.len(), 10);
        let Value::Array(flags) = &e[2] else { panic!() };
        assert!(flags.contains(&status("movablekeys")));
        assert!(flags.contains(&status("write")));
        let Value::Array(specs) = &e[8] else { panic!() };
        assert_eq!(specs.len(), 2);
        let Value::Array(cats) = &e[6] else { panic!() };
        assert!(cats.contains(&status("@sortedset")) && cats.contains(&status("@slow")));
    }

    #[test]
    fn binary_only_commands_are_hidden() {
        assert!(redis_command(b"backup").is_none());
        assert!(redis_commands().iter().all(|c| !c.has(flag::BINARY_ONLY)));
        let Ok(Value::Array(v)) = command(&words("command info backup get")) else {
            panic!()
        };
        assert_eq!(v[0], Value::Nil);
        assert_ne!(v[1], Value::Nil);
    }
}
