//! What the server does with untrusted bytes, one function per decoder,
//! for the fuzz tests (tests/fuzz.rs, proptest on stable) and the
//! cargo-fuzz targets (`fuzz/`, nightly). Each must return for any input:
//! an error is an answer, a panic is a bug.

use crate::acl::{parse_file, User};
use crate::codec::Reader;
use crate::{frame, resp, Request};

/// Binary frames as a connection reads them: checked, decoded, then what
/// the server asks of a request before it runs (its slot, its ACL check)
/// and its encoding again.
pub fn binary_frames(bytes: &[u8]) {
    let user = User::new("u");
    let mut at = 0;
    while at < bytes.len() {
        let Ok(Some(info)) = frame::check(&bytes[at..], 1 << 20) else {
            break;
        };
        let f = &bytes[at..at + info.total_len];
        if let Ok(req) = Request::decode(info.kind, info.flags, info.body(f)) {
            let _ = crate::route::request_slot(&req);
            let _ = user.check_request(&req);
            let mut again = Vec::new();
            req.encode(info.id, &mut again);
        }
        at += info.total_len;
    }
}

/// RESP and inline commands as a RESP connection reads them: parsed, then
/// planned (RESP dispatch), their keys found, their arguments parsed and
/// checked against an ACL user.
pub fn resp_commands(bytes: &[u8]) {
    let user = User::new("u");
    let mut at = 0;
    while at < bytes.len() {
        let Ok(Some(p)) = resp::parse(&bytes[at..], 1 << 20) else {
            break;
        };
        let args = p.args(&bytes[at..]);
        if !args.is_empty() {
            let _ = crate::redis::plan(&args);
            if let Ok(row) = crate::table::lookup(&args) {
                let _ = row.key_positions(&args);
                let _ = crate::args::parse(row, &args);
                let _ = user.check(row, &args);
            }
        }
        at += p.len.max(1);
    }
}

/// An ACL file, and the same bytes as rules; a user described reads back.
pub fn acl_text(bytes: &[u8]) {
    let _ = parse_file(&String::from_utf8_lossy(bytes));
    let mut u = User::new("u");
    for w in bytes.split(|b| *b == b' ') {
        if !w.is_empty() {
            let _ = u.apply(w);
        }
    }
    if let Err(e) = parse_file(&u.describe()) {
        panic!(
            "a described user does not read back: {e} ({})",
            u.describe()
        );
    }
}

/// Bodies a client or a peer decodes: HELLO, the cluster slots, a typed
/// value.
pub fn wire_bodies(bytes: &[u8]) {
    let _ = crate::Hello::decode(bytes);
    let _ = crate::cluster_slots::ClusterSlots::decode(bytes);
    let _ = crate::value::Value::decode(&mut Reader::new(bytes), 0);
}

/// HTTP request heads as the HTTP front end reads them: the head, its
/// target split at `?`, its Basic credentials. `Some(true)` a head the
/// server accepts, `Some(false)` one it refuses, `None` incomplete.
pub fn http_heads(bytes: &[u8]) -> Option<bool> {
    match crate::http_head::parse(bytes) {
        Ok(Some(h)) => {
            let _ = h.target.split_once('?');
            if let Some(a) = &h.authorization {
                let _ = crate::http_head::basic_credentials(a);
            }
            Some(true)
        }
        Ok(None) => None,
        Err(_) => Some(false),
    }
}

/// The TLS connection loop as a server connection drives it
/// ([`crate::tls::TlsConn`]): `bytes` arrive from the client in pieces
/// (handshake records, alerts, application data, garbage), every piece is
/// read through the session, and what the client sent once the handshake
/// is done is echoed back through it, until the session reports the end,
/// an error, or the input is used up. Returns the bytes the server sent.
pub fn tls_connection(bytes: &[u8]) -> usize {
    use std::cell::{Cell, RefCell};
    use std::task::{Context, Poll};

    struct Mem<'a> {
        input: &'a [u8],
        at: Cell<usize>,
        sent: RefCell<usize>,
    }
    impl crate::tls::RawIo for Mem<'_> {
        fn poll_recv(&self, _: &Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
            // Uneven pieces, so records straddle reads.
            let at = self.at.get();
            let n = buf.len().min(self.input.len() - at).min(1 + at % 700);
            buf[..n].copy_from_slice(&self.input[at..at + n]);
            self.at.set(at + n);
            Poll::Ready(Ok(n))
        }
        fn poll_send(&self, _: &Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
            *self.sent.borrow_mut() += buf.len();
            Poll::Ready(Ok(buf.len()))
        }
    }

    let Ok(mut conn) = crate::tls::TlsConn::new(fuzz_server_config()) else {
        return 0;
    };
    let io = Mem {
        input: bytes,
        at: Cell::new(0),
        sent: RefCell::new(0),
    };
    let cx = Context::from_waker(std::task::Waker::noop());
    let mut buf = [0u8; 4096];
    for round in 0..10_000 {
        let peek = round % 3 == 0;
        match conn.poll_read(&io, &cx, &mut buf, peek) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) | Poll::Pending => break,
            Poll::Ready(Ok(n)) => {
                if !peek {
                    let echo = buf[..n].to_vec();
                    let _ = conn.poll_write(&io, &cx, &echo);
                    let _ = conn.poll_flush(&io, &cx);
                }
            }
        }
    }
    conn.close();
    let _ = conn.poll_flush(&io, &cx);
    io.sent.into_inner()
}

/// A server configuration with a certificate made for fuzzing only (its
/// key is public, in this repository).
fn fuzz_server_config() -> std::sync::Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    static CONFIG: std::sync::OnceLock<std::sync::Arc<rustls::ServerConfig>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let cert = CertificateDer::from_pem_slice(include_bytes!("fuzz_tls/cert.pem"))
                .expect("the fuzz certificate parses");
            let key = PrivateKeyDer::from_pem_slice(include_bytes!("fuzz_tls/key.pem"))
                .expect("the fuzz key parses");
            let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("the fuzz key matches its certificate");
            std::sync::Arc::new(config)
        })
        .clone()
}

/// A real ClientHello, as rustls's client sends it (a seed for the TLS
/// target).
pub fn tls_client_hello() -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("fuzz.invalid").expect("a valid name");
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .expect("a client connection");
    let mut out = Vec::new();
    while conn.wants_write() {
        if conn.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_target_answers_a_real_client_hello() {
        // ServerHello, the certificate and its signature: well over 300
        // bytes. Garbage gets an alert at most.
        let hello = tls_client_hello();
        assert!(hello.len() > 100 && hello[0] == 0x16, "{hello:?}");
        let answered = tls_connection(&hello);
        assert!(answered > 300, "{answered} bytes");
        assert!(tls_connection(b"GET / HTTP/1.1\r\n\r\n") < 64);
        assert!(tls_connection(b"") < 64);
    }
}
