//! The node's ACL users, their file, and ACL LOG (docs/security.md).
//!
//! Users are shared by every core as one immutable snapshot
//! (`Arc<Users>`) behind a generation number. A connection keeps its
//! user's `Arc<User>` and the generation it was taken at; the request path
//! reads only the atomic generation, and takes the lock only after an
//! `ACL SETUSER`, `DELUSER` or `LOAD` changed it. Changes and the log are
//! rare (and the log is written only for refused requests), so a mutex
//! serves them.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ahash::AHashMap;

use crate::codes::{ErrorCode, WireError};
use crate::proto::acl::{self, parse_file, User};
use crate::proto::value::Value;

/// Users by name.
pub type Users = AHashMap<String, Arc<User>>;

/// A core's copy of `Acl::initial_user`'s answer: (the node's ACL id, the
/// generation, the user).
type Initial = (u64, u64, Option<Arc<User>>);

/// ACL LOG keeps this many entries (Redis's `acllog-max-len` default).
const LOG_MAX: usize = 128;
/// Failures alike within this many seconds are one entry with a count.
const LOG_GROUP_SECONDS: u64 = 60;

/// One ACL LOG entry (Redis 7.0's fields).
struct Entry {
    count: u64,
    reason: &'static str,
    context: &'static str,
    object: Vec<u8>,
    username: String,
    created: Instant,
    updated: Instant,
    client_info: String,
}

/// What a refusal was: the fields ACL LOG groups by.
pub struct Failure<'a> {
    pub reason: &'static str,
    /// `toplevel` or `multi`.
    pub context: &'static str,
    pub object: &'a [u8],
    pub username: &'a str,
    pub client_info: String,
}

pub struct Acl {
    /// Tells this node's users from another's (in-process tests run many).
    id: u64,
    generation: AtomicU64,
    users: Mutex<Arc<Users>>,
    log: Mutex<VecDeque<Entry>>,
    /// Where ACL SAVE writes and ACL LOAD reads.
    file: PathBuf,
    /// `requirepass`: the default user's password, over the file's.
    requirepass: Option<Vec<u8>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these leaves plain data behind; go on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Acl {
    /// Loads `file` when it exists (else the open default user), then
    /// applies `requirepass` to the default user.
    pub fn open(file: PathBuf, requirepass: Option<Vec<u8>>) -> Result<Acl, String> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let acl = Acl {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            users: Mutex::new(Arc::new(Users::default())),
            log: Mutex::new(VecDeque::new()),
            file,
            requirepass,
        };
        let users = acl.read_file()?;
        *locked(&acl.users) = Arc::new(users);
        Ok(acl)
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    fn read_file(&self) -> Result<Users, String> {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", self.file.display())),
        };
        let list = parse_file(&text).map_err(|e| format!("{}: {e}", self.file.display()))?;
        let mut users: Users = list
            .into_iter()
            .map(|u| (u.name().to_string(), Arc::new(u)))
            .collect();
        if let Some(pw) = &self.requirepass {
            let mut d = users
                .get("default")
                .map(|u| (**u).clone())
                .unwrap_or_else(User::default_user);
            let mut rule = b">".to_vec();
            rule.extend_from_slice(pw);
            d.apply(b"resetpass").map_err(|e| e.0)?;
            d.apply(&rule).map_err(|e| e.0)?;
            users.insert("default".into(), Arc::new(d));
        }
        Ok(users)
    }

