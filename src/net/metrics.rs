//! Metrics: per-core recording on the hot path (plain counters, no
//! atomics), a line format the METRICS request carries between cores, and
//! the Prometheus text the HTTP `/metrics` endpoint renders from it with
//! prometheus-client.
//!
//! Line format (one series per line, space separated):
//! `c|g NAME LABELS VALUE` for counters and gauges, and
//! `h NAME LABELS SUM COUNT B1,B2,...` for histograms (per-bucket counts for
//! [`BUCKETS`] then +Inf). LABELS is `k=v,k=v` (values never contain `,`,
//! `=` or spaces).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::proto::Opcode;

/// Latency bucket upper bounds, in seconds.
pub const BUCKETS: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
const NB: usize = BUCKETS.len() + 1;

/// One core's request figures.
pub struct CommandMetrics {
    /// `[opcode][0 = ok, 1 = error]`.
    counts: Box<[[u64; 2]; 256]>,
    /// `[opcode][bucket]` per-bucket counts.
    latency: Box<[[u64; NB]; 256]>,
    latency_sum_us: Box<[u64; 256]>,
    bytes_in: u64,
    bytes_out: u64,
}

impl Default for CommandMetrics {
    fn default() -> Self {
        CommandMetrics {
            counts: Box::new([[0; 2]; 256]),
            latency: Box::new([[0; NB]; 256]),
            latency_sum_us: Box::new([0; 256]),
            bytes_in: 0,
            bytes_out: 0,
        }
    }
}

impl CommandMetrics {
    /// Bytes read from clients.
    pub fn add_bytes_in(&mut self, n: u64) {
        self.bytes_in += n;
    }

    /// Bytes written to clients.
    pub fn add_bytes_out(&mut self, n: u64) {
        self.bytes_out += n;
    }

    /// One answered request of opcode `op`, seen by its client after `took`.
    #[inline]
    pub fn record(&mut self, op: u8, ok: bool, took: Duration) {
        let o = op as usize;
        self.counts[o][usize::from(!ok)] += 1;
        let secs = took.as_secs_f64();
        let b = BUCKETS.iter().position(|&u| secs <= u).unwrap_or(NB - 1);
        self.latency[o][b] += 1;
        self.latency_sum_us[o] += took.as_micros() as u64;
    }

    /// This core's request series in the line format.
    pub fn write_lines(&self, core: usize, out: &mut String) {
        for op in 0..=255u8 {
            let Ok(code) = Opcode::try_from(op) else {
                continue;
            };
            let [ok, err] = self.counts[op as usize];
            if ok + err == 0 {
                continue;
            }
            let name = code.name();
            for (result, n) in [("ok", ok), ("error", err)] {
                let _ = writeln!(
                    out,
                    "c tessera_requests_total core={core},command={name},result={result} {n}"
                );
            }
            let buckets: Vec<String> = self.latency[op as usize]
                .iter()
                .map(|n| n.to_string())
                .collect();
            let _ = writeln!(
                out,
                "h tessera_request_duration_seconds core={core},command={name} {} {} {}",
                self.latency_sum_us[op as usize] as f64 / 1e6,
                ok + err,
                buckets.join(",")
            );
        }
        let _ = writeln!(
            out,
            "c tessera_received_bytes_total core={core} {}",
            self.bytes_in
        );
        let _ = writeln!(
            out,
            "c tessera_sent_bytes_total core={core} {}",
            self.bytes_out
        );
    }
}

