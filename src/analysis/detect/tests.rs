//! Known answers for `explain` and every detector: records built by hand
//! (`crate::analysis::testkit`), exact counts, ids and the key facts of
//! each summary. Times are run-clock µs; `S` is one second.

use super::*;
use crate::analysis::generator::load_generator;
use crate::analysis::model::Finding;
use crate::analysis::tally::StreamTally;
use crate::analysis::testkit::{self as kit, connect, packet, refuse, twin};
use crate::plan::Plan;
use crate::record::vocab::{Cause, FindingKind, Limit};
use crate::record::LimitHit;
use crate::record::RunRecord;
use std::collections::{BTreeMap, BTreeSet};

const S: u64 = 1_000_000;

/// One group "dev" of `n` clients (ids dev0, dev1, …) that neither publish nor subscribe.
fn devs(n: u32) -> Plan {
    kit::plan(&format!("name = \"t\"\n[[group]]\nname = \"dev\"\nclients = {n}\n"))
}

/// What `explain` makes of a run: disconnects by cause, and the findings
/// of the detectors that read its output (takeovers, external takeovers,
/// outages, protocol drops, closes with no known cause, denials), in the
/// order the report lists them.
fn explained(plan: &Plan, rec: &RunRecord) -> (BTreeMap<String, u64>, Vec<Finding>) {
    let by_id = connections_by_id(plan, rec);
    let e = explain(plan, &by_id, rec);
    let log = rec.broker.log_lines.as_deref();
    let mut findings = duplicate_id_loops(plan, &e.takeovers, log);
    findings.extend(external_takeovers(plan, &e.short_lived, log));
    findings.extend(broker_unavailable(plan, rec, &e.outages));
    findings.extend(protocol_error_drops(plan, &e.protocol_drops, log));
    findings.extend(closed_by_broker(plan, &e.short_lived, &e.closed_after_packet, log));
    findings.extend(publish_denied(plan, &denied_clients(plan, log), &e.denied, &[], log));
    (kit::names(&e.by_cause), findings)
}

/// No publisher denied.
fn none() -> BTreeSet<u32> {
    BTreeSet::new()
}

fn causes(list: &[(&str, u64)]) -> BTreeMap<String, u64> {
    list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

// ---- duplicate_id_loop -------------------------------------------------

#[test]
fn a_client_and_its_twin_taking_each_other_over_three_times_is_one_loop() {
    // dev0 and its duplicate-ids twin come up in turn, each closing the
    // other (3.1.1: a bare EOF): dev0 closed at 2 s and 4 s by the twin, the
    // twin closed at 3 s by dev0 — 3 takeovers. The twin's last connection
    // ends with the fault (no cause) and dev0 stays up to the end.
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof));
    twin(&mut rec, &plan, 0, 2 * S, 3 * S, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 3 * S, 4 * S, Some(Cause::NetworkEof));
    twin(&mut rec, &plan, 0, 4 * S, 5 * S, None);
    connect(&mut rec, 0, 5_500_000, 8 * S, None);
    let (by_cause, findings) = explained(&plan, &rec);
    // Only the planned client's ends are counted: the 2 takeovers of dev0.
    assert_eq!(by_cause, causes(&[("session_taken_over", 2)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.kind, FindingKind::DuplicateIdLoop);
    assert_eq!(f.count, 3);
    assert_eq!(f.client_ids, vec!["dev0"]);
    assert_eq!((f.first_s, f.last_s), (2.0, 4.0));
    assert_eq!(
        f.evidence.json()["connections"],
        serde_json::json!(["dev0 (group dev, client 1 of 1)", "dev0 (duplicate-ids twin)"])
    );
    assert_eq!(f.evidence.json()["takeovers"][1]["closed"], "dev0 (duplicate-ids twin)");
    assert_eq!(f.evidence.json()["takeovers"][1]["by"], "dev0 (group dev, client 1 of 1)");
    assert_eq!(f.evidence.json()["period_s"], 1.0, "a takeover every second");
    assert!(f.summary.contains("used by 2 connections") && f.summary.contains("3 times"), "{}", f.summary);
}

#[test]
fn two_takeovers_are_not_yet_a_loop() {
    // The same story cut short: dev0 closed at 2 s by the twin, the twin at
    // 3 s by dev0, then peace. 2 < MIN_LOOP_CYCLES.
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof));
    twin(&mut rec, &plan, 0, 2 * S, 3 * S, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 3 * S, 8 * S, None);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(MIN_LOOP_CYCLES, 3);
    assert_eq!(by_cause, causes(&[("session_taken_over", 1)]));
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn two_planned_clients_given_one_fixed_id_are_a_loop() {
    // The scenario gives both clients of group "fx" the id "same": client 1
    // closes client 0 at 2 s, client 0 closes client 1 at 3 s, client 1
    // closes client 0 at 4 s and keeps the id — 3 takeovers, all of planned
    // clients, so all 3 counted as session_taken_over.
    let plan = kit::plan_own_ids(
        "name = \"t\"\n[[group]]\nname = \"fx\"\nclients = 2\nclient_id = { scheme = \"fixed\", id = \"same\" }\n",
    );
    assert_eq!((plan.clients[0].client_id.as_str(), plan.clients[1].client_id.as_str()), ("same", "same"));
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof));
    connect(&mut rec, 1, 2 * S, 3 * S, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 3 * S, 4 * S, Some(Cause::NetworkEof));
    connect(&mut rec, 1, 4 * S, 8 * S, None);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("session_taken_over", 3)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::DuplicateIdLoop, 3));
    assert_eq!(f.client_ids, vec!["same"]);
    assert_eq!(
        f.evidence.json()["connections"],
        serde_json::json!(["same (group fx, client 1 of 2)", "same (group fx, client 2 of 2)"])
    );
}

/// dev0 closed by the broker (bare EOF, empty flight recorder) half a
/// second after each of 3 connections; nothing else in the run uses its id.
fn closed_three_times_soon_after_connecting(plan: &Plan) -> RunRecord {
    let mut rec = kit::record(plan);
    connect(&mut rec, 0, S, 1_500_000, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 2_500_000, 3 * S, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 4 * S, 4_500_000, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 5_500_000, 10 * S, None);
    rec
}

#[test]
fn a_client_closed_again_and_again_with_the_brokers_already_connected_line_is_taken_over_from_outside() {
    // The broker's log says another connection with dev0's id came up:
    // someone outside the run holds it.
    let plan = devs(1);
    let mut rec = closed_three_times_soon_after_connecting(&plan);
    rec.broker.log_lines = Some(vec![
        "1700000001: Client dev0 already connected, closing old connection.".into(),
        "1700000001: Client dev10 already connected, closing old connection.".into(),
    ]);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 3)]), "a takeover not seen in the run stays network_eof");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::DuplicateIdLoop, 3));
    assert_eq!(f.client_ids, vec!["dev0"]);
    assert_eq!(f.evidence.json()["connections"][1], "unknown (outside this run)");
    assert_eq!(f.evidence.json()["closed_at_s"], serde_json::json!([1.5, 3.0, 4.5]));
    assert!(f.summary.contains("3 times within 5 s of connecting"), "{}", f.summary);
    assert!(f.summary.contains("already connected"), "{}", f.summary);
}

