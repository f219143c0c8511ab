//! One tokio task per client: connect, subscribe, publish on schedule, answer
//! acks and keepalive, reconnect after a drop, and leave on the run's
//! shutdown signal. All protocol rules live in `Session`; this file does the
//! I/O, the recording, and keeps the client's timeline of connections.

use super::reconnect::Backoff;
use super::schedule::Schedule;
use super::session::{AckOutcome, InboundAction, KeepAliveAction, Outbound, Session, Stage};
use crate::metrics::{Counters, Delivery, Metrics, UnrecordedDeliveries};
use crate::mqtt::handshake::{connection_cause, dial as dial_mqtt, Dial, Dialed};
use crate::mqtt::{reason, ConnAck, ConnectOptions, Connection, Packet, Publish};
use crate::payload::{Decoded, Header};
use crate::plan::{ClientPlan, GroupPlan, Plan};
use crate::record::logs::{PublishLog, RxLog};
use crate::record::vocab::{Cause, Limit};
use crate::record::{ClientRecord, Generation, LimitHit};
use crate::scenario::MalformedPacket;
use crate::scenario::ProtocolVersion;
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

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
    /// Where clients connect: the broker, or midge's fault proxy in front of it.
    pub broker: SocketAddr,
    /// Orders to misbehave (the `malformed` fault); each client keeps a clone.
    pub orders: watch::Receiver<Option<Arc<Misbehave>>>,
    /// mqtts:// brokers: the TLS settings every client shares.
    pub tls: Option<crate::mqtt::transport::TlsClient>,
}

/// An order to chosen clients to send a bad packet now.
#[derive(Debug, Clone)]
pub struct Misbehave {
    /// Sorted client indices.
    pub targets: Vec<u32>,
    pub packet: MalformedPacket,
    pub size: usize,
    pub count: u64,
}

/// What a client hands back when it ends.
pub type ClientOutcome = ClientRecord;

struct Client {
    ctx: Arc<ClientContext>,
    me: ClientPlan,
    group: Arc<GroupPlan>,
    shard: usize,
    session: Session,
    // Boxed: only publishers (or subscribers) have one, and an idle
    // client's task should carry no more than a pointer for them.
    publish_log: Option<Box<PublishLog>>,
    rx: Option<Box<RxLog>>,
    ready_marked: bool,
    done_marked: bool,
    gen: Generation,
    schedule: Option<Box<Schedule>>,
    publishing: bool,
    /// The broker's announced limits forbid this client's publishing.
    publish_blocked: bool,
    limits: Vec<LimitHit>,
    receive_maximum: Option<u16>,
    unrecorded: UnrecordedDeliveries,
    /// When `publish_due` last ran (run clock, µs).
    published_at_us: u64,
}

impl Client {
    fn new(ctx: &Arc<ClientContext>, index: u32) -> Client {
        let me = ctx.plan.clients[index as usize].clone();
        let group = ctx.plan.groups[me.group as usize].clone();
        let shard = ctx.metrics.shard_for(index);
        Client {
            session: Session::new(group.max_inflight, group.keepalive.as_secs().min(u16::MAX as u64) as u16),
            publish_log: group.publish.as_ref().map(|p| Box::new(PublishLog::new(p.qos))),
            rx: me.filter.as_ref().map(|_| Box::default()),
            ctx: ctx.clone(),
            me,
            group,
            shard,
            ready_marked: false,
            done_marked: false,
            gen: Generation::default(),
            schedule: None,
            publishing: false,
            publish_blocked: false,
            limits: Vec::new(),
            receive_maximum: None,
            unrecorded: UnrecordedDeliveries::default(),
            published_at_us: 0,
        }
    }

    fn protocol(&self) -> ProtocolVersion {
        self.group.protocol
    }

    fn now_us(&self) -> u64 {
        self.ctx.metrics.clock.now_us()
    }

    /// This publisher will publish no more: the run need not wait for it.
    fn mark_done(&mut self) {
        if !self.done_marked && self.group.publish.is_some() {
            self.done_marked = true;
            self.ctx.metrics.publishers_done.mark_ready();
        }
    }

