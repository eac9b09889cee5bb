//! `tessera cluster`: forming a cluster and showing its state
//! (docs/cluster.md). Each subcommand speaks the `CLUSTER` opcode to the
//! nodes' binary ports with plain blocking sockets.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use tessera_cluster::controller::{IdentityReply, JoinRequest, Status};
use tessera_cluster::map::{layout, Change, ClusterMap, Stage, MAP_FORMAT};
use tessera_cluster::net::{FORM, IDENTITY, JOIN, MIGRATE, RPC_FORMAT, STATUS};

use crate::proto::{decode_error, frame, Request};

/// How long a node may take to answer one request (forming a cluster waits
/// for Raft elections and learners to catch up).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `create` waits for every node to apply the new map.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{addr:?} is not HOST:PORT"))
}

/// One `CLUSTER` request to `addr`; the reply body or the node's error.
pub fn call(addr: &str, action: u8, body: &[u8]) -> Result<Vec<u8>, String> {
    call_request(addr, &Request::Cluster { action, body })
}

/// One request to `addr` over a fresh connection (after AUTH when this
/// process has credentials: `--user`/`--pass`, `TESSERA_PASSWORD`).
pub(crate) fn call_request(addr: &str, req: &Request<'_>) -> Result<Vec<u8>, String> {
    let sa = resolve(addr)?;
    let mut s = crate::client::tls::connect_blocking(sa, Duration::from_secs(5), CALL_TIMEOUT)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    if let Some(c) = crate::client::credentials() {
        exchange(
            &mut s,
            addr,
            &Request::Auth {
                user: &c.user,
                pass: &c.pass,
            },
        )?;
    }
    exchange(&mut s, addr, req)
}

