//! A core's copy of the cluster map (docs/cluster.md): which slots this
//! node serves, the redirect for the others, and the reconciliation of the
//! node's replication role with the map.
//!
//! The controller publishes each committed map; a core compares one integer
//! per request with the version it built its routes from and rebuilds them
//! (a 16384-entry table) only when it moved. Outside cluster mode none of
//! this exists and a request pays one branch.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tessera_cluster::map::{ClusterMap, NodeInfo};
use tessera_cluster::Controller;

use super::Core;
use crate::codes::{ErrorCode, WireError};
use crate::proto::route::request_slot;
use crate::proto::Request;

/// Which front end asks: a redirect names the owner's address for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    Binary,
    Resp,
    Http,
}

const NO_SHARD: u32 = u32::MAX;

/// The routes one map gives this node.
pub struct Routes {
    pub map: Arc<ClusterMap>,
    /// Shard of each slot (`NO_SHARD` when unassigned).
    slot_shard: Vec<u32>,
    pub me: u64,
    /// Each slot's part in a fenced migration of this node's shard
    /// (`Side`); empty when there is none.
    sides: Vec<Side>,
    /// Whether this node's shard is the source or target of a migration
    /// (keyless writes such as FLUSHALL wait for it to end).
    migrating_here: bool,
}

impl Routes {
    fn build(map: Arc<ClusterMap>, me: u64) -> Routes {
        let mut slot_shard = vec![NO_SHARD; crate::slot::SLOTS as usize];
        for r in &map.slots {
            for s in r.start..=r.end {
                slot_shard[s as usize] = r.shard;
            }
        }
        let mine = map.nodes.get(&me).map(|n| n.shard);
        let mut sides = Vec::new();
        for m in &map.migrations {
            use tessera_cluster::map::Stage;
            let handover = m.stage == Stage::Handover;
            let side = match (Some(m.from) == mine, Some(m.to) == mine) {
                _ if !matches!(m.stage, Stage::Fence | Stage::Handover) => continue,
                (true, _) => Side::Source { handover },
                (_, true) => Side::Target { handover },
                _ => continue,
            };
            sides.resize(crate::slot::SLOTS as usize, Side::None);
            for &s in &m.slots {
                sides[s as usize] = side;
            }
        }
        let migrating_here = map
            .migrations
            .iter()
            .any(|m| Some(m.from) == mine || Some(m.to) == mine);
        Routes {
            map,
            slot_shard,
            me,
            sides,
            migrating_here,
        }
    }

    /// `slot`'s part in a fenced migration of this node's shard.
    fn side(&self, slot: u16) -> Side {
        self.sides.get(slot as usize).copied().unwrap_or(Side::None)
    }

    /// The ASK of `slot` in its hand-over (the target's RESP address), or
    /// TRYAGAIN if the target serves no slot yet: no client knows it.
    fn ask(&self, slot: u16) -> WireError {
        let target = self
            .map
            .migration_of(slot)
            .filter(|m| self.map.ranges_of(m.to).next().is_some())
            .and_then(|m| self.map.shards.get(&m.to))
            .and_then(|s| self.map.nodes.get(&s.primary))
            .and_then(|n| n.resp.as_deref());
        match target {
            Some(a) => WireError::new(ErrorCode::Ask, format!("{slot} {a}")),
            None => tryagain(slot),
        }
    }

    /// This node's entry in the map.
    pub fn my_node(&self) -> Option<&NodeInfo> {
        self.map.nodes.get(&self.me)
    }

    /// The primary this node follows, when the map makes it a replica.
    pub fn my_primary(&self) -> Option<&NodeInfo> {
        let me = self.my_node()?;
        let shard = self.map.shards.get(&me.shard)?;
        (shard.primary != self.me)
            .then(|| self.map.nodes.get(&shard.primary))
            .flatten()
    }

