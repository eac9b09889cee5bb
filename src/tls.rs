//! The node's TLS (docs/security.md, "TLS"): its certificate, whom it
//! asks for a client certificate, reloading both on SIGHUP, and the client
//! side of its own replication and cluster links.
//!
//! A reload builds a new rustls configuration from the files and swaps it
//! in: connections accepted afterwards use it, connections already open
//! keep the one they started with (nothing is dropped). A reload that
//! fails (a missing file, a key that does not match) keeps the old
//! configuration and logs why.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustls::server::WebPkiClientVerifier;

use crate::client::tls::{load_certs, load_key, provider, TlsOptions};

pub use crate::config::AuthClients;
use crate::config::{Config, ConfigError};

/// The files a TLS listener is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub ca_file: Option<PathBuf>,
    pub auth_clients: AuthClients,
}

impl TlsFiles {
    /// A rustls server configuration from the files, as they are now.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let certs = load_certs(&self.cert_file)?;
        let key = load_key(&self.key_file)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match (&self.ca_file, self.auth_clients) {
            (_, AuthClients::No) => builder.with_no_client_auth(),
            (None, _) => {
                return Err(
                    "tls-auth-clients optional or yes needs tls-ca-cert-file (the CA client certificates must chain to)"
                        .into(),
                )
            }
            (Some(ca), mode) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in load_certs(ca)? {
                    roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
                }
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let v = if mode == AuthClients::Optional {
                    v.allow_unauthenticated()
                } else {
                    v
                };
                builder.with_client_cert_verifier(
                    v.build()
                        .map_err(|e| format!("client certificates' CA {}: {e}", ca.display()))?,
                )
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            format!(
                "{} and {}: {e}",
                self.cert_file.display(),
                self.key_file.display()
            )
        })?;
        // Redis clients speak no ALPN; HTTP clients may offer it.
        config.alpn_protocols = Vec::new();
        Ok(Arc::new(config))
    }

    /// The client side of this node's own links: the same CA checks the
    /// peer, and the node's certificate answers a peer that asks for one.
    pub fn link_options(&self) -> Option<TlsOptions> {
        Some(TlsOptions {
            ca_file: self.ca_file.clone()?,
            cert_file: Some(self.cert_file.clone()),
            key_file: Some(self.key_file.clone()),
            server_name: None,
        })
    }
}

/// The TLS files `c` asks for, when a TLS listener or TLS links are
/// configured; settings that cannot work are refused with the reason.
pub fn files(c: &Config) -> Result<Option<TlsFiles>, ConfigError> {
    let wanted = c.tls_addr()?.is_some()
        || c.resp_tls_addr()?.is_some()
        || c.http_tls_addr()?.is_some()
        || c.tls_replication
        || c.tls_cluster;
    if !wanted {
        if c.tls_cert_file.is_some() || c.tls_key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls-cert-file is set but nothing uses it: add tls-listen, resp-tls-listen, http-tls-listen or tls-replication",
            ));
        }
        return Ok(None);
    }
    let (Some(cert_file), Some(key_file)) = (&c.tls_cert_file, &c.tls_key_file) else {
        return Err(ConfigError::Invalid(
            "a TLS listener or tls-replication needs tls-cert-file and tls-key-file",
        ));
    };
    if c.tls_replication && c.tls_ca_cert_file.is_none() {
        return Err(ConfigError::Invalid(
            "tls-replication needs tls-ca-cert-file to check the peers' certificates",
        ));
    }
    if c.tls_cluster {
        if c.tls_ca_cert_file.is_none() {
            return Err(ConfigError::Invalid(
                "tls-cluster needs tls-ca-cert-file to check the other nodes' certificates",
            ));
        }
        if !c.cluster {
            return Err(ConfigError::Invalid(
                "tls-cluster is for cluster mode (--cluster); a replica's links use tls-replication",
            ));
        }
        if c.tls_addr()?.is_none() {
            return Err(ConfigError::Invalid(
                "tls-cluster lists this node under its tls-listen address: set tls-listen",
            ));
        }
    }
    let auth_clients = c.tls_auth_clients.unwrap_or(match c.tls_ca_cert_file {
        Some(_) => AuthClients::Yes,
        None => AuthClients::No,
    });
    Ok(Some(TlsFiles {
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
        ca_file: c.tls_ca_cert_file.clone(),
        auth_clients,
    }))
}

/// A node's TLS state: the files, and the configuration new connections
/// get.
pub struct ServerTls {
    files: TlsFiles,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl ServerTls {
    pub fn new(files: TlsFiles) -> Result<ServerTls, String> {
        let config = files.server_config()?;
        Ok(ServerTls {
            files,
            current: RwLock::new(config),
        })
    }

    /// The configuration a connection accepted now uses.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the files again; on success new connections use them.
    pub fn reload(&self) -> Result<(), String> {
        let next = self.files.server_config()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
    }
}

/// Reloads `tls` on every SIGHUP until the returned handle is closed.
/// SIGHUP never stops the node, with TLS or without.
pub fn reload_on_sighup(
    tls: Option<Arc<ServerTls>>,
) -> Result<signal_hook::iterator::Handle, String> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .map_err(|e| format!("cannot install the SIGHUP handler: {e}"))?;
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("tessera-sighup".into())
        .spawn(move || {
            for _ in signals.forever() {
                match &tls {
                    None => tracing::info!("SIGHUP: no TLS configured, nothing to reload"),
                    Some(t) => match t.reload() {
                        Ok(()) => tracing::info!(
                            "SIGHUP: TLS certificate reloaded from {}; new connections use it",
                            t.files.cert_file.display()
                        ),
                        Err(e) => tracing::error!(
                            "SIGHUP: cannot reload TLS ({e}); the previous certificate stays in use"
                        ),
                    },
                }
            }
        })
        .map_err(|e| format!("cannot start the SIGHUP thread: {e}"))?;
    Ok(handle)
}

