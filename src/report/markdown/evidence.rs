//! A finding's evidence in report.md: the packets, the takeovers, the
//! streams, the refusal codes, the broker's own words — whichever the
//! finding's evidence has. Numbers print as report.json writes them
//! (`1.0`, `[[4,5]]`), which is how report.md has always shown them.

use crate::analysis::evidence::Evidence;
use serde::Serialize;
use std::fmt::Write;

/// A value as report.json writes it.
fn json<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The evidence of a finding, for people.
pub fn evidence(o: &mut String, e: &Evidence) {
    flight_recorder(o, e);
    let takeovers = e.takeovers();
    if !takeovers.is_empty() {
        let _ = writeln!(o, "Takeovers (first {}):\n", takeovers.len());
        for x in takeovers.iter().take(10) {
            let _ = writeln!(o, "- {} s: {} was closed when {} came up", json(&x.at_s), x.closed, x.by);
        }
        o.push('\n');
    }
    let streams = e.streams();
    if !streams.is_empty() {
        for s in streams.iter().take(10) {
            let _ = writeln!(
                o,
                "- from {}: {} lost (seqs {}), {} duplicated, {} out of order",
                s.publisher,
                s.lost,
                json(&s.lost_seqs),
                s.duplicated,
                s.out_of_order
            );
        }
        o.push('\n');
    }
    if let Some(w) = e.withheld() {
        for (publisher, seqs) in w.first_lost.iter() {
            let _ = writeln!(o, "- from {publisher}: never came (first seqs {})", json(seqs));
        }
        o.push('\n');
    }
    if let Some(codes) = e.codes() {
        let codes: Vec<String> = codes.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
        let _ = writeln!(o, "CONNACK codes: {}\n", codes.join(", "));
    }
    let log = e.broker_log();
    if !log.is_empty() {
        let _ = writeln!(o, "The broker's log says:\n\n```");
        for l in log.iter().take(8) {
            let _ = writeln!(o, "{l}");
        }
        let _ = writeln!(o, "```\n");
    }
}

/// The connection's last packets, oldest first, as a table.
fn flight_recorder(o: &mut String, e: &Evidence) {
    let flight = e.flight_recorder();
    if flight.is_empty() {
        return;
    }
    let _ = writeln!(o, "Last packets on the connection (flight recorder), oldest first:\n");
    let _ = writeln!(o, "| time (s) | direction | packet | bytes | packet id | flags |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for p in flight {
        let bad = if p.malformed { " **(malformed)**" } else { "" };
        let _ = writeln!(
            o,
            "| {} | {} | {}{bad} | {} | {} | {:#06b} |",
            json(&p.t_s),
            p.direction,
            p.packet_type,
            p.size,
            p.packet_id,
            p.flags
        );
    }
    o.push('\n');
}
