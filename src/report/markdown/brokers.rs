//! "## Brokers" (a run of several brokers only): each broker as its clients
//! found it, and e2e from publishers on one broker to subscribers on another.

use super::words::ms;
use crate::analysis::model::Report;
use std::fmt::Write;

/// Nothing for a run of one broker (the header names it, "## Clients" counts).
pub fn brokers_section(o: &mut String, r: &Report) {
    if r.brokers.len() < 2 {
        return;
    }
    let _ = writeln!(o, "## Brokers\n");
    let _ = writeln!(
        o,
        "| broker | clients | connected | never connected | failed attempts | disconnects | connect p50 | connect p99 | $SYS received / sent |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let opt_ms = |us: Option<u64>| us.map_or("–".to_string(), ms);
    let opt = |n: Option<u64>| n.map_or("–".to_string(), |n| n.to_string());
    for b in &r.brokers {
        let sys = b.sys_run.as_ref().map_or("–".to_string(), |s| format!("{} / {}", opt(s.received), opt(s.sent)));
        let _ = writeln!(
            o,
            "| {} ({}) | {} | {} | {} | {} | {} | {} | {} | {sys} |",
            b.url,
            b.kind,
            b.clients,
            b.connected,
            b.failed,
            b.connect_failures,
            b.disconnects,
            opt_ms(b.connect_p50_us),
            opt_ms(b.connect_p99_us)
        );
    }
    let _ = writeln!(o);
    if r.broker_pairs.is_empty() {
        return;
    }
    let _ = writeln!(o, "End-to-end latency by the publisher's broker and the subscriber's (cross-node delivery):\n");
    let _ = writeln!(o, "| from → to | deliveries | e2e p50 | e2e p99 | max |");
    let _ = writeln!(o, "|---|---:|---:|---:|---:|");
    for p in &r.broker_pairs {
        let _ = writeln!(
            o,
            "| {} → {} | {} | {} | {} | {} |",
            p.from,
            p.to,
            p.deliveries,
            ms(p.e2e_p50_us),
            ms(p.e2e_p99_us),
            ms(p.e2e_max_us)
        );
    }
    let _ = writeln!(o);
}
