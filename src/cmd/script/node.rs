//! The scripting state of one node: the script cache, the SCRIPT KILL
//! count, the running scripts and functions, and the function libraries.
//!
//! It is the node's (`Scripting`, one per `tessera::start`, in the core
//! configuration), not the process's: several nodes in one process (the
//! tests) keep their caches and libraries apart. Each core thread finds
//! its node's through `attach`, as `shard::space` finds its database count.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use ahash::AHashMap;

use crate::codes::{ErrorCode, WireError};
use crate::proto::dump;

/// One function a library registered.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionMeta {
    pub name: String,
    pub description: Option<String>,
    /// `no-writes`, `allow-oom`, `allow-stale`, `no-cluster`,
    /// `allow-cross-slot-keys`, as given.
    pub flags: Vec<String>,
}

impl FunctionMeta {
    pub fn no_writes(&self) -> bool {
        self.flags.iter().any(|f| f == "no-writes")
    }
}

/// A library: its code and the functions it registers.
#[derive(Debug, Clone, PartialEq)]
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: Vec<FunctionMeta>,
}

/// The node's libraries, and which library each function is in.
#[derive(Debug, Clone, Default)]
pub struct Libraries {
    pub libs: BTreeMap<String, Library>,
    by_function: AHashMap<String, String>,
}

impl Libraries {
    /// The library holding function `name`.
    pub fn library_of(&self, function: &str) -> Option<&Library> {
        self.by_function
            .get(function)
            .and_then(|l| self.libs.get(l))
    }

