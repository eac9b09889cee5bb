//! A connection's reads: stopping with the core, and clients that hold
//! the memory budget without sending (slowloris): a
//! connection whose buffer holds part of a frame larger than its base
//! buffer has borrowed budget for it. If it then sends nothing for
//! `stalled-frame-timeout-ms`, or for `PRESSURE_GRACE` while another
//! connection waits for budget, it is evicted and its bytes go back, so the
//! client that is sending gets them instead of being refused
//! (docs/operations.md, "Limits").

use std::pin::pin;
use std::time::{Duration, Instant};

use futures::future::{select, Either};
use futures::AsyncReadExt;

use super::core::Core;
use super::epoll::Stream;

/// How long a stalled holder keeps its bytes while another connection
/// waits for budget.
pub(crate) const PRESSURE_GRACE: Duration = Duration::from_millis(500);
/// How often a holder's read checks for a stall.
const TICK: Duration = Duration::from_millis(100);

/// What a read brought.
pub(crate) enum Read {
    Data(usize),
    /// The peer closed, the read failed, or the core is stopping.
    Closed,
    /// Stalled while holding budget: close the connection.
    Evicted,
}

/// Reads into `buf`; `None` when the peer closed, the read failed or the
/// core began shutting down.
pub(crate) async fn read_or_stop(
    core: &Core,
    stream: &mut Stream,
    buf: &mut [u8],
) -> Option<usize> {
    let read = pin!(stream.read(buf));
    let stop = pin!(core.shutdown().wait(false));
    match select(read, stop).await {
        Either::Left((Ok(n), _)) if n > 0 => Some(n),
        _ => None,
    }
}

/// Reads into `buf`. When `holding` (the connection borrowed budget for a
/// partial frame), gives up once the client has sent nothing since
/// `progress` for the configured timeout, or for `PRESSURE_GRACE` while
/// another connection waits for budget. With Redis's `timeout` set, a
/// client silent that long since `progress` is closed.
pub(crate) async fn read(
    core: &Core,
    stream: &mut Stream,
    buf: &mut [u8],
    holding: bool,
    progress: Instant,
) -> Read {
    let idle_limit = core.config().idle_timeout();
    if !holding && idle_limit.is_none() {
        return match read_or_stop(core, stream, buf).await {
            Some(n) => Read::Data(n),
            None => Read::Closed,
        };
    }
    let timeout = core.config().stalled_frame_timeout;
    let budget = core.config().memory_budget.clone();
    let mut read = pin!(stream.read(buf));
    loop {
        // A holder checks often; an idle client sleeps until its deadline.
        let wake = match (holding, idle_limit) {
            (true, _) => TICK,
            (false, Some(limit)) => limit.saturating_sub(progress.elapsed()),
            (false, None) => Duration::from_secs(86_400),
        };
        let stop = pin!(core.shutdown().wait(false));
        let tick = pin!(glommio::timer::sleep(wake));
        match select(read.as_mut(), select(stop, tick)).await {
            Either::Left((Ok(n), _)) if n > 0 => return Read::Data(n),
            Either::Left(_) => return Read::Closed,
            Either::Right((Either::Left(_), _)) => return Read::Closed,
            Either::Right((Either::Right(_), _)) => {
                let idle = progress.elapsed();
                if idle_limit.is_some_and(|limit| idle >= limit) {
                    return Read::Closed;
                }
                if !holding {
                    continue;
                }
                if idle >= timeout || (budget.under_pressure() && idle >= PRESSURE_GRACE) {
                    tracing::debug!(
                        core = core.id(),
                        "evicting a client that held budget for a partial frame and sent nothing for {} ms",
                        idle.as_millis()
                    );
                    core.stats().evicted_stalled();
                    return Read::Evicted;
                }
            }
        }
    }
}
