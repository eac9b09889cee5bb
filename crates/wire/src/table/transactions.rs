//! Transactions: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{acl, c, k, Command, ConnCmd, Group, Reply, NONE};

const G: Group = Group::Transactions;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "discard", 1, ALLOW_BUSY | FAST | LOADING | NOSCRIPT | STALE, NONE, acl::TRANSACTION, "2.0.0", "Discard all commands issued after MULTI").reply(Reply::Status).conn(ConnCmd::Discard),
    c(G, "exec", 1, LOADING | NOSCRIPT | SKIP_SLOWLOG | STALE, NONE, acl::TRANSACTION, "1.2.0", "Execute all commands issued after MULTI").reply(Reply::ArrayOrNil).conn(ConnCmd::Exec),
    c(G, "multi", 1, ALLOW_BUSY | FAST | LOADING | NOSCRIPT | STALE, NONE, acl::TRANSACTION, "1.2.0", "Mark the start of a transaction block").reply(Reply::Status).conn(ConnCmd::Multi),
    c(G, "unwatch", 1, ALLOW_BUSY | FAST | LOADING | NOSCRIPT | STALE, NONE, acl::TRANSACTION, "2.2.0", "Forget about all watched keys").reply(Reply::Status).conn(ConnCmd::Unwatch),
    c(G, "watch", -2, ALLOW_BUSY | FAST | LOADING | NOSCRIPT | STALE | NOACCESS, k(1, -1, 1), acl::TRANSACTION, "2.2.0", "Watch the given keys to determine execution of the MULTI/EXEC block").reply(Reply::Status).conn(ConnCmd::Watch),
];
