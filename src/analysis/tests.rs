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
use crate::record::vocab::{Cause, FindingKind, LossWindow, Verdict};
use crate::record::RunRecord;

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
    let v: Vec<u64> = LossWindow::ALL.iter().map(|w| r.messages.lost_by_window[w.name()]).collect();
    v.try_into().expect("four windows")
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
    assert_eq!(r.verdict, Verdict::Pass, "no expectation on loss: {:?}", r.expectations);
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
    assert_eq!(r.disconnects.by_cause, [("network_eof".to_string(), 1)].into());
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
    assert_eq!(r.disconnects.by_cause, [("fault_injected".to_string(), 2)].into());
}

// ---- expectations and verdict ------------------------------------------

#[test]
fn lost_0_fails_when_one_message_is_lost() {
    let plan = pub_sub(true, "lost = 0");
    let r = analyse(&plan, &steady_loss_of_one(&plan));
    let names: Vec<&str> = r.expectations.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, vec!["connect_failures", "lost"]);
    let lost = &r.expectations[1];
    assert_eq!((lost.pass, lost.observed.as_u64(), lost.limit, lost.op.as_str()), (false, Some(1), 0, "<="));
    assert!(r.expectations[0].pass, "every client connected");
    assert_eq!(r.verdict, Verdict::Fail);
    // lost = 1 holds.
    let plan = pub_sub(true, "lost = 1");
    assert_eq!(analyse(&plan, &steady_loss_of_one(&plan)).verdict, Verdict::Pass);
}

#[test]
fn a_latency_expectation_without_samples_fails_with_nothing_observed() {
    // No end-to-end latency was recorded: no evidence that it held.
    let plan = pub_sub(true, "e2e_p99 = \"50ms\"");
    let mut rec = steady_loss_of_one(&plan);
    let r = analyse(&plan, &rec);
    let e = r.expectations.iter().find(|e| e.name == "e2e_p99").expect("e2e_p99 checked");
    assert_eq!((e.pass, &e.observed, e.limit, e.unit.as_str()), (false, &serde_json::Value::Null, 50_000, "us"));
    assert_eq!(r.verdict, Verdict::Fail);
    // With samples of 1 ms it holds.
    for _ in 0..10 {
        rec.latencies.e2e.record(1_000).unwrap();
    }
    let r = analyse(&plan, &rec);
    let e = r.expectations.iter().find(|e| e.name == "e2e_p99").expect("e2e_p99 checked");
    assert_eq!((e.pass, e.observed.as_u64()), (true, Some(1_000)));
    assert_eq!(r.verdict, Verdict::Pass);
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
    assert_eq!((e.pass, e.observed.as_u64()), (false, Some(1)));
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.disconnects.by_cause, [("session_taken_over".to_string(), 2)].into());
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
    rec.counters.connect_failures.insert("refused".into(), 2);
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
    assert_eq!(first.disconnects.by_cause, [("protocol_error".to_string(), 1)].into());
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
