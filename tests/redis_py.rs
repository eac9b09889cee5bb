//! redis-py, the most used Python client, against the RESP port: every
//! family, MULTI/EXEC and WATCH, blocking pops, pub/sub, RESP3. The test
//! makes a virtualenv under target/ once (python3-venv from tools/setup.sh)
//! and installs redis-py from PyPI into it.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// The virtualenv's python, made on first use.
fn python() -> PathBuf {
    // The tests of this file run in parallel; one makes the virtualenv.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/redis-py-venv");
    let py = venv.join("bin/python");
    if !py.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs (tools/setup.sh installs python3-venv)");
        assert!(ok.success(), "python3 -m venv failed");
    }
    let have = Command::new(&py)
        .args(["-c", "import redis"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    if !have.success() {
        let ok = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "redis>=5,<6"])
            .status()
            .unwrap();
        assert!(ok.success(), "pip install redis failed");
    }
    py
}

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
