//! report.md: the same model as report.json, rendered for people. Also
//! printed at the end of a run.
//!
//! The header gives the verdict (INTERRUPTED for a run a signal stopped,
//! with what was measured), what it did not judge (`headline_notes`: QoS 0
//! loss, a run that published for 0 s), a drain that ran out of time while
//! messages still arrived, and whether the broker's TLS certificate was
//! verified (`tls_sentence`), an unverified one first and in bold; the
//! broker section gives its `$SYS` counters over the run's own rounds and
//! sets their dropped beside midge's lost (`generator::broker_counters`); a
//! capacity run's report ends with `capacity::capacity_section`; share groups
//! list each member's part. A finding's evidence is rendered in `evidence`,
//! the losses and loss windows in `losses`.

mod brokers;
mod capacity;
mod evidence;
mod generator;
mod losses;
mod session;
mod shards;
mod unplanned;
pub mod violations;
mod words;

use crate::analysis::model::{ConnectionInfo, LatencySummary, Report};
use crate::record::vocab::Verdict;
pub(crate) use capacity::value;
pub use capacity::{capacity_section, capacity_sentence};
use std::fmt::Write;
use words::ms;

fn latency_row(out: &mut String, name: &str, l: &LatencySummary) {
    if l.count == 0 {
        let _ = writeln!(out, "| {name} | 0 | – | – | – | – | – |");
    } else {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            l.count,
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.p999_us),
            ms(l.max_us)
        );
    }
}

/// A map by name, in the order of the names.
fn causes<K: crate::record::names::Named>(map: &std::collections::BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    crate::record::names::by_name(map).iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
}

/// The whole report, section by section, in the order a reader wants them:
/// what went wrong first, then the counts, then midge's own health and latency.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    header(&mut o, r);
    if let Some(s) = &r.shards {
        o.push_str(&shards::shards_section(s));
    }
    findings(&mut o, r);
    violations::protocol_violations(&mut o, r);
    expectations(&mut o, r);
    clients(&mut o, r);
    brokers::brokers_section(&mut o, r);
    stages(&mut o, r);
    messages(&mut o, r);
    losses::message_losses(&mut o, r);
    losses::loss_windows(&mut o, r);
    shared_subscriptions(&mut o, r);
    session::wills_and_retained(&mut o, r);
    troubled_streams(&mut o, r);
    unplanned::unplanned_publishers(&mut o, r);
    faults(&mut o, r);
    dropped_connections(&mut o, r);
    generator::load_generator(&mut o, r);
    generator::broker_counters(&mut o, r);
    latency(&mut o, r);
    if let Some(c) = &r.capacity {
        o.push_str(&capacity_section(c));
    }
    o
}

/// A bug reproduction's verdict in words: PASS is the broker showing it.
pub fn reproduction_line(r: &Report) -> Option<String> {
    if r.scenario.shows.is_empty() {
        return None;
    }
    let shows = r.scenario.shows.join(", ");
    Some(match r.verdict {
        Verdict::Pass => format!("A bug reproduction: the broker showed what it says ({shows}), so it passes."),
        Verdict::Fail => {
            format!("A bug reproduction ({shows}) that fails: the expectations below say which did not hold.")
        }
        Verdict::Interrupted => format!("A bug reproduction ({shows}), interrupted before it could be judged."),
    })
}

