//! Core 0's reconciliation of the node's replication role with the
//! cluster map (docs/cluster.md, "Failover"): follow the primary the map
//! names, promote when the map makes this node its shard's primary, and
//! keep a former primary's data until its successor has caught up from it.

use std::rc::Rc;
use std::time::Duration;

use super::cluster::Routes;
use super::Core;
use crate::proto::Request;
use crate::repl::CoreRole;

/// How often core 0 compares the node's replication role with the map.
const RECONCILE_EVERY: Duration = Duration::from_millis(100);

/// Core 0, in cluster mode: makes the node follow the primary the map
/// gives it (through the same REPLICAOF every operator can run).
pub async fn reconcile_loop(core: Rc<Core>) {
    let Some(cl) = core.cluster() else {
        return;
    };
    let mut applied = u64::MAX;
    // The primary whose slot layout was compared with this node's last.
    let mut layout_checked: Option<String> = None;
    loop {
        let routes = cl.routes();
        let version = cl.controller().published().version();
        let want = routes.my_primary().map(|p| p.binary.clone());
        let now = core.repl().role();
        // A primary the map just made a replica keeps its data until the
        // new primary has caught up from it (`promote` reads this node's
        // log): following first could copy the new primary's shorter log
        // over the writes only this node has.
        let hold = match (&want, &now) {
            (Some(p), CoreRole::Primary) if version != applied => {
                !matches!(crate::repl::role::query_status(p).await, Ok(s) if s.primary)
            }
            _ => false,
        };
        if version != applied && !hold {
            let (action, arg, what) = match (&want, &now) {
                (Some(p), CoreRole::Replica(a)) if a.to_string() == *p => (None, Vec::new(), ""),
                (Some(p), _) => (
                    Some(crate::repl::node::REPLICAOF),
                    p.as_bytes().to_vec(),
                    "a replica of",
                ),
                // The map made this replica its shard's primary (a
                // failover): promote, catching up from the shard's other
                // replicas first. `force`: the controller already decided,
                // and the old primary is gone.
                (None, CoreRole::Replica(_)) if routes.my_node().is_some() => {
                    // A manual promotion of a live shard: wait out the old
                    // primary's write lease first, unless every other node
                    // of the shard confirms it has applied the new map.
                    let fence = routes
                        .my_node()
                        .and_then(|n| routes.map.shards.get(&n.shard))
                        .map_or(0, |s| s.fence_ms);
                    if fence > 0 {
                        wait_out_old_primary(&routes, Duration::from_millis(fence)).await;
                        // The old primary is alive: the promotion catches up
                        // from it too (a replica only knows its primary's
                        // other replicas). After a failover it is silent,
                        // and asking it would only delay the promotion.
                        crate::repl::node::learn_peers(&*core, shard_others(&routes), true).await;
                    }
                    (
                        Some(crate::repl::node::PROMOTE),
                        b"force".to_vec(),
                        "the primary, promoted from",
                    )
                }
                _ => (None, Vec::new(), ""),
            };
            let replicaof = action == Some(crate::repl::node::REPLICAOF);
            if replicaof && layout_checked != want {
                match adopt_primary_layout(&core, want.as_deref().unwrap_or_default()).await {
                    // Restarting: the old layout takes no role.
                    Some(true) => {
                        core.shutdown().wait(false).await;
                        return;
                    }
                    Some(false) => layout_checked = want.clone(),
                    // The primary did not answer: compared again next time.
                    None => {}
                }
            }
            match action {
                None => {
                    // Already a replica (a restart): the writes log knows.
                    if matches!(now, CoreRole::Replica(_)) {
                        cl.controller().published().set_replica(true);
                    }
                    applied = version
                }
                Some(a) => {
                    tracing::info!(
                        "cluster: the map (epoch {}) makes this node {what} {}",
                        routes.map.epoch,
                        want.as_deref().unwrap_or("a replica")
                    );
                    // The writes log (`Published::set_replica`) says a
                    // promoted node admits writes from just before its
                    // promotion, and a demoted one none from just after.
                    let published = cl.controller().published();
                    let promote = a == crate::repl::node::PROMOTE;
                    if promote {
                        published.set_replica(false);
                    }
                    match crate::repl::role::request(&*core, a, &arg).await {
                        Ok(_) => {
                            applied = version;
                            if replicaof {
                                published.set_replica(true);
                            }
                        }
                        Err(e) => {
                            if promote {
                                published.set_replica(true);
                            }
                            tracing::warn!("cluster: role change not done yet: {}", e.message)
                        }
                    }
                }
            }
        }
        let stop = std::pin::pin!(core.shutdown().wait(false));
        let tick = std::pin::pin!(glommio::timer::sleep(RECONCILE_EVERY));
        if let futures::future::Either::Left(_) = futures::future::select(stop, tick).await {
            return;
        }
    }
}

