//! The controller: an openraft node on its own thread (a current-thread
//! tokio runtime; never a reactor), holding the cluster map.
//!
//! The server calls [`Controller::request`] with each `CLUSTER` request that
//! reaches it; the work runs on the controller's runtime and the server's
//! reactor only awaits the answer. Committed maps are published through
//! [`Published`].
//!
//! Membership changes are made one at a time, by the leader only (openraft
//! refuses a change while another is in flight), and node ids are never
//! reused (see `identity`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};

use crate::identity::{dir, Identity};
use crate::map::{is_hex40, Change, ClusterMap, NodeInfo};
use crate::net::{
    Envelope, Network, Reply, Rpc, ADD_NODE, FORM, IDENTITY, JOIN, LEASE, MIGRATE, PROMOTE, RAFT,
    READDRESS, REMOVE_NODE, RPC_FORMAT, STATUS,
};
use crate::store::{Published, Store};
use crate::{Error, TypeConfig};

mod changes;
mod health;
pub mod migrate;
pub use changes::MembershipRequest;
use health::{health_loop, lease_loop, readdress_loop};

/// How long forming a cluster may wait for each step (leadership, a
/// learner catching up, a commit).
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// Voters of the controller's Raft group; the other nodes are learners.
pub const MAX_VOTERS: usize = 5;

/// What the network side and the controller share.
pub struct Shared {
    pub me: u64,
    data_dir: PathBuf,
    identity: Mutex<Identity>,
}

impl Shared {
    pub fn identity(&self) -> Identity {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn cluster_id(&self) -> Option<String> {
        self.identity().cluster_id
    }

    /// Records that this node belongs to `cluster_id` (refused when it
    /// already belongs to another).
    fn join(&self, cluster_id: &str) -> Result<(), String> {
        if !is_hex40(cluster_id) {
            return Err(format!("cluster id {cluster_id:?} is not 40 hex digits"));
        }
        let mut id = self.identity.lock().unwrap_or_else(|p| p.into_inner());
        match &id.cluster_id {
            Some(c) if c == cluster_id => Ok(()),
            Some(c) => Err(format!(
                "this node belongs to cluster {c}, not {cluster_id}; a node joins one cluster for the life of its data directory"
            )),
            None => {
                let mut next = id.clone();
                next.cluster_id = Some(cluster_id.to_string());
                next.save(&self.data_dir).map_err(|e| e.to_string())?;
                *id = next;
                Ok(())
            }
        }
    }
}

/// The controller's part of `tessera cluster status`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ControllerStatus {
    pub id: u64,
    /// `leader`, `follower`, `candidate` or `learner`.
    pub role: String,
    pub term: u64,
    pub leader: Option<u64>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// On the leader: how far each node's log is behind the leader's.
    pub lag: BTreeMap<u64, u64>,
}

/// `CLUSTER` action STATUS's answer.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Status {
    pub format: u32,
    pub name: String,
    /// Whether this node holds its write lease (a primary with replicas
    /// takes writes only then).
    #[serde(default)]
    pub lease_ok: bool,
    pub map: ClusterMap,
    pub controller: ControllerStatus,
    /// This node's partitions in the migrations it takes part in (its
    /// progress board): migration → partition → line.
    #[serde(default)]
    pub migrations: BTreeMap<u64, BTreeMap<u32, migrate::PartReport>>,
}

/// `CLUSTER` action IDENTITY's answer.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct IdentityReply {
    pub format: u32,
    pub node: NodeInfo,
    pub cluster_id: Option<String>,
    /// Whether this node is already in a formed cluster's map.
    pub formed: bool,
}

/// `CLUSTER` action LEASE's body: a node asks the controller's leader to
/// confirm its map (and says it is alive).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct LeaseRequest {
    pub format: u32,
    pub from: u64,
    /// The map epoch the node has applied; the lease is granted only when
    /// it is the leader's.
    pub epoch: u64,
}

/// `CLUSTER` action PROMOTE's body: make `node` its shard's primary.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct PromoteRequest {
    pub format: u32,
    pub node: u64,
}

/// `CLUSTER` action READDRESS's body: `node` (id and addresses) restarted
/// on the addresses it gives.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ReaddressRequest {
    pub format: u32,
    pub cluster_id: String,
    pub node: NodeInfo,
}