    fn mark_ready(&mut self) {
        if !self.ready_marked {
            self.ready_marked = true;
            self.ctx.metrics.ready.mark_ready();
        }
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        self.ctx.metrics.with(self.shard, |s| f(&mut s.counters));
    }

    /// TCP connect, CONNECT, CONNACK. On failure, the cause as reported.
    async fn connect(&mut self) -> Result<(Box<Connection>, ConnAck), Cause> {
        self.count(|c| c.connect_attempts += 1);
        let dial = Dial {
            to: self.ctx.broker,
            from: self.source_addr(),
            tls: self.ctx.tls.as_ref(),
            protocol: self.protocol(),
            clock: self.ctx.metrics.clock,
            limit: CONNECT_TIMEOUT,
        };
        let Dialed { mut conn, ack, started_us, tcp_us } = dial_mqtt(dial, &self.connect_options()).await?;
        conn.set_read_window(self.ctx.plan.batch_window);
        self.honour_limits(&ack);
        if let Some(max) = ack.receive_maximum {
            self.session.limit_inflight(max);
        }
        let t_ack = self.now_us();
        self.ctx.metrics.with(self.shard, |s| {
            // The TLS handshake counts in connect latency (to CONNACK), not in connect_tcp.
            s.latency.connect.saturating_record((t_ack - started_us).max(1));
            s.latency.connect_tcp.saturating_record((tcp_us - started_us).max(1));
            s.counters.connects += 1;
        });
        Ok((conn, ack))
    }

    /// The local address this client connects from, if the plan spreads them.
    fn source_addr(&self) -> Option<std::net::IpAddr> {
        self.ctx.plan.source_addr(self.me.index)
    }

    fn connect_options(&self) -> ConnectOptions {
        self.group.connect_options(&self.me.client_id)
    }

    /// MQTT 5: what the broker announced in CONNACK. A publish or
    /// subscription that would break a limit is held back and reported,
    /// rather than sent and punished with a disconnect.
    fn honour_limits(&mut self, ack: &ConnAck) {
        self.receive_maximum = ack.receive_maximum;
        if let Some(k) = ack.server_keep_alive {
            self.session.set_keepalive(k);
        }
        let mut hits = Vec::new();
        if let Some(p) = &self.group.publish {
            let topic = self.me.topic.as_deref().unwrap_or_default();
            // Fixed header (at most 5) + topic + packet id + properties length + payload.
            let size = 5 + 2 + topic.len() + 2 + 1 + p.payload;
            if let Some(max) = ack.max_packet_size {
                if size as u64 > max as u64 {
                    hits.push(LimitHit { limit: Limit::MaximumPacketSize, announced: max as u64, needed: size as u64 });
                }
            }
            if let Some(q) = ack.maximum_qos {
                if p.qos > q {
                    hits.push(LimitHit { limit: Limit::MaximumQos, announced: q as u64, needed: p.qos as u64 });
                }
            }
            if p.retain && ack.retain_available == Some(false) {
                hits.push(LimitHit { limit: Limit::RetainAvailable, announced: 0, needed: 1 });
            }
            self.publish_blocked = !hits.is_empty();
            if self.publish_blocked {
                self.mark_done();
            }
        }
        if let Some(f) = &self.me.filter {
            if ack.wildcard_available == Some(false) && (f.contains('+') || f.contains('#')) {
                hits.push(LimitHit { limit: Limit::WildcardSubscriptionAvailable, announced: 0, needed: 1 });
            }
            if ack.shared_available == Some(false) && f.starts_with("$share/") {
                hits.push(LimitHit { limit: Limit::SharedSubscriptionAvailable, announced: 0, needed: 1 });
            }
        }
        for h in hits {
            if !self.limits.contains(&h) {
                self.limits.push(h);
            }
        }
    }

