//! Consumer groups: their records, pending-entries lists and consumers
//! (the layout: `stream/mod.rs`), and the commands over them.

use super::{err, Fields, Reader, Stream, StreamId, CONSUMER, CONSUMER_PEL, GROUP, PEL};
use crate::partition::Cf;
use crate::tx::{Tx, DEAD_BEFORE_COMPACTION};
use crate::Error;

/// Redis's marker of an unknown entries-read counter.
const UNKNOWN: i64 = -1;

/// A group's record.
#[derive(Debug, Clone)]
pub(super) struct Group {
    /// `len u32 | name`: what its subkeys start with after their tag.
    pub(super) within: Vec<u8>,
    pub(super) last_id: StreamId,
    entries_read: i64,
    pending: u64,
    consumers: u64,
    /// Pending-list subkeys deleted since the group's lists were last
    /// compacted (`write_group`).
    dead: u64,
}

impl Group {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(40);
        b.extend_from_slice(&self.last_id.bytes());
        b.extend_from_slice(&self.entries_read.to_be_bytes());
        b.extend_from_slice(&self.pending.to_be_bytes());
        b.extend_from_slice(&self.consumers.to_be_bytes());
        b.extend_from_slice(&self.dead.to_be_bytes());
        b
    }

    fn decode(within: Vec<u8>, v: &[u8]) -> Result<Group, Error> {
        let mut r = Reader(v);
        Ok(Group {
            within,
            last_id: r.id()?,
            entries_read: r.u64()? as i64,
            pending: r.u64()?,
            consumers: r.u64()?,
            dead: r.u64()?,
        })
    }

    fn name(&self) -> &[u8] {
        &self.within[4..]
    }
}

/// `len u32 | bytes`.
fn sized(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + b.len() + 16);
    v.extend_from_slice(&(b.len() as u32).to_be_bytes());
    v.extend_from_slice(b);
    v
}

/// A pending entry's record.
pub(super) struct Nack {
    pub(super) delivered_ms: u64,
    pub(super) deliveries: u64,
    pub(super) consumer: Vec<u8>,
}

impl Nack {
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.consumer.len());
        b.extend_from_slice(&self.delivered_ms.to_be_bytes());
        b.extend_from_slice(&self.deliveries.to_be_bytes());
        b.extend_from_slice(&self.consumer);
        b
    }

    pub(super) fn decode(v: &[u8]) -> Result<Nack, Error> {
        let mut r = Reader(v);
        Ok(Nack {
            delivered_ms: r.u64()?,
            deliveries: r.u64()?,
            consumer: r.0.to_vec(),
        })
    }
}

/// How XREADGROUP reads: new entries (`>`) or the consumer's own pending
/// entries after an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadGroup {
    New,
    After(StreamId),
}

/// XPENDING's summary form.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSummary {
    pub count: u64,
    pub first: Option<StreamId>,
    pub last: Option<StreamId>,
    /// Consumers with pending entries, and how many, by name.
    pub consumers: Vec<(Vec<u8>, u64)>,
}

/// One pending entry (XPENDING's extended form).
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: StreamId,
    pub consumer: Vec<u8>,
    pub idle_ms: u64,
    pub deliveries: u64,
}

/// XINFO GROUPS' figures of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInfo {
    pub name: Vec<u8>,
    pub consumers: u64,
    pub pending: u64,
    pub last_id: StreamId,
    pub entries_read: Option<u64>,
    pub lag: Option<u64>,
}

/// XINFO CONSUMERS' figures of one consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerInfo {
    pub name: Vec<u8>,
    pub pending: u64,
    pub idle_ms: u64,
}

