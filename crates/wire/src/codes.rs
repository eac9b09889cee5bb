//! The one error registry. Every front end (binary protocol, RESP, HTTP)
//! maps from these codes; `docs/protocol.md` lists the same table.
//!
//! A code's number and name never change once released; new codes are
//! appended.

/// A stable, numbered error condition that can reach a client.
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Unexpected server-side failure.
    Internal = 1,
    /// The byte stream is not a valid frame; the connection is closed after the reply.
    BadFrame = 2,
    /// The opcode is not known to this server.
    UnknownCommand = 3,
    /// The body does not hold the arguments the command takes.
    BadArguments = 4,
    /// A frame is larger than `max-frame-bytes`; the connection is closed after the reply.
    FrameTooLarge = 5,
    /// The key holds a value of another type.
    WrongType = 6,
    /// The stored value is not an integer, or the argument is not one.
    NotInteger = 7,
    /// The increment or decrement would overflow a signed 64-bit integer.
    Overflow = 8,
    /// An atomic command names keys in different slots.
    CrossSlot = 9,
    /// The key's version is not the one the write expected (CAS).
    VersionConflict = 10,
    /// The partition stopped accepting writes after a failed write or sync.
    Poisoned = 11,
    /// RocksDB reported a write stall and the write could not be queued.
    WriteStall = 12,
    /// The server's memory budget for frames and replies is used up.
    OutOfMemory = 13,
    /// Fewer replicas than required acknowledged the write.
    NoReplicas = 14,
    /// This node does not accept writes (it is a replica).
    ReadOnly = 15,
    /// The server is shutting down.
    ShuttingDown = 16,
    /// RocksDB failed a read or write.
    Storage = 17,
    /// The command needs a key that does not exist (RENAME).
    NoSuchKey = 18,
    /// The stored value or the argument is not a valid float, or the result
    /// would be NaN or infinite.
    NotFloat = 19,
    /// A list index outside the list (LSET).
    OutOfRange = 20,
    /// EXEC after a command was refused while queueing (RESP transactions).
    ExecAbort = 21,
    /// Replication: the position asked for is no longer in the WAL, or the
    /// asking node's history diverged; it must copy the partition in full.
    SyncNeeded = 22,
    /// Cluster mode: another node serves the key's slot. The message is
    /// `<slot> <host>:<port>` (the owner's address for this protocol).
    Moved = 23,
    /// Cluster mode: no node serves the key's slot, or this node has no
    /// cluster map yet.
    ClusterDown = 24,
    /// Cluster mode: a cluster operation was refused (another cluster's
    /// node, no controller quorum, a bad plan); the message says why.
    ClusterRefused = 25,
    /// Cluster mode: the key's slot is being handed to another node; writes
    /// to it wait for a few milliseconds (retry, as Redis Cluster clients
    /// do on TRYAGAIN).
    TryAgain = 26,
    /// Cluster mode, RESP: the key's slot is being handed to another node;
    /// send this one command there, after ASKING. The message is `<slot>
    /// <host>:<port>`.
    Ask = 27,
    /// The connection has not authenticated and the command needs it
    /// (docs/security.md).
    NoAuth = 28,
    /// AUTH (or HELLO AUTH, or the binary AUTH) named an unknown or
    /// disabled user, or the wrong password.
    WrongPass = 29,
    /// The connection's ACL user may not run this command, or touch one of
    /// its keys or channels.
    NoPerm = 30,
    /// The connection is refused: protected mode (no password, a client
    /// from another machine) or the listener's `allow-from` list. The
    /// connection closes after the reply.
    Denied = 31,
    /// `maxclients` connections are open; this one closes after the reply.
    MaxClients = 32,
    /// The value is not a valid object of its kind (a corrupted
    /// HyperLogLog).
    InvalidObject = 33,
    /// RESTORE without REPLACE to a key that exists.
    BusyKey = 34,
    /// EVALSHA of a script the node does not have.
    NoScript = 35,
    /// An error a script returned or raised: the message is the whole
    /// text, its own code word first (`redis.error_reply`, `{err=...}`).
    Script = 36,
    /// SCRIPT KILL with no script running.
    NotBusy = 37,
    /// The key's core has run a script for longer than
    /// `busy-reply-threshold`.
    Busy = 38,
    /// A stream's consumer group (or the stream) is missing.
    NoGroup = 39,
    /// XGROUP CREATE of a group that exists.
    BusyGroup = 40,
}

