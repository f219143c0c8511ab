//! spec_violation: the broker broke a rule of the protocol toward a client.
//! One finding per (rule, client), with the rule's id in the protocol the
//! client spoke, the count, the packets of the first occurrences and the
//! connection's flight recorder at the first.
//!
//! The checks are `analysis::rules`' pure functions, over what the record
//! holds: the tally's streams (order), the client's `Witness` (what the
//! client sighted on the wire: copies without DUP, a QoS above the granted
//! one, reused and unknown packet ids, RETAIN on live deliveries, expiry,
//! topic aliases, Session Present on a clean start), its record's
//! `max_inbound_inflight` and `max_inbound_packet` (`client::session::inbound`,
//! the connection's largest packet in), its receipt log (retained replays,
//! its own messages). A publisher's own resend (`PublishLog::resent`) is
//! never the broker's reorder or copy. The group's MQTT 5 limits and
//! subscription options come in through `Announced` (`Announced::of`: the
//! plan's `receive_maximum`, `maximum_packet_size`, `retain_as_published`,
//! `retain_handling`, `no_local`; nothing on MQTT 3.1.1).

use super::protocol::flight_packets;
use super::words::secs;
use crate::analysis::evidence::{Evidence, RuleEvidence, SpecEvidence, SpecPacket};
use crate::analysis::model::Finding;
use crate::analysis::rules::{self, qos_of};
use crate::analysis::tally::StreamTally;
use crate::mqtt::codec::packet_type_name;
use crate::mqtt::protocol::ProtocolVersion;
use crate::mqtt::rules::Rule;
use crate::plan::Plan;
use crate::record::logs::RangeSet;
use crate::record::vocab::FindingKind;
use crate::record::wire::{FlightEntry, Sighting, WirePacket, Witness};
use crate::record::{ClientRecord, RunRecord};
use std::collections::HashMap;

/// What a client announced and asked of its subscription, as the checks
/// take them: MQTT 5 Receive Maximum and Maximum Packet Size in CONNECT,
/// subscribe options retain as published, retain handling, no local.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Announced {
    pub receive_maximum: Option<u16>,
    pub maximum_packet_size: Option<u32>,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    pub no_local: bool,
}

impl Announced {
    /// What `client`'s group announces and asks (the group's keys; on
    /// MQTT 3.1.1 none of them is sent: nothing announced, no option).
    pub fn of(plan: &Plan, client: u32) -> Announced {
        let g = plan.group_of(&plan.clients[client as usize]);
        if g.protocol != ProtocolVersion::V5 {
            return Announced::default();
        }
        Announced {
            receive_maximum: g.receive_maximum,
            maximum_packet_size: g.maximum_packet_size,
            retain_as_published: g.retain_as_published,
            retain_handling: g.retain_handling,
            no_local: g.no_local,
        }
    }
}

/// One rule broken toward one client: the count and its first packets.
struct Breach<'a> {
    rule: Rule,
    count: u64,
    packets: Vec<&'a WirePacket>,
    flight: &'a [FlightEntry],
}

/// The publishers' resent sequences, by publisher index.
fn resent_by_publisher<'a>(plan: &Plan, record: &'a RunRecord) -> HashMap<u32, &'a RangeSet> {
    let by_client: HashMap<u32, &ClientRecord> = record.clients.iter().map(|c| (c.index, c)).collect();
    let resent_of = |client: &u32| by_client.get(client).and_then(|c| c.publish_log.as_ref()).map(|l| &l.resent);
    plan.publishers.iter().enumerate().filter_map(|(p, client)| Some((p as u32, resent_of(client)?))).collect()
}

/// A sighting's packets, less those the publisher itself sent again.
fn sighted<'a>(
    w: &'a Witness,
    what: Sighting,
    resent: &HashMap<u32, &RangeSet>,
) -> (Vec<&'a WirePacket>, &'a [FlightEntry]) {
    let Some(s) = w.of(what) else { return (Vec::new(), &[]) };
    let own = |p: &&WirePacket| match (p.publisher, p.seq) {
        (Some(publisher), Some(seq)) => resent.get(&publisher).is_some_and(|r| r.contains(seq)),
        _ => false,
    };
    (s.first.iter().filter(|p| !own(p)).collect(), &s.flight)
}

