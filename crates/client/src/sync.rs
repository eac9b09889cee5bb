//! Small single-thread synchronisation helpers (no atomics, no locks),
//! runtime-agnostic so the server and the client share them.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Values remembered under numbered tokens, the oldest forgotten first once
/// `cap` are held (scan cursors: a forgotten token only restarts a scan).
pub struct Recent<V> {
    next: u64,
    cap: usize,
    map: ahash::AHashMap<u64, V>,
    order: std::collections::VecDeque<u64>,
}

impl<V> Recent<V> {
    pub fn new(cap: usize) -> Self {
        Recent {
            next: 0,
            cap: cap.max(1),
            map: ahash::AHashMap::new(),
            order: std::collections::VecDeque::new(),
        }
    }

    /// The next sequence number (tokens are built from it by the caller).
    pub fn next_seq(&mut self) -> u64 {
        self.next = self.next.wrapping_add(1);
        self.next
    }

    /// Remembers `v` under `token`, forgetting the oldest entry when full.
    pub fn insert(&mut self, token: u64, v: V) {
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.map.insert(token, v);
        self.order.push_back(token);
    }

    pub fn get(&self, token: &u64) -> Option<&V> {
        self.map.get(token)
    }
}

/// A flag one task waits on and any task on the same core sets.
///
/// Waiters sit in a slab: registering, re-polling and dropping a wait are
/// O(1), so thousands of connections can each select on the same flag
/// (shutdown) on every read without scanning one another.
#[derive(Default)]
pub struct Notify {
    set: Cell<bool>,
    slots: RefCell<Slab>,
}

#[derive(Default)]
struct Slab {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// Bumped when every waiter is woken, so older slot numbers go stale.
    epoch: u64,
}

impl Notify {
    /// Sets the flag and wakes every waiter.
    pub fn notify(&self) {
        self.set.set(true);
        let woken: Vec<Waker> = {
            let mut slab = self.slots.borrow_mut();
            slab.epoch += 1;
            slab.free.clear();
            slab.wakers.drain(..).flatten().collect()
        };
        for w in woken {
            w.wake();
        }
    }

    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Waits until the flag is set, then clears it (when `consume`).
    pub fn wait(&self, consume: bool) -> NotifyWait<'_> {
        NotifyWait {
            notify: self,
            consume,
            slot: None,
        }
    }

    /// Waiters currently registered (for tests).
    pub fn waiters(&self) -> usize {
        self.slots.borrow().wakers.iter().flatten().count()
    }
}

pub struct NotifyWait<'a> {
    notify: &'a Notify,
    consume: bool,
    /// (epoch, index) of this wait's slot once registered.
    slot: Option<(u64, usize)>,
}

impl Future for NotifyWait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let notify = self.notify;
        if notify.set.get() {
            if self.consume {
                notify.set.set(false);
            }
            return Poll::Ready(());
        }
        let mut slab = notify.slots.borrow_mut();
        match self.slot {
            Some((epoch, i)) if epoch == slab.epoch => {
                let w = &mut slab.wakers[i];
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
            }
            _ => {
                let i = match slab.free.pop() {
                    Some(i) => {
                        slab.wakers[i] = Some(cx.waker().clone());
                        i
                    }
                    None => {
                        slab.wakers.push(Some(cx.waker().clone()));
                        slab.wakers.len() - 1
                    }
                };
                let epoch = slab.epoch;
                drop(slab);
                self.slot = Some((epoch, i));
            }
        }
        Poll::Pending
    }
}

impl Drop for NotifyWait<'_> {
    fn drop(&mut self) {
        if let Some((epoch, i)) = self.slot {
            let mut slab = self.notify.slots.borrow_mut();
            if epoch == slab.epoch && slab.wakers[i].take().is_some() {
                slab.free.push(i);
            }
        }
    }
}

/// A counter that tasks wait to reach a value.
#[derive(Default)]
pub struct Watermark {
    value: Cell<u64>,
    waiters: RefCell<Vec<(u64, Waker)>>,
}

impl Watermark {
    pub fn get(&self) -> u64 {
        self.value.get()
    }

    /// Raises the mark and wakes those waiting for it.
    pub fn advance(&self, to: u64) {
        if to <= self.value.get() {
            return;
        }
        self.value.set(to);
        let mut ws = self.waiters.borrow_mut();
        let mut i = 0;
        while i < ws.len() {
            if ws[i].0 <= to {
                ws.swap_remove(i).1.wake();
            } else {
                i += 1;
            }
        }
    }

    /// Waits until the mark is at least `target`.
    pub fn reach(&self, target: u64) -> Reach<'_> {
        Reach { mark: self, target }
    }
}

pub struct Reach<'a> {
    mark: &'a Watermark,
    target: u64,
}

impl Future for Reach<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.mark.value.get() >= self.target {
            return Poll::Ready(());
        }
        self.mark
            .waiters
            .borrow_mut()
            .push((self.target, cx.waker().clone()));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn recent_forgets_the_oldest() {
        let mut r = Recent::new(2);
        for v in ["a", "b", "c"] {
            let t = r.next_seq();
            r.insert(t, v);
        }
        assert_eq!(
            (r.get(&1), r.get(&2), r.get(&3)),
            (None, Some(&"b"), Some(&"c"))
        );
    }

    #[test]
    fn waits_register_once_and_leave_when_dropped() {
        let n = Notify::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        // A connection that selects on the flag for every read: each wait is
        // dropped when the read wins, and must not leave its waker behind.
        for _ in 0..1000 {
            let mut w = Box::pin(n.wait(false));
            assert!(w.as_mut().poll(&mut cx).is_pending());
            assert!(
                w.as_mut().poll(&mut cx).is_pending(),
                "re-poll keeps its slot"
            );
            assert_eq!(n.waiters(), 1);
        }
        assert_eq!(n.waiters(), 0);
        // Many live waits are all woken once.
        let mut live: Vec<_> = (0..100).map(|_| Box::pin(n.wait(false))).collect();
        for w in &mut live {
            assert!(w.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(n.waiters(), 100);
        n.notify();
        assert_eq!(count.0.load(Ordering::SeqCst), 100);
        assert_eq!(n.waiters(), 0);
        for w in &mut live {
            assert!(w.as_mut().poll(&mut cx).is_ready());
        }
        drop(live);
        // `consume` clears the flag for the next wait.
        let mut w = Box::pin(n.wait(true));
        assert!(w.as_mut().poll(&mut cx).is_ready());
        let mut w = Box::pin(n.wait(true));
        assert!(w.as_mut().poll(&mut cx).is_pending());
    }
}
