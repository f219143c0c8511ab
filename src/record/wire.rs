//! Packets as seen on the wire: the flight recorder's `FlightEntry`, and a
//! client's `Witness` — the few deliveries and acknowledgements that a
//! protocol check (`analysis::detect::spec`) may call a violation of the
//! broker's, kept compactly with their neighbours.
//!
//! The client records a `Sighting` only where the wire shows something a
//! rule may forbid (a copy without DUP, a reorder, a QoS above the granted
//! one, …); the analysis judges it against the plan and the other clients'
//! logs (a publisher's own resend is no broker's fault). A `Witness` keeps a
//! count per sighting and the packets of the first `FIRST_KEPT` with the
//! connection's flight recorder at the first: bounded whatever a broker does
//! (one entry per `Sighting` kind, `FIRST_KEPT` packets each, `copies` bounded like
//! `StreamRx::reordered`). A client that sees nothing keeps none (the
//! record's `witness` is None), so an idle swarm pays nothing for it.

use super::logs::RangeSet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One packet on the wire, as the flight recorder kept it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightEntry {
    /// Run-clock microseconds.
    pub t_us: u64,
    /// Sent by midge (else received).
    pub sent: bool,
    /// MQTT packet type number (3 = PUBLISH, …).
    pub packet_type: u8,
    /// The low nibble of the first byte (DUP, QoS, RETAIN for PUBLISH).
    pub flags: u8,
    /// Bytes on the wire.
    pub size: u32,
    /// Packet identifier, 0 when the packet has none.
    pub pkid: u16,
    /// The packet could not be decoded (received) or was malformed on purpose (sent).
    pub malformed: bool,
}

/// What the client saw that a rule may forbid; the analysis judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sighting {
    /// A QoS ≥ 1 delivery below the highest sequence of its stream.
    Reordered,
    /// A QoS ≥ 1 PUBLISH already delivered (its packet id still in flight,
    /// or its message already taken in) with DUP = 0.
    CopyWithoutDup,
    /// A delivery at a QoS above the one the SUBACK granted.
    AboveGranted,
    /// A new message under a packet id still in flight toward midge.
    PacketIdReused,
    /// PUBACK, PUBREC, PUBCOMP or PUBREL for an id midge had nothing under.
    UnknownAck,
    /// RETAIN = 1 on a message published after the subscription was live.
    RetainOnLive,
    /// A Message Expiry Interval not lowered by the time the broker held it.
    ExpiryNotDecremented,
    /// A message first delivered after its expiry had passed.
    DeliveredExpired,
    /// A Topic Alias from the broker (midge announces none).
    TopicAlias,
    /// CONNACK Session Present = 1 to a CONNECT with clean start set.
    SessionPresent,
    /// A QoS ≥ 1 PUBLISH received while the QoS ≥ 1 PUBLISHes in flight
    /// toward midge were already at the Receive Maximum it announced.
    AboveReceiveMaximum,
    /// A packet larger than the Maximum Packet Size midge announced.
    AboveMaximumPacketSize,
    /// A retained replay under retain handling 2 (send none).
    ReplayUnasked,
    /// A retained replay under retain handling 1 on a connection that
    /// resumed its session and subscribed again (the subscription existed).
    ReplayOnExisting,
    /// The subscriber's own message delivered back to it under no local.
    OwnMessage,
}

/// One packet of a sighting, with what midge knows of its message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePacket {
    /// Run-clock µs it was read (or written).
    pub t_us: u64,
    /// The connection it came on (index in the client's timeline).
    pub connection: u32,
    /// Sent by midge (else received).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sent: bool,
    pub packet_type: u8,
    /// The low nibble of the first byte (DUP, QoS, RETAIN for PUBLISH).
    pub flags: u8,
    pub pkid: u16,
    /// The message's publisher (plan publisher index) and sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When the publisher sent it (run-clock µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_us: Option<u64>,
    /// MQTT 5 Message Expiry Interval on the delivery, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_s: Option<u32>,
    /// MQTT 5 Topic Alias on the delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<u16>,
    /// The QoS the subscription was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted: Option<u8>,
    /// Bytes on the wire (kept where the size is what a rule limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// QoS ≥ 1 PUBLISHes in flight toward midge once this one was read
    /// (kept where the Receive Maximum is what it breaks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u32>,
}

