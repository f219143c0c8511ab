//! One tokio task per client: connect, subscribe, publish on schedule, answer
//! acks and keepalive, reconnect after a drop, and leave on the run's
//! shutdown signal. Protocol rules live in `Session` (no I/O), accounting in
//! the `Recorder`, publishing in `publish.rs`; this file does the I/O and
//! keeps the client's timeline of connections.

use super::announced::{blocks_publishing, limit_hits};
use super::pacing::Pacing;
use super::reconnect::Backoff;
use super::recorder::{ConnectTimes, Recorder};
use super::session::{Event, KeepAliveAction, Outgoing, Request, Resend, Resent, Session};
use super::snapshot::Snapshots;
use crate::faults::malformed::{self, Misbehave};
use crate::metrics::{Counters, Metrics};
use crate::mqtt::handshake::{connection_cause, dial as dial_mqtt, Dial, Dialed};
use crate::mqtt::reason::{AckReason, SubAckCode};
use crate::mqtt::{ConnAck, ConnectOptions, Connection, Packet};
use crate::plan::schedule::Schedule;
use crate::plan::{ClientPlan, GroupPlan, Plan};
use crate::record::vocab::{suback_failure_name, BatchMode, Cause};
use crate::record::{ClientRecord, Generation, LimitHit};
use crate::scenario::ProtocolVersion;
use crate::workers::timer::{self, Wake};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Without a batch window, a publisher on the precise timer wakes at its
/// message's intended time, but at most once per step of this grid (µs):
/// what falls due within a step goes out in one write, as on tokio's wheel.
const PRECISE_GRID_US: u64 = 1000;
/// The grid while the publisher's worker is busy (adaptive batching): a
/// write costs a system call that also runs the broker's receive path, so
/// under load half as many writes halve most of a publisher's cost, for half
/// a millisecond more publish lag on average.
const BUSY_PRECISE_GRID_US: u64 = 2000;

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

/// How serving a connection ended without a drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Served {
    /// The run is over.
    Shutdown,
    /// A planned leave (a client stage ramping the group down).
    Left,
}

/// Where a client stands in its stays under client stages (`stay.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stay {
    /// In the run; its stay ends at `leave_at_us` (None: at the run's end).
    Present { leave_at_us: Option<u64> },
    /// Away after a planned leave; back at `back_at_us` (None: not before
    /// the run ends).
    Away { back_at_us: Option<u64> },
}

/// What the run shares with every client.
pub struct ClientContext {
    pub plan: Arc<Plan>,
    pub metrics: Arc<Metrics>,
    /// Where clients connect: the broker, or midge's fault proxy in front of it.
    pub broker: SocketAddr,
    /// Orders to misbehave (the `malformed` fault); each client keeps a clone.
    pub orders: watch::Receiver<Option<Arc<Misbehave>>>,
    /// How each group reaches the broker (TLS, WebSocket), by group index:
    /// a group may bring its own client certificate.
    pub transports: Arc<[crate::mqtt::transport::Transport]>,
    /// The runner's requests for a copy of every client's record (the
    /// periodic report).
    pub snapshots: Arc<Snapshots>,
}

/// What a client hands back when it ends.
pub type ClientOutcome = ClientRecord;

pub(super) struct Client {
    pub(super) ctx: Arc<ClientContext>,
    /// Its index in the plan's clients (`me`): the plan is shared, so the
    /// client keeps no copy of its ids and topics.
    pub(super) index: u32,
    pub(super) group: Arc<GroupPlan>,
    pub(super) session: Session,
    pub(super) recorder: Recorder,
    ready_marked: bool,
    done_marked: bool,
    pub(super) gen: Generation,
    /// The connections that ended, in order (`gen` is the current one).
    timeline: Vec<Generation>,
    /// The last snapshot round answered (its low 32 bits: a round every
    /// report interval never wraps them in a run).
    answered: u32,
    pub(super) schedule: Option<Box<Schedule>>,
    pub(super) publishing: bool,
    /// The broker's announced limits forbid this client's publishing.
    pub(super) publish_blocked: bool,
    limits: Vec<LimitHit>,
    receive_maximum: Option<u16>,
    /// When `publish_due` last ran (run clock, µs).
    pub(super) published_at_us: u64,
    /// A slow or stalled consumer's held-back reads (None: reads freely).
    pacing: Option<Box<Pacing>>,
    /// MQTT 5 topic alias on this connection.
    pub(super) alias: Alias,
    /// On this connection: topic bytes the alias left out, alias property bytes it added.
    pub(super) alias_bytes: (u64, u64),
    /// Some publisher sends user properties: deliveries are checked.
    checks_user_props: bool,
    /// Schedule slots given up to `max_queued` (never sent: unsent); boxed,
    /// made at the first gap: most publishers never have one.
    skips: Option<Box<SlotSkips>>,
    /// Connection attempts so far (the next one's timeline index): the will names it.
    attempts: u32,
    /// Under client stages only (boxed: most clients have none): where the
    /// client stands on the stage clock (`stay.rs`).
    pub(super) stay: Option<Box<StayClock>>,
}

