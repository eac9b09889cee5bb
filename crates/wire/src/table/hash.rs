//! Hashes: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, Group, Planner, Reply};

const G: Group = Group::Hash;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "hdel", -3, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::HASH, "2.0.0", "Delete one or more hash fields").reply(Reply::Int),
    c(G, "hexists", 3, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::HASH, "2.0.0", "Determine if a hash field exists").reply(Reply::Int),
    c(G, "hget", 3, FAST | READONLY | STORED, k(1, 1, 1), acl::HASH, "2.0.0", "Get the value of a hash field").reply(Reply::BulkOrNil),
    c(G, "hgetall", 2, READONLY | STORED, k(1, 1, 1), acl::HASH, "2.0.0", "Get all the fields and values in a hash").reply(Reply::Map).tips(&["nondeterministic_output_order"]),
    c(G, "hincrby", 4, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::HASH, "2.0.0", "Increment the integer value of a hash field by the given number").reply(Reply::Int),
    c(G, "hincrbyfloat", 4, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::HASH, "2.6.0", "Increment the float value of a hash field by the given amount").reply(Reply::Bulk),
    c(G, "hkeys", 2, READONLY | STORED, k(1, 1, 1), acl::HASH, "2.0.0", "Get all the fields in a hash").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
    c(G, "hlen", 2, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::HASH, "2.0.0", "Get the number of fields in a hash").reply(Reply::Int),
    c(G, "hmget", -3, FAST | READONLY | STORED, k(1, 1, 1), acl::HASH, "2.0.0", "Get the values of all the given hash fields").reply(Reply::Array),
    c(G, "hmset", -4, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::HASH, "2.0.0", "Set multiple hash fields to multiple values").reply(Reply::Status),
    c(G, "hrandfield", -2, READONLY | STORED, k(1, 1, 1), acl::HASH, "6.2.0", "Get one or multiple random fields from a hash").reply(Reply::Varies).tips(&["nondeterministic_output"]),
    c(G, "hscan", -3, READONLY | STORED, k(1, 1, 1), acl::HASH, "2.8.0", "Incrementally iterate hash fields and associated values").reply(Reply::Array).resp(Planner::MemberScan).tips(&["nondeterministic_output"]),
    c(G, "hset", -4, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::HASH, "2.0.0", "Set the string value of a hash field").reply(Reply::Int),
    c(G, "hsetnx", 4, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::HASH, "2.0.0", "Set the value of a hash field, only if the field does not exist").reply(Reply::Int),
    c(G, "hstrlen", 3, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::HASH, "3.2.0", "Get the length of the value of a hash field").reply(Reply::Int),
    c(G, "hvals", 2, READONLY | STORED, k(1, 1, 1), acl::HASH, "2.0.0", "Get all the values in a hash").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
    c(G, "hrange", -4, READONLY | STORED, k(1, 1, 1), acl::HASH, "0.1.0", "Tessera: the fields of a hash between two sort keys, in byte order (Pegasus's sortkey scan)").reply(Reply::Varies),
    c(G, "checkandset", -6, DENYOOM | WRITE | STORED, k(1, 1, 1), acl::HASH, "0.1.0", "Tessera: sets a hash field when a check on a field of the same hash passes (Pegasus's check-and-set)").reply(Reply::Array),
];
