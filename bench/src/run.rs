//! One benchmark run: connect, preload, warm up, measure, report.
//!
//! The generator is itself thread-per-core: one pinned glommio executor per
//! generator CPU, each owning its share of the connections (connection i
//! belongs to thread i % threads). Threads share nothing; they report to the
//! main thread over channels (progress once a second, totals at the end).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};
use tessera_client::Client;
use tessera_wire::Topology;

use crate::driver::{Driver, Outcome, Proto};
use crate::stats::{latency, Latency, Schedule, Stats};
use crate::workload::{key_name, value_source, Dist, KeyPicker, Mix, Op, Req, ValueSize, Workload};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Shown in progress lines and reports, e.g. `C1000-V256 SET`.
    pub label: String,
    pub proto: Proto,
    pub addr: SocketAddr,
    /// Sockets in all.
    pub conns: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    pub keyspace: u64,
    pub dist: Dist,
    pub mix: Mix,
    pub values: ValueSize,
    /// Measured time (after the warm-up), unless `requests` is given.
    pub duration: Duration,
    /// Stop after this many measured requests instead.
    pub requests: Option<u64>,
    pub warmup: Duration,
    /// Open loop: total requests per second over all connections.
    pub rate: Option<f64>,
    /// Write every key of the key space before measuring.
    pub preload: bool,
    pub seed: u64,
    /// Generator threads, one per CPU listed (pinned).
    pub cpus: Vec<usize>,
    /// Print a progress line every second (stderr).
    pub progress: bool,
}

/// Every figure of a run (serialised into `--json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    pub label: String,
    pub proto: Proto,
    pub addr: String,
    pub connections: usize,
    pub pipeline: usize,
    pub keyspace: u64,
    pub distribution: String,
    pub mix: String,
    pub value_bytes: String,
    pub rate: Option<f64>,
    pub threads: usize,
    /// Requests answered in the measured window (errors and misses included).
    pub ops: u64,
    pub seconds: f64,
    pub qps: f64,
    pub latency: Latency,
    pub errors: BTreeMap<String, u64>,
    pub misses: u64,
    /// Generator CPU use during the measured window, in cores.
    pub generator_cpu_cores: f64,
    pub preload_seconds: f64,
}

impl RunResult {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One connection's place: where it connects and which keys it uses.
#[derive(Clone)]
struct ConnPlan {
    addr: SocketAddr,
    pool: Arc<Vec<u32>>,
    /// This connection's index among those sharing `pool`, and their number.
    slot: usize,
    slots: usize,
}

enum ToThread {
    Preload,
    Measure {
        start: Instant,
        measure_from: Instant,
        end: Instant,
    },
}

enum FromThread {
    Connected(Result<(), String>),
    Preloaded(u64),
    Progress(Stats),
    Done(Stats, Instant),
}

/// Runs `f` on a glommio executor on the calling thread.
pub fn block_on<T: 'static>(
    f: impl std::future::Future<Output = T> + 'static,
) -> Result<T, String> {
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(64 << 10)
        .make()
        .map_err(|e| format!("glommio executor: {e}"))
        .map(|ex| ex.run(f))
}

/// Splits the key space: per server core for the binary protocol (each
/// socket then only carries keys its core owns), one pool for RESP.
fn plan(spec: &RunSpec) -> Result<Vec<ConnPlan>, String> {
    if spec.keyspace == 0 || spec.keyspace > u32::MAX as u64 {
        return Err(format!(
            "key space {} must be between 1 and {}",
            spec.keyspace,
            u32::MAX
        ));
    }
    let (addrs, pools): (Vec<SocketAddr>, Vec<Vec<u32>>) = match spec.proto {
        Proto::Resp => (vec![spec.addr], vec![(0..spec.keyspace as u32).collect()]),
        Proto::Binary => binary_pools(spec)?,
    };
    let live: Vec<(SocketAddr, Arc<Vec<u32>>)> = addrs
        .into_iter()
        .zip(pools)
        .filter(|(_, p)| !p.is_empty())
        .map(|(a, p)| (a, Arc::new(p)))
        .collect();
    let n = live.len();
    Ok((0..spec.conns)
        .map(|i| {
            let (addr, pool) = &live[i % n];
            ConnPlan {
                addr: *addr,
                pool: pool.clone(),
                slot: i / n,
                slots: spec.conns / n + usize::from(i % n < spec.conns % n),
            }
        })
        .collect())
}

