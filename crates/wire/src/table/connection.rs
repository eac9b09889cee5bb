//! Connection commands: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, Command, ConnCmd, Group, Planner, Reply, NONE};

const G: Group = Group::Connection;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "auth", -2, ALLOW_BUSY | FAST | LOADING | NO_AUTH | NOSCRIPT | STALE, NONE, acl::CONNECTION, "1.0.0", "Authenticate to the server").reply(Reply::Status).conn(ConnCmd::Auth),
    c(G, "client", -2, 0, NONE, 0, "2.4.0", "A container for client connection commands").reply(Reply::Varies).conn(ConnCmd::Client).subs(CLIENT_SUBS),
    c(G, "echo", 2, FAST | LOADING | STALE, NONE, acl::CONNECTION, "1.0.0", "Echo the given string").reply(Reply::Bulk).resp(Planner::Echo),
    c(G, "hello", -1, ALLOW_BUSY | FAST | LOADING | NO_AUTH | NOSCRIPT | STALE, NONE, acl::CONNECTION, "6.0.0", "Handshake with Redis").reply(Reply::Map).conn(ConnCmd::Hello),
    c(G, "ping", -1, FAST, NONE, acl::CONNECTION, "1.0.0", "Ping the server").reply(Reply::Varies).resp(Planner::Ping).tips(&["request_policy:all_shards", "response_policy:all_succeeded"]),
    c(G, "quit", -1, ALLOW_BUSY | FAST | LOADING | NO_AUTH | NOSCRIPT | STALE, NONE, acl::CONNECTION, "1.0.0", "Close the connection").reply(Reply::Status).conn(ConnCmd::Quit),
    c(G, "reset", 1, ALLOW_BUSY | FAST | LOADING | NO_AUTH | NOSCRIPT | STALE, NONE, acl::CONNECTION, "6.2.0", "Reset the connection").reply(Reply::Status).conn(ConnCmd::Reset),
    c(G, "select", 2, FAST | LOADING | STALE, NONE, acl::CONNECTION, "1.0.0", "Change the selected database for the current connection").reply(Reply::Status).conn(ConnCmd::Select),
];

#[rustfmt::skip]
const CLIENT_SUBS: &[Command] = &[
    c(G, "client|help", 2, LOADING | STALE, NONE, acl::CONNECTION, "5.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "client|id", 2, LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "5.0.0", "Returns the client ID for the current connection").reply(Reply::Int),
    c(G, "client|setname", 3, LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "2.6.9", "Set the current connection name").reply(Reply::Status),
    c(G, "client|getname", 2, LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "2.6.9", "Get the current connection name").reply(Reply::BulkOrNil),
    c(G, "client|no-evict", 3, ADMIN | LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "7.0.0", "Set client eviction mode for the current connection").reply(Reply::Status),
    c(G, "client|reply", 3, LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "3.2.0", "Instruct the server whether to reply to commands").reply(Reply::Status),
    c(G, "client|no-touch", 3, LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "7.2.0", "Controls whether commands sent by the client affect the LRU/LFU of accessed keys").reply(Reply::Status),
    c(G, "client|setinfo", 4, LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "7.2.0", "Set client or connection specific info").reply(Reply::Status),
    c(G, "client|info", 2, LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "6.2.0", "Returns information about the current client connection.").reply(Reply::Bulk).tips(&["nondeterministic_output"]),
    c(G, "client|kill", -3, ADMIN | LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "2.4.0", "Kill the connection of a client").reply(Reply::Varies),
    c(G, "client|list", -2, ADMIN | LOADING | NOSCRIPT | STALE, NONE, acl::CONNECTION, "2.4.0", "Get the list of client connections").reply(Reply::Bulk).tips(&["nondeterministic_output"]),
];
