//! List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP (with count),
//! LRANGE, LLEN, LINDEX, LSET, LINSERT, LTRIM, LREM, LPOS, LMOVE and
//! RPOPLPUSH.

use super::{bad, keys_end_count, not_named, syntax, Args};
use crate::codes::WireError;

type Key<'a> = &'a [u8];

/// A list command's typed arguments. `left` is the head of the list.
#[derive(Debug, Clone, PartialEq)]
pub enum ListCmd<'a> {
    /// LPUSH, RPUSH, and the X forms (`only_if_exists`).
    Push {
        key: Key<'a>,
        left: bool,
        only_if_exists: bool,
        values: &'a [&'a [u8]],
    },
    /// LPOP/RPOP key [count]: one element (or nil) without a count; an
    /// array (or nil when the list does not exist) with one.
    Pop {
        key: Key<'a>,
        left: bool,
        count: Option<u64>,
    },
    /// LMPOP numkeys key ... LEFT|RIGHT [COUNT count]: pops from the first
    /// key holding a list.
    MPop {
        keys: &'a [Key<'a>],
        left: bool,
        count: u64,
    },
    Range {
        key: Key<'a>,
        start: i64,
        stop: i64,
    },
    Len(Key<'a>),
    Index {
        key: Key<'a>,
        index: i64,
    },
    Set {
        key: Key<'a>,
        index: i64,
        value: &'a [u8],
    },
    Insert {
        key: Key<'a>,
        before: bool,
        pivot: &'a [u8],
        value: &'a [u8],
    },
    Trim {
        key: Key<'a>,
        start: i64,
        stop: i64,
    },
    Rem {
        key: Key<'a>,
        count: i64,
        value: &'a [u8],
    },
    /// LPOS key element [RANK r] [COUNT n] [MAXLEN m]: an index (or nil)
    /// without COUNT, an array with it.
    Pos {
        key: Key<'a>,
        value: &'a [u8],
        rank: i64,
        count: Option<u64>,
        maxlen: u64,
    },
    /// LMOVE and RPOPLPUSH.
    Move {
        from: Key<'a>,
        to: Key<'a>,
        from_left: bool,
        to_left: bool,
    },
}

fn side(w: &[u8]) -> Result<bool, WireError> {
    if w.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if w.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(syntax())
    }
}

impl<'a> ListCmd<'a> {
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<ListCmd<'a>, WireError> {
        if name == "lmpop" {
            let (keys, right, count) = keys_end_count(a, ["left", "right"])?;
            return Ok(ListCmd::MPop {
                keys,
                left: !right,
                count,
            });
        }
        let key = a.word()?;
        Ok(match name {
            "lpush" | "rpush" | "lpushx" | "rpushx" => ListCmd::Push {
                key,
                left: name.starts_with('l'),
                only_if_exists: name.ends_with('x'),
                values: a.rest(),
            },
            "lpop" | "rpop" => ListCmd::Pop {
                key,
                left: name == "lpop",
                count: a.last_count()?,
            },
            "lrange" => ListCmd::Range {
                key,
                start: a.int()?,
                stop: a.int()?,
            },
            "llen" => ListCmd::Len(key),
            "lindex" => ListCmd::Index {
                key,
                index: a.int()?,
            },
            "lset" => ListCmd::Set {
                key,
                index: a.int()?,
                value: a.word()?,
            },
            "linsert" => {
                let before = if a.eat("before") {
                    true
                } else if a.eat("after") {
                    false
                } else {
                    return Err(syntax());
                };
                ListCmd::Insert {
                    key,
                    before,
                    pivot: a.word()?,
                    value: a.word()?,
                }
            }
            "ltrim" => ListCmd::Trim {
                key,
                start: a.int()?,
                stop: a.int()?,
            },
            "lrem" => ListCmd::Rem {
                key,
                count: a.int()?,
                value: a.word()?,
            },
            "lpos" => lpos(key, a)?,
            "lmove" => ListCmd::Move {
                from: key,
                to: a.word()?,
                from_left: side(a.word()?)?,
                to_left: side(a.word()?)?,
            },
            "rpoplpush" => ListCmd::Move {
                from: key,
                to: a.word()?,
                from_left: false,
                to_left: true,
            },
            _ => return Err(not_named(name)),
        })
    }
}

fn lpos<'a>(key: Key<'a>, a: &mut Args<'a>) -> Result<ListCmd<'a>, WireError> {
    let value = a.word()?;
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0u64);
    while a.left() > 0 {
        if a.eat("rank") {
            rank = a.int()?;
            if rank == 0 || rank == i64::MIN {
                return Err(bad(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if a.eat("count") {
            count = Some(a.count()?);
        } else if a.eat("maxlen") {
            maxlen = a.count()?;
        } else {
            return Err(syntax());
        }
    }
    Ok(ListCmd::Pos {
        key,
        value,
        rank,
        count,
        maxlen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(words: &'a [&'a [u8]]) -> Result<ListCmd<'a>, WireError> {
        super::super::parse_words(words, ListCmd::parse)
    }

    #[test]
    fn sides_ranks_and_pushes() {
        assert_eq!(
            parse(&[b"lmove", b"a", b"b", b"RIGHT", b"left"]).unwrap(),
            ListCmd::Move {
                from: b"a",
                to: b"b",
                from_left: false,
                to_left: true
            }
        );
        assert!(parse(&[b"lmove", b"a", b"b", b"up", b"left"]).is_err());
        assert!(parse(&[b"lpos", b"l", b"v", b"RANK", b"0"])
            .unwrap_err()
            .message
            .starts_with("RANK can't be zero"));
        let values: &[&[u8]] = &[b"x", b"y"];
        assert_eq!(
            parse(&[b"rpushx", b"l", b"x", b"y"]).unwrap(),
            ListCmd::Push {
                key: b"l",
                left: false,
                only_if_exists: true,
                values
            }
        );
        assert!(parse(&[b"linsert", b"l", b"beside", b"p", b"v"]).is_err());
    }
}
