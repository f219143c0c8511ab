//! midge watching itself while it runs: the event-loop probe on every
//! worker (the saturation guard) and the per-second sampler (the time series
//! and the progress line).
//!
//! The loop probe has its own stop rather than the run's shared shutdown
//! (`control::Tasks`): it measures publishing only, is stopped when
//! publishing ends, and hands back one histogram per worker.
//!
//! The loop probe is a 10 ms timer on every worker (its lateness is
//! `load_generator.loop_delay`); the sampler writes one `TimePoint` a second
//! (`Metrics::sample`, `ResourceMeter::sample` with the broker's PID from
//! `broker::BrokerPid`) and trims memory after each sample (`memory::Trimmer`).

use crate::broker;
use crate::control::Shutdown;
use crate::metrics::Metrics;
use crate::progress::Progress;
use crate::record::clock::RunClock;
use crate::record::series::Series;
use crate::record::TimePoint;
use crate::workers::WorkerPool;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

/// The event-loop probe: a 10 ms timer, again and again, on every client
/// worker; how late it fires says how far behind midge's own threads are
/// (the saturation guard).
pub fn spawn_loop_probe(pool: &WorkerPool) -> (Vec<JoinHandle<hdrhistogram::Histogram<u64>>>, watch::Sender<bool>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let handles = (0..pool.len())
        .map(|worker| {
            let mut stop_rx = stop_rx.clone();
            pool.spawn(worker, async move {
                let mut h = crate::record::hist::new_histogram();
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

/// The time series: once a second, the swarm's counters and e2e p99, and
/// the CPU and memory of midge and of the broker's process (`broker_pid`,
/// asked each time: a restarted broker has a new one). Runs on the main
/// runtime; a sample reads the shards and a few small /proc files. The
/// points go into `series` (rolled up past an hour: fixed memory). One of
/// the run's background tasks (`control::Tasks`): on `shutdown` it takes a
/// last sample (the run's last, partial interval) and ends.
pub async fn sampler(
    metrics: Arc<Metrics>,
    clock: RunClock,
    progress: Progress,
    broker_pid: broker::BrokerPid,
    series: Arc<Mutex<Series<TimePoint>>>,
    mut shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let (mut prev, _) = metrics.sample();
    let mut prev_us = clock.now_us();
    let mut resources = crate::metrics::ResourceMeter::new(broker_pid.get());
    let mut trimmer = super::memory::Trimmer::default();
    loop {
        let stop = tokio::select! {
            _ = tick.tick() => false,
            _ = shutdown.requested() => true,
        };
        let (now, interval) = metrics.sample();
        let used = resources.sample(broker_pid.get());
        let now_us = clock.now_us();
        let point = TimePoint {
            t_s: (now_us as f64 / 1e5).round() / 10.0,
            span_s: ((now_us - prev_us) as f64 / 1e5).round() / 10.0,
            connected: metrics.connected.load(Ordering::Relaxed),
            published: now.published_total() - prev.published_total(),
            received: now.received_total() - prev.received_total(),
            e2e_p99_us: interval.map(|h| h.value_at_quantile(0.99)),
            midge_cpu_pct: used.midge_cpu_pct,
            midge_rss_kib: used.midge_rss_kib,
            broker_cpu_pct: used.broker_cpu_pct,
            broker_rss_kib: used.broker_rss_kib,
        };
        progress.update(&point, &now);
        series.lock().unwrap_or_else(|e| e.into_inner()).push(point);
        if let Some(rss_kib) = used.midge_rss_kib {
            trimmer.after_sample(rss_kib);
        }
        prev = now;
        prev_us = now_us;
        if stop {
            return;
        }
    }
}
