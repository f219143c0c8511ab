//! midge measuring itself: the load generator section of the report and the
//! saturation guard's verdict (was midge, not the broker, the bottleneck?).
//!
//! Unsent is counted, not hidden: what each publisher's schedule made due while
//! publishing ran (`due`: `plan::schedule::Schedule::of_publisher`, the very
//! schedule the client published by, over the record's `PublishWindow` up to
//! `stopped_us` — the client's own window in a merge — its `count` at most,
//! never fewer than it sent) less what it sent is `unsent`; `publish_rates`
//! compare sent with due over the whole period (`achieved_msgs_per_s`,
//! `deviation_pct`), and keep the pace while sending apart (`span_msgs_per_s`:
//! (messages − 1) / (last send − first send), summed over the group). With
//! stages the target is the rate curve's mean over the planned duration.
//!
//! Saturation guard: midge counts as saturated when the 10 ms loop probe's p99
//! is over 20 ms late, or it used ≥ 90 % of its worker threads over at least a
//! second of publishing (`saturation_reasons`); and, when the broker left room
//! (no full inflight window, every publisher connected and stayed), when
//! publishes left over 100 ms late (p99 `publish_lag`) or a group sent under 99
//! % of what was due (`schedule_reasons`).
//!
//! Policy is not saturation: a publisher the broker's announced limit held
//! back (Maximum QoS, Maximum Packet Size, Retain Available: a `LimitHit`
//! that blocks publishing, `client::announced`) owes nothing it could send;
//! what its schedule made due is counted under the limit's name
//! (`held_by_limit`, per group and in total) and left out of the shortfall
//! the guard judges. A full inflight window (Receive Maximum) and a refused
//! or dropped publisher already keep the schedule's reasons out.
//!
//! `load_generator.peak_rss_kib` is taken by `runner::run` after the analysis
//! and written into record and report alike.

use crate::analysis::model::{LatencySummary, LoadGenerator, OwnPart, PublishRate};
use crate::plan::schedule::Schedule;
use crate::plan::Arrival;
use crate::plan::Plan;
use crate::record::vocab::{BatchMode, Limit, ReceiveTime};
use crate::record::{ClientRecord, KernelTcp, Latencies, RunRecord};
use std::collections::BTreeMap;

/// The event loop fell behind when a 10 ms timer fired this late (p99).
const LOOP_DELAY_P99_LIMIT_US: u64 = 20_000;
/// midge was busy when it used this share of its worker threads.
const CPU_UTILIZATION_LIMIT: f64 = 0.9;
/// Publishes leaving this late (p99) with room in every inflight window
/// mean midge, not the broker, could not keep the schedule.
const PUBLISH_LAG_P99_LIMIT_US: u64 = 100_000;
/// A group that sent less than this share of what was due, with room in
/// every inflight window and no publisher dropped, fell short by midge's doing.
const SHORTFALL_LIMIT: f64 = 0.99;

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

/// What a publisher owed: the messages its schedule made due while
/// publishing ran (its `count` at most) — never fewer than it sent, since
/// a message can only be sent once due (a batch window sends up to a window early).
pub fn due(plan: &Plan, record: &RunRecord, c: &ClientRecord) -> u64 {
    let sent = c.publish_log.as_ref().map_or(0, |l| l.published());
    let p = &plan.clients[c.index as usize];
    let (Some(w), Some(publish)) = (c.publishing.or(record.publishing), plan.group_of(p).publish.as_ref()) else {
        return sent;
    };
    let Some(mut schedule) = Schedule::of_publisher(plan, p, w.start_us, w.end_us) else { return sent };
    let due = schedule.due_by(0, w.stopped_us.min(w.end_us));
    publish.count.map_or(due, |n| due.min(n)).max(sent)
}

/// The limit the broker announced that held this publisher back (the
/// first of them), if one did.
pub fn held_by(c: &ClientRecord) -> Option<Limit> {
    c.limits.iter().map(|h| h.limit).find(|l| l.blocks_publishing())
}

