//! EVAL, EVALSHA, EVAL_RO and EVALSHA_RO: Lua 5.1 scripts (Redis's
//! language and API) run inside the transaction of the command that
//! carries them, on the core that owns their keys, so a script is atomic:
//! its writes commit together with the group, or not at all.
//!
//! Each core has its own interpreter (`Engine`, thread-local) and compiles
//! the scripts it runs once. The node's script cache (`CACHE`: every script
//! EVAL or SCRIPT LOAD has seen, by SHA-1) is shared, read only when a core
//! meets a script it has not compiled; SCRIPT FLUSH empties it and bumps
//! `GENERATION`, which each core checks before running a script.
//!
//! Scripts see Redis's environment: `KEYS`, `ARGV`, `redis.call`,
//! `redis.pcall`, `redis.error_reply`, `redis.status_reply`,
//! `redis.sha1hex`, `redis.log` and the `LOG_*` levels, the `string`,
//! `table` and `math` libraries, and `cjson` (encode, decode, null). Globals are read-only, and reading an
//! undefined one is an error, as in Redis 7.
//!
//! `redis.call` runs a data command inside the same transaction; its keys
//! must lie in the transaction's slot (the slot of the script's declared
//! keys; a script that declares none may touch none). A command that fails takes back its own writes, and its error
//! is raised (`call`) or returned as `{err=...}` (`pcall`). A script that
//! ends with an error keeps the writes made before it, as Redis does.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;
use std::time::Instant;

use ahash::AHashMap;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, VmState};
use sha1::{Digest, Sha1};

use super::{CmdError, CmdResult, Value};
use crate::codes::{ErrorCode, WireError};
use crate::proto::args::script::{Script, ScriptCmd};
use crate::shard::{self, tx::Tx};

mod libs;
mod lua;
pub mod node;

use lua::{
    error_object, from_json, internal, lua_failure, redis_call, reply, to_json, Call, JSON_NULL,
    PRELUDE,
};
use node::{node, FunctionMeta, Library};

/// VM instructions between two checks for SCRIPT KILL.
const KILL_CHECK_INSTRUCTIONS: u32 = 100_000;
/// How long a library's code may run when it is loaded (Redis's 500 ms).
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The SCRIPT KILL count when this core's running script started.
    static STARTED_AT_KILLS: Cell<Option<u64>> = const { Cell::new(None) };
    static KILLED: Cell<bool> = const { Cell::new(false) };
    /// When the library being loaded must have finished.
    static LOAD_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The library being loaded ran past its deadline.
    static LOAD_EXPIRED: Cell<bool> = const { Cell::new(false) };
}

