//! Helpers shared by the integration tests: an in-process node on
//! 127.0.0.1:0 in a temp dir, the real binary for crash tests, and a glommio
//! executor to run the async client in.
#![allow(dead_code)]
// Helpers of test crates: `pub` for the test files, never a public surface.
#![allow(unreachable_pub)]

pub mod certs;
pub mod cluster;
pub mod python;
pub mod redis_server;
pub mod replication;
pub mod resp;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera::shard::Durability;
use tessera::{Config, ServerHandle};

/// Runs `f` to completion on a fresh glommio executor on this thread.
pub fn block_on<T: 'static>(f: impl Future<Output = T> + 'static) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(64 << 10)
        .make()
        .expect("client executor")
        .run(f)
}

pub fn config(dir: &Path, cores: usize) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        cores: Some(cores),
        partitions: None,
        durability: Durability::Wal,
        max_frame_bytes: 1 << 20,
        memory_budget_bytes: 64 << 20,
        block_cache_bytes: 8 << 20,
        write_buffer_bytes: 16 << 20,
        http_listen: "127.0.0.1:0".into(),
        resp_listen: "127.0.0.1:0".into(),
        ..Config::default()
    }
}

/// A node running in this process; stopped (drained) on drop.
pub struct Node {
    pub handle: Option<ServerHandle>,
    pub dir: tempfile::TempDir,
}

impl Node {
    pub fn start(cores: usize) -> Node {
        let dir = tempfile::tempdir().unwrap();
        Node::start_in(dir, |c| c.cores = Some(cores))
    }

    pub fn start_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Node {
        let mut c = config(dir.path(), 1);
        tweak(&mut c);
        let handle = tessera::start(c).expect("server starts");
        Node {
            handle: Some(handle),
            dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.as_ref().unwrap().binary_addr
    }

    pub fn resp_addr(&self) -> SocketAddr {
        self.handle.as_ref().unwrap().resp_addr.expect("RESP is on")
    }

    pub fn core_addrs(&self) -> Vec<SocketAddr> {
        self.handle.as_ref().unwrap().core_addrs.clone()
    }

    /// Stops the node and returns its directory for a restart.
    pub fn stop(mut self) -> tempfile::TempDir {
        let h = self.handle.take().unwrap();
        h.shutdown();
        h.join().expect("clean shutdown");
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
            let _ = h.join();
        }
    }
}

/// The real `tessera` binary, for crash and process tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tessera"))
}

/// `tessera serve` on ephemeral ports with small caches, in `data_dir`;
/// the caller adds flags, environment and stdio.
pub fn serve_command(data_dir: &Path) -> Command {
    let mut c = Command::new(binary());
    c.arg("serve").arg("--data-dir").arg(data_dir).args([
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--resp-listen",
        "127.0.0.1:0",
        "--block-cache-bytes",
        "8388608",
        "--write-buffer-bytes",
        "16777216",
    ]);
    c
}

/// Spawns `cmd` with stdout piped and returns the child once it printed a
/// line (its ready line, or empty when it exited first).
pub fn spawn_until_ready(cmd: &mut Command) -> Result<(Child, String), String> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok((child, line))
}

/// A `tessera serve` child process.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    /// The RESP listener from the ready line, when on.
    pub resp: Option<SocketAddr>,
    /// The HTTP listener from the ready line, when on.
    pub http: Option<SocketAddr>,
    pub stderr_log: PathBuf,
    /// The whole ready line.
    pub ready: String,
}

impl Proc {
    /// Starts `tessera serve` with `args` and waits for its ready line.
    pub fn start(data_dir: &Path, args: &[&str]) -> Result<Proc, String> {
        let log = data_dir.with_extension(format!("stderr-{}.log", std::process::id()));
        let err = std::fs::File::create(&log).unwrap();
        let (mut child, line) = spawn_until_ready(serve_command(data_dir).args(args).stderr(err))?;
        if line.is_empty() {
            let status = child.wait().map_err(|e| e.to_string())?;
            let msg = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("exited {status} before ready: {msg}"));
        }
        let addr = parse_ready(&line).ok_or_else(|| format!("bad ready line {line:?}"))?;
        let word = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|v| v.parse().ok())
        };
        let (resp, http) = (word("resp="), word("http="));
        Ok(Proc {
            child,
            addr,
            resp,
            http,
            stderr_log: log,
            ready: line,
        })
    }

    /// The address of `key=` on the ready line (`binary-tls`, `https`...).
    pub fn listener(&self, key: &str) -> SocketAddr {
        self.ready
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key}= on {:?}", self.ready))
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        sigterm(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "tessera did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_log);
    }
}

