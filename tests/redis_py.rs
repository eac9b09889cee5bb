//! redis-py, the most used Python client, against the RESP port: every
//! family, MULTI/EXEC and WATCH, blocking pops, pub/sub, RESP3. The test
//! makes a virtualenv under target/ once (python3-venv from tools/setup.sh)
//! and installs redis-py from PyPI into it.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::python::python;

/// Runs `tests/redis_py/{script}` against a fresh two-core node; it prints
/// "ok" when every check passed.
fn run_script(script: &str) {
    let py = python();
    let node = common::Node::start(2);
    let port = node.resp_addr().port().to_string();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/redis_py")
        .join(script);
    let out = Command::new(py).arg(script).arg(&port).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "redis-py checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn redis_py_client_works() {
    run_script("check.py");
}

/// redis-py's `CommandsParser` (what its cluster client routes by) finds
/// the right keys from Tessera's `COMMAND` and `COMMAND GETKEYS`.
#[test]
fn redis_py_commands_parser_finds_keys() {
    run_script("commands_parser.py");
}

/// redis-py's stream API end to end: entries, XREAD, a consumer group,
/// XREADGROUP BLOCK woken by another client, XPENDING, XAUTOCLAIM of a dead
/// consumer's entries, XINFO, errors, MULTI (tests/redis_py/streams.py).
#[test]
fn redis_py_streams_work() {
    run_script("streams.py");
}
