//! Hash commands and the (hashkey, sortkey) model: HSET, HMSET, HSETNX,
//! HGET, HMGET, HDEL, HGETALL, HKEYS, HVALS, HLEN, HEXISTS, HSTRLEN,
//! HINCRBY, HINCRBYFLOAT, HSCAN, HRANGE (sortkey range scan) and
//! CHECKANDSET.

use super::{bad, not_named, syntax, Args, ScanOpts, WordPairs};
use crate::codes::WireError;

type Key<'a> = &'a [u8];

/// One end of an HRANGE: `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bound<'a> {
    pub key: Option<&'a [u8]>,
    pub inclusive: bool,
}

/// An HRANGE's selection (Pegasus's sortkey scan).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortRange<'a> {
    pub start: Bound<'a>,
    pub stop: Bound<'a>,
    pub prefix: &'a [u8],
    pub suffix: &'a [u8],
    /// 0 = no limit.
    pub limit: usize,
    pub reverse: bool,
}

/// The check of a CHECKANDSET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<'a> {
    Exists,
    NotExists,
    ValueEquals(&'a [u8]),
    ValuePrefix(&'a [u8]),
    IntEq(i64),
    IntLt(i64),
    IntLe(i64),
    IntGt(i64),
    IntGe(i64),
}

/// A hash command's typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum HashCmd<'a> {
    /// HSET (answers the count) and HMSET (`ok`: answers OK).
    Set {
        key: Key<'a>,
        pairs: WordPairs<'a>,
        ok: bool,
    },
    SetNx {
        key: Key<'a>,
        field: &'a [u8],
        value: &'a [u8],
    },
    Get {
        key: Key<'a>,
        field: &'a [u8],
    },
    MGet {
        key: Key<'a>,
        fields: &'a [&'a [u8]],
    },
    Del {
        key: Key<'a>,
        fields: &'a [&'a [u8]],
    },
    GetAll(Key<'a>),
    /// HRANDFIELD: without a count one field (or nil); a count >= 0 gives
    /// distinct fields, < 0 allows repeats; `values` with WITHVALUES.
    RandField {
        key: Key<'a>,
        count: Option<i64>,
        values: bool,
    },
    Keys(Key<'a>),
    Vals(Key<'a>),
    Len(Key<'a>),
    Exists {
        key: Key<'a>,
        field: &'a [u8],
    },
    StrLen {
        key: Key<'a>,
        field: &'a [u8],
    },
    IncrBy {
        key: Key<'a>,
        field: &'a [u8],
        delta: i64,
    },
    IncrByFloat {
        key: Key<'a>,
        field: &'a [u8],
        delta: f64,
    },
    Scan {
        key: Key<'a>,
        scan: ScanOpts,
    },
    /// HRANGE key start stop [STARTEXCL] [STOPINCL] [PREFIX p] [SUFFIX s]
    /// [LIMIT n] [REV] [KEYSONLY].
    Range {
        key: Key<'a>,
        range: SortRange<'a>,
        keys_only: bool,
    },
    /// CHECKANDSET key check_field check_type [operand] set_field value;
    /// answers [1|0, the checked field's value].
    CheckAndSet {
        key: Key<'a>,
        check_field: &'a [u8],
        check: Check<'a>,
        set_field: &'a [u8],
        value: &'a [u8],
    },
}

impl<'a> HashCmd<'a> {
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<HashCmd<'a>, WireError> {
        let key = a.word()?;
        Ok(match name {
            "hset" | "hmset" => HashCmd::Set {
                key,
                pairs: a.pairs(name)?,
                ok: name == "hmset",
            },
            "hsetnx" => HashCmd::SetNx {
                key,
                field: a.word()?,
                value: a.word()?,
            },
            "hget" => HashCmd::Get {
                key,
                field: a.word()?,
            },
            "hmget" => HashCmd::MGet {
                key,
                fields: a.rest(),
            },
            "hdel" => HashCmd::Del {
                key,
                fields: a.rest(),
            },
            "hgetall" => HashCmd::GetAll(key),
            "hrandfield" => {
                let (count, values) = super::random_count(a, Some("withvalues"))?;
                HashCmd::RandField { key, count, values }
            }
            "hkeys" => HashCmd::Keys(key),
            "hvals" => HashCmd::Vals(key),
            "hlen" => HashCmd::Len(key),
            "hexists" => HashCmd::Exists {
                key,
                field: a.word()?,
            },
            "hstrlen" => HashCmd::StrLen {
                key,
                field: a.word()?,
            },
            "hincrby" => HashCmd::IncrBy {
                key,
                field: a.word()?,
                delta: a.int()?,
            },
            "hincrbyfloat" => HashCmd::IncrByFloat {
                key,
                field: a.word()?,
                delta: a.float()?,
            },
            "hscan" => HashCmd::Scan {
                key,
                scan: ScanOpts::parse(a)?,
            },
            "hrange" => hrange(key, a)?,
            "checkandset" => checkandset(key, a)?,
            _ => return Err(not_named(name)),
        })
    }
}

/// An empty start or stop is unbounded; start is inclusive and stop
/// exclusive unless told otherwise (Pegasus's defaults).
fn hrange<'a>(key: Key<'a>, a: &mut Args<'a>) -> Result<HashCmd<'a>, WireError> {
    let bound = |b: &'a [u8], inclusive| Bound {
        key: (!b.is_empty()).then_some(b),
        inclusive,
    };
    let mut range = SortRange {
        start: bound(a.word()?, true),
        stop: bound(a.word()?, false),
        ..Default::default()
    };
    let mut keys_only = false;
    while a.left() > 0 {
        if a.eat("startexcl") {
            range.start.inclusive = false;
        } else if a.eat("stopincl") {
            range.stop.inclusive = true;
        } else if a.eat("prefix") {
            range.prefix = a.word()?;
        } else if a.eat("suffix") {
            range.suffix = a.word()?;
        } else if a.eat("limit") {
            range.limit = a.count()? as usize;
        } else if a.eat("rev") {
            range.reverse = true;
        } else if a.eat("keysonly") {
            keys_only = true;
        } else {
            return Err(syntax());
        }
    }
    Ok(HashCmd::Range {
        key,
        range,
        keys_only,
    })
}

/// check_type: EXISTS, NOTEXISTS, EQ v, PREFIX p, INTEQ n, INTLT n,
/// INTLE n, INTGT n, INTGE n.
fn checkandset<'a>(key: Key<'a>, a: &mut Args<'a>) -> Result<HashCmd<'a>, WireError> {
    let check_field = a.word()?;
    let kind = String::from_utf8_lossy(a.word()?).to_ascii_lowercase();
    let check = match kind.as_str() {
        "exists" => Check::Exists,
        "notexists" => Check::NotExists,
        "eq" => Check::ValueEquals(a.word()?),
        "prefix" => Check::ValuePrefix(a.word()?),
        "inteq" => Check::IntEq(a.int()?),
        "intlt" => Check::IntLt(a.int()?),
        "intle" => Check::IntLe(a.int()?),
        "intgt" => Check::IntGt(a.int()?),
        "intge" => Check::IntGe(a.int()?),
        other => return Err(bad(format!("unknown check type '{other}'"))),
    };
    let (set_field, value) = (a.word()?, a.word()?);
    a.end()?;
    Ok(HashCmd::CheckAndSet {
        key,
        check_field,
        check,
        set_field,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(words: &'a [&'a [u8]]) -> Result<HashCmd<'a>, WireError> {
        super::super::parse_words(words, HashCmd::parse)
    }

    #[test]
    fn ranges_checks_and_pairs() {
        let HashCmd::Range {
            range, keys_only, ..
        } = parse(&[
            b"hrange",
            b"h",
            b"",
            b"b",
            b"STOPINCL",
            b"limit",
            b"3",
            b"keysonly",
        ])
        .unwrap()
        else {
            panic!("not a range")
        };
        assert_eq!(
            range.start,
            Bound {
                key: None,
                inclusive: true
            }
        );
        assert_eq!(range.stop.key, Some(&b"b"[..]));
        assert!(range.stop.inclusive && keys_only);
        assert_eq!(range.limit, 3);
        assert!(parse(&[b"hrange", b"h", b"", b"", b"sideways"]).is_err());
        assert_eq!(
            parse(&[b"checkandset", b"h", b"f", b"intge", b"5", b"g", b"v"]).unwrap(),
            HashCmd::CheckAndSet {
                key: b"h",
                check_field: b"f",
                check: Check::IntGe(5),
                set_field: b"g",
                value: b"v"
            }
        );
        assert_eq!(
            parse(&[b"checkandset", b"h", b"f", b"near", b"g", b"v"])
                .unwrap_err()
                .message,
            "unknown check type 'near'"
        );
        assert!(parse(&[b"checkandset", b"h", b"f", b"exists", b"g", b"v", b"x"]).is_err());
        assert_eq!(
            parse(&[b"hset", b"h", b"f"]).unwrap_err().message,
            "wrong number of arguments for 'hset' command"
        );
    }
}
