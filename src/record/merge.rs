//! The records of a sharded run's shards joined into the record of the
//! whole run, as if one process had run the whole plan: each shard's clock
//! moved onto the earliest shard's (every run-clock time shifted by the
//! difference of the clocks' Unix zeros), its clients renumbered to the
//! whole plan's indices, counters summed, histograms added (never
//! percentiles averaged), time series added second by second. The merged
//! record is then analysed once, like any other.
//!
//! `combine` also: makes the same fault on several shards one event; shifts a
//! planned leave's `left_us` and will receipt times like every other run-clock
//! time; sums the shards' retained cleanups; keeps each client's own publishing
//! window (`ClientRecord::publishing`), so each publisher's `due` is counted
//! over its own shard's window.

use super::logs::SendTimes;
use super::shards::{MergedFrom, ShardOf, ShardSummary};
use super::vocab::DrainEnd;
use super::{ClientRecord, FaultLog, Generation, GeneratorRecord, PlanIdentity, PublishWindow, RunRecord, TimePoint};

/// One shard's record and where its clients sit in the whole plan.
pub struct ShardPart {
    pub record: RunRecord,
    /// The whole plan's index of each of the shard's clients (by its index).
    pub global: Vec<u32>,
}

/// The whole run's record from its shards' (all of them, checked by the caller).
pub fn combine(parts: Vec<ShardPart>, plan: PlanIdentity) -> RunRecord {
    let base = parts.iter().map(|p| p.record.clock_start_unix_us).min().unwrap_or(0);
    let mut summaries = Vec::new();
    let mut records = Vec::new();
    for mut part in parts {
        let offset = part.record.clock_start_unix_us.saturating_sub(base);
        shift(&mut part.record, offset);
        renumber(&mut part.record, &part.global);
        for c in &mut part.record.clients {
            c.publishing = part.record.publishing;
        }
        summaries.push(ShardSummary {
            shard: part.record.plan.shard.unwrap_or(ShardOf { index: 0, count: 1 }),
            clients: part.record.clients.len() as u64,
            clock_offset_us: offset,
            start_late_us: part.record.start_late_us,
            publish_start_us: part.record.publishing.map(|w| w.start_us),
            midge_version: part.record.midge_version.clone(),
        });
        records.push(part.record);
    }
    summaries.sort_by_key(|s| s.shard.index);
    let mut merged = fold(records, plan, base);
    merged.merged = Some(MergedFrom { shards: summaries, group_parts: Vec::new() });
    merged
}

/// Adds the shards' records up (already on one clock and one numbering).
fn fold(records: Vec<RunRecord>, plan: PlanIdentity, base: u64) -> RunRecord {
    let mut it = records.into_iter();
    let mut acc = it.next().expect("a merge has at least one shard");
    acc.plan = plan;
    acc.clock_start_unix_us = base;
    for r in it {
        acc.started_at = acc.started_at.min(r.started_at);
        acc.start_late_us = acc.start_late_us.max(r.start_late_us);
        acc.publish_elapsed = acc.publish_elapsed.max(r.publish_elapsed);
        acc.publishing = join_windows(acc.publishing, r.publishing);
        acc.interrupted |= r.interrupted;
        acc.stop_signal = acc.stop_signal.or(r.stop_signal);
        acc.drain = super::DrainRecord {
            ended: worse_end(acc.drain.ended, r.drain.ended),
            waited_us: acc.drain.waited_us.max(r.drain.waited_us),
            quiet_period_us: acc.drain.quiet_period_us.max(r.drain.quiet_period_us),
            in_flight_at_end: acc.drain.in_flight_at_end + r.drain.in_flight_at_end,
            offline_at_end: acc.drain.offline_at_end + r.drain.offline_at_end,
            awaiting_backlog_at_end: acc.drain.awaiting_backlog_at_end + r.drain.awaiting_backlog_at_end,
        };
        acc.lost_tasks += r.lost_tasks;
        // Each shard clears the retained topics of its own publishers.
        acc.retained_cleanup = match (acc.retained_cleanup.take(), r.retained_cleanup) {
            (Some(a), Some(b)) => Some(super::RetainedCleanup {
                topics: a.topics + b.topics,
                cleared: a.cleared + b.cleared,
                error: a.error.or(b.error),
            }),
            (a, b) => a.or(b),
        };
        acc.run_end_us = acc.run_end_us.max(r.run_end_us);
        // Shards peak together in a steady run; this is at most the sum.
        acc.connected_peak += r.connected_peak;
        acc.counters.add(&r.counters);
        acc.latencies.add(&r.latencies);
        acc.brokers.add(&r.brokers);
        acc.timeseries = add_series(&acc.timeseries, &r.timeseries);
        acc.clients.extend(r.clients);
        join_faults(&mut acc.faults, r.faults);
        acc.generator = add_generators(&acc.generator, &r.generator);
        if acc.broker.sys_series.is_empty() {
            acc.broker.sys_series = r.broker.sys_series;
            acc.broker.sys = r.broker.sys;
        }
        // TLS as the shards used it (the same settings): the first that
        // negotiated something says what.
        if acc.broker.tls.as_ref().map_or(true, |t| t.protocol_version.is_none()) && r.broker.tls.is_some() {
            acc.broker.tls = r.broker.tls;
        }
    }
    acc.clients.sort_by_key(|c| c.index);
    acc
}

