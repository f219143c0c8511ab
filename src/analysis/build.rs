//! The report model from (plan, record): the tally, the detectors, the
//! load generator, the expectations and the verdict. A pure function: the
//! same plan and record always give the same report.
//!
//! The parts: `tally_run` (streams at the granted QoS, `granted_qos`; session
//! expiry per group), scenario, clients, messages, streams (trouble first, at
//! most `MAX_LISTED_STREAMS`, a share group's named by its filter), share
//! groups (`share_infos`), loss windows (ends cut at the run's end), timelines
//! (clients that dropped, at most `MAX_LISTED_TIMELINES`), the drain, stages on
//! the run clock, `run_error` (nobody connected, a fault failed, client tasks
//! lost; `nothing_published`), `findings` (the detectors in a fixed order),
//! the drain (`still_arriving` when it ran out of time), `verdict`
//! (interrupted on a signal; else fail on an error or a failed expectation,
//! the QoS contract's defaults included).

use super::detect::{self, Explained};
use super::generator::{load_generator, own_part};
use super::model::{
    BrokerInfo, ClientId, ClientTimeline, ClientsInfo, ConnectionInfo, Disconnects, DrainInfo, Finding, GroupName,
    LatencyInfo, LoadGenerator, LossWindowInfo, Messages, Report, ScenarioInfo, ShareInfo, StageInfo, StillArriving,
    StreamInfo, SysTopic, MAX_LISTED_STREAMS, MAX_LISTED_TIMELINES, SCHEMA_VERSION,
};
use super::tally::{self, Connected, End, StreamRef, StreamTally, Tally, TallyInput};
use crate::mqtt::protocol::ProtocolVersion;
use crate::plan::{FaultPlan, GroupPlan, Plan};
use crate::record::names::by_name;
use crate::record::vocab::{Cause, DrainEnd, Verdict};
use crate::record::{ClientRecord, Counters, Generation, RunRecord};
use crate::scenario::FaultAction;
use std::collections::{BTreeMap, HashMap, HashSet};

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
                wrote_us: g.wrote_us,
                slowest_delivery_us: g.slowest_delivery_us,
                ended_us: g.ended_us,
                end: match (&g.cause, g.left_us) {
                    (Some(_), _) => End::Dropped,
                    (None, Some(at_us)) => End::Left { at_us },
                    (None, None) => End::Closed,
                },
                session_present: g.session_present,
            })
        })
        .collect()
}

/// How long the broker keeps a group's session after a drop: MQTT 5's
/// session expiry (0xFFFFFFFF: never); a 3.1.1 persistent session stays
/// until it is resumed.
fn session_expiry_us(g: &GroupPlan) -> Option<u64> {
    let expires = g.protocol == ProtocolVersion::V5 && g.session_expiry_s != u32::MAX;
    expires.then(|| g.session_expiry_s as u64 * 1_000_000)
}

/// The QoS the broker last granted each subscriber's subscription, by
/// client index (a stream's QoS is at most that: a downgraded grant lowers
/// what it promises).
fn granted_qos(record: &RunRecord) -> HashMap<u32, u8> {
    let last_grant = |c: &ClientRecord| c.timeline.iter().rev().find_map(|g| g.suback_code.filter(|&q| q <= 2));
    record.clients.iter().filter_map(|c| last_grant(c).map(|q| (c.index, q))).collect()
}

