//! Pub/sub on one core: which of this core's connections subscribe to
//! which channels and patterns, and their mailboxes.
//!
//! PUBLISH runs on every core (the binary PUBLISH request is sent
//! everywhere, like INFO); each core delivers to its own subscribers and
//! answers how many it reached. Messages from one publisher travel over
//! the same mesh channel to a core, so they arrive in publish order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use ahash::AHashMap;

use crate::proto::value::glob_match;
use crate::sync::Notify;

/// A message waiting for one subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The pattern that matched (`pmessage`), or `None` (`message`).
    pub pattern: Option<Vec<u8>>,
    pub channel: Vec<u8>,
    pub payload: Vec<u8>,
}

/// One subscribed connection's queue, under `client-output-buffer-limit
/// pubsub`: the messages waiting plus the replies being written count.
pub struct Mailbox {
    queue: RefCell<VecDeque<Delivery>>,
    bytes: Cell<usize>,
    /// Bytes of replies being written to the client.
    in_flight: Cell<usize>,
    limit: crate::outbuf::OutputLimit,
    /// When the soft limit was first passed.
    soft_since: Cell<Option<Instant>>,
    /// Set when the limit was passed: nothing more is kept, and the
    /// connection closes (`overflow` wakes it even in the middle of a write).
    pub overflowed: Cell<bool>,
    pub overflow: Notify,
    pub ready: Notify,
}

impl Mailbox {
    pub fn new(limit: crate::outbuf::OutputLimit) -> Mailbox {
        Mailbox {
            queue: RefCell::default(),
            bytes: Cell::new(0),
            in_flight: Cell::new(0),
            limit,
            soft_since: Cell::new(None),
            overflowed: Cell::new(false),
            overflow: Notify::default(),
            ready: Notify::default(),
        }
    }

    fn push(&self, d: Delivery) {
        if self.overflowed.get() {
            return;
        }
        let size = d.channel.len() + d.payload.len() + d.pattern.as_ref().map_or(0, |p| p.len());
        let held = self.bytes.get() + size + self.in_flight.get();
        if self.limit.exceeded(held, &self.soft_since, Instant::now()) {
            self.overflowed.set(true);
            self.queue.borrow_mut().clear();
            self.bytes.set(0);
            self.overflow.notify();
        } else {
            self.bytes.set(self.bytes.get() + size);
            self.queue.borrow_mut().push_back(d);
        }
        self.ready.notify();
    }

    /// Takes every waiting message.
    pub fn take(&self) -> Vec<Delivery> {
        self.bytes.set(0);
        self.queue.borrow_mut().drain(..).collect()
    }

    /// Counts `bytes` of replies being written (0 once written).
    pub fn writing(&self, bytes: usize) {
        self.in_flight.set(bytes);
    }
}

/// This core's subscriptions.
#[derive(Default)]
pub struct PubSub {
    channels: AHashMap<Vec<u8>, Vec<(u64, Rc<Mailbox>)>>,
    patterns: Vec<(Vec<u8>, u64, Rc<Mailbox>)>,
}

impl PubSub {
    pub fn subscribe(&mut self, client: u64, mailbox: &Rc<Mailbox>, channel: &[u8]) {
        let subs = self.channels.entry(channel.to_vec()).or_default();
        if !subs.iter().any(|(c, _)| *c == client) {
            subs.push((client, mailbox.clone()));
        }
    }

    pub fn unsubscribe(&mut self, client: u64, channel: &[u8]) {
        if let Some(subs) = self.channels.get_mut(channel) {
            subs.retain(|(c, _)| *c != client);
            if subs.is_empty() {
                self.channels.remove(channel);
            }
        }
    }

    pub fn psubscribe(&mut self, client: u64, mailbox: &Rc<Mailbox>, pattern: &[u8]) {
        if !self
            .patterns
            .iter()
            .any(|(p, c, _)| *c == client && p == pattern)
        {
            self.patterns
                .push((pattern.to_vec(), client, mailbox.clone()));
        }
    }

    pub fn punsubscribe(&mut self, client: u64, pattern: &[u8]) {
        self.patterns
            .retain(|(p, c, _)| !(*c == client && p == pattern));
    }

    /// Removes every subscription of a closing connection.
    pub fn forget(&mut self, client: u64) {
        self.channels.retain(|_, subs| {
            subs.retain(|(c, _)| *c != client);
            !subs.is_empty()
        });
        self.patterns.retain(|(_, c, _)| *c != client);
    }

    /// Delivers to this core's subscribers; returns how many received it
    /// (a connection matching by channel and by two patterns counts three
    /// times, as in Redis).
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> u64 {
        let mut n = 0;
        if let Some(subs) = self.channels.get(channel) {
            for (_, m) in subs {
                m.push(Delivery {
                    pattern: None,
                    channel: channel.to_vec(),
                    payload: payload.to_vec(),
                });
                n += 1;
            }
        }
        for (p, _, m) in &self.patterns {
            if glob_match(p, channel) {
                m.push(Delivery {
                    pattern: Some(p.clone()),
                    channel: channel.to_vec(),
                    payload: payload.to_vec(),
                });
                n += 1;
            }
        }
        n
    }

    /// Channels with at least one subscriber, matching `pattern` if given.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c)))
            .cloned()
            .collect()
    }

    pub fn numsub(&self, channel: &[u8]) -> u64 {
        self.channels.get(channel).map_or(0, |s| s.len() as u64)
    }

    pub fn numpat(&self) -> u64 {
        self.patterns.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_patterns_and_forgetting() {
        let mut ps = PubSub::default();
        let a = Rc::new(Mailbox::new(Default::default()));
        let b = Rc::new(Mailbox::new(Default::default()));
        ps.subscribe(1, &a, b"news");
        ps.subscribe(1, &a, b"news");
        ps.psubscribe(2, &b, b"n*");
        assert_eq!(ps.publish(b"news", b"hi"), 2);
        assert_eq!(ps.publish(b"other", b"x"), 0);
        assert_eq!(a.take().len(), 1);
        let got = b.take();
        assert_eq!(got[0].pattern.as_deref(), Some(&b"n*"[..]));
        assert_eq!(ps.channels(Some(b"ne*")), vec![b"news".to_vec()]);
        assert_eq!((ps.numsub(b"news"), ps.numpat()), (1, 1));
        ps.forget(1);
        ps.forget(2);
        assert_eq!(ps.publish(b"news", b"hi"), 0);
        assert!(ps.channels(None).is_empty());
    }
}
