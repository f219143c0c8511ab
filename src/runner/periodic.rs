//! The run's figures while it goes on: every so often a snapshot of the
//! record so far (every client's copy, `client::snapshot`), analysed as a
//! finished run would be. Every `report_every` the partial report.json and
//! report.md are rewritten in the run's folder, atomically, so a soak killed
//! outright still leaves a complete report; more often, while a progress
//! line is shown, the snapshot's lost, e2e p99 and findings go to it.
//!
//! Never a false loss: the snapshot's horizon lies a margin before the
//! moment it was asked — max(`MIN_MARGIN`, the drain's quiet period) — and
//! every open connection is taken as ended there (`Client::answer_snapshot`),
//! so only messages sent before the horizon can be expected; those sent
//! later are in flight.

use super::drain::quiet_period;
use super::memory::release_free_memory;
use crate::analysis;
use crate::broker::BrokerHandle;
use crate::client::snapshot::Snapshots;
use crate::client::Phase;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::progress::{Progress, SoFar};
use crate::record::series::Series;
use crate::record::vocab::DrainEnd;
use crate::record::{
    BrokerRecord, DrainRecord, FaultLog, GeneratorRecord, PublishWindow, RunRecord, TimePoint, RECORD_FORMAT,
};
use crate::report::Report;
use crate::sys::SysView;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The least time a message gets to arrive before a snapshot may call it lost.
pub const MIN_MARGIN: Duration = Duration::from_secs(1);
/// How often the progress line's figures are refreshed (when one is shown).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How long the runner waits for the clients' answers to a snapshot: a
/// client busy connecting answers next time.
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// What the periodic task reads the run from.
pub struct Periodic {
    pub plan: Arc<Plan>,
    pub metrics: Arc<Metrics>,
    pub snapshots: Arc<Snapshots>,
    pub series: Arc<Mutex<Series<TimePoint>>>,
    pub sys: Option<SysView>,
    pub broker: Arc<tokio::sync::Mutex<BrokerHandle>>,
    pub phase: watch::Sender<Phase>,
    pub progress: Progress,
    /// Where the partial report goes (None: nowhere, progress only).
    pub dir: Option<PathBuf>,
    pub started_at: String,
    pub workers: usize,
}

/// Starts the periodic snapshots, if there is anything to do with them;
/// stopped (and awaited) before the run's end, so the final report is
/// never overwritten by a partial one.
pub fn spawn_periodic(p: Periodic) -> Option<(JoinHandle<()>, watch::Sender<bool>)> {
    let report_every = p.plan.report_every.filter(|_| p.dir.is_some());
    let progress_every = p.progress.shown().then_some(PROGRESS_EVERY);
    let tick = match (report_every, progress_every) {
        (Some(r), Some(q)) => r.min(q),
        (a, b) => a.or(b)?,
    };
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let handle = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut next_report = report_every.map(|r| start + r);
        let mut at = start;
        // Publishing's (start, end) once seen: a snapshot during the drain
        // still counts what was due.
        let mut window = None;
        loop {
            at += tick;
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = stop_rx.changed() => return,
            }
            let write = next_report.is_some_and(|n| n <= tokio::time::Instant::now());
            let report = tokio::select! {
                r = snapshot_report(&p, &mut window) => r,
                _ = stop_rx.changed() => return,
            };
            p.progress.set_so_far(SoFar::of(&report));
            if write {
                next_report = report_every.map(|r| tokio::time::Instant::now() + r);
                if let Some(dir) = p.dir.clone() {
                    let written = tokio::task::spawn_blocking(move || report.write_partial(&dir)).await;
                    if let Ok(Err(e)) = written {
                        eprintln!("midge: cannot write the partial report: {e}");
                    }
                }
            }
            release_free_memory();
        }
    });
    Some((handle, stop_tx))
}

/// Asks every client for its record so far, waits (briefly) for the
/// answers, and analyses the whole (on a blocking thread).
async fn snapshot_report(p: &Periodic, window: &mut Option<(u64, u64)>) -> Report {
    let now_us = p.metrics.clock.now_us();
    let margin = MIN_MARGIN.max(quiet_period(p.metrics.slowest_delivery_us.load(Ordering::Relaxed)));
    let horizon_us = now_us.saturating_sub(margin.as_micros() as u64);
    p.snapshots.ask(horizon_us);
    // Wakes every client, also those with nothing to do (as an order does).
    p.phase.send_modify(|_| {});
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    while p.snapshots.answers() < p.plan.clients.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let clients = p.snapshots.take();
    if let Phase::Publishing { start_us, end_us } = *p.phase.borrow() {
        *window = Some((start_us, end_us));
    }
    let publishing =
        window.map(|(start_us, end_us)| PublishWindow { start_us, end_us, stopped_us: now_us.min(end_us) });
    let record = record_so_far(p, clients, publishing, horizon_us).await;
    let plan = p.plan.clone();
    tokio::task::spawn_blocking(move || analysis::analyse(&plan, &record)).await.expect("the analysis does not panic")
}

/// The run record as it stands: what the clients answered, the counters,
/// histograms and series so far; publishing counted up to now.
async fn record_so_far(
    p: &Periodic,
    clients: Vec<crate::record::ClientRecord>,
    publishing: Option<PublishWindow>,
    horizon_us: u64,
) -> RunRecord {
    let (counters, latencies) = p.metrics.totals();
    let sys = p.sys.as_ref().map(SysView::snapshot).unwrap_or_default();
    let broker = {
        let b = p.broker.lock().await;
        BrokerRecord {
            url: b.url.clone(),
            kind: b.kind.to_string(),
            config: b.config.clone(),
            log_lines: b.telling_log_lines(),
            sys: sys.last,
            sys_series: sys.series,
            // Filled in at the end (`runner::finish`).
            tls: None,
        }
    };
    let elapsed_us = publishing.map_or(0, |w| w.stopped_us.saturating_sub(w.start_us));
    RunRecord {
        format: RECORD_FORMAT,
        midge_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: p.plan.identity(),
        broker,
        started_at: p.started_at.clone(),
        publish_elapsed: Duration::from_micros(elapsed_us),
        publishing,
        as_of_us: Some(horizon_us),
        interrupted: false,
        stop_signal: None,
        drain: DrainRecord {
            ended: DrainEnd::NotYet,
            waited_us: 0,
            quiet_period_us: 0,
            in_flight_at_end: 0,
            offline_at_end: 0,
        },
        lost_tasks: 0,
        // Nothing after the horizon is judged: an offline gap ends there.
        run_end_us: horizon_us,
        connected_peak: p.metrics.connected_peak.load(Ordering::Relaxed).max(0) as u64,
        clock_start_unix_us: p.metrics.clock.start_unix_us(),
        start_late_us: None,
        merged: None,
        retained_cleanup: None,
        counters,
        latencies,
        timeseries: p.series.lock().unwrap_or_else(|e| e.into_inner()).to_vec(),
        clients,
        faults: FaultLog::default(),
        generator: GeneratorRecord {
            workers: p.workers,
            cpu_s: 0.0,
            wall_s: elapsed_us as f64 / 1e6,
            rss_kib_at_publish_end: crate::metrics::process_rss_kib(),
            peak_rss_kib: crate::metrics::process_peak_rss_kib(),
            loop_delay: crate::metrics::new_histogram(),
            broker_cpu_s: None,
            broker_rss_kib: None,
        },
    }
}
