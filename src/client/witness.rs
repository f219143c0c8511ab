//! The client as witness: what it sees on the wire that a rule of the
//! protocol may forbid goes into its `Witness` (`record::wire`), with the
//! packet and the flight recorder at the first of each kind; the analysis
//! judges it (`analysis::detect::spec`, the checks in `analysis::rules`).
//!
//! Per delivery (`witness_delivery`, after the session took it in): a QoS
//! above the granted one (this connection's SUBACK, or on a resumed session
//! the last one); RETAIN = 1 on a message published after the subscription
//! was live, unless the subscription asked Retain As Published (then the
//! broker keeps the publisher's RETAIN); on MQTT 5, a Topic
//! Alias (midge announces no Topic Alias Maximum) and, where a publisher
//! sets an expiry (`Client::checks_expiry`), the Message Expiry Interval
//! (`rules::expiry_breach`); against what midge announced on MQTT 5, a
//! packet above its Maximum Packet Size (`witness_size`, every packet
//! read), a QoS ≥ 1 PUBLISH taken in with those in flight already at its
//! Receive Maximum (`witness_in_flight`, with the peak and its time), its
//! own message under no local, and a retained replay its retain handling
//! forbids (`witness_replay`, after the recorder judged it a replay). A QoS
//! 2 PUBLISH under an id still awaiting PUBREL (`witness_again`): the same
//! message without DUP, or another one reusing the id. An acknowledgement
//! for an unknown id (`witness_unknown_ack`), unless midge itself sent
//! something twice or malformed on this connection (`Link::own_doubt`: a
//! 3.1.1 retry, a `malformed` order, a second PUBREC for a QoS 2 copy), or it
//! is a PUBREL on a resumed session (the broker must resend those). Copies
//! without DUP of a message already taken in, and reorders, are seen where
//! deliveries are recorded (`Recorder::record_deliveries`).
//!
//! Nothing here runs per delivery beyond a few comparisons unless something
//! is sighted; the tracking header is decoded only then (and on each
//! delivery to a no local subscription, for its publisher).

use super::state::Client;
use crate::analysis::rules::{expiry_breach, ExpiryBreach};
use crate::mqtt::codec::Publish;
use crate::mqtt::connection::Connection;
use crate::payload::{Decoded, Header};
use crate::record::wire::{FlightEntry, Sighting, WirePacket};

impl Client {
    /// The QoS the subscription holds: this connection's SUBACK, or (a
    /// resumed session) the last one granted.
    fn granted_qos(&self) -> Option<u8> {
        let granted = |code: Option<u8>| code.filter(|c| *c <= 2);
        match self.link.gen.suback_code {
            Some(code) => granted(Some(code)),
            None if self.link.gen.session_present => {
                self.timeline.iter().rev().find_map(|g| g.suback_code).and_then(|c| granted(Some(c)))
            }
            None => None,
        }
    }

    /// The packet as the witness keeps it: the tracking header read for
    /// publisher, sequence and send time.
    /// A packet other than a PUBLISH taken in, as its flight recorder entry has it.
    fn flight_wire_packet(&self, e: &FlightEntry, at_us: u64) -> WirePacket {
        WirePacket {
            t_us: at_us,
            connection: self.timeline.len() as u32,
            packet_type: e.packet_type,
            flags: e.flags,
            pkid: e.pkid,
            ..Default::default()
        }
    }

    fn wire_packet(&self, conn: &Connection, m: &Publish, at_us: u64) -> WirePacket {
        let flags = conn.flight.last_received().map_or((m.dup as u8) << 3 | m.qos << 1 | m.retain as u8, |e| e.flags);
        let mut p = WirePacket {
            t_us: at_us,
            connection: self.timeline.len() as u32,
            packet_type: 3,
            flags,
            pkid: m.pkid,
            granted: self.granted_qos(),
            ..Default::default()
        };
        if let Decoded::Tracked(h) = Header::decode(&m.payload, self.ctx.plan.run_id) {
            p.publisher = Some(h.publisher);
            p.seq = Some(h.seq);
            p.sent_us = Some(h.sent_us.saturating_sub(self.ctx.run.clock.start_unix_us()));
        }
        if !m.props.is_empty() {
            (p.expiry_s, p.alias) = crate::mqtt::codec::props::expiry_and_alias(&m.props);
        }
        p
    }

