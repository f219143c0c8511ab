//! `Connection` owns one socket and its buffers and moves whole packets:
//! `read_packet` and `write_packet`, as mini-redis does for frames.
//!
//! The hot path uses more than those two: `read_packet`, `next_buffered`
//! (every whole packet a read brought, handled in one turn of the client's
//! `select!`), `queue_packet` / `queue_publish` (straight into the write
//! buffer, no packet value: `codec::encode::put_publish`) and one `flush`;
//! `write_packet` for the rare single packet.
//!
//! Reads: the read room starts small (`MIN_READ_ROOM`) and doubles while reads
//! fill it, up to 64 KiB; a paced read asks for at least `PACED_READ_ROOM` (4
//! KiB) and grows from there. A quiet connection holds no read buffer while it
//! waits (it polls the socket's readiness, then takes one) and no write buffer
//! between packets; a write buffer is let go past 64 KiB or after 16 writes in
//! a row that used less than half of it (`outgrown`), so stalls do not ratchet
//! it up.
//!
//! Pacing: with a `batch_window` the next read waits for the window's grid;
//! without one `super::pace::AdaptivePace` decides. `read_paced_until` tells
//! the caller until when to wait (the caller waits, on the worker's precise
//! timer); `set_reads_urgent` (a publisher with a quarter of its inflight
//! window used) and `delivery_age` (the broker seen holding deliveries back)
//! keep reads from being held.
//!
//! Receive time: on plain TCP (Linux) reads go through `super::rxstamp`, and
//! the kernel's stamp of a read's last segment is kept; `received_at` gives
//! it (or midge's own time) for the packets being handled — every whole
//! packet in the buffer was completed by the latest read, since a read
//! happens only when none is left. TLS and WebSocket keep userspace time.
//!
//! `ConnectionCounters`, added to the client's counters when the connection
//! ends (`ConnectionCounters::add_to`): socket reads and writes, bytes in and
//! out, publish writes (a flush that carried PUBLISHes) and batched ones (more
//! than one), paced reads (a read that waited for a tick); beside them
//! `wrote_us`, the last successful write. Every packet written or read also
//! goes to the flight recorder (`super::flight`).

use super::codec::{self, CodecError, Packet};
use super::flight::FlightRecorder;
use super::pace::{next_tick, worker_busy, worker_moved, AdaptivePace};
use super::protocol::ProtocolVersion;
use super::rxstamp;
use super::transport::Stream;
use crate::record::clock::RunClock;
use crate::record::wire::FlightEntry;
use crate::record::Counters;
use bytes::BytesMut;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    stream: Stream,
    read_buf: BytesMut,
    write_buf: BytesMut,
    pub protocol: ProtocolVersion,
    max_incoming: usize,
    /// What this connection counted, handed to the client's counters as
    /// one struct when it ends.
    pub counters: ConnectionCounters,
    /// Run-clock µs of the last write that reached the socket (0: none).
    pub wrote_us: u64,
    /// PUBLISHes queued since the last write.
    queued_publishes: u32,
    /// Writes in a row that used less than half the write buffer.
    small_writes: u8,
    pub flight: FlightRecorder,
    clock: RunClock,
    /// How much free room the next read asks for: 128 B for an idle client,
    /// doubling (to `MAX_READ_ROOM`) while reads keep filling it, so a busy
    /// subscriber takes in hundreds of packets per system call.
    read_room: u32,
    /// At most one read per window of this many µs (zero: read whenever
    /// data is there, unless `adaptive` says the connection is busy).
    read_window_us: u32,
    /// No `batch_window`: reads batch while the connection is busy.
    adaptive: Option<AdaptivePace>,
    /// Run-clock µs of the last read (0: none yet).
    last_read_us: u64,
    /// While busy, the next read waits until this run-clock µs (0: it need not).
    paced_until_us: u64,
    /// Plain TCP on Linux: the kernel stamps what the socket receives
    /// (`super::rxstamp`).
    kernel_stamps: bool,
    /// The last read filled all the room it asked for: more is waiting in
    /// the socket, so adaptive batching does not hold the next read (a
    /// starved worker's rare wakes would otherwise cap a busy subscriber at
    /// one buffer per wake, and the broker's queue would grow behind it).
    read_filled: bool,
    /// The kernel's receive time (run-clock µs) of the last read's last
    /// segment, if it had one: every whole packet in the buffer was
    /// completed by that read (a read happens only when none is left).
    read_stamp_us: Option<u64>,
}

