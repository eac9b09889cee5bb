//! `tessera-bench compare`: Tessera against redis-server on this machine,
//! in one run, written into BENCHMARKS.md.
//!
//! Starts redis-server (AOF, appendfsync everysec) and `tessera serve`
//! (durability wal: the WAL is synced once a second) on loopback in a temp
//! dir, both pinned to the server CPUs with `taskset`, and runs for every
//! scenario and operation, back to back:
//! 1. tessera-bench (binary protocol, shard-aware) → Tessera;
//! 2. tessera-bench (RESP) → redis-server — the same client on both servers;
//! 3. redis-benchmark → redis-server — how Redis users measure Redis.
//!
//! The generated part of BENCHMARKS.md sits between two marker lines; the
//! rest of the file (profiles, notes) is kept.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::driver::Proto;
use crate::report::Machine;
use crate::run::{run, RunResult, RunSpec};
use crate::scenario::{Scenario, HUSTSTORE};
use crate::workload::{Dist, Mix, Op, ValueSize};
use crate::{parse_duration, CpuList};

fn markers(section: &str) -> (String, String) {
    (
        format!("<!-- BEGIN tessera-bench compare {section}: generated, edits up to the END marker are overwritten -->"),
        format!("<!-- END tessera-bench compare {section} -->"),
    )
}

#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    /// The tessera binary [default: `tessera` next to this program].
    #[arg(long, value_name = "PATH")]
    pub tessera: Option<PathBuf>,
    #[arg(long, default_value = "redis-server", value_name = "PATH")]
    pub redis_server: PathBuf,
    #[arg(long, default_value = "redis-benchmark", value_name = "PATH")]
    pub redis_benchmark: PathBuf,
    /// CPUs for the servers (taskset) [default: the last CPU of the affinity mask].
    #[arg(long, value_name = "LIST")]
    pub server_cpus: Option<CpuList>,
    /// CPUs for the load generators [default: the other CPUs, or the same one on a 1-CPU machine].
    #[arg(long, value_name = "LIST")]
    pub client_cpus: Option<CpuList>,
    /// Scenarios, comma-separated [default: huststore's six].
    #[arg(long, value_name = "C<N>-V<BYTES>,...", value_delimiter = ',')]
    pub scenarios: Option<Vec<Scenario>>,
    /// Measured time per tessera-bench run (redis-benchmark gets a request count worth about as long).
    #[arg(long, default_value = "10", value_name = "TIME", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value = "2", value_name = "TIME", value_parser = parse_duration)]
    pub warmup: Duration,
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub keyspace: u64,
    /// The file whose generated section is replaced.
    #[arg(long, default_value = "BENCHMARKS.md", value_name = "FILE")]
    pub out: PathBuf,
    /// Name of the generated section in that file (one per CPU arrangement, e.g. split, shared).
    #[arg(long, default_value = "split", value_name = "NAME")]
    pub section: String,
    /// Also write every figure as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// One measured row from either tool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// e.g. `C1000-V256` or `C50-V256 P16`.
    pub scenario: String,
    pub op: &'static str,
    /// `tessera-bench → tessera`, `tessera-bench → redis`, `redis-benchmark → redis`.
    pub setup: &'static str,
    pub qps: f64,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub command: String,
}

impl Row {
    fn from_run(
        r: &RunResult,
        scenario: &str,
        op: Op,
        setup: &'static str,
        command: String,
    ) -> Row {
        Row {
            scenario: scenario.to_string(),
            op: op_name(op),
            setup,
            qps: r.qps,
            avg_ms: r.latency.avg_ms,
            p50_ms: r.latency.p50_ms,
            p99_ms: r.latency.p99_ms,
            max_ms: r.latency.max_ms,
            errors: r.error_count(),
            command,
        }
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Set => "PUT",
        other => other.name(),
    }
}

pub const T_BIN: &str = "tessera-bench → tessera";
pub const T_RESP_REDIS: &str = "tessera-bench → redis";
pub const RB_REDIS: &str = "redis-benchmark → redis";

/// A server child process, killed on drop.
struct Server {
    name: &'static str,
    child: Child,
}

impl Drop for Server {
    // kill(2) of our own child.
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("find a free port: {e}"))
}

