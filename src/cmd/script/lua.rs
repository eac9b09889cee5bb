//! The Lua side of scripts: the prelude that builds Redis's environment
//! (`redis.*`, the sandbox, libraries' `redis.register_function`), and the
//! conversions between Lua values and replies (`redis.call`, a script's
//! return value, cjson; cmsgpack, bit and struct are `libs.rs`).

use mlua::{Lua, Table};

use crate::cmd::{CmdError, Value};
use crate::codes::{ErrorCode, WireError};
use crate::proto::table::{self, flag};
use crate::shard::{self, tx::Tx};
use crate::slot::key_slot;

/// How deep a returned table may nest (a table holding itself would
/// never end).
const MAX_DEPTH: usize = 1000;

pub(super) fn internal(m: &str) -> WireError {
    WireError::new(ErrorCode::Internal, m)
}

/// What `redis.call` needs while a script runs.
pub(super) struct Call<'t, 'p> {
    pub tx: &'t mut Tx<'p>,
    pub read_only: bool,
    /// The script declared keys: only then may it touch keys (of their
    /// slot); one without keys runs in whatever slot its core had.
    pub keyed: bool,
    /// A read needed the disk: the whole script runs again once the keys
    /// are in the cache (whatever the script did with the error).
    pub blocked: bool,
}

/// Redis's environment, built once per interpreter: `redis.*`, the
/// read-only sandbox of scripts, and the loading of libraries.
pub(super) const PRELUDE: &str = r#"
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
cmsgpack = {pack = runtime.cmsgpack_pack, unpack = runtime.cmsgpack_unpack,
            unpack_one = runtime.cmsgpack_unpack_one, unpack_limit = runtime.cmsgpack_unpack_limit}
struct = {pack = runtime.struct_pack, unpack = runtime.struct_unpack, size = runtime.struct_size}
bit = {}
for _, name in ipairs({'tobit', 'bnot', 'bswap', 'band', 'bor', 'bxor', 'lshift', 'rshift',
                       'arshift', 'rol', 'ror', 'tohex'}) do
    bit[name] = runtime['bit_' .. name]
end
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
local protected_call = function(f, keys, args)
    return xpcall(function() return f(keys, args) end, handler)
end
local missing = function(t, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local readonly = function() error('Attempt to modify a readonly table', 2) end
-- Libraries (FUNCTION LOAD): their code runs with `redis.register_function`,
-- `redis.log` and the LOG_* levels only; the functions they register run
-- with the script globals.
local registered, loading = nil, false
local flag_names = {['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
                    ['no-cluster'] = true, ['allow-cross-slot-keys'] = true}
local fail = function(m) error({err = 'ERR ' .. m}, 0) end
local register = function(...)
    local n = select('#', ...)
    local name, callback, flags, description
    if n == 1 then
        local t = ...
        if type(t) ~= 'table' then
            fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
        end
        for k, v in pairs(t) do
            if k == 'function_name' then
                if type(v) ~= 'string' then fail('function_name argument given to redis.register_function must be a string') end
                name = v
            elseif k == 'callback' then
                if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
                callback = v
            elseif k == 'flags' then
                if type(v) ~= 'table' then fail('flags argument to redis.register_function must be a table representing function flags') end
                flags = v
            elseif k == 'description' then
                if type(v) ~= 'string' then fail('description argument given to redis.register_function must be a string') end
                description = v
            else
                fail('unknown argument given to redis.register_function')
            end
        end
        if name == nil then fail('redis.register_function must get a function name argument') end
        if callback == nil then fail('redis.register_function must get a callback argument') end
    elseif n == 2 then
        name, callback = ...
        if type(name) ~= 'string' then fail('first argument to redis.register_function must be a string') end
        if type(callback) ~= 'function' then fail('second argument to redis.register_function must be a function') end
    else
        fail('wrong number of arguments to redis.register_function')
    end
    local given = {}
    for _, f in pairs(flags or {}) do
        if type(f) ~= 'string' or not flag_names[f] then fail('unknown flag given') end
        given[#given + 1] = f
    end
    if not string.find(name, '^[%w_]+$') then
        fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
    end
    if registered.names[name] then fail('Function already exists in the library') end
    registered.names[name] = true
    registered[#registered + 1] = {name = name, callback = callback, flags = given, description = description}
end
local load_redis = setmetatable({register_function = register, log = redis.log,
    LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3},
    {__index = missing, __newindex = readonly, __metatable = false})
local load_globals = {redis = load_redis}
local library_env = function()
    local env = {}
    setmetatable(env, {
        __index = function(t, k)
            local v
            if loading then v = load_globals[k] else v = globals[k] end
            if v == nil then
                error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
            end
            return v
        end,
        __newindex = readonly,
        __metatable = false,
    })
    return env
end
local begin_load = function() registered, loading = {names = {}}, true end
local end_load = function()
    local r = registered
    registered, loading = nil, false
    r.names = nil
    return r
end
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
return protected, sandbox, redis, protected_call, library_env, begin_load, end_load
"#;

pub(super) fn lua_failure(e: mlua::Error) -> CmdError {
    internal(&format!("Lua: {e}")).into()
}

/// The error handler: an error raised in a script becomes an `{err=...}`
/// table carrying the line of the script it came from.
pub(super) fn error_object(lua: &Lua, e: mlua::Value) -> mlua::Result<Table> {
    let (chunk, line) = (1..64)
        .filter_map(|level| lua.inspect_stack(level))
        .find_map(|d| match d.source().source.as_deref() {
            Some(s @ ("@user_script" | "@user_function")) => {
                Some((s[1..].to_string(), d.curr_line()))
            }
            _ => None,
        })
        .unwrap_or_else(|| ("user_script".into(), 0));
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
                    let lib = e.chain().find_map(|c| c.downcast_ref::<LibFailed>());
                    match e.chain().find_map(|c| c.downcast_ref::<CallFailed>()) {
                        // A failed command's error keeps its own code word.
                        Some(CallFailed(text)) => text.clone(),
                        // A library's error names the script's line, as
                        // luaL_error does.
                        None if lib.is_some() => {
                            format!("ERR {chunk}:{line}: {}", lib.map_or("", |l| &l.0))
                        }
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
pub(super) const JSON_NULL: mlua::Value =
    mlua::Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));

/// `cjson.encode`: numbers without a fraction as integers, sequences
/// (keys 1..n) as arrays, other tables as objects (an empty one `{}`).
pub(super) fn to_json(v: &mlua::Value, depth: usize) -> mlua::Result<serde_json::Value> {
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
pub(super) fn from_json(lua: &Lua, j: &serde_json::Value) -> mlua::Result<mlua::Value> {
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

/// The error a library function (`libs.rs`) raises: its message, which
/// the script's chunk name and line precede.
#[derive(Debug)]
pub(super) struct LibFailed(pub String);

impl std::fmt::Display for LibFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LibFailed {}

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
pub(super) fn redis_call(
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
        .any(|k| !call.keyed || !call.tx.serves(k, key_slot(k)))
    {
        return Err(err(
            "Script attempted to access a non local key in a cluster node",
        ));
    }
    let parsed = crate::proto::args::parse(row, args)?;
    let sp = call.tx.savepoint();
    match crate::cmd::apply(
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
pub(super) fn reply(v: &mlua::Value, depth: usize) -> Value {
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
