//! Assembles the `Report` from what a run recorded: the clients' outcomes
//! (logs and timelines), the merged metrics, the faults carried out.

use super::{
    messages, BrokerInfo, ClientTimeline, ClientsInfo, ConnectionInfo, Disconnects, Finding, LatencyInfo,
    LossWindowInfo, Report, ScenarioInfo, StreamInfo, MAX_LISTED_STREAMS, MAX_LISTED_TIMELINES, SCHEMA_VERSION,
};
use crate::broker::BrokerHandle;
use crate::client::task::Generation;
use crate::client::ClientOutcome;
use crate::faults::schedule::FaultLog;
use crate::metrics::{Counters, Latencies, TimePoint};
use crate::plan::Plan;
use crate::track::{self, Connected, StreamRef, StreamTally, Tally, TallyInput};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Everything a run hands over for its report.
pub struct RunRecord<'a> {
    pub plan: &'a Plan,
    pub broker: &'a BrokerHandle,
    pub counters: Counters,
    pub latencies: Latencies,
    pub connected_peak: u64,
    pub outcomes: &'a [ClientOutcome],
    /// The last value of each `$SYS` topic the broker published.
    pub broker_sys: std::collections::BTreeMap<String, String>,
    pub timeseries: Vec<TimePoint>,
    pub started_at: String,
    pub duration: Duration,
    pub interrupted: bool,
    pub lost_tasks: u64,
    pub faults: FaultLog,
    pub run_end_us: u64,
    pub generator: GeneratorRecord,
}

/// What midge measured of itself during the publishing phase.
pub struct GeneratorRecord {
    pub workers: usize,
    pub cpu_s: f64,
    pub rss_kib_at_publish_end: u64,
    pub wall_s: f64,
    pub loop_delay: hdrhistogram::Histogram<u64>,
    pub broker_cpu_s: Option<f64>,
    pub broker_rss_kib: Option<u64>,
}

/// Thresholds of the saturation guard.
const LOOP_DELAY_P99_LIMIT_US: u64 = 20_000;
const CPU_UTILIZATION_LIMIT: f64 = 0.9;

/// The saturation guard: was midge, not the broker, the bottleneck?
/// The achieved publish rate of every publishing group.
fn publish_rates(plan: &Plan, outcomes: &[ClientOutcome]) -> Vec<super::PublishRate> {
    let mut by_group: Vec<(u64, f64)> = vec![(0, 0.0); plan.groups.len()];
    for o in outcomes {
        let Some(log) = &o.publish_log else { continue };
        let Some((first, last)) = log.sent.span() else { continue };
        if log.published() < 2 || last <= first {
            continue;
        }
        let g = plan.clients[o.index as usize].group as usize;
        by_group[g].0 += 1;
        by_group[g].1 += (log.published() - 1) as f64 / ((last - first) as f64 / 1e6);
    }
    let round = |x: f64, places: i32| (x * 10f64.powi(places)).round() / 10f64.powi(places);
    plan.groups
        .iter()
        .zip(by_group)
        .filter_map(|(g, (publishers, achieved))| {
            let p = g.publish.as_ref()?;
            if publishers == 0 {
                return None;
            }
            let target = p.rate * publishers as f64;
            Some(super::PublishRate {
                group: g.name.clone(),
                arrival: match p.arrival {
                    crate::client::schedule::Arrival::Constant => "constant".into(),
                    crate::client::schedule::Arrival::Poisson => "poisson".into(),
                    crate::client::schedule::Arrival::Burst(n) => format!("burst of {n}"),
                },
                publishers,
                target_msgs_per_s: round(target, 3),
                achieved_msgs_per_s: round(achieved, 3),
                deviation_pct: round((achieved - target) / target * 100.0, 3),
            })
        })
        .collect()
}

