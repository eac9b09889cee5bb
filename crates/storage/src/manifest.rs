//! The data directory's manifest: which layout the directory has.
//!
//! File `MANIFEST`, written atomically (temp file, fsync, rename, fsync of
//! the directory):
//!
//! ```text
//! offset size field
//! 0      8    magic "TESSERA\0"
//! 8      4    manifest format, u32 big endian (1 or 2)
//! 12     4    payload length, u32 big endian
//! 16     8    xxh3-64 of the payload, u64 big endian
//! 24     ..   payload: rkyv archive of `Manifest` (format 1)
//! ```
//!
//! Format 2 has the same bytes; it says the partitions may hold records of
//! envelope format 2 (sorted sets with live bounds, sets with hashed
//! members; docs/storage.md), so builds that only know format 1 refuse the
//! directory instead of misreading those records. A format 1 directory is
//! rewritten as format 2 when a build that knows it opens the directory.
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
/// The format this build writes.
pub const FORMAT_V2: u32 = 2;
const PREFIX_LEN: usize = 24;

/// A contiguous range of slots `[start, end)`.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

/// What a data directory holds.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Random id of this node, fixed at creation.
    pub node_id: u64,
    /// Number of partitions (RocksDB instances), fixed at creation.
    pub partitions: u32,
    /// Slots owned by each partition, indexed by partition.
    pub slot_ranges: Vec<SlotRange>,
    pub created_at_ms: u64,
}

impl Manifest {
    /// A new layout of `partitions` partitions splitting the slots evenly.
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
            slot_ranges,
            created_at_ms,
        }
    }

    /// Checks that the slot ranges tile 0..16384 in partition order.
    pub fn validate(&self) -> Result<(), Error> {
        if self.partitions == 0 || self.partitions as usize != self.slot_ranges.len() {
            return Err(Error::Manifest(format!(
                "manifest lists {} slot ranges for {} partitions",
                self.slot_ranges.len(),
                self.partitions
            )));
        }
        let mut next = 0u16;
        for (p, r) in self.slot_ranges.iter().enumerate() {
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

    /// Encodes the manifest file's bytes.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, Error> {
        let payload = rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .map_err(|e| Error::Manifest(format!("cannot encode manifest: {e}")))?;
        let mut out = Vec::with_capacity(PREFIX_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_V2.to_be_bytes());
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
        if format != FORMAT_V1 && format != FORMAT_V2 {
            return Err(Error::Manifest(format!(
                "MANIFEST has format {format}; this build reads formats {FORMAT_V1} and {FORMAT_V2} only"
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
        let m = rkyv::from_bytes::<Manifest, rkyv::rancor::Error>(&aligned)
            .map_err(|e| Error::Manifest(format!("MANIFEST payload is invalid: {e}")))?;
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
            assert_eq!(m.slot_ranges.len(), p as usize);
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
