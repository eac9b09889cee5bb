//! `tessera-bench`: the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera_bench::driver::{probe_version, Proto};
use tessera_bench::report::{self, JsonReport, Machine};
use tessera_bench::run::{run, RunResult, RunSpec};
use tessera_bench::scenario::{Scenario, HUSTSTORE};
use tessera_bench::workload::{Dist, Mix, Op, ValueSize};
use tessera_bench::{compare, parse_duration, CpuList};

#[derive(Parser)]
#[command(
    name = "tessera-bench",
    version,
    about = "Load generator for Tessera (binary protocol) and Redis-protocol servers",
    long_about = "Load generator for Tessera (binary protocol, shard-aware) and any Redis-protocol server.\n\n\
        Without a subcommand it runs against --addr. `--scenario C1000-V256` runs PUT then GET with\n\
        1000 connections in all and 256-byte values; `--suite huststore` runs all six of huststore's\n\
        scenarios and prints a table like huststore's. `tessera-bench compare` runs the side-by-side\n\
        with redis-server and writes BENCHMARKS.md.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    /// The ACL user to authenticate as (binary and RESP) [default: TESSERA_USER, else the
    /// default user].
    #[arg(long, global = true, value_name = "USER")]
    user: Option<String>,
    /// The password (of --user, or of the default user) [default: TESSERA_PASSWORD].
    #[arg(long, global = true, value_name = "PASSWORD")]
    pass: Option<String>,
    /// Connect with TLS (to the server's --tls-listen or --resp-tls-listen port).
    #[arg(long, global = true)]
    tls: bool,
    /// The CA (PEM) the server's certificate must chain to (with --tls).
    #[arg(long, global = true, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// A client certificate and its key (PEM), for a server with tls-auth-clients.
    #[arg(long, global = true, value_name = "FILE", requires = "key")]
    cert: Option<std::path::PathBuf>,
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    key: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Side-by-side with redis-server (and redis-benchmark); writes BENCHMARKS.md.
    Compare(compare::CompareArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Server address (for the binary protocol: any port of the node; HELLO gives the rest).
    #[arg(long, default_value = "127.0.0.1:7700", value_name = "HOST:PORT")]
    addr: SocketAddr,
    /// Wire protocol.
    #[arg(long, value_enum, default_value_t = Proto::Binary)]
    proto: Proto,
    /// C<connections>-V<value bytes>, e.g. C1000-V256: sets --connections and --value-size.
    #[arg(long, value_name = "C<N>-V<BYTES>", conflicts_with = "suite")]
    scenario: Option<Scenario>,
    /// A named set of scenarios: `huststore` = C1000/C2000 x V256/V512/V1024, PUT then GET each.
    #[arg(long, value_name = "NAME")]
    suite: Option<String>,
    /// Connections (sockets) in all, spread over the server's cores.
    #[arg(short = 'c', long, default_value_t = 50, value_name = "N")]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(short = 'P', long, default_value_t = 1, value_name = "DEPTH")]
    pipeline: usize,
    /// Number of distinct keys (key:000000000000 ...).
    #[arg(short = 'r', long, default_value_t = 100_000, value_name = "N")]
    keyspace: u64,
    /// Key distribution: uniform, zipf (exponent 0.99), zipf:<exponent> or sequential.
    #[arg(long, default_value = "uniform", value_name = "DIST")]
    dist: Dist,
    /// Value size in bytes, fixed (256) or a uniform range (100-1000).
    #[arg(short = 'd', long, default_value = "256", value_name = "BYTES|LO-HI")]
    value_size: ValueSize,
    /// One operation for the whole run: set, get, incr, del, or the
    /// collection workloads hset, zadd, lpush, rpop (on keys hash:N, zset:N,
    /// list:N; rpop of an empty list counts as a miss).
    #[arg(long, value_name = "OP", conflicts_with_all = ["mix", "ratio"])]
    op: Option<Op>,
    /// Weighted operation mix, e.g. get:9,set:1.
    #[arg(long, value_name = "OP:W,...", conflicts_with = "ratio")]
    mix: Option<Mix>,
    /// Read:write ratio (GET:SET), e.g. 9:1.
    #[arg(long, value_name = "R:W")]
    ratio: Option<String>,
    /// Measured time per run (after the warm-up): 10, 2.5s, 500ms, 1m.
    #[arg(long, default_value = "10", value_name = "TIME", value_parser = parse_duration)]
    duration: std::time::Duration,
    /// Stop each run after this many measured requests instead of a time.
    #[arg(short = 'n', long, value_name = "N")]
    requests: Option<u64>,
    /// Unmeasured warm-up before each run.
    #[arg(long, default_value = "2", value_name = "TIME", value_parser = parse_duration)]
    warmup: std::time::Duration,
    /// Write every key before measuring: auto = when the run reads.
    #[arg(long, value_enum, default_value_t = Preload::Auto)]
    preload: Preload,
    /// Open loop: send at this total rate (requests/s); latency then counts from when each
    /// request was due, correcting for coordinated omission.
    #[arg(long, value_name = "N")]
    rate: Option<f64>,
    /// Seed for keys, values and operation choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Generator threads (one pinned glommio reactor each) [default: the CPUs in the affinity mask].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// CPUs to pin generator threads to, e.g. 0 or 0,2-3 [default: the affinity mask].
    #[arg(long, value_name = "LIST")]
    cpus: Option<CpuList>,
    /// Write every figure, the command line, versions and the machine to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// No progress lines.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Preload {
    Auto,
    Always,
    Never,
}

