//! Cluster test helpers (tests/cluster.rs, tests/cluster_failover.rs):
//! `--cluster` processes on their own loopback addresses, `tessera
//! cluster`, redis-py's RedisCluster, and reading the map back.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::resp::{Conn, R};

pub struct ClusterNode {
    pub child: Child,
    pub binary: SocketAddr,
    pub resp: SocketAddr,
    pub http: Option<SocketAddr>,
    /// The binary TLS listener (`tls-cluster` nodes).
    pub tls: Option<SocketAddr>,
    pub dir: std::path::PathBuf,
    pub ip: String,
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn word(line: &str, key: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
}

pub fn start_node(dir: &Path, ip: &str, binary: &str, resp: &str, extra: &[&str]) -> ClusterNode {
    start_node_http(dir, ip, binary, resp, "off", extra)
}

pub fn start_node_http(
    dir: &Path,
    ip: &str,
    binary: &str,
    resp: &str,
    http: &str,
    extra: &[&str],
) -> ClusterNode {
    start_node_env(dir, ip, binary, resp, http, extra, &[])
}

/// `start_node_http` with environment variables (fail points).
pub fn start_node_env(
    dir: &Path,
    ip: &str,
    binary: &str,
    resp: &str,
    http: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> ClusterNode {
    let mut cmd = Command::new(super::binary());
    cmd.envs(env.iter().copied());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--cluster", "--cores", "1", "--partitions", "2"])
        .args([
            "--listen",
            binary,
            "--resp-listen",
            resp,
            "--http-listen",
            http,
        ])
        .args([
            "--block-cache-bytes",
            "8388608",
            "--write-buffer-bytes",
            "16777216",
        ])
        .args(extra)
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_of(dir))
                .expect("a log file"),
        );
    let (child, line) = super::spawn_until_ready(&mut cmd).expect("tessera starts");
    assert!(
        line.starts_with("tessera ready"),
        "no ready line: {line:?}: {}",
        std::fs::read_to_string(log_of(dir)).unwrap_or_default()
    );
    ClusterNode {
        child,
        // With `--listen off`, the binary TLS address.
        binary: word(&line, "binary=")
            .or_else(|| word(&line, "binary-tls="))
            .expect("binary address"),
        resp: word(&line, "resp=").expect("resp address"),
        http: word(&line, "http="),
        tls: word(&line, "binary-tls="),
        dir: dir.to_path_buf(),
        ip: ip.to_string(),
    }
}

/// Node `i` of a test: `--cluster` on 127.0.0.`octet` with ephemeral
/// ports and HTTP off, its data in `root/n{i}`, with environment `env`
/// (fail points).
pub fn start_nth(root: &Path, i: usize, octet: usize, env: &[(&str, &str)]) -> ClusterNode {
    let ip = format!("127.0.0.{octet}");
    let any = format!("{ip}:0");
    start_node_env(
        &root.join(format!("n{i}")),
        &ip,
        &any,
        &any,
        "off",
        &[],
        env,
    )
}

/// `tessera ARGS --data-dir DIR` exits non-zero, saying `why`.
pub fn refuses_to_start(args: &[&str], dir: &Path, why: &str) {
    let out = Command::new(super::binary())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains(why), "{err}");
}