/// The binary protocol's pools: one per server core, so every socket only
/// carries keys its core owns. In a cluster, one per core of every primary
/// (each key goes to the node serving its slot, then to that node's core).
fn binary_pools(spec: &RunSpec) -> Result<(Vec<SocketAddr>, Vec<Vec<u32>>), String> {
    let addr = spec.addr;
    let slots = block_on(async move {
        let c = Client::connect_direct(addr).await?;
        Ok::<_, tessera_client::ClientError>(c.fetch_slots().await)
    })?
    .map_err(|e| format!("HELLO from {addr}: {e}"))?;
    // The nodes to load: this one, or every primary of the cluster.
    let nodes: Vec<SocketAddr> = match &slots {
        None => vec![addr],
        Some(t) => {
            let mut v: Vec<SocketAddr> = t
                .ranges
                .iter()
                .map(|r| {
                    r.primary
                        .parse()
                        .map_err(|_| format!("bad primary address {}", r.primary))
                })
                .collect::<Result<_, _>>()?;
            v.sort();
            v.dedup();
            v
        }
    };
    let mut addrs = Vec::new();
    let mut first_pool = Vec::new();
    let mut topos = Vec::new();
    for n in &nodes {
        let n = *n;
        let hello = block_on(async move {
            let c = Client::connect_direct(n).await?;
            Ok::<_, tessera_client::ClientError>(c.hello().clone())
        })?
        .map_err(|e| format!("HELLO from {n}: {e}"))?;
        let topo = Topology::from_hello(&hello).map_err(|e| format!("bad HELLO: {e}"))?;
        first_pool.push(addrs.len());
        addrs.extend(hello.core_ports.iter().map(|p| SocketAddr::new(n.ip(), *p)));
        topos.push(topo);
    }
    let mut pools = vec![Vec::new(); addrs.len()];
    let mut k = Vec::new();
    for i in 0..spec.keyspace as u32 {
        key_name(i as u64, &mut k);
        let node = match &slots {
            None => 0,
            Some(t) => {
                let slot = tessera_wire::slot::key_slot(&k);
                let p = t.primary_of(slot).unwrap_or_default();
                nodes.iter().position(|n| n.to_string() == p).unwrap_or(0)
            }
        };
        pools[first_pool[node] + topos[node].core_of_key(&k)].push(i);
    }
    Ok((addrs, pools))
}

// getrusage(2) into a zeroed plain-data struct.
#[allow(unsafe_code)]
fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain data; all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct given, which outlives the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Runs the benchmark described by `spec`.
pub fn run(spec: &RunSpec) -> Result<RunResult, String> {
    if spec.conns == 0 || spec.pipeline == 0 {
        return Err("connections and pipeline depth must be at least 1".into());
    }
    let plans = plan(spec)?;
    let threads = spec.cpus.len().clamp(1, spec.conns);
    let values = value_source(spec.values.hi, spec.seed);
    let (up_tx, up_rx) = flume::unbounded::<FromThread>();
    let mut downs = Vec::new();
    let mut joins = Vec::new();
    for t in 0..threads {
        let mine: Vec<(usize, ConnPlan)> = plans
            .iter()
            .enumerate()
            .filter(|(i, _)| i % threads == t)
            .map(|(i, p)| (i, p.clone()))
            .collect();
        let (down_tx, down_rx) = flume::unbounded::<ToThread>();
        downs.push(down_tx);
        let up = up_tx.clone();
        let spec = spec.clone();
        let values = values.clone();
        let cpu = spec.cpus[t % spec.cpus.len().max(1)];
        let j = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || {
                let ex = LocalExecutorBuilder::new(Placement::Fixed(cpu))
                    .io_memory(64 << 10)
                    .name(&format!("bench-{t}"))
                    .make();
                match ex {
                    Ok(ex) => ex.run(thread_main(spec, mine, values, up, down_rx)),
                    Err(e) => {
                        let _ = up.send(FromThread::Connected(Err(format!(
                            "generator thread on CPU {cpu}: {e}"
                        ))));
                    }
                }
            })
            .map_err(|e| format!("spawn generator thread: {e}"))?;
        joins.push(j);
    }
    drop(up_tx);
    let result = drive(spec, threads, &downs, &up_rx);
    drop(downs);
    for j in joins {
        let _ = j.join();
    }
    result
}

