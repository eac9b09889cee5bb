//! More seeded streams against redis-server (see `resp_differential.rs`).

mod cross;
mod databases;
mod dump;
mod georadius;
mod multi;
