//! Strings: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, Group, Planner};

const G: Group = Group::String;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "append", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "2.0.0", "Append a value to a key"),
    c(G, "decr", 2, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Decrement the integer value of a key by one").resp(Planner::Incr),
    c(G, "decrby", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Decrement the integer value of a key by the given number"),
    c(G, "get", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Get the value of a key").resp(Planner::Get),
    c(G, "getdel", 2, FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "6.2.0", "Get the value of a key and delete the key"),
    c(G, "getex", -2, FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "6.2.0", "Get the value of a key and optionally set its expiration"),
    c(G, "getrange", 4, READONLY | STORED, k(1, 1, 1), acl::STRING, "2.4.0", "Get a substring of the string stored at a key"),
    c(G, "getset", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Set the string value of a key and return its old value"),
    c(G, "incr", 2, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Increment the integer value of a key by one").resp(Planner::Incr),
    c(G, "incrby", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Increment the integer value of a key by the given amount").resp(Planner::IncrBy),
    c(G, "incrbyfloat", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "2.6.0", "Increment the float value of a key by the given amount"),
    c(G, "mget", -2, FAST | READONLY | STORED, k(1, -1, 1), acl::STRING, "1.0.0", "Get the values of all the given keys").resp(Planner::MGet).tips(&["request_policy:multi_shard"]),
    c(G, "mset", -3, DENYOOM | WRITE | STORED, k(1, -1, 2), acl::STRING, "1.0.1", "Set multiple keys to multiple values").resp(Planner::MSet).tips(&["request_policy:multi_shard", "response_policy:all_succeeded"]),
    c(G, "msetnx", -3, DENYOOM | WRITE | STORED, k(1, -1, 2), acl::STRING, "1.0.1", "Set multiple keys to multiple values, only if none of the keys exist").tips(&["request_policy:multi_shard", "response_policy:agg_min"]),
    c(G, "psetex", 4, DENYOOM | WRITE | STORED, k(1, 1, 1), acl::STRING, "2.6.0", "Set the value and expiration in milliseconds of a key"),
    c(G, "set", -3, DENYOOM | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Set the string value of a key").resp(Planner::Set),
    c(G, "setex", 4, DENYOOM | WRITE | STORED, k(1, 1, 1), acl::STRING, "2.0.0", "Set the value and expiration of a key"),
    c(G, "setnx", 3, DENYOOM | FAST | WRITE | STORED, k(1, 1, 1), acl::STRING, "1.0.0", "Set the value of a key, only if the key does not exist"),
    c(G, "setrange", 4, DENYOOM | WRITE | STORED, k(1, 1, 1), acl::STRING, "2.2.0", "Overwrite part of a string at key starting at the specified offset"),
    c(G, "strlen", 2, FAST | READONLY | STORED, k(1, 1, 1), acl::STRING, "2.2.0", "Get the length of the value stored in a key"),
];
