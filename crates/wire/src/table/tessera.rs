//! Binary-only opcodes: rows of the command table that RESP and `COMMAND`
//! do not show (docs/protocol.md documents each opcode).

use super::flag::*;
use super::{acl, c, Command, Group, Reply, NONE};

const G: Group = Group::Tessera;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "bpop", -1, BLOCKING | WRITE | BINARY_ONLY, NONE, acl::LIST, "0.1.0", "A list pop that waits for an element (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH)").reply(Reply::Binary).binary(),
    c(G, "backup", -1, ADMIN | BINARY_ONLY, NONE, 0, "0.1.0", "Writes a consistent checkpoint of every partition under the backup root").reply(Reply::Binary).binary(),
    c(G, "metrics", -1, LOADING | STALE | BINARY_ONLY, NONE, 0, "0.1.0", "The Prometheus metrics of every core").reply(Reply::Binary).binary(),
    c(G, "pull", -1, ADMIN | BINARY_ONLY, NONE, 0, "0.1.0", "A replica pulls a partition's write batches after a position").reply(Reply::Binary).binary(),
    c(G, "sync", -1, ADMIN | BINARY_ONLY, NONE, 0, "0.1.0", "A replica copies a checkpoint of a partition (full sync)").reply(Reply::Binary).binary(),
    c(G, "role", -1, ADMIN | STALE | BINARY_ONLY, NONE, 0, "0.1.0", "Replication role: status, REPLICAOF, PROMOTE").reply(Reply::Binary).binary(),
    c(G, "clientctl", -1, ADMIN | LOADING | STALE | BINARY_ONLY, NONE, 0, "0.1.0", "The node's client connections on every core: list them, or close those a filter picks").reply(Reply::Binary).binary(),
    c(G, "block", -1, BLOCKING | WRITE | BINARY_ONLY, NONE, 0, "0.1.0", "A blocking command of the table (BLMPOP, BZMPOP, BZPOPMIN, BZPOPMAX) that waits for something to pop").reply(Reply::Binary).binary(),
    c(G, "slowlogctl", -1, ADMIN | LOADING | STALE | BINARY_ONLY, NONE, 0, "0.1.0", "The slow log of every core: its entries, their count, or a reset").reply(Reply::Binary).binary(),
    c(G, "clusterctl", -1, ADMIN | STALE | BINARY_ONLY, NONE, 0, "0.1.0", "Cluster control: a node's identity, the controller's Raft messages, forming a cluster, its status").reply(Reply::Binary).binary(),
];