/// Title and verdict, the warnings that change how the rest should be read,
/// and what was run against what.
fn header(o: &mut String, r: &Report) {
    let verdict = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Interrupted => "INTERRUPTED",
    };
    match &r.capacity {
        // A search leads with its answer: the step below failed by design.
        Some(c) => {
            let _ = writeln!(o, "# midge: {} — capacity\n", r.scenario.name);
            let _ = writeln!(o, "**{}**\n", capacity_sentence(c));
            let step = c.first_fail.and_then(|f| c.steps.iter().find(|s| s.value == f)).or(c.steps.last());
            if let Some(s) = step {
                let _ = writeln!(
                    o,
                    "The figures below are {}'s, the step at the knee (the first that failed, else the last run); its own verdict: {verdict}.\n",
                    s.dir
                );
            }
        }
        None => {
            let _ = writeln!(o, "# midge: {} — {verdict}\n", r.scenario.name);
            if let Some(line) = reproduction_line(r) {
                let _ = writeln!(o, "{line}\n");
            }
        }
    }
    if let Some(e) = &r.error {
        let _ = writeln!(o, "**Run error:** {e}\n");
    }
    if r.load_generator.saturated {
        let _ = writeln!(
            o,
            "**Warning: midge itself was the bottleneck** ({}). The latency and rate figures below describe midge, not the broker.\n",
            r.load_generator.reasons.join("; ")
        );
    }
    if r.interrupted {
        let by = r.stop_signal.map(|s| format!(" by {s}")).unwrap_or_default();
        let m = &r.messages;
        let _ = writeln!(
            o,
            "**Interrupted:** the run was stopped early{by}, after {:.1} s of publishing; figures cover what ran, and it is not judged. Measured: {} published, {} received, {} lost, {} in doubt.\n",
            r.duration_s, m.published, m.received, m.lost, m.in_doubt
        );
    }
    for note in headline_notes(r) {
        let _ = writeln!(o, "{note}\n");
    }
    let _ = writeln!(
        o,
        "Broker {} ({}), protocol {}, started {}, ran {:.1} s. Scenario `{}` (sha256 {}).\n",
        r.broker.url,
        r.broker.kind,
        r.scenario.protocol,
        r.started_at,
        r.duration_s,
        r.scenario.file,
        &r.scenario.sha256[..12.min(r.scenario.sha256.len())]
    );
    if let Some(t) = &r.broker.tls {
        let _ = writeln!(o, "{}\n", tls_sentence(t));
    }
    if r.brokers.len() > 1 {
        let urls: Vec<&str> = r.brokers.iter().map(|b| b.url.as_str()).collect();
        let _ = writeln!(
            o,
            "{} brokers, the clients spread over them (\"Brokers\" below): {}.\n",
            urls.len(),
            urls.join(", ")
        );
    }
    let d = &r.drain;
    let _ = writeln!(
        o,
        "Drain: {} after {:.2} s (quiet period {} ms); {} in flight, {} offline at its end.\n",
        d.ended, d.waited_s, d.quiet_period_ms, d.in_flight_at_end, d.offline_at_end
    );
    if d.awaiting_backlog_at_end > 0 {
        let _ = writeln!(
            o,
            "{} subscriber(s) back on a resumed session had received nothing on it when the drain ended: \
             what was published while they were away and is counted lost may still have been queued by the broker.\n",
            d.awaiting_backlog_at_end
        );
    }
    if let Some(a) = &d.still_arriving {
        let span =
            format!("from {:.1} s to {:.1} s (the time series' seconds over its last quiet period)", a.from_s, a.to_s);
        let _ = match (a.deliveries, a.e2e_p99_us) {
            (0, _) => writeln!(
                o,
                "**The drain ran out of time** after {:.2} s; nothing arrived {span}: what is counted lost was not on its way.\n",
                d.waited_s
            ),
            (n, e2e) if a.lost_sent_late == Some(0) => writeln!(
                o,
                "**The drain ran out of time while messages were still arriving:** {n} deliveries {span}{}; none of the lost was sent within that of the drain's end, so no count depends on it. The drain ({:.2} s) was short for this broker — give `drain` more than the end-to-end latency at the end.\n",
                e2e.map_or(String::new(), |us| format!(", end-to-end p99 {} then", ms(us))),
                d.waited_s
            ),
            (n, e2e) => writeln!(
                o,
                "**The drain ran out of time while messages were still arriving:** {n} deliveries {span}{}{}. What is counted lost may in part have been on its way, not lost by the broker: the drain ({:.2} s) was too short for this broker — give `drain` more than the end-to-end latency at the end.\n",
                e2e.map_or(String::new(), |us| format!(", end-to-end p99 {} then", ms(us))),
                a.lost_sent_late.map_or(String::new(), |l| format!("; {l} of the lost were sent within that of the drain's end")),
                d.waited_s
            ),
        };
    }
}

/// What the verdict did not judge: QoS 0 loss (unless `[expect] lost` asks),
/// and a run whose publishing lasted 0 s.
pub fn headline_notes(r: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    let q0 = r.messages.by_qos.get(&0).copied().unwrap_or_default();
    let lost_judged = r.expectations.iter().any(|e| e.name == "lost");
    if q0.lost > 0 && !lost_judged {
        notes.push(format!(
            "**QoS 0:** {} of {} lost — reported, not judged (QoS 0 promises no delivery; `[expect] lost` judges it).",
            q0.lost, q0.expected
        ));
    }
    if r.scenario.planned_duration_s == 0.0 && r.messages.published == 0 {
        notes.push(
            "**Nothing published:** publishing lasted 0 s, so no message was due; only the connections were judged."
                .to_string(),
        );
    }
    notes
}