    /// Adds `lib`; with `replace` it takes the place of the library of the
    /// same name. Refused when a library of its name exists (without
    /// `replace`) or another library has one of its functions.
    pub fn add(&mut self, lib: Library, replace: bool) -> Result<(), Conflict> {
        if self.libs.contains_key(&lib.name) && !replace {
            return Err(Conflict::Library(lib.name));
        }
        for f in &lib.functions {
            if self
                .by_function
                .get(&f.name)
                .is_some_and(|l| *l != lib.name)
            {
                return Err(Conflict::Function(f.name.clone()));
            }
        }
        self.remove(&lib.name);
        for f in &lib.functions {
            self.by_function.insert(f.name.clone(), lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> bool {
        let Some(old) = self.libs.remove(name) else {
            return false;
        };
        for f in &old.functions {
            self.by_function.remove(&f.name);
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.libs.is_empty()
    }

    pub fn functions(&self) -> usize {
        self.by_function.len()
    }

    /// FUNCTION DUMP's payload of every library.
    pub fn dump(&self) -> Vec<u8> {
        dump::encode_functions(self.libs.values().map(|l| l.code.as_slice()))
    }
}

/// Why a library cannot be added.
pub enum Conflict {
    Library(String),
    Function(String),
}

impl Conflict {
    /// Redis's error: FUNCTION LOAD quotes the library's name, RESTORE
    /// does not.
    pub fn error(self, quoted: bool) -> WireError {
        bad(match self {
            Conflict::Library(l) if quoted => format!("Library '{l}' already exists"),
            Conflict::Library(l) => format!("Library {l} already exists"),
            Conflict::Function(f) => format!("Function {f} already exists"),
        })
    }
}

/// A function running now (FUNCTION STATS).
pub struct Running {
    pub name: String,
    pub command: Vec<Vec<u8>>,
    pub since: Instant,
}

/// The scripting state of one node.
pub struct Scripting {
    /// Every script the node has seen, by SHA-1 (lower-case hex).
    pub(crate) cache: RwLock<AHashMap<String, Vec<u8>>>,
    /// Bumped by SCRIPT FLUSH: a core whose copy is older drops its scripts.
    pub(crate) generation: AtomicU64,
    /// Bumped by SCRIPT KILL and FUNCTION KILL: a script that started
    /// before stops.
    pub(crate) kills: AtomicU64,
    /// Scripts and functions running now, on every core.
    pub(crate) running: AtomicU64,
    pub(crate) libraries: RwLock<Arc<Libraries>>,
    /// Bumped by every change of the libraries: a core whose copy is older
    /// drops its loaded functions.
    pub(crate) libraries_generation: AtomicU64,
    /// The last function that started and has not ended.
    pub(crate) running_function: Mutex<Option<Running>>,
    /// Where the libraries persist (`None`: nowhere, for a node without a
    /// data directory of its own, such as a cache).
    pub(crate) file: Option<PathBuf>,
    /// Held while the libraries change: one change is written at a time.
    pub(crate) change: Mutex<()>,
    /// Redis's `busy-reply-threshold` (`lua-time-limit`) in ms: a core
    /// that has run one script for longer is answered for with BUSY.
    pub busy_threshold_ms: AtomicU64,
    /// Per core: when its running script started (ms since `epoch`, plus
    /// one), 0 when none runs.
    running_since: Box<[AtomicU64]>,
    epoch: Instant,
}

/// Redis's default `busy-reply-threshold`: 5 seconds.
pub const BUSY_REPLY_THRESHOLD_MS: u64 = 5000;

impl Scripting {
    /// A node's state, with no libraries and none persisted.
    pub fn new() -> Scripting {
        Scripting::with_cores(0)
    }

    /// The state of a node of `cores` cores.
    pub fn with_cores(cores: usize) -> Scripting {
        Scripting {
            busy_threshold_ms: AtomicU64::new(BUSY_REPLY_THRESHOLD_MS),
            running_since: (0..cores).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
            cache: RwLock::new(AHashMap::new()),
            generation: AtomicU64::new(0),
            kills: AtomicU64::new(0),
            running: AtomicU64::new(0),
            libraries: RwLock::new(Arc::new(Libraries::default())),
            libraries_generation: AtomicU64::new(0),
            running_function: Mutex::new(None),
            file: None,
            change: Mutex::new(()),
        }
    }

    /// The libraries now.
    pub fn libraries(&self) -> Arc<Libraries> {
        self.libraries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Notes that function `name` started (`command`: FCALL's words).
    pub fn function_started(&self, name: &str, command: Vec<Vec<u8>>) {
        *self
            .running_function
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Running {
            name: name.to_string(),
            command,
            since: Instant::now(),
        });
    }

    /// Notes that this thread's core started (`true`) or ended a script.
    pub fn core_running(&self, running: bool) {
        let Some(since) = CORE.with(Cell::get).and_then(|c| self.running_since.get(c)) else {
            return;
        };
        let now = match running {
            true => self.epoch.elapsed().as_millis() as u64 + 1,
            false => 0,
        };
        since.store(now, Ordering::Relaxed);
    }

    /// Whether `core` has run one script for longer than
    /// `busy-reply-threshold` (requests for it are answered BUSY).
    pub fn busy(&self, core: usize) -> bool {
        let since = self
            .running_since
            .get(core)
            .map_or(0, |s| s.load(Ordering::Relaxed));
        since != 0
            && (self.epoch.elapsed().as_millis() as u64 + 1).saturating_sub(since)
                >= self.busy_threshold_ms.load(Ordering::Relaxed)
    }

    pub fn function_ended(&self) {
        *self
            .running_function
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl Default for Scripting {
    fn default() -> Self {
        Scripting::new()
    }
}

thread_local! {
    static NODE: RefCell<Option<Arc<Scripting>>> = const { RefCell::new(None) };
    /// The core this thread runs.
    static CORE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Makes `node` the scripting state of this thread, core `core`'s (each
/// core's thread, at start).
pub fn attach(node: Arc<Scripting>, core: usize) {
    NODE.with(|n| *n.borrow_mut() = Some(node));
    CORE.with(|c| c.set(Some(core)));
}

/// This thread's node's state (a thread that was never attached gets one
/// of its own).
pub fn node() -> Arc<Scripting> {
    NODE.with(|n| {
        n.borrow_mut()
            .get_or_insert_with(|| Arc::new(Scripting::new()))
            .clone()
    })
}

pub(crate) fn bad(m: impl Into<String>) -> WireError {
    WireError::new(ErrorCode::BadArguments, m)
}

/// The library name in code's first line (`#!lua name=<name>`) and where
/// the code after that line starts; Redis 7.0's errors.
pub fn metadata(code: &[u8]) -> Result<(String, usize), WireError> {
    if !code.starts_with(b"#!") {
        return Err(bad("Missing library metadata"));
    }
    let end = code
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad("Invalid library metadata"))?;
    let line = String::from_utf8_lossy(&code[2..end]);
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(bad(format!("Engine '{engine}' not found")));
    }
    let mut name = None;
    for w in words {
        match w.strip_prefix("name=") {
            Some(_) if name.is_some() => {
                return Err(bad(
                    "Invalid metadata value, name argument was given multiple times",
                ))
            }
            Some(n) => name = Some(n.to_string()),
            None => return Err(bad(format!("Invalid metadata value given: {w}"))),
        }
    }
    let name = name.ok_or_else(|| bad("Library name was not given"))?;
    if !valid_name(&name) {
        return Err(bad("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    Ok((name, end))
}

/// Redis's rule for library and function names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
