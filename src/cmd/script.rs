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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use ahash::AHashMap;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, VmState};
use sha1::{Digest, Sha1};

use super::{CmdError, CmdResult, Value};
use crate::codes::{ErrorCode, WireError};
use crate::proto::args::script::{Script, ScriptCmd};
use crate::proto::table::{self, flag};
use crate::shard::{self, tx::Tx};
use crate::slot::key_slot;

/// Every script the node has seen, by SHA-1 (lower-case hex).
static CACHE: RwLock<Option<AHashMap<String, Vec<u8>>>> = RwLock::new(None);
/// Bumped by SCRIPT FLUSH: a core whose copy is older drops its scripts.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Bumped by SCRIPT KILL: a script that started before stops.
static KILLS: AtomicU64 = AtomicU64::new(0);
/// Scripts running now, on every core.
static RUNNING: AtomicU64 = AtomicU64::new(0);

/// VM instructions between two checks for SCRIPT KILL.
const KILL_CHECK_INSTRUCTIONS: u32 = 100_000;
/// How deep a returned table may nest (a table holding itself would
/// never end).
const MAX_DEPTH: usize = 1000;

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The SCRIPT KILL count when this core's running script started.
    static STARTED_AT_KILLS: Cell<Option<u64>> = const { Cell::new(None) };
    static KILLED: Cell<bool> = const { Cell::new(false) };
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
    with_engine(|e| e.function(&Script::Body(body)).map(|(sha, _)| sha))
        .map_err(CmdError::into_wire)
}

/// SCRIPT EXISTS: whether each SHA-1 is in the node's cache.
pub fn exists(shas: &[&[u8]]) -> Vec<bool> {
    let cache = CACHE.read().unwrap_or_else(|p| p.into_inner());
    shas.iter()
        .map(|s| {
            let s = String::from_utf8_lossy(s).to_ascii_lowercase();
            cache.as_ref().is_some_and(|c| c.contains_key(&s))
        })
        .collect()
}