    /// The slot owners' binary addresses and every node's per-core ports
    /// (CLUSTER action SLOTS, and HELLO in cluster mode).
    pub fn slot_owners(&self) -> crate::proto::cluster_slots::ClusterSlots {
        use crate::proto::cluster_slots::{ClusterSlots, SlotOwner};
        let addr = |id: &u64| self.map.nodes.get(id).map(|n| n.binary.clone());
        ClusterSlots {
            epoch: self.map.epoch,
            ranges: self
                .map
                .slots
                .iter()
                .filter_map(|r| {
                    let s = self.map.shards.get(&r.shard)?;
                    Some(SlotOwner {
                        start: r.start,
                        end: r.end,
                        primary: addr(&s.primary)?,
                        replicas: s.replicas.iter().filter_map(addr).collect(),
                    })
                })
                .collect(),
            core_ports: self
                .map
                .nodes
                .values()
                .map(|n| (n.binary.clone(), n.core_ports.clone()))
                .collect(),
        }
    }

    /// Whether this node is a primary.
    pub fn i_am_primary(&self) -> bool {
        self.my_node()
            .and_then(|n| self.map.shards.get(&n.shard))
            .is_some_and(|s| s.primary == self.me)
    }

    /// Slots this node's shard serves.
    pub fn slots_served(&self) -> u32 {
        self.my_node()
            .map(|n| {
                self.map
                    .ranges_of(n.shard)
                    .map(|r| u32::from(r.end - r.start) + 1)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// A write on `shard`'s primary (this node): refused once its write
    /// lease has run out, if the shard has replicas that could be promoted.
    fn leased(
        shard: &tessera_cluster::Shard,
        lease_ok: impl Fn() -> bool,
    ) -> Result<(), WireError> {
        if shard.replicas.is_empty() || lease_ok() {
            return Ok(());
        }
        Err(WireError::new(
            ErrorCode::ClusterDown,
            "this primary has not heard from the cluster controller within its write lease (three quarters of cluster-node-timeout-ms); writes wait until it does, so a failed-over shard never has two writable primaries",
        ))
    }

    /// A write with no key (FLUSHALL): taken by a primary only within its
    /// write lease, as keyed writes are.
    fn check_keyless(&self, lease_ok: impl Fn() -> bool) -> Result<(), WireError> {
        let mine = self
            .map
            .nodes
            .get(&self.me)
            .and_then(|n| self.map.shards.get(&n.shard));
        match mine {
            Some(shard) if shard.primary == self.me => Routes::leased(shard, lease_ok),
            _ => Ok(()),
        }
    }

    /// Whether a request on `slot` may run here; the redirect otherwise.
    /// `lease_ok`: whether a controller leader confirmed this node's map
    /// recently (a primary with replicas takes writes only then).
    fn check(
        &self,
        slot: u16,
        write: bool,
        conn: ConnFlags,
        front: Front,
        lease_ok: impl Fn() -> bool,
    ) -> Result<(), WireError> {
        let shard_id = self.slot_shard[slot as usize];
        let Some(shard) = self.map.shards.get(&shard_id) else {
            return Err(WireError::of(ErrorCode::ClusterDown));
        };
        let primary_here = shard.primary == self.me;
        match self.side(slot) {
            Side::None => {}
            // The source: fenced writes wait; in the hand-over Redis
            // clients go to the target, which has every write to the slot.
            Side::Source { handover: true } if primary_here && front == Front::Resp => {
                return Err(self.ask(slot))
            }
            Side::Source { .. } if primary_here && write => return Err(tryagain(slot)),
            // The target: the slot is about to become its own; a Redis
            // client sent by the source's ASK is served in the hand-over.
            Side::Target { handover } if self.i_am_primary() => {
                return match handover && conn.asking {
                    true => Ok(()),
                    false => Err(tryagain(slot)),
                };
            }
            _ => {}
        }
        if primary_here {
            return match write {
                true => Routes::leased(shard, lease_ok),
                false => Ok(()),
            };
        }
        // A replica of the owning shard serves reads to clients that asked
        // for them (READONLY; the binary protocol always may read).
        let replica_here = shard.replicas.contains(&self.me);
        if replica_here && !write && (conn.readonly || front == Front::Binary) {
            return Ok(());
        }
        let Some(owner) = self.map.nodes.get(&shard.primary) else {
            return Err(WireError::of(ErrorCode::ClusterDown));
        };
        let addr = match front {
            Front::Binary => Some(owner.binary.as_str()),
            Front::Resp => owner.resp.as_deref(),
            Front::Http => owner.http.as_deref(),
        };
        match addr {
            Some(a) => Err(WireError::new(ErrorCode::Moved, format!("{slot} {a}"))),
            None => Err(WireError::new(
                ErrorCode::ClusterDown,
                format!("the owner of slot {slot} has no listener for this protocol"),
            )),
        }
    }
}

/// A slot's part in a fenced migration, as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    None,
    Source { handover: bool },
    Target { handover: bool },
}

/// What a RESP connection asked for: replica reads (READONLY), or one
/// command on a migrating slot's target (ASKING).
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnFlags {
    pub readonly: bool,
    pub asking: bool,
}

fn tryagain(slot: u16) -> WireError {
    WireError::new(
        ErrorCode::TryAgain,
        format!("slot {slot} is being handed to another node; retry in a few milliseconds"),
    )
}

/// A core's cluster state.
pub struct CoreCluster {
    ctl: Arc<Controller>,
    seen: Cell<u64>,
    routes: RefCell<Rc<Routes>>,
    /// Writes running on this core, counted in two generations: a fence
    /// starts a new one and waits for the old one to empty.
    write_gen: Cell<u64>,
    running: [Cell<u32>; 2],
    draining: Cell<bool>,
}

/// A write admitted on this core, counted until it is staged (dropped).
pub struct Admitted<'a> {
    cl: &'a CoreCluster,
    gen: Option<usize>,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.gen {
            let c = &self.cl.running[g];
            c.set(c.get().saturating_sub(1));
        }
    }
}

