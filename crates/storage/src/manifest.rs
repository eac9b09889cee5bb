//! The data directory's manifest: which layout the directory has.
//!
//! File `MANIFEST`, written atomically (temp file, fsync, rename, fsync of
//! the directory):
//!
//! ```text
//! offset size field
//! 0      8    magic "TESSERA\0"
//! 8      4    manifest format, u32 big endian (1 to 5)
//! 12     4    payload length, u32 big endian
//! 16     8    xxh3-64 of the payload, u64 big endian
//! 24     ..   payload: rkyv archive of `RangedV1` (formats 1, 2 and 4)
//!             or of `InterleavedV3` (formats 3 and 5)
//! ```
//!
//! Format 2 has the same bytes as format 1; it says the partitions may hold
//! records of envelope format 2 (sorted sets with live bounds, sets with
//! hashed members; docs/storage.md), so builds that only know format 1
//! refuse the directory instead of misreading those records. A format 1
//! directory is rewritten as format 2 when a build that knows it opens it.
//!
//! Format 3 is written only for an interleaved layout (cluster data
//! directories: partition p owns every slot s with s % P == p, so a node
//! owning a third of the slots still spreads them over every partition).
//! Builds that know formats 1 and 2 only refuse it with their "format 3"
//! error instead of routing keys to the wrong partition. A directory with
//! one contiguous range per partition keeps format 2.
//!
//! Formats 4 and 5 have the bytes of formats 2 and 3; they say the
//! partitions may hold keys of databases 1 and up (under the spaces
//! `0xC000 + n`, docs/storage.md "Databases"). Builds that know formats 1
//! to 3 only would read those spaces' keys as slots they do not have, so
//! they refuse the directory. A node started with more than one database
//! (outside cluster mode) rewrites a format 2 or 3 manifest as 4 or 5 before
//! it serves; a directory that never had them keeps its format.
//! A later format is added beside these; old bytes are never reinterpreted.

use std::io::Write;
use std::path::Path;

use super::Error;

/// The slot space the manifest divides among partitions: Redis Cluster's
/// 16384 (the server checks it equals `slot::SLOTS`).
pub const SLOTS: u16 = 16384;

pub const FILE_NAME: &str = "MANIFEST";
const MAGIC: &[u8; 8] = b"TESSERA\0";
pub const FORMAT_V1: u32 = 1;
/// The format this build writes for a layout of contiguous ranges.
pub const FORMAT_V2: u32 = 2;
/// The format this build writes for an interleaved layout.
pub const FORMAT_V3: u32 = 3;
/// Format 2's bytes, with keys of databases 1 and up possible.
pub const FORMAT_V4: u32 = 4;
/// Format 3's bytes, with keys of databases 1 and up possible.
pub const FORMAT_V5: u32 = 5;
const PREFIX_LEN: usize = 24;

/// A contiguous range of slots `[start, end)`.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

/// How the slots are divided among the partitions.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Partition p owns the contiguous range `ranges[p]` (single nodes;
    /// formats 1 and 2).
    Ranges(Vec<SlotRange>),
    /// Partition p owns every slot s with `s % partitions == p` (cluster
    /// data directories; format 3).
    Interleaved,
}

/// What a data directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Random id of this node, fixed at creation.
    pub node_id: u64,
    /// Number of partitions (RocksDB instances), fixed at creation.
    pub partitions: u32,
    /// Which slots each partition owns, fixed at creation.
    pub layout: Layout,
    pub created_at_ms: u64,
    /// The partitions may hold keys of databases 1 and up (formats 4 and
    /// 5). Set once, never cleared.
    pub databases: bool,
}

/// The payload of formats 3 and 5 (the fields of `Manifest` that format 3
/// archived, in its order, so its bytes are unchanged).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
struct InterleavedV3 {
    node_id: u64,
    partitions: u32,
    layout: Layout,
    created_at_ms: u64,
}

/// The payload of formats 1 and 2: one contiguous range per partition.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
struct RangedV1 {
    node_id: u64,
    partitions: u32,
    slot_ranges: Vec<SlotRange>,
    created_at_ms: u64,
}

/// The slots one partition owns: `first`, `first + step`, ... below `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSlots {
    pub first: u16,
    pub end: u16,
    pub step: u16,
    /// The first slot of the next partition, where a scan continues; `None`
    /// for the last partition.
    pub next_partition: Option<u16>,
}

