//! Streams (Redis's stream type): entries by id, consumer groups, their
//! pending-entries lists and consumers, all in one key's subkeys
//! (docs/storage.md, "Streams"; docs/queues.md).
//!
//! ```text
//! metadata body: length | last id | first id | max deleted id |
//!                entries added | groups | dead        (u64 BE; an id is 16 bytes)
//! prefix | 'm' | id                      → entry: count u32 | (len u32 | bytes) × 2·count
//! prefix | 'g' | group                   → group: last delivered id | entries read (i64) |
//!                                          pending | consumers
//! prefix | 'p' | len u32 | group | id    → pending entry: delivery time | deliveries |
//!                                          consumer
//! prefix | 'c' | len u32 | group | name  → consumer: seen time | pending
//! prefix | 'q' | len u32 | group | len u32 | name | id → (empty: the consumer's pending entries)
//! ```
//!
//! Every operation reads and writes only the subkeys it names or the
//! range it walks, and the first id bounds every walk from the front, so
//! trimming a stream from its head leaves nothing for later reads to step
//! over; deletions elsewhere are counted and compact the key's subkeys once
//! they outnumber the entries (as for the other collections).

mod claim;
mod group;
mod id;

pub use claim::{Claim, ClaimOpts};
pub use group::{ConsumerInfo, GroupInfo, Pending, PendingSummary, ReadGroup};
pub use id::StreamId;

use super::envelope::{self, Meta, ValueType};
use super::partition::Cf;
use super::tx::{Tx, Visit, DEAD_BEFORE_COMPACTION};
use super::{subkey, Error};

const T: ValueType = ValueType::Stream;

/// Tags of a stream's subkeys.
const ENTRY: u8 = subkey::MEMBER;
const GROUP: u8 = b'g';
const PEL: u8 = b'p';
const CONSUMER: u8 = b'c';
const CONSUMER_PEL: u8 = b'q';

/// An entry's fields and values, in order.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// An entry: its id and fields.
pub type Entry = (StreamId, Fields);

/// A stream's name and entries (XREAD's answer for one stream).
pub type KeyEntries = (Vec<u8>, Vec<Entry>);

/// The id XADD gives the new entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewId {
    /// `*`: the clock's milliseconds, or the last id's plus one.
    Auto,
    /// `ms-*`: the next sequence number within `ms`.
    Seq(u64),
    Exact(StreamId),
}

/// XADD's and XTRIM's trimming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    pub strategy: TrimTo,
    /// `~`: only whole runs of `NODE_ENTRIES` entries go, as Redis removes
    /// whole radix-tree nodes.
    pub approx: bool,
    /// LIMIT (with `~`): at most this many entries go; 0 = no limit.
    pub limit: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimTo {
    MaxLen(u64),
    MinId(StreamId),
}

/// Entries an approximate trim removes at a time: Redis's default
/// `stream-node-max-entries`, so `~` trims as much as Redis usually does.
pub const NODE_ENTRIES: u64 = 100;

/// A stream's metadata record.
#[derive(Debug, Clone)]
pub struct Stream {
    pub meta: Meta,
    pub prefix: Vec<u8>,
    pub length: u64,
    pub last_id: StreamId,
    /// The first entry's id (0-0 when empty): every walk from the front
    /// starts here.
    pub first_id: StreamId,
    pub max_deleted: StreamId,
    pub entries_added: u64,
    pub groups: u64,
    /// Subkeys deleted since the key was last compacted.
    dead: u64,
}

impl Stream {
    fn body(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(96);
        b.extend_from_slice(&self.length.to_be_bytes());
        for id in [self.last_id, self.first_id, self.max_deleted] {
            b.extend_from_slice(&id.bytes());
        }
        for n in [self.entries_added, self.groups, self.dead] {
            b.extend_from_slice(&n.to_be_bytes());
        }
        b
    }

    fn decode(meta: Meta, prefix: Vec<u8>, b: &[u8]) -> Result<Stream, Error> {
        let bad = || Error::Corrupt("stream metadata is truncated".into());
        let u = |at: usize| -> Result<u64, Error> {
            Ok(u64::from_be_bytes(
                b.get(at..at + 8)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?,
            ))
        };
        let id = |at: usize| -> Result<StreamId, Error> {
            StreamId::from_bytes(b.get(at..)).ok_or_else(bad)
        };
        Ok(Stream {
            meta,
            prefix,
            length: u(0)?,
            last_id: id(8)?,
            first_id: id(24)?,
            max_deleted: id(40)?,
            entries_added: u(56)?,
            groups: u(64)?,
            dead: u(72)?,
        })
    }

