//! Protocol state of one client, with no I/O in it (as rumqttc's MqttState):
//! packet ids, the outbound inflight window, inbound QoS 2 state and
//! keepalive. The client task feeds it packets both ways and acts on what
//! it returns, so every rule here is unit-tested without a socket:
//!
//! - out: `outgoing(Request)` is the one way a packet of midge's own goes
//!   out — it assigns the packet id (never a busy one; `Busy` when there is
//!   none or the window is full, and the caller waits for acks), registers
//!   the in-flight entry, respects the broker's Receive Maximum and stamps
//!   the keepalive clock; `resend(Resend)` lists what goes out again after a
//!   resume or a retry (PUBLISH with DUP, or PUBREL, by stage);
//! - in: `handle(Packet)` answers a packet from the broker and names what
//!   it means (`Event`, carrying the delivery or the reason code).
//!
//! A PUBLISH is the one packet the session does not build: the client writes
//! it straight into the connection's buffer under the id `outgoing` gave
//! (no packet value, no allocation per message).
//!
//! Acknowledgements carry their reason codes (`Event::Acked { reason }`,
//! `Rejected { reason }`, `Noted { reason }`, an `AckReason`); a SUBACK gives
//! `SubAcked` (a `SubAckCode`). `forget_inbound` takes out of the inbound QoS
//! 2 state the ids whose PUBREC was never written, so their redelivery is
//! taken in again (counted once: not lost, not a duplicate). A QoS 2 PUBLISH
//! under an id still awaiting PUBREL is `Event::Again`, with whether it is
//! the same message (`inbound`: ids kept with a fingerprint), for the
//! witness; `inbound_in_flight` (those ids and the PUBACKs not yet written,
//! `acks_written`, on this connection) is the most the broker surely had in flight. The in-flight
//! table keeps room for `KEPT_INFLIGHT` (7) and goes back to that once empty
//! after a burst, so a publisher's memory is flat over a soak. A packet a
//! server must not send ends the connection with `protocol_error_from_broker`.
//!
//! Inbound flow control, for the record (`max_inbound_inflight`): the QoS
//! 1/2 PUBLISHes the broker has in flight toward midge on one connection
//! and the most of them at once, against the Receive Maximum midge
//! announced (`inbound`).

mod event;
mod inbound;

pub use event::{Event, Step};
pub use inbound::InboundAction;
use inbound::{fingerprint, Inbound};

use crate::mqtt::codec::Packet;
use crate::mqtt::reason::{AckReason, SubAckCode};
use crate::record::vocab::Cause;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Packet ids are midge's own or the broker's, not an attacker's: the
/// tables need no random keys, and every idle client's session is 16 B
/// smaller per table without them.
type PkidHasher = BuildHasherDefault<DefaultHasher>;

/// Where an outbound QoS 1/2 publish stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    AwaitPubAck,
    AwaitPubRec,
    AwaitPubComp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outbound {
    pub seq: u64,
    pub qos: u8,
    /// Microseconds (run clock) when the PUBLISH was first written.
    pub sent_us: u64,
    /// When the schedule wanted it sent (run clock), to rebuild the payload for a resend.
    pub intended_us: u64,
    pub stage: Stage,
    /// When it (or its PUBREL) last went out: first send, resume or retry.
    pub tx_us: u64,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The publish is complete: sequence and ack latency.
    Completed { seq: u64, latency_us: u64 },
    /// PUBREC for a QoS 2 publish: answer with PUBREL.
    SendPubRel,
    /// An ack for a packet id we have not got in flight (or at another stage).
    Unsolicited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveAction {
    Nothing,
    SendPing,
    /// No PINGRESP (or anything else) within the keepalive after our PINGREQ.
    TimedOut,
}

/// A packet of midge's own to send (`Session::outgoing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Message `seq` of the schedule, intended at `intended_us` (run clock).
    Publish {
        seq: u64,
        qos: u8,
        intended_us: u64,
    },
    /// `options`: the SUBSCRIBE options byte (QoS and MQTT 5's options,
    /// `GroupPlan::subscription_options`).
    Subscribe {
        filter: String,
        options: u8,
    },
    PingReq,
    Disconnect,
}

/// What to write for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A PUBLISH under this packet id (0 for QoS 0), which the client writes
    /// itself (see the module doc).
    Publish {
        pkid: u16,
    },
    Packet(Packet),
}

/// Why a request cannot go out now: the caller waits for acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The inflight window (ours, capped by the broker's Receive Maximum) is full.
    WindowFull,
    /// Every packet id is in use.
    NoPacketId,
}

/// When in-flight packets go out again (`Session::resend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// A new connection resumed the session: everything, and keepalive
    /// starts afresh (MQTT 3.1.1 §4.4).
    Resume,
    /// MQTT 3.1.1 `retry_interval` on the same connection: what has waited
    /// `after_us` since it last went out.
    Retry { after_us: u64 },
}

/// One packet to send again, in sequence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resent {
    /// The PUBLISH again, with DUP set (awaiting PUBACK or PUBREC); the
    /// client rebuilds it from `outbound`, byte for byte.
    Publish { pkid: u16, outbound: Outbound },
    /// The PUBREL again (awaiting PUBCOMP).
    PubRel { pkid: u16 },
}