fn version_of(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

fn start_redis(args: &CompareArgs, cpus: &str, dir: &Path) -> Result<(Server, SocketAddr), String> {
    let port = free_port()?;
    let child = Command::new("taskset")
        .args(["-c", cpus])
        .arg(&args.redis_server)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxclients",
            "10000",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "start {}: {e} (install it with `apt-get install redis-server`, or run bench/compare.sh)",
                args.redis_server.display()
            )
        })?;
    let server = Server {
        name: "redis-server",
        child,
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("valid address");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "redis-server did not listen on {addr} within 20 s; see {}/redis.log",
                dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((server, addr))
}

fn start_tessera(
    bin: &Path,
    cpus: &str,
    dir: &Path,
) -> Result<(Server, SocketAddr, String), String> {
    let args = [
        "serve",
        "--data-dir",
        &dir.to_string_lossy(),
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "off",
        "--resp-listen",
        "off",
        "--durability",
        "wal",
    ]
    .map(String::from);
    let mut child = Command::new("taskset")
        .args(["-c", cpus])
        .arg(bin)
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server {
        name: "tessera",
        child,
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("read tessera's ready line: {e}"))?;
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("binary="))
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("tessera did not print a ready line (got {line:?})"))?;
    let command = format!("taskset -c {cpus} tessera {}", args.join(" "));
    Ok((server, addr, command))
}

/// Parses redis-benchmark's `--csv` output into (QPS, avg, p50, p99, max).
pub fn parse_redis_benchmark_csv(text: &str) -> Result<(f64, f64, f64, f64, f64), String> {
    let unquote = |l: &str| -> Vec<String> {
        l.split(',')
            .map(|f| f.trim().trim_matches('"').to_string())
            .collect()
    };
    let mut lines = text.lines().filter(|l| l.starts_with('"'));
    let header = unquote(
        lines
            .next()
            .ok_or("redis-benchmark printed no CSV header")?,
    );
    let row = unquote(lines.next().ok_or("redis-benchmark printed no CSV row")?);
    let field = |name: &str| -> Result<f64, String> {
        let i = header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("redis-benchmark CSV has no column {name:?}"))?;
        row.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("redis-benchmark CSV column {name:?} is not a number"))
    };
    Ok((
        field("rps")?,
        field("avg_latency_ms")?,
        field("p50_latency_ms")?,
        field("p99_latency_ms")?,
        field("max_latency_ms")?,
    ))
}

