//! A client as publisher: when its schedule makes messages due, it writes
//! them — straight into the connection's buffer, one write per wake-up —
//! within its inflight window, and rebuilds a PUBLISH byte for byte for a
//! resend after a reconnect.
//!
//! Per wake-up: every due message (and with `batch_window`, every message due
//! within the window) is written into the connection's reused buffer
//! (`Connection::queue_publish`, no allocation), then one flush; one shard lock
//! per `MAX_BATCH` (64) messages recorded; at most `MAX_PER_WAKE` (4,096)
//! messages before other clients get their turn. A message due while the
//! inflight window is full counts in `publish_window_full` (`queue_due`): the
//! broker's acknowledgements, not midge, set the pace then.
//!
//! Back from offline with `max_queued`, `bound_offline_queue` gives up the
//! schedule slots beyond the queue (`SlotSkips`: message `seq` takes slot
//! `slot(seq)`, so sequence numbers stay contiguous); what was given up is
//! `unsent`. With a topic alias, the bytes it saved are counted on the `Link`.

use super::link::Alias;
use super::session::{Outbound, Outgoing, Request};
use super::state::Client;
use crate::control::Phase;
use crate::mqtt::codec::{Packet, Publish};
use crate::mqtt::connection::Connection;
use crate::mqtt::handshake::connection_cause;
use crate::payload::Header;
use crate::plan::schedule::Schedule;
use crate::record::vocab::Cause;
use bytes::{Bytes, BytesMut};

/// At most this many publishes are recorded under one shard lock.
const MAX_BATCH: usize = 64;
/// A publisher far behind sends at most this many per wake-up, then lets
/// other clients run.
const MAX_PER_WAKE: usize = 4096;

impl Client {
    /// Follows the run's phase; true when it is time to leave.
    pub(super) fn apply_phase(&mut self, phase: Phase) -> bool {
        match phase {
            Phase::Shutdown => return true,
            Phase::Publishing { start_us, end_us } => {
                self.on_stage_clock(start_us);
                if self.publisher.schedule.is_some() {
                    return false;
                }
                if let Some(s) = Schedule::of_publisher(&self.ctx.plan, self.me(), start_us, end_us) {
                    self.publisher.schedule = Some(Box::new(s));
                    self.publisher.publishing = true;
                }
            }
            Phase::Draining => self.publisher.publishing = false,
            _ => {}
        }
        false
    }

    pub(super) fn publishing_done(&self) -> bool {
        match &self.group.publish {
            _ if self.publisher.blocked => true,
            Some(p) => p.count.is_some_and(|n| self.recorder.published() + self.slots_skipped() >= n),
            None => true,
        }
    }

    /// The tracking header of message `seq`, its times on the run clock.
    fn header(&self, seq: u64, intended_us: u64, sent_us: u64) -> Header {
        let clock = self.ctx.run.clock;
        Header {
            run_id: self.ctx.plan.run_id,
            publisher: self.me().publisher.unwrap_or(0),
            seq,
            intended_us: clock.unix_us(intended_us),
            sent_us: clock.unix_us(sent_us),
        }
    }

    /// The PUBLISH for sequence `o.seq`: the payload is rebuilt from the
    /// header fields, so a resend carries exactly the bytes of the first send.
    pub(super) fn publish_packet(&mut self, pkid: u16, o: &Outbound, dup: bool) -> Packet {
        let publish = self.group.publish.clone().expect("only publishers publish");
        let mut payload = BytesMut::with_capacity(publish.payload);
        self.header(o.seq, o.intended_us, o.sent_us).write(publish.payload, &mut payload);
        Packet::Publish(Publish {
            dup,
            qos: o.qos,
            retain: publish.retain,
            topic: Bytes::copy_from_slice(self.me().topic.as_deref().unwrap_or_default().as_bytes()),
            pkid,
            // A resend names its topic in full: the alias may be another connection's.
            props: if self.protocol_v5() { publish.props.clone() } else { Bytes::new() },
            payload: payload.freeze(),
        })
    }

    /// Publishes every message that is due (the one the timer woke us for,
    /// and any others already due), up to the inflight window, in one
    /// write: a late or batching publisher needs one system call per wake-up.
    pub(super) async fn publish_due(&mut self, conn: &mut Connection) -> Result<(), Cause> {
        self.queue_due(conn);
        let flushed = conn.flush().await;
        self.recorder.written(flushed.is_ok());
        flushed.map_err(|e| connection_cause(&e))?;
        if self.publishing_done() {
            self.mark_done();
        }
        Ok(())
    }