/// `CLUSTER` action JOIN's body.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct JoinRequest {
    pub format: u32,
    pub cluster_id: String,
}

pub struct Controller {
    rt: tokio::runtime::Handle,
    raft: Raft<TypeConfig>,
    shared: Arc<Shared>,
    published: Arc<Published>,
    store: Store,
    /// This node as the map lists it (its addresses are known once its
    /// listeners are up).
    me: NodeInfo,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    timings: Timings,
    t0: Instant,
    /// When (ms after `t0`) this node last *sent* a lease request that a
    /// controller leader granted: the start of a primary's write lease (see
    /// `lease_ok`). Measured from the send, so a late answer (a process
    /// that was stopped) never extends it.
    contact_ms: AtomicU64,
    /// On the leader: when each node's last lease request arrived (its
    /// sign of life) and when this node became the leader.
    heard: Mutex<(HashMap<u64, Instant>, Option<Instant>)>,
    /// The membership change the leader is making, if any (one at a time).
    membership_busy: Mutex<Option<String>>,
    /// Failovers this node decided as leader, and the last one's duration
    /// from the last heartbeat its primary answered (ms).
    failovers: AtomicU64,
    last_failover_ms: AtomicU64,
    /// PUBLISH messages to relay to every other node, in order.
    relay: tokio::sync::mpsc::UnboundedSender<(Vec<u8>, Vec<u8>)>,
    /// This node's partitions' progress in slot migrations.
    board: migrate::Board,
}

/// Timings of the controller's Raft group.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// A primary that answers no heartbeat for this long is failed over
    /// (`cluster-node-timeout-ms`).
    pub node_timeout_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        // Generous for loopback clusters of many processes on a few CPUs.
        Timings {
            heartbeat_ms: 200,
            election_min_ms: 1000,
            election_max_ms: 2000,
            node_timeout_ms: 2000,
        }
    }
}

impl Timings {
    /// How often the leader pings every node.
    fn ping_every(&self) -> Duration {
        Duration::from_millis((self.node_timeout_ms / 8).max(20))
    }

    /// How long a primary with replicas takes writes after sending a lease
    /// request the leader granted: three quarters of the node timeout. The
    /// leader fails a shard over only a full node timeout after it last
    /// *received* a request from its primary, which is later than the
    /// request was sent, so the primary has stopped taking writes a quarter
    /// of the timeout (500 ms by default) before (clock rates on two
    /// machines differ far less).
    fn lease_ms(&self) -> u64 {
        self.node_timeout_ms * 3 / 4
    }
}

fn refused(why: impl Into<String>) -> Error {
    Error::Refused(why.into())
}