    fn subscription_blocked(&self) -> bool {
        self.limits
            .iter()
            .any(|h| matches!(h.limit, Limit::WildcardSubscriptionAvailable | Limit::SharedSubscriptionAvailable))
    }

    /// Carries out a `malformed` order if it names this client.
    async fn misbehave(&mut self, conn: &mut Connection, order: &Misbehave) -> Result<(), Cause> {
        if order.targets.binary_search(&self.me.index).is_err() {
            return Ok(());
        }
        let opts = self.connect_options();
        // Ids no outbound publish of ours uses (the broker's acks for them count as unsolicited).
        let mut next_id = 60_000u16;
        let packets = crate::faults::malformed::packets(
            order.packet,
            self.protocol(),
            &opts,
            order.size,
            order.count,
            self.receive_maximum,
            || {
                next_id = next_id.wrapping_add(1).max(1);
                next_id
            },
        );
        for p in packets {
            conn.write_raw(&p, 0).await.map_err(|e| connection_cause(&e))?;
        }
        Ok(())
    }

    async fn send(&mut self, conn: &mut Connection, p: &Packet) -> Result<(), Cause> {
        conn.write_packet(p).await.map_err(|e| connection_cause(&e))?;
        let now = self.now_us();
        self.session.on_packet_sent(now);
        Ok(())
    }

    /// Sets up a fresh connection: resume the session (resend what is in
    /// flight) or start over (in-flight publishes become in doubt), and
    /// subscribe when the broker does not hold our subscription.
    async fn begin_connection(&mut self, conn: &mut Connection, ack: &ConnAck) -> Result<(), Cause> {
        let now = self.now_us();
        let resumed = ack.session_present && self.group.persistent();
        self.gen.session_present = ack.session_present;
        if resumed {
            for (pkid, o) in self.session.resume(now) {
                let packet = match o.stage {
                    Stage::AwaitPubAck | Stage::AwaitPubRec => self.publish_packet(pkid, &o, true),
                    Stage::AwaitPubComp => Packet::PubRel { pkid, reason: 0 },
                };
                self.send(conn, &packet).await?;
            }
            if self.me.filter.is_some() && !self.subscription_blocked() {
                self.gen.live_from_us = Some(now);
                self.mark_ready();
            }
        } else {
            self.settle_in_flight();
            self.session.restart(now);
        }
        if let Some(filter) = self.me.filter.clone().filter(|_| !resumed && !self.subscription_blocked()) {
            let qos = self.group.subscribe_qos.unwrap_or(0);
            let pkid = self.session.next_pkid().unwrap_or(1);
            self.send(conn, &Packet::Subscribe { pkid, filters: vec![(filter, qos)] }).await?;
            let now = self.now_us();
            self.session.on_subscribe_sent(pkid, now);
        } else if self.me.filter.is_none() || self.subscription_blocked() {
            self.mark_ready();
        }
        Ok(())
    }

    /// Queues a reply; the caller flushes once for everything one read brought.
    fn queue(&mut self, conn: &mut Connection, p: &Packet, now: u64) -> Result<(), Cause> {
        conn.queue_packet(p).map_err(|e| connection_cause(&e))?;
        self.session.on_packet_sent(now);
        Ok(())
    }