#[test]
fn a_client_closed_again_and_again_with_nothing_showing_another_holder_is_closed_by_the_broker() {
    // The same closes, and the broker's log has no "already connected" line
    // for dev0 (one for dev01, another client): nothing shows another holder
    // of the id, so no duplicate_id_loop — the finding says what is known.
    let plan = devs(1);
    let mut rec = closed_three_times_soon_after_connecting(&plan);
    rec.broker.log_lines = Some(vec![
        "1700000001: Client dev0 disconnected.".into(),
        "1700000001: Client dev01 already connected, closing old connection.".into(),
    ]);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 3)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::ClosedByBroker, 3));
    assert_eq!(f.client_ids, vec!["dev0"]);
    assert_eq!((f.first_s, f.last_s), (1.5, 4.5));
    assert_eq!(f.evidence.json()["closed_at_s"], serde_json::json!([1.5, 3.0, 4.5]));
    assert_eq!(f.evidence.json()["connected_for_s"], serde_json::json!([0.5, 0.5, 0.5]));
    assert_eq!(f.evidence.json()["broker_log"], serde_json::json!(["1700000001: Client dev0 disconnected."]));
    assert_eq!(
        f.summary,
        "dev0 (group dev, client 1 of 1): the broker closed it 3 times within 5 s of connecting and gave no reason (MQTT 3.1.1 gives no reason). No other holder of its id is known (no other connection with it in this run, no \"already connected\" in the broker's log)."
    );
}

#[test]
fn a_client_closed_only_twice_soon_after_connecting_is_not_reported() {
    // 2 < MIN_LOOP_CYCLES short-lived closes, nothing to blame: no finding.
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S, 1_500_000, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 2_500_000, 3 * S, Some(Cause::NetworkEof));
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 2)]));
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn long_lived_connections_closed_by_the_broker_are_no_takeover() {
    // The same 3 bare closes, each after 6 s of connection (> SHORT_LIVED_US).
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    for k in 0..3 {
        connect(&mut rec, 0, k * 7 * S, k * 7 * S + 6 * S, Some(Cause::NetworkEof));
    }
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 3)]));
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn takeovers_the_broker_names_with_nobody_in_the_run_to_blame_point_outside_it() {
    // MQTT 5: the broker closes dev0 with DISCONNECT 0x8E (session taken
    // over) 3 times, and no connection of this run uses its id: the usurper
    // is outside the run, and the finding must say so rather than name dev0
    // as its own usurper.
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    for k in 1..=3 {
        connect(&mut rec, 0, k * 2 * S, k * 2 * S + 500_000, Some(Cause::Disconnect(0x8E)));
    }
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("session_taken_over", 3)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::DuplicateIdLoop, 3));
    assert_eq!(
        f.evidence.json()["connections"],
        serde_json::json!(["dev0 (group dev, client 1 of 1)", "unknown (outside this run)"])
    );
    assert_eq!(f.evidence.json()["takeovers"][0]["by"], "unknown (outside this run)");
    assert!(f.summary.contains("used by 2 connections"), "{}", f.summary);
}

// ---- protocol_error_drop -----------------------------------------------

#[test]
fn an_mqtt5_disconnect_for_a_protocol_reason_is_a_protocol_error_drop() {
    // The broker sends DISCONNECT 0x95 (Packet too large) at 2 s.
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S, 2 * S, Some(Cause::Disconnect(0x95)));
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("packet_too_large", 1)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count, f.last_s), (FindingKind::ProtocolErrorDrop, 1, 2.0));
    assert_eq!(f.evidence.json()["cause"], "packet_too_large");
    assert_eq!(
        f.summary,
        "dev0 (group dev, client 1 of 1): connection dropped for a protocol reason — the broker closed it with reason packet_too_large"
    );
}

#[test]
fn a_311_close_right_after_a_publish_with_nothing_to_support_blame_is_reported_as_such() {
    // MQTT 3.1.1 gives no reason: the broker closes at 2 s, 100 ms after
    // midge sent a 200-byte PUBLISH (< CLOSE_AFTER_SEND_US), with nothing
    // received since — once, and no broker log (an external broker). That
    // is no protocol error: the close stays network_eof, and the finding
    // says it came after a PUBLISH and that nothing supports the blame.
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    let g = connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof));
    g.flight = vec![packet(1_500_000, false, 13, 2), packet(1_900_000, true, 3, 200)];
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 1)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count, f.last_s), (FindingKind::ClosedByBroker, 1, 2.0));
    assert_eq!(f.evidence.json()["cause"], "network_eof");
    assert_eq!(f.evidence.json()["closed_after_packet"], 1);
    assert_eq!(f.evidence.json()["flight_recorder"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        f.summary,
        "dev0 (group dev, client 1 of 1): the broker closed it once, 1 of them right after midge sent a packet (the last: PUBLISH of 200 bytes) — closed after PUBLISH; MQTT 3.1.1 gives no reason, and neither the broker's log nor a repeat of the close supports calling it a protocol error. No other holder of its id is known (no other connection with it in this run, no \"already connected\" in the broker's log)."
    );
}

#[test]
fn a_311_close_right_after_a_publish_that_the_brokers_log_explains_is_a_protocol_error_drop() {
    // The same close; the broker's log has a line for dev0 saying why.
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    let g = connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof));
    g.flight = vec![packet(1_500_000, false, 13, 2), packet(1_900_000, true, 3, 200)];
    rec.broker.log_lines = Some(vec!["1700000002: Client dev0 disconnected due to oversize packet.".into()]);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("protocol_error", 1)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::ProtocolErrorDrop, 1));
    assert_eq!(f.evidence.json()["cause"], "network_eof");
    assert_eq!(f.evidence.json()["broker_log"][0], "1700000002: Client dev0 disconnected due to oversize packet.");
    assert!(
        f.summary.ends_with("the broker closed it right after midge sent PUBLISH of 200 bytes (no reason given)"),
        "{}",
        f.summary
    );
}

#[test]
fn a_311_close_right_after_a_publish_repeated_on_the_same_client_is_a_protocol_error_drop() {
    // No broker log; dev0 is closed twice, each time right after a PUBLISH
    // (MIN_REPEATED_CLOSES): the repeat supports the blame. dev1 is closed
    // once after a PUBLISH and once after a SUBSCRIBE: no repeat on one
    // type, so no protocol error for it.
    let plan = devs(2);
    let mut rec = kit::record(&plan);
    for (k, t) in [(0, 3u8), (1, 3)] {
        let at = (2 + 3 * k) * S;
        connect(&mut rec, 0, at - 600_000, at, Some(Cause::NetworkReset)).flight = vec![
            packet(at - 500_000, true, 3, 60),
            packet(at - 400_000, false, 4, 4),
            packet(at - 100_000, true, t, 60),
        ];
    }
    for (k, t) in [(0u64, 3u8), (1, 8)] {
        let at = (3 + 3 * k) * S;
        connect(&mut rec, 1, at - 600_000, at, Some(Cause::NetworkReset)).flight = vec![
            packet(at - 500_000, true, 3, 60),
            packet(at - 400_000, false, 4, 4),
            packet(at - 100_000, true, t, 60),
        ];
    }
    assert_eq!(MIN_REPEATED_CLOSES, 2);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_reset", 2), ("protocol_error", 2)]));
    let kinds: Vec<_> = findings.iter().map(|f| (f.kind, f.client_ids[0].as_str(), f.count)).collect();
    assert_eq!(kinds, vec![(FindingKind::ProtocolErrorDrop, "dev0", 2), (FindingKind::ClosedByBroker, "dev1", 2)]);
    assert_eq!(findings[0].evidence.json()["drops_at_s"], serde_json::json!([2.0, 5.0]));
    assert!(
        findings[1].summary.contains("2 of them right after midge sent a packet (the last: SUBSCRIBE of 60 bytes)"),
        "{}",
        findings[1].summary
    );
}