    fn tagged(&self, tag: u8) -> Vec<u8> {
        subkey::tagged(&self.prefix, tag)
    }

    fn entry_key(&self, id: StreamId) -> Vec<u8> {
        let mut k = self.tagged(ENTRY);
        k.extend_from_slice(&id.bytes());
        k
    }

    /// Subkey bounds of the entries with ids in `[from, to]`.
    fn entry_range(&self, from: StreamId, to: StreamId) -> (Vec<u8>, Vec<u8>) {
        let lo = self.entry_key(from.max(self.first_id));
        let hi = match to.next() {
            Some(n) => self.entry_key(n),
            None => subkey::end_of(&self.tagged(ENTRY)),
        };
        (lo, hi)
    }
}

/// An entry's value: its fields.
fn encode_fields(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let size: usize = fields.iter().map(|(f, v)| 8 + f.len() + v.len()).sum();
    let mut b = Vec::with_capacity(4 + size);
    b.extend_from_slice(&(fields.len() as u32).to_be_bytes());
    for (f, v) in fields {
        for w in [f, v] {
            b.extend_from_slice(&(w.len() as u32).to_be_bytes());
            b.extend_from_slice(w);
        }
    }
    b
}

fn decode_fields(b: &[u8]) -> Result<Fields, Error> {
    let mut r = Reader(b);
    let n = r.u32()?;
    let mut out = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        let f = r.bytes()?.to_vec();
        let v = r.bytes()?.to_vec();
        out.push((f, v));
    }
    Ok(out)
}