impl PartitionSlots {
    /// Whether `slot` is one of these.
    pub fn holds(&self, slot: u16) -> bool {
        (self.first..self.end).contains(&slot) && (slot - self.first).is_multiple_of(self.step)
    }

    /// The highest slot owned.
    pub fn last(&self) -> u16 {
        self.first + (self.end - 1 - self.first) / self.step * self.step
    }
}

impl std::fmt::Display for PartitionSlots {
    /// `0-8191`, or `1-16381/4` for every fourth slot from 1.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last())?;
        if self.step > 1 {
            write!(f, "/{}", self.step)?;
        }
        Ok(())
    }
}

impl Manifest {
    /// A new layout of `partitions` partitions splitting the slots evenly
    /// into contiguous ranges.
    pub fn new(node_id: u64, partitions: u32, created_at_ms: u64) -> Manifest {
        let p = partitions;
        let slot_ranges = (0..p)
            .map(|i| SlotRange {
                start: (i * SLOTS as u32 / p) as u16,
                end: ((i + 1) * SLOTS as u32 / p) as u16,
            })
            .collect();
        Manifest {
            node_id,
            partitions,
            layout: Layout::Ranges(slot_ranges),
            created_at_ms,
            databases: false,
        }
    }

    /// A new interleaved layout: partition p owns every slot s with
    /// `s % partitions == p`.
    pub fn interleaved(node_id: u64, partitions: u32, created_at_ms: u64) -> Manifest {
        Manifest {
            node_id,
            partitions,
            layout: Layout::Interleaved,
            created_at_ms,
            databases: false,
        }
    }

    /// The slots partition `p` owns (`p` < `partitions`).
    pub fn slots_of(&self, p: u32) -> PartitionSlots {
        let next = (p + 1 < self.partitions).then_some(p + 1);
        match &self.layout {
            Layout::Ranges(r) => PartitionSlots {
                first: r[p as usize].start,
                end: r[p as usize].end,
                step: 1,
                next_partition: next.map(|n| r[n as usize].start),
            },
            Layout::Interleaved => PartitionSlots {
                first: p as u16,
                end: SLOTS,
                step: self.partitions as u16,
                next_partition: next.map(|n| n as u16),
            },
        }
    }

    /// Checks that the layout gives every slot to exactly one partition.
    pub fn validate(&self) -> Result<(), Error> {
        if self.partitions == 0 || self.partitions > SLOTS as u32 {
            return Err(Error::Manifest(format!(
                "manifest has {} partitions: 1 to {SLOTS} are possible",
                self.partitions
            )));
        }
        let ranges = match &self.layout {
            Layout::Interleaved => return Ok(()),
            Layout::Ranges(r) => r,
        };
        if self.partitions as usize != ranges.len() {
            return Err(Error::Manifest(format!(
                "manifest lists {} slot ranges for {} partitions",
                ranges.len(),
                self.partitions
            )));
        }
        let mut next = 0u16;
        for (p, r) in ranges.iter().enumerate() {
            if r.start != next || r.end <= r.start || r.end > SLOTS {
                return Err(Error::Manifest(format!(
                    "manifest slot range of partition {p} ({}..{}) does not continue at slot {next}",
                    r.start, r.end
                )));
            }
            next = r.end;
        }
        if next != SLOTS {
            return Err(Error::Manifest(format!(
                "manifest slot ranges end at {next}, not {SLOTS}"
            )));
        }
        Ok(())
    }

    /// Encodes the manifest file's bytes: format 2 for contiguous ranges,
    /// format 3 for an interleaved layout; 4 and 5 for those with databases.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, Error> {
        let encode_err =
            |e: rkyv::rancor::Error| Error::Manifest(format!("cannot encode manifest: {e}"));
        let (format, payload) = match &self.layout {
            Layout::Ranges(r) => (
                if self.databases { FORMAT_V4 } else { FORMAT_V2 },
                rkyv::to_bytes::<rkyv::rancor::Error>(&RangedV1 {
                    node_id: self.node_id,
                    partitions: self.partitions,
                    slot_ranges: r.clone(),
                    created_at_ms: self.created_at_ms,
                })
                .map_err(encode_err)?,
            ),
            Layout::Interleaved => (
                if self.databases { FORMAT_V5 } else { FORMAT_V3 },
                rkyv::to_bytes::<rkyv::rancor::Error>(&InterleavedV3 {
                    node_id: self.node_id,
                    partitions: self.partitions,
                    layout: self.layout.clone(),
                    created_at_ms: self.created_at_ms,
                })
                .map_err(encode_err)?,
            ),
        };
        let mut out = Vec::with_capacity(PREFIX_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&format.to_be_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_be_bytes());
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decodes and validates a manifest file's bytes.
    pub fn from_file_bytes(raw: &[u8]) -> Result<Manifest, Error> {
        Manifest::decode_file(raw).map(|(m, _)| m)
    }

