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
//!   partitions, the value envelope, the version clock and group-commit
//!   staging. Knows nothing of sockets or wire formats.
//! - [`proto`]: wire formats. Protocol v1 frames and command bodies, HELLO,
//!   RESP, and the command table (`proto::table`): every command declared
//!   once, read by dispatch, the write check, routing and `COMMAND`. Knows
//!   no sockets or reactors.
//! - [`net`]: reactors, listeners, routing and the channel mesh (all of
//!   glommio lives here), the connection loop, group commit, shutdown.
//! - [`repl`]: replication: a replica's partitions follow a primary's
//!   (docs/replication.md; the follower loop runs in `net`).
//! - [`client`]: the async, shard-aware, pipelining Rust client (uses `proto`).
//! - [`cli`]: `tessera cli`, a redis-cli-like tool on the client.
//! - [`config`]: the server's configuration (TOML and flags).
//! - [`failpoint`]: named fault injection in storage (`TESSERA_FAILPOINTS`).
//!
//! Dependencies point one way: `net → proto → shard`; `client → proto`.

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
