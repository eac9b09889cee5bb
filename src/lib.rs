//! # Tessera
//!
//! A persistent, distributed key-value database: one pinned io_uring reactor
//! per core, RocksDB partitions owned by cores, a compact binary protocol.
//!
//! # Layout
//!
//! The workspace has four crates; the compiler enforces their arrows:
//! `tessera-client → tessera-wire`, and this crate (the server, the binary)
//! `→ {tessera-wire, tessera-storage, tessera-client}`. `tessera-storage`
//! depends on nothing of ours and is the only one that links RocksDB.
//!
//! - [`proto`] (the crate `tessera-wire`, with [`codes`] and [`slot`]):
//!   wire formats. Protocol v1 frames and command bodies, HELLO, RESP, the
//!   typed answer (`proto::value`), the command table (`proto::table`:
//!   every command declared once, read by dispatch, the write check,
//!   routing and `COMMAND`), and every named command's parse into typed
//!   arguments, one module per family (`proto::args`). Knows no sockets,
//!   reactors or storage.
//! - [`shard`] (the crate `tessera-storage`, with [`failpoint`]): storage.
//!   The data directory, its manifest, the RocksDB partitions
//!   (`shard::partition`: reads, staging, group-commit writes, the read
//!   cache, scans), the value envelope, the version clock, the replication
//!   log and its position records, the named fault points.
//! - [`client`] (the crate `tessera-client`, with [`sync`]): the async,
//!   shard-aware, pipelining Rust client; `client::sys` holds the process
//!   limits and CPU affinity the server and the load generator share.
//! - [`cmd`]: the named commands' apply, one module per family, taking the
//!   family's typed arguments from `proto::args` (a storage transaction per
//!   command; their rows are in `proto::table`); the
//!   binary fast opcodes run `cmd::keys`'s string functions too.
//! - [`net`]: reactors, listeners, routing and the channel mesh (all of
//!   glommio's server side but replication's loops lives here), the
//!   connection loops (`net::resp` for RESP), the core (`net::core`: an
//!   executor composed of services with private fields: the group
//!   committer's state `commit::Groups`, connections and stats
//!   `stats::Stats`, pub/sub subscribers and blocked pops
//!   `waiters::Waiters`, and `repl::Replication`; `net::core::host`: the
//!   core as replication's host), shutdown.
//! - [`repl`]: replication: a replica's partitions follow a primary's
//!   (docs/replication.md). Each core's replication state as a service
//!   (`repl::Replication`), the waits both ends share (`repl::link`), roles,
//!   promotion and fencing (`repl::role`), serving PULL and SYNC
//!   (`repl::serve`), the follower (`repl::follow`) and the node's
//!   persisted state (`repl::node`), all written against the `repl::Host`
//!   trait, so `repl` never names `net`.
//! - [`errors`]: the wire error of a storage error.
//! - [`cluster`] (the crate `tessera-cluster`): the cluster map and the
//!   embedded openraft controller that holds it (docs/cluster.md); its
//!   core-side routes and redirects are `net::core::cluster`, Redis's
//!   CLUSTER commands `net::resp`.
//! - [`cli`]: `tessera cli`, a redis-cli-like tool on the client;
//!   [`cluster_cli`]: `tessera cluster create|status|migrate-slots`;
//!   [`cluster_ops`]: `tessera cluster add-node|remove-node|rebalance|replace-node`.
//! - [`config`]: the server's configuration (TOML and flags).
//!
//! Inside this crate: `net → {cmd, repl}`, `repl → {proto, shard, sync,
//! client, errors}`, `cmd → {proto, shard, errors}`; nothing points back at
//! `net`.

pub mod acl;
pub mod cli;
pub mod cluster_cli;
pub mod cluster_ops;
pub mod cmd;
pub mod config;
pub mod drain;
pub mod errors;
pub mod logs;
pub mod net;
pub mod outbuf;
pub mod repl;
pub mod tls;

pub use tessera_client as client;
pub use tessera_client::sync;
pub use tessera_cluster as cluster;
pub use tessera_storage as shard;
pub use tessera_storage::failpoint;
pub use tessera_wire as proto;
pub use tessera_wire::{codes, slot};

pub use config::Config;
pub use net::run::run;
pub use net::server::{start, ServerError, ServerHandle};