/// One group's sums over its publishers.
#[derive(Default)]
struct GroupSums {
    /// Publishers with anything due.
    publishers: u64,
    due: u64,
    sent: u64,
    /// Due from publishers a broker limit held back.
    held: u64,
    /// The pace while sending.
    span: f64,
}

fn group_sums(plan: &Plan, record: &RunRecord) -> Vec<GroupSums> {
    let mut by_group: Vec<GroupSums> = plan.groups.iter().map(|_| GroupSums::default()).collect();
    for c in &record.clients {
        let g = &mut by_group[plan.clients[c.index as usize].group as usize];
        let due = due(plan, record, c);
        let Some(log) = &c.publish_log else { continue };
        g.publishers += (due > 0) as u64;
        g.due += due;
        g.sent += log.published();
        if held_by(c).is_some() {
            g.held += due - log.published().min(due);
        }
        if let Some((first, last)) = log.sent.span().filter(|(f, l)| log.published() >= 2 && l > f) {
            g.span += (log.published() - 1) as f64 / ((last - first) as f64 / 1e6);
        }
    }
    by_group
}

/// Messages due that a broker limit held back, under the limit's name
/// (`load_generator.held_by_limit`).
pub fn held_by_limit(plan: &Plan, record: &RunRecord) -> BTreeMap<Limit, u64> {
    let mut held = BTreeMap::new();
    for c in &record.clients {
        if let Some(limit) = held_by(c) {
            let sent = c.publish_log.as_ref().map_or(0, |l| l.published());
            let due = due(plan, record, c);
            *held.entry(limit).or_default() += due - sent.min(due);
        }
    }
    held
}

