//! The named commands' arguments, parsed once for every front end.
//!
//! A named command (`HSET key field value`, the same shape as Redis's)
//! arrives as an argument vector: in RESP, in the binary protocol's COMMAND
//! and BATCH frames, over HTTP, or from `tessera cli`. [`parse`] turns the
//! vector into the command's typed arguments, one enum per command family
//! (`keys`, `hash`, `set`, `zset`, `list`, `bits`, `hll`, `stream`, ...); the server applies them to a
//! storage transaction (its `cmd` module) and answers a typed
//! [`Value`](crate::value::Value), which each protocol encodes.
//!
//! Which commands are named commands, and their arity and keys, is the
//! command table's business (`table`, flag `STORED`): [`parse`] takes the
//! row the table found, so the arity is already checked.

pub mod bits;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod list;
pub mod script;
pub mod set;
pub mod stream;
pub mod stream_id;
pub mod zset;

use crate::codes::{ErrorCode, WireError};
use crate::num::{int_arg, parse_float, parse_int};
use crate::table::{flag, Command, Group};
use crate::value::{glob_match, Value};

/// A named command's typed arguments, by family.
#[derive(Debug, Clone, PartialEq)]
pub enum Named<'a> {
    Keys(keys::KeyCmd<'a>),
    Hash(hash::HashCmd<'a>),
    Set(set::SetCmd<'a>),
    ZSet(zset::ZSetCmd<'a>),
    List(list::ListCmd<'a>),
    Bits(bits::BitCmd<'a>),
    Hll(hll::PfCmd<'a>),
    Geo(geo::GeoCmd<'a>),
    Script(script::ScriptCmd<'a>),
    Stream(stream::StreamCmd<'a>),
}

/// Parses `args` (the name first) as the command of `row`, a row of the
/// table with flag `STORED`. A row without a parser is an unknown command
/// here.
pub fn parse<'a>(row: &Command, args: &'a [&'a [u8]]) -> Result<Named<'a>, WireError> {
    let a = &mut Args::new(args.get(1..).unwrap_or_default());
    let name = row.name;
    if !row.has(flag::STORED) {
        return Err(not_named(name));
    }
    Ok(match row.group {
        Group::Generic | Group::String => Named::Keys(keys::KeyCmd::parse(name, a)?),
        Group::Hash => Named::Hash(hash::HashCmd::parse(name, a)?),
        Group::Set => Named::Set(set::SetCmd::parse(name, a)?),
        Group::SortedSet => Named::ZSet(zset::ZSetCmd::parse(name, a)?),
        Group::List => Named::List(list::ListCmd::parse(name, a)?),
        Group::Bitmap => Named::Bits(bits::BitCmd::parse(name, a)?),
        Group::HyperLogLog => Named::Hll(hll::PfCmd::parse(name, a)?),
        Group::Geo => Named::Geo(geo::GeoCmd::parse(name, a)?),
        Group::Scripting => Named::Script(script::ScriptCmd::parse(name, a)?),
        Group::Stream => Named::Stream(stream::StreamCmd::parse(name, a)?),
        _ => return Err(not_named(name)),
    })
}

/// The most members one SRANDMEMBER, HRANDFIELD or ZRANDMEMBER answers
/// with a negative count (repeats allowed): the reply is built in memory,
/// so a count of a billion would take the node's memory, where Redis
/// streams it into the client's output buffer until the client's output
/// limit closes it.
pub const MAX_RANDOM_REPLY: u64 = 1 << 22;

/// The count of SRANDMEMBER, HRANDFIELD and ZRANDMEMBER (`None`: no
/// count), and whether a second word asked for the values (`with`:
/// WITHVALUES or WITHSCORES, if the command takes one), with Redis's
/// errors in its order.
pub fn random_count(
    a: &mut Args<'_>,
    with: Option<&str>,
) -> Result<(Option<i64>, bool), WireError> {
    let Some(w) = a.maybe() else {
        return Ok((None, false));
    };
    let count = int_arg(w)?;
    if count == i64::MIN {
        return Err(bad(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with = match (a.maybe(), with) {
        (None, _) => false,
        (Some(w), Some(name)) if a.left() == 0 && w.eq_ignore_ascii_case(name.as_bytes()) => true,
        _ => return Err(syntax()),
    };
    if with && count.unsigned_abs() > i64::MAX as u64 / 2 {
        return Err(bad("value is out of range"));
    }
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_REPLY {
        return Err(bad(format!(
            "a negative count answers at most {MAX_RANDOM_REPLY} members (the reply is built in memory)"
        )));
    }
    Ok((Some(count), with))
}

/// The error of a name that is no named command.
pub fn not_named(name: &str) -> WireError {
    WireError::new(
        ErrorCode::UnknownCommand,
        format!(
            "unknown command '{name}': not a data command (it has its own opcode or is RESP-only)"
        ),
    )
}

/// A bad-arguments error with `m`.
pub fn bad(m: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, m)
}

/// Redis's `syntax error`.
pub fn syntax() -> WireError {
    bad("syntax error")
}

/// `wrong number of arguments for 'name' command`.
pub fn arity(name: &str) -> WireError {
    bad(format!("wrong number of arguments for '{name}' command"))
}

/// `numkeys key ... [LIMIT limit]` (SINTERCARD, ZINTERCARD): the keys and
/// the limit (0: none), with Redis's errors. The key count was checked when
/// the keys were found (`table`).
pub fn keys_and_limit<'a>(a: &mut Args<'a>) -> Result<(&'a [&'a [u8]], u64), WireError> {
    let n = a.count()? as usize;
    let rest = a.rest();
    let keys = rest.get(..n).ok_or_else(syntax)?;
    let mut limit = 0;
    let a = &mut Args::new(&rest[n..]);
    while a.left() > 0 {
        if !a.eat("limit") || a.left() == 0 {
            return Err(syntax());
        }
        limit = parse_int(a.word()?)
            .and_then(|l| u64::try_from(l).ok())
            .ok_or_else(|| bad("LIMIT can't be negative"))?;
    }
    Ok((keys, limit))
}

/// `numkeys key ... WHERE [COUNT count]` (LMPOP's LEFT|RIGHT, ZMPOP's
/// MIN|MAX): the keys, whether `where_` named the second of `ends`, and the
/// count (1 by default), with Redis's errors.
pub fn keys_end_count<'a>(
    a: &mut Args<'a>,
    ends: [&str; 2],
) -> Result<(&'a [&'a [u8]], bool, u64), WireError> {
    let n = a.count()? as usize;
    let rest = a.rest();
    let keys = rest.get(..n).ok_or_else(syntax)?;
    let a = &mut Args::new(&rest[n..]);
    let second = if a.eat(ends[0]) {
        false
    } else if a.eat(ends[1]) {
        true
    } else {
        return Err(syntax());
    };
    let mut count = None;
    while a.left() > 0 {
        if count.is_some() || !a.eat("count") || a.left() == 0 {
            return Err(syntax());
        }
        count = Some(
            parse_int(a.word()?)
                .filter(|&c| c > 0)
                .ok_or_else(|| bad("count should be greater than 0"))? as u64,
        );
    }
    Ok((keys, second, count.unwrap_or(1)))
}

/// Pairs of argument words (`field value ...`).
pub type WordPairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// The arguments of one command, consumed front to back.
pub struct Args<'a> {
    words: &'a [&'a [u8]],
    pos: usize,
}

impl<'a> Args<'a> {
    /// `words` without the command name.
    pub fn new(words: &'a [&'a [u8]]) -> Args<'a> {
        Args { words, pos: 0 }
    }

    pub fn left(&self) -> usize {
        self.words.len() - self.pos
    }

    pub fn word(&mut self) -> Result<&'a [u8], WireError> {
        let w = self.words.get(self.pos).ok_or_else(syntax)?;
        self.pos += 1;
        Ok(w)
    }

    /// The next word when there is one.
    pub fn maybe(&mut self) -> Option<&'a [u8]> {
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some(w)
    }

    /// The rest of the words.
    pub fn rest(&mut self) -> &'a [&'a [u8]] {
        let r = &self.words[self.pos..];
        self.pos = self.words.len();
        r
    }

    pub fn int(&mut self) -> Result<i64, WireError> {
        int_arg(self.word()?)
    }

    /// A non-negative integer.
    pub fn count(&mut self) -> Result<u64, WireError> {
        let n = self.int()?;
        u64::try_from(n).map_err(|_| {
            WireError::new(
                ErrorCode::OutOfRange,
                "value is out of range, must be positive",
            )
        })
    }

    /// A non-negative integer when a word is left (`SPOP key [count]`),
    /// and then no more words.
    pub fn last_count(&mut self) -> Result<Option<u64>, WireError> {
        let n = if self.left() > 0 {
            Some(self.count()?)
        } else {
            None
        };
        self.end()?;
        Ok(n)
    }

    /// A float that is not NaN (`inf`, `-inf` allowed).
    pub fn float(&mut self) -> Result<f64, WireError> {
        parse_float(self.word()?).ok_or_else(|| WireError::of(ErrorCode::NotFloat))
    }

    /// Whether the next word is `kw` (case-insensitive); consumes it if so.
    pub fn eat(&mut self, kw: &str) -> bool {
        match self.words.get(self.pos) {
            Some(w) if w.eq_ignore_ascii_case(kw.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Fails when words are left.
    pub fn end(&self) -> Result<(), WireError> {
        if self.left() == 0 {
            Ok(())
        } else {
            Err(syntax())
        }
    }

    /// Pairs of words until the end (`field value ...`); the arity error
    /// of `name` when none or odd.
    pub fn pairs(&mut self, name: &str) -> Result<WordPairs<'a>, WireError> {
        let rest = self.rest();
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return Err(arity(name));
        }
        Ok(rest.chunks(2).map(|c| (c[0], c[1])).collect())
    }
}

/// SCAN-family options: `cursor [MATCH pattern] [COUNT n]`. A cursor is
/// `0` (start) or `x` + the hex of the last member visited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOpts {
    pub after: Option<Vec<u8>>,
    pub pattern: Option<Vec<u8>>,
    pub count: usize,
}

impl ScanOpts {
    pub fn parse(a: &mut Args<'_>) -> Result<ScanOpts, WireError> {
        let c = a.word()?;
        let after = if c == b"0" {
            None
        } else {
            Some(
                c.strip_prefix(b"x")
                    .and_then(unhex)
                    .ok_or_else(|| bad("invalid cursor"))?,
            )
        };
        let mut o = ScanOpts {
            after,
            pattern: None,
            count: 10,
        };
        while a.left() > 0 {
            if a.eat("match") {
                o.pattern = Some(a.word()?.to_vec());
            } else if a.eat("count") {
                let n = a.int()?;
                if n < 1 {
                    return Err(syntax());
                }
                o.count = n.min(100_000) as usize;
            } else {
                return Err(syntax());
            }
        }
        Ok(o)
    }

    /// Whether member `m` matches the pattern.
    pub fn keep(&self, m: &[u8]) -> bool {
        self.pattern.as_deref().is_none_or(|p| glob_match(p, m))
    }

    /// The cursor word for a page's continuation.
    pub fn cursor(next: Option<Vec<u8>>) -> Value {
        match next {
            None => Value::bytes(b"0".to_vec()),
            Some(m) => {
                let mut c = Vec::with_capacity(1 + 2 * m.len());
                c.push(b'x');
                for b in m {
                    c.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                Value::Bytes(c)
            }
        }
    }
}

fn unhex(h: &[u8]) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    h.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

/// How a set-algebra command combines its keys (SINTER, ZUNION, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// Tests: parses `words` (the name first) with a family's parser.
#[cfg(test)]
fn parse_words<'a, T>(
    words: &'a [&'a [u8]],
    family: fn(&str, &mut Args<'a>) -> Result<T, WireError>,
) -> Result<T, WireError> {
    let name = std::str::from_utf8(words[0]).expect("a test's command name is text");
    family(name, &mut Args::new(&words[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table;

    #[test]
    fn every_stored_row_has_a_parser() {
        for row in table::all().into_iter().filter(|c| c.has(flag::STORED)) {
            // No arguments: a syntax or arity error, never "unknown".
            let args: &[&[u8]] = &[row.name.as_bytes()];
            if let Err(e) = parse(row, args) {
                assert_ne!(e.code, ErrorCode::UnknownCommand, "{}: {e}", row.name);
            }
        }
        let ping = table::get(b"ping").unwrap();
        assert_eq!(
            parse(ping, &[b"ping"]).unwrap_err().code,
            ErrorCode::UnknownCommand
        );
    }

    #[test]
    fn scan_cursor_round_trips() {
        let Value::Bytes(c) = ScanOpts::cursor(Some(vec![0, 0xab, b'z'])) else {
            panic!("a cursor is bytes")
        };
        let words: &[&[u8]] = &[&c, b"MATCH", b"a*", b"COUNT", b"5"];
        let o = ScanOpts::parse(&mut Args::new(words)).unwrap();
        assert_eq!(o.after.as_deref(), Some(&[0, 0xab, b'z'][..]));
        assert_eq!(o.count, 5);
        assert!(o.keep(b"abc") && !o.keep(b"bc"));
        assert!(ScanOpts::parse(&mut Args::new(&[b"x0"])).is_err());
        assert!(ScanOpts::parse(&mut Args::new(&[b"0", b"COUNT", b"0"])).is_err());
    }
}
