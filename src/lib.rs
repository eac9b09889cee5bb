//! # Tessera
//!
//! A persistent, distributed key-value database: one pinned io_uring reactor
//! per core, RocksDB partitions owned by cores, a compact binary protocol.
//!
//! # Layout
//!
//! - [`slot`]: Redis Cluster's key → slot function (leaf; used by all).
//! - [`codes`]: the one error registry (numbers, names, RESP prefixes, HTTP statuses).
//! - [`shard`]: storage. The data directory, its manifest, the RocksDB
//!   partitions (`shard::partition`: reads, staging, group-commit writes,
//!   the read cache, scans), the value envelope, the version clock, the
//!   replication log and its position records. Imports only the leaves
//!   (`slot`, `codes`, `failpoint`): nothing of sockets, wire formats or
//!   replication's protocol.
//! - [`proto`]: wire formats. Protocol v1 frames and command bodies, HELLO,
//!   RESP, and the command table (`proto::table`): every command declared
//!   once, read by dispatch, the write check, routing and `COMMAND`. Knows
//!   no sockets or reactors.
//! - [`net`]: reactors, listeners, routing and the channel mesh (all of
//!   glommio lives here), the connection loops (`net::resp` for RESP), the
//!   core (`net::core`: execution, group commit, blocking pops, reports),
//!   replication roles and serving (`role`, `repl_serve`, `replica`),
//!   shutdown.
//! - [`repl`]: replication: a replica's partitions follow a primary's
//!   (docs/replication.md; the follower loop runs in `net`).
//! - [`client`]: the async, shard-aware, pipelining Rust client (uses `proto`).
//! - [`cli`]: `tessera cli`, a redis-cli-like tool on the client.
//! - [`config`]: the server's configuration (TOML and flags).
//! - [`failpoint`]: named fault injection in storage (`TESSERA_FAILPOINTS`).
//!
//! Dependencies point one way: `net → {proto, repl, shard}`, `repl →
//! {proto, shard}`, `proto → shard` (only for the named commands' apply,
//! `proto::cmd`, which moves to the server side when the modules become
//! crates), `client → proto`; `shard` imports none of them.

pub mod cli;
pub mod client;
pub mod codes;
pub mod config;
pub mod failpoint;
pub mod net;
pub mod proto;
pub mod repl;
pub mod shard;
pub mod slot;
pub mod sync;

pub use config::Config;
pub use net::server::{run, start, ServerError, ServerHandle};
