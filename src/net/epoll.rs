//! Client connections' readiness through one edge-triggered epoll instance
//! per core.
//!
//! glommio waits for a socket with a one-shot io_uring poll: after every
//! request a connection arms a new poll (a submission, the kernel's poll
//! set-up, a completion, and glommio's bookkeeping of the source). Here each
//! connection is registered once, edge-triggered, with its core's epoll
//! instance; one task per core waits (through glommio) until that instance
//! is readable, drains its events and wakes the connections concerned. A
//! request then costs the kernel's epoll callback and a share of one
//! `epoll_wait`, as in Redis's event loop (BENCHMARKS.md has the figures).
//!
//! Readiness rules (edge-triggered, single-threaded):
//! - a connection starts readable; a read that would block, or that returned
//!   fewer bytes than asked for (the socket's queue was emptied), clears the
//!   flag, and only an event sets it again, so no arrival can be missed;
//! - writes are always tried first; one that would block waits for the next
//!   event (the kernel reports EPOLLOUT once space frees up).

// epoll(7) has no safe binding in the dependencies: the calls below are
// raw libc, each with its SAFETY comment.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::proto::tls::{RawIo, TlsConn};

/// Events taken per `epoll_wait` call.
const EVENTS: usize = 256;

#[derive(Default)]
struct Slot {
    readable: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

/// One core's epoll instance and the wakers of the connections it watches.
pub struct Poller {
    fd: OwnedFd,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<usize>>,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Poller {
            // SAFETY: `fd` was just created and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
        })
    }

    /// Waits for events and wakes the connections concerned; runs for the
    /// life of the core (spawn it detached).
    pub async fn run(self: Rc<Self>) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            if let Err(e) = glommio::net::wait_readable(self.fd.as_raw_fd()).await {
                tracing::error!("waiting for the epoll instance: {e}");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
            loop {
                // SAFETY: `events` is valid for EVENTS entries; timeout 0.
                let n = unsafe {
                    libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), EVENTS as i32, 0)
                };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    tracing::error!("epoll_wait: {e}");
                    break;
                }
                let n = n as usize;
                self.dispatch(&events[..n]);
                if n < EVENTS {
                    break;
                }
            }
        }
    }

    fn dispatch(&self, events: &[libc::epoll_event]) {
        let mut wake = Vec::new();
        {
            let mut slots = self.slots.borrow_mut();
            for e in events {
                let bits = e.events;
                // Tokens are unregistered (EPOLL_CTL_DEL) before reuse, so
                // every event belongs to the slot's current connection.
                let Some(s) = slots.get_mut(e.u64 as usize) else {
                    continue;
                };
                let gone = (libc::EPOLLHUP | libc::EPOLLERR) as u32;
                if bits & ((libc::EPOLLIN | libc::EPOLLRDHUP) as u32 | gone) != 0 {
                    s.readable = true;
                    wake.extend(s.read_waker.take());
                }
                if bits & (libc::EPOLLOUT as u32 | gone) != 0 {
                    wake.extend(s.write_waker.take());
                }
            }
        }
        for w in wake {
            w.wake();
        }
    }

    fn register(&self, fd: RawFd) -> io::Result<usize> {
        let token = match self.free.borrow_mut().pop() {
            Some(t) => t,
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Slot::default());
                slots.len() - 1
            }
        };
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token as u64,
        };
        // SAFETY: `fd` is an open socket owned by the caller; `ev` is valid.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            self.free.borrow_mut().push(token);
            return Err(io::Error::last_os_error());
        }
        self.slots.borrow_mut()[token] = Slot {
            readable: true,
            ..Slot::default()
        };
        Ok(token)
    }

    fn deregister(&self, fd: RawFd, token: usize) {
        // SAFETY: `fd` is still open (the caller closes it afterwards).
        unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
        // Drops the wakers outside the borrow.
        let old = std::mem::take(&mut self.slots.borrow_mut()[token]);
        drop(old);
        self.free.borrow_mut().push(token);
    }

    fn readable(&self, token: usize) -> bool {
        self.slots.borrow()[token].readable
    }

    /// Parks `waker` until the next read event.
    fn wait_read(&self, token: usize, waker: &Waker) {
        set_waker(&mut self.slots.borrow_mut()[token].read_waker, waker);
    }

    fn unset_readable(&self, token: usize) {
        self.slots.borrow_mut()[token].readable = false;
    }

    fn wait_write(&self, token: usize, waker: &Waker) {
        set_waker(&mut self.slots.borrow_mut()[token].write_waker, waker);
    }
}

fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

