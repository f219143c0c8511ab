//! The runner: broker up (and midge's fault proxy in front of it when the
//! scenario has faults), clients ramped at their connect rates, publishing
//! once every client is connected and subscribed, faults on schedule, drain,
//! shutdown, then the assembly of one `Report`.

use crate::analysis;
use crate::broker::{self, BrokerError, BrokerHandle};
use crate::client::order::ClientOrder;
use crate::client::snapshot::Snapshots;
use crate::client::{run_client, ClientContext, ClientOutcome, Phase};
use crate::faults::proxy::{FaultProxy, Framing};
use crate::faults::schedule::{self, FaultContext};
use crate::metrics::Metrics;
use crate::mqtt::transport::{TlsClient, Transport};
use crate::mqtt::websocket::WsTarget;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::record::series::{Series, MAX_POINTS};
use crate::record::vocab::{DrainEnd, StopSignal};
use crate::record::{
    BrokerRecord, DrainRecord, FaultLog, GeneratorRecord, PublishWindow, RunClock, RunRecord, TimePoint, TlsRecord,
    RECORD_FORMAT,
};
use crate::report::Report;
use crate::sys::{SysSeen, SysWatcher};
use crate::workers::WorkerPool;
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

/// Exit statuses (documented in the README).
mod cleanup;
mod drain;
pub mod memory;
mod periodic;
mod probes;

use drain::drain;
pub use drain::{quiet_period, stall_period, MIN_QUIET};
use periodic::{spawn_periodic, Periodic};
use probes::{spawn_loop_probe, spawn_sampler};

pub mod exit {
    pub const PASS: i32 = 0;
    pub const EXPECTATION_FAILED: i32 = 1;
    pub const BAD_INPUT: i32 = 2;
    /// Stopped by SIGINT (Ctrl-C): 128 + 2.
    pub const INTERRUPTED: i32 = 130;
    /// Stopped by SIGTERM: 128 + 15.
    pub const TERMINATED: i32 = 143;
    /// Stopped by SIGHUP: 128 + 1.
    pub const HUNG_UP: i32 = 129;

    /// The status of a run a signal stopped.
    pub fn of_signal(s: crate::record::vocab::StopSignal) -> i32 {
        128 + s.number()
    }
}

#[derive(Default)]
pub struct RunOptions {
    /// Draw the live one-line progress display (on a terminal).
    pub progress: bool,
    /// Names the signal once one asks the run to stop (SIGINT, SIGTERM, SIGHUP).
    pub interrupt: Option<watch::Receiver<Option<StopSignal>>>,
    /// Client worker threads (`--workers`; default: one per core).
    pub workers: Option<usize>,
    /// `--prometheus`: serve the live metrics on this listener (bound by the
    /// caller, on loopback) from the swarm's start to the run's end.
    pub prometheus: Option<tokio::net::TcpListener>,
    /// The run's folder: the partial report goes there every
    /// `report_every` while the run goes on (None: no partial report).
    pub report_dir: Option<std::path::PathBuf>,
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
    /// A fault the transport cannot carry (see `FaultAction::refused_over`).
    #[error("{0}")]
    Transport(String),
    #[error("--prometheus: {0}")]
    Prometheus(String),
}

pub struct RunOutput {
    pub report: Report,
    /// What the run observed: the report is `analysis::analyse(plan, record)`.
    pub record: RunRecord,
    pub exit_code: i32,
}