impl Resent {
    fn of(pkid: u16, outbound: Outbound) -> Resent {
        match outbound.stage {
            Stage::AwaitPubAck | Stage::AwaitPubRec => Resent::Publish { pkid, outbound },
            Stage::AwaitPubComp => Resent::PubRel { pkid },
        }
    }
}

#[derive(Debug)]
pub struct Session {
    next_pkid: u16,
    max_inflight: u16,
    outbound: HashMap<u16, Outbound, PkidHasher>,
    /// Inbound QoS 2 state and flow control (`inbound::Inbound`).
    inbound: Inbound,
    /// The largest packet the broker sent on an ended connection (bytes;
    /// the client folds each connection's in when it ends).
    pub max_inbound_packet: u32,
    /// The SUBSCRIBE awaiting its SUBACK: packet id (never 0) and when it went out.
    pending_subscribe: Option<(std::num::NonZeroU16, u64)>,
    keepalive_us: u64,
    last_sent_us: u64,
    ping_sent_us: Option<u64>,
    pub unsolicited_acks: u64,
}

impl Session {
    /// In-flight publishes the table holds room for from a publisher's
    /// first QoS 1/2 send on; a burst beyond grows it, and it shrinks back
    /// here once empty again, so a soak's rare stalls do not ratchet it up.
    pub const KEPT_INFLIGHT: usize = 7;

    pub fn new(max_inflight: u16, keepalive_s: u16) -> Session {
        Session {
            next_pkid: 1,
            max_inflight: max_inflight.max(1),
            // Grown on the first publish: an idle or subscribe-only client keeps no table.
            outbound: HashMap::default(),
            inbound: Inbound::default(),
            max_inbound_packet: 0,
            pending_subscribe: None,
            keepalive_us: keepalive_s as u64 * 1_000_000,
            last_sent_us: 0,
            ping_sent_us: None,
            unsolicited_acks: 0,
        }
    }

    /// MQTT 5: the broker's Receive Maximum caps our window.
    pub fn limit_inflight(&mut self, receive_maximum: u16) {
        self.max_inflight = self.max_inflight.min(receive_maximum.max(1));
    }

    /// MQTT 5: the broker's Server Keep Alive replaces ours.
    pub fn set_keepalive(&mut self, keepalive_s: u16) {
        self.keepalive_us = keepalive_s as u64 * 1_000_000;
    }

    pub fn max_inflight(&self) -> u16 {
        self.max_inflight
    }

    pub fn inflight(&self) -> usize {
        self.outbound.len()
    }

    pub fn can_publish(&self) -> bool {
        self.outbound.len() < self.max_inflight as usize
    }

    /// The one way a packet of midge's own goes out: assigns its packet id
    /// (never a busy one), registers what awaits an acknowledgement, stamps
    /// the keepalive clock, and says what to write. `Busy`: nothing changed;
    /// the caller waits for acknowledgements.
    pub fn outgoing(&mut self, request: Request, now_us: u64) -> Result<Outgoing, Busy> {
        let out = match request {
            Request::Publish { seq, qos, intended_us } => {
                let pkid = if qos == 0 {
                    0
                } else if !self.can_publish() {
                    return Err(Busy::WindowFull);
                } else {
                    self.next_pkid().ok_or(Busy::NoPacketId)?
                };
                self.on_publish_sent(pkid, seq, qos, now_us, intended_us);
                return Ok(Outgoing::Publish { pkid });
            }
            Request::Subscribe { filter, options } => {
                let pkid = self.next_pkid().ok_or(Busy::NoPacketId)?;
                self.pending_subscribe = std::num::NonZeroU16::new(pkid).map(|p| (p, now_us));
                Packet::Subscribe { pkid, filters: vec![(filter, options)] }
            }
            Request::PingReq => {
                self.ping_sent_us = Some(now_us);
                Packet::PingReq
            }
            Request::Disconnect => Packet::Disconnect { reason: 0 },
        };
        self.last_sent_us = now_us;
        Ok(Outgoing::Packet(out))
    }

    /// What goes out again, in sequence order, now marked as sent at
    /// `now_us`: after a resume everything in flight, on a retry what has
    /// waited long enough. The packet ids stay theirs.
    pub fn resend(&mut self, why: Resend, now_us: u64) -> Vec<Resent> {
        let due = match why {
            Resend::Resume => self.resume(now_us),
            Resend::Retry { after_us } => self.retry_due(now_us, after_us),
        };
        if !due.is_empty() {
            self.last_sent_us = now_us;
        }
        due.into_iter().map(|(pkid, o)| Resent::of(pkid, o)).collect()
    }