/// SCRIPT FLUSH: forgets every script, on every core.
pub fn flush() {
    *CACHE.write().unwrap_or_else(|p| p.into_inner()) = None;
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// SCRIPT KILL: stops the scripts running now (at their next check,
/// within 100,000 VM instructions); false when none runs. A killed
/// script's writes are dropped with its transaction.
pub fn kill() -> bool {
    if RUNNING.load(Ordering::SeqCst) == 0 {
        return false;
    }
    KILLS.fetch_add(1, Ordering::SeqCst);
    true
}

/// Runs EVAL and its forms inside `tx`.
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

fn internal(m: &str) -> WireError {
    WireError::new(ErrorCode::Internal, m)
}

/// What `redis.call` needs while a script runs.
struct Call<'t, 'p> {
    tx: &'t mut Tx<'p>,
    read_only: bool,
    /// The script declared keys: only then may it touch keys (of their
    /// slot); one without keys runs in whatever slot its core had.
    keyed: bool,
    /// A read needed the disk: the whole script runs again once the keys
    /// are in the cache (whatever the script did with the error).
    blocked: bool,
}

/// One core's interpreter and its compiled scripts.
struct Engine {
    lua: Lua,
    compiled: AHashMap<String, Function>,
    generation: u64,
    /// The `redis` table: `call` and `pcall` are set for each run.
    redis: Table,
    /// Wraps a script in `xpcall` with the error handler.
    protected: Function,
    /// Builds a script's read-only environment.
    sandbox: Function,
}

const PRELUDE: &str = r#"
local runtime, handler = ...
local xpcall, error, type, setmetatable, tostring =
      xpcall, error, type, setmetatable, tostring
redis = {}
redis.error_reply = function(e)
    if type(e) ~= 'string' then error('wrong number or type of arguments', 2) end
    return {err = e}
end
redis.status_reply = function(s)
    if type(s) ~= 'string' then error('wrong number or type of arguments', 2) end
    return {ok = s}
end
redis.sha1hex = function(s) return runtime.sha1hex(s) end
cjson = {encode = runtime.cjson_encode, decode = runtime.cjson_decode, null = runtime.null}
redis.log = function(level, ...) return runtime.log(level, ...) end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.setresp = function(v)
    if v ~= 2 then error('RESP3 replies inside scripts are not supported by Tessera', 2) end
end
for _, name in ipairs({'dofile', 'loadfile', 'load', 'loadstring', 'module', 'require',
                       'getfenv', 'setfenv', 'newproxy', 'gcinfo', 'print'}) do
    _G[name] = nil
end
local globals = _G
local protected = function(f) return xpcall(f, handler) end
-- A script's globals: its KEYS and ARGV, and the read-only base.
local sandbox = function()
    local env = {}
    setmetatable(env, {
        __index = function(t, k)
            if k == '_G' then return t end
            local v = globals[k]
            if v == nil then
                error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
            end
            return v
        end,
        __newindex = function() error('Attempt to modify a readonly table', 2) end,
        __metatable = false,
    })
    return env
end
return protected, sandbox, redis
"#;

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
        let handler = lua.create_function(|lua, e: mlua::Value| error_object(lua, e))?;
        let (protected, sandbox, redis): (Function, Function, Table) = lua
            .load(PRELUDE)
            .set_name("=tessera")
            .call((runtime, handler))?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(KILL_CHECK_INSTRUCTIONS),
            |_, _| {
                let since = STARTED_AT_KILLS.get();
                if since.is_some_and(|k| k != KILLS.load(Ordering::SeqCst)) {
                    KILLED.set(true);
                    return Err(mlua::Error::runtime("killed"));
                }
                Ok(VmState::Continue)
            },
        );
        Ok(Engine {
            lua,
            compiled: AHashMap::new(),
            generation: GENERATION.load(Ordering::SeqCst),
            redis,
            protected,
            sandbox,
        })
    }

    /// The compiled script and its SHA-1: from this core's copies, the
    /// node's cache (EVALSHA), or compiled now (EVAL, SCRIPT LOAD) and
    /// added to the cache.
    fn function(&mut self, s: &Script<'_>) -> Result<(String, Function), CmdError> {
        let generation = GENERATION.load(Ordering::SeqCst);
        if generation != self.generation {
            self.compiled.clear();
            self.generation = generation;
        }
        let (sha, body) = match *s {
            Script::Body(b) => (sha1_hex(b), Some(b.to_vec())),
            Script::Sha(h) => (String::from_utf8_lossy(h).to_ascii_lowercase(), None),
        };
        if let Some(f) = self.compiled.get(&sha) {
            return Ok((sha, f.clone()));
        }
        let body = match body {
            Some(b) => b,
            None => CACHE
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .and_then(|c| c.get(&sha).cloned())
                .ok_or_else(|| WireError::of(ErrorCode::NoScript))?,
        };
        let f = self
            .lua
            .load(body.as_slice())
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                let m = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                WireError::new(
                    ErrorCode::BadArguments,
                    format!("Error compiling script (new function): {m}"),
                )
            })?;
        let env: Table = self.sandbox.call(()).map_err(lua_failure)?;
        f.set_environment(env).map_err(lua_failure)?;
        CACHE
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(AHashMap::new)
            .entry(sha.clone())
            .or_insert(body);
        self.compiled.insert(sha.clone(), f.clone());
        Ok((sha, f))
    }

    fn run(&mut self, tx: &mut Tx<'_>, c: &ScriptCmd<'_>) -> CmdResult {
        let (sha, f) = self.function(&c.script)?;
        let lua = &self.lua;
        let env = f
            .environment()
            .ok_or_else(|| internal("a script without its environment"))?;
        let strings = |words: &[&[u8]]| {
            lua.create_sequence_from(
                words
                    .iter()
                    .map(|w| lua.create_string(w))
                    .collect::<mlua::Result<Vec<_>>>()?,
            )
        };
        env.raw_set("KEYS", strings(c.keys).map_err(lua_failure)?)
            .map_err(lua_failure)?;
        env.raw_set("ARGV", strings(c.argv).map_err(lua_failure)?)
            .map_err(lua_failure)?;
        let call = RefCell::new(Call {
            tx,
            read_only: c.read_only,
            keyed: !c.keys.is_empty(),
            blocked: false,
        });
        KILLED.set(false);
        STARTED_AT_KILLS.set(Some(KILLS.load(Ordering::SeqCst)));
        RUNNING.fetch_add(1, Ordering::SeqCst);
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
            let (ok, v): (bool, mlua::Value) = self.protected.call(f.clone())?;
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
        RUNNING.fetch_sub(1, Ordering::SeqCst);
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
                format!("{text} script: {sha}, on @user_script:{line}."),
            ))),
        }
    }
}

fn lua_failure(e: mlua::Error) -> CmdError {
    internal(&format!("Lua: {e}")).into()
}

/// The error handler: an error raised in a script becomes an `{err=...}`
/// table carrying the line of the script it came from.
fn error_object(lua: &Lua, e: mlua::Value) -> mlua::Result<Table> {
    let line = (1..64)
        .filter_map(|level| lua.inspect_stack(level))
        .find(|d| d.source().source.as_deref() == Some("@user_script"))
        .map_or(0, |d| d.curr_line());
    let t = match e {
        mlua::Value::Table(t) if t.raw_get::<mlua::Value>("err")?.is_string() => t,
        mlua::Value::String(s) => {
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {}", s.to_string_lossy()))?;
            t
        }
        other => {
            let t = lua.create_table()?;
            let text = match other {
                mlua::Value::Error(e) => {
                    match e.chain().find_map(|c| c.downcast_ref::<CallFailed>()) {
                        // A failed command's error keeps its own code word.
                        Some(CallFailed(text)) => text.clone(),
                        None => format!("ERR {e}"),
                    }
                }
                o => format!("ERR {o:?}"),
            };
            t.raw_set("err", text)?;
            t
        }
    };
    t.raw_set("line", line)?;
    Ok(t)
}

