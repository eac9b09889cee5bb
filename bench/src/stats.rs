//! Latency histograms, error counts and the open-loop schedule.
//!
//! Latencies are recorded in microseconds in an HdrHistogram (3 significant
//! digits, up to 100 s). In open-loop mode (`--rate`) a request's latency
//! runs from the time it was *due* to be sent, not from when it was sent, so
//! a stalled server is charged for the requests it kept waiting (coordinated
//! omission correction).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

const MAX_US: u64 = 100_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// What one thread (or the whole run) saw.
#[derive(Clone)]
pub struct Stats {
    pub hist: Histogram<u64>,
    /// Requests answered (errors and misses included).
    pub ops: u64,
    /// Error replies and failures, by error name (a registry name such as
    /// WRONGTYPE, the first word of a RESP error, or io/closed/protocol).
    pub errors: BTreeMap<String, u64>,
    /// Reads that found no value.
    pub misses: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            hist: new_histogram(),
            ops: 0,
            errors: BTreeMap::new(),
            misses: 0,
        }
    }
}

impl Stats {
    pub fn record(&mut self, latency: Duration) {
        let us = (latency.as_micros() as u64).clamp(1, MAX_US);
        self.hist.record(us).expect("clamped into range");
        self.ops += 1;
    }

    pub fn error(&mut self, name: &str) {
        *self.errors.entry(name.to_string()).or_default() += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: &Stats) {
        self.hist.add(&other.hist).expect("same histogram bounds");
        self.ops += other.ops;
        self.misses += other.misses;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
    }

    pub fn reset(&mut self) {
        self.hist.reset();
        self.ops = 0;
        self.misses = 0;
        self.errors.clear();
    }

    pub fn latency(&self) -> Latency {
        Latency::of(&self.hist)
    }
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Latency {
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Latency {
                avg_ms: 0.0,
                p50_ms: 0.0,
                p90_ms: 0.0,
                p99_ms: 0.0,
                p999_ms: 0.0,
                max_ms: 0.0,
            };
        }
        Latency {
            avg_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Open-loop pacing: request `k` of a stream is due at `start + k/rate`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    interval: Duration,
}

impl Schedule {
    /// `rate` requests per second for this one stream.
    pub fn new(start: Instant, rate: f64) -> Schedule {
        let interval = Duration::from_secs_f64(1.0 / rate.max(1e-9));
        Schedule { start, interval }
    }

    pub fn due(&self, k: u64) -> Instant {
        self.start + self.interval.mul_f64(k as f64)
    }
}

/// The latency to record: from when the request was due (open loop) or sent
/// (closed loop) to when its reply arrived.
pub fn latency(due_or_sent: Instant, done: Instant) -> Duration {
    done.saturating_duration_since(due_or_sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut s = Stats::default();
        // 1..=10_000 microseconds, once each.
        for us in 1..=10_000u64 {
            s.record(Duration::from_micros(us));
        }
        let l = s.latency();
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.002 + 0.001;
        assert!(near(l.p50_ms, 5.0), "p50 {}", l.p50_ms);
        assert!(near(l.p90_ms, 9.0), "p90 {}", l.p90_ms);
        assert!(near(l.p99_ms, 9.9), "p99 {}", l.p99_ms);
        assert!(near(l.p999_ms, 9.99), "p99.9 {}", l.p999_ms);
        assert!(near(l.max_ms, 10.0), "max {}", l.max_ms);
        assert!(near(l.avg_ms, 5.0005), "avg {}", l.avg_ms);
        assert_eq!(s.ops, 10_000);
    }

    #[test]
    fn merging_adds_counts_and_errors() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record(Duration::from_micros(100));
        a.error("WRONGTYPE");
        b.record(Duration::from_micros(300));
        b.record(Duration::from_millis(50));
        b.error("WRONGTYPE");
        b.error("io");
        b.misses = 2;
        a.merge(&b);
        assert_eq!(a.ops, 3);
        assert_eq!(a.misses, 2);
        assert_eq!(a.errors["WRONGTYPE"], 2);
        assert_eq!(a.error_count(), 3);
        assert!((a.latency().max_ms - 50.0).abs() < 0.1);
        a.reset();
        assert_eq!((a.ops, a.error_count(), a.hist.len()), (0, 0, 0));
        assert_eq!(a.latency().p99_ms, 0.0);
    }

    #[test]
    fn out_of_range_latencies_are_clamped_not_lost() {
        let mut s = Stats::default();
        s.record(Duration::ZERO);
        s.record(Duration::from_secs(1000));
        assert_eq!(s.ops, 2);
        assert_eq!(s.hist.max(), s.hist.highest_equivalent(MAX_US));
    }

    /// A server that answers in 0.5 ms but stalls for one second once: the
    /// open-loop schedule charges the stall to every request that was due
    /// during it, a closed loop records it once.
    #[test]
    fn open_loop_latency_counts_the_queued_requests() {
        let t0 = Instant::now();
        let sched = Schedule::new(t0, 1000.0); // one request per ms
        let (mut open, mut closed) = (Stats::default(), Stats::default());
        let mut now = t0;
        let mut k = 0u64;
        while now < t0 + Duration::from_secs(10) {
            let due = sched.due(k);
            let sent = now.max(due);
            let service = if k == 2000 {
                Duration::from_secs(1)
            } else {
                Duration::from_micros(500)
            };
            let done = sent + service;
            open.record(latency(due, done));
            closed.record(latency(sent, done));
            now = done;
            k += 1;
        }
        // Closed loop: one slow sample in ~10000, p99 stays at the service time.
        assert!(closed.latency().p99_ms < 1.1, "{:?}", closed.latency());
        // Open loop: the ~1000 requests due during the stall (and the
        // backlog after it) are all late, so p99 reflects the stall.
        assert!(open.latency().p99_ms > 500.0, "{:?}", open.latency());
        assert!(open.latency().p50_ms < 1.1);
    }

    #[test]
    fn schedule_spaces_requests_evenly() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 4.0);
        assert_eq!(s.due(0), t0);
        assert_eq!(s.due(2) - t0, Duration::from_millis(500));
        assert_eq!(s.due(8) - t0, Duration::from_secs(2));
    }
}
