//! Server commands: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, Command, ConnCmd, Group, Planner, Reply, NONE};

const G: Group = Group::Server;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "acl", -2, 0, NONE, 0, "6.0.0", "A container for Access List Control commands").reply(Reply::Varies).conn(ConnCmd::Acl).subs(ACL_SUBS),
    c(G, "command", -1, LOADING | STALE, NONE, acl::CONNECTION, "2.8.13", "Get array of Redis command details").reply(Reply::Array).resp(Planner::Command).tips(&["nondeterministic_output_order"]).subs(COMMAND_SUBS),
    c(G, "config", -2, 0, NONE, 0, "2.0.0", "A container for server configuration commands").reply(Reply::Varies).resp(Planner::Config).subs(CONFIG_SUBS),
    c(G, "dbsize", 1, FAST | READONLY, NONE, acl::KEYSPACE, "1.0.0", "Return the number of keys in the selected database").reply(Reply::Int).resp(Planner::DbSize).tips(&["request_policy:all_shards", "response_policy:agg_sum"]),
    c(G, "flushall", -1, WRITE, NONE, acl::DANGEROUS | acl::KEYSPACE, "1.0.0", "Remove all keys from all databases").reply(Reply::Status).resp(Planner::Flush).tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    c(G, "flushdb", -1, WRITE, NONE, acl::DANGEROUS | acl::KEYSPACE, "1.0.0", "Remove all keys from the current database").reply(Reply::Status).resp(Planner::Flush).tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    c(G, "info", -1, LOADING | STALE, NONE, acl::DANGEROUS, "1.0.0", "Get information and statistics about the server").reply(Reply::Bulk).resp(Planner::Info).tips(&["nondeterministic_output", "request_policy:all_shards", "response_policy:special"]),
    c(G, "lastsave", 1, FAST | LOADING | STALE, NONE, acl::ADMIN | acl::DANGEROUS, "1.0.0", "Get the UNIX time stamp of the last successful save to disk").reply(Reply::Int).resp(Planner::LastSave).tips(&["nondeterministic_output"]),
    c(G, "swapdb", 3, WRITE | FAST, NONE, acl::KEYSPACE | acl::DANGEROUS, "4.0.0", "Swaps two Redis databases").reply(Reply::Status).resp(Planner::SwapDb),
    c(G, "slowlog", -2, 0, NONE, 0, "2.2.12", "A container for slow log commands").reply(Reply::Varies).conn(ConnCmd::SlowLog).subs(SLOWLOG_SUBS),
    c(G, "time", 1, FAST | LOADING | STALE, NONE, 0, "2.6.0", "Return the current server time").reply(Reply::Array).resp(Planner::Time).tips(&["nondeterministic_output"]),
];

