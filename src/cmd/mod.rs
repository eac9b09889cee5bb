//! Named commands: the data-model commands (hashes, sets, sorted sets,
//! lists, keys of any type, and the strings an atomic batch needs), taken as
//! an argument vector (`HSET key field value`, the same shape as Redis's),
//! executed against one partition through a `shard::tx::Tx`, answering a
//! typed `Value` (`proto::value`).
//!
//! Each command's name, arity, keys and flags are its row of the command
//! table (`proto::table`, in the wire crate); this module, on the server
//! side because it runs storage transactions, holds each family's apply
//! (`APPLY`: the function that parses the arguments and runs them). The
//! binary protocol carries them in the COMMAND (0x20) and BATCH (0x21)
//! frames, RESP in its own syntax; `tessera cli` and the Rust client build
//! the argument vectors.

pub mod hash;
pub mod keys;
pub mod list;
pub mod set;
pub mod zset;

use std::sync::OnceLock;

use ahash::AHashMap;

use crate::codes::{ErrorCode, WireError};
use crate::proto::table::{self, flag};
pub use crate::proto::value::{glob_match, Value};
use crate::shard::{self, tx::Tx};
use crate::slot::key_slot;

pub use crate::shard::hash::format_float;

/// The wire error of a storage error: its code in the registry
/// (`codes`) and its message.
pub fn store_error(e: shard::Error) -> WireError {
    use shard::Error as E;
    let code = match &e {
        E::Io { .. } | E::Storage { .. } | E::Corrupt(_) => ErrorCode::Storage,
        E::Manifest(_) | E::WouldBlock => ErrorCode::Internal,
        E::BackupRefused(_) => ErrorCode::BadArguments,
        E::WrongType => ErrorCode::WrongType,
        E::NotInteger => ErrorCode::NotInteger,
        E::Overflow => ErrorCode::Overflow,
        E::VersionConflict { .. } => ErrorCode::VersionConflict,
        E::Poisoned(_) => ErrorCode::Poisoned,
        E::NoSuchKey => ErrorCode::NoSuchKey,
        E::NotFloat | E::NanOrInfinity | E::HashNotFloat => ErrorCode::NotFloat,
        E::HashNotInteger => ErrorCode::NotInteger,
        E::OutOfRange => ErrorCode::OutOfRange,
        E::SyncNeeded(_) => ErrorCode::SyncNeeded,
        // A variant added to storage and not mapped here yet.
        _ => ErrorCode::Internal,
    };
    WireError::new(code, e.to_string())
}

/// Why a command failed: a storage error (kept apart so a read that would
/// block can be retried) or an argument error.
#[derive(Debug)]
pub enum CmdError {
    Store(shard::Error),
    Wire(WireError),
}

impl From<shard::Error> for CmdError {
    fn from(e: shard::Error) -> Self {
        CmdError::Store(e)
    }
}

impl From<WireError> for CmdError {
    fn from(e: WireError) -> Self {
        CmdError::Wire(e)
    }
}

impl CmdError {
    pub fn into_wire(self) -> WireError {
        match self {
            CmdError::Store(e) => store_error(e),
            CmdError::Wire(w) => w,
        }
    }
}

pub type CmdResult = Result<Value, CmdError>;

/// Parses the arguments and applies the command.
pub type RunFn = fn(&mut Tx<'_>, &mut Args<'_>) -> CmdResult;

/// One named command's apply. Its name, arity, keys and flags are its row
/// of `proto::table` (flag `STORED`); a test checks both sides agree.
pub type Apply = (&'static str, RunFn);

fn appliers() -> &'static AHashMap<&'static str, RunFn> {
    static APPLY: OnceLock<AHashMap<&'static str, RunFn>> = OnceLock::new();
    APPLY.get_or_init(|| {
        [
            keys::APPLY,
            hash::APPLY,
            set::APPLY,
            zset::APPLY,
            list::APPLY,
        ]
        .iter()
        .flat_map(|s| s.iter())
        .copied()
        .collect()
    })
}

/// The table row of `args[0]` (arity checked) and its apply. Commands
/// that are not data commands (PING, SUBSCRIBE, ...) are unknown here.
pub fn lookup(args: &[&[u8]]) -> Result<(&'static table::Command, RunFn), WireError> {
    let cmd = table::lookup(args)?;
    let run = cmd
        .has(flag::STORED)
        .then(|| appliers().get(cmd.name).copied())
        .flatten()
        .ok_or_else(|| {
            WireError::new(
                ErrorCode::UnknownCommand,
                format!(
                    "unknown command '{}': not a data command (it has its own opcode or is RESP-only)",
                    cmd.name
                ),
            )
        })?;
    Ok((cmd, run))
}

/// Every named (stored) command's row, sorted by name (docs and tests).
pub fn all() -> Vec<&'static table::Command> {
    table::all()
        .into_iter()
        .filter(|c| c.has(flag::STORED))
        .collect()
}

/// The one slot all `keys` share; CROSSSLOT otherwise.
pub fn common_slot(keys: &[&[u8]]) -> Result<u16, WireError> {
    let mut slot = None;
    for k in keys {
        let s = key_slot(k);
        match slot {
            None => slot = Some(s),
            Some(x) if x != s => return Err(WireError::of(ErrorCode::CrossSlot)),
            _ => {}
        }
    }
    slot.ok_or_else(|| bad("the command names no key".into()))
}

pub fn bad(m: String) -> WireError {
    WireError::new(ErrorCode::BadArguments, m)
}

pub fn syntax() -> CmdError {
    CmdError::Wire(bad("syntax error".into()))
}

