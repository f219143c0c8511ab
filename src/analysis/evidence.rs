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

use serde::{Deserialize, Serialize};
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
    /// Refusals by CONNACK code name.
    pub codes: BTreeMap<String, u64>,
    pub group: String,
    pub retried: bool,
}

/// subscribe_refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubscribeEvidence {
    /// Refusals by SUBACK code name.
    pub codes: BTreeMap<String, u64>,
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
    /// Publishers the broker denied (absent when none was).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_publishers: Vec<String>,
    pub duplicated: u64,
    pub lost: u64,
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
    pub causes: BTreeMap<String, u64>,
    pub clients: Vec<String>,
    pub connected_before: u64,
    pub dropped: usize,
    pub failed_attempts: BTreeMap<String, u64>,
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
    pub closed_at_s: Vec<f64>,
    pub closes: usize,
    pub clients: usize,
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
}

impl Evidence {
    /// The connection's last packets, where the evidence has them.
    pub fn flight_recorder(&self) -> &[FlightPacket] {
        match self {
            Evidence::ProtocolDrop(e) => &e.flight_recorder,
            Evidence::Closed(e) => &e.flight_recorder,
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

    /// The streams of a qos_violation.
    pub fn streams(&self) -> &[StreamEvidence] {
        match self {
            Evidence::Qos(e) => &e.streams,
            _ => &[],
        }
    }

    /// Refusals by code name (CONNACK or SUBACK).
    pub fn codes(&self) -> Option<&BTreeMap<String, u64>> {
        match self {
            Evidence::AuthRefused(e) => Some(&e.codes),
            Evidence::SubscribeRefused(e) => Some(&e.codes),
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