/// The main thread's side: phases, progress lines, totals.
fn drive(
    spec: &RunSpec,
    threads: usize,
    downs: &[flume::Sender<ToThread>],
    up: &flume::Receiver<FromThread>,
) -> Result<RunResult, String> {
    let recv = || {
        up.recv()
            .map_err(|_| "a generator thread stopped unexpectedly".to_string())
    };
    for _ in 0..threads {
        if let FromThread::Connected(Err(e)) = recv()? {
            return Err(e);
        }
    }
    let mut preload_seconds = 0.0;
    if spec.preload {
        let t0 = Instant::now();
        for d in downs {
            let _ = d.send(ToThread::Preload);
        }
        let mut errors = 0;
        for _ in 0..threads {
            if let FromThread::Preloaded(e) = recv()? {
                errors += e;
            }
        }
        preload_seconds = t0.elapsed().as_secs_f64();
        if errors > 0 {
            return Err(format!("preload: {errors} writes failed"));
        }
        if spec.progress {
            eprintln!(
                "[{}] preloaded {} keys in {:.1}s",
                spec.label, spec.keyspace, preload_seconds
            );
        }
    }
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + spec.warmup;
    let end = if spec.requests.is_some() {
        // Until every connection has sent its share.
        start + Duration::from_secs(365 * 24 * 3600)
    } else {
        measure_from + spec.duration
    };
    for d in downs {
        let _ = d.send(ToThread::Measure {
            start,
            measure_from,
            end,
        });
    }
    let mut total = Stats::default();
    let mut window = Stats::default();
    let mut so_far = Stats::default();
    let mut last_print = Instant::now();
    let mut last_done = measure_from;
    let mut cpu_at_start = None;
    let mut done = 0;
    while done < threads {
        if cpu_at_start.is_none() && Instant::now() >= measure_from {
            cpu_at_start = Some((cpu_seconds(), Instant::now()));
        }
        match up.recv_timeout(Duration::from_millis(100)) {
            Ok(FromThread::Progress(s)) => {
                window.merge(&s);
                so_far.merge(&s);
            }
            Ok(FromThread::Done(s, last)) => {
                total.merge(&s);
                last_done = last_done.max(last);
                done += 1;
            }
            Ok(_) => {}
            Err(flume::RecvTimeoutError::Timeout) => {}
            Err(flume::RecvTimeoutError::Disconnected) => {
                return Err("a generator thread stopped unexpectedly".into())
            }
        }
        if spec.progress && last_print.elapsed() >= Duration::from_secs(1) {
            let secs = last_print.elapsed().as_secs_f64();
            let phase = if Instant::now() < measure_from {
                " (warm-up)"
            } else {
                ""
            };
            eprintln!(
                "[{}] {:>9.0} ops/s  errors {}  p99 so far {:.3} ms{}",
                spec.label,
                window.ops as f64 / secs,
                so_far.error_count(),
                so_far.latency().p99_ms,
                phase
            );
            window.reset();
            last_print = Instant::now();
        }
    }
    let (cpu0, wall0) = cpu_at_start.unwrap_or((cpu_seconds(), measure_from));
    let cpu_cores = (cpu_seconds() - cpu0) / wall0.elapsed().as_secs_f64().max(1e-9);
    let window_end = if spec.requests.is_some() {
        last_done
    } else {
        end
    };
    let seconds = window_end
        .saturating_duration_since(measure_from)
        .as_secs_f64()
        .max(1e-9);
    let r = RunResult {
        label: spec.label.clone(),
        proto: spec.proto,
        addr: spec.addr.to_string(),
        connections: spec.conns,
        pipeline: spec.pipeline,
        keyspace: spec.keyspace,
        distribution: spec.dist.to_string(),
        mix: spec.mix.to_string(),
        value_bytes: spec.values.to_string(),
        rate: spec.rate,
        threads,
        ops: total.ops,
        seconds,
        qps: total.ops as f64 / seconds,
        latency: total.latency(),
        errors: total.errors.clone(),
        misses: total.misses,
        generator_cpu_cores: cpu_cores,
        preload_seconds,
    };
    if r.error_count() > 0 {
        eprintln!(
            "!!! [{}] {} ERROR REPLIES OR FAILURES: {:?}",
            r.label,
            r.error_count(),
            r.errors
        );
    }
    if r.misses > 0 && spec.mix.has(Op::Get) && spec.preload {
        eprintln!(
            "!!! [{}] {} reads missed after the preload",
            r.label, r.misses
        );
    }
    Ok(r)
}

