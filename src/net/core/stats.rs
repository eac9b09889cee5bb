//! Connections and stats of one core, as a service: the counters INFO and
//! `/metrics` show, and the per-command request figures (`net::metrics`).
//! Everything runs on the core's thread, so the counters are plain cells;
//! no field is public, and each event has its method.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::time::Duration;

use crate::net::metrics::CommandMetrics;

#[derive(Default)]
pub struct Stats {
    connections: Cell<u64>,
    connections_total: Cell<u64>,
    requests: Cell<u64>,
    forwarded_out: Cell<u64>,
    forwarded_in: Cell<u64>,
    /// Cluster mode: requests answered MOVED (another node serves the slot).
    moved: Cell<u64>,
    /// Cluster mode: writes answered TRYAGAIN (their slot's migration was
    /// in its fence).
    tryagain: Cell<u64>,
    /// Cluster mode: requests answered ASK (a migration's hand-over).
    ask: Cell<u64>,
    errors: Cell<u64>,
    /// Clients evicted for holding budget for a partial frame without
    /// sending (`net::stall`).
    evicted_stalled: Cell<u64>,
    /// Clients closed for passing `client-output-buffer-limit`.
    output_limit_closed: Cell<u64>,
    /// WAL syncs (group commits in fsync mode, the periodic sync in wal
    /// mode) and the time they took, in microseconds.
    wal_syncs: Cell<u64>,
    wal_sync_us: Cell<u64>,
    /// Requests by command, latency, bytes.
    commands: RefCell<CommandMetrics>,
}

#[inline]
fn bump(c: &Cell<u64>, by: u64) {
    c.set(c.get().saturating_add(by));
}

impl Stats {
    /// A client connection (binary or RESP) opened.
    #[inline]
    pub fn connection_opened(&self) {
        bump(&self.connections, 1);
        bump(&self.connections_total, 1);
    }

    /// A client connection closed.
    #[inline]
    pub fn connection_closed(&self) {
        self.connections
            .set(self.connections.get().saturating_sub(1));
    }

    /// A request ran on this core; `ok` when it succeeded.
    #[inline]
    pub fn request(&self, ok: bool) {
        bump(&self.requests, 1);
        if !ok {
            self.error();
        }
    }

    /// A client was evicted for stalling with budget held.
    #[inline]
    pub fn evicted_stalled(&self) {
        bump(&self.evicted_stalled, 1);
    }

    /// A client was closed for passing its output buffer limit.
    #[inline]
    pub fn output_limit_closed(&self) {
        bump(&self.output_limit_closed, 1);
    }

    /// A request failed before it could run (a frame that does not decode).
    #[inline]
    pub fn error(&self) {
        bump(&self.errors, 1);
    }

    /// A request frame was sent to another core.
    #[inline]
    pub fn forwarded_out(&self) {
        bump(&self.forwarded_out, 1);
    }

    /// A request frame arrived from another core.
    #[inline]
    pub fn forwarded_in(&self) {
        bump(&self.forwarded_in, 1);
    }

    /// Cluster mode: a request was answered MOVED.
    #[inline]
    pub fn moved(&self) {
        bump(&self.moved, 1);
    }

    /// A write was answered TRYAGAIN (a migration's fence).
    #[inline]
    pub fn tryagain(&self) {
        bump(&self.tryagain, 1);
    }

    /// A request was answered ASK (a migration's hand-over).
    #[inline]
    pub fn ask(&self) {
        bump(&self.ask, 1);
    }

    /// A WAL sync took `took`.
    #[inline]
    pub fn wal_sync(&self, took: Duration) {
        bump(&self.wal_syncs, 1);
        bump(&self.wal_sync_us, took.as_micros() as u64);
    }

    /// Bytes read from clients.
    #[inline]
    pub fn bytes_in(&self, n: usize) {
        self.commands.borrow_mut().add_bytes_in(n as u64);
    }

    /// Bytes written to clients.
    #[inline]
    pub fn bytes_out(&self, n: usize) {
        self.commands.borrow_mut().add_bytes_out(n as u64);
    }

