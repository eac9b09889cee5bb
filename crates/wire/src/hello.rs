//! The HELLO reply: the node's layout, so a shard-aware client can send each
//! request straight to the core that owns the key.
//!
//! ```text
//! offset size field
//! 0      2    hello format, u16 big endian (1 or 2)
//! 2      4    payload length, u32 big endian
//! 6      ..   payload: rkyv archive of `HelloV1` (format 1) or of
//!             `Hello` (format 2; validated on receipt)
//! ```
//!
//! A single node whose partitions own contiguous slot ranges answers
//! format 1, byte for byte what earlier builds sent. A node with an
//! interleaved layout (cluster data directories: partition p owns every
//! slot s with s % P == p), and every cluster node, answers format 2, which
//! clients that know only format 1 refuse instead of routing keys to the
//! wrong core. In cluster mode format 2 also carries the cluster map: the
//! slot owners and each node's per-core ports (`cluster_slots`).

use super::Error;
use crate::slot::{key_slot, SLOTS};

pub const FORMAT_V1: u16 = 1;
pub const FORMAT_V2: u16 = 2;
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// Which slots each partition owns.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum SlotLayout {
    /// `[start, end)` slots of each partition, indexed by partition.
    Ranges(Vec<(u16, u16)>),
    /// This many partitions; partition p owns every slot s with s % n == p.
    Interleaved(u32),
}

impl SlotLayout {
    pub fn partitions(&self) -> u32 {
        match self {
            SlotLayout::Ranges(r) => r.len() as u32,
            SlotLayout::Interleaved(n) => *n,
        }
    }
}

/// What HELLO returns.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub protocol: u16,
    pub node_id: u64,
    pub cores: u32,
    pub layout: SlotLayout,
    /// The shared port every core accepts on.
    pub shared_port: u16,
    /// Each core's own port, indexed by core.
    pub core_ports: Vec<u16>,
    pub durability: String,
    pub server_version: String,
    /// Cluster mode: the map as `cluster_slots::ClusterSlots` encodes it
    /// (slot owners, each node's per-core ports); empty otherwise.
    pub cluster: Vec<u8>,
}

/// HELLO format 1: contiguous ranges only.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
struct HelloV1 {
    protocol: u16,
    node_id: u64,
    cores: u32,
    slot_ranges: Vec<(u16, u16)>,
    shared_port: u16,
    core_ports: Vec<u16>,
    durability: String,
    server_version: String,
}

impl Hello {
    pub fn partitions(&self) -> u32 {
        self.layout.partitions()
    }

    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let err = |e: rkyv::rancor::Error| Error::BadArguments(format!("cannot encode HELLO: {e}"));
        let (format, payload) = match &self.layout {
            SlotLayout::Ranges(r) if self.cluster.is_empty() => (
                FORMAT_V1,
                rkyv::to_bytes::<rkyv::rancor::Error>(&HelloV1 {
                    protocol: self.protocol,
                    node_id: self.node_id,
                    cores: self.cores,
                    slot_ranges: r.clone(),
                    shared_port: self.shared_port,
                    core_ports: self.core_ports.clone(),
                    durability: self.durability.clone(),
                    server_version: self.server_version.clone(),
                })
                .map_err(err)?,
            ),
            _ => (
                FORMAT_V2,
                rkyv::to_bytes::<rkyv::rancor::Error>(self).map_err(err)?,
            ),
        };
        let mut out = Vec::with_capacity(6 + payload.len());
        out.extend_from_slice(&format.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    pub fn decode(raw: &[u8]) -> Result<Hello, Error> {
        if raw.len() < 6 {
            return Err(Error::BadArguments("HELLO reply is truncated".into()));
        }
        let format = u16::from_be_bytes([raw[0], raw[1]]);
        if format != FORMAT_V1 && format != FORMAT_V2 {
            return Err(Error::BadArguments(format!(
                "HELLO format {format} is not supported"
            )));
        }
        let len = u32::from_be_bytes([raw[2], raw[3], raw[4], raw[5]]) as usize;
        if raw.len() - 6 != len {
            return Err(Error::BadArguments("HELLO payload length mismatch".into()));
        }
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(len);
        aligned.extend_from_slice(&raw[6..]);
        let invalid =
            |e: rkyv::rancor::Error| Error::BadArguments(format!("HELLO payload is invalid: {e}"));
        let h = if format == FORMAT_V2 {
            rkyv::from_bytes::<Hello, rkyv::rancor::Error>(&aligned).map_err(invalid)?
        } else {
            let v1 = rkyv::from_bytes::<HelloV1, rkyv::rancor::Error>(&aligned).map_err(invalid)?;
            Hello {
                protocol: v1.protocol,
                node_id: v1.node_id,
                cores: v1.cores,
                layout: SlotLayout::Ranges(v1.slot_ranges),
                shared_port: v1.shared_port,
                core_ports: v1.core_ports,
                durability: v1.durability,
                server_version: v1.server_version,
                cluster: Vec::new(),
            }
        };
        Topology::from_hello(&h)?;
        Ok(h)
    }
}

/// Slot → partition → core, as both server and client compute it.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Partition of each slot.
    slot_partition: Vec<u16>,
    cores: u32,
    partitions: u32,
}

