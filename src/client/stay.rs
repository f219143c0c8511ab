//! A client's stays in the run under client stages: a ramp down makes it
//! leave on plan — it stops publishing, waits for what it has in flight
//! (a subscriber also reads on for a race margin), and sends DISCONNECT — and a later ramp up brings it back under the
//! same client id. Where it stands comes from the plan
//! (`GroupPlan::presence`), on the stage clock that starts with publishing.
//!
//! `stay_now` gives `Stay::Present` until a leave, `Stay::Away` until the next
//! join, from `GroupPlan::presence` on the stage clock set by `on_stage_clock`;
//! only clients of a group with a client curve have a (boxed) `StayClock`, so
//! others' idle state does not grow. At the stay's end `serve` returns
//! `Served::Left`; `leave` sends what fell due before the leave, never a
//! message of the next stay (`next_due`), waits at most `LEAVE_SETTLE` (2 s)
//! for acknowledgements in flight (a subscriber reads on for `linger`, the race
//! margin), sets `Generation::left_us` and sends DISCONNECT; `run_client` waits
//! (`wait_until_back`) for the next join and connects again under the same id;
//! `take_rejoin` makes that a rejoin, not a reconnect.

use super::state::Client;
use super::task::{Served, Stay};
use crate::control::Phase;
use crate::mqtt::connection::Connection;
use crate::mqtt::handshake::connection_cause;
use crate::record::clock::RACE_MARGIN_US;
use crate::record::vocab::Cause;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

/// The longest a leaving client waits for the acknowledgements of its
/// publishes in flight before its DISCONNECT (what is still unacknowledged
/// then is in doubt, as at any end of a clean session).
const LEAVE_SETTLE: Duration = Duration::from_secs(2);

/// A client spawned at its join may see the clock a hair before it.
const JOIN_SLACK_US: u64 = 1_000;

impl Client {
    /// Where the client stands in its stays now: always there without a
    /// client stage, and before publishing starts (the stage clock's zero).
    pub(super) fn stay_now(&self) -> Stay {
        let Some(start) = self.stay.as_ref().and_then(|s| s.start_us) else {
            return Stay::Present { leave_at_us: None };
        };
        let t = self.now_us().saturating_sub(start);
        let stays = self.group.presence(self.index);
        match stays.iter().find(|p| p.leave_us.map_or(true, |l| l > t)) {
            None => Stay::Away { back_at_us: None },
            Some(p) if p.join_us > t + JOIN_SLACK_US => Stay::Away { back_at_us: Some(start + p.join_us) },
            Some(p) => Stay::Present { leave_at_us: p.leave_us.map(|l| start + l) },
        }
    }

    /// Publishing has started at `start_us`: the stage clock is known, and
    /// with it when this client's current stay ends.
    pub(super) fn on_stage_clock(&mut self, start_us: u64) {
        if let Some(clock) = self.stay.as_mut().filter(|c| c.start_us.is_none()) {
            clock.start_us = Some(start_us);
            self.plan_leave();
        }
    }

    /// Notes when the current stay ends (None: it lasts to the run's end).
    pub(super) fn plan_leave(&mut self) {
        let leave_at_us = match self.stay_now() {
            Stay::Present { leave_at_us } => leave_at_us,
            Stay::Away { .. } => None,
        };
        if let Some(clock) = self.stay.as_mut() {
            clock.leave_at_us = leave_at_us;
        }
    }

    /// When the current stay ends on plan (run clock).
    pub(super) fn leave_at_us(&self) -> Option<u64> {
        self.stay.as_ref().and_then(|s| s.leave_at_us)
    }

    /// How long a leaving subscriber keeps reading: its subscription is
    /// trusted up to the race margin (or its slowest delivery) before the
    /// leave (`analysis::windows`), and reading as long again after it
    /// gives what was sent before then the margin twice over to arrive.
    fn linger(&self) -> Duration {
        match self.me().filter {
            Some(_) => Duration::from_micros(RACE_MARGIN_US.max(self.link.gen.slowest_delivery_us)).min(LEAVE_SETTLE),
            None => Duration::ZERO,
        }
    }

    /// Away on plan: waits for the next join (or the run's end, if none);
    /// true when the run ends first.
    pub(super) async fn wait_until_back(&mut self, phase: &mut watch::Receiver<Phase>) -> bool {
        let wait = match self.stay_now() {
            Stay::Away { back_at_us: Some(at) } => Duration::from_micros(at.saturating_sub(self.now_us())),
            Stay::Away { back_at_us: None } => Duration::from_secs(86_400),
            Stay::Present { .. } => Duration::ZERO,
        };
        let ended = self.wait_or_shutdown(wait, phase).await;
        if let Some(clock) = self.stay.as_mut() {
            clock.rejoin = true;
        }
        ended
    }

    /// Whether the connection coming up is a return after a planned leave
    /// (then the next one is not, unless it leaves again).
    pub(super) fn take_rejoin(&mut self) -> bool {
        self.stay.as_mut().is_some_and(|s| std::mem::take(&mut s.rejoin))
    }

    /// Whether a message of the stay that ends is still to go out.
    fn owes_before_leave(&mut self) -> bool {
        self.publisher.publishing && !self.publishing_done() && self.next_due(0, 0).is_some()
    }

    /// Whether the current stay is over.
    pub(super) fn leave_due(&self) -> bool {
        self.leave_at_us().is_some_and(|at| self.now_us() >= at)
    }

    /// A planned leave: publishing stops (nothing is due while it is away);
    /// sends what fell due before the leave and has not gone out yet, waits
    /// at most `LEAVE_SETTLE` for the acknowledgements of what is in flight
    /// and, if it subscribes, keeps reading for `linger`,
    /// taking in what arrives meanwhile; then marks the connection as left
    /// at its planned time. The caller sends DISCONNECT.
    pub(super) async fn leave(
        &mut self,
        conn: &mut Connection,
        phase: &mut watch::Receiver<Phase>,
    ) -> Result<Served, Cause> {
        let now = Instant::now();
        let (settle_until, linger_until) = (now + LEAVE_SETTLE, now + self.linger());
        loop {
            // Due before the leave but not out yet (a late wake-up, a full
            // inflight window): it goes out now, late, as at any late wake-up.
            let owes = self.owes_before_leave();
            if owes && self.session.can_publish() {
                self.publish_due(conn).await?;
            }
            let settling = owes || self.session.inflight() > 0;
            let until = if settling { settle_until.max(linger_until) } else { linger_until };
            if Instant::now() >= until {
                break;
            }
            // A periodic report's request touches the phase: answer it here too.
            self.answer_snapshot(Some(conn));
            tokio::select! {
                _ = sleep_until(until) => break,
                changed = phase.changed() => if changed.is_err() || *phase.borrow() == Phase::Shutdown { break },
                read = conn.read_packet() => match read {
                    Ok(Some(p)) => {
                        let now = self.now_us();
                        let taken = self.take_packets(conn, Some(p), now);
                        self.on_packets(conn, taken, now).await?
                    }
                    Ok(None) => return Err(Cause::NetworkEof),
                    Err(e) => return Err(connection_cause(&e)),
                },
            }
        }
        self.link.gen.left_us = self.stay.as_mut().and_then(|s| s.leave_at_us.take());
        Ok(Served::Left)
    }
}