/// HELP texts of every family (also the list the Grafana dashboard may use).
pub const FAMILIES: &[(&str, &str)] = &[
    (
        "tessera_requests_total",
        "Requests answered, by core, command and result",
    ),
    (
        "tessera_request_duration_seconds",
        "Time from reading a request batch to writing its replies, by command",
    ),
    (
        "tessera_received_bytes_total",
        "Bytes read from binary-protocol clients",
    ),
    (
        "tessera_sent_bytes_total",
        "Bytes written to binary-protocol clients",
    ),
    ("tessera_connections", "Open binary-protocol connections"),
    (
        "tessera_connections_accepted_total",
        "Binary-protocol connections accepted",
    ),
    (
        "tessera_forwarded_out_total",
        "Requests this core forwarded to the owning core",
    ),
    (
        "tessera_forwarded_in_total",
        "Requests this core served for other cores",
    ),
    (
        "tessera_cluster_moved_total",
        "Cluster mode: requests answered MOVED because another node serves the slot",
    ),
    (
        "tessera_cluster_tryagain_total",
        "Cluster mode: writes answered TRYAGAIN during a slot migration's fence",
    ),
    (
        "tessera_cluster_ask_total",
        "Cluster mode: requests answered ASK during a slot migration's hand-over",
    ),
    ("tessera_cluster_epoch", "Cluster mode: the map's config epoch"),
    (
        "tessera_cluster_slots_served",
        "Cluster mode: slots this node's shard serves",
    ),
    (
        "tessera_cluster_controller_leader",
        "Cluster mode: 1 when this node leads the controller",
    ),
    (
        "tessera_cluster_controller_lag_max",
        "Cluster mode, on the controller's leader: the largest log lag of a node, in entries",
    ),
    (
        "tessera_cluster_failovers_total",
        "Cluster mode: failovers this node decided as the controller's leader",
    ),
    (
        "tessera_cluster_last_failover_seconds",
        "Cluster mode: time from the failed primary's last answered heartbeat to the committed failover",
    ),
    (
        "tessera_cluster_migrations_in_progress",
        "Cluster mode: slot migrations in the map",
    ),
    (
        "tessera_cluster_migrate_keys_in_total",
        "Cluster mode: keys and members a slot migration copied or replayed into this node",
    ),
    (
        "tessera_cluster_migrate_bytes_in_total",
        "Cluster mode: bytes a slot migration copied or replayed into this node",
    ),
    (
        "tessera_cluster_migrate_fences_total",
        "Cluster mode: migration fences this node (as target primary) saw through to the flip",
    ),
    (
        "tessera_cluster_migrate_fence_max_seconds",
        "Cluster mode: the longest of those fences, from the fence's commit to the flip's",
    ),
    (
        "tessera_cluster_migrate_fence_seconds",
        "Cluster mode: slot migration fences this node saw as the target primary, from the fence's commit to the flip's",
    ),
    (
        "tessera_cluster_migrate_throttle_waits_total",
        "Cluster mode: pauses of a migration's copy for migrate-bytes-per-sec",
    ),
    (
        "tessera_mesh_inbox_depth",
        "Messages waiting in this core's mesh inbox",
    ),
    (
        "tessera_wal_syncs_total",
        "WAL syncs (per group commit in fsync mode, once a second in wal mode)",
    ),
    ("tessera_wal_sync_seconds_total", "Time spent in WAL syncs"),
    (
        "tessera_expired_keys_removed_total",
        "Expired values removed by compactions since start",
    ),
    (
        "tessera_partition_block_cache_hits_total",
        "Block cache hits of the partition's reads",
    ),
    (
        "tessera_partition_block_cache_misses_total",
        "Block cache misses of the partition's reads",
    ),
    (
        "tessera_partition_reads_total",
        "Reads served by the partition",
    ),
    (
        "tessera_partition_writes_total",
        "Writes staged into the partition",
    ),
    (
        "tessera_partition_blocking_reads_total",
        "Reads that missed the block cache and went to the blocking pool",
    ),
    (
        "tessera_partition_inline_disk_reads_total",
        "Commands that still missed the block cache after warming and read disk on the reactor",
    ),
    (
        "tessera_partition_read_ahead_total",
        "Collection members read ahead by pops: list elements into the read cache, others into read-ahead windows",
    ),
    (
        "tessera_partition_seeks_total",
        "RocksDB iterator seeks (range reads and read-aheads)",
    ),
    (
        "tessera_partition_range_compactions_total",
        "Compactions of one collection's members, started when its deleted members outnumbered its live ones",
    ),
    (
        "tessera_subkeys_removed_total",
        "Collection members of deleted, expired or recreated keys removed by compaction",
    ),
    (
        "tessera_partition_group_commits_total",
        "Group commits written (writes / group commits = batch size)",
    ),
    (
        "tessera_partition_write_stalls_total",
        "Group commits RocksDB would have stalled (finished in the blocking pool)",
    ),
    ("tessera_partition_memtable_bytes", "RocksDB memtable bytes"),
    ("tessera_partition_sst_bytes", "RocksDB live SST bytes"),
    (
        "tessera_partition_pending_compaction_bytes",
        "RocksDB estimated pending compaction bytes",
    ),
    ("tessera_partition_keys_estimate", "RocksDB estimated keys"),
    (
        "tessera_partition_poisoned",
        "1 when the partition refuses writes after a failed write or sync",
    ),
];

type Labels = Vec<(String, String)>;

#[derive(Debug)]
enum Sample {
    Num(f64),
    Hist {
        sum: f64,
        count: u64,
        buckets: Vec<(f64, u64)>,
    },
}

