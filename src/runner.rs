//! The runner: broker up, clients ramped at their connect rates, publishing
//! once every client is connected and subscribed, drain, shutdown, then the
//! join of all logs into one `Report`.

use crate::broker::{self, BrokerError, BrokerHandle};
use crate::client::{run_client, ClientContext, ClientOutcome, Phase};
use crate::metrics::{Metrics, TimePoint};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::report::{
    self, BrokerInfo, ClientsInfo, Disconnects, LatencyInfo, Report, ScenarioInfo, StreamInfo,
};
use crate::track::{self, StreamRef};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
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
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Limits(String),
    #[error("cannot reach the broker at {url} ({addr}): {cause}")]
    Unreachable {
        url: String,
        addr: std::net::SocketAddr,
        cause: String,
    },
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

pub async fn run(plan: Plan, mut opts: RunOptions) -> Result<RunOutput, RunError> {
    crate::limits::ensure_open_files(plan.clients.len() as u64).map_err(RunError::Limits)?;
    let protocol = plan.groups.first().map(|g| g.protocol).unwrap_or_default();
    let broker = broker::start(&plan.broker, protocol, &plan.mosquitto_conf).await?;
    preflight(&broker).await?;

    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let plan = Arc::new(plan);
    let metrics = Arc::new(Metrics::new(16));
    let ctx = Arc::new(ClientContext {
        plan: plan.clone(),
        metrics: metrics.clone(),
        broker: broker.addr,
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let planned = plan.clients.len() as u32;
    let progress = Progress::new(opts.progress, planned);
    let (sampler, stop_sampler) = spawn_sampler(metrics.clone(), progress.clone());

    // Ramp every group at its own connect rate, all groups at once.
    let ramps: Vec<JoinHandle<Vec<JoinHandle<ClientOutcome>>>> = plan
        .groups
        .iter()
        .map(|g| {
            let ctx = ctx.clone();
            let phase = phase_rx.clone();
            let (first, n, rate) = (g.first_client, g.clients, g.connect_rate);
            tokio::spawn(async move {
                let start = Instant::now();
                let mut handles = Vec::with_capacity(n as usize);
                for i in 0..n {
                    if let Some(rate) = rate {
                        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate))
                            .await;
                    }
                    if *phase.borrow() == Phase::Shutdown {
                        break;
                    }
                    handles.push(tokio::spawn(run_client(
                        ctx.clone(),
                        first + i,
                        phase.clone(),
                    )));
                }
                handles
            })
        })
        .collect();

    let ramp_s = plan
        .groups
        .iter()
        .map(|g| g.connect_rate.map_or(0.0, |r| g.clients as f64 / r))
        .fold(0.0, f64::max);
    let ready_limit = Duration::from_secs_f64(ramp_s)
        + crate::client::task::CONNECT_TIMEOUT * 2
        + Duration::from_secs(5);
    let mut was_interrupted = false;
    tokio::select! {
        _ = timeout(ready_limit, metrics.ready.wait_for(planned)) => {}
        _ = interrupted(&mut opts.interrupt) => was_interrupted = true,
    }

    let publish_started = Instant::now();
    if !was_interrupted {
        progress.set_stage("publishing");
        // A short lead so that every client sees the phase before its first slot.
        let start_us = metrics.clock.now_us() + 50_000;
        let end_us = start_us + plan.duration.as_micros() as u64;
        let _ = phase_tx.send(Phase::Publishing { start_us, end_us });
        tokio::select! {
            _ = tokio::time::sleep_until(Instant::from_std(metrics.clock.instant_at(end_us))) => {}
            _ = interrupted(&mut opts.interrupt) => was_interrupted = true,
        }
    }
    let publish_elapsed = publish_started.elapsed();
    let _ = phase_tx.send(Phase::Draining);
    if !was_interrupted {
        progress.set_stage("draining");
        tokio::select! {
            _ = drain(&metrics, plan.drain) => {}
            _ = interrupted(&mut opts.interrupt) => was_interrupted = true,
        }
    }
    progress.set_stage("disconnecting");
    let _ = phase_tx.send(Phase::Shutdown);

    let mut outcomes: Vec<ClientOutcome> = Vec::with_capacity(planned as usize);
    let mut lost_tasks = 0u64;
    let join_deadline = Instant::now() + Duration::from_secs(15);
    for ramp in ramps {
        let Ok(handles) = ramp.await else { continue };
        for mut h in handles {
            match tokio::time::timeout_at(join_deadline, &mut h).await {
                Ok(Ok(o)) => outcomes.push(o),
                Ok(Err(_)) => lost_tasks += 1,
                Err(_) => {
                    h.abort();
                    lost_tasks += 1;
                }
            }
        }
    }
    let _ = stop_sampler.send(true);
    let timeseries = sampler.await.unwrap_or_default();
    progress.finish();

    let report = build_report(ReportInputs {
        plan: &plan,
        broker: &broker,
        metrics: &metrics,
        outcomes: &outcomes,
        timeseries,
        started_at,
        duration: publish_elapsed,
        interrupted: was_interrupted,
        lost_tasks,
    });
    let exit_code = exit_code(&report);
    drop(broker);
    Ok(RunOutput { report, exit_code })
}