/// A client's place on the stage clock under client stages.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StayClock {
    /// The start of publishing: the stage clock's zero (None: not yet).
    pub(super) start_us: Option<u64>,
    /// When the current stay ends on plan (run clock; None: at the end).
    pub(super) leave_at_us: Option<u64>,
    /// Back from a planned leave: the next connection is a rejoin.
    pub(super) rejoin: bool,
}

/// A publisher with `max_queued`: the schedule slots it gave up because
/// more messages fell due while it was offline than its queue holds.
/// Message `seq` (contiguous, as the tracking header needs) takes slot
/// `slot(seq)`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SlotSkips {
    /// Slots skipped before `at_seq`'s gap.
    offset: u64,
    /// The latest gap: from message `at_seq` on, `len` more slots are skipped.
    at_seq: u64,
    len: u64,
}

impl SlotSkips {
    pub(super) fn slot(&self, seq: u64) -> u64 {
        seq + self.offset + if seq >= self.at_seq { self.len } else { 0 }
    }

    /// Slots given up so far.
    pub(super) fn total(&self) -> u64 {
        self.offset + self.len
    }

    /// From message `at_seq` on, skip `len` more slots.
    fn skip(&mut self, at_seq: u64, len: u64) {
        *self = SlotSkips { offset: self.total(), at_seq, len };
    }
}

/// When a publisher wakes for a message intended at `intended_us`: at the
/// grid's next `tick` at the earliest — but never past the publishing
/// window's end for a message due before it (the run turns to draining at
/// the end, and a wake on the tick there would race it and leave the last
/// step's messages unsent).
fn grid_wake_us(intended_us: u64, tick_us: u64, end_us: u64) -> u64 {
    intended_us.max(tick_us).min(end_us.saturating_sub(1).max(intended_us))
}

/// What woke a serving client.
enum Woke {
    Phase,
    /// A read: its packets taken (`Client::take_packets`) at run-clock µs.
    Read(Result<bool, Cause>, u64),
    /// Its timer: a publish or keepalive is due.
    Timer,
}

/// A publisher's MQTT 5 topic alias on its current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alias {
    /// Not used (not asked for, 3.1.1, the broker allows none, or the topic
    /// is no longer than the alias property).
    Off,
    /// The next PUBLISH carries the topic and sets alias 1.
    Announce,
    /// PUBLISHes carry alias 1 and an empty topic.
    InUse,
}

impl Client {
    fn new(ctx: &Arc<ClientContext>, index: u32) -> Client {
        let me = &ctx.plan.clients[index as usize];
        let group = ctx.plan.groups[me.group as usize].clone();
        let shard = ctx.metrics.shard_for(index);
        // A 3.1.1 subscriber gets no properties at all: nothing to check.
        let checks_user_props = me.filter.is_some()
            && group.protocol == ProtocolVersion::V5
            && ctx.plan.groups.iter().any(|g| g.publish.as_ref().is_some_and(|p| !p.user_properties.is_empty()));
        Client {
            session: Session::new(group.max_inflight, group.keepalive.as_secs().min(u16::MAX as u64) as u16),
            recorder: Recorder::new(shard, group.publish.as_ref().map(|p| p.qos), me.filter.is_some()),
            ctx: ctx.clone(),
            index,
            group,
            ready_marked: false,
            done_marked: false,
            gen: Generation::default(),
            timeline: Vec::new(),
            answered: 0,
            schedule: None,
            publishing: false,
            publish_blocked: false,
            limits: Vec::new(),
            receive_maximum: None,
            published_at_us: 0,
            pacing: Pacing::of(&ctx.plan, me),
            alias: Alias::Off,
            alias_bytes: (0, 0),
            skips: None,
            checks_user_props,
            attempts: 0,
            stay: ctx.plan.groups[ctx.plan.clients[index as usize].group as usize]
                .client_curve
                .is_some()
                .then(Box::default),
        }
    }

    /// This client in the plan.
    pub(super) fn me(&self) -> &ClientPlan {
        &self.ctx.plan.clients[self.index as usize]
    }

    fn protocol(&self) -> ProtocolVersion {
        self.group.protocol
    }

    pub(super) fn protocol_v5(&self) -> bool {
        self.group.protocol == ProtocolVersion::V5
    }

    /// A tracked delivery's user properties against those its publisher's
    /// group sends: checked and mismatched deliveries counted.
    fn check_user_props(&self, m: &crate::mqtt::Publish) {
        let plan = &self.ctx.plan;
        let crate::payload::Decoded::Tracked(h) = crate::payload::Header::decode(&m.payload, plan.run_id) else {
            return;
        };
        let Some(&client) = plan.publishers.get(h.publisher as usize) else { return };
        let Some(sent) = plan.group_of(&plan.clients[client as usize]).publish.as_ref() else { return };
        let got = crate::mqtt::codec::props::user_properties(&m.props);
        let matches = got.is_some_and(|got| {
            got.len() == sent.user_properties.len()
                && got.iter().zip(&sent.user_properties).all(|(g, s)| g.0 == s.0 && g.1 == s.1)
        });
        self.count(|c| {
            c.user_properties_checked += 1;
            c.user_property_mismatches += u64::from(!matches);
        });
    }

