//! The node's listening sockets (SO_REUSEPORT, one per core on a shared
//! port, plus each core's own binary port).
//!
//! In cluster mode a listener configured with port 0 first tries the port
//! it had last time, recorded in `<data-dir>/cluster/listeners.json`: the
//! map lists every node's addresses, and a whole cluster restarted on
//! ephemeral ports could otherwise never reach itself again. A port taken
//! since falls back to a new one, which the node reports to the cluster
//! (docs/cluster.md, "Restarts").

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A listener that could not be set up, and why.
#[derive(Debug)]
pub(super) struct BindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Binds a listening socket with SO_REUSEPORT and a deep backlog.
pub(super) fn bind(addr: SocketAddr) -> Result<StdListener, BindError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let err = |source| BindError { addr, source };
    let sock =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    sock.set_reuse_port(true).map_err(err)?;
    sock.set_reuse_address(true).map_err(err)?;
    sock.bind(&addr.into()).map_err(err)?;
    sock.listen(4096).map_err(err)?;
    Ok(sock.into())
}

/// The node's configured listeners, refused when their ports coincide
/// ([`check_distinct`]).
pub(super) fn check_ports(config: &crate::config::Config, cores: usize) -> Result<(), String> {
    let planned = |setting, addr, per_core| Planned {
        setting,
        addr,
        per_core,
    };
    let all = [
        planned(
            "listen",
            config.binary_addr().map_err(|e| e.to_string())?,
            true,
        ),
        planned(
            "tls-listen",
            config.tls_addr().map_err(|e| e.to_string())?,
            true,
        ),
        planned(
            "resp-listen",
            config.resp_addr().map_err(|e| e.to_string())?,
            false,
        ),
        planned(
            "resp-tls-listen",
            config.resp_tls_addr().map_err(|e| e.to_string())?,
            false,
        ),
        planned(
            "http-listen",
            config.http_addr().map_err(|e| e.to_string())?,
            false,
        ),
        planned(
            "http-tls-listen",
            config.http_tls_addr().map_err(|e| e.to_string())?,
            false,
        ),
    ];
    check_distinct(&all, cores)
}

/// A configured listener: its setting's name, its address (`None` when
/// off) and whether it also takes a port per core after its own (the
/// binary listeners: port+1+c).
pub(super) struct Planned {
    pub setting: &'static str,
    pub addr: Option<SocketAddr>,
    pub per_core: bool,
}

/// Refuses listeners whose ports coincide. The sockets bind with
/// SO_REUSEPORT, so two of this node's listeners on one port would share
/// it silently and each connection would land on either at random (a
/// binary client on the RESP listener, say). Port 0 (ephemeral) never
/// collides; a wildcard address collides with every address.
pub(super) fn check_distinct(planned: &[Planned], cores: usize) -> Result<(), String> {
    let mut taken: Vec<(SocketAddr, String)> = Vec::new();
    for p in planned {
        let Some(addr) = p.addr.filter(|a| a.port() != 0) else {
            continue;
        };
        let mut mine = vec![(addr, format!("{} {addr}", p.setting))];
        if p.per_core {
            for c in 0..cores {
                let port = addr.port() as usize + 1 + c;
                if let Ok(port) = u16::try_from(port) {
                    let mut a = addr;
                    a.set_port(port);
                    mine.push((a, format!("core {c}'s port {port} of {} {addr}", p.setting)));
                }
            }
        }
        for (a, what) in mine {
            let clash = taken.iter().find(|(b, _)| {
                b.port() == a.port()
                    && (b.ip() == a.ip() || b.ip().is_unspecified() || a.ip().is_unspecified())
            });
            if let Some((_, other)) = clash {
                return Err(format!(
                    "{what} is the same port as {other}; give the listeners ports apart \
                     (a binary listener also takes the {cores} ports after its own, one per core)"
                ));
            }
            taken.push((a, what));
        }
    }
    Ok(())
}

