//! The ACL user every connection of this process authenticates as
//! (docs/security.md): `tessera cli --user/--pass` or `TESSERA_USER` and
//! `TESSERA_PASSWORD`, a node's `replica-user` for its replication and
//! cluster links. Set once at start; read when a connection opens.

use std::sync::RwLock;

/// A user name and password. An empty user name is the default user.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: Vec<u8>,
    pub pass: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "Credentials({})", String::from_utf8_lossy(&self.user))
    }
}

impl Credentials {
    pub fn new(user: impl Into<Vec<u8>>, pass: impl Into<Vec<u8>>) -> Credentials {
        Credentials {
            user: user.into(),
            pass: pass.into(),
        }
    }

    /// `TESSERA_USER` (optional: the default user) and `TESSERA_PASSWORD`.
    pub fn from_env() -> Option<Credentials> {
        let pass = std::env::var_os("TESSERA_PASSWORD")?;
        let user = std::env::var_os("TESSERA_USER").unwrap_or_default();
        Some(Credentials::new(
            user.into_encoded_bytes(),
            pass.into_encoded_bytes(),
        ))
    }
}

static CURRENT: RwLock<Option<Credentials>> = RwLock::new(None);

/// Sets the credentials every later connection of this process uses.
pub fn set_credentials(c: Option<Credentials>) {
    *CURRENT.write().unwrap_or_else(|p| p.into_inner()) = c;
}

/// The credentials connections authenticate with, if any.
pub fn credentials() -> Option<Credentials> {
    CURRENT.read().unwrap_or_else(|p| p.into_inner()).clone()
}
