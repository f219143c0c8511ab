//! Known answers for `analyse` and the expectations: hand-built records
//! (`testkit`) through the whole analysis, exact figures in the report.
//! `tally.rs` tests the join itself; these test what reaches report.json —
//! the plan's streams and sessions, the loss windows by name and client,
//! the expectations and the verdict — and that the analysis is a pure
//! function. Times are run-clock µs; `S` is one second.

use super::analyse;
use super::model::{LossWindowInfo, Report};
use super::testkit::{self as kit, connect, every, publish, receive};
use crate::plan::Plan;
use crate::record::vocab::{Cause, DrainEnd, FindingKind, Limit, LossWindow, Verdict};
use crate::record::{PublishWindow, RunRecord};

const S: u64 = 1_000_000;

/// pub0 (client 0, publisher index 0) publishes to t/1 at QoS 1; sub0
/// (client 1) subscribes to t/# at QoS 1 with a clean or persistent session.
fn pub_sub(clean_session: bool, expect: &str) -> Plan {
    kit::plan(&format!(
        r#"
name = "t"
[[group]]
name = "pub"
publish = {{ topic = "t/1", qos = 1, rate = 100.0 }}
[[group]]
name = "sub"
clean_session = {clean_session}
subscribe = {{ filter = "t/#", qos = 1 }}
[expect]
{expect}
"#
    ))
}

/// report.json's `messages.lost_by_window`, in the order steady,
/// subscriber_offline, publisher_offline, broker_restart.
fn lost_by_window(r: &Report) -> [u64; 4] {
    ["steady", "subscriber_offline", "publisher_offline", "broker_restart"]
        .map(|w| r.messages.lost_by_window[&w.parse::<LossWindow>().unwrap()])
}

fn window(kind: LossWindow, client: Option<&str>, start_s: f64, end_s: f64, lost: u64, missed: u64) -> LossWindowInfo {
    LossWindowInfo { kind, client: client.map(str::to_string), start_s, end_s, lost, missed_offline: missed }
}

/// Both clients up from 0.5 s to the end; pub0 sends 100 messages, one
/// every 10 ms from 1 s (seq k at 1 s + k × 10 ms); sub0 receives all but seq 50.
fn steady_loss_of_one(plan: &Plan) -> RunRecord {
    let mut rec = kit::record(plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, (0..50).chain(51..100));
    rec
}

// ---- loss, window by window ----------------------------------------------

#[test]
fn a_message_lost_while_everyone_was_connected_is_steady_loss() {
    let plan = pub_sub(true, "");
    let r = analyse(&plan, &steady_loss_of_one(&plan));
    let m = &r.messages;
    assert_eq!((m.published, m.acked, m.expected, m.received, m.lost), (100, 100, 100, 99, 1));
    assert_eq!(lost_by_window(&r), [1, 0, 0, 0]);
    assert!(r.loss_windows.is_empty(), "steady state is no window: {:?}", r.loss_windows);
    assert_eq!(r.streams[0].lost_seqs, vec![(50, 51)]);
    // A QoS 1 loss breaks the guarantee; nobody disconnected.
    let kinds: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![FindingKind::QosViolation]);
    assert_eq!(r.disconnects.total, 0);
    assert_eq!(r.verdict, Verdict::Fail, "the QoS contract, by default: {:?}", r.expectations);
}

/// sub0's first connection is last heard at 1.2 s and dropped (trusted
/// until 1.15 s: the race margin); it is live again at 1.5 s. It received
/// seqs 0..=15 (sent up to 1.15 s) and 50..=99 (sent from 1.5 s).
fn subscriber_away_from_1_15_to_1_5_s(plan: &Plan) -> RunRecord {
    let mut rec = kit::record(plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 1_200_000, Some(Cause::NetworkEof));
    connect(&mut rec, 1, 1_500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, (0..16).chain(50..100));
    rec
}

#[test]
fn a_persistent_session_loses_what_the_broker_should_have_queued_while_its_subscriber_was_offline() {
    // One live window over both connections: all 100 expected; seqs
    // 16..=49, sent in the offline gap (1.150001 s, 1.499999 s), are lost
    // there; 21..=49 were sent after the drop itself (1.2 s): queued.
    let plan = pub_sub(false, "");
    let r = analyse(&plan, &subscriber_away_from_1_15_to_1_5_s(&plan));
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.missed_offline, m.queued_offline), (100, 66, 34, 0, 29));
    assert_eq!(lost_by_window(&r), [0, 34, 0, 0]);
    assert_eq!(r.loss_windows, vec![window(LossWindow::SubscriberOffline, Some("sub0"), 1.15, 1.5, 34, 0)]);
    assert_eq!(kit::names(&r.disconnects.by_cause), [("network_eof".to_string(), 1)].into());
    assert_eq!(r.client_timelines.len(), 1);
    assert_eq!(r.client_timelines[0].client, "sub0");
}

#[test]
fn a_clean_session_misses_what_was_sent_while_its_subscriber_was_offline_and_loses_nothing() {
    // The same run with a clean session: each connection its own window,
    // 16 + 50 expected; the 34 sent in the gap are missed, not lost.
    let plan = pub_sub(true, "");
    let r = analyse(&plan, &subscriber_away_from_1_15_to_1_5_s(&plan));
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.missed_offline, m.queued_offline), (66, 66, 0, 34, 0));
    assert_eq!(lost_by_window(&r), [0, 0, 0, 0]);
    assert_eq!(r.loss_windows, vec![window(LossWindow::SubscriberOffline, Some("sub0"), 1.15, 1.5, 0, 34)]);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn a_publisher_that_heard_nothing_is_trusted_until_its_last_write() {
    // pub0 hears nothing after CONNACK at 0.5 s (as a QoS 0 publisher would
    // not) but writes until 1.3 s, when it drops. sub0 misses seq 10 (sent at
    // 1.1 s): steady loss — the publisher was writing then — not publisher_offline.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 1_300_000, Some(Cause::NetworkEof)).heard_us = 500_000;
    connect(&mut rec, 0, 1_600_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 30));
    receive(&mut rec, 1, 0, (0..10).chain(11..30));
    let r = analyse(&plan, &rec);
    assert_eq!(r.messages.lost, 1);
    assert_eq!(lost_by_window(&r), [1, 0, 0, 0], "{:?}", r.loss_windows);
}

#[test]
fn a_message_lost_in_the_publishers_offline_gap_is_publisher_offline_loss() {
    // pub0 is last heard at 1.3 s and dropped, and connected again at 1.6 s:
    // its gap runs from 1.25 s (race margin) to 1.6 s. It sent seqs 0..=29
    // from 1 s to 1.29 s and 30..=99 from 1.6 s; all were acknowledged. sub0,
    // up all along, never got seqs 27 and 28 (sent at 1.27 and 1.28 s).
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 1_300_000, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 1_600_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 30).chain(every(1_600_000, 10_000, 70)));
    receive(&mut rec, 1, 0, (0..27).chain(29..100));
    let r = analyse(&plan, &rec);
    assert_eq!((r.messages.expected, r.messages.lost), (100, 2));
    assert_eq!(lost_by_window(&r), [0, 0, 2, 0]);
    assert_eq!(r.loss_windows, vec![window(LossWindow::PublisherOffline, Some("pub0"), 1.25, 1.6, 2, 0)]);
    assert_eq!(r.streams[0].lost_seqs, vec![(27, 29)]);
}