#[rustfmt::skip]
const SLOWLOG_SUBS: &[Command] = &[
    c(G, "slowlog|get", -2, ADMIN | LOADING | STALE, NONE, 0, "2.2.12", "Get the slow log's entries").reply(Reply::Array).tips(&["request_policy:all_nodes", "nondeterministic_output"]),
    c(G, "slowlog|help", 2, LOADING | STALE, NONE, 0, "6.2.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "slowlog|len", 2, ADMIN | LOADING | STALE, NONE, 0, "2.2.12", "Get the slow log's length").reply(Reply::Int).tips(&["request_policy:all_nodes", "response_policy:agg_sum", "nondeterministic_output"]),
    c(G, "slowlog|reset", 2, ADMIN | LOADING | STALE, NONE, 0, "2.2.12", "Clear all entries from the slow log").reply(Reply::Status).tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
];

const ACL_ADMIN: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

#[rustfmt::skip]
const ACL_SUBS: &[Command] = &[
    c(G, "acl|cat", -2, NOSCRIPT | LOADING | STALE, NONE, 0, "6.0.0", "List the ACL categories or the commands inside a category").reply(Reply::Array),
    c(G, "acl|deluser", -3, ACL_ADMIN, NONE, 0, "6.0.0", "Remove the specified ACL users and the associated rules").reply(Reply::Int),
    c(G, "acl|dryrun", -4, ACL_ADMIN, NONE, 0, "7.0.0", "Returns whether the user can execute the given command without executing the command.").reply(Reply::Status),
    c(G, "acl|genpass", -2, NOSCRIPT | LOADING | STALE, NONE, 0, "6.0.0", "Generate a pseudorandom secure password to use for ACL users").reply(Reply::Bulk),
    c(G, "acl|getuser", 3, ACL_ADMIN, NONE, 0, "6.0.0", "Get the rules for a specific ACL user").reply(Reply::Varies),
    c(G, "acl|help", 2, LOADING | STALE, NONE, 0, "6.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "acl|list", 2, ACL_ADMIN, NONE, 0, "6.0.0", "List the current ACL rules in ACL config file format").reply(Reply::Array),
    c(G, "acl|load", 2, ACL_ADMIN, NONE, 0, "6.0.0", "Reload the ACLs from the configured ACL file").reply(Reply::Status),
    c(G, "acl|log", -2, ACL_ADMIN, NONE, 0, "6.0.0", "List latest events denied because of ACLs in place").reply(Reply::Varies),
    c(G, "acl|save", 2, ACL_ADMIN, NONE, 0, "6.0.0", "Save the current ACL rules in the configured ACL file").reply(Reply::Status),
    c(G, "acl|setuser", -3, ACL_ADMIN, NONE, 0, "6.0.0", "Modify or create the rules for a specific ACL user").reply(Reply::Status),
    c(G, "acl|users", 2, ACL_ADMIN, NONE, 0, "6.0.0", "List the username of all the configured ACL rules").reply(Reply::Array),
    c(G, "acl|whoami", 2, NOSCRIPT | LOADING | STALE, NONE, 0, "6.0.0", "Return the name of the user associated to the current connection").reply(Reply::Bulk),
];

#[rustfmt::skip]
const COMMAND_SUBS: &[Command] = &[
    c(G, "command|help", 2, LOADING | STALE, NONE, acl::CONNECTION, "5.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "command|count", 2, LOADING | STALE, NONE, acl::CONNECTION, "2.8.13", "Get total number of Redis commands").reply(Reply::Int),
    c(G, "command|docs", -2, LOADING | STALE, NONE, acl::CONNECTION, "7.0.0", "Get array of specific Redis command documentation").reply(Reply::Map).tips(&["nondeterministic_output_order"]),
    c(G, "command|getkeys", -4, LOADING | STALE, NONE, acl::CONNECTION, "2.8.13", "Extract keys given a full Redis command").reply(Reply::Array),
    c(G, "command|info", -2, LOADING | STALE, NONE, acl::CONNECTION, "2.8.13", "Get array of specific Redis command details, or all when no argument is given.").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
    c(G, "command|list", -2, LOADING | STALE, NONE, acl::CONNECTION, "7.0.0", "Get an array of Redis command names").reply(Reply::Array).tips(&["nondeterministic_output_order"]),
];

#[rustfmt::skip]
const CONFIG_SUBS: &[Command] = &[
    c(G, "config|help", 2, LOADING | STALE, NONE, 0, "5.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "config|get", -3, ADMIN | LOADING | NOSCRIPT | STALE, NONE, 0, "2.0.0", "Get the values of configuration parameters").reply(Reply::Map),
    c(G, "config|set", -4, ADMIN | LOADING | NOSCRIPT | STALE, NONE, 0, "2.0.0", "Set configuration parameters to the given values").reply(Reply::Status).tips(&["request_policy:all_nodes", "response_policy:all_succeeded"]),
    c(G, "config|resetstat", 2, ADMIN | LOADING | NOSCRIPT | STALE, NONE, 0, "2.0.0", "Reset the stats returned by INFO").reply(Reply::Status),
];