/// Binds `configured`, or with port 0 `last`'s port first (see [`prefer`]),
/// falling back to a new port if that bind fails after all.
pub(super) fn bind_preferring(
    configured: SocketAddr,
    last: Option<SocketAddr>,
) -> Result<StdListener, BindError> {
    let p = prefer(configured, last);
    if p != configured {
        if let Ok(l) = bind(p) {
            return Ok(l);
        }
    }
    bind(configured)
}

/// Binds `addr` once per core with SO_REUSEPORT (port 0: the first socket
/// picks the port, or takes `last`'s, and the others reuse it); nothing
/// when the listener is off.
pub(super) fn bind_per_core(
    addr: Option<SocketAddr>,
    last: Option<SocketAddr>,
    cores: usize,
) -> Result<(Vec<StdListener>, Option<SocketAddr>), BindError> {
    let Some(addr) = addr else {
        return Ok((Vec::new(), None));
    };
    let first = bind_preferring(addr, last)?;
    let a = first
        .local_addr()
        .map_err(|source| BindError { addr, source })?;
    let mut all = vec![first];
    for _ in 1..cores {
        all.push(bind(a)?);
    }
    Ok((all, Some(a)))
}

/// A binary-protocol listener: a shared port every core accepts on, and
/// each core's own port (port+1+c, or ephemeral with port 0).
pub(super) struct Binary {
    /// The shared port's socket of each core.
    pub shared: Vec<StdListener>,
    pub own: Vec<StdListener>,
    pub shared_addr: SocketAddr,
    pub core_addrs: Vec<SocketAddr>,
}

/// Binds a binary listener on `listen` for `cores` cores, preferring
/// `last`'s ports when the port is 0 (cluster mode).
pub(super) fn bind_binary(
    listen: SocketAddr,
    last_shared: Option<SocketAddr>,
    last_cores: &[SocketAddr],
    cores: usize,
) -> Result<Binary, BindError> {
    // Core 0's shared socket binds first; with port 0 the others reuse its port.
    let first = bind_preferring(listen, last_shared)?;
    let shared_addr = first.local_addr().map_err(|source| BindError {
        addr: listen,
        source,
    })?;
    let mut shared = vec![first];
    for _ in 1..cores {
        shared.push(bind(shared_addr)?);
    }
    let mut own = Vec::with_capacity(cores);
    for c in 0..cores {
        let mut a = listen;
        if a.port() == 0 {
            own.push(bind_preferring(a, last_cores.get(c).copied())?);
            continue;
        }
        let port = a.port() as usize + 1 + c;
        if port > u16::MAX as usize {
            return Err(BindError {
                addr: listen,
                source: std::io::Error::other(format!(
                    "per-core port {port} of core {c} is above 65535; choose a lower port"
                )),
            });
        }
        a.set_port(port as u16);
        own.push(bind(a)?);
    }
    let core_addrs = own
        .iter()
        .map(|l| l.local_addr().expect("a bound socket has an address"))
        .collect();
    Ok(Binary {
        shared,
        own,
        shared_addr,
        core_addrs,
    })
}

/// Deals listeners to cores: each set holds one socket per core (or none,
/// when that listener is off), tagged with `K`.
pub(super) fn deal<K: Copy>(
    cores: usize,
    sets: impl IntoIterator<Item = (K, Vec<StdListener>)>,
) -> Vec<Vec<(K, StdListener)>> {
    let mut per_core: Vec<Vec<_>> = (0..cores).map(|_| Vec::new()).collect();
    for (k, set) in sets {
        for (c, l) in set.into_iter().enumerate() {
            per_core[c].push((k, l));
        }
    }
    per_core
}

/// The addresses a cluster node listened on, kept for its next start.
#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq, Eq)]
pub(super) struct LastPorts {
    pub binary: Option<SocketAddr>,
    /// Each core's own binary port, by core.
    #[serde(default)]
    pub cores: Vec<SocketAddr>,
    pub resp: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    /// The binary TLS listener and its cores' ports (what `tls-cluster`
    /// lists), and RESP's TLS twin.
    #[serde(default)]
    pub tls: Option<SocketAddr>,
    #[serde(default)]
    pub tls_cores: Vec<SocketAddr>,
    #[serde(default)]
    pub resp_tls: Option<SocketAddr>,
}

fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("cluster").join("listeners.json")
}

impl LastPorts {
    /// What the last start recorded; nothing if it recorded nothing or the
    /// file is unreadable (then every port 0 is a new one).
    pub(super) fn load(data_dir: &Path) -> LastPorts {
        let p = file(data_dir);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!("ignoring {}: {e}", p.display());
                LastPorts::default()
            }),
            Err(_) => LastPorts::default(),
        }
    }

    /// Records these addresses for the next start (a lost write only
    /// means new ports next time).
    pub(super) fn save(&self, data_dir: &Path) {
        let p = file(data_dir);
        let tmp = p.with_extension("tmp");
        let written = serde_json::to_vec_pretty(self)
            .map_err(std::io::Error::other)
            .and_then(|b| {
                std::fs::create_dir_all(data_dir.join("cluster"))?;
                std::fs::write(&tmp, b)?;
                std::fs::rename(&tmp, &p)
            });
        if let Err(e) = written {
            tracing::warn!("cannot record the listeners in {}: {e}", p.display());
        }
    }
}

/// `configured`, or with port 0 the `last` address's port when `last` has
/// the same IP and nothing holds that port now.
fn prefer(configured: SocketAddr, last: Option<SocketAddr>) -> SocketAddr {
    match last {
        Some(l)
            if configured.port() == 0
                && l.port() != 0
                && l.ip() == configured.ip()
                && is_free(l) =>
        {
            l
        }
        _ => configured,
    }
}

