//! A server connection's TLS, driven as rustls's buffer state machine
//! (`read_tls` / `process_new_packets` / `write_tls`) over whatever moves
//! the raw bytes ([`RawIo`]): the server's epoll connection loops
//! (`net::epoll::Stream`) and the fuzz target (`fuzz::tls_connection`, in
//! memory). It knows no sockets.
//!
//! Rules:
//! - a read first hands out plaintext already decrypted, then sends what
//!   the handshake produced, then reads more ciphertext;
//! - a write takes new plaintext only once the earlier ciphertext is on
//!   the socket, so a client that stops reading holds at most one write's
//!   worth inside rustls (the connection loops' own queues bound the rest);
//! - `poll_flush` sends what rustls still holds: callers flush after their
//!   last write (`Stream::send`).

use std::io::{self, Read, Write};
use std::task::{Context, Poll};

use rustls::ServerConnection;

/// Most plaintext a write hands rustls at once (four records).
const WRITE_CHUNK: usize = 64 << 10;

/// Moves raw bytes, parking the task's waker when it would block.
pub trait RawIo {
    fn poll_recv(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    fn poll_send(&self, cx: &Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
}

/// `io::Read`/`io::Write` over a [`RawIo`]: `Pending` becomes
/// `WouldBlock` (with the waker already parked).
struct Adapter<'a, 'b> {
    raw: &'a dyn RawIo,
    cx: &'a Context<'b>,
}

impl Read for Adapter<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.raw.poll_recv(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Adapter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.raw.poll_send(self.cx, buf) {
            Poll::Ready(Ok(0)) if !buf.is_empty() => Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One connection's TLS session.
pub struct TlsConn {
    conn: ServerConnection,
    /// Plaintext taken out of rustls by a peek, served before anything else.
    peeked: Vec<u8>,
    /// The peer closed its side of the TCP connection.
    eof: bool,
}

fn invalid(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl TlsConn {
    pub fn new(config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<TlsConn> {
        Ok(TlsConn {
            conn: ServerConnection::new(config).map_err(invalid)?,
            peeked: Vec::new(),
            eof: false,
        })
    }

    /// Whether the handshake is still running.
    pub fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Reads plaintext into `buf` (0 = the peer closed); with `peek` the
    /// bytes stay for the next read.
    pub fn poll_read(
        &mut self,
        raw: &dyn RawIo,
        cx: &Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            if !self.peeked.is_empty() {
                let n = buf.len().min(self.peeked.len());
                buf[..n].copy_from_slice(&self.peeked[..n]);
                if !peek {
                    self.peeked.drain(..n);
                }
                return Poll::Ready(Ok(n));
            }
            match self.conn.reader().read(buf) {
                Ok(n) => {
                    if peek {
                        self.peeked.extend_from_slice(&buf[..n]);
                    }
                    // 0: the peer sent close_notify.
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Closed without close_notify: a plain end of stream here.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Poll::Ready(Ok(0)),
                Err(e) => return Poll::Ready(Err(e)),
            }
            if self.eof {
                return Poll::Ready(Ok(0));
            }
            // The handshake's answers (or alerts) go out before waiting.
            if let Poll::Ready(Err(e)) = self.poll_flush(raw, cx) {
                return Poll::Ready(Err(e));
            }
            match self.pull(raw, cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Reads ciphertext once and decrypts it.
    fn pull(&mut self, raw: &dyn RawIo, cx: &Context<'_>) -> Poll<io::Result<()>> {
        match self.conn.read_tls(&mut Adapter { raw, cx }) {
            Ok(0) => {
                self.eof = true;
                Poll::Ready(Ok(()))
            }
            Ok(_) => match self.conn.process_new_packets() {
                Ok(_) => Poll::Ready(Ok(())),
                Err(e) => {
                    // Tell the peer why (rustls queued the alert), then fail.
                    let _ = self.poll_flush(raw, cx);
                    Poll::Ready(Err(invalid(e)))
                }
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Completes the handshake (a refusal must reach a client that has
    /// not finished it).
    pub fn poll_handshake(&mut self, raw: &dyn RawIo, cx: &Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.is_handshaking() {
            match self.poll_flush(raw, cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            if self.eof {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            match self.pull(raw, cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Encrypts some of `buf`; resolves with how much was taken.
    pub fn poll_write(
        &mut self,
        raw: &dyn RawIo,
        cx: &Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.poll_flush(raw, cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let n = self
            .conn
            .writer()
            .write(&buf[..buf.len().min(WRITE_CHUNK)])?;
        // Whatever the socket does not take now goes on the next call.
        if let Poll::Ready(Err(e)) = self.poll_flush(raw, cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    /// Sends every byte of ciphertext rustls holds.
    pub fn poll_flush(&mut self, raw: &dyn RawIo, cx: &Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut Adapter { raw, cx }) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Queues close_notify (sent by the next flush).
    pub fn close(&mut self) {
        self.conn.send_close_notify();
    }
}