/// Runs a socket call until it is not interrupted by a signal.
fn retrying(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let n = call();
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A socket registered with its core's [`Poller`].
struct Raw {
    sock: std::net::TcpStream,
    token: usize,
    poller: Rc<Poller>,
}

impl Raw {
    fn recv(&self, buf: &mut [u8], flags: i32) -> io::Result<usize> {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        retrying(|| unsafe {
            libc::recv(
                self.sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags | libc::MSG_DONTWAIT,
            )
        })
    }

    /// `recv` once the socket is readable; `Pending` (with the waker
    /// parked) while it is not.
    fn poll_recv_flags(
        &self,
        cx: &Context<'_>,
        buf: &mut [u8],
        flags: i32,
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            if !self.poller.readable(self.token) {
                self.poller.wait_read(self.token, cx.waker());
                return Poll::Pending;
            }
            match self.recv(buf, flags) {
                Ok(n) => {
                    // A short read emptied the socket's queue: anything
                    // arriving later raises a new event.
                    if n > 0 && n < buf.len() && flags & libc::MSG_PEEK == 0 {
                        self.poller.unset_readable(self.token);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.poller.unset_readable(self.token);
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl RawIo for Raw {
    fn poll_recv(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_recv_flags(cx, buf, 0)
    }

    fn poll_send(&self, cx: &Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let sent = retrying(|| unsafe {
            libc::send(
                self.sock.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        });
        match sent {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The kernel raises EPOLLOUT when space frees up; nothing
                // runs on this thread between the failed send and parking
                // the waker.
                self.poller.wait_write(self.token, cx.waker());
                Poll::Pending
            }
            r => Poll::Ready(r),
        }
    }
}

/// A client connection watched by its core's [`Poller`]: `futures`'
/// `AsyncRead`/`AsyncWrite` over non-blocking `recv`/`send`, through TLS
/// on a TLS listener (`proto::tls`).
pub struct Stream {
    raw: Raw,
    tls: Option<Box<TlsConn>>,
}

impl Stream {
    /// Takes over an accepted glommio stream (its fd is duplicated, the
    /// original closed) and registers it with `poller`.
    pub fn adopt(poller: &Rc<Poller>, stream: glommio::net::TcpStream) -> io::Result<Stream> {
        // SAFETY: plain syscall on an open fd; the result is checked.
        let fd = unsafe { libc::fcntl(stream.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        drop(stream);
        // SAFETY: `fd` is the new duplicate, owned by nobody else.
        let sock = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        sock.set_nonblocking(true)?;
        let token = poller.register(sock.as_raw_fd())?;
        Ok(Stream {
            raw: Raw {
                sock,
                token,
                poller: poller.clone(),
            },
            tls: None,
        })
    }

    /// Serves this connection through TLS with `config` (the handshake runs
    /// with the first read).
    pub fn start_tls(&mut self, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<()> {
        self.tls = Some(Box::new(TlsConn::new(config)?));
        Ok(())
    }

    /// Whether the connection came through a TLS listener.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.raw.sock.set_nodelay(on)
    }

    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.raw.sock.peer_addr()
    }

    /// The socket's descriptor (CLIENT LIST's `fd`, CLIENT KILL's
    /// shutdown: `net::clients`).
    pub fn raw_fd(&self) -> RawFd {
        self.raw.sock.as_raw_fd()
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.raw.sock.local_addr()
    }

    fn poll_recv(
        &mut self,
        cx: &Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        match &mut self.tls {
            Some(t) => t.poll_read(&self.raw, cx, buf, peek),
            None => self
                .raw
                .poll_recv_flags(cx, buf, if peek { libc::MSG_PEEK } else { 0 }),
        }
    }

    /// Reads without consuming: resolves with the number of bytes waiting
    /// (0 when the peer closed its side).
    pub async fn peek(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_recv(cx, buf, true)).await
    }

    /// Writes all of `bytes` and flushes what TLS holds back. With TLS,
    /// completes the handshake first, so a refusal reaches a client that
    /// has not finished it.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(t) = &mut self.tls {
            let raw = &self.raw;
            std::future::poll_fn(|cx| t.poll_handshake(raw, cx)).await?;
        }
        futures::AsyncWriteExt::write_all(self, bytes).await?;
        futures::AsyncWriteExt::flush(self).await
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.raw
            .poller
            .deregister(self.raw.sock.as_raw_fd(), self.raw.token);
    }
}

impl futures::AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_recv(cx, buf, false)
    }
}

impl futures::AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let s = self.get_mut();
        match &mut s.tls {
            Some(t) => t.poll_write(&s.raw, cx, buf),
            None => s.raw.poll_send(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        match &mut s.tls {
            Some(t) => t.poll_flush(&s.raw, cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        if let Some(t) = &mut s.tls {
            t.close();
            if t.poll_flush(&s.raw, cx).is_pending() {
                return Poll::Pending;
            }
        }
        Poll::Ready(s.raw.sock.shutdown(std::net::Shutdown::Write))
    }
}
