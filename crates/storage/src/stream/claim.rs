//! XCLAIM and XAUTOCLAIM: pending entries change hands.

use super::group::{Group, Nack};
use super::{err, Entry, Stream, StreamId, PEL};
use crate::tx::Tx;
use crate::Error;

/// XCLAIM's options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaimOpts {
    pub min_idle_ms: u64,
    /// The claimed entries' new delivery time (IDLE, TIME; now by default).
    pub delivered_ms: Option<u64>,
    pub retry_count: Option<u64>,
    pub force: bool,
    pub just_id: bool,
    pub last_id: Option<StreamId>,
}

/// A claimed entry: its id (JUSTID), or the entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    Id(StreamId),
    Entry(Entry),
}

impl Tx<'_> {
    /// One claim (XCLAIM's and XAUTOCLAIM's): `id`'s pending entry goes to
    /// `consumer`, delivered at `at`.
    #[allow(clippy::too_many_arguments)]
    fn claim_one(
        &mut self,
        s: &mut Stream,
        g: &mut Group,
        consumer: &[u8],
        id: StreamId,
        old: Option<&Nack>,
        at: u64,
        deliveries: u64,
        just_id: bool,
    ) -> Result<Claim, Error> {
        let now = self.now_ms;
        self.touch_consumer(s, g, consumer, Some(now))?;
        let n = Nack {
            delivered_ms: at,
            deliveries,
            consumer: consumer.to_vec(),
        };
        self.assign(s, g, id, old, &n)?;
        Ok(match just_id {
            true => Claim::Id(id),
            false => Claim::Entry((id, self.entry(s, id)?.unwrap_or_default())),
        })
    }

    /// XCLAIM.
    pub fn xclaim(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        o: ClaimOpts,
    ) -> Result<Vec<Claim>, Error> {
        self.writable()?;
        let (mut s, mut g) = self.stream_group(key, group, "")?;
        let now = self.now_ms;
        if let Some(last) = o.last_id {
            g.last_id = g.last_id.max(last);
        }
        let mut out = Vec::new();
        for &id in ids {
            let old = self.nack(&s, &g, id)?;
            if self.entry(&s, id)?.is_none() {
                if let Some(n) = old {
                    self.unassign(&mut s, &mut g, id, &n.consumer)?;
                }
                continue;
            }
            let deliveries = match &old {
                None if !o.force => continue,
                Some(n) if now.saturating_sub(n.delivered_ms) < o.min_idle_ms => continue,
                Some(n) => n.deliveries,
                // FORCE: a new pending entry, delivered once (Redis's count).
                None => 1,
            };
            let deliveries = match o.retry_count {
                Some(r) => r,
                None if o.just_id => deliveries,
                None => deliveries + 1,
            };
            let at = o.delivered_ms.unwrap_or(now);
            out.push(self.claim_one(
                &mut s,
                &mut g,
                consumer,
                id,
                old.as_ref(),
                at,
                deliveries,
                o.just_id,
            )?);
        }
        self.write_group(&s, &mut g);
        self.save_stream(key, &mut s);
        Ok(out)
    }

    /// XAUTOCLAIM: the next start (0-0 when the list was walked to its
    /// end), the claimed entries, and the pending ids whose entries were
    /// deleted (now dropped from the list). Looks at `count` × 10 pending
    /// entries at most, as Redis does.
    #[allow(clippy::too_many_arguments)]
    pub fn xautoclaim(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        min_idle_ms: u64,
        start: StreamId,
        count: u64,
        just_id: bool,
    ) -> Result<(StreamId, Vec<Claim>, Vec<StreamId>), Error> {
        self.writable()?;
        let (mut s, mut g) = self.stream_group(key, group, "")?;
        let now = self.now_ms;
        let attempts = count.saturating_mul(10);
        // The entries looked at, and the one after them (the next cursor).
        let mut seen = Vec::new();
        self.walk(&s, PEL, &g.within, &start.bytes(), &mut |rest, v| {
            let id = StreamId::from_bytes(Some(rest)).ok_or_else(|| err("bad pending key"))?;
            seen.push((id, Nack::decode(v)?));
            Ok((seen.len() as u64) <= attempts)
        })?;
        let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
        let mut left = count;
        let mut looked = 0;
        for (id, n) in seen.iter().take(attempts as usize) {
            if left == 0 {
                break;
            }
            looked += 1;
            if self.entry(&s, *id)?.is_none() {
                self.unassign(&mut s, &mut g, *id, &n.consumer)?;
                deleted.push(*id);
                continue;
            }
            if now.saturating_sub(n.delivered_ms) < min_idle_ms {
                continue;
            }
            let deliveries = n.deliveries + u64::from(!just_id);
            claimed.push(self.claim_one(
                &mut s,
                &mut g,
                consumer,
                *id,
                Some(n),
                now,
                deliveries,
                just_id,
            )?);
            left -= 1;
        }
        let next = seen.get(looked).map_or(StreamId::ZERO, |(id, _)| *id);
        if !claimed.is_empty() || !deleted.is_empty() {
            self.write_group(&s, &mut g);
            self.save_stream(key, &mut s);
        }
        Ok((next, claimed, deleted))
    }
}