/// The SHA-1 of `body`, as Redis names scripts.
pub fn sha1_hex(body: &[u8]) -> String {
    Sha1::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SCRIPT LOAD: compiles `body` (its syntax errors are Redis's) and keeps
/// it in the node's cache; its SHA-1.
pub fn load(body: &[u8]) -> Result<String, WireError> {
    with_engine(|e| e.function(&Script::Body(body)).map(|(sha, ..)| sha))
        .map_err(CmdError::into_wire)
}

/// SCRIPT EXISTS: whether each SHA-1 is in the node's cache.
pub fn exists(shas: &[&[u8]]) -> Vec<bool> {
    let node = node();
    let cache = node.cache.read().unwrap_or_else(|p| p.into_inner());
    shas.iter()
        .map(|s| cache.contains_key(&String::from_utf8_lossy(s).to_ascii_lowercase()))
        .collect()
}

/// SCRIPT FLUSH: forgets every script, on every core.
pub fn flush() {
    let node = node();
    node.cache
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    node.generation.fetch_add(1, Ordering::SeqCst);
}

/// SCRIPT KILL and FUNCTION KILL: stop the scripts and functions running
/// now (at their next check, within 100,000 VM instructions); false when
/// none runs. A killed script's writes are dropped with its transaction.
pub fn kill() -> bool {
    let node = node();
    if node.running.load(Ordering::SeqCst) == 0 {
        return false;
    }
    node.kills.fetch_add(1, Ordering::SeqCst);
    true
}

/// Runs a library's code (FUNCTION LOAD) in this core's interpreter:
/// what it registers, or Redis's error.
pub fn load_library(code: &[u8]) -> Result<Library, WireError> {
    with_engine(|e| e.load_library(code).map(|(lib, _)| lib)).map_err(CmdError::into_wire)
}

/// Runs EVAL, FCALL and their forms inside `tx`.
pub fn eval(tx: &mut Tx<'_>, c: &ScriptCmd<'_>) -> CmdResult {
    with_engine(|e| e.run(tx, c))
}

fn with_engine<R>(f: impl FnOnce(&mut Engine) -> Result<R, CmdError>) -> Result<R, CmdError> {
    ENGINE.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| internal("a script is already running on this core"))?;
        if slot.is_none() {
            *slot =
                Some(Engine::new().map_err(|e| internal(&format!("the Lua interpreter: {e}")))?);
        }
        let engine = slot
            .as_mut()
            .ok_or_else(|| internal("no Lua interpreter"))?;
        f(engine)
    })
}
/// The flags a script's shebang or a function may declare.
const SCRIPT_FLAGS: [&str; 5] = [
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// A script's Redis 7 shebang (`#!lua flags=no-writes,...` on its first
/// line): `None` without one (Redis's compatible mode), else whether it
/// declares `no-writes`; and the length of the line, which compiles as an
/// empty one. Its errors are Redis's.
pub fn shebang(body: &[u8]) -> Result<(Option<bool>, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((None, 0));
    }
    let len = body
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("Invalid script shebang")?;
    let line = String::from_utf8_lossy(&body[..len]);
    let mut parts = line.split_ascii_whitespace();
    let engine = parts.next().ok_or("Invalid engine in script shebang")?;
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut no_writes = false;
    for part in parts {
        let flags = part
            .strip_prefix("flags=")
            .ok_or_else(|| format!("Unknown lua shebang option: {part}"))?;
        for flag in flags.split(',').filter(|f| !f.is_empty()) {
            if !SCRIPT_FLAGS.contains(&flag) {
                return Err(format!("Unexpected flag in script shebang: {flag}"));
            }
            no_writes |= flag == "no-writes";
        }
    }
    Ok((Some(no_writes), len))
}

/// Whether EVAL or EVALSHA of `script` (its body, or its SHA-1 in the
/// node's cache) reads only by its shebang's `no-writes`: a replica runs it,
/// as Redis does.
pub fn reads_only(script: &[u8], sha: bool) -> bool {
    let declared = |b: &[u8]| shebang(b).is_ok_and(|(nw, _)| nw == Some(true));
    match sha {
        false => declared(script),
        true => node()
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&String::from_utf8_lossy(script).to_ascii_lowercase())
            .is_some_and(|b| declared(b)),
    }
}

