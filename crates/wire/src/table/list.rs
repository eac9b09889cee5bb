//! Lists: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, Group, Keys, Planner, Reply};

const G: Group = Group::List;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "blmove", 6, BLOCKING | DENYOOM | NOSCRIPT | WRITE, k(1, 2, 1), acl::LIST, "6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available").reply(Reply::BulkOrNil).resp(Planner::BMove),
    c(G, "blmpop", -5, BLOCKING | WRITE, Keys::NumKeys { fixed: 0, skip: 1 }, acl::LIST, "7.0.0", "Pop elements from a list, or block until one is available").reply(Reply::ArrayOrNil).resp(Planner::Block),
    c(G, "blpop", -3, BLOCKING | NOSCRIPT | WRITE, k(1, -2, 1), acl::LIST, "2.0.0", "Remove and get the first element in a list, or block until one is available").reply(Reply::ArrayOrNil).resp(Planner::BPop),
    c(G, "brpop", -3, BLOCKING | NOSCRIPT | WRITE, k(1, -2, 1), acl::LIST, "2.0.0", "Remove and get the last element in a list, or block until one is available").reply(Reply::ArrayOrNil).resp(Planner::BPop),
    c(G, "brpoplpush", 4, BLOCKING | DENYOOM | NOSCRIPT | WRITE, k(1, 2, 1), acl::LIST, "2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available").reply(Reply::BulkOrNil).resp(Planner::BRPopLPush),
    c(G, "lindex", 3, READONLY | STORED, k(1, 1, 1), acl::LIST, "1.0.0", "Get an element from a list by its index").reply(Reply::BulkOrNil),
    c(G, "linsert", 5, DENYOOM | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "2.2.0", "Insert an element before or after another element in a list").reply(Reply::Int),
    c(G, "llen", 2, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "1.0.0", "Get the length of a list").reply(Reply::Int),
    c(G, "lmove", 5, DENYOOM | WRITE | STORED, k(1, 2, 1), acl::LIST, "6.2.0", "Pop an element from a list, push it to another list and return it").reply(Reply::BulkOrNil),
    c(G, "lmpop", -4, WRITE | STORED, Keys::NumKeys { fixed: 0, skip: 0 }, acl::LIST, "7.0.0", "Pop elements from a list").reply(Reply::ArrayOrNil),
    c(G, "lpop", -2, FAST | WRITE | STORED, k(1, 1, 1), acl::LIST, "1.0.0", "Remove and get the first elements in a list").reply(Reply::Varies),
    c(G, "lpos", -3, READONLY | STORED, k(1, 1, 1), acl::LIST, "6.0.6", "Return the index of matching elements on a list").reply(Reply::Varies),
    c(G, "lpush", -3, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "1.0.0", "Prepend one or multiple elements to a list").reply(Reply::Int),
    c(G, "lpushx", -3, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "2.2.0", "Prepend an element to a list, only if the list exists").reply(Reply::Int),
    c(G, "lrange", 4, READONLY | STORED, k(1, 1, 1), acl::LIST, "1.0.0", "Get a range of elements from a list").reply(Reply::Array),
    c(G, "lrem", 4, WRITE | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "1.0.0", "Remove elements from a list").reply(Reply::Int),
    c(G, "lset", 4, DENYOOM | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "1.0.0", "Set the value of an element in a list by its index").reply(Reply::Status),
    c(G, "ltrim", 4, WRITE | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "1.0.0", "Trim a list to the specified range").reply(Reply::Status),
    c(G, "rpop", -2, FAST | WRITE | STORED, k(1, 1, 1), acl::LIST, "1.0.0", "Remove and get the last elements in a list").reply(Reply::Varies),
    c(G, "rpoplpush", 3, DENYOOM | WRITE | STORED, k(1, 2, 1), acl::LIST, "1.2.0", "Remove the last element in a list, prepend it to another list and return it").reply(Reply::BulkOrNil),
    c(G, "rpush", -3, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "1.0.0", "Append one or multiple elements to a list").reply(Reply::Int),
    c(G, "rpushx", -3, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::LIST, "2.2.0", "Append an element to a list, only if the list exists").reply(Reply::Int),
];