/// Every rule broken toward one client.
fn breaches<'a>(
    plan: &Plan,
    c: &'a ClientRecord,
    streams: &[StreamTally],
    resent: &HashMap<u32, &RangeSet>,
) -> Vec<Breach<'a>> {
    let me = &plan.clients[c.index as usize];
    let group = plan.group_of(me);
    let announced = Announced::of(plan, c.index);
    let mut out = Vec::new();
    let mut push = |rule: Rule, count: u64, (packets, flight): (Vec<&'a WirePacket>, &'a [FlightEntry])| {
        if count > 0 && rule.id(group.protocol).is_some() {
            out.push(Breach { rule, count, packets, flight });
        }
    };
    let none = || (Vec::new(), &[][..]);
    if let Some(w) = c.witness.as_deref() {
        push(Rule::TopicOrder, rules::order_breaches(streams, c.index), sighted(w, Sighting::Reordered, resent));
        let copies = rules::copies_without_dup(w, |p| resent.get(&p).copied());
        push(Rule::DupOnRedelivery, copies, sighted(w, Sighting::CopyWithoutDup, resent));
        for what in [
            Sighting::AboveGranted,
            Sighting::PacketIdReused,
            Sighting::UnknownAck,
            Sighting::ExpiryNotDecremented,
            Sighting::DeliveredExpired,
            Sighting::TopicAlias,
            Sighting::SessionPresent,
        ] {
            // Sighted by the client where its check held (`client::witness`).
            let count = w.of(what).map_or(0, |s| s.count);
            push(rules::rule_of(what), count, sighted(w, what, resent));
        }
        let live_retains = w.of(Sighting::RetainOnLive).map_or(0, |s| s.count);
        let retains = rules::retain_flag_breaches(announced.retain_as_published, live_retains);
        push(Rule::RetainOnLive, retains, sighted(w, Sighting::RetainOnLive, resent));
    } else {
        push(Rule::TopicOrder, rules::order_breaches(streams, c.index), none());
    }
    let excess = rules::receive_maximum_excess(announced.receive_maximum, c.max_inbound_inflight);
    push(Rule::ReceiveMaximum, excess.unwrap_or(0), none());
    let large = rules::packet_too_large(announced.maximum_packet_size, c.max_inbound_packet);
    push(Rule::MaximumPacketSize, u64::from(large), none());
    if let Some(rx) = c.rx.as_deref() {
        // Retain handling 1 owes a new subscription its replays: only those on
        // a connection that resumed its session and subscribed again count.
        let (replays, existed) = match announced.retain_handling {
            1 => (rx.replays_on_existing, true),
            _ => (rx.retained_replays, false),
        };
        if let Some((rule, n)) = rules::retain_handling_breaches(announced.retain_handling, replays, existed) {
            push(rule, n, none());
        }
        let own = me.publisher.and_then(|p| rx.streams.get(&p)).map_or(0, |s| s.received.len());
        push(Rule::NoLocal, rules::no_local_breaches(announced.no_local, own), none());
    }
    out
}

fn spec_packet(plan: &Plan, p: &WirePacket) -> SpecPacket {
    let publisher = p.publisher.and_then(|i| plan.publishers.get(i as usize)).map(|&c| &plan.clients[c as usize]);
    let publish = p.packet_type == 3;
    SpecPacket {
        direction: if p.sent { "sent" } else { "received" }.to_string(),
        dup: publish && p.flags & 0x08 != 0,
        expiry_s: p.expiry_s,
        granted_qos: p.granted,
        packet_id: p.pkid,
        publisher: publisher.map(|c| c.client_id.clone()),
        qos: if publish { qos_of(p.flags) } else { 0 },
        retain: publish && p.flags & 1 != 0,
        seq: p.seq,
        sent_s: p.sent_us.map(secs),
        t_s: secs(p.t_us),
        topic_alias: p.alias,
        topic: publisher.and_then(|c| c.topic.clone()),
        packet_type: packet_type_name(p.packet_type).to_string(),
    }
}

/// The spec_violation findings: one per (rule, client), in rule order.
pub fn spec_violations(plan: &Plan, record: &RunRecord, streams: &[StreamTally]) -> Vec<Finding> {
    let resent = resent_by_publisher(plan, record);
    let mut out: Vec<(Rule, u32, Finding)> = Vec::new();
    for c in &record.clients {
        let me = &plan.clients[c.index as usize];
        let protocol = plan.group_of(me).protocol;
        for b in breaches(plan, c, streams, &resent) {
            let id = b.rule.id(protocol).unwrap_or_default();
            let packets: Vec<SpecPacket> = b.packets.iter().map(|p| spec_packet(plan, p)).collect();
            let mut client_ids = vec![me.client_id.clone()];
            for p in packets.iter().filter_map(|p| p.publisher.clone()) {
                if !client_ids.contains(&p) {
                    client_ids.push(p);
                }
            }
            let first_s = packets.first().map_or(0.0, |p| p.t_s);
            let last_s = if b.count as usize > packets.len() {
                secs(record.run_end_us)
            } else {
                packets.last().map_or(first_s, |p| p.t_s)
            };
            let finding = Finding {
                kind: FindingKind::SpecViolation,
                summary: format!("[{id}] broken {} time(s) toward {}: {}", b.count, me.client_id, b.rule.title()),
                client_ids,
                count: b.count,
                first_s,
                last_s,
                evidence: Evidence::Spec(SpecEvidence {
                    client: me.client_id.clone(),
                    count: b.count,
                    flight_recorder: flight_packets(b.flight),
                    packets,
                    rule: RuleEvidence {
                        id: id.to_string(),
                        name: b.rule.name(),
                        protocol: protocol.as_str().to_string(),
                        title: b.rule.title().to_string(),
                    },
                }),
            };
            out.push((b.rule, c.index, finding));
        }
    }
    out.sort_by_key(|(rule, client, _)| (*rule, *client));
    out.into_iter().map(|(_, _, f)| f).collect()
}