#[test]
fn clients_of_one_group_each_closed_at_their_first_publish_support_each_other() {
    // No broker log, no reconnects: pub0 and pub1 (one group, the same
    // PUBLISH) are each closed right after the first PUBLISH of their
    // connection — CONNECT, CONNACK, PUBLISH, closed, 50 ms apart (an
    // oversize payload against an external broker looks like this). The
    // repeat across the group supports the blame. A client of another group
    // closed the same way once stays unblamed.
    let plan = kit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\nclients = 2\n[[group]]\nname = \"other\"\n");
    let mut rec = kit::record(&plan);
    for (i, at) in [(0u32, 2_000_000u64), (1, 2_050_000), (2, 4_000_000)] {
        connect(&mut rec, i, S, at, Some(Cause::NetworkReset)).flight =
            vec![packet(S - 200, true, 1, 28), packet(S, false, 2, 4), packet(at - 300, true, 3, 2040)];
    }
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_reset", 1), ("protocol_error", 2)]));
    let kinds: Vec<_> = findings.iter().map(|f| (f.kind, f.client_ids[0].as_str())).collect();
    assert_eq!(
        kinds,
        vec![
            (FindingKind::ProtocolErrorDrop, "pub0"),
            (FindingKind::ProtocolErrorDrop, "pub1"),
            (FindingKind::ClosedByBroker, "other0")
        ]
    );
}

#[test]
fn a_close_after_a_pingreq_an_answer_or_a_long_silence_is_not_blamed() {
    // Three clients, each closed with a bare EOF (at 2, 3 and 4 s: apart,
    // so no outage):
    // dev0 last sent a PINGREQ (breaks no rule);
    // dev1 sent a PUBLISH, then received its PUBACK (the broker took it);
    // dev2 sent a PUBLISH 600 ms before the close (> CLOSE_AFTER_SEND_US).
    // Each connection lived 1 s, but once is no pattern: no finding.
    let plan = devs(3);
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof)).flight =
        vec![packet(1_800_000, true, 3, 200), packet(1_900_000, true, 12, 2)];
    connect(&mut rec, 1, 2 * S, 3 * S, Some(Cause::NetworkEof)).flight =
        vec![packet(2_800_000, true, 3, 200), packet(2_850_000, false, 4, 4)];
    connect(&mut rec, 2, 3 * S, 4 * S, Some(Cause::NetworkEof)).flight = vec![packet(3_400_000, true, 3, 200)];
    assert_eq!(CLOSE_AFTER_SEND_US, 500_000);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 3)]));
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn a_close_after_a_malformed_packet_is_blamed_on_that_packet() {
    // dev0 (3.1.1) sent a malformed 300-byte PUBLISH at 1.8 s; a PUBACK came
    // back and a PINGREQ went out after it, then the broker closed at 2 s.
    // The malformed packet is blamed, not the PINGREQ.
    // dev1 (MQTT 5) did the same and the broker named the reason (0x81).
    let plan = devs(2);
    let mut rec = kit::record(&plan);
    let mut bad = packet(1_800_000, true, 3, 300);
    bad.malformed = true;
    let flight = vec![bad, packet(1_850_000, false, 4, 4), packet(1_900_000, true, 12, 2)];
    connect(&mut rec, 0, S, 2 * S, Some(Cause::NetworkEof)).flight = flight.clone();
    connect(&mut rec, 1, S, 2 * S, Some(Cause::Disconnect(0x81))).flight = flight;
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("malformed_packet", 1), ("protocol_error", 1)]));
    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert!(findings.iter().all(|f| f.kind == FindingKind::ProtocolErrorDrop));
    assert_eq!(findings[0].client_ids, vec!["dev0"]);
    assert!(
        findings[0].summary.ends_with("right after midge sent a malformed PUBLISH of 300 bytes (no reason given)"),
        "{}",
        findings[0].summary
    );
    assert_eq!(findings[0].evidence.json()["flight_recorder"][0]["malformed"], true);
    assert!(
        findings[1].summary.ends_with(
            "the broker closed it with reason malformed_packet, after midge sent a malformed PUBLISH of 300 bytes"
        ),
        "{}",
        findings[1].summary
    );
}

// ---- midge's own faults ------------------------------------------------

#[test]
fn a_close_during_a_proxy_fault_on_that_client_is_midges_own_doing() {
    // dev0 is cut by the proxy at 2 s, 3 s (a cut of every client) and 4 s,
    // and its connection seen closed 5 ms later each time, half a second
    // after it came up: fault_injected, not an outside takeover. At 6 s a
    // cut hits dev1 only; dev0's close then is the broker's.
    let plan = devs(2);
    let mut rec = kit::record(&plan);
    kit::fault_hit(&mut rec, 2 * S, 2 * S, &[0]);
    kit::fault_hit(&mut rec, 3 * S, 3 * S, &[]);
    kit::fault_hit(&mut rec, 4 * S, 4 * S, &[0]);
    kit::fault_hit(&mut rec, 6 * S, 6 * S, &[1]);
    for k in 2..=4 {
        connect(&mut rec, 0, k * S - 500_000, k * S + 5_000, Some(Cause::NetworkEof));
    }
    connect(&mut rec, 0, 4_500_000, 6_005_000, Some(Cause::NetworkEof));
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("fault_injected", 3), ("network_eof", 1)]));
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn a_close_at_a_broker_restart_is_midges_own_doing() {
    // The broker is killed at 2 s and back at 2.3 s. dev0's connection is
    // seen closed at 2.001 s: fault_injected. Its next connection closes at
    // 3.2 s, more than a second after the kill: the broker's own close.
    let plan = devs(1);
    let mut rec = kit::record(&plan);
    kit::broker_restart(&mut rec, 2 * S, 2_300_000);
    connect(&mut rec, 0, S, 2_001_000, Some(Cause::NetworkEof));
    connect(&mut rec, 0, 2_500_000, 3_200_000, Some(Cause::NetworkReset));
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("fault_injected", 1), ("network_reset", 1)]));
    assert!(findings.is_empty(), "{findings:#?}");
}

// ---- broker_unavailable ------------------------------------------------

/// `n` clients of group "dev", each connected from 1 s; client i dropped at
/// `3 s + i × 10 ms` (a bare EOF after a PUBLISH it sent, so each close
/// alone would look like a close after a packet), refused at 3.5 s, and back
/// in at `4.5 s + i × 10 ms` to the end.
fn everyone_dropped_at_3_s(plan: &Plan, n: u32) -> RunRecord {
    let mut rec = kit::record(plan);
    for i in 0..n {
        let at = 3 * S + u64::from(i) * 10_000;
        connect(&mut rec, i, S, at, Some(Cause::NetworkEof)).flight =
            vec![packet(at - 5_000, false, 4, 4), packet(at - 1_000, true, 3, 60)];
        refuse(&mut rec, i, 3_500_000, Cause::Refused);
        connect(&mut rec, i, 4_500_000 + u64::from(i) * 10_000, 10 * S, None);
    }
    rec
}

#[test]
fn many_connections_dropped_at_once_then_refused_is_one_broker_outage() {
    // 6 clients dropped within 50 ms at 3 s (< OUTAGE_WINDOW_US), each
    // refused once, all back by 4.55 s: one broker_unavailable finding, the
    // drops counted as broker_unavailable — not 6 protocol errors.
    let plan = devs(6);
    let rec = everyone_dropped_at_3_s(&plan, 6);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("broker_unavailable", 6)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::BrokerUnavailable, 6));
    assert_eq!(f.client_ids, vec!["dev0", "dev1", "dev2", "dev3", "dev4", "dev5"]);
    assert_eq!((f.first_s, f.last_s), (3.0, 3.05));
    let e = &f.evidence.json();
    assert_eq!(
        (e["window_ms"].as_u64(), e["dropped"].as_u64(), e["connected_before"].as_u64()),
        (Some(200), Some(6), Some(6))
    );
    assert_eq!(e["failed_attempts"], serde_json::json!({ "refused": 6 }));
    assert_eq!((e["first_back_s"].as_f64(), e["all_back_s"].as_f64()), (Some(1.5), Some(1.55)));
    assert_eq!(e["causes"], serde_json::json!({ "network_eof": 6 }));
    assert_eq!(
        f.summary,
        "the broker dropped 6 of the 6 connections up at 3.000 s within 200 ms, with no reason given; the first got back in 1.500 s later, all 6 within 1.550 s; 6 connection attempt(s) failed in between (refused ×6). The broker went away (or closed everyone at once): these drops are counted as broker_unavailable, not as each client's protocol error or takeover."
    );
}

