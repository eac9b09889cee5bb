//! Liveness of the reactors and the systemd notification protocol.
//!
//! Every core stamps its own slot of [`Health`] from a timer task on its
//! reactor, so a stamp proves the reactor still runs tasks (a reactor stuck
//! in a blocking call stops stamping). A watchdog thread outside the
//! reactors sends systemd `WATCHDOG=1` only while every core's stamp is
//! fresh; when one goes stale the pings stop and systemd restarts the
//! service. RocksDB write stalls never stop the stamps: reactors do not
//! sleep in RocksDB (a stalled write goes to the blocking pool).
//!
//! Notifications (`READY=1`, `STATUS=`, `STOPPING=1`, `WATCHDOG=1`) go to
//! `$NOTIFY_SOCKET` when it is set and are skipped otherwise.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

use crate::shard::clock::now_ms;

/// Per-core heartbeat stamps (ms since the epoch), one writer each.
#[derive(Debug)]
pub struct Health {
    beats: Vec<AtomicU64>,
    /// How often cores stamp.
    pub interval: Duration,
}

impl Health {
    pub fn new(cores: usize, interval: Duration) -> Health {
        let now = now_ms();
        Health {
            beats: (0..cores).map(|_| AtomicU64::new(now)).collect(),
            interval,
        }
    }

    pub fn beat(&self, core: usize) {
        self.beats[core].store(now_ms(), Ordering::Relaxed);
    }

    /// The first core whose stamp is older than `max_age`, with its age.
    pub fn stale(&self, max_age: Duration) -> Option<(usize, Duration)> {
        let now = now_ms();
        self.beats.iter().enumerate().find_map(|(c, b)| {
            let age = Duration::from_millis(now.saturating_sub(b.load(Ordering::Relaxed)));
            (age > max_age).then_some((c, age))
        })
    }
}

/// How often cores stamp when systemd's watchdog interval is `watchdog`:
/// often enough that a stamp is never the reason for a missed ping.
pub fn beat_interval(watchdog: Option<Duration>) -> Duration {
    let base = Duration::from_millis(250);
    watchdog.map_or(base, |w| base.min(w / 8).max(Duration::from_millis(10)))
}

/// Sends `STATUS=...` (when under systemd).
pub fn status(text: &str) {
    let _ = sd_notify::notify(&[NotifyState::Status(text)]);
}

/// Sends `READY=1` with a status line.
pub fn ready(text: &str) {
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(text)]);
}

/// Sends `STOPPING=1`.
pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status("draining")]);
}

/// systemd's watchdog interval, when the service has one.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Pings systemd's watchdog every `interval / 2` while every core's stamp
/// is younger than that; stops when `stop` is set.
pub fn spawn_watchdog(
    health: Arc<Health>,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tessera-watchdog".into())
        .spawn(move || {
            let period = interval / 2;
            let mut withheld = false;
            while !stop.load(Ordering::Relaxed) {
                match health.stale(period) {
                    None => {
                        if withheld {
                            tracing::info!("every core reports again; watchdog pings resume");
                            withheld = false;
                        }
                        let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                    }
                    Some((core, age)) => {
                        if !withheld {
                            tracing::error!(
                                core,
                                "core {core} has not run its tasks for {} ms; \
                                 withholding the systemd watchdog ping",
                                age.as_millis()
                            );
                            withheld = true;
                        }
                    }
                }
                // Sleep in small steps so a stop is noticed quickly.
                let mut left = period;
                while !left.is_zero() && !stop.load(Ordering::Relaxed) {
                    let step = left.min(Duration::from_millis(50));
                    std::thread::sleep(step);
                    left -= step;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_cores_are_found_and_fresh_ones_are_not() {
        let h = Health::new(3, Duration::from_millis(10));
        assert_eq!(h.stale(Duration::from_secs(5)), None);
        h.beats[1].store(now_ms() - 10_000, Ordering::Relaxed);
        let (core, age) = h.stale(Duration::from_secs(5)).unwrap();
        assert_eq!(core, 1);
        assert!(age >= Duration::from_secs(10));
        h.beat(1);
        assert_eq!(h.stale(Duration::from_secs(5)), None);
    }

    #[test]
    fn beat_interval_follows_the_watchdog() {
        assert_eq!(beat_interval(None), Duration::from_millis(250));
        assert_eq!(
            beat_interval(Some(Duration::from_secs(30))),
            Duration::from_millis(250)
        );
        assert_eq!(
            beat_interval(Some(Duration::from_millis(800))),
            Duration::from_millis(100)
        );
        assert_eq!(
            beat_interval(Some(Duration::from_millis(8))),
            Duration::from_millis(10)
        );
    }
}