/// How the clients spoke TLS, in one sentence; an unverified broker
/// certificate is said first, in bold (report.html opens with it too).
pub fn tls_sentence(t: &crate::record::TlsRecord) -> String {
    let negotiated = match (&t.protocol_version, &t.cipher_suite) {
        (Some(v), Some(c)) => format!("TLS negotiated {v}, {c}"),
        _ => "no TLS handshake succeeded".to_string(),
    };
    if t.insecure {
        format!(
            "**Warning: the broker's TLS certificate was NOT verified** (`[broker.tls] insecure = true`): anyone could have answered as the broker. {negotiated}."
        )
    } else {
        format!("{negotiated}; the broker's certificate was verified for {:?}.", t.server_name)
    }
}

/// "## Findings": each finding with its evidence; only the first 50, the
/// rest are left to report.json.
fn findings(o: &mut String, r: &Report) {
    if r.findings.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Findings\n");
    for f in r.findings.iter().take(50) {
        let _ = writeln!(o, "### {} — {}\n", f.kind, f.kind.title());
        let _ = writeln!(o, "{}\n", f.summary);
        let _ = writeln!(o, "{} time(s), from {:.2} s to {:.2} s into the run.\n", f.count, f.first_s, f.last_s);
        evidence::evidence(o, &f.evidence);
    }
    if r.findings.len() > 50 {
        let _ = writeln!(o, "… {} more findings in report.json\n", r.findings.len() - 50);
    }
}

/// "## Expectations": the scenario's thresholds and whether each held.
fn expectations(o: &mut String, r: &Report) {
    if r.expectations.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Expectations\n");
    let _ = writeln!(o, "| expectation | threshold | observed | result |");
    let _ = writeln!(o, "|---|---|---|---|");
    for e in &r.expectations {
        let _ = writeln!(
            o,
            "| {}{} | {} | {} | {} |",
            e.name,
            if e.default { " (default)" } else { "" },
            // Quoted, as report.md always showed it (the JSON string).
            serde_json::to_string(&e.threshold).unwrap_or_default(),
            e.observed.map_or("null".to_string(), |v| v.to_string()),
            if e.pass { "pass" } else { "**FAIL**" }
        );
    }
    o.push('\n');
    if r.expectations.iter().any(|e| e.default) {
        let _ = writeln!(
            o,
            "Rows marked (default) are the QoS contract, judged because the scenario's `[expect]` does not set them: every planned client connects, no QoS 1/2 message is lost, no QoS 2 message comes twice, the broker breaks no protocol rule.\n"
        );
    }
}

/// Why an expectation failed, in words: "30 is more than the 0 allowed",
/// "80 ms is more than the 50 ms allowed", "nothing to observe". Empty for
/// one that held. report.html shows it beside a red FAIL.
pub fn expectation_reason(e: &crate::analysis::model::ExpectationResult) -> String {
    use crate::analysis::model::{Comparison, LimitUnit};
    if e.pass {
        return String::new();
    }
    let show = |v: u64| match e.unit {
        LimitUnit::Count => v.to_string(),
        // Below 10 µs, "0.00 ms" would say nothing.
        LimitUnit::Us if v < 10 => format!("{v} µs"),
        LimitUnit::Us => ms(v),
    };
    match (e.observed, e.op) {
        (None, _) => "nothing was observed to judge".to_string(),
        (Some(v), Comparison::AtMost) => format!("{} is more than the {} allowed", show(v), show(e.limit)),
        (Some(v), Comparison::AtLeast) => format!("{} is less than the {} asked for", show(v), show(e.limit)),
    }
}

/// "## Clients": one paragraph of connection counts and their failures.
fn clients(o: &mut String, r: &Report) {
    let c = &r.clients;
    let _ = writeln!(o, "## Clients\n");
    let _ = writeln!(
        o,
        "{} planned, {} connected at peak, {} connect attempts. Connect failures: {}. Subscribe failures: {}. Disconnects: {} ({}). Reconnects: {}.\n",
        c.planned,
        c.connected_peak,
        c.connect_attempts,
        causes(&c.connect_failures),
        causes(&c.subscribe_failures),
        r.disconnects.total,
        causes(&r.disconnects.by_cause),
        r.reconnects
    );
    // Client stages that ramp down: leaves on plan, neither disconnects nor failures.
    if c.planned_leaves + c.rejoins > 0 {
        let _ = writeln!(
            o,
            "Planned leaves (client stages ramping down, clean DISCONNECT): {}. Back after a planned leave: {}.\n",
            c.planned_leaves, c.rejoins
        );
    }
}

