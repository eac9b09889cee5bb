//! Who may connect at all, decided when a connection is accepted
//! (docs/security.md): `maxclients` (the accept loop), each listener's
//! `allow-from` list, then protected mode (Redis's: with no password for
//! the default user, only loopback clients are served); and the one reply
//! that refuses a connection in its listener's protocol.

use std::net::IpAddr;

use ipnet::IpNet;

use super::core::Core;
use super::epoll::Stream;
use crate::codes::{ErrorCode, WireError};

/// What the accept loop does with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    Serve,
    /// Outside the listener's `allow-from` list.
    NotAllowed,
    /// Protected mode: not loopback, and the default user has no password.
    Protected,
}

/// Whether `ip` is this machine: 127.0.0.0/8, ::1, or an IPv4-mapped
/// loopback address.
pub(crate) fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The decision for a client at `peer`: `allow` is the listener's
/// `allow-from` list (empty: every address), `protected` the
/// `protected-mode` setting, `open` whether the default user needs no
/// password. A peer without an address (a unix socket) is local.
pub(crate) fn admit(peer: Option<IpAddr>, allow: &[IpNet], protected: bool, open: bool) -> Admit {
    let Some(ip) = peer else {
        return Admit::Serve;
    };
    // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    if !allow.is_empty() && !allow.iter().any(|n| n.contains(&ip)) {
        return Admit::NotAllowed;
    }
    if protected && open && !is_local(ip) {
        return Admit::Protected;
    }
    Admit::Serve
}

/// Redis's DENIED text, for Tessera's settings.
pub(crate) const PROTECTED_TEXT: &str = "Tessera is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Tessera you may adopt one of the following solutions: 1) Set up an authentication password for the default user (requirepass-file, docs/security.md). 2) Disable protected mode by setting 'protected-mode = false' in the configuration file (or starting with '--protected-mode no') and restarting the server, after making sure Tessera is not publicly accessible from the internet. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.";

/// The text for an address outside `allow-from`.
pub(crate) const NOT_ALLOWED_TEXT: &str =
    "this listener does not accept connections from your address (allow-from)";

/// What a listener speaks (the index of its `allow-from` list).
#[derive(Clone, Copy)]
pub(crate) enum Proto {
    Binary = 0,
    Resp = 1,
    Http = 2,
}

/// The reply that refuses a new connection (`net::admit`), or `None` to
/// serve it.
pub(crate) fn admission(core: &Core, stream: &Stream, proto: Proto) -> Option<Vec<u8>> {
    let cfg = core.config();
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    let allow = &cfg.allow_from[proto as usize];
    // The users are read only for a remote client under protected mode.
    let open =
        cfg.protected_mode && peer.is_some_and(|ip| !is_local(ip)) && cfg.acl.default_is_open();
    let text = match admit(peer, allow, cfg.protected_mode, open) {
        Admit::Serve => return None,
        Admit::NotAllowed => NOT_ALLOWED_TEXT,
        Admit::Protected => PROTECTED_TEXT,
    };
    tracing::debug!(core = core.id(), ?peer, "refused a connection: {text}");
    let e = WireError::new(ErrorCode::Denied, text);
    Some(refusal_bytes(proto, &e))
}

/// A refusal in the listener's protocol.
pub(crate) fn refusal_bytes(proto: Proto, e: &WireError) -> Vec<u8> {
    let mut out = Vec::new();
    match proto {
        Proto::Binary => crate::proto::encode_error(&mut out, 0, e),
        Proto::Resp => crate::proto::resp::encode_error(&mut out, e),
        Proto::Http => super::http::refusal(e, &mut out),
    }
    out
}

/// How long a refused TLS client has to finish its handshake and take
/// the refusal.
const REFUSAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Writes a refusal and closes the connection.
pub(crate) async fn refuse(mut stream: Stream, bytes: Vec<u8>) {
    let send = std::pin::pin!(stream.send(&bytes));
    let timeout = std::pin::pin!(glommio::timer::sleep(REFUSAL_TIMEOUT));
    let _ = futures::future::select(send, timeout).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn protected_mode_refuses_remote_clients_only_without_a_password() {
        for local in ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(admit(ip(local), &[], true, true), Admit::Serve, "{local}");
        }
        assert_eq!(
            admit(None, &[], true, true),
            Admit::Serve,
            "a unix socket is local"
        );
        for remote in ["10.0.0.7", "192.168.1.2", "2001:db8::1", "::ffff:10.0.0.7"] {
            assert_eq!(
                admit(ip(remote), &[], true, true),
                Admit::Protected,
                "{remote}"
            );
            assert_eq!(
                admit(ip(remote), &[], true, false),
                Admit::Serve,
                "a password opens it"
            );
            assert_eq!(
                admit(ip(remote), &[], false, true),
                Admit::Serve,
                "protected-mode no"
            );
        }
    }

    #[test]
    fn allow_from_lists_networks_of_either_family() {
        let allow: Vec<IpNet> = ["10.1.0.0/16", "2001:db8::/32", "127.0.0.1/32"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(admit(ip("10.1.2.3"), &allow, false, true), Admit::Serve);
        assert_eq!(
            admit(ip("::ffff:10.1.2.3"), &allow, false, true),
            Admit::Serve
        );
        assert_eq!(admit(ip("2001:db8::5"), &allow, false, true), Admit::Serve);
        assert_eq!(
            admit(ip("10.2.0.1"), &allow, false, true),
            Admit::NotAllowed
        );
        assert_eq!(
            admit(ip("127.0.0.2"), &allow, false, true),
            Admit::NotAllowed
        );
        // The list first, then protected mode.
        assert_eq!(admit(ip("10.1.2.3"), &allow, true, true), Admit::Protected);
        assert_eq!(admit(ip("10.1.2.3"), &allow, true, false), Admit::Serve);
    }
}
