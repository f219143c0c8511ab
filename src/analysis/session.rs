//! Session features that are not tracked messages: last wills and retained
//! messages, each counted on its own (never in `messages`).
//!
//! Wills: a will is owed per (subscriber, connection) for every connection of a
//! will-bearing client that a `kill` fault ended (recorded cause
//! `fault_injected`) or a takeover closed (the takeovers from
//! `detect::explain`), unless it came back within its MQTT 5 will delay
//! (`will_due_us`); the will topic must match the subscriber's (unshared)
//! filter, and the subscriber must be live when it was due (`live_at`).
//! Received wills (parsed from the payload by `Recorder::take_in`:
//! `plan::parse_will_payload`) are matched by (client, connection): the first
//! copy of an owed pair is received, owed pairs never received are missing,
//! further copies duplicated, this run's wills not owed unexpected; an owed
//! will that never came is `not_yet_due` rather than missing when the
//! subscriber stopped listening before it had to have arrived (its due time
//! plus the broker's will-delay granularity, `plan::will_owed_by_us`; the
//! drain waits for it, `Plan::holds_until_us`, unless `drain` is too short)
//! — also one due only after midge closed, at the end, a subscriber that was
//! listening at the kill (owed, and not yet due). Latency:
//! first receipt less the connection's end (`spread_ms`, nearest rank).
//!
//! Retained: each connection of a subscriber with a granted SUBACK owes one
//! replay per matching retained topic whose first message got out at least
//! `RACE_MARGIN_US` before it connected (`retained_set_at`); matched against
//! `RxLog::retained_from` by topic. Leftovers are an earlier run's retained
//! messages (`RxLog::stale_retained`). `cleared` / `cleanup_error` pass the
//! record's `retained_cleanup` through.
//!
//! Shards: wills name the whole plan's client index (`Plan::whole_plan_index`),
//! retained replays the header's publisher index, so a merge matches them
//! across shards; a shard's own report leaves wills from other shards' clients,
//! and topics set there, to the merge.

use super::detect::{Explained, Owner};
use super::model::{RetainedInfo, SpreadMs, WillsInfo};
use crate::plan::{ClientPlan, Plan};
use crate::record::clock::RACE_MARGIN_US;
use crate::record::vocab::Cause;
use crate::record::{ClientRecord, Generation, RunRecord};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A subscriber (plain filter, not shared) and its record.
fn subscribers<'a>(plan: &'a Plan, record: &'a RunRecord) -> impl Iterator<Item = (&'a ClientPlan, &'a ClientRecord)> {
    record.clients.iter().filter_map(move |r| {
        let c = plan.clients.get(r.index as usize)?;
        let f = c.filter.as_deref()?;
        crate::topic::shared(f).is_none().then_some((c, r))
    })
}

/// Whether a subscription of this connection was live at `at_us` and stayed
/// up long enough for a message the broker published then to arrive.
fn live_at(g: &Generation, at_us: u64) -> bool {
    let stayed = g.ended_us > at_us && (g.cause.is_none() || g.ended_us >= at_us + 1_000_000);
    g.live_from_us.is_some_and(|l| l + RACE_MARGIN_US <= at_us) && stayed
}

/// When the broker had to publish the will of a connection killed at
/// `killed_us`, and by when it must have arrived: at once, or after the
/// MQTT 5 will delay — bounded by the session's expiry (a clean session ends
/// with the connection) — within the broker's will-delay granularity
/// (`plan::will_owed_by_us`). None when the client came back before then
/// (no will is owed).
fn will_due_us(
    plan: &Plan,
    c: &ClientPlan,
    timeline: &[Generation],
    gi: usize,
    taken_over: bool,
) -> Option<(u64, u64)> {
    let delay_us = plan.group_of(c).will_delay_us();
    let killed_us = timeline[gi].ended_us;
    if taken_over && delay_us > 0 {
        // The usurper took the session over within the delay.
        return None;
    }
    let due_us = killed_us + delay_us;
    let back_us = timeline[gi + 1..].iter().find_map(|n| n.connected_us);
    match back_us {
        Some(b) if delay_us > 0 && b < due_us => None,
        _ => Some((due_us, crate::plan::will_owed_by_us(due_us, delay_us > 0))),
    }
}

