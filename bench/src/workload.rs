//! What each connection sends: operations, keys and values.
//!
//! Keys are `key:` followed by a 12-digit index (redis-benchmark's
//! `key:__rand_int__`), so both tools address the same key space.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// The key distribution.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Dist {
    Uniform,
    /// Zipfian with the given exponent (rank 1 is the hottest key).
    Zipf(f64),
    /// Each connection walks its own slice of the key space in order.
    Sequential,
}

impl FromStr for Dist {
    type Err = String;
    fn from_str(s: &str) -> Result<Dist, String> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "uniform" => Ok(Dist::Uniform),
            "seq" | "sequential" => Ok(Dist::Sequential),
            "zipf" | "zipfian" => Ok(Dist::Zipf(0.99)),
            _ => {
                let exp = s
                    .strip_prefix("zipf:")
                    .or_else(|| s.strip_prefix("zipfian:"))
                    .ok_or_else(|| {
                        format!("distribution {s:?}: expected uniform, sequential, zipf or zipf:<exponent>")
                    })?;
                let e: f64 = exp
                    .parse()
                    .map_err(|_| format!("zipf exponent {exp:?} is not a number"))?;
                if !(e.is_finite() && e > 0.0) {
                    return Err(format!("zipf exponent {e} must be a positive number"));
                }
                Ok(Dist::Zipf(e))
            }
        }
    }
}

impl fmt::Display for Dist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dist::Uniform => f.write_str("uniform"),
            Dist::Zipf(e) => write!(f, "zipf:{e}"),
            Dist::Sequential => f.write_str("sequential"),
        }
    }
}

/// One benchmark operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Op {
    Set,
    Get,
    Incr,
    Del,
    /// `HSET key f value`
    HSet,
    /// `ZADD key <key number> m`
    ZAdd,
    /// `LPUSH key value`
    LPush,
    /// `RPOP key` (an empty list counts as a miss)
    RPop,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Set => "SET",
            Op::Get => "GET",
            Op::Incr => "INCR",
            Op::Del => "DEL",
            Op::HSet => "HSET",
            Op::ZAdd => "ZADD",
            Op::LPush => "LPUSH",
            Op::RPop => "RPOP",
        }
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Op, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "set" | "put" => Ok(Op::Set),
            "get" => Ok(Op::Get),
            "incr" => Ok(Op::Incr),
            "del" => Ok(Op::Del),
            "hset" => Ok(Op::HSet),
            "zadd" => Ok(Op::ZAdd),
            "lpush" => Ok(Op::LPush),
            "rpop" => Ok(Op::RPop),
            other => Err(format!(
                "operation {other:?}: expected set, get, incr, del, hset, zadd, lpush or rpop"
            )),
        }
    }
}

/// Weighted operations: `get:9,set:1`, or a single `set`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Mix {
    pub ops: Vec<(Op, u32)>,
}

impl Mix {
    pub fn only(op: Op) -> Mix {
        Mix { ops: vec![(op, 1)] }
    }

    /// `R:W` read:write ratio, as GET and SET weights.
    pub fn ratio(s: &str) -> Result<Mix, String> {
        let (r, w) = s
            .split_once(':')
            .ok_or_else(|| format!("ratio {s:?}: expected READS:WRITES, e.g. 9:1"))?;
        let r: u32 = r
            .trim()
            .parse()
            .map_err(|_| format!("ratio {s:?}: bad read weight"))?;
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| format!("ratio {s:?}: bad write weight"))?;
        Mix::checked(vec![(Op::Get, r), (Op::Set, w)])
    }

    fn checked(ops: Vec<(Op, u32)>) -> Result<Mix, String> {
        let ops: Vec<_> = ops.into_iter().filter(|(_, w)| *w > 0).collect();
        if ops.is_empty() {
            return Err("the operation mix has no operation with a weight above 0".into());
        }
        Ok(Mix { ops })
    }

    pub fn has(&self, op: Op) -> bool {
        self.ops.iter().any(|(o, _)| *o == op)
    }

    fn total(&self) -> u32 {
        self.ops.iter().map(|(_, w)| w).sum()
    }

    fn pick(&self, roll: u32) -> Op {
        let mut left = roll;
        for (op, w) in &self.ops {
            if left < *w {
                return *op;
            }
            left -= w;
        }
        self.ops[self.ops.len() - 1].0
    }
}