#[test]
fn a_message_the_broker_held_when_it_was_restarted_is_broker_restart_loss() {
    // The broker is killed at 1.5 s and listening again at 1.7 s. Both
    // clients see their connection closed at 1.5 s; pub0 is back at 1.75 s,
    // sub0 (persistent session) at 1.8 s. pub0 sent seqs 0..=49 from 1 s to
    // 1.49 s, then 50..=99 from 1.75 s. sub0 never got 45..=49, sent from
    // 1.45 s: within the race margin of the kill, so the restart's loss.
    let plan = pub_sub(false, "");
    let mut rec = kit::record(&plan);
    kit::broker_restart(&mut rec, 1_500_000, 1_700_000);
    connect(&mut rec, 0, 500_000, 1_500_000, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 1_750_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 1_500_000, Some(Cause::NetworkEof));
    connect(&mut rec, 1, 1_800_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 50).chain(every(1_750_000, 10_000, 50)));
    receive(&mut rec, 1, 0, (0..45).chain(50..100));
    let r = analyse(&plan, &rec);
    assert_eq!((r.messages.expected, r.messages.lost), (100, 5));
    assert_eq!(lost_by_window(&r), [0, 0, 0, 5]);
    assert_eq!(r.loss_windows, vec![window(LossWindow::BrokerRestart, None, 1.5, 1.7, 5, 0)]);
    // Both closes were midge's own restart.
    assert_eq!(kit::names(&r.disconnects.by_cause), [("fault_injected".to_string(), 2)].into());
}

// ---- expectations and verdict ------------------------------------------

#[test]
fn lost_0_fails_when_one_message_is_lost() {
    let plan = pub_sub(true, "lost = 0");
    let r = analyse(&plan, &steady_loss_of_one(&plan));
    let names: Vec<&str> = r.expectations.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["connect_failures", "lost", "qos2_duplicated", "protocol_violations"]);
    let lost = &r.expectations[1];
    assert_eq!((lost.pass, lost.observed, lost.limit, lost.op.as_str()), (false, Some(1), 0, "<="));
    assert!(r.expectations[0].pass, "every client connected");
    assert_eq!(r.verdict, Verdict::Fail);
    // lost = 1 holds.
    let plan = pub_sub(true, "lost = 1");
    assert_eq!(analyse(&plan, &steady_loss_of_one(&plan)).verdict, Verdict::Pass);
}

#[test]
fn a_latency_expectation_without_samples_fails_with_nothing_observed() {
    // No end-to-end latency was recorded: no evidence that it held.
    let plan = pub_sub(true, "e2e_p99 = \"50ms\"\nlost = 1");
    let mut rec = steady_loss_of_one(&plan);
    let r = analyse(&plan, &rec);
    let e = r.expectations.iter().find(|e| e.name == "e2e_p99").expect("e2e_p99 checked");
    assert_eq!((e.pass, e.observed, e.limit, e.unit.as_str()), (false, None, 50_000, "us"));
    assert_eq!(r.verdict, Verdict::Fail);
    // With samples of 1 ms it holds.
    for _ in 0..10 {
        rec.latencies.e2e.record(1_000).unwrap();
    }
    let r = analyse(&plan, &rec);
    let e = r.expectations.iter().find(|e| e.name == "e2e_p99").expect("e2e_p99 checked");
    assert_eq!((e.pass, e.observed), (true, Some(1_000)));
    assert_eq!(r.verdict, Verdict::Pass);
}

#[test]
fn without_expect_the_qos_contract_is_judged_and_marked_the_default() {
    let plan = pub_sub(true, "");
    let r = analyse(&plan, &steady_loss_of_one(&plan));
    let got: Vec<(&str, Option<u64>, bool, bool)> =
        r.expectations.iter().map(|e| (e.name.as_str(), e.observed, e.pass, e.default)).collect();
    assert_eq!(
        got,
        vec![
            ("connect_failures", Some(0), true, true),
            ("qos1_qos2_lost", Some(1), false, true),
            ("qos2_duplicated", Some(0), true, true),
            ("protocol_violations", Some(0), true, true),
        ]
    );
    assert_eq!(r.verdict, Verdict::Fail);
    // Set in [expect], a check is the scenario's, not the default.
    let plan = pub_sub(true, "connect_failures = 0\nprotocol_violations = 2");
    let r = analyse(&plan, &steady_loss_of_one(&plan));
    let defaults: Vec<(&str, bool)> = r.expectations.iter().map(|e| (e.name.as_str(), e.default)).collect();
    assert_eq!(
        defaults,
        vec![
            ("connect_failures", false),
            ("qos1_qos2_lost", true),
            ("qos2_duplicated", true),
            ("protocol_violations", false)
        ]
    );
    assert_eq!(r.expectations[3].limit, 2);
}

#[test]
fn qos_0_loss_is_not_judged_unless_asked() {
    let toml = |expect: &str| {
        format!(
            "name = \"t\"\n[[group]]\nname = \"pub\"\npublish = {{ topic = \"t/1\", qos = 0, rate = 100.0 }}\n[[group]]\nname = \"sub\"\nsubscribe = {{ filter = \"t/#\", qos = 0 }}\n[expect]\n{expect}\n"
        )
    };
    let plan = kit::plan(&toml(""));
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    publish(&mut rec, 0, 0, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, (0..90).chain(93..100));
    let r = analyse(&plan, &rec);
    assert_eq!((r.messages.by_qos[&0].lost, r.messages.lost), (3, 3));
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.expectations);
    // Asked for, it is judged.
    let plan = kit::plan(&toml("lost = 0"));
    let r = analyse(&plan, &rec);
    assert_eq!(r.verdict, Verdict::Fail);
}

#[test]
fn an_interrupted_run_is_not_judged() {
    let plan = pub_sub(true, "");
    let mut rec = steady_loss_of_one(&plan);
    rec.interrupted = true;
    rec.stop_signal = Some(crate::record::vocab::StopSignal::Sigint);
    let r = analyse(&plan, &rec);
    assert_eq!(r.verdict, Verdict::Interrupted);
}

#[test]
fn a_connection_closed_for_a_broker_protocol_violation_fails_the_default() {
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 2 * S, Some(Cause::MalformedPacketFromBroker));
    connect(&mut rec, 1, 3 * S, 4 * S, Some(Cause::ProtocolErrorFromBroker));
    connect(&mut rec, 1, 5 * S, 10 * S, None);
    let r = analyse(&plan, &rec);
    let e = r.expectations.iter().find(|e| e.name == "protocol_violations").expect("checked by default");
    assert_eq!((e.observed, e.pass, e.default), (Some(2), false, true));
    assert_eq!(r.verdict, Verdict::Fail);
}

/// `protocol_violations` counts the rules the broker broke on the wire
/// too: one connection closed for a malformed packet, plus a
/// `spec_violation` of 2 (Session Present = 1 twice to a clean start) is 3
/// observed; allowing 3 in `[expect]` passes.
#[test]
fn spec_violations_count_as_protocol_violations() {
    use crate::record::wire::{Sighting, WirePacket};
    for (expect, pass) in [("", false), ("protocol_violations = 3", true)] {
        let plan = pub_sub(true, expect);
        let mut rec = kit::record(&plan);
        connect(&mut rec, 0, 500_000, 10 * S, None);
        connect(&mut rec, 1, 500_000, 2 * S, Some(Cause::MalformedPacketFromBroker));
        connect(&mut rec, 1, 3 * S, 10 * S, None);
        let w = rec.clients[1].witness.get_or_insert_with(Default::default);
        for t_us in [S, 3 * S] {
            w.sight(Sighting::SessionPresent, WirePacket { t_us, packet_type: 2, ..Default::default() }, Vec::new);
        }
        let r = analyse(&plan, &rec);
        let spec: u64 = r.findings.iter().filter(|f| f.kind == FindingKind::SpecViolation).map(|f| f.count).sum();
        assert_eq!(spec, 2, "{:#?}", r.findings);
        let e = r.expectations.iter().find(|e| e.name == "protocol_violations").unwrap();
        assert_eq!((e.observed, e.pass, e.default), (Some(3), pass, expect.is_empty()));
    }
}