fn load_generator(g: &GeneratorRecord, latencies: &Latencies, plan: &Plan, c_peak: u64) -> super::LoadGenerator {
    let utilization = if g.wall_s > 0.0 { g.cpu_s / (g.wall_s * g.workers.max(1) as f64) } else { 0.0 };
    let loop_delay = super::LatencySummary::from_histogram(&g.loop_delay);
    let mut reasons = Vec::new();
    if loop_delay.count > 0 && loop_delay.p99_us > LOOP_DELAY_P99_LIMIT_US {
        reasons.push(format!(
            "midge's event loop fell behind: a 10 ms timer fired {:.1} ms late (p99)",
            loop_delay.p99_us as f64 / 1000.0
        ));
    }
    if g.wall_s >= 1.0 && utilization >= CPU_UTILIZATION_LIMIT {
        reasons.push(format!(
            "midge used {:.0}% of its {} worker thread(s) while publishing",
            utilization * 100.0,
            g.workers
        ));
    }
    super::LoadGenerator {
        workers: g.workers as u64,
        cpu_s: (g.cpu_s * 1000.0).round() / 1000.0,
        cpu_utilization: (utilization * 1000.0).round() / 1000.0,
        peak_rss_kib: crate::metrics::process_peak_rss_kib(),
        rss_kib_at_publish_end: g.rss_kib_at_publish_end,
        rss_bytes_per_connected_client: match c_peak {
            0 => None,
            n => Some((g.rss_kib_at_publish_end * 1024) / n),
        },
        loop_delay,
        publish_lag: super::LatencySummary::from_histogram(&latencies.publish_lag),
        saturated: !reasons.is_empty(),
        reasons,
        source_addrs: plan.source_addrs.iter().map(|a| a.to_string()).collect(),
        broker_cpu_s: g.broker_cpu_s.map(|c| (c * 1000.0).round() / 1000.0),
        broker_rss_kib: g.broker_rss_kib,
        batch_window_us: plan.batch_window.as_micros() as u64,
        publish_rates: Vec::new(),
        socket_reads: 0,
        socket_writes: 0,
        bytes_in: 0,
        bytes_out: 0,
    }
}

fn secs(us: u64) -> f64 {
    (us as f64 / 1e3).round() / 1e3
}

/// The connections of a timeline, as the join reads them.
pub fn connections(timeline: &[Generation]) -> Vec<Connected> {
    timeline
        .iter()
        .filter_map(|g| {
            g.connected_us.map(|connected_us| Connected {
                live_from_us: g.live_from_us,
                connected_us,
                heard_us: g.heard_us,
                slowest_delivery_us: g.slowest_delivery_us,
                ended_us: g.ended_us,
                graceful: g.cause.is_none(),
            })
        })
        .collect()
}

pub fn tally(plan: &Plan, outcomes: &[ClientOutcome], restarts: &[(u64, u64)], run_end_us: u64) -> Tally {
    let by_client: HashMap<u32, &ClientOutcome> = outcomes.iter().map(|o| (o.index, o)).collect();
    let streams: Vec<StreamRef> = plan
        .streams
        .iter()
        .map(|s| StreamRef {
            publisher_client: s.publisher_client,
            publisher_index: plan.clients[s.publisher_client as usize].publisher.unwrap_or(0),
            subscriber_client: s.subscriber_client,
            qos: s.qos,
            persistent: plan.group_of(&plan.clients[s.subscriber_client as usize]).persistent(),
        })
        .collect();
    track::tally(&TallyInput {
        streams: &streams,
        publish_logs: by_client.iter().filter_map(|(k, o)| o.publish_log.as_ref().map(|l| (*k, l))).collect(),
        rx_logs: by_client.iter().filter_map(|(k, o)| o.rx.as_ref().map(|r| (*k, r))).collect(),
        connections: by_client.iter().map(|(k, o)| (*k, connections(&o.timeline))).collect(),
        restarts,
        run_end_us,
    })
}

type ViolationsBySubscriber<'a> = std::collections::BTreeMap<(u32, u8), Vec<(&'a StreamTally, u64, u64)>>;