impl RunArgs {
    fn specs(&self) -> Result<Vec<RunSpec>, String> {
        let scenarios: Vec<Scenario> = match (&self.suite, self.scenario) {
            (Some(name), _) if name.eq_ignore_ascii_case("huststore") => HUSTSTORE.to_vec(),
            (Some(name), _) => return Err(format!("unknown suite {name:?}; known: huststore")),
            (None, Some(s)) => vec![s],
            (None, None) => vec![Scenario::new(self.connections, self.value_size.hi)],
        };
        let explicit = match (&self.op, &self.mix, &self.ratio) {
            (Some(op), _, _) => Some(Mix::only(*op)),
            (_, Some(m), _) => Some(m.clone()),
            (_, _, Some(r)) => Some(Mix::ratio(r)?),
            _ => None,
        };
        // Without an explicit mix: PUT then GET, as huststore's table.
        let mixes = match explicit {
            Some(m) => vec![m],
            None => vec![Mix::only(Op::Set), Mix::only(Op::Get)],
        };
        let mut cpus = self
            .cpus
            .clone()
            .map_or_else(tessera_client::sys::affinity_cpus, |c| c.0);
        if let Some(t) = self.threads {
            if t == 0 {
                return Err("--threads must be at least 1".into());
            }
            cpus = (0..t).map(|i| cpus[i % cpus.len()]).collect();
        }
        let mut specs = Vec::new();
        for s in scenarios {
            let custom = self.scenario.is_none() && self.suite.is_none();
            let values = if custom {
                self.value_size
            } else {
                ValueSize::fixed(s.value)
            };
            for mix in &mixes {
                let what = if mix.ops.len() == 1 {
                    match mix.ops[0].0 {
                        Op::Set => "PUT".to_string(),
                        other => other.name().to_string(),
                    }
                } else {
                    mix.to_string()
                };
                let name = if custom {
                    format!("C{}-V{}", s.conns, values)
                } else {
                    s.to_string()
                };
                let depth = if self.pipeline > 1 {
                    format!(" P{}", self.pipeline)
                } else {
                    String::new()
                };
                specs.push(RunSpec {
                    label: format!("{name}{depth} {what}"),
                    proto: self.proto,
                    addr: self.addr,
                    conns: s.conns,
                    pipeline: self.pipeline,
                    keyspace: self.keyspace,
                    dist: self.dist,
                    mix: mix.clone(),
                    values,
                    duration: self.duration,
                    requests: self.requests,
                    warmup: self.warmup,
                    rate: self.rate,
                    preload: match self.preload {
                        Preload::Always => true,
                        Preload::Never => false,
                        Preload::Auto => mix.has(Op::Get),
                    },
                    seed: self.seed,
                    cpus: cpus.clone(),
                    progress: !self.quiet,
                });
            }
        }
        Ok(specs)
    }
}

fn run_all(args: &RunArgs) -> Result<Vec<RunResult>, String> {
    let specs = args.specs()?;
    let mut results = Vec::new();
    for spec in &specs {
        let r = run(spec)?;
        println!("{}", report::summary(&r));
        results.push(r);
    }
    if results.len() > 1 {
        println!("\n{}", report::table(&results));
    }
    if let Some(path) = &args.json {
        report::write_json(
            path,
            &JsonReport {
                command_line: std::env::args().collect(),
                tessera_bench_version: env!("CARGO_PKG_VERSION"),
                server_version: probe_version(args.proto, args.addr),
                machine: Machine::describe(),
                runs: &results,
            },
        )?;
    }
    Ok(results)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = tessera_client::Credentials::from_env();
    let creds = match (cli.user.clone(), cli.pass.clone()) {
        (user, Some(pass)) => Some(tessera_client::Credentials::new(
            user.unwrap_or_default(),
            pass,
        )),
        (Some(user), None) => env.map(|c| tessera_client::Credentials::new(user, c.pass)),
        (None, None) => env,
    };
    tessera_client::set_credentials(creds);
    if cli.tls {
        let Some(ca_file) = cli.cacert.clone() else {
            eprintln!("tessera-bench: --tls needs --cacert FILE");
            return ExitCode::FAILURE;
        };
        let o = tessera_client::tls::TlsOptions {
            ca_file,
            cert_file: cli.cert.clone(),
            key_file: cli.key.clone(),
            server_name: None,
        };
        if let Err(e) = tessera_client::tls::set_tls(Some(&o)) {
            eprintln!("tessera-bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    // C2000 needs file descriptors; the generator's reactors need locked memory.
    let threads = cli.run.threads.unwrap_or(4);
    if let Err(e) = tessera_client::sys::raise_limits(threads) {
        eprintln!("tessera-bench: {e}");
        return ExitCode::FAILURE;
    }
    let outcome = match &cli.command {
        Some(Command::Compare(args)) => compare::compare(args).map(|_| 0),
        None => run_all(&cli.run).map(|rs| rs.iter().map(|r| r.error_count()).sum::<u64>()),
    };
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(errors) => {
            eprintln!("tessera-bench: {errors} requests failed (see the errors column)");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("tessera-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