/// When the packets being handled were received (`Connection::received_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Run-clock µs: the kernel's stamp where there is one, else midge's
    /// own time of taking the packet in.
    pub at_us: u64,
    /// How long after the kernel midge took it in (µs); None without a
    /// kernel stamp.
    pub delay_us: Option<u64>,
}

/// What one connection counts of its socket, for the report: added to the
/// client's `Counters` when the connection ends (`add_to`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionCounters {
    /// Bytes read and written (for the report and the flight recorder).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Socket reads that brought data, and writes (one `write_all` each):
    /// how well batching works, in the report.
    pub reads: u64,
    pub writes: u64,
    /// Writes that carried PUBLISHes, and those of them that carried more
    /// than one: how often a publisher's wake-up was batched.
    pub publish_writes: u64,
    pub publish_writes_batched: u64,
    /// Reads that waited for a batching window's tick.
    pub paced_reads: u64,
    /// The largest packet read whole (bytes, fixed header included), for
    /// the client's record (`max_inbound_packet`), not the swarm's counters.
    pub largest_in: u32,
}

impl ConnectionCounters {
    /// Adds these to a client's counters (the record's names for them).
    pub fn add_to(&self, c: &mut Counters) {
        c.socket_reads += self.reads;
        c.socket_writes += self.writes;
        c.bytes_in += self.bytes_in;
        c.bytes_out += self.bytes_out;
        c.publish_writes += self.publish_writes;
        c.publish_writes_batched += self.publish_writes_batched;
        c.paced_reads += self.paced_reads;
    }
}

/// Whether the broker waits for midge's answer to `p` before it sends more
/// (its inflight window).
fn wants_answer(p: &Packet) -> bool {
    matches!(p, Packet::Publish(m) if m.qos > 0) || matches!(p, Packet::PubRec { .. } | Packet::PubRel { .. })
}

const MIN_READ_ROOM: u32 = 128;
const MAX_READ_ROOM: u32 = 64 * 1024;
/// The least a paced read asks for; it grows (doubling) past this while
/// paced reads fill it.
const PACED_READ_ROOM: u32 = 4 * 1024;
/// Writes in a row that must use less than half the write buffer before it
/// is let go (`outgrown`).
const SMALL_WRITES: u8 = 16;