#[test]
fn a_run_that_published_nothing_it_was_meant_to_fails_and_says_so() {
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    rec.publishing = Some(PublishWindow { start_us: S, end_us: 3 * S, stopped_us: 3 * S });
    connect(&mut rec, 0, 500_000, 4 * S, None);
    connect(&mut rec, 1, 500_000, 4 * S, None);
    let r = analyse(&plan, &rec);
    // 100 msg/s over 2 s: 200 due, none sent.
    assert_eq!(
        r.error.as_deref(),
        Some("nothing was published: the publishers' schedules made 200 messages due and none went out")
    );
    assert_eq!(r.verdict, Verdict::Fail);
    // Publishing that lasted 0 s made nothing due: no error, and report.md says so.
    rec.publishing = Some(PublishWindow { start_us: S, end_us: S, stopped_us: S });
    let mut plan0 = plan.clone();
    plan0.duration = std::time::Duration::ZERO;
    let r = analyse(&plan0, &rec);
    assert_eq!((r.error.as_deref(), r.verdict), (None, Verdict::Pass), "{:?}", r.load_generator.publish_rates);
}

/// A drain that ran out 3.37 s after publishing stopped at 10 s, over a
/// time series of four seconds: 100, 200, 300, 50 deliveries.
fn drain_out_of_time(quiet_period_us: u64) -> RunRecord {
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    rec.publishing = Some(PublishWindow { start_us: S, end_us: 10 * S, stopped_us: 10 * S });
    rec.run_end_us = 14 * S;
    // pub0 sends seq k at 1 s + k × 100 ms, 90 in all; sub0 gets seqs 0..=40.
    connect(&mut rec, 0, 500_000, 14 * S, None);
    connect(&mut rec, 1, 500_000, 14 * S, None);
    publish(&mut rec, 0, 1, every(S, 100_000, 90));
    receive(&mut rec, 1, 0, 0..41);
    rec.drain.ended = crate::record::vocab::DrainEnd::TimeLimit;
    rec.drain.waited_us = 3_370_000;
    rec.drain.quiet_period_us = quiet_period_us;
    let point = |t_s: f64, received: u64, e2e_p99_us: Option<u64>| crate::record::TimePoint {
        t_s,
        span_s: 1.0,
        connected: 2,
        published: 0,
        received,
        e2e_p99_us,
        midge_cpu_pct: None,
        midge_rss_kib: None,
        broker_cpu_pct: None,
        broker_rss_kib: None,
    };
    rec.timeseries = vec![
        point(11.0, 100, Some(4_000_000)),
        point(12.0, 200, Some(4_500_000)),
        point(13.0, 300, Some(4_700_000)),
        point(14.0, 50, None),
    ];
    rec
}

#[test]
fn a_drain_that_ran_out_of_time_reports_what_was_still_arriving() {
    let plan = pub_sub(true, "");
    // Quiet period 300 ms: the drain's last second, 12.37 s to 13.37 s,
    // lies in the points ending at 13 s and 14 s.
    let r = analyse(&plan, &drain_out_of_time(300_000));
    assert_eq!(r.messages.lost, 49, "seqs 41..=89");
    let a = r.drain.still_arriving.expect("ran out of time");
    assert_eq!((a.from_s, a.to_s, a.deliveries, a.e2e_p99_us), (12.0, 14.0, 350, Some(4_700_000)));
    // Sent within 4.7 s of the drain's end (13.37 s), from 8.67 s: seqs 77..=89.
    assert_eq!(a.lost_sent_late, Some(13));
    // Quiet period 2.4 s: from 10.97 s, so the point ending at 11 s too.
    let a = analyse(&plan, &drain_out_of_time(2_400_000)).drain.still_arriving.unwrap();
    assert_eq!((a.from_s, a.to_s, a.deliveries, a.e2e_p99_us), (10.0, 14.0, 650, Some(4_700_000)));
    // A drain that completed has nothing still arriving.
    let mut rec = drain_out_of_time(300_000);
    rec.drain.ended = crate::record::vocab::DrainEnd::Complete;
    assert_eq!(analyse(&plan, &rec).drain.still_arriving, None);
}

#[test]
fn a_forbidden_finding_fails_when_it_is_found() {
    // dev0 and its twin take each other over 3 times (see the detector's
    // tests): one duplicate_id_loop finding, which [expect] forbids.
    let plan = kit::plan("name = \"t\"\n[[group]]\nname = \"dev\"\n[expect]\nfindings = [\"duplicate_id_loop\"]\n");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof));
    kit::twin(&mut rec, &plan, 0, 2 * S, 3 * S, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 3 * S, 4 * S, Some(Cause::NetworkEof));
    kit::twin(&mut rec, &plan, 0, 4 * S, 5 * S, None);
    connect(&mut rec, 0, 5_500_000, 8 * S, None);
    let r = analyse(&plan, &rec);
    let e = r.expectations.iter().find(|e| e.name == "no duplicate_id_loop findings").expect("checked");
    assert_eq!((e.pass, e.observed), (false, Some(1)));
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(kit::names(&r.disconnects.by_cause), [("session_taken_over".to_string(), 2)].into());
}

#[test]
fn a_finding_a_bug_scenario_shows_passes_when_found_and_fails_when_not() {
    // The same duplicate-id loop as above, now what the scenario is to show.
    let text =
        "name = \"t\"\n[[group]]\nname = \"dev\"\n[expect]\nshows = [\"duplicate_id_loop\", \"qos_violation\"]\n";
    let plan = kit::plan(text);
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof));
    kit::twin(&mut rec, &plan, 0, 2 * S, 3 * S, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 3 * S, 4 * S, Some(Cause::NetworkEof));
    kit::twin(&mut rec, &plan, 0, 4 * S, 5 * S, None);
    connect(&mut rec, 0, 5_500_000, 8 * S, None);
    let r = analyse(&plan, &rec);
    let shown = r.expectations.iter().find(|e| e.name == "shows duplicate_id_loop findings").expect("checked");
    assert_eq!((shown.pass, shown.observed, shown.threshold.as_str()), (true, Some(1), ">= 1"));
    let absent = r.expectations.iter().find(|e| e.name == "shows qos_violation findings").expect("checked");
    assert_eq!((absent.pass, absent.observed), (false, Some(0)));
    assert_eq!(r.verdict, Verdict::Fail, "a reproduction that does not show all it claims fails");
    // Judged by what it shows: the QoS contract's defaults are not checked.
    let names: Vec<&str> = r.expectations.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["shows duplicate_id_loop findings", "shows qos_violation findings"]);
    // What it sets still is.
    let plan = kit::plan(&text.replace("\"qos_violation\"]", "]\nconnect_failures = 0"));
    let names: Vec<String> = analyse(&plan, &rec).expectations.into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["connect_failures", "shows duplicate_id_loop findings"]);
}

#[test]
fn a_run_nobody_could_connect_to_fails_and_names_the_causes() {
    // Both clients' TCP connects were refused; nobody ever connected.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    rec.connected_peak = 0;
    for i in 0..2 {
        kit::refuse(&mut rec, i, S, Cause::Refused);
    }
    rec.counters.connect_attempts = 2;
    rec.counters.connect_failures.insert(Cause::Refused, 2);
    let r = analyse(&plan, &rec);
    assert_eq!(r.error.as_deref(), Some("no client could connect to mqtt://broker.test:1883: refused ×2"));
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!((r.expectations[0].name.as_str(), r.expectations[0].pass), ("connect_failures", false));
    assert_eq!(r.messages.expected, 0);
}

