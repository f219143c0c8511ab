//! The `duplicate-ids` fault: a twin connection that uses a client's id, as
//! a second device flashed with the same id would. With the broker closing
//! the older connection on each new one, twin and client knock each other
//! off for as long as both keep reconnecting. The twin answers what the
//! broker delivers to it (a persistent session's messages go to whichever
//! connection holds the id), and records its connections for the detectors.

use crate::client::reconnect::Backoff;
use crate::mqtt::codec::{ConnectOptions, Packet};
use crate::mqtt::connection::Connection;
use crate::mqtt::handshake::{connection_cause, dial, Dial};
use crate::mqtt::protocol::ProtocolVersion;
use crate::record::clock::RunClock;
use crate::record::vocab::Cause;
use crate::record::{TwinConnection, TwinRecord};
use crate::scenario::ReconnectPolicy;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

/// How long one connection attempt of a twin may take, CONNACK included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Twin {
    pub broker: SocketAddr,
    /// The local address its client connects from (a twin comes from the same place).
    pub from: Option<IpAddr>,
    pub protocol: ProtocolVersion,
    pub options: ConnectOptions,
    pub reconnect: ReconnectPolicy,
    pub clock: RunClock,
    pub of_client: u32,
    /// TLS and WebSocket as its client has them.
    pub transport: crate::mqtt::transport::Transport,
}

async fn connect(t: &Twin) -> Result<Box<Connection>, Cause> {
    let d = Dial {
        to: t.broker,
        from: t.from,
        buffers: Default::default(),
        transport: &t.transport,
        protocol: t.protocol,
        clock: t.clock,
        limit: CONNECT_TIMEOUT,
    };
    Ok(dial(d, &t.options).await?.conn)
}

/// Serves one connection until the broker closes it (`Err(cause)`) or `until`.
async fn serve(
    conn: &mut Connection,
    until: Instant,
    keepalive: Duration,
    record: &mut TwinRecord,
) -> Result<(), Cause> {
    let mut next_ping = Instant::now() + keepalive;
    loop {
        tokio::select! {
            _ = sleep_until(until) => return Ok(()),
            _ = sleep_until(next_ping), if !keepalive.is_zero() => {
                conn.write_packet(&Packet::PingReq).await.map_err(|e| connection_cause(&e))?;
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
                    Ok(Some(Packet::Disconnect { reason })) => return Err(Cause::Disconnect(reason)),
                    Ok(Some(_)) => None,
                    Ok(None) => return Err(Cause::NetworkEof),
                    Err(e) => return Err(connection_cause(&e)),
                };
                if let Some(p) = answer {
                    conn.write_packet(&p).await.map_err(|e| connection_cause(&e))?;
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