/// Whether a write buffer of `capacity` bytes, after a write of `written`,
/// should be let go: at once past 64 KiB (a burst's buffer must not stay
/// with an idle client), or after `SMALL_WRITES` writes in a row that used
/// less than half of it. A publisher that fell behind once writes a batch;
/// without this its buffer would keep the batch's size for the rest of the
/// run, and a soak's rare stalls would ratchet every publisher's buffer up
/// (docs/PERFORMANCE.md, "Soak memory"). A connection that batches as a
/// rule keeps its buffer.
fn outgrown(small_writes: &mut u8, written: usize, capacity: usize) -> bool {
    if written * 2 >= capacity {
        *small_writes = 0;
    } else {
        *small_writes += 1;
    }
    if capacity > 64 * 1024 || *small_writes >= SMALL_WRITES {
        *small_writes = 0;
        return true;
    }
    false
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
    pub fn new(stream: impl Into<Stream>, protocol: ProtocolVersion, clock: RunClock) -> Connection {
        let stream = stream.into();
        let _ = stream.tcp().set_nodelay(true);
        // Only plain TCP: under TLS or a WebSocket the kernel's stamp is
        // the ciphertext's or the frame's, read through a decoder.
        let kernel_stamps = matches!(&stream, Stream::Tcp(tcp) if rxstamp::enable(tcp));
        Connection {
            stream,
            // None to start: an idle client only ever reads CONNACK and
            // PINGRESP, and takes a buffer only when one is there to read.
            // The buffers grow (doubling) when traffic needs them.
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
            protocol,
            max_incoming: codec::DEFAULT_MAX_INCOMING,
            counters: ConnectionCounters::default(),
            wrote_us: 0,
            queued_publishes: 0,
            small_writes: 0,
            flight: FlightRecorder::default(),
            clock,
            read_room: MIN_READ_ROOM,
            read_window_us: 0,
            adaptive: None,
            last_read_us: 0,
            paced_until_us: 0,
            kernel_stamps,
            read_filled: false,
            read_stamp_us: None,
        }
    }

    /// When the packets now being handled were received, midge's own
    /// taking them in being at `now_us`: the kernel's stamp of the read
    /// that completed them (never later than `now_us`), or `now_us`.
    pub fn received_at(&self, now_us: u64) -> Received {
        match self.read_stamp_us {
            Some(k) => {
                let at_us = k.min(now_us);
                Received { at_us, delay_us: Some(now_us - at_us) }
            }
            None => Received { at_us: now_us, delay_us: None },
        }
    }

    /// Reads the next packet. `Ok(None)`: the broker closed the socket cleanly
    /// between packets. Cancel-safe: partial input stays in the buffer.
    pub async fn read_packet(&mut self) -> Result<Option<Packet>, ConnectionError> {
        loop {
            if let Some(p) = self.next_buffered()? {
                return Ok(Some(p));
            }
            // The caller waited for `read_paced_until`: this read is the paced one.
            let paced = self.paced_until_us > 0;
            if self.read_buf.capacity() == 0 {
                // A quiet connection holds no buffer while it waits (an idle
                // client's next packet is a PINGRESP a minute away): it takes
                // one when there is something to read. A poll, not a
                // future, so the read's own future grows by nothing.
                std::future::poll_fn(|cx| self.stream.poll_read_ready(cx)).await?;
            }
            // A paced read takes in all that gathered while it waited: sized
            // for an idle client's trickle, it would bring a few packets, and
            // the rest would come in many small reads right after. (Not
            // 64 KiB at once: every publisher of a busy worker paces its
            // acknowledgements, a few bytes a tick.)
            let room = if paced { self.read_room.max(PACED_READ_ROOM) } else { self.read_room } as usize;
            if self.read_buf.capacity() - self.read_buf.len() < room {
                self.read_buf.reserve(room);
            }
            let asked = self.read_buf.capacity() - self.read_buf.len();
            let n = match &self.stream {
                Stream::Tcp(tcp) if self.kernel_stamps => {
                    let (n, stamp) = rxstamp::read_stamped(tcp, &mut self.read_buf).await?;
                    self.read_stamp_us = stamp.and_then(|ns| self.clock.run_us_of_unix_ns(ns));
                    n
                }
                _ => self.stream.read_buf(&mut self.read_buf).await?,
            };
            if self.adaptive.is_some() {
                // This read was the paced one: the next is decided afresh.
                self.paced_until_us = 0;
            }
            self.read_filled = n >= asked;
            if self.read_window_us > 0 {
                let now = self.clock.now_us();
                let window = self.read_window_us as u64;
                let busy = n >= asked || (self.last_read_us > 0 && now < self.last_read_us + 2 * window);
                self.paced_until_us = if busy { next_tick(now, window) } else { 0 };
                self.last_read_us = now.max(1);
            }
            if n == 0 {
                return if self.read_buf.is_empty() { Ok(None) } else { Err(ConnectionError::TruncatedFrame) };
            }
            self.counters.bytes_in += n as u64;
            self.counters.reads += 1;
            self.counters.paced_reads += paced as u64;
            self.read_room = if n >= asked {
                (self.read_room * 2).min(MAX_READ_ROOM)
            } else if n < asked / 8 {
                (self.read_room / 2).max(MIN_READ_ROOM)
            } else {
                self.read_room
            };
        }
    }

    /// Until when the next read should wait (run-clock µs), if it should:
    /// a busy connection lets packets gather until the window's next tick
    /// and takes them in one read; a quiet one is read at once. The caller
    /// waits (on the worker's precise timer when it has one) and then calls
    /// `read_packet`. A pace holds until a read happens: deciding afresh
    /// after a wait the caller cut short would judge a look in which
    /// nothing could be read.
    pub fn read_paced_until(&mut self) -> Option<u64> {
        if !self.read_buf.is_empty() {
            return None;
        }
        if self.read_filled && self.adaptive.is_some() {
            return None;
        }
        let now = self.clock.now_us();
        if let Some(a) = self.adaptive.as_mut() {
            if self.paced_until_us == 0 || a.urgent {
                self.paced_until_us = a.next_read_us(now, worker_busy(now));
            }
        }
        (self.paced_until_us > now).then_some(self.paced_until_us)
    }

    /// Reads at most once per `window` while packets keep coming (see `batch_window`).
    pub fn set_read_window(&mut self, window: std::time::Duration) {
        self.read_window_us = window.as_micros().min(u32::MAX as u128) as u32;
    }

    /// Adaptive batching: what this connection reads is needed at once (a
    /// publisher's inflight window waits for its acknowledgements).
    pub fn set_reads_urgent(&mut self, urgent: bool) {
        if let Some(a) = self.adaptive.as_mut() {
            a.urgent = urgent;
        }
    }

    /// Adaptive batching: a QoS ≥ 1 delivery was `age_us` old from its
    /// actual send (`u64::MAX`: unknown). If the freshest of a read is old,
    /// the broker held deliveries back, so answers go out at once for a while.
    pub fn delivery_age(&mut self, age_us: u64) {
        if let Some(a) = self.adaptive.as_mut() {
            a.delivery_age(age_us);
        }
    }

    /// Reads at most once per millisecond while packets come fast
    /// (`AdaptivePace`), at once otherwise: the default without `batch_window`.
    pub fn set_adaptive_reads(&mut self) {
        self.read_window_us = 0;
        self.adaptive = Some(AdaptivePace::default());
    }

    /// MQTT 5: midge announced a Maximum Packet Size of `announced` bytes.
    /// It reads whatever it announced (above its default bound too), and a
    /// larger packet from the broker is taken in as well, not refused: the
    /// broker broke its side of the limit, and the record shows it
    /// (`largest_in`, the client's `max_inbound_packet`) where ending the
    /// connection with 0x95 would turn one broken rule into reconnects.
    pub fn accept_packets_up_to(&mut self, announced: usize) {
        self.max_incoming = self.max_incoming.max(announced);
    }

    /// The next whole packet already read from the socket, without I/O:
    /// after `read_packet`, the caller takes the rest of what that one read
    /// brought in before it waits again.
    pub fn next_buffered(&mut self) -> Result<Option<Packet>, ConnectionError> {
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
                if let Some(a) = self.adaptive.as_mut() {
                    a.took_in(wants_answer(&p));
                    worker_moved(1);
                }
                let size = before - self.read_buf.len();
                self.counters.largest_in = self.counters.largest_in.max(size.min(u32::MAX as usize) as u32);
                let e = entry(size, pkid_of(&p), false);
                self.flight.record(e);
                Ok(Some(p))
            }
            Ok(None) => {
                // A quiet connection holds no read buffer between its rare
                // packets (an idle client's CONNACK and PINGRESPs); a busy
                // one keeps what it grew, up to a bound.
                let busy = self.paced_until_us > 0 || self.adaptive.is_some_and(|a| a.is_busy());
                if self.read_buf.is_empty()
                    && ((self.read_room == MIN_READ_ROOM && !busy)
                        || self.read_buf.capacity() > 4 * MAX_READ_ROOM as usize)
                {
                    self.read_buf = BytesMut::new();
                }
                Ok(None)
            }
            Err(err) => {
                let e = entry(before, 0, true);
                self.flight.record(e);
                Err(err.into())
            }
        }
    }

    /// Encodes a packet behind whatever is queued; nothing is sent until
    /// `flush`. Acknowledgements for a whole read go out in one write.
    pub fn queue_packet(&mut self, packet: &Packet) -> Result<(), ConnectionError> {
        let start = self.write_buf.len();
        packet.encode(self.protocol, &mut self.write_buf)?;
        let n = self.write_buf.len() - start;
        self.record_sent(self.write_buf[start], n, pkid_of(packet), false);
        Ok(())
    }

    /// Encodes and writes one packet (after anything queued); returns its
    /// size on the wire. For control packets (CONNECT, SUBSCRIBE, PINGREQ…):
    /// the buffer is let go afterwards, as an idle client needs none.
    pub async fn write_packet(&mut self, packet: &Packet) -> Result<usize, ConnectionError> {
        let start = self.write_buf.len();
        self.queue_packet(packet)?;
        let n = self.write_buf.len() - start;
        self.flush_control().await?;
        Ok(n)
    }

    /// `flush` for control packets (as `write_packet`): the buffer is let
    /// go afterwards.
    pub async fn flush_control(&mut self) -> Result<(), ConnectionError> {
        self.flush().await?;
        self.write_buf = BytesMut::new();
        Ok(())
    }

    /// Appends a PUBLISH whose payload (`payload_len` bytes) `fill` writes in
    /// place — no packet value, no copy of topic or payload. Nothing is sent
    /// until `flush`. `props`: MQTT 5 properties as on the wire (the hot
    /// path's precomputed bytes).
    #[allow(clippy::too_many_arguments)]
    pub fn queue_publish(
        &mut self,
        topic: &[u8],
        qos: u8,
        retain: bool,
        pkid: u16,
        props: &[u8],
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
            props,
            payload_len,
        );
        fill(&mut self.write_buf);
        self.queued_publishes += 1;
        let (byte1, n) = (self.write_buf[start], self.write_buf.len() - start);
        self.record_sent(byte1, n, pkid, false);
    }

    /// Sends everything queued, in one write.
    pub async fn flush(&mut self) -> Result<(), ConnectionError> {
        if !self.write_buf.is_empty() {
            self.stream.write_all(&self.write_buf).await?;
            // A no-op for TCP; TLS and WebSocket may hold what was written.
            self.stream.flush().await?;
            self.counters.bytes_out += self.write_buf.len() as u64;
            self.counters.writes += 1;
            self.wrote_us = self.clock.now_us();
            self.counters.publish_writes += (self.queued_publishes > 0) as u64;
            self.counters.publish_writes_batched += (self.queued_publishes > 1) as u64;
            self.queued_publishes = 0;
            let written = self.write_buf.len();
            self.write_buf.clear();
            if outgrown(&mut self.small_writes, written, self.write_buf.capacity()) {
                self.write_buf = BytesMut::new();
            }
        }
        Ok(())
    }

    /// Writes bytes as they are: the `malformed` fault sends packets no
    /// encoder would. Recorded in the flight recorder as malformed.
    pub async fn write_raw(&mut self, bytes: &[u8], pkid: u16) -> Result<(), ConnectionError> {
        self.record_sent(bytes.first().copied().unwrap_or(0), bytes.len(), pkid, true);
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        self.counters.bytes_out += bytes.len() as u64;
        self.counters.writes += 1;
        self.wrote_us = self.clock.now_us();
        Ok(())
    }

    fn record_sent(&mut self, byte1: u8, size: usize, pkid: u16, malformed: bool) {
        if self.adaptive.is_some() {
            worker_moved(1);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle connection waits for its next packet with no read buffer,
    /// takes one to read, and lets it go once the packet is handled.
    #[tokio::test]
    async fn a_quiet_connection_waits_without_a_read_buffer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut broker, _) = listener.accept().await.unwrap();
        let mut conn = Connection::new(tcp, ProtocolVersion::V311, RunClock::new());
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), conn.read_packet()).await;
        assert!(waited.is_err(), "nothing to read yet");
        assert_eq!(conn.read_buf.capacity(), 0, "waiting holds no buffer");
        broker.write_all(&[0xd0, 0x00, 0xd0, 0x00]).await.unwrap(); // two PINGRESPs
        assert!(matches!(conn.read_packet().await.unwrap(), Some(Packet::PingResp)));
        assert!(conn.read_buf.capacity() >= 2, "one read took both");
        assert!(matches!(conn.read_packet().await.unwrap(), Some(Packet::PingResp)));
        assert!(conn.next_buffered().unwrap().is_none());
        assert_eq!(conn.read_buf.capacity(), 0, "let go once empty");
        drop(broker);
        assert!(conn.read_packet().await.unwrap().is_none(), "a clean close");
    }

    /// Batching never caps throughput: when a read filled all the room it
    /// asked for, more is waiting, and the next read is not held for the
    /// tick even on a busy worker (a starved worker's rare wakes would
    /// otherwise let a busy subscriber take one buffer per wake).
    #[tokio::test]
    async fn a_read_that_filled_its_room_is_followed_at_once_on_a_busy_worker() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut broker, _) = listener.accept().await.unwrap();
        let mut conn = Connection::new(tcp, ProtocolVersion::V311, RunClock::new());
        conn.set_adaptive_reads();
        let pings = 16 * 1024;
        broker.write_all(&[0xd0, 0x00].repeat(pings)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        worker_moved(1_000_000);
        assert!(worker_busy(conn.clock.now_us()), "the worker is busy: reads would wait for the tick");
        let (mut got, mut full_reads) = (0, 0);
        while got < pings {
            if conn.read_buf.is_empty() && got > 0 {
                let paced = conn.read_paced_until();
                if conn.read_filled {
                    full_reads += 1;
                    assert_eq!(paced, None, "after a full read, at packet {got}");
                }
            }
            assert!(matches!(conn.read_packet().await.unwrap(), Some(Packet::PingResp)));
            got += 1;
        }
        assert!(full_reads >= 3, "room 128 B, 256 B, 512 B … all filled: {full_reads}");
    }

    /// A broker's packet above the Maximum Packet Size midge announced is
    /// taken in, not refused, and its size is noted (`largest_in`): a
    /// 2,000-byte PUBLISH after a 1,024-byte limit, then a PINGRESP. One
    /// above midge's default bound of 16 MiB is read when midge announced
    /// more (20 MiB here) — checked on the frame header alone.
    #[tokio::test]
    async fn a_packet_above_the_announced_size_is_taken_in_and_noted() {
        use bytes::BufMut;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut broker, _) = listener.accept().await.unwrap();
        let mut conn = Connection::new(tcp, ProtocolVersion::V5, RunClock::new());
        conn.accept_packets_up_to(1024);
        let mut p = BytesMut::new();
        codec::put_publish(&mut p, true, false, 0, false, b"t", 0, &[], 1_993);
        p.put_slice(&[b'.'; 1_993]);
        assert_eq!(p.len(), 2_000);
        p.put_slice(&[0xd0, 0x00]);
        broker.write_all(&p).await.unwrap();
        assert!(matches!(conn.read_packet().await.unwrap(), Some(Packet::Publish(_))));
        assert!(matches!(conn.read_packet().await.unwrap(), Some(Packet::PingResp)));
        assert_eq!(conn.counters.largest_in, 2_000);
        let big = 20 << 20;
        conn.accept_packets_up_to(big);
        let mut header = BytesMut::from(&[0x30u8][..]);
        codec::put_remaining_length(&mut header, big - 5);
        assert!(codec::check_frame(&header, conn.max_incoming).unwrap().is_none(), "not whole yet, not too large");
        assert!(codec::check_frame(&header, codec::DEFAULT_MAX_INCOMING).is_err(), "above the default bound");
    }

    #[test]
    fn a_write_buffer_is_let_go_after_sixteen_small_writes_in_a_row() {
        let mut small = 0u8;
        // Writes that fill at least half of it: kept, however many.
        for _ in 0..100 {
            assert!(!outgrown(&mut small, 87, 174));
        }
        // A batch grew it to 1,392 bytes; single publishes follow.
        assert!(!outgrown(&mut small, 1_300, 1_392));
        for k in 1..SMALL_WRITES {
            assert!(!outgrown(&mut small, 87, 1_392), "{k}");
        }
        assert!(outgrown(&mut small, 87, 1_392), "the sixteenth");
        // A batch now and then keeps it: the count starts again.
        for _ in 0..10 {
            assert!(!outgrown(&mut small, 87, 1_392));
        }
        assert!(!outgrown(&mut small, 700, 1_392));
        for _ in 1..SMALL_WRITES {
            assert!(!outgrown(&mut small, 87, 1_392));
        }
        // Past 64 KiB it goes at once, full or not.
        assert!(outgrown(&mut small, 65_000, 128 * 1024 - 1));
        assert!(outgrown(&mut small, 100, 128 * 1024 - 1));
        assert_eq!(small, 0);
    }
}
