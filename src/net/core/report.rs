//! What a core reports: its INFO sections and its metric lines (gathered
//! from every core by INFO, METRICS and `GET /metrics`).

use super::Core;
use crate::shard::{self};

impl Core {
    /// This core's metrics in the line format of `net::metrics`.
    pub(super) fn metrics_lines(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let c = self.id;
        self.stats.write_metric_lines(c, &mut s);
        let _ = writeln!(
            s,
            "g tessera_mesh_inbox_depth core={c} {}",
            self.mesh.depth(c) as f64
        );
        // Process-wide: reported once, by core 0.
        if c == 0 {
            match self.cluster() {
                Some(cl) => cl.metric_lines(&mut s),
                // Every family is exported; outside cluster mode as zeros.
                None => super::cluster::zero_metric_lines(&mut s),
            }
            let _ = writeln!(
                s,
                "c tessera_expired_keys_removed_total node=local {}",
                shard::expired_removed()
            );
            let _ = writeln!(
                s,
                "c tessera_subkeys_removed_total node=local {}",
                shard::subkeys_removed()
            );
        }
        for p in &self.local {
            let i = p.info();
            let l = format!("partition={},core={c}", i.id);
            for (kind, name, v) in [
                ("c", "tessera_partition_reads_total", i.reads),
                ("c", "tessera_partition_writes_total", i.writes),
                (
                    "c",
                    "tessera_partition_blocking_reads_total",
                    i.blocking_reads,
                ),
                (
                    "c",
                    "tessera_partition_inline_disk_reads_total",
                    i.inline_disk_reads,
                ),
                (
                    "c",
                    "tessera_partition_range_compactions_total",
                    i.range_compactions,
                ),
                ("c", "tessera_partition_read_ahead_total", i.read_ahead),
                ("c", "tessera_partition_seeks_total", i.seeks),
                ("c", "tessera_partition_group_commits_total", i.groups),
                ("c", "tessera_partition_write_stalls_total", i.stalls),
                (
                    "c",
                    "tessera_partition_block_cache_hits_total",
                    i.block_cache_hits,
                ),
                (
                    "c",
                    "tessera_partition_block_cache_misses_total",
                    i.block_cache_misses,
                ),
                ("g", "tessera_partition_memtable_bytes", i.memtable_bytes),
                ("g", "tessera_partition_sst_bytes", i.sst_bytes),
                (
                    "g",
                    "tessera_partition_pending_compaction_bytes",
                    i.pending_compaction_bytes,
                ),
                ("g", "tessera_partition_keys_estimate", i.estimate_keys),
                (
                    "c",
                    "tessera_partition_read_cache_hits_total",
                    i.read_cache_hits,
                ),
                (
                    "c",
                    "tessera_partition_read_cache_misses_total",
                    i.read_cache_misses,
                ),
                ("g", "tessera_partition_read_cache_keys", i.read_cache_keys),
                ("g", "tessera_partition_absorbed_bytes", i.absorbed_bytes),
                ("c", "tessera_partition_drains_total", i.drains),
                ("c", "tessera_partition_keys_written_total", i.keys_written),
                (
                    "g",
                    "tessera_partition_poisoned",
                    u64::from(i.poisoned.is_some()),
                ),
            ] {
                let _ = writeln!(s, "{kind} {name} {l} {v}");
            }
            // Replication: the log position, and on a replica the stream.
            let rec = p.last_record();
            let mut repl = vec![
                ("g", "tessera_repl_index", rec.index as f64),
                ("g", "tessera_repl_epoch_term", rec.epoch.term as f64),
            ];
            if let Some(r) = self.repl().stream(i.id) {
                repl.extend([
                    ("g", "tessera_repl_lag_batches", r.lag() as f64),
                    ("g", "tessera_repl_lag_bytes", r.lag_bytes() as f64),
                    ("g", "tessera_repl_lag_seconds", r.lag_seconds()),
                    ("c", "tessera_repl_full_syncs_total", r.full_syncs as f64),
                    ("g", "tessera_repl_tailing", f64::from(r.state == "tailing")),
                ]);
            }
            for (kind, name, v) in repl {
                let _ = writeln!(s, "{kind} {name} {l} {v}");
            }
        }
        let role = match &self.repl().role() {
            crate::repl::CoreRole::Primary => 0,
            crate::repl::CoreRole::Replica(_) => 1,
            crate::repl::CoreRole::Fenced(_) => 2,
        };
        let _ = writeln!(s, "g tessera_role core={c} {role}");
        let _ = writeln!(
            s,
            "g tessera_epoch_term core={c} {}",
            self.repl().epoch().term
        );
        s
    }