/// One core's interpreter and its compiled scripts.
struct Engine {
    lua: Lua,
    /// With each its shebang's `no-writes` (`None`: no shebang).
    compiled: AHashMap<String, (Function, Option<bool>)>,
    generation: u64,
    /// The `redis` table: `call` and `pcall` are set for each run.
    redis: Table,
    /// Wraps a script in `xpcall` with the error handler.
    protected: Function,
    /// Calls a function with its keys and arguments the same way.
    protected_call: Function,
    /// Builds a script's read-only environment.
    sandbox: Function,
    /// Libraries: `library_env()` builds a library's environment,
    /// `begin_load()` starts collecting what it registers and
    /// `end_load()` returns it.
    library_env: Function,
    begin_load: Function,
    end_load: Function,
    /// The functions of the node's libraries this core loaded, and the
    /// libraries' generation they belong to.
    functions: AHashMap<String, (Function, FunctionMeta)>,
    libraries_generation: u64,
}
impl Engine {
    fn new() -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        let runtime = lua.create_table()?;
        runtime.raw_set(
            "sha1hex",
            lua.create_function(|_, s: mlua::String| Ok(sha1_hex(&s.as_bytes())))?,
        )?;
        runtime.raw_set(
            "log",
            lua.create_function(|_, (level, msg): (i64, mlua::Variadic<mlua::String>)| {
                let text: Vec<String> = msg.iter().map(|s| s.to_string_lossy()).collect();
                let text = text.join(" ");
                match level {
                    3 => tracing::warn!(target: "script", "{text}"),
                    2 => tracing::info!(target: "script", "{text}"),
                    _ => tracing::debug!(target: "script", "{text}"),
                }
                Ok(())
            })?,
        )?;
        runtime.raw_set(
            "cjson_encode",
            lua.create_function(|_, v: mlua::Value| {
                serde_json::to_string(&to_json(&v, 0)?).map_err(mlua::Error::external)
            })?,
        )?;
        runtime.raw_set(
            "cjson_decode",
            lua.create_function(|lua, s: mlua::String| {
                let j: serde_json::Value =
                    serde_json::from_slice(&s.as_bytes()).map_err(mlua::Error::external)?;
                from_json(lua, &j)
            })?,
        )?;
        runtime.raw_set("null", JSON_NULL)?;
        libs::install(&lua, &runtime)?;
        let handler = lua.create_function(|lua, e: mlua::Value| error_object(lua, e))?;
        #[allow(clippy::type_complexity)]
        let (protected, sandbox, redis, protected_call, library_env, begin_load, end_load): (
            Function,
            Function,
            Table,
            Function,
            Function,
            Function,
            Function,
        ) = lua
            .load(PRELUDE)
            .set_name("=tessera")
            .call((runtime, handler))?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(KILL_CHECK_INSTRUCTIONS),
            |_, _| {
                if LOAD_DEADLINE.get().is_some_and(|d| Instant::now() > d) {
                    LOAD_EXPIRED.set(true);
                    return Err(mlua::Error::runtime("FUNCTION LOAD timeout"));
                }
                let since = STARTED_AT_KILLS.get();
                if since.is_some_and(|k| k != node().kills.load(Ordering::SeqCst)) {
                    KILLED.set(true);
                    return Err(mlua::Error::runtime("killed"));
                }
                Ok(VmState::Continue)
            },
        );
        let node = node();
        Ok(Engine {
            lua,
            compiled: AHashMap::new(),
            generation: node.generation.load(Ordering::SeqCst),
            redis,
            protected,
            protected_call,
            sandbox,
            library_env,
            begin_load,
            end_load,
            functions: AHashMap::new(),
            libraries_generation: node.libraries_generation.load(Ordering::SeqCst),
        })
    }

    /// Compiles and runs a library's code, collecting what it registers:
    /// the library, and each function's callback in this interpreter.
    fn load_library(
        &mut self,
        code: &[u8],
    ) -> Result<(Library, Vec<(Function, FunctionMeta)>), CmdError> {
        let (name, body) = node::metadata(code)?;
        let chunk = self
            .lua
            .load(&code[body..])
            .set_name("@user_function")
            .into_function()
            .map_err(|e| {
                WireError::new(
                    ErrorCode::BadArguments,
                    format!("Error compiling function: {}", syntax_message(e)),
                )
            })?;
        let env: Table = self.library_env.call(()).map_err(lua_failure)?;
        chunk.set_environment(env).map_err(lua_failure)?;
        self.begin_load.call::<()>(()).map_err(lua_failure)?;
        LOAD_DEADLINE.set(Some(Instant::now() + LOAD_TIMEOUT));
        LOAD_EXPIRED.set(false);
        let ran: mlua::Result<(bool, mlua::Value)> = self.protected.call(chunk);
        LOAD_DEADLINE.set(None);
        let registered: Table = self.end_load.call(()).map_err(lua_failure)?;
        let failed = |m: String| {
            CmdError::from(WireError::new(
                ErrorCode::BadArguments,
                format!("Error registering functions: {m}"),
            ))
        };
        match ran {
            _ if LOAD_EXPIRED.get() => return Err(failed("ERR FUNCTION LOAD timeout".into())),
            Err(e) => return Err(failed(e.to_string())),
            Ok((false, mlua::Value::Table(t))) => {
                return Err(failed(t.raw_get::<String>("err").unwrap_or_default()))
            }
            Ok((false, other)) => return Err(failed(format!("{other:?}"))),
            Ok((true, _)) => {}
        }
        let mut functions = Vec::new();
        for entry in registered.sequence_values::<Table>() {
            let entry = entry.map_err(lua_failure)?;
            let flags: Vec<String> = entry
                .raw_get::<Table>("flags")
                .and_then(|t| t.sequence_values().collect())
                .map_err(lua_failure)?;
            let meta = FunctionMeta {
                name: entry.raw_get("name").map_err(lua_failure)?,
                description: entry.raw_get("description").map_err(lua_failure)?,
                flags,
            };
            functions.push((entry.raw_get("callback").map_err(lua_failure)?, meta));
        }
        if functions.is_empty() {
            return Err(WireError::new(ErrorCode::BadArguments, "No functions registered").into());
        }
        let lib = Library {
            name,
            code: code.to_vec(),
            functions: functions.iter().map(|(_, m)| m.clone()).collect(),
        };
        Ok((lib, functions))
    }

    /// FCALL's function `name`: this core's copy, or loaded now from the
    /// node's libraries.
    fn function_named(&mut self, name: &str) -> Result<(Function, FunctionMeta), CmdError> {
        let node = node();
        let generation = node.libraries_generation.load(Ordering::SeqCst);
        if generation != self.libraries_generation {
            self.functions.clear();
            self.libraries_generation = generation;
        }
        if let Some(f) = self.functions.get(name) {
            return Ok(f.clone());
        }
        let libs = node.libraries();
        let lib = libs
            .library_of(name)
            .ok_or_else(|| WireError::new(ErrorCode::BadArguments, "Function not found"))?;
        let (_, loaded) = self.load_library(&lib.code)?;
        for (f, meta) in loaded {
            self.functions.insert(meta.name.clone(), (f, meta));
        }
        self.functions
            .get(name)
            .cloned()
            .ok_or_else(|| WireError::new(ErrorCode::BadArguments, "Function not found").into())
    }

    /// The compiled script and its SHA-1: from this core's copies, the
    /// node's cache (EVALSHA), or compiled now (EVAL, SCRIPT LOAD) and
    /// added to the cache.
    fn function(&mut self, s: &Script<'_>) -> Result<(String, Function, Option<bool>), CmdError> {
        let node = node();
        let generation = node.generation.load(Ordering::SeqCst);
        if generation != self.generation {
            self.compiled.clear();
            self.generation = generation;
        }
        let (sha, body) = match *s {
            Script::Body(b) => (sha1_hex(b), Some(b.to_vec())),
            Script::Sha(h) | Script::Function(h) => {
                (String::from_utf8_lossy(h).to_ascii_lowercase(), None)
            }
        };
        if let Some((f, no_writes)) = self.compiled.get(&sha) {
            return Ok((sha, f.clone(), *no_writes));
        }
        let body = match body {
            Some(b) => b,
            None => node
                .cache
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&sha)
                .cloned()
                .ok_or_else(|| WireError::of(ErrorCode::NoScript))?,
        };
        let (no_writes, line) =
            shebang(&body).map_err(|e| WireError::new(ErrorCode::BadArguments, e))?;
        // The shebang line compiles as an empty one: line numbers hold.
        let f = self
            .lua
            .load(&body[line..])
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                WireError::new(
                    ErrorCode::BadArguments,
                    format!(
                        "Error compiling script (new function): {}",
                        syntax_message(e)
                    ),
                )
            })?;
        let env: Table = self.sandbox.call(()).map_err(lua_failure)?;
        f.set_environment(env).map_err(lua_failure)?;
        node.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(sha.clone())
            .or_insert(body);
        self.compiled.insert(sha.clone(), (f.clone(), no_writes));
        Ok((sha, f, no_writes))
    }

    fn run(&mut self, tx: &mut Tx<'_>, c: &ScriptCmd<'_>) -> CmdResult {
        let (label, f, read_only, source) = match c.script {
            Script::Function(name) => {
                let name = String::from_utf8_lossy(name).into_owned();
                let (f, meta) = self.function_named(&name)?;
                if c.read_only && !meta.no_writes() {
                    return Err(WireError::new(
                        ErrorCode::BadArguments,
                        "Can not execute a script with write flag using *_ro command.",
                    )
                    .into());
                }
                (name, f, c.read_only || meta.no_writes(), "user_function")
            }
            _ => {
                let (sha, f, no_writes) = self.function(&c.script)?;
                // A script with a shebang declares whether it writes.
                if c.read_only && no_writes == Some(false) {
                    return Err(WireError::new(
                        ErrorCode::BadArguments,
                        "Can not execute a script with write flag using *_ro command.",
                    )
                    .into());
                }
                (
                    sha,
                    f,
                    c.read_only || no_writes == Some(true),
                    "user_script",
                )
            }
        };
        let lua = &self.lua;
        let strings = |words: &[&[u8]]| {
            lua.create_sequence_from(
                words
                    .iter()
                    .map(|w| lua.create_string(w))
                    .collect::<mlua::Result<Vec<_>>>()
                    .map_err(lua_failure)?,
            )
            .map_err(lua_failure)
        };
        let (keys, argv) = (strings(c.keys)?, strings(c.argv)?);
        let function = matches!(c.script, Script::Function(_));
        if !function {
            let env = f
                .environment()
                .ok_or_else(|| internal("a script without its environment"))?;
            env.raw_set("KEYS", keys.clone()).map_err(lua_failure)?;
            env.raw_set("ARGV", argv.clone()).map_err(lua_failure)?;
        }
        let call = RefCell::new(Call {
            tx,
            read_only,
            keyed: !c.keys.is_empty(),
            blocked: false,
        });
        let node = node();
        KILLED.set(false);
        STARTED_AT_KILLS.set(Some(node.kills.load(Ordering::SeqCst)));
        node.running.fetch_add(1, Ordering::SeqCst);
        node.core_running(true);
        if function {
            let mut words = vec![b"FCALL".to_vec(), label.clone().into_bytes()];
            words.push(c.keys.len().to_string().into_bytes());
            words.extend(c.keys.iter().chain(c.argv).map(|w| w.to_vec()));
            node.function_started(&label, words);
        }
        let outcome = lua.scope(|scope| {
            // Native functions, so a script's `return redis.call(...)`
            // keeps its frame (a Lua tail call would drop the line).
            for (name, raise) in [("call", true), ("pcall", false)] {
                let call = &call;
                let f = scope.create_function(move |lua, args: mlua::MultiValue| {
                    redis_call(lua, &mut call.borrow_mut(), args, raise)
                })?;
                self.redis.raw_set(name, f)?;
            }
            let (ok, v): (bool, mlua::Value) = match function {
                true => self.protected_call.call((f.clone(), keys, argv))?,
                false => self.protected.call(f.clone())?,
            };
            if ok {
                return Ok(Ok(reply(&v, 0)));
            }
            // The handler's `{err=..., line=...}`.
            Ok(Err(match &v {
                mlua::Value::Table(t) => (
                    t.raw_get::<String>("err").unwrap_or_default(),
                    t.raw_get::<i64>("line").unwrap_or(0),
                ),
                other => (format!("ERR {other:?}"), 0),
            }))
        });
        node.running.fetch_sub(1, Ordering::SeqCst);
        node.core_running(false);
        if function {
            node.function_ended();
        }
        STARTED_AT_KILLS.set(None);
        let _ = self.redis.raw_set("call", mlua::Value::Nil);
        let _ = self.redis.raw_set("pcall", mlua::Value::Nil);
        if call.borrow().blocked {
            return Err(CmdError::Store(shard::Error::WouldBlock));
        }
        if KILLED.get() {
            return Err(WireError::new(
                ErrorCode::BadArguments,
                "Script killed by user with SCRIPT KILL...",
            )
            .into());
        }
        match outcome.map_err(lua_failure)? {
            Ok(v) => Ok(v),
            // A failed script's error names it and the line it stopped at;
            // it answers as a value, so the writes before it commit.
            Err((text, line)) => Ok(Value::Error(WireError::new(
                ErrorCode::Script,
                format!("{text} script: {label}, on @{source}:{line}."),
            ))),
        }
    }
}
/// A compile error's text (`user_script:1: ...`).
fn syntax_message(e: mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message,
        other => other.to_string(),
    }
}
