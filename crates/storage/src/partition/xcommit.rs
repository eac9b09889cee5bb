//! Commits that span partitions: one command's writes on several
//! partitions of a node (their own RocksDB instances, their own WALs)
//! made atomic across a crash.
//!
//! One participating partition (the coordinator's) writes a **commit
//! record** holding every part (each partition's writes), in the same
//! group, and so the same WriteBatch, as its own part. Only once that group
//! is written do the other partitions stage their parts, each with an
//! **applied mark**: the highest record id of the record's partition whose
//! part it holds. Once every part is written, the record is forgotten.
//!
//! After a crash, `recover` redoes, from each record still stored, every
//! part whose partition's applied mark is below the record's id, then
//! forgets the record: a commit is then wholly there (its record was
//! written) or wholly absent (it was not, and no other part was staged
//! before it). Record ids are the record partition's clock versions, so
//! they grow, and the caller holds the partitions of a commit until its
//! parts are staged, so one partition's commits reach each other partition
//! in id order: one mark per pair of partitions is enough.
//!
//! **Replicas.** Each partition replicates on its own stream, so the
//! record's batch and the parts' batches reach a replica independently.
//! The primary stages a commit's record and each of its parts in a group
//! that holds no other commit's record or part, and the record's batch
//! also marks the record partition itself (its own applied mark: the
//! highest own record whose batch it holds). A replica's stream that meets
//! such a batch (`link_of`) hands it to the record partition's core, which
//! applies the record's batch and then the parts' batches together, the
//! cores held, once every one has arrived (`net::core::rendezvous`).

use std::sync::Arc;

use rocksdb::{WriteBatch, DB};

use super::batch;

use super::{Cf, Partition, TxWrites, CLOCK_KEY, SUB_CF};
use crate::Error;

/// Commit records: this prefix, then the record id (8 bytes, big endian).
const RECORD_PREFIX: &[u8] = b"\xFF\xFFxcommit-record/";

/// Applied marks: this prefix, then the lowest partition's id (4 bytes,
/// big endian); the value is the highest record id applied (8 bytes).
const APPLIED_PREFIX: &[u8] = b"\xFF\xFFxcommit-applied/";

/// One write of a part: its column family, raw key and value (`None`:
/// a deletion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub cf: Cf,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// One partition's writes of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub partition: u32,
    pub writes: Vec<Write>,
}

/// A commit over several partitions: what one of them stores until every
/// part is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// A version of the record partition's clock, taken when it was staged.
    pub id: u64,
    /// The partition that stores the record.
    pub from: u32,
    /// The highest value version any part writes: each partition's clock
    /// moves past it, so later writes there get higher versions.
    pub max_version: u64,
    pub parts: Vec<Part>,
}

/// Whether `raw` is a commit record or an applied mark (a full sync
/// copies them with the partition's keys).
pub fn is_commit_key(raw: &[u8]) -> bool {
    raw.starts_with(RECORD_PREFIX) || raw.starts_with(APPLIED_PREFIX)
}