    pub(super) fn info_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "# core {}", self.id);
        self.stats.write_info_lines(self.id, &mut s);
        let blocked = self.waiters.blocked_clients();
        let _ = writeln!(s, "core{}_blocked_clients:{blocked}", self.id);
        let _ = writeln!(
            s,
            "core{}_committed_group:{}",
            self.id,
            self.groups.committed()
        );
        let _ = writeln!(s, "core{}_role:{}", self.id, self.repl.role_text());
        let _ = writeln!(s, "core{}_epoch:{}", self.id, self.repl().epoch());
        let _ = writeln!(s, "core{}_peers:{}", self.id, self.repl().peers().join(","));
        if self.id == 0 {
            if let Some(cl) = self.cluster() {
                cl.info_lines(&mut s);
            }
        }
        for p in &self.local {
            let i = p.info();
            let n = i.id;
            let _ = writeln!(s, "# partition {n}");
            let _ = writeln!(s, "partition{n}_core:{}", self.id);
            let _ = writeln!(s, "partition{n}_slots:{}", i.slots);
            let _ = writeln!(s, "partition{n}_keys_estimate:{}", i.estimate_keys);
            let _ = writeln!(s, "partition{n}_reads:{}", i.reads);
            let _ = writeln!(s, "partition{n}_writes:{}", i.writes);
            let _ = writeln!(s, "partition{n}_blocking_reads:{}", i.blocking_reads);
            let _ = writeln!(s, "partition{n}_inline_disk_reads:{}", i.inline_disk_reads);
            let _ = writeln!(s, "partition{n}_range_compactions:{}", i.range_compactions);
            let _ = writeln!(s, "partition{n}_read_ahead:{}", i.read_ahead);
            let _ = writeln!(s, "partition{n}_seeks:{}", i.seeks);
            let _ = writeln!(s, "partition{n}_read_cache_hits:{}", i.read_cache_hits);
            let _ = writeln!(s, "partition{n}_read_cache_misses:{}", i.read_cache_misses);
            let _ = writeln!(s, "partition{n}_read_cache_keys:{}", i.read_cache_keys);
            let _ = writeln!(s, "partition{n}_absorbed_bytes:{}", i.absorbed_bytes);
            let _ = writeln!(s, "partition{n}_drains:{}", i.drains);
            let _ = writeln!(s, "partition{n}_keys_written:{}", i.keys_written);
            let _ = writeln!(s, "partition{n}_group_commits:{}", i.groups);
            let _ = writeln!(s, "partition{n}_write_stalls:{}", i.stalls);
            let _ = writeln!(s, "partition{n}_wal_synced:{}", i.wal_synced);
            let _ = writeln!(s, "partition{n}_memtable_bytes:{}", i.memtable_bytes);
            let _ = writeln!(s, "partition{n}_sst_bytes:{}", i.sst_bytes);
            let _ = writeln!(
                s,
                "partition{n}_pending_compaction_bytes:{}",
                i.pending_compaction_bytes
            );
            let _ = writeln!(
                s,
                "partition{n}_poisoned:{}",
                i.poisoned.as_deref().unwrap_or("no")
            );
            let _ = writeln!(s, "partition{n}_latest_sequence:{}", p.latest_sequence());
            let rec = p.last_record();
            let _ = writeln!(s, "partition{n}_position:{}", rec.position());
            let _ = writeln!(s, "partition{n}_log_bytes:{}", rec.bytes);
            for (node, at) in self.repl().replica_positions(n) {
                let _ = writeln!(s, "partition{n}_replica_{node:016x}_index:{at}");
            }
            if let Some(r) = self.repl().stream(n) {
                let _ = writeln!(s, "partition{n}_repl_position:{}", r.position.position());
                let _ = writeln!(s, "partition{n}_repl_index:{}", r.position.index);
                let _ = writeln!(s, "partition{n}_repl_lag:{}", r.lag());
                let _ = writeln!(s, "partition{n}_repl_lag_bytes:{}", r.lag_bytes());
                let _ = writeln!(s, "partition{n}_repl_lag_seconds:{:.3}", r.lag_seconds());
                let _ = writeln!(s, "partition{n}_repl_state:{}", r.state);
                let _ = writeln!(s, "partition{n}_repl_full_syncs:{}", r.full_syncs);
            }
        }
        s
    }

    /// Server-wide INFO header (the core that answers adds it once).
    pub fn info_header(&self) -> String {
        format!(
            "# server\nversion:{}\nnode_id:{:016x}\ncores:{}\npartitions:{}\ndurability:{}\nuptime_seconds:{}\n",
            env!("CARGO_PKG_VERSION"),
            self.node_id(),
            self.topo.cores(),
            self.topo.partitions(),
            self.config.durability.as_str(),
            self.started.elapsed().as_secs()
        )
    }
}
