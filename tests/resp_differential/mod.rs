//! More seeded streams against redis-server (see `resp_differential.rs`).

mod georadius;
mod multi;
