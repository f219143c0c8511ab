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

/// A packet's flags as words: DUP, QoS n, RETAIN (a PUBLISH's), else "-".
pub fn flags(p: &SpecPacket) -> String {
    if p.packet_type != "PUBLISH" {
        return "-".into();
    }
    let mut words = Vec::new();
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
    words.join(" ")
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
        if list.iter().all(|e| e.packets.is_empty()) {
            // A limit judged over the whole connection (Receive Maximum,
            // Maximum Packet Size, retained replays, own messages): no packet kept.
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
