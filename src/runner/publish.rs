//! Publishing: the phase change every client follows, the fault schedule,
//! the end (the duration, every counted publisher done, or a stop signal),
//! and what midge measured of itself (and of the broker's process) over it.
//!
//! Publishing ends at the planned end, when every counted publisher is done
//! (`all_publishers_done`), or at a stop signal. Over it `publish` measures
//! midge's CPU and RSS and the broker's (`broker_cpu_seconds`: the
//! `--broker-pid` process, else the spawned broker's), and the loop probe's
//! delay.

use super::assemble::{Measured, Publishing};
use super::probes::spawn_loop_probe;
use super::swarm::{Links, Swarm};
use crate::broker::BrokerHandle;
use crate::control::{stop_requested, Phase, RunControl};
use crate::faults::schedule::{self, FaultContext};
use crate::plan::Plan;
use crate::record::clock::RunClock;
use crate::record::vocab::StopSignal;
use crate::record::{FaultLog, PublishWindow};
use std::sync::Arc;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How publishing ended.
pub(super) struct Published {
    pub publishing: Publishing,
    /// The fault schedule, still running until `Phase::Shutdown` (None: no faults).
    pub faults: Option<JoinHandle<FaultLog>>,
    /// The signal that cut publishing short.
    pub stopped_by: Option<StopSignal>,
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
pub(super) async fn publish(
    s: &Swarm,
    p: &Links,
    broker: &Arc<Mutex<BrokerHandle>>,
    interrupt: &mut Option<watch::Receiver<Option<StopSignal>>>,
) -> Published {
    let started = Instant::now();
    let cpu_at_start = crate::metrics::process_cpu_seconds();
    let broker_cpu_at_start = broker_cpu_seconds(&s.plan, broker).await;
    let (probe, stop_probe) = spawn_loop_probe(&s.pool);
    // A short lead so that every client sees the phase before its first slot.
    let (start_us, start_late_us) = publish_start(&s.plan, &s.run.clock, s.run.clock.now_us() + 50_000);
    if let (Some(late), Some(shard)) = (start_late_us.filter(|l| *l > 0), &s.plan.shard) {
        eprintln!(
            "midge: shard {} starts publishing {:.3} s after --start-at (its clients were still connecting); the report marks the skew",
            shard.id,
            late as f64 / 1e6
        );
    }
    let end_us = start_us + s.plan.duration.as_micros() as u64;
    let _ = s.phase.send(Phase::Publishing { start_us, end_us });
    let faults = (!s.plan.faults.is_empty()).then(|| {
        let fctx = FaultContext {
            plan: s.plan.clone(),
            proxies: p.proxies.clone(),
            broker: broker.clone(),
            endpoints: p.endpoints.clone(),
            orders: s.orders.clone(),
            phase: s.phase.clone(),
            clock: s.run.clock,
        };
        tokio::spawn(schedule::run(fctx, start_us, s.phase.subscribe()))
    });
    let stopped_by = tokio::select! {
        _ = tokio::time::sleep_until(Instant::from_std(s.run.clock.instant_at(end_us))) => None,
        _ = all_publishers_done(&s.plan, &s.run) => None,
        signal = stop_requested(interrupt) => Some(signal),
    };
    let elapsed = started.elapsed();
    let window = PublishWindow { start_us, end_us, stopped_us: s.run.clock.now_us() };
    let cpu_s = crate::metrics::process_cpu_seconds() - cpu_at_start;
    let rss_kib = crate::metrics::process_rss_kib();
    let kernel_tcp = crate::metrics::kernel_tcp();
    let broker_rss_kib = broker.lock().await.rss_kib();
    let broker_cpu_s = match (broker_cpu_at_start, broker_cpu_seconds(&s.plan, broker).await) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let _ = stop_probe.send(true);
    let mut loop_delay = crate::record::hist::new_histogram();
    for h in probe {
        if let Ok(h) = h.await {
            let _ = loop_delay.add(&h);
        }
    }
    let measured = Measured { cpu_s, rss_kib, loop_delay, broker_cpu_s, broker_rss_kib, kernel_tcp };
    Published {
        publishing: Publishing { window, elapsed, start_late_us, measured: Some(measured) },
        faults,
        stopped_by,
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
async fn all_publishers_done(plan: &Plan, run: &RunControl) {
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
        run.publishers_done.wait_for(publishers).await
    } else {
        std::future::pending().await
    }
}
