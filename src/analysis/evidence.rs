//! The evidence of a finding: one type per finding kind, each what its
//! detector under `detect/` found, as report.json carries it in
//! `findings[].evidence`.
//!
//! report.json's evidence objects list their keys in alphabetical order (they
//! were once built as JSON maps, which sort their keys), so every struct here
//! declares its fields alphabetically: serde writes them in declaration order.
//! `Evidence` is untagged (the finding's `kind` says which it is) and each
//! struct denies unknown fields, so a report.json reads back into the variant
//! whose keys it has.

use crate::record::names::{by_name, serde_by_name};
use crate::record::vocab::{Cause, SubackFailure};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// What a finding rests on, by finding kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Evidence {
    /// duplicate_id_loop.
    DuplicateId(DuplicateIdEvidence),
    /// protocol_error_drop.
    ProtocolDrop(ProtocolDropEvidence),
    /// closed_by_broker.
    Closed(ClosedEvidence),
    /// auth_refused.
    AuthRefused(AuthEvidence),
    /// subscribe_refused.
    SubscribeRefused(SubscribeEvidence),
    /// qos_violation.
    Qos(QosEvidence),
    /// broker_limit.
    Limit(LimitEvidence),
    /// generator_saturated.
    Saturation(SaturationEvidence),
    /// session_lost.
    SessionLost(SessionLostEvidence),
    /// broker_unavailable.
    Outage(OutageEvidence),
    /// publish_denied.
    Denied(DeniedEvidence),
    /// slow_consumer.
    SlowConsumer(SlowConsumerEvidence),
    /// listen_backlog_overflow.
    Backlog(BacklogEvidence),
    /// spec_violation.
    Spec(SpecEvidence),
    /// queue_withheld.
    Withheld(WithheldEvidence),
}

/// queue_withheld: a resumed connection on which nothing came, and what
/// its absence lost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WithheldEvidence {
    pub client: String,
    /// The connection's index in the client's timeline (`client_timelines`).
    pub connection: u32,
    pub ended_s: f64,
    /// Messages on the subscriber's streams past their expiry, not owed:
    /// over the whole run (every absence), as `first_lost` is.
    pub expired: u64,
    /// Per publisher, its first lost sequence numbers: [from, to) ranges.
    pub first_lost: BTreeMap<String, Vec<(u64, u64)>>,
    pub resumed_s: f64,
    /// Lost in the offline window before the connection.
    pub withheld: u64,
}

/// spec_violation: one rule broken toward one client, and the packets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpecEvidence {
    pub client: String,
    pub count: u64,
    /// The connection's last packets at the first occurrence (oldest first).
    pub flight_recorder: Vec<FlightPacket>,
    /// The packets of the first occurrences, as seen.
    pub packets: Vec<SpecPacket>,
    pub rule: RuleEvidence,
    /// The limit midge announced that the rule holds the broker to: its
    /// Receive Maximum, or its Maximum Packet Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announced_limit: Option<u32>,
    /// Receive Maximum: the most QoS ≥ 1 PUBLISHes in flight toward the
    /// client at once (its record's `max_inbound_inflight`) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_in_flight: Option<u32>,
    /// … and when first reached, run seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_s: Option<f64>,
}

/// The rule broken: its id in the protocol in use, name and title.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleEvidence {
    /// The normative statement's id ("MQTT-3.3.1-1").
    pub id: String,
    /// midge's name for it ("dup_on_redelivery").
    pub name: String,
    /// "3.1.1" or "5".
    pub protocol: String,
    pub title: String,
}

/// One packet of a spec violation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpecPacket {
    /// "sent" or "received".
    pub direction: String,
    pub dup: bool,
    /// MQTT 5 Message Expiry Interval on it, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_s: Option<u32>,
    /// The QoS the subscription was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_qos: Option<u8>,
    pub packet_id: u16,
    /// The midge publisher's client id, and the message's sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    pub qos: u8,
    pub retain: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// When the publisher sent it (run seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_s: Option<f64>,
    pub t_s: f64,
    /// MQTT 5 Topic Alias on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_alias: Option<u16>,
    /// The publisher's topic (a PUBLISH of midge's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The packet type's name ("PUBLISH").
    #[serde(rename = "type")]
    pub packet_type: String,
    /// Bytes on the wire (where the rule limits its size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// QoS ≥ 1 PUBLISHes in flight toward the client once it was read
    /// (where the rule is the Receive Maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u32>,
}

