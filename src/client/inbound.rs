//! A client taking in what the broker sends: the session answers each
//! packet (the replies go out in one write per read), the recorder notes
//! what it means, and a delivery whose acknowledgement could not be
//! written is not counted (the broker sends it again).
//!
//! Each packet → `Session::handle` → `Step { reply, event }`; replies are
//! queued and flushed once per read (`acknowledge`), events go to the
//! `Recorder`. Also here: `check_user_props` (every tracked MQTT 5 delivery
//! against the publisher group's `publish.user_properties`),
//! `note_publish_reason` (reasons other than success on `Event::Acked` /
//! `Rejected` / `Noted`, by `AckReason::counted_name`) and `on_suback`
//! (`SubAckCode`: a failure counted by name, a grant opens the live window).

use super::recorder::Batch;
use super::session::Event;
use super::state::Client;
use crate::mqtt::codec::Packet;
use crate::mqtt::connection::Connection;
use crate::mqtt::handshake::connection_cause;
use crate::mqtt::protocol::ProtocolVersion;
use crate::mqtt::reason::{AckReason, SubAckCode};
use crate::record::vocab::{Cause, SubackFailure};

impl Client {
    /// A tracked delivery's user properties against those its publisher's
    /// group sends: checked and mismatched deliveries counted.
    fn check_user_props(&self, m: &crate::mqtt::codec::Publish) {
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

    /// Handles one packet from the broker: the session answers it (the
    /// reply is queued; the caller flushes once per read), the recorder
    /// notes what it means. `Err(cause)` ends the connection.
    fn on_packet(&mut self, conn: &mut Connection, p: Packet, now: u64) -> Result<(), Cause> {
        self.link.gen.heard_us = now;
        if !matches!(p, Packet::Publish(_)) && self.group.maximum_packet_size.is_some() {
            self.witness_size(conn, None, now);
        }
        let step = self.session.handle(p, now);
        if let Some(reply) = &step.reply {
            conn.queue_packet(reply).map_err(|e| connection_cause(&e))?;
        }
        let metrics = &self.ctx.metrics;
        match step.event {
            Event::Nothing => {}
            Event::Delivery(m) => {
                self.backlog_began();
                let run = (self.ctx.plan.run_id, self.ctx.run.clock);
                let held_back = self.pacing.as_ref().is_some_and(|p| p.is_behind());
                // Received when the kernel got its bytes, where it stamps them.
                let received = conn.received_at(now);
                self.witness_delivery(conn, &m, received.at_us);
                let existed = m.retain && self.subscribed_again();
                let flags = (held_back, self.group.retain_as_published, existed);
                let replays = self.recorder.replays();
                let age = self.recorder.take_in(&m, run, received, &mut self.link.gen, flags);
                if m.retain && self.group.retain_handling > 0 {
                    self.witness_replay(conn, &m, received.at_us, replays);
                }
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
                // To when the kernel got the ack, where it stamps it, as a delivery's e2e.
                let latency_us = latency_us.saturating_sub(conn.received_at(now).delay_us.unwrap_or(0));
                self.recorder.acked(metrics, seq, latency_us, false);
                self.note_publish_reason(reason);
            }
            Event::Rejected { seq, reason } => {
                self.recorder.acked(metrics, seq, 0, true);
                self.note_publish_reason(reason);
            }
            Event::Noted { reason } => self.note_publish_reason(reason),
            Event::Again { publish, same_message } => {
                self.witness_again(conn, &publish, same_message, now);
                self.witness_in_flight(conn, &publish, now);
            }
            Event::Unsolicited => {
                self.count(|c| c.unsolicited_acks += 1);
                self.witness_unknown_ack(conn, now);
            }
            Event::SubAcked { latency_us, code } => self.on_suback(latency_us, code, now),
            Event::Closed(cause) => return Err(cause),
        }
        Ok(())
    }

    /// Counts a PUBACK / PUBREC / PUBCOMP reason other than success, by name.
    fn note_publish_reason(&self, reason: AckReason) {
        if let Some(code) = reason.counted() {
            self.count(|c| *c.publish_reasons.entry(code).or_default() += 1);
        }
    }

    pub(super) fn on_suback(&mut self, latency_us: u64, code: SubAckCode, now: u64) {
        self.recorder.suback(&self.ctx.metrics, latency_us);
        self.link.gen.suback_code = Some(code.code());
        match code {
            SubAckCode::Failure(code) => {
                let cause = SubackFailure::of(self.protocol() == ProtocolVersion::V5, code);
                self.count(|c| *c.subscribe_failures.entry(cause).or_default() += 1);
            }
            // A resumed session's subscription was live from the resume.
            SubAckCode::Granted(_) => _ = self.link.gen.live_from_us.get_or_insert(now),
        }
        self.mark_ready();
    }

    /// Sends the queued replies, then records what they acknowledge. A
    /// message whose acknowledgement could not be written is not counted:
    /// the broker still holds it and will deliver it again.
    async fn acknowledge(&mut self, conn: &mut Connection) -> Result<(), Cause> {
        match conn.flush().await {
            Ok(()) => {
                self.session.acks_written();
                let at_us = self.now_us();
                let route = (self.me().broker, &self.ctx.plan.publisher_brokers[..]);
                let batch = Batch { at_us, connection: self.timeline.len() as u32, flight: &conn.flight, route };
                self.recorder.record_deliveries(&self.ctx.metrics, &batch);
                Ok(())
            }
            Err(e) => {
                self.session.acks_written();
                for pkid in self.recorder.forget_unacknowledged() {
                    self.session.forget_inbound(pkid);
                }
                Err(connection_cause(&e))
            }
        }
    }

    /// Every publish still in flight is in doubt now (its session is gone).
    pub(super) fn settle_in_flight(&mut self) {
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
}