/// The tally over the plan's streams and the record's logs and timelines.
pub fn tally_run(plan: &Plan, record: &RunRecord) -> Tally {
    let granted = granted_qos(record);
    let streams: Vec<StreamRef> = plan
        .streams
        .iter()
        .map(|s| StreamRef {
            publisher_client: s.publisher_client,
            publisher_index: plan.clients[s.publisher_client as usize].publisher.unwrap_or(0),
            subscriber_client: s.subscriber_client,
            qos: granted.get(&s.subscriber_client).map_or(s.qos, |&g| s.qos.min(g)),
            persistent: plan.group_of(&plan.clients[s.subscriber_client as usize]).persistent(),
            session_expiry_us: session_expiry_us(plan.group_of(&plan.clients[s.subscriber_client as usize])),
            share: s.share,
            message_expiry_us: plan
                .group_of(&plan.clients[s.publisher_client as usize])
                .publish
                .as_ref()
                .and_then(|p| p.expiry_s)
                .map(|e| e as u64 * 1_000_000),
            over_max_packet_size: crate::plan::over_max_packet_size(
                plan,
                s,
                granted.get(&s.subscriber_client).map_or(s.qos, |&g| s.qos.min(g)),
            ),
        })
        .collect();
    let clients = &record.clients;
    tally::tally(&TallyInput {
        streams: &streams,
        publish_logs: clients.iter().filter_map(|c| c.publish_log.as_deref().map(|l| (c.index, l))).collect(),
        rx_logs: clients.iter().filter_map(|c| c.rx.as_deref().map(|r| (c.index, r))).collect(),
        connections: clients.iter().map(|c| (c.index, connections(&c.timeline))).collect::<HashMap<_, _>>(),
        restarts: &record.faults.restarts,
        run_end_us: record.run_end_us,
        shares: plan.shares.iter().map(|s| s.members.as_slice()).collect(),
        behind: clients
            .iter()
            .map(|c| (c.index, c.timeline.iter().flat_map(|g| g.behind.iter().copied()).collect::<Vec<_>>()))
            .filter(|(_, spans)| !spans.is_empty())
            .collect(),
        across: super::shards::across(plan, record),
        held_at_end: held_at_end(plan, record),
    })
}

/// The subscribers midge itself kept from taking in what the broker held
/// for them when the run ended (what they never got after their last
/// delivery is then `held_by_broker`, not lost): the drain did not end
/// `complete` (a complete drain waited until nothing came, so nothing was
/// held), and the subscriber's last connection lasted until midge closed it
/// with a `behind` span still open when publishing ended (a stall, or a
/// `max_rate` backlog no fresh delivery ended) or a `delay` fault on it
/// whose last delayed packet was due after the drain (`Plan::hold_of`).
/// None in a snapshot: its horizon has its own rule.
pub fn held_at_end(plan: &Plan, record: &RunRecord) -> HashSet<u32> {
    let finished = record.as_of_us.is_none() && record.drain.ended != DrainEnd::Complete;
    let Some(p) = record.publishing.filter(|_| finished) else { return HashSet::new() };
    let drain_end_us = p.stopped_us + record.drain.waited_us;
    let delayed = |i: u32| {
        let outlasts = |f: &FaultPlan| plan.hold_of(f).is_some_and(|h| p.start_us + h > drain_end_us);
        plan.faults.iter().any(|f| matches!(f.action, FaultAction::Delay { .. }) && f.targets.hits(i) && outlasts(f))
    };
    let subscribes = |i: u32| plan.clients.get(i as usize).is_some_and(|c| c.filter.is_some());
    let held = |c: &ClientRecord| {
        let last = c.timeline.last()?;
        let closed = last.connected_us.is_some() && last.cause.is_none() && last.left_us.is_none();
        let behind = last.behind.iter().any(|&(_, to)| to >= p.stopped_us);
        (subscribes(c.index) && closed && (behind || delayed(c.index))).then_some(c.index)
    };
    record.clients.iter().filter_map(held).collect()
}

/// report.json's `messages`: the tally's totals and the swarm's counters.
pub fn messages(tally: &Tally, counters: &Counters, unsent: u64) -> Messages {
    let t = tally.total;
    Messages {
        published: t.published,
        acked: t.acked,
        expected: t.expected,
        received: t.received,
        lost: t.lost,
        duplicated: t.duplicated,
        out_of_order: t.out_of_order,
        in_doubt: t.in_doubt,
        stale: tally.stale,
        foreign: tally.foreign,
        retained_replays: tally.retained_replays,
        rejected: counters.rejected,
        unsent,
        deliveries: counters.received_total(),
        unsolicited_acks: counters.unsolicited_acks,
        publish_reasons: counters.publish_reasons.clone(),
        lost_by_window: tally.lost_by_window.clone(),
        missed_offline: t.missed_offline,
        queued_offline: t.queued_offline,
        streams: tally.streams.len() as u64,
        by_qos: (0..3u8).map(|q| (q, tally.by_qos[q as usize])).collect(),
        expired: t.expired,
        held_by_broker: t.held_by_broker,
        over_max_packet_size: t.over_max_packet_size,
        topic_alias_bytes_saved: topic_alias_bytes_saved(counters),
        user_properties_checked: counters.user_properties_checked,
        user_property_mismatches: counters.user_property_mismatches,
        publish_retries: counters.publish_retries,
    }
}