    /// Changes whenever a user is created, changed or removed.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn snapshot(&self) -> Arc<Users> {
        locked(&self.users).clone()
    }

    fn replace(&self, users: Users) {
        *locked(&self.users) = Arc::new(users);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.snapshot().get(name).cloned()
    }

    /// The user a new connection starts as: `default` when it is on and
    /// needs no password, else none (the connection must authenticate).
    pub fn initial_user(&self) -> Option<Arc<User>> {
        // Every new connection (and HTTP request) asks: each core keeps the
        // answer for the generation it read, so only a change takes the
        // lock.
        thread_local! {
            static CACHED: std::cell::RefCell<Option<Initial>> =
                const { std::cell::RefCell::new(None) };
        }
        let id = self.id;
        let generation = self.generation();
        CACHED.with(|c| {
            if let Some((at, g, u)) = &*c.borrow() {
                if *at == id && *g == generation {
                    return u.clone();
                }
            }
            let u = self.user("default").filter(|u| u.enabled() && u.nopass());
            *c.borrow_mut() = Some((id, generation, u.clone()));
            u
        })
    }

    /// Whether the default user needs no password (protected mode's and
    /// AUTH's question).
    pub fn default_is_open(&self) -> bool {
        self.user("default").is_some_and(|u| u.nopass())
    }

    /// The user `name` with password `pass`, or WRONGPASS.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Result<Arc<User>, WireError> {
        std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.user(n))
            .filter(|u| u.password_ok(pass))
            .ok_or_else(|| WireError::of(ErrorCode::WrongPass))
    }

    /// ACL SETUSER: all the rules apply, or none.
    pub fn set_user(&self, name: &[u8], rules: &[&[u8]]) -> Result<(), WireError> {
        if !acl::valid_name(name) {
            return Err(bad("Usernames can't contain spaces or null characters"));
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let mut users = (*self.snapshot()).clone();
        let mut u = users
            .get(&name)
            .map(|u| (**u).clone())
            .unwrap_or_else(|| User::new(&name));
        for r in rules {
            u.apply(r).map_err(|e| {
                bad(format!(
                    "Error in ACL SETUSER modifier '{}': {e}",
                    String::from_utf8_lossy(r)
                ))
            })?;
        }
        users.insert(name, Arc::new(u));
        self.replace(users);
        Ok(())
    }

    /// ACL DELUSER: how many of `names` existed.
    pub fn del_users(&self, names: &[&[u8]]) -> Result<i64, WireError> {
        if names.iter().any(|n| *n == b"default") {
            return Err(bad("The 'default' user cannot be removed"));
        }
        let mut users = (*self.snapshot()).clone();
        let mut n = 0;
        for name in names {
            if users.remove(&*String::from_utf8_lossy(name)).is_some() {
                n += 1;
            }
        }
        if n > 0 {
            self.replace(users);
        }
        Ok(n)
    }

    /// Every user's name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.snapshot().keys().cloned().collect();
        v.sort();
        v
    }

    /// ACL LIST: every user as a rule line, sorted by name.
    pub fn list(&self) -> Vec<String> {
        let users = self.snapshot();
        let mut v: Vec<&Arc<User>> = users.values().collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v.into_iter().map(|u| u.describe()).collect()
    }

    /// ACL SAVE: the ACL LIST lines, written to a temporary file, synced
    /// and renamed over the file (then the directory synced), so a crash
    /// leaves the old file or the new one.
    pub fn save(&self) -> Result<(), WireError> {
        let mut text = self.list().join("\n");
        text.push('\n');
        tessera_cluster::identity::write_atomic(&self.file, text.as_bytes()).map_err(|e| {
            bad(format!(
                "There was an error trying to save the ACLs. Please check the server logs for more information ({}: {e})",
                self.file.display()
            ))
        })
    }

    /// ACL LOAD: the file replaces every user, or nothing changes.
    pub fn load(&self) -> Result<(), WireError> {
        if !self.file.exists() {
            return Err(bad(format!(
                "The ACL file {} does not exist (ACL SAVE writes it)",
                self.file.display()
            )));
        }
        let users = self.read_file().map_err(bad)?;
        self.replace(users);
        Ok(())
    }

    /// Records a refused request or authentication.
    pub fn log_failure(&self, f: Failure<'_>) {
        let now = Instant::now();
        let mut log = locked(&self.log);
        let same = log.iter().position(|e| {
            e.reason == f.reason
                && e.context == f.context
                && e.object == f.object
                && e.username == f.username
                && now.duration_since(e.updated).as_secs() < LOG_GROUP_SECONDS
        });
        if let Some(i) = same {
            if let Some(mut e) = log.remove(i) {
                e.count += 1;
                e.updated = now;
                e.client_info = f.client_info;
                log.push_front(e);
            }
            return;
        }
        log.push_front(Entry {
            count: 1,
            reason: f.reason,
            context: f.context,
            object: f.object.to_vec(),
            username: f.username.to_string(),
            created: now,
            updated: now,
            client_info: f.client_info,
        });
        log.truncate(LOG_MAX);
    }

    /// ACL LOG [count]: the newest entries first.
    pub fn log_entries(&self, count: usize) -> Value {
        let s = |x: &str| Value::bytes(x.as_bytes().to_vec());
        let log = locked(&self.log);
        Value::Array(
            log.iter()
                .take(count)
                .map(|e| {
                    Value::Map(vec![
                        (s("count"), Value::Int(e.count as i64)),
                        (s("reason"), s(e.reason)),
                        (s("context"), s(e.context)),
                        (s("object"), Value::Bytes(e.object.clone())),
                        (s("username"), s(&e.username)),
                        (
                            s("age-seconds"),
                            Value::Double(e.created.elapsed().as_secs_f64()),
                        ),
                        (s("client-info"), s(&e.client_info)),
                    ])
                })
                .collect(),
        )
    }

    pub fn log_reset(&self) {
        locked(&self.log).clear();
    }
}

fn bad(m: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, m)
}

/// A random password of `bits` bits as hex (ACL GENPASS), from the
/// kernel's random source.
pub fn generate_password(bits: usize) -> Result<String, WireError> {
    let mut buf = vec![0u8; bits.div_ceil(8)];
    getrandom::fill(&mut buf)
        .map_err(|e| WireError::new(ErrorCode::Internal, format!("no random bytes: {e}")))?;
    let mut s = acl::hex(&buf);
    s.truncate(bits.div_ceil(4));
    Ok(s)
}