    /// The next free packet id: 1..=65535, wrapping, skipping ids in use.
    fn next_pkid(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            let id = self.next_pkid;
            self.next_pkid = if id == u16::MAX { 1 } else { id + 1 };
            let busy = self.outbound.contains_key(&id) || self.pending_subscribe.is_some_and(|(p, _)| p.get() == id);
            if !busy {
                return Some(id);
            }
        }
        None
    }

    fn on_publish_sent(&mut self, pkid: u16, seq: u64, qos: u8, now_us: u64, intended_us: u64) {
        self.last_sent_us = now_us;
        if qos > 0 {
            if self.outbound.capacity() == 0 {
                self.outbound.reserve(Self::KEPT_INFLIGHT);
            }
            let stage = if qos == 1 { Stage::AwaitPubAck } else { Stage::AwaitPubRec };
            self.outbound.insert(pkid, Outbound { seq, qos, sent_us: now_us, intended_us, stage, tx_us: now_us });
        }
    }

    /// A new connection resumed the session: what to send again, in order
    /// (PUBLISH with DUP for those awaiting PUBACK/PUBREC, PUBREL for those
    /// awaiting PUBCOMP; MQTT 3.1.1 §4.4). Keepalive starts afresh.
    fn resume(&mut self, now_us: u64) -> Vec<(u16, Outbound)> {
        self.inbound.new_connection();
        self.last_sent_us = now_us;
        self.ping_sent_us = None;
        self.pending_subscribe = None;
        for o in self.outbound.values_mut() {
            o.tx_us = now_us;
        }
        let mut v: Vec<(u16, Outbound)> = self.outbound.iter().map(|(k, o)| (*k, *o)).collect();
        v.sort_by_key(|(_, o)| o.seq);
        v
    }

    /// MQTT 3.1.1 retries on the same connection: what has waited `retry_us`
    /// since it last went out, in order, now marked as sent again.
    fn retry_due(&mut self, now_us: u64, retry_us: u64) -> Vec<(u16, Outbound)> {
        let mut v = Vec::new();
        for (k, o) in self.outbound.iter_mut().filter(|(_, o)| o.tx_us + retry_us <= now_us) {
            o.tx_us = now_us;
            v.push((*k, *o));
        }
        v.sort_by_key(|(_, o)| o.seq);
        v
    }

    /// When the next retry falls due (None: nothing in flight).
    pub fn next_retry_us(&self, retry_us: u64) -> Option<u64> {
        self.outbound.values().map(|o| o.tx_us + retry_us).min()
    }

    /// A new connection without a session: keepalive starts afresh.
    pub fn restart(&mut self, now_us: u64) {
        self.inbound.new_connection();
        self.last_sent_us = now_us;
        self.ping_sent_us = None;
    }

    #[cfg(test)]
    fn on_subscribe_sent(&mut self, pkid: u16, now_us: u64) {
        self.last_sent_us = now_us;
        self.pending_subscribe = std::num::NonZeroU16::new(pkid).map(|p| (p, now_us));
    }

    /// Returns the SUBACK latency, or None for a SUBACK we did not ask for.
    fn on_suback(&mut self, pkid: u16, now_us: u64) -> Option<u64> {
        match self.pending_subscribe {
            Some((p, sent)) if p.get() == pkid => {
                self.pending_subscribe = None;
                Some(now_us.saturating_sub(sent))
            }
            _ => {
                self.unsolicited_acks += 1;
                None
            }
        }
    }

    #[cfg(test)]
    fn on_puback(&mut self, pkid: u16, now_us: u64) -> AckOutcome {
        self.complete(pkid, Stage::AwaitPubAck, now_us)
    }

    #[cfg(test)]
    fn on_pubcomp(&mut self, pkid: u16, now_us: u64) -> AckOutcome {
        self.complete(pkid, Stage::AwaitPubComp, now_us)
    }

    fn complete(&mut self, pkid: u16, stage: Stage, now_us: u64) -> AckOutcome {
        match self.outbound.get(&pkid) {
            Some(o) if o.stage == stage => {
                let o = self.outbound.remove(&pkid).expect("present");
                self.settle();
                AckOutcome::Completed { seq: o.seq, latency_us: now_us.saturating_sub(o.sent_us) }
            }
            _ => {
                self.unsolicited_acks += 1;
                AckOutcome::Unsolicited
            }
        }
    }

    /// An empty table that a burst grew goes back to its kept size
    /// (`shrink_to` compares buckets, so a table of that size stays as it
    /// is; `capacity` would not tell: removals leave tombstones).
    fn settle(&mut self) {
        if self.outbound.is_empty() {
            self.outbound.shrink_to(Self::KEPT_INFLIGHT);
        }
    }

    /// MQTT 5: a PUBACK or PUBREC with an error reason ends the flow for
    /// that id; the publish is refused, not delivered and not in doubt.
    fn on_rejected(&mut self, pkid: u16, now_us: u64) -> AckOutcome {
        match self.outbound.remove(&pkid) {
            Some(o) => {
                self.settle();
                AckOutcome::Completed { seq: o.seq, latency_us: now_us.saturating_sub(o.sent_us) }
            }
            None => {
                self.unsolicited_acks += 1;
                AckOutcome::Unsolicited
            }
        }
    }

    /// PUBREC: move to awaiting PUBCOMP. A PUBREC for an unknown id is still
    /// answered with PUBREL (3.1.1 §4.3.3) so the broker can finish its side.
    fn on_pubrec(&mut self, pkid: u16) -> AckOutcome {
        match self.outbound.get_mut(&pkid) {
            Some(o) if o.stage == Stage::AwaitPubRec || o.stage == Stage::AwaitPubComp => {
                o.stage = Stage::AwaitPubComp;
                AckOutcome::SendPubRel
            }
            _ => {
                self.unsolicited_acks += 1;
                AckOutcome::Unsolicited
            }
        }
    }

    fn on_inbound_publish(&mut self, qos: u8, pkid: u16, fingerprint: u64) -> InboundAction {
        self.inbound.publish(qos, pkid, fingerprint)
    }

    /// The QoS 1/2 PUBLISHes the broker has in flight toward us on this
    /// connection, as far as we can tell (`Inbound::in_flight`).
    pub fn inbound_in_flight(&self) -> u32 {
        self.inbound.in_flight()
    }

    /// The most of them at once, over the run.
    pub fn max_inbound_inflight(&self) -> u32 {
        self.inbound.max_in_flight
    }

    /// The replies queued so far reached the socket.
    pub fn acks_written(&mut self) {
        self.inbound.acks_written();
    }

    /// The PUBREC for inbound QoS 2 `pkid` never went out: the broker will
    /// send the PUBLISH again, and that one is the delivery.
    pub fn forget_inbound(&mut self, pkid: u16) {
        self.inbound.forget(pkid);
    }

    /// PUBREL releases the inbound QoS 2 id; PUBCOMP is always answered.
    /// Returns whether the id was known.
    fn on_pubrel(&mut self, pkid: u16) -> bool {
        let known = self.inbound.release(pkid);
        if !known {
            self.unsolicited_acks += 1;
        }
        known
    }

    /// Anything received proves the broker alive.
    fn on_packet_received(&mut self) {
        self.ping_sent_us = None;
    }

    #[cfg(test)]
    fn on_ping_sent(&mut self, now_us: u64) {
        self.last_sent_us = now_us;
        self.ping_sent_us = Some(now_us);
    }

    /// When the keepalive timer should next be looked at.
    pub fn keepalive_deadline_us(&self) -> Option<u64> {
        if self.keepalive_us == 0 {
            return None;
        }
        Some(match self.ping_sent_us {
            Some(ping) => ping + self.keepalive_us,
            None => self.last_sent_us + self.keepalive_us,
        })
    }

    pub fn keepalive_due(&self, now_us: u64) -> KeepAliveAction {
        if self.keepalive_us == 0 {
            return KeepAliveAction::Nothing;
        }
        match self.ping_sent_us {
            Some(ping) if now_us >= ping + self.keepalive_us => KeepAliveAction::TimedOut,
            Some(_) => KeepAliveAction::Nothing,
            None if now_us >= self.last_sent_us + self.keepalive_us => KeepAliveAction::SendPing,
            None => KeepAliveAction::Nothing,
        }
    }

    /// The connection is gone: every publish still in flight is in doubt.
    /// Returns them in sequence order; the inbound QoS 2 state is cleared
    /// too (a clean session forgets it).
    pub fn take_in_flight(&mut self) -> Vec<Outbound> {
        let mut v: Vec<Outbound> = self.outbound.drain().map(|(_, o)| o).collect();
        self.settle();
        v.sort_by_key(|o| o.seq);
        self.inbound.clear();
        self.pending_subscribe = None;
        self.ping_sent_us = None;
        v
    }
}

