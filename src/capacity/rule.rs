//! The pass rule of a capacity step (`[capacity.pass]`), a pure function of
//! the step's report and what its plan asked for (`Planned`): every rule set
//! must hold; a step at which midge was saturated is invalid, never a fail
//! the broker is blamed for.
//!
//! Offered is what the plan asked for (`planned_offered`: over the plan's
//! streams, what each publisher's schedule makes due over the hold), so load
//! that never connected, was never sent or was refused stays in the
//! denominator of `delivered_ratio`, and its shortfall names them. Whatever
//! the rules, a step fails when some of its stepped clients never connected
//! (it did not hold them) or a limit the broker announced held a client back
//! (the limit is named: the broker's policy is a result, not an invalid step).

use super::search::Outcome;
use crate::analysis::evidence::Evidence;
use crate::analysis::model::Report;
use crate::plan::schedule::Schedule;
use crate::plan::Plan;
use crate::record::vocab::FindingKind;
use crate::record::RunRecord;
use crate::scenario::CapacityPass;

/// What a step's plan asked for, beside what its report measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Planned {
    /// Deliveries the plan asked for (`planned_offered`).
    pub offered: u64,
    /// Clients of the stepped groups.
    pub clients: u64,
    /// Of them, those that never connected (`never_connected`).
    pub never_connected: u64,
}

/// Deliveries the plan asks for: over its streams (a share group once),
/// what the publisher's schedule makes due over the planned duration (its
/// `count` at most) — clients planned × rate × hold, per subscriber.
pub fn planned_offered(plan: &Plan) -> u64 {
    let end_us = plan.duration.as_micros() as u64;
    let mut per_publisher: Vec<Option<u64>> = vec![None; plan.clients.len()];
    let mut offered = 0;
    for s in &plan.streams {
        let i = s.publisher_client as usize;
        let due = *per_publisher[i].get_or_insert_with(|| {
            let p = &plan.clients[i];
            let count = plan.group_of(p).publish.as_ref().and_then(|x| x.count);
            let due = Schedule::of_publisher(plan, p, 0, end_us).map_or(0, |mut sch| sch.due_by(0, end_us));
            count.map_or(due, |n| due.min(n))
        });
        offered += due;
    }
    offered
}

/// Per planned client: whether it is in a stepped group (indices in
/// `plan.groups`) and its plan has it join before the hold ends (a late
/// group or a client stage may not).
pub fn stepped_clients(plan: &Plan, groups: &[usize]) -> Vec<bool> {
    let end_us = plan.duration.as_micros() as u64;
    plan.clients
        .iter()
        .map(|c| groups.contains(&(c.group as usize)) && plan.group_of(c).join_us(c.index) < end_us)
        .collect()
}

/// Stepped clients (`stepped_clients`) whose every connection attempt failed
/// (or that never attempted one).
pub fn never_connected(stepped: &[bool], record: &RunRecord) -> u64 {
    let connected = record
        .clients
        .iter()
        .filter(|c| stepped.get(c.index as usize) == Some(&true) && c.timeline.iter().any(|g| g.connected_us.is_some()))
        .count() as u64;
    stepped.iter().filter(|&&s| s).count() as u64 - connected
}

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

/// delivered / offered as planned (1 when the plan offered nothing).
pub fn delivered_ratio(r: &Report, planned: &Planned) -> f64 {
    if planned.offered == 0 {
        1.0
    } else {
        r.messages.received as f64 / planned.offered as f64
    }
}

/// The connect failures by cause, in words and in report.json's order of
/// names ("closed_before_connack: 40, network_reset: 2").
fn failure_causes(r: &Report) -> String {
    let by_name = crate::record::names::by_name(&r.clients.connect_failures);
    let causes: Vec<String> = by_name.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    causes.join(", ")
}