/// Waits for a stop signal and names it, or waits forever when there is none.
async fn interrupted(rx: &mut Option<watch::Receiver<Option<StopSignal>>>) -> StopSignal {
    match rx {
        Some(rx) => loop {
            if let Some(s) = *rx.borrow_and_update() {
                return s;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        },
        None => std::future::pending().await,
    }
}

/// Everything in place before the first client connects.
struct Prepared {
    plan: Plan,
    broker: BrokerHandle,
    sys_watch: Option<SysWatcher>,
    /// The run clock (the metrics' clock, and the $SYS series').
    clock: RunClock,
    links: Links,
}

/// How the swarm reaches the broker.
#[derive(Clone)]
struct Links {
    proxy: Option<Arc<FaultProxy>>,
    /// TLS and WebSocket as the broker's URL asks (the $SYS watcher's).
    transport: Transport,
    /// The same per group, by index (a group's own client certificate).
    group_transports: Arc<[Transport]>,
    /// Where clients connect: the broker, or the proxy in front of it.
    client_addr: std::net::SocketAddr,
}

/// Secrets, limits, TLS, the broker (started or reached), the proxy, the
/// $SYS watcher and the source addresses.
async fn prepare(plan: Plan) -> Result<Prepared, RunError> {
    let secrets = plan.resolve_secrets().map_err(|e| RunError::Secrets(e.to_string()))?;
    let twins = plan.twins();
    // + 1: the $SYS watcher.
    let connections = plan.clients.len() as u64 + twins + 1;
    crate::limits::ensure_open_files(connections).map_err(RunError::Limits)?;
    // Plan::build refused the proxy's faults over TLS; this holds for plans made otherwise.
    if let Some(f) = plan.faults.iter().find(|f| f.action.refused_over(plan.broker.wire()).is_err()) {
        let why = f.action.refused_over(plan.broker.wire()).err().unwrap_or_default();
        return Err(RunError::Transport(format!("fault {:?}: {why}", f.action.kind())));
    }
    let protocol = plan.groups.first().map(|g| g.protocol).unwrap_or_default();
    let broker = broker::start(&plan.broker, protocol, &plan.mosquitto_conf, plan.persistence).await?;
    let (transport, group_transports) = transports(&plan, &broker)?;
    preflight(&broker).await?;
    let framing = if plan.broker.wire().ws() { Framing::WebSocket } else { Framing::Mqtt };
    let proxy = match plan.needs_proxy() {
        true => {
            Some(Arc::new(FaultProxy::start_framed(broker.addr, Vec::new(), framing).await.map_err(RunError::Proxy)?))
        }
        false => None,
    };
    // The run clock, from here on: the $SYS watcher's series and the swarm share it.
    let clock = RunClock::new();
    let sys_watch = spawn_sys_watch(&plan, &broker, transport.clone(), clock);
    let client_addr = proxy.as_ref().map_or(broker.addr, |p| p.addr);
    let source_addrs = crate::limits::plan_source_addrs(
        connections,
        &plan.source_addrs,
        client_addr,
        crate::limits::ephemeral_range(),
    )
    .map_err(RunError::Limits)?;
    let plan = plan.resolved(secrets, source_addrs);
    Ok(Prepared { plan, broker, sys_watch, clock, links: Links { proxy, transport, group_transports, client_addr } })
}

/// TLS and WebSocket for the run: the broker-wide `Transport`, and one per
/// group (a group's own client certificate). Without a `ca_file`, a broker
/// midge started with a throwaway CA is trusted through that CA.
fn transports(plan: &Plan, broker: &BrokerHandle) -> Result<(Transport, Arc<[Transport]>), RunError> {
    let tls = match &plan.tls {
        None => None,
        Some(p) => {
            let mut p = p.clone();
            p.ca_file = p.ca_file.or_else(|| broker.ca_file.clone());
            Some(TlsClient::new(&p).map_err(RunError::Tls)?)
        }
    };
    let ws = plan.broker.ws_uri(broker.addr).map(|uri| WsTarget { uri });
    let base = Transport { tls, ws };
    let per_group = plan
        .groups
        .iter()
        .map(|g| match (&g.tls_identity, &base.tls) {
            (Some((cert, key)), Some(tls)) => {
                let tls =
                    tls.with_identity(cert, key).map_err(|e| RunError::Tls(format!("group {:?}: {e}", g.name)))?;
                Ok(Transport { tls: Some(tls), ws: base.ws.clone() })
            }
            _ => Ok(base.clone()),
        })
        .collect::<Result<Vec<_>, RunError>>()?;
    Ok((base, per_group.into()))
}

/// The record's word on TLS: verified or not, and what was negotiated.
fn tls_record(plan: &Plan, transport: &Transport) -> Option<TlsRecord> {
    let (tls, negotiated) = (transport.tls.as_ref()?, transport.tls.as_ref()?.negotiated());
    Some(TlsRecord {
        insecure: tls.is_insecure(),
        server_name: plan.tls.as_ref().map(|t| t.server_name.clone()).unwrap_or_default(),
        protocol_version: negotiated.as_ref().map(|n| n.protocol_version.clone()),
        cipher_suite: negotiated.map(|n| n.cipher_suite),
    })
}

/// The broker's own counters, straight to the broker (never through the
/// proxy's faults). The embedded broker publishes none.
fn spawn_sys_watch(plan: &Plan, broker: &BrokerHandle, transport: Transport, clock: RunClock) -> Option<SysWatcher> {
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
        transport,
        options,
        clock,
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
    orders: watch::Sender<Option<Arc<ClientOrder>>>,
    progress: Progress,
    sampler: (JoinHandle<()>, watch::Sender<bool>),
    /// The sampler's time series (rolled up past an hour).
    series: Arc<std::sync::Mutex<Series<TimePoint>>>,
    /// The periodic report's requests to every client.
    snapshots: Arc<Snapshots>,
    ramps: Vec<Ramp>,
}

fn start_swarm(
    p: &Links,
    plan: Arc<Plan>,
    workers: Option<usize>,
    show: bool,
    broker_pid: broker::BrokerPid,
    clock: RunClock,
) -> Result<Swarm, RunError> {
    let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = Arc::new(WorkerPool::start(workers).map_err(RunError::Workers)?);
    // One shard per worker: client i runs on worker i mod n and records into
    // shard i mod n, so no two workers share a shard (only the sampler and
    // the drain visit). Each holds ten histograms of 188 KB, all of it
    // resident (the histogram zero-fills its counts), so a shard is not free.
    let mut metrics = Metrics::new(pool.len().clamp(1, 16));
    metrics.clock = clock;
    let metrics = Arc::new(metrics);
    let (orders, orders_rx) = watch::channel(None);
    let snapshots = Arc::new(Snapshots::default());
    let ctx = Arc::new(ClientContext {
        plan: plan.clone(),
        metrics: metrics.clone(),
        broker: p.client_addr,
        orders: orders_rx,
        transports: p.group_transports.clone(),
        snapshots: snapshots.clone(),
    });
    let (phase, phase_rx) = watch::channel(Phase::Connecting);
    let progress = Progress::new(show, plan.clients.len() as u32);
    let series = Arc::new(std::sync::Mutex::new(Series::new(MAX_POINTS)));
    let sampler = spawn_sampler(metrics.clone(), progress.clone(), broker_pid, series.clone());
    let ramps = spawn_ramps(&plan, &ctx, &phase_rx, &pool);
    Ok(Swarm { plan, metrics, pool, phase, orders, progress, sampler, series, snapshots, ramps })
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
    /// The signal that cut publishing short.
    stopped_by: Option<StopSignal>,
    /// With `--start-at`: how late publishing started against it (0: on time).
    start_late_us: Option<u64>,
}

/// When publishing starts (run clock): `earliest`, or the `--start-at`
/// time when that is later; and with `--start-at`, how late the start is.
fn publish_start(plan: &Plan, clock: &RunClock, earliest: u64) -> (u64, Option<u64>) {
    match plan.start_at_unix_us {
        None => (earliest, None),
        Some(at) => {
            let at = at.saturating_sub(clock.start_unix_us());
            (at.max(earliest), Some(earliest.saturating_sub(at)))
        }
    }
}

/// Publishing: from the phase change to the end of the duration (or every
/// counted publisher done, or an interrupt), faults on schedule.
async fn publish(s: &Swarm, p: &Links, broker: &Arc<Mutex<BrokerHandle>>, opts: &mut RunOptions) -> Publishing {
    let started = Instant::now();
    let cpu_at_start = crate::metrics::process_cpu_seconds();
    let broker_cpu_at_start = broker_cpu_seconds(&s.plan, broker).await;
    let (probe, stop_probe) = spawn_loop_probe(&s.pool);
    s.progress.set_stage("publishing");
    // A short lead so that every client sees the phase before its first slot.
    let (start_us, start_late_us) = publish_start(&s.plan, &s.metrics.clock, s.metrics.clock.now_us() + 50_000);
    if let (Some(late), Some(shard)) = (start_late_us.filter(|l| *l > 0), &s.plan.shard) {
        eprintln!(
            "midge: shard {} starts publishing {:.3} s after --start-at (its clients were still connecting); the report marks the skew",
            shard.id,
            late as f64 / 1e6
        );
    }
    let end_us = start_us + s.plan.duration.as_micros() as u64;
    s.progress.set_publish_end(s.metrics.clock.instant_at(end_us));
    let _ = s.phase.send(Phase::Publishing { start_us, end_us });
    let faults = (!s.plan.faults.is_empty()).then(|| {
        let fctx = FaultContext {
            plan: s.plan.clone(),
            proxy: p.proxy.clone(),
            broker: broker.clone(),
            client_addr: p.client_addr,
            orders: s.orders.clone(),
            phase: s.phase.clone(),
            transports: p.group_transports.clone(),
            clock: s.metrics.clock,
        };
        tokio::spawn(schedule::run(fctx, start_us, s.phase.subscribe()))
    });
    let stopped_by = tokio::select! {
        _ = tokio::time::sleep_until(Instant::from_std(s.metrics.clock.instant_at(end_us))) => None,
        _ = all_publishers_done(&s.plan, &s.metrics) => None,
        signal = interrupted(&mut opts.interrupt) => Some(signal),
    };
    let elapsed = started.elapsed();
    let window = PublishWindow { start_us, end_us, stopped_us: s.metrics.clock.now_us() };
    let cpu_s = crate::metrics::process_cpu_seconds() - cpu_at_start;
    let rss_kib = crate::metrics::process_rss_kib();
    let broker_rss_kib = broker.lock().await.rss_kib();
    let broker_cpu_s = match (broker_cpu_at_start, broker_cpu_seconds(&s.plan, broker).await) {
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
        stopped_by,
        start_late_us,
    }
}

/// The broker's CPU seconds so far: the process `--broker-pid` names, else
/// the spawned one's (None for other brokers).
async fn broker_cpu_seconds(plan: &Plan, broker: &Mutex<BrokerHandle>) -> Option<f64> {
    match plan.overrides.broker_pid {
        Some(pid) => crate::metrics::pid_cpu_seconds(pid),
        None => broker.lock().await.cpu_seconds(),
    }
}

/// Resolves when every publisher has sent its `count` — only when every
/// publisher has one and no fault waits for its time; else never.
async fn all_publishers_done(plan: &Plan, metrics: &Metrics) {
    // A group that joins later has its time to come, counted or not.
    let all_counted = plan.faults.is_empty()
        && plan.groups.iter().all(|g| g.start_after.is_zero())
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
    memory::tune_malloc();
    if let Some(listener) = &opts.prometheus {
        crate::prometheus::Exporter::check_listener(listener).map_err(RunError::Prometheus)?;
    }
    let Prepared { plan, broker, sys_watch, clock, links } = prepare(plan).await?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let plan = Arc::new(plan);
    // The broker's process for the sampler: `--broker-pid`, or the spawned one's.
    let broker_pid = plan.overrides.broker_pid.map_or_else(|| broker.pid_watch(), broker::BrokerPid::fixed);
    let swarm = start_swarm(&links, plan.clone(), opts.workers, opts.progress, broker_pid, clock)?;
    let exporter = opts.prometheus.take().map(|listener| {
        crate::prometheus::Exporter::start(listener, swarm.metrics.clone(), swarm.phase.subscribe(), &plan)
    });
    let broker = Arc::new(Mutex::new(broker));
    let periodic = spawn_periodic(Periodic {
        plan: plan.clone(),
        metrics: swarm.metrics.clone(),
        snapshots: swarm.snapshots.clone(),
        series: swarm.series.clone(),
        sys: sys_watch.as_ref().map(SysWatcher::view),
        broker: broker.clone(),
        phase: swarm.phase.clone(),
        progress: swarm.progress.clone(),
        dir: opts.report_dir.clone(),
        started_at: started_at.clone(),
        workers: swarm.pool.len(),
    });

    let ramp_s = plan.groups.iter().map(|g| g.connect_rate.map_or(0.0, |r| g.clients as f64 / r)).fold(0.0, f64::max);
    let ready_limit =
        Duration::from_secs_f64(ramp_s) + crate::client::task::CONNECT_TIMEOUT * 2 + Duration::from_secs(5);
    let mut stop = None;
    tokio::select! {
        _ = timeout(ready_limit, swarm.metrics.ready.wait_for(initial_clients(&plan))) => {}
        signal = interrupted(&mut opts.interrupt) => stop = Some(signal),
    }
    let publishing = match stop {
        None => Some(publish(&swarm, &links, &broker, &mut opts).await),
        Some(_) => None,
    };
    stop = stop.or(publishing.as_ref().and_then(|p| p.stopped_by));
    let _ = swarm.phase.send(Phase::Draining);
    swarm.progress.set_stage("draining");
    let drain_started = Instant::now();
    let mut drained = None;
    if stop.is_none() {
        tokio::select! {
            d = drain(&swarm.metrics, plan.drain) => drained = Some(d),
            signal = interrupted(&mut opts.interrupt) => stop = Some(signal),
        }
    }
    let drained = match drained {
        Some(d) => d,
        None => {
            // Even a stop on request lets what is in flight land (briefly), so
            // the report of what ran loses nothing to the stop itself.
            let d = drain(&swarm.metrics, plan.drain.min(Duration::from_secs(2))).await;
            DrainRecord { ended: DrainEnd::Interrupted, waited_us: drain_started.elapsed().as_micros() as u64, ..d }
        }
    };
    // Stopped before the end: no partial report overwrites the final one.
    if let Some((task, stop)) = periodic {
        let _ = stop.send(true);
        let _ = task.await;
    }
    let broker = broker.lock().await;
    let mut record = finish(swarm, sys_watch, publishing, &broker).await;
    // Every client is gone: nobody receives the clears.
    record.retained_cleanup = cleanup::clear_retained(&plan, broker.addr, &links.group_transports, clock).await;
    // Served until every client is back and the record's figures are final.
    if let Some(e) = exporter {
        e.stop().await;
    }
    record.broker.tls = tls_record(&plan, &links.transport);
    record.started_at = started_at;
    record.interrupted = stop.is_some();
    record.stop_signal = stop;
    record.drain = drained;
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
        None => SysSeen::default(),
    };
    let run_end_us = swarm.metrics.clock.now_us();
    let _ = swarm.sampler.1.send(true);
    let _ = swarm.sampler.0.await;
    let timeseries = std::mem::replace(&mut *swarm.series.lock().unwrap_or_else(|e| e.into_inner()), Series::new(2));
    let timeseries = timeseries.into_vec();
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
        start_late_us: None,
        faults: None,
        stopped_by: None,
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
            sys: sys.last,
            sys_series: sys.series,
            tls: None,
        },
        started_at: String::new(),
        clock_start_unix_us: swarm.metrics.clock.start_unix_us(),
        start_late_us: p.start_late_us,
        publish_elapsed: p.elapsed,
        publishing: window,
        as_of_us: None,
        interrupted: false,
        stop_signal: None,
        drain: DrainRecord {
            ended: DrainEnd::Interrupted,
            waited_us: 0,
            quiet_period_us: 0,
            in_flight_at_end: 0,
            offline_at_end: 0,
        },
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
        retained_cleanup: None,
        merged: None,
    }
}