/// Every publishing group's rate: asked, achieved over the whole period
/// (sent against due), and the pace while sending.
pub fn publish_rates(plan: &Plan, record: &RunRecord) -> Vec<PublishRate> {
    plan.groups
        .iter()
        .zip(group_sums(plan, record))
        .filter_map(|(g, s)| {
            let p = g.publish.as_ref()?;
            if s.publishers == 0 {
                return None;
            }
            // With stages: the curve's mean over the planned run.
            let rate = p.curve.as_ref().map_or(p.rate, |c| c.mean(plan.duration.as_micros() as f64));
            let target = rate * s.publishers as f64;
            let achieved = target * s.sent as f64 / s.due as f64;
            Some(PublishRate {
                group: g.name.clone(),
                arrival: arrival_name(p.arrival),
                publishers: s.publishers,
                target_msgs_per_s: round(target, 3),
                achieved_msgs_per_s: round(achieved, 3),
                deviation_pct: round((s.sent as f64 - s.due as f64) / s.due as f64 * 100.0, 3),
                due: s.due,
                sent: s.sent,
                unsent: s.due - s.sent.min(s.due),
                held_by_limit: s.held,
                span_msgs_per_s: round(s.span, 3),
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

/// The schedule's own reasons: publishes late, or load never sent, while
/// the broker left room (no full inflight window) and every publisher
/// connected and stayed; load a broker limit held back is not midge's.
/// When the broker's acknowledgements set the pace, or a publisher was
/// refused or dropped, that is the broker (or a fault).
fn schedule_reasons(plan: &Plan, record: &RunRecord, lag: &LatencySummary, rates: &[PublishRate]) -> Vec<String> {
    let publisher_failed = record
        .clients
        .iter()
        .any(|c| plan.clients[c.index as usize].publisher.is_some() && c.timeline.iter().any(|g| g.cause.is_some()));
    if record.counters.publish_window_full > 0 || publisher_failed {
        return Vec::new();
    }
    let mut reasons = Vec::new();
    if lag.count > 0 && lag.p99_us > PUBLISH_LAG_P99_LIMIT_US {
        reasons.push(format!(
            "publishes left {:.1} ms late (p99) although every inflight window had room",
            lag.p99_us as f64 / 1000.0
        ));
    }
    // What a broker limit held back was the broker's policy, not midge's shortfall.
    let sendable = |r: &PublishRate| r.due - r.held_by_limit.min(r.due);
    for r in rates.iter().filter(|r| sendable(r) > 0 && (r.sent as f64) < sendable(r) as f64 * SHORTFALL_LIMIT) {
        let of = sendable(r);
        reasons.push(format!(
            "group {} sent {} of the {of} messages due ({:+.1} %) although the broker left room",
            r.group,
            r.sent,
            (r.sent as f64 - of as f64) / of as f64 * 100.0
        ));
    }
    reasons
}

/// The share of publish writes that carried more than one message, to 3
/// places (None: no publish was written).
fn batched_publish_share(writes: u64, batched: u64) -> Option<f64> {
    (writes > 0).then(|| round(batched as f64 / writes as f64, 3))
}

/// `load_generator.kernel_socket_bytes_per_connected_client`: the kernel's
/// TCP socket memory when publishing ended over the peak of connected
/// clients, in bytes (rounded down).
pub fn kernel_socket_bytes_per_client(kernel: Option<KernelTcp>, connected_peak: u64) -> Option<u64> {
    match (kernel, connected_peak) {
        (Some(k), n) if n > 0 => Some(k.mem_kib * 1024 / n),
        _ => None,
    }
}

/// midge's own part of the latency (report.json `latency.own`): send lag
/// and receive delay percentiles from their histograms, and the most a
/// paced read could add under the plan's batching.
pub fn own_part(plan: &Plan, l: &Latencies) -> OwnPart {
    let q = |h: &hdrhistogram::Histogram<u64>, x: f64| if h.is_empty() { 0 } else { h.value_at_quantile(x) };
    OwnPart {
        send_lag_p50_us: q(&l.publish_lag, 0.5),
        send_lag_p99_us: q(&l.publish_lag, 0.99),
        receive_delay_p50_us: q(&l.receive_delay, 0.5),
        receive_delay_p99_us: q(&l.receive_delay, 0.99),
        receive_delay_measured: !l.receive_delay.is_empty(),
        receive_delay_deliveries: l.receive_delay.len(),
        batching_bound_us: match plan.batch_mode {
            BatchMode::Off => 0,
            BatchMode::Fixed => plan.batch_window.as_micros() as u64,
            BatchMode::Adaptive => crate::mqtt::pace::ADAPTIVE_WINDOW_US,
        },
        e2e_receive_time: ReceiveTime::of(l.e2e.len(), l.receive_delay.len()),
    }
}

pub fn load_generator(plan: &Plan, record: &RunRecord) -> LoadGenerator {
    let g = &record.generator;
    let c = &record.counters;
    let utilization = if g.wall_s > 0.0 { g.cpu_s / (g.wall_s * g.workers.max(1) as f64) } else { 0.0 };
    let loop_delay = LatencySummary::from_histogram(&g.loop_delay);
    let publish_lag = LatencySummary::from_histogram(&record.latencies.publish_lag);
    let publish_rates = publish_rates(plan, record);
    let mut reasons = saturation_reasons(&loop_delay, utilization, g.wall_s, g.workers);
    reasons.extend(schedule_reasons(plan, record, &publish_lag, &publish_rates));
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
        kernel_socket_kib: g.kernel_tcp.map(|k| k.mem_kib),
        kernel_socket_bytes_per_connected_client: kernel_socket_bytes_per_client(g.kernel_tcp, record.connected_peak),
        kernel_tcp_sockets: g.kernel_tcp.map(|k| k.sockets),
        loop_delay,
        publish_lag,
        saturated: !reasons.is_empty(),
        reasons,
        source_addrs: record.plan.source_addrs.clone(),
        broker_cpu_s: g.broker_cpu_s.map(|c| round(c, 3)),
        broker_rss_kib: g.broker_rss_kib,
        batch_window_us: plan.batch_window.as_micros() as u64,
        held_by_limit: held_by_limit(plan, record),
        publish_rates,
        publish_window_full: c.publish_window_full,
        socket_reads: c.socket_reads,
        socket_writes: c.socket_writes,
        bytes_in: c.bytes_in,
        bytes_out: c.bytes_out,
        batch_mode: plan.batch_mode,
        publish_writes: c.publish_writes,
        publish_writes_batched: c.publish_writes_batched,
        batched_publish_share: batched_publish_share(c.publish_writes, c.publish_writes_batched),
        paced_reads: c.paced_reads,
    }
}
