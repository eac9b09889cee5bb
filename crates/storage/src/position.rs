//! Replication positions: every committed write batch of a partition ends
//! with a put of the partition's position record (docs/replication.md), so
//! the position travels inside the batch and lands atomically with the data
//! on every copy.

/// An epoch: `(term, node id)`, ordered by term, then node id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch {
    pub term: u64,
    pub node: u64,
}

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{:016x}", self.term, self.node)
    }
}

/// The position record a batch ends with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    /// The epoch of the primary that committed the batch.
    pub epoch: Epoch,
    /// Batches of this partition since it was created (1, 2, 3, ...); it
    /// continues across epochs, so one history has one batch per index.
    pub index: u64,
    /// The committing primary's clock (at or above every version in the batch).
    pub clock: u64,
    /// Bytes of batches committed up to and including this one.
    pub bytes: u64,
    /// Commit time on the primary, unix ms.
    pub commit_ms: u64,
}

/// The key of the record (default column family; slots never reach `\xFF\xFF`).
pub const KEY: &[u8] = b"\xFF\xFFrepl-position";
/// Encoded record length.
pub const LEN: usize = 48;
/// A WriteBatch put record of `KEY` with a `LEN`-byte value: tag (kTypeValue),
/// key length, key, value length, value.
const TAIL: usize = 1 + 1 + KEY.len() + 1 + LEN;

impl Record {
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        for (i, v) in [
            self.epoch.term,
            self.epoch.node,
            self.index,
            self.clock,
            self.bytes,
            self.commit_ms,
        ]
        .into_iter()
        .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> Option<Record> {
        if b.len() != LEN {
            return None;
        }
        let f = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_be_bytes(a)
        };
        Some(Record {
            epoch: Epoch {
                term: f(0),
                node: f(1),
            },
            index: f(2),
            clock: f(3),
            bytes: f(4),
            commit_ms: f(5),
        })
    }

    /// The record a write batch's bytes end with, if it has one (batches
    /// written by Tessera's group commit and replication always do).
    pub fn of_batch(data: &[u8]) -> Option<Record> {
        // 12 bytes of header (sequence, count) before the records.
        if data.len() < 12 + TAIL {
            return None;
        }
        let t = &data[data.len() - TAIL..];
        if t[0] != 0x01 || t[1] as usize != KEY.len() || &t[2..2 + KEY.len()] != KEY {
            return None;
        }
        if t[2 + KEY.len()] as usize != LEN {
            return None;
        }
        Record::decode(&t[3 + KEY.len()..])
    }

    /// `term:node:index`, as INFO and the CLI show positions.
    pub fn position(&self) -> String {
        format!("{}:{}", self.epoch, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_through_a_write_batch() {
        let r = Record {
            epoch: Epoch {
                term: 3,
                node: 0xabc,
            },
            index: 42,
            clock: 7 << 16,
            bytes: 1234,
            commit_ms: 99,
        };
        let mut b = rocksdb::WriteBatch::default();
        b.put(b"\x00\x01key", b"value");
        assert_eq!(Record::of_batch(b.data()), None);
        b.put(KEY, r.encode());
        assert_eq!(Record::of_batch(b.data()), Some(r));
        // A record that is not last is not the batch's record.
        b.put(b"\x00\x01other", b"v");
        assert_eq!(Record::of_batch(b.data()), None);
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(&[0u8; 8]), None);
    }

    #[test]
    fn epochs_order_by_term_then_node() {
        let a = Epoch { term: 1, node: 9 };
        let b = Epoch { term: 2, node: 1 };
        assert!(a < b);
        assert!(Epoch { term: 2, node: 2 } > b);
    }
}
