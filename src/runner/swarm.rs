//! The swarm: the worker threads, the shared metrics, the phase every
//! client follows, the ramps that start the clients at their connect rates,
//! the run's background tasks (`control::Tasks`), and the shutdown that
//! collects every client's record.
//!
//! `spawn_ramps`: the clients there from the start at `connect_rate`, a client
//! stage's or a late group's (`start_after`) later ones at their join times
//! once publishing starts (`GroupPlan::join_us`: a late group's spaced by its
//! `connect_rate`, which also bounds the catch-up after a late wake-up).
//! Shutdown is the `Phase` watch every client task selects on: Connecting →
//! Publishing → Draining → Shutdown.

use super::probes::sampler;
use crate::broker;
use crate::client::order::ClientOrder;
use crate::client::snapshot::Snapshots;
use crate::client::{run_client, ClientContext, ClientOutcome, Endpoint};
use crate::control::{Phase, RunControl, TaskName, Tasks};
use crate::faults::proxy::FaultProxy;
use crate::metrics::Metrics;
use crate::mqtt::transport::Transport;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::record::clock::RunClock;
use crate::record::series::{Series, MAX_POINTS};
use crate::record::{FaultLog, TimePoint};
use crate::sys::{SysSeen, SysWatcher};
use crate::workers::WorkerPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the swarm reaches the brokers.
#[derive(Clone)]
pub(super) struct Links {
    /// midge's fault proxy in front of each broker (empty: no fault needs one).
    pub proxies: Vec<Arc<FaultProxy>>,
    /// TLS and WebSocket as the first broker's URL asks (its $SYS watcher's).
    pub transport: Transport,
    /// The same per group, by index (a group's own client certificate).
    pub group_transports: Arc<[Transport]>,
    /// Where clients connect, by broker (`Plan::brokers`): the broker, or
    /// the proxy in front of it, and how each group talks to it.
    pub endpoints: Arc<[Endpoint]>,
}

/// The swarm while it runs: its clients, the run's shared state and the
/// tasks that watch it.
pub(super) struct Swarm {
    pub plan: Arc<Plan>,
    /// The run clock and the gates the runner waits on (shared with the clients).
    pub run: Arc<RunControl>,
    pub metrics: Arc<Metrics>,
    pub pool: Arc<WorkerPool>,
    pub phase: watch::Sender<Phase>,
    pub orders: watch::Sender<Option<Arc<ClientOrder>>>,
    pub progress: Progress,
    /// The sampler's time series (rolled up past an hour).
    pub series: Arc<std::sync::Mutex<Series<TimePoint>>>,
    /// The periodic report's requests to every client.
    pub snapshots: Arc<Snapshots>,
    /// The background tasks: the sampler from the start, the periodic
    /// snapshot and the exporter as the run asks; stopped together once
    /// every client is back (`Swarm::shut_down`).
    pub tasks: Tasks,
    ramps: Vec<Ramp>,
}

/// What the swarm leaves once every client is back.
pub(super) struct Ended {
    pub clients: Vec<ClientOutcome>,
    pub lost_tasks: u64,
    pub sys: SysSeen,
    pub run_end_us: u64,
    /// The fault schedule's log (None: no fault schedule ran).
    pub faults: Option<FaultLog>,
}

pub(super) fn start_swarm(
    p: &Links,
    plan: Arc<Plan>,
    workers: Option<usize>,
    show: bool,
    broker_pid: broker::BrokerPid,
    clock: RunClock,
) -> std::io::Result<Swarm> {
    let workers = workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = Arc::new(WorkerPool::start(workers)?);
    // One shard per worker: client i runs on worker i mod n and records into
    // shard i mod n, so no two workers share a shard (only the sampler and
    // the drain visit). Each holds ten histograms of 188 KB, all of it
    // resident (the histogram zero-fills its counts), so a shard is not free.
    let metrics = Arc::new(Metrics::new(pool.len().clamp(1, 16)).with_brokers(plan.brokers.len()));
    let run = Arc::new(RunControl::new(clock));
    let (orders, orders_rx) = watch::channel(None);
    let snapshots = Arc::new(Snapshots::default());
    let ctx = Arc::new(ClientContext {
        plan: plan.clone(),
        metrics: metrics.clone(),
        run: run.clone(),
        endpoints: p.endpoints.clone(),
        orders: orders_rx,
        snapshots: snapshots.clone(),
    });
    let (phase, phase_rx) = watch::channel(Phase::Connecting);
    let progress = Progress::new(show, plan.clients.len() as u32, phase_rx.clone(), clock);
    let series = Arc::new(std::sync::Mutex::new(Series::new(MAX_POINTS)));
    let mut tasks = Tasks::default();
    let (m, shown, s) = (metrics.clone(), progress.clone(), series.clone());
    tasks.spawn(TaskName::Sampler, move |shutdown| sampler(m, clock, shown, broker_pid, s, shutdown));
    let ramps = spawn_ramps(&plan, &ctx, &phase_rx, &pool);
    Ok(Swarm { plan, run, metrics, pool, phase, orders, progress, series, snapshots, tasks, ramps })
}

impl Swarm {
    /// Shutdown: every client disconnects and its record is collected; the
    /// background tasks stop together once the figures are final.
    pub async fn shut_down(self, sys_watch: Option<SysWatcher>, faults: Option<JoinHandle<FaultLog>>) -> Ended {
        let _ = self.phase.send(Phase::Shutdown);
        // The broker's final round of $SYS values arrives while the clients disconnect.
        if let Some(w) = &sys_watch {
            w.stop();
        }
        let faults = match faults {
            Some(h) => Some(h.await.unwrap_or_default()),
            None => None,
        };
        let (clients, lost_tasks) = join_clients(self.ramps).await;
        let sys = match sys_watch {
            Some(w) => w.finish().await,
            None => SysSeen::default(),
        };
        let run_end_us = self.run.clock.now_us();
        for failed in self.tasks.stop().await {
            eprintln!("midge: the {failed:?} task failed (its part of the run may be missing)");
        }
        self.progress.finish();
        Ended { clients, lost_tasks, sys, run_end_us, faults }
    }
}

type Ramp = JoinHandle<Vec<JoinHandle<ClientOutcome>>>;

/// Ramps every group at its own connect rate, all groups at once: the
/// clients there from the start before publishing; those a client stage or
/// `start_after` brings in later (`GroupPlan::join_us`) at their times on
/// the stage clock.
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
                    let clock = ctx.run.clock;
                    // `connect_rate` bounds the late joins too: after a late
                    // wake-up the next waits 1 / rate (less the timer's 1 ms
                    // rounding, so on-time wake-ups keep the plan's times and
                    // do not drift), rather than all that fell due at once.
                    let gap = rate.map(|r| Duration::from_secs_f64(1.0 / r).saturating_sub(Duration::from_millis(1)));
                    let mut last: Option<std::time::Instant> = None;
                    for i in initial..n {
                        let index = first + i;
                        let planned = clock.instant_at(start_us + group.join_us(index));
                        let at = match (last, gap) {
                            (Some(l), Some(g)) => planned.max(l + g),
                            _ => planned,
                        };
                        tokio::select! {
                            _ = tokio::time::sleep_until(Instant::from_std(at)) => {}
                            _ = phase.wait_for(|p| !matches!(p, Phase::Publishing { .. })) => break,
                        }
                        if !matches!(*phase.borrow(), Phase::Publishing { .. }) {
                            break;
                        }
                        last = Some(std::time::Instant::now());
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
pub(super) fn initial_clients(plan: &Plan) -> u32 {
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
