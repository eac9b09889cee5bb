//! redis-py in a virtualenv under target/, made once (python3-venv from
//! tools/setup.sh) with redis-py from PyPI.

use std::path::PathBuf;
use std::process::Command;

/// The virtualenv's python, made on first use.
pub fn python() -> PathBuf {
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

/// Runs `script` with the virtualenv's python and asserts that it printed
/// `ok` (its stderr is shown when it did not).
#[allow(dead_code)]
pub fn assert_prints_ok(script: &str) {
    let o = Command::new(python())
        .args(["-c", script])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "ok",
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