    pub(super) fn now_us(&self) -> u64 {
        self.ctx.metrics.clock.now_us()
    }

    /// This publisher will publish no more: the run need not wait for it.
    pub(super) fn mark_done(&mut self) {
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
        self.recorder.count(&self.ctx.metrics, f);
    }

    /// TCP connect, CONNECT, CONNACK; the CONNACK's limits are honoured
    /// here, so only its session-present flag is handed on (the task keeps
    /// no CONNACK). On failure, the cause as reported.
    async fn connect(&mut self) -> Result<(Box<Connection>, bool), Cause> {
        self.count(|c| c.connect_attempts += 1);
        self.attempts += 1;
        let dial = Dial {
            to: self.ctx.broker,
            from: self.ctx.plan.source_addr(self.index),
            transport: &self.ctx.transports[self.me().group as usize],
            protocol: self.protocol(),
            clock: self.ctx.metrics.clock,
            limit: CONNECT_TIMEOUT,
        };
        let dialed = dial_mqtt(dial, &self.connect_options()).await?;
        let times = ConnectTimes::of(&dialed, self.now_us());
        let Dialed { mut conn, ack, .. } = dialed;
        match self.ctx.plan.batch_mode {
            BatchMode::Adaptive => conn.set_adaptive_reads(),
            BatchMode::Fixed | BatchMode::Off => conn.set_read_window(self.ctx.plan.batch_window),
        }
        self.honour_limits(&ack);
        self.recorder.connected(&self.ctx.metrics, times);
        Ok((conn, ack.session_present))
    }

    /// The group's CONNECT, with this connection's will: its payload names
    /// the run, the client and the connection, so a will received is matched
    /// to the connection that left it.
    fn connect_options(&self) -> ConnectOptions {
        let mut options = self.group.connect_options(&self.me().client_id);
        if let (Some(w), Some(topic)) = (&self.group.will, &self.me().will_topic) {
            let connection = self.attempts.saturating_sub(1);
            let (plan, text) = (&self.ctx.plan, w.payload.as_deref());
            let payload = crate::plan::will_payload(plan.run_id, plan.whole_plan_index(self.index), connection, text);
            options.will = Some(crate::mqtt::codec::Will {
                topic: topic.clone(),
                payload,
                qos: w.qos,
                retain: w.retain,
                delay_s: w.delay_s,
            });
        }
        options
    }

    /// MQTT 5: what the broker announced in CONNACK, honoured.
    fn honour_limits(&mut self, ack: &ConnAck) {
        self.receive_maximum = ack.receive_maximum;
        let topic_len = self.me().topic.as_ref().map_or(0, |t| t.len());
        let wants_alias = self.group.publish.as_ref().is_some_and(|p| p.topic_alias) && self.protocol_v5();
        self.alias = match ack.topic_alias_maximum {
            Some(max) if wants_alias && max >= 1 && topic_len > crate::mqtt::codec::props::TOPIC_ALIAS_LEN => {
                Alias::Announce
            }
            _ => Alias::Off,
        };
        if let Some(max) = ack.receive_maximum {
            self.session.limit_inflight(max);
        }
        if let Some(k) = ack.server_keep_alive {
            self.session.set_keepalive(k);
        }
        let hits = limit_hits(&self.group, self.me(), ack);
        if self.group.publish.is_some() {
            self.publish_blocked = hits.iter().any(blocks_publishing);
            if self.publish_blocked {
                self.mark_done();
            }
        }
        for h in hits {
            if !self.limits.contains(&h) {
                self.limits.push(h);
            }
        }
    }

    fn subscription_blocked(&self) -> bool {
        self.limits.iter().any(|h| !blocks_publishing(h))
    }

    /// Sends one of midge's own control packets at once (SUBSCRIBE,
    /// PINGREQ, DISCONNECT), through the session. `Ok(false)`: the session
    /// is busy (no free packet id) and nothing went out.
    async fn send_request(&mut self, conn: &mut Connection, request: Request) -> Result<bool, Cause> {
        // Queued in a plain function: no packet is kept in the future.
        if !self.queue_request(conn, request)? {
            return Ok(false);
        }
        conn.flush_control().await.map_err(|e| connection_cause(&e))?;
        Ok(true)
    }

    fn queue_request(&mut self, conn: &mut Connection, request: Request) -> Result<bool, Cause> {
        let now = self.now_us();
        // (A publish request gives no packet: `queue_due` writes PUBLISHes.)
        let Ok(Outgoing::Packet(packet)) = self.session.outgoing(request, now) else { return Ok(false) };
        conn.queue_packet(&packet).map_err(|e| connection_cause(&e))?;
        Ok(true)
    }

    /// Queues what the session says goes out again (PUBLISH with DUP, or
    /// PUBREL) and writes it at once; returns how many packets.
    async fn resend(&mut self, conn: &mut Connection, why: Resend) -> Result<u64, Cause> {
        let resent = self.queue_resent(conn, why)?;
        if resent > 0 {
            conn.flush().await.map_err(|e| connection_cause(&e))?;
        }
        Ok(resent)
    }

