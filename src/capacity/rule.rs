//! The pass rule of a capacity step (`[capacity.pass]`), a pure function of
//! the step's report: every rule set must hold; a step at which midge was
//! saturated is invalid, never a fail the broker is blamed for.

use super::search::Outcome;
use crate::analysis::model::Report;
use crate::scenario::CapacityPass;

/// A step judged: its outcome and, in words, the rules that failed (or why
/// it was not judged).
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub outcome: Outcome,
    pub why: Vec<String>,
}

fn ms(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

/// delivered / offered (1 when nothing was offered).
pub fn delivered_ratio(r: &Report) -> f64 {
    let offered = r.messages.expected;
    if offered == 0 {
        1.0
    } else {
        r.messages.received as f64 / offered as f64
    }
}

/// Judges one step's report by the pass rule.
pub fn judge(pass: &CapacityPass, r: &Report) -> Judged {
    if r.interrupted {
        let by = r.stop_signal.map(|s| format!(" by {s}")).unwrap_or_default();
        return Judged { outcome: Outcome::Invalid, why: vec![format!("interrupted{by}")] };
    }
    if r.load_generator.saturated {
        return Judged {
            outcome: Outcome::Invalid,
            why: vec![format!("midge was saturated ({})", r.load_generator.reasons.join("; "))],
        };
    }
    let mut why = Vec::new();
    if let Some(e) = &r.error {
        why.push(format!("the run failed: {e}"));
    }
    if let Some(min) = pass.delivered_ratio {
        let ratio = delivered_ratio(r);
        if ratio < min {
            why.push(format!(
                "delivered {} of {} offered ({:.2}% < {:.2}%)",
                r.messages.received,
                r.messages.expected,
                ratio * 100.0,
                min * 100.0
            ));
        }
    }
    if let Some(max) = pass.lost {
        if r.messages.lost > max {
            why.push(format!("lost {} > {max}", r.messages.lost));
        }
    }
    if let Some(max) = pass.connect_failures {
        let failures: u64 = r.clients.connect_failures.values().sum();
        if failures > max {
            let causes: Vec<String> = r.clients.connect_failures.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            why.push(format!("connect failures {failures} > {max} ({})", causes.join(", ")));
        }
    }
    let latency = |name: &str, limit: Option<crate::scenario::Dur>, l: &crate::analysis::model::LatencySummary| {
        let limit = limit?;
        let limit_us = limit.0.as_micros() as u64;
        if l.count == 0 {
            Some(format!("{name} p99: no samples"))
        } else if l.p99_us > limit_us {
            Some(format!("{name} p99 {} > {}", ms(l.p99_us), ms(limit_us)))
        } else {
            None
        }
    };
    why.extend(latency("e2e", pass.e2e_p99, &r.latency.e2e));
    why.extend(latency("connect", pass.connect_p99, &r.latency.connect));
    for kind in &pass.findings {
        let n: u64 = r.findings.iter().filter(|f| f.kind == *kind).map(|f| f.count.max(1)).sum();
        if n > 0 {
            why.push(format!("finding {kind} ({n})"));
        }
    }
    let outcome = if why.is_empty() { Outcome::Pass } else { Outcome::Fail };
    Judged { outcome, why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::Finding;
    use crate::analysis::testkit;
    use crate::record::vocab::FindingKind;
    use crate::scenario::Dur;
    use std::time::Duration;

    const SCENARIO: &str = r#"
name = "t"
[[group]]
name = "pub"
publish = { topic = "a/{i}", qos = 1, rate = 10.0 }
[[group]]
name = "sub"
subscribe = { filter = "a/+", qos = 1 }
"#;

    /// A report that passes every rule below: 1000 offered, 1000 delivered.
    fn report() -> Report {
        let plan = testkit::plan(SCENARIO);
        let mut r = crate::analysis::analyse(&plan, &testkit::record(&plan));
        r.error = None;
        r.messages.expected = 1000;
        r.messages.received = 1000;
        r.latency.e2e.count = 1000;
        r.latency.e2e.p99_us = 20_000;
        r.latency.connect.count = 2;
        r.latency.connect.p99_us = 5_000;
        r
    }

    fn rule() -> CapacityPass {
        CapacityPass {
            delivered_ratio: Some(0.999),
            e2e_p99: Some(Dur(Duration::from_millis(50))),
            connect_p99: Some(Dur(Duration::from_millis(100))),
            lost: Some(0),
            connect_failures: Some(0),
            findings: vec![FindingKind::DuplicateIdLoop],
        }
    }

    #[test]
    fn a_step_within_every_rule_passes() {
        assert_eq!(judge(&rule(), &report()), Judged { outcome: Outcome::Pass, why: vec![] });
        // No rule at all: anything that ran passes.
        assert_eq!(judge(&CapacityPass::default(), &report()).outcome, Outcome::Pass);
    }

    #[test]
    fn each_broken_rule_is_named_in_words() {
        let mut r = report();
        r.messages.received = 990;
        r.messages.lost = 10;
        r.clients.connect_failures.insert(crate::record::vocab::Cause::ClosedBeforeConnack, 3);
        r.latency.e2e.p99_us = 73_000;
        r.latency.connect.count = 0;
        r.findings.push(Finding {
            kind: FindingKind::DuplicateIdLoop,
            summary: String::new(),
            client_ids: vec![],
            count: 2,
            first_s: 0.0,
            last_s: 0.0,
            evidence: crate::analysis::evidence::Evidence::DuplicateId(Default::default()),
        });
        let j = judge(&rule(), &r);
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(
            j.why,
            vec![
                "delivered 990 of 1000 offered (99.00% < 99.90%)".to_string(),
                "lost 10 > 0".to_string(),
                "connect failures 3 > 0 (closed_before_connack: 3)".to_string(),
                "e2e p99 73 ms > 50 ms".to_string(),
                "connect p99: no samples".to_string(),
                "finding duplicate_id_loop (2)".to_string(),
            ]
        );
    }

    #[test]
    fn the_ratio_is_delivered_over_offered_and_at_the_limit_passes() {
        let mut r = report();
        r.messages.received = 999;
        assert_eq!(judge(&rule(), &r).outcome, Outcome::Pass);
        r.messages.expected = 0;
        r.messages.received = 0;
        assert_eq!(delivered_ratio(&r), 1.0);
    }

    #[test]
    fn a_saturated_or_interrupted_step_is_invalid_not_failed() {
        let mut r = report();
        r.messages.lost = 5;
        r.load_generator.saturated = true;
        r.load_generator.reasons = vec!["loop delay p99 31 ms > 20 ms".into()];
        let j = judge(&rule(), &r);
        assert_eq!(j.outcome, Outcome::Invalid);
        assert_eq!(j.why, vec!["midge was saturated (loop delay p99 31 ms > 20 ms)".to_string()]);
        let mut r = report();
        r.interrupted = true;
        r.stop_signal = Some(crate::record::vocab::StopSignal::Sigint);
        assert_eq!(judge(&rule(), &r).why, vec!["interrupted by SIGINT".to_string()]);
    }
}
