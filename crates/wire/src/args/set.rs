//! Set commands: SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SPOP,
//! SRANDMEMBER, SSCAN, SINTER, SUNION, SDIFF and their STORE forms,
//! SINTERCARD, SMOVE.

use super::{keys_and_limit, not_named, Args, ScanOpts, SetOp};
use crate::codes::WireError;

type Key<'a> = &'a [u8];

/// A set command's typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum SetCmd<'a> {
    Add {
        key: Key<'a>,
        members: &'a [&'a [u8]],
    },
    Rem {
        key: Key<'a>,
        members: &'a [&'a [u8]],
    },
    IsMember {
        key: Key<'a>,
        member: &'a [u8],
    },
    MIsMember {
        key: Key<'a>,
        members: &'a [&'a [u8]],
    },
    Members(Key<'a>),
    Card(Key<'a>),
    /// SPOP key [count]: one member (or nil) without a count, an array
    /// with one.
    Pop {
        key: Key<'a>,
        count: Option<u64>,
    },
    /// SRANDMEMBER key [count]; a negative count may repeat members.
    RandMember {
        key: Key<'a>,
        count: Option<i64>,
    },
    Scan {
        key: Key<'a>,
        scan: ScanOpts,
    },
    /// SINTER, SUNION, SDIFF.
    Combine {
        op: SetOp,
        keys: &'a [Key<'a>],
    },
    /// SINTERSTORE, SUNIONSTORE, SDIFFSTORE.
    Store {
        op: SetOp,
        dest: Key<'a>,
        keys: &'a [Key<'a>],
    },
    /// SINTERCARD numkeys key ... [LIMIT limit]: the intersection's size,
    /// counting stopped at `limit` (0: no limit).
    InterCard {
        keys: &'a [Key<'a>],
        limit: u64,
    },
    /// SMOVE source destination member (both keys in one slot).
    Move {
        src: Key<'a>,
        dst: Key<'a>,
        member: &'a [u8],
    },
}

impl<'a> SetCmd<'a> {
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<SetCmd<'a>, WireError> {
        let op = match name {
            "sinter" | "sinterstore" => Some(SetOp::Inter),
            "sunion" | "sunionstore" => Some(SetOp::Union),
            "sdiff" | "sdiffstore" => Some(SetOp::Diff),
            _ => None,
        };
        if let Some(op) = op {
            return Ok(if name.ends_with("store") {
                SetCmd::Store {
                    op,
                    dest: a.word()?,
                    keys: a.rest(),
                }
            } else {
                SetCmd::Combine { op, keys: a.rest() }
            });
        }
        if name == "sintercard" {
            let (keys, limit) = keys_and_limit(a)?;
            return Ok(SetCmd::InterCard { keys, limit });
        }
        let key = a.word()?;
        Ok(match name {
            "sadd" => SetCmd::Add {
                key,
                members: a.rest(),
            },
            "srem" => SetCmd::Rem {
                key,
                members: a.rest(),
            },
            "sismember" => SetCmd::IsMember {
                key,
                member: a.word()?,
            },
            "smismember" => SetCmd::MIsMember {
                key,
                members: a.rest(),
            },
            "smembers" => SetCmd::Members(key),
            "scard" => SetCmd::Card(key),
            "spop" => SetCmd::Pop {
                key,
                count: a.last_count()?,
            },
            "srandmember" => SetCmd::RandMember {
                key,
                count: super::random_count(a, None)?.0,
            },
            "smove" => {
                let (dst, member) = (a.word()?, a.word()?);
                a.end()?;
                SetCmd::Move {
                    src: key,
                    dst,
                    member,
                }
            }
            "sscan" => SetCmd::Scan {
                key,
                scan: ScanOpts::parse(a)?,
            },
            _ => return Err(not_named(name)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(words: &'a [&'a [u8]]) -> Result<SetCmd<'a>, WireError> {
        super::super::parse_words(words, SetCmd::parse)
    }

    #[test]
    fn algebra_and_counts() {
        let keys: &[&[u8]] = &[b"a", b"b"];
        assert_eq!(
            parse(&[b"sdiffstore", b"d", b"a", b"b"]).unwrap(),
            SetCmd::Store {
                op: SetOp::Diff,
                dest: b"d",
                keys
            }
        );
        assert_eq!(
            parse(&[b"sinter", b"a", b"b"]).unwrap(),
            SetCmd::Combine {
                op: SetOp::Inter,
                keys
            }
        );
        assert_eq!(
            parse(&[b"spop", b"s", b"-1"]).unwrap_err().code,
            crate::codes::ErrorCode::OutOfRange
        );
        assert_eq!(
            parse(&[b"srandmember", b"s", b"-3"]).unwrap(),
            SetCmd::RandMember {
                key: b"s",
                count: Some(-3)
            }
        );
        assert!(parse(&[b"spop", b"s", b"1", b"2"]).is_err());
    }
}