    /// The next message's intended time, if one is due before the end (and
    /// before the current stay's planned leave: the next stay's messages
    /// wait for it) and may go out now (`sent` already went in this wake-up).
    pub(super) fn next_due(&mut self, sent: usize, now: u64) -> Option<(u64, u64)> {
        let seq = self.recorder.published();
        let slot = self.slot(seq);
        let leave_at_us = self.leave_at_us();
        let schedule = self.publisher.schedule.as_mut()?;
        if !schedule.is_due_before_end(slot) {
            return None;
        }
        let intended_us = schedule.intended_us(slot);
        let in_this_stay = leave_at_us.map_or(true, |l| intended_us < l);
        (in_this_stay && (sent == 0 || intended_us <= now)).then_some((seq, intended_us))
    }

    /// The synchronous half of `publish_due`: queues what is due and records
    /// it (kept apart so its scratch space is not part of the task's state).
    fn queue_due(&mut self, conn: &mut Connection) {
        let Some(publish) = self.group.publish.clone() else { return };
        let now = self.now_us();
        self.publisher.published_at_us = now;
        let metrics = self.ctx.metrics.clone();
        let mut lags = [0u64; MAX_BATCH];
        let (mut batch, mut sent) = (0, 0);
        while !self.publishing_done() && self.session.can_publish() {
            if sent == MAX_PER_WAKE {
                // Far behind: let other clients run, and come back at once.
                self.publisher.published_at_us = 0;
                break;
            }
            if batch == MAX_BATCH {
                self.recorder.record_publishes(&metrics, publish.qos, &lags);
                batch = 0;
            }
            let Some((seq, intended_us)) = self.next_due(sent, now) else { break };
            // The session registers it in flight; busy (every id taken):
            // the acknowledgements set the pace.
            let request = Request::Publish { seq, qos: publish.qos, intended_us };
            let Ok(Outgoing::Publish { pkid }) = self.session.outgoing(request, now) else { break };
            // The PUBLISH and its tracking header go straight into the
            // connection's buffer: no packet value, no allocation.
            let header = self.header(seq, intended_us, now);
            let full = self.me().topic.as_deref().unwrap_or_default().as_bytes();
            let (topic, props) = match self.link.alias {
                Alias::Off => (full, &publish.props[..]),
                Alias::Announce => (full, &publish.props_alias[..]),
                Alias::InUse => (&b""[..], &publish.props_alias[..]),
            };
            let props = if self.protocol_v5() { props } else { &[] };
            conn.queue_publish(topic, publish.qos, publish.retain, pkid, props, publish.payload, |buf| {
                header.write(publish.payload, buf)
            });
            if self.link.alias != Alias::Off {
                self.link.alias_bytes.0 += (full.len() - topic.len()) as u64;
                self.link.alias_bytes.1 += crate::mqtt::codec::props::TOPIC_ALIAS_LEN as u64;
                self.link.alias = Alias::InUse;
            }
            self.recorder.queued(&metrics, publish.qos, seq, now);
            lags[batch] = now.saturating_sub(intended_us).max(1);
            batch += 1;
            sent += 1;
        }
        self.recorder.record_publishes(&metrics, publish.qos, &lags[..batch]);
        // A message is due and the inflight window is full: the broker's
        // acknowledgements, not midge, set the pace now.
        if !self.publishing_done() && !self.session.can_publish() && self.next_due(1, now).is_some() {
            self.recorder.count(&metrics, |c| c.publish_window_full += 1);
        }
    }

    /// `max_queued`: of the messages that fell due while this publisher was
    /// offline, the first `max_queued` go out now; the schedule slots of the
    /// rest are given up (paho refuses a publish when its queue is full).
    pub(super) fn bound_offline_queue(&mut self, now: u64) {
        let seq = self.recorder.published();
        let first = self.slot(seq);
        let (Some(max), Some(s)) = (self.group.max_queued, self.publisher.schedule.as_mut()) else { return };
        let mut due = s.due_by(first, now + 1);
        if let Some(count) = self.group.publish.as_ref().and_then(|p| p.count) {
            due = due.min(count);
        }
        let waiting = due.saturating_sub(first);
        if waiting > max {
            self.publisher.skips.get_or_insert_with(Default::default).skip(seq + max, waiting - max);
        }
    }

    /// The schedule slot of message `seq` (see `SlotSkips`).
    pub(super) fn slot(&self, seq: u64) -> u64 {
        self.publisher.skips.as_ref().map_or(seq, |s| s.slot(seq))
    }

    /// Schedule slots given up so far.
    fn slots_skipped(&self) -> u64 {
        self.publisher.skips.as_ref().map_or(0, |s| s.total())
    }
}