impl FromStr for Mix {
    type Err = String;
    fn from_str(s: &str) -> Result<Mix, String> {
        let ops = s
            .split(',')
            .map(|part| match part.split_once(':') {
                Some((op, w)) => Ok((
                    op.parse()?,
                    w.trim()
                        .parse()
                        .map_err(|_| format!("mix {s:?}: weight {w:?} is not a number"))?,
                )),
                None => Ok((part.parse()?, 1)),
            })
            .collect::<Result<Vec<_>, String>>()?;
        Mix::checked(ops)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .ops
            .iter()
            .map(|(op, w)| format!("{}:{w}", op.name().to_ascii_lowercase()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A value size, fixed (`256`) or a uniform range (`100-1000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ValueSize {
    pub lo: usize,
    pub hi: usize,
}

impl ValueSize {
    pub fn fixed(n: usize) -> ValueSize {
        ValueSize { lo: n, hi: n }
    }
}

impl FromStr for ValueSize {
    type Err = String;
    fn from_str(s: &str) -> Result<ValueSize, String> {
        let num = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("value size {s:?}: {x:?} is not a number"))
        };
        let v = match s.split_once('-') {
            Some((a, b)) => ValueSize {
                lo: num(a)?,
                hi: num(b)?,
            },
            None => ValueSize::fixed(num(s)?),
        };
        if v.lo > v.hi {
            return Err(format!("value size {s:?}: the range is empty"));
        }
        if v.hi > 64 << 20 {
            return Err(format!(
                "value size {s:?}: values above 64 MiB are not supported"
            ));
        }
        Ok(v)
    }
}

impl fmt::Display for ValueSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// Writes `key:%012d` into `out`.
pub fn key_name(index: u64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"key:");
    let mut digits = [b'0'; 12];
    let mut n = index;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    if n > 0 {
        // Wider than 12 digits: print it whole.
        out.extend_from_slice(index.to_string().as_bytes());
    } else {
        out.extend_from_slice(&digits);
    }
}

/// The keys one connection draws from (indices into the key space), and how.
pub struct KeyPicker {
    pool: Arc<Vec<u32>>,
    dist: Dist,
    zipf: Option<Zipf<f64>>,
    next_seq: usize,
}

impl KeyPicker {
    /// `slot` and `slots` spread sequential walks over the connections
    /// sharing `pool`.
    pub fn new(pool: Arc<Vec<u32>>, dist: Dist, slot: usize, slots: usize) -> KeyPicker {
        let len = pool.len().max(1);
        let zipf = match dist {
            Dist::Zipf(e) => Some(Zipf::new(len as f64, e).expect("valid zipf parameters")),
            _ => None,
        };
        KeyPicker {
            next_seq: len * slot / slots.max(1),
            pool,
            dist,
            zipf,
        }
    }

    pub fn next(&mut self, rng: &mut SmallRng) -> u64 {
        let len = self.pool.len();
        let i = match self.dist {
            Dist::Uniform => rng.random_range(0..len),
            Dist::Zipf(_) => {
                let rank = self.zipf.as_ref().expect("zipf set").sample(rng) as usize;
                rank.clamp(1, len) - 1
            }
            Dist::Sequential => {
                let i = self.next_seq % len;
                self.next_seq = i + 1;
                i
            }
        };
        self.pool[i] as u64
    }
}

/// Random bytes that values are sliced from.
pub fn value_source(max: usize, seed: u64) -> Arc<Vec<u8>> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5EED_BA5E);
    // Twice the largest value, so slices can start at many offsets.
    let mut v = vec![0u8; (max * 2).max(64)];
    rng.fill_bytes(&mut v);
    Arc::new(v)
}

/// One request to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Req {
    pub op: Op,
    pub key: u64,
    /// Value bytes: `source[value_at..value_at + value_len]`.
    pub value_at: usize,
    pub value_len: usize,
}

/// A connection's request stream.
pub struct Workload {
    pub keys: KeyPicker,
    pub mix: Mix,
    pub values: ValueSize,
    pub rng: SmallRng,
    source_len: usize,
    total: u32,
}

impl Workload {
    pub fn new(keys: KeyPicker, mix: Mix, values: ValueSize, seed: u64, source_len: usize) -> Self {
        let total = mix.total();
        Workload {
            keys,
            mix,
            values,
            rng: SmallRng::seed_from_u64(seed),
            source_len,
            total,
        }
    }

    pub fn next_req(&mut self) -> Req {
        let op = if self.mix.ops.len() == 1 {
            self.mix.ops[0].0
        } else {
            let roll = self.rng.random_range(0..self.total);
            self.mix.pick(roll)
        };
        let key = self.keys.next(&mut self.rng);
        let value_len = if self.values.lo == self.values.hi {
            self.values.lo
        } else {
            self.rng.random_range(self.values.lo..=self.values.hi)
        };
        let room = self.source_len - value_len;
        let value_at = if room == 0 {
            0
        } else {
            self.rng.random_range(0..room)
        };
        Req {
            op,
            key,
            value_at,
            value_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_match_redis_benchmark() {
        let mut k = Vec::new();
        key_name(12345, &mut k);
        assert_eq!(k, b"key:000000012345");
        key_name(0, &mut k);
        assert_eq!(k, b"key:000000000000");
        key_name(1_234_567_890_123, &mut k);
        assert_eq!(k, b"key:1234567890123");
    }

    #[test]
    fn parses_options() {
        assert_eq!("zipf:1.2".parse::<Dist>().unwrap(), Dist::Zipf(1.2));
        assert_eq!("zipf".parse::<Dist>().unwrap(), Dist::Zipf(0.99));
        assert_eq!("seq".parse::<Dist>().unwrap(), Dist::Sequential);
        assert!("zipf:-1".parse::<Dist>().is_err());
        assert!("normal".parse::<Dist>().is_err());
        assert_eq!(
            "get:9,set:1".parse::<Mix>().unwrap(),
            Mix {
                ops: vec![(Op::Get, 9), (Op::Set, 1)]
            }
        );
        assert_eq!(Mix::ratio("3:1").unwrap().to_string(), "get:3,set:1");
        assert!("get:0".parse::<Mix>().is_err());
        assert!("fly".parse::<Mix>().is_err());
        assert_eq!(
            "100-200".parse::<ValueSize>().unwrap(),
            ValueSize { lo: 100, hi: 200 }
        );
        assert!("200-100".parse::<ValueSize>().is_err());
    }

    #[test]
    fn draws_stay_in_the_pool_and_follow_the_distribution() {
        let pool = Arc::new((0..1000u32).map(|i| i * 2).collect::<Vec<_>>());
        let mut rng = SmallRng::seed_from_u64(7);
        for dist in [Dist::Uniform, Dist::Zipf(1.1), Dist::Sequential] {
            let mut p = KeyPicker::new(pool.clone(), dist, 0, 1);
            for _ in 0..5000 {
                let k = p.next(&mut rng);
                assert!(k.is_multiple_of(2) && k < 2000, "{dist}: {k}");
            }
        }
        // Zipf: the hottest key is drawn far more often than under uniform.
        let mut z = KeyPicker::new(pool.clone(), Dist::Zipf(1.1), 0, 1);
        let hot = (0..10_000).filter(|_| z.next(&mut rng) == 0).count();
        assert!(hot > 500, "zipf rank 1 drawn {hot} times of 10000");
        // Sequential walks start at the connection's slice and wrap.
        let mut s = KeyPicker::new(pool, Dist::Sequential, 1, 2);
        assert_eq!(s.next(&mut rng), 1000);
        assert_eq!(s.next(&mut rng), 1002);
    }

    #[test]
    fn mix_weights_and_value_ranges_hold() {
        let pool = Arc::new((0..10u32).collect::<Vec<_>>());
        let mix: Mix = "get:3,set:1".parse().unwrap();
        let src = value_source(300, 1);
        let mut w = Workload::new(
            KeyPicker::new(pool, Dist::Uniform, 0, 1),
            mix,
            ValueSize { lo: 100, hi: 300 },
            9,
            src.len(),
        );
        let mut gets = 0;
        for _ in 0..4000 {
            let r = w.next_req();
            if r.op == Op::Get {
                gets += 1;
            }
            assert!((100..=300).contains(&r.value_len));
            assert!(r.value_at + r.value_len <= src.len());
        }
        assert!((2700..3300).contains(&gets), "{gets} gets of 4000");
    }
}
