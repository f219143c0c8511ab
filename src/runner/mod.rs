//! The runner: broker up (and midge's fault proxy in front of it when the
//! scenario has faults), clients ramped at their connect rates, publishing
//! once every client is connected and subscribed, faults on schedule, drain,
//! shutdown, then the assembly of one `Report`.
//!
//! The phases, in order, each its own file: `prepare` (here: secrets,
//! limits, TLS, the broker, the proxy, the $SYS watcher), `swarm` (the
//! workers, the ramps, the background tasks, the shutdown), `publish`,
//! `drain`, then `assemble` (the one record assembly, which the periodic
//! snapshot shares), `cleanup` (retained messages cleared) and the analysis.
//!
//! Prepare: secrets (`Plan::resolve_secrets`), the open-file limit, faults the
//! transport cannot carry refused, the broker (`broker::start`) and, in a run
//! of several, the others (`brokers::reach_others`); per broker `transports`
//! (a `Transport` per group: TLS from `[broker.tls]` or the throwaway CA, a
//! group's own client certificate, the WebSocket URI), preflight, the fault
//! proxy in front of it when a fault needs one (`Framing::WebSocket` for
//! ws://; a proxy fault acts on every proxy, so its clients are hit on
//! whichever broker each is), its `Endpoint`; the run clock (shared by the
//! `$SYS` watchers and the metrics), a `$SYS` watcher per broker (not for
//! embedded), source addresses; then `Plan::resolved`, the plan the run uses.
//!
//! Publishing starts when every client there from the start is ready
//! (`control::RunControl::ready`: subscribed, refused, held back, or with nothing to
//! subscribe), or when the wait times out (`ready_limit`: the slowest ramp + 2
//! × `CONNECT_TIMEOUT` + 5 s).
//!
//! A stop signal (SIGINT, SIGTERM, SIGHUP, caught by `cli` and passed on
//! `RunOptions.interrupt`, read with `control::stop_requested`) cuts
//! publishing and the drain short — what is in flight gets up to 2 s to land
//! (`drain_or_stop`) — and the report and record are still written; the record
//! keeps the signal, and the exit status is 128 + its number (130, 143, 129).
//! A second signal quits at once, without a report (`cli`). A run without a
//! duration (`Plan::until_stopped`) publishes until the first signal, which
//! ends publishing as a planned end would: the drain runs in full and the
//! report is judged as any other (not `interrupted`); a signal before
//! publishing started still interrupts it.
//!
//! The end: `Swarm::shut_down` collects the clients, the fault log and `$SYS`;
//! `cleanup::clear_retained`; `assemble` makes the record; the analysis; then
//! `peak_rss_kib` is taken after the analysis, into record and report alike.

use crate::analysis;
use crate::analysis::model::Report;
use crate::broker::{self, BrokerError, BrokerHandle};
use crate::client::Endpoint;
use crate::control::{stop_requested, Phase, TaskName};
use crate::faults::proxy::{FaultProxy, Framing};
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::record::clock::RunClock;
use crate::record::vocab::{DrainEnd, StopSignal};
use crate::record::{DrainRecord, RunRecord};
use crate::sys::SysWatcher;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, Mutex};
use tokio::time::{timeout, Instant};

mod assemble;
mod brokers;
mod cleanup;
mod drain;
pub mod memory;
mod periodic;
mod probes;
mod publish;
mod swarm;

use brokers::{spawn_sys_watch, tls_record, transports};

use assemble::{assemble, Basis, Finished, Observed, Until};
use drain::drain;
pub use drain::{quiet_period, stall_period, MIN_QUIET};
use periodic::Periodic;
use publish::publish;
use swarm::{initial_clients, start_swarm, Links, Swarm};

/// Exit statuses (documented in the README and docs/guide/command-line.md).
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

/// Everything in place before the first client connects.
struct Prepared {
    plan: Plan,
    broker: BrokerHandle,
    sys_watch: Option<SysWatcher>,
    /// The brokers after the first (a run of several), and their `$SYS` watchers.
    others: brokers::Others,
    /// The run clock (the metrics' clock, and the $SYS series').
    clock: RunClock,
    links: Links,
}

