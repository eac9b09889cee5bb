//! Cluster commands: rows of the command table (Redis 7.0's arity, flags,
//! categories and summaries). The RESP connection answers them from its
//! core's copy of the cluster map (docs/cluster.md).

use super::flag::*;
use super::{acl, c, Command, ConnCmd, Group, Reply, NONE};

const G: Group = Group::Cluster;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "asking", 1, FAST, NONE, acl::CONNECTION, "3.0.0", "Sent by cluster clients after an -ASK redirect").reply(Reply::Status).conn(ConnCmd::Asking),
    c(G, "cluster", -2, 0, NONE, 0, "3.0.0", "A container for Redis Cluster commands").reply(Reply::Varies).conn(ConnCmd::Cluster).subs(CLUSTER_SUBS),
    c(G, "readonly", 1, FAST | LOADING | STALE, NONE, acl::CONNECTION, "3.0.0", "Enables read queries for a connection to a Redis Cluster replica node").reply(Reply::Status).conn(ConnCmd::ReadOnly),
    c(G, "readwrite", 1, FAST | LOADING | STALE, NONE, acl::CONNECTION, "3.0.0", "Disables read queries for a connection to a Redis Cluster replica node").reply(Reply::Status).conn(ConnCmd::ReadWrite),
];

#[rustfmt::skip]
const CLUSTER_SUBS: &[Command] = &[
    c(G, "cluster|help", 2, LOADING | STALE, NONE, 0, "5.0.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "cluster|slots", 2, STALE, NONE, 0, "3.0.0", "Get array of Cluster slot to node mappings").reply(Reply::Array).tips(&["nondeterministic_output"]),
    c(G, "cluster|shards", 2, STALE, NONE, 0, "7.0.0", "Get array of cluster slots to node mappings").reply(Reply::Array).tips(&["nondeterministic_output"]),
    c(G, "cluster|nodes", 2, STALE, NONE, 0, "3.0.0", "Get Cluster config for the node").reply(Reply::Bulk).tips(&["nondeterministic_output"]),
    c(G, "cluster|myid", 2, STALE, NONE, 0, "3.0.0", "Return the node id").reply(Reply::Bulk),
    c(G, "cluster|info", 2, STALE, NONE, 0, "3.0.0", "Provides info about Redis Cluster node state").reply(Reply::Bulk).tips(&["nondeterministic_output"]),
    c(G, "cluster|keyslot", 3, STALE, NONE, 0, "3.0.0", "Returns the hash slot of the specified key").reply(Reply::Int),
    c(G, "cluster|countkeysinslot", 3, STALE, NONE, 0, "3.0.0", "Return the number of local keys in the specified hash slot").reply(Reply::Int),
    c(G, "cluster|getkeysinslot", 4, STALE, NONE, 0, "3.0.0", "Return local key names in the specified hash slot").reply(Reply::Array).tips(&["nondeterministic_output"]),
];