impl Topology {
    /// `ranges[p]` = `[start, end)` of partition p; they must tile the slots.
    pub fn new(ranges: &[(u16, u16)], cores: u32) -> Result<Topology, Error> {
        if cores == 0 || ranges.is_empty() {
            return Err(Error::BadArguments(
                "topology needs cores and partitions".into(),
            ));
        }
        let mut slot_partition = vec![0u16; SLOTS as usize];
        let mut next = 0u16;
        for (p, &(start, end)) in ranges.iter().enumerate() {
            if start != next || end <= start || end > SLOTS {
                return Err(Error::BadArguments(format!(
                    "bad slot range {start}..{end}"
                )));
            }
            for s in start..end {
                slot_partition[s as usize] = p as u16;
            }
            next = end;
        }
        if next != SLOTS {
            return Err(Error::BadArguments(
                "slot ranges do not cover every slot".into(),
            ));
        }
        Ok(Topology {
            slot_partition,
            cores,
            partitions: ranges.len() as u32,
        })
    }

    pub fn from_hello(h: &Hello) -> Result<Topology, Error> {
        if h.core_ports.len() != h.cores as usize {
            return Err(Error::BadArguments(
                "HELLO lists a port count unlike its core count".into(),
            ));
        }
        Topology::from_layout(&h.layout, h.cores)
    }

    /// The topology of `layout` spread over `cores` cores.
    pub fn from_layout(layout: &SlotLayout, cores: u32) -> Result<Topology, Error> {
        match layout {
            SlotLayout::Ranges(r) => Topology::new(r, cores),
            SlotLayout::Interleaved(n) => {
                if cores == 0 || *n == 0 || *n > SLOTS as u32 {
                    return Err(Error::BadArguments(format!(
                        "topology of {n} interleaved partitions over {cores} cores"
                    )));
                }
                Ok(Topology {
                    slot_partition: (0..SLOTS).map(|s| s % *n as u16).collect(),
                    cores,
                    partitions: *n,
                })
            }
        }
    }

    pub fn cores(&self) -> u32 {
        self.cores
    }

    /// Whether `other` gives every slot to the same partition.
    pub fn same_layout(&self, other: &Topology) -> bool {
        self.slot_partition == other.slot_partition
    }

    /// Whether neighbouring slots lie in different partitions (an
    /// interleaved layout) rather than in contiguous ranges.
    pub fn interleaved(&self) -> bool {
        self.partitions > 1 && self.slot_partition[0] != self.slot_partition[1]
    }

    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    pub fn partition_of_slot(&self, slot: u16) -> u32 {
        self.slot_partition[slot as usize] as u32
    }