/// Secrets, limits, TLS, the brokers (started or reached), the proxies, the
/// $SYS watchers and the source addresses.
async fn prepare(plan: Plan) -> Result<Prepared, RunError> {
    let secrets = plan.resolve_secrets().map_err(|e| RunError::Secrets(e.to_string()))?;
    let twins = plan.twins();
    // + 1 per broker: its $SYS watcher.
    let connections = plan.clients.len() as u64 + twins + plan.brokers.len() as u64;
    crate::limits::ensure_open_files(connections).map_err(RunError::Limits)?;
    // Plan::build refused the proxy's faults over TLS; this holds for plans made otherwise.
    for b in &plan.brokers {
        if let Some(f) = plan.faults.iter().find(|f| f.action.refused_over(b.spec.wire()).is_err()) {
            let why = f.action.refused_over(b.spec.wire()).err().unwrap_or_default();
            return Err(RunError::Transport(format!("fault {:?}: {why}", f.action.kind())));
        }
    }
    let protocol = plan.groups.first().map(|g| g.protocol).unwrap_or_default();
    let broker = broker::start(&plan.broker, protocol, &plan.mosquitto_conf, plan.persistence).await?;
    let other_handles = brokers::reach_others(&plan).await?;
    let handles: Vec<&BrokerHandle> = std::iter::once(&broker).chain(&other_handles).collect();
    let mut per_broker = Vec::new();
    for (b, handle) in plan.brokers.iter().zip(&handles) {
        per_broker.push(transports(&plan, b, handle).map_err(RunError::Tls)?);
        preflight(handle).await?;
    }
    let mut proxies = Vec::new();
    for (b, handle) in plan.brokers.iter().zip(&handles).filter(|_| plan.needs_proxy()) {
        let framing = if b.spec.wire().ws() { Framing::WebSocket } else { Framing::Mqtt };
        proxies
            .push(Arc::new(FaultProxy::start_framed(handle.addr, Vec::new(), framing).await.map_err(RunError::Proxy)?));
    }
    // The run clock, from here on: the $SYS watchers' series and the swarm share it.
    let clock = RunClock::new();
    let sys_watch = spawn_sys_watch(&plan, (&broker, 0), per_broker[0].0.clone(), clock);
    let endpoints: Arc<[Endpoint]> = handles
        .iter()
        .zip(&per_broker)
        .enumerate()
        .map(|(i, (h, (_, groups)))| Endpoint {
            addr: proxies.get(i).map_or(h.addr, |p: &Arc<FaultProxy>| p.addr),
            transports: groups.clone(),
        })
        .collect();
    let others = brokers::Others::watch(&plan, other_handles, &per_broker[1..], clock);
    let source_addrs = crate::limits::plan_source_addrs(
        connections,
        &plan.source_addrs,
        endpoints[0].addr,
        crate::limits::ephemeral_range(),
    )
    .map_err(RunError::Limits)?;
    let plan = plan.resolved(secrets, source_addrs);
    let (transport, group_transports) = per_broker.swap_remove(0);
    let links = Links { proxies, transport, group_transports, endpoints };
    Ok(Prepared { plan, broker, sys_watch, others, clock, links })
}

pub async fn run(plan: Plan, mut opts: RunOptions) -> Result<RunOutput, RunError> {
    memory::tune_malloc();
    if let Some(listener) = &opts.prometheus {
        crate::prometheus::check_listener(listener).map_err(RunError::Prometheus)?;
    }
    let Prepared { plan, broker, sys_watch, others, clock, links } = prepare(plan).await?;
    // A broker on this machine: the kernel counts its listen backlog's overflows.
    let overflows_at_start = broker.addr.ip().is_loopback().then(crate::metrics::listen_overflows).flatten();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let plan = Arc::new(plan);
    // The broker's process for the sampler: `--broker-pid`, or the spawned one's.
    let broker_pid = plan.overrides.broker_pid.map_or_else(|| broker.pid_watch(), broker::BrokerPid::fixed);
    let mut swarm = start_swarm(&links, plan.clone(), opts.workers, opts.progress, broker_pid.clone(), clock)
        .map_err(RunError::Workers)?;
    let basis = Arc::new(Basis { plan: plan.clone(), started_at, clock, workers: swarm.pool.len() });
    let broker = Arc::new(Mutex::new(broker));
    start_watchers(&mut swarm, &mut opts, &basis, (sys_watch.as_ref(), &broker, broker_pid));

    let mut stop = tokio::select! {
        _ = timeout(ready_limit(&plan), swarm.run.ready.wait_for(initial_clients(&plan))) => None,
        signal = stop_requested(&mut opts.interrupt) => Some(signal),
    };
    let published = match stop {
        None => Some(publish(&swarm, &links, &broker, &mut opts.interrupt).await),
        Some(_) => None,
    };
    match published.as_ref().and_then(|p| p.stopped_by) {
        // A run without a duration ends by Ctrl-C: publishing stops as at a
        // planned end and the drain runs in full (a second signal quits, `cli`).
        Some(_) if plan.until_stopped => opts.interrupt = None,
        signal => stop = stop.or(signal),
    }
    let _ = swarm.phase.send(Phase::Draining);
    // What midge itself keeps the broker holding past the end (stalls, delays, owed wills).
    let held_until = published.as_ref().and_then(|p| {
        let until_us = p.publishing.window.start_us + plan.holds_until_us()?;
        Some(Instant::from_std(clock.instant_at(until_us)))
    });
    let (drained, stop) = drain_or_stop(&swarm.metrics, (plan.drain, held_until), stop, &mut opts).await;
    let (publishing, faults) = match published {
        Some(p) => (Some(p.publishing), p.faults),
        None => (None, None),
    };
    let (metrics, series) = (swarm.metrics.clone(), swarm.series.clone());
    others.stop();
    let ended = swarm.shut_down(sys_watch, faults).await;
    let broker = broker.lock().await;
    // Every client is gone: nobody receives the clears.
    let retained_cleanup = cleanup::clear_retained(&plan, broker.addr, &links.group_transports, clock).await;
    let retained_cleanup = others.clear_retained(&plan, retained_cleanup, clock).await;
    let other_brokers = others.finish(&plan).await;
    let tls = tls_record(&plan.brokers[0], &links.transport);
    let observed = Observed::of((&broker, ended.sys, tls), &metrics, &series, ended.clients);
    let finished = Finished {
        stop_signal: stop,
        lost_tasks: ended.lost_tasks,
        run_end_us: ended.run_end_us,
        faults: ended.faults,
        retained_cleanup,
    };
    let mut record = assemble(&basis, observed, publishing, Some(drained), Until::Finished(finished));
    record.brokers.others = other_brokers;
    record.broker.listen_overflows =
        overflows_at_start.zip(crate::metrics::listen_overflows()).map(|(at_start, now)| now.saturating_sub(at_start));
    let mut report = analysis::analyse(&plan, &record);
    // The peak includes the analysis: report and record say the same.
    record.generator.peak_rss_kib = crate::metrics::process_peak_rss_kib();
    report.load_generator.peak_rss_kib = record.generator.peak_rss_kib;
    let exit_code = exit_code(&report);
    Ok(RunOutput { report, record, exit_code })
}

