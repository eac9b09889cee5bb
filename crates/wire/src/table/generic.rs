//! Keys of any type: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, ConnCmd, Group, Planner, NONE};

const G: Group = Group::Generic;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "del", -2, WRITE | STORED, k(1, -1, 1), acl::KEYSPACE, "1.0.0", "Delete a key").resp(Planner::Del).tips(&["request_policy:multi_shard", "response_policy:agg_sum"]),
    c(G, "exists", -2, FAST | READONLY | STORED, k(1, -1, 1), acl::KEYSPACE, "1.0.0", "Determine if a key exists").resp(Planner::Exists).tips(&["request_policy:multi_shard", "response_policy:agg_sum"]),
    c(G, "expire", -3, FAST | WRITE | STORED, k(1, 1, 1), acl::KEYSPACE, "1.0.0", "Set a key's time to live in seconds"),
    c(G, "expireat", -3, FAST | WRITE | STORED, k(1, 1, 1), acl::KEYSPACE, "1.2.0", "Set the expiration for a key as a UNIX timestamp"),
    c(G, "keys", 2, READONLY, NONE, acl::DANGEROUS | acl::KEYSPACE, "1.0.0", "Find all keys matching the given pattern").conn(ConnCmd::Keys).tips(&["request_policy:all_shards", "nondeterministic_output_order"]),
    c(G, "persist", 2, FAST | WRITE | STORED, k(1, 1, 1), acl::KEYSPACE, "2.2.0", "Remove the expiration from a key"),
    c(G, "pexpire", -3, FAST | WRITE | STORED, k(1, 1, 1), acl::KEYSPACE, "2.6.0", "Set a key's time to live in milliseconds"),
    c(G, "pexpireat", -3, FAST | WRITE | STORED, k(1, 1, 1), acl::KEYSPACE, "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds"),
    c(G, "pttl", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::KEYSPACE, "2.6.0", "Get the time to live for a key in milliseconds").tips(&["nondeterministic_output"]),
    c(G, "randomkey", 1, READONLY, NONE, acl::KEYSPACE, "1.0.0", "Return a random key from the keyspace").conn(ConnCmd::RandomKey).tips(&["request_policy:all_shards", "nondeterministic_output"]),
    c(G, "rename", 3, WRITE | STORED, k(1, 2, 1), acl::KEYSPACE, "1.0.0", "Rename a key"),
    c(G, "renamenx", 3, FAST | WRITE | STORED, k(1, 2, 1), acl::KEYSPACE, "1.0.0", "Rename a key, only if the new key does not exist"),
    c(G, "scan", -2, READONLY, NONE, acl::KEYSPACE, "2.8.0", "Incrementally iterate the keys space").resp(Planner::Scan).tips(&["nondeterministic_output", "request_policy:special"]),
    c(G, "ttl", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::KEYSPACE, "1.0.0", "Get the time to live for a key in seconds").tips(&["nondeterministic_output"]),
    c(G, "type", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::KEYSPACE, "1.0.0", "Determine the type stored at key"),
    c(G, "unlink", -2, FAST | WRITE | STORED, k(1, -1, 1), acl::KEYSPACE, "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.").resp(Planner::Del).tips(&["request_policy:multi_shard", "response_policy:agg_sum"]),
];
