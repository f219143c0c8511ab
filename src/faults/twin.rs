//! The `duplicate-ids` fault: a twin connection that uses a client's id, as
//! a second device flashed with the same id would. With the broker closing
//! the older connection on each new one, twin and client knock each other
//! off for as long as both keep reconnecting. The twin answers what the
//! broker delivers to it (a persistent session's messages go to whichever
//! connection holds the id), and records its connections for the detectors.

use crate::client::reconnect::Backoff;
use crate::client::task::io_cause;
use crate::metrics::RunClock;
use crate::mqtt::{reason, ConnectOptions, Connection, Packet};
use crate::scenario::{ProtocolVersion, ReconnectPolicy};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

/// One connection of a twin (run-clock µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinConnection {
    pub connected_us: u64,
    pub ended_us: u64,
    /// None when the twin left at the end of the fault.
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TwinRecord {
    pub client_id: String,
    /// The planned client whose id it shares.
    pub of_client: u32,
    pub connections: Vec<TwinConnection>,
    /// Messages the broker delivered to the twin instead.
    pub deliveries: u64,
}

pub struct Twin {
    pub broker: SocketAddr,
    pub protocol: ProtocolVersion,
    pub options: ConnectOptions,
    pub reconnect: ReconnectPolicy,
    pub clock: RunClock,
    pub of_client: u32,
    pub tls: Option<crate::mqtt::transport::TlsClient>,
}

async fn connect(t: &Twin) -> Result<Connection, String> {
    let tcp = match timeout(Duration::from_secs(10), TcpStream::connect(t.broker)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(io_cause(&e)),
        Err(_) => return Err("timeout".into()),
    };
    let stream = crate::mqtt::transport::open(tcp, t.tls.as_ref(), Duration::from_secs(10)).await?;
    let mut conn = Connection::new(stream, t.protocol, t.clock);
    conn.write_packet(&Packet::Connect(t.options.clone())).await.map_err(|e| e.to_string())?;
    match timeout(Duration::from_secs(10), conn.read_packet()).await {
        Ok(Ok(Some(Packet::ConnAck(a)))) if a.code == 0 => Ok(conn),
        Ok(Ok(Some(Packet::ConnAck(a)))) => Err(reason::connack_name(t.protocol, a.code)),
        Ok(Ok(_)) => Err("closed_before_connack".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout".into()),
    }
}

/// Serves one connection until the broker closes it (`Err(cause)`) or `until`.
async fn serve(
    conn: &mut Connection,
    until: Instant,
    keepalive: Duration,
    record: &mut TwinRecord,
) -> Result<(), String> {
    let mut next_ping = Instant::now() + keepalive;
    loop {
        tokio::select! {
            _ = sleep_until(until) => return Ok(()),
            _ = sleep_until(next_ping), if !keepalive.is_zero() => {
                conn.write_packet(&Packet::PingReq).await.map_err(|e| e.to_string())?;
                next_ping = Instant::now() + keepalive;
            }
            read = conn.read_packet() => {
                let answer = match read {
                    Ok(Some(Packet::Publish(m))) => {
                        record.deliveries += 1;
                        match m.qos {
                            1 => Some(Packet::PubAck { pkid: m.pkid, reason: 0 }),
                            2 => Some(Packet::PubRec { pkid: m.pkid, reason: 0 }),
                            _ => None,
                        }
                    }
                    Ok(Some(Packet::PubRel { pkid, .. })) => Some(Packet::PubComp { pkid, reason: 0 }),
                    Ok(Some(Packet::Disconnect { reason })) => return Err(reason::disconnect_cause(reason)),
                    Ok(Some(_)) => None,
                    Ok(None) => return Err("network_eof".into()),
                    Err(crate::mqtt::ConnectionError::Io(e)) => return Err(io_cause(&e)),
                    Err(e) => return Err(e.to_string()),
                };
                if let Some(p) = answer {
                    conn.write_packet(&p).await.map_err(|e| e.to_string())?;
                }
            }
        }
    }
}

/// Runs a twin until `until`, reconnecting with the client's own backoff.
pub async fn run(t: Twin, until: Instant) -> TwinRecord {
    let mut record =
        TwinRecord { client_id: t.options.client_id.clone(), of_client: t.of_client, ..Default::default() };
    let mut backoff = Backoff::new(t.reconnect);
    let keepalive = Duration::from_secs(t.options.keep_alive_s as u64);
    while Instant::now() < until {
        if let Ok(mut conn) = connect(&t).await {
            {
                backoff.reset();
                let connected_us = t.clock.now_us();
                let result = serve(&mut conn, until, keepalive, &mut record).await;
                if result.is_ok() {
                    let _ = conn.write_packet(&Packet::Disconnect { reason: 0 }).await;
                    conn.shutdown().await;
                }
                record.connections.push(TwinConnection {
                    connected_us,
                    ended_us: t.clock.now_us(),
                    cause: result.err(),
                });
            }
        }
        let wait = Instant::now() + backoff.next_delay(rand::random());
        sleep_until(wait.min(until)).await;
    }
    record
}
