//! A loopback TCP proxy that understands MQTT framing and misbehaves on
//! purpose. Static rules act on the n-th packet of a type (drop, duplicate,
//! swap, corrupt, cut; or break one rule of the protocol with a well-formed
//! packet: set flags such as RETAIN, set a CONNACK's Session Present, raise
//! a 3.1.1 QoS 0 PUBLISH to QoS 1); timed faults, switched on while it runs, act on
//! chosen clients (cut now, blackhole for a while, add delay, drop the next N
//! PUBLISH packets). Because the faults are known, a test (or a scenario)
//! knows the exact loss, duplicates and reordering midge must report. It
//! forwards bytes untouched otherwise.
//!
//! In front of a WebSocket broker (ws://) it forwards bytes as they come
//! (`Framing::WebSocket`): it finds the client id in the CONNECT inside
//! the client's first WebSocket frame, and cut, blackhole and delay act on
//! the bytes; packet rules and `drop` need MQTT framing and do not apply.
//!
//! `scenario::FaultAction::refused_over` refuses `drop` over ws:// and every
//! proxy fault over TLS, at validation (with file:line:column) and again in
//! `Plan::build`. Over ws:// the client id comes from the CONNECT in the
//! client's first WebSocket frame (`ws_connect_client_id`).

use super::rewrite;
use crate::mqtt::codec::check_frame;
use bytes::{Buf, BytesMut};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

const MAX_FRAME: usize = 256 * 1024 * 1024;

/// What flows through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// MQTT packets straight on TCP: every rule and timed fault applies.
    #[default]
    Mqtt,
    /// MQTT inside WebSocket frames (ws://): forwarded as read; cut,
    /// blackhole and delay apply.
    WebSocket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Broker to client.
    ToClient,
    /// Client to broker.
    ToBroker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The packet is not forwarded.
    Drop,
    /// The packet is forwarded twice.
    Duplicate,
    /// The packet is held and forwarded right after the next one of its type.
    SwapWithNext,
    /// Both sockets are closed instead of forwarding the packet.
    Cut,
    /// The packet type nibble is set to 0 (reserved): a malformed packet.
    Corrupt,
    /// These bits are set in the first byte's flags (a PUBLISH's RETAIN: 1,
    /// DUP: 8): a well-formed packet that breaks a rule.
    SetFlags(u8),
    /// A CONNACK's Session Present bit is set.
    SessionPresent,
    /// A 3.1.1 QoS 0 PUBLISH goes on at QoS 1 under this packet id.
    RaiseToQos1 { pkid: u16 },
    /// An MQTT 5 PUBLISH's Message Expiry Interval is set to this (where it has one).
    SetExpiry(u32),
    /// An MQTT 5 PUBLISH gains this Topic Alias.
    AddTopicAlias(u16),
}

/// Acts on the `nth` (1-based) packet of `packet_type` (3 = PUBLISH, …)
/// flowing in `direction` on each connection whose client id starts with
/// `client_prefix`.
#[derive(Debug, Clone)]
pub struct Rule {
    pub client_prefix: String,
    pub direction: Direction,
    pub packet_type: u8,
    pub nth: u64,
    pub action: Action,
}

impl Rule {
    pub fn publish_to_client(client_prefix: &str, nth: u64, action: Action) -> Rule {
        Rule { client_prefix: client_prefix.to_string(), direction: Direction::ToClient, packet_type: 3, nth, action }
    }
}

/// Which connections a timed fault hits: by client id, or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIds {
    All,
    Ids(HashSet<String>),
}

impl ClientIds {
    fn hits(&self, client_id: Option<&String>) -> bool {
        match self {
            ClientIds::All => true,
            ClientIds::Ids(ids) => client_id.is_some_and(|id| ids.contains(id)),
        }
    }
}

#[derive(Debug, Clone)]
enum Timed {
    Blackhole { until: Instant },
    Delay { by: Duration, until: Instant },
    Drop { to_client: bool, to_broker: bool, remaining: u64 },
}

#[derive(Default)]
struct Control {
    timed: Mutex<Vec<(ClientIds, Timed)>>,
}

enum Verdict {
    Forward,
    Drop,
    Hold(Instant),
    DelayUntil(Instant),
}

