//! The one assembly of the run record, from the phases' typed outputs: what
//! the run started with (`Basis`), what the swarm observed so far
//! (`Observed`), publishing (`Publishing`), the drain (`DrainRecord`) and
//! how far the run got (`Until`). A phase that has not run is `None`, and
//! this file alone decides how the record writes it: the final record
//! (`runner::run`) and the periodic snapshot (`runner::periodic`) are made by
//! the same `assemble`, so they cannot drift apart.
//!
//! The record's serialized form is the same as before the phases were typed:
//! where a field is not optional in record.json, "not measured" is written
//! as it always was (0 CPU seconds, an empty loop-delay histogram, an empty
//! fault log, a drain `not_yet`).

use crate::broker::BrokerHandle;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::record::clock::RunClock;
use crate::record::series::Series;
use crate::record::vocab::{DrainEnd, StopSignal};
use crate::record::{
    BrokerRecord, BrokersRecord, ClientRecord, Counters, DrainRecord, FaultLog, GeneratorRecord, Latencies,
    PublishWindow, RetainedCleanup, RunRecord, TimePoint, TlsRecord, RECORD_FORMAT,
};
use crate::sys::SysSeen;
use hdrhistogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Fixed once the run is prepared: what every record of it shares.
pub struct Basis {
    pub plan: Arc<Plan>,
    /// RFC 3339, to the second: when the swarm started.
    pub started_at: String,
    pub clock: RunClock,
    /// midge's client worker threads.
    pub workers: usize,
}

/// What the swarm observed so far: the broker, the counters and histograms,
/// the time series and the clients' own records.
pub struct Observed {
    pub broker: BrokerRecord,
    /// Several brokers: e2e per pair (the others' records are added at the end, `runner::run`).
    pub brokers: BrokersRecord,
    pub counters: Counters,
    pub latencies: Latencies,
    pub connected_peak: u64,
    pub timeseries: Vec<TimePoint>,
    pub clients: Vec<ClientRecord>,
    /// The broker's process memory when observed (None: not known).
    pub broker_rss_kib: Option<u64>,
}

impl Observed {
    /// The broker (its handle's and `$SYS`'s), the metrics' totals and
    /// peak, the series as it stands, and `clients`.
    pub fn of(
        (b, sys, tls): (&BrokerHandle, SysSeen, Option<TlsRecord>),
        metrics: &Metrics,
        series: &Mutex<Series<TimePoint>>,
        clients: Vec<ClientRecord>,
    ) -> Observed {
        let (counters, latencies) = metrics.totals();
        Observed {
            broker: broker_record(b, sys, tls),
            brokers: BrokersRecord { others: Vec::new(), e2e_pairs: metrics.pair_latencies() },
            broker_rss_kib: b.rss_kib(),
            counters,
            latencies,
            connected_peak: metrics.connected_peak.load(Ordering::Relaxed).max(0) as u64,
            timeseries: series.lock().unwrap_or_else(|e| e.into_inner()).to_vec(),
            clients,
        }
    }
}

/// The broker's part of the record: the handle's, what `$SYS` said, and the
/// TLS negotiated (None: no TLS, or not known yet).
pub fn broker_record(b: &BrokerHandle, sys: SysSeen, tls: Option<TlsRecord>) -> BrokerRecord {
    BrokerRecord {
        url: b.url.clone(),
        kind: b.kind.to_string(),
        config: b.config.clone(),
        log_lines: b.telling_log_lines(),
        sys: sys.last,
        sys_series: sys.series,
        tls,
        // Set by `runner::run` once the run is over (the kernel's counter then).
        listen_overflows: None,
    }
}

/// Publishing: its window, and what midge measured of itself (and of the
/// broker's process) over it.
pub struct Publishing {
    pub window: PublishWindow,
    pub elapsed: Duration,
    /// With `--start-at`: how late publishing started against it (0: on time).
    pub start_late_us: Option<u64>,
    /// None while publishing goes on (a snapshot): nothing is measured yet.
    pub measured: Option<Measured>,
}

/// midge's own resources over publishing, and the broker's when its process is known.
pub struct Measured {
    pub cpu_s: f64,
    pub rss_kib: u64,
    pub loop_delay: Histogram<u64>,
    pub broker_cpu_s: Option<f64>,
    pub broker_rss_kib: Option<u64>,
    /// The kernel's TCP sockets when publishing ended.
    pub kernel_tcp: Option<crate::record::KernelTcp>,
}