impl Controller {
    /// Starts the controller of the node whose data directory is `data_dir`
    /// and whose identity and addresses `me` gives (`me.id` and `me.name`
    /// are replaced by the persisted identity's).
    pub fn start(data_dir: &Path, mut me: NodeInfo, t: Timings) -> Result<Arc<Controller>, Error> {
        let identity = Identity::load_or_create(data_dir)?;
        me.id = identity.raft_id;
        me.name = identity.name.clone();
        let shared = Arc::new(Shared {
            me: identity.raft_id,
            data_dir: data_dir.to_path_buf(),
            identity: Mutex::new(identity),
        });
        let published = Arc::new(Published::new(me.id));
        let store = Store::open(&dir(data_dir), published.clone())?;
        let config = openraft::Config {
            cluster_name: "tessera".into(),
            heartbeat_interval: t.heartbeat_ms,
            election_timeout_min: t.election_min_ms,
            election_timeout_max: t.election_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 100,
            ..Default::default()
        }
        .validate()
        .map_err(|e| refused(format!("controller settings: {e}")))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let net = Network {
            shared: shared.clone(),
        };
        let st = store.clone();
        let id = shared.me;
        let thread = std::thread::Builder::new()
            .name("tessera-controller".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(Error::Io(e)));
                        return;
                    }
                };
                let (log, sm) = openraft::storage::Adaptor::new(st);
                let raft = match rt.block_on(Raft::new(id, Arc::new(config), net, log, sm)) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(refused(format!("controller start: {e}"))));
                        return;
                    }
                };
                let _ = tx.send(Ok((rt.handle().clone(), raft.clone())));
                let _ = rt.block_on(stop_rx);
                let _ = rt.block_on(raft.shutdown());
            })?;
        let (rt, raft) = rx
            .recv()
            .map_err(|_| refused("the controller thread died while starting"))??;
        let (relay, relay_rx) = tokio::sync::mpsc::unbounded_channel();
        let ctl = Arc::new(Controller {
            rt,
            raft,
            shared,
            published,
            store,
            me,
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
            timings: t,
            t0: Instant::now(),
            contact_ms: AtomicU64::new(0),
            heard: Mutex::new((HashMap::new(), None)),
            membership_busy: Mutex::new(None),
            failovers: AtomicU64::new(0),
            last_failover_ms: AtomicU64::new(0),
            relay,
            board: Default::default(),
        });
        ctl.rt
            .spawn(health::relay_loop(Arc::downgrade(&ctl), relay_rx));
        ctl.rt.spawn(health_loop(Arc::downgrade(&ctl)));
        ctl.rt.spawn(lease_loop(Arc::downgrade(&ctl)));
        ctl.rt.spawn(readdress_loop(Arc::downgrade(&ctl)));
        Ok(ctl)
    }

    fn now_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// Whether this node, as a primary with replicas, may take writes: a
    /// controller leader confirmed its map within the lease (three quarters of the node
    /// timeout). A primary cut off from the controller stops taking writes
    /// before the controller can fail its shard over, so a slot never has
    /// two writable owners.
    pub fn lease_ok(&self) -> bool {
        self.now_ms()
            .saturating_sub(self.contact_ms.load(Ordering::Acquire))
            < self.timings.lease_ms()
    }

    /// Starts a lease at `sent_ms`, when the granted request was sent.
    fn renew_lease(&self, sent_ms: u64) {
        self.contact_ms.fetch_max(sent_ms, Ordering::AcqRel);
    }

    /// On the leader: whether `node` may still be alive, so a promotion
    /// must wait out its write lease. As the failure detector counts it: a
    /// node not heard from since this node became the leader gets a full
    /// node timeout from then, and before the leader's first round nothing
    /// says any node is dead (a promotion right after a leader change
    /// waits, rather than risk a primary still taking writes).
    pub(super) fn heard_recently(&self, node: u64) -> bool {
        let h = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        may_be_alive(
            h.0.get(&node).copied(),
            h.1,
            Instant::now(),
            Duration::from_millis(self.timings.node_timeout_ms),
        )
    }

    /// The leader's answer to a lease request: granted when this node leads
    /// and the asking node applied the map this node committed.
    fn grant_lease(&self, r: &LeaseRequest) -> bool {
        let leader = self.raft.metrics().borrow().state == ServerState::Leader;
        if !leader {
            return false;
        }
        self.heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .insert(r.from, Instant::now());
        r.epoch >= self.store.map().epoch
    }

    /// Failovers this node decided as the controller's leader, and how long
    /// the last one took from its primary's last answered heartbeat to the
    /// committed map (ms).
    pub fn failovers(&self) -> (u64, u64) {
        (
            self.failovers.load(Ordering::Relaxed),
            self.last_failover_ms.load(Ordering::Relaxed),
        )
    }

    /// Relays a client's PUBLISH to every other node of the cluster (in
    /// publication order; a node that does not answer within a second
    /// misses the message, as a disconnected subscriber would).
    pub fn relay_publish(&self, channel: &[u8], message: &[u8]) {
        let _ = self.relay.send((channel.to_vec(), message.to_vec()));
    }

    pub fn node_timeout_ms(&self) -> u64 {
        self.timings.node_timeout_ms
    }

    /// Stops the controller thread (waits for it).
    pub fn stop(&self) {
        if let Some(s) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }

    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    pub fn identity(&self) -> Identity {
        self.shared.identity()
    }

    /// This node as the map lists it.
    pub fn me(&self) -> &NodeInfo {
        &self.me
    }

    /// Answers one `CLUSTER` request. The work runs on the controller's
    /// runtime; the returned future only waits for it, so a reactor may
    /// await it.
    pub async fn request(self: &Arc<Self>, action: u8, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        let me = self.clone();
        let job = self.rt.spawn(async move { me.run(action, &body).await });
        job.await
            .map_err(|e| refused(format!("the controller task failed: {e}")))?
    }

    async fn run(self: &Arc<Self>, action: u8, body: &[u8]) -> Result<Vec<u8>, Error> {
        let json = |v: &dyn erased::Json| v.to_json();
        match action {
            IDENTITY => {
                let map = self.store.map();
                Ok(json(&IdentityReply {
                    format: RPC_FORMAT,
                    node: self.me.clone(),
                    cluster_id: self.shared.cluster_id(),
                    formed: map.formed() && map.nodes.contains_key(&self.shared.me),
                }))
            }
            RAFT => Ok(self.handle_raft(body).await),
            JOIN => {
                let j: JoinRequest = parse(body)?;
                self.shared.join(&j.cluster_id).map_err(refused)?;
                Ok(b"OK".to_vec())
            }
            FORM => {
                let change: Change = parse(body)?;
                let map = self.form(change).await?;
                Ok(json(&map))
            }
            STATUS => Ok(json(&self.status())),
            PROMOTE => {
                let r: PromoteRequest = parse(body)?;
                let epoch = self.promote(r.node, body).await?;
                Ok(json(&epoch))
            }
            LEASE => {
                let r: LeaseRequest = parse(body)?;
                Ok(json(&self.grant_lease(&r)))
            }
            READDRESS => {
                let r: ReaddressRequest = parse(body)?;
                Ok(json(&self.readdress(r, body).await?))
            }
            MIGRATE => {
                let r: migrate::MigrateRequest = parse(body)?;
                Ok(json(&self.migrate(r, body).await?))
            }
            ADD_NODE | REMOVE_NODE => {
                let r: MembershipRequest = parse(body)?;
                Ok(json(&self.membership(action, r, body).await?))
            }
            n => Err(refused(format!("unknown CLUSTER action {n}"))),
        }
    }

    /// This node's view: the map it applied and its controller's state.
    pub fn status(&self) -> Status {
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        let membership = m.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let learners: Vec<u64> = membership.learner_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let lag = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, last.saturating_sub(l.map(|l| l.index).unwrap_or(0))))
                    .collect()
            })
            .unwrap_or_default();
        Status {
            format: RPC_FORMAT,
            name: self.me.name.clone(),
            lease_ok: self.lease_ok(),
            map: self.store.map(),
            migrations: self.migration_boards(),
            controller: ControllerStatus {
                id: self.shared.me,
                role: role.into(),
                term: m.current_term,
                leader: m.current_leader,
                last_log_index: m.last_log_index,
                last_applied: m.last_applied.map(|l| l.index),
                voters,
                learners,
                lag,
            },
        }
    }

    /// A Raft message from another node.
    async fn handle_raft(&self, body: &[u8]) -> Vec<u8> {
        fn out<T: Serialize, E: Serialize>(r: Reply<T, E>) -> Vec<u8> {
            serde_json::to_vec(&r).unwrap_or_default()
        }
        let refuse = |why: String| out::<(), ()>(Reply::Refused(why));
        let env: Envelope = match serde_json::from_slice(body) {
            Ok(e) => e,
            Err(e) => return refuse(format!("malformed Raft message: {e}")),
        };
        if env.format > RPC_FORMAT {
            return refuse(format!(
                "Raft message format {} is newer than this node's ({RPC_FORMAT})",
                env.format
            ));
        }
        if env.to != self.shared.me {
            return refuse(format!(
                "this node is {:x}, not {:x} (its data directory was replaced)",
                self.shared.me, env.to
            ));
        }
        match self.shared.cluster_id() {
            None => return refuse("this node has not joined a cluster".into()),
            Some(c) if c != env.cluster_id => {
                return refuse(format!(
                    "this node belongs to cluster {c}, not {}",
                    env.cluster_id
                ))
            }
            Some(_) => {}
        }
        match env.rpc {
            Rpc::Append(r) => out(match self.raft.append_entries(r).await {
                Ok(v) => Reply::Ok(v),
                Err(e) => Reply::Raft(e),
            }),
            Rpc::Vote(r) => out(match self.raft.vote(r).await {
                Ok(v) => Reply::Ok(v),
                Err(e) => Reply::Raft(e),
            }),
            Rpc::Snapshot(r) => out(match self.raft.install_snapshot(r).await {
                Ok(v) => Reply::Ok(v),
                Err(e) => Reply::Raft(e),
            }),
        }
    }

    /// Forms the cluster from this node: it becomes the first voter, adds
    /// every other node as a learner, promotes up to [`MAX_VOTERS`] nodes to
    /// voters, and commits the map.
    async fn form(&self, change: Change) -> Result<ClusterMap, Error> {
        let Change::Form {
            cluster_id, nodes, ..
        } = &change
        else {
            return Err(refused("FORM takes the map of a new cluster"));
        };
        match self.shared.cluster_id() {
            Some(c) if &c == cluster_id => {}
            Some(c) => return Err(refused(format!("this node belongs to cluster {c}"))),
            None => return Err(refused("join the cluster first (CLUSTER action JOIN)")),
        }
        if self.store.map().formed() {
            return Err(refused("the cluster is already formed"));
        }
        let me = self.shared.me;
        if !nodes.iter().any(|n| n.id == me) {
            return Err(refused(
                "the node forming the cluster must be one of its nodes",
            ));
        }
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| refused(e.to_string()))?;
        if !initialized {
            let mut first = BTreeMap::new();
            first.insert(
                me,
                BasicNode {
                    addr: self.me.binary.clone(),
                },
            );
            self.raft
                .initialize(first)
                .await
                .map_err(|e| refused(format!("initialize the controller: {e}")))?;
        }
        self.raft
            .wait(Some(STEP_TIMEOUT))
            .state(ServerState::Leader, "form: leader")
            .await
            .map_err(|e| {
                refused(format!(
                    "this node did not become the controller's leader: {e}"
                ))
            })?;
        for n in nodes.iter().filter(|n| n.id != me) {
            self.raft
                .add_learner(
                    n.id,
                    BasicNode {
                        addr: n.binary.clone(),
                    },
                    true,
                )
                .await
                .map_err(|e| {
                    refused(format!(
                        "add {} ({}) to the controller: {e}",
                        n.name, n.binary
                    ))
                })?;
        }
        // Voters: this node, then the others in the order given (primaries
        // come first in a layout), at most MAX_VOTERS.
        let voters: BTreeSet<u64> = std::iter::once(me)
            .chain(nodes.iter().map(|n| n.id).filter(|&id| id != me))
            .take(MAX_VOTERS)
            .collect();
        self.raft
            .change_membership(voters, true)
            .await
            .map_err(|e| refused(format!("choose the controller's voters: {e}")))?;
        let r = self
            .raft
            .client_write(change)
            .await
            .map_err(|e| refused(format!("commit the map: {e}")))?;
        r.data.map_err(refused)?;
        Ok(self.store.map())
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| refused(format!("malformed CLUSTER request: {e}")))
}

