//! protocol_error_drop: a connection ended for a protocol reason — MQTT 5
//! says which; MQTT 3.1.1 just closes, so a close right after a packet midge
//! sent is blamed on that packet, and the finding says no reason was given.
//! One finding per client, with its flight recorder.

use super::explain::{offending, Conn, Owner};
use super::words::{broker_lines, name_of, secs};
use crate::analysis::evidence::{Evidence, FlightPacket, ProtocolDropEvidence};
use crate::analysis::model::Finding;
use crate::mqtt::codec::packet_type_name;
use crate::plan::Plan;
use crate::record::vocab::{Cause, FindingKind};
use crate::record::wire::FlightEntry;
use std::collections::BTreeMap;

pub fn describe(e: Option<&FlightEntry>) -> String {
    match e {
        Some(e) => format!(
            "{}{} of {} bytes",
            if e.malformed { "a malformed " } else { "" },
            if e.packet_type == 0 { "packet" } else { packet_type_name(e.packet_type) },
            e.size
        ),
        None => "a packet".into(),
    }
}

/// A flight recorder as the evidence lists it.
pub fn flight_packets(flight: &[FlightEntry]) -> Vec<FlightPacket> {
    flight
        .iter()
        .map(|e| FlightPacket {
            t_s: secs(e.t_us),
            direction: if e.sent { "sent" } else { "received" }.to_string(),
            packet_type: if e.malformed && e.packet_type == 0 { "INVALID" } else { packet_type_name(e.packet_type) }
                .to_string(),
            size: e.size,
            packet_id: e.pkid,
            flags: e.flags,
            malformed: e.malformed,
        })
        .collect()
}

/// Why the connection was dropped, in words that name the evidence.
fn why(cause: &Cause, last: &Conn) -> String {
    let blamed = offending(last.flight, last.ended_us);
    let why = match cause {
        Cause::MalformedPacketFromBroker => {
            "midge closed it: the broker sent a packet that could not be decoded".to_string()
        }
        Cause::ProtocolErrorFromBroker => {
            "midge closed it: the broker sent a packet a server must not send".to_string()
        }
        c if c.is_protocol_reason() => format!("the broker closed it with reason {c}"),
        _ => format!("the broker closed it right after midge sent {} (no reason given)", describe(blamed)),
    };
    match blamed {
        Some(e) if cause.is_protocol_reason() && e.malformed => {
            format!("{why}, after midge sent {}", describe(Some(e)))
        }
        _ => why,
    }
}

pub fn protocol_error_drops(
    plan: &Plan,
    drops: &BTreeMap<u32, Vec<Conn>>,
    broker_log: Option<&[String]>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, list) in drops {
        let id = plan.clients[*i as usize].client_id.as_str();
        let last = list.last().expect("non-empty");
        let cause = last.cause.cloned().unwrap_or(Cause::NetworkEof);
        out.push(Finding {
            kind: FindingKind::ProtocolErrorDrop,
            summary: format!(
                "{}: connection dropped for a protocol reason — {}",
                name_of(plan, Owner::Client(*i)),
                why(&cause, last)
            ),
            client_ids: vec![id.to_string()],
            count: list.len() as u64,
            first_s: secs(list.first().map_or(0, |c| c.ended_us)),
            last_s: secs(last.ended_us),
            evidence: Evidence::ProtocolDrop(ProtocolDropEvidence {
                cause: cause.name(),
                drops_at_s: list.iter().take(20).map(|c| secs(c.ended_us)).collect(),
                flight_recorder: flight_packets(last.flight),
                broker_log: broker_lines(broker_log, id),
            }),
        });
    }
    out
}