/// All series of one family, encoded as they came.
#[derive(Debug)]
struct ConstFamily {
    kind: MetricType,
    series: Vec<(Labels, Sample)>,
}

impl EncodeMetric for ConstFamily {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, sample) in &self.series {
            let mut e = encoder.encode_family(labels)?;
            match (sample, self.kind) {
                (Sample::Num(v), MetricType::Counter) if v.fract() == 0.0 => {
                    e.encode_counter::<NoLabelSet, _, u64>(&(*v as u64), None)?
                }
                (Sample::Num(v), MetricType::Counter) => {
                    e.encode_counter::<NoLabelSet, _, u64>(v, None)?
                }
                (Sample::Num(v), _) if v.fract() == 0.0 && v.abs() < 9e15 => {
                    e.encode_gauge(&(*v as i64))?
                }
                (Sample::Num(v), _) => e.encode_gauge(v)?,
                (
                    Sample::Hist {
                        sum,
                        count,
                        buckets,
                    },
                    _,
                ) => e.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?,
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

fn parse_labels(s: &str) -> Labels {
    s.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Renders the gathered lines of every core as Prometheus text.
pub fn render(lines: &str) -> String {
    let mut families: BTreeMap<String, ConstFamily> = BTreeMap::new();
    for line in lines.lines() {
        let mut w = line.split(' ');
        let (Some(kind), Some(name), Some(labels)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let (kind, sample) = match kind {
            "c" | "g" => {
                let Some(v) = w.next().and_then(|v| v.parse().ok()) else {
                    continue;
                };
                let k = if kind == "c" {
                    MetricType::Counter
                } else {
                    MetricType::Gauge
                };
                (k, Sample::Num(v))
            }
            "h" => {
                let (Some(sum), Some(count), Some(bs)) = (
                    w.next().and_then(|v| v.parse().ok()),
                    w.next().and_then(|v| v.parse().ok()),
                    w.next(),
                ) else {
                    continue;
                };
                let counts: Vec<u64> = bs.split(',').filter_map(|b| b.parse().ok()).collect();
                let bounds = BUCKETS.iter().copied().chain([f64::MAX]);
                let buckets = bounds.zip(counts).collect();
                (
                    MetricType::Histogram,
                    Sample::Hist {
                        sum,
                        count,
                        buckets,
                    },
                )
            }
            _ => continue,
        };
        // The registry adds `_total` to counters itself.
        let base = name.strip_suffix("_total").unwrap_or(name).to_string();
        families
            .entry(base)
            .or_insert_with(|| ConstFamily {
                kind,
                series: Vec::new(),
            })
            .series
            .push((parse_labels(labels), sample));
    }
    let mut registry = Registry::default();
    for (base, family) in families {
        let full = if matches!(family.kind, MetricType::Counter) {
            format!("{base}_total")
        } else {
            base.clone()
        };
        let help = FAMILIES
            .iter()
            .find(|(n, _)| *n == full)
            .map_or("", |(_, h)| *h);
        registry.register(base, help, family);
    }
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_requests_render_as_prometheus_text() {
        let mut m = CommandMetrics::default();
        m.record(Opcode::Get as u8, true, Duration::from_micros(80));
        m.record(Opcode::Get as u8, true, Duration::from_millis(3));
        m.record(Opcode::Set as u8, false, Duration::from_secs(9));
        m.add_bytes_in(42);
        let mut lines = String::new();
        m.write_lines(1, &mut lines);
        lines.push_str("g tessera_partition_memtable_bytes partition=0,core=1 1024\n");
        let text = render(&lines);
        assert!(text.contains("# TYPE tessera_requests counter"), "{text}");
        assert!(
            text.contains(r#"tessera_requests_total{core="1",command="GET",result="ok"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"tessera_requests_total{core="1",command="SET",result="error"} 1"#));
        assert!(text.contains("# TYPE tessera_request_duration_seconds histogram"));
        // Cumulative buckets: 80 µs falls in le=0.0001, 3 ms in le=0.005.
        assert!(
            text.contains(
                r#"tessera_request_duration_seconds_bucket{le="0.0001",core="1",command="GET"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"tessera_request_duration_seconds_bucket{le="0.005",core="1",command="GET"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"tessera_request_duration_seconds_count{core="1",command="SET"} 1"#)
        );
        assert!(text.contains(r#"tessera_received_bytes_total{core="1"} 42"#));
        assert!(text.contains(r#"tessera_partition_memtable_bytes{partition="0",core="1"} 1024"#));
        assert!(text.contains("# HELP tessera_partition_memtable_bytes RocksDB memtable bytes."));
    }
}