    fn sight(&mut self, conn: &Connection, what: Sighting, p: WirePacket) {
        self.recorder.witness().sight(what, p, || conn.flight.snapshot());
    }

    /// A delivery the session took in, read at `at_us`.
    pub(super) fn witness_delivery(&mut self, conn: &Connection, m: &Publish, at_us: u64) {
        if m.qos > 0 && self.granted_qos().is_some_and(|g| m.qos > g) {
            let p = self.wire_packet(conn, m, at_us);
            self.sight(conn, Sighting::AboveGranted, p);
        }
        if m.retain && !self.group.retain_as_published {
            self.witness_retain(conn, m, at_us);
        }
        if !m.props.is_empty() && crate::mqtt::codec::props::expiry_and_alias(&m.props).1.is_some() {
            let p = self.wire_packet(conn, m, at_us);
            self.sight(conn, Sighting::TopicAlias, p);
        }
        if self.checks_expiry {
            self.witness_expiry(conn, m, at_us);
        }
        if self.group.maximum_packet_size.is_some() {
            self.witness_size(conn, Some(m), at_us);
        }
        if self.group.no_local && self.protocol_v5() {
            let p = self.wire_packet(conn, m, at_us);
            if p.publisher.is_some() && p.publisher == self.me().publisher {
                self.sight(conn, Sighting::OwnMessage, p);
            }
        }
        self.witness_in_flight(conn, m, at_us);
    }

    /// The packet just read (`m`: a PUBLISH taken in, else another packet)
    /// above the Maximum Packet Size midge announced (MQTT 5).
    pub(super) fn witness_size(&mut self, conn: &Connection, m: Option<&Publish>, at_us: u64) {
        let Some(max) = self.group.maximum_packet_size.filter(|_| self.protocol_v5()) else { return };
        let Some(e) = conn.flight.last_received().filter(|e| e.size > max) else { return };
        let mut p = match m {
            Some(m) => self.wire_packet(conn, m, at_us),
            None => self.flight_wire_packet(&e, at_us),
        };
        p.size = Some(e.size);
        self.sight(conn, Sighting::AboveMaximumPacketSize, p);
    }

    /// A QoS ≥ 1 PUBLISH taken in (or sent again) while those in flight
    /// toward midge were already at the Receive Maximum it announced (MQTT
    /// 5): sighted, with the in-flight count it made and the peak.
    pub(super) fn witness_in_flight(&mut self, conn: &Connection, m: &Publish, at_us: u64) {
        let Some(max) = self.group.receive_maximum.filter(|_| m.qos > 0 && self.protocol_v5()) else { return };
        let in_flight = self.session.inbound_in_flight();
        if in_flight <= u32::from(max) {
            return;
        }
        let mut p = self.wire_packet(conn, m, at_us);
        p.in_flight = Some(in_flight);
        self.sight(conn, Sighting::AboveReceiveMaximum, p);
        self.recorder.witness().in_flight(in_flight, at_us);
    }

    /// A retained replay the subscription's retain handling forbids (MQTT
    /// 5): any under 2, one on a connection that resumed its session and
    /// subscribed again under 1. `before`: the recorder's replay counts
    /// before it took `m` in (`Recorder::replays`).
    pub(super) fn witness_replay(&mut self, conn: &Connection, m: &Publish, at_us: u64, before: (u64, u64)) {
        let after = self.recorder.replays();
        let what = match self.group.retain_handling {
            2 if after.0 > before.0 => Sighting::ReplayUnasked,
            1 if after.1 > before.1 => Sighting::ReplayOnExisting,
            _ => return,
        };
        if self.protocol_v5() {
            let p = self.wire_packet(conn, m, at_us);
            self.sight(conn, what, p);
        }
    }

