//! `Connection` owns one socket and its buffers and moves whole packets:
//! `read_packet` and `write_packet`, as mini-redis does for frames.

use super::codec::{self, CodecError, Packet};
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
}

impl Connection {
    pub fn new(stream: TcpStream, protocol: ProtocolVersion) -> Connection {
        let _ = stream.set_nodelay(true);
        Connection {
            stream,
            read_buf: BytesMut::with_capacity(512),
            write_buf: BytesMut::with_capacity(256),
            protocol,
            max_incoming: codec::DEFAULT_MAX_INCOMING,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Reads the next packet. `Ok(None)`: the broker closed the socket cleanly
    /// between packets. Cancel-safe: partial input stays in the buffer.
    pub async fn read_packet(&mut self) -> Result<Option<Packet>, ConnectionError> {
        loop {
            if let Some(p) = codec::decode(&mut self.read_buf, self.protocol, self.max_incoming)? {
                return Ok(Some(p));
            }
            if self.read_buf.capacity() - self.read_buf.len() < 256 {
                self.read_buf.reserve(4096);
            }
            let n = self.stream.read_buf(&mut self.read_buf).await?;
            if n == 0 {
                return if self.read_buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnectionError::TruncatedFrame)
                };
            }
            self.bytes_in += n as u64;
        }
    }

    /// Encodes and writes one packet; returns its size on the wire.
    pub async fn write_packet(&mut self, packet: &Packet) -> Result<usize, ConnectionError> {
        self.write_buf.clear();
        packet.encode(self.protocol, &mut self.write_buf)?;
        self.stream.write_all(&self.write_buf).await?;
        let n = self.write_buf.len();
        self.bytes_out += n as u64;
        // Keep a burst's large buffer from staying with an idle client.
        if self.write_buf.capacity() > 64 * 1024 {
            self.write_buf = BytesMut::with_capacity(256);
        }
        Ok(n)
    }

    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.stream.local_addr()
    }
}
