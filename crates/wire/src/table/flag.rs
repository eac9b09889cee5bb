//! Command flags: Redis 7's names (lower case in `COMMAND`), then
//! Tessera's own, which `COMMAND` does not show.

pub const WRITE: u32 = 1 << 0;
pub const READONLY: u32 = 1 << 1;
pub const DENYOOM: u32 = 1 << 2;
pub const ADMIN: u32 = 1 << 3;
pub const PUBSUB: u32 = 1 << 4;
pub const NOSCRIPT: u32 = 1 << 5;
pub const BLOCKING: u32 = 1 << 6;
pub const LOADING: u32 = 1 << 7;
pub const STALE: u32 = 1 << 8;
pub const SKIP_SLOWLOG: u32 = 1 << 9;
pub const FAST: u32 = 1 << 10;
pub const NO_AUTH: u32 = 1 << 11;
pub const NO_MULTI: u32 = 1 << 12;
pub const ALLOW_BUSY: u32 = 1 << 13;
pub const NO_ASYNC_LOADING: u32 = 1 << 14;
pub const MAY_REPLICATE: u32 = 1 << 15;
pub const SKIP_MONITOR: u32 = 1 << 16;
pub const NO_MANDATORY_KEYS: u32 = 1 << 17;
/// Redis's names of the bits above, in bit order.
pub const NAMES: [&str; 18] = [
    "write",
    "readonly",
    "denyoom",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_slowlog",
    "fast",
    "no_auth",
    "no_multi",
    "allow_busy",
    "no_async_loading",
    "may_replicate",
    "skip_monitor",
    "no_mandatory_keys",
];
/// Tessera: applied by the storage side's named-command registry
/// (the server's `cmd`), so it can run in a binary COMMAND or BATCH frame and
/// inside MULTI.
pub const STORED: u32 = 1 << 24;
/// Tessera: a binary-protocol opcode only; RESP and `COMMAND` do not
/// know it.
pub const BINARY_ONLY: u32 = 1 << 25;
/// Tessera (from Redis's key specs): the keys are not read, so an ACL
/// user needs no read permission on them (`%W~` suffices for a write,
/// any pattern for a read such as EXISTS). Without it a read command
/// needs `%R~` and a write command both.
pub const NOACCESS: u32 = 1 << 26;
/// Tessera (from Redis's key specs): the first key is only written
/// (the *STORE commands' destination) and the others only read.
pub const DEST_FIRST: u32 = 1 << 27;
/// Tessera (from Redis's key specs): the first key is only read and
/// the second only written (COPY).
pub const SOURCE_FIRST: u32 = 1 << 28;