/// QoS contract violations: QoS 1 loss, QoS 2 loss or duplicates, reorder
/// within one QoS (QoS 0 loss is loss, not a violation). One finding per
/// subscriber and QoS, with the streams as evidence.
fn qos_violations(plan: &Plan, streams: &[StreamTally], run_end_us: u64) -> Vec<Finding> {
    let id = |c: u32| plan.clients[c as usize].client_id.clone();
    // (subscriber, qos) → [(stream, violating losses, violating duplicates)]
    let mut by_sub: ViolationsBySubscriber = Default::default();
    for s in streams {
        let lost = if s.qos >= 1 { s.lost } else { 0 };
        let dup = if s.qos == 2 { s.duplicated } else { 0 };
        if lost + dup + s.out_of_order > 0 {
            by_sub.entry((s.subscriber_client, s.qos)).or_default().push((s, lost, dup));
        }
    }
    by_sub
        .into_iter()
        .map(|((sub, qos), list)| {
            let lost: u64 = list.iter().map(|(_, l, _)| l).sum();
            let dup: u64 = list.iter().map(|(_, _, d)| d).sum();
            let reordered: u64 = list.iter().map(|(s, _, _)| s.out_of_order).sum();
            let mut what = Vec::new();
            if lost > 0 {
                what.push(format!("{lost} lost"));
            }
            if dup > 0 {
                what.push(format!("{dup} delivered twice"));
            }
            if reordered > 0 {
                what.push(format!("{reordered} out of order"));
            }
            let publishers: Vec<String> = list.iter().map(|(s, _, _)| id(s.publisher_client)).collect();
            let named = publishers.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            let more = if publishers.len() > 3 { format!(" and {} more", publishers.len() - 3) } else { String::new() };
            let mut client_ids = vec![id(sub)];
            client_ids.extend(publishers.iter().take(20).cloned());
            Finding {
                kind: "qos_violation".into(),
                summary: format!(
                    "QoS {qos} deliveries to {} broke their guarantee: {} on {} stream(s), from {named}{more}",
                    id(sub),
                    what.join(", "),
                    list.len()
                ),
                client_ids,
                count: lost + dup + reordered,
                first_s: 0.0,
                last_s: secs(run_end_us),
                evidence: json!({
                    "qos": qos,
                    "subscriber": id(sub),
                    "lost": lost,
                    "duplicated": dup,
                    "out_of_order": reordered,
                    "streams": list.iter().take(20).map(|(s, l, d)| json!({
                        "publisher": id(s.publisher_client),
                        "lost": l,
                        "lost_seqs": if *l > 0 { s.lost_ranges.clone() } else { Vec::new() },
                        "duplicated": d,
                        "out_of_order": s.out_of_order,
                    })).collect::<Vec<_>>(),
                }),
            }
        })
        .collect()
}

fn timelines(plan: &Plan, outcomes: &[ClientOutcome]) -> Vec<ClientTimeline> {
    let mut v: Vec<&ClientOutcome> = outcomes
        .iter()
        .filter(|o| o.ever_connected() && o.timeline.iter().any(|g| g.connected_us.is_some() && g.cause.is_some()))
        .collect();
    v.sort_by_key(|o| o.index);
    v.into_iter()
        .take(MAX_LISTED_TIMELINES)
        .map(|o| {
            let c = &plan.clients[o.index as usize];
            ClientTimeline {
                client: c.client_id.clone(),
                group: plan.group_of(c).name.clone(),
                connections: o
                    .timeline
                    .iter()
                    .map(|g| ConnectionInfo {
                        attempt_s: secs(g.attempt_us),
                        connected_s: g.connected_us.map(secs),
                        session_present: g.session_present,
                        live_s: g.live_from_us.map(secs),
                        ended_s: secs(g.ended_us),
                        cause: g.cause.clone(),
                    })
                    .collect(),
            }
        })
        .collect()
}