/// `tessera serve`'s TLS flags (each also a configuration key of the same
/// name).
#[derive(clap::Args, Debug, Default)]
pub struct ServeTlsFlags {
    /// The node's TLS certificate chain (PEM); read again on SIGHUP.
    #[arg(long, value_name = "FILE")]
    tls_cert_file: Option<PathBuf>,
    /// The private key of --tls-cert-file (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    tls_key_file: Option<PathBuf>,
    /// The CA (PEM) client certificates must chain to; with --tls-replication, the peers'
    /// certificates too.
    #[arg(long, value_name = "FILE")]
    tls_ca_cert_file: Option<PathBuf>,
    /// Whether TLS clients must present a certificate signed by --tls-ca-cert-file
    /// [default: yes with --tls-ca-cert-file, no without].
    #[arg(long, value_name = "MODE")]
    tls_auth_clients: Option<AuthClients>,
    /// The binary protocol's TLS listener: HOST:PORT (core c also on port+1+c; port 0 =
    /// ephemeral) or `off`. HELLO over TLS names the TLS ports [default: off].
    #[arg(long, value_name = "HOST:PORT|off")]
    tls_listen: Option<String>,
    /// The Redis-protocol TLS listener (redis-cli --tls): HOST:PORT or `off` [default: off].
    #[arg(long, value_name = "HOST:PORT|off")]
    resp_tls_listen: Option<String>,
    /// The HTTPS listener: HOST:PORT or `off` [default: off].
    #[arg(long, value_name = "HOST:PORT|off")]
    http_tls_listen: Option<String>,
    /// This node's replication and migration links connect with TLS, checking the peer
    /// against --tls-ca-cert-file and presenting --tls-cert-file (Redis's tls-replication).
    #[arg(long)]
    tls_replication: bool,
    /// Cluster mode: the links between nodes (Raft, cluster requests, replication,
    /// migration) use TLS, and the cluster map lists this node under its --tls-listen
    /// address and TLS core ports (Redis's tls-cluster). Set it on every node.
    #[arg(long)]
    tls_cluster: bool,
}

impl ServeTlsFlags {
    /// Overrides `c`'s TLS keys with the flags given.
    pub fn apply(self, c: &mut Config) {
        let set = |v: Option<PathBuf>, to: &mut Option<PathBuf>| {
            if v.is_some() {
                *to = v;
            }
        };
        set(self.tls_cert_file, &mut c.tls_cert_file);
        set(self.tls_key_file, &mut c.tls_key_file);
        set(self.tls_ca_cert_file, &mut c.tls_ca_cert_file);
        if self.tls_auth_clients.is_some() {
            c.tls_auth_clients = self.tls_auth_clients;
        }
        for (v, to) in [
            (self.tls_listen, &mut c.tls_listen),
            (self.resp_tls_listen, &mut c.resp_tls_listen),
            (self.http_tls_listen, &mut c.http_tls_listen),
        ] {
            if let Some(v) = v {
                *to = v;
            }
        }
        c.tls_replication |= self.tls_replication;
        c.tls_cluster |= self.tls_cluster;
    }
}

/// The client commands' TLS flags (cli, backup, cluster).
#[derive(clap::Args, Debug, Default)]
pub struct ClientTlsFlags {
    /// Connect with TLS (to a --tls-listen port), checking the server against --cacert.
    #[arg(long, global = true)]
    tls: bool,
    /// The CA (PEM) the server's certificate must chain to.
    #[arg(long, global = true, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// A client certificate (PEM) for a server with tls-auth-clients.
    #[arg(long, global = true, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// The key of --cert (PEM).
    #[arg(long, global = true, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The name to check the server's certificate against [default: the address dialled].
    #[arg(long, global = true, value_name = "NAME")]
    sni: Option<String>,
}

impl ClientTlsFlags {
    /// Whether any client TLS flag was given.
    pub fn given(&self) -> bool {
        self.tls
            || self.cacert.is_some()
            || self.cert.is_some()
            || self.key.is_some()
            || self.sni.is_some()
    }

    /// The options the flags ask for; `None` without --tls.
    pub fn options(&self) -> Result<Option<TlsOptions>, String> {
        if !self.tls {
            if self.cacert.is_some() || self.cert.is_some() || self.sni.is_some() {
                return Err("--cacert, --cert and --sni need --tls".into());
            }
            return Ok(None);
        }
        let ca_file = self
            .cacert
            .clone()
            .ok_or("--tls needs --cacert FILE: the CA the server's certificate must chain to")?;
        Ok(Some(TlsOptions {
            ca_file,
            cert_file: self.cert.clone(),
            key_file: self.key.clone(),
            server_name: self.sni.clone(),
        }))
    }
}
