//! Small single-thread synchronisation helpers (no atomics, no locks),
//! runtime-agnostic so the server and the client share them.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A flag one task waits on and any task on the same core sets.
#[derive(Default)]
pub struct Notify {
    set: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Notify {
    /// Sets the flag and wakes every waiter.
    pub fn notify(&self) {
        self.set.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
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
        }
    }
}

pub struct NotifyWait<'a> {
    notify: &'a Notify,
    consume: bool,
}

impl Future for NotifyWait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.set.get() {
            if self.consume {
                self.notify.set.set(false);
            }
            return Poll::Ready(());
        }
        let mut w = self.notify.waiters.borrow_mut();
        if !w.iter().any(|x| x.will_wake(cx.waker())) {
            w.push(cx.waker().clone());
        }
        Poll::Pending
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