impl Control {
    fn verdict(&self, client_id: Option<&String>, direction: Direction, packet_type: u8, read_at: Instant) -> Verdict {
        let now = Instant::now();
        let mut timed = self.timed.lock().unwrap_or_else(|p| p.into_inner());
        timed.retain(|(_, t)| match t {
            Timed::Blackhole { until } | Timed::Delay { until, .. } => *until > now,
            Timed::Drop { remaining, .. } => *remaining > 0,
        });
        let mut delay_until: Option<Instant> = None;
        for (targets, t) in timed.iter_mut() {
            if !targets.hits(client_id) {
                continue;
            }
            match t {
                Timed::Blackhole { until } => return Verdict::Hold(*until),
                Timed::Delay { by, .. } => {
                    let at = read_at + *by;
                    delay_until = Some(delay_until.map_or(at, |d| d.max(at)));
                }
                Timed::Drop { to_client, to_broker, remaining } => {
                    let dir_ok = match direction {
                        Direction::ToClient => *to_client,
                        Direction::ToBroker => *to_broker,
                    };
                    if packet_type == 3 && dir_ok && *remaining > 0 {
                        *remaining -= 1;
                        return Verdict::Drop;
                    }
                }
            }
        }
        match delay_until {
            Some(at) if at > now => Verdict::DelayUntil(at),
            _ => Verdict::Forward,
        }
    }
}

/// A running proxy. Dropping it stops accepting and closes every connection.
pub struct FaultProxy {
    pub addr: SocketAddr,
    applied: Arc<AtomicU64>,
    dup_publishes: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    control: Arc<Control>,
    cut_tx: broadcast::Sender<ClientIds>,
    _stop: watch::Sender<bool>,
}

/// What every connection of the proxy shares.
#[derive(Clone)]
struct Shared {
    rules: Arc<Vec<Rule>>,
    applied: Arc<AtomicU64>,
    /// PUBLISH packets towards the broker with the DUP flag (resends).
    dup_publishes: Arc<AtomicU64>,
    control: Arc<Control>,
}

impl FaultProxy {
    /// Listens on a free 127.0.0.1 port and forwards MQTT to `upstream`.
    pub async fn start(upstream: SocketAddr, rules: Vec<Rule>) -> std::io::Result<FaultProxy> {
        FaultProxy::start_framed(upstream, rules, Framing::Mqtt).await
    }

    /// The same, for what `framing` says flows through.
    pub async fn start_framed(upstream: SocketAddr, rules: Vec<Rule>, framing: Framing) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let applied = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let control = Arc::new(Control::default());
        let (cut_tx, _) = broadcast::channel(64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let dup_publishes = Arc::new(AtomicU64::new(0));
        let shared = Shared {
            rules: Arc::new(rules),
            applied: applied.clone(),
            dup_publishes: dup_publishes.clone(),
            control: control.clone(),
        };
        let c = connections.clone();
        let cuts = cut_tx.clone();
        tokio::spawn(async move {
            let mut stop = stop_rx.clone();
            loop {
                let accepted = tokio::select! {
                    r = listener.accept() => r,
                    _ = stop.changed() => return,
                };
                let Ok((client, _)) = accepted else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                let (shared, stop, cut_rx) = (shared.clone(), stop_rx.clone(), cuts.subscribe());
                tokio::spawn(async move {
                    let Ok(broker) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = broker.set_nodelay(true);
                    serve(client, broker, shared, stop, cut_rx, framing).await;
                });
            }
        });
        Ok(FaultProxy { addr, applied, dup_publishes, connections, control, cut_tx, _stop: stop_tx })
    }

    /// How many rule actions were carried out so far.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// How many PUBLISH packets with the DUP flag went towards the broker.
    pub fn dup_publishes(&self) -> u64 {
        self.dup_publishes.load(Ordering::Relaxed)
    }

    /// How many client connections were accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Closes the targets' connections now (both sockets).
    pub fn cut(&self, targets: ClientIds) {
        self.applied.fetch_add(1, Ordering::Relaxed);
        let _ = self.cut_tx.send(targets);
    }

    /// Stops forwarding to and from the targets for `for_` without closing:
    /// data waits in the proxy, as on a partitioned network path.
    pub fn blackhole(&self, targets: ClientIds, for_: Duration) {
        self.add(targets, Timed::Blackhole { until: Instant::now() + for_ });
    }