/// How far the record goes.
pub enum Until {
    /// A snapshot of a run still going: nothing after `horizon_us` (run
    /// clock) is judged, and an open connection is taken as ended there.
    Horizon { horizon_us: u64 },
    /// The run is over.
    Finished(Finished),
}

/// What only a finished run has.
pub struct Finished {
    /// The signal that stopped the run early (None: it ran to its end).
    pub stop_signal: Option<StopSignal>,
    /// Client tasks that did not end in time (aborted) or panicked.
    pub lost_tasks: u64,
    pub run_end_us: u64,
    /// The fault schedule's log (None: no fault schedule ran).
    pub faults: Option<FaultLog>,
    pub retained_cleanup: Option<RetainedCleanup>,
}

/// The drain of a record whose run has not drained yet.
const NOT_DRAINED: DrainRecord = DrainRecord {
    ended: DrainEnd::NotYet,
    waited_us: 0,
    quiet_period_us: 0,
    in_flight_at_end: 0,
    offline_at_end: 0,
    awaiting_backlog_at_end: 0,
};

/// The run record from the phases' outputs.
pub fn assemble(
    basis: &Basis,
    observed: Observed,
    publishing: Option<Publishing>,
    drain: Option<DrainRecord>,
    until: Until,
) -> RunRecord {
    let (window, elapsed, start_late_us) = match &publishing {
        Some(p) => (Some(p.window), p.elapsed, p.start_late_us),
        None => (None, Duration::ZERO, None),
    };
    let measured = publishing.and_then(|p| p.measured);
    let generator = generator(basis.workers, measured, elapsed, observed.broker_rss_kib);
    let (as_of_us, end) = match until {
        Until::Horizon { horizon_us } => (Some(horizon_us), Finished::at_horizon(horizon_us)),
        Until::Finished(f) => (None, f),
    };
    RunRecord {
        format: RECORD_FORMAT,
        midge_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: basis.plan.identity(),
        broker: observed.broker,
        brokers: observed.brokers,
        started_at: basis.started_at.clone(),
        clock_start_unix_us: basis.clock.start_unix_us(),
        start_late_us,
        publish_elapsed: elapsed,
        publishing: window,
        as_of_us,
        interrupted: end.stop_signal.is_some(),
        stop_signal: end.stop_signal,
        drain: drain.unwrap_or(NOT_DRAINED),
        lost_tasks: end.lost_tasks,
        run_end_us: end.run_end_us,
        connected_peak: observed.connected_peak,
        counters: observed.counters,
        latencies: observed.latencies,
        timeseries: observed.timeseries,
        clients: observed.clients,
        faults: end.faults.unwrap_or_default(),
        generator,
        retained_cleanup: end.retained_cleanup,
        merged: None,
    }
}

impl Finished {
    /// A snapshot's end: nothing after the horizon is judged (an offline
    /// gap ends there), no task is lost yet, no fault log is collected.
    fn at_horizon(horizon_us: u64) -> Finished {
        Finished { stop_signal: None, lost_tasks: 0, run_end_us: horizon_us, faults: None, retained_cleanup: None }
    }
}

