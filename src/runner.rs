//! The runner: broker up (and midge's fault proxy in front of it when the
//! scenario has faults), clients ramped at their connect rates, publishing
//! once every client is connected and subscribed, faults on schedule, drain,
//! shutdown, then the assembly of one `Report`.

use crate::broker::{self, BrokerError, BrokerHandle};
use crate::client::{run_client, ClientContext, ClientOutcome, Phase};
use crate::faults::proxy::FaultProxy;
use crate::faults::schedule::{self, FaultContext, FaultLog};
use crate::metrics::{Metrics, TimePoint};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::report::build::{self, RunRecord};
use crate::report::Report;
use crate::workers::WorkerPool;
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

pub async fn run(mut plan: Plan, mut opts: RunOptions) -> Result<RunOutput, RunError> {
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
    let tls = plan.tls.as_ref().map(crate::mqtt::transport::TlsClient::new).transpose().map_err(RunError::Tls)?;
    if tls.is_some() && plan.needs_proxy() {
        return Err(RunError::Tls(
            "the cut, blackhole, delay and drop faults need midge's proxy, which cannot read TLS: run them against mqtt://".into(),
        ));
    }
    let protocol = plan.groups.first().map(|g| g.protocol).unwrap_or_default();
    let broker = broker::start(&plan.broker, protocol, &plan.mosquitto_conf, plan.persistence).await?;
    preflight(&broker).await?;
    let proxy = if plan.needs_proxy() {
        Some(Arc::new(FaultProxy::start(broker.addr, Vec::new()).await.map_err(RunError::Proxy)?))
    } else {
        None
    };

    // The broker's own counters, straight to the broker (never through the
    // proxy's faults). The embedded broker publishes none.
    let sys_watch = (broker.kind != broker::EMBEDDED_KIND).then(|| {
        let group = plan.groups.first();
        let creds = group.and_then(|g| g.credentials.clone());
        crate::sys::SysWatcher::spawn(crate::sys::SysWatch {
            addr: broker.addr,
            protocol,
            tls: tls.clone(),
            options: crate::mqtt::ConnectOptions {
                client_id: format!("midge-sys-{:08x}", plan.run_id as u32),
                keep_alive_s: 60,
                clean_start: true,
                username: creds.as_ref().map(|c| c.username.clone()),
                password: creds.map(|c| c.password),
                session_expiry_s: None,
                receive_maximum: None,
            },
            clock: crate::metrics::RunClock::new(),
            // The generated mosquitto.conf says `sys_interval 1`.
            interval: broker.pid().is_some().then_some(Duration::from_secs(1)),
        })
    });
    let client_addr = proxy.as_ref().map_or(broker.addr, |p| p.addr);
    plan.source_addrs = crate::limits::plan_source_addrs(
        connections,
        &plan.source_addrs,
        client_addr,
        crate::limits::ephemeral_range(),
    )
    .map_err(RunError::Limits)?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let plan = Arc::new(plan);
    let workers = opts.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = Arc::new(WorkerPool::start(workers).map_err(RunError::Workers)?);
    // Shards only need to outnumber the threads that record into them; each
    // holds eight histograms.
    let metrics = Arc::new(Metrics::new((2 * pool.len()).clamp(2, 16)));
    let (orders_tx, orders_rx) = watch::channel(None);

    let ctx = Arc::new(ClientContext {
        plan: plan.clone(),
        metrics: metrics.clone(),
        broker: client_addr,
        orders: orders_rx,
        tls: tls.clone(),
    });
    let broker = Arc::new(Mutex::new(broker));
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let planned = plan.clients.len() as u32;
    let progress = Progress::new(opts.progress, planned);
    let (sampler, stop_sampler) = spawn_sampler(metrics.clone(), progress.clone());
    let ramps = spawn_ramps(&plan, &ctx, &phase_rx, &pool);

    let ramp_s = plan.groups.iter().map(|g| g.connect_rate.map_or(0.0, |r| g.clients as f64 / r)).fold(0.0, f64::max);
    let ready_limit =
        Duration::from_secs_f64(ramp_s) + crate::client::task::CONNECT_TIMEOUT * 2 + Duration::from_secs(5);
    let mut was_interrupted = false;
    tokio::select! {
        _ = timeout(ready_limit, metrics.ready.wait_for(planned)) => {}
        _ = interrupted(&mut opts.interrupt) => was_interrupted = true,
    }

    let publish_started = Instant::now();
    let cpu_at_start = crate::metrics::process_cpu_seconds();
    let broker_cpu_at_start = broker.lock().await.cpu_seconds();
    let (probe, stop_probe) = spawn_loop_probe(&pool);
    let mut faults: Option<JoinHandle<FaultLog>> = None;
    if !was_interrupted {
        progress.set_stage("publishing");
        // A short lead so that every client sees the phase before its first slot.
        let start_us = metrics.clock.now_us() + 50_000;
        let end_us = start_us + plan.duration.as_micros() as u64;
        let _ = phase_tx.send(Phase::Publishing { start_us, end_us });
        if !plan.faults.is_empty() {
            let fctx = FaultContext {
                plan: plan.clone(),
                proxy: proxy.clone(),
                broker: broker.clone(),
                client_addr,
                orders: orders_tx.clone(),
                phase: phase_tx.clone(),
                tls: tls.clone(),
                clock: metrics.clock,
            };
            faults = Some(tokio::spawn(schedule::run(fctx, start_us, phase_rx.clone())));
        }
        // When every publisher has a `count` (and no fault waits for its
        // time), publishing ends as soon as all have sent it.
        let all_counted = plan.faults.is_empty()
            && plan
                .clients
                .iter()
                .filter(|c| c.publisher.is_some())
                .all(|c| plan.group_of(c).publish.as_ref().is_some_and(|p| p.count.is_some()));
        let publishers = plan.publishers.len() as u32;
        let all_done = async {
            if all_counted && publishers > 0 {
                metrics.publishers_done.wait_for(publishers).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(Instant::from_std(metrics.clock.instant_at(end_us))) => {}
            _ = all_done => {}
            _ = interrupted(&mut opts.interrupt) => was_interrupted = true,
        }
    }
    let publish_elapsed = publish_started.elapsed();
    let cpu_publishing = crate::metrics::process_cpu_seconds() - cpu_at_start;
    let rss_kib_at_publish_end = crate::metrics::process_rss_kib();
    let broker_rss_kib = broker.lock().await.rss_kib();
    let broker_cpu = match (broker_cpu_at_start, broker.lock().await.cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let _ = stop_probe.send(true);
    let mut loop_delay = crate::metrics::new_histogram();
    for p in probe {
        if let Ok(h) = p.await {
            let _ = loop_delay.add(&h);
        }
    }
    let _ = phase_tx.send(Phase::Draining);
    progress.set_stage("draining");
    if !was_interrupted {
        tokio::select! {
            _ = drain(&metrics, plan.drain) => {}
            _ = interrupted(&mut opts.interrupt) => was_interrupted = true,
        }
    }
    if was_interrupted {
        // Even a stop on request lets what is in flight land (briefly), so
        // the report of what ran loses nothing to the stop itself.
        drain(&metrics, plan.drain.min(Duration::from_secs(2))).await;
    }
    progress.set_stage("disconnecting");
    let _ = phase_tx.send(Phase::Shutdown);
    // The broker's final round of $SYS values arrives while the clients
    // disconnect.
    if let Some(w) = &sys_watch {
        w.stop();
    }
    let fault_log = match faults {
        Some(h) => h.await.unwrap_or_default(),
        None => FaultLog::default(),
    };

    let (outcomes, lost_tasks) = join_clients(ramps).await;
    let broker_sys = match sys_watch {
        Some(w) => w.finish().await,
        None => Default::default(),
    };
    let run_end_us = metrics.clock.now_us();
    let _ = stop_sampler.send(true);
    let timeseries = sampler.await.unwrap_or_default();
    progress.finish();

    let broker = broker.lock().await;
    let (counters, latencies) = metrics.totals();
    let report = build::report(RunRecord {
        plan: &plan,
        broker: &broker,
        counters,
        latencies,
        connected_peak: metrics.connected_peak.load(Ordering::Relaxed).max(0) as u64,
        outcomes: &outcomes,
        broker_sys,
        timeseries,
        started_at,
        duration: publish_elapsed,
        interrupted: was_interrupted,
        lost_tasks,
        faults: fault_log,
        run_end_us,
        generator: build::GeneratorRecord {
            workers: pool.len(),
            cpu_s: cpu_publishing,
            rss_kib_at_publish_end,
            wall_s: publish_elapsed.as_secs_f64(),
            loop_delay,
            broker_cpu_s: broker_cpu,
            broker_rss_kib,
        },
    });
    let exit_code = exit_code(&report);
    Ok(RunOutput { report, exit_code })
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

fn exit_code(r: &Report) -> i32 {
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
