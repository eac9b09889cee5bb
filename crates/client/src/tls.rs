//! TLS for every connection this process opens (docs/security.md):
//! `tessera cli --tls --cacert`, tessera-bench `--tls`, a node's
//! replication and migration links with `tls-replication`. Like the
//! credentials, it is set once at start and read when a connection opens.
//!
//! The server's certificate is checked against the given CA file (or, with
//! none, against nothing: `--tls` without `--cacert` is refused, there is
//! no system store to fall back on) and against the address dialled, so a
//! certificate for an IP address needs that address in its
//! subjectAltName. A client certificate is sent when the server asks for
//! one (mutual TLS, `tls-auth-clients`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use futures::{AsyncRead, AsyncWrite};
use futures_rustls::TlsConnector;
use glommio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::ClientError;

/// What a TLS client is told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA (or CAs) the server's certificate must chain to.
    pub ca_file: PathBuf,
    /// PEM certificate chain and key to present when the server asks
    /// (mutual TLS).
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The name to check the server's certificate against; `None` = the
    /// IP address dialled.
    pub server_name: Option<String>,
}

/// A stream that reads and writes, boxed so plain and TLS connections
/// share one type.
pub trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// A connection's stream.
pub type BoxIo = Box<dyn Io>;

struct Current {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
}

impl Current {
    /// The name the server's certificate is checked against: the given
    /// one, or the IP address dialled.
    fn server_name(&self, addr: SocketAddr) -> std::io::Result<ServerName<'static>> {
        match &self.server_name {
            Some(n) => ServerName::try_from(n.clone())
                .map_err(|e| std::io::Error::other(format!("TLS server name {n:?}: {e}"))),
            None => Ok(ServerName::IpAddress(addr.ip().into())),
        }
    }
}

static CURRENT: RwLock<Option<Arc<Current>>> = RwLock::new(None);

/// The certificates of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The process's crypto: ring, as the issue asks (no C build beyond
/// ring's own assembly).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a client configuration from `o`.
pub fn client_config(o: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(&o.ca_file)? {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", o.ca_file.display()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (&o.cert_file, &o.key_file) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|e| format!("client certificate {}: {e}", cert.display()))?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("a client certificate needs both its file and its key".into()),
    };
    Ok(Arc::new(config))
}

/// Makes every later connection of this process use TLS with `o` (or plain
/// TCP with `None`).
pub fn set_tls(o: Option<&TlsOptions>) -> Result<(), String> {
    let next = match o {
        Some(o) => Some(Arc::new(Current {
            config: client_config(o)?,
            server_name: o.server_name.clone(),
        })),
        None => None,
    };
    *CURRENT.write().unwrap_or_else(|p| p.into_inner()) = next;
    Ok(())
}

/// Whether connections use TLS.
pub fn tls_enabled() -> bool {
    CURRENT.read().unwrap_or_else(|p| p.into_inner()).is_some()
}

/// Opens a connection to `addr`: TCP with no delay, then the TLS handshake
/// when TLS is set.
pub async fn connect(addr: SocketAddr) -> Result<BoxIo, ClientError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| ClientError::Io(format!("connect {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let current = CURRENT.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(tls) = current else {
        return Ok(Box::new(stream));
    };
    let name = tls
        .server_name(addr)
        .map_err(|e| ClientError::Io(e.to_string()))?;
    let s = TlsConnector::from(tls.config.clone())
        .connect(name, stream)
        .await
        .map_err(|e| ClientError::Io(format!("TLS handshake with {addr}: {e}")))?;
    Ok(Box::new(s))
}

/// A blocking stream, plain or TLS.
pub trait BlockingIo: std::io::Read + std::io::Write + Send {}
impl<T: std::io::Read + std::io::Write + Send> BlockingIo for T {}

/// Opens a blocking connection to `addr` (TLS when set), with `connect`
/// as the connect's timeout and `io` for every later read and write; for a
/// process's few synchronous calls (a replica's first HELLO to its
/// primary, `tessera cluster` and a node forming its declared cluster).
pub fn connect_blocking(
    addr: SocketAddr,
    connect: std::time::Duration,
    io: std::time::Duration,
) -> std::io::Result<Box<dyn BlockingIo>> {
    let s = std::net::TcpStream::connect_timeout(&addr, connect)?;
    s.set_read_timeout(Some(io))?;
    s.set_write_timeout(Some(io))?;
    let _ = s.set_nodelay(true);
    let current = CURRENT.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(tls) = current else {
        return Ok(Box::new(s));
    };
    let name = tls.server_name(addr)?;
    let conn =
        rustls::ClientConnection::new(tls.config.clone(), name).map_err(std::io::Error::other)?;
    Ok(Box::new(rustls::StreamOwned::new(conn, s)))
}