    /// RETAIN = 1 on a message published after the subscription went live
    /// (or on a resumed session, which subscribed nothing): no replay.
    fn witness_retain(&mut self, conn: &Connection, m: &Publish, at_us: u64) {
        let p = self.wire_packet(conn, m, at_us);
        let resumed = self.link.gen.session_present && self.link.gen.suback_code.is_none();
        let live_from = self.link.gen.live_from_us;
        let live = p.sent_us.is_some_and(|sent| resumed || live_from.is_some_and(|l| sent > l));
        if live {
            self.sight(conn, Sighting::RetainOnLive, p);
        }
    }

    /// A tracked delivery whose publisher sets an expiry: held past it, or
    /// its interval not lowered by the time the broker surely held it.
    fn witness_expiry(&mut self, conn: &Connection, m: &Publish, at_us: u64) {
        let plan = &self.ctx.plan;
        let Decoded::Tracked(h) = Header::decode(&m.payload, plan.run_id) else { return };
        let Some(&client) = plan.publishers.get(h.publisher as usize) else { return };
        let published = plan.group_of(&plan.clients[client as usize]).publish.as_ref().and_then(|p| p.expiry_s);
        let Some(published_s) = published else { return };
        let sent_us = h.sent_us.saturating_sub(self.ctx.run.clock.start_unix_us());
        let connected_us = self.link.gen.connected_us.unwrap_or(at_us);
        let (delivered_s, _) = crate::mqtt::codec::props::expiry_and_alias(&m.props);
        let what = match expiry_breach(published_s, delivered_s, sent_us, connected_us, m.dup) {
            Some(ExpiryBreach::DeliveredExpired) => Sighting::DeliveredExpired,
            Some(ExpiryBreach::NotDecremented) => Sighting::ExpiryNotDecremented,
            None => return,
        };
        let p = self.wire_packet(conn, m, at_us);
        self.sight(conn, what, p);
    }

    /// A QoS 2 PUBLISH under an id still awaiting PUBREL.
    pub(super) fn witness_again(&mut self, conn: &Connection, m: &Publish, same_message: bool, at_us: u64) {
        // Its PUBREC goes out again, and may draw a second PUBREL.
        self.link.own_doubt = true;
        let what = match (same_message, m.dup) {
            (true, true) => return,
            (true, false) => Sighting::CopyWithoutDup,
            (false, _) => Sighting::PacketIdReused,
        };
        let p = self.wire_packet(conn, m, at_us);
        if let (Sighting::CopyWithoutDup, Some(publisher), Some(seq)) = (what, p.publisher, p.seq) {
            self.recorder.witness().copy(publisher, seq);
        }
        self.sight(conn, what, p);
    }

    /// A CONNACK with Session Present = 1 to a clean start, read at `at_us`.
    pub(super) fn witness_session_present(&mut self, conn: &Connection, at_us: u64) {
        let p = WirePacket {
            t_us: at_us,
            connection: self.timeline.len() as u32,
            packet_type: 2,
            flags: 0,
            ..Default::default()
        };
        self.sight(conn, Sighting::SessionPresent, p);
    }

    /// An acknowledgement for an id midge had nothing under (the packet just read).
    pub(super) fn witness_unknown_ack(&mut self, conn: &Connection, at_us: u64) {
        let Some(e) = conn.flight.last_received() else { return };
        let resent_pubrel = e.packet_type == 6 && self.link.gen.session_present;
        if self.link.own_doubt || resent_pubrel || e.packet_type == 9 {
            return;
        }
        let p = self.flight_wire_packet(&e, at_us);
        self.sight(conn, Sighting::UnknownAck, p);
    }
}