fn not_integer() -> CmdError {
    CmdError::Store(shard::Error::NotInteger)
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

    pub fn word(&mut self) -> Result<&'a [u8], CmdError> {
        let w = self.words.get(self.pos).ok_or_else(syntax)?;
        self.pos += 1;
        Ok(w)
    }

    /// The rest of the words.
    pub fn rest(&mut self) -> &'a [&'a [u8]] {
        let r = &self.words[self.pos..];
        self.pos = self.words.len();
        r
    }

    pub fn int(&mut self) -> Result<i64, CmdError> {
        shard::hash::parse_int(self.word()?).ok_or_else(not_integer)
    }

    /// A non-negative integer.
    pub fn count(&mut self) -> Result<u64, CmdError> {
        let n = self.int()?;
        u64::try_from(n).map_err(|_| {
            CmdError::Wire(WireError::new(
                ErrorCode::OutOfRange,
                "value is out of range, must be positive",
            ))
        })
    }

    /// A float that is not NaN (`inf`, `-inf` allowed).
    pub fn float(&mut self) -> Result<f64, CmdError> {
        shard::hash::parse_float(self.word()?).ok_or(CmdError::Store(shard::Error::NotFloat))
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
    pub fn end(&self) -> Result<(), CmdError> {
        if self.left() == 0 {
            Ok(())
        } else {
            Err(syntax())
        }
    }

    /// Pairs of words until the end (`field value ...`); `None` when odd.
    pub fn pairs(&mut self) -> Option<WordPairs<'a>> {
        let rest = self.rest();
        if rest.is_empty() || !rest.len().is_multiple_of(2) {
            return None;
        }
        Some(rest.chunks(2).map(|c| (c[0], c[1])).collect())
    }
}

/// SCAN-family options: `cursor [MATCH pattern] [COUNT n]`. A cursor is
/// `0` (start) or `x` + the hex of the last member visited.
pub struct ScanOpts {
    pub after: Option<Vec<u8>>,
    pub pattern: Option<Vec<u8>>,
    pub count: usize,
}

impl ScanOpts {
    pub fn parse(a: &mut Args<'_>) -> Result<ScanOpts, CmdError> {
        let c = a.word()?;
        let after = if c == b"0" {
            None
        } else {
            Some(
                c.strip_prefix(b"x")
                    .and_then(unhex)
                    .ok_or_else(|| CmdError::Wire(bad("invalid cursor".into())))?,
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

    pub fn keep(&self, m: &[u8]) -> bool {
        self.pattern.as_deref().is_none_or(|p| glob_match(p, m))
    }

    /// The cursor word for a page's continuation.
    pub fn cursor(next: Option<Vec<u8>>) -> Value {
        match next {
            None => Value::bytes(b"0".to_vec()),
            Some(m) => {
                let mut c = b"x".to_vec();
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

/// Runs one command inside `tx`: the CAS check on its first key (`first`,
/// from the caller's key extraction; empty when it names none), then the
/// command. Returns the first key's version afterwards (0 if it does not
/// exist) and the answer.
pub fn apply(
    tx: &mut Tx<'_>,
    run: RunFn,
    first: &[u8],
    args: &[&[u8]],
    expected_version: Option<u64>,
) -> Result<(u64, Value), CmdError> {
    if let Some(expected) = expected_version {
        let current = tx.version_of(first)?;
        if current != expected {
            return Err(CmdError::Store(shard::Error::VersionConflict { current }));
        }
    }
    let value = run(tx, &mut Args::new(&args[1..]))?;
    Ok((tx.version_of(first)?, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two crates that cannot share code parse numbers alike: storage
    /// the numbers it stores (INCR, HINCRBY), the wire crate the arguments
    /// (SELECT, COUNT, timeouts); and both divide the same slot space.
    #[test]
    fn storage_and_wire_agree() {
        use crate::proto::num;
        let words: &[&[u8]] = &[
            b"0",
            b"-0",
            b"7",
            b"-7",
            b"007",
            b"+7",
            b" 7",
            b"7 ",
            b"",
            b"-",
            b"1e3",
            b"1.5",
            b"-1.5",
            b"inf",
            b"-inf",
            b"+inf",
            b"Infinity",
            b"nan",
            b"NaN",
            b"0x10",
            b".5",
            b"9223372036854775807",
            b"9223372036854775808",
            b"-9223372036854775808",
        ];
        for w in words {
            assert_eq!(num::parse_int(w), shard::hash::parse_int(w), "{w:?}");
            assert_eq!(
                num::parse_float(w).map(f64::to_bits),
                shard::hash::parse_float(w).map(f64::to_bits),
                "{w:?}"
            );
        }
        assert_eq!(shard::manifest::SLOTS, crate::slot::SLOTS);
    }

    #[test]
    fn every_stored_row_has_its_apply_and_back() {
        for c in all() {
            assert!(appliers().contains_key(c.name), "{} has no apply", c.name);
        }
        for name in appliers().keys() {
            let row = table::get(name.as_bytes()).unwrap_or_else(|| panic!("{name} has no row"));
            assert!(row.has(flag::STORED), "{name} is not marked STORED");
        }
        assert!(lookup(&[b"HSET", b"k"]).is_err());
        assert!(lookup(&[b"nosuch"]).is_err());
        assert_eq!(
            lookup(&[b"ping"]).unwrap_err().code,
            ErrorCode::UnknownCommand
        );
        assert_eq!(lookup(&[b"hset", b"k", b"f", b"v"]).unwrap().0.name, "hset");
    }
}
