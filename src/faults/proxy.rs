//! A loopback TCP proxy that understands MQTT framing and misbehaves on
//! purpose. Static rules act on the n-th packet of a type (drop, duplicate,
//! swap, corrupt, cut; or break one rule of the protocol with a well-formed
//! packet: set flags such as RETAIN, set a CONNACK's Session Present, raise
//! a 3.1.1 QoS 0 PUBLISH to QoS 1, pad a PUBLISH, reuse a packet id in
//! flight, change a SUBSCRIBE's options, copy a client's own PUBLISH back
//! to it); timed faults, switched on while it runs, act on
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

use super::client_id::{connect_client_id, ws_connect_client_id};
use super::rewrite;
use crate::mqtt::codec::check_frame;
use bytes::BytesMut;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
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
    /// An MQTT 5 PUBLISH grows by this many bytes (a User Property): above
    /// a Maximum Packet Size the client announced.
    Pad(u32),
    /// A QoS ≥ 1 PUBLISH is forwarded, then straight after it the previous
    /// PUBLISH toward the client again under this one's packet id: another
    /// message under an id still in flight (QoS 2: awaiting PUBREL, which
    /// cannot come before the client's PUBREC for it).
    ReusePacketId,
    /// An MQTT 5 SUBSCRIBE's first filter loses these option bits (retain
    /// handling: 0x30, no local: 0x04): the broker answers a subscription
    /// other than the one the client asked for.
    ClearSubscribeOptions(u8),
    /// A client's PUBLISH goes on to the broker, and a copy of it, at QoS
    /// 0, back to the client as a delivery: its own message under no local.
    EchoToClient,
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
    let (echo_tx, echo_rx) = mpsc::unbounded_channel();
    let (up, down) = match framing {
        Framing::Mqtt => (
            futures_util::future::Either::Left(pump(
                cr,
                bw,
                Direction::ToBroker,
                client_id.clone(),
                shared.clone(),
                (Some(echo_tx), None),
            )),
            futures_util::future::Either::Left(pump(
                br,
                cw,
                Direction::ToClient,
                client_id.clone(),
                shared,
                (None, Some(echo_rx)),
            )),
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

/// Copies of the client's packets on their way back to it (`Action::EchoToClient`).
type Echoes = mpsc::UnboundedSender<BytesMut>;

/// Forwards frames from `from` to `to`, applying the rules and timed faults that match.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    client_id: Arc<OnceLock<String>>,
    shared: Shared,
    (echo_tx, mut echo_rx): (Option<Echoes>, Option<mpsc::UnboundedReceiver<BytesMut>>),
) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut counts = [0u64; 16];
    let mut held: Option<(u8, BytesMut)> = None;
    // The last PUBLISH forwarded, kept only where a rule may reuse its id.
    let keeps_last = shared.rules.iter().any(|r| r.direction == direction && r.action == Action::ReusePacketId);
    let mut last_publish: Option<BytesMut> = None;
    loop {
        let echoed = async {
            match echo_rx.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        // A copy from the other direction goes out between two whole frames.
        let read = tokio::select! {
            r = from.read_buf(&mut buf) => r,
            Some(copy) = echoed => match to.write_all(&copy).await {
                Ok(()) => continue,
                Err(_) => return,
            },
        };
        match read {
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
                Some(Action::EchoToClient) => {
                    if let Some(tx) = &echo_tx {
                        let _ = tx.send(rewrite::lowered_to_qos0(&frame, header.header_len));
                    }
                    out.push(frame);
                }
                Some(a) => rewritten(a, frame, header.header_len, last_publish.as_ref(), &mut out),
            }
            if keeps_last && t == 3 {
                last_publish = out.first().cloned();
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

/// A well-formed packet that breaks a rule: `action`'s rewrite of `frame`
/// (its fixed header `header_len` bytes), into `out`; `last`: the last
/// PUBLISH forwarded this way, where kept.
fn rewritten(action: Action, frame: BytesMut, header_len: usize, last: Option<&BytesMut>, out: &mut Vec<BytesMut>) {
    match action {
        Action::Corrupt => {
            let mut bad = frame;
            bad[0] &= 0x0f;
            out.push(bad);
        }
        Action::SetFlags(bits) => {
            let mut f = frame;
            f[0] |= bits & 0x0f;
            out.push(f);
        }
        Action::SessionPresent => {
            let mut f = frame;
            if let Some(b) = f.get_mut(header_len) {
                *b |= 1;
            }
            out.push(f);
        }
        Action::RaiseToQos1 { pkid } => out.push(rewrite::raised_to_qos1(&frame, header_len, pkid)),
        Action::SetExpiry(s) => out.push(rewrite::with_expiry(frame, header_len, s)),
        Action::AddTopicAlias(a) => out.push(rewrite::with_alias(&frame, header_len, a)),
        Action::Pad(by) => out.push(rewrite::padded(&frame, header_len, by as usize)),
        Action::ReusePacketId => {
            let again = rewrite::pkid_of(&frame, header_len).zip(last.cloned());
            out.push(frame);
            if let Some((pkid, previous)) = again {
                let h =
                    crate::mqtt::codec::check_frame(&previous, usize::MAX).ok().flatten().map_or(2, |h| h.header_len);
                out.push(rewrite::with_pkid(previous, h, pkid));
            }
        }
        Action::ClearSubscribeOptions(bits) => out.push(rewrite::subscribe_options_cleared(frame, header_len, bits)),
        // Acted on in `pump`.
        Action::Drop | Action::Duplicate | Action::SwapWithNext | Action::Cut | Action::EchoToClient => out.push(frame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
