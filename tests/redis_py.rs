//! redis-py, the most used Python client, against the RESP port: every
//! family, MULTI/EXEC and WATCH, blocking pops, pub/sub, RESP3. The test
//! makes a virtualenv under target/ once (python3-venv from tools/setup.sh)
//! and installs redis-py from PyPI into it.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// The virtualenv's python, made on first use.
fn python() -> PathBuf {
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

#[test]
fn redis_py_client_works() {
    let py = python();
    let node = common::Node::start(2);
    let port = node.resp_addr().port().to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/redis_py/check.py");
    let out = Command::new(py).arg(script).arg(&port).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "redis-py checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