impl Session {
    /// A packet from the broker in; the reply and the event out (rumqttc's
    /// `state.rs` style: no I/O here, so every rule is unit-tested). A reply
    /// stamps the keepalive clock: the caller queues it at once (and a
    /// failed write ends the connection).
    pub fn handle(&mut self, p: Packet, now_us: u64) -> Step {
        self.on_packet_received();
        let step = self.answer(p, now_us);
        if step.reply.is_some() {
            self.last_sent_us = now_us;
        }
        step
    }

    fn answer(&mut self, p: Packet, now_us: u64) -> Step {
        match p {
            Packet::Publish(m) => {
                let pkid = m.pkid;
                let fingerprint = if m.qos == 2 { fingerprint(&m) } else { 0 };
                let (again, reply) = match self.on_inbound_publish(m.qos, pkid, fingerprint) {
                    InboundAction::Deliver => (None, None),
                    InboundAction::DeliverAndPubAck => (None, Some(Packet::PubAck { pkid, reason: 0 })),
                    InboundAction::DeliverAndPubRec => (None, Some(Packet::PubRec { pkid, reason: 0 })),
                    InboundAction::PubRecOnly { same } => (Some(same), Some(Packet::PubRec { pkid, reason: 0 })),
                };
                let event = match again {
                    None => Event::Delivery(m),
                    Some(same_message) => Event::Again { publish: m, same_message },
                };
                Step::new(reply, event)
            }
            Packet::PubAck { pkid, reason } => {
                Step::new(None, self.on_ack(pkid, AckReason::of(reason), now_us, Stage::AwaitPubAck))
            }
            Packet::PubComp { pkid, reason } => {
                Step::new(None, self.on_ack(pkid, AckReason::of(reason), now_us, Stage::AwaitPubComp))
            }
            Packet::PubRec { pkid, reason } => match AckReason::of(reason) {
                refused @ AckReason::Refused(_) => {
                    Step::new(None, self.on_ack(pkid, refused, now_us, Stage::AwaitPubRec))
                }
                reason => {
                    let event = match self.on_pubrec(pkid) {
                        AckOutcome::Unsolicited => Event::Unsolicited,
                        _ if reason != AckReason::Success => Event::Noted { reason },
                        _ => Event::Nothing,
                    };
                    Step::new(Some(Packet::PubRel { pkid, reason: 0 }), event)
                }
            },
            Packet::PubRel { pkid, .. } => {
                let event = if self.on_pubrel(pkid) { Event::Nothing } else { Event::Unsolicited };
                Step::new(Some(Packet::PubComp { pkid, reason: 0 }), event)
            }
            Packet::SubAck { pkid, ref codes } => match self.on_suback(pkid, now_us) {
                Some(latency_us) => {
                    Step::new(None, Event::SubAcked { latency_us, code: SubAckCode::of(codes.first().copied()) })
                }
                None => Step::new(None, Event::Unsolicited),
            },
            Packet::Disconnect { reason } => Step::new(None, Event::Closed(Cause::Disconnect(reason))),
            Packet::PingResp | Packet::UnsubAck { .. } => Step::new(None, Event::Nothing),
            Packet::PingReq
            | Packet::ConnAck(_)
            | Packet::Connect(_)
            | Packet::Subscribe { .. }
            | Packet::Unsubscribe { .. } => Step::new(None, Event::Closed(Cause::ProtocolErrorFromBroker)),
        }
    }

