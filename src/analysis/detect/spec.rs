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
    /// When the latest occurrence was sighted (None: none sighted).
    last_us: Option<u64>,
}

/// A sighting's packets (less the publisher's own resends), its flight
/// recorder and when its latest occurrence was sighted.
type Sighted<'a> = (Vec<&'a WirePacket>, &'a [FlightEntry], Option<u64>);

/// The publishers' resent sequences, by publisher index.
fn resent_by_publisher<'a>(plan: &Plan, record: &'a RunRecord) -> HashMap<u32, &'a RangeSet> {
    let by_client: HashMap<u32, &ClientRecord> = record.clients.iter().map(|c| (c.index, c)).collect();
    let resent_of = |client: &u32| by_client.get(client).and_then(|c| c.publish_log.as_ref()).map(|l| &l.resent);
    plan.publishers.iter().enumerate().filter_map(|(p, client)| Some((p as u32, resent_of(client)?))).collect()
}

/// A sighting's packets, less those the publisher itself sent again.
fn sighted<'a>(w: &'a Witness, what: Sighting, resent: &HashMap<u32, &RangeSet>) -> Sighted<'a> {
    let Some(s) = w.of(what) else { return (Vec::new(), &[], None) };
    let own = |p: &&WirePacket| match (p.publisher, p.seq) {
        (Some(publisher), Some(seq)) => resent.get(&publisher).is_some_and(|r| r.contains(seq)),
        _ => false,
    };
    let packets: Vec<&WirePacket> = s.first.iter().filter(|p| !own(p)).collect();
    // Records from before `last_us` was kept: the last packet kept.
    let last = packets.iter().map(|p| p.t_us).max().unwrap_or(0).max(s.last_us);
    (packets, &s.flight, Some(last))
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
    let mut push = |rule: Rule, count: u64, (packets, flight, last_us): Sighted<'a>| {
        if count > 0 && rule.id(group.protocol).is_some() {
            out.push(Breach { rule, count, packets, flight, last_us });
        }
    };
    let w = c.witness.as_deref();
    let of = |what: Sighting| w.and_then(|w| w.of(what)).map_or(0, |s| s.count);
    // Without a witness nothing was sighted: no packets, and no counts from it.
    let seen = |what: Sighting| match w {
        Some(w) => sighted(w, what, resent),
        None => (Vec::new(), &[][..], None),
    };
    push(Rule::TopicOrder, rules::order_breaches(streams, c.index), seen(Sighting::Reordered));
    if let Some(w) = w {
        let copies = rules::copies_without_dup(w, |p| resent.get(&p).copied());
        push(Rule::DupOnRedelivery, copies, seen(Sighting::CopyWithoutDup));
    }
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
        push(rules::rule_of(what), of(what), seen(what));
    }
    let retains = rules::retain_flag_breaches(announced.retain_as_published, of(Sighting::RetainOnLive));
    push(Rule::RetainOnLive, retains, seen(Sighting::RetainOnLive));
    let over = rules::receive_maximum_breaches(
        announced.receive_maximum,
        of(Sighting::AboveReceiveMaximum),
        c.max_inbound_inflight,
    );
    push(Rule::ReceiveMaximum, over, seen(Sighting::AboveReceiveMaximum));
    let large = of(Sighting::AboveMaximumPacketSize);
    let large = rules::packet_size_breaches(announced.maximum_packet_size, large, c.max_inbound_packet);
    push(Rule::MaximumPacketSize, large, seen(Sighting::AboveMaximumPacketSize));
    if let Some(rx) = c.rx.as_deref() {
        // Retain handling 1 owes a new subscription its replays: only those on
        // a connection that resumed its session and subscribed again count.
        let (replays, existed, what) = match announced.retain_handling {
            1 => (rx.replays_on_existing, true, Sighting::ReplayOnExisting),
            _ => (rx.retained_replays, false, Sighting::ReplayUnasked),
        };
        if let Some((rule, n)) = rules::retain_handling_breaches(announced.retain_handling, replays, existed) {
            push(rule, n, seen(what));
        }
    }
    // A record from before the sighting: its own stream's receipts.
    let own_stream = me.publisher.and_then(|p| c.rx.as_deref()?.streams.get(&p)).map_or(0, |s| s.received.len());
    let own = match of(Sighting::OwnMessage) {
        0 => own_stream,
        sighted => sighted,
    };
    push(Rule::NoLocal, rules::no_local_breaches(announced.no_local, own), seen(Sighting::OwnMessage));
    out
}