#[test]
fn everyone_dropped_at_once_is_an_outage_even_when_they_get_straight_back_in() {
    // 4 clients, all dropped within 30 ms, no failed attempt (they were back
    // at 4.5 s at the first try): every connection that was up went — the
    // broker's doing, not each client's.
    let plan = devs(4);
    let mut rec = kit::record(&plan);
    for i in 0..4u32 {
        connect(&mut rec, i, S, 3 * S + u64::from(i) * 10_000, Some(Cause::NetworkReset));
        connect(&mut rec, i, 4_500_000, 10 * S, None);
    }
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("broker_unavailable", 4)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].evidence.json()["failed_attempts"], serde_json::json!({}));
}

#[test]
fn one_clients_drop_or_a_few_clients_closed_while_others_stay_up_is_no_outage() {
    // One of 6 clients dropped at 3 s and refused once: a single drop.
    let plan = devs(6);
    let mut rec = everyone_dropped_at_3_s(&plan, 1);
    for i in 1..6 {
        connect(&mut rec, i, S, 10 * S, None);
    }
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause.get("broker_unavailable"), None, "{by_cause:?}");
    assert!(findings.iter().all(|f| f.kind != FindingKind::BrokerUnavailable), "{findings:#?}");

    // 5 of 6 clients closed within 80 ms, each right after what it sent, and
    // all straight back in (no failed attempt); the sixth stays up the whole
    // time (mosquitto closing publishers for what they published looks like
    // this): not an outage.
    let mut rec = kit::record(&plan);
    for i in 0..5u32 {
        let at = 3 * S + u64::from(i) * 20_000;
        connect(&mut rec, i, S, at, Some(Cause::NetworkEof));
        connect(&mut rec, i, 4 * S, 10 * S, None);
    }
    connect(&mut rec, 5, S, 10 * S, None);
    let (by_cause, _) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 5)]));

    // The same 5 on their next try: each connects at 5 s + i × 20 ms and is
    // closed 0.3 ms later; only one of them is up when the first is closed,
    // but the sixth is up all along — not everyone up in the window dropped.
    for i in 0..5u32 {
        let at = 5 * S + u64::from(i) * 20_000;
        connect(&mut rec, i, at, at + 300, Some(Cause::NetworkReset));
    }
    let (by_cause, _) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 5), ("network_reset", 5)]));

    // 4 of 10 dropped at once and refused after: fewer than half of those up.
    let plan = devs(10);
    let mut rec = everyone_dropped_at_3_s(&plan, 4);
    for i in 4..10 {
        connect(&mut rec, i, S, 10 * S, None);
    }
    let (by_cause, _) = explained(&plan, &rec);
    assert_eq!(by_cause.get("broker_unavailable"), None, "{by_cause:?}");
}

#[test]
fn midges_own_cut_of_a_group_or_broker_restart_is_fault_injected_not_an_outage() {
    // midge's proxy cuts 4 of 6 clients at 3 s (the group "dev" is cut, say):
    // they drop at once, are refused (the proxy), come back — fault_injected.
    let plan = devs(6);
    let mut rec = everyone_dropped_at_3_s(&plan, 4);
    for i in 4..6 {
        connect(&mut rec, i, S, 10 * S, None);
    }
    kit::fault_hit(&mut rec, 3 * S, 3 * S, &[0, 1, 2, 3]);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("fault_injected", 4)]));
    assert!(findings.is_empty(), "{findings:#?}");

    // midge's restart-broker fault at 3 s: every drop is fault_injected.
    let mut rec = everyone_dropped_at_3_s(&plan, 6);
    kit::broker_restart(&mut rec, 3 * S, 3_800_000);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("fault_injected", 6)]));
    assert!(findings.is_empty(), "{findings:#?}");
}

// ---- publish_denied ----------------------------------------------------

#[test]
fn publishers_the_broker_denied_and_closed_get_a_denial_finding_not_a_duplicate_id() {
    // mosquitto 2.0.11 with an ACL denying the topic: each PUBLISH of pub0
    // and pub1 is denied (log_type debug), acknowledged, and the connection
    // closed ("Bad socket read/write"), 3 times each, a second apart, soon
    // after connecting. The subscriber stays up.
    let plan = kit::plan(
        "name = \"t\"\n[[group]]\nname = \"pub\"\nclients = 2\npublish = { topic = \"d/{i}\", qos = 1, rate = 1.0 }\n[[group]]\nname = \"sub\"\nsubscribe = { filter = \"d/#\", qos = 1 }\n",
    );
    let mut rec = kit::record(&plan);
    let mut log = Vec::new();
    for k in 0..3u64 {
        for i in 0..2u32 {
            let at = (1 + k) * S + u64::from(i) * 300_000;
            connect(&mut rec, i, at - 50_000, at, Some(Cause::NetworkEof)).flight =
                vec![packet(at - 2_000, true, 3, 54), packet(at - 1_000, false, 4, 4)];
            log.push(format!(
                "1700000000: Denied PUBLISH from pub{i} (d0, q1, r0, m{}, 'd/{i}', ... (40 bytes))",
                k + 1
            ));
            log.push(format!("1700000000: Bad socket read/write on client pub{i}: Unknown error."));
        }
    }
    connect(&mut rec, 2, 500_000, 10 * S, None);
    rec.broker.log_lines = Some(log);
    let (by_cause, findings) = explained(&plan, &rec);
    assert_eq!(by_cause, causes(&[("network_eof", 6)]));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::PublishDenied, 6));
    assert_eq!(f.client_ids, vec!["pub0", "pub1"]);
    assert_eq!((f.first_s, f.last_s), (1.0, 3.3));
    assert_eq!((f.evidence.json()["denied"].as_u64(), f.evidence.json()["closes"].as_u64()), (Some(6), Some(6)));
    let evidence = f.evidence.json();
    let quoted = evidence["broker_log"].as_array().unwrap();
    assert!(quoted[0].as_str().unwrap().contains("Denied PUBLISH from pub0"), "{quoted:?}");
    assert!(quoted.iter().any(|l| l.as_str().unwrap().contains("Bad socket read/write on client pub1")), "{quoted:?}");
    assert!(
        f.summary.starts_with("group pub: the broker denied 6 PUBLISH from 2 client(s) (its log: \"1700000000: Denied PUBLISH from pub0 (d0, q1, r0, m1, 'd/0', ... (40 bytes))\"), and it closed their connections 6 time(s)."),
        "{}",
        f.summary
    );

    // The QoS 1 loss on their streams names the denial.
    assert_eq!(denied_clients(&plan, rec.broker.log_lines.as_deref()), BTreeSet::from([0, 1]));
    let mut lost = stream(1, 3, 0);
    lost.subscriber_client = 2;
    let v = qos_violations(&plan, &[lost], 10 * S, &BTreeSet::from([0, 1]), None);
    assert!(
        v[0].summary.ends_with(
            "; the broker's log says it denied PUBLISH from 1 of these publishers (pub0; see publish_denied)"
        ),
        "{}",
        v[0].summary
    );
    assert_eq!(v[0].evidence.json()["denied_publishers"], serde_json::json!(["pub0"]));
}