/// Reads the parts of a stream's stored values.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < n {
            return Err(Error::Corrupt("stream record is truncated".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn id(&mut self) -> Result<StreamId, Error> {
        StreamId::from_bytes(Some(self.take(16)?)).ok_or_else(|| Error::Corrupt("stream id".into()))
    }
    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// A plain `ERR` error of a stream command (Redis's words).
pub fn err(m: impl Into<String>) -> Error {
    Error::Stream(m.into())
}

impl Tx<'_> {
    /// The live stream `key`; `WrongType` when it holds another type.
    pub fn stream(&self, key: &[u8]) -> Result<Option<Stream>, Error> {
        let Some((meta, body)) = self.load(key)? else {
            return Ok(None);
        };
        if meta.vtype != T {
            return Err(Error::WrongType);
        }
        let prefix = subkey::prefix(self.space_of_key(key), key, meta.generation);
        Stream::decode(meta, prefix, &body).map(Some)
    }

    fn new_stream(&self, key: &[u8]) -> Stream {
        let generation = self.next_version();
        Stream {
            meta: Meta {
                format: envelope::FORMAT_V2,
                vtype: T,
                flags: 0,
                expire_at_ms: 0,
                version: generation,
                generation,
            },
            prefix: subkey::prefix(self.space_of_key(key), key, generation),
            length: 0,
            last_id: StreamId::ZERO,
            first_id: StreamId::ZERO,
            max_deleted: StreamId::ZERO,
            entries_added: 0,
            groups: 0,
            dead: 0,
        }
    }

    /// Writes the stream's metadata with a new version (an empty stream
    /// stays, as in Redis), asking for a compaction of its subkeys once
    /// the deleted ones outnumber its entries.
    fn save_stream(&mut self, key: &[u8], s: &mut Stream) {
        s.meta.version = self.next_version();
        if s.dead >= s.length.max(DEAD_BEFORE_COMPACTION) {
            self.compact_subkeys(&s.prefix);
            s.dead = 0;
        }
        let body = s.body();
        self.store(key, &s.meta.clone(), &body);
    }

    fn drop_subkey(&mut self, s: &mut Stream, k: Vec<u8>) {
        self.delete(Cf::Sub, k);
        s.dead += 1;
    }

    /// XADD: the new entry's id, or `None` when the key is missing and
    /// `create` is false (NOMKSTREAM).
    pub fn xadd(
        &mut self,
        key: &[u8],
        create: bool,
        id: NewId,
        trim: Option<Trim>,
        fields: &[(&[u8], &[u8])],
    ) -> Result<Option<StreamId>, Error> {
        self.writable()?;
        let mut s = match self.stream(key)? {
            Some(s) => s,
            None if !create => return Ok(None),
            None => self.new_stream(key),
        };
        let last = s.last_id;
        let id = match id {
            NewId::Auto => {
                let now = self.now_ms;
                if now > last.ms {
                    StreamId { ms: now, seq: 0 }
                } else {
                    last.next()
                        .ok_or_else(|| err("The stream has exhausted the last possible ID, unable to add more items"))?
                }
            }
            NewId::Seq(ms) if ms > last.ms => StreamId { ms, seq: 0 },
            NewId::Seq(ms) if ms == last.ms && last.seq < u64::MAX => StreamId {
                ms,
                seq: last.seq + 1,
            },
            NewId::Seq(_) => return Err(too_small()),
            NewId::Exact(id) if id == StreamId::ZERO => {
                return Err(err("The ID specified in XADD must be greater than 0-0"))
            }
            NewId::Exact(id) if id <= last => return Err(too_small()),
            NewId::Exact(id) => id,
        };
        self.put(Cf::Sub, s.entry_key(id), encode_fields(fields));
        if s.length == 0 {
            s.first_id = id;
        }
        s.length += 1;
        s.last_id = id;
        s.entries_added += 1;
        if let Some(t) = trim {
            self.trim_entries(&mut s, t)?;
        }
        self.save_stream(key, &mut s);
        Ok(Some(id))
    }

    /// XLEN.
    pub fn xlen(&self, key: &[u8]) -> Result<u64, Error> {
        Ok(self.stream(key)?.map_or(0, |s| s.length))
    }

    /// XRANGE and XREVRANGE: the entries with ids in `[from, to]`, at most
    /// `count` (`None`: all), ascending or descending.
    pub fn xrange(
        &self,
        key: &[u8],
        from: StreamId,
        to: StreamId,
        count: Option<u64>,
        reverse: bool,
    ) -> Result<Vec<Entry>, Error> {
        match self.stream(key)? {
            Some(s) => self.entries(&s, from, to, count, reverse),
            None => Ok(Vec::new()),
        }
    }

    fn entries(
        &self,
        s: &Stream,
        from: StreamId,
        to: StreamId,
        count: Option<u64>,
        reverse: bool,
    ) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        if from > to || s.length == 0 || count == Some(0) {
            return Ok(out);
        }
        let (lo, hi) = s.entry_range(from, to);
        let at = lo.len() - 16;
        self.range(&lo, &hi, reverse, &mut |k, v| {
            let id = StreamId::from_bytes(k.get(at..)).ok_or_else(|| err("bad entry key"))?;
            out.push((id, decode_fields(v)?));
            Ok(count.is_none_or(|c| (out.len() as u64) < c))
        })?;
        Ok(out)
    }

    /// The entry `id` of `s`, if it is there.
    fn entry(&self, s: &Stream, id: StreamId) -> Result<Option<Fields>, Error> {
        if s.length == 0 || id < s.first_id || id > s.last_id {
            return Ok(None);
        }
        self.get(Cf::Sub, &s.entry_key(id))?
            .map(|v| decode_fields(&v))
            .transpose()
    }

    /// XREAD: for each `(key, after)`, the entries after `after`, at most
    /// `count` each; keys without any are left out.
    pub fn xread(
        &self,
        streams: &[(&[u8], Option<StreamId>)],
        count: Option<u64>,
    ) -> Result<Vec<KeyEntries>, Error> {
        let mut out = Vec::new();
        for &(key, after) in streams {
            let Some(s) = self.stream(key)? else { continue };
            // `$` (None): only what comes later, so nothing now.
            let Some(from) = after.and_then(StreamId::next) else {
                continue;
            };
            let found = self.entries(&s, from, StreamId::MAX, count, false)?;
            if !found.is_empty() {
                out.push((key.to_vec(), found));
            }
        }
        Ok(out)
    }

    /// XDEL: removes the entries `ids`; returns how many were there.
    pub fn xdel(&mut self, key: &[u8], ids: &[StreamId]) -> Result<u64, Error> {
        let Some(mut s) = self.stream(key)? else {
            return Ok(0);
        };
        self.writable()?;
        let mut removed = 0;
        for &id in ids {
            if self.entry(&s, id)?.is_none() {
                continue;
            }
            let k = s.entry_key(id);
            self.drop_subkey(&mut s, k);
            s.length -= 1;
            removed += 1;
            s.max_deleted = s.max_deleted.max(id);
            if id == s.first_id {
                self.refresh_first(&mut s)?;
            }
        }
        if removed > 0 {
            self.save_stream(key, &mut s);
        }
        Ok(removed)
    }

    /// The first entry's id after the old first went.
    fn refresh_first(&self, s: &mut Stream) -> Result<(), Error> {
        s.first_id = match s.length {
            0 => StreamId::ZERO,
            _ => self
                .entries(s, s.first_id, StreamId::MAX, Some(1), false)?
                .first()
                .map_or(StreamId::ZERO, |(id, _)| *id),
        };
        Ok(())
    }

    /// XTRIM: returns how many entries went.
    pub fn xtrim(&mut self, key: &[u8], trim: Trim) -> Result<u64, Error> {
        let Some(mut s) = self.stream(key)? else {
            return Ok(0);
        };
        self.writable()?;
        let removed = self.trim_entries(&mut s, trim)?;
        if removed > 0 {
            self.save_stream(key, &mut s);
        }
        Ok(removed)
    }

    /// Removes entries from the front as `t` says; returns how many.
    fn trim_entries(&mut self, s: &mut Stream, t: Trim) -> Result<u64, Error> {
        let mut want = match t.strategy {
            TrimTo::MaxLen(n) => s.length.saturating_sub(n),
            TrimTo::MinId(min) => {
                let below = min.prev().unwrap_or(StreamId::ZERO);
                if min == StreamId::ZERO {
                    0
                } else {
                    self.count_entries(s, below, t)?
                }
            }
        };
        if t.approx {
            // Whole runs only; the newest run is the remainder, so a trim
            // that takes every entry takes it too (as Redis removes its
            // last node).
            let all = want == s.length;
            if t.limit > 0 {
                want = want.min(t.limit);
            }
            if !(all && want == s.length) {
                want -= want % NODE_ENTRIES;
            }
        }
        if want == 0 {
            return Ok(0);
        }
        let gone = self.entries(s, s.first_id, StreamId::MAX, Some(want), false)?;
        for (id, _) in &gone {
            let k = s.entry_key(*id);
            self.drop_subkey(s, k);
        }
        s.length -= gone.len() as u64;
        s.first_id = s
            .first_id
            .max(gone.last().map_or(StreamId::ZERO, |(id, _)| *id));
        self.refresh_first(s)?;
        Ok(gone.len() as u64)
    }

    /// How many entries have ids up to `upto` (MINID's count), reading no
    /// more than an approximate trim could remove.
    fn count_entries(&self, s: &Stream, upto: StreamId, t: Trim) -> Result<u64, Error> {
        let cap = if t.approx && t.limit > 0 {
            t.limit
        } else {
            u64::MAX
        };
        let (lo, hi) = s.entry_range(s.first_id, upto);
        let mut n = 0u64;
        self.range(&lo, &hi, false, &mut |_, _| {
            n += 1;
            Ok(n < cap)
        })?;
        Ok(n)
    }

    /// XSETID: the stream's last id, and optionally its entries-added
    /// count and max deleted id, with Redis's checks.
    pub fn xsetid(
        &mut self,
        key: &[u8],
        last: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> Result<(), Error> {
        let Some(mut s) = self.stream(key)? else {
            return Err(err("no such key"));
        };
        self.writable()?;
        if let Some(md) = max_deleted {
            if last < md {
                return Err(err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        }
        if let Some(n) = entries_added {
            if s.length > n {
                return Err(err("The entries_added specified in XSETID is smaller than the target stream length"));
            }
        }
        if s.length > 0 {
            let top = self.entries(&s, StreamId::ZERO, StreamId::MAX, Some(1), true)?;
            if top.first().is_some_and(|(id, _)| last < *id) {
                return Err(err(
                    "The ID specified in XSETID is smaller than the target stream top item",
                ));
            }
        }
        s.last_id = last;
        if let Some(n) = entries_added {
            s.entries_added = n;
        }
        if let Some(md) = max_deleted {
            s.max_deleted = md;
        }
        self.save_stream(key, &mut s);
        Ok(())
    }

    /// XINFO STREAM's figures and its first and last entries.
    pub fn xinfo_stream(
        &self,
        key: &[u8],
    ) -> Result<(Stream, Option<Entry>, Option<Entry>), Error> {
        let s = self.stream(key)?.ok_or_else(|| err("no such key"))?;
        let first = self
            .entries(&s, StreamId::ZERO, StreamId::MAX, Some(1), false)?
            .pop();
        let last = self
            .entries(&s, StreamId::ZERO, StreamId::MAX, Some(1), true)?
            .pop();
        Ok((s, first, last))
    }

    /// Every subkey of the stream `key` with tag `tag` whose rest starts
    /// with `within`, in order.
    fn walk(
        &self,
        s: &Stream,
        tag: u8,
        within: &[u8],
        from: &[u8],
        f: &mut Visit<'_>,
    ) -> Result<(), Error> {
        let mut base = s.tagged(tag);
        base.extend_from_slice(within);
        let hi = subkey::end_of(&base);
        let skip = base.len();
        let lo = [base.as_slice(), from].concat();
        self.range(&lo, &hi, false, &mut |k, v| f(&k[skip..], v))
    }
}

fn too_small() -> Error {
    err("The ID specified in XADD is equal or smaller than the target stream top item")
}
