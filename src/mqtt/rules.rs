//! The rules of the protocol a broker can be seen to break (`Rule`: one
//! normative statement each, its `[MQTT-x.y.z-n]` id in MQTT 3.1.1 and 5.0,
//! its name and title), known below the scenario so `[expect] shows` can
//! name one (`Rule::from_word`: a name or either protocol's id). What midge
//! checks for each, and the checks, are the analysis's (`analysis::rules`).

use crate::mqtt::protocol::ProtocolVersion;
use serde::{Deserialize, Serialize};

/// A normative statement of the protocol a broker can be seen to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// QoS ≥ 1 messages of one publisher on one topic reach a subscriber in order.
    TopicOrder,
    /// A PUBLISH sent again carries DUP = 1.
    DupOnRedelivery,
    /// A delivery's QoS is at most the granted one.
    QosAboveGranted,
    /// A new PUBLISH takes a packet id not in use.
    PacketIdInUse,
    /// PUBACK / PUBREC / PUBREL / PUBCOMP name the id of a PUBLISH sent.
    AckPacketId,
    /// A clean start is answered with Session Present = 0.
    SessionPresentOnCleanStart,
    /// RETAIN = 0 on a message forwarded to an established subscription.
    RetainOnLive,
    /// No more QoS ≥ 1 PUBLISHes in flight than the client's Receive Maximum.
    ReceiveMaximum,
    /// No packet above the client's Maximum Packet Size.
    MaximumPacketSize,
    /// The Message Expiry Interval is lowered by the time the broker held the message.
    ExpiryDecremented,
    /// A message past its expiry is not delivered.
    ExpiredDelivered,
    /// Retain Handling 1: no retained replay for a subscription that existed.
    RetainHandlingExisting,
    /// Retain Handling 2: no retained replay at all.
    RetainHandlingNone,
    /// No Local: a client's own messages are not sent back to it.
    NoLocal,
    /// No Topic Alias to a client that announced no Topic Alias Maximum.
    TopicAliasNotAllowed,
}