    /// Adds `by` to every packet to and from the targets for `for_`.
    pub fn delay(&self, targets: ClientIds, by: Duration, for_: Duration) {
        self.add(targets, Timed::Delay { by, until: Instant::now() + for_ });
    }

    /// Loses the targets' next `count` PUBLISH packets in the given directions.
    pub fn drop_publishes(&self, targets: ClientIds, count: u64, to_client: bool, to_broker: bool) {
        self.add(targets, Timed::Drop { to_client, to_broker, remaining: count });
    }

    fn add(&self, targets: ClientIds, t: Timed) {
        self.applied.fetch_add(1, Ordering::Relaxed);
        self.control.timed.lock().unwrap_or_else(|p| p.into_inner()).push((targets, t));
    }
}

async fn serve(
    client: TcpStream,
    broker: TcpStream,
    shared: Shared,
    mut stop: watch::Receiver<bool>,
    mut cuts: broadcast::Receiver<ClientIds>,
    framing: Framing,
) {
    let client_id = Arc::new(OnceLock::new());
    let (cr, cw) = client.into_split();
    let (br, bw) = broker.into_split();
    let (up, down) = match framing {
        Framing::Mqtt => (
            futures_util::future::Either::Left(pump(cr, bw, Direction::ToBroker, client_id.clone(), shared.clone())),
            futures_util::future::Either::Left(pump(br, cw, Direction::ToClient, client_id.clone(), shared)),
        ),
        Framing::WebSocket => (
            futures_util::future::Either::Right(pump_bytes(
                cr,
                bw,
                Direction::ToBroker,
                client_id.clone(),
                shared.clone(),
            )),
            futures_util::future::Either::Right(pump_bytes(br, cw, Direction::ToClient, client_id.clone(), shared)),
        ),
    };
    let cut = async {
        loop {
            match cuts.recv().await {
                Ok(targets) if targets.hits(client_id.get()) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    };
    // Either side ending (or a cut) ends the connection: dropping the halves closes both sockets.
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut => {}
        _ = stop.changed() => {}
    }
}

/// Forwards frames from `from` to `to`, applying the rules and timed faults that match.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    client_id: Arc<OnceLock<String>>,
    shared: Shared,
) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut counts = [0u64; 16];
    let mut held: Option<(u8, BytesMut)> = None;
    loop {
        match from.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let read_at = Instant::now();
        loop {
            let header = match check_frame(&buf, MAX_FRAME) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                // Not MQTT (or broken): pass the rest through untouched.
                Err(_) => {
                    let rest = buf.split();
                    if to.write_all(&rest).await.is_err() {
                        return;
                    }
                    break;
                }
            };
            let frame = buf.split_to(header.frame_len());
            let t = header.packet_type();
            if direction == Direction::ToBroker && t == 3 && header.byte1 & 0x08 != 0 {
                shared.dup_publishes.fetch_add(1, Ordering::Relaxed);
            }
            if direction == Direction::ToBroker && t == 1 && client_id.get().is_none() {
                let _ = client_id.set(connect_client_id(&frame[header.header_len..]).unwrap_or_default());
            }
            // Timed faults first: a blackhole holds the frame until it ends.
            let mut timed_drop = false;
            loop {
                match shared.control.verdict(client_id.get(), direction, t, read_at) {
                    Verdict::Hold(until) => tokio::time::sleep_until(until).await,
                    Verdict::DelayUntil(at) => {
                        tokio::time::sleep_until(at).await;
                        break;
                    }
                    Verdict::Drop => {
                        timed_drop = true;
                        break;
                    }
                    Verdict::Forward => break,
                }
            }
            if timed_drop {
                continue;
            }
            counts[t as usize] += 1;
            let id = client_id.get().map(String::as_str).unwrap_or("");
            let action = shared
                .rules
                .iter()
                .find(|r| {
                    r.direction == direction
                        && r.packet_type == t
                        && r.nth == counts[t as usize]
                        && id.starts_with(&r.client_prefix)
                })
                .map(|r| r.action);
            if action.is_some() {
                shared.applied.fetch_add(1, Ordering::Relaxed);
            }
            let mut out: Vec<BytesMut> = Vec::with_capacity(2);
            match action {
                None => out.push(frame),
                Some(Action::Drop) => {}
                Some(Action::Duplicate) => {
                    out.push(frame.clone());
                    out.push(frame);
                }
                Some(Action::SwapWithNext) => {
                    held = Some((t, frame));
                    continue;
                }
                Some(Action::Cut) => return,
                Some(Action::Corrupt) => {
                    let mut bad = frame;
                    bad[0] &= 0x0f;
                    out.push(bad);
                }
                Some(Action::SetFlags(bits)) => {
                    let mut f = frame;
                    f[0] |= bits & 0x0f;
                    out.push(f);
                }
                Some(Action::SessionPresent) => {
                    let mut f = frame;
                    if let Some(b) = f.get_mut(header.header_len) {
                        *b |= 1;
                    }
                    out.push(f);
                }
                Some(Action::RaiseToQos1 { pkid }) => {
                    out.push(rewrite::raised_to_qos1(&frame, header.header_len, pkid))
                }
                Some(Action::SetExpiry(s)) => out.push(rewrite::with_expiry(frame, header.header_len, s)),
                Some(Action::AddTopicAlias(a)) => out.push(rewrite::with_alias(&frame, header.header_len, a)),
            }
            if let Some((ht, _)) = &held {
                if *ht == t {
                    let (_, h) = held.take().expect("checked");
                    out.push(h);
                }
            }
            for f in out {
                if to.write_all(&f).await.is_err() {
                    return;
                }
            }
        }
    }
    if let Some((_, h)) = held.take() {
        let _ = to.write_all(&h).await;
    }
    let _ = to.shutdown().await;
}