    fn queue_resent(&mut self, conn: &mut Connection, why: Resend) -> Result<u64, Cause> {
        let now = self.now_us();
        let resent = self.session.resend(why, now);
        for r in &resent {
            let packet = match *r {
                Resent::Publish { pkid, outbound } => self.publish_packet(pkid, &outbound, true),
                Resent::PubRel { pkid } => Packet::PubRel { pkid, reason: 0 },
            };
            conn.queue_packet(&packet).map_err(|e| connection_cause(&e))?;
        }
        Ok(resent.len() as u64)
    }

    /// Sets up a fresh connection: resume the session (resend what is in
    /// flight) or start over (in-flight publishes become in doubt), and
    /// subscribe when the broker does not hold our subscription.
    async fn begin_connection(&mut self, conn: &mut Connection, session_present: bool) -> Result<(), Cause> {
        let now = self.now_us();
        let resumed = session_present && self.group.persistent();
        self.gen.session_present = session_present;
        if resumed {
            self.resend(conn, Resend::Resume).await?;
            if self.me().filter.is_some() && !self.subscription_blocked() {
                self.gen.live_from_us = Some(now);
                self.mark_ready();
            }
        } else {
            self.settle_in_flight();
            self.session.restart(now);
        }
        self.bound_offline_queue(now);
        if let Some(filter) = self.me().filter.clone().filter(|_| !resumed && !self.subscription_blocked()) {
            let qos = self.group.subscribe_qos.unwrap_or(0);
            // Never busy: the session was settled just above, so every
            // packet id is free.
            self.send_request(conn, Request::Subscribe { filter, qos }).await?;
        } else if self.me().filter.is_none() || self.subscription_blocked() {
            self.mark_ready();
        }
        Ok(())
    }

    /// `max_queued`: of the messages that fell due while this publisher was
    /// offline, the first `max_queued` go out now; the schedule slots of the
    /// rest are given up (paho refuses a publish when its queue is full).
    fn bound_offline_queue(&mut self, now: u64) {
        let seq = self.recorder.published();
        let first = self.slot(seq);
        let (Some(max), Some(s)) = (self.group.max_queued, self.schedule.as_mut()) else { return };
        let mut due = s.due_by(first, now + 1);
        if let Some(count) = self.group.publish.as_ref().and_then(|p| p.count) {
            due = due.min(count);
        }
        let waiting = due.saturating_sub(first);
        if waiting > max {
            self.skips.get_or_insert_with(Default::default).skip(seq + max, waiting - max);
        }
    }

    /// `retry_interval` (MQTT 3.1.1): sends again, on this connection, what
    /// has waited that long for its acknowledgement — PUBLISH with DUP, or
    /// PUBREL.
    async fn retry_unacknowledged(&mut self, conn: &mut Connection) -> Result<(), Cause> {
        let Some(retry) = self.group.retry_interval else { return Ok(()) };
        let resent = self.resend(conn, Resend::Retry { after_us: retry.as_micros() as u64 }).await?;
        if resent > 0 {
            self.count(|c| c.publish_retries += resent);
        }
        Ok(())
    }

    /// Handles one packet from the broker: the session answers it (the
    /// reply is queued; the caller flushes once per read), the recorder
    /// notes what it means. `Err(cause)` ends the connection.
    fn on_packet(&mut self, conn: &mut Connection, p: Packet, now: u64) -> Result<(), Cause> {
        self.gen.heard_us = now;
        let step = self.session.handle(p, now);
        if let Some(reply) = &step.reply {
            conn.queue_packet(reply).map_err(|e| connection_cause(&e))?;
        }
        let metrics = &self.ctx.metrics;
        match step.event {
            Event::Nothing => {}
            Event::Delivery(m) => {
                let (run_id, clock) = (self.ctx.plan.run_id, metrics.clock);
                let age = self.recorder.take_in(&m, run_id, clock, now, &mut self.gen);
                if self.checks_user_props && age.is_some() {
                    self.check_user_props(&m);
                }
                if let Some(p) = self.pacing.as_mut() {
                    p.took_in(now, age);
                }
                if m.qos > 0 {
                    // One not of this run has no known age: it cannot show
                    // that the broker is not holding deliveries back.
                    conn.delivery_age(age.unwrap_or(u64::MAX));
                }
            }
            Event::Acked { seq, latency_us, reason } => {
                self.recorder.acked(metrics, seq, latency_us, false);
                self.note_publish_reason(reason);
            }
            Event::Rejected { seq, reason } => {
                self.recorder.acked(metrics, seq, 0, true);
                self.note_publish_reason(reason);
            }
            Event::Noted { reason } => self.note_publish_reason(reason),
            Event::Unsolicited => self.count(|c| c.unsolicited_acks += 1),
            Event::SubAcked { latency_us, code } => self.on_suback(latency_us, code, now),
            Event::Closed(cause) => return Err(cause),
        }
        Ok(())
    }