/// A will owed: (killed at, (due at, must have arrived by), its topic).
type OwedWill<'a> = (u64, (u64, u64), &'a str);

/// Nearest-rank p50, p99 and max of samples in µs, as ms to the µs.
fn spread_ms(mut us: Vec<u64>) -> Option<SpreadMs> {
    us.sort_unstable();
    let rank = |p: f64| us[((p * us.len() as f64).ceil() as usize).clamp(1, us.len()) - 1];
    let ms = |v: u64| v as f64 / 1000.0;
    (!us.is_empty()).then(|| SpreadMs { p50: ms(rank(0.50)), p99: ms(rank(0.99)), max: ms(*us.last().unwrap_or(&0)) })
}

/// Last wills: owed per (subscriber, connection that left one) — a
/// connection a `kill` fault ended (recorded cause `fault_injected`) or
/// another connection with its client id took over (`detect::explain`;
/// mosquitto 2.0.11 publishes the old connection's will then, 3.1.1 and 5
/// alike), its will topic matching the subscriber's filter, the subscriber
/// live when the will was due — against the wills each subscriber
/// received, matched by the (client, connection) their payload names.
pub fn wills(plan: &Plan, record: &RunRecord, explained: &Explained) -> WillsInfo {
    let taken_over: HashSet<(u32, u64)> = explained
        .takeovers
        .values()
        .flatten()
        .filter_map(|t| match t.closed {
            Owner::Client(i) => Some((i, t.at_us)),
            Owner::Twin(_) => None,
        })
        .collect();
    // (client, connection) → (killed at, (due at, owed by), will topic)
    let mut killed: HashMap<(u32, u32), OwedWill> = HashMap::new();
    for r in &record.clients {
        let Some(c) = plan.clients.get(r.index as usize) else { continue };
        let Some(topic) = c.will_topic.as_deref() else { continue };
        for (gi, g) in r.timeline.iter().enumerate() {
            let over = taken_over.contains(&(c.index, g.ended_us));
            if g.connected_us.is_some() && (g.cause == Some(Cause::FaultInjected) || over) {
                if let Some(due) = will_due_us(plan, c, &r.timeline, gi, over) {
                    // Keyed as the payload names it: by the whole plan's index.
                    killed.insert((plan.whole_plan_index(c.index), gi as u32), (g.ended_us, due, topic));
                }
            }
        }
    }
    // A shard's report: a will from another shard's client is the merge's to count.
    let slice: Option<HashSet<u32>> = plan.shard.as_ref().map(|s| s.global.iter().copied().collect());
    let in_slice = |client: u32| match &slice {
        Some(s) => s.contains(&client),
        None => true,
    };
    let mut info = WillsInfo::default();
    let mut latencies = Vec::new();
    for (sub, r) in subscribers(plan, record) {
        let filter = sub.filter.as_deref().unwrap_or_default();
        // Owed: live when it was due, or listening at the kill until midge
        // closed it at the end, before it was due (not yet due).
        let till_the_end = |killed_us: u64| {
            r.timeline.last().is_some_and(|g| g.cause.is_none() && g.left_us.is_none() && live_at(g, killed_us))
        };
        let owed: HashSet<(u32, u32)> = killed
            .iter()
            .filter(|(_, (killed_us, (due, _), topic))| {
                crate::topic::matches(filter, topic)
                    && (r.timeline.iter().any(|g| live_at(g, *due)) || till_the_end(*killed_us))
            })
            .map(|(k, _)| *k)
            .collect();
        info.expected += owed.len() as u64;
        // Owed, but the subscriber stopped listening before the broker's
        // will-delay check had to have sent it: not yet due, not missing.
        let listened_until = |due: u64| r.timeline.iter().filter(|g| live_at(g, due)).map(|g| g.ended_us).max();
        let not_yet_due = |key: &(u32, u32)| {
            let (_, (due, owed_by), _) = killed[key];
            listened_until(due).map_or(true, |end| end < owed_by)
        };
        let mut seen: HashSet<(u32, u32)> = HashSet::new();
        let received: Vec<_> = r.rx.iter().flat_map(|rx| rx.wills.iter()).map(|w| (w.client, w.connection)).collect();
        info.not_yet_due += owed.iter().filter(|k| !received.contains(k) && not_yet_due(k)).count() as u64;
        for w in r.rx.iter().flat_map(|rx| rx.wills.iter()).filter(|w| in_slice(w.client)) {
            let key = (w.client, w.connection);
            if !seen.insert(key) {
                info.duplicated += 1;
            } else if owed.contains(&key) {
                info.received += 1;
                latencies.push(w.at_us.saturating_sub(killed[&key].0));
            } else {
                info.unexpected += 1;
            }
        }
    }
    info.missing = info.expected - info.received - info.not_yet_due;
    info.latency_ms = spread_ms(latencies);
    info
}

