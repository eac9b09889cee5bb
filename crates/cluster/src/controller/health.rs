//! Failure detection, failover and write leases (docs/cluster.md): every
//! node asks the controller's leader for its write lease (`lease_loop`);
//! the leader marks nodes it has not heard from as failed and fails their
//! shards over (`health_loop`, `Controller::fail_over`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use tessera_wire::Request;

use super::{Controller, LeaseRequest, ReaddressRequest};
use crate::map::{Change, ClusterMap, Health};
use crate::net::{call, call_request, LEASE, PUBLISH, READDRESS, RPC_FORMAT};

/// The leader's side of failure detection. Every node asks the leader for
/// its write lease every `ping_every` (`lease_loop`); a node not heard from
/// for the node timeout is marked failed, and a failed primary's shard is
/// failed over to its most advanced live replica. A primary's lease ends
/// three quarters of a node timeout after the last request it sent that
/// was granted, so it has stopped taking writes before its shard can be
/// failed over. Runs on every node and acts only while that node leads.
pub(super) async fn health_loop(ctl: std::sync::Weak<Controller>) {
    let mut conns: Conns = HashMap::new();
    while let Some(c) = tick(&ctl).await {
        let m = c.raft.metrics().borrow().clone();
        let now = Instant::now();
        let heard = {
            let mut h = c.heard.lock().unwrap_or_else(|p| p.into_inner());
            if m.state != ServerState::Leader {
                *h = (HashMap::new(), None);
                continue;
            }
            // A new leader gives every node a full timeout from now.
            let since = *h.1.get_or_insert(now);
            h.0.insert(c.shared.me, now);
            (h.0.clone(), since)
        };
        let map = c.store.map();
        if !map.formed() {
            continue;
        }
        let timeout = Duration::from_millis(c.timings.node_timeout_ms);
        let last = |id: &u64| heard.0.get(id).copied().unwrap_or(heard.1);
        let dead =
            |id: &u64| !super::may_be_alive(heard.0.get(id).copied(), Some(heard.1), now, timeout);
        if let Some(shard) = map.shards.values().find(|s| dead(&s.primary)) {
            let since = now.duration_since(last(&shard.primary));
            c.fail_over(&map, shard.id, &dead, &mut conns, since).await;
            // One map change per round: the next round sees its result.
            continue;
        }
        // A dead voter is replaced by a live learner (the dead one stays a
        // learner and can vote again once a later change picks it).
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        if membership.get_joint_config().len() == 1 {
            if let (Some(gone), Some(spare)) = (
                voters.iter().find(|v| dead(v)),
                membership.learner_ids().find(|l| !dead(l)),
            ) {
                let mut next = voters.clone();
                next.remove(gone);
                next.insert(spare);
                tracing::warn!("cluster: replacing dead controller voter {gone:x} with {spare:x}");
                if let Err(e) = c.raft.change_membership(next, true).await {
                    tracing::warn!("cluster: cannot replace voter {gone:x}: {e}");
                }
                continue;
            }
        }
        for n in map.nodes.values() {
            let is_primary = map.shards.get(&n.shard).is_some_and(|s| s.primary == n.id);
            let want = if dead(&n.id) {
                Health::Failed
            } else {
                Health::Up
            };
            // A dead primary is failed over above (its health goes with it).
            if want != n.health && !(is_primary && want == Health::Failed) {
                let r = c
                    .raft
                    .client_write(Change::SetHealth {
                        node: n.id,
                        health: want,
                    })
                    .await;
                if let Err(e) = r {
                    tracing::warn!("cluster: cannot record {}'s health: {e}", n.name);
                }
                break;
            }
        }
    }
}