/// Reads `binary=HOST:PORT` from a ready line (key=value pairs, any order).
pub fn parse_ready(line: &str) -> Option<SocketAddr> {
    let mut words = line.split_whitespace();
    if words.next()? != "tessera" || words.next()? != "ready" {
        return None;
    }
    words
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| *k == "binary")
        .and_then(|(_, v)| v.parse().ok())
}

/// A process's resident memory, in bytes (`VmRSS` of /proc/PID/status).
pub fn rss_bytes(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<usize>().ok())
        .expect("VmRSS in /proc/PID/status")
        * 1024
}

/// Polls `cond` until it holds or the deadline passes.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sum of the `<prefix>N_<field>:value` lines of an INFO text (per core or
/// per partition).
pub fn info_sum(info: &str, prefix: &str, field: &str) -> u64 {
    let suffix = format!("_{field}:");
    info.lines()
        .filter(|l| l.starts_with(prefix) && l.contains(&suffix))
        .filter_map(|l| l.split(':').nth(1)?.parse::<u64>().ok())
        .sum()
}

/// A one-partition store on real RocksDB in `dir` (storage tests, no network).
pub fn shard_store(dir: &Path, durability: Durability) -> tessera::shard::Store {
    shard_store_with(dir, durability, tessera::Config::default().memtable_bytes)
}

/// A store whose partitions flush their `default` memtable at `memtable_bytes`.
pub fn shard_store_with(
    dir: &Path,
    durability: Durability,
    memtable_bytes: usize,
) -> tessera::shard::Store {
    shard_store_of(dir, durability, memtable_bytes, 1)
}

/// A store of `partitions` partitions (slot ranges, not interleaved).
pub fn shard_store_of(
    dir: &Path,
    durability: Durability,
    memtable_bytes: usize,
    partitions: u32,
) -> tessera::shard::Store {
    tessera::shard::Store::open(tessera::shard::StoreConfig {
        read_cache_bytes: 1 << 20,
        data_dir: dir.to_path_buf(),
        partitions: Some(partitions),
        default_partitions: partitions,
        interleaved: false,
        databases: false,
        durability,
        block_cache_bytes: 8 << 20,
        write_buffer_bytes: 8 << 20,
        memtable_bytes,
        background_threads: 2,
        wal_retention_seconds: 0,
        wal_retention_mb: 0,
    })
    .unwrap()
}

/// What a core's committer does once per tick: writes the staged batch
/// (waiting out a write stall, or writing range deletions, on this thread,
/// as the core does in its blocking pool) and closes the group.
pub fn commit_group(p: &tessera::shard::Partition, group: &std::cell::Cell<u64>) {
    use tessera::shard::InlineWrite;
    let g = group.get();
    group.set(g + 1);
    if let Some(write) = p.write_staged() {
        match write {
            InlineWrite::Done(_) => {}
            InlineWrite::Stalled(data) | InlineWrite::Offload(data) => {
                p.write_blocking_fn(data)().expect("write from the blocking pool")
            }
            InlineWrite::Failed(e) => panic!("write failed: {e}"),
        }
    }
    p.finish_group(g);
    // As a core's committer would once the overlay passed its budget:
    // these tests read the column families as the group left them.
    if let Some(d) = p.take_drain(true) {
        d.run(p).expect("write a drain");
    }
}

/// The registry code of a request the server refused; panics on success or
/// on a client-side failure.
pub fn server_code<T: std::fmt::Debug>(
    r: Result<T, tessera::client::ClientError>,
) -> tessera::codes::ErrorCode {
    match r {
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("not a server error: {e:?}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// Sends SIGTERM to process `pid` (one of the test's own children).
#[allow(unsafe_code)]
pub fn sigterm(pid: u32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
}

/// A real redis-server and a two-core Tessera, kept alive by the first
/// value, and a RESP connection to each (Tessera's first): the set-up of
/// every comparison with redis-server.
pub fn beside_redis() -> ((redis_server::Redis, Node), resp::Conn, resp::Conn) {
    let (redis, raddr) = redis_server::redis_server();
    let node = Node::start(2);
    let ours = resp::Conn::connect(node.resp_addr());
    let theirs = resp::Conn::connect(raddr);
    ((redis, node), ours, theirs)
}
