//! The replica side of a partition stream (docs/replication.md): the core
//! owning a partition pulls the primary's write batches after its position
//! and applies them, each atomically with the position it reaches.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::core::Core;
use crate::client::{Client, ClientError};
use crate::proto::codec::Reader;
use crate::proto::Request;
use crate::repl::StreamState;
use crate::shard::partition::Updates;
use crate::shard::Partition;

/// Bytes of batches asked for per pull.
const PULL_BYTES: u32 = 4 << 20;
/// Wait between pulls that found nothing new.
const IDLE: Duration = Duration::from_millis(2);
/// Wait before reconnecting to an unreachable primary.
const RETRY: Duration = Duration::from_millis(500);

fn set_state(core: &Core, p: u32, f: impl FnOnce(&mut StreamState)) {
    f(core.repl.borrow_mut().entry(p).or_default());
}

/// Sleeps, or returns `false` at once when the core is shutting down.
async fn pause(core: &Core, d: Duration) -> bool {
    let stop = std::pin::pin!(core.shutdown.wait(false));
    let sleep = std::pin::pin!(glommio::timer::sleep(d));
    matches!(
        futures::future::select(sleep, stop).await,
        futures::future::Either::Left(_)
    )
}

/// Follows partition `part` of `primary` until the core stops.
pub async fn follow(core: Rc<Core>, part: Rc<Partition>, primary: SocketAddr) {
    let p = part.id();
    let mut pos = match part.repl_position() {
        Ok(pos) => pos,
        Err(e) => {
            tracing::error!(partition = p, "cannot read the replication position: {e}");
            set_state(&core, p, |s| s.state = format!("stopped: {e}"));
            return;
        }
    };
    set_state(&core, p, |s| {
        s.position = pos;
        s.state = "connecting".into();
    });
    tracing::info!(partition = p, position = pos, "following {primary}");
    let me = core.node_id();
    while !core.shutdown.is_set() {
        let client = match Client::connect(primary).await {
            Ok(c) => c,
            Err(e) => {
                set_state(&core, p, |s| s.state = format!("connecting: {e}"));
                if !pause(&core, RETRY).await {
                    return;
                }
                continue;
            }
        };
        set_state(&core, p, |s| s.state = "tailing".into());
        loop {
            if core.shutdown.is_set() {
                return;
            }
            let req = Request::Pull {
                partition: p,
                after: pos,
                max_bytes: PULL_BYTES,
                node: me,
            };
            let body = match client.call(&req).await {
                Ok(b) => b,
                Err(ClientError::Server(e)) => {
                    // The WAL no longer reaches back: a full sync is needed
                    // (not built yet); the stream stops and says so.
                    tracing::error!(partition = p, "replication stopped: {}", e.message);
                    set_state(&core, p, |s| s.state = format!("stopped: {}", e.message));
                    return;
                }
                Err(e) => {
                    tracing::warn!(partition = p, "lost the primary {primary}: {e}");
                    set_state(&core, p, |s| s.state = format!("connecting: {e}"));
                    break;
                }
            };
            let mut r = Reader::new(&body);
            let parsed = (|| -> Result<Updates, crate::proto::Error> {
                let latest = r.u64("latest")?;
                let n = r.count("batches", 12)?;
                let mut batches = Vec::with_capacity(n);
                for _ in 0..n {
                    batches.push((r.u64("sequence")?, r.bytes("batch")?.to_vec()));
                }
                Ok(Updates { latest, batches })
            })();
            let Updates { latest, batches } = match parsed {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(partition = p, "bad PULL reply from {primary}: {e}");
                    break;
                }
            };
            if batches.is_empty() {
                set_state(&core, p, |s| s.primary_latest = latest);
                if !pause(&core, IDLE).await {
                    return;
                }
                continue;
            }
            match glommio::executor()
                .spawn_blocking(part.apply_fn(batches))
                .await
            {
                Ok(new) => {
                    pos = new;
                    set_state(&core, p, |s| {
                        s.position = pos;
                        s.primary_latest = latest.max(pos);
                    });
                }
                Err(e) => {
                    tracing::error!(partition = p, "applying replicated writes failed: {e}");
                    set_state(&core, p, |s| s.state = format!("stopped: {e}"));
                    return;
                }
            }
        }
        if !pause(&core, RETRY).await {
            return;
        }
    }
}
