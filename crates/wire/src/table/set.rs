//! Sets: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, Group, Keys, Planner, Reply};

const G: Group = Group::Set;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "sadd", -3, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::SET, "1.0.0", "Add one or more members to a set").reply(Reply::Int),
    c(G, "scard", 2, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::SET, "1.0.0", "Get the number of members in a set").reply(Reply::Int),
    c(G, "sdiff", -2, READONLY | STORED, k(1, -1, 1), acl::SET, "1.0.0", "Subtract multiple sets").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
    c(G, "sdiffstore", -3, DENYOOM | WRITE | STORED | DEST_FIRST, k(1, -1, 1), acl::SET, "1.0.0", "Subtract multiple sets and store the resulting set in a key").reply(Reply::Int),
    c(G, "sinter", -2, READONLY | STORED, k(1, -1, 1), acl::SET, "1.0.0", "Intersect multiple sets").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
    c(G, "sintercard", -3, READONLY | STORED, Keys::NumKeys { fixed: 0, skip: 0 }, acl::SET, "7.0.0", "Intersect multiple sets and return the cardinality of the result").reply(Reply::Int),
    c(G, "sinterstore", -3, DENYOOM | WRITE | STORED | DEST_FIRST, k(1, -1, 1), acl::SET, "1.0.0", "Intersect multiple sets and store the resulting set in a key").reply(Reply::Int),
    c(G, "sismember", 3, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::SET, "1.0.0", "Determine if a given value is a member of a set").reply(Reply::Int),
    c(G, "smembers", 2, READONLY | STORED, k(1, 1, 1), acl::SET, "1.0.0", "Get all the members in a set").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
    c(G, "smismember", -3, FAST | READONLY | STORED, k(1, 1, 1), acl::SET, "6.2.0", "Returns the membership associated with the given elements for a set").reply(Reply::Array),
    c(G, "smove", 4, FAST | WRITE | STORED, k(1, 2, 1), acl::SET, "1.0.0", "Move a member from one set to another").reply(Reply::Int),
    c(G, "spop", -2, FAST | WRITE | STORED, k(1, 1, 1), acl::SET, "1.0.0", "Remove and return one or multiple random members from a set").reply(Reply::Varies).tips(&["nondeterministic_output"]),
    c(G, "srandmember", -2, READONLY | STORED, k(1, 1, 1), acl::SET, "1.0.0", "Get one or multiple random members from a set").reply(Reply::Varies).tips(&["nondeterministic_output"]),
    c(G, "srem", -3, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::SET, "1.0.0", "Remove one or more members from a set").reply(Reply::Int),
    c(G, "sscan", -3, READONLY | STORED, k(1, 1, 1), acl::SET, "2.8.0", "Incrementally iterate Set elements").reply(Reply::Array).resp(Planner::MemberScan).tips(&["nondeterministic_output"]),
    c(G, "sunion", -2, READONLY | STORED, k(1, -1, 1), acl::SET, "1.0.0", "Add multiple sets").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
    c(G, "sunionstore", -3, DENYOOM | WRITE | STORED | DEST_FIRST, k(1, -1, 1), acl::SET, "1.0.0", "Add multiple sets and store the resulting set in a key").reply(Reply::Int),
];