fn record_key(id: u64) -> Vec<u8> {
    let mut k = RECORD_PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn applied_key(from: u32) -> Vec<u8> {
    let mut k = APPLIED_PREFIX.to_vec();
    k.extend_from_slice(&from.to_be_bytes());
    k
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

impl Record {
    /// `id u64 | from u32 | max_version u64 | parts u32 | each part:
    /// partition u32, writes u32, each write: cf u8, key (u32 length,
    /// bytes), 0 (deletion) or 1 and the value (u32 length, bytes)`, all
    /// big endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.from.to_be_bytes());
        out.extend_from_slice(&self.max_version.to_be_bytes());
        out.extend_from_slice(&(self.parts.len() as u32).to_be_bytes());
        for part in &self.parts {
            out.extend_from_slice(&part.partition.to_be_bytes());
            out.extend_from_slice(&(part.writes.len() as u32).to_be_bytes());
            for w in &part.writes {
                out.push(matches!(w.cf, Cf::Sub) as u8);
                put_bytes(&mut out, &w.key);
                match &w.value {
                    None => out.push(0),
                    Some(v) => {
                        out.push(1);
                        put_bytes(&mut out, v);
                    }
                }
            }
        }
        out
    }

    pub fn decode(mut b: &[u8]) -> Result<Record, Error> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], Error> {
            if b.len() < n {
                return Err(Error::Corrupt("commit record cut short".into()));
            }
            let (head, rest) = b.split_at(n);
            *b = rest;
            Ok(head)
        }
        fn u32_of(b: &mut &[u8]) -> Result<u32, Error> {
            Ok(u32::from_be_bytes(take(b, 4)?.try_into().expect("4 bytes")))
        }
        fn u64_of(b: &mut &[u8]) -> Result<u64, Error> {
            Ok(u64::from_be_bytes(take(b, 8)?.try_into().expect("8 bytes")))
        }
        fn bytes(b: &mut &[u8]) -> Result<Vec<u8>, Error> {
            let n = u32_of(b)? as usize;
            Ok(take(b, n)?.to_vec())
        }
        let id = u64_of(&mut b)?;
        let from = u32_of(&mut b)?;
        let max_version = u64_of(&mut b)?;
        let count = u32_of(&mut b)?;
        let mut parts = Vec::new();
        for _ in 0..count {
            let partition = u32_of(&mut b)?;
            let n = u32_of(&mut b)?;
            let mut writes = Vec::new();
            for _ in 0..n {
                let cf = match take(&mut b, 1)?[0] {
                    0 => Cf::Meta,
                    1 => Cf::Sub,
                    x => return Err(Error::Corrupt(format!("commit record: column family {x}"))),
                };
                let key = bytes(&mut b)?;
                let value = match take(&mut b, 1)?[0] {
                    0 => None,
                    1 => Some(bytes(&mut b)?),
                    x => return Err(Error::Corrupt(format!("commit record: value tag {x}"))),
                };
                writes.push(Write { cf, key, value });
            }
            parts.push(Part { partition, writes });
        }
        if !b.is_empty() {
            return Err(Error::Corrupt(format!(
                "commit record {id}: {} bytes past its end",
                b.len()
            )));
        }
        Ok(Record {
            id,
            from,
            max_version,
            parts,
        })
    }
}

fn tx_writes(writes: impl IntoIterator<Item = Write>) -> TxWrites {
    let mut w = TxWrites::default();
    for x in writes {
        w.insert((x.cf, x.key), x.value.map(std::rc::Rc::from));
    }
    w
}

impl Partition {
    /// A new record id: a version of this partition's clock.
    pub fn next_commit_id(&self, now_ms: u64) -> u64 {
        self.next_version(now_ms)
    }

    /// Stages `record` (whose `from` is this partition) and this
    /// partition's own part of it in the open group, all or nothing.
    /// Returns the group: the other parts may be staged once it is written.
    pub fn stage_record(&self, record: &Record) -> Result<u64, Error> {
        self.check_writable()?;
        if record.from != self.id {
            return Err(Error::Corrupt(format!(
                "commit record {} of partition {} staged on partition {}",
                record.id, record.from, self.id
            )));
        }
        self.observe_version(record.max_version);
        let mut w = record
            .parts
            .iter()
            .find(|p| p.partition == self.id)
            .map_or_else(TxWrites::default, |p| tx_writes(p.writes.iter().cloned()));
        w.insert(
            (Cf::Meta, record_key(record.id)),
            Some(std::rc::Rc::from(record.encode())),
        );
        w.insert(
            (Cf::Meta, applied_key(self.id)),
            Some(std::rc::Rc::from(&record.id.to_be_bytes()[..])),
        );
        Ok(self.stage_links(w))
    }

    /// Stages a record or a part, noting the group holds one.
    fn stage_links(&self, w: TxWrites) -> u64 {
        let g = self.stage_all(w);
        self.links_group.set(g);
        g
    }

    /// Whether the open group already holds a commit's record or part: the
    /// next commit's must wait until it is written (one commit's per
    /// batch, so a replica joins exactly one record batch with its parts).
    pub fn links_open(&self) -> bool {
        self.links_group.get() == self.group.get()
    }

    /// Stages this partition's part of record `id` of partition `from`,
    /// with its applied mark, in the open group. Returns the group.
    pub fn stage_part(
        &self,
        from: u32,
        id: u64,
        max_version: u64,
        writes: Vec<Write>,
    ) -> Result<u64, Error> {
        self.check_writable()?;
        self.observe_version(max_version);
        let mut w = tx_writes(writes);
        w.insert(
            (Cf::Meta, applied_key(from)),
            Some(std::rc::Rc::from(&id.to_be_bytes()[..])),
        );
        Ok(self.stage_links(w))
    }

    /// Stages writes that need no record (all of a commit's are on this
    /// partition), all or nothing. Returns the group.
    pub fn stage_writes(&self, writes: Vec<Write>) -> Result<u64, Error> {
        self.check_writable()?;
        Ok(self.stage_all(tx_writes(writes)))
    }

    /// Stages the deletion of record `id` once every part is written.
    pub fn forget_record(&self, id: u64) -> Result<u64, Error> {
        self.check_writable()?;
        let mut w = TxWrites::default();
        w.insert((Cf::Meta, record_key(id)), None);
        Ok(self.stage_all(w))
    }