type Ramp = JoinHandle<Vec<JoinHandle<ClientOutcome>>>;

/// Ramps every group at its own connect rate, all groups at once: the
/// clients there from the start before publishing; those a client stage
/// brings in later (`GroupPlan::join_us`) at their times on the stage clock.
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
            let mut phase = phase_rx.clone();
            let pool = pool.clone();
            let group = g.clone();
            let (first, n, rate) = (g.first_client, g.clients, g.connect_rate);
            tokio::spawn(async move {
                let start = Instant::now();
                let mut handles = Vec::with_capacity(n as usize);
                let joins_later = |i: u32| group.join_us(first + i) > 0;
                let initial = (0..n).take_while(|i| !joins_later(*i)).count() as u32;
                for i in 0..initial {
                    if let Some(rate) = rate {
                        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                    }
                    if *phase.borrow() == Phase::Shutdown {
                        break;
                    }
                    let index = first + i;
                    handles.push(pool.spawn(index as usize, run_client(ctx.clone(), index, phase.clone())));
                }
                if initial < n {
                    let Some(start_us) = publishing_start(&mut phase).await else { return handles };
                    let clock = ctx.metrics.clock;
                    for i in initial..n {
                        let index = first + i;
                        let at = clock.instant_at(start_us + group.join_us(index));
                        tokio::select! {
                            _ = tokio::time::sleep_until(Instant::from_std(at)) => {}
                            _ = phase.wait_for(|p| !matches!(p, Phase::Publishing { .. })) => break,
                        }
                        if !matches!(*phase.borrow(), Phase::Publishing { .. }) {
                            break;
                        }
                        handles.push(pool.spawn(index as usize, run_client(ctx.clone(), index, phase.clone())));
                    }
                }
                handles
            })
        })
        .collect()
}

