//! Names for the return and reason codes of both protocol versions, as the
//! report spells them (snake_case, stable: scripts match on them).

use super::protocol::ProtocolVersion;
use crate::record::names::Named;
use crate::record::vocab::{Cause, ReasonCode};

use crate::record::vocab::disconnect_name;

/// The name of a CONNACK code: 3.1.1 return codes 0–5 or MQTT 5 reason codes.
pub fn connack_name(protocol: ProtocolVersion, code: u8) -> String {
    crate::record::vocab::connack_name(protocol == ProtocolVersion::V5, code)
}

/// Whether a CONNACK code means the credentials were refused.
pub fn connack_is_auth_refusal(protocol: ProtocolVersion, code: u8) -> bool {
    connack_cause(protocol, code).is_auth_refusal()
}

/// The cause of a connection attempt the broker refused with this CONNACK code.
pub fn connack_cause(protocol: ProtocolVersion, code: u8) -> Cause {
    Cause::Connack { v5: protocol == ProtocolVersion::V5, code }
}

/// The `disconnects.by_cause` name for a DISCONNECT the broker sent (MQTT 5).
pub fn disconnect_cause(code: u8) -> String {
    disconnect_name(code)
}

/// What a PUBACK, PUBREC or PUBCOMP reason code says (MQTT 5 §2.4): below
/// 0x80 the flow goes on, from 0x80 on the publish is refused. A 3.1.1 ack
/// carries no code: success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckReason {
    Success,
    /// The flow goes on, with a note (0x10: no matching subscribers).
    Noted(u8),
    /// The broker refused the publish.
    Refused(u8),
}

impl AckReason {
    pub fn of(code: u8) -> AckReason {
        match code {
            0 => AckReason::Success,
            c if c < 0x80 => AckReason::Noted(c),
            c => AckReason::Refused(c),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            AckReason::Success => 0,
            AckReason::Noted(c) | AckReason::Refused(c) => c,
        }
    }

    pub fn is_refusal(self) -> bool {
        matches!(self, AckReason::Refused(_))
    }

    /// The code `publish_reasons` counts, other than success (None: success).
    pub fn counted(self) -> Option<ReasonCode> {
        match self {
            AckReason::Success => None,
            AckReason::Noted(c) | AckReason::Refused(c) => Some(ReasonCode(c)),
        }
    }

    /// The `publish_reasons` name of a code other than success (None: success).
    pub fn counted_name(self) -> Option<String> {
        self.counted().map(|c| c.name().into_owned())
    }
}

/// A SUBACK return code: the granted QoS, or a failure (0x80 and up; MQTT 5
/// names its reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubAckCode {
    Granted(u8),
    Failure(u8),
}

impl SubAckCode {
    /// The first code of a SUBACK (an empty one is a failure).
    pub fn of(code: Option<u8>) -> SubAckCode {
        match code.unwrap_or(0x80) {
            c if c < 0x80 => SubAckCode::Granted(c),
            c => SubAckCode::Failure(c),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            SubAckCode::Granted(c) | SubAckCode::Failure(c) => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(connack_name(ProtocolVersion::V311, 5), "not_authorized");
        assert_eq!(connack_name(ProtocolVersion::V5, 0x86), "bad_username_or_password");
        assert_eq!(connack_name(ProtocolVersion::V311, 9), "connack_code_9");
        assert_eq!(disconnect_cause(0x8E), "session_taken_over");
        assert_eq!(disconnect_cause(0x8B), "server_shutdown");
        assert_eq!(disconnect_cause(0x7F), "disconnect_code_0x7f");
        assert!(connack_is_auth_refusal(ProtocolVersion::V311, 4));
        assert!(connack_is_auth_refusal(ProtocolVersion::V5, 0x87));
    }

    #[test]
    fn ack_reasons_split_at_0x80() {
        assert_eq!(AckReason::of(0), AckReason::Success);
        assert_eq!(AckReason::of(0x10), AckReason::Noted(0x10));
        assert_eq!(AckReason::of(0x87), AckReason::Refused(0x87));
        assert_eq!(AckReason::of(0x87).code(), 0x87);
        assert_eq!(AckReason::Success.counted_name(), None);
        assert_eq!(AckReason::of(0x10).counted_name().as_deref(), Some("no_matching_subscribers"));
        assert_eq!(AckReason::of(0xFE).counted_name().as_deref(), Some("reason_0xfe"));
        assert_eq!(SubAckCode::of(Some(1)), SubAckCode::Granted(1));
        assert_eq!(SubAckCode::of(Some(0x87)), SubAckCode::Failure(0x87));
        assert_eq!(SubAckCode::of(None), SubAckCode::Failure(0x80));
    }
}