/// Every node: asks the controller's leader to confirm its map every
/// `ping_every`; a granted answer starts the write lease at the time the
/// request was sent. The leader confirms its own leadership with a quorum
/// round trip instead.
pub(super) async fn lease_loop(ctl: std::sync::Weak<Controller>) {
    // The kept connection to the leader; a request that finds it busy (a
    // slow answer still pending) opens its own, so one slow answer never
    // delays the next request.
    let kept: Arc<tokio::sync::Mutex<(u64, Option<crate::net::Link>)>> = Arc::default();
    while let Some(c) = tick(&ctl).await {
        let every = c.timings.ping_every();
        let map = c.store.map();
        if !map.formed() {
            continue;
        }
        let sent = c.now_ms();
        let leader = c.raft.metrics().borrow().current_leader;
        let Some(l) = leader else { continue };
        if l == c.shared.me {
            let c = c.clone();
            tokio::spawn(async move {
                let ok = tokio::time::timeout(every * 4, c.raft.ensure_linearizable()).await;
                if matches!(ok, Ok(Ok(_))) {
                    c.renew_lease(sent);
                }
            });
            continue;
        }
        let Some(addr) = map.nodes.get(&l).map(|n| n.binary.clone()) else {
            continue;
        };
        let body = serde_json::to_vec(&LeaseRequest {
            format: RPC_FORMAT,
            from: c.shared.me,
            epoch: map.epoch,
        })
        .unwrap_or_default();
        let kept = kept.clone();
        tokio::spawn(async move {
            let mut own = None;
            let mut guard = kept.try_lock().ok();
            let conn = match guard.as_mut() {
                Some(g) => {
                    if g.0 != l {
                        **g = (l, None);
                    }
                    &mut g.1
                }
                None => &mut own,
            };
            let r = tokio::time::timeout(every * 4, call(conn, &addr, LEASE, &body)).await;
            match r {
                Ok(Ok(Ok(b))) if b.as_slice() == b"true" => c.renew_lease(sent),
                Ok(Ok(_)) => {}
                _ => *conn = None,
            }
        });
    }
}

/// A node restarted on other addresses than the map lists (ephemeral ports,
/// a moved host), or with another slot layout (an empty replica that took
/// its primary's), asks for the map to record them: through its own
/// controller (which forwards to the leader it knows), or else through each
/// other node in turn (the others cannot reach it at the old address, so it
/// may not know the leader). Runs on every node; does nothing while the map
/// lists this node's addresses.
pub(super) async fn readdress_loop(ctl: std::sync::Weak<Controller>) {
    let mut tries = 0u64;
    while let Some(c) = tick(&ctl).await {
        let map = c.store.map();
        let (Some(listed), Some(cluster_id)) = (map.nodes.get(&c.shared.me), c.shared.cluster_id())
        else {
            continue;
        };
        let me = &c.me;
        if (
            &listed.binary,
            &listed.resp,
            &listed.http,
            &listed.core_ports,
            listed.interleaved,
        ) == (
            &me.binary,
            &me.resp,
            &me.http,
            &me.core_ports,
            me.interleaved,
        ) {
            tries = 0;
            continue;
        }
        let body = serde_json::to_vec(&ReaddressRequest {
            format: RPC_FORMAT,
            cluster_id,
            node: me.clone(),
        })
        .unwrap_or_default();
        // Here first; then one other node per round, in turn.
        let others: Vec<&str> = map
            .nodes
            .values()
            .filter(|n| n.id != c.shared.me)
            .map(|n| n.binary.as_str())
            .collect();
        let r = match tries as usize % (others.len() + 1) {
            0 => c.request(READDRESS, body).await.map(|_| ()),
            i => {
                let mut conn = None;
                let wait = c.timings.ping_every() * 8;
                match tokio::time::timeout(wait, call(&mut conn, others[i - 1], READDRESS, &body))
                    .await
                {
                    Ok(Ok(Ok(_))) => Ok(()),
                    Ok(Ok(Err(e))) => Err(super::refused(e)),
                    Ok(Err(e)) => Err(super::refused(e.to_string())),
                    Err(_) => Err(super::refused(format!("{} did not answer", others[i - 1]))),
                }
            }
        };
        tries += 1;
        match r {
            Ok(()) => tracing::info!(
                "cluster: the map now lists this node at {} (was {})",
                me.binary,
                listed.binary
            ),
            Err(e) if tries % 16 == 1 => {
                tracing::warn!("cluster: cannot record this node's new addresses yet: {e}")
            }
            Err(_) => {}
        }
    }
}