/// Why planned load was not delivered: never connected, unsent, refused, lost.
fn shortfall(r: &Report, planned: &Planned) -> String {
    let m = &r.messages;
    let mut parts = Vec::new();
    if planned.never_connected > 0 {
        parts.push(format!("{} clients never connected ({})", planned.never_connected, failure_causes(r)));
    }
    for (n, what) in [(m.unsent, "unsent"), (m.rejected, "refused by the broker"), (m.lost, "lost")] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join(", "))
    }
}

/// What holds a step back whatever its rules: stepped clients that never
/// connected, and limits the broker announced (by name).
fn held_back(r: &Report, planned: &Planned) -> Vec<String> {
    let mut why = Vec::new();
    if planned.never_connected > 0 {
        why.push(format!(
            "{} of {} clients never connected ({})",
            planned.never_connected,
            planned.clients,
            failure_causes(r)
        ));
    }
    for f in r.findings.iter().filter(|f| f.kind == FindingKind::BrokerLimit) {
        if let Evidence::Limit(e) = &f.evidence {
            why.push(format!(
                "the broker's {} ({}, needed {}) held back group {} ({} clients)",
                e.limit, e.announced, e.needed, e.group, f.count
            ));
        }
    }
    why
}

/// Judges one step's report by the pass rule.
pub fn judge(pass: &CapacityPass, r: &Report, planned: &Planned) -> Judged {
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
    let mut why = held_back(r, planned);
    if let Some(e) = &r.error {
        why.push(format!("the run failed: {e}"));
    }
    if let Some(min) = pass.delivered_ratio {
        let ratio = delivered_ratio(r, planned);
        if ratio < min {
            why.push(format!(
                "delivered {} of {} offered ({:.2}% < {:.2}%){}",
                r.messages.received,
                planned.offered,
                ratio * 100.0,
                min * 100.0,
                shortfall(r, planned)
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
            why.push(format!("connect failures {failures} > {max} ({})", failure_causes(r)));
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

    /// What the plan of `report()` asked for: 1000 deliveries, 2 clients.
    const PLANNED: Planned = Planned { offered: 1000, clients: 2, never_connected: 0 };

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
        assert_eq!(judge(&rule(), &report(), &PLANNED), Judged { outcome: Outcome::Pass, why: vec![] });
        // No rule at all: anything that ran passes.
        assert_eq!(judge(&CapacityPass::default(), &report(), &PLANNED).outcome, Outcome::Pass);
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
        let j = judge(&rule(), &r, &PLANNED);
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(
            j.why,
            vec![
                "delivered 990 of 1000 offered (99.00% < 99.90%): 10 lost".to_string(),
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
        assert_eq!(judge(&rule(), &r, &PLANNED).outcome, Outcome::Pass);
        r.messages.received = 0;
        assert_eq!(delivered_ratio(&r, &Planned { offered: 0, ..PLANNED }), 1.0);
    }

    #[test]
    fn a_saturated_or_interrupted_step_is_invalid_not_failed() {
        let mut r = report();
        r.messages.lost = 5;
        r.load_generator.saturated = true;
        r.load_generator.reasons = vec!["loop delay p99 31 ms > 20 ms".into()];
        let j = judge(&rule(), &r, &PLANNED);
        assert_eq!(j.outcome, Outcome::Invalid);
        assert_eq!(j.why, vec!["midge was saturated (loop delay p99 31 ms > 20 ms)".to_string()]);
        let mut r = report();
        r.interrupted = true;
        r.stop_signal = Some(crate::record::vocab::StopSignal::Sigint);
        assert_eq!(judge(&rule(), &r, &PLANNED).why, vec!["interrupted by SIGINT".to_string()]);
    }

    #[test]
    fn offered_is_what_the_plan_asked_for_per_subscriber() {
        // 3 publishers × 10 msg/s × 2 s, each topic matched by 2 subscribers
        // and once by a share group of 2; a 4th publisher with count = 5
        // matched by the 2 plain subscribers only.
        let plan = testkit::plan(
            r#"
name = "t"
duration = "2s"
[[group]]
name = "pub"
clients = 3
publish = { topic = "a/{i}", qos = 1, rate = 10.0 }
[[group]]
name = "few"
publish = { topic = "b/{i}", qos = 1, rate = 10.0, count = 5 }
[[group]]
name = "sub"
clients = 2
subscribe = { filter = "+/+", qos = 1 }
[[group]]
name = "share"
clients = 2
subscribe = { filter = "$share/g/a/+", qos = 1 }
"#,
        );
        assert_eq!(planned_offered(&plan), 3 * 20 * 3 + 5 * 2);
    }

    #[test]
    fn stepped_clients_that_never_connected_are_counted() {
        let plan = testkit::plan(SCENARIO.replace("name = \"pub\"", "name = \"pub\"\nclients = 4").as_str());
        // Joining 5 s into a 4 s hold, a late group owes no connection.
        let late = testkit::plan(
            &format!("duration = \"4s\"\n{SCENARIO}").replace("name = \"sub\"", "name = \"sub\"\nstart_after = \"5s\""),
        );
        assert_eq!(stepped_clients(&late, &[0, 1]), [true, false]);
        let mut rec = testkit::record(&plan);
        testkit::connect(&mut rec, 0, 1_000, 2_000_000, None);
        testkit::refuse(&mut rec, 1, 1_000, crate::record::vocab::Cause::ClosedBeforeConnack);
        testkit::refuse(&mut rec, 1, 2_000, crate::record::vocab::Cause::ClosedBeforeConnack);
        testkit::connect(&mut rec, 2, 1_000, 2_000_000, None);
        testkit::connect(&mut rec, 4, 1_000, 2_000_000, None);
        // Group 0 (4 publishers): 0 and 2 connected; 1 was refused, 3 never tried.
        assert_eq!(never_connected(&stepped_clients(&plan, &[0]), &rec), 2);
        assert_eq!(never_connected(&stepped_clients(&plan, &[1]), &rec), 0);
    }

    #[test]
    fn a_step_that_did_not_hold_its_clients_fails_naming_why() {
        // 320 clients planned, 200 never connected: 1280 offered by the
        // plan, 480 delivered — only delivered_ratio is asked for.
        let mut r = report();
        r.messages.expected = 480;
        r.messages.received = 480;
        r.messages.unsent = 800;
        r.clients.connect_failures.insert(crate::record::vocab::Cause::ClosedBeforeConnack, 200);
        let planned = Planned { offered: 1280, clients: 320, never_connected: 200 };
        let pass = CapacityPass { delivered_ratio: Some(0.99), ..Default::default() };
        let j = judge(&pass, &r, &planned);
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(
            j.why,
            vec![
                "200 of 320 clients never connected (closed_before_connack: 200)".to_string(),
                "delivered 480 of 1280 offered (37.50% < 99.00%): 200 clients never connected (closed_before_connack: 200), 800 unsent".to_string(),
            ]
        );
    }

    #[test]
    fn a_step_a_broker_limit_held_back_names_the_limit_and_is_not_invalid() {
        let mut r = report();
        r.findings.push(Finding {
            kind: FindingKind::BrokerLimit,
            summary: String::new(),
            client_ids: vec![],
            count: 10,
            first_s: 0.0,
            last_s: 0.0,
            evidence: Evidence::Limit(crate::analysis::evidence::LimitEvidence {
                announced: 1,
                group: "pub".into(),
                limit: crate::record::vocab::Limit::MaximumQos,
                needed: 2,
            }),
        });
        let j = judge(&CapacityPass::default(), &r, &PLANNED);
        assert_eq!(j.outcome, Outcome::Fail);
        assert_eq!(j.why, vec!["the broker's maximum_qos (1, needed 2) held back group pub (10 clients)".to_string()]);
    }
}
