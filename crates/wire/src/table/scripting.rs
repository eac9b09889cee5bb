//! Scripting: rows of the command table (Redis 7.0's arity, flags, keys,
//! categories and summaries). EVAL and its forms are data commands: they
//! run as one transaction on the core that owns their keys.

use super::flag::*;
use super::{acl, c, Command, ConnCmd, Group, Keys, Reply, NONE};
use crate::codes::{ErrorCode, WireError};

const G: Group = Group::Scripting;
/// EVAL script numkeys key ... arg ...
const EVAL_KEYS: Keys = Keys::NumKeys { fixed: 0, skip: 1 };
const EVAL: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | STORED;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "eval", -3, EVAL, EVAL_KEYS, acl::SCRIPTING, "2.6.0", "Execute a Lua script server side").reply(Reply::Varies),
    c(G, "eval_ro", -3, EVAL | READONLY, EVAL_KEYS, acl::SCRIPTING, "7.0.0", "Execute a read-only Lua script server side").reply(Reply::Varies),
    c(G, "evalsha", -3, EVAL, EVAL_KEYS, acl::SCRIPTING, "2.6.0", "Execute a Lua script server side").reply(Reply::Varies),
    c(G, "evalsha_ro", -3, EVAL | READONLY, EVAL_KEYS, acl::SCRIPTING, "7.0.0", "Execute a read-only Lua script server side").reply(Reply::Varies),
    c(G, "script", -2, 0, NONE, 0, "2.6.0", "A container for Lua scripts management commands").reply(Reply::Varies).conn(ConnCmd::Script).subs(SCRIPT_SUBS),
];

/// SCRIPT's subcommands: the node's script cache (the container's
/// `ConnCmd::Script`).
#[rustfmt::skip]
const SCRIPT_SUBS: &[Command] = &[
    c(G, "script|exists", -3, NOSCRIPT, NONE, acl::SCRIPTING, "2.6.0", "Check existence of scripts in the script cache.").reply(Reply::Array).tips(&["request_policy:all_shards", "response_policy:agg_logical_and"]),
    c(G, "script|flush", -2, NOSCRIPT, NONE, acl::SCRIPTING, "2.6.0", "Remove all the scripts from the script cache.").reply(Reply::Status).tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
    c(G, "script|help", 2, LOADING | STALE, NONE, acl::SCRIPTING, "5.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "script|kill", 2, NOSCRIPT | ALLOW_BUSY, NONE, acl::SCRIPTING, "2.6.0", "Kill the script currently in execution.").reply(Reply::Status).tips(&["request_policy:all_shards", "response_policy:one_succeeded"]),
    c(G, "script|load", 3, NOSCRIPT | STALE, NONE, acl::SCRIPTING, "2.6.0", "Load the specified Lua script into the script cache.").reply(Reply::Bulk).tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
];

/// EVAL's keys: `numkeys` (word 2) words from word 3, with Redis's errors.
pub(super) fn key_positions(args: &[&[u8]]) -> Result<Vec<usize>, WireError> {
    let n = crate::num::int_arg(args.get(2).copied().unwrap_or_default())?;
    if n > args.len() as i64 - 3 {
        return Err(WireError::new(
            ErrorCode::BadArguments,
            "Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(WireError::new(
            ErrorCode::BadArguments,
            "Number of keys can't be negative",
        ));
    }
    Ok((3..3 + n as usize).collect())
}
