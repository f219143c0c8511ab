//! The words a run's facts are told in: why a connection ended, what a
//! finding is, how a run is judged, what a fault did. Each is an enum that
//! code matches on, and each has one stable snake_case (or, for faults,
//! kebab-case) name that report.json and scripts use.
//!
//! All but `Cause` come from one macro (`named_enum!`): `as_str`, `Display`,
//! `FromStr` (an unknown name is an error that lists the known ones), `ALL`,
//! and serde as that name. Code compares variants, never names. A name is a
//! contract like a report.json field name. `Cause` carries data (codes, io
//! kinds, TLS names): report.json counts it under `Cause::name()`, record.json
//! keeps it in serde's own form (snake_case variants).
//!
//! Where the names appear in report.json: `FindingKind` → `findings[].kind`;
//! `Verdict` → `verdict`; `FaultKind` (kebab-case, the scenario's `action`) →
//! `faults[].action`; `LossWindow` → `messages.lost_by_window` keys and
//! `loss_windows[].kind` (`session_expired` only ever counts missed messages:
//! nothing was owed); `Limit` → the `broker_limit` evidence `limit`;
//! `StopSignal` → `stop_signal`; `DrainEnd` → `drain.ended`; `BatchMode` →
//! `load_generator.batch_mode`; `ReceiveTime` → `latency.own.e2e_receive_time`
//! and `capacity.steps[].e2e_receive_time`; `Cause::name()` → `disconnects.by_cause` and
//! `clients.connect_failures` keys, `client_timelines[].connections[].cause`,
//! the `protocol_error_drop` evidence `cause`. `Cause` names include
//! `network_eof`, `keepalive_timeout`, `malformed_packet_from_broker`, CONNACK
//! and DISCONNECT codes by reason name, `io_<kind>`, TLS names, WebSocket names
//! (`ws_http_<status>`, `ws_handshake_failed`, `ws_wrong_subprotocol`);
//! `session_taken_over`, `fault_injected`, `protocol_error` and
//! `broker_unavailable` may also be inferred by `analysis::detect::explain`.
//!
//! Beside the enums, plain name functions: `connack_name`, `disconnect_name`,
//! `reason_name` (MQTT 5 reason codes: `messages.publish_reasons` keys, with
//! `reason_0x..` for an unnamed one) and `suback_failure_name` (3.1.1's one
//! `failure`, or the MQTT 5 reason: `clients.subscribe_failures` keys and the
//! `subscribe_refused` evidence `codes`).
//!
//! `[expect] findings` is a list of `FindingKind`, parsed by serde from the
//! scenario: a name that is not a kind midge reports (`keepalive_timeout`, a
//! typo) is a scenario error with its file:line:column, before anything runs.

