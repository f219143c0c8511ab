//! Expectations: the scenario's `[expect]` checked against the report.
//!
//! What is not set there, the QoS contract stands in for (`default: true`
//! in report.json): every planned client connects (`connect_failures`), no
//! QoS 1/2 message is lost (`qos1_qos2_lost`, unless `lost` is set), no
//! QoS 2 message comes twice (`qos2_duplicated`, unless `duplicated` is
//! set), and the broker commits no protocol violation (`protocol_violations`:
//! connections midge closed because the broker sent a malformed packet or
//! one a server must not send, plus the breaches of the `spec_violation`
//! findings). QoS 0 loss is reported, not judged, unless
//! `lost` is set.
//!
//! What is set is checked as asked: `lost`, `duplicated`, `out_of_order`,
//! `received_min`, `connect_p99`, `e2e_p99`, `ack_p99` (a latency with no
//! samples fails), `no <kind> findings` per `[expect] findings`, and
//! `shows <kind> findings` (at least one) per `[expect] shows`, or `shows
//! spec_violation [<rule id>] findings` for an entry naming a rule (only
//! that rule's spec_violation findings count). A scenario
//! with `shows` is a bug reproduction: the QoS contract does not stand in
//! for what it leaves unset (it is there to see the contract broken), so it
//! passes exactly when it shows what it says, within what it sets.

use crate::analysis::evidence::Evidence;
use crate::analysis::model::{Comparison, ExpectationResult, Finding, LimitUnit, Report};
use crate::mqtt::protocol::ProtocolVersion;
use crate::mqtt::rules::Rule;
use crate::record::vocab::{Cause, FindingKind};
use crate::scenario::{Expect, Shown};

fn max_check(name: &str, threshold: u64, observed: u64) -> ExpectationResult {
    ExpectationResult {
        name: name.to_string(),
        threshold: format!("<= {threshold}"),
        observed: Some(observed),
        pass: observed <= threshold,
        op: Comparison::AtMost,
        limit: threshold,
        unit: LimitUnit::Count,
        default: false,
    }
}

/// The scenario's threshold when it set one, else the QoS contract's (0),
/// marked as the default.
fn max_or_default(name: &str, set: Option<u64>, observed: u64) -> ExpectationResult {
    ExpectationResult { default: set.is_none(), ..max_check(name, set.unwrap_or(0), observed) }
}

fn latency_check(name: &str, threshold_us: u64, observed_us: u64, count: u64) -> ExpectationResult {
    ExpectationResult {
        name: name.to_string(),
        threshold: format!("<= {threshold_us} us"),
        observed: (count > 0).then_some(observed_us),
        // No samples is no evidence that the latency held.
        pass: count > 0 && observed_us <= threshold_us,
        op: Comparison::AtMost,
        limit: threshold_us,
        unit: LimitUnit::Us,
        default: false,
    }
}

/// The broker's protocol violations: the connections midge closed because
/// the broker broke the protocol (a packet that could not be decoded, or
/// one a server must not send), plus every `spec_violation` finding's
/// count (a rule broken toward a client, seen on the wire, the connection
/// kept).
pub fn protocol_violations(r: &Report) -> u64 {
    let closed: u64 = r
        .disconnects
        .by_cause
        .iter()
        .filter(|(c, _)| matches!(c, Cause::MalformedPacketFromBroker | Cause::ProtocolErrorFromBroker))
        .map(|(_, n)| n)
        .sum();
    let breaches: u64 = r.findings.iter().filter(|f| f.kind == FindingKind::SpecViolation).map(|f| f.count).sum();
    closed + breaches
}

/// Whether finding `f` is one `shown` asks for: its kind, and when it
/// names a rule, a spec_violation of that rule.
fn shows(f: &Finding, shown: &Shown) -> bool {
    f.kind == shown.kind
        && match (shown.rule, &f.evidence) {
            (None, _) => true,
            (Some(rule), Evidence::Spec(e)) => Rule::from_word(&e.rule.name) == Some(rule),
            (Some(_), _) => false,
        }
}

