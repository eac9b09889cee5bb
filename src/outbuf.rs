//! Redis's `client-output-buffer-limit`: how much the node holds for a
//! client that does not read its replies before it closes the connection
//! (docs/operations.md, "Limits").
//!
//! A class has a hard limit (close at once when passed) and a soft limit
//! with a time (close when it stays passed that long), in bytes held by the
//! node for the client: a subscriber's waiting messages plus the replies
//! being written; a normal client's replies not yet taken by its socket.
//! 0 turns a limit off. The format is Redis's, with its units:
//! `normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60`.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// One class's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// Every class, as Redis names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: OutputLimit,
    /// Accepted for Redis configurations; a replica pulls bounded batches,
    /// so nothing queues for it (docs/operations.md).
    pub replica: OutputLimit,
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    /// Redis's defaults.
    fn default() -> Self {
        OutputLimits {
            normal: OutputLimit::default(),
            replica: OutputLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            pubsub: OutputLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
        }
    }
}

/// Redis's memory units: `b`, `k` (1000), `kb` (1024), `m`, `mb`, `g`, `gb`.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    let n: u64 = digits.parse().ok()?;
    let m: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(m)
}

impl OutputLimits {
    /// Parses Redis's form; classes not named keep their defaults.
    pub fn parse(s: &str) -> Result<OutputLimits, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err(format!(
                "client-output-buffer-limit {s:?}: give groups of four: <class> <hard> <soft> <soft seconds>"
            ));
        }
        let mut out = OutputLimits::default();
        for g in words.chunks(4) {
            let class = match g[0].to_ascii_lowercase().as_str() {
                "normal" => &mut out.normal,
                "replica" | "slave" => &mut out.replica,
                "pubsub" => &mut out.pubsub,
                other => {
                    return Err(format!(
                    "client-output-buffer-limit: unknown class {other:?} (normal, replica, pubsub)"
                ))
                }
            };
            let num = |w: &str| {
                parse_bytes(w).ok_or_else(|| {
                    format!("client-output-buffer-limit: {w:?} is not a size (such as 0, 8mb, 1gb)")
                })
            };
            *class = OutputLimit {
                hard: num(g[1])?,
                soft: num(g[2])?,
                soft_seconds: g[3].parse().map_err(|_| {
                    format!(
                        "client-output-buffer-limit: {:?} is not a number of seconds",
                        g[3]
                    )
                })?,
            };
        }
        Ok(out)
    }
}

/// The limits `c` sets (`client-output-buffer-limit`).
pub fn limits(c: &crate::config::Config) -> Result<OutputLimits, crate::config::ConfigError> {
    OutputLimits::parse(&c.client_output_buffer_limit).map_err(crate::config::ConfigError::Setting)
}

/// `proto-max-bulk-len` and `client-query-buffer-limit` as `c` sets
/// them, checked against each other and `max-frame-bytes`.
pub fn query_limits(
    c: &crate::config::Config,
) -> Result<(usize, usize), crate::config::ConfigError> {
    use crate::config::ConfigError::Setting;
    let size =
        |name: &str, v: &Option<String>| -> Result<Option<usize>, crate::config::ConfigError> {
            v.as_deref()
                .map(|s| {
                    parse_bytes(s)
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| {
                            Setting(format!(
                                "{name}: {s:?} is not a size (bytes, or 512kb, 32mb, 1gb)"
                            ))
                        })
                })
                .transpose()
        };
    let frame_room = c.max_frame_bytes.saturating_sub(1024);
    let bulk = size("proto-max-bulk-len", &c.proto_max_bulk_len)?.unwrap_or(frame_room);
    if bulk < 1024 || bulk > frame_room {
        return Err(Setting(format!(
            "proto-max-bulk-len {bulk} must be at least 1024 and at most max-frame-bytes less 1 KiB ({frame_room}): a bulk travels inside the node as one frame"
        )));
    }
    let query = size("client-query-buffer-limit", &c.client_query_buffer_limit)?
        .unwrap_or(bulk + (64 << 10));
    if query < bulk {
        return Err(Setting(format!(
            "client-query-buffer-limit {query} is smaller than proto-max-bulk-len {bulk}: a command with one bulk of the largest size could never be read"
        )));
    }
    Ok((bulk, query))
}

impl OutputLimit {
    /// Whether a client holding `held` bytes must close now. `since`
    /// remembers when the soft limit was first passed (and is cleared once
    /// the client is under it again).
    pub fn exceeded(&self, held: usize, since: &Cell<Option<Instant>>, now: Instant) -> bool {
        let held = held as u64;
        if self.hard > 0 && held > self.hard {
            return true;
        }
        if self.soft == 0 || held <= self.soft {
            since.set(None);
            return false;
        }
        let first = since.get().unwrap_or(now);
        since.set(Some(first));
        now.duration_since(first) >= Duration::from_secs(self.soft_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_form_and_units_parse() {
        let l =
            OutputLimits::parse("normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60").unwrap();
        assert_eq!(l, OutputLimits::default());
        let l = OutputLimits::parse("pubsub 1k 2kb 5").unwrap();
        assert_eq!(
            l.pubsub,
            OutputLimit {
                hard: 1000,
                soft: 2048,
                soft_seconds: 5
            }
        );
        assert_eq!(l.normal, OutputLimit::default());
        assert_eq!(parse_bytes("1GB"), Some(1 << 30));
        for bad in [
            "pubsub 1 2",
            "fast 1 2 3",
            "pubsub 1x 2 3",
            "pubsub 1 2 -3",
            "",
        ] {
            assert!(OutputLimits::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hard_closes_at_once_and_soft_after_its_time() {
        let l = OutputLimit {
            hard: 100,
            soft: 10,
            soft_seconds: 5,
        };
        let since = Cell::new(None);
        let t0 = Instant::now();
        assert!(!l.exceeded(10, &since, t0));
        assert!(l.exceeded(101, &since, t0));
        assert!(!l.exceeded(11, &since, t0));
        assert!(!l.exceeded(50, &since, t0 + Duration::from_secs(4)));
        assert!(l.exceeded(50, &since, t0 + Duration::from_secs(5)));
        // Back under the soft limit: the clock starts again.
        assert!(!l.exceeded(5, &since, t0 + Duration::from_secs(6)));
        assert!(!l.exceeded(50, &since, t0 + Duration::from_secs(7)));
        // Off.
        let off = OutputLimit::default();
        assert!(!off.exceeded(usize::MAX, &since, t0));
    }
}
