//! report.md's "Capacity" section of a `midge capacity` run: the search in
//! one sentence (report.md and report.html lead with it too), then every step.

use super::words::ms;
use crate::analysis::model::CapacityInfo;
use crate::scenario::CapacityVary;
use std::fmt::Write;

/// A capacity search's value as people read it: whole, or to a thousandth.
pub(crate) fn value(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The search in one sentence — what the broker holds and where it breaks:
/// "Holds N clients (…): …; breaks at M clients: <the rules that failed>."
/// report.md's header and "Capacity" section open with it; report.html's first line is it.
pub fn capacity_sentence(c: &CapacityInfo) -> String {
    let unit = if c.vary == CapacityVary::Rate { "msg/s per client" } else { "clients" };
    let step_at = |v: Option<f64>| v.and_then(|v| c.steps.iter().find(|s| s.value == v));
    let holds = match step_at(c.last_pass) {
        Some(s) => format!(
            "Holds {} {unit} ({} clients × {} msg/s): {} of {} delivered, e2e p99 {}, connect p99 {}",
            value(s.value),
            s.clients,
            value(s.rate_per_client),
            s.delivered,
            s.planned_offered.max(s.offered),
            ms(s.e2e_p99_us),
            ms(s.connect_p99_us)
        ),
        None => "Holds none of the steps".to_string(),
    };
    let breaks = match step_at(c.first_fail) {
        Some(s) => format!("breaks at {} {unit}: {}", value(s.value), s.why.join("; ")),
        None => "no step failed".to_string(),
    };
    format!("{holds}; {breaks}.")
}

/// "## Capacity" (`midge capacity`, only when the report has a search): one
/// sentence — what the broker holds and where it breaks — then every step.
pub fn capacity_section(c: &CapacityInfo) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "## Capacity
"
    );
    let _ = writeln!(o, "{}\n", capacity_sentence(c));
    let _ = writeln!(o, "The search stopped: {}.\n", c.reason);
    let groups = c.groups.join(", ");
    let _ = writeln!(
        o,
        "Stepped: {}{} of group(s) {groups}, {} s of publishing per step, against {} ({}{}). Each step's own report is in its folder.\n",
        c.vary.as_str(),
        if c.vary == CapacityVary::Rate { " (msg/s per client)" } else { "" },
        c.hold_s,
        c.broker_url,
        c.broker_kind,
        if c.fresh_broker { ", started afresh for every step" } else { ", one broker for the whole search" }
    );
    let _ = writeln!(
        o,
        "| step | value | clients | msg/s per client | offered | delivered | lost | connect failures | e2e p50 | e2e p99 | connect p99 | broker CPU s | broker RSS MiB | midge CPU | result |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in &c.steps {
        let result = if s.invalid {
            format!("invalid: {}", s.why.join("; "))
        } else if s.pass {
            "pass".to_string()
        } else {
            format!("**fail**: {}", s.why.join("; "))
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% | {result} |",
            s.dir,
            value(s.value),
            s.clients,
            value(s.rate_per_client),
            s.planned_offered.max(s.offered),
            s.delivered,
            s.lost,
            s.connect_failures,
            ms(s.e2e_p50_us),
            ms(s.e2e_p99_us),
            ms(s.connect_p99_us),
            s.broker_cpu_s.map_or("–".into(), |x| format!("{x:.2}")),
            s.broker_rss_kib.map_or("–".into(), |x| format!("{:.1}", x as f64 / 1024.0)),
            s.midge_cpu_utilization * 100.0
        );
    }
    o.push('\n');
    let _ = writeln!(o, "{}\n", e2e_judged(&c.steps));
    o
}

/// Which e2e the steps' figures and the `e2e_p99` rule are (the steps'
/// `e2e_receive_time`, each named once, in order).
fn e2e_judged(steps: &[crate::analysis::model::CapacityStep]) -> String {
    use crate::record::vocab::ReceiveTime;
    let mut seen: Vec<ReceiveTime> = Vec::new();
    for s in steps {
        if s.e2e_receive_time != ReceiveTime::NoDeliveries && !seen.contains(&s.e2e_receive_time) {
            seen.push(s.e2e_receive_time);
        }
    }
    let to: Vec<&str> = seen
        .iter()
        .map(|t| match t {
            ReceiveTime::Kernel => "the kernel's receive stamp (midge's own receive delay left out)",
            ReceiveTime::Midge => "midge's read (midge's batched reads included)",
            ReceiveTime::Mixed => "the kernel's receive stamp where there was one, else midge's read",
            ReceiveTime::NoDeliveries => "",
        })
        .collect();
    let to = if to.is_empty() { "receipt".to_string() } else { to.join("; in other steps to ") };
    format!("e2e judged: from the intended send (midge's send lag included) to {to}.")
}
