//! FUNCTION: the node's function libraries (Redis 7.0's functions; FCALL
//! runs them, `script`).
//!
//! A library is Lua code starting with `#!lua name=<library>`. FUNCTION
//! LOAD runs it once on the connection's core to learn what it registers
//! (and refuse it when it fails, with Redis's errors); every core runs it
//! again in its own interpreter the first time one of its functions is
//! called there. The libraries persist in the file `functions` of the data
//! directory, which holds exactly FUNCTION DUMP's payload (Redis's RDB
//! serialization, versioned and checksummed); it is written atomically
//! (temporary file, fsync, rename, fsync of the directory) before a change
//! is answered, and read when the node starts.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use super::script::node::{bad, metadata, node, Libraries, Library, Scripting};
use crate::codes::{ErrorCode, WireError};
use crate::proto::dump;
use crate::proto::value::{glob_match, Value};

/// The file of the data directory holding the libraries.
pub const FILE_NAME: &str = "functions";

/// The state of a node of `cores` cores whose libraries persist in
/// `dir/functions`,
/// loaded from that file when it exists. A file that does not load
/// (damaged, or code that no longer loads) is an error: the node does
/// not start without libraries it acknowledged.
pub fn open(dir: &std::path::Path, cores: usize) -> Result<Scripting, String> {
    let path = dir.join(FILE_NAME);
    let mut s = Scripting::with_cores(cores);
    match std::fs::read(&path) {
        Ok(payload) => {
            let mut libs = Libraries::default();
            libraries_in(&payload)
                .and_then(|restored| merge(&mut libs, restored, Policy::Append))
                .map_err(|e| format!("{}: {}", path.display(), e.message))?;
            s.libraries = RwLock::new(Arc::new(libs));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    s.file = Some(path);
    Ok(s)
}

/// Applies `change` to a copy of the libraries, persists the result,
/// then makes it the node's; nothing changes when either step fails.
fn change<T>(
    node: &Scripting,
    apply: impl FnOnce(&mut Libraries) -> Result<T, WireError>,
) -> Result<T, WireError> {
    let _one = node.change.lock().unwrap_or_else(|p| p.into_inner());
    let mut libs = (*node.libraries()).clone();
    let answer = apply(&mut libs)?;
    if let Some(path) = &node.file {
        persist(path, &libs.dump()).map_err(|e| {
            WireError::new(
                ErrorCode::Internal,
                format!("cannot save the functions in {}: {e}", path.display()),
            )
        })?;
    }
    *node.libraries.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(libs);
    node.libraries_generation.fetch_add(1, Ordering::SeqCst);
    Ok(answer)
}

/// Whether `name` is a function of this node's libraries flagged
/// `no-writes`: FCALL of it reads only, so a replica runs it (as Redis
/// does) and the function's writes are refused inside it.
pub fn reads_only(name: &[u8]) -> bool {
    let name = String::from_utf8_lossy(name);
    node()
        .libraries()
        .library_of(&name)
        .and_then(|l| l.functions.iter().find(|f| f.name == name))
        .is_some_and(|f| f.no_writes())
}

/// Whether a scripting command the table flags as a write reads only by
/// what its function or script declares (`no-writes`): FCALL of such a
/// function, EVAL or EVALSHA of a script whose shebang says so.
/// `name` is the command's row name.
pub fn declared_read_only(name: &str, args: &[&[u8]]) -> bool {
    match (name, args.get(1)) {
        ("fcall", Some(f)) => reads_only(f),
        ("eval", Some(body)) => super::script::reads_only(body, false),
        ("evalsha", Some(sha)) => super::script::reads_only(sha, true),
        _ => false,
    }
}

/// Writes a FUNCTION DUMP payload as the libraries' file of the data (or
/// backup) directory `dir`.
pub fn save(dir: &std::path::Path, payload: &[u8]) -> std::io::Result<()> {
    persist(&dir.join(FILE_NAME), payload)
}

/// Writes `bytes` to `path` atomically: a temporary file, fsync, rename,
/// fsync of the directory.
fn persist(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// What FUNCTION RESTORE does with the libraries there are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Flush,
    Append,
    Replace,
}

/// The libraries of a FUNCTION DUMP payload, each loaded (on this thread's
/// interpreter) to learn what it registers; Redis's errors.
fn libraries_in(payload: &[u8]) -> Result<Vec<Library>, WireError> {
    let codes = dump::decode_functions(payload).map_err(|e| match e {
        dump::DumpError::VersionOrChecksum => bad(e.to_string()),
        _ => bad("given type is not a function"),
    })?;
    codes
        .iter()
        .map(|code| super::script::load_library(code))
        .collect()
}

/// `libs` with `restored` added by `policy`.
fn merge(libs: &mut Libraries, restored: Vec<Library>, policy: Policy) -> Result<(), WireError> {
    let mut out = match policy {
        Policy::Flush => Libraries::default(),
        _ => libs.clone(),
    };
    for lib in restored {
        out.add(lib, policy == Policy::Replace)
            .map_err(|c| c.error(false))?;
    }
    *libs = out;
    Ok(())
}

/// Applies `apply` to the node's libraries and persists them (`change`),
/// off the reactor: the file is synced before the answer.
async fn changed<T: Send + 'static>(
    node: Arc<Scripting>,
    apply: impl FnOnce(&mut Libraries) -> Result<T, WireError> + Send + 'static,
) -> Result<T, WireError> {
    glommio::executor()
        .spawn_blocking(move || change(&node, apply))
        .await
}

/// FUNCTION and its subcommands, with Redis 7.0's replies and errors.
/// Libraries are loaded (to check them) on this core's interpreter; the
/// file is written off the reactor.
pub async fn command(args: &[&[u8]]) -> Result<Value, WireError> {
    let node = node();
    let sub = args
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let rest = &args[2..];
    match sub.as_slice() {
        b"load" => {
            let (replace, code) = match rest {
                [code] => (false, code),
                [r, code] if r.eq_ignore_ascii_case(b"replace") => (true, code),
                [other, ..] => {
                    return Err(bad(format!(
                        "Unknown option given: {}",
                        String::from_utf8_lossy(other)
                    )))
                }
                [] => return Err(bad("Function code is missing")),
            };
            // A library that exists is refused before its code runs.
            let (name, _) = metadata(code)?;
            if !replace && node.libraries().libs.contains_key(&name) {
                return Err(bad(format!("Library '{name}' already exists")));
            }
            let lib = super::script::load_library(code)?;
            changed(node, move |libs| {
                libs.add(lib, replace).map_err(|c| c.error(true))
            })
            .await?;
            Ok(Value::bytes(name))
        }
        b"delete" => {
            let name = String::from_utf8_lossy(rest[0]).into_owned();
            changed(node, move |libs| match libs.remove(&name) {
                true => Ok(Value::ok()),
                false => Err(bad("Library not found")),
            })
            .await
        }
        b"flush" => {
            match rest {
                [] => {}
                [m] if m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync") => {}
                _ => return Err(bad("FUNCTION FLUSH only supports SYNC|ASYNC option")),
            }
            changed(node, |libs| {
                *libs = Libraries::default();
                Ok(Value::ok())
            })
            .await
        }
        b"dump" => Ok(Value::Bytes(node.libraries().dump())),
        b"restore" => {
            let policy = match &rest[1..] {
                [] => Policy::Append,
                [p] if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
                [p] if p.eq_ignore_ascii_case(b"append") => Policy::Append,
                [p] if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
                [_] => return Err(bad(
                    "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                )),
                _ => return Err(bad("Wrong number of arguments for function restore")),
            };
            let restored = libraries_in(rest[0])?;
            changed(node, move |libs| {
                merge(libs, restored, policy).map(|()| Value::ok())
            })
            .await
        }
        b"list" => list(&node.libraries(), rest),
        b"stats" => Ok(stats(&node)),
        b"kill" if super::script::kill() => Ok(Value::ok()),
        b"kill" => Err(WireError::new(
            ErrorCode::NotBusy,
            "No scripts in execution right now.",
        )),
        _ => Err(bad(format!(
            "unknown subcommand '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(args.get(1).copied().unwrap_or_default())
        ))),
    }
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]: the libraries in name
/// order, each a map (RESP2: a flat array) as Redis 7.0 answers.
fn list(libs: &Libraries, args: &[&[u8]]) -> Result<Value, WireError> {
    let mut pattern: Option<&[u8]> = None;
    let mut code = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if a.eq_ignore_ascii_case(b"withcode") && !code {
            code = true;
        } else if a.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            i += 1;
            pattern = Some(
                args.get(i)
                    .copied()
                    .ok_or_else(|| bad("library name argument was not given"))?,
            );
        } else {
            return Err(bad(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let s = |t: &str| Value::bytes(t);
    let items = libs
        .libs
        .values()
        .filter(|l| pattern.is_none_or(|p| glob_match(p, l.name.as_bytes())))
        .map(|l| {
            let functions = l
                .functions
                .iter()
                .map(|f| {
                    Value::Map(vec![
                        (s("name"), s(&f.name)),
                        (
                            s("description"),
                            f.description.as_deref().map_or(Value::Nil, s),
                        ),
                        (
                            s("flags"),
                            Value::Array(
                                f.flags.iter().map(|x| Value::Status(x.clone())).collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (s("library_name"), s(&l.name)),
                (s("engine"), s("LUA")),
                (s("functions"), Value::Array(functions)),
            ];
            if code {
                fields.push((s("library_code"), Value::Bytes(l.code.clone())));
            }
            Value::Map(fields)
        })
        .collect();
    Ok(Value::Array(items))
}

/// FUNCTION STATS: the function running now, and the counts.
fn stats(node: &Scripting) -> Value {
    let s = |t: &str| Value::bytes(t);
    let running = match &*node
        .running_function
        .lock()
        .unwrap_or_else(|p| p.into_inner())
    {
        None => Value::Nil,
        Some(r) => Value::Map(vec![
            (s("name"), s(&r.name)),
            (
                s("command"),
                Value::Array(r.command.iter().map(|w| Value::Bytes(w.clone())).collect()),
            ),
            (
                s("duration_ms"),
                Value::Int(r.since.elapsed().as_millis() as i64),
            ),
        ]),
    };
    let libs = node.libraries();
    Value::Map(vec![
        (s("running_script"), running),
        (
            s("engines"),
            Value::Map(vec![(
                s("LUA"),
                Value::Map(vec![
                    (s("libraries_count"), Value::Int(libs.libs.len() as i64)),
                    (s("functions_count"), Value::Int(libs.functions() as i64)),
                ]),
            )]),
        ),
    ])
}
