//! # tessera-bench
//!
//! The load generator bundled with Tessera. It reproduces huststore's
//! C1000/C2000 × V256/V512/V1024 table against Tessera (binary protocol,
//! shard-aware) or anything speaking RESP, and runs the side-by-side with
//! redis-server that BENCHMARKS.md records.
//!
//! # Layout
//!
//! - [`scenario`]: `C<conns>-V<bytes>` names and huststore's six.
//! - [`workload`]: operations, key distributions, values.
//! - [`stats`]: histograms, percentiles, the open-loop schedule.
//! - [`driver`]: the binary and RESP connections.
//! - [`run`]: the thread-per-core runner.
//! - [`report`]: tables, machine description, JSON.
//! - [`compare`]: the side-by-side with redis-server and redis-benchmark.

pub mod compare;
pub mod driver;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod workload;

use std::time::Duration;

/// Parses `10`, `2.5s`, `500ms` or `1m` into a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("duration {s:?}: expected seconds, e.g. 10, 2.5s, 500ms or 1m"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("duration {s:?} must be zero or more"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// A CPU list such as `0,2-3` (a newtype so clap takes it as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

impl std::str::FromStr for CpuList {
    type Err = String;
    fn from_str(s: &str) -> Result<CpuList, String> {
        parse_cpus(s).map(CpuList)
    }
}

/// Parses a CPU list such as `0,2-3`.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("CPU list {s:?}: {part:?} is not a CPU number or range");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cpus.is_empty() {
        return Err(format!("CPU list {s:?} is empty"));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_cpu_lists() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2.5s").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_cpus("0,2-3").unwrap(), vec![0, 2, 3]);
        assert!(parse_cpus("3-1").is_err());
        assert!(parse_cpus("").is_err());
        assert!(parse_cpus("a").is_err());
    }
}