/// Forwards bytes as read from `from` to `to` (a WebSocket stream),
/// holding or delaying them while a timed fault on this client says so.
/// Towards the broker, it reads the client id from the first frame.
async fn pump_bytes(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    client_id: Arc<OnceLock<String>>,
    shared: Shared,
) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut opening = (direction == Direction::ToBroker).then(BytesMut::new);
    loop {
        buf.clear();
        match from.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let read_at = Instant::now();
        if let Some(seen) = opening.as_mut() {
            seen.extend_from_slice(&buf);
            if let Some(id) = ws_connect_client_id(seen) {
                let _ = client_id.set(id);
                opening = None;
            } else if seen.len() > 64 * 1024 {
                opening = None;
            }
        }
        // Packet type 0: no packet is known here, so only blackhole and delay apply.
        loop {
            match shared.control.verdict(client_id.get(), direction, 0, read_at) {
                Verdict::Hold(until) => tokio::time::sleep_until(until).await,
                Verdict::DelayUntil(at) => {
                    tokio::time::sleep_until(at).await;
                    break;
                }
                Verdict::Drop | Verdict::Forward => break,
            }
        }
        if to.write_all(&buf).await.is_err() {
            return;
        }
    }
    let _ = to.shutdown().await;
}

/// The client id of the CONNECT in the first WebSocket frame after the
/// client's opening handshake (HTTP request), once that much has been seen.
fn ws_connect_client_id(seen: &[u8]) -> Option<String> {
    let body = seen.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let frame = seen.get(body..)?;
    let (b1, mut at) = (*frame.get(1)?, 2usize);
    let len = match b1 & 0x7f {
        126 => {
            at += 2;
            u16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]) as usize
        }
        127 => {
            at += 8;
            u64::from_be_bytes(frame.get(2..10)?.try_into().ok()?) as usize
        }
        n => n as usize,
    };
    let mask = match b1 & 0x80 {
        0 => [0u8; 4],
        _ => {
            at += 4;
            frame.get(at - 4..at)?.try_into().ok()?
        }
    };
    let payload: Vec<u8> =
        frame.get(at..at.checked_add(len)?)?.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    let header = check_frame(&payload, MAX_FRAME).ok()??;
    if header.packet_type() != 1 {
        return Some(String::new());
    }
    Some(connect_client_id(payload.get(header.header_len..header.frame_len())?).unwrap_or_default())
}

