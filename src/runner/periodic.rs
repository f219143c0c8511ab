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
//!
//! A snapshot's record is made by the run's own `assemble`, as of its
//! horizon (`Until::Horizon`). Snapshots stop at `Phase::Shutdown`: the
//! clients are leaving and would answer no more.
//!
//! Every `report_every`, and every 10 s while a progress line is shown or
//! the `--prometheus` exporter serves lost and findings so far:
//! `Snapshots::ask` (the phase is touched to wake every client, as an order
//! does), answers awaited at most 1 s — a client still connecting is left out
//! of that snapshot (its streams count nothing), never half-read — then
//! `record_so_far` (the answers, counters, histograms, series so far, through
//! `assemble`: `as_of_us` and `run_end_us` = the horizon, so nothing after it
//! opens an offline gap either; `DrainEnd::NotYet`; faults empty),
//! `analysis::analyse` on a blocking thread, `Report::write_partial` (atomic)
//! and `Progress::set_so_far`, then `memory::release_free_memory`. A
//! background task (`control::TaskName::Periodic`), stopped with the others
//! at the shutdown.

use super::assemble::{assemble, Basis, Observed, Publishing, Until};
use super::drain::quiet_period;
use super::memory::release_free_memory;
use crate::analysis;
use crate::analysis::model::Report;
use crate::broker::BrokerHandle;
use crate::client::snapshot::Snapshots;
use crate::control::{Phase, Shutdown};
use crate::metrics::Metrics;
use crate::progress::{Progress, SoFar};
use crate::record::series::Series;
use crate::record::{ClientRecord, PublishWindow, RunRecord, TimePoint};
use crate::sys::SysView;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The least time a message gets to arrive before a snapshot may call it lost.
pub const MIN_MARGIN: Duration = Duration::from_secs(1);
/// How often the progress line's figures are refreshed (when one is shown).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How long the runner waits for the clients' answers to a snapshot: a
/// client busy connecting answers next time.
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// What the periodic task reads the run from.
pub struct Periodic {
    pub basis: Arc<Basis>,
    pub metrics: Arc<Metrics>,
    pub snapshots: Arc<Snapshots>,
    pub series: Arc<Mutex<Series<TimePoint>>>,
    pub sys: Option<SysView>,
    pub broker: Arc<tokio::sync::Mutex<BrokerHandle>>,
    pub phase: watch::Sender<Phase>,
    pub progress: Progress,
    /// Where the partial report goes (None: nowhere, progress only).
    pub dir: Option<PathBuf>,
    /// The `--prometheus` exporter serves the snapshot's lost and findings.
    pub exported: bool,
}

impl Periodic {
    /// How often a snapshot is taken: None when there is nothing to do with
    /// one (no partial report asked for, no progress line shown, no exporter).
    pub fn tick(&self) -> Option<Duration> {
        let live = self.progress.shown() || self.exported;
        match (self.report_every(), live.then_some(PROGRESS_EVERY)) {
            (Some(r), Some(q)) => Some(r.min(q)),
            (a, b) => a.or(b),
        }
    }

    fn report_every(&self) -> Option<Duration> {
        self.basis.plan.report_every.filter(|_| self.dir.is_some())
    }
}

/// The periodic snapshots every `tick` (`Periodic::tick`): one of the run's
/// background tasks (`control::Tasks`), stopped (and awaited) before the
/// final report is written, so it is never overwritten by a partial one.
pub async fn periodic(p: Periodic, tick: Duration, mut shutdown: Shutdown) {
    let report_every = p.report_every();
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
            _ = shutdown.requested() => return,
        }
        if *p.phase.borrow() == Phase::Shutdown {
            return;
        }
        let write = next_report.is_some_and(|n| n <= tokio::time::Instant::now());
        let report = tokio::select! {
            r = snapshot_report(&p, &mut window) => r,
            _ = shutdown.requested() => return,
        };
        if *p.phase.borrow() == Phase::Shutdown {
            return;
        }
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
}

/// Asks every client for its record so far, waits (briefly) for the
/// answers, and analyses the whole (on a blocking thread).
async fn snapshot_report(p: &Periodic, window: &mut Option<(u64, u64)>) -> Report {
    let now_us = p.basis.clock.now_us();
    let margin = MIN_MARGIN.max(quiet_period(p.metrics.slowest_delivery_us.load(Ordering::Relaxed)));
    let horizon_us = now_us.saturating_sub(margin.as_micros() as u64);
    p.snapshots.ask(horizon_us);
    // Wakes every client, also those with nothing to do (as an order does).
    p.phase.send_modify(|_| {});
    let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
    while p.snapshots.answers() < p.basis.plan.clients.len() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let clients = p.snapshots.take();
    if let Phase::Publishing { start_us, end_us } = *p.phase.borrow() {
        *window = Some((start_us, end_us));
    }
    let publishing =
        window.map(|(start_us, end_us)| PublishWindow { start_us, end_us, stopped_us: now_us.min(end_us) });
    let record = record_so_far(p, clients, publishing, horizon_us).await;
    let plan = p.basis.plan.clone();
    tokio::task::spawn_blocking(move || analysis::analyse(&plan, &record)).await.expect("the analysis does not panic")
}

/// The run record as it stands: what the clients answered, the counters,
/// histograms and series so far; publishing counted up to now.
async fn record_so_far(
    p: &Periodic,
    clients: Vec<ClientRecord>,
    window: Option<PublishWindow>,
    horizon_us: u64,
) -> RunRecord {
    let sys = p.sys.as_ref().map(SysView::snapshot).unwrap_or_default();
    let observed = {
        let b = p.broker.lock().await;
        // TLS: written at the end only (`runner::run`).
        Observed::of((&b, sys, None), &p.metrics, &p.series, clients)
    };
    let publishing = window.map(|w| Publishing {
        window: w,
        elapsed: Duration::from_micros(w.stopped_us.saturating_sub(w.start_us)),
        start_late_us: None,
        measured: None,
    });
    assemble(&p.basis, observed, publishing, None, Until::Horizon { horizon_us })
}
