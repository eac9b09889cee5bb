//! Named commands' apply: the data-model commands (hashes, sets, sorted
//! sets, lists, keys of any type, and the strings an atomic batch needs)
//! executed against one partition through a `shard::tx::Tx`, answering a
//! typed `Value` (`proto::value`).
//!
//! Each command's name, arity, keys and flags are its row of the command
//! table (`proto::table`), and its parse is in `proto::args`: both in the
//! wire crate, which every front end and the client share. This module, on
//! the server side because it runs storage transactions, holds one
//! `apply` per family, taking that family's typed arguments. The binary
//! protocol carries named commands in the COMMAND (0x20) and BATCH (0x21)
//! frames, RESP in its own syntax; `tessera cli` and the Rust client build
//! the argument vectors.

pub mod bits;
pub mod dump;
pub mod function;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod keys;
pub mod lcs;
pub mod list;
pub mod script;
pub mod set;
pub mod sort;
pub mod stream;
pub mod zset;

use crate::codes::{ErrorCode, WireError};
use crate::proto::args::{self, Named, ScanOpts, SetOp};
use crate::proto::table::{self, flag};
pub use crate::proto::value::Value;
use crate::shard::{self, tx::Tx};
use crate::slot::key_slot;

pub use crate::shard::hash::format_float;

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
            CmdError::Store(e) => crate::errors::store_error(e),
            CmdError::Wire(w) => w,
        }
    }
}

pub type CmdResult = Result<Value, CmdError>;

/// The table row of `args[0]` (arity checked), when it is a named
/// command. Commands that are not data commands (PING, SUBSCRIBE, ...) are
/// unknown here.
pub fn lookup(args: &[&[u8]]) -> Result<&'static table::Command, WireError> {
    let row = table::lookup(args)?;
    if row.has(flag::STORED) {
        Ok(row)
    } else {
        Err(args::not_named(row.name))
    }
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
    slot.ok_or_else(|| args::bad("the command names no key"))
}

/// Runs one parsed command inside `tx`: the CAS check on its first key
/// (`first`, from the caller's key extraction; empty when it names none),
/// then the command. Returns the first key's version afterwards (0 if it
/// does not exist) and the answer.
pub fn apply(
    tx: &mut Tx<'_>,
    cmd: &Named<'_>,
    first: &[u8],
    expected_version: Option<u64>,
) -> Result<(u64, Value), CmdError> {
    if let Some(expected) = expected_version {
        let current = tx.version_of(first)?;
        if current != expected {
            return Err(CmdError::Store(shard::Error::VersionConflict { current }));
        }
    }
    let value = match cmd {
        Named::Keys(c) => keys::apply(tx, c),
        Named::Hash(c) => hash::apply(tx, c),
        Named::Set(c) => set::apply(tx, c),
        Named::ZSet(c) => zset::apply(tx, c),
        Named::List(c) => list::apply(tx, c),
        Named::Bits(c) => bits::apply(tx, c),
        Named::Hll(c) => hll::apply(tx, c),
        Named::Geo(c) => geo::apply(tx, c),
        Named::Script(c) => script::eval(tx, c),
        Named::Stream(c) => stream::apply(tx, c),
    }?;
    Ok((tx.version_of(first)?, value))
}

/// The storage form of a set-algebra operation.
fn set_op(op: SetOp) -> shard::set::SetOp {
    match op {
        SetOp::Inter => shard::set::SetOp::Inter,
        SetOp::Union => shard::set::SetOp::Union,
        SetOp::Diff => shard::set::SetOp::Diff,
    }
}

/// LMPOP and ZMPOP: `[key, items]` from the first key whose pop took
/// something, or nil. A key of another type stops with its error, a
/// missing one is passed over (Redis's order).
fn first_popped<T>(
    keys: &[&[u8]],
    mut pop: impl FnMut(&[u8]) -> Result<Vec<T>, shard::Error>,
    item: impl Fn(T) -> Value,
) -> CmdResult {
    for &key in keys {
        let items = pop(key)?;
        if !items.is_empty() {
            return Ok(Value::Array(vec![
                Value::bytes(key),
                Value::list(items, item),
            ]));
        }
    }
    Ok(Value::Nil)
}

/// A scan page's reply: the cursor, then the items.
fn scan_page(next: Option<Vec<u8>>, items: Value) -> Value {
    Value::Array(vec![ScanOpts::cursor(next), items])
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
    fn lookup_knows_only_named_commands() {
        assert!(lookup(&[b"HSET", b"k"]).is_err());
        assert!(lookup(&[b"nosuch"]).is_err());
        assert_eq!(
            lookup(&[b"ping"]).unwrap_err().code,
            ErrorCode::UnknownCommand
        );
        assert_eq!(lookup(&[b"hset", b"k", b"f", b"v"]).unwrap().name, "hset");
    }
}