impl ErrorCode {
    /// Every code, in number order (used by the docs test).
    pub const ALL: [ErrorCode; 40] = [
        ErrorCode::Internal,
        ErrorCode::BadFrame,
        ErrorCode::UnknownCommand,
        ErrorCode::BadArguments,
        ErrorCode::FrameTooLarge,
        ErrorCode::WrongType,
        ErrorCode::NotInteger,
        ErrorCode::Overflow,
        ErrorCode::CrossSlot,
        ErrorCode::VersionConflict,
        ErrorCode::Poisoned,
        ErrorCode::WriteStall,
        ErrorCode::OutOfMemory,
        ErrorCode::NoReplicas,
        ErrorCode::ReadOnly,
        ErrorCode::ShuttingDown,
        ErrorCode::Storage,
        ErrorCode::NoSuchKey,
        ErrorCode::NotFloat,
        ErrorCode::OutOfRange,
        ErrorCode::ExecAbort,
        ErrorCode::SyncNeeded,
        ErrorCode::Moved,
        ErrorCode::ClusterDown,
        ErrorCode::ClusterRefused,
        ErrorCode::TryAgain,
        ErrorCode::Ask,
        ErrorCode::NoAuth,
        ErrorCode::WrongPass,
        ErrorCode::NoPerm,
        ErrorCode::Denied,
        ErrorCode::MaxClients,
        ErrorCode::InvalidObject,
        ErrorCode::BusyKey,
        ErrorCode::NoScript,
        ErrorCode::Script,
        ErrorCode::NotBusy,
        ErrorCode::Busy,
        ErrorCode::NoGroup,
        ErrorCode::BusyGroup,
    ];

