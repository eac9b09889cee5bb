//! The systemd integration: the unit verifies, install.sh lays out the
//! files, and the real binary speaks the notify protocol (READY=1 after every
//! core listens, STATUS= while opening, STOPPING=1 on SIGTERM, WATCHDOG=1
//! only while every reactor runs).

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{binary, parse_ready, serve_command, spawn_until_ready, wait_until};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The unit with ExecStart pointing at the binary under test.
fn unit_for_test(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo("tools/tessera.service")).unwrap();
    assert!(text.contains("ExecStart=/usr/bin/tessera serve --config /etc/tessera/tessera.toml"));
    let path = dir.join("tessera.service");
    std::fs::write(
        &path,
        text.replace("/usr/bin/tessera", binary().to_str().unwrap()),
    )
    .unwrap();
    path
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_test(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze is installed (tools/setup.sh installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed: {stderr}"
    );
    assert!(
        !stderr.contains("tessera.service"),
        "systemd-analyze warns about the unit: {stderr}"
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "LimitNOFILE=",
        "LimitMEMLOCK=",
        "User=tessera",
        "StateDirectory=tessera",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(text.contains(line), "the unit lacks {line}");
    }
}

#[test]
fn install_sh_lays_out_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(repo("tools/install.sh"))
        .arg("--prefix")
        .arg(dir.path())
        .arg("--binary")
        .arg(binary())
        .arg("--no-systemctl")
        .status()
        .unwrap();
    assert!(status.success());
    let root = dir.path();
    for f in [
        "usr/bin/tessera",
        "etc/systemd/system/tessera.service",
        "etc/tessera/tessera.toml",
        "usr/share/doc/tessera/operations.md",
    ] {
        assert!(root.join(f).is_file(), "install.sh did not install {f}");
    }
    // The default config is the commented one, and it loads as is.
    let c = tessera::Config::from_file(&root.join("etc/tessera/tessera.toml")).unwrap();
    c.validate().unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/tessera"));
    // An existing config is kept on re-install.
    std::fs::write(
        root.join("etc/tessera/tessera.toml"),
        "durability = \"fsync\"\n",
    )
    .unwrap();
    let status = Command::new("bash")
        .arg(repo("tools/install.sh"))
        .args(["--prefix", root.to_str().unwrap(), "--binary"])
        .arg(binary())
        .arg("--no-systemctl")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/tessera/tessera.toml")).unwrap(),
        "durability = \"fsync\"\n"
    );
}

/// A `tessera serve` child talking to a notify socket the test reads.
struct Notified {
    child: Child,
    sock: UnixDatagram,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Notified {
    fn start(env: &[(&str, &str)]) -> Notified {
        let dir = tempfile::tempdir().unwrap();
        let sock_path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let log = dir.path().join("stderr.log");
        let (child, line) = spawn_until_ready(
            serve_command(&dir.path().join("data"))
                .args(["--cores", "2"])
                .env("NOTIFY_SOCKET", &sock_path)
                .env_remove("WATCHDOG_PID")
                .envs(env.iter().copied())
                .stderr(std::fs::File::create(&log).unwrap()),
        )
        .unwrap();
        assert!(parse_ready(&line).is_some(), "no ready line: {line:?}");
        Notified {
            child,
            sock,
            log,
            _dir: dir,
        }
    }

    /// Every message that arrives within `for_`, split into lines.
    fn read_for(&self, for_: Duration) -> Vec<String> {
        let deadline = Instant::now() + for_;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.sock.recv(&mut buf) {
                got.extend(
                    String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .map(str::to_string),
                );
            }
        }
        got
    }

    /// Reads until a line equal to `want` arrives; returns all lines read.
    fn read_until(&self, want: &str) -> Vec<String> {
        let mut all = Vec::new();
        wait_until(want, Duration::from_secs(60), || {
            all.extend(self.read_for(Duration::from_millis(100)));
            all.iter().any(|l| l == want)
        });
        all
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ready_status_watchdog_and_stopping_arrive_in_order() {
    let n = Notified::start(&[("WATCHDOG_USEC", "2000000")]);
    let mut lines = n.read_until("READY=1");
    lines.extend(n.read_until("WATCHDOG=1"));
    let pos = |want: &str| lines.iter().position(|l| l.starts_with(want));
    let ready = pos("READY=1").unwrap();
    let opening = pos("STATUS=core 0: opening partition").expect("STATUS while opening");
    assert!(opening < ready, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("STATUS=tessera ready binary=")),
        "{lines:?}"
    );
    assert!(pos("WATCHDOG=1").unwrap() > ready, "{lines:?}");
    assert!(pos("STOPPING=1").is_none());

    // SIGTERM: STOPPING=1, then a clean exit.
    common::sigterm(n.child.id());
    n.read_until("STOPPING=1");
    let mut n = n;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = n.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}: {}", n.stderr());
}

