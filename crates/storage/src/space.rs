//! Databases (Redis's SELECT): where each database's keys live.
//!
//! A stored key starts with a 2-byte **space**. Database 0 keeps every
//! key under its slot (0 to 16383), as before databases existed, so it
//! costs nothing. Database `n` ≥ 1 keeps all of its keys in a partition
//! under the one space `0xC000 + n`; a key still lives in the partition
//! (and on the core) of its slot, so a key's database never changes where
//! it is served, and MOVE stays within one partition.

use std::cell::Cell;

/// The most databases a node can be started with (`--databases`).
pub const MAX_DATABASES: u16 = 4096;

/// Where database 1's space starts (above every slot, below `0xFFFF`,
/// the partition-internal keys).
const DB_BASE: u16 = 0xC000;

thread_local! {
    /// The node's number of databases (Redis's `databases`, 16 by
    /// default), set on each core's thread (one process may run several
    /// nodes, as the tests do).
    static DATABASES: Cell<u16> = const { Cell::new(16) };
    /// Whether the node runs in cluster mode, where only database 0 exists
    /// (as in Redis Cluster).
    static CLUSTER: Cell<bool> = const { Cell::new(false) };
}

/// Cluster mode: database 0 only (set on each core's thread at start).
pub fn set_cluster_mode(on: bool) {
    CLUSTER.with(|c| c.set(on));
}

/// Whether only database 0 exists because the node is in cluster mode.
pub fn cluster_mode() -> bool {
    CLUSTER.with(Cell::get)
}

/// Sets the number of databases (on each core's thread at start; 1 to
/// `MAX_DATABASES`).
pub fn set_databases(n: u16) {
    DATABASES.with(|d| d.set(n.clamp(1, MAX_DATABASES)));
}

/// The number of databases.
pub fn databases() -> u16 {
    DATABASES.with(Cell::get)
}

/// Database `db` as a valid index, or `None` when it is out of range.
pub fn checked(db: i64) -> Option<u16> {
    let n = if cluster_mode() { 1 } else { databases() };
    u16::try_from(db).ok().filter(|&d| d < n)
}

/// The space of a key of `db` whose slot is `slot`.
pub fn space(db: u16, slot: u16) -> u16 {
    match db {
        0 => slot,
        n => DB_BASE + n.min(MAX_DATABASES - 1),
    }
}

/// The spaces `[lo, hi)` holding database `db`'s keys: every slot for
/// database 0, its one space for the others.
pub fn range(db: u16) -> (u16, u16) {
    match db {
        0 => (0, crate::manifest::SLOTS),
        n => {
            let s = space(n, 0);
            (s, s + 1)
        }
    }
}

/// The database a space belongs to.
pub fn db_of(space: u16) -> u16 {
    match space {
        s if (DB_BASE..DB_BASE + MAX_DATABASES).contains(&s) => s - DB_BASE,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_of_databases_lie_between_slots_and_internal_keys() {
        assert_eq!(space(0, 16383), 16383);
        assert_eq!(space(1, 5), 0xC001);
        assert_eq!(space(MAX_DATABASES - 1, 0), 0xCFFF);
        assert!(space(MAX_DATABASES - 1, 0) < 0xFFFF);
        assert_eq!(db_of(space(7, 100)), 7);
        assert_eq!(db_of(100), 0);
        assert_eq!(range(0), (0, 16384));
        assert_eq!(range(2), (0xC002, 0xC003));
        assert_eq!(checked(-1), None);
        assert_eq!(checked(i64::from(databases())), None);
        assert_eq!(checked(3), Some(3));
    }
}
