//! Map changes the controller's leader makes on request: a manual
//! promotion, a node's new addresses, nodes added and removed. A follower
//! forwards each to the leader (`on_leader`); the leader commits through
//! the log with a bounded wait (`commit`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::{BasicNode, ChangeMembers, ServerState};

use super::{parse, refused, Controller, IdentityReply, ReaddressRequest, MAX_VOTERS};
use crate::map::{Change, NodeInfo};
use crate::net::{call, ADD_NODE, IDENTITY, PROMOTE, READDRESS, REMOVE_NODE};
use crate::Error;

impl Controller {
    /// Promotes `node` to its shard's primary through the map (a manual
    /// promotion); on a follower, asks the leader. When the old primary is
    /// alive, the new one waits out its write lease before taking writes
    /// (`fence_ms`), so the two never both take writes.
    pub(super) async fn promote(&self, node: u64, body: &[u8]) -> Result<u64, Error> {
        if let Some(answer) = self.on_leader(PROMOTE, body).await {
            return answer;
        }
        let map = self.store.map();
        let n = map
            .nodes
            .get(&node)
            .ok_or_else(|| refused(format!("node {node:x} is not in the cluster")))?;
        let shard = map
            .shards
            .get(&n.shard)
            .ok_or_else(|| refused("the node's shard is missing from the map"))?;
        if shard.primary == node {
            return Err(refused(format!(
                "{} is already its shard's primary",
                n.name
            )));
        }
        let alive = self.heard_recently(shard.primary);
        let fence_ms = if alive { self.timings.lease_ms() } else { 0 };
        self.commit(
            "the promotion",
            Change::Failover {
                shard: shard.id,
                new_primary: node,
                epoch: map.epoch,
                fence_ms,
            },
        )
        .await
    }

    /// `None` on the leader; elsewhere the leader's answer to `action`
    /// with `body` (forwarded), or why there is none.
    pub(super) async fn on_leader(&self, action: u8, body: &[u8]) -> Option<Result<u64, Error>> {
        let m = self.raft.metrics().borrow().clone();
        if m.state == ServerState::Leader {
            return None;
        }
        let Some(leader) = m.current_leader else {
            return Some(Err(refused(
                "the controller has no leader (no quorum): the map cannot change now",
            )));
        };
        let Some(addr) = self
            .store
            .map()
            .nodes
            .get(&leader)
            .map(|n| n.binary.clone())
        else {
            return Some(Err(refused("the controller's leader is not in the map")));
        };
        let mut conn = None;
        let wait = Duration::from_millis(self.timings.node_timeout_ms * 2);
        let answer = match tokio::time::timeout(wait, call(&mut conn, &addr, action, body)).await {
            Ok(a) => a,
            Err(_) => {
                return Some(Err(refused(format!(
                    "the controller's leader {addr} did not answer within {wait:?}"
                ))))
            }
        };
        Some(match answer {
            Ok(Ok(b)) => {
                serde_json::from_slice(&b).map_err(|e| refused(format!("leader's answer: {e}")))
            }
            Ok(Err(e)) => Err(refused(e)),
            Err(e) => Err(refused(format!(
                "cannot reach the controller's leader {addr}: {e}; the map cannot change until a majority of the voters can reach each other"
            ))),
        })
    }

    /// Commits `change` through the log, answering within twice the node
    /// timeout: a leader cut off from its quorum cannot commit, and says so
    /// instead of waiting for the quorum to return.
    pub(super) async fn commit(&self, what: &str, change: Change) -> Result<u64, Error> {
        self.commit_in_order(what, vec![change]).await
    }

