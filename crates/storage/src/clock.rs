//! The per-partition hybrid logical clock that stamps every write's version.
//!
//! A version is `(unix_ms << 16) | logical`: it follows wall time when the
//! wall clock moves forward and counts up by one otherwise, so it never runs
//! backwards, even when the wall clock does. Across restarts it never runs
//! backwards either: the partition persists a high-water mark `hw` that is
//! always above every version issued, in the same write batch as the write
//! that crosses the previous mark.

/// How far ahead of the last issued version the persisted mark is set
/// (10 s of physical time), so that the mark is written about once per 10 s.
const LEASE: u64 = 10_000 << 16;

#[derive(Debug)]
pub struct Hlc {
    last: u64,
    high_water: u64,
}

impl Hlc {
    /// A clock that resumes from a persisted high-water mark.
    pub fn resume(persisted_high_water: u64) -> Hlc {
        Hlc {
            last: persisted_high_water,
            high_water: persisted_high_water,
        }
    }

    /// The next version for a write at wall time `now_ms`. When the version
    /// reaches the persisted mark, also returns the new mark to persist.
    pub fn next(&mut self, now_ms: u64) -> (u64, Option<u64>) {
        let v = std::cmp::max(self.last + 1, now_ms << 16);
        self.last = v;
        if v >= self.high_water {
            self.high_water = v + LEASE;
            (v, Some(self.high_water))
        } else {
            (v, None)
        }
    }

    /// Moves the clock past a version seen elsewhere (replication).
    pub fn observe(&mut self, version: u64) {
        self.last = self.last.max(version);
    }

    /// Moves the clock past a version seen elsewhere whose batch does not
    /// carry the other clock's mark (slot migration). When it reaches the
    /// persisted mark, returns the new mark to persist.
    pub fn observe_persisting(&mut self, version: u64) -> Option<u64> {
        self.observe(version);
        (self.last >= self.high_water).then(|| {
            self.high_water = self.last + LEASE;
            self.high_water
        })
    }

    pub fn last(&self) -> u64 {
        self.last
    }
}

/// Wall time in unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_even_when_wall_clock_goes_back() {
        let mut c = Hlc::resume(0);
        let (a, mark) = c.next(1_000);
        assert!(mark.is_some());
        let (b, _) = c.next(900);
        let (d, _) = c.next(900);
        assert!(a < b && b < d);
        let (e, _) = c.next(2_000);
        assert_eq!(e, 2_000 << 16);
    }

    #[test]
    fn resumes_above_persisted_mark() {
        let mut c = Hlc::resume(0);
        let (_, mark) = c.next(5_000);
        let mark = mark.unwrap();
        // A restart with the wall clock behind: versions stay above the mark.
        let mut r = Hlc::resume(mark);
        let (v, _) = r.next(1);
        assert!(v > mark);
    }
}
