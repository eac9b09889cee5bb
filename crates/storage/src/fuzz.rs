//! What this crate does with bytes it did not write itself, one function
//! per group, for the fuzz tests (tests/fuzz.rs, proptest on stable) and
//! the cargo-fuzz targets (`fuzz/`, nightly): the manifest file, a
//! replication position record, a value envelope. Each must return for any
//! input: an error is an answer, a panic is a bug.

/// Decodes `bytes` as a manifest file, a position record and a value
/// envelope.
pub fn records(bytes: &[u8]) {
    let _ = crate::manifest::Manifest::from_file_bytes(bytes);
    if let Some(r) = crate::position::Record::decode(bytes) {
        // What decodes encodes back to the same record.
        assert_eq!(crate::position::Record::decode(&r.encode()), Some(r));
    }
    let _ = crate::envelope::decode(bytes);
}