type Shared = std::rc::Rc<std::cell::RefCell<(Stats, Stats)>>;

async fn thread_main(
    spec: RunSpec,
    mine: Vec<(usize, ConnPlan)>,
    values: Arc<Vec<u8>>,
    up: flume::Sender<FromThread>,
    down: flume::Receiver<ToThread>,
) {
    // Connect everything first, a few hundred at a time.
    let mut conns = Vec::with_capacity(mine.len());
    for chunk in mine.chunks(256) {
        let got = futures::future::join_all(
            chunk
                .iter()
                .map(|(_, p)| Driver::connect(spec.proto, p.addr)),
        )
        .await;
        for (d, (i, p)) in got.into_iter().zip(chunk) {
            match d {
                Ok(d) => conns.push((*i, p.clone(), d)),
                Err(e) => {
                    let _ = up.send(FromThread::Connected(Err(e)));
                    return;
                }
            }
        }
    }
    let _ = up.send(FromThread::Connected(Ok(())));
    let mut msg = down.recv_async().await;
    if let Ok(ToThread::Preload) = msg {
        let failures = futures::future::join_all(
            conns
                .iter_mut()
                .map(|(_, p, d)| preload(d, p, spec.values, &values)),
        )
        .await
        .into_iter()
        .sum();
        let _ = up.send(FromThread::Preloaded(failures));
        msg = down.recv_async().await;
    }
    let Ok(ToThread::Measure {
        start,
        measure_from,
        end,
    }) = msg
    else {
        return;
    };
    let shared: Shared = Default::default();
    let total_conns = spec.conns as u64;
    let mut tasks = Vec::new();
    for (i, p, d) in conns {
        let limit = spec
            .requests
            .map(|n| n / total_conns + u64::from((i as u64) < n % total_conns));
        let keys = KeyPicker::new(p.pool.clone(), spec.dist, p.slot, p.slots);
        let work = Workload::new(
            keys,
            spec.mix.clone(),
            spec.values,
            spec.seed.wrapping_mul(0x9E37_79B9).wrapping_add(i as u64),
            values.len(),
        );
        let sched = spec
            .rate
            .map(|r| Schedule::new(start, r / total_conns as f64));
        let shared = shared.clone();
        let values = values.clone();
        let depth = spec.pipeline;
        tasks.push(glommio::spawn_local(async move {
            conn_loop(
                d,
                work,
                depth,
                limit,
                sched,
                (start, measure_from, end),
                &values,
                &shared,
            )
            .await
        }));
    }
    // Progress: hand the interval's figures to the main thread every second.
    let ticker_shared = shared.clone();
    let ticker_up = up.clone();
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let ticker_stop = stop.clone();
    let ticker = glommio::spawn_local(async move {
        while !ticker_stop.get() {
            glommio::timer::sleep(Duration::from_millis(250)).await;
            let mut s = ticker_shared.borrow_mut();
            if s.0.ops > 0 || s.0.error_count() > 0 {
                let interval = std::mem::take(&mut s.0);
                let _ = ticker_up.send(FromThread::Progress(interval));
            }
        }
    });
    let mut last = measure_from;
    for t in tasks {
        last = last.max(t.await);
    }
    stop.set(true);
    ticker.await;
    let (interval, total) = std::mem::take(&mut *shared.borrow_mut());
    let _ = up.send(FromThread::Progress(interval));
    let _ = up.send(FromThread::Done(total, last));
}