use crate::record::names::Named;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// An enum of unit variants with one name each: `as_str`, `Display`,
/// `FromStr` and serde as that name. Deliberately no comparison with `&str`:
/// code compares variants, so a misspelt name cannot compile.
macro_rules! named_enum {
    ($(#[$meta:meta])* pub enum $name:ident as $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("unknown {} {s:?} (one of: {})", $what, names.join(", "))
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum! {
    /// What a finding in the report is about.
    pub enum FindingKind as "finding kind" {
        DuplicateIdLoop => "duplicate_id_loop",
        ProtocolErrorDrop => "protocol_error_drop",
        AuthRefused => "auth_refused",
        QosViolation => "qos_violation",
        BrokerLimit => "broker_limit",
        GeneratorSaturated => "generator_saturated",
        SessionLost => "session_lost",
        SubscribeRefused => "subscribe_refused",
        BrokerUnavailable => "broker_unavailable",
        ClosedByBroker => "closed_by_broker",
        PublishDenied => "publish_denied",
        SlowConsumer => "slow_consumer",
        ListenBacklogOverflow => "listen_backlog_overflow",
        SpecViolation => "spec_violation",
        QueueWithheld => "queue_withheld",
    }
}

impl FindingKind {
    /// The heading a person reads for a finding of this kind.
    pub fn title(self) -> &'static str {
        match self {
            FindingKind::DuplicateIdLoop => "clients sharing a client id keep knocking each other off",
            FindingKind::ProtocolErrorDrop => "a connection was dropped for breaking the protocol",
            FindingKind::AuthRefused => "the broker refused the credentials",
            FindingKind::BrokerLimit => "the scenario would break a limit the broker announced",
            FindingKind::QosViolation => "a delivery guarantee was broken",
            FindingKind::GeneratorSaturated => "midge itself was the bottleneck, not the broker",
            FindingKind::SessionLost => "the broker discarded a session before it expired",
            FindingKind::SubscribeRefused => "the broker refused a subscription",
            FindingKind::BrokerUnavailable => "the broker dropped many connections at once and was unavailable",
            FindingKind::ClosedByBroker => "the broker closed a connection and the record shows no cause",
            FindingKind::PublishDenied => "the broker denied what some clients published",
            FindingKind::SlowConsumer => "a slow consumer fell behind and the broker dropped its messages",
            FindingKind::SpecViolation => "the broker broke a rule of the protocol",
            FindingKind::QueueWithheld => "the broker never began to send a resumed session's queue",
            FindingKind::ListenBacklogOverflow => {
                "connects waited for the kernel's SYN retry: the broker's listen backlog overflowed"
            }
        }
    }
}

named_enum! {
    /// How a run is judged: every expectation held, or not; or a signal
    /// stopped it before it could be judged (its figures cover what ran).
    pub enum Verdict as "verdict" {
        Pass => "pass",
        Fail => "fail",
        Interrupted => "interrupted",
    }
}

named_enum! {
    /// What a `[[fault]]` does (the scenario's `action`).
    pub enum FaultKind as "fault action" {
        Cut => "cut",
        Blackhole => "blackhole",
        Delay => "delay",
        Drop => "drop",
        RestartBroker => "restart-broker",
        DuplicateIds => "duplicate-ids",
        Malformed => "malformed",
        Stall => "stall",
        Kill => "kill",
    }
}

named_enum! {
    /// Where a lost message is attributed: steady state, or the offline window
    /// of its subscriber or publisher, or a broker restart.
    pub enum LossWindow as "loss window" {
        Steady => "steady",
        SubscriberOffline => "subscriber_offline",
        PublisherOffline => "publisher_offline",
        BrokerRestart => "broker_restart",
        SessionExpired => "session_expired",
        SessionLost => "session_lost",
        /// The subscriber was behind: midge held back its reads (`max_rate`,
        /// a `stall` fault) and it had not caught up.
        SlowConsumer => "slow_consumer",
    }
}

impl LossWindow {
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

impl Named for LossWindow {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.as_str())
    }
    fn from_name(name: &str) -> Option<Self> {
        name.parse().ok()
    }
}

named_enum! {
    /// A limit a broker announced in CONNACK (MQTT 5) that a client's
    /// scenario would break.
    pub enum Limit as "limit" {
        MaximumPacketSize => "maximum_packet_size",
        MaximumQos => "maximum_qos",
        RetainAvailable => "retain_available",
        SharedSubscriptionAvailable => "shared_subscription_available",
        WildcardSubscriptionAvailable => "wildcard_subscription_available",
    }
}

impl Limit {
    /// Whether a client this limit holds back stops publishing (else it
    /// stops subscribing).
    pub fn blocks_publishing(self) -> bool {
        matches!(self, Limit::MaximumPacketSize | Limit::MaximumQos | Limit::RetainAvailable)
    }
}

named_enum! {
    /// What e2e ran to, its deliveries' receive time (`report.json`
    /// `latency.own.e2e_receive_time`, `capacity.steps[].e2e_receive_time`).
    #[derive(Default)]
    pub enum ReceiveTime as "receive time" {
        /// Every delivery's: the kernel's receive stamp (plain TCP, Linux).
        Kernel => "kernel",
        /// Every delivery's: midge's own, after its read (TLS, WebSocket, not Linux).
        Midge => "midge",
        /// Some of each.
        Mixed => "mixed",
        /// No delivery.
        #[default]
        NoDeliveries => "none",
    }
}

impl ReceiveTime {
    /// Of `deliveries`, `stamped` had a kernel receive stamp.
    pub fn of(deliveries: u64, stamped: u64) -> ReceiveTime {
        match (deliveries, stamped) {
            (0, _) => ReceiveTime::NoDeliveries,
            (_, 0) => ReceiveTime::Midge,
            (d, s) if s >= d => ReceiveTime::Kernel,
            _ => ReceiveTime::Mixed,
        }
    }
}

named_enum! {
    /// How midge batches its system calls (`report.json`
    /// `load_generator.batch_mode`), from the scenario's `batch_window`.
    pub enum BatchMode as "batch mode" {
        /// No `batch_window` key: each connection batches only while it is
        /// busy (many packets per millisecond), up to a 1 ms window.
        Adaptive => "adaptive",
        /// A positive `batch_window`: always that window.
        Fixed => "fixed",
        /// `batch_window = "0ms"`: a wake-up per due message and per arriving packet.
        Off => "off",
    }
}

named_enum! {
    /// The signal that stopped a run before its end (`report.json` `stop_signal`).
    pub enum StopSignal as "stop signal" {
        /// Ctrl-C.
        Sigint => "SIGINT",
        /// What Kubernetes, systemd, CI timeouts and `timeout` send.
        Sigterm => "SIGTERM",
        /// The terminal went away.
        Sighup => "SIGHUP",
    }
}

impl StopSignal {
    /// The signal's number (the exit status is 128 + it).
    pub fn number(self) -> i32 {
        match self {
            StopSignal::Sigint => 2,
            StopSignal::Sigterm => 15,
            StopSignal::Sighup => 1,
        }
    }
}

named_enum! {
    /// How the drain after publishing ended (`report.json` `drain.ended`).
    pub enum DrainEnd as "drain end" {
        /// Nothing in flight, nobody waiting to reconnect, and no delivery for the quiet period.
        Complete => "complete",
        /// No delivery, acknowledgement or reconnect for the stall period,
        /// although publishes were still in flight or clients offline.
        Quiet => "quiet",
        /// The scenario's `drain` ran out first.
        TimeLimit => "time_limit",
        /// A signal stopped the run; what was in flight got a short drain.
        Interrupted => "interrupted",
        /// A partial report (`report_every`): the run had not drained yet.
        NotYet => "not_yet",
    }
}

/// Why a connection attempt failed or a connection ended. The run records
/// what midge saw; the analysis may rename a close once it knows more (a
/// takeover, midge's own fault, a protocol error the broker did not name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The broker closed the socket (EOF or broken pipe).
    NetworkEof,
    NetworkReset,
    /// TCP connect refused.
    Refused,
    Timeout,
    AddressNotAvailable,
    TooManyOpenFiles,
    /// Any other socket error, by its kind (`io_<kind>`).
    Io(String),
    /// A TLS failure, by name (`tls_bad_certificate`, `tls_alert_…`, …).
    Tls(String),
    /// A WebSocket handshake failure, by name (`ws_http_404`, `ws_handshake_failed`, …).
    WebSocket(String),
    ClosedBeforeConnack,
    UnexpectedPacketBeforeConnack,
    /// The broker refused CONNECT with this CONNACK code.
    Connack {
        v5: bool,
        code: u8,
    },
    /// The broker sent DISCONNECT (MQTT 5) with this reason code.
    Disconnect(u8),
    /// No PINGRESP (or anything else) within the keepalive.
    KeepaliveTimeout,
    /// midge closed it: the broker sent a packet that could not be decoded.
    MalformedPacketFromBroker,
    /// midge closed it: the broker sent a packet a server must not send.
    ProtocolErrorFromBroker,
    /// Inferred: another connection with the same client id came up.
    SessionTakenOver,
    /// Inferred: midge's own fault (proxy or broker restart) did it.
    FaultInjected,
    /// Inferred (3.1.1): the broker closed right after a packet midge sent,
    /// and its log or a repeat of the same close supports the blame.
    ProtocolError,
    /// Inferred: one of many connections the broker dropped at the same
    /// moment (an outage, not this client's doing).
    BrokerUnavailable,
}

