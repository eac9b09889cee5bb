//! A connection's ACL user, shared by the RESP, binary and HTTP front
//! ends: who it is, whether a request passes, and the ACL LOG entry when
//! one does not (docs/security.md).

use std::sync::Arc;

use crate::acl::{Acl, Failure};
use crate::codes::{ErrorCode, WireError};
use crate::proto::acl::{Denied, User};

/// One connection's user and the ACL generation it was read at.
pub(crate) struct Session {
    user: Option<Arc<User>>,
    generation: u64,
}

/// What a request's check decided.
pub(crate) enum Verdict {
    Run,
    /// NOAUTH.
    Refuse(WireError),
    /// Beyond the user's rules: `Session::denied` logs it and gives the
    /// NOPERM error.
    Denied(Denied),
    /// The connection's user was removed (ACL DELUSER, ACL LOAD).
    Gone,
}

impl Session {
    /// A new connection: the default user when it needs no password, else
    /// nobody until AUTH.
    pub(crate) fn new(acl: &Acl) -> Session {
        Session {
            user: acl.initial_user(),
            generation: acl.generation(),
        }
    }

    /// A front end's own requests, already checked by it (HTTP through the
    /// binary executor, RESP's batches).
    pub(crate) fn trusted() -> Session {
        // One user for every such session: RESP makes one per batch it
        // forwards, HTTP one per request.
        static TRUSTED: std::sync::OnceLock<Arc<User>> = std::sync::OnceLock::new();
        Session {
            user: Some(
                TRUSTED
                    .get_or_init(|| Arc::new(User::default_user()))
                    .clone(),
            ),
            generation: u64::MAX,
        }
    }

    pub(crate) fn user(&self) -> Option<&Arc<User>> {
        self.user.as_ref()
    }

    pub(crate) fn user_name(&self) -> &str {
        self.user.as_ref().map(|u| u.name()).unwrap_or("default")
    }

    /// Checks a request with `check`; `no_auth` = the command needs no
    /// authentication (AUTH, HELLO, QUIT, RESET). The common case (an
    /// unrestricted user, no ACL change since the last request) reads one
    /// atomic and one flag.
    pub(crate) fn verdict(
        &mut self,
        acl: &Acl,
        no_auth: impl FnOnce() -> bool,
        check: impl FnOnce(&User) -> Result<(), Denied>,
    ) -> Verdict {
        if self.generation != u64::MAX {
            let now = acl.generation();
            if now != self.generation {
                self.generation = now;
                if let Some(u) = &self.user {
                    match acl.user(u.name()) {
                        Some(fresh) => self.user = Some(fresh),
                        None => {
                            self.user = None;
                            return Verdict::Gone;
                        }
                    }
                }
            }
        }
        let Some(user) = &self.user else {
            return match no_auth() {
                true => Verdict::Run,
                false => Verdict::Refuse(WireError::of(ErrorCode::NoAuth)),
            };
        };
        if user.unrestricted() {
            return Verdict::Run;
        }
        match check(user) {
            Ok(()) => Verdict::Run,
            Err(denied) => Verdict::Denied(denied),
        }
    }

    /// Logs a refusal in ACL LOG (`context`: `toplevel` or `multi`) and
    /// gives its NOPERM error.
    pub(crate) fn denied(
        &self,
        acl: &Acl,
        denied: Denied,
        context: &'static str,
        client_info: String,
    ) -> WireError {
        let (reason, object) = denied.reason_and_object();
        acl.log_failure(Failure {
            reason,
            context,
            object: &object,
            username: self.user_name(),
            client_info,
        });
        denied.error()
    }

    /// Authenticates as `name` with `pass`; a failure is logged (ACL LOG
    /// reason `auth`) and answered with WRONGPASS, and changes nothing.
    pub(crate) fn authenticate(
        &mut self,
        acl: &Acl,
        name: &[u8],
        pass: &[u8],
        client_info: impl FnOnce() -> String,
    ) -> Result<(), WireError> {
        match acl.authenticate(name, pass) {
            Ok(u) => {
                self.user = Some(u);
                self.generation = acl.generation();
                Ok(())
            }
            Err(e) => {
                acl.log_failure(Failure {
                    reason: "auth",
                    context: "toplevel",
                    object: b"AUTH",
                    username: &String::from_utf8_lossy(name),
                    client_info: client_info(),
                });
                Err(e)
            }
        }
    }

    /// Back to a new connection's user (RESET).
    pub(crate) fn reset(&mut self, acl: &Acl) {
        *self = Session::new(acl);
    }
}