    /// Counts a PUBACK / PUBREC / PUBCOMP reason other than success, by name.
    fn note_publish_reason(&self, reason: AckReason) {
        if let Some(name) = reason.counted_name() {
            self.count(|c| *c.publish_reasons.entry(name).or_default() += 1);
        }
    }

    fn on_suback(&mut self, latency_us: u64, code: SubAckCode, now: u64) {
        self.recorder.suback(&self.ctx.metrics, latency_us);
        self.gen.suback_code = Some(code.code());
        match code {
            SubAckCode::Failure(code) => {
                let cause = suback_failure_name(self.protocol() == ProtocolVersion::V5, code);
                self.count(|c| *c.subscribe_failures.entry(cause).or_default() += 1);
            }
            SubAckCode::Granted(_) => self.gen.live_from_us = Some(now),
        }
        self.mark_ready();
    }

    /// Sends the queued replies, then records what they acknowledge. A
    /// message whose acknowledgement could not be written is not counted:
    /// the broker still holds it and will deliver it again.
    async fn acknowledge(&mut self, conn: &mut Connection) -> Result<(), Cause> {
        match conn.flush().await {
            Ok(()) => {
                self.recorder.record_deliveries(&self.ctx.metrics);
                Ok(())
            }
            Err(e) => {
                for pkid in self.recorder.forget_unacknowledged() {
                    self.session.forget_inbound(pkid);
                }
                Err(connection_cause(&e))
            }
        }
    }

    /// Every publish still in flight is in doubt now (its session is gone).
    fn settle_in_flight(&mut self) {
        let left = self.session.take_in_flight();
        self.recorder.in_doubt(&self.ctx.metrics, left);
    }

    /// Handles `first` (if any) and the other whole packets already read,
    /// without I/O: until the buffer is empty or a slow consumer must wait
    /// (`Ok(false)`), or until deliveries pile up (`Ok(true)`: acknowledge,
    /// then come back). No packet is held across an await, so a client's
    /// future carries none (a packet is 152 B).
    pub(super) fn take_packets(
        &mut self,
        conn: &mut Connection,
        first: Option<Packet>,
        now: u64,
    ) -> Result<bool, Cause> {
        let mut next = first;
        loop {
            let p = match next.take() {
                Some(p) => p,
                None => match conn.next_buffered() {
                    Ok(Some(p)) => p,
                    Ok(None) => return Ok(false),
                    Err(e) => return Err(connection_cause(&e)),
                },
            };
            self.on_packet(conn, p, now)?;
            let piled_up = self.recorder.deliveries_pile_up();
            // A slow consumer leaves the rest of the read buffered until it may take more.
            let held = self.pacing.as_mut().is_some_and(|p| p.hold_until(now).is_some());
            if piled_up || held {
                return Ok(piled_up && !held);
            }
        }
    }

    /// After `take_packets`: sends the replies in one write, and goes on
    /// while deliveries piled up. A failure to handle comes before one to
    /// acknowledge, and the replies go out either way.
    pub(super) async fn on_packets(
        &mut self,
        conn: &mut Connection,
        mut taken: Result<bool, Cause>,
        now: u64,
    ) -> Result<(), Cause> {
        loop {
            let acknowledged = self.acknowledge(conn).await;
            let more = taken?;
            acknowledged?;
            if !more {
                return Ok(());
            }
            taken = self.take_packets(conn, None, now);
        }
    }

    /// Carries out a `kill` or `malformed` order if it names this client.
    async fn misbehave(&mut self, conn: &mut Connection, order: &Misbehave) -> Result<(), Cause> {
        if order.kills(self.index, self.gen.connected_us.unwrap_or(0)) {
            // Killed: no DISCONNECT, the socket just closes (the broker sends the will).
            return Err(Cause::FaultInjected);
        }
        if !order.names(self.index) {
            return Ok(());
        }
        malformed::carry_out(conn, order, &self.connect_options(), self.receive_maximum).await
    }

    /// Answers the runner's snapshot request, if a new one came: a copy of
    /// the record so far. The open connection (`conn`) is taken as ended by
    /// midge at the snapshot's horizon, so its subscription is trusted up to
    /// there and no later: what was sent after it is still in flight.
    pub(super) fn answer_snapshot(&mut self, conn: Option<&Connection>) {
        let asked = self.ctx.snapshots.asked();
        if asked as u32 == self.answered {
            return;
        }
        self.answered = asked as u32;
        self.ctx.snapshots.answer(asked, |horizon_us| {
            let mut timeline = self.timeline.clone();
            if let Some(conn) = conn {
                let mut open = self.gen.clone();
                open.wrote_us = conn.wrote_us;
                open.ended_us = horizon_us.max(open.attempt_us);
                open.cause = None;
                timeline.push(open);
            }
            let (publish_log, rx) = self.recorder.copy_logs();
            ClientRecord { index: self.index, timeline, limits: self.limits.clone(), publish_log, rx, publishing: None }
        });
    }

