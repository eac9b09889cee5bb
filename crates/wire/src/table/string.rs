//! Strings: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, Group, Planner, Reply};

const G: Group = Group::String;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "append", 3, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STRING, "2.0.0", "Append a value to a key").reply(Reply::Int),
    c(G, "decr", 2, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Decrement the integer value of a key by one").reply(Reply::Int).resp(Planner::Incr),
    c(G, "decrby", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Decrement the integer value of a key by the given number").reply(Reply::Int),
    c(G, "get", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Get the value of a key").reply(Reply::BulkOrNil).resp(Planner::Get),
    c(G, "getdel", 2, FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "6.2.0", "Get the value of a key and delete the key").reply(Reply::BulkOrNil),
    c(G, "getex", -2, FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "6.2.0", "Get the value of a key and optionally set its expiration").reply(Reply::BulkOrNil),
    c(G, "getrange", 4, READONLY | STORED, k(1, 1, 1), acl::STRING, "2.4.0", "Get a substring of the string stored at a key").reply(Reply::Bulk),
    c(G, "getset", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Set the string value of a key and return its old value").reply(Reply::BulkOrNil),
    c(G, "incr", 2, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Increment the integer value of a key by one").reply(Reply::Int).resp(Planner::Incr),
    c(G, "incrby", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Increment the integer value of a key by the given amount").reply(Reply::Int).resp(Planner::IncrBy),
    c(G, "incrbyfloat", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "2.6.0", "Increment the float value of a key by the given amount").reply(Reply::Bulk),
    c(G, "lcs", -3, READONLY | STORED, k(1, 2, 1), acl::STRING, "7.0.0", "Find longest common substring").reply(Reply::Varies),
    c(G, "mget", -2, FAST | READONLY | STORED, k(1, -1, 1), acl::STRING, "1.0.0", "Get the values of all the given keys").reply(Reply::Array).resp(Planner::MGet).tips(&["request_policy:multi_shard"]),
    c(G, "mset", -3, DENYOOM | WRITE | STORED | NOACCESS, k(1, -1, 2), acl::STRING, "1.0.1", "Set multiple keys to multiple values").reply(Reply::Status).resp(Planner::MSet).tips(&["request_policy:multi_shard", "response_policy:all_succeeded"]),
    c(G, "msetnx", -3, DENYOOM | WRITE | STORED | NOACCESS, k(1, -1, 2), acl::STRING, "1.0.1", "Set multiple keys to multiple values, only if none of the keys exist").reply(Reply::Int).tips(&["request_policy:multi_shard", "response_policy:agg_min"]),
    c(G, "psetex", 4, DENYOOM | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STRING, "2.6.0", "Set the value and expiration in milliseconds of a key").reply(Reply::Status),
    c(G, "set", -3, DENYOOM | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Set the string value of a key").reply(Reply::Varies).resp(Planner::Set),
    c(G, "setex", 4, DENYOOM | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STRING, "2.0.0", "Set the value and expiration of a key").reply(Reply::Status),
    c(G, "setnx", 3, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STRING, "1.0.0", "Set the value of a key, only if the key does not exist").reply(Reply::Int),
    c(G, "setrange", 4, DENYOOM | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::STRING, "2.2.0", "Overwrite part of a string at key starting at the specified offset").reply(Reply::Int),
    c(G, "strlen", 2, FAST | READONLY | STORED | NOACCESS, k(1, 1, 1), acl::STRING, "2.2.0", "Get the length of the value stored in a key").reply(Reply::Int),
];
