//! A core's accept loops: each accepted connection is registered with
//! the core's poller (through TLS on a TLS listener), admitted or refused
//! (`net::admit`), then served by its protocol's connection loop.

use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{select, Either};
use glommio::net::TcpListener;
use glommio::sync::Gate;

use super::admit::{admission, refusal_bytes, refuse, Proto};
use super::core::Core;
use super::{conn, http, resp};

/// Accepts connections on one listener until the core stops, and serves
/// each in the listener's protocol (or refuses it: `net::admit`).
pub(super) async fn accept_loop(
    core: Rc<Core>,
    listener: TcpListener,
    gate: Gate,
    proto: Proto,
    tls: bool,
) {
    loop {
        let accepted = {
            let accept = pin!(listener.accept());
            let stop = pin!(core.shutdown().wait(false));
            match select(accept, stop).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return,
            }
        };
        match accepted {
            Ok(stream) => {
                let stream = match adopt(&core, stream, tls) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(core = core.id(), "registering a connection failed: {e}");
                        continue;
                    }
                };
                let c = core.clone();
                let slot = core.config().clients.admit();
                let refusal = match &slot {
                    Some(_) => admission(&core, &stream, proto),
                    None => Some(refusal_bytes(
                        proto,
                        &crate::codes::WireError::of(crate::codes::ErrorCode::MaxClients),
                    )),
                };
                let spawned = match (refusal, proto) {
                    (Some(bytes), _) => gate.spawn(refuse(stream, bytes)),
                    (None, Proto::Binary) => gate.spawn(async move {
                        let _slot = slot;
                        conn::serve(c, stream).await
                    }),
                    (None, Proto::Http) => gate.spawn(async move {
                        let _slot = slot;
                        http::serve(c, stream).await
                    }),
                    (None, Proto::Resp) => gate.spawn(async move {
                        let _slot = slot;
                        resp::serve(c, stream).await
                    }),
                };
                match spawned {
                    Ok(t) => {
                        t.detach();
                    }
                    Err(_) => return,
                }
            }
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(core = core.id(), "accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Registers an accepted connection with the core's poller, through TLS
/// on a TLS listener (with the configuration current now).
fn adopt(
    core: &Core,
    stream: glommio::net::TcpStream,
    tls: bool,
) -> std::io::Result<super::epoll::Stream> {
    let mut s = super::epoll::Stream::adopt(core.poller(), stream)?;
    if tls {
        let config = core.config().tls.as_ref().map(|t| t.config());
        s.start_tls(config.ok_or_else(|| std::io::Error::other("TLS is not configured"))?)?;
    }
    Ok(s)
}
