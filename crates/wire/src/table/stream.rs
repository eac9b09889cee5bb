//! Streams: rows of the command table (Redis 7.0's arity, flags, keys,
//! categories and summaries). XREAD and XREADGROUP block only with BLOCK
//! (`Planner::XRead`); inside MULTI or a script they never block.

use super::flag::*;
use super::{acl, c, k, Command, Group, Keys, Planner, Reply, NONE};

const G: Group = Group::Stream;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "xack", -4, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STREAM, "5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.").reply(Reply::Int),
    c(G, "xadd", -5, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STREAM, "5.0.0", "Appends a new entry to a stream").reply(Reply::BulkOrNil).tips(&["nondeterministic_output"]),
    c(G, "xautoclaim", -6, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STREAM, "6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.").reply(Reply::Array).tips(&["nondeterministic_output"]),
    c(G, "xclaim", -6, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STREAM, "5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.").reply(Reply::Array).tips(&["nondeterministic_output"]),
    c(G, "xdel", -3, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STREAM, "5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.").reply(Reply::Int),
    c(G, "xgroup", -2, 0, NONE, 0, "5.0.0", "A container for consumer groups commands").reply(Reply::Varies).subs(XGROUP_SUBS),
    c(G, "xinfo", -2, 0, NONE, 0, "5.0.0", "A container for stream introspection commands").reply(Reply::Varies).subs(XINFO_SUBS),
    c(G, "xlen", 2, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::STREAM, "5.0.0", "Return the number of entries in a stream").reply(Reply::Int),
    c(G, "xpending", -3, READONLY | STORED, k(1, 1, 1), acl::STREAM, "5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.").reply(Reply::Array).tips(&["nondeterministic_output"]),
    c(G, "xrange", -4, READONLY | STORED, k(1, 1, 1), acl::STREAM, "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval").reply(Reply::ArrayOrNil),
    c(G, "xread", -4, BLOCKING | READONLY | STORED, Keys::Streams, acl::STREAM, "5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.").reply(Reply::ArrayOrNil).resp(Planner::XRead),
    c(G, "xreadgroup", -7, BLOCKING | WRITE | STORED, Keys::Streams, acl::STREAM, "5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.").reply(Reply::ArrayOrNil).resp(Planner::XRead),
    c(G, "xrevrange", -4, READONLY | STORED, k(1, 1, 1), acl::STREAM, "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE").reply(Reply::ArrayOrNil),
    c(G, "xsetid", -3, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STREAM, "5.0.0", "An internal command for replicating stream values").reply(Reply::Status),
    c(G, "xtrim", -4, WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STREAM, "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size").reply(Reply::Int).tips(&["nondeterministic_output"]),
];

/// XGROUP's subcommands: named commands on the key's core (word 2); HELP
/// is the table's.
#[rustfmt::skip]
const XGROUP_SUBS: &[Command] = &[
    c(G, "xgroup|create", -5, DENYOOM | WRITE | STORED | NOACCESS, k(2, 2, 1), acl::STREAM, "5.0.0", "Create a consumer group.").reply(Reply::Status),
    c(G, "xgroup|createconsumer", 5, DENYOOM | WRITE | STORED | NOACCESS, k(2, 2, 1), acl::STREAM, "6.2.0", "Create a consumer in a consumer group.").reply(Reply::Int),
    c(G, "xgroup|delconsumer", 5, WRITE | STORED | NOACCESS, k(2, 2, 1), acl::STREAM, "5.0.0", "Delete a consumer from a consumer group.").reply(Reply::Int),
    c(G, "xgroup|destroy", 4, WRITE | STORED | NOACCESS, k(2, 2, 1), acl::STREAM, "5.0.0", "Destroy a consumer group.").reply(Reply::Int),
    c(G, "xgroup|help", 2, LOADING | STALE, NONE, acl::STREAM, "5.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "xgroup|setid", -5, WRITE | STORED | NOACCESS, k(2, 2, 1), acl::STREAM, "5.0.0", "Set a consumer group to an arbitrary last delivered ID value.").reply(Reply::Status),
];

/// XINFO's subcommands.
#[rustfmt::skip]
const XINFO_SUBS: &[Command] = &[
    c(G, "xinfo|consumers", 4, READONLY | STORED, k(2, 2, 1), acl::STREAM, "5.0.0", "List the consumers in a consumer group").reply(Reply::Array).tips(&["nondeterministic_output"]),
    c(G, "xinfo|groups", 3, READONLY | STORED, k(2, 2, 1), acl::STREAM, "5.0.0", "List the consumer groups of a stream").reply(Reply::Array),
    c(G, "xinfo|help", 2, LOADING | STALE, NONE, acl::STREAM, "5.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "xinfo|stream", -3, READONLY | STORED, k(2, 2, 1), acl::STREAM, "5.0.0", "Get information about a stream").reply(Reply::Map),
];

/// XREAD's and XREADGROUP's keys: after the first STREAMS past the
/// options (XREADGROUP's GROUP takes two words), the first half of the
/// rest. Redis's errors when STREAMS is missing or the halves differ.
pub(super) fn key_positions(
    name: &str,
    args: &[&[u8]],
) -> Result<Vec<usize>, crate::codes::WireError> {
    let bad = |m: String| crate::codes::WireError::new(crate::codes::ErrorCode::BadArguments, m);
    let mut i = 1;
    while i < args.len() {
        match args[i].to_ascii_lowercase().as_slice() {
            b"block" | b"count" => i += 1,
            b"group" => i += 2,
            b"streams" => {
                let rest = args.len() - i - 1;
                if rest == 0 {
                    break;
                }
                if !rest.is_multiple_of(2) {
                    let symbol = if name == "xreadgroup" { '>' } else { '$' };
                    return Err(bad(format!("Unbalanced '{name}' list of streams: for each stream key an ID or '{symbol}' must be specified.")));
                }
                return Ok((i + 1..=i + rest / 2).collect());
            }
            _ => {}
        }
        i += 1;
    }
    Err(bad("syntax error".into()))
}
