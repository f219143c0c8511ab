//! closed_by_broker: the broker closed a client's connection and nothing in
//! the record says why — no reason in the protocol (MQTT 3.1.1 has none to
//! give; an MQTT 5 broker that sends no DISCONNECT gives none), no other
//! holder of the id, no outage, no fault of midge's, no denial in the
//! broker's log. The finding says what is known: the closes, the packet a
//! close came right after, the flight recorder, the broker's lines about
//! the client. One finding per client.

use super::brokerlog::{already_connected, lines_about};
use super::duplicate_id::MIN_LOOP_CYCLES;
use super::explain::{offending, Conn, Owner, SHORT_LIVED_US};
use super::protocol::{describe, flight_packets};
use super::words::{name_of, secs};
use crate::analysis::evidence::{ClosedEvidence, Evidence};
use crate::analysis::model::Finding;
use crate::mqtt::codec::packet_type_name;
use crate::mqtt::protocol::ProtocolVersion;
use crate::plan::Plan;
use crate::record::vocab::FindingKind;
use std::collections::{BTreeMap, BTreeSet};

/// How many of the broker's lines about the client the evidence quotes.
const MAX_BROKER_LINES: usize = 12;

/// One finding per client closed right after a packet with nothing to
/// support blaming it (any number of times), or closed soon after
/// connecting at least `MIN_LOOP_CYCLES` times with no other holder of its
/// id known (a client the broker's log shows taken over is a
/// `duplicate_id_loop`, `external_takeovers`).
pub fn closed_by_broker(
    plan: &Plan,
    short_lived: &BTreeMap<u32, Vec<Conn>>,
    after_packet: &BTreeMap<u32, Vec<Conn>>,
    broker_log: Option<&[String]>,
) -> Vec<Finding> {
    let clients: BTreeSet<u32> = short_lived.keys().chain(after_packet.keys()).copied().collect();
    let mut out = Vec::new();
    for i in clients {
        let p = &plan.clients[i as usize];
        let id = p.client_id.as_str();
        let after: &[Conn] = after_packet.get(&i).map_or(&[], Vec::as_slice);
        let short: &[Conn] = match short_lived.get(&i) {
            Some(s) if !already_connected(broker_log, id) && (s.len() >= MIN_LOOP_CYCLES || !after.is_empty()) => s,
            _ => &[],
        };
        if after.is_empty() && short.is_empty() {
            continue;
        }
        let mut all: Vec<&Conn> = after.iter().chain(short).collect();
        all.sort_by_key(|c| c.ended_us);
        let last = *all.last().expect("non-empty");
        let no_reason = match plan.group_of(p).protocol {
            ProtocolVersion::V311 => "MQTT 3.1.1 gives no reason",
            ProtocolVersion::V5 => "it sent no DISCONNECT, so no reason",
        };
        let n = all.len();
        let times = if n == 1 { "once".to_string() } else { format!("{n} times") };
        let what = match after.last() {
            Some(c) => {
                let blamed = offending(c.flight, c.ended_us);
                let ty = blamed.map_or("a packet", |e| packet_type_name(e.packet_type));
                format!(
                    "the broker closed it {times}, {} of them right after midge sent a packet (the last: {}) — closed after {ty}; {no_reason}, and neither the broker's log nor a repeat of the close supports calling it a protocol error",
                    after.len(),
                    describe(blamed)
                )
            }
            None => format!(
                "the broker closed it {times} within {} s of connecting and gave no reason ({no_reason})",
                SHORT_LIVED_US / 1_000_000
            ),
        };
        out.push(Finding {
            kind: FindingKind::ClosedByBroker,
            summary: format!(
                "{}: {what}. No other holder of its id is known (no other connection with it in this run, no \"already connected\" in the broker's log).",
                name_of(plan, Owner::Client(i))
            ),
            client_ids: vec![id.to_string()],
            count: n as u64,
            first_s: secs(all[0].ended_us),
            last_s: secs(last.ended_us),
            evidence: Evidence::Closed(ClosedEvidence {
                client_id: id.to_string(),
                cause: last.cause.map(|c| c.name()).unwrap_or_default(),
                closes: n,
                closed_after_packet: after.len(),
                closed_at_s: all.iter().take(20).map(|c| secs(c.ended_us)).collect(),
                connected_for_s: all.iter().take(20).map(|c| secs(c.ended_us.saturating_sub(c.connected_us))).collect(),
                flight_recorder: flight_packets(last.flight),
                broker_log: lines_about(broker_log, id).take(MAX_BROKER_LINES).cloned().collect(),
            }),
        });
    }
    out
}
