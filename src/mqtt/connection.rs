//! `Connection` owns one socket and its buffers and moves whole packets:
//! `read_packet` and `write_packet`, as mini-redis does for frames.

use super::codec::{self, CodecError, Packet};
use super::flight::{FlightEntry, FlightRecorder};
use crate::metrics::RunClock;
use crate::scenario::ProtocolVersion;
use bytes::BytesMut;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("broker sent a bad packet: {0}")]
    Codec(#[from] CodecError),
    #[error("connection closed by the broker in the middle of a packet")]
    TruncatedFrame,
}

pub struct Connection {
    stream: TcpStream,
    read_buf: BytesMut,
    write_buf: BytesMut,
    pub protocol: ProtocolVersion,
    max_incoming: usize,
    /// Bytes read and written on this connection (for the report and the flight recorder).
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub flight: FlightRecorder,
    clock: RunClock,
}

fn pkid_of(p: &Packet) -> u16 {
    match p {
        Packet::Publish(m) => m.pkid,
        Packet::PubAck { pkid, .. }
        | Packet::PubRec { pkid, .. }
        | Packet::PubRel { pkid, .. }
        | Packet::PubComp { pkid, .. }
        | Packet::Subscribe { pkid, .. }
        | Packet::SubAck { pkid, .. }
        | Packet::Unsubscribe { pkid, .. }
        | Packet::UnsubAck { pkid } => *pkid,
        _ => 0,
    }
}

impl Connection {
    pub fn new(stream: TcpStream, protocol: ProtocolVersion, clock: RunClock) -> Connection {
        let _ = stream.set_nodelay(true);
        Connection {
            stream,
            // Small to start: an idle client only ever reads CONNACK and PINGRESP.
            // The buffers grow (doubling) when traffic needs them.
            read_buf: BytesMut::with_capacity(128),
            write_buf: BytesMut::new(),
            protocol,
            max_incoming: codec::DEFAULT_MAX_INCOMING,
            bytes_in: 0,
            bytes_out: 0,
            flight: FlightRecorder::default(),
            clock,
        }
    }

    /// Reads the next packet. `Ok(None)`: the broker closed the socket cleanly
    /// between packets. Cancel-safe: partial input stays in the buffer.
    pub async fn read_packet(&mut self) -> Result<Option<Packet>, ConnectionError> {
        loop {
            let before = self.read_buf.len();
            let byte1 = self.read_buf.first().copied().unwrap_or(0);
            let entry = |size: usize, pkid: u16, malformed: bool| FlightEntry {
                t_us: self.clock.now_us(),
                sent: false,
                packet_type: byte1 >> 4,
                flags: byte1 & 0x0f,
                size: size as u32,
                pkid,
                malformed,
            };
            match codec::decode(&mut self.read_buf, self.protocol, self.max_incoming) {
                Ok(Some(p)) => {
                    let e = entry(before - self.read_buf.len(), pkid_of(&p), false);
                    self.flight.record(e);
                    return Ok(Some(p));
                }
                Ok(None) => {}
                Err(err) => {
                    let e = entry(before, 0, true);
                    self.flight.record(e);
                    return Err(err.into());
                }
            }
            if self.read_buf.capacity() - self.read_buf.len() < 64 {
                self.read_buf.reserve(self.read_buf.capacity().max(256));
            }
            let n = self.stream.read_buf(&mut self.read_buf).await?;
            if n == 0 {
                return if self.read_buf.is_empty() { Ok(None) } else { Err(ConnectionError::TruncatedFrame) };
            }
            self.bytes_in += n as u64;
        }
    }

    /// Encodes and writes one packet; returns its size on the wire.
    pub async fn write_packet(&mut self, packet: &Packet) -> Result<usize, ConnectionError> {
        // Anything queued goes first, in order.
        self.flush().await?;
        packet.encode(self.protocol, &mut self.write_buf)?;
        let n = self.write_buf.len();
        self.record_sent(self.write_buf[0], n, pkid_of(packet), false);
        self.stream.write_all(&self.write_buf).await?;
        self.bytes_out += n as u64;
        // Empty again: `queue_publish` appends to whatever the buffer holds.
        self.write_buf.clear();
        // Keep a burst's large buffer from staying with an idle client.
        if self.write_buf.capacity() > 64 * 1024 {
            self.write_buf = BytesMut::new();
        }
        Ok(n)
    }

    /// Appends a PUBLISH whose payload (`payload_len` bytes) `fill` writes in
    /// place — no packet value, no copy of topic or payload. Nothing is sent
    /// until `flush`.
    pub fn queue_publish(
        &mut self,
        topic: &[u8],
        qos: u8,
        retain: bool,
        pkid: u16,
        payload_len: usize,
        fill: impl FnOnce(&mut BytesMut),
    ) {
        let start = self.write_buf.len();
        codec::put_publish(
            &mut self.write_buf,
            self.protocol == ProtocolVersion::V5,
            false,
            qos,
            retain,
            topic,
            pkid,
            payload_len,
        );
        fill(&mut self.write_buf);
        let (byte1, n) = (self.write_buf[start], self.write_buf.len() - start);
        self.record_sent(byte1, n, pkid, false);
    }

    /// Sends everything queued, in one write.
    pub async fn flush(&mut self) -> Result<(), ConnectionError> {
        if !self.write_buf.is_empty() {
            self.stream.write_all(&self.write_buf).await?;
            self.bytes_out += self.write_buf.len() as u64;
            self.write_buf.clear();
        }
        Ok(())
    }

    /// Writes bytes as they are: the `malformed` fault sends packets no
    /// encoder would. Recorded in the flight recorder as malformed.
    pub async fn write_raw(&mut self, bytes: &[u8], pkid: u16) -> Result<(), ConnectionError> {
        self.record_sent(bytes.first().copied().unwrap_or(0), bytes.len(), pkid, true);
        self.stream.write_all(bytes).await?;
        self.bytes_out += bytes.len() as u64;
        Ok(())
    }

    fn record_sent(&mut self, byte1: u8, size: usize, pkid: u16, malformed: bool) {
        self.flight.record(FlightEntry {
            t_us: self.clock.now_us(),
            sent: true,
            packet_type: byte1 >> 4,
            flags: byte1 & 0x0f,
            size: size as u32,
            pkid,
            malformed,
        });
    }

    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.stream.local_addr()
    }
}
