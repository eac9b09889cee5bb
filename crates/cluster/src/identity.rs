//! A node's cluster identity, kept in `<data-dir>/cluster/node.json`: its
//! 40-hex name, its Raft node id and, once it joined one, its cluster's id.
//!
//! The identity is made once, with the directory. A wiped directory makes
//! a new identity, so a wiped node rejoins as a new node and its old Raft
//! id is never reused (openraft's FAQ on node ids and wiped nodes).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::map::is_hex40;
use crate::Error;

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub format: u32,
    /// 40 hex digits (`CLUSTER MYID`).
    pub name: String,
    /// The Raft node id (never 0).
    pub raft_id: u64,
    /// The cluster this node belongs to, once it joined one.
    pub cluster_id: Option<String>,
}

/// The cluster directory of a data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("cluster")
}

fn path(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("node.json")
}

/// `n` random bytes from the kernel.
pub fn random_bytes(n: usize) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut b)?;
    Ok(b)
}

/// 40 random hex digits (a node name or a cluster id).
pub fn random_hex40() -> std::io::Result<String> {
    Ok(random_bytes(20)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

impl Identity {
    /// Reads the identity, making (and persisting) a new one on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Identity, Error> {
        let p = path(data_dir);
        match std::fs::read(&p) {
            Ok(bytes) => {
                let id: Identity = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Corrupt(format!("{}: {e}", p.display())))?;
                if id.format > FORMAT {
                    return Err(Error::Corrupt(format!(
                        "{}: format {} is newer than this binary's ({FORMAT})",
                        p.display(),
                        id.format
                    )));
                }
                if !is_hex40(&id.name) || id.raft_id == 0 {
                    return Err(Error::Corrupt(format!("{}: bad identity", p.display())));
                }
                Ok(id)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let name = random_hex40()?;
                // The Raft id is the name's first 16 hex digits (random, so
                // never reused); 0 is not a valid id.
                let raft_id = u64::from_str_radix(&name[..16], 16).unwrap_or(0).max(1);
                let id = Identity {
                    format: FORMAT,
                    name,
                    raft_id,
                    cluster_id: None,
                };
                id.save(data_dir)?;
                Ok(id)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Persists the identity atomically.
    pub fn save(&self, data_dir: &Path) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Corrupt(e.to_string()))?;
        write_atomic(&path(data_dir), &bytes)
    }
}

/// Writes `bytes` to `p` through a synced temporary file and a rename, then
/// syncs the directory: after a crash `p` holds the old or the new bytes.
pub fn write_atomic(p: &Path, bytes: &[u8]) -> Result<(), Error> {
    // A bare file name's directory is the current one.
    let parent = p
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let tmp = p.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, p)?;
    std::fs::File::open(parent)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_survives_a_restart_and_a_wiped_directory_gets_a_new_one() {
        let d = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(d.path()).unwrap();
        assert!(is_hex40(&a.name));
        assert_ne!(a.raft_id, 0);
        assert_eq!(Identity::load_or_create(d.path()).unwrap(), a);
        std::fs::remove_dir_all(dir(d.path())).unwrap();
        let b = Identity::load_or_create(d.path()).unwrap();
        assert_ne!(a.name, b.name);
        assert_ne!(a.raft_id, b.raft_id);
        std::fs::write(path(d.path()), b"{garbage").unwrap();
        assert!(matches!(
            Identity::load_or_create(d.path()),
            Err(Error::Corrupt(_))
        ));
    }
}