mod erased {
    /// A value that serialises to JSON (the `CLUSTER` answers).
    pub(super) trait Json {
        fn to_json(&self) -> Vec<u8>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

/// Whether a node last heard at `heard` (if ever) may still be alive at
/// `now`, on a leader that took over at `leading_since` (`None`: before
/// its first round): `heard`, or else the takeover, within `timeout`.
fn may_be_alive(
    heard: Option<Instant>,
    leading_since: Option<Instant>,
    now: Instant,
    timeout: Duration,
) -> bool {
    heard
        .or(leading_since)
        .is_none_or(|t| now.saturating_duration_since(t) < timeout)
}

#[cfg(test)]
mod liveness_tests {
    use super::*;

    #[test]
    fn a_node_not_heard_since_a_leader_took_over_gets_a_full_timeout() {
        let t = Duration::from_millis(2000);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // Before the leader's first round: alive.
        assert!(may_be_alive(None, None, at(10_000), t));
        // Never heard: a timeout from the takeover.
        assert!(may_be_alive(None, Some(t0), at(1999), t));
        assert!(!may_be_alive(None, Some(t0), at(2000), t));
        // Heard: a timeout from then.
        assert!(may_be_alive(Some(at(5000)), Some(t0), at(6999), t));
        assert!(!may_be_alive(Some(at(5000)), Some(t0), at(7001), t));
    }
}