/// Sends `req` and reads its reply.
fn exchange(
    s: &mut dyn crate::client::tls::BlockingIo,
    addr: &str,
    req: &Request<'_>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    req.encode(1, &mut out);
    s.write_all(&out).map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        match frame::check(&buf, 256 << 20) {
            Ok(Some(info)) => {
                let b = info.body(&buf);
                return if info.kind == frame::STATUS_OK {
                    Ok(b.to_vec())
                } else {
                    let e = decode_error(b);
                    Err(format!("{addr}: {}", e.message))
                };
            }
            Ok(None) => {}
            Err(e) => return Err(format!("{addr}: bad reply: {e}")),
        }
        let n = s
            .read(&mut chunk)
            .map_err(|e| format!("{addr}: no answer: {e}"))?;
        if n == 0 {
            return Err(format!("{addr} closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(addr: &str, b: &[u8]) -> Result<T, String> {
    serde_json::from_slice(b).map_err(|e| format!("{addr}: unexpected answer: {e}"))
}

/// `tessera cluster create [--replicas R] HOST:PORT...`: every node must
/// be empty, as redis-cli demands (a key outside the slots its node gets
/// would be unreachable).
pub fn create(addrs: &[String], replicas: usize) -> Result<ClusterMap, String> {
    for a in addrs {
        let keys = key_count(a)?;
        if keys > 0 {
            return Err(format!(
                "{a} holds about {keys} keys: a cluster is formed from empty nodes; to keep one node's data, adopt it with its replicas as a one-shard cluster (tessera cluster create --adopt PRIMARY [REPLICA...])"
            ));
        }
    }
    form(addrs, replicas, None)
}

/// `tessera cluster create --adopt PRIMARY [REPLICA...]`: an existing node
/// (restarted with `--cluster`; a restored backup too) becomes a one-shard
/// cluster serving every slot with its data, the others its replicas.
pub fn adopt(addrs: &[String]) -> Result<ClusterMap, String> {
    let Some((primary, replicas)) = addrs.split_first() else {
        return Err("give the primary's binary HOST:PORT, then its replicas'".into());
    };
    for r in replicas {
        let keys = key_count(r)?;
        let status = String::from_utf8_lossy(&call_request(
            r,
            &Request::Role {
                action: 0,
                arg: b"",
            },
        )?)
        .into_owned();
        let follows = status.lines().any(|l| {
            l.strip_prefix("role:replica ")
                .is_some_and(|p| same_addr(p, primary))
        });
        if keys > 0 && !follows {
            return Err(format!(
                "{r} holds about {keys} keys and is not a replica of {primary}: adopt only the primary's own replicas, or empty nodes"
            ));
        }
    }
    form(addrs, replicas.len(), None)
}

fn same_addr(a: &str, b: &str) -> bool {
    match (resolve(a.trim()), resolve(b.trim())) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// A node's key count (DBSIZE, RocksDB's estimate).
pub(crate) fn key_count(addr: &str) -> Result<u64, String> {
    let b = call_request(addr, &Request::DbSize)?;
    let mut r = crate::proto::codec::Reader::new(&b);
    r.u64("count")
        .map_err(|e| format!("{addr}: bad DBSIZE answer: {e}"))
}

/// Forms a cluster of `addrs` (see `create`). `resume`: the id of a
/// cluster whose forming was interrupted (the declared peers' path); nodes
/// that joined it already are taken again.
pub fn form(addrs: &[String], replicas: usize, resume: Option<&str>) -> Result<ClusterMap, String> {
    if addrs.is_empty() {
        return Err("give the nodes' binary HOST:PORT addresses".into());
    }
    let mut nodes = Vec::new();
    for a in addrs {
        resolve(a)?;
        let id: IdentityReply = json(a, &call(a, IDENTITY, b"")?)?;
        if id.formed {
            return Err(format!(
                "{a} ({}) is already in a cluster ({})",
                id.node.name,
                id.cluster_id.unwrap_or_default()
            ));
        }
        if let Some(c) = id.cluster_id.as_deref().filter(|c| Some(*c) != resume) {
            return Err(format!(
                "{a} ({}) has joined cluster {c} already; a node joins one cluster for the life of its data directory",
                id.node.name
            ));
        }
        nodes.push(id.node);
    }
    let l = layout(nodes, replicas)?;
    for w in &l.warnings {
        eprintln!("warning: {w}");
    }
    let cluster_id = match resume {
        Some(c) => c.to_string(),
        None => tessera_cluster::identity::random_hex40().map_err(|e| format!("random id: {e}"))?,
    };
    let join = serde_json::to_vec(&JoinRequest {
        format: MAP_FORMAT,
        cluster_id: cluster_id.clone(),
    })
    .map_err(|e| e.to_string())?;
    for a in addrs {
        call(a, JOIN, &join)?;
    }
    let change = Change::Form {
        format: MAP_FORMAT,
        cluster_id,
        nodes: l.nodes,
        shards: l.shards,
        slots: l.slots,
    };
    let body = serde_json::to_vec(&change).map_err(|e| e.to_string())?;
    let map: ClusterMap = json(&addrs[0], &call(&addrs[0], FORM, &body)?)?;
    // Every node applies the map through the controller's log.
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    for a in addrs {
        loop {
            // Applied the map, and (every node asks for it at once) holds
            // its write lease, so the first writes are taken.
            let st = call(a, STATUS, b"").and_then(|b| json::<Status>(a, &b));
            if st.is_ok_and(|s| s.map.epoch >= map.epoch && s.lease_ok) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{a} has not applied the new map (epoch {}) after {CONVERGE_TIMEOUT:?}; check `tessera cluster status --addr {a}`",
                    map.epoch
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(map)
}

/// Declarative forming (`cluster-peers`, `cluster-replicas` in every
/// node's configuration): the first peer listed forms the cluster once every
/// peer answers, exactly as `create` would; the others wait for the map.
/// Runs on its own thread until the map is formed (retrying every second),
/// so a peer that starts late only delays it.
pub fn form_declared(
    ctl: std::sync::Arc<tessera_cluster::Controller>,
    peers: Vec<String>,
    replicas: usize,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tessera-cluster-form".into())
        .spawn(move || {
            let me = ctl.me().binary.clone();
            let first = peers.first().and_then(|p| resolve(p).ok());
            let mut said = false;
            loop {
                if ctl.published().get().1.formed() || std::sync::Arc::strong_count(&ctl) == 1 {
                    return;
                }
                if first.is_some() && first == resolve(&me).ok() {
                    // Resume a forming this node began (its own cluster id).
                    let resume = ctl.identity().cluster_id;
                    match form(&peers, replicas, resume.as_deref()) {
                        Ok(m) => {
                            tracing::info!(
                                "cluster: formed {} from cluster-peers ({} nodes)",
                                m.cluster_id,
                                m.nodes.len()
                            );
                            return;
                        }
                        Err(e) if !said => {
                            tracing::info!("cluster: waiting for every cluster-peer: {e}");
                            said = true;
                        }
                        Err(_) => {}
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
}

/// `tessera cluster status --addr HOST:PORT`
pub fn status(addr: &str) -> Result<Status, String> {
    resolve(addr)?;
    json(addr, &call(addr, STATUS, b"")?)
}

/// The map as `create` and `status` print it.
pub fn render_map(map: &ClusterMap) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if !map.formed() {
        return "cluster: not formed (start nodes with --cluster, then run tessera cluster create)\n"
            .into();
    }
    let _ = writeln!(
        s,
        "cluster {} epoch {} · {} node(s), {} shard(s), {} of 16384 slots assigned",
        map.cluster_id,
        map.epoch,
        map.nodes.len(),
        map.shards.len(),
        map.slots_assigned()
    );
    for shard in map.shards.values() {
        let ranges: Vec<String> = map
            .ranges_of(shard.id)
            .map(|r| format!("{}-{}", r.start, r.end))
            .collect();
        let _ = writeln!(s, "shard {} slots {}", shard.id, ranges.join(","));
        for id in std::iter::once(&shard.primary).chain(&shard.replicas) {
            if let Some(n) = map.nodes.get(id) {
                let _ = writeln!(
                    s,
                    "  {} {} {} resp={} http={} partitions={} {:?}",
                    if *id == shard.primary {
                        "primary"
                    } else {
                        "replica"
                    },
                    n.name,
                    n.binary,
                    n.resp.as_deref().unwrap_or("off"),
                    n.http.as_deref().unwrap_or("off"),
                    n.partitions,
                    n.health
                );
            }
        }
    }
    for m in &map.migrations {
        let _ = writeln!(
            s,
            "migration {}: {} slot(s) {}-{} from shard {} to shard {}, stage {}, attempt {}",
            m.id,
            m.slots.len(),
            m.slots.first().copied().unwrap_or(0),
            m.slots.last().copied().unwrap_or(0),
            m.from,
            m.to,
            m.stage.name(),
            m.attempts
        );
    }
    s
}

/// The whole status as `tessera cluster status` prints it.
pub fn render_status(st: &Status) -> String {
    use std::fmt::Write;
    let mut s = render_map(&st.map);
    let c = &st.controller;
    let name = |id: u64| {
        st.map
            .nodes
            .get(&id)
            .map(|n| format!("{} ({})", n.name, n.binary))
            .unwrap_or_else(|| format!("{id:x}"))
    };
    let _ = writeln!(
        s,
        "controller: this node {} is {} · term {} · leader {} · last log {} · applied {}",
        st.name,
        c.role,
        c.term,
        c.leader.map(name).unwrap_or_else(|| "none".into()),
        c.last_log_index.unwrap_or(0),
        c.last_applied.unwrap_or(0)
    );
    let list = |ids: &[u64]| ids.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", ");
    let _ = writeln!(s, "voters: {}", list(&c.voters));
    if !c.learners.is_empty() {
        let _ = writeln!(s, "learners: {}", list(&c.learners));
    }
    for (id, lag) in &c.lag {
        let _ = writeln!(s, "lag {}: {lag} entries", name(*id));
    }
    s
}

/// The shard `to` names: a shard number, or a node's 40-hex id (its shard).
pub(crate) fn shard_named(map: &ClusterMap, to: &str) -> Result<u32, String> {
    if let Ok(n) = to.parse::<u32>() {
        return map
            .shards
            .contains_key(&n)
            .then_some(n)
            .ok_or_else(|| format!("the cluster has no shard {n}"));
    }
    map.node_named(to)
        .map(|n| n.shard)
        .ok_or_else(|| format!("{to:?} is neither a shard number nor a node id of this cluster"))
}

/// `tessera cluster migrate-slots SLOTS --to SHARD`: moves the slots to the
/// shard, one migration per source shard, printing each stage as the map
/// records it, until every slot has moved. Resumable: slots already there
/// are skipped, and a migration of the same slots already in progress is
/// followed instead of started again.
pub fn migrate_slots(
    addr: &str,
    slots: &str,
    to: &str,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    let slots = tessera_cluster::map::parse_slots(slots)?;
    let map = status(addr)?.map;
    if !map.formed() {
        return Err(format!("{addr} is not in a formed cluster"));
    }
    let to = shard_named(&map, to)?;
    let mut by_source: std::collections::BTreeMap<u32, Vec<u16>> = Default::default();
    let mut there = 0;
    for &s in &slots {
        match map.shard_of_slot(s) {
            Some(sh) if sh.id == to => there += 1,
            Some(sh) => by_source.entry(sh.id).or_default().push(s),
            None => return Err(format!("slot {s} has no owner")),
        }
    }
    if there > 0 {
        let _ = writeln!(out, "{there} slot(s) already on shard {to}");
    }
    for (from, slots) in by_source {
        run_migration(addr, &map, from, to, slots, out)?;
    }
    Ok(())
}

/// Moves `slots` (all shard `from`'s) to shard `to`, or follows that very
/// migration when it is in progress already, until it is done.
pub(crate) fn run_migration(
    addr: &str,
    map: &ClusterMap,
    from: u32,
    to: u32,
    slots: Vec<u16>,
    out: &mut dyn std::io::Write,
) -> Result<(), String> {
    let existing = map
        .migrations
        .iter()
        .find(|m| m.from == from && m.to == to && m.slots == slots)
        .map(|m| m.id);
    let id = match existing {
        Some(id) => {
            let _ = writeln!(out, "following migration {id}, already in progress");
            id
        }
        None => {
            // Both primaries must answer: slots move only between live ones
            // (the controller's leader refuses a primary the map marks
            // failed, but a dead primary without replicas is never marked).
            for shard in [from, to] {
                let p = map
                    .shards
                    .get(&shard)
                    .and_then(|s| map.nodes.get(&s.primary))
                    .ok_or_else(|| format!("shard {shard} has no primary"))?;
                status(&p.binary).map_err(|e| {
                    format!(
                        "shard {shard}'s primary {} ({}) is down: slots move only between live primaries ({e})",
                        p.name, p.binary
                    )
                })?;
            }
            let body = serde_json::to_vec(&tessera_cluster::controller::migrate::MigrateRequest {
                format: RPC_FORMAT,
                change: Change::MigrateStart {
                    slots: slots.clone(),
                    from,
                    to,
                },
                abort: false,
                and_flip: false,
            })
            .map_err(|e| e.to_string())?;
            json::<u64>(addr, &call(addr, MIGRATE, &body)?)?
        }
    };
    let _ = writeln!(
        out,
        "migration {id}: {} slot(s) from shard {from} to shard {to}",
        slots.len()
    );
    follow_migration(addr, id, out)?;
    Ok(())
}

/// Migration `id`'s progress as its target's primary reports it (keys and
/// bytes copied or replayed, batches the source was ahead at the last
/// pull, each partition's state), if that node answers.
pub fn migration_progress(map: &ClusterMap, id: u64) -> Option<String> {
    let m = map.migrations.iter().find(|m| m.id == id)?;
    let target = map
        .shards
        .get(&m.to)
        .and_then(|s| map.nodes.get(&s.primary))?;
    let st: Status = json(&target.binary, &call(&target.binary, STATUS, b"").ok()?).ok()?;
    let lines = st.migrations.get(&id)?;
    let (keys, bytes) = lines
        .values()
        .filter(|r| r.attempt == m.attempts)
        .fold((0, 0), |(k, b), r| (k + r.keys, b + r.bytes));
    let behind = lines.values().map(|r| r.behind).max().unwrap_or(0);
    let states: Vec<String> = lines
        .iter()
        .map(|(p, r)| format!("partition {p} {:?}", r.state))
        .collect();
    Some(format!(
        "{keys} keys, {:.1} MiB moved in; the source was {behind} batch(es) ahead at the last pull; {}",
        bytes as f64 / (1 << 20) as f64,
        states.join(", ")
    ))
}

/// `tessera cluster status`: the map, the controller, and each
/// migration's progress from its target.
pub fn status_report(addr: &str) -> Result<String, String> {
    use std::fmt::Write as _;
    let st = status(addr)?;
    let mut s = render_status(&st);
    for m in &st.map.migrations {
        if let Some(p) = migration_progress(&st.map, m.id) {
            let _ = writeln!(s, "migration {}: {p}", m.id);
        }
    }
    Ok(s)
}

/// `tessera cluster abort-migration`: ends the migration in progress
/// before its flip (the controller refuses a hand-over, and a clean-up
/// whose source is up).
pub fn abort_migration(addr: &str) -> Result<String, String> {
    let map = status(addr)?.map;
    let Some(m) = map.migrations.first() else {
        return Ok("no migration in progress\n".into());
    };
    let body = serde_json::to_vec(&tessera_cluster::controller::migrate::MigrateRequest {
        format: RPC_FORMAT,
        change: Change::MigrateEnd { id: m.id },
        abort: true,
        and_flip: false,
    })
    .map_err(|e| e.to_string())?;
    let epoch = json::<u64>(addr, &call(addr, MIGRATE, &body)?)?;
    Ok(match m.stage {
        Stage::Cleanup => format!(
            "migration {} ended (epoch {epoch}): its slots are shard {}'s; the down source keeps its stale copy until it is removed or wiped\n",
            m.id, m.to
        ),
        _ => format!(
            "migration {} aborted (epoch {epoch}): its {} slot(s) stay with shard {}; the target drops what it copied\n",
            m.id,
            m.slots.len(),
            m.from
        ),
    })
}

/// Prints migration `id`'s stages until the map no longer has it: done
/// when its slots are the target's then, an error when it was aborted.
fn follow_migration(addr: &str, id: u64, out: &mut dyn std::io::Write) -> Result<(), String> {
    let started = Instant::now();
    let mut last = None;
    let mut said = Instant::now();
    let mut seen: Option<(u16, u32)> = None;
    loop {
        let map = status(addr)?.map;
        // `addr` may not have applied the migration's start yet (its id is
        // the epoch that started it).
        if map.epoch < id {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let Some(m) = map.migrations.iter().find(|m| m.id == id) else {
            if let Some((slot, to)) = seen {
                if map.shard_of_slot(slot).map(|s| s.id) != Some(to) {
                    return Err(format!(
                        "migration {id} was aborted (epoch {}): its slots stayed with their source",
                        map.epoch
                    ));
                }
            }
            let _ = writeln!(
                out,
                "migration {id}: done in {:.1} s (epoch {})",
                started.elapsed().as_secs_f64(),
                map.epoch
            );
            return Ok(());
        };
        seen = m.slots.first().map(|&s| (s, m.to));
        let now = (m.stage, m.attempts);
        if last != Some(now) {
            let _ = writeln!(
                out,
                "migration {id}: stage {} (attempt {}) at {:.1} s",
                m.stage.name(),
                m.attempts,
                started.elapsed().as_secs_f64()
            );
            last = Some(now);
            said = Instant::now();
        } else if said.elapsed() > Duration::from_secs(10) {
            let _ = writeln!(
                out,
                "migration {id}: still at stage {} after {:.0} s: {}",
                m.stage.name(),
                started.elapsed().as_secs_f64(),
                migration_progress(&map, id).unwrap_or_else(|| "no progress report".into())
            );
            said = Instant::now();
        }
        let _ = out.flush();
        std::thread::sleep(Duration::from_millis(50));
    }
}
