//! One tokio task per client: connect, subscribe, publish on schedule, answer
//! acks and keepalive, and leave on the run's shutdown signal. All protocol
//! rules live in `Session`; this file does the I/O and the recording.

use super::session::{AckOutcome, InboundAction, KeepAliveAction, Session};
use crate::metrics::Metrics;
use crate::mqtt::{reason, ConnectOptions, Connection, ConnectionError, Packet, Publish};
use crate::payload::{Decoded, Header};
use crate::plan::{ClientPlan, GroupPlan, Plan};
use crate::scenario::ProtocolVersion;
use crate::track::{LiveWindows, PublishLog, RxLog};
use bytes::BytesMut;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the run stands; every client task watches it (the shutdown broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Clients connect and subscribe; nobody publishes yet.
    Connecting,
    /// Publishing, on a schedule counted from `start_us`; a message whose
    /// intended time is `end_us` or later is not sent (run-clock µs).
    Publishing { start_us: u64, end_us: u64 },
    /// No new publishes; acks and deliveries still flow.
    Draining,
    /// Disconnect now.
    Shutdown,
}

/// What the run shares with every client.
pub struct ClientContext {
    pub plan: Arc<Plan>,
    pub metrics: Arc<Metrics>,
    pub broker: SocketAddr,
}

/// What a client hands back when it ends.
#[derive(Debug, Default)]
pub struct ClientOutcome {
    pub index: u32,
    pub connected: bool,
    pub connect_failure: Option<String>,
    /// The cause, when the connection ended other than by our DISCONNECT.
    pub dropped: Option<String>,
    pub live: LiveWindows,
    pub publish_log: Option<PublishLog>,
    pub rx: Option<RxLog>,
}