    /// Core c owns every partition p with p % C == c.
    pub fn core_of_partition(&self, p: u32) -> usize {
        (p % self.cores) as usize
    }

    pub fn core_of_slot(&self, slot: u16) -> usize {
        self.core_of_partition(self.partition_of_slot(slot))
    }

    pub fn core_of_key(&self, key: &[u8]) -> usize {
        self.core_of_slot(key_slot(key))
    }

    /// Groups item indices by owning core, keeping their order.
    pub fn group_by_core<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
    ) -> Vec<(usize, Vec<usize>)> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, k) in keys.enumerate() {
            let c = self.core_of_key(k);
            match groups.iter_mut().find(|(gc, _)| *gc == c) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((c, vec![i])),
            }
        }
        groups
    }
}

/// SCAN cursors: `(slot << 48) | token`. Token 0 = the start of the slot; any
/// other token names the server's remembered position within the slot. A
/// token the server no longer knows restarts that slot (keys may repeat,
/// none are skipped). Cursor 0 both starts and ends a scan.
pub mod cursor {
    pub const TOKEN_BITS: u32 = 48;
    pub const TOKEN_MASK: u64 = (1 << TOKEN_BITS) - 1;

    pub fn make(slot: u16, token: u64) -> u64 {
        ((slot as u64) << TOKEN_BITS) | (token & TOKEN_MASK)
    }

    pub fn slot(cursor: u64) -> u16 {
        ((cursor >> TOKEN_BITS) as u16).min(crate::slot::SLOTS - 1)
    }

    pub fn token(cursor: u64) -> u64 {
        cursor & TOKEN_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trip() {
        let h = Hello {
            protocol: 1,
            node_id: 7,
            cores: 2,
            layout: SlotLayout::Ranges(vec![(0, 8192), (8192, 16384)]),
            shared_port: 7700,
            core_ports: vec![7701, 7702],
            durability: "wal".into(),
            server_version: "0.1.0".into(),
            cluster: vec![],
        };
        let raw = h.encode().unwrap();
        assert_eq!(u16::from_be_bytes([raw[0], raw[1]]), FORMAT_V1);
        assert_eq!(Hello::decode(&raw).unwrap(), h);
        assert!(Hello::decode(&raw[..raw.len() - 1]).is_err());
        let t = Topology::from_hello(&h).unwrap();
        assert_eq!(t.core_of_slot(0), 0);
        assert_eq!(t.core_of_slot(16383), 1);
        // Interleaved: format 2, and neighbouring slots on different cores.
        let i = Hello {
            layout: SlotLayout::Interleaved(4),
            ..h
        };
        let raw = i.encode().unwrap();
        assert_eq!(u16::from_be_bytes([raw[0], raw[1]]), FORMAT_V2);
        assert_eq!(Hello::decode(&raw).unwrap(), i);
        let t = Topology::from_hello(&i).unwrap();
        assert_eq!(t.partitions(), 4);
        assert_eq!((t.partition_of_slot(5), t.core_of_slot(5)), (1, 1));
        assert_eq!((t.partition_of_slot(6), t.core_of_slot(6)), (2, 0));
        assert_eq!(t.partition_of_slot(16383), 3);
        assert!(Topology::from_layout(&SlotLayout::Interleaved(0), 1).is_err());
        // A cluster node with contiguous ranges (an adopted one): format 2,
        // for the map it carries.
        let c = Hello {
            layout: SlotLayout::Ranges(vec![(0, 16384)]),
            cluster: vec![1, 2, 3],
            ..i
        };
        let raw = c.encode().unwrap();
        assert_eq!(u16::from_be_bytes([raw[0], raw[1]]), FORMAT_V2);
        assert_eq!(Hello::decode(&raw).unwrap(), c);
    }

    #[test]
    fn cursor_packs_slot_and_token() {
        let c = cursor::make(16383, 12345);
        assert_eq!(cursor::slot(c), 16383);
        assert_eq!(cursor::token(c), 12345);
        assert_eq!(cursor::make(0, 0), 0);
    }
}