impl CoreCluster {
    pub fn new(ctl: Arc<Controller>) -> CoreCluster {
        let (v, map) = ctl.published().get();
        let me = ctl.me().id;
        CoreCluster {
            ctl,
            seen: Cell::new(v),
            routes: RefCell::new(Rc::new(Routes::build(map, me))),
            write_gen: Cell::new(0),
            running: [Cell::new(0), Cell::new(0)],
            draining: Cell::new(false),
        }
    }

    /// Admits a write on this core (the owning one): refused with TRYAGAIN
    /// while its slot's migration is fenced, or, for a write without a
    /// key, while this node's shard takes part in a migration.
    pub fn admit_write(
        &self,
        req: &Request<'_>,
        stats: &super::stats::Stats,
    ) -> Result<Admitted<'_>, WireError> {
        let r = self.routes();
        if r.migrating_here {
            match request_slot(req)? {
                Some(slot) if matches!(r.side(slot), Side::Source { .. }) => {
                    stats.tryagain();
                    return Err(tryagain(slot));
                }
                None => {
                    return Err(WireError::new(
                        ErrorCode::TryAgain,
                        "a slot migration to or from this node is in progress; writes to every key (FLUSHALL) wait until it ends",
                    ))
                }
                Some(_) => {}
            }
        }
        // A blocked pop waits for a push, which the fence refuses: it is
        // not counted, or a fence would wait for it.
        if matches!(req, Request::BlockingPop { .. } | Request::Block { .. }) {
            return Ok(Admitted {
                cl: self,
                gen: None,
            });
        }
        let gen = (self.write_gen.get() & 1) as usize;
        self.running[gen].set(self.running[gen].get() + 1);
        Ok(Admitted {
            cl: self,
            gen: Some(gen),
        })
    }

    /// The MOVED a pop blocked on `slot` gets once this node's shard no
    /// longer serves it (the owner's RESP address, or its binary one
    /// without RESP: a binary client refreshes its table on any MOVED).
    pub fn moved_away(&self, slot: u16) -> Option<WireError> {
        let r = self.routes();
        let shard = r.map.shards.get(&r.slot_shard[slot as usize])?;
        if shard.primary == r.me {
            return None;
        }
        let owner = r.map.nodes.get(&shard.primary)?;
        let addr = owner.resp.as_deref().unwrap_or(&owner.binary);
        Some(WireError::new(ErrorCode::Moved, format!("{slot} {addr}")))
    }

    /// Waits (at most `limit`) until every write admitted on this core
    /// before the call has been staged. One drain at a time.
    pub async fn drain_writes(&self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        while self.draining.get() {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        self.draining.set(true);
        let old = (self.write_gen.get() & 1) as usize;
        self.write_gen.set(self.write_gen.get() + 1);
        let mut ok = true;
        while self.running[old].get() > 0 {
            if std::time::Instant::now() >= deadline {
                ok = false;
                break;
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        self.draining.set(false);
        ok
    }

    pub fn controller(&self) -> &Arc<Controller> {
        &self.ctl
    }

    /// ROLE in cluster mode: PROMOTE goes through the controller (a map
    /// change its leader commits; this node then promotes itself as after
    /// a failover), REPLICAOF is refused; status and the cores' internal
    /// role changes run as outside cluster mode (`None`).
    pub async fn role_request(&self, action: u8) -> Result<Option<String>, WireError> {
        use crate::repl::node::{PROMOTE, REPLICAOF};
        match action {
            PROMOTE => {
                let body = serde_json::to_vec(&tessera_cluster::controller::PromoteRequest {
                    format: tessera_cluster::net::RPC_FORMAT,
                    node: self.ctl.me().id,
                })
                .unwrap_or_default();
                let epoch = self
                    .ctl
                    .request(tessera_cluster::net::PROMOTE, body)
                    .await
                    .map_err(|e| WireError::new(ErrorCode::ClusterRefused, e.to_string()))?;
                Ok(Some(format!(
                    "the cluster map makes this node its shard's primary (epoch {}); it takes writes once it has caught up\n",
                    String::from_utf8_lossy(&epoch)
                )))
            }
            REPLICAOF => Err(WireError::new(
                ErrorCode::ClusterRefused,
                "in cluster mode the cluster map decides whom a node follows (docs/cluster.md); promote a replica instead",
            )),
            _ => Ok(None),
        }
    }

    /// The routes of the newest published map.
    pub fn routes(&self) -> Rc<Routes> {
        let v = self.ctl.published().version();
        if v != self.seen.get() {
            let (v, map) = self.ctl.published().get();
            self.seen.set(v);
            *self.routes.borrow_mut() = Rc::new(Routes::build(map, self.ctl.me().id));
        }
        self.routes.borrow().clone()
    }
}

impl Core {
    /// Cluster mode: whether `req` may run on this node, or the MOVED,
    /// CROSSSLOT or CLUSTERDOWN it gets. `readonly`: the connection asked
    /// for replica reads (READONLY).
    pub fn cluster_gate(
        &self,
        req: &Request<'_>,
        front: Front,
        conn: ConnFlags,
    ) -> Result<(), WireError> {
        let Some(cl) = &self.cluster else {
            return Ok(());
        };
        let ctl = &cl.ctl;
        let Some(slot) = request_slot(req)? else {
            return match super::is_write(req) {
                true => cl.routes().check_keyless(|| ctl.lease_ok()),
                false => Ok(()),
            };
        };
        let r = cl
            .routes()
            .check(slot, super::is_write(req), conn, front, || ctl.lease_ok());
        if let Err(e) = &r {
            match e.code {
                ErrorCode::Moved => self.stats.moved(),
                ErrorCode::TryAgain => self.stats.tryagain(),
                ErrorCode::Ask => self.stats.ask(),
                _ => {}
            }
        }
        r
    }

    /// The cluster state, in cluster mode.
    pub fn cluster(&self) -> Option<&CoreCluster> {
        self.cluster.as_ref()
    }
}

impl CoreCluster {
    /// INFO's cluster section (core 0's).
    pub fn info_lines(&self, out: &mut String) {
        use std::fmt::Write;
        let r = self.routes();
        let st = self.ctl.status();
        let c = &st.controller;
        let (failovers, last_ms) = self.ctl.failovers();
        let leader = c
            .leader
            .and_then(|l| r.map.nodes.get(&l))
            .map(|n| n.binary.clone())
            .unwrap_or_else(|| "none".into());
        let lag = c.lag.values().max().copied().unwrap_or(0);
        let _ = write!(
            out,
            "# cluster\ncluster_enabled:1\ncluster_state:{}\ncluster_epoch:{}\ncluster_name:{}\ncluster_role:{}\ncluster_slots_served:{}\ncluster_controller_role:{}\ncluster_controller_term:{}\ncluster_controller_leader:{leader}\ncluster_controller_lag_max:{lag}\ncluster_write_lease_ok:{}\ncluster_failovers_decided:{failovers}\ncluster_last_failover_ms:{last_ms}\ncluster_node_timeout_ms:{}\n",
            if r.map.formed() { "formed" } else { "not-formed" },
            r.map.epoch,
            st.name,
            if r.i_am_primary() { "primary" } else if r.my_node().is_some() { "replica" } else { "none" },
            r.slots_served(),
            c.role,
            c.term,
            u8::from(self.ctl.lease_ok()),
            self.ctl.node_timeout_ms(),
        );
        let t = self.ctl.migration_totals();
        let _ = write!(
            out,
            "cluster_migrations_in_progress:{}\ncluster_migrate_keys_in:{}\ncluster_migrate_bytes_in:{}\ncluster_migrate_fences:{}\ncluster_migrate_fence_last_ms:{}\ncluster_migrate_fence_max_ms:{}\ncluster_migrate_throttle_waits:{}\n",
            r.map.migrations.len(),
            t.keys_in,
            t.bytes_in,
            t.fences,
            t.fence_last_ms,
            t.fence_max_ms,
            t.throttle_waits,
        );
    }

    /// `/metrics` series of the cluster (core 0's).
    pub fn metric_lines(&self, out: &mut String) {
        let r = self.routes();
        let st = self.ctl.status();
        let (failovers, last_ms) = self.ctl.failovers();
        let t = self.ctl.migration_totals();
        let values = [
            r.map.epoch as f64,
            f64::from(r.slots_served()),
            f64::from(u8::from(st.controller.role == "leader")),
            st.controller.lag.values().max().copied().unwrap_or(0) as f64,
            failovers as f64,
            last_ms as f64 / 1e3,
            r.map.migrations.len() as f64,
            t.keys_in as f64,
            t.bytes_in as f64,
            t.fences as f64,
            t.fence_max_ms as f64 / 1e3,
            t.throttle_waits as f64,
        ];
        write_metrics(out, values);
        let (sum, count, buckets) = self.ctl.fence_histogram(&crate::net::metrics::BUCKETS);
        write_fences(out, sum, count, &buckets);
    }
}

/// The fence histogram's line (`/metrics`).
fn write_fences(out: &mut String, sum: f64, count: u64, buckets: &[u64]) {
    use std::fmt::Write;
    let b: Vec<String> = buckets.iter().map(u64::to_string).collect();
    let _ = writeln!(
        out,
        "h tessera_cluster_migrate_fence_seconds node=local {sum} {count} {}",
        b.join(",")
    );
}

/// The node-wide cluster series (`/metrics`), zero outside cluster mode.
const SERIES: [(&str, &str); 12] = [
    ("g", "tessera_cluster_epoch"),
    ("g", "tessera_cluster_slots_served"),
    ("g", "tessera_cluster_controller_leader"),
    ("g", "tessera_cluster_controller_lag_max"),
    ("c", "tessera_cluster_failovers_total"),
    ("g", "tessera_cluster_last_failover_seconds"),
    ("g", "tessera_cluster_migrations_in_progress"),
    ("c", "tessera_cluster_migrate_keys_in_total"),
    ("c", "tessera_cluster_migrate_bytes_in_total"),
    ("c", "tessera_cluster_migrate_fences_total"),
    ("g", "tessera_cluster_migrate_fence_max_seconds"),
    ("c", "tessera_cluster_migrate_throttle_waits_total"),
];

fn write_metrics(out: &mut String, values: [f64; SERIES.len()]) {
    use std::fmt::Write;
    for (&(kind, name), v) in SERIES.iter().zip(values) {
        let _ = writeln!(out, "{kind} {name} node=local {v}");
    }
}

/// The cluster series of a node outside cluster mode: all zero.
pub fn zero_metric_lines(out: &mut String) {
    write_metrics(out, [0.0; SERIES.len()]);
    write_fences(out, 0.0, 0, &[0; crate::net::metrics::BUCKETS.len() + 1]);
}

/// Starts the cluster controller of a `--cluster` node, with the addresses
/// the map lists it under.
pub fn start_controller(
    config: &crate::Config,
    advertise: &str,
    resp_addr: Option<std::net::SocketAddr>,
    http_addr: Option<std::net::SocketAddr>,
    core_addrs: &[std::net::SocketAddr],
    topo: &crate::proto::Topology,
) -> Result<Arc<tessera_cluster::Controller>, crate::ServerError> {
    if advertise.is_empty() {
        return Err(crate::ServerError::Setup(
            "cluster mode needs an address the other nodes can reach: --listen is 0.0.0.0 or ::, so set --advertise HOST:PORT".into(),
        ));
    }
    let reachable = |a: std::net::SocketAddr| (!a.ip().is_unspecified()).then(|| a.to_string());
    let resp = match &config.resp_advertise {
        Some(a) => Some(a.clone()),
        None => resp_addr.and_then(reachable),
    };
    let me = tessera_cluster::NodeInfo {
        id: 0,
        name: String::new(),
        binary: advertise.to_string(),
        resp,
        http: http_addr.and_then(reachable),
        core_ports: core_addrs.iter().map(|a| a.port()).collect(),
        partitions: topo.partitions(),
        interleaved: topo.interleaved(),
        shard: 0,
        health: Default::default(),
    };
    let timings = tessera_cluster::controller::Timings {
        node_timeout_ms: config.cluster_node_timeout_ms,
        ..Default::default()
    };
    let ctl = tessera_cluster::Controller::start(&config.data_dir, me, timings)
        .map_err(|e| crate::ServerError::Setup(format!("cluster controller: {e}")))?;
    tracing::info!(
        name = %ctl.identity().name,
        "cluster mode: controller started"
    );
    if !config.cluster_peers.is_empty() {
        let me = std::net::ToSocketAddrs::to_socket_addrs(advertise)
            .ok()
            .and_then(|mut a| a.next());
        let listed = config.cluster_peers.iter().any(|p| {
            std::net::ToSocketAddrs::to_socket_addrs(p.as_str())
                .ok()
                .and_then(|mut a| a.next())
                == me
        });
        if !listed {
            ctl.stop();
            return Err(crate::ServerError::Setup(format!(
                "this node's address {advertise} is not in cluster-peers ({}); list every node, this one included",
                config.cluster_peers.join(", ")
            )));
        }
        crate::cluster_cli::form_declared(
            ctl.clone(),
            config.cluster_peers.clone(),
            config.cluster_replicas,
        )
        .map_err(|e| crate::ServerError::Setup(format!("cannot start the forming thread: {e}")))?;
    }
    Ok(ctl)
}