/// When each retained topic's first message got out (run-clock µs): topic
/// → the earliest over the retaining publishers that publish to it.
fn retained_set_at<'a>(plan: &'a Plan, record: &RunRecord) -> BTreeMap<&'a str, u64> {
    let mut set: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &record.clients {
        let Some(c) = plan.clients.get(r.index as usize) else { continue };
        let retains = plan.group_of(c).publish.as_ref().is_some_and(|p| p.retain);
        let (Some(topic), Some(log), true) = (c.topic.as_deref(), &r.publish_log, retains) else { continue };
        let Some(&(first, _)) = log.got_out.ranges().first() else { continue };
        let at = log.sent.time_of(first);
        set.entry(topic).and_modify(|t| *t = (*t).min(at)).or_insert(at);
    }
    set
}

/// Retained messages: per subscription (each connection whose SUBSCRIBE
/// the broker granted), the retained topics it matches whose first message
/// got out at least `RACE_MARGIN_US` before it connected are owed one
/// replay each — none under MQTT 5 Retain Handling 2 ("never"), nor under
/// Retain Handling 1 on a resumed session that subscribed again
/// (`subscribe.resubscribe`) where the broker last granted it (the
/// subscription existed), where a replay received is `extra`; replays
/// received are counted per (subscriber, topic).
pub fn retained(plan: &Plan, record: &RunRecord) -> RetainedInfo {
    let set = retained_set_at(plan, record);
    let mut info = RetainedInfo { topics_set: set.len() as u64, ..Default::default() };
    // By the publisher index the header carries (a shard's slice keeps the whole plan's).
    let topic_of: HashMap<u32, &str> =
        plan.clients.iter().filter_map(|c| Some((c.publisher?, c.topic.as_deref()?))).collect();
    for (sub, r) in subscribers(plan, record) {
        let filter = sub.filter.as_deref().unwrap_or_default();
        let mut owed: BTreeMap<&str, u64> = BTreeMap::new();
        let group = plan.group_of(sub);
        let replays = group.replays_retained();
        // Retain handling 1: a resumed session's SUBSCRIBE (`resubscribe`)
        // finds the subscription it last granted there, and is owed none.
        let only_new = group.retain_handling == 1 && group.persistent();
        let mut granted_before = false;
        for g in &r.timeline {
            let granted = g.suback_code.is_some_and(|c| c < 0x80);
            let existed = only_new && g.session_present && granted_before;
            if let Some(c) = g.suback_code {
                granted_before = c < 0x80;
            }
            if !replays || !granted || existed {
                continue;
            }
            let connected = g.connected_us.unwrap_or(g.attempt_us);
            for (topic, at) in &set {
                if at + RACE_MARGIN_US <= connected && crate::topic::matches(filter, topic) {
                    *owed.entry(topic).or_default() += 1;
                }
            }
        }
        let mut got: BTreeMap<&str, u64> = BTreeMap::new();
        let Some(rx) = &r.rx else {
            info.expected_replays += owed.values().sum::<u64>();
            info.missing += owed.values().sum::<u64>();
            continue;
        };
        for (&publisher, &n) in &rx.retained_from {
            // Unknown only in a shard's report: a topic set on another shard (the merge's).
            let Some(&topic) = topic_of.get(&publisher) else { continue };
            *got.entry(topic).or_default() += n as u64;
        }
        info.replays_received += rx.retained_replays;
        info.leftover_replays += rx.stale_retained;
        info.expected_replays += owed.values().sum::<u64>();
        let topics: HashSet<&str> = owed.keys().chain(got.keys()).copied().collect();
        for t in topics {
            let (o, g) = (owed.get(t).copied().unwrap_or(0), got.get(t).copied().unwrap_or(0));
            info.missing += o.saturating_sub(g);
            info.extra += g.saturating_sub(o);
        }
    }
    if let Some(c) = &record.retained_cleanup {
        info.cleared = Some(c.cleared);
        info.cleanup_error = c.error.clone();
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::detect::Takeover;
    use crate::analysis::testkit::{self, connect, publish, RUN_END_US};
    use crate::record::logs::WillRx;
    use crate::record::RetainedCleanup;

    const WILLS: &str = r#"
name = "wills"
protocol = "5"
[[group]]
name = "watcher"
subscribe = { filter = "w/#", qos = 1 }
[[group]]
name = "dev"
clients = 3
will = { topic = "w/{client}", qos = 1 }
[[group]]
name = "slow"
clients = 2
clean_session = false
session_expiry = "60s"
will = { topic = "w/{client}", qos = 1, delay = "5s" }
"#;

    /// dev0 and dev1 killed at 2 s (dev0 back at 3 s), dev2 dropped by the
    /// network; slow0 killed and back within its 5 s will delay, slow1
    /// killed for good (its will due at 7 s). Owed: dev0, dev1, slow1.
    /// Received: dev0's twice, slow1's, and dev2's (not owed); dev1's never.
    #[test]
    fn wills_owed_by_kills_matched_by_connection() {
        let plan = testkit::plan(WILLS);
        let mut rec = testkit::record(&plan);
        let killed = Some(Cause::FaultInjected);
        connect(&mut rec, 0, 100_000, RUN_END_US, None);
        connect(&mut rec, 1, 100_000, 2_000_000, killed.clone());
        connect(&mut rec, 1, 3_000_000, RUN_END_US, None);
        connect(&mut rec, 2, 100_000, 2_000_000, killed.clone());
        connect(&mut rec, 3, 100_000, 2_000_000, Some(Cause::NetworkEof));
        connect(&mut rec, 4, 100_000, 2_000_000, killed.clone());
        connect(&mut rec, 4, 2_500_000, RUN_END_US, None);
        connect(&mut rec, 5, 100_000, 2_000_000, killed);
        let will = |client, at_us| WillRx { client, connection: 0, at_us };
        rec.clients[0].rx.get_or_insert_with(Default::default).wills =
            vec![will(1, 2_000_500), will(3, 2_000_700), will(1, 2_001_000), will(5, 7_002_000)];
        let w = wills(&plan, &rec, &Explained::default());
        assert_eq!((w.expected, w.received, w.missing, w.duplicated, w.unexpected), (3, 2, 1, 1, 1), "{w:?}");
        assert_eq!(w.latency_ms, Some(SpreadMs { p50: 0.5, p99: 5002.0, max: 5002.0 }));

        // dev2's close was a takeover by its twin: its will is owed too.
        let takeover = Takeover { at_us: 2_000_000, closed: Owner::Client(3), by: Owner::Twin(3) };
        let explained = Explained { takeovers: [("dev2", vec![takeover])].into_iter().collect(), ..Default::default() };
        let w = wills(&plan, &rec, &explained);
        assert_eq!((w.expected, w.received, w.missing, w.duplicated, w.unexpected), (4, 3, 1, 1, 0), "{w:?}");
        assert_eq!(w.latency_ms.map(|l| l.p50), Some(0.7));
    }

    #[test]
    fn no_will_owed_to_a_subscriber_gone_before_it_was_due() {
        let plan = testkit::plan(WILLS);
        let mut rec = testkit::record(&plan);
        connect(&mut rec, 0, 100_000, 6_000_000, Some(Cause::NetworkEof));
        connect(&mut rec, 5, 100_000, 2_000_000, Some(Cause::FaultInjected));
        let w = wills(&plan, &rec, &Explained::default());
        assert_eq!(w.expected, 0, "slow1's will was due at 7 s, the watcher gone at 6 s");
        assert_eq!(w.latency_ms, None);
    }

    /// slow0 killed at 3 s and slow1 at 4 s, neither back: their wills are
    /// due after the 5 s delay, at 8 s and 9 s, and must have arrived within
    /// the broker's one-second will-delay check (and transit): by 9.25 s and
    /// 10.25 s. The watcher listened until the end, 10 s: slow0's will is
    /// missing, slow1's not yet due.
    #[test]
    fn a_will_not_due_before_the_subscriber_stopped_listening_is_not_yet_due_not_missing() {
        let plan = testkit::plan(WILLS);
        let mut rec = testkit::record(&plan);
        connect(&mut rec, 0, 100_000, RUN_END_US, None);
        connect(&mut rec, 4, 100_000, 3_000_000, Some(Cause::FaultInjected));
        connect(&mut rec, 5, 100_000, 4_000_000, Some(Cause::FaultInjected));
        let w = wills(&plan, &rec, &Explained::default());
        assert_eq!((w.expected, w.received, w.missing, w.not_yet_due), (2, 0, 1, 1), "{w:?}");
        // slow0's came 0.6 s after its due time (mosquitto's check): received.
        rec.clients[0].rx.get_or_insert_with(Default::default).wills =
            vec![WillRx { client: 4, connection: 0, at_us: 8_600_000 }];
        let w = wills(&plan, &rec, &Explained::default());
        assert_eq!((w.expected, w.received, w.missing, w.not_yet_due), (2, 1, 0, 1), "{w:?}");
        // A will that came although not yet due by this rule is received all the same.
        rec.clients[0].rx.get_or_insert_with(Default::default).wills.push(WillRx {
            client: 5,
            connection: 0,
            at_us: 9_900_000,
        });
        let w = wills(&plan, &rec, &Explained::default());
        assert_eq!((w.expected, w.received, w.missing, w.not_yet_due), (2, 2, 0, 0), "{w:?}");
        // Killed at 6 s, slow1's will would be due at 11 s, after midge
        // closed the watcher at the end (10 s): owed, not yet due.
        rec.clients[5].timeline[0].ended_us = 6_000_000;
        rec.clients[0].rx.get_or_insert_with(Default::default).wills.pop();
        let w = wills(&plan, &rec, &Explained::default());
        assert_eq!((w.expected, w.received, w.missing, w.not_yet_due), (2, 1, 0, 1), "{w:?}");
        // A watcher dropped by the network before then was owed nothing (as before).
        rec.clients[0].timeline[0].cause = Some(Cause::NetworkEof);
        let w = wills(&plan, &rec, &Explained::default());
        assert_eq!((w.expected, w.received, w.missing, w.not_yet_due), (1, 1, 0, 0), "{w:?}");
    }

    /// lamp0 and lamp1 set their topics at 1 s, lamp2 at 5 s; "plain"
    /// publishes without retain. early subscribed at 0.5 s (owed nothing);
    /// late at 3 s (l/0, l/1) and again at 6 s (l/0, l/1, l/2); narrow (l/1)
    /// at 3 s. late got l/0 twice, l/1 once, l/2 twice, and 4 leftovers of
    /// an earlier run; narrow got nothing.
    #[test]
    fn retained_replays_owed_per_subscription_and_topic() {
        let plan = testkit::plan(
            r#"
name = "retained"
[[group]]
name = "lamp"
clients = 3
publish = { topic = "l/{i}", qos = 1, rate = 1.0, retain = true }
[[group]]
name = "plain"
publish = { topic = "p/0", qos = 1, rate = 1.0 }
[[group]]
name = "early"
subscribe = { filter = "l/+", qos = 1 }
[[group]]
name = "late"
subscribe = { filter = "l/+", qos = 1 }
[[group]]
name = "narrow"
subscribe = { filter = "l/1", qos = 1 }
"#,
        );
        let mut rec = testkit::record(&plan);
        publish(&mut rec, 0, 1, [1_000_000]);
        publish(&mut rec, 1, 1, [1_000_000]);
        publish(&mut rec, 2, 1, [5_000_000]);
        publish(&mut rec, 3, 1, [1_000_000]);
        connect(&mut rec, 4, 500_000, RUN_END_US, None).suback_code = Some(1);
        connect(&mut rec, 5, 3_000_000, 4_000_000, Some(Cause::NetworkEof)).suback_code = Some(1);
        connect(&mut rec, 5, 6_000_000, RUN_END_US, None).suback_code = Some(1);
        connect(&mut rec, 6, 3_000_000, RUN_END_US, None).suback_code = Some(1);
        let rx = rec.clients[5].rx.get_or_insert_with(Default::default);
        rx.retained_from = [(0, 2), (1, 1), (2, 2)].into_iter().collect();
        rx.retained_replays = 5;
        rx.stale_retained = 4;
        rec.retained_cleanup = Some(RetainedCleanup { topics: 3, cleared: 3, error: None });
        let r = retained(&plan, &rec);
        assert_eq!((r.topics_set, r.expected_replays, r.replays_received), (3, 6, 5), "{r:?}");
        assert_eq!((r.missing, r.extra, r.leftover_replays, r.cleared), (2, 1, 4, Some(3)), "{r:?}");
    }

    /// Retain Handling 1 ("send_new") with `resubscribe`: a persistent
    /// subscriber connects (its subscription new: owed one replay), resumes
    /// twice and subscribes again each time (the subscription existed:
    /// owed none), then comes back to a lost session (new again: owed one).
    /// The 4 replays it got are 2 owed and 2 extra. Under retain handling
    /// 0 all four are owed.
    #[test]
    fn retain_handling_1_owes_no_replay_to_a_subscription_that_existed() {
        let text = r#"
name = "rh1"
protocol = "5"
[[group]]
name = "lamp"
publish = { topic = "l/0", qos = 1, rate = 1.0, retain = true }
[[group]]
name = "keep"
clean_session = false
subscribe = { filter = "l/+", qos = 1, retain_handling = 1, resubscribe = true }
"#;
        for (text, owed, extra) in
            [(text.to_string(), 2, 2), (text.replace("retain_handling = 1", "retain_handling = 0"), 4, 0)]
        {
            let plan = testkit::plan(&text);
            let mut rec = testkit::record(&plan);
            publish(&mut rec, 0, 1, [500_000]);
            for (k, resumed) in [false, true, true, false].into_iter().enumerate() {
                let from = 2_000_000 + k as u64 * 2_000_000;
                let g = connect(&mut rec, 1, from, from + 1_000_000, Some(Cause::NetworkEof));
                (g.session_present, g.suback_code) = (resumed, Some(1));
            }
            let rx = rec.clients[1].rx.get_or_insert_with(Default::default);
            rx.retained_from = [(0, 4)].into_iter().collect();
            rx.retained_replays = 4;
            let r = retained(&plan, &rec);
            assert_eq!((r.expected_replays, r.missing, r.extra), (owed, 0, extra), "{text}: {r:?}");
        }
    }

    /// Retain Handling 2 ("never"): a late subscriber of a retained topic is
    /// owed no replay, and the one a broker sent anyway is `extra`; the same
    /// subscriber with the default is owed one.
    #[test]
    fn no_retained_replay_is_owed_under_retain_handling_never() {
        let text = r#"
name = "never"
protocol = "5"
[[group]]
name = "lamp"
publish = { topic = "l/0", qos = 1, rate = 1.0, retain = true }
[[group]]
name = "late"
subscribe = { filter = "l/+", qos = 1, retain_handling = "never" }
"#;
        for (text, owed, extra) in [(text.to_string(), 0, 1), (text.replace(", retain_handling = \"never\"", ""), 1, 0)]
        {
            let plan = testkit::plan(&text);
            let mut rec = testkit::record(&plan);
            publish(&mut rec, 0, 1, [1_000_000]);
            connect(&mut rec, 1, 3_000_000, RUN_END_US, None).suback_code = Some(1);
            let rx = rec.clients[1].rx.get_or_insert_with(Default::default);
            rx.retained_from = [(0, 1)].into_iter().collect();
            rx.retained_replays = 1;
            let r = retained(&plan, &rec);
            assert_eq!((r.expected_replays, r.replays_received, r.missing, r.extra), (owed, 1, 0, extra), "{r:?}");
        }
    }
}
