//! The node's replication state, kept in `<data-dir>/replication` so that a
//! restart keeps its epoch, its role and the peers it knows of.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::position::Epoch;
use super::Error;

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Takes writes.
    Primary,
    /// Follows the primary at this address (binary `HOST:PORT`).
    Replica(String),
}

/// The persisted replication state of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// The highest epoch this node has taken or seen (term 0 = none yet).
    pub epoch: Epoch,
    pub role: Role,
    /// Other nodes of the replication group (binary `HOST:PORT`): the
    /// replicas a primary has served, or the other replicas of a replica's
    /// primary.
    pub peers: Vec<String>,
}

impl Default for NodeState {
    fn default() -> Self {
        NodeState {
            epoch: Epoch::default(),
            role: Role::Primary,
            peers: Vec::new(),
        }
    }
}

const FILE: &str = "replication";

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

impl NodeState {
    /// Reads the state; a missing file is the default (a primary, term 0).
    pub fn load(data_dir: &Path) -> Result<NodeState, Error> {
        let p = path(data_dir);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(NodeState::default()),
            Err(source) => {
                return Err(Error::Io {
                    what: "read",
                    path: p,
                    source,
                })
            }
        };
        let bad = |line: &str| Error::Parse {
            path: p.clone(),
            line: line.to_string(),
        };
        let mut s = NodeState::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line.split_once('=').ok_or_else(|| bad(line))?;
            match k.trim() {
                "term" => s.epoch.term = v.trim().parse().map_err(|_| bad(line))?,
                "node" => {
                    s.epoch.node = u64::from_str_radix(v.trim(), 16).map_err(|_| bad(line))?
                }
                "role" => {
                    s.role = match v.trim() {
                        "primary" => Role::Primary,
                        r => match r.strip_prefix("replica-of ") {
                            Some(a) => Role::Replica(a.trim().to_string()),
                            None => return Err(bad(line)),
                        },
                    }
                }
                "peers" => {
                    s.peers = v
                        .split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                }
                _ => return Err(bad(line)),
            }
        }
        Ok(s)
    }

    /// Writes the state atomically (temporary file, fsync, rename).
    pub fn save(&self, data_dir: &Path) -> Result<(), Error> {
        let p = path(data_dir);
        let tmp = data_dir.join(format!("{FILE}.tmp"));
        let role = match &self.role {
            Role::Primary => "primary".to_string(),
            Role::Replica(a) => format!("replica-of {a}"),
        };
        let text = format!(
            "term={}\nnode={:016x}\nrole={role}\npeers={}\n",
            self.epoch.term,
            self.epoch.node,
            self.peers.join(",")
        );
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &p)?;
            std::fs::File::open(data_dir)?.sync_all()
        };
        write().map_err(|source| Error::Io {
            what: "write",
            path: p.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(NodeState::load(dir.path()).unwrap(), NodeState::default());
        let s = NodeState {
            epoch: Epoch {
                term: 4,
                node: 0xfeed,
            },
            role: Role::Replica("127.0.0.1:7000".into()),
            peers: vec!["127.0.0.1:7001".into(), "127.0.0.1:7002".into()],
        };
        s.save(dir.path()).unwrap();
        assert_eq!(NodeState::load(dir.path()).unwrap(), s);
        std::fs::write(path(dir.path()), "term=x\n").unwrap();
        assert!(NodeState::load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("cannot parse"));
    }
}