#[test]
fn no_notify_socket_means_no_notifications_and_no_failure() {
    // Outside systemd the same binary runs normally (covered by every other
    // process test); here only the watchdog variable is set, without a socket.
    let dir = tempfile::tempdir().unwrap();
    let (mut child, line) = spawn_until_ready(
        serve_command(dir.path())
            .args(["--cores", "1"])
            .env_remove("NOTIFY_SOCKET")
            .env("WATCHDOG_USEC", "1000000")
            .stderr(Stdio::null()),
    )
    .unwrap();
    assert!(parse_ready(&line).is_some(), "{line:?}");
    common::sigterm(child.id());
    assert!(child.wait().unwrap().success());
}

#[test]
fn watchdog_pings_stop_while_a_core_is_stalled() {
    // Watchdog 1 s: pings every 0.5 s while every core stamped within 0.5 s.
    let n = Notified::start(&[
        ("WATCHDOG_USEC", "1000000"),
        ("TESSERA_TEST_STALL_CORE", "1:600000"),
    ]);
    n.read_until("WATCHDOG=1");
    wait_until("the stall to begin", Duration::from_secs(60), || {
        n.stderr().contains("test hook: stalling core 1")
    });
    // Pings already on their way when the core stopped are drained first:
    // the stamp goes stale after 0.5 s and a ping period is 0.5 s.
    n.read_for(Duration::from_millis(1500));
    let during = n.read_for(Duration::from_secs(2));
    assert!(
        !during.iter().any(|l| l == "WATCHDOG=1"),
        "pings went on while core 1 was stalled: {during:?}"
    );
    wait_until("the withholding message", Duration::from_secs(30), || {
        n.stderr().contains("core 1 has not run its tasks")
    });
}

#[test]
fn debian_package_holds_the_binary_unit_config_and_maintainer_scripts() {
    // cargo-deb (installed by tools/setup.sh) packages the binary this test
    // run built (the dev profile) with the metadata of Cargo.toml.
    let out = tempfile::tempdir().unwrap();
    let built = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "deb",
            "-p",
            "tessera",
            "--no-build",
            "--no-strip",
            "--profile",
            "dev",
        ])
        .arg("--output")
        .arg(out.path())
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "cargo deb failed (tools/setup.sh installs cargo-deb): {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let deb = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb was written");
    let deb = deb.to_str().unwrap().to_string();
    let field = |f: &str| {
        let o = Command::new("dpkg-deb")
            .args(["--field", &deb, f])
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    assert_eq!(field("Package"), "tessera");
    assert!(field("Version").starts_with(env!("CARGO_PKG_VERSION")));
    let contents = Command::new("dpkg-deb")
        .args(["--contents", &deb])
        .output()
        .unwrap();
    let contents = String::from_utf8(contents.stdout).unwrap();
    for path in [
        "./usr/bin/tessera",
        "./lib/systemd/system/tessera.service",
        "./etc/tessera/tessera.toml",
        "./usr/share/doc/tessera/operations.md",
    ] {
        assert!(
            contents.contains(path),
            "the package lacks {path}:\n{contents}"
        );
    }
    // Control files: the config is a conffile, postinst creates the user.
    let control = out.path().join("control");
    let st = Command::new("dpkg-deb")
        .args(["-e", &deb])
        .arg(&control)
        .status()
        .unwrap();
    assert!(st.success());
    let read = |f: &str| std::fs::read_to_string(control.join(f)).unwrap();
    assert!(read("conffiles").contains("/etc/tessera/tessera.toml"));
    assert!(read("postinst").contains("useradd --system"));
    assert!(read("postinst").contains("/var/backups/tessera"));
    assert!(
        !read("postrm").contains("rm -rf"),
        "the package must never delete data"
    );
}
