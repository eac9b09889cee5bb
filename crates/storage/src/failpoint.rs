//! Fail points: named places where storage can fail, so that tests (and
//! crash tests of the real binary) can make them fail on purpose.
//!
//! Off, a fail point is one relaxed load of a flag that is never set, so it
//! costs nothing. `tessera serve` switches them on from the environment:
//!
//! ```sh
//! TESSERA_FAILPOINTS='storage.wal-sync=return(disk gone);storage.batch-write=3*off->return' tessera serve ...
//! ```
//!
//! The actions are those of the `fail` crate (`return`, `return(message)`,
//! `N*action`, `P%action`, `off`, `sleep(ms)`, `panic`, chained with `->`).
//! `return(abort)` aborts the process at that point, for crash tests. Tests
//! in the same process use [`cfg`] and [`remove`].
//!
//! The points (docs/operations.md, "Fault injection"):
//! - `storage.batch-write`: a partition's group-commit write fails (the
//!   partition is poisoned);
//! - `storage.wal-sync`: the WAL fsync fails (the partition is poisoned);
//! - `storage.checkpoint`: a checkpoint (BACKUP, a replica's full sync)
//!   fails;
//! - `storage.manifest-write`: writing the data directory's MANIFEST fails.
//! - `storage.xcommit-parts`: a commit across partitions, once its record
//!   is written and before its other parts are staged (`return(abort)`
//!   crashes the node there; other actions do nothing).
//! - `storage.xcommit-replica-parts`: a replica applying a commit across
//!   partitions, once the record's batch is written and before the parts'
//!   batches are (the same actions).
//! - `cluster.migrate-*`: a slot migration's stages on the target (`copy`,
//!   `catch-up`, `fence`, `handover`) and the source (`serve-copy`,
//!   `serve-pull`, `serve-fenced`): `return(abort)` crashes the node there,
//!   `return(MS)` pauses that step for MS milliseconds (without blocking
//!   the reactor), any other message fails the step.
//! - `cluster.membership-change`: the controller's leader in the middle of
//!   adding or removing a node (`return(MS)` pauses it there).

use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable `tessera serve` reads.
pub const ENV: &str = "TESSERA_FAILPOINTS";

static ON: AtomicBool = AtomicBool::new(false);

/// Every fail point of the code base.
pub const POINTS: &[&str] = &[
    "storage.batch-write",
    "storage.wal-sync",
    "storage.checkpoint",
    "storage.drain-write",
    "storage.manifest-write",
    "storage.xcommit-parts",
    "storage.xcommit-replica-parts",
    "cluster.migrate-copy",
    "cluster.migrate-catch-up",
    "cluster.migrate-fence",
    "cluster.migrate-handover",
    "cluster.migrate-serve-copy",
    "cluster.migrate-serve-pull",
    "cluster.migrate-serve-fenced",
    "cluster.membership-change",
];

/// Why a fail point could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("unknown fail point {name:?} (known: {})", POINTS.join(", "))]
    UnknownPoint { name: String },
    /// The `fail` crate refused the actions (it says why only in words).
    #[error("fail point {name}: {why}")]
    BadActions { name: String, why: String },
    #[error("{ENV}: {part:?} is not name=actions")]
    BadSetting { part: String },
}

/// Configures one fail point (`fail` crate syntax). Unknown names are
/// refused, so a typo does not silently test nothing.
pub fn cfg(name: &str, actions: &str) -> Result<(), Error> {
    if !POINTS.contains(&name) {
        return Err(Error::UnknownPoint {
            name: name.to_string(),
        });
    }
    fail::cfg(name, actions).map_err(|why| Error::BadActions {
        name: name.to_string(),
        why,
    })?;
    ON.store(true, Ordering::Relaxed);
    Ok(())
}

/// Switches one fail point off.
pub fn remove(name: &str) {
    fail::remove(name);
}

/// Whether the fail point `name` is configured (without evaluating it).
pub fn armed(name: &str) -> bool {
    ON.load(Ordering::Relaxed) && fail::list().iter().any(|(n, _)| n == name)
}

/// Reads `TESSERA_FAILPOINTS` (`name=actions;name=actions`), if set.
pub fn setup_from_env() -> Result<(), Error> {
    let Ok(spec) = std::env::var(ENV) else {
        return Ok(());
    };
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, actions) = part.split_once('=').ok_or_else(|| Error::BadSetting {
            part: part.to_string(),
        })?;
        cfg(name.trim(), actions.trim())?;
    }
    Ok(())
}

/// Whether the fail point `name` fires now; its message if so.
#[inline]
pub fn hit(name: &str) -> Option<String> {
    if !ON.load(Ordering::Relaxed) {
        return None;
    }
    let msg = fail::eval(name, |arg| {
        arg.unwrap_or_else(|| format!("injected fault at fail point {name}"))
    })?;
    if msg == "abort" {
        eprintln!("fail point {name}: aborting the process");
        std::process::abort();
    }
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_points_and_bad_actions_are_refused() {
        assert!(cfg("storage.nosuch", "return").is_err());
        assert!(cfg("storage.checkpoint", "frobnicate").is_err());
    }
}