// ---- auth_refused ------------------------------------------------------

#[test]
fn credentials_refused_to_four_clients_of_a_group_are_one_finding() {
    // CONNACK 5 (not authorized, 3.1.1) to each client of group "auth", at
    // 1.0, 1.1, 1.2, 1.3 s; nobody retries. Group "ok" connects.
    let plan = kit::plan("name = \"t\"\n[[group]]\nname = \"auth\"\nclients = 4\n[[group]]\nname = \"ok\"\n");
    let mut rec = kit::record(&plan);
    for i in 0..4u32 {
        refuse(&mut rec, i, S + u64::from(i) * 100_000, Cause::Connack { v5: false, code: 5 });
    }
    connect(&mut rec, 4, S, 10 * S, None);
    let findings = auth_refused(&plan, &rec);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::AuthRefused, 4));
    assert_eq!(f.client_ids, vec!["auth0", "auth1", "auth2", "auth3"]);
    assert_eq!((f.first_s, f.last_s), (1.0, 1.3));
    assert_eq!(f.evidence.json()["codes"], serde_json::json!({ "not_authorized": 4 }));
    assert_eq!(
        (f.evidence.json()["attempts"].as_u64(), f.evidence.json()["retried"].as_bool()),
        (Some(4), Some(false))
    );
    assert_eq!(
        f.summary,
        "group auth: the broker refused the credentials of 4 clients (not_authorized ×4); they did not retry. Check username_env / password_env."
    );
}

#[test]
fn credentials_refused_again_and_again_with_retry_connect_say_they_kept_retrying() {
    // retry_connect = true: each of 2 clients is refused 3 times, auth0 by
    // a 3.1.1 broker (code 5), auth1 by an MQTT 5 one (0x86) — 6 attempts.
    let plan = kit::plan("name = \"t\"\n[[group]]\nname = \"auth\"\nclients = 2\nretry_connect = true\n");
    let mut rec = kit::record(&plan);
    for k in 1..=3u64 {
        refuse(&mut rec, 0, k * S, Cause::Connack { v5: false, code: 5 });
        refuse(&mut rec, 1, k * S, Cause::Connack { v5: true, code: 0x86 });
    }
    let findings = auth_refused(&plan, &rec);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.count, 2, "counted in clients, not attempts");
    assert_eq!(f.evidence.json()["attempts"], 6);
    assert_eq!(f.evidence.json()["codes"], serde_json::json!({ "bad_username_or_password": 3, "not_authorized": 3 }));
    assert_eq!(
        f.summary,
        "group auth: the broker refused the credentials of 2 clients (bad_username_or_password ×3, not_authorized ×3); they kept retrying as the scenario asks — 6 refused attempts"
    );
}

// ---- broker_limit ------------------------------------------------------

#[test]
fn a_limit_hit_by_two_clients_of_a_group_is_one_finding_naming_both() {
    // The broker announced Maximum QoS 1; pub0 and pub2 publish at QoS 2
    // and held back. pub1 did not get that far.
    let plan = kit::plan(
        "name = \"t\"\n[[group]]\nname = \"pub\"\nclients = 3\npublish = { topic = \"t/{i}\", qos = 2, rate = 1.0 }\n",
    );
    let mut rec = kit::record(&plan);
    for i in [0, 2] {
        rec.clients[i].limits.push(LimitHit { limit: Limit::MaximumQos, announced: 1, needed: 2 });
    }
    let findings = broker_limits(&plan, &rec);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::BrokerLimit, 2));
    assert_eq!(f.client_ids, vec!["pub0", "pub2"]);
    assert_eq!(f.evidence.json()["limit"], "maximum_qos");
    assert_eq!(
        f.summary,
        "group pub (2 clients): it publishes at QoS 2 but the broker's Maximum QoS is 1: they did not publish"
    );
}

// ---- qos_violation -----------------------------------------------------

fn pub_sub() -> Plan {
    kit::plan(
        "name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"t/1\", qos = 2, rate = 1.0 }\n[[group]]\nname = \"sub\"\nsubscribe = { filter = \"t/#\", qos = 2 }\n",
    )
}

fn stream(qos: u8, lost: u64, duplicated: u64) -> StreamTally {
    StreamTally {
        publisher_client: 0,
        subscriber_client: 1,
        qos,
        expected: 100,
        received: 100 - lost,
        lost,
        duplicated,
        lost_ranges: if lost > 0 { vec![(10, 10 + lost)] } else { Vec::new() },
        ..Default::default()
    }
}

#[test]
fn qos0_loss_and_qos1_duplicates_break_no_guarantee() {
    // QoS 0 is at most once: losing 3 is loss, not a violation.
    // QoS 1 is at least once: 5 duplicates are allowed.
    let plan = pub_sub();
    assert!(qos_violations(&plan, &[stream(0, 3, 0)], 10 * S, &none(), None).is_empty());
    assert!(qos_violations(&plan, &[stream(1, 0, 5)], 10 * S, &none(), None).is_empty());
}

#[test]
fn qos1_loss_is_a_violation() {
    let plan = pub_sub();
    let findings = qos_violations(&plan, &[stream(1, 3, 0)], 10 * S, &none(), None);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::QosViolation, 3));
    assert_eq!(f.client_ids, vec!["sub0", "pub0"], "the subscriber, then its publishers");
    assert_eq!(f.evidence.json()["streams"][0]["lost_seqs"], serde_json::json!([[10, 13]]));
    assert_eq!(f.summary, "QoS 1 deliveries to sub0 broke their guarantee: 3 lost on 1 stream(s), from pub0");
}

#[test]
fn acknowledged_and_never_delivered_names_the_acl_midge_wrote() {
    let plan = pub_sub();
    // All 100 acknowledged, none delivered, the broker's config has an ACL.
    let config = "listener 1883 127.0.0.1\nacl_file /tmp/x/acl\nallow_anonymous true\n";
    let acl = acl_file_line(Some(config));
    assert_eq!(acl.as_deref(), Some("acl_file /tmp/x/acl"));
    let none_delivered = StreamTally { received: 0, lost: 100, lost_ranges: vec![(0, 100)], ..stream(1, 0, 0) };
    let f = &qos_violations(&plan, std::slice::from_ref(&none_delivered), 10 * S, &none(), acl.as_deref())[0];
    assert_eq!(
        f.summary,
        "QoS 1 deliveries to sub0 broke their guarantee: 100 lost on 1 stream(s), from pub0; nothing was ever delivered to sub0 on any stream, and midge wrote an ACL into the broker's configuration (`acl_file /tmp/x/acl`): the likely cause is that it denies these topics — mosquitto acknowledges a PUBLISH its ACL denies (3.1.1; MQTT 5 answers 0x87) and drops it, and grants a subscription its ACL denies and never delivers on it; add `log_type debug` to mosquitto_conf to see each denial in the broker's log"
    );
    let e = f.evidence.json();
    assert_eq!((e["acl_file"].as_str(), e["never_delivered"].as_bool()), (Some("acl_file /tmp/x/acl"), Some(true)));
    // A broker midge did not configure: the pattern alone, named as such.
    let f = &qos_violations(&plan, std::slice::from_ref(&none_delivered), 10 * S, &none(), None)[0];
    assert!(
        f.summary.ends_with("; everything was acknowledged and nothing ever delivered to sub0 on any stream: the pattern of an authorization denial (the topic or the subscriber's read denied) more than of loss in transit — mosquitto acknowledges a PUBLISH its ACL denies (3.1.1; MQTT 5 answers 0x87) and drops it, and grants a subscription its ACL denies and never delivers on it"),
        "{}",
        f.summary
    );
    assert_eq!(f.evidence.json().get("acl_file"), None);
    // Some delivered, no ACL: a loss, no word of a denial.
    let f = &qos_violations(&plan, &[stream(1, 3, 0)], 10 * S, &none(), None)[0];
    assert!(!f.summary.contains("denial") && f.evidence.json().get("never_delivered").is_none(), "{}", f.summary);
    assert_eq!(acl_file_line(Some("listener 1883\n")), None);
}