/// MQTT 5 DISCONNECT reasons that mean "you broke the protocol".
const PROTOCOL_REASONS: &[u8] =
    &[0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x99, 0x9A, 0x9B, 0x9E, 0xA1, 0xA2];

impl Cause {
    /// The name report.json counts it under.
    pub fn name(&self) -> String {
        match self {
            Cause::NetworkEof => "network_eof".into(),
            Cause::NetworkReset => "network_reset".into(),
            Cause::Refused => "refused".into(),
            Cause::Timeout => "timeout".into(),
            Cause::AddressNotAvailable => "address_not_available".into(),
            Cause::TooManyOpenFiles => "too_many_open_files".into(),
            Cause::Io(kind) => format!("io_{kind}"),
            Cause::Tls(name) | Cause::WebSocket(name) => name.clone(),
            Cause::ClosedBeforeConnack => "closed_before_connack".into(),
            Cause::UnexpectedPacketBeforeConnack => "unexpected_packet_before_connack".into(),
            Cause::Connack { v5, code } => connack_name(*v5, *code),
            Cause::Disconnect(code) => disconnect_name(*code),
            Cause::KeepaliveTimeout => "keepalive_timeout".into(),
            Cause::MalformedPacketFromBroker => "malformed_packet_from_broker".into(),
            Cause::ProtocolErrorFromBroker => "protocol_error_from_broker".into(),
            Cause::SessionTakenOver => "session_taken_over".into(),
            Cause::FaultInjected => "fault_injected".into(),
            Cause::ProtocolError => "protocol_error".into(),
            Cause::BrokerUnavailable => "broker_unavailable".into(),
        }
    }