/// One packet of a connection's flight recorder (oldest first).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlightPacket {
    /// "sent" or "received".
    pub direction: String,
    pub flags: u8,
    pub malformed: bool,
    pub packet_id: u16,
    pub size: u32,
    pub t_s: f64,
    /// The packet type's name ("PUBLISH"), "INVALID" for an undecodable one.
    #[serde(rename = "type")]
    pub packet_type: String,
}

/// One takeover of a duplicate id: who was closed when whom came up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TakeoverEvidence {
    pub at_s: f64,
    pub by: String,
    pub closed: String,
}

/// duplicate_id_loop: takeovers within the run (`period_s`, `takeovers`), or
/// a holder of the id outside it (`closed_at_s`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DuplicateIdEvidence {
    pub broker_log: Vec<String>,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at_s: Option<Vec<f64>>,
    pub connections: Vec<String>,
    pub cycles: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeovers: Option<Vec<TakeoverEvidence>>,
}

/// protocol_error_drop.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProtocolDropEvidence {
    pub broker_log: Vec<String>,
    pub cause: String,
    pub drops_at_s: Vec<f64>,
    pub flight_recorder: Vec<FlightPacket>,
}

/// closed_by_broker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClosedEvidence {
    pub broker_log: Vec<String>,
    pub cause: String,
    pub client_id: String,
    pub closed_after_packet: usize,
    pub closed_at_s: Vec<f64>,
    pub closes: usize,
    pub connected_for_s: Vec<f64>,
    pub flight_recorder: Vec<FlightPacket>,
}

/// auth_refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthEvidence {
    pub attempts: u64,
    pub broker_log: Vec<String>,
    pub clients: usize,
    /// Refusals by CONNACK code.
    #[serde(with = "serde_by_name")]
    pub codes: BTreeMap<Cause, u64>,
    pub group: String,
    pub retried: bool,
}

/// subscribe_refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubscribeEvidence {
    /// Refusals by SUBACK code.
    #[serde(with = "serde_by_name")]
    pub codes: BTreeMap<SubackFailure, u64>,
    pub filter: String,
    pub group: String,
}

/// One stream of a qos_violation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamEvidence {
    pub duplicated: u64,
    pub lost: u64,
    /// Lost sequence numbers as [start, end) ranges (empty when none was lost).
    pub lost_seqs: Vec<(u64, u64)>,
    pub out_of_order: u64,
    pub publisher: String,
}

/// qos_violation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QosEvidence {
    /// The `acl_file` line of the configuration midge wrote for the broker
    /// (absent when it wrote none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl_file: Option<String>,
    /// Publishers the broker denied (absent when none was).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_publishers: Vec<String>,
    pub duplicated: u64,
    pub lost: u64,
    /// Acknowledged and never delivered on any stream of this subscriber:
    /// the pattern of a denial (absent when something was delivered).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_delivered: bool,
    pub out_of_order: u64,
    pub qos: u8,
    pub streams: Vec<StreamEvidence>,
    pub subscriber: String,
}

/// broker_limit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitEvidence {
    pub announced: u64,
    pub group: String,
    pub limit: crate::record::vocab::Limit,
    pub needed: u64,
}

/// generator_saturated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SaturationEvidence {
    pub cpu_utilization: f64,
    pub loop_delay_p99_us: u64,
    pub publish_lag_p99_us: u64,
    pub workers: u64,
}

/// A span a subscriber was away or behind, and what it lost then.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpanEvidence {
    pub from_s: f64,
    pub lost: u64,
    pub to_s: f64,
}

/// session_lost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SessionLostEvidence {
    pub group: String,
    pub offline: Vec<SpanEvidence>,
    pub session_expiry_s: Option<u32>,
}

/// broker_unavailable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutageEvidence {
    pub all_back_s: Option<f64>,
    #[serde(with = "serde_by_name")]
    pub causes: BTreeMap<Cause, u64>,
    pub clients: Vec<String>,
    pub connected_before: u64,
    pub dropped: usize,
    #[serde(with = "serde_by_name")]
    pub failed_attempts: BTreeMap<Cause, u64>,
    pub first_back_s: Option<f64>,
    pub min_drops: usize,
    pub never_back: usize,
    pub window_ms: u64,
}

/// publish_denied.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeniedEvidence {
    pub broker_log: Vec<String>,
    pub clients: usize,
    pub closed_at_s: Vec<f64>,
    pub closes: usize,
    pub denied: usize,
    pub group: String,
    pub lost: u64,
}

