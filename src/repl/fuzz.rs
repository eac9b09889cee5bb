//! The replies a replica or a migration target decodes from its source
//! (PULL's batches, a checkpoint session's chunk), for the fuzz tests
//! (tests/fuzz.rs) and the cargo-fuzz target `replication_replies`
//! (`fuzz/`). Each must return for any input; a panic is a bug.

use super::serve::{Chunk, Pulled};

/// Decodes `bytes` as a PULL reply and as a SYNC (or migration copy)
/// chunk; the batches of a PULL reply then have their position records
/// read as the replica reads them.
pub fn replies(bytes: &[u8]) {
    if let Ok(p) = Pulled::decode(bytes) {
        for b in &p.batches {
            let _ = super::position::Record::of_batch(b);
        }
    }
    let _ = Chunk::decode(bytes);
}