/// An empty node that the map makes a replica of a primary laying the
/// slots out otherwise (the same partition count, but contiguous ranges
/// against interleaved: an adopted single node keeps its ranges) takes the
/// primary's layout: a new MANIFEST, then a restart in place to open it
/// (docs/cluster.md, "Data placement inside a node"). Whether it asked for
/// the restart, or `None` to look again later (the primary did not
/// answer, or counting the keys or writing the MANIFEST failed). A node holding keys keeps its layout, and REPLICAOF
/// says why it cannot follow.
async fn adopt_primary_layout(core: &Core, primary: &str) -> Option<bool> {
    use crate::proto::{SlotLayout, Topology};
    use crate::shard::{Layout, Manifest, SlotRange};
    let Ok(addr) = primary.parse::<std::net::SocketAddr>() else {
        return Some(false);
    };
    let h = glommio::executor()
        .spawn_blocking(move || crate::repl::primary_hello(addr))
        .await
        .ok()?;
    // Unlike in partition count: REPLICAOF says so.
    let ours = core.topo();
    if h.partitions() != ours.partitions()
        || Topology::from_hello(&h).is_ok_and(|t| t.same_layout(ours))
    {
        return Some(false);
    }
    match super::migrate::slot_keys(core, true).await {
        Ok(k) if k.is_empty() => {}
        Ok(k) => {
            tracing::warn!(
                "cluster: this node holds {} key(s), so it keeps its slot layout, and its primary {primary} lays the slots out otherwise: it cannot follow it",
                k.values().sum::<u64>()
            );
            return Some(false);
        }
        Err(e) => {
            tracing::warn!("cluster: cannot count this node's keys: {}", e.message);
            return None;
        }
    }
    let (layout, name) = match &h.layout {
        SlotLayout::Ranges(r) => (
            Layout::Ranges(
                r.iter()
                    .map(|&(start, end)| SlotRange { start, end })
                    .collect(),
            ),
            "contiguous ranges",
        ),
        SlotLayout::Interleaved(_) => (Layout::Interleaved, "interleaved"),
    };
    let dir = core.config.data_dir.clone();
    let written = glommio::executor()
        .spawn_blocking(move || {
            let m = Manifest {
                layout,
                ..Manifest::read_from(&dir)?
            };
            m.validate()?;
            m.write_to(&dir)
        })
        .await;
    match written {
        Ok(()) => {
            tracing::info!(
                "cluster: this empty node takes its primary {primary}'s slot layout ({name}) and restarts to open it"
            );
            crate::net::restart::request_restart(format!(
                "the slot layout of the primary {primary}"
            ));
            Some(true)
        }
        Err(e) => {
            tracing::warn!("cluster: cannot take the primary {primary}'s slot layout: {e}");
            None
        }
    }
}

/// The binary addresses of the other nodes of this node's shard.
fn shard_others(routes: &Routes) -> Vec<String> {
    routes
        .my_node()
        .and_then(|n| routes.map.shards.get(&n.shard))
        .map(|s| {
            std::iter::once(&s.primary)
                .chain(&s.replicas)
                .filter(|&&id| id != routes.me)
                .filter_map(|id| routes.map.nodes.get(id).map(|n| n.binary.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// A new primary's wait after a manual promotion of a live shard: until
/// every other node of its shard answers (STATUS) with a map at least this
/// new, then a short margin for the writes the old primary admitted just
/// before to commit (the promotion then catches up from it); or the whole
/// `lease` when one does not answer (it may be cut off and still believe
/// it is the primary until its lease runs out).
async fn wait_out_old_primary(routes: &Routes, lease: Duration) {
    const MARGIN: Duration = Duration::from_millis(50);
    let deadline = std::time::Instant::now() + lease;
    let epoch = routes.map.epoch;
    let others = shard_others(routes);
    let ask = |a: String| async move {
        let addr: std::net::SocketAddr = a.parse().ok()?;
        let c = crate::client::Client::connect_direct(addr).await.ok()?;
        let body = c
            .call(&Request::Cluster {
                action: tessera_cluster::net::STATUS,
                body: b"",
            })
            .await
            .ok()?;
        let st: tessera_cluster::Status = serde_json::from_slice(&body).ok()?;
        Some(st.map.epoch >= epoch)
    };
    let mut waiting = others;
    while !waiting.is_empty() && std::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for a in waiting {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let stop = std::pin::pin!(glommio::timer::sleep(left));
            let asked = std::pin::pin!(ask(a.clone()));
            if !matches!(
                futures::future::select(asked, stop).await,
                futures::future::Either::Left((Some(true), _))
            ) {
                still.push(a);
            }
        }
        waiting = still;
        if !waiting.is_empty() {
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
    }
    let confirmed = waiting.is_empty();
    let until = match confirmed {
        true => (std::time::Instant::now() + MARGIN).min(deadline),
        false => deadline,
    };
    let left = until.saturating_duration_since(std::time::Instant::now());
    glommio::timer::sleep(left).await;
}
