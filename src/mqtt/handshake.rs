//! Opening an MQTT connection, written once: TCP from a chosen source
//! address, TLS when the broker wants it, the WebSocket handshake for ws://
//! and wss://, CONNECT, CONNACK — all within one time limit — and the causes a failure is counted under. The swarm's
//! clients, the duplicate-ids twin and the $SYS watcher all connect here.
//!
//! `dial` records when each step ended (`Dialed`: `tcp_us`, `tls_us`, `ws_us`),
//! from which `client::recorder::ConnectTimes` gives the `connect`,
//! `connect_tcp`, `connect_tls` and `connect_ws` latencies. TCP sockets get
//! TCP_NODELAY from the start. `io_cause` and `connection_cause` name failures
//! as `Cause`s.

use super::codec::{ConnAck, ConnectOptions, Packet};
use super::connection::{Connection, ConnectionError};
use super::protocol::ProtocolVersion;
use super::transport::{self, Stream, Transport};
use super::websocket::{self, WsFailure};
use crate::record::clock::RunClock;
use crate::record::vocab::Cause;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Names a socket error the way `connect_failures` and `disconnects` count it.
pub fn io_cause(e: &io::Error) -> Cause {
    if let Some(cause) = transport::tls_cause(e) {
        return Cause::Tls(cause);
    }
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Cause::Refused,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => Cause::NetworkReset,
        io::ErrorKind::TimedOut => Cause::Timeout,
        io::ErrorKind::AddrNotAvailable => Cause::AddressNotAvailable,
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => Cause::NetworkEof,
        _ if e.raw_os_error() == Some(libc::EMFILE) || e.raw_os_error() == Some(libc::ENFILE) => {
            Cause::TooManyOpenFiles
        }
        kind => Cause::Io(format!("{kind:?}").to_lowercase()),
    }
}

/// The cause a failed read or write of a connection is counted under.
pub fn connection_cause(e: &ConnectionError) -> Cause {
    match e {
        ConnectionError::Io(e) => io_cause(e),
        ConnectionError::Codec(_) => Cause::MalformedPacketFromBroker,
        ConnectionError::TruncatedFrame => Cause::NetworkEof,
    }
}

/// A socket's kernel buffer sizes (a group's `rcvbuf` / `sndbuf`), set with
/// SO_RCVBUF / SO_SNDBUF before connect; None leaves the kernel's default
/// (and its autotuning). Linux doubles the value asked for (bookkeeping
/// room) and clamps it to `net.core.rmem_max` / `wmem_max`; `getsockopt`
/// gives the doubled value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketBuffers {
    pub rcvbuf: Option<u32>,
    pub sndbuf: Option<u32>,
}

impl SocketBuffers {
    pub fn is_default(&self) -> bool {
        self.rcvbuf.is_none() && self.sndbuf.is_none()
    }
}

/// TCP connect, from a chosen local address when given, with the buffer
/// sizes asked for. The source port is left to connect time
/// (IP_BIND_ADDRESS_NO_PORT), so the port budget is per (source,
/// destination) pair, not per source address.
pub async fn connect_tcp(to: SocketAddr, from: Option<IpAddr>, buffers: SocketBuffers) -> io::Result<TcpStream> {
    if from.is_none() && buffers.is_default() {
        return TcpStream::connect(to).await;
    }
    let v4 = from.map_or(to.is_ipv4(), |f| f.is_ipv4());
    let socket = if v4 { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    if let Some(size) = buffers.rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(size) = buffers.sndbuf {
        socket.set_send_buffer_size(size)?;
    }
    let Some(from) = from else { return socket.connect(to).await };
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // Best effort: without it the bind below still works, with a port taken early.
        super::sockopt::set_int(socket.as_raw_fd(), libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, 1);
    }
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// Where and how to connect.
#[derive(Clone, Copy)]
pub struct Dial<'a> {
    pub to: SocketAddr,
    /// The local address to connect from (None: the kernel's choice).
    pub from: Option<IpAddr>,
    /// SO_RCVBUF / SO_SNDBUF (default: the kernel's).
    pub buffers: SocketBuffers,
    /// TLS and WebSocket, when the broker's URL asks for them.
    pub transport: &'a Transport,
    pub protocol: ProtocolVersion,
    pub clock: RunClock,
    /// For everything from the TCP connect to CONNACK.
    pub limit: Duration,
}