#[test]
fn qos2_duplicate_is_a_violation() {
    // Exactly once: one message delivered twice breaks it.
    let plan = pub_sub();
    let findings = qos_violations(&plan, &[stream(2, 0, 1)], 10 * S, &none(), None);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!((f.kind, f.count), (FindingKind::QosViolation, 1));
    assert_eq!((f.evidence.json()["duplicated"].as_u64(), f.evidence.json()["lost"].as_u64()), (Some(1), Some(0)));
    assert!(f.summary.contains("QoS 2") && f.summary.contains("1 delivered twice"), "{}", f.summary);
}

// ---- generator_saturated -----------------------------------------------

#[test]
fn a_saturated_generator_is_a_finding_and_a_healthy_one_is_not() {
    // Healthy: 1 CPU second in 10 s on 1 worker, no loop delay.
    let plan = pub_sub();
    let mut rec = kit::record(&plan);
    let g = load_generator(&plan, &rec);
    assert!(!g.saturated, "{g:?}");
    assert!(generator_saturated(&g, rec.run_end_us).is_none());
    // Saturated: 9.5 CPU seconds in 10 s on 1 worker (95% ≥ 90%).
    rec.generator.cpu_s = 9.5;
    let g = load_generator(&plan, &rec);
    assert!(g.saturated);
    let f = generator_saturated(&g, rec.run_end_us).expect("a finding");
    assert_eq!((f.kind, f.count, f.last_s), (FindingKind::GeneratorSaturated, 1, 10.0));
    assert!(f.summary.contains("midge used 95% of its 1 worker thread(s)"), "{}", f.summary);
    assert_eq!(f.evidence.json()["cpu_utilization"], 0.95);
}

// ---- listen_backlog_overflow ----------------------------------------------

/// 1,000 TCP connects: 80 quick (2 ms), 900 after the first SYN retry
/// (1,002–1,201 ms), 15 after the second (3,010 ms), 5 at 700 ms.
fn backlog_record(plan: &Plan) -> RunRecord {
    let mut rec = kit::record(plan);
    let h = &mut rec.latencies.connect_tcp;
    h.record_n(2_000, 80).unwrap();
    for i in 0..900u64 {
        h.record(1_002_000 + (i % 200) * 1_000).unwrap();
    }
    h.record_n(3_010_000, 15).unwrap();
    h.record_n(700_000, 5).unwrap();
    // dev0 connected 1.1 s after its attempt at 0.2 s; dev1 in 2 ms.
    connect(&mut rec, 0, 1_300_000, 10 * S, None).attempt_us = 200_000;
    connect(&mut rec, 1, 400_000, 10 * S, None).attempt_us = 398_000;
    rec
}

#[test]
fn connects_clustered_at_the_syn_retries_are_a_listen_backlog_overflow() {
    let plan = devs(2);
    let mut rec = backlog_record(&plan);
    rec.broker.listen_overflows = Some(913);
    let f = listen_backlog_overflow(&rec).expect("900 + 15 at the retries, 5 between");
    assert_eq!(f.kind, FindingKind::ListenBacklogOverflow);
    assert_eq!((f.count, f.first_s, f.last_s), (915, 0.2, 1.3));
    let e = f.evidence.json();
    assert_eq!(e["tcp_connects"], 1000);
    assert_eq!(e["between_bands"], 5);
    assert_eq!(e["listen_overflows"], 913);
    let bands: Vec<(u64, u64, u64, u64)> = e["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let n = |k: &str| b[k].as_u64().unwrap();
            (n("retry_s"), n("from_ms"), n("to_ms"), n("connects"))
        })
        .collect();
    assert_eq!(bands, vec![(1, 950, 1500, 900), (3, 2950, 3500, 15), (7, 6950, 7500, 0)]);
    assert!(f.summary.starts_with("915 of 1000 TCP connects waited for the kernel's SYN retry (900 at ≈1 s, 15 at ≈3 s); the kernel's TcpExtListenOverflows rose by 913 during the run: the broker's listen backlog"), "{}", f.summary);
    // Not on this machine: said so, the finding stands on the latencies.
    rec.broker.listen_overflows = None;
    let f = listen_backlog_overflow(&rec).unwrap();
    assert!(f.summary.contains("the broker is not on this machine"), "{}", f.summary);
    assert_eq!(f.evidence.json()["listen_overflows"], serde_json::Value::Null);
}

#[test]
fn connects_spread_evenly_or_all_quick_are_no_backlog_overflow() {
    let plan = devs(2);
    // A loaded machine: connects from 0.5 s to 3.5 s, evenly.
    let mut rec = kit::record(&plan);
    for i in 0..300u64 {
        rec.latencies.connect_tcp.record(500_000 + i * 10_000).unwrap();
    }
    assert!(listen_backlog_overflow(&rec).is_none());
    // Every connect quick.
    let mut rec = kit::record(&plan);
    rec.latencies.connect_tcp.record_n(1_500, 1000).unwrap();
    rec.broker.listen_overflows = Some(0);
    assert!(listen_backlog_overflow(&rec).is_none());
}

/// A packet the witness kept: a PUBLISH from publisher 0 (`seq`), read at `t_us`.
fn seen(t_us: u64, seq: u64, flags: u8) -> crate::record::wire::WirePacket {
    crate::record::wire::WirePacket {
        t_us,
        packet_type: 3,
        flags,
        pkid: 7,
        publisher: Some(0),
        seq: Some(seq),
        ..Default::default()
    }
}

/// The spec_violation findings of a run: (rule id, client, count, packets' seqs).
fn spec_findings(plan: &Plan, rec: &RunRecord) -> Vec<(String, String, u64, Vec<Option<u64>>)> {
    let report = crate::analysis::analyse(plan, rec);
    report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::SpecViolation)
        .map(|f| {
            let e = f.evidence.spec().expect("spec evidence");
            assert_eq!(e.count, f.count);
            (e.rule.id.clone(), e.client.clone(), f.count, e.packets.iter().map(|p| p.seq).collect())
        })
        .collect()
}