    /// Commits `changes` as consecutive log entries, each submitted without
    /// waiting for the one before to commit (openraft keeps their order);
    /// the last one's answer, or the first refusal. Same bounded wait as
    /// [`Self::commit`].
    pub(super) async fn commit_in_order(
        &self,
        what: &str,
        changes: Vec<Change>,
    ) -> Result<u64, Error> {
        let not = |e: &dyn std::fmt::Display| refused(format!("{what} was not committed: {e}"));
        let all = async {
            let mut answers = Vec::with_capacity(changes.len());
            for c in changes {
                answers.push(self.raft.client_write_ff(c).await.map_err(|e| not(&e))?);
            }
            let mut last = Err(not(&"nothing to commit"));
            for a in answers {
                let r = a
                    .await
                    .map_err(|_| not(&"the controller stopped"))?
                    .map_err(|e| not(&e))?;
                last = Ok(r.data.map_err(refused)?);
            }
            last
        };
        let wait = Duration::from_millis(self.timings.node_timeout_ms * 2);
        tokio::time::timeout(wait, all).await.map_err(|_| {
            refused(format!(
                "{what} was not committed within {wait:?}: this leader cannot reach a majority of the voters (it may still take effect if they return: check tessera cluster status)"
            ))
        })?
    }

    /// Records a node's new addresses (READDRESS), on the leader: after
    /// checking that the node answering at the new binary address is that
    /// node of this cluster, the controller's membership (where Raft
    /// messages go) and then the map change.
    pub(super) async fn readdress(&self, r: ReaddressRequest, body: &[u8]) -> Result<u64, Error> {
        if self.shared.cluster_id().as_deref() != Some(r.cluster_id.as_str()) {
            return Err(refused(format!(
                "this node does not belong to cluster {}",
                r.cluster_id
            )));
        }
        if let Some(answer) = self.on_leader(READDRESS, body).await {
            return answer;
        }
        let n = &r.node;
        if !self.store.map().nodes.contains_key(&n.id) {
            return Err(refused(format!("node {} is not in the cluster", n.name)));
        }
        let mut conn = None;
        let there: IdentityReply = match call(&mut conn, &n.binary, IDENTITY, b"").await {
            Ok(Ok(b)) => parse(&b)?,
            Ok(Err(e)) => return Err(refused(e)),
            Err(e) => return Err(refused(format!("cannot reach {}: {e}", n.binary))),
        };
        if there.node.id != n.id || there.cluster_id.as_deref() != Some(r.cluster_id.as_str()) {
            return Err(refused(format!(
                "{} answers as node {} of cluster {:?}, not as {}",
                n.binary, there.node.name, there.cluster_id, n.name
            )));
        }
        let nodes = BTreeMap::from([(
            n.id,
            BasicNode {
                addr: n.binary.clone(),
            },
        )]);
        self.raft
            .change_membership(ChangeMembers::SetNodes(nodes), true)
            .await
            .map_err(|e| {
                refused(format!(
                    "record {}'s address with the controller: {e}",
                    n.name
                ))
            })?;
        self.commit(
            "the new addresses",
            Change::Readdress {
                node: n.id,
                binary: n.binary.clone(),
                resp: n.resp.clone(),
                http: n.http.clone(),
                core_ports: n.core_ports.clone(),
                interleaved: Some(n.interleaved),
            },
        )
        .await
    }
}

/// An ADD_NODE or REMOVE_NODE request.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone)]
pub struct MembershipRequest {
    pub format: u32,
    pub cluster_id: String,
    pub change: Change,
}