/// Whether `addr` can be listened on by this process alone. A probe bind
/// without SO_REUSEPORT passes where nothing holds the port except this
/// node's last connections in TIME_WAIT (SO_REUSEADDR). It fails where
/// anything listens, another process's SO_REUSEPORT socket included,
/// which a SO_REUSEPORT bind would silently share; but also where one of
/// the last run's connections is still closing (FIN-WAIT-1 towards a
/// client that does not read). So a refused probe is tried once more with
/// a connection: the port is free when nothing accepts it.
fn is_free(addr: SocketAddr) -> bool {
    use socket2::{Domain, Protocol, Socket, Type};
    let Ok(s) = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)) else {
        return false;
    };
    if s.set_reuse_address(true).is_ok() && s.bind(&addr.into()).is_ok() && s.listen(1).is_ok() {
        return true;
    }
    matches!(
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// The binary address the other nodes and replicas are given for this
/// node: `advertise` as the operator gave it (with `tls-cluster`, its host
/// with the port of `listed`, the TLS listener), or `listed` itself unless
/// it is a wildcard (then nothing: cluster mode asks for `--advertise`).
pub(super) fn advertised(
    advertise: Option<&str>,
    listed: SocketAddr,
    tls_cluster: bool,
) -> Result<String, String> {
    match advertise {
        Some(a) if tls_cluster => {
            let host = a
                .rsplit_once(':')
                .map(|(h, _)| h)
                .filter(|h| !h.is_empty())
                .ok_or_else(|| format!("--advertise {a:?} is not HOST:PORT"))?;
            Ok(format!("{host}:{}", listed.port()))
        }
        Some(a) => Ok(a.to_string()),
        None if listed.ip().is_unspecified() => Ok(String::new()),
        None => Ok(listed.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_prefers_the_last_port_only_when_it_is_free() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        // A port that was free a moment ago.
        let last = std::net::TcpListener::bind(any)
            .unwrap()
            .local_addr()
            .unwrap();
        assert_eq!(prefer(any, Some(last)), last);
        // A configured port is never replaced, nor another IP's port.
        let fixed: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(prefer(fixed, Some(last)), fixed);
        let other: SocketAddr = format!("127.0.0.2:{}", last.port()).parse().unwrap();
        assert_eq!(prefer(any, Some(other)), any);
        assert_eq!(prefer(any, None), any);
        // Held by a plain listener, or by another SO_REUSEPORT listener
        // (which a SO_REUSEPORT bind would silently share): not taken.
        let held = std::net::TcpListener::bind(last).unwrap();
        assert_eq!(prefer(any, Some(last)), any);
        drop(held);
        let shared = bind(last).unwrap();
        assert_eq!(prefer(any, Some(last)), any);
        drop(shared);
        assert_eq!(prefer(any, Some(last)), last);
    }

    #[test]
    fn the_last_ports_survive_a_save_and_a_garbled_file_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(LastPorts::load(d.path()), LastPorts::default());
        let p = LastPorts {
            binary: Some("127.0.0.1:4000".parse().unwrap()),
            cores: vec!["127.0.0.1:4001".parse().unwrap()],
            resp: Some("127.0.0.1:6379".parse().unwrap()),
            http: None,
            tls: Some("127.0.0.1:4100".parse().unwrap()),
            tls_cores: vec!["127.0.0.1:4101".parse().unwrap()],
            resp_tls: None,
        };
        p.save(d.path());
        assert_eq!(LastPorts::load(d.path()), p);
        std::fs::write(file(d.path()), b"{not json").unwrap();
        assert_eq!(LastPorts::load(d.path()), LastPorts::default());
    }

    #[test]
    fn the_advertised_address_takes_the_tls_port_with_tls_cluster() {
        let tls: SocketAddr = "10.0.0.1:7800".parse().unwrap();
        assert_eq!(advertised(Some("db1:7000"), tls, true).unwrap(), "db1:7800");
        assert_eq!(
            advertised(Some("[::1]:7000"), tls, true).unwrap(),
            "[::1]:7800"
        );
        assert_eq!(
            advertised(Some("db1:7000"), tls, false).unwrap(),
            "db1:7000"
        );
        assert_eq!(advertised(None, tls, true).unwrap(), "10.0.0.1:7800");
        let any: SocketAddr = "0.0.0.0:7800".parse().unwrap();
        assert_eq!(advertised(None, any, false).unwrap(), "");
        assert!(advertised(Some("nohost"), tls, true).is_err());
    }
}

#[cfg(test)]
mod distinct_tests {
    use super::{check_distinct, Planned};

    fn p(setting: &'static str, addr: &str, per_core: bool) -> Planned {
        Planned {
            setting,
            addr: Some(addr.parse().unwrap()),
            per_core,
        }
    }

    #[test]
    fn a_listener_on_a_core_port_is_refused() {
        let e = check_distinct(
            &[
                p("listen", "127.0.0.1:7700", true),
                p("resp-listen", "127.0.0.1:7701", false),
            ],
            2,
        )
        .unwrap_err();
        assert!(e.contains("resp-listen 127.0.0.1:7701"), "{e}");
        assert!(e.contains("core 0's port 7701 of listen"), "{e}");
        // The third core's port, with three cores; a wildcard address.
        assert!(check_distinct(
            &[
                p("listen", "127.0.0.1:7700", true),
                p("http-listen", "0.0.0.0:7703", false),
            ],
            3,
        )
        .is_err());
    }

    #[test]
    fn apart_ephemeral_or_on_other_addresses_is_fine() {
        let ok = |v: &[Planned], cores| check_distinct(v, cores);
        assert!(ok(
            &[
                p("listen", "127.0.0.1:7700", true),
                p("resp-listen", "127.0.0.1:6379", false),
                p("http-listen", "127.0.0.1:7703", false),
            ],
            2
        )
        .is_ok());
        assert!(ok(
            &[
                p("listen", "127.0.0.1:0", true),
                p("resp-listen", "127.0.0.1:0", false),
                p("http-listen", "127.0.0.1:0", false),
            ],
            2
        )
        .is_ok());
        assert!(ok(
            &[
                p("listen", "127.0.0.1:7700", true),
                p("resp-listen", "127.0.0.2:7701", false),
            ],
            2
        )
        .is_ok());
        assert!(ok(
            &[
                Planned {
                    setting: "tls-listen",
                    addr: None,
                    per_core: true
                },
                p("listen", "127.0.0.1:7700", true),
            ],
            2
        )
        .is_ok());
    }
}
