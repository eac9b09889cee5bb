//! Keys of any type: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, ConnCmd, Group, Keys, Planner, Reply, NONE};

const G: Group = Group::Generic;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "copy", -3, DENYOOM | WRITE | STORED | SOURCE_FIRST, k(1, 2, 1), acl::KEYSPACE, "6.2.0", "Copy a key").reply(Reply::Int),
    c(G, "del", -2, WRITE | STORED | NOACCESS, k(1, -1, 1), acl::KEYSPACE, "1.0.0", "Delete a key").reply(Reply::Int).resp(Planner::Del).tips(&["request_policy:multi_shard", "response_policy:agg_sum"]),
    c(G, "dump", 2, READONLY | STORED, k(1, 1, 1), acl::KEYSPACE, "2.6.0", "Return a serialized version of the value stored at the specified key.").reply(Reply::BulkOrNil).tips(&["nondeterministic_output"]),
    c(G, "exists", -2, FAST | READONLY | STORED | NOACCESS, k(1, -1, 1), acl::KEYSPACE, "1.0.0", "Determine if a key exists").reply(Reply::Int).resp(Planner::Exists).tips(&["request_policy:multi_shard", "response_policy:agg_sum"]),
    c(G, "expire", -3, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::KEYSPACE, "1.0.0", "Set a key's time to live in seconds").reply(Reply::Int),
    c(G, "expiretime", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::KEYSPACE, "7.0.0", "Get the expiration Unix timestamp for a key").reply(Reply::Int),
    c(G, "expireat", -3, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::KEYSPACE, "1.2.0", "Set the expiration for a key as a UNIX timestamp").reply(Reply::Int),
    c(G, "keys", 2, READONLY, NONE, acl::DANGEROUS | acl::KEYSPACE, "1.0.0", "Find all keys matching the given pattern").reply(Reply::Array).conn(ConnCmd::Keys).tips(&["request_policy:all_shards", "nondeterministic_output_order"]),
    c(G, "move", 3, FAST | WRITE | STORED, k(1, 1, 1), acl::KEYSPACE, "1.0.0", "Move a key to another database").reply(Reply::Int),
    c(G, "object", -2, 0, NONE, 0, "2.2.3", "A container for object introspection commands").reply(Reply::Varies).subs(OBJECT_SUBS),
    c(G, "persist", 2, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::KEYSPACE, "2.2.0", "Remove the expiration from a key").reply(Reply::Int),
    c(G, "pexpire", -3, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::KEYSPACE, "2.6.0", "Set a key's time to live in milliseconds").reply(Reply::Int),
    c(G, "pexpireat", -3, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::KEYSPACE, "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds").reply(Reply::Int),
    c(G, "pexpiretime", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::KEYSPACE, "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds").reply(Reply::Int),
    c(G, "pttl", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::KEYSPACE, "2.6.0", "Get the time to live for a key in milliseconds").reply(Reply::Int).tips(&["nondeterministic_output"]),
    c(G, "randomkey", 1, READONLY, NONE, acl::KEYSPACE, "1.0.0", "Return a random key from the keyspace").reply(Reply::BulkOrNil).conn(ConnCmd::RandomKey).tips(&["request_policy:all_shards", "nondeterministic_output"]),
    c(G, "rename", 3, WRITE | STORED, k(1, 2, 1), acl::KEYSPACE, "1.0.0", "Rename a key").reply(Reply::Status),
    c(G, "renamenx", 3, FAST | WRITE | STORED, k(1, 2, 1), acl::KEYSPACE, "1.0.0", "Rename a key, only if the new key does not exist").reply(Reply::Int),
    c(G, "restore", -4, DENYOOM | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::KEYSPACE | acl::DANGEROUS, "2.6.0", "Create a key using the provided serialized value, previously obtained using DUMP.").reply(Reply::Status),
    c(G, "scan", -2, READONLY, NONE, acl::KEYSPACE, "2.8.0", "Incrementally iterate the keys space").reply(Reply::Array).resp(Planner::Scan).tips(&["nondeterministic_output", "request_policy:special"]),
    c(G, "sort", -2, DENYOOM | WRITE | STORED | SOURCE_FIRST, Keys::Sort, acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS, "1.0.0", "Sort the elements in a list, set or sorted set").reply(Reply::Varies),
    c(G, "sort_ro", -2, READONLY | STORED, Keys::Sort, acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS, "7.0.0", "Sort the elements in a list, set or sorted set. Read-only variant of SORT.").reply(Reply::Array),
    c(G, "ttl", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::KEYSPACE, "1.0.0", "Get the time to live for a key in seconds").reply(Reply::Int).tips(&["nondeterministic_output"]),
    c(G, "type", 2, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::KEYSPACE, "1.0.0", "Determine the type stored at key").reply(Reply::Status),
    c(G, "unlink", -2, FAST | WRITE | STORED | NOACCESS, k(1, -1, 1), acl::KEYSPACE, "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.").reply(Reply::Int).resp(Planner::Del).tips(&["request_policy:multi_shard", "response_policy:agg_sum"]),
];

/// OBJECT's subcommands: the keyed ones are named commands (run on the
/// key's core; `table::lookup` resolves them), HELP is the table's.
#[rustfmt::skip]
const OBJECT_SUBS: &[Command] = &[
    c(G, "object|help", 2, LOADING | STALE, NONE, acl::KEYSPACE, "6.2.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "object|encoding", 3, READONLY | STORED, k(2, 2, 1), acl::KEYSPACE, "2.2.3", "Inspect the internal encoding of a Redis object").reply(Reply::BulkOrNil).tips(&["nondeterministic_output"]),
    c(G, "object|freq", 3, READONLY | STORED, k(2, 2, 1), acl::KEYSPACE, "4.0.0", "Get the logarithmic access frequency counter of a Redis object").reply(Reply::Varies).tips(&["nondeterministic_output"]),
    c(G, "object|refcount", 3, READONLY | STORED, k(2, 2, 1), acl::KEYSPACE, "2.2.3", "Get the number of references to the value of the key").reply(Reply::Varies).tips(&["nondeterministic_output"]),
    c(G, "object|idletime", 3, READONLY | STORED, k(2, 2, 1), acl::KEYSPACE, "2.2.3", "Get the time since a Redis object was last accessed").reply(Reply::Varies).tips(&["nondeterministic_output"]),
];