/// pub0 publishes 20 at QoS 1 and sends 5 again itself (DUP); sub0 (3.1.1,
/// clean session) gets 11 after 12, copies of 3, 5 and 7 without DUP, one
/// delivery at QoS 1 on a QoS 0 grant, three acks for unknown ids; its
/// second connection (a clean start) came up with Session Present = 1. A Topic Alias is
/// MQTT 5's rule only: nothing on 3.1.1.
#[test]
fn spec_violations_name_each_rule_with_its_count_and_packets() {
    use crate::record::wire::{Sighting, WirePacket};
    let plan = kit::plan(
        "name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"t/1\", qos = 1, rate = 100.0 }\n\
         [[group]]\nname = \"sub\"\nsubscribe = { filter = \"t/#\", qos = 1 }\n",
    );
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S / 2, 10 * S, None).session_present = false;
    connect(&mut rec, 1, S / 2, 3 * S, Some(Cause::NetworkEof)).session_present = false;
    connect(&mut rec, 1, 4 * S, 10 * S, None).session_present = true;
    kit::publish(&mut rec, 0, 1, kit::every(S, 10_000, 20)).resent.insert(5);
    kit::receive(&mut rec, 1, 0, (0..=10).chain([12, 11]).chain(13..20).chain([3, 5, 7]));
    let w = rec.clients[1].witness.get_or_insert_with(Default::default);
    w.sight(Sighting::Reordered, seen(2 * S, 11, 0b0010), || vec![packet(2 * S, false, 3, 60)]);
    for (i, seq) in [3, 5, 7].into_iter().enumerate() {
        w.copy(0, seq);
        w.sight(Sighting::CopyWithoutDup, seen(5 * S + i as u64, seq, 0b0010), Vec::new);
    }
    let above = WirePacket { granted: Some(0), ..seen(6 * S, 15, 0b0010) };
    w.sight(Sighting::AboveGranted, above, Vec::new);
    for t in 1..=3 {
        let ack = WirePacket { t_us: 7 * S + t, packet_type: 4, pkid: 60_000 + t as u16, ..Default::default() };
        w.sight(Sighting::UnknownAck, ack, Vec::new);
    }
    w.sight(Sighting::TopicAlias, seen(8 * S, 16, 0b0010), Vec::new);
    let connack = WirePacket { t_us: 4 * S, connection: 1, packet_type: 2, ..Default::default() };
    w.sight(Sighting::SessionPresent, connack, Vec::new);
    let sub = "sub0".to_string();
    assert_eq!(
        spec_findings(&plan, &rec),
        vec![
            ("MQTT-4.6.0-6".to_string(), sub.clone(), 1, vec![Some(11)]),
            ("MQTT-3.3.1-1".to_string(), sub.clone(), 2, vec![Some(3), Some(7)]),
            ("MQTT-3.8.4-6".to_string(), sub.clone(), 1, vec![Some(15)]),
            ("MQTT-2.3.1-6".to_string(), sub.clone(), 3, vec![None, None, None]),
            ("MQTT-3.2.2-1".to_string(), sub.clone(), 1, vec![None]),
        ]
    );
    let report = crate::analysis::analyse(&plan, &rec);
    let order = report.findings.iter().find(|f| f.kind == FindingKind::SpecViolation).unwrap();
    let e = order.evidence.spec().unwrap();
    assert_eq!((e.rule.name.as_str(), e.rule.protocol.as_str()), ("topic_order", "3.1.1"));
    assert_eq!(e.packets[0].topic.as_deref(), Some("t/1"));
    assert_eq!(e.packets[0].publisher.as_deref(), Some("pub0"));
    assert_eq!((e.packets[0].qos, e.packets[0].dup, e.packets[0].t_s), (1, false, 2.0));
    assert_eq!(e.flight_recorder.len(), 1);
    assert_eq!(order.client_ids, vec!["sub0".to_string(), "pub0".to_string()]);
}

/// A clean run — a resume with redeliveries (DUP = 1: never sighted), a
/// publisher's own resend delivered again, Session Present = 1 on a
/// persistent session's resume — breaks no rule.
#[test]
fn a_clean_run_with_resumes_and_own_resends_breaks_no_rule() {
    let plan = kit::plan(
        "name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"t/1\", qos = 1, rate = 100.0 }\n\
         [[group]]\nname = \"sub\"\nclean_session = false\nsubscribe = { filter = \"t/#\", qos = 1 }\n",
    );
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S / 2, 10 * S, None).session_present = false;
    connect(&mut rec, 1, S / 2, 3 * S, Some(Cause::NetworkEof)).session_present = false;
    connect(&mut rec, 1, 4 * S, 10 * S, None);
    kit::publish(&mut rec, 0, 1, kit::every(S, 10_000, 20)).resent.insert_range(8, 10);
    kit::receive(&mut rec, 1, 0, (0..10).chain([8, 9]).chain(10..20));
    let w = rec.clients[1].witness.get_or_insert_with(Default::default);
    w.copy(0, 8);
    w.copy(0, 9);
    assert_eq!(spec_findings(&plan, &rec), vec![]);
}

/// MQTT 5: the rules 3.1.1 does not have, under their 5.0 ids; the limits
/// midge did not announce (no Receive Maximum, no Maximum Packet Size)
/// cannot be broken however much came in flight.
#[test]
fn mqtt5_spec_violations_take_their_5_0_ids() {
    use crate::record::wire::Sighting;
    let plan = kit::plan(
        "name = \"t\"\nprotocol = \"5\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"t/1\", qos = 2, rate = 100.0, expiry = \"5s\" }\n\
         [[group]]\nname = \"sub\"\nsubscribe = { filter = \"t/#\", qos = 2 }\n",
    );
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S / 2, 10 * S, None).session_present = false;
    connect(&mut rec, 1, S / 2, 10 * S, None).session_present = false;
    kit::publish(&mut rec, 0, 2, kit::every(S, 10_000, 20));
    kit::receive(&mut rec, 1, 0, 0..20);
    (rec.clients[1].max_inbound_inflight, rec.clients[1].max_inbound_packet) = (60_000, 1 << 20);
    let w = rec.clients[1].witness.get_or_insert_with(Default::default);
    for (what, n) in [
        (Sighting::PacketIdReused, 2),
        (Sighting::RetainOnLive, 1),
        (Sighting::ExpiryNotDecremented, 3),
        (Sighting::DeliveredExpired, 1),
        (Sighting::TopicAlias, 1),
    ] {
        for i in 0..n {
            w.sight(what, seen(2 * S + i, i, 0b0100), Vec::new);
        }
    }
    let got: Vec<(String, u64)> = spec_findings(&plan, &rec).into_iter().map(|(id, _, n, _)| (id, n)).collect();
    let want =
        [("MQTT-2.2.1-4", 2), ("MQTT-3.3.1-12", 1), ("MQTT-3.3.2-6", 3), ("MQTT-3.3.2-5", 1), ("MQTT-3.1.2-27", 1)];
    assert_eq!(got, want.map(|(id, n)| (id.to_string(), n)));
}