impl Rule {
    pub const ALL: &'static [Rule] = &[
        Rule::TopicOrder,
        Rule::DupOnRedelivery,
        Rule::QosAboveGranted,
        Rule::PacketIdInUse,
        Rule::AckPacketId,
        Rule::SessionPresentOnCleanStart,
        Rule::RetainOnLive,
        Rule::ReceiveMaximum,
        Rule::MaximumPacketSize,
        Rule::ExpiryDecremented,
        Rule::ExpiredDelivered,
        Rule::RetainHandlingExisting,
        Rule::RetainHandlingNone,
        Rule::NoLocal,
        Rule::TopicAliasNotAllowed,
    ];

    /// The statement's id in `protocol` (None: the rule is MQTT 5's only).
    pub fn id(self, protocol: ProtocolVersion) -> Option<&'static str> {
        let (v311, v5) = match self {
            Rule::TopicOrder => (Some("MQTT-4.6.0-6"), "MQTT-4.6.0-6"),
            Rule::DupOnRedelivery => (Some("MQTT-3.3.1-1"), "MQTT-3.3.1-1"),
            Rule::QosAboveGranted => (Some("MQTT-3.8.4-6"), "MQTT-3.8.4-8"),
            Rule::PacketIdInUse => (Some("MQTT-2.3.1-4"), "MQTT-2.2.1-4"),
            Rule::AckPacketId => (Some("MQTT-2.3.1-6"), "MQTT-2.2.1-5"),
            Rule::SessionPresentOnCleanStart => (Some("MQTT-3.2.2-1"), "MQTT-3.2.2-2"),
            Rule::RetainOnLive => (Some("MQTT-3.3.1-9"), "MQTT-3.3.1-12"),
            Rule::ReceiveMaximum => (None, "MQTT-3.3.4-9"),
            Rule::MaximumPacketSize => (None, "MQTT-3.1.2-24"),
            Rule::ExpiryDecremented => (None, "MQTT-3.3.2-6"),
            Rule::ExpiredDelivered => (None, "MQTT-3.3.2-5"),
            Rule::RetainHandlingExisting => (None, "MQTT-3.3.1-10"),
            Rule::RetainHandlingNone => (None, "MQTT-3.3.1-11"),
            Rule::NoLocal => (None, "MQTT-3.8.3-3"),
            Rule::TopicAliasNotAllowed => (None, "MQTT-3.1.2-27"),
        };
        match protocol {
            ProtocolVersion::V311 => v311,
            ProtocolVersion::V5 => Some(v5),
        }
    }

    /// The statement, shortened.
    pub fn title(self) -> &'static str {
        match self {
            Rule::TopicOrder => {
                "a server treats every topic as ordered: QoS 1/2 messages of one publisher arrive in the order sent"
            }
            Rule::DupOnRedelivery => "the DUP flag is set to 1 when a PUBLISH is re-delivered",
            Rule::QosAboveGranted => "a delivery's QoS is the minimum of the published QoS and the granted QoS",
            Rule::PacketIdInUse => "a server assigns a new QoS 1/2 PUBLISH a packet identifier not in use",
            Rule::AckPacketId => {
                "PUBACK, PUBREC, PUBREL and PUBCOMP carry the packet identifier of the PUBLISH they answer"
            }
            Rule::SessionPresentOnCleanStart => "a connection accepted with a clean start gets Session Present = 0",
            Rule::RetainOnLive => {
                "RETAIN is 0 on a message forwarded to an established subscription (retain as published off)"
            }
            Rule::ReceiveMaximum => {
                "a server sends no more QoS 1/2 PUBLISHes unacknowledged than the client's Receive Maximum"
            }
            Rule::MaximumPacketSize => "a server sends no packet larger than the client's Maximum Packet Size",
            Rule::ExpiryDecremented => {
                "the Message Expiry Interval sent is the received one minus the time the message waited"
            }
            Rule::ExpiredDelivered => {
                "a message whose expiry passed before onward delivery started is deleted, not delivered"
            }
            Rule::RetainHandlingExisting => {
                "retain handling 1: no retained messages for a subscription that already existed"
            }
            Rule::RetainHandlingNone => "retain handling 2: no retained messages sent on subscribe",
            Rule::NoLocal => "no local: a client's own messages are not forwarded back to it",
            Rule::TopicAliasNotAllowed => {
                "a server sends no Topic Alias to a client that announced no Topic Alias Maximum"
            }
        }
    }

    /// Its name in report.json (`evidence.rule.name`).
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }

    /// The rule a scenario names: its name (`receive_maximum`) or its id in
    /// either protocol (`MQTT-3.8.4-6` and `MQTT-3.8.4-8` are both
    /// `qos_above_granted`). None: no rule midge checks.
    pub fn from_word(word: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.words().any(|w| w == word))
    }

    /// Its name, then its ids (3.1.1's first when it has one and it differs).
    pub fn words(self) -> impl Iterator<Item = String> {
        let v311 = self.id(ProtocolVersion::V311).filter(|id| Some(*id) != self.id(ProtocolVersion::V5));
        let ids = v311.into_iter().chain(self.id(ProtocolVersion::V5)).map(str::to_string);
        std::iter::once(self.name()).chain(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_is_named_by_its_name_or_either_protocols_id_and_no_id_is_two_rules() {
        assert_eq!(Rule::from_word("receive_maximum"), Some(Rule::ReceiveMaximum));
        assert_eq!(Rule::from_word("MQTT-3.3.4-9"), Some(Rule::ReceiveMaximum));
        assert_eq!(Rule::from_word("MQTT-3.8.4-6"), Some(Rule::QosAboveGranted));
        assert_eq!(Rule::from_word("MQTT-3.8.4-8"), Some(Rule::QosAboveGranted));
        assert_eq!(Rule::from_word("MQTT-3.3.4-99"), None);
        assert_eq!(Rule::from_word("Receive_Maximum"), None, "names are exact");
        let words: Vec<String> = Rule::QosAboveGranted.words().collect();
        assert_eq!(words, ["qos_above_granted", "MQTT-3.8.4-6", "MQTT-3.8.4-8"]);
        assert_eq!(Rule::TopicOrder.words().count(), 2, "one id in both protocols");
        // Every word names exactly one rule.
        let mut all: Vec<String> = Rule::ALL.iter().flat_map(|r| r.words()).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
        assert_eq!(n, 15 + 15 + 5, "a name and a 5.0 id each, and five 3.1.1 ids that differ");
    }
}