/// Names a socket error the way `connect_failures` and `disconnects` count it.
pub fn io_cause(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "refused".into(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "network_reset".into(),
        io::ErrorKind::TimedOut => "timeout".into(),
        io::ErrorKind::AddrNotAvailable => "address_not_available".into(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => "network_eof".into(),
        _ if e.raw_os_error() == Some(libc::EMFILE) || e.raw_os_error() == Some(libc::ENFILE) => {
            "too_many_open_files".into()
        }
        kind => format!("io_{}", format!("{kind:?}").to_lowercase()),
    }
}

fn connection_cause(e: &ConnectionError) -> String {
    match e {
        ConnectionError::Io(e) => io_cause(e),
        ConnectionError::Codec(_) => "malformed_packet_from_broker".into(),
        ConnectionError::TruncatedFrame => "network_eof".into(),
    }
}

struct Client {
    ctx: Arc<ClientContext>,
    me: ClientPlan,
    group: GroupPlan,
    shard: usize,
    session: Session,
    publish_log: Option<PublishLog>,
    rx: Option<RxLog>,
    live: LiveWindows,
    payload: BytesMut,
    ready_marked: bool,
}

impl Client {
    fn protocol(&self) -> ProtocolVersion {
        self.group.protocol
    }

    fn now_us(&self) -> u64 {
        self.ctx.metrics.clock.now_us()
    }

    fn mark_ready(&mut self) {
        if !self.ready_marked {
            self.ready_marked = true;
            self.ctx.metrics.ready.mark_ready();
        }
    }

    fn count(&self, f: impl FnOnce(&mut crate::metrics::Counters)) {
        self.ctx.metrics.with(self.shard, |s| f(&mut s.counters));
    }

    /// TCP connect, CONNECT, CONNACK. On failure, the cause as reported.
    async fn connect(&mut self) -> Result<Connection, String> {
        self.count(|c| c.connect_attempts += 1);
        let t0 = self.now_us();
        let tcp = match timeout(CONNECT_TIMEOUT, TcpStream::connect(self.ctx.broker)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(io_cause(&e)),
            Err(_) => return Err("timeout".into()),
        };
        let t_tcp = self.now_us();
        let mut conn = Connection::new(tcp, self.protocol());
        let v5 = self.protocol() == ProtocolVersion::V5;
        let creds = self.group.credentials.clone();
        let connect = Packet::Connect(ConnectOptions {
            client_id: self.me.client_id.clone(),
            keep_alive_s: self.group.keepalive.as_secs() as u16,
            clean_start: self.group.clean_session,
            username: creds.as_ref().map(|c| c.username.clone()),
            password: creds.map(|c| c.password),
            session_expiry_s: (v5 && !self.group.clean_session).then_some(u32::MAX),
            receive_maximum: None,
        });
        conn.write_packet(&connect)
            .await
            .map_err(|e| connection_cause(&e))?;
        let remaining = CONNECT_TIMEOUT.saturating_sub(Duration::from_micros(t_tcp - t0));
        let ack = match timeout(remaining, conn.read_packet()).await {
            Err(_) => return Err("timeout".into()),
            Ok(Err(e)) => return Err(connection_cause(&e)),
            Ok(Ok(None)) => return Err("closed_before_connack".into()),
            Ok(Ok(Some(Packet::ConnAck(a)))) => a,
            Ok(Ok(Some(_))) => return Err("unexpected_packet_before_connack".into()),
        };
        if ack.code != 0 {
            return Err(reason::connack_name(self.protocol(), ack.code));
        }
        if let Some(max) = ack.receive_maximum {
            self.session.limit_inflight(max);
        }
        let t_ack = self.now_us();
        self.ctx.metrics.with(self.shard, |s| {
            s.latency.connect.saturating_record((t_ack - t0).max(1));
            s.latency.connect_tcp.saturating_record((t_tcp - t0).max(1));
            s.counters.connects += 1;
        });
        self.session.on_packet_sent(t_ack);
        Ok(conn)
    }

    async fn send(&mut self, conn: &mut Connection, p: &Packet) -> Result<(), ConnectionError> {
        conn.write_packet(p).await?;
        Ok(())
    }

    /// Handles one packet from the broker. `Err(cause)` ends the connection.
    async fn on_packet(&mut self, conn: &mut Connection, p: Packet) -> Result<(), String> {
        let now = self.now_us();
        self.session.on_packet_received();
        let w = |e: ConnectionError| connection_cause(&e);
        match p {
            Packet::Publish(m) => {
                let action = self.session.on_inbound_publish(m.qos, m.pkid);
                if action != InboundAction::PubRecOnly {
                    self.deliver(&m, now);
                }
                match action {
                    InboundAction::Deliver => {}
                    InboundAction::DeliverAndPubAck => {
                        self.send(
                            conn,
                            &Packet::PubAck {
                                pkid: m.pkid,
                                reason: 0,
                            },
                        )
                        .await
                        .map_err(w)?;
                        self.session.on_packet_sent(now);
                    }
                    InboundAction::DeliverAndPubRec | InboundAction::PubRecOnly => {
                        self.send(
                            conn,
                            &Packet::PubRec {
                                pkid: m.pkid,
                                reason: 0,
                            },
                        )
                        .await
                        .map_err(w)?;
                        self.session.on_packet_sent(now);
                    }
                }
            }
            Packet::PubAck { pkid, reason } => self.on_ack(pkid, reason, now, false),
            Packet::PubComp { pkid, reason } => self.on_ack(pkid, reason, now, true),
            Packet::PubRec { pkid, reason } => {
                if reason >= 0x80 {
                    self.on_ack(pkid, reason, now, false);
                } else {
                    if self.session.on_pubrec(pkid) == AckOutcome::Unsolicited {
                        self.count(|c| c.unsolicited_acks += 1);
                    }
                    self.send(conn, &Packet::PubRel { pkid, reason: 0 })
                        .await
                        .map_err(w)?;
                    self.session.on_packet_sent(now);
                }
            }
            Packet::PubRel { pkid, .. } => {
                if !self.session.on_pubrel(pkid) {
                    self.count(|c| c.unsolicited_acks += 1);
                }
                self.send(conn, &Packet::PubComp { pkid, reason: 0 })
                    .await
                    .map_err(w)?;
                self.session.on_packet_sent(now);
            }
            Packet::SubAck { pkid, codes } => match self.session.on_suback(pkid, now) {
                Some(latency) => {
                    self.ctx.metrics.with(self.shard, |s| {
                        s.latency.suback.saturating_record(latency.max(1))
                    });
                    let code = codes.first().copied().unwrap_or(0x80);
                    if code >= 0x80 {
                        let cause = match self.protocol() {
                            ProtocolVersion::V311 => "failure".to_string(),
                            ProtocolVersion::V5 => {
                                reason::reason_name(code).unwrap_or("failure").to_string()
                            }
                        };
                        self.count(|c| *c.subscribe_failures.entry(cause).or_default() += 1);
                    } else {
                        self.live.push((now, u64::MAX));
                    }
                    self.mark_ready();
                }
                None => self.count(|c| c.unsolicited_acks += 1),
            },
            Packet::Disconnect { reason } => return Err(reason::disconnect_cause(reason)),
            Packet::PingResp | Packet::UnsubAck { .. } => {}
            Packet::PingReq
            | Packet::ConnAck(_)
            | Packet::Connect(_)
            | Packet::Subscribe { .. }
            | Packet::Unsubscribe { .. } => {
                return Err("protocol_error_from_broker".into());
            }
        }
        Ok(())
    }

    fn deliver(&mut self, m: &Publish, now: u64) {
        let q = m.qos.min(2) as usize;
        let run_id = self.ctx.plan.run_id;
        let rx = self.rx.get_or_insert_with(RxLog::default);
        match Header::decode(&m.payload, run_id) {
            Decoded::Tracked(h) => {
                rx.streams.entry(h.publisher).or_default().record(h.seq);
                let now_unix = self.ctx.metrics.clock.unix_us(now);
                let e2e = now_unix.saturating_sub(h.intended_us).max(1);
                let raw = now_unix.saturating_sub(h.sent_us).max(1);
                self.ctx.metrics.with(self.shard, |s| {
                    s.latency.e2e.saturating_record(e2e);
                    s.latency.e2e_uncorrected.saturating_record(raw);
                    s.interval_e2e.saturating_record(e2e);
                    s.counters.received[q] += 1;
                });
            }
            Decoded::Stale => rx.stale += 1,
            Decoded::Foreign => rx.foreign += 1,
        }
    }

    fn on_ack(&mut self, pkid: u16, reason: u8, now: u64, comp: bool) {
        let outcome = if reason >= 0x80 {
            self.session.on_rejected(pkid, now)
        } else if comp {
            self.session.on_pubcomp(pkid, now)
        } else {
            self.session.on_puback(pkid, now)
        };
        match outcome {
            AckOutcome::Completed { seq, latency_us } => {
                self.ctx.metrics.inflight.fetch_sub(1, Ordering::Relaxed);
                let log = self
                    .publish_log
                    .as_mut()
                    .expect("acks come only for our publishes");
                let q = log.qos as usize;
                if reason >= 0x80 {
                    self.count(|c| c.rejected += 1);
                } else {
                    log.got_out.insert(seq);
                    self.ctx.metrics.with(self.shard, |s| {
                        s.latency.ack.saturating_record(latency_us.max(1));
                        s.counters.acked[q] += 1;
                    });
                }
            }
            AckOutcome::SendPubRel => {}
            AckOutcome::Unsolicited => self.count(|c| c.unsolicited_acks += 1),
        }
    }

    async fn publish_next(
        &mut self,
        conn: &mut Connection,
        schedule: &Schedule,
    ) -> Result<(), String> {
        let Some(publish) = self.group.publish.clone() else {
            return Ok(());
        };
        let seq = self.publish_log.as_ref().map_or(0, |l| l.published());
        let pkid = if publish.qos > 0 {
            match self.session.next_pkid() {
                Some(id) => id,
                None => return Ok(()),
            }
        } else {
            0
        };
        let now = self.now_us();
        let clock = self.ctx.metrics.clock;
        let header = Header {
            run_id: self.ctx.plan.run_id,
            publisher: self.me.publisher.unwrap_or(0),
            seq,
            intended_us: clock.unix_us(schedule.intended_us(seq)),
            sent_us: clock.unix_us(now),
        };
        self.payload.clear();
        header.write(publish.payload, &mut self.payload);
        let packet = Packet::Publish(Publish {
            dup: false,
            qos: publish.qos,
            retain: publish.retain,
            topic: self.me.topic.clone().unwrap_or_default(),
            pkid,
            payload: self.payload.split().freeze(),
        });
        conn.write_packet(&packet)
            .await
            .map_err(|e| connection_cause(&e))?;
        let log = self
            .publish_log
            .get_or_insert_with(|| PublishLog::new(publish.qos));
        log.sent_us.push(now);
        if publish.qos == 0 {
            log.got_out.insert(seq);
        } else {
            self.ctx.metrics.inflight.fetch_add(1, Ordering::Relaxed);
        }
        self.session.on_publish_sent(pkid, seq, publish.qos, now);
        let q = publish.qos as usize;
        self.count(|c| c.published[q] += 1);
        Ok(())
    }

    fn publishing_done(&self) -> bool {
        match (&self.group.publish, &self.publish_log) {
            (Some(p), Some(l)) => p.count.is_some_and(|n| l.published() >= n),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// Everything still in flight is in doubt now.
    fn settle_in_flight(&mut self) {
        let left = self.session.take_in_flight();
        self.ctx
            .metrics
            .inflight
            .fetch_sub(left.len() as i64, Ordering::Relaxed);
        if let Some(log) = self.publish_log.as_mut() {
            for o in left {
                log.in_doubt.insert(o.seq);
            }
        }
    }
}

/// The constant-rate schedule of one publisher: message `seq` is due at
/// `start + offset + seq / rate`. Publishers are spread over one interval so
/// they do not all fire at once.
struct Schedule {
    start_us: u64,
    offset_us: f64,
    interval_us: f64,
    end_us: u64,
}

impl Schedule {
    fn intended_us(&self, seq: u64) -> u64 {
        self.start_us + (self.offset_us + seq as f64 * self.interval_us) as u64
    }

    fn is_due_before_end(&self, seq: u64) -> bool {
        self.intended_us(seq) < self.end_us
    }
}

/// Runs one client to the end of the run (or of its connection).
pub async fn run_client(
    ctx: Arc<ClientContext>,
    index: u32,
    mut phase: watch::Receiver<Phase>,
) -> ClientOutcome {
    let me = ctx.plan.clients[index as usize].clone();
    let group = ctx.plan.group_of(&me).clone();
    let shard = ctx.metrics.shard_for(index);
    let mut client = Client {
        session: Session::new(
            group.max_inflight,
            group.keepalive.as_secs().min(u16::MAX as u64) as u16,
        ),
        publish_log: group.publish.as_ref().map(|p| PublishLog::new(p.qos)),
        rx: me.filter.as_ref().map(|_| RxLog::default()),
        ctx: ctx.clone(),
        me,
        group,
        shard,
        live: Vec::new(),
        payload: BytesMut::new(),
        ready_marked: false,
    };
    let mut outcome = ClientOutcome {
        index,
        ..Default::default()
    };

    let mut conn = match client.connect().await {
        Ok(c) => c,
        Err(cause) => {
            client.count(|c| *c.connect_failures.entry(cause.clone()).or_default() += 1);
            client.mark_ready();
            outcome.connect_failure = Some(cause);
            outcome.publish_log = client.publish_log;
            outcome.rx = client.rx;
            return outcome;
        }
    };
    outcome.connected = true;
    ctx.metrics.on_connected();

    if let Some(filter) = client.me.filter.clone() {
        let qos = client.group.subscribe_qos.unwrap_or(0);
        let pkid = client.session.next_pkid().unwrap_or(1);
        let sent = client
            .send(
                &mut conn,
                &Packet::Subscribe {
                    pkid,
                    filters: vec![(filter, qos)],
                },
            )
            .await;
        let now = client.now_us();
        client.session.on_subscribe_sent(pkid, now);
        if let Err(e) = sent {
            outcome.dropped = Some(connection_cause(&e));
        }
    } else {
        client.mark_ready();
    }

    let publisher_count = ctx.plan.publishers.len().max(1) as f64;
    let mut schedule: Option<Schedule> = None;
    let mut publishing = false;
    let clock = ctx.metrics.clock;

    let result: Result<(), String> = if let Some(cause) = outcome.dropped.take() {
        Err(cause)
    } else {
        loop {
            let current = *phase.borrow_and_update();
            match current {
                Phase::Shutdown => break Ok(()),
                Phase::Publishing { start_us, end_us } if schedule.is_none() => {
                    if let (Some(p), Some(pi)) = (&client.group.publish, client.me.publisher) {
                        let interval_us = 1e6 / p.rate;
                        schedule = Some(Schedule {
                            start_us,
                            offset_us: interval_us * (pi as f64 / publisher_count),
                            interval_us,
                            end_us,
                        });
                        publishing = true;
                    }
                }
                Phase::Draining => publishing = false,
                _ => {}
            }
            let next_publish = match &schedule {
                Some(s)
                    if publishing && !client.publishing_done() && client.session.can_publish() =>
                {
                    let seq = client.publish_log.as_ref().map_or(0, |l| l.published());
                    s.is_due_before_end(seq)
                        .then(|| clock.instant_at(s.intended_us(seq)))
                }
                _ => None,
            };
            let keepalive_at = client
                .session
                .keepalive_deadline_us()
                .map(|us| clock.instant_at(us));
            let far = Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                biased;
                changed = phase.changed() => {
                    if changed.is_err() {
                        break Ok(());
                    }
                }
                read = conn.read_packet() => match read {
                    Ok(Some(p)) => {
                        if let Err(cause) = client.on_packet(&mut conn, p).await {
                            break Err(cause);
                        }
                    }
                    Ok(None) => break Err("network_eof".into()),
                    Err(e) => break Err(connection_cause(&e)),
                },
                _ = sleep_until(next_publish.map(Instant::from_std).unwrap_or(far)), if next_publish.is_some() => {
                    if let Err(cause) = client.publish_next(&mut conn, schedule.as_ref().expect("scheduled")).await {
                        break Err(cause);
                    }
                }
                _ = sleep_until(keepalive_at.map(Instant::from_std).unwrap_or(far)), if keepalive_at.is_some() => {
                    let now = client.now_us();
                    match client.session.keepalive_due(now) {
                        KeepAliveAction::SendPing => {
                            if let Err(e) = client.send(&mut conn, &Packet::PingReq).await {
                                break Err(connection_cause(&e));
                            }
                            client.session.on_ping_sent(now);
                        }
                        KeepAliveAction::TimedOut => break Err("keepalive_timeout".into()),
                        KeepAliveAction::Nothing => {}
                    }
                }
            }
        }
    };

    let end = client.now_us();
    if let Some(w) = client.live.last_mut() {
        w.1 = end;
    }
    match result {
        Ok(()) => {
            let _ = client
                .send(&mut conn, &Packet::Disconnect { reason: 0 })
                .await;
            conn.shutdown().await;
        }
        Err(cause) => {
            client.count(|c| *c.disconnects.entry(cause.clone()).or_default() += 1);
            outcome.dropped = Some(cause);
        }
    }
    client.settle_in_flight();
    client.mark_ready();
    ctx.metrics.connected.fetch_sub(1, Ordering::Relaxed);
    outcome.live = std::mem::take(&mut client.live);
    outcome.publish_log = client.publish_log.take();
    outcome.rx = client.rx.take();
    outcome
}