#[allow(clippy::too_many_arguments)]
fn redis_benchmark(
    args: &CompareArgs,
    cpus: &str,
    addr: SocketAddr,
    s: Scenario,
    depth: usize,
    op: Op,
    requests: u64,
    label: &str,
) -> Result<Row, String> {
    let test = match op {
        Op::Set => "set",
        Op::Get => "get",
        Op::Incr => "incr",
        Op::HSet => "hset",
        Op::ZAdd => "zadd",
        Op::LPush => "lpush",
        Op::RPop => "rpop",
        Op::Del => return Err("redis-benchmark has no DEL test".into()),
    };
    let argv: Vec<String> = [
        "-h".to_string(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
        "-c".into(),
        s.conns.to_string(),
        "-n".into(),
        requests.to_string(),
        "-d".into(),
        s.value.to_string(),
        "-r".into(),
        args.keyspace.to_string(),
        "-P".into(),
        depth.to_string(),
        "-t".into(),
        test.into(),
        "--csv".into(),
    ]
    .into();
    let out = Command::new("taskset")
        .args(["-c", cpus])
        .arg(&args.redis_benchmark)
        .args(&argv)
        .output()
        .map_err(|e| {
            format!(
                "run {}: {e} (install redis-tools, or run bench/compare.sh)",
                args.redis_benchmark.display()
            )
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("redis-benchmark failed ({}): {stderr}", out.status));
    }
    let errors = stderr.lines().filter(|l| l.contains("rror")).count() as u64;
    if errors > 0 {
        eprintln!("!!! redis-benchmark reported {errors} error lines: {stderr}");
    }
    let (qps, avg, p50, p99, max) = parse_redis_benchmark_csv(&stdout)?;
    let command = format!("taskset -c {cpus} redis-benchmark {}", argv.join(" "));
    eprintln!("[{label} redis-benchmark] {qps:.0} req/s p50 {p50:.3} ms p99 {p99:.3} ms");
    Ok(Row {
        scenario: label.to_string(),
        op: op_name(op),
        setup: RB_REDIS,
        qps,
        avg_ms: avg,
        p50_ms: p50,
        p99_ms: p99,
        max_ms: max,
        errors,
        command,
    })
}

/// The tessera-bench command line equivalent to a spec, for the report.
fn bench_command(spec: &RunSpec, cpus: &str) -> String {
    let proto = match spec.proto {
        Proto::Binary => "binary",
        Proto::Resp => "resp",
    };
    format!(
        "tessera-bench --proto {proto} --addr {} -c {} -P {} -d {} -r {} --op {} --duration {}s --warmup {}s --cpus {cpus}",
        spec.addr,
        spec.conns,
        spec.pipeline,
        spec.values,
        spec.keyspace,
        spec.mix.ops[0].0.name().to_ascii_lowercase(),
        spec.duration.as_secs_f64(),
        spec.warmup.as_secs_f64()
    )
}

fn default_cpus(args: &CompareArgs) -> (Vec<usize>, Vec<usize>) {
    let all = tessera_client::sys::affinity_cpus();
    let server = args
        .server_cpus
        .clone()
        .map_or_else(|| vec![*all.last().expect("at least one CPU")], |c| c.0);
    let client = args.client_cpus.clone().map(|c| c.0).unwrap_or_else(|| {
        let rest: Vec<usize> = all
            .iter()
            .copied()
            .filter(|c| !server.contains(c))
            .collect();
        if rest.is_empty() {
            server.clone()
        } else {
            rest
        }
    });
    (server, client)
}

/// Runs the side-by-side and rewrites the generated part of `args.out`.
pub fn compare(args: &CompareArgs) -> Result<Vec<Row>, String> {
    let tessera_bin = match &args.tessera {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("tessera"),
    };
    let (server_cpus, client_cpus) = default_cpus(args);
    let (scpus, ccpus) = (cpu_list(&server_cpus), cpu_list(&client_cpus));
    let tmp = std::env::temp_dir().join(format!("tessera-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("redis"))
        .map_err(|e| format!("create {}: {e}", tmp.display()))?;
    let result = compare_in(args, &tessera_bin, &scpus, &ccpus, &client_cpus, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn compare_in(
    args: &CompareArgs,
    tessera_bin: &Path,
    scpus: &str,
    ccpus: &str,
    client_cpus: &[usize],
    tmp: &Path,
) -> Result<Vec<Row>, String> {
    let (_redis, redis_addr) = start_redis(args, scpus, &tmp.join("redis"))?;
    let (_tessera, tessera_addr, tessera_cmd) =
        start_tessera(tessera_bin, scpus, &tmp.join("tessera"))?;
    let redis_version = version_of(&args.redis_server);
    let tessera_version = version_of(tessera_bin);
    let scenarios = args.scenarios.clone().unwrap_or_else(|| HUSTSTORE.to_vec());
    // (scenario, pipeline depth): the six, then the pipelined row.
    let mut plan: Vec<(Scenario, usize)> = scenarios.iter().map(|s| (*s, 1)).collect();
    plan.push((Scenario::new(50, 256), 16));
    let mut rows = Vec::new();
    for (s, depth) in plan {
        let label = if depth > 1 {
            format!("{s} P{depth}")
        } else {
            s.to_string()
        };
        for op in [Op::Set, Op::Get] {
            let spec = |proto, addr| RunSpec {
                label: format!(
                    "{label} {} {}",
                    op_name(op),
                    if proto == Proto::Binary {
                        "tessera"
                    } else {
                        "redis"
                    }
                ),
                proto,
                addr,
                conns: s.conns,
                pipeline: depth,
                keyspace: args.keyspace,
                dist: Dist::Uniform,
                mix: Mix::only(op),
                values: ValueSize::fixed(s.value),
                duration: args.duration,
                requests: None,
                warmup: args.warmup,
                rate: None,
                preload: op == Op::Get,
                seed: 1,
                cpus: client_cpus.to_vec(),
                progress: true,
            };
            let t = spec(Proto::Binary, tessera_addr);
            let r = run(&t)?;
            rows.push(Row::from_run(
                &r,
                &label,
                op,
                T_BIN,
                bench_command(&t, ccpus),
            ));
            let rs = spec(Proto::Resp, redis_addr);
            let r = run(&rs)?;
            rows.push(Row::from_run(
                &r,
                &label,
                op,
                T_RESP_REDIS,
                bench_command(&rs, ccpus),
            ));
            // As many requests as tessera-bench answered against redis in
            // the same time, so both tools run about as long.
            let n = ((r.qps * args.duration.as_secs_f64()) as u64).max(20_000);
            rows.push(redis_benchmark(
                args, ccpus, redis_addr, s, depth, op, n, &label,
            )?);
        }
    }
    let machine = Machine::describe();
    let section = render(&RenderInput {
        section: &args.section,
        machine: &machine,
        tessera_version: &tessera_version,
        redis_version: &redis_version,
        scpus,
        ccpus,
        tessera_cmd: &tessera_cmd,
        duration: args.duration,
        warmup: args.warmup,
        keyspace: args.keyspace,
        rows: &rows,
    });
    let old = std::fs::read_to_string(&args.out).unwrap_or_default();
    std::fs::write(&args.out, splice(&old, &args.section, &section))
        .map_err(|e| format!("write {}: {e}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "command_line": std::env::args().collect::<Vec<_>>(),
            "machine": machine,
            "tessera_version": tessera_version,
            "redis_version": redis_version,
            "server_cpus": scpus,
            "client_cpus": ccpus,
            "rows": rows,
        });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n",
        )
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    Ok(rows)
}

/// Replaces the text between the markers of section `name` (or appends it).
pub fn splice(old: &str, name: &str, section: &str) -> String {
    let (begin, end) = markers(name);
    let block = format!("{begin}\n{section}{end}\n");
    match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if b < e => {
            let after = &old[e + end.len()..];
            let after = after.strip_prefix('\n').unwrap_or(after);
            format!("{}{block}{after}", &old[..b])
        }
        _ if old.is_empty() => format!("# Benchmarks\n\n{block}"),
        _ => format!("{}\n{block}", old.trim_end_matches('\n').to_string() + "\n"),
    }
}

pub struct RenderInput<'a> {
    pub section: &'a str,
    pub machine: &'a Machine,
    pub tessera_version: &'a str,
    pub redis_version: &'a str,
    pub scpus: &'a str,
    pub ccpus: &'a str,
    pub tessera_cmd: &'a str,
    pub duration: Duration,
    pub warmup: Duration,
    pub keyspace: u64,
    pub rows: &'a [Row],
}

fn find<'r>(rows: &'r [Row], scenario: &str, op: &str, setup: &str) -> Option<&'r Row> {
    rows.iter()
        .find(|r| r.scenario == scenario && r.op == op && r.setup == setup)
}