/// Runs `tessera ARGS...`: whether it succeeded, its stdout, its stderr.
pub fn tessera(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(super::binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("tessera runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn cluster_cmd(args: &[&str]) -> (bool, String, String) {
    tessera(&[&["cluster"], args].concat())
}

/// `tessera cli --addr ADDR ARGS...`: whether it succeeded, and its stdout
/// followed by its stderr.
pub fn cli_on(addr: SocketAddr, args: &[&str]) -> (bool, String) {
    let addr = addr.to_string();
    let (ok, out, err) = tessera(&[&["cli", "--addr", addr.as_str()], args].concat());
    (ok, out + &err)
}

pub fn redis_py(addr: SocketAddr, mode: &str) {
    let py = super::python::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/redis_py/cluster.py");
    let out = Command::new(py)
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(mode)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "redis-py RedisCluster ({mode}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `[start, end]` of every CLUSTER SLOTS entry, with its node count.
pub fn slot_ranges(c: &mut Conn) -> Vec<(i64, i64, usize)> {
    let R::Array(entries) = c.cmd(&["CLUSTER", "SLOTS"]) else {
        panic!("CLUSTER SLOTS is not an array")
    };
    let mut out: Vec<_> = entries
        .into_iter()
        .map(|e| match e {
            R::Array(items) => match (&items[0], &items[1]) {
                (R::Int(a), R::Int(b)) => (*a, *b, items.len() - 2),
                other => panic!("bad range {other:?}"),
            },
            other => panic!("bad entry {other:?}"),
        })
        .collect();
    out.sort();
    out
}

/// The fewest CPUs any thread of core 0 (the reactor and its blocking
/// pool, named `tessera-core-0-…`) of process `pid` may run on (their
/// `Cpus_allowed_list`): a pinned reactor would show 1.
pub fn reactor_cpus(pid: u32) -> usize {
    let mut fewest = None;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("tessera-core-0") {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_string();
        let n: usize = list
            .split(',')
            .map(|r| match r.split_once('-') {
                Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
                None => 1,
            })
            .sum();
        fewest = Some(fewest.map_or(n, |f: usize| f.min(n)));
    }
    fewest.unwrap_or_else(|| panic!("no reactor thread in process {pid}"))
}

/// The RESP address of the primary serving `slot`, as `c`'s node sees it.
pub fn primary_of(c: &mut Conn, slot: i64) -> Option<SocketAddr> {
    let R::Array(entries) = c.cmd(&["CLUSTER", "SLOTS"]) else {
        return None;
    };
    for e in entries {
        let R::Array(items) = e else { continue };
        let (R::Int(a), R::Int(b)) = (&items[0], &items[1]) else {
            continue;
        };
        if *a <= slot && slot <= *b {
            let R::Array(p) = &items[2] else { return None };
            let (R::Bulk(ip), R::Int(port)) = (&p[0], &p[1]) else {
                return None;
            };
            return format!("{}:{port}", String::from_utf8_lossy(ip))
                .parse()
                .ok();
        }
    }
    None
}

pub fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

pub fn restart(n: &ClusterNode, extra: &[&str]) -> ClusterNode {
    start_node(
        &n.dir,
        &n.ip,
        &n.binary.to_string(),
        &n.resp.to_string(),
        extra,
    )
}

/// A child process killed when the test ends, even by a panic (the load
/// script would otherwise run on).
pub struct KillOnDrop(pub Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `tessera cluster ARGS` running in the background, its output piped
/// (read it with `.0.take().unwrap().wait_with_output()`).
pub fn cluster_cmd_bg(args: &[&str]) -> KillOnDrop {
    KillOnDrop(Some(
        Command::new(super::binary())
            .arg("cluster")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera cluster runs"),
    ))
}

/// Sends `signal` to `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) -> i32 {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.code().unwrap_or(-1))
        .unwrap_or(-1)
}

/// A plain process (no `--cluster`) on `ip`, for the adoption test.
pub fn start_plain(
    dir: &Path,
    listen: &str,
    resp: &str,
    extra: &[&str],
) -> (Child, SocketAddr, SocketAddr) {
    let mut cmd = Command::new(super::binary());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir)
        .args(["--cores", "1", "--partitions", "2", "--listen", listen])
        .args(["--resp-listen", resp, "--http-listen", "off"])
        .args(extra)
        .stderr(Stdio::null());
    let (child, line) = super::spawn_until_ready(&mut cmd).expect("tessera starts");
    (
        child,
        word(&line, "binary=").expect("ready line"),
        word(&line, "resp=").expect("ready line"),
    )
}

/// A redis-py load script of tests/redis_py (`cluster_load.py`,
/// `migrate_load.py`: `load ACKED STOP` writes and records each
/// acknowledged write until STOP exists; `verify ACKED` reads them back)
/// run against a cluster through `entry`.
pub struct Load {
    script: std::path::PathBuf,
    entry: SocketAddr,
    /// The acknowledged writes, one per line.
    pub acked: std::path::PathBuf,
    stop: std::path::PathBuf,
    child: KillOnDrop,
}

impl Load {
    /// Starts `script` writing through `entry`, its files in `dir`.
    pub fn start(script: &str, entry: SocketAddr, dir: &Path) -> Load {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/redis_py")
            .join(script);
        let (acked, stop) = (dir.join("acked"), dir.join("stop"));
        let child = Command::new(super::python::python())
            .arg(&script)
            .args([entry.ip().to_string(), entry.port().to_string()])
            .arg("load")
            .arg(&acked)
            .arg(&stop)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        Load {
            script,
            entry,
            acked,
            stop,
            child: KillOnDrop(Some(child)),
        }
    }

    /// Acknowledged writes so far.
    pub fn acked(&self) -> usize {
        lines(&self.acked)
    }

    /// Stops the load, checks that every acknowledged write reads back
    /// (the script's `verify`), and returns what the load printed.
    pub fn finish(mut self) -> String {
        std::fs::write(&self.stop, b"").unwrap();
        let out = self.child.0.take().unwrap().wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "the load failed:\n{said}");
        let verify = Command::new(super::python::python())
            .arg(&self.script)
            .args([self.entry.ip().to_string(), self.entry.port().to_string()])
            .arg("verify")
            .arg(&self.acked)
            .output()
            .unwrap();
        assert!(
            verify.status.success() && String::from_utf8_lossy(&verify.stdout).trim() == "ok",
            "{}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        said
    }
}

/// One node's stretch of admitted writes for one slot (µs since the epoch).
struct Stretch {
    from: u128,
    to: u128,
    log: usize,
}

/// Checks from the nodes' logs (`cluster: writes ...` lines, one per map
/// that changed which slots a node admits writes for) that no slot was
/// ever writable on two nodes at once. A stretch still open when its
/// process's life ends (a crash) closes when the next life logs (its
/// restart), or never. Answers how many slots changed node at least once,
/// so a test can tell the check saw a move.
pub fn no_slot_writable_on_two_nodes(logs: &[std::path::PathBuf]) -> usize {
    let slots = 16384usize;
    let mut stretches: Vec<Vec<Stretch>> = (0..slots).map(|_| Vec::new()).collect();
    for (i, path) in logs.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut open: Vec<Option<u128>> = vec![None; slots];
        let mut life = String::new();
        let close =
            |open: &mut Vec<Option<u128>>, s: usize, at: u128, out: &mut Vec<Vec<Stretch>>| {
                if let Some(from) = open[s].take() {
                    out[s].push(Stretch {
                        from,
                        to: at,
                        log: i,
                    });
                }
            };
        for line in text
            .lines()
            .filter(|l| l.contains("cluster: writes epoch="))
        {
            let field = |k: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap_or_else(|| panic!("no {k} in {line:?}"))
                    .to_string()
            };
            let at: u128 = field("unix_us=").parse().unwrap();
            let pid = field("pid=");
            if pid != life {
                for s in 0..slots {
                    close(&mut open, s, at, &mut stretches);
                }
                life = pid;
            }
            for (k, on) in [("lost=", false), ("gained=", true)] {
                let list = field(k);
                for part in list.split(',').filter(|p| *p != "-") {
                    let (a, b) = part.split_once('-').unwrap_or((part, part));
                    let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                    for s in a..=b {
                        match on {
                            true => {
                                assert!(
                                    open[s].is_none(),
                                    "{path:?}: slot {s} gained twice: {line}"
                                );
                                open[s] = Some(at);
                            }
                            false => close(&mut open, s, at, &mut stretches),
                        }
                    }
                }
            }
        }
        for s in 0..slots {
            close(&mut open, s, u128::MAX, &mut stretches);
        }
    }
    let mut moved = 0;
    for (s, list) in stretches.iter_mut().enumerate() {
        list.sort_by_key(|st| st.from);
        for w in list.windows(2) {
            assert!(
                w[0].to <= w[1].from,
                "slot {s} was writable on {:?} until {} and on {:?} from {}",
                logs[w[0].log],
                w[0].to,
                logs[w[1].log],
                w[1].from
            );
        }
        if list.windows(2).any(|w| w[0].log != w[1].log) {
            moved += 1;
        }
    }
    moved
}

/// The log file of a node started in `dir` by these helpers.
pub fn log_of(dir: &Path) -> std::path::PathBuf {
    dir.with_extension("stderr.log")
}
