//! "Protocol violations": the spec_violation findings by rule — the rule's
//! id and title, how many times, toward which clients — and the packets
//! that show it as a table (time, direction, packet, flags, id, topic,
//! publisher/seq), ready for a bug report. report.html shows the same
//! tables (`by_rule`, `flags`, `publisher_seq`).

use crate::analysis::evidence::{RuleEvidence, SpecEvidence, SpecPacket};
use crate::analysis::model::Report;
use std::fmt::Write;

/// The spec_violation evidence of a report, by rule (in the order found).
pub fn by_rule(r: &Report) -> Vec<(&RuleEvidence, Vec<&SpecEvidence>)> {
    let mut out: Vec<(&RuleEvidence, Vec<&SpecEvidence>)> = Vec::new();
    for e in r.findings.iter().filter_map(|f| f.evidence.spec()) {
        match out.iter_mut().find(|(rule, _)| rule.name == e.rule.name && rule.id == e.rule.id) {
            Some((_, list)) => list.push(e),
            None => out.push((&e.rule, vec![e])),
        }
    }
    out
}

/// A packet's flags as words: DUP, QoS n, RETAIN (a PUBLISH's), else "-";
/// then its size and the PUBLISHes in flight where the rule is about them.
pub fn flags(p: &SpecPacket) -> String {
    let mut words = Vec::new();
    if p.packet_type == "PUBLISH" {
        publish_flags(p, &mut words);
    }
    let mut measures = Vec::new();
    if let Some(size) = p.size {
        measures.push(format!("{size} bytes"));
    }
    if let Some(n) = p.in_flight {
        measures.push(format!("{n} in flight"));
    }
    let (flags, measures) = (words.join(" "), measures.join(", "));
    match (flags.is_empty(), measures.is_empty()) {
        (true, true) => "-".into(),
        (false, true) => flags,
        (true, false) => measures,
        (false, false) => format!("{flags}; {measures}"),
    }
}

fn publish_flags(p: &SpecPacket, words: &mut Vec<String>) {
    if p.dup {
        words.push("DUP".to_string());
    }
    words.push(format!("QoS {}", p.qos));
    if p.retain {
        words.push("RETAIN".into());
    }
    if let Some(g) = p.granted_qos {
        words.push(format!("(granted {g})"));
    }
    if let Some(e) = p.expiry_s {
        words.push(format!("expiry {e} s"));
    }
    if let Some(a) = p.topic_alias {
        words.push(format!("alias {a}"));
    }
}

/// "publisher #seq (sent at s)", or "-" for a packet not of a midge message.
pub fn publisher_seq(p: &SpecPacket) -> String {
    match (&p.publisher, p.seq) {
        (Some(who), Some(seq)) => match p.sent_s {
            Some(s) => format!("{who} #{seq} (sent {s} s)"),
            None => format!("{who} #{seq}"),
        },
        _ => "-".into(),
    }
}

/// What went above an announced limit, in words (None: the rule has no limit).
pub fn limit_line(rule: &RuleEvidence, e: &SpecEvidence) -> Option<String> {
    let limit = e.announced_limit?;
    match (rule.name.as_str(), e.peak_in_flight) {
        ("receive_maximum", Some(peak)) => {
            let at = e.peak_s.map_or(String::new(), |s| format!(" at {s} s"));
            Some(format!("{}: {peak} in flight at most{at}, its Receive Maximum {limit}", e.client))
        }
        ("maximum_packet_size", _) => {
            let largest = e.packets.iter().filter_map(|p| p.size).max();
            let size = largest.map_or(String::new(), |b| format!(", the largest shown {b} bytes"));
            Some(format!("{}: its Maximum Packet Size {limit} bytes{size}", e.client))
        }
        _ => None,
    }
}

/// "## Protocol violations".
pub fn protocol_violations(o: &mut String, r: &Report) {
    let rules = by_rule(r);
    if rules.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Protocol violations\n");
    for (rule, list) in rules {
        let count: u64 = list.iter().map(|e| e.count).sum();
        let clients: Vec<&str> = list.iter().map(|e| e.client.as_str()).collect();
        let shown = clients.iter().take(10).copied().collect::<Vec<_>>().join(", ");
        let more = if clients.len() > 10 { format!(" and {} more", clients.len() - 10) } else { String::new() };
        let _ = writeln!(o, "### [{}] {} (MQTT {}, `{}`)\n", rule.id, rule.title, rule.protocol, rule.name);
        let _ = writeln!(o, "{count} time(s), toward {} client(s): {shown}{more}.\n", clients.len());
        let limits: Vec<String> = list.iter().take(10).filter_map(|e| limit_line(rule, e)).collect();
        for line in &limits {
            let _ = writeln!(o, "- {line}");
        }
        if !limits.is_empty() {
            o.push('\n');
        }
        if list.iter().all(|e| e.packets.is_empty()) {
            // A count judged from the record with nothing sighted (a record
            // without a witness, a packet too large to decode): no packet kept.
            let _ = writeln!(o, "Judged from the client's record (not one packet): no packets kept.\n");
            continue;
        }
        let _ = writeln!(o, "| client | time (s) | direction | packet | flags | id | topic | publisher/seq |");
        let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
        for e in list.iter().take(10) {
            for p in &e.packets {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    e.client,
                    p.t_s,
                    p.direction,
                    p.packet_type,
                    flags(p),
                    p.packet_id,
                    p.topic.as_deref().unwrap_or("-"),
                    publisher_seq(p)
                );
            }
        }
        o.push('\n');
    }
}
