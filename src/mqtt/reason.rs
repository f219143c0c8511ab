//! Names for the return and reason codes of both protocol versions, as the
//! report spells them (snake_case, stable: scripts match on them).

use crate::scenario::ProtocolVersion;

/// The name of a CONNACK code: 3.1.1 return codes 0–5 or MQTT 5 reason codes.
pub fn connack_name(protocol: ProtocolVersion, code: u8) -> String {
    let name = match protocol {
        ProtocolVersion::V311 => match code {
            0 => "accepted",
            1 => "unacceptable_protocol_version",
            2 => "identifier_rejected",
            3 => "server_unavailable",
            4 => "bad_username_or_password",
            5 => "not_authorized",
            _ => return format!("connack_code_{code}"),
        },
        ProtocolVersion::V5 => {
            return reason_name(code).map_or_else(|| format!("connack_code_0x{code:02x}"), str::to_string)
        }
    };
    name.to_string()
}

/// Whether a CONNACK code means the credentials were refused.
pub fn connack_is_auth_refusal(protocol: ProtocolVersion, code: u8) -> bool {
    match protocol {
        ProtocolVersion::V311 => matches!(code, 4 | 5),
        ProtocolVersion::V5 => matches!(code, 0x86 | 0x87 | 0x8C),
    }
}

/// MQTT 5 reason code names (§2.4), shared by CONNACK, DISCONNECT and acks.
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

/// The `disconnects.by_cause` name for a DISCONNECT the broker sent (MQTT 5).
pub fn disconnect_cause(code: u8) -> String {
    match code {
        0x00 => "normal".to_string(),
        0x8B => "server_shutdown".to_string(),
        c => reason_name(c).map_or_else(|| format!("disconnect_code_0x{c:02x}"), str::to_string),
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
}
