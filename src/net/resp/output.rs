//! A RESP connection's writes under `client-output-buffer-limit`
//! (docs/operations.md, "Limits"): a write that waits on a subscriber that
//! does not read ends once its messages pass the limit.

use std::time::Instant;

use super::{State, Stream};
use crate::net::core::Core;
use crate::net::pubsub::Mailbox;

/// How a write ended.
pub(super) enum Sent {
    Done,
    /// The subscriber's messages passed its output buffer limit meanwhile.
    Overflow,
}

/// Writes `out`; for a subscriber, gives up as soon as the messages
/// arriving meanwhile pass its output buffer limit, so a subscriber that
/// never reads is closed instead of held.
pub(super) async fn send_watching(
    stream: &mut Stream,
    out: &[u8],
    mailbox: Option<&Mailbox>,
) -> std::io::Result<Sent> {
    use futures::future::{select, Either};
    let Some(mb) = mailbox else {
        return stream.send(out).await.map(|()| Sent::Done);
    };
    mb.writing(out.len());
    let send = std::pin::pin!(stream.send(out));
    let over = std::pin::pin!(mb.overflow.wait(false));
    let r = match select(send, over).await {
        Either::Left((r, _)) => r.map(|()| Sent::Done),
        Either::Right(_) => Ok(Sent::Overflow),
    };
    mb.writing(0);
    r
}

/// The class whose output buffer limit the client passed, if any: a
/// subscriber's mailbox overflowed, or the replies about to be written
/// pass the normal class's limits.
pub(super) fn over_limit(
    st: &State,
    limits: &crate::outbuf::OutputLimits,
    since: &std::cell::Cell<Option<Instant>>,
    out: &[u8],
) -> Option<&'static str> {
    match &st.mailbox {
        Some(m) if st.subscriptions() > 0 => m.overflowed.get().then_some("pubsub"),
        // The default (`normal 0 0 0`) costs no clock read.
        _ if limits.normal == Default::default() => None,
        _ => limits
            .normal
            .exceeded(out.len(), since, Instant::now())
            .then_some("normal"),
    }
}

/// Logs and counts a client closed for its output buffer limit.
pub(super) fn overflowed(core: &Core, client: u64, class: &str) {
    tracing::info!(
        core = core.id(),
        client,
        "client closed for passing client-output-buffer-limit {class}"
    );
    core.stats().output_limit_closed();
}
