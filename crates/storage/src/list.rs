//! Lists: elements are member subkeys named by a u64 index (big endian);
//! the metadata keeps `head` (first index) and `tail` (one past the last),
//! starting from the middle of u64 so both ends can grow. Pushes and pops
//! at either end are O(1); LINSERT and LREM rewrite the elements after the
//! change (O(N)), as in Kvrocks.

use super::envelope::ValueType;
use super::partition::{Cf, READ_AHEAD};
use super::tx::{Coll, Tx};
use super::zset::rank_range;
use super::Error;

const T: ValueType = ValueType::List;

fn index_key(c: &Coll, i: u64) -> Vec<u8> {
    c.member_key(&i.to_be_bytes())
}

impl Tx<'_> {
    fn list(&self, key: &[u8]) -> Result<Option<Coll>, Error> {
        self.coll(key, T)
    }

    /// LPUSH/RPUSH (and the X variants with `only_if_exists`): returns the new length.
    pub fn push(
        &mut self,
        key: &[u8],
        left: bool,
        values: &[&[u8]],
        only_if_exists: bool,
    ) -> Result<u64, Error> {
        let existing = self.list(key)?;
        if existing.is_none() && only_if_exists {
            return Ok(0);
        }
        self.writable()?;
        let mut c = match existing {
            Some(c) => c,
            None => self.coll_or_new(key, T)?,
        };
        for v in values {
            let i = if left {
                c.head -= 1;
                c.head
            } else {
                c.tail += 1;
                c.tail - 1
            };
            self.put(Cf::Sub, index_key(&c, i), v.to_vec());
        }
        c.size = c.tail - c.head;
        self.save(key, &mut c);
        Ok(c.size)
    }

    /// LPOP/RPOP: removes and returns up to `count` elements.
    pub fn pop(&mut self, key: &[u8], left: bool, count: u64) -> Result<Vec<Vec<u8>>, Error> {
        let Some(mut c) = self.list(key)? else {
            return Ok(Vec::new());
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        self.writable()?;
        let mut out = Vec::new();
        while out.len() as u64 != count && c.head < c.tail {
            let i = if left {
                c.head += 1;
                c.head - 1
            } else {
                c.tail -= 1;
                c.tail
            };
            let k = index_key(&c, i);
            // The next pops read the elements beyond this one.
            let (lo, hi) = match left {
                true => (i, c.tail.min(i.saturating_add(READ_AHEAD))),
                false => (c.head.max(i.saturating_sub(READ_AHEAD - 1)), i + 1),
            };
            let (lo, hi) = (index_key(&c, lo), index_key(&c, hi));
            let v = self
                .get_ahead(&k, &lo, &hi)?
                .ok_or_else(|| Error::Corrupt(format!("list element {i} is missing")))?;
            self.delete(Cf::Sub, k);
            out.push(v);
        }
        c.size = c.tail - c.head;
        self.save(key, &mut c);
        Ok(out)
    }

    pub fn llen(&self, key: &[u8]) -> Result<u64, Error> {
        Ok(self.list(key)?.map(|c| c.size).unwrap_or(0))
    }

    /// LRANGE with Redis's inclusive, negative-from-the-end indexes.
    pub fn lrange(&self, key: &[u8], start: i64, stop: i64) -> Result<Vec<Vec<u8>>, Error> {
        let Some(c) = self.list(key)? else {
            return Ok(Vec::new());
        };
        let Some((s, e)) = rank_range(start, stop, c.size) else {
            return Ok(Vec::new());
        };
        let lo = index_key(&c, c.head + s);
        let hi = index_key(&c, c.head + e + 1);
        let mut out = Vec::with_capacity((e - s + 1).min(1 << 16) as usize);
        self.range(&lo, &hi, false, &mut |_, v| {
            out.push(v.to_vec());
            Ok(true)
        })?;
        Ok(out)
    }

    fn position(c: &Coll, index: i64) -> Option<u64> {
        let n = c.size as i64;
        let i = if index < 0 { n + index } else { index };
        (0..n).contains(&i).then(|| c.head + i as u64)
    }

    pub fn lindex(&self, key: &[u8], index: i64) -> Result<Option<Vec<u8>>, Error> {
        let Some(c) = self.list(key)? else {
            return Ok(None);
        };
        match Self::position(&c, index) {
            None => Ok(None),
            Some(i) => self.get(Cf::Sub, &index_key(&c, i)),
        }
    }

    /// LSET: `NoSuchKey` without the list, `OutOfRange` outside it.
    pub fn lset(&mut self, key: &[u8], index: i64, value: &[u8]) -> Result<(), Error> {
        let mut c = self.list(key)?.ok_or(Error::NoSuchKey)?;
        let i = Self::position(&c, index).ok_or(Error::OutOfRange)?;
        self.writable()?;
        self.put(Cf::Sub, index_key(&c, i), value.to_vec());
        self.save(key, &mut c);
        Ok(())
    }

    /// Replaces the whole list with `items` (same generation), deleting
    /// indexes no longer used.
    fn rewrite(&mut self, key: &[u8], mut c: Coll, items: Vec<Vec<u8>>) {
        let old = (c.head, c.tail);
        c.tail = c.head + items.len() as u64;
        for (n, v) in items.into_iter().enumerate() {
            self.put(Cf::Sub, index_key(&c, c.head + n as u64), v);
        }
        for i in c.tail.max(old.0)..old.1 {
            self.delete(Cf::Sub, index_key(&c, i));
        }
        c.size = c.tail - c.head;
        self.save(key, &mut c);
    }

    /// LINSERT: -1 when the pivot is missing, 0 when the list is.
    pub fn linsert(
        &mut self,
        key: &[u8],
        before: bool,
        pivot: &[u8],
        value: &[u8],
    ) -> Result<i64, Error> {
        let Some(c) = self.list(key)? else {
            return Ok(0);
        };
        let mut items = self.lrange(key, 0, -1)?;
        let Some(at) = items.iter().position(|v| v == pivot) else {
            return Ok(-1);
        };
        self.writable()?;
        items.insert(if before { at } else { at + 1 }, value.to_vec());
        let n = items.len() as i64;
        self.rewrite(key, c, items);
        Ok(n)
    }

    /// LREM: removes `count` matches from the head (> 0), the tail (< 0) or all (0).
    pub fn lrem(&mut self, key: &[u8], count: i64, value: &[u8]) -> Result<u64, Error> {
        let Some(c) = self.list(key)? else {
            return Ok(0);
        };
        let items = self.lrange(key, 0, -1)?;
        let limit = if count == 0 {
            u64::MAX
        } else {
            count.unsigned_abs()
        };
        let mut keep = vec![true; items.len()];
        let mut removed = 0u64;
        let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
            Box::new((0..items.len()).rev())
        } else {
            Box::new(0..items.len())
        };
        for i in order {
            if removed == limit {
                break;
            }
            if items[i] == value {
                keep[i] = false;
                removed += 1;
            }
        }
        if removed > 0 {
            self.writable()?;
            let rest = items
                .into_iter()
                .zip(keep)
                .filter_map(|(v, k)| k.then_some(v))
                .collect();
            self.rewrite(key, c, rest);
        }
        Ok(removed)
    }

    /// LTRIM: keeps `start..=stop`.
    pub fn ltrim(&mut self, key: &[u8], start: i64, stop: i64) -> Result<(), Error> {
        let Some(mut c) = self.list(key)? else {
            return Ok(());
        };
        self.writable()?;
        let (s, e) = match rank_range(start, stop, c.size) {
            Some(r) => r,
            None => (c.size, c.size.saturating_sub(1)),
        };
        let (new_head, new_tail) = if s >= c.size {
            (c.head, c.head)
        } else {
            (c.head + s, c.head + e + 1)
        };
        for i in (c.head..new_head).chain(new_tail..c.tail) {
            self.delete(Cf::Sub, index_key(&c, i));
        }
        c.head = new_head;
        c.tail = new_tail.max(new_head);
        c.size = c.tail - c.head;
        self.save(key, &mut c);
        Ok(())
    }

    /// LPOS: positions of `value` by RANK (1 = first, -1 = last), up to
    /// `count` (0 = all) matches, looking at most `maxlen` (0 = all) elements.
    pub fn lpos(
        &self,
        key: &[u8],
        value: &[u8],
        rank: i64,
        count: u64,
        maxlen: u64,
    ) -> Result<Vec<u64>, Error> {
        let items = self.lrange(key, 0, -1)?;
        let n = items.len();
        let idx: Box<dyn Iterator<Item = usize>> = if rank < 0 {
            Box::new((0..n).rev())
        } else {
            Box::new(0..n)
        };
        let mut skip = rank.unsigned_abs().saturating_sub(1);
        let mut out = Vec::new();
        for (looked, i) in idx.enumerate() {
            if maxlen != 0 && looked as u64 >= maxlen {
                break;
            }
            if items[i] == value {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                out.push(i as u64);
                if count != 0 && out.len() as u64 == count {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// LMOVE within the slot: pops from `from` and pushes onto `to`.
    pub fn lmove(
        &mut self,
        from: &[u8],
        to: &[u8],
        from_left: bool,
        to_left: bool,
    ) -> Result<Option<Vec<u8>>, Error> {
        // As in Redis: a missing source answers nil before the destination
        // is looked at; otherwise both types are checked before anything moves.
        let Some(mut src) = self.list(from)? else {
            return Ok(None);
        };
        // A list of one element moved onto itself stays as it is (popping
        // it first would delete the key and its expiry); Redis still
        // counts it as written.
        if from == to && src.size == 1 {
            let v = self.lindex(from, 0)?;
            self.save(from, &mut src);
            return Ok(v);
        }
        self.list(to)?;
        let Some(v) = self.pop(from, from_left, 1)?.pop() else {
            return Ok(None);
        };
        self.push(to, to_left, &[&v], false)?;
        Ok(Some(v))
    }
}