/// How long the run waits for every initial client to be connected and
/// subscribed: the slowest group's ramp, two connect timeouts and a margin.
fn ready_limit(plan: &Plan) -> Duration {
    let ramp_s = plan.groups.iter().map(|g| g.connect_rate.map_or(0.0, |r| g.clients as f64 / r)).fold(0.0, f64::max);
    Duration::from_secs_f64(ramp_s) + crate::client::CONNECT_TIMEOUT * 2 + Duration::from_secs(5)
}

/// The background tasks the run asks for beside the sampler: the Prometheus
/// exporter (`--prometheus`) and the periodic snapshot.
fn start_watchers(
    swarm: &mut Swarm,
    opts: &mut RunOptions,
    basis: &Arc<Basis>,
    (sys_watch, broker, broker_pid): (Option<&SysWatcher>, &Arc<Mutex<BrokerHandle>>, broker::BrokerPid),
) {
    let exported = opts.prometheus.is_some();
    if let Some(listener) = opts.prometheus.take() {
        let inputs = crate::prometheus::ExporterInputs {
            metrics: swarm.metrics.clone(),
            phase: swarm.phase.subscribe(),
            progress: swarm.progress.clone(),
            broker_pid,
        };
        let plan = basis.plan.clone();
        swarm.tasks.spawn(TaskName::Exporter, |s| crate::prometheus::exporter(listener, inputs, &plan, s));
    }
    let periodic = Periodic {
        basis: basis.clone(),
        metrics: swarm.metrics.clone(),
        snapshots: swarm.snapshots.clone(),
        series: swarm.series.clone(),
        sys: sys_watch.map(SysWatcher::view),
        broker: broker.clone(),
        phase: swarm.phase.clone(),
        progress: swarm.progress.clone(),
        dir: opts.report_dir.clone(),
        exported,
    };
    if let Some(tick) = periodic.tick() {
        swarm.tasks.spawn(TaskName::Periodic, move |s| periodic::periodic(periodic, tick, s));
    }
}

/// The drain, unless a stop came first; a stop during it ends it early.
/// Returns the drain's record and the stop, if any.
async fn drain_or_stop(
    metrics: &Metrics,
    (limit, held_until): (Duration, Option<Instant>),
    mut stop: Option<StopSignal>,
    opts: &mut RunOptions,
) -> (DrainRecord, Option<StopSignal>) {
    let started = Instant::now();
    if stop.is_none() {
        tokio::select! {
            d = drain(metrics, limit, held_until) => return (d, None),
            signal = stop_requested(&mut opts.interrupt) => stop = Some(signal),
        }
    }
    // Even a stop on request lets what is in flight land (briefly), so
    // the report of what ran loses nothing to the stop itself.
    // A stop does not wait for holds.
    let d = drain(metrics, limit.min(Duration::from_secs(2)), None).await;
    (DrainRecord { ended: DrainEnd::Interrupted, waited_us: started.elapsed().as_micros() as u64, ..d }, stop)
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

/// The process exit status for a report (README.md and docs/guide/command-line.md document each).
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

    #[test]
    fn an_interrupted_run_keeps_its_signal_s_exit_status() {
        use crate::analysis::testkit;
        let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n");
        let mut rec = testkit::record(&plan);
        rec.interrupted = true;
        rec.stop_signal = Some(StopSignal::Sigterm);
        let r = crate::analysis::analyse(&plan, &rec);
        assert_eq!(r.verdict, crate::record::vocab::Verdict::Interrupted);
        assert_eq!(exit_code(&r), exit::TERMINATED);
    }
}
