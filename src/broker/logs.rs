//! The broker's log, read for the detectors: which lines can tell why a
//! client was closed (the corroboration a finding cites).
//!
//! `is_telling` picks the lines kept in the run record (`BrokerRecord`).

/// Whether a broker log line can tell why a client was closed.
pub fn is_telling(line: &str) -> bool {
    const TELLING: &[&str] = &[
        "already connected",
        "protocol error",
        "malformed",
        "oversize",
        "not authorised",
        "disconnected",
        "closing",
        "denied",
        "bad socket",
        // "Outgoing messages are being dropped for client X." (queue full)
        "being dropped",
    ];
    let lower = line.to_lowercase();
    TELLING.iter().any(|k| lower.contains(k))
}

#[cfg(test)]
mod tests {
    use super::is_telling;

    #[test]
    fn denials_and_bad_sockets_are_telling_and_routine_lines_are_not() {
        // mosquitto 2.0.11, an ACL that denies the topic (the denial at `log_type debug`).
        assert!(is_telling("1796086782: Denied PUBLISH from pub-1 (d0, q1, r0, m1, 'denied/0', ... (40 bytes))"));
        assert!(is_telling("1796086782: Bad socket read/write on client pub-1: Unknown error."));
        assert!(is_telling("1796086823: Client big-0 disconnected due to oversize packet."));
        assert!(is_telling("1: Client a already connected, closing old connection."));
        assert!(!is_telling("1796086782: New client connected from 127.0.0.1:46620 as pub-1 (p2, c1, k60)."));
        assert!(!is_telling("1796086782: Sending PUBACK to pub-1 (m1, rc135)"));
    }
}
