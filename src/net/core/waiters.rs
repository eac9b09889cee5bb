//! Who on this core waits for something, as a service: connections
//! subscribed to channels and patterns (pub/sub: `net::pubsub`), and pops
//! blocked on keys (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH: `blocking.rs`). A
//! publish delivers to the first, a write to a key wakes the second.
//! Everything runs on the core's thread; no field is public.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use ahash::AHashMap;

use crate::net::pubsub::{Mailbox, PubSub};
use crate::sync::Notify;

#[derive(Default)]
pub struct Waiters {
    pubsub: RefCell<PubSub>,
    /// key → the pops blocked on it.
    blocked: RefCell<AHashMap<Vec<u8>, Vec<Rc<Notify>>>>,
    /// The pops blocked now, whatever their number of keys.
    pops: Cell<usize>,
}

impl Waiters {
    pub fn subscribe(&self, client: u64, mailbox: &Rc<Mailbox>, channel: &[u8]) {
        self.pubsub.borrow_mut().subscribe(client, mailbox, channel);
    }

    pub fn psubscribe(&self, client: u64, mailbox: &Rc<Mailbox>, pattern: &[u8]) {
        self.pubsub
            .borrow_mut()
            .psubscribe(client, mailbox, pattern);
    }

    pub fn unsubscribe(&self, client: u64, channel: &[u8]) {
        self.pubsub.borrow_mut().unsubscribe(client, channel);
    }

    pub fn punsubscribe(&self, client: u64, pattern: &[u8]) {
        self.pubsub.borrow_mut().punsubscribe(client, pattern);
    }

    /// Removes every subscription of a closing connection.
    pub fn forget(&self, client: u64) {
        self.pubsub.borrow_mut().forget(client);
    }

    /// Delivers to this core's subscribers; how many received it.
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> u64 {
        self.pubsub.borrow().publish(channel, payload)
    }

    /// Channels with at least one subscriber, matching `pattern` if given.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.pubsub.borrow().channels(pattern)
    }

    pub fn numsub(&self, channel: &[u8]) -> u64 {
        self.pubsub.borrow().numsub(channel)
    }

    pub fn numpat(&self) -> u64 {
        self.pubsub.borrow().numpat()
    }

    /// Registers `me` on `keys` until the returned guard drops: a
    /// blocked client here.
    pub fn block_on<'a>(&'a self, keys: &[&[u8]], me: &Rc<Notify>) -> BlockedOn<'a> {
        self.pops.set(self.pops.get() + 1);
        self.register(keys, me, true)
    }

    /// Registers `me` on `keys` for a client blocked on another core (its
    /// pop waits on keys of both).
    pub fn watch<'a>(&'a self, keys: &[&[u8]], me: &Rc<Notify>) -> BlockedOn<'a> {
        self.register(keys, me, false)
    }

    fn register<'a>(&'a self, keys: &[&[u8]], me: &Rc<Notify>, counted: bool) -> BlockedOn<'a> {
        let mut b = self.blocked.borrow_mut();
        for k in keys {
            b.entry(k.to_vec()).or_default().push(me.clone());
        }
        BlockedOn {
            waiters: self,
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            me: me.clone(),
            counted,
        }
    }

    /// Wakes the pops blocked on any of `keys` (they retry; the first to
    /// run takes the element).
    pub fn wake(&self, keys: &[&[u8]]) {
        let blocked = self.blocked.borrow();
        if blocked.is_empty() {
            return;
        }
        for k in keys {
            for w in blocked.get(*k).into_iter().flatten() {
                w.notify();
            }
        }
    }

    /// Wakes every blocked pop (they check their slot's owner and retry).
    pub fn wake_all(&self) {
        for w in self.blocked.borrow().values().flatten() {
            w.notify();
        }
    }

    /// Pops blocked now (INFO's `blocked_clients`: a pop on several keys
    /// counts once, as in Redis).
    pub fn blocked_clients(&self) -> usize {
        self.pops.get()
    }
}

/// A blocked pop's registration on its keys, removed when it ends.
pub struct BlockedOn<'a> {
    waiters: &'a Waiters,
    keys: Vec<Vec<u8>>,
    me: Rc<Notify>,
    /// Counted in `blocked_clients`.
    counted: bool,
}

impl Drop for BlockedOn<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.waiters.pops.set(self.waiters.pops.get() - 1);
        }
        let mut b = self.waiters.blocked.borrow_mut();
        for k in &self.keys {
            if let Some(ws) = b.get_mut(k) {
                ws.retain(|w| !Rc::ptr_eq(w, &self.me));
                if ws.is_empty() {
                    b.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_lasts_as_long_as_its_guard() {
        let w = Waiters::default();
        let me = Rc::new(Notify::default());
        let guard = w.block_on(&[b"a", b"b"], &me);
        assert_eq!(w.blocked_clients(), 1, "one pop on two keys");
        w.wake(&[b"b"]);
        drop(guard);
        assert_eq!(w.blocked_clients(), 0);
        assert!(w.blocked.borrow().is_empty());
        let mb = Rc::new(Mailbox::new(Default::default()));
        w.subscribe(7, &mb, b"c");
        assert_eq!(w.publish(b"c", b"hi"), 1);
        w.forget(7);
        assert_eq!(w.publish(b"c", b"hi"), 0);
    }
}
