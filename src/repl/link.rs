//! What both ends of a replication stream share: how long they wait, and
//! the bounded wait itself. The serving side (`serve`), the
//! following side (`follow`) and roles (`role`) use these;
//! none of those three reaches into another for them.

use std::time::Duration;

/// An idle full-sync session is dropped after this long.
pub const SYNC_IDLE: Duration = Duration::from_secs(60);

/// How long a caught-up replica's PULL waits for the next commit.
pub const LONG_POLL: Duration = Duration::from_millis(100);

/// Runs `f` with a deadline: `None` when `d` passed first.
pub async fn timed<T>(d: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    let f = std::pin::pin!(f);
    let t = std::pin::pin!(glommio::timer::sleep(d));
    match futures::future::select(f, t).await {
        futures::future::Either::Left((v, _)) => Some(v),
        futures::future::Either::Right(_) => None,
    }
}

/// The argument of ROLE action APPLY: the action's kind, then its bytes.
pub fn apply_arg(kind: u8, rest: &[u8]) -> Vec<u8> {
    let mut a = vec![kind];
    a.extend_from_slice(rest);
    a
}