/// A sighting's count, its first packets and the flight recorder at the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighted {
    pub what: Sighting,
    pub count: u64,
    pub first: Vec<WirePacket>,
    /// Run-clock µs of the latest one (0 in records from before it was kept).
    #[serde(default)]
    pub last_us: u64,
    /// The connection's last packets when the first was seen, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flight: Vec<FlightEntry>,
}

/// A client's sightings (None in the record when it had none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witness {
    pub sighted: Vec<Sighted>,
    /// By publisher: the sequences delivered again with DUP = 0 at QoS ≥ 1
    /// (bounded as `StreamRx::reordered`); the analysis takes out those the
    /// publisher itself sent again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub copies: BTreeMap<u32, RangeSet>,
    /// The most QoS ≥ 1 PUBLISHes in flight toward midge at once and when
    /// first reached, where it was above the Receive Maximum midge
    /// announced (`AboveReceiveMaximum`; the record's `max_inbound_inflight`
    /// is then the same count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_peak: Option<InFlightPeak>,
}

/// A peak of QoS ≥ 1 PUBLISHes in flight toward midge, and when first reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightPeak {
    pub in_flight: u32,
    /// Run-clock µs.
    pub t_us: u64,
}

impl Witness {
    /// Packets kept per sighting.
    pub const FIRST_KEPT: usize = 4;

    /// Notes a sighting; `flight` is asked for only at the first of its kind.
    pub fn sight(&mut self, what: Sighting, p: WirePacket, flight: impl FnOnce() -> Vec<FlightEntry>) {
        match self.sighted.iter_mut().find(|s| s.what == what) {
            Some(s) => {
                s.count += 1;
                s.last_us = s.last_us.max(p.t_us);
                if s.first.len() < Self::FIRST_KEPT {
                    s.first.push(p);
                }
            }
            None => self.sighted.push(Sighted { what, count: 1, last_us: p.t_us, first: vec![p], flight: flight() }),
        }
    }

    /// `in_flight` QoS ≥ 1 PUBLISHes toward midge at `t_us`: the peak if above the last one.
    pub fn in_flight(&mut self, in_flight: u32, t_us: u64) {
        if !matches!(self.in_flight_peak, Some(p) if p.in_flight >= in_flight) {
            self.in_flight_peak = Some(InFlightPeak { in_flight, t_us });
        }
    }

    /// The sighting of this kind, if any.
    pub fn of(&self, what: Sighting) -> Option<&Sighted> {
        self.sighted.iter().find(|s| s.what == what)
    }

    /// A copy of `publisher`'s `seq` delivered with DUP = 0.
    pub fn copy(&mut self, publisher: u32, seq: u64) {
        self.copies.entry(publisher).or_default().insert_bounded(seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_witness_counts_every_sighting_and_keeps_the_first_few() {
        let mut w = Witness::default();
        for i in 0..10u64 {
            let flight = || vec![FlightEntry { t_us: i, ..Default::default() }];
            w.sight(Sighting::CopyWithoutDup, WirePacket { t_us: i, ..Default::default() }, flight);
        }
        w.sight(Sighting::Reordered, WirePacket::default(), Vec::new);
        let s = w.of(Sighting::CopyWithoutDup).unwrap();
        assert_eq!((s.count, s.first.len(), s.flight[0].t_us, s.last_us), (10, Witness::FIRST_KEPT, 0, 9));
        assert_eq!(w.of(Sighting::Reordered).unwrap().count, 1);
        assert!(w.of(Sighting::AboveGranted).is_none());
        // The in-flight peak: kept when higher, with when it was first reached.
        for (n, t) in [(6, 10), (9, 20), (9, 30), (7, 40)] {
            w.in_flight(n, t);
        }
        assert_eq!(w.in_flight_peak, Some(InFlightPeak { in_flight: 9, t_us: 20 }));
        let back: Witness = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back, w);
    }
}