fn table(s: &mut String, rows: &[Row], ours: &str, theirs: &str, head: (&str, &str)) {
    let _ = writeln!(
        s,
        "| scenario | op | {} QPS | {} QPS | ratio | {} p50 / p99 ms | {} p50 / p99 ms |",
        head.0, head.1, head.0, head.1
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|");
    let mut seen = Vec::new();
    for r in rows {
        let key = (r.scenario.clone(), r.op);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let (Some(a), Some(b)) = (
            find(rows, &r.scenario, r.op, ours),
            find(rows, &r.scenario, r.op, theirs),
        ) else {
            continue;
        };
        let errs = |x: &Row| {
            if x.errors > 0 {
                format!(" ({} errors!)", x.errors)
            } else {
                String::new()
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.0}{} | {:.0}{} | {:.2}× | {:.3} / {:.3} | {:.3} / {:.3} |",
            r.scenario,
            r.op,
            a.qps,
            errs(a),
            b.qps,
            errs(b),
            a.qps / b.qps.max(1e-9),
            a.p50_ms,
            a.p99_ms,
            b.p50_ms,
            b.p99_ms
        );
    }
}

/// The generated Markdown section.
pub fn render(i: &RenderInput<'_>) -> String {
    let mut s = String::new();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "## Side-by-side with redis-server: {} ({date})\n",
        i.section
    );
    let _ = writeln!(s, "- Machine: {}.", i.machine.one_line());
    let _ = writeln!(
        s,
        "- Versions: {}; {}; tessera-bench {}.",
        i.tessera_version,
        i.redis_version,
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        s,
        "- CPUs: both servers pinned to CPU {} (`taskset -c {}`), one at a time under load; every load generator \
         (tessera-bench and redis-benchmark) pinned to CPU {}. Tessera runs one reactor per CPU it is given.",
        i.scpus, i.scpus, i.ccpus
    );
    let _ = writeln!(
        s,
        "- Durability: Tessera `--durability wal` (WAL written per group commit, synced once a second); \
         redis-server `appendonly yes`, `appendfsync everysec`, no RDB snapshots."
    );
    let _ = writeln!(
        s,
        "- Each tessera-bench run: {:.0} s warm-up, {:.0} s measured, key space {} (`key:%012d`, uniform); GET runs \
         preload every key first, so reads hit. redis-benchmark gets `-n` = what tessera-bench measured against \
         redis in the same slot × the measured time.",
        i.warmup.as_secs_f64(),
        i.duration.as_secs_f64(),
        i.keyspace
    );
    let _ = writeln!(s, "- Tessera was started as: `{}`.", i.tessera_cmd);
    let _ = writeln!(s, "- Order per row: tessera-bench → Tessera, tessera-bench → redis-server, redis-benchmark → redis-server.\n");
    let _ = writeln!(
        s,
        "### System against system (each measured with its own tool)\n"
    );
    table(
        &mut s,
        i.rows,
        T_BIN,
        RB_REDIS,
        ("Tessera (tessera-bench)", "redis-server (redis-benchmark)"),
    );
    let _ = writeln!(
        s,
        "\n### Server against server (the same client, tessera-bench)\n"
    );
    table(
        &mut s,
        i.rows,
        T_BIN,
        T_RESP_REDIS,
        ("Tessera (binary)", "redis-server (RESP)"),
    );
    let _ = writeln!(
        s,
        "\nredis-benchmark against Tessera's own Redis port: not run, Tessera has no RESP port yet.\n"
    );
    let _ = writeln!(s, "<details><summary>Exact commands</summary>\n");
    for r in i.rows {
        let _ = writeln!(
            s,
            "- {} {} ({}): `{}`",
            r.scenario, r.op, r.setup, r.command
        );
    }
    let _ = writeln!(s, "\n</details>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redis_benchmark_csv() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"SET\",\"58823.53\",\"8.123\",\"0.500\",\"7.999\",\"12.000\",\"15.500\",\"40.100\"\n";
        let (qps, avg, p50, p99, max) = parse_redis_benchmark_csv(out).unwrap();
        assert_eq!(
            (qps, avg, p50, p99, max),
            (58823.53, 8.123, 7.999, 15.5, 40.1)
        );
        assert!(parse_redis_benchmark_csv("").is_err());
        assert!(parse_redis_benchmark_csv("\"test\",\"qps\"\n\"SET\",\"1\"\n").is_err());
    }

    #[test]
    fn splice_keeps_the_hand_written_parts() {
        let (begin, end) = markers("split");
        let first = splice("", "split", "A\n");
        assert!(first.starts_with("# Benchmarks\n\n"));
        assert!(first.contains(&format!("{begin}\nA\n{end}\n")));
        let edited = format!("{first}\n## Profile notes\nkept\n");
        let again = splice(&edited, "split", "B\n");
        assert!(again.contains(&format!("{begin}\nB\n{end}\n")));
        assert!(!again.contains("\nA\n"));
        assert!(again.ends_with("## Profile notes\nkept\n"));
        // Another section is added beside it, not over it.
        let both = splice(&again, "shared", "C\n");
        let (b2, e2) = markers("shared");
        assert!(both.contains(&format!("{begin}\nB\n{end}\n")));
        assert!(both.contains(&format!("{b2}\nC\n{e2}")));
        let appended = splice("# Title\nnotes\n", "split", "D\n");
        assert!(appended.starts_with("# Title\nnotes\n"));
        assert!(appended.contains(&format!("{begin}\nD\n{end}")));
    }
}