/// slow_consumer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlowConsumerEvidence {
    pub behind: Vec<SpanEvidence>,
    pub broker_dropped: Option<u64>,
    pub broker_lines: Vec<String>,
    pub group: String,
    pub lost: u64,
    pub max_rate: Option<f64>,
    /// Of `lost`, those missing below a later delivery: the broker skipped them.
    #[serde(default)]
    pub missing_below_later: u64,
}

/// listen_backlog_overflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BacklogEvidence {
    /// TCP connects per SYN retry band.
    pub bands: Vec<RetryBand>,
    /// TCP connects of 500 ms or more outside every band.
    pub between_bands: u64,
    /// The rise of the kernel's TcpExtListenOverflows during the run (null:
    /// the broker is not on this machine, or it could not be read).
    pub listen_overflows: Option<u64>,
    pub tcp_connects: u64,
}

/// The TCP connects that took as long as one SYN retry: [from_ms, to_ms).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryBand {
    pub connects: u64,
    pub from_ms: u64,
    /// The retry: 1, 3 or 7 s after the first SYN.
    pub retry_s: u64,
    pub to_ms: u64,
}

impl Evidence {
    /// The connection's last packets, where the evidence has them.
    pub fn flight_recorder(&self) -> &[FlightPacket] {
        match self {
            Evidence::ProtocolDrop(e) => &e.flight_recorder,
            Evidence::Closed(e) => &e.flight_recorder,
            Evidence::Spec(e) => &e.flight_recorder,
            _ => &[],
        }
    }

    /// The takeovers of a duplicate id within the run.
    pub fn takeovers(&self) -> &[TakeoverEvidence] {
        match self {
            Evidence::DuplicateId(e) => e.takeovers.as_deref().unwrap_or_default(),
            _ => &[],
        }
    }

    /// A spec_violation's evidence.
    pub fn spec(&self) -> Option<&SpecEvidence> {
        match self {
            Evidence::Spec(e) => Some(e),
            _ => None,
        }
    }

    /// A queue_withheld's evidence.
    pub fn withheld(&self) -> Option<&WithheldEvidence> {
        match self {
            Evidence::Withheld(e) => Some(e),
            _ => None,
        }
    }

    /// The streams of a qos_violation.
    pub fn streams(&self) -> &[StreamEvidence] {
        match self {
            Evidence::Qos(e) => &e.streams,
            _ => &[],
        }
    }

    /// Refusals by code name (CONNACK or SUBACK), in the order of the names.
    pub fn codes(&self) -> Option<BTreeMap<Cow<'static, str>, u64>> {
        match self {
            Evidence::AuthRefused(e) => Some(by_name(&e.codes)),
            Evidence::SubscribeRefused(e) => Some(by_name(&e.codes)),
            _ => None,
        }
    }

    /// The broker's log lines quoted as `broker_log`.
    pub fn broker_log(&self) -> &[String] {
        match self {
            Evidence::DuplicateId(e) => &e.broker_log,
            Evidence::ProtocolDrop(e) => &e.broker_log,
            Evidence::Closed(e) => &e.broker_log,
            Evidence::AuthRefused(e) => &e.broker_log,
            Evidence::Denied(e) => &e.broker_log,
            _ => &[],
        }
    }

    /// As report.json has it, for tests and tools that look keys up.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The JSON object report.json carries.
impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::vocab::Limit;

    fn span() -> SpanEvidence {
        SpanEvidence { from_s: 1.0, lost: 2, to_s: 3.5 }
    }

    fn flight() -> Vec<FlightPacket> {
        let p = FlightPacket {
            direction: "sent".into(),
            flags: 2,
            malformed: true,
            packet_id: 7,
            size: 12,
            t_s: 0.5,
            packet_type: "PUBLISH".into(),
        };
        vec![p]
    }

    /// One of every kind, with every optional part present.
    fn every_kind() -> Vec<Evidence> {
        let mut all = the_first_kinds();
        all.push(Evidence::Withheld(WithheldEvidence {
            client: "sub0".into(),
            connection: 1,
            ended_s: 7.5,
            expired: 70,
            first_lost: [("pub0".to_string(), vec![(75, 100)])].into(),
            resumed_s: 5.2,
            withheld: 25,
        }));
        all
    }

    fn the_first_kinds() -> Vec<Evidence> {
        let log = vec!["1700000001: Client dev0 disconnected.".to_string()];
        let codes: BTreeMap<Cause, u64> = [(Cause::Connack { v5: false, code: 5 }, 3)].into();
        vec![
            Evidence::DuplicateId(DuplicateIdEvidence {
                broker_log: log.clone(),
                client_id: "dev0".into(),
                closed_at_s: None,
                connections: vec!["a".into(), "b".into()],
                cycles: 3,
                period_s: Some(1.0),
                takeovers: Some(vec![TakeoverEvidence { at_s: 1.0, by: "b".into(), closed: "a".into() }]),
            }),
            Evidence::DuplicateId(DuplicateIdEvidence {
                closed_at_s: Some(vec![1.5]),
                period_s: None,
                takeovers: None,
                ..DuplicateIdEvidence::default()
            }),
            Evidence::ProtocolDrop(ProtocolDropEvidence {
                broker_log: log.clone(),
                cause: "packet_too_large".into(),
                drops_at_s: vec![2.0],
                flight_recorder: flight(),
            }),
            Evidence::Closed(ClosedEvidence {
                broker_log: log.clone(),
                cause: "network_eof".into(),
                client_id: "dev0".into(),
                closed_after_packet: 1,
                closed_at_s: vec![1.5],
                closes: 3,
                connected_for_s: vec![0.5],
                flight_recorder: flight(),
            }),
            Evidence::AuthRefused(AuthEvidence {
                attempts: 3,
                broker_log: log.clone(),
                clients: 3,
                codes: codes.clone(),
                group: "g".into(),
                retried: false,
            }),
            Evidence::SubscribeRefused(SubscribeEvidence {
                codes: [(SubackFailure::Failure, 3)].into(),
                filter: "a/#".into(),
                group: "g".into(),
            }),
            Evidence::Qos(QosEvidence {
                acl_file: Some("acl_file /tmp/acl".into()),
                denied_publishers: vec!["pub0".into()],
                never_delivered: true,
                duplicated: 1,
                lost: 3,
                out_of_order: 0,
                qos: 1,
                streams: vec![StreamEvidence {
                    duplicated: 1,
                    lost: 3,
                    lost_seqs: vec![(10, 13)],
                    out_of_order: 0,
                    publisher: "pub0".into(),
                }],
                subscriber: "sub0".into(),
            }),
            Evidence::Limit(LimitEvidence { announced: 1000, group: "g".into(), limit: Limit::MaximumQos, needed: 2 }),
            Evidence::Saturation(SaturationEvidence {
                cpu_utilization: 0.95,
                loop_delay_p99_us: 10,
                publish_lag_p99_us: 20,
                workers: 2,
            }),
            Evidence::SessionLost(SessionLostEvidence {
                group: "g".into(),
                offline: vec![span()],
                session_expiry_s: Some(60),
            }),
            Evidence::Outage(OutageEvidence {
                all_back_s: Some(1.0),
                causes: [(Cause::NetworkEof, 4)].into(),
                clients: vec!["c0".into()],
                connected_before: 8,
                dropped: 4,
                failed_attempts: BTreeMap::new(),
                first_back_s: None,
                min_drops: 3,
                never_back: 0,
                window_ms: 50,
            }),
            Evidence::Denied(DeniedEvidence {
                broker_log: log,
                clients: 1,
                closed_at_s: vec![1.0],
                closes: 1,
                denied: 2,
                group: "g".into(),
                lost: 0,
            }),
            Evidence::SlowConsumer(SlowConsumerEvidence {
                behind: vec![span()],
                broker_dropped: Some(5),
                broker_lines: vec![],
                group: "g".into(),
                lost: 5,
                max_rate: Some(1000.0),
                missing_below_later: 5,
            }),
            Evidence::Backlog(BacklogEvidence {
                bands: vec![RetryBand { connects: 913, from_ms: 950, retry_s: 1, to_ms: 1500 }],
                between_bands: 2,
                listen_overflows: Some(913),
                tcp_connects: 1000,
            }),
        ]
    }

    /// report.json's evidence keys are in alphabetical order, at every depth,
    /// as when the evidence was a JSON map: a JSON value sorts its keys, so
    /// the struct written directly and through a value must read the same.
    #[test]
    fn every_kind_writes_its_keys_in_alphabetical_order() {
        for e in every_kind() {
            let direct = serde_json::to_string(&e).unwrap();
            let sorted = serde_json::to_string(&e.json()).unwrap();
            assert_eq!(direct, sorted, "declare the fields alphabetically");
        }
    }

    /// A report.json reads back into the same evidence, whichever kind it is.
    #[test]
    fn every_kind_reads_back_as_itself() {
        for e in every_kind() {
            let back: Evidence = serde_json::from_str(&e.to_string()).unwrap();
            assert_eq!(back, e);
        }
    }
}
