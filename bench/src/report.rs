//! Tables, the machine description and the `--json` document.

use std::fmt::Write as _;

use crate::run::RunResult;

/// What the machine is, for reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cpus_online: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub hostname: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu_model,
            cpus_online: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
        }
    }

    pub fn one_line(&self) -> String {
        format!(
            "{} ({} CPUs online), {} GiB RAM, Linux {}",
            self.cpu_model, self.cpus_online, self.memory_gib, self.kernel
        )
    }
}

/// The huststore-shaped table: one row per run.
pub fn table(results: &[RunResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| {:<22} | {:>10} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>7} |",
        "run", "QPS", "avg ms", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
    );
    let _ = writeln!(
        s,
        "|{}|{}|{}|{}|{}|{}|{}|{}|{}|",
        "-".repeat(24),
        "-".repeat(12),
        "-".repeat(10),
        "-".repeat(10),
        "-".repeat(10),
        "-".repeat(10),
        "-".repeat(10),
        "-".repeat(10),
        "-".repeat(9)
    );
    for r in results {
        let l = &r.latency;
        let _ = writeln!(
            s,
            "| {:<22} | {:>10.0} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} | {:>7} |",
            r.label, r.qps, l.avg_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms,
            r.error_count()
        );
    }
    s
}

/// One line per run, for the end of a single run.
pub fn summary(r: &RunResult) -> String {
    let l = &r.latency;
    format!(
        "{}: {:.0} ops/s over {:.1}s ({} ops, {} errors, {} misses); latency ms avg {:.3} p50 {:.3} \
         p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}; generator used {:.2} cores on {} threads",
        r.label,
        r.qps,
        r.seconds,
        r.ops,
        r.error_count(),
        r.misses,
        l.avg_ms,
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.p999_ms,
        l.max_ms,
        r.generator_cpu_cores,
        r.threads
    )
}

/// The `--json` document.
#[derive(serde::Serialize)]
pub struct JsonReport<'a> {
    pub command_line: Vec<String>,
    pub tessera_bench_version: &'static str,
    pub server_version: Option<String>,
    pub machine: Machine,
    pub runs: &'a [RunResult],
}

pub fn write_json(path: &std::path::Path, report: &JsonReport<'_>) -> Result<(), String> {
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("write {}: {e}", path.display()))
}