// ---- a pure function ---------------------------------------------------

/// A record with a bit of everything: loss in an offline window, a protocol
/// drop (the broker closed sub0 right after a SUBSCRIBE, and its log says
/// why), a twin, a restart, latencies.
fn busy_record(plan: &Plan) -> RunRecord {
    let mut rec = subscriber_away_from_1_15_to_1_5_s(plan);
    rec.clients[1].timeline[0].flight = vec![kit::packet(1_150_000, true, 8, 20)];
    rec.broker.log_lines = Some(vec!["1700000001: Client sub0 disconnected due to protocol error.".into()]);
    kit::twin(&mut rec, plan, 0, 3 * S, 3_100_000, Some(Cause::NetworkEof));
    kit::broker_restart(&mut rec, 9 * S, 9_500_000);
    for us in [800, 1_200, 5_000, 40_000] {
        rec.latencies.e2e.record(us).unwrap();
        rec.latencies.connect.record(us / 2).unwrap();
    }
    rec.generator.loop_delay.record(300).unwrap();
    rec.counters.connects = 3;
    rec.counters.reconnects = 1;
    rec
}

#[test]
fn the_same_plan_and_record_give_the_same_report() {
    let plan = pub_sub(false, "lost = 0\ne2e_p99 = \"50ms\"");
    let rec = busy_record(&plan);
    let first = analyse(&plan, &rec);
    assert_eq!(first, analyse(&plan, &rec));
    // The figures are not empty ones.
    assert_eq!(first.messages.lost, 34);
    assert_eq!(kit::names(&first.disconnects.by_cause), [("protocol_error".to_string(), 1)].into());
}

#[test]
fn a_record_read_back_from_json_gives_the_same_report() {
    // As `midge report DIR` does it: record.json read back, the plan built
    // again from the identity the record keeps.
    let plan = pub_sub(false, "lost = 0\ne2e_p99 = \"50ms\"");
    let rec = busy_record(&plan);
    let back = RunRecord::from_json(&rec.to_json()).expect("reads back");
    assert_eq!(back, rec);
    assert_eq!(analyse(&plan, &back), analyse(&plan, &rec));
    let rebuilt = Plan::rebuild(&back.plan).expect("plan rebuilt");
    assert_eq!(analyse(&rebuilt, &back), analyse(&plan, &rec));
}

#[test]
fn messages_due_but_never_sent_are_unsent_and_the_rate_says_so() {
    // pub0 publishes at 100 msg/s; publishing ran from 1 s to 3 s, so its
    // schedule made 200 messages due (one every 10 ms from 1 s). It sent the
    // first 150 and was then cut off: 50 unsent, 75 % of the asked rate.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    rec.publishing = Some(PublishWindow { start_us: S, end_us: 3 * S, stopped_us: 3 * S });
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 150));
    receive(&mut rec, 1, 0, 0..150);
    let r = analyse(&plan, &rec);
    assert_eq!((r.messages.published, r.messages.unsent, r.messages.lost), (150, 50, 0));
    let rate = &r.load_generator.publish_rates[0];
    assert_eq!((rate.due, rate.sent, rate.unsent, rate.publishers), (200, 150, 50, 1));
    assert_eq!((rate.target_msgs_per_s, rate.achieved_msgs_per_s, rate.deviation_pct), (100.0, 75.0, -25.0));
    assert_eq!(rate.span_msgs_per_s, 100.0, "while it sent, it kept the pace");

    // Publishing stopped at 2.5 s (say, an interrupt): 150 were due, none unsent.
    rec.publishing = Some(PublishWindow { start_us: S, end_us: 3 * S, stopped_us: 2_500_000 });
    let r = analyse(&plan, &rec);
    assert_eq!(r.messages.unsent, 0);
    assert_eq!(r.load_generator.publish_rates[0].deviation_pct, 0.0);
}

/// pub0 publishes to t/1 at QoS 1; sub0, MQTT 5, keeps its session for 1 s
/// after a drop (`session_expiry = "1s"`).
fn expiring_session() -> Plan {
    kit::plan(
        r#"
name = "t"
protocol = "5"
[[group]]
name = "pub"
publish = { topic = "t/1", qos = 1, rate = 100.0 }
[[group]]
name = "sub"
clean_session = false
session_expiry = "1s"
subscribe = { filter = "t/#", qos = 1 }
"#,
    )
}

#[test]
fn a_session_back_after_its_expiry_was_owed_nothing() {
    // sub0 drops at 1.31 s (heard until 1.3 s) and comes back at 4.31 s, 3 s
    // later, without its session — rightly, its expiry was 1 s. What pub0
    // sent after 1.25 s (its last trusted moment) and before sub0 subscribed
    // again at 4.31 s — seqs 26..=330, of which 26..=30 still arrived — was
    // owed to nobody: 300 missed, not lost.
    let plan = expiring_session();
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 1_310_000, Some(Cause::NetworkEof)).heard_us = 1_300_000;
    connect(&mut rec, 1, 4_310_000, 10 * S, None).session_present = false;
    publish(&mut rec, 0, 1, every(S, 10_000, 500));
    receive(&mut rec, 1, 0, (0..=30).chain(331..500));
    let r = analyse(&plan, &rec);
    assert_eq!(r.messages.lost, 0, "{:?}", r.loss_windows);
    assert_eq!(r.messages.missed_offline, 300, "seqs 31..=330 never arrived and were owed to nobody");
    assert_eq!(r.messages.queued_offline, 0);
    assert_eq!(r.loss_windows.len(), 1);
    assert_eq!((r.loss_windows[0].kind, r.loss_windows[0].missed_offline), (LossWindow::SessionExpired, 300));
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
}

#[test]
fn a_session_gone_before_its_expiry_was_lost_and_named() {
    // The same drop, but sub0 is back after 0.3 s (at 1.61 s) and its session
    // is gone all the same: the broker discarded what it owed.
    let plan = expiring_session();
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 1_310_000, Some(Cause::NetworkEof)).heard_us = 1_300_000;
    connect(&mut rec, 1, 1_610_000, 10 * S, None).session_present = false;
    publish(&mut rec, 0, 1, every(S, 10_000, 500));
    receive(&mut rec, 1, 0, (0..=30).chain(61..500));
    let r = analyse(&plan, &rec);
    // Seqs 31..=60 (sent between 1.25 s and the new SUBACK at 1.61 s) were
    // owed and never arrived: lost, in the window the session was lost in.
    assert_eq!(r.messages.lost, 30);
    assert_eq!(r.messages.lost_by_window[&LossWindow::SessionLost], 30, "{:?}", r.loss_windows);
    let f: Vec<_> = r.findings.iter().filter(|f| f.kind == FindingKind::SessionLost).collect();
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!((f[0].count, f[0].client_ids.clone()), (30, vec!["sub0".to_string()]));
    assert!(f[0].summary.contains("session expiry of 1 s"), "{}", f[0].summary);
}

#[test]
fn a_downgraded_grant_lowers_what_the_stream_promises() {
    // sub0 asked for QoS 1 and the broker granted QoS 0: a lost message is
    // loss, but no broken QoS 1 guarantee.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None).suback_code = Some(0);
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, (0..50).chain(51..100));
    let r = analyse(&plan, &rec);
    assert_eq!((r.messages.lost, r.messages.by_qos[&0].lost, r.messages.by_qos[&1].lost), (1, 1, 0));
    assert!(!r.findings.iter().any(|f| f.kind == FindingKind::QosViolation), "{:#?}", r.findings);
}

