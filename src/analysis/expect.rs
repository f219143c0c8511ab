//! Expectations: the scenario's `[expect]` checked against the report.
//! Without an explicit `connect_failures`, every planned client must connect.
//!
//! What is checked: `connect_failures` always (at most 0 unless set), and when
//! set `lost`, `duplicated`, `out_of_order`, `received_min`, `connect_p99`,
//! `e2e_p99`, `ack_p99` (a latency with no samples fails), and
//! `no <kind> findings` per `[expect] findings`.

use crate::analysis::model::{Comparison, ExpectationResult, LimitUnit, Report};
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
    }
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
    }
}

pub fn evaluate(expect: &Expect, r: &Report) -> Vec<ExpectationResult> {
    let mut out = Vec::new();
    let m = &r.messages;
    let failures: u64 = r.clients.connect_failures.values().sum();
    out.push(max_check("connect_failures", expect.connect_failures.unwrap_or(0), failures));
    if let Some(t) = expect.lost {
        out.push(max_check("lost", t, m.lost));
    }
    if let Some(t) = expect.duplicated {
        out.push(max_check("duplicated", t, m.duplicated));
    }
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
    out
}