/// An open MQTT connection, with when its steps happened (run-clock µs).
pub struct Dialed {
    /// Boxed: it moves into the client's connection future without leaving
    /// a copy-sized slot in the client task's state.
    pub conn: Box<Connection>,
    pub ack: ConnAck,
    pub started_us: u64,
    /// TCP connected (the TLS handshake, if any, comes after).
    pub tcp_us: u64,
    /// The TLS handshake done (mqtts://, wss://).
    pub tls_us: Option<u64>,
    /// The WebSocket handshake done (ws://, wss://).
    pub ws_us: Option<u64>,
}

/// TCP (TLS, WebSocket), CONNECT, CONNACK. A CONNACK that refuses is an error with
/// its code as the cause.
pub async fn dial(d: Dial<'_>, options: &ConnectOptions) -> Result<Dialed, Cause> {
    let started_us = d.clock.now_us();
    let left = || d.limit.saturating_sub(Duration::from_micros(d.clock.now_us() - started_us));
    let tcp = match timeout(d.limit, connect_tcp(d.to, d.from, d.buffers)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(io_cause(&e)),
        Err(_) => return Err(Cause::Timeout),
    };
    let tcp_us = d.clock.now_us();
    // Before the handshakes, not after: with Nagle on, the CONNECT written
    // right behind the TLS Finished waits for the broker's delayed ACK
    // (~40 ms on Linux), which connect latency would then carry.
    let _ = tcp.set_nodelay(true);
    let opened = match timeout(left(), Box::pin(open(tcp, d.transport, d.clock))).await {
        Ok(r) => r?,
        Err(_) => return Err(Cause::Timeout),
    };
    let (stream, tls_us, ws_us) = opened;
    let mut conn = Box::new(Connection::new(stream, d.protocol, d.clock));
    if let Some(max) = options.maximum_packet_size {
        conn.accept_packets_up_to(max as usize);
    }
    conn.write_packet(&Packet::Connect(options.clone())).await.map_err(|e| connection_cause(&e))?;
    let ack = match timeout(left(), conn.read_packet()).await {
        Err(_) => return Err(Cause::Timeout),
        Ok(Err(e)) => return Err(connection_cause(&e)),
        Ok(Ok(None)) => return Err(Cause::ClosedBeforeConnack),
        Ok(Ok(Some(Packet::ConnAck(a)))) => a,
        Ok(Ok(Some(_))) => return Err(Cause::UnexpectedPacketBeforeConnack),
    };
    if ack.code != 0 {
        return Err(Cause::Connack { v5: d.protocol == ProtocolVersion::V5, code: ack.code });
    }
    Ok(Dialed { conn, ack, started_us, tcp_us, tls_us, ws_us })
}

/// The stream a connection runs over, from the TCP socket: as it is, TLS
/// over it, a WebSocket over either; with when each handshake finished.
async fn open(tcp: TcpStream, t: &Transport, clock: RunClock) -> Result<(Stream, Option<u64>, Option<u64>), Cause> {
    let (stream, tls_us) = match &t.tls {
        None => (Stream::Tcp(tcp), None),
        Some(tls) => match tls.handshake(tcp).await {
            Ok(s) => (s, Some(clock.now_us())),
            Err(e) => return Err(Cause::Tls(transport::handshake_cause(&e))),
        },
    };
    let Some(target) = &t.ws else { return Ok((stream, tls_us, None)) };
    match websocket::handshake(stream, target).await {
        Ok(ws) => Ok((Stream::Ws(Box::new(ws)), tls_us, Some(clock.now_us()))),
        Err(WsFailure::Io(e)) => Err(io_cause(&e)),
        Err(WsFailure::Named(name)) => Err(Cause::WebSocket(name)),
    }
}