/// A finding's summary: the Receive Maximum and Maximum Packet Size ones
/// say the limit and what went above it; the others the rule broken.
fn summary(b: &Breach, id: &str, client: &str, announced: Announced, c: &ClientRecord) -> String {
    match (b.rule, announced.receive_maximum, announced.maximum_packet_size) {
        (Rule::ReceiveMaximum, Some(max), _) => {
            let peak = c.witness.as_deref().and_then(|w| w.in_flight_peak);
            let at = peak.map_or(String::new(), |p| format!(" at {:.2} s", secs(p.t_us)));
            let n = peak.map_or(c.max_inbound_inflight, |p| p.in_flight);
            format!(
                "[{id}] {n} QoS>0 PUBLISHes in flight toward {client}{at}, above the Receive Maximum of {max} it \
                 announced (exceeded {} times: PUBLISHes received with {max} already in flight)",
                b.count
            )
        }
        (Rule::MaximumPacketSize, _, Some(max)) => match b.packets.first() {
            Some(p) => format!(
                "[{id}] a {}-byte {} sent to {client} at {:.2} s, above the Maximum Packet Size of {max} bytes it \
                 announced ({} packet(s) above it, the largest {} bytes)",
                p.size.unwrap_or(c.max_inbound_packet),
                packet_type_name(p.packet_type),
                secs(p.t_us),
                b.count,
                c.max_inbound_packet
            ),
            None => format!(
                "[{id}] a {}-byte packet sent to {client}, above the Maximum Packet Size of {max} bytes it announced",
                c.max_inbound_packet
            ),
        },
        _ => format!("[{id}] broken {} time(s) toward {client}: {}", b.count, b.rule.title()),
    }
}

fn spec_packet(plan: &Plan, p: &WirePacket) -> SpecPacket {
    let publisher = p.publisher.and_then(|i| plan.publishers.get(i as usize)).map(|&c| &plan.clients[c as usize]);
    let publish = p.packet_type == 3;
    SpecPacket {
        size: p.size,
        in_flight: p.in_flight,
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

/// A finding's first and last time: of its first and latest packets as
/// sighted; a count judged without packets (none sighted) spans the run.
fn span(b: &Breach, run_end_us: u64) -> (f64, f64) {
    let first_us = b.packets.iter().map(|p| p.t_us).min();
    match (first_us, b.last_us) {
        (Some(first), Some(last)) => (secs(first), secs(last.max(first))),
        (Some(first), None) => (secs(first), secs(b.packets.iter().map(|p| p.t_us).max().unwrap_or(first))),
        (None, _) => (0.0, secs(run_end_us)),
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
            let (first_s, last_s) = span(&b, record.run_end_us);
            let announced = Announced::of(plan, c.index);
            let peak = c.witness.as_deref().and_then(|w| w.in_flight_peak).filter(|_| b.rule == Rule::ReceiveMaximum);
            let announced_limit = match b.rule {
                Rule::ReceiveMaximum => announced.receive_maximum.map(u32::from),
                Rule::MaximumPacketSize => announced.maximum_packet_size,
                _ => None,
            };
            let finding = Finding {
                kind: FindingKind::SpecViolation,
                summary: summary(&b, id, &me.client_id, announced, c),
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
                    announced_limit,
                    peak_in_flight: (b.rule == Rule::ReceiveMaximum).then_some(c.max_inbound_inflight),
                    peak_s: peak.map(|p| secs(p.t_us)),
                }),
            };
            out.push((b.rule, c.index, finding));
        }
    }
    out.sort_by_key(|(rule, client, _)| (*rule, *client));
    out.into_iter().map(|(_, _, f)| f).collect()
}