/// What MQTT 5 topic aliases saved: topic bytes left out less alias property bytes added.
pub fn topic_alias_bytes_saved(c: &Counters) -> i64 {
    c.topic_alias_bytes_left_out as i64 - c.topic_alias_bytes_added as i64
}

/// The streams worth a look, the ones with trouble first.
fn stream_infos(plan: &Plan, tally: &Tally) -> Vec<StreamInfo> {
    let id = |c: u32| plan.clients[c as usize].client_id.clone();
    let mut listed: Vec<&StreamTally> = tally.streams.iter().collect();
    listed.sort_by_key(|s| {
        std::cmp::Reverse(s.lost + s.duplicated + s.out_of_order + s.missed_offline + s.held_by_broker)
    });
    listed
        .into_iter()
        .take(MAX_LISTED_STREAMS)
        .map(|s| StreamInfo {
            publisher: id(s.publisher_client),
            subscriber: detect::subscriber_name(plan, s.subscriber_client, s.share),
            qos: s.qos,
            expected: s.expected,
            received: s.received,
            lost: s.lost,
            duplicated: s.duplicated,
            out_of_order: s.out_of_order,
            held_by_broker: s.held_by_broker,
            lost_seqs: s.lost_ranges.clone(),
        })
        .collect()
}

/// Each share group's account and how evenly the broker spread it.
fn share_infos(plan: &Plan, tally: &Tally) -> Vec<ShareInfo> {
    let pct = |n: u64, total: u64| if total == 0 { 0.0 } else { (n as f64 * 1000.0 / total as f64).round() / 10.0 };
    plan.shares
        .iter()
        .zip(&tally.shares)
        .map(|(share, t)| {
            let counts: Vec<u64> = share.members.iter().map(|m| t.per_member.get(m).copied().unwrap_or(0)).collect();
            let total: u64 = counts.iter().sum();
            let (min_share_pct, max_share_pct) = (
                pct(counts.iter().copied().min().unwrap_or(0), total),
                pct(counts.iter().copied().max().unwrap_or(0), total),
            );
            let fair_share_pct = pct(1, share.members.len().max(1) as u64);
            ShareInfo {
                filter: share.filter.clone(),
                members: share.members.len() as u64,
                expected: t.expected,
                received: t.received,
                lost: t.lost,
                duplicated: t.duplicated,
                per_member: share
                    .members
                    .iter()
                    .zip(&counts)
                    .map(|(m, n)| (ClientId(plan.clients[*m as usize].client_id.clone()), *n))
                    .collect(),
                min_share_pct,
                max_share_pct,
                fair_share_pct,
                max_deviation_pct: max_deviation_pct(&counts, total),
            }
        })
        .collect()
}

/// The largest distance of a member's part of `total` from the fair share
/// (100 / members), in percentage points to one decimal; 0 with nothing received.
pub fn max_deviation_pct(counts: &[u64], total: u64) -> f64 {
    if total == 0 || counts.is_empty() {
        return 0.0;
    }
    let fair = 100.0 / counts.len() as f64;
    let worst = counts.iter().map(|&n| (n as f64 * 100.0 / total as f64 - fair).abs()).fold(0.0, f64::max);
    (worst * 10.0).round() / 10.0
}

fn loss_window_infos(plan: &Plan, tally: &Tally, run_end_us: u64) -> Vec<LossWindowInfo> {
    tally
        .windows
        .iter()
        .map(|w| LossWindowInfo {
            kind: w.kind,
            client: w.client.map(|c| plan.clients[c as usize].client_id.clone()),
            start_s: secs(w.start_us),
            end_s: secs(w.end_us.min(run_end_us)),
            lost: w.lost,
            missed_offline: w.missed_offline,
        })
        .collect()
}