/// Waits for publishing to start: its start (run clock), or None when the
/// run ends first.
async fn publishing_start(phase: &mut watch::Receiver<Phase>) -> Option<u64> {
    match *phase.wait_for(|p| !matches!(p, Phase::Connecting)).await.ok()? {
        Phase::Publishing { start_us, .. } => Some(start_us),
        _ => None,
    }
}

/// The clients there when publishing starts (all of them without a client
/// stage): those the run waits for.
fn initial_clients(plan: &Plan) -> u32 {
    plan.clients.iter().filter(|c| plan.group_of(c).join_us(c.index) == 0).count() as u32
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

/// The process exit status for a report (the README documents each).
pub fn exit_code(r: &Report) -> i32 {
    if r.clients.connected_peak == 0 && r.clients.planned > 0 && !r.interrupted {
        exit::BAD_INPUT
    } else if r.interrupted {
        r.stop_signal.map_or(exit::INTERRUPTED, exit::of_signal)
    } else if r.passed() {
        exit::PASS
    } else {
        exit::EXPECTATION_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_gives_its_own_exit_status() {
        assert_eq!(exit::of_signal(StopSignal::Sigint), exit::INTERRUPTED);
        assert_eq!(exit::of_signal(StopSignal::Sigterm), exit::TERMINATED);
        assert_eq!(exit::of_signal(StopSignal::Sighup), exit::HUNG_UP);
    }
}
