//! A client's connection coming up: TCP, CONNECT and CONNACK (whose
//! announced limits are honoured), then the session resumed (what was in
//! flight sent again) or started over (subscribe); and the packets of
//! midge's own that go out through the session (`send_request`, `resend`).
//!
//! A persistent client's first connection of the run starts clean, so no
//! session left by an earlier run (another filter, yesterday's queue) is
//! trusted: MQTT 5 sends clean start = 1 with the scenario's session expiry;
//! 3.1.1 first connects with clean session = 1 (no will), sends DISCONNECT
//! and waits for the broker to close (`clear_session`), then connects with
//! clean session = 0 — one attempt, one connection in the report. A
//! resumed session whose subscription the broker refused holds none: midge
//! subscribes again (`begin_connection`), and owes it nothing until granted.
//!
//! Also here: `honour_limits` (CONNACK's Topic Alias Maximum sets the
//! `Link`'s alias state; topic-alias bytes counted per connection) and
//! `retry_unacknowledged` (`retry_interval`, 3.1.1: resends on the same
//! connection what `Session::resend(Resend::Retry)` lists, counted in
//! `publish_retries`).

use super::announced::{blocks_publishing, limit_hits};
use super::link::Alias;
use super::recorder::ConnectTimes;
use super::session::{Outgoing, Request, Resend, Resent};
use super::state::Client;
use super::task::CONNECT_TIMEOUT;
use crate::mqtt::codec::{ConnAck, ConnectOptions, Packet};
use crate::mqtt::connection::Connection;
use crate::mqtt::handshake::{connection_cause, dial as dial_mqtt, Dial, Dialed};
use crate::mqtt::protocol::ProtocolVersion;
use crate::record::vocab::{BatchMode, Cause};

