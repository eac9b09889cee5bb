//! Pub/sub: rows of the command table (Redis 7.0's arity, flags,
//! keys, categories and summaries).

use super::flag::*;
use super::{c, Command, ConnCmd, Group, Planner, Reply, NONE};

const G: Group = Group::PubSub;

#[rustfmt::skip]
pub(super) const COMMANDS: &[Command] = &[
    c(G, "psubscribe", -2, LOADING | NOSCRIPT | PUBSUB | STALE, NONE, 0, "2.0.0", "Listen for messages published to channels matching the given patterns").reply(Reply::Push).conn(ConnCmd::PSubscribe),
    c(G, "publish", 3, FAST | LOADING | PUBSUB | STALE, NONE, 0, "2.0.0", "Post a message to a channel").reply(Reply::Int).resp(Planner::Publish),
    c(G, "pubsub", -2, 0, NONE, 0, "2.8.0", "A container for Pub/Sub commands").reply(Reply::Varies).resp(Planner::PubSub).subs(PUBSUB_SUBS),
    c(G, "punsubscribe", -1, LOADING | NOSCRIPT | PUBSUB | STALE, NONE, 0, "2.0.0", "Stop listening for messages posted to channels matching the given patterns").reply(Reply::Push).conn(ConnCmd::PUnsubscribe),
    c(G, "subscribe", -2, LOADING | NOSCRIPT | PUBSUB | STALE, NONE, 0, "2.0.0", "Listen for messages published to the given channels").reply(Reply::Push).conn(ConnCmd::Subscribe),
    c(G, "unsubscribe", -1, LOADING | NOSCRIPT | PUBSUB | STALE, NONE, 0, "2.0.0", "Stop listening for messages posted to the given channels").reply(Reply::Push).conn(ConnCmd::Unsubscribe),
];

#[rustfmt::skip]
const PUBSUB_SUBS: &[Command] = &[
    c(G, "pubsub|help", 2, LOADING | STALE, NONE, 0, "6.2.0", "Show helpful text about the different subcommands").reply(Reply::Array),
    c(G, "pubsub|channels", -2, LOADING | PUBSUB | STALE, NONE, 0, "2.8.0", "List active channels").reply(Reply::Array),
    c(G, "pubsub|numsub", -2, LOADING | PUBSUB | STALE, NONE, 0, "2.8.0", "Get the count of subscribers for channels").reply(Reply::Array),
    c(G, "pubsub|numpat", 2, LOADING | PUBSUB | STALE, NONE, 0, "2.8.0", "Get the count of unique patterns pattern subscriptions").reply(Reply::Int),
];