#[test]
fn a_refused_subscription_expects_nothing_and_is_named() {
    // The broker answered sub0's SUBSCRIBE with 0x80: its subscription never
    // went live, so nothing is expected and nothing is lost.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    let g = connect(&mut rec, 1, 500_000, 10 * S, None);
    (g.suback_code, g.live_from_us) = (Some(0x80), None);
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    let r = analyse(&plan, &rec);
    assert_eq!((r.messages.expected, r.messages.lost), (0, 0));
    let f: Vec<_> = r.findings.iter().filter(|f| f.kind == FindingKind::SubscribeRefused).collect();
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!((f[0].count, f[0].client_ids.clone()), (1, vec!["sub0".to_string()]));
    assert_eq!(f[0].evidence.json()["codes"]["failure"], 1);
}

/// pub0 publishes to `t/1` at 100 msg/s; m0 and m1 share `$share/g/t/#`.
fn share_group_plan() -> Plan {
    kit::plan(
        r#"
name = "t"
[[group]]
name = "pub"
publish = { topic = "t/1", qos = 1, rate = 100.0 }
[[group]]
name = "m"
clients = 2
subscribe = { filter = "$share/g/t/#", qos = 1 }
"#,
    )
}

#[test]
fn a_share_group_is_owed_each_message_once_while_any_member_is_live() {
    // m0 and m1 share `$share/g/t/#`. m0 is up from 0.5 s to 1.5 s, m1 from
    // 1.2 s to the end: the group is live from 0.5 s on. pub0 sends 100
    // messages from 1 s; m0 took seqs 0..40, m1 40..100 but seq 70 reached
    // nobody and seq 50 reached both.
    let plan = share_group_plan();
    assert_eq!((plan.shares.len(), plan.streams.len()), (1, 1), "one stream: (publisher, share group)");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 1_500_000, None);
    connect(&mut rec, 2, 1_200_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, (0..40).chain([50]));
    receive(&mut rec, 2, 0, (40..70).chain(71..100));
    let r = analyse(&plan, &rec);
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.duplicated), (100, 99, 1, 1));
    assert_eq!(r.streams[0].subscriber, "$share/g/t/#");
    let s = &r.shared_subscriptions[0];
    assert_eq!((s.expected, s.received, s.lost, s.duplicated), (100, 99, 1, 1));
    assert_eq!((s.per_member["m0"], s.per_member["m1"]), (41, 59));
    assert_eq!((s.min_share_pct, s.max_share_pct), (41.0, 59.0));
    // Even would be 50 % each: both members are 9 points off it.
    assert_eq!((s.fair_share_pct, s.max_deviation_pct), (50.0, 9.0));
    let f: Vec<_> = r.findings.iter().filter(|f| f.kind == FindingKind::QosViolation).collect();
    assert_eq!(f[0].client_ids[0], "$share/g/t/#", "the violation names the share group");
}

#[test]
fn what_raced_a_share_members_drop_is_missed_like_a_plain_subscribers_race() {
    // pub0 sends 100 messages from 1 s, one every 10 ms; the broker routes
    // the even ones to m0, the odd ones to m1 — and all to m1 once m0 is
    // gone. m0 was last heard at 1.5 s (trusted to 1.45 s, the race margin)
    // and dropped at 1.52 s: 46, 48, 50 and 52 (sent 1.46–1.52 s) died with
    // it, missed as a plain subscriber's race would be. Seq 40 (sent 1.4 s,
    // inside its trust) is a real loss.
    let plan = share_group_plan();
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 1_520_000, Some(Cause::NetworkEof)).heard_us = 1_500_000;
    connect(&mut rec, 2, 500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, (0..=44).filter(|s| s % 2 == 0 && *s != 40));
    receive(&mut rec, 2, 0, (0..53).filter(|s| s % 2 == 1).chain(53..100));
    let r = analyse(&plan, &rec);
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.missed_offline), (96, 95, 1, 4), "{m:?}");
    assert_eq!(r.streams[0].lost_seqs, vec![(40, 41)]);
    let w: Vec<_> = r.loss_windows.iter().map(|w| (w.kind, w.client.as_deref(), w.lost, w.missed_offline)).collect();
    assert_eq!(w, vec![(LossWindow::SubscriberOffline, Some("m0"), 0, 4)]);
    let s = &r.shared_subscriptions[0];
    assert_eq!((s.expected, s.received, s.lost), (96, 95, 1));
}

#[test]
fn kernel_socket_memory_is_spread_over_the_connected_peak() {
    // 37 pages of 4 KiB (148 KiB) over 2 connected clients: 75,776 B each.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    assert_eq!(rec.connected_peak, 2);
    rec.generator.kernel_tcp = Some(crate::record::KernelTcp { sockets: 5, mem_kib: 148 });
    let g = analyse(&plan, &rec).load_generator;
    assert_eq!(
        (g.kernel_socket_kib, g.kernel_socket_bytes_per_connected_client, g.kernel_tcp_sockets),
        (Some(148), Some(75_776), Some(5))
    );
    // Unreadable, or nobody connected: null, not zero.
    rec.connected_peak = 0;
    assert_eq!(analyse(&plan, &rec).load_generator.kernel_socket_bytes_per_connected_client, None);
    rec.generator.kernel_tcp = None;
    let g = analyse(&plan, &rec).load_generator;
    assert_eq!(
        (g.kernel_socket_kib, g.kernel_socket_bytes_per_connected_client, g.kernel_tcp_sockets),
        (None, None, None)
    );
}

#[test]
fn late_publishes_with_room_in_every_window_mean_midge_was_the_limit() {
    // Every publish left 200 ms late (200.1 ms, to the HDR histogram's
    // precision), and no inflight window was ever full:
    // midge, not the broker, could not keep the schedule.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, 0..100);
    for _ in 0..100 {
        rec.latencies.publish_lag.record(200_000).unwrap();
    }
    let r = analyse(&plan, &rec);
    assert!(r.load_generator.saturated, "{:?}", r.load_generator.reasons);
    assert!(r.load_generator.reasons[0].contains("200.1 ms late"), "{:?}", r.load_generator.reasons);
    assert!(r.findings.iter().any(|f| f.kind == FindingKind::GeneratorSaturated));

    // The same lateness while windows were full: the broker set the pace.
    rec.counters.publish_window_full = 3;
    let r = analyse(&plan, &rec);
    assert!(!r.load_generator.saturated, "{:?}", r.load_generator.reasons);
    assert_eq!(r.load_generator.publish_window_full, 3);
}

/// midge's own part, from hand-made histograms: send lag 100 × 300 µs and
/// 100 × 1,500 µs (p50 300, p99 1,500); a receive delay on 60 of the 100
/// deliveries, 59 × 40 µs and one 900 µs (p50 40, p99 900: the rank of
/// the 99th percentile of 60 values, 59.4, rounds up to the 60th); the batching
/// bound is the plan's: adaptive 1000, a fixed 5 ms window 5000, off 0.
#[test]
fn midges_own_part_comes_from_send_lag_and_receive_delay() {
    use crate::record::vocab::ReceiveTime;
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 200));
    receive(&mut rec, 1, 0, 0..200);
    for k in 0..200 {
        rec.latencies.publish_lag.record(if k < 100 { 300 } else { 1_500 }).unwrap();
    }
    for k in 0..100 {
        rec.latencies.e2e.record(2_000).unwrap();
        if k < 60 {
            rec.latencies.receive_delay.record(if k < 59 { 40 } else { 900 }).unwrap();
        }
    }
    let own = analyse(&plan, &rec).latency.own;
    assert_eq!((own.send_lag_p50_us, own.send_lag_p99_us), (300, 1_500));
    assert_eq!((own.receive_delay_p50_us, own.receive_delay_p99_us), (40, 900));
    assert_eq!((own.receive_delay_measured, own.receive_delay_deliveries), (true, 60));
    assert_eq!((own.batching_bound_us, own.e2e_receive_time), (1_000, ReceiveTime::Mixed));

    // No kernel stamp at all, a fixed 5 ms window: not measured, bounded by the window.
    rec.latencies.receive_delay = crate::record::hist::new_histogram();
    let fixed = kit::plan(
        "name = \"t\"\nbatch_window = \"5ms\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"t/1\", qos = 1, rate = 100.0 }\n\
         [[group]]\nname = \"sub\"\nsubscribe = { filter = \"t/#\", qos = 1 }\n",
    );
    let r = analyse(&fixed, &rec);
    let own = &r.latency.own;
    assert_eq!((own.receive_delay_measured, own.receive_delay_p99_us, own.batching_bound_us), (false, 0, 5_000));
    assert_eq!(own.e2e_receive_time, ReceiveTime::Midge);
}