/// Writes this connection's slice of its key pool once; returns failures.
async fn preload(d: &mut Driver, p: &ConnPlan, values: ValueSize, source: &[u8]) -> u64 {
    let len = p.pool.len();
    let (from, to) = (len * p.slot / p.slots, len * (p.slot + 1) / p.slots);
    let mut out = Vec::new();
    let mut failures = 0;
    for chunk in p.pool[from..to].chunks(64) {
        let reqs: Vec<Req> = chunk
            .iter()
            .map(|k| Req {
                op: Op::Set,
                key: *k as u64,
                value_at: (*k as usize) % (source.len() - values.hi + 1),
                value_len: values.hi,
            })
            .collect();
        out.clear();
        let alive = d.run(&reqs, source, &mut out).await;
        failures += out
            .iter()
            .filter(|(o, _)| matches!(o, Outcome::Err(_)))
            .count() as u64;
        if !alive {
            return failures + (to - from) as u64;
        }
    }
    failures
}

/// One connection's closed (or paced, open) loop. Returns the time of its
/// last counted reply.
#[allow(clippy::too_many_arguments)]
async fn conn_loop(
    mut d: Driver,
    mut work: Workload,
    depth: usize,
    limit: Option<u64>,
    sched: Option<Schedule>,
    (start, measure_from, end): (Instant, Instant, Instant),
    values: &[u8],
    shared: &Shared,
) -> Instant {
    let now = Instant::now();
    if start > now {
        glommio::timer::sleep(start - now).await;
    }
    let mut batch = Vec::with_capacity(depth);
    let mut out = Vec::with_capacity(depth);
    let (mut sent, mut counted) = (0u64, 0u64);
    let mut last = measure_from;
    loop {
        let now = Instant::now();
        if now >= end || limit.is_some_and(|l| counted >= l) {
            return last;
        }
        let n = match limit {
            Some(l) => depth.min((l - counted) as usize).max(1),
            None => depth,
        };
        batch.clear();
        batch.extend((0..n).map(|_| work.next_req()));
        let from = match sched {
            Some(s) => {
                let due = s.due(sent);
                let now = Instant::now();
                if due > now {
                    glommio::timer::sleep(due - now).await;
                }
                due
            }
            None => Instant::now(),
        };
        sent += n as u64;
        out.clear();
        let alive = d.run(&batch, values, &mut out).await;
        let mut guard = shared.borrow_mut();
        let (interval, total) = &mut *guard;
        for (o, t) in out.drain(..) {
            // Requests sent during the warm-up and replies after the end
            // are not counted.
            if from < measure_from || t > end {
                continue;
            }
            counted += 1;
            last = last.max(t);
            let lat = latency(from, t);
            for st in [&mut *interval, &mut *total] {
                st.record(lat);
                match &o {
                    Outcome::Ok => {}
                    Outcome::Miss => st.misses += 1,
                    Outcome::Err(name) => st.error(name),
                }
            }
        }
        drop(guard);
        if !alive {
            return last;
        }
    }
}