    /// The broker simply closed the connection, giving no reason.
    pub fn is_close_without_reason(&self) -> bool {
        matches!(self, Cause::NetworkEof | Cause::NetworkReset)
    }

    /// The broker said the session was taken over (MQTT 5 DISCONNECT 0x8E).
    pub fn is_takeover_reason(&self) -> bool {
        matches!(self, Cause::Disconnect(0x8E))
    }

    /// A protocol reason: the broker named one (MQTT 5), or midge closed the
    /// connection over what the broker sent.
    pub fn is_protocol_reason(&self) -> bool {
        match self {
            Cause::Disconnect(code) => PROTOCOL_REASONS.contains(code),
            Cause::MalformedPacketFromBroker | Cause::ProtocolErrorFromBroker => true,
            _ => false,
        }
    }

    /// CONNACK refused the credentials (3.1.1 codes 4/5; MQTT 5 0x86, 0x87, 0x8C).
    pub fn is_auth_refusal(&self) -> bool {
        match self {
            Cause::Connack { v5: false, code } => matches!(code, 4 | 5),
            Cause::Connack { v5: true, code } => matches!(code, 0x86 | 0x87 | 0x8C),
            _ => false,
        }
    }
}

/// The causes without data, for reading a name back.
const UNIT_CAUSES: &[Cause] = &[
    Cause::NetworkEof,
    Cause::NetworkReset,
    Cause::Refused,
    Cause::Timeout,
    Cause::AddressNotAvailable,
    Cause::TooManyOpenFiles,
    Cause::ClosedBeforeConnack,
    Cause::UnexpectedPacketBeforeConnack,
    Cause::KeepaliveTimeout,
    Cause::MalformedPacketFromBroker,
    Cause::ProtocolErrorFromBroker,
    Cause::SessionTakenOver,
    Cause::FaultInjected,
    Cause::ProtocolError,
    Cause::BrokerUnavailable,
];

