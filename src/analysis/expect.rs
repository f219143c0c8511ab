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
//! `shows <kind> findings` (at least one) per `[expect] shows`. A scenario
//! with `shows` is a bug reproduction: the QoS contract does not stand in
//! for what it leaves unset (it is there to see the contract broken), so it
//! passes exactly when it shows what it says, within what it sets.

use crate::analysis::model::{Comparison, ExpectationResult, LimitUnit, Report};
use crate::record::vocab::{Cause, FindingKind};
use crate::scenario::Expect;

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
    for kind in &expect.shows {
        let n = r.findings.iter().filter(|f| f.kind == *kind).count() as u64;
        out.push(ExpectationResult {
            name: format!("shows {kind} findings"),
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
