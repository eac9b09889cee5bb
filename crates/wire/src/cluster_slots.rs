//! The cluster's slot owners as the binary protocol carries them: `CLUSTER`
//! action 6 (SLOTS) answers this table from the node's copy of the map, so a
//! client sends each key straight to its owner (docs/cluster.md,
//! docs/protocol.md).
//!
//! The same table rides in HELLO (format 2) in cluster mode, so a client
//! learns the owners and each node's per-core ports from its first answer.
//!
//! Layout (big endian, as every body): `u32` format (1 or 2), `u64` map
//! epoch, `u32` n, then n ranges of `u16` first slot, `u16` last slot,
//! `bytes` the primary's binary `HOST:PORT`, `u32` m, m × `bytes` replicas'.
//! Format 2 then adds `u32` k, k nodes of `bytes` binary `HOST:PORT`, `u32`
//! c, c × `u16` the node's per-core ports (core order).

use crate::codec::{put_bytes, put_u16, put_u32, put_u64, Reader};
use crate::slot::SLOTS;
use crate::Error;

pub const FORMAT: u32 = 2;

/// Slots `start..=end` and the nodes serving them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOwner {
    pub start: u16,
    pub end: u16,
    pub primary: String,
    pub replicas: Vec<String>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterSlots {
    pub epoch: u64,
    pub ranges: Vec<SlotOwner>,
    /// Each node's binary address and per-core ports (empty in format 1).
    pub core_ports: Vec<(String, Vec<u16>)>,
}

impl ClusterSlots {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, FORMAT);
        put_u64(out, self.epoch);
        put_u32(out, self.ranges.len() as u32);
        for r in &self.ranges {
            put_u16(out, r.start);
            put_u16(out, r.end);
            put_bytes(out, r.primary.as_bytes());
            put_u32(out, r.replicas.len() as u32);
            for a in &r.replicas {
                put_bytes(out, a.as_bytes());
            }
        }
        put_u32(out, self.core_ports.len() as u32);
        for (addr, ports) in &self.core_ports {
            put_bytes(out, addr.as_bytes());
            put_u32(out, ports.len() as u32);
            for &p in ports {
                put_u16(out, p);
            }
        }
    }

    pub fn decode(b: &[u8]) -> Result<ClusterSlots, Error> {
        let mut r = Reader::new(b);
        let format = r.u32("format")?;
        if format != 1 && format != FORMAT {
            return Err(Error::BadArguments(format!(
                "cluster slots format {format} is not 1 or {FORMAT}"
            )));
        }
        let epoch = r.u64("epoch")?;
        let n = r.count("ranges", 12)?;
        let text = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(|_| Error::BadArguments("an address is not UTF-8".into()))
        };
        let mut ranges = Vec::with_capacity(n);
        for _ in 0..n {
            let start = r.u16("start")?;
            let end = r.u16("end")?;
            if end < start || end >= SLOTS {
                return Err(Error::BadArguments(format!("bad slot range {start}-{end}")));
            }
            let primary = text(r.bytes("primary")?)?;
            let m = r.count("replicas", 4)?;
            let replicas = (0..m)
                .map(|_| r.bytes("replica").and_then(text))
                .collect::<Result<_, _>>()?;
            ranges.push(SlotOwner {
                start,
                end,
                primary,
                replicas,
            });
        }
        let mut core_ports = Vec::new();
        if format >= 2 {
            let k = r.count("nodes", 8)?;
            for _ in 0..k {
                let addr = text(r.bytes("node")?)?;
                let c = r.count("core ports", 2)?;
                let ports = (0..c).map(|_| r.u16("port")).collect::<Result<_, _>>()?;
                core_ports.push((addr, ports));
            }
        }
        r.end()?;
        Ok(ClusterSlots {
            epoch,
            ranges,
            core_ports,
        })
    }

    /// The primary serving `slot`.
    pub fn primary_of(&self, slot: u16) -> Option<&str> {
        self.ranges
            .iter()
            .find(|r| r.start <= slot && slot <= r.end)
            .map(|r| r.primary.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let t = ClusterSlots {
            epoch: 7,
            ranges: vec![
                SlotOwner {
                    start: 0,
                    end: 5460,
                    primary: "10.0.0.1:7000".into(),
                    replicas: vec!["10.0.0.4:7000".into()],
                },
                SlotOwner {
                    start: 5461,
                    end: 16383,
                    primary: "10.0.0.2:7000".into(),
                    replicas: vec![],
                },
            ],
            core_ports: vec![("10.0.0.1:7000".into(), vec![7001, 7002])],
        };
        let mut b = Vec::new();
        t.encode(&mut b);
        assert_eq!(ClusterSlots::decode(&b).unwrap(), t);
        assert_eq!(t.primary_of(5461), Some("10.0.0.2:7000"));
        assert!(ClusterSlots::decode(&b[..b.len() - 1]).is_err());
        let mut bad = b.clone();
        bad[0] = 9;
        assert!(ClusterSlots::decode(&bad).is_err());
        // Format 1 (no per-core ports) still reads.
        let mut old = b[..b.len() - (4 + 4 + 13 + 4 + 4)].to_vec();
        old[3] = 1;
        let v1 = ClusterSlots::decode(&old).unwrap();
        assert_eq!((v1.ranges, v1.core_ports), (t.ranges.clone(), vec![]));
    }
}