    /// Decodes a manifest file's bytes with the format they were written in.
    fn decode_file(raw: &[u8]) -> Result<(Manifest, u32), Error> {
        if raw.len() < PREFIX_LEN || &raw[..8] != MAGIC {
            return Err(Error::Manifest(
                "MANIFEST is not a Tessera manifest (bad magic or truncated)".into(),
            ));
        }
        let format = u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
        if !(FORMAT_V1..=FORMAT_V5).contains(&format) {
            return Err(Error::Manifest(format!(
                "MANIFEST has format {format}; this build reads formats {FORMAT_V1} to {FORMAT_V5} only (a newer Tessera wrote it)"
            )));
        }
        let len = u32::from_be_bytes([raw[12], raw[13], raw[14], raw[15]]) as usize;
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&raw[16..24]);
        let payload = &raw[PREFIX_LEN..];
        if payload.len() != len {
            return Err(Error::Manifest(format!(
                "MANIFEST payload is {} bytes, header says {len}",
                payload.len()
            )));
        }
        if xxhash_rust::xxh3::xxh3_64(payload) != u64::from_be_bytes(sum) {
            return Err(Error::Manifest("MANIFEST checksum mismatch".into()));
        }
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(len);
        aligned.extend_from_slice(payload);
        let invalid =
            |e: rkyv::rancor::Error| Error::Manifest(format!("MANIFEST payload is invalid: {e}"));
        let databases = format >= FORMAT_V4;
        let m = if format == FORMAT_V3 || format == FORMAT_V5 {
            let v3 = rkyv::from_bytes::<InterleavedV3, rkyv::rancor::Error>(&aligned)
                .map_err(invalid)?;
            if v3.layout != Layout::Interleaved {
                return Err(Error::Manifest(format!(
                    "MANIFEST of format {format} must have an interleaved layout"
                )));
            }
            Manifest {
                node_id: v3.node_id,
                partitions: v3.partitions,
                layout: v3.layout,
                created_at_ms: v3.created_at_ms,
                databases,
            }
        } else {
            let v1 =
                rkyv::from_bytes::<RangedV1, rkyv::rancor::Error>(&aligned).map_err(invalid)?;
            Manifest {
                node_id: v1.node_id,
                partitions: v1.partitions,
                layout: Layout::Ranges(v1.slot_ranges),
                created_at_ms: v1.created_at_ms,
                databases,
            }
        };
        m.validate()?;
        Ok((m, format))
    }

    /// Writes the manifest atomically into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<(), Error> {
        let bytes = self.to_file_bytes()?;
        let tmp = dir.join("MANIFEST.tmp");
        let io = |what: &str| {
            let what = what.to_string();
            move |e: std::io::Error| Error::io(what, e)
        };
        let mut f = std::fs::File::create(&tmp).map_err(io("create MANIFEST.tmp"))?;
        if let Some(e) = crate::failpoint::hit("storage.manifest-write") {
            return Err(Error::io("write MANIFEST.tmp", std::io::Error::other(e)));
        }
        f.write_all(&bytes).map_err(io("write MANIFEST.tmp"))?;
        f.sync_all().map_err(io("fsync MANIFEST.tmp"))?;
        drop(f);
        std::fs::rename(&tmp, dir.join(FILE_NAME)).map_err(io("rename MANIFEST"))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync data dir"))?;
        Ok(())
    }

    /// Reads the manifest of `dir`.
    pub fn read_from(dir: &Path) -> Result<Manifest, Error> {
        Manifest::read_with_format(dir).map(|(m, _)| m)
    }

    /// Reads the manifest of `dir` and the format its file has.
    pub fn read_with_format(dir: &Path) -> Result<(Manifest, u32), Error> {
        let path = dir.join(FILE_NAME);
        let raw =
            std::fs::read(&path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        Manifest::decode_file(&raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_tile_the_slots() {
        for p in [1, 2, 3, 7, 16, 64] {
            let m = Manifest::new(1, p, 0);
            m.validate().unwrap();
            assert!(matches!(&m.layout, Layout::Ranges(r) if r.len() == p as usize));
        }
    }

    /// The partition owning each slot, from the layout's definition.
    fn slot_partitions(m: &Manifest) -> Vec<u16> {
        (0..SLOTS)
            .map(|s| match &m.layout {
                Layout::Ranges(r) => r.iter().position(|r| s < r.end).unwrap_or(0) as u16,
                Layout::Interleaved => s % m.partitions as u16,
            })
            .collect()
    }

    /// Both layouts give every slot to one partition, `slots_of` lists
    /// exactly the slots `slot_partitions` gives each partition, and the
    /// partitions' `next_partition` chain visits every partition once.
    #[test]
    fn layouts_agree_with_the_slot_table() {
        for p in [1, 2, 3, 7, 16] {
            for m in [Manifest::new(1, p, 0), Manifest::interleaved(1, p, 0)] {
                m.validate().unwrap();
                let table = slot_partitions(&m);
                let mut seen = vec![false; SLOTS as usize];
                let mut first = Some(0u16);
                for part in 0..p {
                    let s = m.slots_of(part);
                    assert_eq!(first, Some(s.first), "{m:?} partition {part}");
                    let owned: Vec<u16> = (s.first..s.end).step_by(s.step as usize).collect();
                    for &slot in &owned {
                        assert_eq!(table[slot as usize] as u32, part);
                        assert!(!seen[slot as usize]);
                        seen[slot as usize] = true;
                    }
                    assert_eq!(*owned.last().unwrap(), s.last());
                    first = s.next_partition;
                }
                assert_eq!(first, None);
                assert!(seen.iter().all(|&b| b), "{m:?}");
            }
        }
        assert_eq!(
            Manifest::interleaved(1, 4, 0).slots_of(1).to_string(),
            "1-16381/4"
        );
        assert_eq!(Manifest::new(1, 2, 0).slots_of(1).to_string(), "8192-16383");
    }

    #[test]
    fn an_interleaved_layout_is_format_3_and_round_trips() {
        let m = Manifest::interleaved(0xbeef, 4, 9);
        let bytes = m.to_file_bytes().unwrap();
        assert_eq!(
            u32::from_be_bytes(bytes[8..12].try_into().unwrap()),
            FORMAT_V3
        );
        assert_eq!(Manifest::decode_file(&bytes).unwrap(), (m, FORMAT_V3));
        // A ranged layout's bytes read as format 3 are refused, not misread.
        let mut wrong = Manifest::new(1, 4, 0).to_file_bytes().unwrap();
        wrong[11] = 3;
        let sum = xxhash_rust::xxh3::xxh3_64(&wrong[PREFIX_LEN..]);
        wrong[16..24].copy_from_slice(&sum.to_be_bytes());
        assert!(Manifest::from_file_bytes(&wrong).is_err());
    }

    /// Formats 4 and 5 are formats 2 and 3 with databases; the bytes after
    /// the format number are the same.
    #[test]
    fn databases_are_formats_4_and_5() {
        for (m, plain, with) in [
            (Manifest::new(7, 3, 1), FORMAT_V2, FORMAT_V4),
            (Manifest::interleaved(7, 3, 1), FORMAT_V3, FORMAT_V5),
        ] {
            let before = m.to_file_bytes().unwrap();
            let marked = Manifest {
                databases: true,
                ..m.clone()
            };
            let after = marked.to_file_bytes().unwrap();
            assert_eq!(Manifest::decode_file(&before).unwrap(), (m, plain));
            assert_eq!(Manifest::decode_file(&after).unwrap(), (marked, with));
            assert_eq!(before[12..], after[12..]);
        }
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let m = Manifest::new(0xfeed, 4, 123);
        let bytes = m.to_file_bytes().unwrap();
        assert_eq!(Manifest::from_file_bytes(&bytes).unwrap(), m);
        // Flip one payload byte: checksum mismatch.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let err = Manifest::from_file_bytes(&bad).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        assert_eq!(
            u32::from_be_bytes(bytes[8..12].try_into().unwrap()),
            FORMAT_V2
        );
        // A format 1 file (same bytes otherwise) still reads.
        let mut old = bytes.clone();
        old[11] = 1;
        assert_eq!(Manifest::decode_file(&old).unwrap(), (m.clone(), FORMAT_V1));
        // Unknown format.
        let mut future = bytes.clone();
        future[11] = 9;
        let err = Manifest::from_file_bytes(&future).unwrap_err().to_string();
        assert!(err.contains("format 9"), "{err}");
        // Truncated.
        assert!(Manifest::from_file_bytes(&bytes[..10]).is_err());
    }
}