    /// The number on the wire.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The stable upper-case name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::BadFrame => "BAD_FRAME",
            ErrorCode::UnknownCommand => "UNKNOWN_COMMAND",
            ErrorCode::BadArguments => "BAD_ARGUMENTS",
            ErrorCode::FrameTooLarge => "FRAME_TOO_LARGE",
            ErrorCode::WrongType => "WRONG_TYPE",
            ErrorCode::NotInteger => "NOT_INTEGER",
            ErrorCode::Overflow => "OVERFLOW",
            ErrorCode::CrossSlot => "CROSS_SLOT",
            ErrorCode::VersionConflict => "VERSION_CONFLICT",
            ErrorCode::Poisoned => "POISONED",
            ErrorCode::WriteStall => "WRITE_STALL",
            ErrorCode::OutOfMemory => "OUT_OF_MEMORY",
            ErrorCode::NoReplicas => "NO_REPLICAS",
            ErrorCode::ReadOnly => "READ_ONLY",
            ErrorCode::ShuttingDown => "SHUTTING_DOWN",
            ErrorCode::Storage => "STORAGE",
            ErrorCode::NoSuchKey => "NO_SUCH_KEY",
            ErrorCode::NotFloat => "NOT_FLOAT",
            ErrorCode::OutOfRange => "OUT_OF_RANGE",
            ErrorCode::ExecAbort => "EXEC_ABORT",
            ErrorCode::SyncNeeded => "SYNC_NEEDED",
            ErrorCode::Moved => "MOVED",
            ErrorCode::ClusterDown => "CLUSTER_DOWN",
            ErrorCode::ClusterRefused => "CLUSTER_REFUSED",
            ErrorCode::TryAgain => "TRY_AGAIN",
            ErrorCode::Ask => "ASK",
            ErrorCode::NoAuth => "NO_AUTH",
            ErrorCode::WrongPass => "WRONG_PASS",
            ErrorCode::NoPerm => "NO_PERM",
            ErrorCode::Denied => "DENIED",
            ErrorCode::MaxClients => "MAX_CLIENTS",
            ErrorCode::InvalidObject => "INVALID_OBJECT",
            ErrorCode::BusyKey => "BUSY_KEY",
            ErrorCode::NoScript => "NO_SCRIPT",
            ErrorCode::Script => "SCRIPT",
            ErrorCode::NotBusy => "NOT_BUSY",
            ErrorCode::Busy => "BUSY",
            ErrorCode::NoGroup => "NO_GROUP",
            ErrorCode::BusyGroup => "BUSY_GROUP",
        }
    }

    /// The prefix a RESP error reply starts with.
    pub fn resp_prefix(self) -> &'static str {
        match self {
            ErrorCode::WrongType => "WRONGTYPE",
            ErrorCode::CrossSlot => "CROSSSLOT",
            ErrorCode::NoReplicas => "NOREPLICAS",
            ErrorCode::ReadOnly => "READONLY",
            ErrorCode::WriteStall | ErrorCode::TryAgain => "TRYAGAIN",
            ErrorCode::OutOfMemory => "OOM",
            ErrorCode::VersionConflict => "CONFLICT",
            ErrorCode::Poisoned | ErrorCode::Storage => "IOERR",
            ErrorCode::ShuttingDown => "SHUTDOWN",
            ErrorCode::ExecAbort => "EXECABORT",
            ErrorCode::Moved => "MOVED",
            ErrorCode::Ask => "ASK",
            ErrorCode::ClusterDown => "CLUSTERDOWN",
            ErrorCode::NoAuth => "NOAUTH",
            ErrorCode::WrongPass => "WRONGPASS",
            ErrorCode::NoPerm => "NOPERM",
            ErrorCode::Denied => "DENIED",
            ErrorCode::InvalidObject => "INVALIDOBJ",
            ErrorCode::BusyKey => "BUSYKEY",
            ErrorCode::NoScript => "NOSCRIPT",
            ErrorCode::Script => "",
            ErrorCode::NotBusy => "NOTBUSY",
            ErrorCode::Busy => "BUSY",
            ErrorCode::NoGroup => "NOGROUP",
            ErrorCode::BusyGroup => "BUSYGROUP",
            _ => "ERR",
        }
    }

    /// The HTTP status the HTTP front end answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Internal | ErrorCode::Storage => 500,
            ErrorCode::BadFrame
            | ErrorCode::UnknownCommand
            | ErrorCode::BadArguments
            | ErrorCode::NotInteger
            | ErrorCode::NotFloat
            | ErrorCode::OutOfRange
            | ErrorCode::ExecAbort
            | ErrorCode::Overflow
            | ErrorCode::CrossSlot
            | ErrorCode::InvalidObject => 400,
            ErrorCode::Moved | ErrorCode::Ask => 307,
            ErrorCode::ClusterRefused => 409,
            ErrorCode::FrameTooLarge => 413,
            ErrorCode::WrongType
            | ErrorCode::VersionConflict
            | ErrorCode::SyncNeeded
            | ErrorCode::BusyKey => 409,
            ErrorCode::NoScript => 404,
            ErrorCode::Script => 400,
            ErrorCode::NotBusy => 409,
            ErrorCode::Busy => 503,
            ErrorCode::NoGroup => 404,
            ErrorCode::BusyGroup => 409,
            ErrorCode::ReadOnly | ErrorCode::NoPerm | ErrorCode::Denied => 403,
            ErrorCode::NoAuth | ErrorCode::WrongPass => 401,
            ErrorCode::NoSuchKey => 404,
            ErrorCode::Poisoned
            | ErrorCode::WriteStall
            | ErrorCode::OutOfMemory
            | ErrorCode::NoReplicas
            | ErrorCode::ClusterDown
            | ErrorCode::TryAgain
            | ErrorCode::ShuttingDown
            | ErrorCode::MaxClients => 503,
        }
    }

    /// The default human message, used when no more specific one is given.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::Internal => "internal error",
            ErrorCode::BadFrame => "malformed frame",
            ErrorCode::UnknownCommand => "unknown command",
            ErrorCode::BadArguments => "wrong arguments for command",
            ErrorCode::FrameTooLarge => "frame larger than max-frame-bytes",
            ErrorCode::WrongType => "Operation against a key holding the wrong kind of value",
            ErrorCode::NotInteger => "value is not an integer or out of range",
            ErrorCode::Overflow => "increment or decrement would overflow",
            ErrorCode::CrossSlot => "Keys in request don't hash to the same slot",
            ErrorCode::VersionConflict => "version mismatch",
            ErrorCode::Poisoned => "partition is poisoned after a failed write or sync",
            ErrorCode::WriteStall => "storage write stall, try again",
            ErrorCode::OutOfMemory => "memory budget for frames and replies exhausted",
            ErrorCode::NoReplicas => "not enough replicas acknowledged the write",
            ErrorCode::ReadOnly => "this node is read-only",
            ErrorCode::ShuttingDown => "server is shutting down",
            ErrorCode::Storage => "storage error",
            ErrorCode::NoSuchKey => "no such key",
            ErrorCode::NotFloat => "value is not a valid float",
            ErrorCode::OutOfRange => "index out of range",
            ErrorCode::ExecAbort => "Transaction discarded because of previous errors.",
            ErrorCode::SyncNeeded => "a full sync of the partition is needed",
            ErrorCode::Moved => "another node serves this slot",
            ErrorCode::ClusterDown => "Hash slot not served",
            ErrorCode::ClusterRefused => "cluster operation refused",
            ErrorCode::TryAgain => "the slot is being moved to another node, try again",
            ErrorCode::Ask => "ask the migrating slot's new node, after ASKING",
            ErrorCode::NoAuth => "Authentication required.",
            ErrorCode::WrongPass => "invalid username-password pair or user is disabled.",
            ErrorCode::NoPerm => "this user has no permissions to run this command",
            ErrorCode::Denied => "this connection is refused",
            ErrorCode::MaxClients => "max number of clients reached",
            ErrorCode::InvalidObject => "Corrupted HLL object detected",
            ErrorCode::BusyKey => "Target key name already exists.",
            ErrorCode::NoScript => "No matching script. Please use EVAL.",
            ErrorCode::Script => "ERR script error",
            ErrorCode::NotBusy => "No scripts in execution right now.",
            ErrorCode::Busy => {
                "Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            }
            ErrorCode::NoGroup => "No such key or consumer group",
            ErrorCode::BusyGroup => "Consumer Group name already exists",
        }
    }
}

impl TryFrom<u16> for ErrorCode {
    type Error = u16;
    fn try_from(n: u16) -> Result<Self, u16> {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.number() == n)
            .ok_or(n)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name(), self.number())
    }
}

/// An error as it travels to a client: a registry code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WireError {
            code,
            message: message.into(),
        }
    }

    pub fn of(code: ErrorCode) -> Self {
        WireError::new(code, code.default_message())
    }
}

impl WireError {
    /// The error as a RESP client reads it: the code word, then the
    /// message (a script's own error is its message alone).
    pub fn resp_text(&self) -> String {
        match self.code.resp_prefix() {
            "" => self.message.clone(),
            p => format!("{p} {}", self.message),
        }
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code.name(), self.message)
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_are_unique() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(code.number() as usize, i + 1);
            assert_eq!(ErrorCode::try_from(code.number()), Ok(*code));
        }
        assert_eq!(ErrorCode::try_from(0), Err(0));
        assert_eq!(ErrorCode::try_from(999), Err(999));
    }
}