fn join_windows(a: Option<PublishWindow>, b: Option<PublishWindow>) -> Option<PublishWindow> {
    match (a, b) {
        (Some(a), Some(b)) => Some(PublishWindow {
            start_us: a.start_us.min(b.start_us),
            end_us: a.end_us.max(b.end_us),
            stopped_us: a.stopped_us.max(b.stopped_us),
        }),
        (a, b) => a.or(b),
    }
}

/// The less complete of two drain endings.
fn worse_end(a: DrainEnd, b: DrainEnd) -> DrainEnd {
    let rank = |e: DrainEnd| match e {
        DrainEnd::Complete => 0,
        DrainEnd::Quiet => 1,
        DrainEnd::TimeLimit => 2,
        DrainEnd::Interrupted => 3,
        DrainEnd::NotYet => 4,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Two time series added second by second (points in the same whole
/// second of the merged clock add up; e2e p99 is the higher one's, an
/// upper bound; midge's CPU and memory add, the broker's is the higher).
pub fn add_series(a: &[TimePoint], b: &[TimePoint]) -> Vec<TimePoint> {
    let mut by_second: std::collections::BTreeMap<i64, TimePoint> = std::collections::BTreeMap::new();
    for p in a.iter().chain(b) {
        let key = p.t_s.round() as i64;
        match by_second.get_mut(&key) {
            None => {
                by_second.insert(key, TimePoint { t_s: key as f64, ..p.clone() });
            }
            Some(q) => {
                q.connected += p.connected;
                q.published += p.published;
                q.received += p.received;
                q.e2e_p99_us = q.e2e_p99_us.max(p.e2e_p99_us);
                // Kept at the record's 0.1 resolution: a sum such as 10.3 +
                // 16.6 is 26.900000000000002 in binary, and a report made
                // again from the saved record must read the same.
                q.midge_cpu_pct = add_opt(q.midge_cpu_pct, p.midge_cpu_pct).map(|v| (v * 10.0).round() / 10.0);
                q.midge_rss_kib = add_opt(q.midge_rss_kib, p.midge_rss_kib);
                q.broker_cpu_pct = q.broker_cpu_pct.or(p.broker_cpu_pct);
                q.broker_rss_kib = q.broker_rss_kib.or(p.broker_rss_kib);
            }
        }
    }
    by_second.into_values().collect()
}

fn add_opt<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// Each shard carried out its part of a fault: the same fault (action and
/// time) is one event, aimed at the clients of all shards.
fn join_faults(acc: &mut FaultLog, f: FaultLog) {
    for e in f.events {
        match acc.events.iter_mut().find(|a| a.action == e.action && (a.at_s - e.at_s).abs() < 0.5) {
            Some(a) => {
                a.clients += e.clients;
                a.error = a.error.take().or(e.error);
            }
            None => acc.events.push(e),
        }
    }
    acc.restarts.extend(f.restarts);
    acc.hits.extend(f.hits);
    acc.malformed.extend(f.malformed);
    acc.twins.extend(f.twins);
}

/// midge's own figures over all shards (each its own process).
fn add_generators(a: &GeneratorRecord, b: &GeneratorRecord) -> GeneratorRecord {
    let mut loop_delay = a.loop_delay.clone();
    let _ = loop_delay.add(&b.loop_delay);
    GeneratorRecord {
        workers: a.workers + b.workers,
        cpu_s: a.cpu_s + b.cpu_s,
        wall_s: a.wall_s.max(b.wall_s),
        rss_kib_at_publish_end: a.rss_kib_at_publish_end + b.rss_kib_at_publish_end,
        peak_rss_kib: a.peak_rss_kib + b.peak_rss_kib,
        loop_delay,
        broker_cpu_s: a.broker_cpu_s.or(b.broker_cpu_s),
        broker_rss_kib: a.broker_rss_kib.or(b.broker_rss_kib),
        // Machine-wide: shards on one machine each saw every shard's sockets.
        kernel_tcp: a.kernel_tcp.or(b.kernel_tcp),
    }
}

/// Every run-clock time in `r` moved `by_us` later.
pub fn shift(r: &mut RunRecord, by_us: u64) {
    if by_us == 0 {
        return;
    }
    let s = by_us as f64 / 1e6;
    for c in &mut r.clients {
        c.timeline.iter_mut().for_each(|g| shift_generation(g, by_us));
        if let Some(log) = &mut c.publish_log {
            shift_send_times(&mut log.sent, by_us);
        }
        if let Some(w) = &mut c.publishing {
            shift_window(w, by_us);
        }
        c.rx.iter_mut().flat_map(|rx| &mut rx.wills).for_each(|w| w.at_us += by_us);
    }
    for e in &mut r.faults.events {
        e.at_s = later(e.at_s, s);
        e.until_s = e.until_s.map(|u| later(u, s));
    }
    for (a, b) in &mut r.faults.restarts {
        (*a, *b) = (*a + by_us, *b + by_us);
    }
    for (a, b, _) in &mut r.faults.hits {
        (*a, *b) = (*a + by_us, *b + by_us);
    }
    for (t, _) in &mut r.faults.malformed {
        *t += by_us;
    }
    for c in r.faults.twins.iter_mut().flat_map(|t| &mut t.connections) {
        c.connected_us += by_us;
        c.ended_us += by_us;
    }
    r.timeseries.iter_mut().for_each(|p| p.t_s = later(p.t_s, s));
    r.broker.sys_series.iter_mut().for_each(|p| p.t_s = later(p.t_s, s));
    if let Some(w) = &mut r.publishing {
        shift_window(w, by_us);
    }
    r.run_end_us += by_us;
}

fn shift_window(w: &mut PublishWindow, by_us: u64) {
    w.start_us += by_us;
    w.end_us += by_us;
    w.stopped_us += by_us;
}

/// Seconds `t` moved `s` later, to the µs: the sum as the record file
/// writes it, so a merged folder re-renders (`midge report`) byte for byte.
fn later(t: f64, s: f64) -> f64 {
    ((t + s) * 1e6).round() / 1e6
}

fn shift_send_times(t: &mut SendTimes, by_us: u64) {
    t.shift(by_us);
}

fn shift_generation(g: &mut Generation, by_us: u64) {
    g.attempt_us += by_us;
    g.connected_us = g.connected_us.map(|t| t + by_us);
    g.live_from_us = g.live_from_us.map(|t| t + by_us);
    // 0 means "nothing yet" for these two.
    if g.heard_us > 0 {
        g.heard_us += by_us;
    }
    if g.wrote_us > 0 {
        g.wrote_us += by_us;
    }
    g.ended_us += by_us;
    g.left_us = g.left_us.map(|t| t + by_us);
    g.behind.iter_mut().for_each(|(a, b)| (*a, *b) = (*a + by_us, *b + by_us));
    g.flight.iter_mut().for_each(|f| f.t_us += by_us);
}

/// The shard's client indices turned into the whole plan's.
pub fn renumber(r: &mut RunRecord, global: &[u32]) {
    let g = |i: u32| global.get(i as usize).copied().unwrap_or(i);
    r.clients.iter_mut().for_each(|c: &mut ClientRecord| c.index = g(c.index));
    for (_, _, hit) in &mut r.faults.hits {
        hit.iter_mut().for_each(|i| *i = g(*i));
    }
    for (_, hit) in &mut r.faults.malformed {
        hit.iter_mut().for_each(|i| *i = g(*i));
    }
    r.faults.twins.iter_mut().for_each(|t| t.of_client = g(t.of_client));
}

#[cfg(test)]
mod tests {
    use super::{add_series, later};
    use crate::record::TimePoint;

    /// Two shards' CPU in one second adds at the record's 0.1 resolution,
    /// so the merged figure reads back from record.json as it was written.
    #[test]
    fn merged_cpu_keeps_the_records_resolution() {
        let point = |cpu: f64| TimePoint {
            t_s: 1.0,
            span_s: 1.0,
            connected: 1,
            published: 0,
            received: 0,
            e2e_p99_us: None,
            midge_cpu_pct: Some(cpu),
            midge_rss_kib: None,
            broker_cpu_pct: None,
            broker_rss_kib: None,
        };
        let merged = add_series(&[point(10.3)], &[point(16.6)]);
        let cpu = merged[0].midge_cpu_pct.unwrap();
        assert_eq!(cpu.to_bits(), 26.9f64.to_bits(), "{cpu}");
        let back: f64 = serde_json::from_str(&serde_json::to_string(&cpu).unwrap()).unwrap();
        assert_eq!(back.to_bits(), cpu.to_bits());
    }

    /// A shifted time reads back from the record file as it was written
    /// (serde_json's float parsing is not exact for every 17-digit sum).
    #[test]
    fn a_shifted_time_survives_the_record_file() {
        for (t, s) in [(1.5309, 1.492815), (0.1, 2.923625), (3.7, 1.583814), (12.345678, 0.000001)] {
            let v = later(t, s);
            let back: f64 = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{t} + {s}");
            assert!((v - (t + s)).abs() < 1e-6);
        }
    }
}
