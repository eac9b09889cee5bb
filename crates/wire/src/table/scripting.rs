//! Scripting: rows of the command table (Redis 7.0's arity, flags, keys,
//! categories and summaries). EVAL, FCALL and their forms are data
//! commands: they run as one transaction on the core that owns their keys.

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
    c(G, "fcall", -3, EVAL, EVAL_KEYS, acl::SCRIPTING, "7.0.0", "Invoke a function").reply(Reply::Varies),
    c(G, "fcall_ro", -3, EVAL | READONLY, EVAL_KEYS, acl::SCRIPTING, "7.0.0", "Invoke a read-only function").reply(Reply::Varies),
    c(G, "function", -2, 0, NONE, 0, "7.0.0", "A container for function commands").reply(Reply::Varies).conn(ConnCmd::Function).subs(FUNCTION_SUBS),
];

/// FUNCTION's subcommands: the node's function libraries (the container's
/// `ConnCmd::Function`).
#[rustfmt::skip]
const FUNCTION_SUBS: &[Command] = &[
    c(G, "function|delete", 3, NOSCRIPT | WRITE, NONE, acl::SCRIPTING, "7.0.0", "Delete a function by name").reply(Reply::Status).tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    c(G, "function|dump", 2, NOSCRIPT, NONE, acl::SCRIPTING, "7.0.0", "Dump all functions into a serialized binary payload").reply(Reply::Bulk),
    c(G, "function|flush", -2, NOSCRIPT | WRITE, NONE, acl::SCRIPTING, "7.0.0", "Deleting all functions").reply(Reply::Status).tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    c(G, "function|help", 2, LOADING | STALE, NONE, acl::SCRIPTING, "7.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "function|kill", 2, NOSCRIPT | ALLOW_BUSY, NONE, acl::SCRIPTING, "7.0.0", "Kill the function currently in execution.").reply(Reply::Status).tips(&["request_policy:all_shards", "response_policy:one_succeeded"]),
    c(G, "function|list", -2, NOSCRIPT, NONE, acl::SCRIPTING, "7.0.0", "List information about all the functions").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
    c(G, "function|load", -3, DENYOOM | NOSCRIPT | WRITE, NONE, acl::SCRIPTING, "7.0.0", "Create a function with the given arguments (name, code, description)").reply(Reply::Bulk).tips(&["request_policy:all_shards"]),
    c(G, "function|restore", -3, DENYOOM | NOSCRIPT | WRITE, NONE, acl::SCRIPTING, "7.0.0", "Restore all the functions on the given payload").reply(Reply::Status).tips(&["request_policy:all_shards"]),
    c(G, "function|stats", 2, NOSCRIPT | ALLOW_BUSY, NONE, acl::SCRIPTING, "7.0.0", "Return information about the function currently running (name, description, duration)").reply(Reply::Map).tips(&["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
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

/// EVAL's and FCALL's keys: `numkeys` (word 2) words from word 3, with
/// Redis's errors.
pub(super) fn key_positions(args: &[&[u8]]) -> Result<Vec<usize>, WireError> {
    let count = args.get(2).copied().unwrap_or_default();
    let n = match crate::num::int_arg(count) {
        Err(_) if args[0].len() >= 5 && args[0][..5].eq_ignore_ascii_case(b"fcall") => {
            return Err(WireError::new(
                ErrorCode::BadArguments,
                "Bad number of keys provided",
            ))
        }
        n => n?,
    };
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
