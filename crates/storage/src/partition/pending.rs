//! A partition's group-commit staging: the open WriteBatch and the overlay
//! of staged values that reads and read-modify-write commands consult
//! until their group is written.

use std::collections::BTreeMap;
use std::rc::Rc;

use ahash::AHashMap;
use rocksdb::WriteBatch;

/// A staged value: the encoded envelope, or `None` for a deletion.
pub(super) type Staged = Option<Rc<[u8]>>;

/// A staged metadata record or string: its group, the batch that takes it
/// (see `Pending::batch_no`) and the value.
pub(super) struct Entry {
    pub(super) group: u64,
    pub(super) batch: u64,
    pub(super) value: Staged,
}

pub(super) struct Pending {
    /// Writes other than staged metadata records and strings, in staging
    /// order: subkeys, range deletions (FLUSHALL), clock marks.
    pub(super) batch: WriteBatch,
    /// Staged metadata records and strings (default column family). The
    /// last value of each key joins the next batch, in key order, after
    /// `batch`'s own writes (a range deletion clears the overlay, so what
    /// follows it stays after it).
    pub(super) overlay: AHashMap<Vec<u8>, Entry>,
    /// Number of the batch being staged; overlay entries carrying it are
    /// not yet taken.
    pub(super) batch_no: u64,
    /// Whether an overlay entry carries `batch_no`.
    pub(super) overlay_staged: bool,
    /// Staged subkeys (the `sub` column family), ordered for range reads.
    pub(super) sub: BTreeMap<Vec<u8>, (u64, Staged)>,
    /// Whether `batch` holds a range deletion (a migration's clean-up,
    /// FLUSHALL): such a batch is written from the blocking pool.
    pub(super) ranged: bool,
}

impl Pending {
    pub(super) fn stage(&mut self, raw: Vec<u8>, group: u64, value: Staged) {
        let batch = self.batch_no;
        self.overlay.insert(
            raw,
            Entry {
                group,
                batch,
                value,
            },
        );
        self.overlay_staged = true;
    }

    /// Moves the overlay's untaken writes into `batch`, in key order: the
    /// memtable inserts of a sorted batch walk neighbouring skiplist nodes,
    /// still in the CPU cache (each insert still searches from the top:
    /// RocksDB reuses the last position only for the very next key). A key
    /// staged twice since the last batch is written once, with its last
    /// value.
    pub(super) fn append_overlay(&mut self) {
        if !self.overlay_staged {
            return;
        }
        let n = self.batch_no;
        self.batch_no += 1;
        self.overlay_staged = false;
        let mut fresh: Vec<(&Vec<u8>, &Staged)> = self
            .overlay
            .iter()
            .filter(|(_, e)| e.batch == n)
            .map(|(k, e)| (k, &e.value))
            .collect();
        fresh.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (raw, value) in fresh {
            match value {
                Some(v) => self.batch.put(raw, v),
                None => self.batch.delete(raw),
            }
        }
    }
}