    /// PUBACK / PUBCOMP (or a refusing PUBREC): the publish completed, or was refused.
    fn on_ack(&mut self, pkid: u16, reason: AckReason, now_us: u64, stage: Stage) -> Event {
        let outcome =
            if reason.is_refusal() { self.on_rejected(pkid, now_us) } else { self.complete(pkid, stage, now_us) };
        match outcome {
            AckOutcome::Completed { seq, .. } if reason.is_refusal() => Event::Rejected { seq, reason },
            AckOutcome::Completed { seq, latency_us } => Event::Acked { seq, latency_us, reason },
            AckOutcome::SendPubRel => Event::Nothing,
            AckOutcome::Unsolicited => Event::Unsolicited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::Publish;
    use crate::mqtt::reason::{AckReason, SubAckCode};
    use crate::record::vocab::Cause;

    #[test]
    fn pkid_wraps_past_65535_and_skips_zero_and_busy_ids() {
        let mut s = Session::new(10, 60);
        s.next_pkid = 65534;
        assert_eq!(s.next_pkid(), Some(65534));
        s.on_publish_sent(65534, 0, 1, 0, 0);
        assert_eq!(s.next_pkid(), Some(65535));
        assert_eq!(s.next_pkid(), Some(1));
        // 65534 is still in flight when the counter comes round again.
        s.next_pkid = 65534;
        assert_eq!(s.next_pkid(), Some(65535));
    }

    #[test]
    fn the_inflight_table_goes_back_to_its_kept_size_after_a_burst() {
        let mut s = Session::new(1_000, 60);
        assert_eq!(s.outbound.capacity(), 0, "no table before the first publish");
        s.on_publish_sent(1, 0, 1, 0, 0);
        let kept = s.outbound.capacity();
        assert!(kept >= Session::KEPT_INFLIGHT, "{kept}");
        s.on_puback(1, 10);
        for id in 1..=Session::KEPT_INFLIGHT as u16 {
            s.on_publish_sent(id, id as u64, 1, 0, 0);
        }
        assert_eq!(s.outbound.capacity(), kept, "as many as kept: no growth");
        for id in 1..=Session::KEPT_INFLIGHT as u16 {
            s.on_puback(id, 10);
        }
        // A stall: 100 in flight grow the table; the last ack shrinks it.
        for id in 1..=100u16 {
            s.on_publish_sent(id, id as u64, 1, 0, 0);
        }
        assert!(s.outbound.capacity() >= 100);
        for id in 1..=100u16 {
            assert!(matches!(s.on_puback(id, 10), AckOutcome::Completed { .. }));
        }
        assert_eq!(s.outbound.capacity(), kept);
        // The same when the connection ends with a burst in flight.
        for id in 1..=100u16 {
            s.on_publish_sent(id, id as u64, 1, 0, 0);
        }
        assert_eq!(s.take_in_flight().len(), 100);
        assert_eq!(s.outbound.capacity(), kept);
    }

    #[test]
    fn pkid_space_exhausted_gives_none() {
        let mut s = Session::new(u16::MAX, 60);
        for id in 1..=u16::MAX {
            s.on_publish_sent(id, id as u64, 1, 0, 0);
        }
        assert_eq!(s.next_pkid(), None);
    }

    #[test]
    fn qos1_flow_and_unsolicited_acks() {
        let mut s = Session::new(2, 60);
        let id = s.next_pkid().unwrap();
        s.on_publish_sent(id, 5, 1, 100, 90);
        assert_eq!(s.on_puback(id, 350), AckOutcome::Completed { seq: 5, latency_us: 250 });
        assert_eq!(s.on_puback(id, 400), AckOutcome::Unsolicited);
        assert_eq!(s.on_pubcomp(77, 400), AckOutcome::Unsolicited);
        assert_eq!(s.unsolicited_acks, 2);
    }

    #[test]
    fn qos2_outbound_flow() {
        let mut s = Session::new(2, 60);
        s.on_publish_sent(9, 1, 2, 0, 0);
        // PUBCOMP before PUBREC is out of order: not a completion.
        assert_eq!(s.on_pubcomp(9, 1), AckOutcome::Unsolicited);
        assert_eq!(s.on_pubrec(9), AckOutcome::SendPubRel);
        assert_eq!(s.on_puback(9, 2), AckOutcome::Unsolicited);
        assert_eq!(s.on_pubcomp(9, 10), AckOutcome::Completed { seq: 1, latency_us: 10 });
        assert_eq!(s.inflight(), 0);
    }

    #[test]
    fn qos2_inbound_delivers_once_until_pubrel() {
        let mut s = Session::new(2, 60);
        assert_eq!(s.on_inbound_publish(2, 4, 10), InboundAction::DeliverAndPubRec);
        assert_eq!(s.on_inbound_publish(2, 4, 10), InboundAction::PubRecOnly { same: true });
        assert_eq!(s.on_inbound_publish(2, 4, 11), InboundAction::PubRecOnly { same: false }, "another message");
        assert_eq!(s.inbound_in_flight(), 1);
        s.handle(publish(1, 5), 0);
        assert_eq!(s.inbound_in_flight(), 2, "and a QoS 1 whose PUBACK is not written");
        s.acks_written();
        assert_eq!(s.inbound_in_flight(), 1);
        assert!(s.on_pubrel(4));
        assert!(!s.on_pubrel(4));
        assert_eq!(s.on_inbound_publish(2, 4, 11), InboundAction::DeliverAndPubRec);
        assert_eq!(s.on_inbound_publish(1, 4, 0), InboundAction::DeliverAndPubAck);
    }

    #[test]
    fn inflight_window_is_bounded_and_capped_by_receive_maximum() {
        let mut s = Session::new(3, 60);
        for seq in 0..3 {
            assert!(s.can_publish());
            let id = s.next_pkid().unwrap();
            s.on_publish_sent(id, seq, 1, 0, 0);
        }
        assert!(!s.can_publish());
        s.limit_inflight(1);
        assert_eq!(s.max_inflight(), 1);
        let left = s.take_in_flight();
        assert_eq!(left.iter().map(|o| o.seq).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(s.can_publish());
    }

    #[test]
    fn resume_lists_what_to_resend_in_sequence_order_and_keeps_pkids() {
        let mut s = Session::new(10, 60);
        s.on_publish_sent(7, 3, 1, 10, 5);
        s.on_publish_sent(2, 1, 2, 11, 6);
        s.on_publish_sent(9, 2, 2, 12, 7);
        assert_eq!(s.on_pubrec(9), AckOutcome::SendPubRel);
        let again = s.resume(100);
        let got: Vec<(u16, u64, Stage)> = again.iter().map(|(id, o)| (*id, o.seq, o.stage)).collect();
        assert_eq!(got, vec![(2, 1, Stage::AwaitPubRec), (9, 2, Stage::AwaitPubComp), (7, 3, Stage::AwaitPubAck)]);
        // The ids stay reserved: a new publish gets another one.
        let id = s.next_pkid().unwrap();
        assert!(![2, 7, 9].contains(&id));
        // Acks after the resend complete the original publishes.
        assert_eq!(s.on_puback(7, 150), AckOutcome::Completed { seq: 3, latency_us: 140 });
        assert_eq!(s.on_pubcomp(9, 150), AckOutcome::Completed { seq: 2, latency_us: 138 });
    }

    #[test]
    fn keepalive_pings_then_times_out() {
        let mut s = Session::new(1, 10);
        let k = 10_000_000;
        assert_eq!(s.keepalive_due(k - 1), KeepAliveAction::Nothing);
        assert_eq!(s.keepalive_due(k), KeepAliveAction::SendPing);
        s.on_ping_sent(k);
        assert_eq!(s.keepalive_deadline_us(), Some(2 * k));
        assert_eq!(s.keepalive_due(2 * k - 1), KeepAliveAction::Nothing);
        assert_eq!(s.keepalive_due(2 * k), KeepAliveAction::TimedOut);
        s.on_packet_received();
        assert_eq!(s.keepalive_due(2 * k), KeepAliveAction::SendPing);
        assert_eq!(Session::new(1, 0).keepalive_due(u64::MAX), KeepAliveAction::Nothing);
    }

    #[test]
    fn retries_fall_due_a_retry_interval_after_the_last_send() {
        let mut s = Session::new(10, 60);
        s.on_publish_sent(1, 0, 1, 1_000, 1_000);
        s.on_publish_sent(2, 1, 1, 1_500, 1_500);
        assert_eq!(s.next_retry_us(10_000), Some(11_000));
        assert!(s.retry_due(10_999, 10_000).is_empty());
        let due = s.retry_due(11_000, 10_000);
        assert_eq!(
            due.iter().map(|(k, o)| (*k, o.seq, o.sent_us, o.tx_us)).collect::<Vec<_>>(),
            vec![(1, 0, 1_000, 11_000)]
        );
        assert_eq!(s.next_retry_us(10_000), Some(11_500), "the other one next; the retried one at 21 000");
    }

    fn publish(qos: u8, pkid: u16) -> Packet {
        Packet::Publish(pub_(qos, pkid))
    }

    fn pub_(qos: u8, pkid: u16) -> Publish {
        Publish {
            dup: false,
            qos,
            retain: false,
            topic: bytes::Bytes::from_static(b"t"),
            pkid,
            props: bytes::Bytes::new(),
            payload: bytes::Bytes::new(),
        }
    }

    #[test]
    fn handle_answers_each_packet_and_names_what_it_means() {
        let mut s = Session::new(10, 60);
        // Inbound QoS 1 and 2; a second PUBLISH of the same QoS 2 id is only acknowledged.
        assert_eq!(
            s.handle(publish(1, 7), 0),
            Step::new(Some(Packet::PubAck { pkid: 7, reason: 0 }), Event::Delivery(pub_(1, 7)))
        );
        assert_eq!(
            s.handle(publish(2, 8), 0),
            Step::new(Some(Packet::PubRec { pkid: 8, reason: 0 }), Event::Delivery(pub_(2, 8)))
        );
        assert_eq!(
            s.handle(publish(2, 8), 0),
            Step::new(
                Some(Packet::PubRec { pkid: 8, reason: 0 }),
                Event::Again { publish: pub_(2, 8), same_message: true }
            )
        );
        assert_eq!(s.handle(Packet::PubRel { pkid: 8, reason: 0 }, 0).event, Event::Nothing);
        assert_eq!(s.handle(Packet::PubRel { pkid: 8, reason: 0 }, 0).event, Event::Unsolicited);
        // Outbound QoS 1: acked once; a second PUBACK is unsolicited; an MQTT 5 refusal is a rejection.
        s.on_publish_sent(1, 40, 1, 100, 100);
        assert_eq!(
            s.handle(Packet::PubAck { pkid: 1, reason: 0 }, 350).event,
            Event::Acked { seq: 40, latency_us: 250, reason: AckReason::Success }
        );
        assert_eq!(s.handle(Packet::PubAck { pkid: 1, reason: 0 }, 400).event, Event::Unsolicited);
        s.on_publish_sent(2, 41, 1, 100, 100);
        assert_eq!(
            s.handle(Packet::PubAck { pkid: 2, reason: 0x87 }, 400).event,
            Event::Rejected { seq: 41, reason: AckReason::Refused(0x87) }
        );
        // Outbound QoS 2: PUBREC → PUBREL, PUBCOMP completes.
        s.on_publish_sent(3, 42, 2, 100, 100);
        assert_eq!(
            s.handle(Packet::PubRec { pkid: 3, reason: 0 }, 200),
            Step::new(Some(Packet::PubRel { pkid: 3, reason: 0 }), Event::Nothing)
        );
        assert_eq!(
            s.handle(Packet::PubComp { pkid: 3, reason: 0 }, 300).event,
            Event::Acked { seq: 42, latency_us: 200, reason: AckReason::Success }
        );
        // The broker ends it, or sends what a server must not.
        assert_eq!(s.handle(Packet::Disconnect { reason: 0x8E }, 0).event, Event::Closed(Cause::Disconnect(0x8E)));
        assert_eq!(s.handle(Packet::PingReq, 0).event, Event::Closed(Cause::ProtocolErrorFromBroker));
        // A PUBREC that could not be written: the broker's resend is the delivery.
        assert_eq!(s.handle(publish(2, 11), 0).event, Event::Delivery(pub_(2, 11)));
        s.forget_inbound(11);
        assert_eq!(s.handle(publish(2, 11), 0).event, Event::Delivery(pub_(2, 11)), "the redelivery is taken in");
        s.on_subscribe_sent(9, 1_000);
        assert_eq!(
            s.handle(Packet::SubAck { pkid: 9, codes: vec![1] }, 1_500).event,
            Event::SubAcked { latency_us: 500, code: SubAckCode::Granted(1) }
        );
    }

    fn publish_request(seq: u64, qos: u8) -> Request {
        Request::Publish { seq, qos, intended_us: seq * 10 }
    }

    #[test]
    fn outgoing_ids_wrap_past_65535_and_skip_busy_ones() {
        let mut s = Session::new(100, 60);
        s.next_pkid = 65534;
        let mut ids = Vec::new();
        for seq in 0..3 {
            ids.push(s.outgoing(publish_request(seq, 1), 0));
        }
        let want = [65534, 65535, 1].map(|pkid| Ok(Outgoing::Publish { pkid }));
        assert_eq!(ids, want);
        // 65535 is acked; 65534 and 1 stay busy when the counter comes round.
        assert!(matches!(s.on_puback(65535, 5), AckOutcome::Completed { seq: 1, .. }));
        s.next_pkid = 65534;
        assert_eq!(s.outgoing(publish_request(3, 2), 10), Ok(Outgoing::Publish { pkid: 65535 }));
        assert_eq!(s.outgoing(publish_request(4, 1), 10), Ok(Outgoing::Publish { pkid: 2 }), "1 is busy");
        let subscribe = Request::Subscribe { filter: "a/#".into(), options: 1 };
        let want = Outgoing::Packet(Packet::Subscribe { pkid: 3, filters: vec![("a/#".into(), 1)] });
        assert_eq!(s.outgoing(subscribe, 10), Ok(want));
        assert_eq!(s.outgoing(publish_request(5, 1), 10), Ok(Outgoing::Publish { pkid: 4 }), "3 awaits its SUBACK");
    }

    #[test]
    fn outgoing_says_busy_when_every_id_is_taken_and_changes_nothing() {
        let mut s = Session::new(u16::MAX, 60);
        for seq in 0..u64::from(u16::MAX) {
            assert!(s.outgoing(publish_request(seq, 1), 1).is_ok());
        }
        assert_eq!(s.outgoing(publish_request(99_999, 1), 2), Err(Busy::WindowFull));
        let subscribe = Request::Subscribe { filter: "t".into(), options: 0 };
        assert_eq!(s.outgoing(subscribe, 2), Err(Busy::NoPacketId));
        assert_eq!(s.inflight(), u16::MAX as usize);
        assert_eq!(s.keepalive_deadline_us(), Some(1 + 60_000_000), "a refused request stamps nothing");
        // QoS 0 needs no id and no room in the window.
        assert_eq!(s.outgoing(publish_request(99_999, 0), 3), Ok(Outgoing::Publish { pkid: 0 }));
        s.on_puback(7, 4);
        assert_eq!(s.outgoing(publish_request(100_000, 1), 5), Ok(Outgoing::Publish { pkid: 7 }));
    }

    #[test]
    fn outgoing_respects_the_brokers_receive_maximum() {
        let mut s = Session::new(10, 60);
        s.limit_inflight(2);
        assert_eq!(s.outgoing(publish_request(0, 1), 0), Ok(Outgoing::Publish { pkid: 1 }));
        assert_eq!(s.outgoing(publish_request(1, 2), 0), Ok(Outgoing::Publish { pkid: 2 }));
        assert_eq!(s.outgoing(publish_request(2, 1), 0), Err(Busy::WindowFull));
        assert_eq!(s.inflight(), 2);
        // A larger Receive Maximum never widens our own window.
        s.limit_inflight(500);
        assert_eq!(s.max_inflight(), 2);
        assert!(matches!(s.on_puback(1, 10), AckOutcome::Completed { seq: 0, latency_us: 10 }));
        assert_eq!(s.outgoing(publish_request(2, 1), 20), Ok(Outgoing::Publish { pkid: 3 }));
    }

    #[test]
    fn resend_after_resume_sends_publish_with_dup_or_pubrel_by_stage() {
        let mut s = Session::new(10, 60);
        for (seq, qos) in [(0, 2), (1, 2), (2, 1)] {
            s.outgoing(publish_request(seq, qos), 100 + seq).unwrap();
        }
        assert_eq!(
            s.handle(Packet::PubRec { pkid: 2, reason: 0 }, 150).reply,
            Some(Packet::PubRel { pkid: 2, reason: 0 })
        );
        s.outgoing(Request::PingReq, 200).unwrap();
        let again = s.resend(Resend::Resume, 1_000);
        let sent = |seq: u64, qos: u8, stage| Outbound {
            seq,
            qos,
            sent_us: 100 + seq,
            intended_us: seq * 10,
            stage,
            tx_us: 1_000,
        };
        assert_eq!(
            again,
            vec![
                Resent::Publish { pkid: 1, outbound: sent(0, 2, Stage::AwaitPubRec) },
                Resent::PubRel { pkid: 2 },
                Resent::Publish { pkid: 3, outbound: sent(2, 1, Stage::AwaitPubAck) },
            ]
        );
        // Keepalive starts afresh: the ping before the drop is forgotten.
        assert_eq!(s.keepalive_deadline_us(), Some(1_000 + 60_000_000));
        assert!(s.resend(Resend::Retry { after_us: 500 }, 1_499).is_empty());
        let retried = s.resend(Resend::Retry { after_us: 500 }, 1_500);
        assert_eq!(retried.len(), 3, "all three went out at 1 000");
        assert_eq!(s.keepalive_deadline_us(), Some(1_500 + 60_000_000));
        assert_eq!(s.next_retry_us(500), Some(2_000));
    }

    #[test]
    fn every_packet_out_stamps_the_keepalive_clock() {
        let k = 10_000_000;
        let mut s = Session::new(10, 10);
        assert_eq!(s.keepalive_deadline_us(), Some(k));
        s.outgoing(publish_request(0, 0), 1_000).unwrap();
        assert_eq!(s.keepalive_deadline_us(), Some(1_000 + k), "a QoS 0 publish");
        s.outgoing(publish_request(1, 1), 2_000).unwrap();
        assert_eq!(s.keepalive_deadline_us(), Some(2_000 + k), "a QoS 1 publish");
        s.handle(Packet::PubAck { pkid: 1, reason: 0 }, 3_000);
        assert_eq!(s.keepalive_deadline_us(), Some(2_000 + k), "a packet in without a reply stamps nothing");
        s.handle(publish(1, 9), 4_000);
        assert_eq!(s.keepalive_deadline_us(), Some(4_000 + k), "the PUBACK it answers with");
        s.outgoing(Request::Subscribe { filter: "t".into(), options: 0 }, 5_000).unwrap();
        assert_eq!(s.keepalive_deadline_us(), Some(5_000 + k), "a subscribe");
        assert_eq!(s.outgoing(Request::PingReq, 6_000), Ok(Outgoing::Packet(Packet::PingReq)));
        assert_eq!(s.keepalive_deadline_us(), Some(6_000 + k), "the ping: its answer is due by then");
        s.outgoing(publish_request(2, 1), 7_000).unwrap();
        assert_eq!(s.keepalive_deadline_us(), Some(6_000 + k), "after a ping, its answer is what counts");
        assert_eq!(s.keepalive_due(6_000 + k), KeepAliveAction::TimedOut);
        s.handle(Packet::PingResp, 8_000);
        assert_eq!(s.keepalive_deadline_us(), Some(7_000 + k));
        assert_eq!(s.outgoing(Request::Disconnect, 9_000), Ok(Outgoing::Packet(Packet::Disconnect { reason: 0 })));
        assert_eq!(s.keepalive_deadline_us(), Some(9_000 + k));
    }
}