/// Redis's NOGROUP reply of the commands that read a group.
fn no_group(key: &[u8], group: &[u8], suffix: &str) -> Error {
    Error::NoGroup(format!(
        "No such key '{}' or consumer group '{}'{suffix}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// XGROUP's NOGROUP reply.
fn no_such_group(key: &[u8], group: &[u8]) -> Error {
    Error::NoGroup(format!(
        "No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// Whether a deleted entry may lie at or after `from` (Redis's
/// `streamRangeHasTombstones` with an open end).
fn tombstones_after(s: &Stream, from: StreamId) -> bool {
    s.length > 0
        && s.max_deleted != StreamId::ZERO
        && s.first_id <= s.max_deleted
        && from <= s.max_deleted
}

/// How many entries were ever added up to `id`, when that can be known
/// (Redis's `streamEstimateDistanceFromFirstEverEntry`).
fn entries_up_to(s: &Stream, id: StreamId) -> Option<u64> {
    if s.entries_added == 0 {
        return Some(0);
    }
    if s.length == 0 && id <= s.last_id {
        return Some(s.entries_added);
    }
    match id.cmp(&s.last_id) {
        std::cmp::Ordering::Equal => return Some(s.entries_added),
        std::cmp::Ordering::Greater => return None,
        std::cmp::Ordering::Less => {}
    }
    if s.max_deleted == StreamId::ZERO || s.max_deleted < s.first_id {
        if id < s.first_id {
            return Some(s.entries_added - s.length);
        }
        if id == s.first_id {
            return Some(s.entries_added - s.length + 1);
        }
    }
    None
}

impl Tx<'_> {
    fn group_key(s: &Stream, within: &[u8]) -> Vec<u8> {
        [s.tagged(GROUP).as_slice(), &within[4..]].concat()
    }

    fn read_group(&self, s: &Stream, name: &[u8]) -> Result<Option<Group>, Error> {
        let within = sized(name);
        self.get(Cf::Sub, &Self::group_key(s, &within))?
            .map(|v| Group::decode(within, &v))
            .transpose()
    }

    /// Writes the group's record, asking for a compaction of its pending
    /// lists once their deleted subkeys outnumber the pending entries, so
    /// a walk from the front of a list (XPENDING, XAUTOCLAIM, a consumer's
    /// history) steps over at most about as many acknowledged entries as
    /// there are pending ones (plus `DEAD_BEFORE_COMPACTION`).
    pub(super) fn write_group(&mut self, s: &Stream, g: &mut Group) {
        if g.dead >= g.pending.max(DEAD_BEFORE_COMPACTION) {
            for tag in [PEL, CONSUMER_PEL] {
                self.compact_subkeys(&[s.tagged(tag).as_slice(), &g.within].concat());
            }
            g.dead = 0;
        }
        self.put(Cf::Sub, Self::group_key(s, &g.within), g.encode());
    }

    fn pel_key(s: &Stream, g: &Group, id: StreamId) -> Vec<u8> {
        [s.tagged(PEL).as_slice(), &g.within, &id.bytes()].concat()
    }

    fn consumer_key(s: &Stream, g: &Group, name: &[u8]) -> Vec<u8> {
        [s.tagged(CONSUMER).as_slice(), &g.within, name].concat()
    }

    fn consumer_pel_key(s: &Stream, g: &Group, name: &[u8], id: StreamId) -> Vec<u8> {
        [
            s.tagged(CONSUMER_PEL).as_slice(),
            &g.within,
            &sized(name),
            &id.bytes(),
        ]
        .concat()
    }

    /// A consumer's `(seen time, pending)`, if it exists.
    fn consumer(&self, s: &Stream, g: &Group, name: &[u8]) -> Result<Option<(u64, u64)>, Error> {
        self.get(Cf::Sub, &Self::consumer_key(s, g, name))?
            .map(|v| {
                let mut r = Reader(&v);
                Ok((r.u64()?, r.u64()?))
            })
            .transpose()
    }

    fn write_consumer(&mut self, s: &Stream, g: &Group, name: &[u8], seen: u64, pending: u64) {
        let mut v = seen.to_be_bytes().to_vec();
        v.extend_from_slice(&pending.to_be_bytes());
        self.put(Cf::Sub, Self::consumer_key(s, g, name), v);
    }

    /// The consumer `name`, created if missing (the group counts it), its
    /// seen time refreshed when `seen`; returns its pending count.
    pub(super) fn touch_consumer(
        &mut self,
        s: &Stream,
        g: &mut Group,
        name: &[u8],
        seen: Option<u64>,
    ) -> Result<u64, Error> {
        let (was_seen, pending) = match self.consumer(s, g, name)? {
            Some(c) => c,
            None => {
                g.consumers += 1;
                (self.now_ms, 0)
            }
        };
        self.write_consumer(s, g, name, seen.unwrap_or(was_seen), pending);
        Ok(pending)
    }

    /// Adds `delta` to a consumer's pending count.
    fn count_pending(
        &mut self,
        s: &Stream,
        g: &Group,
        name: &[u8],
        delta: i64,
    ) -> Result<(), Error> {
        if let Some((seen, pending)) = self.consumer(s, g, name)? {
            self.write_consumer(s, g, name, seen, pending.saturating_add_signed(delta));
        }
        Ok(())
    }

    pub(super) fn nack(&self, s: &Stream, g: &Group, id: StreamId) -> Result<Option<Nack>, Error> {
        self.get(Cf::Sub, &Self::pel_key(s, g, id))?
            .map(|v| Nack::decode(&v))
            .transpose()
    }

    /// Gives pending entry `id` to `consumer` with `n`'s times and counts
    /// (`old`: its previous record, if any), keeping every count right.
    pub(super) fn assign(
        &mut self,
        s: &mut Stream,
        g: &mut Group,
        id: StreamId,
        old: Option<&Nack>,
        n: &Nack,
    ) -> Result<(), Error> {
        match old {
            Some(o) if o.consumer == n.consumer => {}
            Some(o) => {
                let k = Self::consumer_pel_key(s, g, &o.consumer, id);
                self.drop_subkey(s, k);
                g.dead += 1;
                self.count_pending(s, g, &o.consumer, -1)?;
                self.put(
                    Cf::Sub,
                    Self::consumer_pel_key(s, g, &n.consumer, id),
                    Vec::new(),
                );
                self.count_pending(s, g, &n.consumer, 1)?;
            }
            None => {
                g.pending += 1;
                self.put(
                    Cf::Sub,
                    Self::consumer_pel_key(s, g, &n.consumer, id),
                    Vec::new(),
                );
                self.count_pending(s, g, &n.consumer, 1)?;
            }
        }
        self.put(Cf::Sub, Self::pel_key(s, g, id), n.encode());
        Ok(())
    }

    /// Removes pending entry `id` (owned by `consumer`).
    pub(super) fn unassign(
        &mut self,
        s: &mut Stream,
        g: &mut Group,
        id: StreamId,
        consumer: &[u8],
    ) -> Result<(), Error> {
        let k = Self::pel_key(s, g, id);
        self.drop_subkey(s, k);
        let k = Self::consumer_pel_key(s, g, consumer, id);
        self.drop_subkey(s, k);
        self.count_pending(s, g, consumer, -1)?;
        g.pending -= 1;
        g.dead += 2;
        Ok(())
    }

    /// The stream and group a group command works on, or NOGROUP.
    pub(super) fn stream_group(
        &self,
        key: &[u8],
        group: &[u8],
        suffix: &str,
    ) -> Result<(Stream, Group), Error> {
        let s = self
            .stream(key)?
            .ok_or_else(|| no_group(key, group, suffix))?;
        let g = self
            .read_group(&s, group)?
            .ok_or_else(|| no_group(key, group, suffix))?;
        Ok((s, g))
    }

    /// XGROUP's stream: it must exist (unless `mkstream`).
    fn xgroup_stream(&self, key: &[u8], mkstream: bool) -> Result<Stream, Error> {
        match self.stream(key)? {
            Some(s) => Ok(s),
            None if mkstream => Ok(self.new_stream(key)),
            None => Err(err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")),
        }
    }

    /// XGROUP CREATE: `id` `None` is `$`. BUSYGROUP when it exists.
    pub fn xgroup_create(
        &mut self,
        key: &[u8],
        group: &[u8],
        id: Option<StreamId>,
        mkstream: bool,
        entries_read: Option<i64>,
    ) -> Result<(), Error> {
        self.writable()?;
        let mut s = self.xgroup_stream(key, mkstream)?;
        if self.read_group(&s, group)?.is_some() {
            return Err(Error::BusyGroup);
        }
        let mut g = Group {
            within: sized(group),
            last_id: id.unwrap_or(s.last_id),
            entries_read: entries_read.unwrap_or(UNKNOWN),
            pending: 0,
            consumers: 0,
            dead: 0,
        };
        self.write_group(&s, &mut g);
        s.groups += 1;
        self.save_stream(key, &mut s);
        Ok(())
    }

    /// XGROUP SETID: `id` `None` is `$`.
    pub fn xgroup_setid(
        &mut self,
        key: &[u8],
        group: &[u8],
        id: Option<StreamId>,
        entries_read: Option<i64>,
    ) -> Result<(), Error> {
        self.writable()?;
        let mut s = self.xgroup_stream(key, false)?;
        let mut g = self
            .read_group(&s, group)?
            .ok_or_else(|| no_such_group(key, group))?;
        g.last_id = id.unwrap_or(s.last_id);
        g.entries_read = entries_read.unwrap_or(UNKNOWN);
        self.write_group(&s, &mut g);
        self.save_stream(key, &mut s);
        Ok(())
    }

    /// XGROUP DESTROY: whether the group was there. O(its pending entries
    /// and consumers).
    pub fn xgroup_destroy(&mut self, key: &[u8], group: &[u8]) -> Result<bool, Error> {
        self.writable()?;
        let mut s = self.xgroup_stream(key, false)?;
        let Some(g) = self.read_group(&s, group)? else {
            return Ok(false);
        };
        for tag in [PEL, CONSUMER, CONSUMER_PEL] {
            let mut doomed = Vec::new();
            self.walk(&s, tag, &g.within, &[], &mut |rest, _| {
                doomed.push([s.tagged(tag).as_slice(), &g.within, rest].concat());
                Ok(true)
            })?;
            for k in doomed {
                self.drop_subkey(&mut s, k);
            }
        }
        let k = Self::group_key(&s, &g.within);
        self.drop_subkey(&mut s, k);
        s.groups -= 1;
        self.save_stream(key, &mut s);
        Ok(true)
    }

    /// XGROUP CREATECONSUMER: whether it was created.
    pub fn xgroup_createconsumer(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
    ) -> Result<bool, Error> {
        self.writable()?;
        let mut s = self.xgroup_stream(key, false)?;
        let mut g = self
            .read_group(&s, group)?
            .ok_or_else(|| no_such_group(key, group))?;
        if self.consumer(&s, &g, consumer)?.is_some() {
            return Ok(false);
        }
        self.touch_consumer(&s, &mut g, consumer, None)?;
        self.write_group(&s, &mut g);
        self.save_stream(key, &mut s);
        Ok(true)
    }

    /// XGROUP DELCONSUMER: the consumer's pending entries, which go with it.
    pub fn xgroup_delconsumer(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
    ) -> Result<u64, Error> {
        self.writable()?;
        let mut s = self.xgroup_stream(key, false)?;
        let mut g = self
            .read_group(&s, group)?
            .ok_or_else(|| no_such_group(key, group))?;
        let Some((_, pending)) = self.consumer(&s, &g, consumer)? else {
            return Ok(0);
        };
        let mut ids = Vec::new();
        self.walk(
            &s,
            CONSUMER_PEL,
            &[g.within.as_slice(), &sized(consumer)].concat(),
            &[],
            &mut |rest, _| {
                ids.push(StreamId::from_bytes(Some(rest)).ok_or_else(|| err("bad pending key"))?);
                Ok(true)
            },
        )?;
        for id in ids {
            for k in [
                Self::pel_key(&s, &g, id),
                Self::consumer_pel_key(&s, &g, consumer, id),
            ] {
                self.drop_subkey(&mut s, k);
            }
            g.pending -= 1;
            g.dead += 2;
        }
        let k = Self::consumer_key(&s, &g, consumer);
        self.drop_subkey(&mut s, k);
        g.consumers -= 1;
        self.write_group(&s, &mut g);
        self.save_stream(key, &mut s);
        Ok(pending)
    }

    /// XREADGROUP on one stream: new entries (recorded as pending for
    /// `consumer` unless `noack`), or the consumer's pending entries after
    /// an id (`None` fields: the entry was deleted since).
    pub fn xreadgroup(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        read: ReadGroup,
        count: Option<u64>,
        noack: bool,
    ) -> Result<Vec<(StreamId, Option<Fields>)>, Error> {
        self.writable()?;
        let (mut s, mut g) = self.stream_group(key, group, " in XREADGROUP with GROUP option")?;
        let now = self.now_ms;
        let known = self.consumer(&s, &g, consumer)?.is_some();
        if !known {
            self.touch_consumer(&s, &mut g, consumer, Some(now))?;
        }
        let mut out = Vec::new();
        match read {
            ReadGroup::New => {
                let found = match g.last_id.next() {
                    Some(from) => self.entries(&s, from, StreamId::MAX, count, false)?,
                    None => Vec::new(),
                };
                for (id, fields) in found {
                    if g.entries_read != UNKNOWN && !tombstones_after(&s, id) {
                        g.entries_read += 1;
                    } else if s.entries_added > 0 {
                        g.entries_read = entries_up_to(&s, id).map_or(UNKNOWN, |n| n as i64);
                    }
                    g.last_id = id;
                    if !noack {
                        let old = self.nack(&s, &g, id)?;
                        let n = Nack {
                            delivered_ms: now,
                            deliveries: 1,
                            consumer: consumer.to_vec(),
                        };
                        self.assign(&mut s, &mut g, id, old.as_ref(), &n)?;
                    }
                    out.push((id, Some(fields)));
                }
            }
            // Nothing comes after the greatest id.
            ReadGroup::After(StreamId::MAX) => {}
            ReadGroup::After(after) => {
                let from = after.next().unwrap_or(StreamId::MAX);
                let within = [g.within.as_slice(), &sized(consumer)].concat();
                let mut ids = Vec::new();
                self.walk(&s, CONSUMER_PEL, &within, &from.bytes(), &mut |rest, _| {
                    ids.push(
                        StreamId::from_bytes(Some(rest)).ok_or_else(|| err("bad pending key"))?,
                    );
                    Ok(count.is_none_or(|c| (ids.len() as u64) < c))
                })?;
                for id in ids {
                    let fields = self.entry(&s, id)?;
                    if fields.is_some() {
                        if let Some(mut n) = self.nack(&s, &g, id)? {
                            n.delivered_ms = now;
                            n.deliveries += 1;
                            self.put(Cf::Sub, Self::pel_key(&s, &g, id), n.encode());
                        }
                    }
                    out.push((id, fields));
                }
            }
        }
        if known {
            // A read that found nothing writes nothing (its consumer's
            // seen time stays): a blocked reader's retry must not wake
            // itself with its own write.
            if out.is_empty() {
                return Ok(out);
            }
            self.touch_consumer(&s, &mut g, consumer, Some(now))?;
        }
        self.write_group(&s, &mut g);
        self.save_stream(key, &mut s);
        Ok(out)
    }

    /// XACK: how many of `ids` were pending in the group.
    pub fn xack(&mut self, key: &[u8], group: &[u8], ids: &[StreamId]) -> Result<u64, Error> {
        let Some(mut s) = self.stream(key)? else {
            return Ok(0);
        };
        let Some(mut g) = self.read_group(&s, group)? else {
            return Ok(0);
        };
        self.writable()?;
        let mut acked = 0;
        for &id in ids {
            if let Some(n) = self.nack(&s, &g, id)? {
                self.unassign(&mut s, &mut g, id, &n.consumer)?;
                acked += 1;
            }
        }
        if acked > 0 {
            self.write_group(&s, &mut g);
            self.save_stream(key, &mut s);
        }
        Ok(acked)
    }

    /// XPENDING's summary.
    pub fn xpending_summary(&self, key: &[u8], group: &[u8]) -> Result<PendingSummary, Error> {
        let (s, g) = self.stream_group(key, group, "")?;
        let mut sum = PendingSummary {
            count: g.pending,
            first: None,
            last: None,
            consumers: Vec::new(),
        };
        if g.pending == 0 {
            return Ok(sum);
        }
        let mut base = s.tagged(PEL);
        base.extend_from_slice(&g.within);
        let hi = crate::subkey::end_of(&base);
        for (reverse, at) in [(false, &mut sum.first), (true, &mut sum.last)] {
            self.range(&base, &hi, reverse, &mut |k, _| {
                *at = StreamId::from_bytes(k.get(base.len()..));
                Ok(false)
            })?;
        }
        self.walk(&s, CONSUMER, &g.within, &[], &mut |name, v| {
            let mut r = Reader(v);
            r.u64()?;
            let pending = r.u64()?;
            if pending > 0 {
                sum.consumers.push((name.to_vec(), pending));
            }
            Ok(true)
        })?;
        Ok(sum)
    }

    /// XPENDING's extended form: pending entries with ids in `[from, to]`
    /// idle at least `min_idle_ms`, at most `count`, of one consumer or all.
    #[allow(clippy::too_many_arguments)]
    pub fn xpending(
        &self,
        key: &[u8],
        group: &[u8],
        min_idle_ms: u64,
        from: StreamId,
        to: StreamId,
        count: u64,
        consumer: Option<&[u8]>,
    ) -> Result<Vec<Pending>, Error> {
        let (s, g) = self.stream_group(key, group, "")?;
        let mut out = Vec::new();
        if count == 0 || from > to {
            return Ok(out);
        }
        let now = self.now_ms;
        let mut ids = Vec::new();
        let within = match consumer {
            Some(c) => [g.within.as_slice(), &sized(c)].concat(),
            None => g.within.clone(),
        };
        let tag = if consumer.is_some() {
            CONSUMER_PEL
        } else {
            PEL
        };
        self.walk(&s, tag, &within, &from.bytes(), &mut |rest, _| {
            let id = StreamId::from_bytes(Some(rest)).ok_or_else(|| err("bad pending key"))?;
            if id > to {
                return Ok(false);
            }
            ids.push(id);
            Ok(true)
        })?;
        for id in ids {
            let Some(n) = self.nack(&s, &g, id)? else {
                continue;
            };
            let idle = now.saturating_sub(n.delivered_ms);
            if idle < min_idle_ms {
                continue;
            }
            out.push(Pending {
                id,
                consumer: n.consumer,
                idle_ms: idle,
                deliveries: n.deliveries,
            });
            if out.len() as u64 >= count {
                break;
            }
        }
        Ok(out)
    }

    /// XINFO GROUPS.
    pub fn xinfo_groups(&self, key: &[u8]) -> Result<Vec<GroupInfo>, Error> {
        let s = self.stream(key)?.ok_or_else(|| err("no such key"))?;
        let mut out = Vec::new();
        self.walk(&s, GROUP, &[], &[], &mut |name, v| {
            let g = Group::decode(sized(name), v)?;
            out.push(group_info(&s, &g));
            Ok(true)
        })?;
        Ok(out)
    }

    /// XINFO CONSUMERS.
    pub fn xinfo_consumers(&self, key: &[u8], group: &[u8]) -> Result<Vec<ConsumerInfo>, Error> {
        let s = self.stream(key)?.ok_or_else(|| err("no such key"))?;
        let g = self
            .read_group(&s, group)?
            .ok_or_else(|| no_such_group(key, group))?;
        let mut out = Vec::new();
        let now = self.now_ms;
        self.walk(&s, CONSUMER, &g.within, &[], &mut |name, v| {
            let mut r = Reader(v);
            let seen = r.u64()?;
            out.push(ConsumerInfo {
                name: name.to_vec(),
                pending: r.u64()?,
                idle_ms: now.saturating_sub(seen),
            });
            Ok(true)
        })?;
        Ok(out)
    }
}

/// A group's XINFO figures, with Redis's lag rules.
fn group_info(s: &Stream, g: &Group) -> GroupInfo {
    let lag = if s.entries_added == 0 {
        Some(0)
    } else if g.entries_read != UNKNOWN && !tombstones_after(s, g.last_id) {
        Some(s.entries_added.saturating_sub(g.entries_read as u64))
    } else {
        entries_up_to(s, g.last_id).map(|n| s.entries_added - n)
    };
    GroupInfo {
        name: g.name().to_vec(),
        consumers: g.consumers,
        pending: g.pending,
        last_id: g.last_id,
        entries_read: (g.entries_read != UNKNOWN).then_some(g.entries_read as u64),
        lag,
    }
}