    /// The highest record id of partition `from` whose part this
    /// partition holds (0: none); for its own id, the highest own record
    /// whose batch it holds.
    pub fn applied_from(&self, from: u32) -> Result<u64, Error> {
        Ok(self
            .read_raw(&applied_key(from))?
            .and_then(|v| {
                v.get(..8)
                    .map(|b| u64::from_be_bytes(b.try_into().expect("8")))
            })
            .unwrap_or(0))
    }

    /// Moves the clock past the stored high-water mark when `recover`
    /// raised it while the partition was open but not yet serving (it
    /// stages nothing: the mark is already stored).
    pub fn resume_clock(&self) -> Result<(), Error> {
        let Some(v) = self.db.get(CLOCK_KEY).map_err(super::storage)? else {
            return Ok(());
        };
        let Ok(b) = <[u8; 8]>::try_from(&v[..]) else {
            return Err(Error::Corrupt(format!(
                "partition {}: clock high-water mark has {} bytes",
                self.id,
                v.len()
            )));
        };
        let mark = u64::from_be_bytes(b);
        let mut clock = self.clock.borrow_mut();
        if mark > clock.last() {
            *clock = crate::clock::Hlc::resume(mark);
        }
        Ok(())
    }

    /// What `recover` needs of this partition, which may be sent to
    /// another thread.
    pub fn recovery_handle(&self) -> RecoveryHandle {
        RecoveryHandle {
            partition: self.id,
            db: self.db.clone(),
        }
    }
}

/// What a replicated batch carries of a commit across partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// The commit record (with the record partition's own part).
    Record(Record),
    /// A part of record `id` of partition `from`.
    Part { from: u32, id: u64 },
}

/// The commit a replicated batch (as the primary wrote it, journaled or
/// not) carries a record or a part of, if any. A batch never carries two
/// commits' (`Partition::links_open`); one that does is refused.
pub fn link_of(data: &[u8]) -> Result<Option<Link>, Error> {
    if memchr::memmem::find(data, b"\xFF\xFFxcommit-").is_none() {
        return Ok(None);
    }
    let mut record = None;
    let mut marks = Vec::new();
    batch::default_puts(data, u32::from(super::journal::CF_ID), &mut |k, v| {
        if k.starts_with(RECORD_PREFIX) {
            if record.is_some() {
                return Err(Error::Corrupt(
                    "a replicated batch holds two commit records".into(),
                ));
            }
            record = Some(Record::decode(v)?);
        } else if let Some(from) = k.strip_prefix(APPLIED_PREFIX) {
            let from = <[u8; 4]>::try_from(from)
                .map(u32::from_be_bytes)
                .map_err(|_| Error::Corrupt("an applied mark's key is malformed".into()))?;
            let id = <[u8; 8]>::try_from(v)
                .map(u64::from_be_bytes)
                .map_err(|_| Error::Corrupt("an applied mark's value is malformed".into()))?;
            marks.push((from, id));
        }
        Ok(())
    })?;
    let two = || Error::Corrupt("a replicated batch holds parts of two commits".into());
    match record {
        Some(r) => {
            // Its only mark is the record partition's own.
            if marks.iter().any(|&(from, id)| from != r.from || id != r.id) {
                return Err(two());
            }
            Ok(Some(Link::Record(r)))
        }
        None => match marks[..] {
            [] => Ok(None),
            [(from, id)] => Ok(Some(Link::Part { from, id })),
            _ => Err(two()),
        },
    }
}

/// A partition's RocksDB, for `recover` (which runs before any partition
/// serves, with nothing staged).
#[derive(Clone)]
pub struct RecoveryHandle {
    partition: u32,
    db: Arc<DB>,
}

fn read_u64(db: &DB, key: &[u8]) -> Result<u64, Error> {
    Ok(db
        .get(key)
        .map_err(|e| Error::storage("read a commit mark", e))?
        .and_then(|v| {
            v.get(..8)
                .map(|b| u64::from_be_bytes(b.try_into().expect("8")))
        })
        .unwrap_or(0))
}

/// The commit records partition `h` stores, in id order.
fn records(h: &RecoveryHandle) -> Result<Vec<Record>, Error> {
    let mut it = h.db.raw_iterator();
    it.seek(RECORD_PREFIX);
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        if !k.starts_with(RECORD_PREFIX) {
            break;
        }
        out.push(Record::decode(v)?);
        it.next();
    }
    it.status()
        .map_err(|e| Error::storage("read the commit records", e))?;
    Ok(out)
}