impl Client {
    /// TCP connect, CONNECT, CONNACK; the CONNACK's limits are honoured
    /// here, so only its session-present flag is handed on (the task keeps
    /// no CONNACK). On failure, the cause as reported.
    pub(super) async fn connect(&mut self) -> Result<(Box<Connection>, bool), Cause> {
        self.count(|c| c.connect_attempts += 1);
        let endpoint = self.ctx.endpoint_of(self.index);
        let dial = Dial {
            to: endpoint.addr,
            from: self.ctx.plan.source_addr(self.index),
            buffers: self.group.socket_buffers,
            transport: &endpoint.transports[self.me().group as usize],
            protocol: self.protocol(),
            clock: self.ctx.run.clock,
            limit: CONNECT_TIMEOUT,
        };
        let mut options = self.connect_options();
        // A run starts from a clean slate: a persistent client's first
        // connection does not trust a session the run did not create.
        if self.group.persistent() && !self.timeline.iter().any(|g| g.connected_us.is_some()) {
            match self.protocol() {
                // Clean start with the scenario's session expiry: one CONNECT.
                ProtocolVersion::V5 => options.clean_start = true,
                ProtocolVersion::V311 => Box::pin(clear_session(dial, &options)).await?,
            }
        }
        let dialed = dial_mqtt(dial, &options).await?;
        let times = ConnectTimes::of(&dialed, self.now_us());
        self.link.gen.connect_us = times.total_us.clamp(1, u32::MAX as u64) as u32;
        let Dialed { mut conn, ack, .. } = dialed;
        if crate::analysis::rules::session_present_breach(options.clean_start, ack.session_present) {
            self.witness_session_present(&conn, self.now_us());
        }
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
    pub(super) fn connect_options(&self) -> ConnectOptions {
        let mut options = self.group.connect_options(&self.me().client_id);
        if let (Some(w), Some(topic)) = (&self.group.will, &self.me().will_topic) {
            // Every attempt ends in the timeline: this one is the next entry.
            let connection = self.timeline.len() as u32;
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
        self.link.receive_maximum = ack.receive_maximum;
        let topic_len = self.me().topic.as_ref().map_or(0, |t| t.len());
        let wants_alias = self.group.publish.as_ref().is_some_and(|p| p.topic_alias) && self.protocol_v5();
        self.link.alias = match ack.topic_alias_maximum {
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
            self.publisher.blocked = hits.iter().any(blocks_publishing);
            if self.publisher.blocked {
                self.mark_done();
            }
        }
        for h in hits {
            let limits = &mut self.limits.get_or_insert_with(Box::default).0;
            if !limits.contains(&h) {
                limits.push(h);
            }
        }
    }

    fn subscription_blocked(&self) -> bool {
        self.limits.iter().flat_map(|l| &l.0).any(|h| !blocks_publishing(h))
    }

    /// Sends one of midge's own control packets at once (SUBSCRIBE,
    /// PINGREQ, DISCONNECT), through the session. `Ok(false)`: the session
    /// is busy (no free packet id) and nothing went out.
    pub(super) async fn send_request(&mut self, conn: &mut Connection, request: Request) -> Result<bool, Cause> {
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
    pub(super) async fn resend(&mut self, conn: &mut Connection, why: Resend) -> Result<u64, Cause> {
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
                Resent::Publish { pkid, outbound } => {
                    self.recorder.resent(outbound.seq);
                    self.publish_packet(pkid, &outbound, true)
                }
                Resent::PubRel { pkid } => Packet::PubRel { pkid, reason: 0 },
            };
            conn.queue_packet(&packet).map_err(|e| connection_cause(&e))?;
        }
        Ok(resent.len() as u64)
    }

    /// Whether the broker refused this client's last SUBSCRIBE: a resumed
    /// session then holds no subscription.
    fn subscription_refused(&self) -> bool {
        self.timeline.iter().rev().find_map(|g| g.suback_code).is_some_and(|code| code > 2)
    }

    /// This connection resumed a session that holds the subscription the
    /// broker last granted, and subscribed again (`subscribe.resubscribe`):
    /// the subscription existed (retain handling 1 owes no replay).
    pub(super) fn subscribed_again(&self) -> bool {
        let granted_before = self.timeline.iter().rev().find_map(|g| g.suback_code).is_some_and(|code| code <= 2);
        self.link.gen.session_present
            && self.group.persistent()
            && self.link.gen.suback_code.is_some()
            && granted_before
    }

    /// Sets up a fresh connection: resume the session (resend what is in
    /// flight) or start over (in-flight publishes become in doubt), and
    /// subscribe when the broker does not hold our subscription (a new
    /// session, or one whose SUBSCRIBE it refused), or again on a resumed
    /// one under `subscribe.resubscribe` (live from the resume all the same).
    pub(super) async fn begin_connection(&mut self, conn: &mut Connection, session_present: bool) -> Result<(), Cause> {
        let now = self.now_us();
        let resumed = session_present && self.group.persistent();
        let holds_subscription = resumed && !self.subscription_refused();
        self.link.gen.session_present = session_present;
        if resumed {
            self.resend(conn, Resend::Resume).await?;
            if self.me().filter.is_some() && holds_subscription && !self.subscription_blocked() {
                self.link.gen.live_from_us = Some(now);
                self.mark_ready();
                self.await_backlog();
            }
        } else {
            self.settle_in_flight();
            self.session.restart(now);
        }
        self.bound_offline_queue(now);
        let subscribes = !holds_subscription || self.group.resubscribe;
        if let Some(filter) = self.me().filter.clone().filter(|_| subscribes && !self.subscription_blocked()) {
            let options = self.group.subscription_options();
            // Never busy: the session was settled just above, so every
            // packet id is free.
            self.send_request(conn, Request::Subscribe { filter, options }).await?;
        } else if self.me().filter.is_none() || self.subscription_blocked() {
            self.mark_ready();
        }
        Ok(())
    }

    /// Back on a resumed session holding the subscription: if anything was
    /// published after the last thing the dropped connection heard, the
    /// broker may hold a queue for it, and the drain waits until the first
    /// delivery here (`backlog_began`) or nothing moves for its stall period.
    fn await_backlog(&mut self) {
        let Some(dropped) = self.timeline.iter().rev().find(|g| g.connected_us.is_some()) else { return };
        if self.ctx.metrics.published_since(dropped.heard_us) && !self.link.awaiting_backlog {
            self.link.awaiting_backlog = true;
            self.ctx.metrics.awaiting_backlog.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A delivery arrived on this connection, or it ended: no longer awaited.
    pub(super) fn backlog_began(&mut self) {
        if std::mem::take(&mut self.link.awaiting_backlog) {
            self.ctx.metrics.awaiting_backlog.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// `retry_interval` (MQTT 3.1.1): sends again, on this connection, what
    /// has waited that long for its acknowledgement — PUBLISH with DUP, or
    /// PUBREL.
    pub(super) async fn retry_unacknowledged(&mut self, conn: &mut Connection) -> Result<(), Cause> {
        let Some(retry) = self.group.retry_interval else { return Ok(()) };
        let resent = self.resend(conn, Resend::Retry { after_us: retry.as_micros() as u64 }).await?;
        if resent > 0 {
            self.link.own_doubt = true;
            self.count(|c| c.publish_retries += resent);
        }
        Ok(())
    }
}

/// How long a 3.1.1 clean-slate connection waits for the broker to close it
/// after its DISCONNECT.
const CLEAR_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// MQTT 3.1.1: connects with clean session = 1 (and no will), so the broker
/// discards any session it held for this client id, then DISCONNECTs and
/// waits (bounded) for the broker to close the socket.
async fn clear_session(dial: Dial<'_>, options: &ConnectOptions) -> Result<(), Cause> {
    let clean = ConnectOptions { clean_start: true, will: None, ..options.clone() };
    let Dialed { mut conn, .. } = dial_mqtt(dial, &clean).await?;
    conn.write_packet(&Packet::Disconnect { reason: 0 }).await.map_err(|e| connection_cause(&e))?;
    // The broker closes on DISCONNECT; anything it still sends is of no interest.
    let _ = tokio::time::timeout(CLEAR_CLOSE_WAIT, async { while let Ok(Some(_)) = conn.read_packet().await {} }).await;
    conn.shutdown().await;
    Ok(())
}