    /// Handles one packet from the broker; replies are queued on `conn`.
    /// `Err(cause)` ends the connection.
    fn on_packet(&mut self, conn: &mut Connection, p: Packet, now: u64) -> Result<(), Cause> {
        self.session.on_packet_received();
        self.gen.heard_us = now;
        match p {
            Packet::Publish(m) => {
                let action = self.session.on_inbound_publish(m.qos, m.pkid);
                if action != InboundAction::PubRecOnly {
                    self.deliver(&m, now);
                }
                match action {
                    InboundAction::Deliver => {}
                    InboundAction::DeliverAndPubAck => {
                        self.queue(conn, &Packet::PubAck { pkid: m.pkid, reason: 0 }, now)?;
                    }
                    InboundAction::DeliverAndPubRec | InboundAction::PubRecOnly => {
                        self.queue(conn, &Packet::PubRec { pkid: m.pkid, reason: 0 }, now)?;
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
                    self.queue(conn, &Packet::PubRel { pkid, reason: 0 }, now)?;
                }
            }
            Packet::PubRel { pkid, .. } => {
                if !self.session.on_pubrel(pkid) {
                    self.count(|c| c.unsolicited_acks += 1);
                }
                self.queue(conn, &Packet::PubComp { pkid, reason: 0 }, now)?;
            }
            Packet::SubAck { pkid, codes } => match self.session.on_suback(pkid, now) {
                Some(latency) => {
                    self.ctx.metrics.with(self.shard, |s| s.latency.suback.saturating_record(latency.max(1)));
                    let code = codes.first().copied().unwrap_or(0x80);
                    if code >= 0x80 {
                        let cause = match self.protocol() {
                            ProtocolVersion::V311 => "failure".to_string(),
                            ProtocolVersion::V5 => reason::reason_name(code).unwrap_or("failure").to_string(),
                        };
                        self.count(|c| *c.subscribe_failures.entry(cause).or_default() += 1);
                    } else {
                        self.gen.live_from_us = Some(now);
                    }
                    self.mark_ready();
                }
                None => self.count(|c| c.unsolicited_acks += 1),
            },
            Packet::Disconnect { reason } => return Err(Cause::Disconnect(reason)),
            Packet::PingResp | Packet::UnsubAck { .. } => {}
            Packet::PingReq
            | Packet::ConnAck(_)
            | Packet::Connect(_)
            | Packet::Subscribe { .. }
            | Packet::Unsubscribe { .. } => {
                return Err(Cause::ProtocolErrorFromBroker);
            }
        }
        Ok(())
    }

    fn deliver(&mut self, m: &Publish, now: u64) {
        let run_id = self.ctx.plan.run_id;
        let clock = self.ctx.metrics.clock;
        let rx = self.rx.get_or_insert_with(Default::default);
        match Header::decode(&m.payload, run_id) {
            Decoded::Tracked(h) => {
                let now_unix = clock.unix_us(now);
                let e2e_us = now_unix.saturating_sub(h.intended_us).max(1);
                let raw_us = now_unix.saturating_sub(h.sent_us).max(1);
                self.gen.slowest_delivery_us = self.gen.slowest_delivery_us.max(raw_us);
                self.unrecorded.push(Delivery {
                    qos: m.qos.min(2),
                    publisher: h.publisher,
                    seq: h.seq,
                    e2e_us,
                    raw_us,
                });
            }
            Decoded::Stale => rx.stale += 1,
            Decoded::Foreign => rx.foreign += 1,
        }
    }

    /// Records the deliveries noted since the last call: into the receipt
    /// log, and into the shared histograms under one shard lock per read.
    fn record_deliveries(&mut self) {
        if self.unrecorded.is_empty() {
            return;
        }
        let rx = self.rx.get_or_insert_with(Default::default);
        for (publisher, seq) in self.unrecorded.receipts() {
            rx.streams.entry(publisher).or_default().record(seq);
        }
        let unrecorded = &mut self.unrecorded;
        self.ctx.metrics.with(self.shard, |s| unrecorded.drain_into(s));
    }

    /// Sends the queued replies, then records what they acknowledge. A
    /// message whose acknowledgement could not be written is not counted:
    /// the broker still holds it and will deliver it again.
    async fn acknowledge(&mut self, conn: &mut Connection) -> Result<(), Cause> {
        match conn.flush().await {
            Ok(()) => {
                self.record_deliveries();
                Ok(())
            }
            Err(e) => {
                self.unrecorded.clear();
                Err(connection_cause(&e))
            }
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
                let Some(log) = self.publish_log.as_mut() else {
                    return;
                };
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

    /// The PUBLISH for sequence `o.seq`: the payload is rebuilt from the
    /// header fields, so a resend carries exactly the bytes of the first send.
    fn publish_packet(&mut self, pkid: u16, o: &Outbound, dup: bool) -> Packet {
        let publish = self.group.publish.clone().expect("only publishers publish");
        let clock = self.ctx.metrics.clock;
        let header = Header {
            run_id: self.ctx.plan.run_id,
            publisher: self.me.publisher.unwrap_or(0),
            seq: o.seq,
            intended_us: clock.unix_us(o.intended_us),
            sent_us: clock.unix_us(o.sent_us),
        };
        let mut payload = BytesMut::with_capacity(publish.payload);
        header.write(publish.payload, &mut payload);
        Packet::Publish(Publish {
            dup,
            qos: o.qos,
            retain: publish.retain,
            topic: Bytes::copy_from_slice(self.me.topic.as_deref().unwrap_or_default().as_bytes()),
            pkid,
            payload: payload.freeze(),
        })
    }

    /// Publishes every message that is due (the one the timer woke us for,
    /// and any others already due), up to the inflight window, in one
    /// write: a late or batching publisher needs one system call per wake-up.
    async fn publish_due(&mut self, conn: &mut Connection) -> Result<(), Cause> {
        self.queue_due(conn);
        conn.flush().await.map_err(|e| connection_cause(&e))?;
        if self.publishing_done() {
            self.mark_done();
        }
        Ok(())
    }

    /// The synchronous half of `publish_due`: queues what is due and records
    /// it (kept apart so its scratch space is not part of the task's state).
    fn queue_due(&mut self, conn: &mut Connection) {
        const MAX_BATCH: usize = 64;
        const MAX_PER_WAKE: usize = 4096;
        let Some(publish) = self.group.publish.clone() else {
            return;
        };
        let now = self.now_us();
        self.published_at_us = now;
        let clock = self.ctx.metrics.clock;
        let mut lags = [0u64; MAX_BATCH];
        let mut batch = 0;
        let mut sent = 0;
        while !self.publishing_done() && self.session.can_publish() {
            if sent == MAX_PER_WAKE {
                // Far behind: let other clients run, and come back at once.
                self.published_at_us = 0;
                break;
            }
            if batch == MAX_BATCH {
                self.record_publishes(publish.qos, &lags);
                batch = 0;
            }
            let seq = self.publish_log.as_ref().map_or(0, |l| l.published());
            let Some(schedule) = self.schedule.as_mut() else { break };
            if !schedule.is_due_before_end(seq) {
                break;
            }
            let intended_us = schedule.intended_us(seq);
            if sent > 0 && intended_us > now {
                break;
            }
            let pkid = if publish.qos > 0 {
                match self.session.next_pkid() {
                    Some(id) => id,
                    None => break,
                }
            } else {
                0
            };
            // The PUBLISH and its tracking header go straight into the
            // connection's buffer: no packet value, no allocation.
            let header = Header {
                run_id: self.ctx.plan.run_id,
                publisher: self.me.publisher.unwrap_or(0),
                seq,
                intended_us: clock.unix_us(intended_us),
                sent_us: clock.unix_us(now),
            };
            let topic = self.me.topic.as_deref().unwrap_or_default().as_bytes();
            conn.queue_publish(topic, publish.qos, publish.retain, pkid, publish.payload, |buf| {
                header.write(publish.payload, buf)
            });
            let log = self.publish_log.get_or_insert_with(|| Box::new(PublishLog::new(publish.qos)));
            log.sent.push(now);
            if publish.qos == 0 {
                log.got_out.insert(seq);
            } else {
                self.ctx.metrics.inflight.fetch_add(1, Ordering::Relaxed);
            }
            self.session.on_publish_sent(pkid, seq, publish.qos, now, intended_us);
            lags[batch] = now.saturating_sub(intended_us).max(1);
            batch += 1;
            sent += 1;
        }
        self.record_publishes(publish.qos, &lags[..batch]);
    }

    fn record_publishes(&self, qos: u8, lags: &[u64]) {
        self.ctx.metrics.with(self.shard, |s| {
            s.counters.published[qos as usize] += lags.len() as u64;
            for &lag in lags {
                s.latency.publish_lag.saturating_record(lag);
            }
        });
    }

    fn publishing_done(&self) -> bool {
        match (&self.group.publish, &self.publish_log) {
            _ if self.publish_blocked => true,
            (Some(p), Some(l)) => p.count.is_some_and(|n| l.published() >= n),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }

    /// Every publish still in flight is in doubt now (its session is gone).
    fn settle_in_flight(&mut self) {
        let left = self.session.take_in_flight();
        self.ctx.metrics.inflight.fetch_sub(left.len() as i64, Ordering::Relaxed);
        if let Some(log) = self.publish_log.as_mut() {
            for o in left {
                log.in_doubt.insert(o.seq);
            }
        }
    }

    /// Follows the run's phase; true when it is time to leave.
    fn apply_phase(&mut self, phase: Phase) -> bool {
        match phase {
            Phase::Shutdown => return true,
            Phase::Publishing { start_us, end_us } if self.schedule.is_none() => {
                if let (Some(p), Some(pi)) = (&self.group.publish, self.me.publisher) {
                    let publishers = self.ctx.plan.publishers.len().max(1) as f64;
                    self.schedule = Some(Box::new(Schedule::new(
                        start_us + p.start_after.as_micros() as u64,
                        end_us,
                        p.rate,
                        pi as f64 / publishers,
                        p.arrival,
                        self.ctx.plan.run_id ^ (pi as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    )));
                    self.publishing = true;
                }
            }
            Phase::Draining => self.publishing = false,
            _ => {}
        }
        false
    }

    /// Handles `first` and every other whole packet its read brought in,
    /// then sends the replies in one write.
    async fn on_packets(&mut self, conn: &mut Connection, first: Packet) -> Result<(), Cause> {
        let now = self.now_us();
        let mut next = Some(first);
        let handled = loop {
            let Some(p) = next.take() else { break Ok(()) };
            if let Err(cause) = self.on_packet(conn, p, now) {
                break Err(cause);
            }
            if self.unrecorded.is_full() {
                if let Err(cause) = self.acknowledge(conn).await {
                    break Err(cause);
                }
            }
            match conn.next_buffered() {
                Ok(p) => next = p,
                Err(e) => break Err(connection_cause(&e)),
            }
        };
        let acknowledged = self.acknowledge(conn).await;
        handled?;
        acknowledged
    }

    /// The connected part of a generation: until shutdown (`Ok`) or a drop (`Err(cause)`).
    async fn serve(
        &mut self,
        conn: &mut Connection,
        phase: &mut watch::Receiver<Phase>,
        orders: &mut watch::Receiver<Option<Arc<Misbehave>>>,
    ) -> Result<(), Cause> {
        let clock = self.ctx.metrics.clock;
        loop {
            // Orders come with a touch of the phase channel (one wake-up
            // source per client, not two), and wait here for a client that
            // was offline when they came.
            if orders.has_changed().unwrap_or(false) {
                let order = orders.borrow_and_update().clone();
                if let Some(order) = order {
                    // Boxed: a rare path should not grow every idle client's future.
                    Box::pin(self.misbehave(conn, &order)).await?;
                }
            }
            let current = *phase.borrow_and_update();
            if self.apply_phase(current) {
                return Ok(());
            }
            let ready = self.publishing && !self.publishing_done() && self.session.can_publish();
            let seq = self.publish_log.as_ref().map_or(0, |l| l.published());
            // With a batch window, a publisher wakes at most once per window
            // and sends everything due by then.
            let window_us = self.ctx.plan.batch_window.as_micros() as u64;
            let next_publish = match self.schedule.as_mut() {
                Some(s) if ready => s.is_due_before_end(seq).then(|| {
                    clock.instant_at(s.intended_us(seq).max(if window_us > 0 {
                        crate::mqtt::connection::next_tick(self.published_at_us, window_us)
                    } else {
                        0
                    }))
                }),
                _ => None,
            };
            let keepalive_at = self.session.keepalive_deadline_us().map(|us| clock.instant_at(us));
            let wake_at = match (next_publish, keepalive_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
            .map(Instant::from_std);
            tokio::select! {
                biased;
                                changed = phase.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                read = conn.read_packet() => match read {
                    Ok(Some(p)) => self.on_packets(conn, p).await?,
                    Ok(None) => return Err(Cause::NetworkEof),
                    Err(e) => return Err(connection_cause(&e)),
                },
                // One timer for both deadlines: a busy publisher re-arms one, not two, per wake-up.
                // (Disabled when there is nothing to wake for: the far deadline is never polled.)
                _ = sleep_until(wake_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))), if wake_at.is_some() => {
                    if next_publish.is_some_and(|at| at <= std::time::Instant::now()) {
                        self.publish_due(conn).await?;
                    }
                    if keepalive_at.is_some_and(|at| at <= std::time::Instant::now()) {
                        let now = self.now_us();
                        match self.session.keepalive_due(now) {
                            KeepAliveAction::SendPing => {
                                self.send(conn, &Packet::PingReq).await?;
                                self.session.on_ping_sent(now);
                            }
                            KeepAliveAction::TimedOut => return Err(Cause::KeepaliveTimeout),
                            KeepAliveAction::Nothing => {}
                        }
                    }
                }
            }
        }
    }

    /// One connection from CONNACK to its end: set-up, service, and a clean
    /// DISCONNECT when midge ends it (or the flight recorder when it broke).
    async fn connection(
        &mut self,
        mut conn: Box<Connection>,
        ack: ConnAck,
        phase: &mut watch::Receiver<Phase>,
        orders: &mut watch::Receiver<Option<Arc<Misbehave>>>,
    ) -> Result<(), Cause> {
        let served = match self.begin_connection(&mut conn, &ack).await {
            Ok(()) => self.serve(&mut conn, phase, orders).await,
            Err(cause) => Err(cause),
        };
        if served.is_ok() {
            let _ = conn.write_packet(&Packet::Disconnect { reason: 0 }).await;
            conn.shutdown().await;
        }
        self.count(|c| {
            c.socket_reads += conn.reads;
            c.socket_writes += conn.writes;
            c.bytes_in += conn.bytes_in;
            c.bytes_out += conn.bytes_out;
        });
        if served.is_err() {
            // The cause goes into the timeline; the report counts causes from there.
            self.gen.flight = conn.flight.snapshot();
        }
        served
    }

    /// Waits out a reconnect delay; true when the run ends meanwhile.
    async fn wait_or_shutdown(&mut self, delay: Duration, phase: &mut watch::Receiver<Phase>) -> bool {
        let until = Instant::now() + delay;
        loop {
            let current = *phase.borrow_and_update();
            if self.apply_phase(current) {
                return true;
            }
            tokio::select! {
                _ = sleep_until(until) => return false,
                changed = phase.changed() => if changed.is_err() { return true },
            }
        }
    }
}

/// Runs one client to the end of the run (or until it gives up).
pub async fn run_client(ctx: Arc<ClientContext>, index: u32, mut phase: watch::Receiver<Phase>) -> ClientOutcome {
    let mut backoff = ctx.plan.groups[ctx.plan.clients[index as usize].group as usize].reconnect.map(Backoff::new);
    let mut client = Client::new(&ctx, index);
    let mut orders = ctx.orders.clone();
    orders.mark_unchanged();
    let mut timeline: Vec<Generation> = Vec::new();
    let mut ever_connected = false;
    // Counted in `metrics.offline` while waiting to reconnect, so the drain
    // waits for this client to come back.
    let mut waiting_to_reconnect = false;
    let set_waiting = |now: bool, was: &mut bool| {
        if now != *was {
            ctx.metrics.offline.fetch_add(if now { 1 } else { -1 }, Ordering::Relaxed);
            *was = now;
        }
    };

    loop {
        if client.apply_phase(*phase.borrow_and_update()) {
            break;
        }
        let now = client.now_us();
        client.gen = Generation { attempt_us: now, heard_us: now, ..Default::default() };
        let outcome = match Box::pin(client.connect()).await {
            Err(cause) => {
                client.count(|c| *c.connect_failures.entry(cause.name()).or_default() += 1);
                // Refused (even if it will retry): publishing need not wait for it.
                client.mark_ready();
                Err(cause)
            }
            Ok((conn, ack)) => {
                set_waiting(false, &mut waiting_to_reconnect);
                let now = client.now_us();
                client.gen.connected_us = Some(now);
                client.gen.heard_us = now;
                ctx.metrics.on_connected();
                if ever_connected {
                    client.count(|c| c.reconnects += 1);
                }
                ever_connected = true;
                if let Some(b) = backoff.as_mut() {
                    b.reset();
                }
                // Boxed, and `conn` moved in: the task's own state stays the
                // size of an idle client, whatever a connection's future needs.
                let served = Box::pin(client.connection(conn, ack, &mut phase, &mut orders)).await;
                ctx.metrics.connected.fetch_sub(1, Ordering::Relaxed);
                served
            }
        };
        client.gen.ended_us = client.now_us();
        client.gen.cause = outcome.as_ref().err().cloned();
        let connected = client.gen.connected_us.is_some();
        timeline.push(std::mem::take(&mut client.gen));
        let Err(_) = outcome else { break };
        // A client that never got in does not storm the broker: its first
        // refusal is the answer (auth_refused and friends are findings).
        if !ever_connected && !client.group.retry_connect {
            break;
        }
        let Some(b) = backoff.as_mut() else { break };
        if connected && !client.group.persistent() {
            client.settle_in_flight();
        }
        set_waiting(true, &mut waiting_to_reconnect);
        let delay = b.next_delay(rand::random());
        // Boxed: a rare path should not grow every idle client's task.
        if Box::pin(client.wait_or_shutdown(delay, &mut phase)).await {
            break;
        }
    }
    set_waiting(false, &mut waiting_to_reconnect);
    client.settle_in_flight();
    client.mark_ready();
    client.mark_done();
    ClientOutcome {
        index,
        timeline,
        limits: std::mem::take(&mut client.limits),
        publish_log: client.publish_log.take().map(|l| *l),
        rx: client.rx.take().map(|r| *r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle client holds this future; keep an eye on its size.
    /// An idle client costs its task (the `run_client` future), its boxed
    /// `Connection` and the boxed future of that connection: together they
    /// must stay well under the 4 KiB per idle client of issue 5.
    #[tokio::test]
    async fn idle_client_state_stays_small() {
        let file = crate::scenario::ScenarioFile::parse(
            std::path::Path::new("x.toml"),
            "name = \"x\"\n[[group]]\nname = \"g\"\nsubscribe = { filter = \"a/#\" }\n",
        )
        .unwrap();
        let plan = Arc::new(Plan::build(&file, &Default::default()).unwrap());
        let (_o_tx, mut orders) = watch::channel(None);
        let ctx = Arc::new(ClientContext {
            plan,
            metrics: Arc::new(Metrics::new(1)),
            broker: "127.0.0.1:1".parse().unwrap(),
            orders: orders.clone(),
            tls: None,
        });
        let (_tx, mut phase) = watch::channel(Phase::Connecting);
        let task = std::mem::size_of_val(&run_client(ctx.clone(), 0, phase.clone()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let conn = Box::new(Connection::new(tcp, ProtocolVersion::V311, ctx.metrics.clock));
        let mut client = Client::new(&ctx, 0);
        let conn_size = std::mem::size_of::<Connection>();
        let serving = std::mem::size_of_val(&client.connection(conn, ConnAck::default(), &mut phase, &mut orders));
        let total = task + conn_size + serving;
        eprintln!("idle client: task {task} B + connection {conn_size} B + its future {serving} B = {total} B");
        assert!(total < 3 * 1024, "{total}");
    }
}