/// `cjson.null`: JSON's null in a script (a NULL light userdata, as in
/// Redis's cjson).
const JSON_NULL: mlua::Value =
    mlua::Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));

/// `cjson.encode`: numbers without a fraction as integers, sequences
/// (keys 1..n) as arrays, other tables as objects (an empty one `{}`).
fn to_json(v: &mlua::Value, depth: usize) -> mlua::Result<serde_json::Value> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(mlua::Error::runtime("Cannot serialise, excessive nesting"));
    }
    Ok(match v {
        mlua::Value::Nil => J::Null,
        mlua::Value::LightUserData(p) if p.0.is_null() => J::Null,
        mlua::Value::Boolean(b) => J::Bool(*b),
        mlua::Value::Integer(n) => J::from(*n),
        mlua::Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => J::from(*n as i64),
        mlua::Value::Number(n) => {
            serde_json::Number::from_f64(*n)
                .map(J::Number)
                .ok_or_else(|| {
                    mlua::Error::runtime("Cannot serialise number: must not be NaN or Inf")
                })?
        }
        mlua::Value::String(s) => J::String(s.to_string_lossy()),
        mlua::Value::Table(t) => {
            let len = t.raw_len();
            let mut entries = Vec::new();
            for pair in t.clone().pairs::<mlua::Value, mlua::Value>() {
                entries.push(pair?);
            }
            if len > 0 && entries.len() == len {
                let mut items = Vec::with_capacity(len);
                for i in 1..=len {
                    items.push(to_json(&t.raw_get(i)?, depth + 1)?);
                }
                J::Array(items)
            } else {
                let mut object = serde_json::Map::new();
                for (k, v) in entries {
                    let key = match k {
                        mlua::Value::String(s) => s.to_string_lossy(),
                        mlua::Value::Integer(n) => n.to_string(),
                        mlua::Value::Number(n) => n.to_string(),
                        _ => {
                            return Err(mlua::Error::runtime(
                                "Cannot serialise table: table key must be a number or string",
                            ))
                        }
                    };
                    object.insert(key, to_json(&v, depth + 1)?);
                }
                J::Object(object)
            }
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    })
}

/// `cjson.decode`: null to `cjson.null`, arrays to sequences.
fn from_json(lua: &Lua, j: &serde_json::Value) -> mlua::Result<mlua::Value> {
    use serde_json::Value as J;
    Ok(match j {
        J::Null => JSON_NULL,
        J::Bool(b) => mlua::Value::Boolean(*b),
        J::Number(n) => mlua::Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => mlua::Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, item)?)?;
            }
            mlua::Value::Table(t)
        }
        J::Object(fields) => {
            let t = lua.create_table_with_capacity(0, fields.len())?;
            for (k, v) in fields {
                t.raw_set(k.as_str(), from_json(lua, v)?)?;
            }
            mlua::Value::Table(t)
        }
    })
}

/// The error `redis.call` raises: the failed command's error text.
#[derive(Debug)]
struct CallFailed(String);

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallFailed {}

/// `redis.call` (`raise`) and `redis.pcall`: one data command in the
/// script's transaction; its reply, or its error raised (`call`) or
/// returned as `{err=...}` (`pcall`).
fn redis_call(
    lua: &Lua,
    call: &mut Call<'_, '_>,
    args: mlua::MultiValue,
    raise: bool,
) -> mlua::Result<mlua::Value> {
    let fail = |m: String| -> mlua::Result<mlua::Value> {
        if raise {
            return Err(mlua::Error::external(CallFailed(m)));
        }
        let t = lua.create_table()?;
        t.raw_set("err", m)?;
        Ok(mlua::Value::Table(t))
    };
    if args.is_empty() {
        return fail("ERR Please specify at least one argument for this redis lib call".into());
    }
    let mut words: Vec<Vec<u8>> = Vec::with_capacity(args.len());
    for a in args {
        match a {
            mlua::Value::String(s) => words.push(s.as_bytes().to_vec()),
            mlua::Value::Integer(_) | mlua::Value::Number(_) => match lua.coerce_string(a)? {
                Some(s) => words.push(s.as_bytes().to_vec()),
                None => {
                    return fail(
                        "ERR Lua redis lib command arguments must be strings or integers".into(),
                    )
                }
            },
            _ => {
                return fail(
                    "ERR Lua redis lib command arguments must be strings or integers".into(),
                )
            }
        }
    }
    let args: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
    match run_one(call, &args) {
        Ok(v) => to_lua(lua, &v),
        Err(e) => fail(e.resp_text()),
    }
}

