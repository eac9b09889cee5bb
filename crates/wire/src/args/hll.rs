//! HyperLogLog: PFADD, PFCOUNT and PFMERGE (the apply, with Redis's
//! encodings: the server's `cmd::hll`).

use super::Args;
use crate::codes::WireError;

type Key<'a> = &'a [u8];

/// A HyperLogLog command's typed arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum PfCmd<'a> {
    Add {
        key: Key<'a>,
        elements: &'a [&'a [u8]],
    },
    /// One key answers (and caches) its cardinality; several, their
    /// union's.
    Count { keys: &'a [Key<'a>] },
    /// `dest` is read too: it is merged with the sources, as in Redis.
    Merge {
        dest: Key<'a>,
        sources: &'a [Key<'a>],
    },
}

impl<'a> PfCmd<'a> {
    pub fn parse(name: &str, a: &mut Args<'a>) -> Result<PfCmd<'a>, WireError> {
        Ok(match name {
            "pfadd" => PfCmd::Add {
                key: a.word()?,
                elements: a.rest(),
            },
            "pfcount" => PfCmd::Count { keys: a.rest() },
            "pfmerge" => PfCmd::Merge {
                dest: a.word()?,
                sources: a.rest(),
            },
            _ => return Err(super::not_named(name)),
        })
    }
}