/// "shows spec_violation [MQTT-3.3.4-9] findings": the rule by its id in
/// the run's protocol (the first group's, as report.json's `scenario.protocol`).
fn shows_name(shown: &Shown, r: &Report) -> String {
    let Some(rule) = shown.rule else { return format!("shows {} findings", shown.kind) };
    let protocol =
        if r.scenario.protocol == ProtocolVersion::V5.as_str() { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
    let id = rule.id(protocol).or(rule.id(ProtocolVersion::V5)).unwrap_or_default();
    format!("shows {} [{id}] findings", shown.kind)
}

pub fn evaluate(expect: &Expect, r: &Report) -> Vec<ExpectationResult> {
    let mut out = Vec::new();
    let m = &r.messages;
    let by_qos = |q: u8| m.by_qos.get(&q).copied().unwrap_or_default();
    let failures: u64 = r.clients.connect_failures.values().sum();
    // A bug reproduction (`shows`) is judged by what it shows and what it
    // sets, not by the QoS contract it is there to see broken.
    let contract = expect.shows.is_empty();
    let mut max_or_contract = |name: &str, set: Option<u64>, observed: u64| {
        if contract || set.is_some() {
            out.push(max_or_default(name, set, observed));
        }
    };
    max_or_contract("connect_failures", expect.connect_failures, failures);
    match expect.lost {
        Some(t) => max_or_contract("lost", Some(t), m.lost),
        None => max_or_contract("qos1_qos2_lost", None, by_qos(1).lost + by_qos(2).lost),
    }
    match expect.duplicated {
        Some(t) => max_or_contract("duplicated", Some(t), m.duplicated),
        None => max_or_contract("qos2_duplicated", None, by_qos(2).duplicated),
    }
    max_or_contract("protocol_violations", expect.protocol_violations, protocol_violations(r));
    if let Some(t) = expect.out_of_order {
        out.push(max_check("out_of_order", t, m.out_of_order));
    }
    if let Some(t) = expect.received_min {
        out.push(ExpectationResult {
            name: "received_min".into(),
            threshold: format!(">= {t}"),
            observed: Some(m.received),
            pass: m.received >= t,
            op: Comparison::AtLeast,
            limit: t,
            unit: LimitUnit::Count,
            default: false,
        });
    }
    let l = &r.latency;
    if let Some(d) = expect.connect_p99 {
        out.push(latency_check("connect_p99", d.0.as_micros() as u64, l.connect.p99_us, l.connect.count));
    }
    if let Some(d) = expect.e2e_p99 {
        out.push(latency_check("e2e_p99", d.0.as_micros() as u64, l.e2e.p99_us, l.e2e.count));
    }
    if let Some(d) = expect.ack_p99 {
        out.push(latency_check("ack_p99", d.0.as_micros() as u64, l.ack.p99_us, l.ack.count));
    }
    for kind in &expect.findings {
        let n = r.findings.iter().filter(|f| f.kind == *kind).count() as u64;
        out.push(max_check(&format!("no {kind} findings"), 0, n));
    }
    for shown in &expect.shows {
        let n = r.findings.iter().filter(|f| shows(f, shown)).count() as u64;
        out.push(ExpectationResult {
            name: shows_name(shown, r),
            threshold: ">= 1".into(),
            observed: Some(n),
            pass: n >= 1,
            op: Comparison::AtLeast,
            limit: 1,
            unit: LimitUnit::Count,
            default: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::evidence::SpecEvidence;
    use crate::analysis::testkit as kit;

    fn spec(rule: Rule, protocol: ProtocolVersion, count: u64) -> Finding {
        Finding {
            kind: FindingKind::SpecViolation,
            summary: String::new(),
            client_ids: vec!["sub0".into()],
            count,
            first_s: 1.0,
            last_s: 2.0,
            // As report.json holds it (fields the judgement does not read left out).
            evidence: Evidence::Spec(
                serde_json::from_value::<SpecEvidence>(serde_json::json!({
                    "client": "sub0", "count": count, "flight_recorder": [], "packets": [],
                    "rule": {
                        "id": rule.id(protocol).unwrap_or_default(), "name": rule.name(),
                        "protocol": protocol.as_str(), "title": rule.title(),
                    },
                }))
                .unwrap(),
            ),
        }
    }

    /// (name, observed, pass) of every `shows` expectation of `shows` over
    /// a report of a run with no findings but `findings`.
    fn judged(protocol: &str, shows: &str, findings: Vec<Finding>) -> Vec<(String, Option<u64>, bool)> {
        let text = format!(
            "name = \"t\"\nprotocol = \"{protocol}\"\n[[group]]\nname = \"sub\"\n[expect]\nshows = [{shows}]\n"
        );
        let plan = kit::plan(&text);
        let mut r = crate::analysis::analyse(&plan, &kit::record(&plan));
        r.findings = findings;
        evaluate(&plan.expect, &r).into_iter().map(|e| (e.name, e.observed, e.pass)).collect()
    }

    #[test]
    fn a_shown_rule_counts_only_that_rules_spec_violations() {
        let v5 = ProtocolVersion::V5;
        let found = vec![spec(Rule::TopicOrder, v5, 68), spec(Rule::TopicOrder, v5, 3), spec(Rule::NoLocal, v5, 2)];
        let shows = "\"spec_violation:MQTT-3.3.4-9\", \"spec_violation:topic_order\", \"spec_violation\"";
        assert_eq!(
            judged("5", shows, found),
            [
                ("shows spec_violation [MQTT-3.3.4-9] findings".to_string(), Some(0), false),
                ("shows spec_violation [MQTT-4.6.0-6] findings".to_string(), Some(2), true),
                ("shows spec_violation findings".to_string(), Some(3), true),
            ]
        );
        // A rule named by its 5.0 id is the same rule on 3.1.1, and named by 3.1.1's id there.
        let found = vec![spec(Rule::QosAboveGranted, ProtocolVersion::V311, 1)];
        let named = judged("3.1.1", "\"spec_violation:MQTT-3.8.4-8\"", found);
        assert_eq!(named, [("shows spec_violation [MQTT-3.8.4-6] findings".to_string(), Some(1), true)]);
        // Another kind never counts for a rule.
        let mut loss = spec(Rule::TopicOrder, v5, 1);
        loss.kind = FindingKind::QosViolation;
        let judged_loss = judged("5", "\"spec_violation:topic_order\"", vec![loss]);
        assert_eq!(judged_loss, [("shows spec_violation [MQTT-4.6.0-6] findings".to_string(), Some(0), false)]);
    }
}
