//! # Tessera's cluster
//!
//! The cluster map and the embedded controller that holds it
//! (docs/cluster.md). This crate knows no reactors and no storage: the
//! server starts the [`Controller`] on its own thread (with its own small
//! tokio runtime, which openraft needs), hands it the `CLUSTER` requests
//! that arrive on the binary port, and reads the committed map through
//! [`Published`].
//!
//! # Layout
//!
//! - [`map`]: the map (nodes, shards, the slot → shard table, the config
//!   epoch, migrations), the changes the Raft log carries and how they
//!   apply, and the layout `tessera cluster create` computes.
//! - [`identity`]: a node's name, Raft id and cluster id, persisted once
//!   per data directory.
//! - [`store`]: the Raft log, vote and snapshots under
//!   `<data-dir>/cluster/`, and the state machine.
//! - [`net`]: the Raft messages over the binary port, and the `CLUSTER`
//!   actions.
//! - [`controller`]: the controller thread and what the server asks of it.

use std::io::Cursor;

pub mod controller;
pub mod identity;
pub mod map;
pub mod membership;
pub mod migration;
pub mod net;
pub mod store;

pub use controller::{Controller, ControllerStatus, Shared, Status};
pub use identity::Identity;
pub use map::{ClusterMap, NodeInfo, Shard};
pub use store::Published;

openraft::declare_raft_types!(
    /// The controller's Raft types: the log carries map changes.
    pub TypeConfig:
        D = map::Change,
        R = map::ChangeResult,
);

/// The cluster's errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cluster state I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt cluster state: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Refused(String),
}
