//! The wire error of a storage error: the one place where the storage
//! crate's errors meet the error registry of the wire crate (`codes`), used
//! by the command apply (`cmd`), replication's serving side (`repl`) and
//! the core (`net`).

use crate::codes::{ErrorCode, WireError};
use crate::shard;

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
        E::NoGroup(_) => ErrorCode::NoGroup,
        E::BusyGroup => ErrorCode::BusyGroup,
        E::Stream(_) => ErrorCode::BadArguments,
        // A variant added to storage and not mapped here yet.
        _ => ErrorCode::Internal,
    };
    WireError::new(code, e.to_string())
}