/// Runs one command of a script, with Redis's checks and texts.
fn run_one(call: &mut Call<'_, '_>, args: &[&[u8]]) -> Result<Value, WireError> {
    let err = |m: &str| WireError::new(ErrorCode::BadArguments, m);
    let row = match table::lookup(args) {
        Ok(row) => row,
        Err(e) if e.code == ErrorCode::UnknownCommand => {
            return Err(err("Unknown Redis command called from script"))
        }
        Err(_) => {
            return Err(err(
                "Wrong number of args calling Redis command from script",
            ))
        }
    };
    if row.has(flag::NOSCRIPT) {
        return Err(err("This Redis command is not allowed from script"));
    }
    if row.name == "ping" {
        return Ok(match args {
            [_, m] => Value::Bytes(m.to_vec()),
            _ => Value::Status("PONG".into()),
        });
    }
    if !row.has(flag::STORED) {
        return Err(err(&format!(
            "'{}' cannot be called from a script on Tessera: scripts run data commands (docs/redis-compat.md)",
            row.name
        )));
    }
    if call.read_only && row.has(flag::WRITE) {
        return Err(err(
            "Write commands are not allowed from read-only scripts.",
        ));
    }
    let keys = row.keys_of(args)?;
    if keys
        .iter()
        .any(|k| !call.keyed || key_slot(k) != call.tx.slot)
    {
        return Err(err(
            "Script attempted to access a non local key in a cluster node",
        ));
    }
    let parsed = crate::proto::args::parse(row, args)?;
    let sp = call.tx.savepoint();
    match super::apply(
        call.tx,
        &parsed,
        keys.first().copied().unwrap_or_default(),
        None,
    ) {
        Ok((_, v)) => Ok(v),
        Err(CmdError::Store(shard::Error::WouldBlock)) => {
            call.blocked = true;
            Err(internal("the script waits for the disk"))
        }
        Err(e) => {
            call.tx.undo_to(sp);
            Err(e.into_wire())
        }
    }
}

/// A command's reply as Redis hands it to a script (RESP2's rules):
/// integers to numbers, bulk strings to strings, nil to false, arrays to
/// tables, status and error replies to `{ok=...}` and `{err=...}`.
fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<mlua::Value> {
    Ok(match v {
        Value::Nil => mlua::Value::Boolean(false),
        Value::Int(n) => mlua::Value::Number(*n as f64),
        Value::Bytes(b) => mlua::Value::String(lua.create_string(b)?),
        Value::Double(d) => {
            mlua::Value::String(lua.create_string(crate::shard::hash::format_float(*d))?)
        }
        Value::Status(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", s.as_str())?;
            mlua::Value::Table(t)
        }
        Value::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", e.resp_text())?;
            mlua::Value::Table(t)
        }
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            mlua::Value::Table(t)
        }
        Value::Map(pairs) | Value::Pairs(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (a, b)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, to_lua(lua, a)?)?;
                t.raw_set(2 * i + 2, to_lua(lua, b)?)?;
            }
            mlua::Value::Table(t)
        }
    })
}

/// A script's return value as Redis answers it: numbers to integers
/// (truncated), strings to bulk strings, true to 1, false and nil to nil,
/// `{err=...}` and `{ok=...}` to error and status replies, other tables to
/// arrays (up to the first nil).
fn reply(v: &mlua::Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Error(WireError::new(
            ErrorCode::BadArguments,
            "reached lua stack limit",
        ));
    }
    match v {
        mlua::Value::Boolean(true) => Value::Int(1),
        mlua::Value::Integer(n) => Value::Int(*n),
        mlua::Value::Number(n) => Value::Int(*n as i64),
        mlua::Value::String(s) => Value::Bytes(s.as_bytes().to_vec()),
        mlua::Value::Table(t) => {
            if let Ok(mlua::Value::String(e)) = t.raw_get::<mlua::Value>("err") {
                return Value::Error(WireError::new(ErrorCode::Script, e.to_string_lossy()));
            }
            if let Ok(mlua::Value::String(s)) = t.raw_get::<mlua::Value>("ok") {
                return Value::Status(s.to_string_lossy());
            }
            let mut items = Vec::new();
            for i in 1.. {
                match t.raw_get::<mlua::Value>(i) {
                    Ok(mlua::Value::Nil) | Err(_) => break,
                    Ok(item) => items.push(reply(&item, depth + 1)),
                }
            }
            Value::Array(items)
        }
        _ => Value::Nil,
    }
}