    /// The connected part of a generation: until shutdown or a planned
    /// leave (`Ok`), or a drop (`Err(cause)`).
    // An async block, not an async fn, as `run_client`: an idle client's
    // future would keep the arguments twice.
    #[allow(clippy::manual_async_fn)]
    fn serve<'a>(
        &'a mut self,
        conn: &'a mut Connection,
        phase: &'a mut watch::Receiver<Phase>,
        orders: &'a mut watch::Receiver<Option<Arc<Misbehave>>>,
    ) -> impl std::future::Future<Output = Result<Served, Cause>> + 'a {
        async move {
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
                    return Ok(Served::Shutdown);
                }
                if self.leave_due() {
                    // Boxed: a rare path should not grow every idle client's future.
                    return Box::pin(self.leave(conn, phase)).await;
                }
                self.answer_snapshot(Some(conn));
                let (hold_at, stall_at) = self.hold_reads(current);
                // A slow consumer's hold, or the batching pace, whichever is later.
                let hold_at = hold_at.max(conn.read_paced_until());
                let (hold_at, stall_at) = (
                    hold_at.map(|us| self.ctx.metrics.clock.instant_at(us)),
                    stall_at.map(|us| self.ctx.metrics.clock.instant_at(us)),
                );
                let ready = self.publishing && !self.publishing_done() && self.session.can_publish();
                let seq = self.slot(self.recorder.published());
                // With a batch window, a publisher wakes at most once per window
                // and sends everything due by then (tokio's timer, on the
                // window's grid). Without one, it wakes at its message's
                // intended time on the worker's precise timer — but at most once
                // per millisecond grid step, as the wheel had it, so a fast
                // publisher still sends what is due in one write.
                let window_us = self.ctx.plan.batch_window.as_micros() as u64;
                let precise = window_us == 0 && timer::available();
                let grid_us = if precise { self.precise_grid_us() } else { window_us };
                let next_publish = match self.schedule.as_mut() {
                    Some(s) if ready => s.is_due_before_end(seq).then(|| {
                        let tick =
                            if grid_us > 0 { crate::mqtt::pace::next_tick(self.published_at_us, grid_us) } else { 0 };
                        self.ctx.metrics.clock.instant_at(grid_wake_us(s.intended_us(seq), tick, s.end_us()))
                    }),
                    _ => None,
                };
                // Adaptive batching holds no acknowledgement back that a quarter
                // full inflight window waits for.
                conn.set_reads_urgent(self.inflight_quarter_full());
                let keepalive_at = self.session.keepalive_deadline_us().map(|us| self.ctx.metrics.clock.instant_at(us));
                let retry_at = self
                    .group
                    .retry_interval
                    .and_then(|r| self.session.next_retry_us(r.as_micros() as u64))
                    .map(|us| self.ctx.metrics.clock.instant_at(us));
                let wake_at = {
                    // (In a block: kept out of the idle client's future.)
                    let leave_at = self.leave_at_us().map(|us| self.ctx.metrics.clock.instant_at(us));
                    [next_publish, keepalive_at, hold_at, stall_at, retry_at, leave_at].into_iter().flatten().min()
                };
                // One timer for both deadlines: a busy publisher re-arms one, not
                // two, per wake-up. The precise one when the next publish or
                // paced read comes first, tokio's for keepalive (and with a
                // batch window).
                let wake = match wake_at {
                    Some(at) if precise && (next_publish == Some(at) || hold_at == Some(at)) => {
                        Wake::precise(self.index, at)
                    }
                    // (A disabled branch's far deadline is never polled.)
                    at => Wake::tokio(at.unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(3600))),
                };
                // The branches do no I/O: what they start is awaited after the
                // select, so the packet read is not kept in the future meanwhile.
                let woke = tokio::select! {
                    biased;
                    changed = phase.changed() => {
                        if changed.is_err() {
                            return Ok(Served::Shutdown);
                        }
                        Woke::Phase
                    }
                    read = conn.read_packet(), if hold_at.is_none() => match read {
                        Ok(Some(p)) => {
                            let now = self.now_us();
                            Woke::Read(self.take_packets(conn, Some(p), now), now)
                        }
                        Ok(None) => return Err(Cause::NetworkEof),
                        Err(e) => return Err(connection_cause(&e)),
                    },
                    _ = wake, if wake_at.is_some() => Woke::Timer,
                };
                match woke {
                    Woke::Phase => {}
                    Woke::Read(taken, now) => self.on_packets(conn, taken, now).await?,
                    Woke::Timer => self.on_timer(conn, next_publish, keepalive_at).await?,
                }
            }
        }
    }

    /// The schedule slot of message `seq` (see `SlotSkips`).
    pub(super) fn slot(&self, seq: u64) -> u64 {
        self.skips.as_ref().map_or(seq, |s| s.slot(seq))
    }

    /// Schedule slots given up so far.
    pub(super) fn slots_skipped(&self) -> u64 {
        self.skips.as_ref().map_or(0, |s| s.total())
    }

    /// The step a publisher on the precise timer keeps to: 1 ms, or 2 ms
    /// while its worker is busy — unless what one step sends fills a
    /// quarter of its inflight window: the coarser step must not make it
    /// wait on its own window (it judges right after a write, when the
    /// window is at its fullest).
    fn precise_grid_us(&self) -> u64 {
        let qos0 = self.group.publish.as_ref().is_some_and(|p| p.qos == 0);
        if (qos0 || !self.inflight_quarter_full()) && crate::mqtt::pace::worker_busy(self.now_us()) {
            BUSY_PRECISE_GRID_US
        } else {
            PRECISE_GRID_US
        }
    }

    fn inflight_quarter_full(&self) -> bool {
        4 * self.session.inflight() >= self.session.max_inflight() as usize
    }

    /// Until when a slow or stalled consumer must not read, and when its
    /// next stall begins (run-clock µs).
    fn hold_reads(&mut self, phase: Phase) -> (Option<u64>, Option<u64>) {
        if self.pacing.is_none() {
            return (None, None);
        }
        let now = self.now_us();
        let Some(pacing) = self.pacing.as_mut() else { return (None, None) };
        if let Phase::Publishing { start_us, .. } = phase {
            pacing.publishing_from(start_us);
        }
        (pacing.hold_until(now), pacing.next_stall_after(now))
    }

    /// The timer woke us: publish what is due, ping when keepalive says so.
    async fn on_timer(
        &mut self,
        conn: &mut Connection,
        next_publish: Option<std::time::Instant>,
        keepalive_at: Option<std::time::Instant>,
    ) -> Result<(), Cause> {
        if next_publish.is_some_and(|at| at <= std::time::Instant::now()) {
            self.publish_due(conn).await?;
        }
        if keepalive_at.is_some_and(|at| at <= std::time::Instant::now()) {
            let now = self.now_us();
            match self.session.keepalive_due(now) {
                KeepAliveAction::SendPing => {
                    self.send_request(conn, Request::PingReq).await?;
                }
                // Behind by midge's own doing, the PINGRESP may sit unread: ping again.
                KeepAliveAction::TimedOut if self.pacing.as_ref().is_some_and(|p| p.is_behind()) => {
                    self.send_request(conn, Request::PingReq).await?;
                }
                KeepAliveAction::TimedOut => return Err(Cause::KeepaliveTimeout),
                KeepAliveAction::Nothing => {}
            }
        }
        self.retry_unacknowledged(conn).await
    }

    /// One connection from CONNACK to its end: set-up, service, and a clean
    /// DISCONNECT when midge ends it — at the run's end or on a planned
    /// leave — (or the flight recorder when it broke).
    #[allow(clippy::manual_async_fn)] // as `serve`
    fn connection<'a>(
        &'a mut self,
        mut conn: Box<Connection>,
        session_present: bool,
        phase: &'a mut watch::Receiver<Phase>,
        orders: &'a mut watch::Receiver<Option<Arc<Misbehave>>>,
    ) -> impl std::future::Future<Output = Result<Served, Cause>> + 'a {
        async move {
            let served = match self.begin_connection(&mut conn, session_present).await {
                Ok(()) => self.serve(&mut conn, phase, orders).await,
                Err(cause) => Err(cause),
            };
            if served.is_ok() {
                let _ = self.send_request(&mut conn, Request::Disconnect).await;
                conn.shutdown().await;
            }
            self.count(|c| {
                conn.counters.add_to(c);
                c.topic_alias_bytes_left_out += self.alias_bytes.0;
                c.topic_alias_bytes_added += self.alias_bytes.1;
            });
            self.alias_bytes = (0, 0);
            self.gen.wrote_us = conn.wrote_us;
            if let Some(p) = self.pacing.as_mut() {
                self.gen.behind = p.take_behind(self.ctx.metrics.clock.now_us());
            }
            if served.is_err() {
                // The cause goes into the timeline; the report counts causes from there.
                self.gen.flight = conn.flight.snapshot();
            }
            served
        }
    }

    /// Waits out a reconnect delay; true when the run ends meanwhile.
    pub(super) async fn wait_or_shutdown(&mut self, delay: Duration, phase: &mut watch::Receiver<Phase>) -> bool {
        let until = Instant::now() + delay;
        loop {
            let current = *phase.borrow_and_update();
            if self.apply_phase(current) {
                return true;
            }
            self.answer_snapshot(None);
            tokio::select! {
                _ = sleep_until(until) => return false,
                changed = phase.changed() => if changed.is_err() { return true },
            }
        }
    }
}