    /// One answered request of opcode `op`, seen by its client after `took`.
    #[inline]
    pub fn command(&self, op: u8, ok: bool, took: Duration) {
        self.commands.borrow_mut().record(op, ok, took);
    }

    /// Answered requests of one batch: `(opcode, ok)` each, with the
    /// batch's latency.
    #[inline]
    pub fn commands(&self, answered: impl IntoIterator<Item = (u8, bool)>, took: Duration) {
        let mut m = self.commands.borrow_mut();
        for (op, ok) in answered {
            m.record(op, ok, took);
        }
    }

    /// Core `core`'s series in the line format of `net::metrics`.
    pub fn write_metric_lines(&self, core: usize, out: &mut String) {
        self.commands.borrow().write_lines(core, out);
        for (kind, name, v) in [
            ("g", "tessera_connections", self.connections.get() as f64),
            (
                "c",
                "tessera_connections_accepted_total",
                self.connections_total.get() as f64,
            ),
            (
                "c",
                "tessera_forwarded_out_total",
                self.forwarded_out.get() as f64,
            ),
            (
                "c",
                "tessera_forwarded_in_total",
                self.forwarded_in.get() as f64,
            ),
            ("c", "tessera_cluster_moved_total", self.moved.get() as f64),
            (
                "c",
                "tessera_cluster_tryagain_total",
                self.tryagain.get() as f64,
            ),
            ("c", "tessera_cluster_ask_total", self.ask.get() as f64),
            (
                "c",
                "tessera_clients_evicted_stalled_total",
                self.evicted_stalled.get() as f64,
            ),
            (
                "c",
                "tessera_clients_closed_output_limit_total",
                self.output_limit_closed.get() as f64,
            ),
            ("c", "tessera_wal_syncs_total", self.wal_syncs.get() as f64),
            (
                "c",
                "tessera_wal_sync_seconds_total",
                self.wal_sync_us.get() as f64 / 1e6,
            ),
        ] {
            let _ = writeln!(out, "{kind} {name} core={core} {v}");
        }
    }

    /// Core `core`'s lines of INFO.
    pub fn write_info_lines(&self, core: usize, out: &mut String) {
        for (name, v) in [
            ("connections", &self.connections),
            ("connections_total", &self.connections_total),
            ("requests", &self.requests),
            ("errors", &self.errors),
            ("forwarded_out", &self.forwarded_out),
            ("forwarded_in", &self.forwarded_in),
            ("moved", &self.moved),
            ("tryagain", &self.tryagain),
            ("ask", &self.ask),
            ("evicted_stalled", &self.evicted_stalled),
            ("closed_output_limit", &self.output_limit_closed),
        ] {
            let _ = writeln!(out, "core{core}_{name}:{}", v.get());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_show_in_info_and_metrics() {
        let s = Stats::default();
        s.connection_opened();
        s.connection_opened();
        s.connection_closed();
        s.request(true);
        s.request(false);
        s.error();
        s.forwarded_out();
        s.moved();
        s.wal_sync(Duration::from_micros(1500));
        s.command(0x01, true, Duration::from_micros(50));
        let mut info = String::new();
        s.write_info_lines(3, &mut info);
        for line in [
            "core3_connections:1",
            "core3_connections_total:2",
            "core3_requests:2",
            "core3_errors:2",
            "core3_forwarded_out:1",
            "core3_forwarded_in:0",
            "core3_moved:1",
        ] {
            assert!(info.lines().any(|l| l == line), "{line} in {info}");
        }
        let mut lines = String::new();
        s.write_metric_lines(3, &mut lines);
        assert!(
            lines.contains("c tessera_wal_syncs_total core=3 1\n"),
            "{lines}"
        );
        assert!(
            lines.contains("c tessera_wal_sync_seconds_total core=3 0.0015\n"),
            "{lines}"
        );
        assert!(
            lines.contains("g tessera_connections core=3 1\n"),
            "{lines}"
        );
        s.connection_closed();
        s.connection_closed();
        let mut info = String::new();
        s.write_info_lines(0, &mut info);
        assert!(info.contains("core0_connections:0\n"), "{info}");
    }
}
