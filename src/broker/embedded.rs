//! The embedded broker: rumqttd on its own thread in midge's process, on a
//! loopback port, its throttles lifted.

use super::error::BrokerError;
use super::pki::Pki;
use super::port::free_port;
use crate::mqtt::protocol::ProtocolVersion;
use crate::scenario::Wire;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What the report calls the embedded broker.
pub const EMBEDDED_KIND: &str = "embedded (rumqttd 0.20)";

/// rumqttd on a loopback port, with its stock throttles lifted: no delay
/// between new connections, a high connection cap. `+ws` / `+wss` use its
/// WebSocket listener (MQTT 3.1.1 only in rumqttd 0.20); `+tls` / `+wss`
/// its rustls one, with the throwaway certificate.
pub(super) fn start_embedded(
    protocol: ProtocolVersion,
    wire: Wire,
    pki: Option<&Pki>,
) -> Result<(SocketAddr, String), BrokerError> {
    let port = free_port().map_err(|e| BrokerError::Embedded(e.to_string()))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let section = match (protocol, wire.ws()) {
        (ProtocolVersion::V311, true) => "ws",
        (ProtocolVersion::V5, true) => {
            return Err(BrokerError::Embedded(
                "its WebSocket listener speaks MQTT 3.1.1 only (rumqttd 0.20): use protocol = \"3.1.1\"".into(),
            ))
        }
        (ProtocolVersion::V311, false) => "v4",
        (ProtocolVersion::V5, false) => "v5",
    };
    let tls = pki.map_or(String::new(), |p| {
        format!(
            "[{section}.1.tls]\ncertpath = {:?}\nkeypath = {:?}\n",
            p.cert.display().to_string(),
            p.key.display().to_string()
        )
    });
    let text = format!(
        r#"id = 0
[router]
id = 0
max_connections = 100000
max_outgoing_packet_count = 1000
max_segment_size = 104857600
max_segment_count = 10

[{section}.1]
name = "{section}-midge"
listen = "{addr}"
next_connection_delay_ms = 0
[{section}.1.connections]
connection_timeout_ms = 60000
max_payload_size = 16777216
max_inflight_count = 1000
dynamic_filters = true
{tls}"#
    );
    let config: rumqttd::Config = toml::from_str(&text).map_err(|e| BrokerError::Embedded(format!("config: {e}")))?;
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("midge: embedded broker stopped: {e}");
            }
        })
        .map_err(|e| BrokerError::Embedded(e.to_string()))?;
    Ok((addr, text))
}

/// Waits until something accepts connections on `addr`, up to `limit`.
pub(super) async fn wait_listening(addr: SocketAddr, limit: Duration) -> Result<(), ()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(())
}