impl Cause {
    /// The cause `name()` calls `name` (None: no cause has that name).
    /// `name()` is not one-to-one, so a name several causes share reads back
    /// as the first of: a cause without data (`protocol_error` is
    /// `ProtocolError`, not DISCONNECT 0x82), a DISCONNECT-only name
    /// (`normal`, `server_shutdown`, `disconnect_code_0x..`), a CONNACK code
    /// (3.1.1 names before MQTT 5 reason names). Always
    /// `Cause::from_name(n).name() == n`.
    pub fn from_name(name: &str) -> Option<Cause> {
        let hex = |prefix: &str| name.strip_prefix(prefix).and_then(|h| u8::from_str_radix(h, 16).ok());
        let dec = |prefix: &str| name.strip_prefix(prefix).and_then(|d| d.parse::<u8>().ok());
        let found = UNIT_CAUSES
            .iter()
            .find(|c| c.name() == name)
            .cloned()
            .or_else(|| name.strip_prefix("io_").map(|kind| Cause::Io(kind.to_string())))
            .or_else(|| name.starts_with("tls_").then(|| Cause::Tls(name.to_string())))
            .or_else(|| name.starts_with("ws_").then(|| Cause::WebSocket(name.to_string())))
            .or_else(|| match name {
                "normal" => Some(Cause::Disconnect(0x00)),
                "server_shutdown" => Some(Cause::Disconnect(0x8B)),
                _ => hex("disconnect_code_0x").map(Cause::Disconnect),
            })
            .or_else(|| hex("connack_code_0x").map(|code| Cause::Connack { v5: true, code }))
            .or_else(|| dec("connack_code_").map(|code| Cause::Connack { v5: false, code }))
            .or_else(|| {
                (0..=5).find(|&c| connack_name(false, c) == name).map(|code| Cause::Connack { v5: false, code })
            })
            .or_else(|| ReasonCode::from_name(name).map(|r| Cause::Connack { v5: true, code: r.0 }));
        found.filter(|c| c.name() == name)
    }
}

impl Named for Cause {
    fn name(&self) -> Cow<'static, str> {
        Cow::Owned(Cause::name(self))
    }
    fn from_name(name: &str) -> Option<Self> {
        Cause::from_name(name)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The name of a CONNACK code: 3.1.1 return codes 0–5 or MQTT 5 reason codes.
pub fn connack_name(v5: bool, code: u8) -> String {
    if v5 {
        return reason_name(code).map_or_else(|| format!("connack_code_0x{code:02x}"), str::to_string);
    }
    match code {
        0 => "accepted",
        1 => "unacceptable_protocol_version",
        2 => "identifier_rejected",
        3 => "server_unavailable",
        4 => "bad_username_or_password",
        5 => "not_authorized",
        _ => return format!("connack_code_{code}"),
    }
    .to_string()
}

/// The name a SUBACK failure code is counted under (`subscribe_failures`):
/// 3.1.1 has one failure code; MQTT 5 names its reason.
pub fn suback_failure_name(v5: bool, code: u8) -> String {
    SubackFailure::of(v5, code).name().into_owned()
}

/// An MQTT 5 reason code (PUBACK, PUBREC, PUBCOMP: `publish_reasons`),
/// named by `reason_name`, or `reason_0x..` when it has no name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReasonCode(pub u8);

impl Named for ReasonCode {
    fn name(&self) -> Cow<'static, str> {
        reason_name(self.0).map_or_else(|| Cow::Owned(format!("reason_0x{:02x}", self.0)), Cow::Borrowed)
    }
    fn from_name(name: &str) -> Option<Self> {
        (0..=u8::MAX).map(ReasonCode).find(|r| r.name() == name)
    }
}

/// A refused subscription as `subscribe_failures` counts it: the one
/// failure code of 3.1.1 (and an MQTT 5 code without a name), or the named
/// MQTT 5 reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubackFailure {
    Failure,
    Reason(ReasonCode),
}

impl SubackFailure {
    /// The failure a SUBACK code (0x80 and up) stands for.
    pub fn of(v5: bool, code: u8) -> SubackFailure {
        match v5 && reason_name(code).is_some() {
            true => SubackFailure::Reason(ReasonCode(code)),
            false => SubackFailure::Failure,
        }
    }
}

impl Named for SubackFailure {
    fn name(&self) -> Cow<'static, str> {
        match self {
            SubackFailure::Failure => Cow::Borrowed("failure"),
            SubackFailure::Reason(r) => r.name(),
        }
    }
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "failure" => Some(SubackFailure::Failure),
            _ => ReasonCode::from_name(name).map(SubackFailure::Reason),
        }
    }
}

