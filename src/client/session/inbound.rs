//! The inbound half of the session: what to do with a PUBLISH from the
//! broker (`InboundAction`), the QoS 2 ids awaiting PUBREL with their
//! message's fingerprint (a PUBLISH under one of them is the same message
//! again, or another one reusing the id), and the QoS 1 PUBACKs not yet
//! written: together what is in flight toward midge.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

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

/// Packet ids are midge's own or the broker's, not an attacker's: the
/// tables need no random keys, and every idle client's session is 16 B
/// smaller per table without them.
pub type PkidHasher = BuildHasherDefault<DefaultHasher>;

/// Inbound QoS 2 ids awaiting PUBREL, each with its message's fingerprint.
#[derive(Debug, Default)]
pub struct InboundQos2 {
    ids: HashMap<u16, u64, PkidHasher>,
}

impl InboundQos2 {
    /// What to do with an inbound PUBLISH at `qos` under `pkid`.
    pub fn take(&mut self, qos: u8, pkid: u16, fingerprint: u64) -> InboundAction {
        match qos {
            0 => InboundAction::Deliver,
            1 => InboundAction::DeliverAndPubAck,
            _ => match self.ids.entry(pkid) {
                Entry::Vacant(v) => {
                    v.insert(fingerprint);
                    InboundAction::DeliverAndPubRec
                }
                Entry::Occupied(o) => InboundAction::PubRecOnly { same: *o.get() == fingerprint },
            },
        }
    }

    /// PUBREL (or a PUBREC never written) releases `pkid`; whether it was held.
    pub fn release(&mut self, pkid: u16) -> bool {
        self.ids.remove(&pkid).is_some()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn clear(&mut self) {
        self.ids.clear();
    }
}

/// A QoS 2 message's fingerprint: its topic, length and first 64 payload
/// bytes (midge's tracking header names publisher and sequence).
pub fn fingerprint(m: &crate::mqtt::codec::Publish) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = DefaultHasher::new();
    m.topic.hash(&mut h);
    m.payload.len().hash(&mut h);
    m.payload[..m.payload.len().min(64)].hash(&mut h);
    h.finish()
}