/// Finishes every commit a crash interrupted: redoes each part whose
/// partition has not applied it (with its mark, and the clock moved past
/// the record's versions), then forgets the record. Every partition of
/// the node must be open (their journals replayed) and none serving yet;
/// call `Partition::resume_clock` on each afterwards. Returns the parts
/// redone.
pub fn recover(handles: &[RecoveryHandle]) -> Result<u64, Error> {
    let mut redone = 0;
    for h in handles {
        for record in records(h)? {
            for part in record.parts.iter().filter(|p| p.partition != h.partition) {
                let target = handles
                    .iter()
                    .find(|t| t.partition == part.partition)
                    .ok_or_else(|| {
                        Error::Corrupt(format!(
                            "commit record {} of partition {} names partition {}, which is not open",
                            record.id, record.from, part.partition
                        ))
                    })?;
                if read_u64(&target.db, &applied_key(record.from))? >= record.id {
                    continue;
                }
                let sub = target
                    .db
                    .cf_handle(SUB_CF)
                    .ok_or_else(|| Error::Corrupt("no subkey column family".into()))?;
                let mut b = WriteBatch::default();
                for w in &part.writes {
                    match (w.cf, &w.value) {
                        (Cf::Meta, Some(v)) => b.put(&w.key, v),
                        (Cf::Meta, None) => b.delete(&w.key),
                        (Cf::Sub, Some(v)) => b.put_cf(sub, &w.key, v),
                        (Cf::Sub, None) => b.delete_cf(sub, &w.key),
                    }
                }
                b.put(applied_key(record.from), record.id.to_be_bytes());
                let clock = read_u64(&target.db, CLOCK_KEY)?;
                if clock <= record.max_version {
                    b.put(CLOCK_KEY, (record.max_version + 1).to_be_bytes());
                }
                target
                    .db
                    .write(b)
                    .map_err(|e| Error::storage("redo a commit's part", e))?;
                target
                    .db
                    .flush_wal(true)
                    .map_err(|e| Error::storage("sync a redone part", e))?;
                redone += 1;
            }
            h.db.delete(record_key(record.id))
                .map_err(|e| Error::storage("forget a commit record", e))?;
        }
    }
    Ok(redone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_damage_is_refused() {
        let r = Record {
            id: 77,
            from: 1,
            max_version: 90,
            parts: vec![
                Part {
                    partition: 1,
                    writes: vec![Write {
                        cf: Cf::Meta,
                        key: b"\x00\x05a".to_vec(),
                        value: Some(b"va".to_vec()),
                    }],
                },
                Part {
                    partition: 3,
                    writes: vec![
                        Write {
                            cf: Cf::Sub,
                            key: b"\x00\x07m".to_vec(),
                            value: None,
                        },
                        Write {
                            cf: Cf::Meta,
                            key: vec![],
                            value: Some(vec![]),
                        },
                    ],
                },
            ],
        };
        let bytes = r.encode();
        assert_eq!(Record::decode(&bytes).unwrap(), r);
        for cut in 0..bytes.len() {
            assert!(Record::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Record::decode(&longer).is_err());
    }

    #[test]
    fn a_batch_names_the_one_commit_it_carries() {
        let r = Record {
            id: 9,
            from: 2,
            max_version: 9,
            parts: vec![],
        };
        let batch = |puts: &[(Vec<u8>, Vec<u8>)]| {
            let mut b = WriteBatch::default();
            b.put(b"\x00\x01user", b"\xFF\xFFxcommit-record/ in a value");
            for (k, v) in puts {
                b.put(k, v);
            }
            b.delete(record_key(3));
            b.data().to_vec()
        };
        let mark = |from: u32, id: u64| (applied_key(from), id.to_be_bytes().to_vec());
        let rec = (record_key(9), r.encode());
        assert_eq!(link_of(&batch(&[])).unwrap(), None);
        assert_eq!(
            link_of(&batch(&[rec.clone(), mark(2, 9)])).unwrap(),
            Some(Link::Record(r.clone()))
        );
        assert_eq!(
            link_of(&batch(&[mark(4, 12)])).unwrap(),
            Some(Link::Part { from: 4, id: 12 })
        );
        // Two commits' in one batch, or a mark cut short, are refused.
        assert!(link_of(&batch(&[mark(4, 12), mark(5, 1)])).is_err());
        assert!(link_of(&batch(&[rec.clone(), mark(4, 12)])).is_err());
        assert!(link_of(&batch(&[rec.clone(), rec])).is_err());
        assert!(link_of(&batch(&[(applied_key(4), vec![1, 2])])).is_err());
    }
}
