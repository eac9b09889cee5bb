//! Sorted sets: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, Group, Keys, Planner, Reply};

const G: Group = Group::SortedSet;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "bzmpop", -5, BLOCKING | WRITE, Keys::NumKeys { fixed: 0, skip: 1 }, acl::SORTEDSET, "7.0.0", "Remove and return members with scores in a sorted set or block until one is available").reply(Reply::ArrayOrNil).resp(Planner::Block),
    c(G, "bzpopmax", -3, BLOCKING | FAST | NOSCRIPT | WRITE, k(1, -2, 1), acl::SORTEDSET, "5.0.0", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available").reply(Reply::ArrayOrNil).resp(Planner::Block),
    c(G, "bzpopmin", -3, BLOCKING | FAST | NOSCRIPT | WRITE, k(1, -2, 1), acl::SORTEDSET, "5.0.0", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available").reply(Reply::ArrayOrNil).resp(Planner::Block),
    c(G, "zadd", -4, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::SORTEDSET, "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists").reply(Reply::Varies),
    c(G, "zcard", 2, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::SORTEDSET, "1.2.0", "Get the number of members in a sorted set").reply(Reply::Int),
    c(G, "zcount", 4, FAST | READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "2.0.0", "Count the members in a sorted set with scores within the given values").reply(Reply::Int),
    c(G, "zdiff", -3, READONLY | STORED, Keys::NumKeys { fixed: 0, skip: 0 }, acl::SORTEDSET, "6.2.0", "Subtract multiple sorted sets").reply(Reply::Array),
    c(G, "zdiffstore", -4, DENYOOM | WRITE | STORED | DEST_FIRST, Keys::NumKeys { fixed: 1, skip: 0 }, acl::SORTEDSET, "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key").reply(Reply::Int),
    c(G, "zincrby", 4, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::SORTEDSET, "1.2.0", "Increment the score of a member in a sorted set").reply(Reply::Double),
    c(G, "zinter", -3, READONLY | STORED, Keys::NumKeys { fixed: 0, skip: 0 }, acl::SORTEDSET, "6.2.0", "Intersect multiple sorted sets").reply(Reply::Array),
    c(G, "zmpop", -4, WRITE | STORED, Keys::NumKeys { fixed: 0, skip: 0 }, acl::SORTEDSET, "7.0.0", "Remove and return members with scores in a sorted set").reply(Reply::ArrayOrNil),
    c(G, "zintercard", -3, READONLY | STORED, Keys::NumKeys { fixed: 0, skip: 0 }, acl::SORTEDSET, "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result").reply(Reply::Int),
    c(G, "zinterstore", -4, DENYOOM | WRITE | STORED | DEST_FIRST, Keys::NumKeys { fixed: 1, skip: 0 }, acl::SORTEDSET, "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key").reply(Reply::Int),
    c(G, "zlexcount", 4, FAST | READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "2.8.9", "Count the number of members in a sorted set between a given lexicographical range").reply(Reply::Int),
    c(G, "zmscore", -3, FAST | READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "6.2.0", "Get the score associated with the given members in a sorted set").reply(Reply::Array),
    c(G, "zpopmax", -2, FAST | WRITE | STORED, k(1, 1, 1), acl::SORTEDSET, "5.0.0", "Remove and return members with the highest scores in a sorted set").reply(Reply::Array),
    c(G, "zpopmin", -2, FAST | WRITE | STORED, k(1, 1, 1), acl::SORTEDSET, "5.0.0", "Remove and return members with the lowest scores in a sorted set").reply(Reply::Array),
    c(G, "zrangestore", -5, DENYOOM | WRITE | STORED | DEST_FIRST, k(1, 2, 1), acl::SORTEDSET, "6.2.0", "Store a range of members from sorted set into another key").reply(Reply::Int),
    c(G, "zrange", -4, READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "1.2.0", "Return a range of members in a sorted set").reply(Reply::Array),
    c(G, "zrangebylex", -4, READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "2.8.9", "Return a range of members in a sorted set, by lexicographical range").reply(Reply::Array),
    c(G, "zrangebyscore", -4, READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "1.0.5", "Return a range of members in a sorted set, by score").reply(Reply::Array),
    c(G, "zrandmember", -2, READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "6.2.0", "Get one or multiple random elements from a sorted set").reply(Reply::Varies).tips(&["nondeterministic_output"]),
    c(G, "zrank", 3, FAST | READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "2.0.0", "Determine the index of a member in a sorted set").reply(Reply::IntOrNil),
    c(G, "zrem", -3, FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::SORTEDSET, "1.2.0", "Remove one or more members from a sorted set").reply(Reply::Int),
    c(G, "zremrangebylex", 4, WRITE | STORED | NOACCESS, k(1, 1, 1), acl::SORTEDSET, "2.8.9", "Remove all members in a sorted set between the given lexicographical range").reply(Reply::Int),
    c(G, "zremrangebyrank", 4, WRITE | STORED | NOACCESS, k(1, 1, 1), acl::SORTEDSET, "2.0.0", "Remove all members in a sorted set within the given indexes").reply(Reply::Int),
    c(G, "zremrangebyscore", 4, WRITE | STORED | NOACCESS, k(1, 1, 1), acl::SORTEDSET, "1.2.0", "Remove all members in a sorted set within the given scores").reply(Reply::Int),
    c(G, "zrevrange", -4, READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low").reply(Reply::Array),
    c(G, "zrevrangebylex", -4, READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.").reply(Reply::Array),
    c(G, "zrevrangebyscore", -4, READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low").reply(Reply::Array),
    c(G, "zrevrank", 3, FAST | READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low").reply(Reply::IntOrNil),
    c(G, "zscan", -3, READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "2.8.0", "Incrementally iterate sorted sets elements and associated scores").reply(Reply::Array).resp(Planner::MemberScan).tips(&["nondeterministic_output"]),
    c(G, "zscore", 3, FAST | READONLY | STORED, k(1, 1, 1), acl::SORTEDSET, "1.2.0", "Get the score associated with the given member in a sorted set").reply(Reply::DoubleOrNil),
    c(G, "zunion", -3, READONLY | STORED, Keys::NumKeys { fixed: 0, skip: 0 }, acl::SORTEDSET, "6.2.0", "Add multiple sorted sets").reply(Reply::Array),
    c(G, "zunionstore", -4, DENYOOM | WRITE | STORED | DEST_FIRST, Keys::NumKeys { fixed: 1, skip: 0 }, acl::SORTEDSET, "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key").reply(Reply::Int),
];