#[test]
fn load_never_sent_with_the_broker_leaving_room_means_midge_was_the_limit() {
    // 150 of 200 due messages sent, every publisher connected throughout, no
    // full window: a shortfall the broker did not cause.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    rec.publishing = Some(PublishWindow { start_us: S, end_us: 3 * S, stopped_us: 3 * S });
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 150));
    receive(&mut rec, 1, 0, 0..150);
    let r = analyse(&plan, &rec);
    assert!(r.load_generator.saturated);
    assert!(
        r.load_generator.reasons.iter().any(|x| x.contains("sent 150 of the 200")),
        "{:?}",
        r.load_generator.reasons
    );

    // A publisher that dropped explains its own shortfall: no verdict on midge.
    rec.clients[0].timeline[0].cause = Some(Cause::NetworkEof);
    assert!(!analyse(&plan, &rec).load_generator.saturated);
}

#[test]
fn load_a_broker_limit_held_back_is_counted_under_its_name_not_as_saturation() {
    // pub0's QoS is above the Maximum QoS the broker announced: it connected
    // and stayed, sent nothing, and its 200 due messages are the broker's policy.
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    rec.publishing = Some(PublishWindow { start_us: S, end_us: 3 * S, stopped_us: 3 * S });
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None);
    rec.clients[0].publish_log = Some(Default::default());
    rec.clients[0].limits.push(crate::record::LimitHit { limit: Limit::MaximumQos, announced: 0, needed: 1 });
    let r = analyse(&plan, &rec);
    let g = &r.load_generator;
    assert!(!g.saturated, "{:?}", g.reasons);
    assert!(!r.findings.iter().any(|f| f.kind == FindingKind::GeneratorSaturated));
    assert_eq!(g.held_by_limit, [(Limit::MaximumQos, 200)].into_iter().collect());
    let rate = &g.publish_rates[0];
    assert_eq!((rate.due, rate.sent, rate.unsent, rate.held_by_limit), (200, 0, 200, 200));
    assert_eq!(serde_json::to_value(g).unwrap()["held_by_limit"], serde_json::json!({ "maximum_qos": 200 }));

    // Without the limit, the same silence is midge's shortfall.
    rec.clients[0].limits.clear();
    let r = analyse(&plan, &rec);
    assert!(r.load_generator.saturated);
    assert!(r.load_generator.held_by_limit.is_empty());
}

// ---- a snapshot while the run goes on (the partial report) -----------------

/// A snapshot taken at 2.5 s with its horizon at 1.5 s (the margin): both
/// connections still open, cut by midge at the horizon. pub0 sent 100
/// messages from 1 s, one every 10 ms, all acknowledged; sub0 has received
/// seqs 0..=79 — everything sent up to 1.79 s — and seq 30 is missing.
/// Messages 51..=99 were sent after the horizon: in flight, neither
/// expected nor lost, however few of them have arrived.
#[test]
fn a_snapshot_decides_only_what_was_sent_before_its_horizon() {
    let plan = pub_sub(true, "lost = 0");
    let mut rec = kit::record(&plan);
    let horizon = 1_500_000;
    connect(&mut rec, 0, 500_000, horizon, None);
    connect(&mut rec, 1, 500_000, horizon, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, (0..30).chain(31..80));
    rec.as_of_us = Some(horizon);
    rec.run_end_us = horizon;
    let r = analyse(&plan, &rec);
    let m = &r.messages;
    // Expected: seqs 0..=50 (sent at 1.0 s … 1.5 s); lost: seq 30 only.
    assert_eq!((m.published, m.acked, m.expected, m.received, m.lost), (100, 100, 51, 79, 1));
    assert_eq!(m.missed_offline, 0, "after the horizon is in flight, not offline");
    assert_eq!(r.streams[0].lost_seqs, vec![(30, 31)]);
    assert!(r.partial);
    assert_eq!(r.as_of_s, Some(1.5));
    assert_eq!(r.verdict, Verdict::Fail, "lost = 0 fails on seq 30");
    // The same record, finished: not partial.
    rec.as_of_us = None;
    let r = analyse(&plan, &rec);
    assert!(!r.partial && r.as_of_s.is_none());
}

// ---- send times known to a widened band ------------------------------------

/// pub0 sends every 10 ms from 1 s, every other message 5 ms late: a
/// jitter past the 1 ms band that widens it (to 16 ms) as the segments pile
/// up, so a message may be recorded up to 16 ms before it was really sent.
/// sub0 drops at 12 s (trusted to 11.95 s) and got every message really
/// sent by then. None is lost: its trust ends 15 ms earlier for this
/// publisher's stream, so no message sent after 11.95 s is taken for sent
/// before.
#[test]
fn a_widened_send_time_band_costs_trust_not_false_loss() {
    let plan = pub_sub(true, "");
    let mut rec = kit::record(&plan);
    rec.run_end_us = 20 * S;
    connect(&mut rec, 0, 500_000, 20 * S, None);
    connect(&mut rec, 1, 500_000, 12 * S, Some(Cause::NetworkEof));
    let real = |k: u64| S + k * 10_000 + if k % 2 == 1 { 5_000 } else { 0 };
    let trusted = 11_950_000;
    let log = publish(&mut rec, 0, 1, (0..1_500).map(real));
    assert_eq!(log.sent.widened_us(), 15_000);
    // The case at hand: sent after the trust ended, recorded before it.
    assert!((0..1_500).any(|k| real(k) > trusted && log.sent.time_of(k) <= trusted));
    receive(&mut rec, 1, 0, (0..1_500).filter(|&k| real(k) <= trusted));
    let r = analyse(&plan, &rec);
    let m = &r.messages;
    assert_eq!(m.lost, 0, "{m:?}");
    assert_eq!((m.acked, m.received), (1_500, 1_095));
    assert_eq!(m.received + m.missed_offline, m.acked, "every message either arrived or was missed: {m:?}");
}

// ---- planned leaves (client stages ramping down) ----------------------------