/// The generator's part: measured over publishing, or (publishing not over
/// or never started) nothing but the wall time so far, the memory now and
/// the broker's memory as observed.
fn generator(
    workers: usize,
    measured: Option<Measured>,
    elapsed: Duration,
    broker_rss_kib: Option<u64>,
) -> GeneratorRecord {
    let m = measured.unwrap_or_else(|| Measured {
        cpu_s: 0.0,
        rss_kib: crate::metrics::process_rss_kib(),
        loop_delay: crate::record::hist::new_histogram(),
        broker_cpu_s: None,
        broker_rss_kib,
        kernel_tcp: None,
    });
    GeneratorRecord {
        workers,
        cpu_s: m.cpu_s,
        wall_s: elapsed.as_secs_f64(),
        rss_kib_at_publish_end: m.rss_kib,
        // The peak so far; a final record's is read again after the
        // analysis (`runner::run`), which it includes.
        peak_rss_kib: crate::metrics::process_peak_rss_kib(),
        loop_delay: m.loop_delay,
        broker_cpu_s: m.broker_cpu_s,
        broker_rss_kib: m.broker_rss_kib,
        kernel_tcp: m.kernel_tcp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::testkit;

    fn basis() -> Basis {
        let plan = testkit::plan(
            r#"
name = "assembly"
[[group]]
name = "pub"
publish = { topic = "t/0", qos = 1, rate = 1.0 }
[[group]]
name = "sub"
subscribe = { filter = "t/#", qos = 1 }
"#,
        );
        Basis { plan: Arc::new(plan), started_at: "2026-12-06T10:00:00Z".into(), clock: RunClock::new(), workers: 2 }
    }

    fn observed() -> Observed {
        Observed {
            broker: BrokerRecord {
                url: testkit::BROKER_URL.into(),
                kind: "external".into(),
                config: None,
                log_lines: None,
                sys: Default::default(),
                sys_series: Vec::new(),
                tls: None,
                listen_overflows: None,
            },
            brokers: Default::default(),
            counters: Counters::default(),
            latencies: Latencies::new(),
            connected_peak: 2,
            timeseries: Vec::new(),
            clients: Vec::new(),
            broker_rss_kib: Some(1234),
        }
    }

    fn published(measured: Option<Measured>) -> Publishing {
        Publishing {
            window: PublishWindow { start_us: 1_000_000, end_us: 11_000_000, stopped_us: 6_000_000 },
            elapsed: Duration::from_secs(5),
            start_late_us: Some(0),
            measured,
        }
    }

    #[test]
    fn a_snapshot_ends_at_its_horizon_and_has_not_drained() {
        let b = basis();
        let r = assemble(&b, observed(), Some(published(None)), None, Until::Horizon { horizon_us: 5_000_000 });
        assert_eq!((r.as_of_us, r.run_end_us), (Some(5_000_000), 5_000_000));
        assert_eq!(r.drain.ended, DrainEnd::NotYet);
        assert!(!r.interrupted && r.stop_signal.is_none() && r.retained_cleanup.is_none());
        assert_eq!((r.lost_tasks, r.faults.events.len()), (0, 0));
        assert_eq!(r.started_at, b.started_at);
        assert_eq!(r.clock_start_unix_us, b.clock.start_unix_us());
        // Nothing measured over publishing yet: no CPU, the broker's memory as observed.
        assert_eq!((r.generator.cpu_s, r.generator.wall_s), (0.0, 5.0));
        assert_eq!((r.generator.workers, r.generator.broker_rss_kib, r.generator.broker_cpu_s), (2, Some(1234), None));
        assert!(r.generator.loop_delay.is_empty());
    }

    #[test]
    fn a_finished_record_says_how_it_ended_and_what_publishing_measured() {
        let mut loop_delay = crate::record::hist::new_histogram();
        loop_delay.saturating_record(70);
        let measured = Measured {
            cpu_s: 1.5,
            rss_kib: 4096,
            loop_delay,
            broker_cpu_s: Some(0.25),
            broker_rss_kib: Some(99),
            kernel_tcp: None,
        };
        let finished = Finished {
            stop_signal: Some(StopSignal::Sigterm),
            lost_tasks: 1,
            run_end_us: 9_000_000,
            faults: Some(FaultLog::default()),
            retained_cleanup: None,
        };
        let drained = DrainRecord {
            ended: DrainEnd::Interrupted,
            waited_us: 7,
            quiet_period_us: 0,
            in_flight_at_end: 0,
            offline_at_end: 0,
            awaiting_backlog_at_end: 0,
        };
        let r =
            assemble(&basis(), observed(), Some(published(Some(measured))), Some(drained), Until::Finished(finished));
        assert_eq!((r.as_of_us, r.run_end_us, r.lost_tasks), (None, 9_000_000, 1));
        assert!(r.interrupted && r.stop_signal == Some(StopSignal::Sigterm));
        assert_eq!((r.drain.ended, r.drain.waited_us), (DrainEnd::Interrupted, 7));
        assert_eq!((r.start_late_us, r.publish_elapsed), (Some(0), Duration::from_secs(5)));
        assert_eq!(r.publishing.map(|w| w.stopped_us), Some(6_000_000));
        let g = &r.generator;
        assert_eq!((g.cpu_s, g.wall_s, g.rss_kib_at_publish_end), (1.5, 5.0, 4096));
        assert_eq!((g.broker_cpu_s, g.broker_rss_kib, g.loop_delay.len()), (Some(0.25), Some(99), 1));
    }

    #[test]
    fn a_run_stopped_before_publishing_has_no_window() {
        let finished = Finished {
            stop_signal: Some(StopSignal::Sigint),
            lost_tasks: 0,
            run_end_us: 3,
            faults: None,
            retained_cleanup: None,
        };
        let r = assemble(&basis(), observed(), None, None, Until::Finished(finished));
        assert_eq!((r.publishing, r.start_late_us, r.publish_elapsed), (None, None, Duration::ZERO));
        assert_eq!((r.generator.wall_s, r.generator.broker_rss_kib), (0.0, Some(1234)));
    }
}