/// One TCP connection before the swarm, so an unreachable broker is one clear
/// error rather than thousands of failed clients.
async fn preflight(broker: &BrokerHandle) -> Result<(), RunError> {
    match timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(broker.addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(RunError::Unreachable {
            url: broker.url.clone(),
            addr: broker.addr,
            cause: e.to_string(),
        }),
        Err(_) => Err(RunError::Unreachable {
            url: broker.url.clone(),
            addr: broker.addr,
            cause: "no answer within 5s".into(),
        }),
    }
}

/// Waits until nothing is in flight and deliveries have stopped for a moment,
/// or the drain period is over.
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
        if metrics.inflight.load(Ordering::Relaxed) <= 0 && quiet_since.elapsed() >= quiet_for {
            return;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

fn spawn_sampler(
    metrics: Arc<Metrics>,
    progress: Progress,
) -> (JoinHandle<Vec<TimePoint>>, watch::Sender<bool>) {
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

struct ReportInputs<'a> {
    plan: &'a Plan,
    broker: &'a BrokerHandle,
    metrics: &'a Metrics,
    outcomes: &'a [ClientOutcome],
    timeseries: Vec<TimePoint>,
    started_at: String,
    duration: Duration,
    interrupted: bool,
    lost_tasks: u64,
}

fn build_report(i: ReportInputs<'_>) -> Report {
    let plan = i.plan;
    let (counters, latencies) = i.metrics.totals();

    let by_client: HashMap<u32, &ClientOutcome> = i.outcomes.iter().map(|o| (o.index, o)).collect();
    let publish_logs = by_client
        .iter()
        .filter_map(|(k, o)| o.publish_log.as_ref().map(|l| (*k, l)))
        .collect();
    let rx_logs = by_client
        .iter()
        .filter_map(|(k, o)| o.rx.as_ref().map(|r| (*k, r)))
        .collect();
    let live = by_client.iter().map(|(k, o)| (*k, &o.live)).collect();
    let streams: Vec<StreamRef> = plan
        .streams
        .iter()
        .map(|s| StreamRef {
            publisher_client: s.publisher_client,
            publisher_index: plan.clients[s.publisher_client as usize]
                .publisher
                .unwrap_or(0),
            subscriber_client: s.subscriber_client,
            qos: s.qos,
        })
        .collect();
    let tally = track::tally(&streams, &publish_logs, &rx_logs, &live);

    let mut listed: Vec<&track::StreamTally> = tally.streams.iter().collect();
    listed.sort_by_key(|s| std::cmp::Reverse(s.lost + s.duplicated + s.out_of_order));
    let id = |c: u32| plan.clients[c as usize].client_id.clone();
    let stream_info = listed
        .into_iter()
        .take(report::MAX_LISTED_STREAMS)
        .map(|s| StreamInfo {
            publisher: id(s.publisher_client),
            subscriber: id(s.subscriber_client),
            qos: s.qos,
            expected: s.expected,
            received: s.received,
            lost: s.lost,
            duplicated: s.duplicated,
            out_of_order: s.out_of_order,
            lost_seqs: s.lost_ranges.clone(),
        })
        .collect();

    let mut error = None;
    if i.lost_tasks > 0 {
        error = Some(format!(
            "{} client tasks did not finish and were not counted",
            i.lost_tasks
        ));
    }
    let connected_peak = i.metrics.connected_peak.load(Ordering::Relaxed).max(0) as u64;
    if connected_peak == 0 && !plan.clients.is_empty() && !i.interrupted {
        error = Some(format!(
            "no client could connect to {}: {}",
            i.broker.url,
            counters
                .connect_failures
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    let mut report = Report {
        schema: report::SCHEMA_VERSION,
        midge_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: ScenarioInfo {
            name: plan.name.clone(),
            sha256: plan.scenario_sha256.clone(),
            file: plan.scenario_path.clone(),
            protocol: plan
                .groups
                .first()
                .map(|g| g.protocol.as_str())
                .unwrap_or("3.1.1")
                .to_string(),
            planned_duration_s: plan.duration.as_secs_f64(),
        },
        broker: BrokerInfo {
            url: i.broker.url.clone(),
            kind: i.broker.kind.to_string(),
            config: i.broker.config.clone(),
        },
        started_at: i.started_at,
        duration_s: (i.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        run_id: format!("{:016x}", plan.run_id),
        interrupted: i.interrupted,
        clients: ClientsInfo {
            planned: plan.clients.len() as u64,
            connected_peak,
            connect_attempts: counters.connect_attempts,
            connect_failures: counters.connect_failures.clone(),
            subscribe_failures: counters.subscribe_failures.clone(),
        },
        latency: LatencyInfo::from(&latencies),
        messages: report::messages(&tally, &counters),
        disconnects: Disconnects {
            total: counters.disconnects.values().sum(),
            by_cause: counters.disconnects.clone(),
        },
        reconnects: 0,
        findings: Vec::new(),
        streams: stream_info,
        timeseries: i.timeseries,
        expectations: Vec::new(),
        verdict: String::new(),
        error,
    };
    report.expectations = crate::expect::evaluate(&plan.expect, &report);
    report.verdict = if report.error.is_some()
        || report.interrupted
        || report.expectations.iter().any(|e| !e.pass)
    {
        "fail".into()
    } else {
        "pass".into()
    };
    report
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