/// Sleeps one `ping_every`; the controller, unless it is gone.
async fn tick(ctl: &std::sync::Weak<Controller>) -> Option<Arc<Controller>> {
    let every = ctl.upgrade()?.timings.ping_every();
    tokio::time::sleep(every).await;
    ctl.upgrade()
}

type Conns = HashMap<u64, Arc<tokio::sync::Mutex<Option<crate::net::Link>>>>;

impl Controller {
    /// Fails `shard` over: promotes its live replica with the most write
    /// batches applied (ROLE status positions, as `promote` compares them;
    /// the promoted node then catches up from its peers before it takes
    /// writes) through a map change.
    async fn fail_over(
        &self,
        map: &ClusterMap,
        shard: u32,
        dead: &(dyn Fn(&u64) -> bool + Sync),
        conns: &mut Conns,
        silent_for: Duration,
    ) {
        let Some(s) = map.shards.get(&shard) else {
            return;
        };
        let mut best: Option<(u64, u64)> = None;
        for r in s.replicas.iter().filter(|r| !dead(r)) {
            let Some(n) = map.nodes.get(r) else { continue };
            let conn = conns.entry(*r).or_default().clone();
            let mut g = conn.lock().await;
            let status = Request::Role {
                action: 0,
                arg: b"",
            };
            let Ok(Ok(Ok(text))) = tokio::time::timeout(
                Duration::from_secs(2),
                call_request(&mut g, &n.binary, &status),
            )
            .await
            else {
                continue;
            };
            let applied = applied_batches(&String::from_utf8_lossy(&text));
            if best.is_none_or(|(_, b)| applied > b) {
                best = Some((*r, applied));
            }
        }
        let Some((new_primary, applied)) = best else {
            tracing::warn!(
                "cluster: the primary of shard {shard} is not answering and no replica of it is; its slots are down"
            );
            return;
        };
        tracing::warn!(
            "cluster: the primary of shard {shard} has not answered for {} ms; promoting {new_primary:x} ({applied} batches applied)",
            silent_for.as_millis()
        );
        match self
            .raft
            .client_write(Change::Failover {
                shard,
                new_primary,
                epoch: map.epoch,
                fence_ms: 0,
            })
            .await
        {
            Ok(r) if r.data.is_ok() => {
                self.failovers.fetch_add(1, Ordering::Relaxed);
                self.last_failover_ms
                    .store(silent_for.as_millis() as u64, Ordering::Relaxed);
            }
            Ok(r) => tracing::warn!("cluster: failover of shard {shard} refused: {:?}", r.data),
            Err(e) => tracing::warn!("cluster: failover of shard {shard} not committed: {e}"),
        }
    }
}

/// The write batches a node applied, summed over its partitions, from its
/// ROLE status lines (`partitionN:TERM:NODE:INDEX`).
fn applied_batches(status: &str) -> u64 {
    status
        .lines()
        .filter(|l| l.starts_with("partition"))
        .filter_map(|l| l.rsplit(':').next()?.parse::<u64>().ok())
        .sum()
}

/// Relays PUBLISH messages to every other node, one message after another
/// so each node delivers them in publication order.
pub(super) async fn relay_loop(
    ctl: std::sync::Weak<Controller>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(Vec<u8>, Vec<u8>)>,
) {
    let mut conns: HashMap<u64, Option<crate::net::Link>> = HashMap::new();
    while let Some((channel, message)) = rx.recv().await {
        let Some(c) = ctl.upgrade() else { return };
        let map = c.store.map();
        let mut body = Vec::with_capacity(channel.len() + message.len() + 8);
        tessera_wire::codec::put_bytes(&mut body, &channel);
        tessera_wire::codec::put_bytes(&mut body, &message);
        for n in map.nodes.values().filter(|n| n.id != c.shared.me) {
            let conn = conns.entry(n.id).or_default();
            let r = tokio::time::timeout(
                Duration::from_secs(1),
                call(conn, &n.binary, PUBLISH, &body),
            )
            .await;
            if !matches!(r, Ok(Ok(Ok(_)))) {
                *conn = None;
            }
        }
    }
}
