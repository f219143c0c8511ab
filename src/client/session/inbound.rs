//! What the broker sends midge, as protocol state: the inbound QoS 2 ids
//! awaiting PUBREL, and inbound flow control — the QoS 1/2 PUBLISHes the
//! broker has in flight toward midge on one connection, as far as midge can
//! tell, against the Receive Maximum midge announced (`max_in_flight` goes
//! into the client's record as `max_inbound_inflight`).
//!
//! In flight, as midge can tell: QoS 1 PUBLISHes whose PUBACK is not written
//! yet, and QoS 2 ones received on this connection whose PUBCOMP is not
//! written yet (the client says when its flush went through:
//! `acks_written`). A lower bound of the broker's own count — what it sent
//! that midge has not read yet is not here, and ids carried over from a
//! resumed session's earlier connection are left out — so a count above
//! the Receive Maximum is the broker's doing, never midge's.
//!
//! Each QoS 2 id is kept with its message's fingerprint (`fingerprint`): a
//! PUBLISH under an id still awaiting PUBREL is the same message again, or
//! another one reusing the id (`InboundAction::PubRecOnly { same }`, for
//! the witness).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Packet ids are the broker's, not an attacker's: no random keys needed.
type PkidHasher = BuildHasherDefault<DefaultHasher>;

/// What to do with an inbound PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundAction {
    /// QoS 0: deliver, no answer.
    Deliver,
    /// QoS 1: deliver, answer PUBACK.
    DeliverAndPubAck,
    /// QoS 2, first time this packet id is seen: deliver, answer PUBREC.
    DeliverAndPubRec,
    /// QoS 2 PUBLISH under a packet id still awaiting PUBREL: answer PUBREC
    /// only. `same`: the message first delivered under it (a resend), else a
    /// new one reusing the id.
    PubRecOnly { same: bool },
}

/// A QoS 2 message's fingerprint: its topic, length and first 64 payload
/// bytes (midge's tracking header names publisher and sequence).
pub(super) fn fingerprint(m: &crate::mqtt::codec::Publish) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = DefaultHasher::new();
    m.topic.hash(&mut h);
    m.payload.len().hash(&mut h);
    m.payload[..m.payload.len().min(64)].hash(&mut h);
    h.finish()
}

#[derive(Debug, Default)]
pub(super) struct Inbound {
    /// QoS 2 ids awaiting PUBREL: the message's fingerprint, and true if
    /// received on this connection.
    qos2: HashMap<u16, (u64, bool), PkidHasher>,
    /// QoS 1 PUBACKs and QoS 2 PUBCOMPs answered but not yet written.
    acks_unwritten: u16,
    /// Of `qos2`, those received on this connection.
    qos2_here: u16,
    /// The most in flight at once on one connection, over the run.
    pub(super) max_in_flight: u32,
}

impl Inbound {
    /// A PUBLISH from the broker: what to do with it.
    /// `fingerprint` matters for QoS 2 only.
    pub(super) fn publish(&mut self, qos: u8, pkid: u16, fingerprint: u64) -> InboundAction {
        let action = match qos {
            0 => return InboundAction::Deliver,
            1 => {
                self.acks_unwritten = self.acks_unwritten.saturating_add(1);
                InboundAction::DeliverAndPubAck
            }
            _ => match self.qos2.get_mut(&pkid) {
                None => {
                    self.qos2.insert(pkid, (fingerprint, true));
                    self.qos2_here = self.qos2_here.saturating_add(1);
                    InboundAction::DeliverAndPubRec
                }
                Some((first, here)) => {
                    // Sent again on this connection: in flight on it now.
                    self.qos2_here = self.qos2_here.saturating_add(u16::from(!*here));
                    *here = true;
                    InboundAction::PubRecOnly { same: *first == fingerprint }
                }
            },
        };
        self.max_in_flight = self.max_in_flight.max(self.in_flight());
        action
    }

    /// In flight toward midge on this connection (see the module doc).
    pub(super) fn in_flight(&self) -> u32 {
        u32::from(self.acks_unwritten) + u32::from(self.qos2_here)
    }

    /// The replies queued so far reached the socket.
    pub(super) fn acks_written(&mut self) {
        self.acks_unwritten = 0;
    }

    /// A new connection (resumed or not): nothing is in flight on it yet.
    pub(super) fn new_connection(&mut self) {
        self.acks_unwritten = 0;
        self.qos2_here = 0;
        self.qos2.values_mut().for_each(|(_, here)| *here = false);
    }

    /// The session is gone: no QoS 2 state is kept.
    pub(super) fn clear(&mut self) {
        self.qos2.clear();
        self.new_connection();
    }

    /// Takes QoS 2 `pkid` out; Some(true) if it was received on this connection.
    fn take(&mut self, pkid: u16) -> Option<bool> {
        let (_, here) = self.qos2.remove(&pkid)?;
        self.qos2_here = self.qos2_here.saturating_sub(u16::from(here));
        Some(here)
    }

    /// The PUBREC for `pkid` never went out: its resend is the delivery.
    pub(super) fn forget(&mut self, pkid: u16) {
        self.take(pkid);
    }

    /// PUBREL for `pkid`: released (PUBCOMP answered); false if unknown.
    pub(super) fn release(&mut self, pkid: u16) -> bool {
        match self.take(pkid) {
            None => false,
            Some(here) => {
                // In flight until our PUBCOMP is written.
                self.acks_unwritten = self.acks_unwritten.saturating_add(u16::from(here));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four QoS 1 and two QoS 2 PUBLISHes before a flush: 6 in flight (and
    /// a QoS 0 and a QoS 2 resend add none); after the flush the two QoS 2
    /// ids still await PUBREL (2); a PUBREL moves one to an unwritten
    /// PUBCOMP (still 2); after the next flush 1. On a new connection the
    /// carried id is not counted, and a resend of it on this one is.
    #[test]
    fn in_flight_counts_what_awaits_an_answer_on_this_connection() {
        let mut i = Inbound::default();
        for pkid in 1..=4 {
            assert_eq!(i.publish(1, pkid, 0), InboundAction::DeliverAndPubAck);
        }
        assert_eq!(i.publish(0, 0, 0), InboundAction::Deliver);
        assert_eq!(i.publish(2, 10, 10), InboundAction::DeliverAndPubRec);
        assert_eq!(i.publish(2, 11, 11), InboundAction::DeliverAndPubRec);
        assert_eq!(i.publish(2, 11, 11), InboundAction::PubRecOnly { same: true });
        assert_eq!((i.in_flight(), i.max_in_flight), (6, 6));
        i.acks_written();
        assert_eq!(i.in_flight(), 2);
        assert!(i.release(10));
        assert_eq!(i.in_flight(), 2);
        i.acks_written();
        assert_eq!(i.in_flight(), 1);
        assert!(!i.release(99), "an unknown id");
        i.new_connection();
        assert_eq!(i.in_flight(), 0, "id 11 was received on the connection before");
        assert!(i.release(11));
        assert_eq!(i.in_flight(), 0, "its PUBCOMP is not this connection's flow");
        assert_eq!(i.publish(2, 12, 12), InboundAction::DeliverAndPubRec);
        i.new_connection();
        assert_eq!(i.publish(2, 12, 13), InboundAction::PubRecOnly { same: false });
        assert_eq!(i.in_flight(), 1, "sent again on this connection");
        i.forget(12);
        i.clear();
        assert_eq!((i.in_flight(), i.max_in_flight), (0, 6));
    }
}