/// "## Messages": the counts table, in all and by QoS (a QoS nobody used is
/// left out), and the stream and delivery totals.
fn messages(o: &mut String, r: &Report) {
    let m = &r.messages;
    let _ = writeln!(o, "## Messages\n");
    let _ = writeln!(o, "| | published | acked | expected | received | lost | duplicated | out of order | in doubt |");
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        o,
        "| all | {} | {} | {} | {} | {} | {} | {} | {} |",
        m.published, m.acked, m.expected, m.received, m.lost, m.duplicated, m.out_of_order, m.in_doubt
    );
    for (q, v) in &m.by_qos {
        if v.published + v.expected + v.received > 0 {
            let _ = writeln!(
                o,
                "| QoS {q} | {} | {} | {} | {} | {} | {} | {} | {} |",
                v.published, v.acked, v.expected, v.received, v.lost, v.duplicated, v.out_of_order, v.in_doubt
            );
        }
    }
    let _ = writeln!(
        o,
        "\n{} streams (publisher → subscriber pairs); {} deliveries in all; {} stale (earlier runs), {} foreign, {} refused by the broker.\n",
        m.streams, m.deliveries, m.stale, m.foreign, m.rejected
    );
    if m.held_by_broker > 0 {
        let _ = writeln!(
            o,
            "{} messages owed were still held by the broker when the run ended, after their subscribers' last deliveries: midge itself was holding those subscribers back (a stall, a `max_rate` backlog, a delay fault). Not lost; a longer `drain` lets them arrive.\n",
            m.held_by_broker
        );
    }
    if m.over_max_packet_size > 0 {
        let _ = writeln!(
            o,
            "{} messages were larger, as delivered, than the MQTT 5 `maximum_packet_size` their subscribers announced: the broker must discard them. Not owed, not lost.\n",
            m.over_max_packet_size
        );
    }
}

/// Still under "## Messages": each share group, what it was owed and got,
/// and how evenly the broker spread it over the members.
fn shared_subscriptions(o: &mut String, r: &Report) {
    if r.shared_subscriptions.is_empty() {
        return;
    }
    let _ = writeln!(o, "Shared subscriptions (a message is owed once to the group while a member is live):\n");
    let _ = writeln!(o, "| share | members | expected | received | lost | duplicated | least / most per member |");
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    for s in &r.shared_subscriptions {
        let _ = writeln!(
            o,
            "| `{}` | {} | {} | {} | {} | {} | {:.1} % / {:.1} % |",
            s.filter, s.members, s.expected, s.received, s.lost, s.duplicated, s.min_share_pct, s.max_share_pct
        );
    }
    o.push('\n');
    for s in &r.shared_subscriptions {
        let total: u64 = s.per_member.values().sum();
        let parts: Vec<String> = s
            .per_member
            .iter()
            // Rounded as min_share_pct and max_share_pct are (half away from zero).
            .map(|(id, n)| {
                let pct = if total == 0 { 0.0 } else { (*n as f64 * 1000.0 / total as f64).round() / 10.0 };
                format!("{id} {n} ({pct:.1} %)")
            })
            .collect();
        let _ = writeln!(
            o,
            "- `{}` per member: {}; an even spread is {:.1} % each, the most uneven member is {:.1} points off it.",
            s.filter,
            parts.join(", "),
            s.fair_share_pct,
            s.max_deviation_pct
        );
    }
    o.push('\n');
}

/// Still under "## Messages": the first 20 streams that lost, duplicated or
/// reordered anything, with their first lost sequence ranges.
fn troubled_streams(o: &mut String, r: &Report) {
    let troubled: Vec<_> = r.streams.iter().filter(|s| s.lost + s.duplicated + s.out_of_order > 0).collect();
    if troubled.is_empty() {
        return;
    }
    let _ = writeln!(o, "Streams with loss, duplicates or reordering:\n");
    let _ = writeln!(
        o,
        "| publisher | subscriber | QoS | expected | received | lost | dup | reordered | first lost seqs |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
    for s in troubled.iter().take(20) {
        let seqs = s
            .lost_seqs
            .iter()
            .take(4)
            .map(|(a, b)| if b - a == 1 { a.to_string() } else { format!("{a}–{}", b - 1) })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.publisher, s.subscriber, s.qos, s.expected, s.received, s.lost, s.duplicated, s.out_of_order, seqs
        );
    }
    o.push('\n');
}