/// sub0 (clean session) leaves on plan at 3 s — its DISCONNECT at 3.02 s —
/// and is back at 6 s; pub0 sends every 10 ms from 1 s to 9.99 s. sub0 got
/// everything sent up to 2.98 s (seq 198; 199 and 200 were on their way at
/// the leave) and everything from its return (seq 500 on).
#[test]
fn a_planned_leave_and_return_is_owed_only_the_stays_and_is_no_disconnect() {
    let plan = pub_sub(true, "lost = 0");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 3_020_000, None).left_us = Some(3 * S);
    connect(&mut rec, 1, 6 * S, 10 * S, None);
    publish(&mut rec, 0, 1, every(S, 10_000, 900));
    receive(&mut rec, 1, 0, (0..=198).chain(500..900));
    let r = analyse(&plan, &rec);
    let m = &r.messages;
    // Owed: seqs 0..=195 (sent by 2.95 s, the race margin before the leave) and 500..=899.
    assert_eq!((m.published, m.expected, m.received, m.lost), (900, 596, 599, 0));
    assert_eq!((m.missed_offline, m.queued_offline), (0, 0), "away on plan misses nothing");
    assert!(r.loss_windows.is_empty(), "{:?}", r.loss_windows);
    assert_eq!((r.clients.planned_leaves, r.clients.rejoins), (1, 1));
    assert_eq!(r.disconnects.total, 0);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.verdict, Verdict::Pass);

    // A persistent session is owed what the broker queued while it was away.
    let plan = pub_sub(false, "lost = 0");
    let mut persistent = rec.clone();
    persistent.plan = kit::record(&plan).plan;
    receive(&mut persistent, 1, 0, 199..500);
    let r = analyse(&plan, &persistent);
    let m = &r.messages;
    // Queued: seqs 203..=499, sent after its DISCONNECT (3.02 s) and before its return.
    assert_eq!((m.expected, m.received, m.lost, m.queued_offline), (900, 900, 0, 297));
}

/// m0 and m1 share `$share/g/t/#`; pub0 sends every 10 ms from 1 s to
/// 1.99 s. m0 leaves on plan at 1.3 s; m1 is up to 1.6 s, then leaves on
/// plan too, or drops (last heard at 1.6 s). Between them they took seqs
/// 0..=54.
#[test]
fn a_share_group_whose_members_all_left_on_plan_misses_nothing() {
    let plan = share_group_plan();
    let run = |m1_end: Option<Cause>| {
        let mut rec = kit::record(&plan);
        connect(&mut rec, 0, 500_000, 10 * S, None);
        connect(&mut rec, 1, 500_000, 1_300_000, None).left_us = Some(1_300_000);
        let m1 = connect(&mut rec, 2, 500_000, 1_600_000, m1_end.clone());
        m1.left_us = m1_end.is_none().then_some(1_600_000);
        publish(&mut rec, 0, 1, every(S, 10_000, 100));
        receive(&mut rec, 1, 0, 0..25);
        receive(&mut rec, 2, 0, 25..55);
        analyse(&plan, &rec)
    };
    // Both left on plan: owed seqs 0..=55 (sent by 1.55 s), nothing missed after.
    let r = run(None);
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.missed_offline), (56, 55, 1, 0));
    assert!(r.loss_windows.is_empty(), "{:?}", r.loss_windows);
    assert_eq!(r.clients.planned_leaves, 2);
    // m1 dropped instead: what the group missed after it is missed offline.
    let r = run(Some(Cause::NetworkEof));
    let m = &r.messages;
    assert_eq!((m.expected, m.lost, m.missed_offline), (56, 1, 44));
    assert_eq!(r.loss_windows[0].kind, LossWindow::SubscriberOffline);
}

// ---- the end of a run: what the broker still held, the slowest delivery ----

/// pub0 sends 100 messages, one every 10 ms from 1 s to 1.99 s (publishing
/// ends at 2 s); sub0 is stalled from 1.5 s and still behind when midge
/// closes it at the end. It received seqs 0..=59 but 52 (sent at 1.52 s).
fn stalled_at_the_end(plan: &Plan, drain: DrainEnd, behind: (u64, u64)) -> RunRecord {
    let mut rec = kit::record(plan);
    rec.publishing = Some(PublishWindow { start_us: S, end_us: 2 * S, stopped_us: 2 * S });
    rec.drain.ended = drain;
    rec.drain.waited_us = 8 * S;
    connect(&mut rec, 0, 500_000, 10 * S, None);
    connect(&mut rec, 1, 500_000, 10 * S, None).behind = vec![behind];
    publish(&mut rec, 0, 1, every(S, 10_000, 100));
    receive(&mut rec, 1, 0, (0..52).chain(53..60));
    rec
}

#[test]
fn what_a_subscriber_held_back_at_the_end_never_got_is_held_by_the_broker_not_lost() {
    let plan = pub_sub(true, "lost = 0");
    // The drain ran out of time with sub0 still behind: 60..=99, after its
    // last delivery, the broker still held; 52, below a later delivery, it
    // skipped: lost while sub0 was behind.
    let r = analyse(&plan, &stalled_at_the_end(&plan, DrainEnd::TimeLimit, (1_500_000, 10 * S)));
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.held_by_broker), (100, 59, 1, 40));
    assert_eq!((m.by_qos[&1].lost, m.by_qos[&1].held_by_broker), (1, 40));
    assert_eq!(
        (r.streams[0].lost, r.streams[0].held_by_broker, r.streams[0].lost_seqs.clone()),
        (1, 40, vec![(52, 53)])
    );
    assert_eq!(r.messages.lost_by_window[&LossWindow::SlowConsumer], 1);
    let counts: Vec<(FindingKind, u64)> = r.findings.iter().map(|f| (f.kind, f.count)).collect();
    assert_eq!(counts, vec![(FindingKind::SlowConsumer, 1), (FindingKind::QosViolation, 1)]);
    let slow = &r.findings[0];
    assert!(
        slow.summary.contains("lost 1 message(s) published while it was behind (each missing below a later delivery"),
        "{}",
        slow.summary
    );
    assert_eq!(slow.evidence.json()["missing_below_later"], 1);
    let lost = r.expectations.iter().find(|e| e.name == "lost").expect("lost = 0");
    assert_eq!((lost.observed, lost.pass), (Some(1), false));
    // A drain that ended complete waited until nothing more came: nothing held.
    let r = analyse(&plan, &stalled_at_the_end(&plan, DrainEnd::Complete, (1_500_000, 10 * S)));
    assert_eq!((r.messages.lost, r.messages.held_by_broker), (41, 0));
    // Caught up before publishing ended (a fresh delivery closed its span at 1.7 s): lost.
    let r = analyse(&plan, &stalled_at_the_end(&plan, DrainEnd::TimeLimit, (1_500_000, 1_700_000)));
    assert_eq!((r.messages.lost, r.messages.held_by_broker), (41, 0));
}

/// A scenario without a duration publishes until stopped: the report's
/// planned duration is the window it ran, start to stop; with a duration,
/// the duration.
#[test]
fn a_run_without_a_duration_planned_the_window_it_ran() {
    let scenario = "name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n";
    let plan = kit::plan(scenario);
    assert!(plan.until_stopped);
    let mut rec = kit::record(&plan);
    assert_eq!(analyse(&plan, &rec).scenario.planned_duration_s, 0.0, "nothing published: no window");
    let end_us = S + plan.duration.as_micros() as u64;
    rec.publishing = Some(PublishWindow { start_us: S, end_us, stopped_us: 4 * S + S / 2 });
    assert_eq!(analyse(&plan, &rec).scenario.planned_duration_s, 3.5);

    let timed = kit::plan(&format!("duration = \"7s\"\n{scenario}"));
    assert!(!timed.until_stopped);
    let mut rec = kit::record(&timed);
    rec.publishing = Some(PublishWindow { start_us: S, end_us: 8 * S, stopped_us: 4 * S });
    assert_eq!(analyse(&timed, &rec).scenario.planned_duration_s, 7.0, "the duration, even when stopped early");
}

