//! Online backups and restore.
//!
//! A backup directory has the layout of a data directory: the MANIFEST and
//! one `partition-NNNN` RocksDB checkpoint per partition. Each core
//! checkpoints the partitions it owns while it keeps serving (RocksDB
//! flushes the memtable first, so every write committed before the
//! checkpoint is in it; SST files are hard links when the backup lies on the
//! same filesystem). `restore` turns a backup into a new data directory.

use std::path::{Component, Path, PathBuf};

use super::manifest::Manifest;
use super::{partition_dir, Error};

/// Checks that `dir` may receive a backup: a backup root is configured and
/// `dir` is an absolute, normalised path strictly inside it (also after
/// resolving symlinks of its existing ancestors). Returns the path to write
/// to. Every core checks this for itself (the cores write their partitions
/// concurrently); [`check_free`] then refuses to overwrite an earlier backup.
pub fn check_target(root: Option<&Path>, dir: &Path) -> Result<PathBuf, Error> {
    let root = root.ok_or_else(|| {
        refuse(
            "backups are disabled: set backup-root in the server's configuration to the directory \
             backups may be written under"
                .into(),
        )
    })?;
    if !dir.is_absolute() {
        return Err(refuse(format!(
            "backup directory {} must be an absolute path",
            dir.display()
        )));
    }
    if dir
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(refuse(format!(
            "backup directory {} must not contain . or .. components",
            dir.display()
        )));
    }
    let root = root
        .canonicalize()
        .map_err(|e| refuse(format!("backup-root {} is not usable: {e}", root.display())))?;
    // Resolve the deepest existing ancestor, so a symlink inside the root
    // cannot lead outside it.
    let mut existing = dir.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut resolved = existing
        .canonicalize()
        .map_err(|e| refuse(format!("cannot resolve {}: {e}", existing.display())))?;
    for name in rest.iter().rev() {
        resolved.push(name);
    }
    if resolved == root || !resolved.starts_with(&root) {
        return Err(refuse(format!(
            "backup directory {} is not inside backup-root {}",
            dir.display(),
            root.display()
        )));
    }
    Ok(resolved)
}

/// Refuses when `backup_dir` already holds one of `partitions` (or, with
/// `manifest`, a MANIFEST): a backup never overwrites another.
pub fn check_free(backup_dir: &Path, partitions: &[u32], manifest: bool) -> Result<(), Error> {
    let taken = partitions
        .iter()
        .map(|p| partition_dir(backup_dir, *p))
        .chain(manifest.then(|| backup_dir.join("MANIFEST")))
        .find(|p| p.exists());
    match taken {
        Some(p) => Err(refuse(format!(
            "backup directory {} already holds a backup ({} exists)",
            backup_dir.display(),
            p.display()
        ))),
        None => Ok(()),
    }
}

fn refuse(why: String) -> Error {
    Error::BackupRefused(why)
}

/// Where partition `p`'s checkpoint goes inside a backup directory.
pub fn partition_target(backup_dir: &Path, p: u32) -> PathBuf {
    partition_dir(backup_dir, p)
}

/// Copies the data directory's manifest into the backup directory.
pub fn write_manifest(data_dir: &Path, backup_dir: &Path) -> Result<(), Error> {
    let m = Manifest::read_from(data_dir)?;
    std::fs::create_dir_all(backup_dir)
        .map_err(|e| Error::io(format!("create {}", backup_dir.display()), e))?;
    m.write_to(backup_dir)
}

/// What a restore produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub partitions: u32,
    pub files: u64,
    /// Files hard-linked rather than copied (SSTs on the same filesystem).
    pub linked: u64,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(what, e)
}