/// The `disconnects.by_cause` name for a DISCONNECT the broker sent (MQTT 5).
pub fn disconnect_name(code: u8) -> String {
    match code {
        0x00 => "normal".to_string(),
        0x8B => "server_shutdown".to_string(),
        c => reason_name(c).map_or_else(|| format!("disconnect_code_0x{c:02x}"), str::to_string),
    }
}

/// MQTT 5 reason code names (MQTT 5.0 §2.4), shared by CONNACK, DISCONNECT and acks.
pub fn reason_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x00 => "success",
        0x04 => "disconnect_with_will",
        0x10 => "no_matching_subscribers",
        0x80 => "unspecified_error",
        0x81 => "malformed_packet",
        0x82 => "protocol_error",
        0x83 => "implementation_specific_error",
        0x84 => "unsupported_protocol_version",
        0x85 => "client_identifier_not_valid",
        0x86 => "bad_username_or_password",
        0x87 => "not_authorized",
        0x88 => "server_unavailable",
        0x89 => "server_busy",
        0x8A => "banned",
        0x8B => "server_shutting_down",
        0x8C => "bad_authentication_method",
        0x8D => "keepalive_timeout",
        0x8E => "session_taken_over",
        0x8F => "topic_filter_invalid",
        0x90 => "topic_name_invalid",
        0x91 => "packet_identifier_in_use",
        0x92 => "packet_identifier_not_found",
        0x93 => "receive_maximum_exceeded",
        0x94 => "topic_alias_invalid",
        0x95 => "packet_too_large",
        0x96 => "message_rate_too_high",
        0x97 => "quota_exceeded",
        0x98 => "administrative_action",
        0x99 => "payload_format_invalid",
        0x9A => "retain_not_supported",
        0x9B => "qos_not_supported",
        0x9C => "use_another_server",
        0x9D => "server_moved",
        0x9E => "shared_subscriptions_not_supported",
        0x9F => "connection_rate_exceeded",
        0xA0 => "maximum_connect_time",
        0xA1 => "subscription_identifiers_not_supported",
        0xA2 => "wildcard_subscriptions_not_supported",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_todays_names() {
        assert_eq!(connack_name(false, 5), "not_authorized");
        assert_eq!(connack_name(true, 0x86), "bad_username_or_password");
        assert_eq!(connack_name(false, 9), "connack_code_9");
        assert_eq!(Cause::Disconnect(0x8E).name(), "session_taken_over");
        assert_eq!(Cause::Disconnect(0x8B).name(), "server_shutdown");
        assert_eq!(Cause::Disconnect(0x7F).name(), "disconnect_code_0x7f");
        assert_eq!(Cause::Io("other".into()).name(), "io_other");
        assert!(Cause::Connack { v5: false, code: 4 }.is_auth_refusal());
        assert!(Cause::Connack { v5: true, code: 0x87 }.is_auth_refusal());
        assert!(!Cause::Disconnect(0x87).is_auth_refusal(), "a DISCONNECT is no credential refusal");
        assert!(Cause::Disconnect(0x95).is_protocol_reason());
        assert!(!Cause::Disconnect(0x8E).is_protocol_reason());
    }

    #[test]
    fn named_enums_round_trip_through_their_names() {
        for k in FindingKind::ALL {
            assert_eq!(k.as_str().parse::<FindingKind>(), Ok(*k));
            assert_eq!(serde_json::to_string(k).unwrap(), format!("\"{k}\""));
        }
        assert_eq!(FaultKind::RestartBroker.as_str(), "restart-broker");
        assert_eq!(Verdict::Pass.to_string(), "pass");
        assert!("keepalive_timeout".parse::<FindingKind>().unwrap_err().contains("duplicate_id_loop"));
        let c = Cause::Connack { v5: true, code: 0x87 };
        assert_eq!(serde_json::from_str::<Cause>(&serde_json::to_string(&c).unwrap()).unwrap(), c);
    }

    /// One cause of every variant, with every CONNACK and DISCONNECT code.
    fn every_cause() -> Vec<Cause> {
        let mut all = UNIT_CAUSES.to_vec();
        all.extend(["other", "invalid_data"].map(|k| Cause::Io(k.into())));
        all.extend(
            ["tls_bad_certificate", "tls_alert_certificate_required", "tls_error"].map(|n| Cause::Tls(n.into())),
        );
        all.extend(["ws_http_404", "ws_handshake_failed"].map(|n| Cause::WebSocket(n.into())));
        for code in 0..=u8::MAX {
            all.extend([
                Cause::Connack { v5: false, code },
                Cause::Connack { v5: true, code },
                Cause::Disconnect(code),
            ]);
        }
        all
    }

    #[test]
    fn every_cause_reads_back_from_its_name() {
        for c in every_cause() {
            let back = Cause::from_name(&c.name()).unwrap_or_else(|| panic!("{c:?} ({}) does not read back", c.name()));
            assert_eq!(back.name(), c.name(), "{c:?}");
        }
        // Where the name is the cause's own, the cause itself comes back.
        for c in UNIT_CAUSES {
            assert_eq!(Cause::from_name(&c.name()).as_ref(), Some(c));
        }
        assert_eq!(Cause::from_name("io_other"), Some(Cause::Io("other".into())));
        assert_eq!(Cause::from_name("ws_http_404"), Some(Cause::WebSocket("ws_http_404".into())));
        assert_eq!(Cause::from_name("tls_error"), Some(Cause::Tls("tls_error".into())));
        assert_eq!(Cause::from_name("normal"), Some(Cause::Disconnect(0)));
        assert_eq!(Cause::from_name("disconnect_code_0x7f"), Some(Cause::Disconnect(0x7F)));
        assert_eq!(Cause::from_name("connack_code_9"), Some(Cause::Connack { v5: false, code: 9 }));
        assert_eq!(Cause::from_name("connack_code_0xfe"), Some(Cause::Connack { v5: true, code: 0xFE }));
        assert_eq!(Cause::from_name("not_authorized"), Some(Cause::Connack { v5: false, code: 5 }));
        assert_eq!(Cause::from_name("server_busy"), Some(Cause::Connack { v5: true, code: 0x89 }));
        for bad in ["", "nonsense", "disconnect_code_0x8e", "connack_code_0x", "connack_code_09"] {
            assert_eq!(Cause::from_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reason_codes_and_suback_failures_read_back_from_their_names() {
        for code in 0..=u8::MAX {
            let r = ReasonCode(code);
            assert_eq!(ReasonCode::from_name(&r.name()), Some(r));
            for v5 in [false, true] {
                let f = SubackFailure::of(v5, code);
                assert_eq!(SubackFailure::from_name(&f.name()), Some(f));
                assert_eq!(f.name(), suback_failure_name(v5, code));
            }
        }
        assert_eq!(ReasonCode(0x10).name(), "no_matching_subscribers");
        assert_eq!(ReasonCode(0xFE).name(), "reason_0xfe");
        assert_eq!(SubackFailure::of(false, 0x80).name(), "failure");
        assert_eq!(SubackFailure::of(true, 0x87).name(), "not_authorized");
        assert_eq!(SubackFailure::of(true, 0xFE).name(), "failure");
        for w in LossWindow::ALL {
            assert_eq!(<LossWindow as Named>::from_name(w.as_str()), Some(*w));
        }
    }

    #[test]
    fn maps_keyed_by_a_vocabulary_type_write_and_read_by_name() {
        use crate::record::names::serde_by_name;
        use std::collections::BTreeMap;
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct M {
            #[serde(with = "serde_by_name")]
            m: BTreeMap<Cause, u64>,
        }
        // Two causes named alike count as one name; the names in their order.
        let m = M {
            m: [(Cause::Timeout, 1), (Cause::ProtocolError, 2), (Cause::Disconnect(0x82), 3), (Cause::Refused, 4)]
                .into(),
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, r#"{"m":{"protocol_error":5,"refused":4,"timeout":1}}"#);
        let back: M = serde_json::from_str(&text).unwrap();
        assert_eq!(back.m, [(Cause::Timeout, 1), (Cause::ProtocolError, 5), (Cause::Refused, 4)].into());
        assert!(serde_json::from_str::<M>(r#"{"m":{"nonsense":1}}"#).unwrap_err().to_string().contains("nonsense"));
    }
}
