//! The runner: broker up (and midge's fault proxy in front of it when the
//! scenario has faults), clients ramped at their connect rates, publishing
//! once every client is connected and subscribed, faults on schedule, drain,
//! shutdown, then the assembly of one `Report`.

use crate::analysis;
use crate::broker::{self, BrokerError, BrokerHandle};
use crate::client::{run_client, ClientContext, ClientOutcome, Phase};
use crate::faults::malformed::Misbehave;
use crate::faults::proxy::FaultProxy;
use crate::faults::schedule::{self, FaultContext};
use crate::metrics::Metrics;
use crate::mqtt::transport::TlsClient;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::record::{
    BrokerRecord, FaultLog, GeneratorRecord, PublishWindow, RunClock, RunRecord, TimePoint, RECORD_FORMAT,
};
use crate::report::Report;
use crate::sys::SysWatcher;
use crate::workers::WorkerPool;
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

/// Exit statuses (documented in the README).
pub mod exit {
    pub const PASS: i32 = 0;
    pub const EXPECTATION_FAILED: i32 = 1;
    pub const BAD_INPUT: i32 = 2;
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Default)]
pub struct RunOptions {
    /// Draw the live one-line progress display (on a terminal).
    pub progress: bool,
    /// Turns true when the user asks to stop (Ctrl-C).
    pub interrupt: Option<watch::Receiver<bool>>,
    /// Client worker threads (`--workers`; default: one per core).
    pub workers: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Limits(String),
    #[error("{0}")]
    Secrets(String),
    #[error("cannot reach the broker at {url} ({addr}): {cause}")]
    Unreachable { url: String, addr: std::net::SocketAddr, cause: String },
    #[error("cannot start the fault proxy: {0}")]
    Proxy(std::io::Error),
    #[error("cannot start midge's worker threads: {0}")]
    Workers(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

pub struct RunOutput {
    pub report: Report,
    /// What the run observed: the report is `analysis::analyse(plan, record)`.
    pub record: RunRecord,
    pub exit_code: i32,
}

/// Waits for the interrupt flag, or forever when there is none.
async fn interrupted(rx: &mut Option<watch::Receiver<bool>>) {
    match rx {
        Some(rx) => {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        }
        None => std::future::pending().await,
    }
}

/// Everything in place before the first client connects.
struct Prepared {
    plan: Plan,
    broker: BrokerHandle,
    sys_watch: Option<SysWatcher>,
    links: Links,
}

/// How the swarm reaches the broker.
#[derive(Clone)]
struct Links {
    proxy: Option<Arc<FaultProxy>>,
    tls: Option<TlsClient>,
    /// Where clients connect: the broker, or the proxy in front of it.
    client_addr: std::net::SocketAddr,
}

/// Secrets, limits, TLS, the broker (started or reached), the proxy, the
/// $SYS watcher and the source addresses.
async fn prepare(mut plan: Plan) -> Result<Prepared, RunError> {
    plan.resolve_secrets().map_err(|e| RunError::Secrets(e.to_string()))?;
    let twins: u64 = plan
        .faults
        .iter()
        .filter(|f| f.action == crate::scenario::FaultAction::DuplicateIds)
        .map(|f| f.targets.len() as u64)
        .sum();
    // + 1: the $SYS watcher.
    let connections = plan.clients.len() as u64 + twins + 1;
    crate::limits::ensure_open_files(connections).map_err(RunError::Limits)?;
    let tls = plan.tls.as_ref().map(TlsClient::new).transpose().map_err(RunError::Tls)?;
    if tls.is_some() && plan.needs_proxy() {
        return Err(RunError::Tls(
            "the cut, blackhole, delay and drop faults need midge's proxy, which cannot read TLS: run them against mqtt://".into(),
        ));
    }
    let protocol = plan.groups.first().map(|g| g.protocol).unwrap_or_default();
    let broker = broker::start(&plan.broker, protocol, &plan.mosquitto_conf, plan.persistence).await?;
    preflight(&broker).await?;
    let proxy = match plan.needs_proxy() {
        true => Some(Arc::new(FaultProxy::start(broker.addr, Vec::new()).await.map_err(RunError::Proxy)?)),
        false => None,
    };
    let sys_watch = spawn_sys_watch(&plan, &broker, tls.clone());
    let client_addr = proxy.as_ref().map_or(broker.addr, |p| p.addr);
    plan.source_addrs = crate::limits::plan_source_addrs(
        connections,
        &plan.source_addrs,
        client_addr,
        crate::limits::ephemeral_range(),
    )
    .map_err(RunError::Limits)?;
    Ok(Prepared { plan, broker, sys_watch, links: Links { proxy, tls, client_addr } })
}

/// The broker's own counters, straight to the broker (never through the
/// proxy's faults). The embedded broker publishes none.
fn spawn_sys_watch(plan: &Plan, broker: &BrokerHandle, tls: Option<TlsClient>) -> Option<SysWatcher> {
    if broker.kind == broker::EMBEDDED_KIND {
        return None;
    }
    let group = plan.groups.first()?;
    let mut options = group.connect_options(&format!("midge-sys-{:08x}", plan.run_id as u32));
    options.keep_alive_s = 60;
    options.clean_start = true;
    options.session_expiry_s = None;
    Some(SysWatcher::spawn(crate::sys::SysWatch {
        addr: broker.addr,
        protocol: group.protocol,
        tls,
        options,
        clock: RunClock::new(),
        // The generated mosquitto.conf says `sys_interval 1`.
        interval: broker.pid().is_some().then_some(Duration::from_secs(1)),
    }))
}

/// The swarm while it runs: its clients, the run's shared state and the
/// tasks that watch it.
struct Swarm {
    plan: Arc<Plan>,
    metrics: Arc<Metrics>,
    pool: Arc<WorkerPool>,
    phase: watch::Sender<Phase>,
    orders: watch::Sender<Option<Arc<Misbehave>>>,
    progress: Progress,
    sampler: (JoinHandle<Vec<TimePoint>>, watch::Sender<bool>),
    ramps: Vec<Ramp>,
}

fn start_swarm(p: &Links, plan: Arc<Plan>, workers: Option<usize>, show: bool) -> Result<Swarm, RunError> {
    let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = Arc::new(WorkerPool::start(workers).map_err(RunError::Workers)?);
    // Shards only need to outnumber the threads that record into them; each
    // holds eight histograms.
    let metrics = Arc::new(Metrics::new((2 * pool.len()).clamp(2, 16)));
    let (orders, orders_rx) = watch::channel(None);
    let ctx = Arc::new(ClientContext {
        plan: plan.clone(),
        metrics: metrics.clone(),
        broker: p.client_addr,
        orders: orders_rx,
        tls: p.tls.clone(),
    });
    let (phase, phase_rx) = watch::channel(Phase::Connecting);
    let progress = Progress::new(show, plan.clients.len() as u32);
    let sampler = spawn_sampler(metrics.clone(), progress.clone());
    let ramps = spawn_ramps(&plan, &ctx, &phase_rx, &pool);
    Ok(Swarm { plan, metrics, pool, phase, orders, progress, sampler, ramps })
}

/// What midge measured of itself (and of a spawned broker) while publishing.
struct Publishing {
    window: PublishWindow,
    elapsed: Duration,
    cpu_s: f64,
    rss_kib: u64,
    loop_delay: Histogram<u64>,
    broker_cpu_s: Option<f64>,
    broker_rss_kib: Option<u64>,
    faults: Option<JoinHandle<FaultLog>>,
    interrupted: bool,
}

/// Publishing: from the phase change to the end of the duration (or every
/// counted publisher done, or an interrupt), faults on schedule.
async fn publish(s: &Swarm, p: &Links, broker: &Arc<Mutex<BrokerHandle>>, opts: &mut RunOptions) -> Publishing {
    let started = Instant::now();
    let cpu_at_start = crate::metrics::process_cpu_seconds();
    let broker_cpu_at_start = broker.lock().await.cpu_seconds();
    let (probe, stop_probe) = spawn_loop_probe(&s.pool);
    s.progress.set_stage("publishing");
    // A short lead so that every client sees the phase before its first slot.
    let start_us = s.metrics.clock.now_us() + 50_000;
    let end_us = start_us + s.plan.duration.as_micros() as u64;
    let _ = s.phase.send(Phase::Publishing { start_us, end_us });
    let faults = (!s.plan.faults.is_empty()).then(|| {
        let fctx = FaultContext {
            plan: s.plan.clone(),
            proxy: p.proxy.clone(),
            broker: broker.clone(),
            client_addr: p.client_addr,
            orders: s.orders.clone(),
            phase: s.phase.clone(),
            tls: p.tls.clone(),
            clock: s.metrics.clock,
        };
        tokio::spawn(schedule::run(fctx, start_us, s.phase.subscribe()))
    });
    let interrupted_now = tokio::select! {
        _ = tokio::time::sleep_until(Instant::from_std(s.metrics.clock.instant_at(end_us))) => false,
        _ = all_publishers_done(&s.plan, &s.metrics) => false,
        _ = interrupted(&mut opts.interrupt) => true,
    };
    let elapsed = started.elapsed();
    let window = PublishWindow { start_us, end_us, stopped_us: s.metrics.clock.now_us() };
    let cpu_s = crate::metrics::process_cpu_seconds() - cpu_at_start;
    let rss_kib = crate::metrics::process_rss_kib();
    let broker_rss_kib = broker.lock().await.rss_kib();
    let broker_cpu_s = match (broker_cpu_at_start, broker.lock().await.cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let _ = stop_probe.send(true);
    let mut loop_delay = crate::metrics::new_histogram();
    for h in probe {
        if let Ok(h) = h.await {
            let _ = loop_delay.add(&h);
        }
    }
    Publishing {
        window,
        elapsed,
        cpu_s,
        rss_kib,
        loop_delay,
        broker_cpu_s,
        broker_rss_kib,
        faults,
        interrupted: interrupted_now,
    }
}

/// Resolves when every publisher has sent its `count` — only when every
/// publisher has one and no fault waits for its time; else never.
async fn all_publishers_done(plan: &Plan, metrics: &Metrics) {
    let all_counted = plan.faults.is_empty()
        && plan
            .clients
            .iter()
            .filter(|c| c.publisher.is_some())
            .all(|c| plan.group_of(c).publish.as_ref().is_some_and(|p| p.count.is_some()));
    let publishers = plan.publishers.len() as u32;
    if all_counted && publishers > 0 {
        metrics.publishers_done.wait_for(publishers).await
    } else {
        std::future::pending().await
    }
}

pub async fn run(plan: Plan, mut opts: RunOptions) -> Result<RunOutput, RunError> {
    let Prepared { plan, broker, sys_watch, links } = prepare(plan).await?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let plan = Arc::new(plan);
    let swarm = start_swarm(&links, plan.clone(), opts.workers, opts.progress)?;
    let broker = Arc::new(Mutex::new(broker));

    let ramp_s = plan.groups.iter().map(|g| g.connect_rate.map_or(0.0, |r| g.clients as f64 / r)).fold(0.0, f64::max);
    let ready_limit =
        Duration::from_secs_f64(ramp_s) + crate::client::task::CONNECT_TIMEOUT * 2 + Duration::from_secs(5);
    let mut was_interrupted = false;
    tokio::select! {
        _ = timeout(ready_limit, swarm.metrics.ready.wait_for(plan.clients.len() as u32)) => {}
        _ = interrupted(&mut opts.interrupt) => was_interrupted = true,
    }
    let publishing = match was_interrupted {
        false => Some(publish(&swarm, &links, &broker, &mut opts).await),
        true => None,
    };
    was_interrupted |= publishing.as_ref().is_some_and(|p| p.interrupted);
    let _ = swarm.phase.send(Phase::Draining);
    swarm.progress.set_stage("draining");
    if !was_interrupted {
        tokio::select! {
            _ = drain(&swarm.metrics, plan.drain) => {}
            _ = interrupted(&mut opts.interrupt) => was_interrupted = true,
        }
    }
    if was_interrupted {
        // Even a stop on request lets what is in flight land (briefly), so
        // the report of what ran loses nothing to the stop itself.
        drain(&swarm.metrics, plan.drain.min(Duration::from_secs(2))).await;
    }
    let broker = broker.lock().await;
    let mut record = finish(swarm, sys_watch, publishing, &broker).await;
    record.started_at = started_at;
    record.interrupted = was_interrupted;
    let report = analysis::analyse(&plan, &record);
    // The peak includes the analysis: report and record say the same.
    let mut report = report;
    record.generator.peak_rss_kib = crate::metrics::process_peak_rss_kib();
    report.load_generator.peak_rss_kib = record.generator.peak_rss_kib;
    let exit_code = exit_code(&report);
    Ok(RunOutput { report, record, exit_code })
}

/// Shutdown: every client disconnects, its record is collected, and the
/// run record is put together.
async fn finish(
    swarm: Swarm,
    sys_watch: Option<SysWatcher>,
    publishing: Option<Publishing>,
    broker: &BrokerHandle,
) -> RunRecord {
    swarm.progress.set_stage("disconnecting");
    let _ = swarm.phase.send(Phase::Shutdown);
    // The broker's final round of $SYS values arrives while the clients disconnect.
    if let Some(w) = &sys_watch {
        w.stop();
    }
    let mut publishing = publishing;
    let faults = match publishing.as_mut().and_then(|p| p.faults.take()) {
        Some(h) => h.await.unwrap_or_default(),
        None => FaultLog::default(),
    };
    let (clients, lost_tasks) = join_clients(swarm.ramps).await;
    let sys = match sys_watch {
        Some(w) => w.finish().await,
        None => Default::default(),
    };
    let run_end_us = swarm.metrics.clock.now_us();
    let _ = swarm.sampler.1.send(true);
    let timeseries = swarm.sampler.0.await.unwrap_or_default();
    swarm.progress.finish();
    let (counters, latencies) = swarm.metrics.totals();
    let window = publishing.as_ref().map(|p| p.window);
    let p = publishing.unwrap_or_else(|| Publishing {
        window: PublishWindow::default(),
        elapsed: Duration::ZERO,
        cpu_s: 0.0,
        rss_kib: crate::metrics::process_rss_kib(),
        loop_delay: crate::metrics::new_histogram(),
        broker_cpu_s: None,
        broker_rss_kib: broker.rss_kib(),
        faults: None,
        interrupted: true,
    });
    RunRecord {
        format: RECORD_FORMAT,
        midge_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: swarm.plan.identity(),
        broker: BrokerRecord {
            url: broker.url.clone(),
            kind: broker.kind.to_string(),
            config: broker.config.clone(),
            log_lines: broker.telling_log_lines(),
            sys,
        },
        started_at: String::new(),
        publish_elapsed: p.elapsed,
        publishing: window,
        interrupted: false,
        lost_tasks,
        run_end_us,
        connected_peak: swarm.metrics.connected_peak.load(Ordering::Relaxed).max(0) as u64,
        counters,
        latencies,
        timeseries,
        clients,
        faults,
        generator: GeneratorRecord {
            workers: swarm.pool.len(),
            cpu_s: p.cpu_s,
            wall_s: p.elapsed.as_secs_f64(),
            rss_kib_at_publish_end: p.rss_kib,
            peak_rss_kib: 0,
            loop_delay: p.loop_delay,
            broker_cpu_s: p.broker_cpu_s,
            broker_rss_kib: p.broker_rss_kib,
        },
    }
}

type Ramp = JoinHandle<Vec<JoinHandle<ClientOutcome>>>;

/// Ramps every group at its own connect rate, all groups at once.
fn spawn_ramps(
    plan: &Plan,
    ctx: &Arc<ClientContext>,
    phase_rx: &watch::Receiver<Phase>,
    pool: &Arc<WorkerPool>,
) -> Vec<Ramp> {
    plan.groups
        .iter()
        .map(|g| {
            let ctx = ctx.clone();
            let phase = phase_rx.clone();
            let pool = pool.clone();
            let (first, n, rate) = (g.first_client, g.clients, g.connect_rate);
            tokio::spawn(async move {
                let start = Instant::now();
                let mut handles = Vec::with_capacity(n as usize);
                for i in 0..n {
                    if let Some(rate) = rate {
                        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                    }
                    if *phase.borrow() == Phase::Shutdown {
                        break;
                    }
                    let index = first + i;
                    handles.push(pool.spawn(index as usize, run_client(ctx.clone(), index, phase.clone())));
                }
                handles
            })
        })
        .collect()
}

/// Collects every client's outcome; a task that does not finish in time is
/// aborted and counted.
async fn join_clients(ramps: Vec<Ramp>) -> (Vec<ClientOutcome>, u64) {
    let mut outcomes = Vec::new();
    let mut lost = 0u64;
    let deadline = Instant::now() + Duration::from_secs(15);
    for ramp in ramps {
        let Ok(handles) = ramp.await else { continue };
        for mut h in handles {
            match tokio::time::timeout_at(deadline, &mut h).await {
                Ok(Ok(o)) => outcomes.push(o),
                Ok(Err(_)) => lost += 1,
                Err(_) => {
                    h.abort();
                    lost += 1;
                }
            }
        }
    }
    (outcomes, lost)
}

/// One TCP connection before the swarm, so an unreachable broker is one clear
/// error rather than thousands of failed clients.
async fn preflight(broker: &BrokerHandle) -> Result<(), RunError> {
    let unreachable = |cause: String| RunError::Unreachable { url: broker.url.clone(), addr: broker.addr, cause };
    match timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(broker.addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable("no answer within 5s".into())),
    }
}

/// Waits until nothing is in flight, no client is waiting to reconnect, and
/// deliveries have stopped for a moment — or the drain period is over.
async fn drain(metrics: &Metrics, limit: Duration) {
    let deadline = Instant::now() + limit;
    let quiet_for = Duration::from_millis(300);
    let mut last_received = u64::MAX;
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        let (counters, _) = metrics.totals();
        let received = counters.received_total();
        if received != last_received {
            last_received = received;
            quiet_since = Instant::now();
        }
        let settled = metrics.inflight.load(Ordering::Relaxed) <= 0 && metrics.offline.load(Ordering::Relaxed) <= 0;
        if settled && quiet_since.elapsed() >= quiet_for {
            return;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// The event-loop probe: a 10 ms timer, again and again, on every client
/// worker; how late it fires says how far behind midge's own threads are
/// (the saturation guard).
fn spawn_loop_probe(pool: &WorkerPool) -> (Vec<JoinHandle<hdrhistogram::Histogram<u64>>>, watch::Sender<bool>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let handles = (0..pool.len())
        .map(|worker| {
            let mut stop_rx = stop_rx.clone();
            pool.spawn(worker, async move {
                let mut h = crate::metrics::new_histogram();
                let tick = Duration::from_millis(10);
                loop {
                    let start = Instant::now();
                    tokio::select! {
                        _ = sleep(tick) => {}
                        _ = stop_rx.changed() => return h,
                    }
                    let late = start.elapsed().saturating_sub(tick);
                    h.saturating_record((late.as_micros() as u64).max(1));
                }
            })
        })
        .collect();
    (handles, stop_tx)
}

fn spawn_sampler(metrics: Arc<Metrics>, progress: Progress) -> (JoinHandle<Vec<TimePoint>>, watch::Sender<bool>) {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let handle = tokio::spawn(async move {
        let mut points = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let (mut prev, _) = metrics.sample();
        loop {
            let stop = tokio::select! {
                _ = tick.tick() => false,
                _ = stop_rx.changed() => true,
            };
            let (now, interval) = metrics.sample();
            let point = TimePoint {
                t_s: (metrics.clock.now_us() as f64 / 1e5).round() / 10.0,
                connected: metrics.connected.load(Ordering::Relaxed),
                published: now.published_total() - prev.published_total(),
                received: now.received_total() - prev.received_total(),
                e2e_p99_us: (!interval.is_empty()).then(|| interval.value_at_quantile(0.99)),
            };
            progress.update(&point, &now);
            points.push(point);
            prev = now;
            if stop {
                return points;
            }
        }
    });
    (handle, stop_tx)
}

/// The process exit status for a report (the README documents each).
pub fn exit_code(r: &Report) -> i32 {
    if r.clients.connected_peak == 0 && r.clients.planned > 0 && !r.interrupted {
        exit::BAD_INPUT
    } else if r.interrupted {
        exit::INTERRUPTED
    } else if r.passed() {
        exit::PASS
    } else {
        exit::EXPECTATION_FAILED
    }
}