/// Runs one client to the end of the run (or until it gives up).
// Not `async fn`, on purpose: see the comment in the body.
#[allow(clippy::manual_async_fn)]
pub fn run_client(
    ctx: Arc<ClientContext>,
    index: u32,
    mut phase: watch::Receiver<Phase>,
) -> impl std::future::Future<Output = ClientOutcome> {
    // An async block, not an async fn: an async fn keeps its arguments twice
    // in its state (as given and as moved in), and every idle client's task
    // would carry the copy.
    async move {
        // Made (boxed) at the first drop: most clients never need one, and
        // every idle client's task would carry it.
        let mut backoff: Option<Box<Backoff>> = None;
        let mut client = Client::new(&ctx, index);
        let mut orders = ctx.orders.clone();
        orders.mark_unchanged();
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
            if matches!(client.stay_now(), Stay::Away { .. }) {
                // Away on plan (left, or dropped past its leave): back at its next join.
                set_waiting(false, &mut waiting_to_reconnect);
                // Boxed: a rare path should not grow every idle client's task.
                if Box::pin(client.wait_until_back(&mut phase)).await {
                    break;
                }
                continue;
            }
            client.plan_leave();
            let now = client.now_us();
            client.gen = Generation { attempt_us: now, heard_us: now, ..Default::default() };
            let outcome = match Box::pin(client.connect()).await {
                Err(cause) => {
                    client.count(|c| *c.connect_failures.entry(cause.name()).or_default() += 1);
                    // Refused (even if it will retry): publishing need not wait for it.
                    client.mark_ready();
                    Err(cause)
                }
                Ok((conn, session_present)) => {
                    set_waiting(false, &mut waiting_to_reconnect);
                    let now = client.now_us();
                    client.gen.connected_us = Some(now);
                    client.gen.heard_us = now;
                    ctx.metrics.on_connected();
                    // Back after a planned leave: a rejoin, not a reconnect.
                    if !client.take_rejoin() && ever_connected {
                        client.count(|c| c.reconnects += 1);
                    }
                    ever_connected = true;
                    if let Some(b) = backoff.as_mut() {
                        b.reset();
                    }
                    // Boxed, and `conn` moved in: the task's own state stays the
                    // size of an idle client, whatever a connection's future needs.
                    let served = Box::pin(client.connection(conn, session_present, &mut phase, &mut orders)).await;
                    ctx.metrics.connected.fetch_sub(1, Ordering::Relaxed);
                    served
                }
            };
            client.gen.ended_us = client.now_us();
            client.gen.cause = outcome.as_ref().err().cloned();
            let connected = client.gen.connected_us.is_some();
            let ended = std::mem::take(&mut client.gen);
            client.timeline.push(ended);
            match outcome {
                Ok(Served::Shutdown) => break,
                Ok(Served::Left) => {
                    if !client.group.persistent() {
                        client.settle_in_flight();
                    }
                    continue;
                }
                Err(_) => {}
            }
            // A client that never got in does not storm the broker: its first
            // refusal is the answer (auth_refused and friends are findings).
            if !ever_connected && !client.group.retry_connect {
                break;
            }
            let Some(b) = client.group.reconnect.map(|p| backoff.get_or_insert_with(|| Box::new(Backoff::new(p))))
            else {
                break;
            };
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
        let limits = std::mem::take(&mut client.limits);
        let timeline = std::mem::take(&mut client.timeline);
        let (publish_log, rx) = client.recorder.into_logs();
        ClientRecord { index, timeline, limits, publish_log, rx, publishing: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_step_never_pushes_a_wake_past_the_window() {
        // Due at 4,998.5 ms, the next 2 ms tick at 5,000 ms = the end: wake just before it.
        assert_eq!(grid_wake_us(4_998_500, 5_000_000, 5_000_000), 4_999_999);
        // Inside the window the tick stands; an intended time past it wins.
        assert_eq!(grid_wake_us(4_001_000, 4_002_000, 5_000_000), 4_002_000);
        assert_eq!(grid_wake_us(4_002_500, 4_002_000, 5_000_000), 4_002_500);
        // At the last µs a message is due: never earlier than intended.
        assert_eq!(grid_wake_us(4_999_999, 5_000_000, 5_000_000), 4_999_999);
    }

    /// Every idle client holds this future; keep an eye on its size.
    /// An idle client costs its task (the `run_client` future), its boxed
    /// `Connection` and the boxed future of that connection: together they
    /// must stay well under the 4 KiB per idle client of issues 5 and 11
    /// (docs/PERFORMANCE.md has the rest: tokio's socket state, the plan's
    /// share, the baseline).
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
            transports: Arc::from(vec![Default::default()]),
            snapshots: Default::default(),
        });
        let (_tx, mut phase) = watch::channel(Phase::Connecting);
        let task = std::mem::size_of_val(&run_client(ctx.clone(), 0, phase.clone()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let conn = Box::new(Connection::new(tcp, ProtocolVersion::V311, ctx.metrics.clock));
        let mut client = Client::new(&ctx, 0);
        let conn_size = std::mem::size_of::<Connection>();
        let serving = std::mem::size_of_val(&client.connection(conn, false, &mut phase, &mut orders));
        let total = task + conn_size + serving;
        // tokio allocates a task as one cell, 128-byte aligned: a 32 B
        // header, the scheduler and task id (16 B), the future (+ 8 B) and a
        // 48 B trailer, rounded up to a multiple of 128.
        let cell = (32 + 16 + task + 8 + 48).next_multiple_of(128);
        eprintln!(
            "idle client: task {task} B (its cell {cell} B) + connection {conn_size} B + its future {serving} B = {total} B"
        );
        assert!(cell <= 768, "the task's cell grew to {cell} B");
        assert!(total < 2 * 1024, "{total}");
    }
}
