//! Names for the return and reason codes of both protocol versions, as the
//! report spells them (snake_case, stable: scripts match on them).

use super::protocol::ProtocolVersion;
use crate::record::vocab::Cause;

pub use crate::record::vocab::{disconnect_name, reason_name};

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
}