/// A subscriber that announced a Maximum Packet Size of 1,000 bytes
/// (client 2, `small`) under two publishers: `big` (client 0, 2,000-byte
/// messages) and `little` (client 1, 64 bytes). Each publishes 50 messages
/// from 1 s, every 10 ms; small received all of little's, none of big's.
/// The broker must discard big's: 50 `over_max_packet_size`, in no stream's
/// `expected`, not lost, no finding; `expected` is little's 50.
#[test]
fn what_the_subscribers_own_maximum_packet_size_keeps_out_is_not_owed() {
    let plan = kit::plan(
        r#"
name = "m"
protocol = "5"
[[group]]
name = "big"
publish = { topic = "m/big", qos = 1, rate = 100.0, payload = 2000 }
[[group]]
name = "little"
publish = { topic = "m/little", qos = 1, rate = 100.0, payload = 64 }
[[group]]
name = "small"
maximum_packet_size = 1000
subscribe = { filter = "m/#", qos = 1 }
[expect]
lost = 0
"#,
    );
    let mut rec = kit::record(&plan);
    for c in 0..3 {
        connect(&mut rec, c, 500_000, 10 * S, None);
    }
    publish(&mut rec, 0, 1, every(S, 10_000, 50));
    publish(&mut rec, 1, 1, every(S, 10_000, 50));
    receive(&mut rec, 2, 1, 0..50);
    let r = analyse(&plan, &rec);
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.over_max_packet_size), (50, 50, 0, 50), "{m:?}");
    assert_eq!((m.by_qos[&1].expected, m.by_qos[&1].over_max_packet_size), (50, 50));
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.verdict, Verdict::Pass);
    // Without the limit the same record loses big's 50.
    let plain = kit::plan(&plan.identity().scenario_text.replace("maximum_packet_size = 1000\n", ""));
    let r = analyse(&plain, &rec);
    assert_eq!((r.messages.lost, r.messages.over_max_packet_size), (50, 0));
}

// ---- queue_withheld ------------------------------------------------------

/// pub0 publishes to t/1 at QoS 1, MQTT 5, each message expiring after 2 s;
/// sub0 keeps its session for an hour.
fn expiring_messages() -> Plan {
    kit::plan(
        r#"
name = "t"
protocol = "5"
[[group]]
name = "pub"
publish = { topic = "t/1", qos = 1, rate = 20.0, expiry = "2s" }
[[group]]
name = "sub"
clean_session = false
session_expiry = "1h"
subscribe = { filter = "t/#", qos = 1 }
"#,
    )
}

/// pub0 sends seq k at 0.5 s + k × 50 ms (100 of them, the last at 5.45 s);
/// sub0 is up from 0.1 s, heard until 1 s when it is cut (seqs 0..=9 came),
/// and resumes its session (Session Present = 1) at `back_us`; that
/// connection ends at `ended_us` for `cause`, and nothing came on it
/// (`RxLog::backlog_never_began`) when `never_began`.
fn resumed_at(plan: &Plan, back_us: u64, ended_us: u64, cause: Option<Cause>, never_began: bool) -> RunRecord {
    let mut rec = kit::record(plan);
    connect(&mut rec, 0, 100_000, 10 * S, None);
    connect(&mut rec, 1, 100_000, S, Some(Cause::NetworkEof));
    connect(&mut rec, 1, back_us, ended_us, cause).heard_us = back_us;
    publish(&mut rec, 0, 1, every(500_000, 50_000, 100));
    receive(&mut rec, 1, 0, 0..=9);
    if never_began {
        rec.clients[1].rx.as_mut().expect("received").backlog_never_began.push(1);
    }
    rec
}

fn withheld(r: &Report) -> Vec<&crate::analysis::model::Finding> {
    r.findings.iter().filter(|f| f.kind == FindingKind::QueueWithheld).collect()
}

#[test]
fn a_resumed_session_whose_queue_never_began_while_owed_messages_is_withheld() {
    // Back at 6.01 s until the run's end at 8.5 s, nothing on it. Seqs
    // 10..=99 were sent after sub0's last trusted moment (0.95 s). Those
    // sent by 4.51 s (6.01 s less the 2 s expiry and the 0.5 s slack),
    // seqs 10..=80, had expired: 71; seqs 81..=99 were owed: 19 lost.
    let plan = expiring_messages();
    let r = analyse(&plan, &resumed_at(&plan, 6_010_000, 8_500_000, None, true));
    assert_eq!((r.messages.lost, r.messages.expired), (19, 71));
    let f = withheld(&r);
    assert_eq!(f.len(), 1, "{:#?}", r.findings);
    assert_eq!((f[0].count, f[0].client_ids.clone()), (19, vec!["sub0".to_string()]));
    assert_eq!((f[0].first_s, f[0].last_s), (6.01, 8.5));
    let e = f[0].evidence.json();
    assert_eq!(
        (e["withheld"].as_u64(), e["expired"].as_u64(), e["connection"].as_u64()),
        (Some(19), Some(71), Some(1))
    );
    assert_eq!((e["resumed_s"].as_f64(), e["ended_s"].as_f64()), (Some(6.01), Some(8.5)));
    assert_eq!(e["first_lost"]["pub0"], serde_json::json!([[81, 100]]));
    assert_eq!(e["client"], "sub0");
    assert_eq!(
        f[0].summary,
        "sub0's session resumed at 6.01 s (Session Present = 1) and nothing came on that connection in the 2.49 s to its end: 19 QoS 1 message(s) published while it was away and not past their expiry never came (71 message(s) to it expired in the run)"
    );
    // The loss is a broken QoS 1 guarantee too.
    assert!(r.findings.iter().any(|f| f.kind == FindingKind::QosViolation), "{:#?}", r.findings);
}

#[test]
fn no_queue_withheld_when_the_backlog_began_all_had_expired_or_the_connection_was_cut_soon() {
    let plan = expiring_messages();
    // The backlog began (something came on the connection): the loss is a
    // qos_violation only.
    let r = analyse(&plan, &resumed_at(&plan, 6_010_000, 8_500_000, None, false));
    assert_eq!(r.messages.lost, 19);
    assert!(withheld(&r).is_empty(), "{:#?}", r.findings);
    // Back at 8 s: all of seqs 10..=99 had expired, nothing was owed.
    let r = analyse(&plan, &resumed_at(&plan, 8 * S, 10 * S, None, true));
    assert_eq!((r.messages.lost, r.messages.expired), (0, 90));
    assert!(withheld(&r).is_empty(), "{:#?}", r.findings);
    // Cut 0.5 s after it resumed: no time to tell a withheld queue.
    let r = analyse(&plan, &resumed_at(&plan, 6_010_000, 6_510_000, Some(Cause::NetworkEof), true));
    assert_eq!(r.messages.lost, 19);
    assert!(withheld(&r).is_empty(), "{:#?}", r.findings);
    // The same short connection ended by midge at the run's end after a
    // drain that ended quiet (it waited the stall period for it): evidence.
    let mut rec = resumed_at(&plan, 6_010_000, 6_510_000, None, true);
    rec.drain.ended = DrainEnd::Quiet;
    assert_eq!(withheld(&analyse(&plan, &rec)).len(), 1);
}

#[test]
fn a_withheld_queue_of_messages_without_expiry_says_nothing_of_expiry() {
    // MQTT 3.1.1, no expiry: seqs 10..=99 were all owed and never came.
    let plan = pub_sub(false, "");
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, 100_000, 10 * S, None);
    connect(&mut rec, 1, 100_000, S, Some(Cause::NetworkEof));
    connect(&mut rec, 1, 6_010_000, 8_500_000, None).heard_us = 6_010_000;
    publish(&mut rec, 0, 1, every(500_000, 50_000, 100));
    receive(&mut rec, 1, 0, 0..=9);
    rec.clients[1].rx.as_mut().expect("received").backlog_never_began.push(1);
    let r = analyse(&plan, &rec);
    let f = withheld(&r);
    assert_eq!((f.len(), r.messages.lost), (1, 90), "{:#?}", r.findings);
    assert_eq!(f[0].evidence.json()["expired"], 0);
    assert!(f[0].summary.ends_with(": 90 QoS 1 message(s) published while it was away never came"), "{}", f[0].summary);
}