/// The client id in a CONNECT body (variable header + payload), either version.
fn connect_client_id(body: &[u8]) -> Option<String> {
    let mut b = body;
    let name_len = b.get(..2).map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)?;
    b = b.get(2 + name_len..)?;
    let level = *b.first()?;
    b = b.get(4..)?; // level, flags, keepalive
    if level == 5 {
        // Properties: a variable byte integer length, then the properties.
        let mut len = 0usize;
        let mut i = 0;
        loop {
            let byte = *b.get(i)?;
            len |= ((byte & 0x7f) as usize) << (7 * i);
            i += 1;
            if byte & 0x80 == 0 || i == 4 {
                break;
            }
        }
        b = b.get(i + len..)?;
    }
    let id_len = b.get(..2).map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)?;
    let mut id = b.get(2..2 + id_len)?;
    let s = String::from_utf8(id.copy_to_bytes(id_len).to_vec()).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{ConnectOptions, Packet};
    use crate::mqtt::protocol::ProtocolVersion;

    #[test]
    fn reads_the_client_id_of_both_versions() {
        for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
            let mut b = BytesMut::new();
            Packet::Connect(ConnectOptions {
                client_id: "sub-7".into(),
                keep_alive_s: 30,
                clean_start: true,
                username: None,
                password: None,
                session_expiry_s: Some(10),
                receive_maximum: None,
                maximum_packet_size: None,
                will: None,
            })
            .encode(v, &mut b)
            .unwrap();
            let h = check_frame(&b, 1024).unwrap().unwrap();
            assert_eq!(connect_client_id(&b[h.header_len..]).as_deref(), Some("sub-7"));
        }
    }

    /// The opening request, then a masked binary frame carrying CONNECT, as
    /// a ws:// client sends them; the id is found only once all of it is in.
    #[test]
    fn finds_the_client_id_inside_the_first_websocket_frame() {
        for id in ["web-1".to_string(), "x".repeat(200)] {
            let mut connect = BytesMut::new();
            Packet::Connect(ConnectOptions {
                client_id: id.clone(),
                keep_alive_s: 30,
                clean_start: true,
                username: None,
                password: None,
                session_expiry_s: None,
                receive_maximum: None,
                maximum_packet_size: None,
                will: None,
            })
            .encode(ProtocolVersion::V311, &mut connect)
            .unwrap();
            let mut seen = b"GET /mqtt HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n".to_vec();
            assert_eq!(ws_connect_client_id(&seen), None, "no frame yet");
            let mask = [0x11u8, 0x22, 0x33, 0x44];
            seen.push(0x82);
            match connect.len() {
                n if n < 126 => seen.push(0x80 | n as u8),
                n => {
                    seen.push(0x80 | 126);
                    seen.extend_from_slice(&(n as u16).to_be_bytes());
                }
            }
            seen.extend_from_slice(&mask);
            seen.extend(connect.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            assert_eq!(ws_connect_client_id(&seen[..seen.len() - 1]), None, "half a frame");
            assert_eq!(ws_connect_client_id(&seen), Some(id));
        }
    }

    #[tokio::test]
    async fn timed_faults_hit_only_their_targets_and_expire() {
        let c = Control::default();
        let a = "a".to_string();
        let b = "b".to_string();
        let now = Instant::now();
        c.timed.lock().unwrap().push((
            ClientIds::Ids(HashSet::from([a.clone()])),
            Timed::Drop { to_client: true, to_broker: false, remaining: 2 },
        ));
        assert!(matches!(c.verdict(Some(&b), Direction::ToClient, 3, now), Verdict::Forward));
        assert!(matches!(c.verdict(Some(&a), Direction::ToBroker, 3, now), Verdict::Forward));
        assert!(matches!(c.verdict(Some(&a), Direction::ToClient, 4, now), Verdict::Forward));
        assert!(matches!(c.verdict(Some(&a), Direction::ToClient, 3, now), Verdict::Drop));
        assert!(matches!(c.verdict(Some(&a), Direction::ToClient, 3, now), Verdict::Drop));
        assert!(matches!(c.verdict(Some(&a), Direction::ToClient, 3, now), Verdict::Forward));
        c.timed.lock().unwrap().push((ClientIds::All, Timed::Blackhole { until: now + Duration::from_secs(60) }));
        assert!(matches!(c.verdict(None, Direction::ToClient, 3, now), Verdict::Hold(_)));
    }
}