/// Makes `to` (absent or empty) a data directory holding the backup `from`:
/// the manifest is checked, every partition must be present, SST files are
/// hard-linked when possible (they are immutable) and everything else
/// (the files beside the partitions too) is copied, then synced.
pub fn restore(from: &Path, to: &Path) -> Result<Restored, Error> {
    let m = Manifest::read_from(from)
        .map_err(|e| Error::Manifest(format!("{} is not a Tessera backup: {e}", from.display())))?;
    for p in 0..m.partitions {
        let dir = partition_dir(from, p);
        if !dir.join("CURRENT").is_file() {
            return Err(Error::Manifest(format!(
                "backup {} is incomplete: partition {p} is missing",
                from.display()
            )));
        }
    }
    if to.exists()
        && std::fs::read_dir(to)
            .map_err(io(format!("read {}", to.display())))?
            .next()
            .is_some()
    {
        return Err(Error::Manifest(format!(
            "{} already exists and is not empty; restore into a new directory",
            to.display()
        )));
    }
    std::fs::create_dir_all(to).map_err(io(format!("create {}", to.display())))?;
    let mut done = Restored {
        partitions: m.partitions,
        files: 0,
        linked: 0,
    };
    for p in 0..m.partitions {
        let src = partition_dir(from, p);
        let dst = partition_dir(to, p);
        std::fs::create_dir_all(&dst).map_err(io(format!("create {}", dst.display())))?;
        for entry in std::fs::read_dir(&src).map_err(io(format!("read {}", src.display())))? {
            let entry = entry.map_err(io(format!("read {}", src.display())))?;
            let name = entry.file_name();
            let (s, d) = (entry.path(), dst.join(&name));
            if !entry
                .file_type()
                .map_err(io(format!("stat {}", s.display())))?
                .is_file()
            {
                continue;
            }
            let is_sst = Path::new(&name).extension().is_some_and(|e| e == "sst");
            if is_sst && std::fs::hard_link(&s, &d).is_ok() {
                done.linked += 1;
            } else {
                std::fs::copy(&s, &d).map_err(io(format!("copy {}", s.display())))?;
                std::fs::File::open(&d)
                    .and_then(|f| f.sync_all())
                    .map_err(io(format!("fsync {}", d.display())))?;
            }
            done.files += 1;
        }
        std::fs::File::open(&dst)
            .and_then(|f| f.sync_all())
            .map_err(io(format!("fsync {}", dst.display())))?;
    }
    // The files the server keeps beside the partitions (its function
    // libraries), then the manifest last: a directory without it is never
    // mistaken for a complete data directory.
    for entry in std::fs::read_dir(from).map_err(io(format!("read {}", from.display())))? {
        let entry = entry.map_err(io(format!("read {}", from.display())))?;
        let name = entry.file_name();
        let plain = entry.file_type().is_ok_and(|t| t.is_file());
        let named = name
            .to_str()
            .is_some_and(|n| n != crate::manifest::FILE_NAME && !n.ends_with(".tmp"));
        if plain && named {
            let (s, d) = (entry.path(), to.join(&name));
            std::fs::copy(&s, &d).map_err(io(format!("copy {}", s.display())))?;
            std::fs::File::open(&d)
                .and_then(|f| f.sync_all())
                .map_err(io(format!("fsync {}", d.display())))?;
            done.files += 1;
        }
    }
    m.write_to(to)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_lie_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert!(check_target(None, &r.join("b"))
            .unwrap_err()
            .to_string()
            .contains("backup-root"));
        assert!(check_target(Some(r), Path::new("rel/b"))
            .unwrap_err()
            .to_string()
            .contains("absolute"));
        assert!(check_target(Some(r), &r.join("a/../../etc"))
            .unwrap_err()
            .to_string()
            .contains(".."));
        assert!(check_target(Some(r), Path::new("/etc/b"))
            .unwrap_err()
            .to_string()
            .contains("not inside"));
        assert!(check_target(Some(r), r)
            .unwrap_err()
            .to_string()
            .contains("not inside"));
        let ok = check_target(Some(r), &r.join("2026/b1")).unwrap();
        assert!(ok.ends_with("2026/b1"));
        // A symlink inside the root that points outside is refused.
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), r.join("escape")).unwrap();
        assert!(check_target(Some(r), &r.join("escape/b"))
            .unwrap_err()
            .to_string()
            .contains("not inside"));
        // An earlier backup is never overwritten.
        let b = r.join("full");
        std::fs::create_dir_all(partition_dir(&b, 1)).unwrap();
        assert!(check_free(&b, &[0], false).is_ok());
        assert!(check_free(&b, &[0, 1], false)
            .unwrap_err()
            .to_string()
            .contains("already holds"));
        std::fs::write(b.join("MANIFEST"), b"x").unwrap();
        assert!(check_free(&b, &[0], true)
            .unwrap_err()
            .to_string()
            .contains("MANIFEST"));
    }

    #[test]
    fn restore_refuses_what_is_not_a_complete_backup() {
        let d = tempfile::tempdir().unwrap();
        let not_backup = d.path().join("nb");
        std::fs::create_dir_all(&not_backup).unwrap();
        let e = restore(&not_backup, &d.path().join("to")).unwrap_err();
        assert!(e.to_string().contains("not a Tessera backup"), "{e}");
        let partial = d.path().join("partial");
        std::fs::create_dir_all(&partial).unwrap();
        Manifest::new(1, 2, 0).write_to(&partial).unwrap();
        let e = restore(&partial, &d.path().join("to")).unwrap_err();
        assert!(e.to_string().contains("partition 0 is missing"), "{e}");
    }
}
