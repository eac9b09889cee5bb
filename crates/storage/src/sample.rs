//! Random members of a collection (HRANDFIELD, ZRANDMEMBER): uniform, in
//! random order, without repeats for a count >= 0 and with them for a
//! negative one.
//!
//! Members are stored in byte order, not by hash, so a random point of the
//! subkey space would favour members after long gaps (SPOP's sets of
//! format 2 can seek because their subkeys are hashes). Instead the
//! positions to take are drawn first, from the collection's exact size, and
//! the members read in order up to the last of them: O(N) time in the
//! worst case, O(count) memory.

use std::collections::HashSet;

use crate::set::Rng;
use crate::tx::{Coll, Pairs, Tx};
use crate::Error;

impl Tx<'_> {
    /// `count` random members of `c` with their values (see the module).
    pub(crate) fn random_members(
        &self,
        c: &Coll,
        count: i64,
        rng: &mut Rng,
    ) -> Result<Pairs, Error> {
        if c.size == 0 || count == 0 {
            return Ok(Vec::new());
        }
        let mut picks: Vec<u64> = if count < 0 {
            (0..count.unsigned_abs())
                .map(|_| rng.below(c.size))
                .collect()
        } else if count as u64 >= c.size {
            (0..c.size).collect()
        } else {
            distinct_below(c.size, count as u64, rng)
        };
        picks.sort_unstable();
        let mut out = Vec::with_capacity(picks.len());
        let (mut at, mut next) = (0u64, 0usize);
        self.members(c, false, &mut |m, v| {
            while picks.get(next) == Some(&at) {
                out.push((m.to_vec(), v.to_vec()));
                next += 1;
            }
            at += 1;
            Ok(next < picks.len())
        })?;
        // Read in order; answered in a random one.
        for i in (1..out.len()).rev() {
            out.swap(i, rng.below(i as u64 + 1) as usize);
        }
        Ok(out)
    }
}

/// `k` distinct numbers below `n` (k < n), uniformly (Floyd's algorithm).
fn distinct_below(n: u64, k: u64, rng: &mut Rng) -> Vec<u64> {
    let mut chosen = HashSet::with_capacity(k as usize);
    for j in n - k..n {
        let t = rng.below(j + 1);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floyd_gives_k_distinct_numbers_in_range() {
        let mut rng = Rng::seeded();
        for (n, k) in [(10, 9), (1000, 3), (5, 1), (2, 1)] {
            let v = distinct_below(n, k, &mut rng);
            let set: HashSet<u64> = v.iter().copied().collect();
            assert_eq!(set.len() as u64, k);
            assert!(v.iter().all(|&x| x < n));
        }
        // Every value of 0..4 is drawn, taking 2 of 4 many times.
        let mut seen = [0u32; 4];
        for _ in 0..400 {
            for x in distinct_below(4, 2, &mut rng) {
                seen[x as usize] += 1;
            }
        }
        assert!(seen.iter().all(|&s| s > 100), "{seen:?}");
    }
}