pub fn report(r: RunRecord<'_>) -> Report {
    let plan = r.plan;
    let tally = tally(plan, r.outcomes, &r.faults.restarts, r.run_end_us);
    let detected = crate::detect::detect(plan, r.outcomes, &r.faults, r.broker.log_text().as_deref());
    let mut generator = load_generator(&r.generator, &r.latencies, plan, r.connected_peak);
    generator.publish_rates = publish_rates(plan, r.outcomes);
    generator.socket_reads = r.counters.socket_reads;
    generator.socket_writes = r.counters.socket_writes;
    generator.bytes_in = r.counters.bytes_in;
    generator.bytes_out = r.counters.bytes_out;
    let saturation = generator.saturated.then(|| Finding {
        kind: "generator_saturated".into(),
        summary: format!(
            "midge itself was the bottleneck, not the broker: {}. Latency and rate figures describe midge, not the broker — give midge a batch_window (e.g. \"1ms\": about half the CPU per message), more cores (--workers), fewer clients per process, or shards on more machines.",
            generator.reasons.join("; ")
        ),
        client_ids: Vec::new(),
        count: 1,
        first_s: 0.0,
        last_s: secs(r.run_end_us),
        evidence: serde_json::json!({
            "cpu_utilization": generator.cpu_utilization,
            "workers": generator.workers,
            "loop_delay_p99_us": generator.loop_delay.p99_us,
            "publish_lag_p99_us": generator.publish_lag.p99_us,
        }),
    });
    let id = |c: u32| plan.clients[c as usize].client_id.clone();

    let mut listed: Vec<&StreamTally> = tally.streams.iter().collect();
    listed.sort_by_key(|s| std::cmp::Reverse(s.lost + s.duplicated + s.out_of_order + s.missed_offline));
    let stream_info = listed
        .into_iter()
        .take(MAX_LISTED_STREAMS)
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
    let loss_windows = tally
        .windows
        .iter()
        .map(|w| LossWindowInfo {
            kind: w.kind.name().to_string(),
            client: w.client.map(id),
            start_s: secs(w.start_us),
            end_s: secs(w.end_us.min(r.run_end_us)),
            lost: w.lost,
            missed_offline: w.missed_offline,
        })
        .collect();

    let mut error = None;
    if r.lost_tasks > 0 {
        error = Some(format!("{} client tasks did not finish and were not counted", r.lost_tasks));
    }
    if let Some(e) = r.faults.events.iter().find_map(|f| f.error.as_ref()) {
        error = Some(format!("a fault could not be carried out: {e}"));
    }
    let counters = &r.counters;
    if r.connected_peak == 0 && !plan.clients.is_empty() && !r.interrupted {
        error = Some(format!(
            "no client could connect to {}: {}",
            r.broker.url,
            counters.connect_failures.iter().map(|(k, v)| format!("{k} ×{v}")).collect::<Vec<_>>().join(", ")
        ));
    }

    let mut report = Report {
        schema: SCHEMA_VERSION,
        midge_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: ScenarioInfo {
            name: plan.name.clone(),
            sha256: plan.scenario_sha256.clone(),
            file: plan.scenario_path.clone(),
            protocol: plan.groups.first().map(|g| g.protocol.as_str()).unwrap_or("3.1.1").to_string(),
            planned_duration_s: plan.duration.as_secs_f64(),
        },
        broker: BrokerInfo {
            url: r.broker.url.clone(),
            kind: r.broker.kind.to_string(),
            config: r.broker.config.clone(),
            sys: r.broker_sys,
        },
        started_at: r.started_at,
        duration_s: (r.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        run_id: format!("{:016x}", plan.run_id),
        interrupted: r.interrupted,
        clients: ClientsInfo {
            planned: plan.clients.len() as u64,
            connected_peak: r.connected_peak,
            connect_attempts: counters.connect_attempts,
            connect_failures: counters.connect_failures.clone(),
            subscribe_failures: counters.subscribe_failures.clone(),
        },
        latency: LatencyInfo::from(&r.latencies),
        messages: messages(&tally, counters),
        disconnects: Disconnects { total: detected.by_cause.values().sum(), by_cause: detected.by_cause },
        reconnects: counters.reconnects,
        findings: saturation
            .into_iter()
            .chain(detected.findings)
            .chain(qos_violations(plan, &tally.streams, r.run_end_us))
            .collect(),
        load_generator: generator,
        streams: stream_info,
        loss_windows,
        client_timelines: timelines(plan, r.outcomes),
        faults: r.faults.events,
        timeseries: r.timeseries,
        expectations: Vec::new(),
        verdict: String::new(),
        error,
    };
    report.expectations = crate::expect::evaluate(&plan.expect, &report);
    report.verdict = if report.error.is_some() || report.interrupted || report.expectations.iter().any(|e| !e.pass) {
        "fail".into()
    } else {
        "pass".into()
    };
    report
}