/// The group's MQTT 5 keys are what the client announced and asked
/// (`Announced::of`): Receive Maximum 5 with 7 PUBLISHes sighted above it
/// (6 to 12 in flight, the peak 12 at 2.6 s) is 7 breaches; a 2,000-byte
/// packet above a Maximum Packet Size of 1,024 is one; 3 retained replays
/// under retain handling "never"; 4 of its own messages back under
/// no_local; RETAIN on 2 live deliveries is no breach under
/// retain_as_published. Each finding shows its packets and spans the time
/// of its first to its last. The same record from a group without those
/// keys (nothing announced, no option asked) shows only the RETAIN on live
/// deliveries.
#[test]
fn announced_limits_and_subscription_options_are_the_groups_keys() {
    use crate::record::wire::{Sighting, WirePacket};
    let text = |keys: bool| {
        let (limits, options) = match keys {
            true => (
                "receive_maximum = 5\nmaximum_packet_size = 1024\n",
                ", no_local = true, retain_as_published = true, retain_handling = \"never\"",
            ),
            false => ("", ""),
        };
        format!(
            "name = \"t\"\nprotocol = \"5\"\n[[group]]\nname = \"echo\"\n{limits}\
             publish = {{ topic = \"t/1\", qos = 1, rate = 10.0 }}\n\
             subscribe = {{ filter = \"t/#\", qos = 1{options} }}\n"
        )
    };
    let record = |plan: &Plan| {
        let mut rec = kit::record(plan);
        connect(&mut rec, 0, S / 2, 10 * S, None).session_present = false;
        kit::publish(&mut rec, 0, 1, kit::every(S, 100_000, 10));
        kit::receive(&mut rec, 0, 0, 0..4);
        let c = &mut rec.clients[0];
        (c.max_inbound_inflight, c.max_inbound_packet) = (12, 2_000);
        c.rx.as_deref_mut().unwrap().retained_replays = 3;
        let w = c.witness.get_or_insert_with(Default::default);
        for i in 0..2 {
            w.sight(Sighting::RetainOnLive, seen(2 * S + i, i, 0b0011), Vec::new);
        }
        // 6, 7, …, 12 in flight: a PUBLISH every 100 ms from 2 s.
        for (k, n) in (6..=12u32).enumerate() {
            let t = 2 * S + k as u64 * S / 10;
            let p = WirePacket { in_flight: Some(n), ..seen(t, k as u64, 0b0010) };
            w.sight(Sighting::AboveReceiveMaximum, p, Vec::new);
            w.in_flight(n, t);
        }
        let big = WirePacket { size: Some(2_000), ..seen(3 * S, 9, 0b0010) };
        w.sight(Sighting::AboveMaximumPacketSize, big, Vec::new);
        for i in 0..3 {
            w.sight(Sighting::ReplayUnasked, seen(S + i * S / 10, 0, 0b0011), Vec::new);
        }
        for i in 0..4 {
            w.sight(Sighting::OwnMessage, seen(4 * S + i * S, i, 0b0010), Vec::new);
        }
        rec
    };
    let plan = kit::plan(&text(true));
    let rec = record(&plan);
    let got: Vec<(String, u64, Vec<Option<u64>>)> =
        spec_findings(&plan, &rec).into_iter().map(|(id, _, n, seqs)| (id, n, seqs)).collect();
    let want = [
        ("MQTT-3.3.4-9", 7, vec![0, 1, 2, 3]),
        ("MQTT-3.1.2-24", 1, vec![9]),
        ("MQTT-3.3.1-11", 3, vec![0, 0, 0]),
        ("MQTT-3.8.3-3", 4, vec![0, 1, 2, 3]),
    ];
    assert_eq!(got, want.map(|(id, n, seqs)| (id.to_string(), n, seqs.into_iter().map(Some).collect())));
    let report = crate::analysis::analyse(&plan, &rec);
    let spec: Vec<&crate::analysis::model::Finding> =
        report.findings.iter().filter(|f| f.kind == FindingKind::SpecViolation).collect();
    let words: Vec<(&str, f64, f64)> = spec.iter().map(|f| (f.summary.as_str(), f.first_s, f.last_s)).collect();
    assert_eq!(
        words,
        vec![
            (
                "[MQTT-3.3.4-9] 12 QoS>0 PUBLISHes in flight toward echo0 at 2.60 s, above the Receive Maximum \
                 of 5 it announced (exceeded 7 times: PUBLISHes received with 5 already in flight)",
                2.0,
                2.6
            ),
            (
                "[MQTT-3.1.2-24] a 2000-byte PUBLISH sent to echo0 at 3.00 s, above the Maximum Packet Size of \
                 1024 bytes it announced (1 packet(s) above it, the largest 2000 bytes)",
                3.0,
                3.0
            ),
            (
                "[MQTT-3.3.1-11] broken 3 time(s) toward echo0: retain handling 2: no retained messages sent on \
                 subscribe",
                1.0,
                1.2
            ),
            (
                "[MQTT-3.8.3-3] broken 4 time(s) toward echo0: no local: a client's own messages are not \
                 forwarded back to it",
                4.0,
                7.0
            ),
        ]
    );
    let rm = spec[0].evidence.spec().unwrap();
    assert_eq!((rm.announced_limit, rm.peak_in_flight, rm.peak_s), (Some(5), Some(12), Some(2.6)));
    assert_eq!(rm.packets.iter().map(|p| p.in_flight).collect::<Vec<_>>(), [6, 7, 8, 9].map(Some));
    let size = spec[1].evidence.spec().unwrap();
    assert_eq!((size.announced_limit, size.packets[0].size, size.peak_in_flight), (Some(1024), Some(2000), None));
    let plan = kit::plan(&text(false));
    let got: Vec<(String, u64)> =
        spec_findings(&plan, &record(&plan)).into_iter().map(|(id, _, n, _)| (id, n)).collect();
    assert_eq!(got, vec![("MQTT-3.3.1-12".to_string(), 2)]);
}

/// Retain handling 1 (send retained only for a new subscription): a
/// replay on a new subscription is owed; one on a connection that resumed
/// its session and subscribed again (the subscription existed) broke it.
#[test]
fn retain_handling_1_blames_only_replays_on_subscriptions_that_existed() {
    let text = "name = \"t\"\nprotocol = \"5\"\n[[group]]\nname = \"s\"\nclean_session = false\n\
                session_expiry = \"60s\"\nsubscribe = { filter = \"t/#\", qos = 1, retain_handling = 1 }\n";
    let plan = kit::plan(text);
    // (session present, retained replays) of each connection, all subscribed.
    let record = |connections: &[(bool, u64)]| {
        let mut rec = kit::record(&plan);
        let (mut total, mut existing) = (0, 0);
        for (k, &(resumed, replays)) in connections.iter().enumerate() {
            let g = connect(&mut rec, 0, (k as u64 * 2 + 1) * S, (k as u64 * 2 + 2) * S, None);
            (g.session_present, g.suback_code) = (resumed, Some(1));
            total += replays;
            existing += if resumed { replays } else { 0 };
        }
        let rx = rec.clients[0].rx.get_or_insert_with(Default::default);
        (rx.retained_replays, rx.replays_on_existing) = (total, existing);
        rec
    };
    let ids = |rec: &RunRecord| -> Vec<(String, u64)> {
        spec_findings(&plan, rec).into_iter().map(|(id, _, n, _)| (id, n)).collect()
    };
    assert_eq!(ids(&record(&[(false, 1), (true, 0)])), vec![], "the new subscription's replay is owed");
    assert_eq!(ids(&record(&[(false, 1), (true, 2)])), vec![("MQTT-3.3.1-10".to_string(), 2)]);
    assert_eq!(ids(&record(&[(false, 3)])), vec![], "a clean connection's subscription is new");
}

/// A record from before the client sighted these rules (no witness): the
/// record's own figures still judge them — Receive Maximum by its peak (12
/// above 5: at least once), Maximum Packet Size by the largest packet in,
/// retain handling 2 by the replays counted, no local by the own stream's
/// 4 receipts — so re-analysing an older run keeps its findings.
#[test]
fn a_record_without_a_witness_is_judged_by_its_own_figures() {
    let plan = kit::plan(
        "name = \"t\"\nprotocol = \"5\"\n[[group]]\nname = \"echo\"\nreceive_maximum = 5\nmaximum_packet_size = 1024\n\
         publish = { topic = \"t/1\", qos = 1, rate = 10.0 }\n\
         subscribe = { filter = \"t/#\", qos = 1, no_local = true, retain_handling = \"never\" }\n",
    );
    let mut rec = kit::record(&plan);
    connect(&mut rec, 0, S / 2, 10 * S, None).session_present = false;
    kit::publish(&mut rec, 0, 1, kit::every(S, 100_000, 10));
    kit::receive(&mut rec, 0, 0, 0..4);
    let c = &mut rec.clients[0];
    (c.max_inbound_inflight, c.max_inbound_packet) = (12, 2_000);
    c.rx.as_deref_mut().unwrap().retained_replays = 3;
    let got: Vec<(String, u64)> = spec_findings(&plan, &rec).into_iter().map(|(id, _, n, _)| (id, n)).collect();
    let want = [("MQTT-3.3.4-9", 1), ("MQTT-3.1.2-24", 1), ("MQTT-3.3.1-11", 3), ("MQTT-3.8.3-3", 4)];
    assert_eq!(got, want.map(|(id, n)| (id.to_string(), n)));
}
