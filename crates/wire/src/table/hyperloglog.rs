//! HyperLogLog: rows of the command table (Redis 7.0's arity, flags, keys,
//! categories and summaries). A HyperLogLog is a string in Redis's own
//! encodings (sparse and dense), so GET, DUMP and SET carry it unchanged.

use super::flag::*;
use super::{acl, c, k, Command, Group, Reply};

const G: Group = Group::HyperLogLog;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "pfadd", -2, DENYOOM | FAST | WRITE | STORED | NOACCESS, k(1, 1, 1), acl::HYPERLOGLOG, "2.8.9", "Adds the specified elements to the specified HyperLogLog.").reply(Reply::Int),
    c(G, "pfcount", -2, READONLY | STORED, k(1, -1, 1), acl::HYPERLOGLOG, "2.8.9", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).").reply(Reply::Int),
    c(G, "pfmerge", -2, DENYOOM | WRITE | STORED, k(1, -1, 1), acl::HYPERLOGLOG, "2.8.9", "Merge N different HyperLogLogs into a single one.").reply(Reply::Status),
];