/// "## Stages": the scenario's `[[stage]]`s, when each ran and where it
/// left the rates and client counts (nothing without stages).
fn stages(o: &mut String, r: &Report) {
    if r.stages.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Stages\n");
    let _ = writeln!(o, "| stage | from s | to s | rate at end (msg/s per client) | clients at end |");
    let _ = writeln!(o, "|---|---:|---:|---|---|");
    let list = |items: Vec<String>| if items.is_empty() { "—".to_string() } else { items.join(", ") };
    for st in &r.stages {
        let rates = list(st.rate.iter().map(|(g, v)| format!("{g} {v}")).collect());
        let clients = list(st.clients.iter().map(|(g, n)| format!("{g} {n}")).collect());
        let _ = writeln!(o, "| {} | {:.2} | {:.2} | {rates} | {clients} |", st.index, st.start_s, st.end_s);
    }
    o.push('\n');
}

/// "## Faults": the faults the scenario injected, and any that failed.
fn faults(o: &mut String, r: &Report) {
    if r.faults.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Faults\n");
    for f in &r.faults {
        let until = f.until_s.map_or(String::new(), |u| format!(" until {u:.2} s"));
        let err = f.error.as_ref().map_or(String::new(), |e| format!(" — **failed: {e}**"));
        let _ = writeln!(o, "- {} at {:.2} s{until}, {} clients{err}", f.action, f.at_s, f.clients);
    }
    o.push('\n');
}

/// "## Dropped connections": the first 10 clients' connection histories.
fn dropped_connections(o: &mut String, r: &Report) {
    if r.client_timelines.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Dropped connections\n");
    for t in r.client_timelines.iter().take(10) {
        let steps: Vec<String> = t.connections.iter().map(connection_step).collect();
        let _ = writeln!(o, "- `{}` ({}): {}", t.client, t.group, steps.join("; "));
    }
    if r.client_timelines.len() > 10 {
        let _ = writeln!(o, "- … {} more in report.json", r.client_timelines.len() - 10);
    }
    o.push('\n');
}

/// One connection of a client's history, in words: an attempt that failed or
/// never finished, or a connection that dropped or lasted to the end.
fn connection_step(c: &ConnectionInfo) -> String {
    match (c.connected_s, &c.cause) {
        (None, Some(cause)) => {
            format!("attempt at {:.2} s failed ({cause})", c.attempt_s)
        }
        (Some(at), Some(cause)) => format!(
            "connected {at:.2} s{} → dropped {:.2} s ({cause})",
            if c.session_present { " (session resumed)" } else { "" },
            c.ended_s
        ),
        (Some(at), None) => {
            format!("connected {at:.2} s{} → to the end", if c.session_present { " (session resumed)" } else { "" })
        }
        (None, None) => format!("attempt at {:.2} s", c.attempt_s),
    }
}

/// "## Latency": the percentiles of each measured latency.
fn latency(o: &mut String, r: &Report) {
    let l = &r.latency;
    let _ = writeln!(o, "## Latency\n");
    let _ = writeln!(o, "| | count | p50 | p90 | p99 | p99.9 | max |");
    let _ = writeln!(o, "|---|---|---|---|---|---|---|");
    latency_row(o, "connect (to CONNACK)", &l.connect);
    latency_row(o, "connect (TCP only)", &l.connect_tcp);
    // Only the handshakes that happened: a plain mqtt:// run has neither.
    if l.connect_tls.count > 0 {
        latency_row(o, "TLS handshake", &l.connect_tls);
    }
    if l.connect_ws.count > 0 {
        latency_row(o, "WebSocket handshake", &l.connect_ws);
    }
    latency_row(o, "end to end (from intended send)", &l.e2e);
    latency_row(o, "end to end (uncorrected)", &l.e2e_uncorrected);
    latency_row(o, "publish ack", &l.ack);
    latency_row(o, "suback", &l.suback);
    if l.receive_delay.count > 0 {
        latency_row(o, "midge's receive delay (after the kernel's stamp)", &l.receive_delay);
    }
    o.push('\n');
    let _ = writeln!(o, "{}\n", generator::own_part_line(l));
}

#[cfg(test)]
mod tests;
