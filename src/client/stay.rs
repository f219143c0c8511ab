//! A client's stays in the run under client stages: a ramp down makes it
//! leave on plan — it stops publishing, waits for what it has in flight,
//! and sends DISCONNECT — and a later ramp up brings it back under the
//! same client id. Where it stands comes from the plan
//! (`GroupPlan::presence`), on the stage clock that starts with publishing.

use super::task::{Client, Phase, Served, Stay};
use crate::mqtt::handshake::connection_cause;
use crate::mqtt::Connection;
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
        let Some(start) = self.stage_start_us.filter(|_| self.group.client_curve.is_some()) else {
            return Stay::Present { leave_at_us: None };
        };
        let t = self.now_us().saturating_sub(start);
        let stays = self.group.presence(self.me.index);
        match stays.iter().find(|p| p.leave_us.map_or(true, |l| l > t)) {
            None => Stay::Away { back_at_us: None },
            Some(p) if p.join_us > t + JOIN_SLACK_US => Stay::Away { back_at_us: Some(start + p.join_us) },
            Some(p) => Stay::Present { leave_at_us: p.leave_us.map(|l| start + l) },
        }
    }

    /// Publishing has started at `start_us`: the stage clock is known, and
    /// with it when this client's current stay ends.
    pub(super) fn on_stage_clock(&mut self, start_us: u64) {
        if self.stage_start_us.is_none() {
            self.stage_start_us = Some(start_us);
            self.plan_leave();
        }
    }

    /// Notes when the current stay ends (None: it lasts to the run's end).
    pub(super) fn plan_leave(&mut self) {
        self.leave_at_us = match self.stay_now() {
            Stay::Present { leave_at_us } => leave_at_us,
            Stay::Away { .. } => None,
        };
    }

    /// Whether the current stay is over.
    pub(super) fn leave_due(&self) -> bool {
        self.leave_at_us.is_some_and(|at| self.now_us() >= at)
    }

    /// A planned leave: publishing has stopped (nothing is due while it is
    /// away); waits at most `LEAVE_SETTLE` for the acknowledgements of what
    /// is in flight, taking in what arrives meanwhile, then marks the
    /// connection as left at its planned time. The caller sends DISCONNECT.
    pub(super) async fn leave(
        &mut self,
        conn: &mut Connection,
        phase: &mut watch::Receiver<Phase>,
    ) -> Result<Served, Cause> {
        let until = Instant::now() + LEAVE_SETTLE;
        while self.session.inflight() > 0 {
            tokio::select! {
                _ = sleep_until(until) => break,
                changed = phase.changed() => if changed.is_err() || *phase.borrow() == Phase::Shutdown { break },
                read = conn.read_packet() => match read {
                    Ok(Some(p)) => self.on_packets(conn, p).await?,
                    Ok(None) => return Err(Cause::NetworkEof),
                    Err(e) => return Err(connection_cause(&e)),
                },
            }
        }
        self.gen.left_us = self.leave_at_us.take();
        Ok(Served::Left)
    }
}
