//! Sets: one member subkey per member, with an empty value.

use std::collections::BTreeSet;

use super::envelope::ValueType;
use super::partition::{Ahead, Cf};
use super::tx::{Coll, Tx};
use super::Error;

const T: ValueType = ValueType::Set;

/// Sets up to this size are sampled uniformly by SPOP/SRANDMEMBER (they
/// read every member); larger ones by seeking to random points of the
/// member subkeys (docs/storage.md). Sets of format 2 store members under
/// their hash, so a random point is a random member; format 1 sets keep
/// the old, larger threshold since their members cluster by prefix.
const UNIFORM_SAMPLE_MAX: u64 = 64;
const UNIFORM_SAMPLE_MAX_V1: u64 = 1024;

/// How several sets combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// A small xorshift generator; sampling needs speed, not secrecy.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Rng(t | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl Tx<'_> {
    fn set(&self, key: &[u8]) -> Result<Option<Coll>, Error> {
        self.coll(key, T)
    }

    /// SADD: returns how many members were new.
    pub fn sadd(&mut self, key: &[u8], members: &[&[u8]]) -> Result<u64, Error> {
        self.writable()?;
        let mut c = self.coll_or_new(key, T)?;
        let mut added = 0;
        for m in members {
            let k = c.member_key(m);
            if self.get(Cf::Sub, &k)?.is_none() {
                self.put(Cf::Sub, k, Vec::new());
                added += 1;
                c.size += 1;
            }
        }
        if added > 0 {
            self.save(key, &mut c);
        }
        Ok(added)
    }

    /// SREM: returns how many members were removed.
    pub fn srem(&mut self, key: &[u8], members: &[&[u8]]) -> Result<u64, Error> {
        self.remove_members(key, T, members)
    }

    /// SMOVE, in Redis's order: a missing source moves nothing (whatever
    /// the destination holds); then both keys must be sets; moving within
    /// one set only checks membership. Returns whether the member moved.
    pub fn smove(&mut self, src: &[u8], dst: &[u8], member: &[u8]) -> Result<bool, Error> {
        if self.set(src)?.is_none() {
            return Ok(false);
        }
        self.set(dst)?;
        if src == dst {
            return Ok(self.smismember(src, &[member])?[0]);
        }
        if self.srem(src, &[member])? == 0 {
            return Ok(false);
        }
        self.sadd(dst, &[member])?;
        Ok(true)
    }

    pub fn smismember(&self, key: &[u8], members: &[&[u8]]) -> Result<Vec<bool>, Error> {
        let Some(c) = self.set(key)? else {
            return Ok(vec![false; members.len()]);
        };
        members
            .iter()
            .map(|m| Ok(self.get(Cf::Sub, &c.member_key(m))?.is_some()))
            .collect()
    }

    /// Every member, in byte order (format 2 stores them in hash order; the
    /// sort keeps SMEMBERS' answer as it always was).
    pub fn smembers(&self, key: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        let Some(c) = self.set(key)? else {
            return Ok(Vec::new());
        };
        let mut all: Vec<Vec<u8>> = self.all_members(&c)?.into_iter().map(|(m, _)| m).collect();
        if c.hashed() {
            all.sort_unstable();
        }
        Ok(all)
    }

    pub fn scard(&self, key: &[u8]) -> Result<u64, Error> {
        Ok(self.set(key)?.map(|c| c.size).unwrap_or(0))
    }

    /// Up to `n` distinct members chosen at random. For a pop (`pop`),
    /// each seek starts at a random member of a read-ahead window of the
    /// set when one holds some, and reads through windows: the pops that
    /// follow a random seek take the members it read ahead, in random
    /// order, instead of each creating a RocksDB iterator and stepping over
    /// the tombstones of the members popped before it.
    fn sample(&self, c: &Coll, n: u64, rng: &mut Rng, pop: bool) -> Result<Vec<Vec<u8>>, Error> {
        let uniform_max = if c.hashed() {
            UNIFORM_SAMPLE_MAX
        } else {
            UNIFORM_SAMPLE_MAX_V1
        };
        let (lo, hi) = c.member_range();
        let ahead = if pop { Ahead::Extend } else { Ahead::No };
        // Taking more than half by random seeks would mostly find members
        // already taken: read them all instead.
        if n >= c.size || c.size <= uniform_max || n.saturating_mul(2) > c.size {
            let mut all = Vec::with_capacity(c.size.min(1 << 16) as usize);
            self.range_ahead(&lo, &hi, false, ahead, &mut |k, _| {
                all.push(c.member_of(k).to_vec());
                Ok(true)
            })?;
            // Partial Fisher-Yates: the first n are a uniform sample.
            let take = (n as usize).min(all.len());
            for i in 0..take {
                let j = i + rng.below((all.len() - i) as u64) as usize;
                all.swap(i, j);
            }
            all.truncate(take);
            return Ok(all);
        }
        let mut picked = BTreeSet::new();
        let mut tries = 0;
        while (picked.len() as u64) < n && tries < n * 8 {
            tries += 1;
            let r = rng.next_u64();
            let seek = match pop {
                true => self.window_pick(&lo, &hi, r),
                false => None,
            };
            let seek = seek.unwrap_or_else(|| [lo.as_slice(), &r.to_be_bytes()].concat());
            // The first member not taken yet from the seek on, else from
            // the start of the set (wrapping).
            let mut found = None;
            for from in [seek.as_slice(), lo.as_slice()] {
                self.range_ahead(from, &hi, false, ahead, &mut |k, _| {
                    found = (!picked.contains(c.member_of(k))).then(|| c.member_of(k).to_vec());
                    Ok(found.is_none())
                })?;
                if found.is_some() {
                    break;
                }
            }
            picked.extend(found);
        }
        if (picked.len() as u64) < n {
            // Unlucky seeks: the rest in order, so the count is exact.
            self.members(c, false, &mut |m, _| {
                if !picked.contains(m) {
                    picked.insert(m.to_vec());
                }
                Ok((picked.len() as u64) < n)
            })?;
        }
        Ok(picked.into_iter().collect())
    }

    /// SPOP: removes and returns up to `count` random members. The sample
    /// read them, so they are deleted without being looked up again.
    pub fn spop(&mut self, key: &[u8], count: u64, rng: &mut Rng) -> Result<Vec<Vec<u8>>, Error> {
        let Some(mut c) = self.set(key)? else {
            return Ok(Vec::new());
        };
        self.writable()?;
        let members = self.sample(&c, count, rng, true)?;
        if members.is_empty() {
            return Ok(members);
        }
        for m in &members {
            self.delete(Cf::Sub, c.member_key(m));
        }
        c.size -= members.len() as u64;
        c.dead += members.len() as u64;
        self.save(key, &mut c);
        Ok(members)
    }

    /// SRANDMEMBER: `count` >= 0 gives distinct members; < 0 allows repeats.
    pub fn srandmember(
        &self,
        key: &[u8],
        count: i64,
        rng: &mut Rng,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let Some(c) = self.set(key)? else {
            return Ok(Vec::new());
        };
        if count >= 0 {
            return self.sample(&c, count as u64, rng, false);
        }
        let want = count.unsigned_abs();
        let pool = self.sample(&c, want.min(c.size), rng, false)?;
        if pool.is_empty() {
            return Ok(pool);
        }
        Ok((0..want)
            .map(|_| pool[rng.below(pool.len() as u64) as usize].clone())
            .collect())
    }

    /// SINTERCARD: the size of the intersection of sets in this slot,
    /// counted up to `limit` (0: all). Every key's type is checked first,
    /// as Redis does.
    pub fn sintercard(&self, keys: &[&[u8]], limit: u64) -> Result<u64, Error> {
        let n = self.set_combine(SetOp::Inter, keys)?.len() as u64;
        Ok(if limit == 0 { n } else { n.min(limit) })
    }

    /// SINTER/SUNION/SDIFF of sets in this slot, in byte order.
    pub fn set_combine(&self, op: SetOp, keys: &[&[u8]]) -> Result<Vec<Vec<u8>>, Error> {
        let mut sets = Vec::with_capacity(keys.len());
        // Check every key's type first, so WRONGTYPE never depends on order.
        for k in keys {
            sets.push(self.set(k)?);
        }
        let load = |c: &Option<Coll>| -> Result<BTreeSet<Vec<u8>>, Error> {
            match c {
                None => Ok(BTreeSet::new()),
                Some(c) => Ok(self.all_members(c)?.into_iter().map(|(m, _)| m).collect()),
            }
        };
        let mut acc = load(&sets[0])?;
        for c in &sets[1..] {
            if op == SetOp::Inter && acc.is_empty() {
                break;
            }
            let s = load(c)?;
            acc = match op {
                SetOp::Inter => acc.intersection(&s).cloned().collect(),
                SetOp::Union => acc.union(&s).cloned().collect(),
                SetOp::Diff => acc.difference(&s).cloned().collect(),
            };
        }
        Ok(acc.into_iter().collect())
    }

    /// The *STORE variants: replaces `dest` with the result; returns its size.
    pub fn set_combine_store(
        &mut self,
        op: SetOp,
        dest: &[u8],
        keys: &[&[u8]],
    ) -> Result<u64, Error> {
        self.writable()?;
        let members = self.set_combine(op, keys)?;
        self.remove(dest)?;
        if members.is_empty() {
            return Ok(0);
        }
        // A fresh generation: the old members of `dest` are dead.
        let mut c = self.coll_or_new(dest, T)?;
        for m in &members {
            self.put(Cf::Sub, c.member_key(m), Vec::new());
        }
        c.size = members.len() as u64;
        self.save(dest, &mut c);
        Ok(c.size)
    }
}
