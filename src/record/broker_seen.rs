//! What midge saw of the broker beside its messages: the TLS it negotiated
//! and the broker's own `$SYS` counters (both in `BrokerRecord`).

use serde::{Deserialize, Serialize};

/// TLS as the run used it: whether the broker's certificate was verified,
/// and what the first successful handshake negotiated (None when no
/// handshake succeeded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsRecord {
    /// `[broker.tls] insecure = true`: the broker's certificate was NOT verified.
    pub insecure: bool,
    /// The name the certificate was checked against.
    pub server_name: String,
    /// `TLSv1_3`, `TLSv1_2`.
    pub protocol_version: Option<String>,
    /// The IANA name of the cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: Option<String>,
}

/// The broker's own counters after one round of `$SYS` values (mosquitto
/// publishes a counter only when it changed, so each is the last value
/// seen, carried over). None: not published (yet) by this broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SysPoint {
    /// Run-clock seconds (0.1 resolution) when the round began.
    pub t_s: f64,
    /// `$SYS/broker/publish/messages/received`: PUBLISH packets received.
    pub received: Option<u64>,
    /// `$SYS/broker/publish/messages/sent`: PUBLISH packets sent ($SYS ones included).
    pub sent: Option<u64>,
    /// `$SYS/broker/publish/messages/dropped`: messages the broker dropped
    /// (a full queue, an offline client over its limits).
    pub dropped: Option<u64>,
    /// `$SYS/broker/clients/connected` (the $SYS watcher is one of them).
    pub clients: Option<u64>,
    /// `$SYS/broker/load/messages/received/1min`: the broker's own moving
    /// average of messages received per minute.
    #[serde(default)]
    pub received_1min: Option<f64>,
}
