//! midge measuring itself: the load generator section of the report and the
//! saturation guard's verdict (was midge, not the broker, the bottleneck?).

use crate::analysis::model::{LatencySummary, LoadGenerator, PublishRate};
use crate::plan::Arrival;
use crate::plan::Plan;
use crate::record::RunRecord;

/// The event loop fell behind when a 10 ms timer fired this late (p99).
const LOOP_DELAY_P99_LIMIT_US: u64 = 20_000;
/// midge was busy when it used this share of its worker threads.
const CPU_UTILIZATION_LIMIT: f64 = 0.9;

fn round(x: f64, places: i32) -> f64 {
    (x * 10f64.powi(places)).round() / 10f64.powi(places)
}

fn arrival_name(a: Arrival) -> String {
    match a {
        Arrival::Constant => "constant".into(),
        Arrival::Poisson => "poisson".into(),
        Arrival::Burst(n) => format!("burst of {n}"),
    }
}

/// The achieved publish rate of every publishing group: the sum over its
/// publishers of (messages − 1) / (last send − first send).
pub fn publish_rates(plan: &Plan, record: &RunRecord) -> Vec<PublishRate> {
    let mut by_group: Vec<(u64, f64)> = vec![(0, 0.0); plan.groups.len()];
    for c in &record.clients {
        let Some(log) = &c.publish_log else { continue };
        let Some((first, last)) = log.sent.span() else { continue };
        if log.published() < 2 || last <= first {
            continue;
        }
        let g = plan.clients[c.index as usize].group as usize;
        by_group[g].0 += 1;
        by_group[g].1 += (log.published() - 1) as f64 / ((last - first) as f64 / 1e6);
    }
    plan.groups
        .iter()
        .zip(by_group)
        .filter_map(|(g, (publishers, achieved))| {
            let p = g.publish.as_ref()?;
            if publishers == 0 {
                return None;
            }
            let target = p.rate * publishers as f64;
            Some(PublishRate {
                group: g.name.clone(),
                arrival: arrival_name(p.arrival),
                publishers,
                target_msgs_per_s: round(target, 3),
                achieved_msgs_per_s: round(achieved, 3),
                deviation_pct: round((achieved - target) / target * 100.0, 3),
            })
        })
        .collect()
}

/// Why midge counts as saturated (empty: it was not).
fn saturation_reasons(loop_delay: &LatencySummary, utilization: f64, wall_s: f64, workers: usize) -> Vec<String> {
    let mut reasons = Vec::new();
    if loop_delay.count > 0 && loop_delay.p99_us > LOOP_DELAY_P99_LIMIT_US {
        reasons.push(format!(
            "midge's event loop fell behind: a 10 ms timer fired {:.1} ms late (p99)",
            loop_delay.p99_us as f64 / 1000.0
        ));
    }
    if wall_s >= 1.0 && utilization >= CPU_UTILIZATION_LIMIT {
        reasons.push(format!(
            "midge used {:.0}% of its {} worker thread(s) while publishing",
            utilization * 100.0,
            workers
        ));
    }
    reasons
}

pub fn load_generator(plan: &Plan, record: &RunRecord) -> LoadGenerator {
    let g = &record.generator;
    let c = &record.counters;
    let utilization = if g.wall_s > 0.0 { g.cpu_s / (g.wall_s * g.workers.max(1) as f64) } else { 0.0 };
    let loop_delay = LatencySummary::from_histogram(&g.loop_delay);
    let reasons = saturation_reasons(&loop_delay, utilization, g.wall_s, g.workers);
    LoadGenerator {
        workers: g.workers as u64,
        cpu_s: round(g.cpu_s, 3),
        cpu_utilization: round(utilization, 3),
        peak_rss_kib: g.peak_rss_kib,
        rss_kib_at_publish_end: g.rss_kib_at_publish_end,
        rss_bytes_per_connected_client: match record.connected_peak {
            0 => None,
            n => Some((g.rss_kib_at_publish_end * 1024) / n),
        },
        loop_delay,
        publish_lag: LatencySummary::from_histogram(&record.latencies.publish_lag),
        saturated: !reasons.is_empty(),
        reasons,
        source_addrs: record.plan.source_addrs.clone(),
        broker_cpu_s: g.broker_cpu_s.map(|c| round(c, 3)),
        broker_rss_kib: g.broker_rss_kib,
        batch_window_us: plan.batch_window.as_micros() as u64,
        publish_rates: publish_rates(plan, record),
        socket_reads: c.socket_reads,
        socket_writes: c.socket_writes,
        bytes_in: c.bytes_in,
        bytes_out: c.bytes_out,
    }
}