impl Controller {
    /// Adds or removes a node (ADD_NODE, REMOVE_NODE), on the leader: the
    /// map change, and the controller's membership with it. A new node
    /// joins as a learner (caught up first) and becomes a voter while there
    /// are fewer than [`MAX_VOTERS`]; a removed voter is replaced by a
    /// learner when there is one.
    pub(super) async fn membership(
        &self,
        action: u8,
        r: MembershipRequest,
        body: &[u8],
    ) -> Result<u64, Error> {
        if self.shared.cluster_id().as_deref() != Some(r.cluster_id.as_str()) {
            return Err(refused(format!(
                "this node does not belong to cluster {}",
                r.cluster_id
            )));
        }
        if let Some(answer) = self.on_leader(action, body).await {
            return answer;
        }
        // Checked on a copy first, so a refused change touches nothing.
        let mut dry = self.store.map();
        dry.apply(&r.change).map_err(refused)?;
        let _one = self.membership_slot(&r.change)?;
        if let Some(ms) = fail::eval("cluster.membership-change", |a| a.unwrap_or_default()) {
            let ms = ms.parse().unwrap_or(0);
            tracing::info!("cluster: fail point cluster.membership-change: pausing {ms} ms");
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        match &r.change {
            Change::AddNode { node, .. } if action == ADD_NODE => {
                self.add_node(node, r.change.clone()).await
            }
            Change::RemoveNode { node } if action == REMOVE_NODE => {
                self.remove_node(*node, r.change.clone()).await
            }
            _ => Err(refused("the change does not match the action")),
        }
    }

    /// Takes the leader's one membership-change slot (openraft requires
    /// membership changes to be serialised), or says which change holds it.
    fn membership_slot(&self, c: &Change) -> Result<MembershipSlot<'_>, Error> {
        let mut busy = self
            .membership_busy
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(what) = busy.as_ref() {
            return Err(refused(format!(
                "a membership change ({what}) is in progress: they run one at a time; try again when it ends"
            )));
        }
        *busy = Some(match c {
            Change::AddNode { node, .. } => format!("adding {}", node.binary),
            Change::RemoveNode { node } => format!("removing node {node:x}"),
            other => format!("{other:?}"),
        });
        Ok(MembershipSlot(&self.membership_busy))
    }

    async fn add_node(&self, n: &NodeInfo, change: Change) -> Result<u64, Error> {
        let mut conn = None;
        let there: IdentityReply = match call(&mut conn, &n.binary, IDENTITY, b"").await {
            Ok(Ok(b)) => parse(&b)?,
            Ok(Err(e)) => return Err(refused(e)),
            Err(e) => return Err(refused(format!("cannot reach {}: {e}", n.binary))),
        };
        if there.node.id != n.id || there.cluster_id != self.shared.cluster_id() {
            return Err(refused(format!(
                "{} answers as node {} of cluster {:?}: join it to this cluster first",
                n.binary, there.node.name, there.cluster_id
            )));
        }
        let node = BasicNode {
            addr: n.binary.clone(),
        };
        tokio::time::timeout(STEP, self.raft.add_learner(n.id, node, true))
            .await
            .map_err(|_| {
                refused(format!(
                    "{} did not catch up with the controller's log in {STEP:?}",
                    n.name
                ))
            })?
            .map_err(|e| refused(format!("add {} to the controller: {e}", n.name)))?;
        let epoch = self.commit("the new node", change).await?;
        let voters = self.voters();
        if voters.len() < MAX_VOTERS {
            let mut next = voters;
            next.insert(n.id);
            if let Err(e) = self.raft.change_membership(next, true).await {
                tracing::warn!("cluster: {} stays a learner: {e}", n.name);
            }
        }
        Ok(epoch)
    }

    async fn remove_node(&self, id: u64, change: Change) -> Result<u64, Error> {
        let epoch = self.commit("the node's removal", change).await?;
        let voters = self.voters();
        if voters.contains(&id) {
            let mut next = voters;
            next.remove(&id);
            let m = self.raft.metrics().borrow().clone();
            let map = self.store.map();
            if let Some(spare) = m
                .membership_config
                .membership()
                .learner_ids()
                .find(|l| *l != id && map.nodes.contains_key(l))
            {
                next.insert(spare);
            }
            self.raft
                .change_membership(next, false)
                .await
                .map_err(|e| refused(format!("remove node {id:x}'s vote: {e}")))?;
        }
        let learner = {
            let m = self.raft.metrics().borrow().clone();
            let found = m
                .membership_config
                .membership()
                .learner_ids()
                .any(|l| l == id);
            found
        };
        if learner {
            self.raft
                .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                .await
                .map_err(|e| refused(format!("remove node {id:x} from the controller: {e}")))?;
        }
        Ok(epoch)
    }

    fn voters(&self) -> BTreeSet<u64> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }
}

/// How long a new node may take to catch up with the controller's log.
const STEP: Duration = Duration::from_secs(20);

/// The leader's membership-change slot, freed when the change ends.
struct MembershipSlot<'a>(&'a std::sync::Mutex<Option<String>>);

impl Drop for MembershipSlot<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