/// The timelines of clients whose connection dropped at least once.
fn timelines(plan: &Plan, record: &RunRecord) -> Vec<ClientTimeline> {
    let dropped = |g: &Generation| g.connected_us.is_some() && g.cause.is_some();
    let mut v: Vec<_> = record.clients.iter().filter(|c| c.timeline.iter().any(dropped)).collect();
    v.sort_by_key(|c| c.index);
    v.into_iter()
        .take(MAX_LISTED_TIMELINES)
        .map(|c| {
            let p = &plan.clients[c.index as usize];
            ClientTimeline {
                client: p.client_id.clone(),
                group: plan.group_of(p).name.clone(),
                connections: c
                    .timeline
                    .iter()
                    .map(|g| ConnectionInfo {
                        attempt_s: secs(g.attempt_us),
                        connected_s: g.connected_us.map(secs),
                        session_present: g.session_present,
                        live_s: g.live_from_us.map(secs),
                        ended_s: secs(g.ended_us),
                        cause: g.cause.as_ref().map(|c| c.name()),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Why the run could not do what the scenario asked, if it could not.
fn run_error(plan: &Plan, record: &RunRecord) -> Option<String> {
    let counters = &record.counters;
    if record.connected_peak == 0 && !plan.clients.is_empty() && !record.interrupted {
        let causes: Vec<String> =
            by_name(&counters.connect_failures).iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        return Some(format!("no client could connect to {}: {}", record.broker.url, causes.join(", ")));
    }
    if let Some(e) = record.faults.events.iter().find_map(|f| f.error.as_ref()) {
        return Some(format!("a fault could not be carried out: {e}"));
    }
    (record.lost_tasks > 0).then(|| format!("{} client tasks did not finish and were not counted", record.lost_tasks))
}

/// Every finding, each from its own detector.
fn findings(plan: &Plan, record: &RunRecord, tally: &Tally, explained: &Explained, g: &LoadGenerator) -> Vec<Finding> {
    let log = record.broker.log_lines.as_deref();
    let mut out: Vec<Finding> = detect::generator_saturated(g, record.run_end_us).into_iter().collect();
    out.extend(detect::duplicate_id_loops(plan, &explained.takeovers, log));
    out.extend(detect::external_takeovers(plan, &explained.short_lived, log));
    out.extend(detect::broker_unavailable(plan, record, &explained.outages));
    out.extend(detect::protocol_error_drops(plan, &explained.protocol_drops, log));
    out.extend(detect::closed_by_broker(plan, &explained.short_lived, &explained.closed_after_packet, log));
    let denied = detect::denied_clients(plan, log);
    out.extend(detect::publish_denied(plan, &denied, &explained.denied, &tally.streams, log));
    out.extend(detect::auth_refused(plan, record));
    out.extend(detect::broker_limits(plan, record));
    out.extend(detect::sessions_lost(plan, &tally.windows));
    out.extend(detect::queues_withheld(plan, record, tally));
    out.extend(detect::slow_consumers(plan, &tally.windows, log, &record.broker.sys_series, record.run_end_us));
    out.extend(detect::subscribe_refused(plan, record));
    out.extend(detect::listen_backlog_overflow(record));
    let acl = detect::acl_file_line(record.broker.config.as_deref());
    out.extend(detect::qos_violations(plan, &tally.streams, record.run_end_us, &denied, acl.as_deref()));
    out.extend(detect::spec_violations(plan, record, &tally.streams));
    out
}

/// The scenario; a run without a duration (until Ctrl-C) planned what it
/// published for: its publishing window, start to stop.
fn scenario_info(plan: &Plan, record: &RunRecord) -> ScenarioInfo {
    let planned_us = match (plan.until_stopped, &record.publishing) {
        (true, Some(w)) => w.stopped_us.saturating_sub(w.start_us),
        (true, None) => 0,
        (false, _) => plan.duration.as_micros() as u64,
    };
    ScenarioInfo {
        name: plan.name.clone(),
        sha256: plan.scenario_sha256.clone(),
        file: plan.scenario_path.clone(),
        protocol: plan.groups.first().map(|g| g.protocol.as_str()).unwrap_or("3.1.1").to_string(),
        planned_duration_s: secs(planned_us),
        shows: plan.expect.shows.iter().map(|s| s.to_string()).collect(),
    }
}

fn clients_info(plan: &Plan, record: &RunRecord) -> ClientsInfo {
    let c = &record.counters;
    ClientsInfo {
        planned: plan.clients.len() as u64,
        connected_peak: record.connected_peak,
        connect_attempts: c.connect_attempts,
        connects: c.connects,
        connect_failures: c.connect_failures.clone(),
        subscribe_failures: c.subscribe_failures.clone(),
        planned_leaves: planned_leaves(record),
        rejoins: rejoins(record),
    }
}

/// Connections ended by a planned leave (`Generation::left_us`).
fn planned_leaves(record: &RunRecord) -> u64 {
    record.clients.iter().flat_map(|c| &c.timeline).filter(|g| g.left_us.is_some()).count() as u64
}

/// Connections made after the client's previous connection ended in a
/// planned leave.
fn rejoins(record: &RunRecord) -> u64 {
    let after_leave = |c: &ClientRecord| {
        let connected = c.timeline.iter().filter(|g| g.connected_us.is_some());
        connected.clone().zip(connected.skip(1)).filter(|(a, _)| a.left_us.is_some()).count() as u64
    };
    record.clients.iter().map(after_leave).sum()
}

/// The drain as the runner recorded it; the wait to the ms.
fn drain_info(record: &RunRecord, streams: &[StreamTally]) -> DrainInfo {
    let d = &record.drain;
    DrainInfo {
        ended: d.ended,
        waited_s: secs(d.waited_us),
        quiet_period_ms: d.quiet_period_us / 1000,
        in_flight_at_end: d.in_flight_at_end,
        offline_at_end: d.offline_at_end,
        awaiting_backlog_at_end: d.awaiting_backlog_at_end,
        still_arriving: still_arriving(record, streams),
    }
}

/// A drain that ended at its time limit: the time series points whose
/// second overlaps its last quiet period (at least its last second) — the
/// drain began when publishing stopped — with their deliveries and the
/// largest e2e p99 among them; and the lost messages sent within that e2e
/// of the drain's end (`lost_sent_late`). None for any other drain end.
pub fn still_arriving(record: &RunRecord, streams: &[StreamTally]) -> Option<StillArriving> {
    let d = &record.drain;
    let stopped_us = record.publishing.map(|w| w.stopped_us)?;
    if d.ended != DrainEnd::TimeLimit {
        return None;
    }
    let end_us = stopped_us + d.waited_us;
    let end_s = end_us as f64 / 1e6;
    let from_s = end_s - (d.quiet_period_us.max(1_000_000) as f64 / 1e6);
    let points: Vec<_> = record.timeseries.iter().filter(|p| p.t_s > from_s && p.t_s - p.span_s < end_s).collect();
    let ms = |v: f64| (v * 1000.0).round() / 1000.0;
    let e2e_p99_us = points.iter().filter_map(|p| p.e2e_p99_us).max();
    Some(StillArriving {
        from_s: ms(points.first().map_or(from_s, |p| p.t_s - p.span_s)),
        to_s: ms(points.last().map_or(end_s, |p| p.t_s)),
        deliveries: points.iter().map(|p| p.received).sum(),
        e2e_p99_us,
        lost_sent_late: e2e_p99_us.and_then(|e2e| lost_sent_after(record, streams, end_us.saturating_sub(e2e))),
    })
}

/// Lost messages sent at or after `cutoff_us`, from the streams' lost
/// ranges; None when a stream with loss kept only its first ranges.
fn lost_sent_after(record: &RunRecord, streams: &[StreamTally], cutoff_us: u64) -> Option<u64> {
    let log_of = |c: u32| record.clients.iter().find(|r| r.index == c).and_then(|r| r.publish_log.as_ref());
    let mut n = 0;
    for s in streams.iter().filter(|s| s.lost > 0) {
        if s.lost_ranges.iter().map(|(a, b)| b - a).sum::<u64>() != s.lost {
            return None;
        }
        let (from_seq, _) = log_of(s.publisher_client)?.seqs_sent_between(cutoff_us, u64::MAX);
        n += s.lost_ranges.iter().map(|&(a, b)| b.saturating_sub(a.max(from_seq))).sum::<u64>();
    }
    Some(n)
}

/// A run meant to publish that published nothing has no evidence to judge
/// messages by: its schedules made messages due and not one went out. (A
/// run whose publishing lasted 0 s made nothing due: report.md says so.)
fn nothing_published(plan: &Plan, record: &RunRecord) -> Option<String> {
    let publishers = record.clients.iter().filter(|c| plan.clients[c.index as usize].publisher.is_some());
    let (due, sent) = publishers.fold((0, 0), |(d, s), c| {
        (d + super::generator::due(plan, record, c), s + c.publish_log.as_ref().map_or(0, |l| l.published()))
    });
    (due > 0 && sent == 0 && !record.interrupted && record.as_of_us.is_none())
        .then(|| format!("nothing was published: the publishers' schedules made {due} messages due and none went out"))
}

/// The verdict: interrupted when a signal cut the run short (what ran is
/// measured, not judged); pass only when the run did what was asked and
/// every expectation held.
pub fn verdict(r: &Report) -> Verdict {
    if r.interrupted {
        Verdict::Interrupted
    } else if r.error.is_some() || r.expectations.iter().any(|e| !e.pass) {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// The whole report of a run.
pub fn analyse(plan: &Plan, record: &RunRecord) -> Report {
    let tally = tally_run(plan, record);
    let by_id = detect::connections_by_id(plan, record);
    let explained = detect::explain(plan, &by_id, record);
    let generator = load_generator(plan, record);
    let by_cause: BTreeMap<Cause, u64> = explained.by_cause.clone();
    let mut report = Report {
        schema: SCHEMA_VERSION,
        midge_version: record.midge_version.clone(),
        scenario: scenario_info(plan, record),
        broker: BrokerInfo {
            url: record.broker.url.clone(),
            kind: record.broker.kind.clone(),
            config: record.broker.config.clone(),
            sys: record.broker.sys.iter().map(|(t, v)| (SysTopic(t.clone()), v.clone())).collect(),
            sys_series: record.broker.sys_series.clone(),
            tls: record.broker.tls.clone(),
            sys_run: super::sys_run::sys_run(
                &record.broker.sys_series,
                record.run_end_us,
                record.broker.config.as_deref(),
            ),
            pid_given: record.plan.broker_pid,
        },
        started_at: record.started_at.clone(),
        duration_s: (record.publish_elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        run_id: format!("{:016x}", plan.run_id),
        interrupted: record.interrupted,
        partial: record.as_of_us.is_some(),
        as_of_s: record.as_of_us.map(|us| (us as f64 / 1e3).round() / 1e3),
        stop_signal: record.stop_signal,
        drain: drain_info(record, &tally.streams),
        clients: clients_info(plan, record),
        latency: LatencyInfo { own: own_part(plan, &record.latencies), ..LatencyInfo::from(&record.latencies) },
        messages: messages(&tally, &record.counters, generator.publish_rates.iter().map(|r| r.unsent).sum()),
        disconnects: Disconnects { total: by_cause.values().sum(), by_cause },
        reconnects: record.counters.reconnects,
        findings: findings(plan, record, &tally, &explained, &generator),
        load_generator: generator,
        streams: stream_infos(plan, &tally),
        loss_windows: loss_window_infos(plan, &tally, record.run_end_us),
        shared_subscriptions: share_infos(plan, &tally),
        client_timelines: timelines(plan, record),
        faults: record.faults.events.clone(),
        timeseries: record.timeseries.clone(),
        stages: stage_infos(plan, record),
        expectations: Vec::new(),
        verdict: Verdict::Fail,
        error: run_error(plan, record),
        capacity: None,
        wills: super::session::wills(plan, record, &explained),
        retained: super::session::retained(plan, record),
        shards: super::shards::shards_info(plan, record),
        brokers: super::brokers::per_broker(plan, record),
        broker_pairs: super::brokers::broker_pairs(plan, record),
        unplanned_publishers: super::unplanned::unplanned_publishers(plan, record),
    };
    report.error = report.error.take().or_else(|| nothing_published(plan, record));
    report.expectations = super::expect::evaluate(&plan.expect, &report);
    report.verdict = verdict(&report);
    report
}

/// The plan's stages on the run clock: from the start of publishing (0
/// when it never started).
fn stage_infos(plan: &Plan, record: &RunRecord) -> Vec<StageInfo> {
    let start_us = record.publishing.map_or(0, |w| w.start_us);
    let s = |us: u64| ((start_us + us) as f64 / 1e3).round() / 1e3;
    plan.stages
        .iter()
        .enumerate()
        .map(|(i, st)| StageInfo {
            index: i as u32 + 1,
            start_s: s(st.start_us),
            end_s: s(st.end_us),
            rate: st.rate.iter().map(|(g, r)| (GroupName(g.clone()), *r)).collect(),
            clients: st.clients.iter().map(|(g, n)| (GroupName(g.clone()), *n)).collect(),
        })
        .collect()
}
