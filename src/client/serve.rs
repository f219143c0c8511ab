//! A client's connected loop: one `select!` over the phase, the next read
//! and one timer (the next publish, keepalive, a retry, a paced read, a
//! planned leave — whichever comes first), with the I/O each starts done
//! after the select so no packet is kept in the client's future.
//!
//! One turn: one `select!` over the phase watch (orders and snapshot requests
//! touch it to wake the client), the next read and one timer (next publish,
//! keepalive, a held read's end, the next stall, a 3.1.1 retry: one
//! `workers::timer::Wake` from `next_wake`, a future the size of tokio's
//! `Sleep`; the worker's precise timer for a publish, tokio's otherwise). A
//! read → `take_packets` (no I/O: the packets that read brought, until the
//! buffer is empty, a slow consumer must wait, or deliveries pile up), then
//! `on_packets` after the `select!` (`client::inbound`). Publish due →
//! `client::publish`; an order → `misbehave` (a kill, or
//! `client::order::carry_out` for a malformed packet).
//!
//! Publishers wake on time: without a batch window a publisher on the precise
//! timer (`workers::timer`) wakes at its message's intended time, at most once
//! per step of a 100 µs grid (`PRECISE_GRID_US`, the timer's own `MIN_GAP`:
//! every publisher of a worker that is due within a step wakes on the same
//! fire, and each sends what fell due in one write; 1 ms with batching off,
//! `OFF_GRID_US`, as before). While its worker is busy
//! (adaptive batching) the step is 2 ms (`BUSY_PRECISE_GRID_US`), or 1 ms when
//! a 2 ms step's messages would fill a quarter of its inflight window
//! (`BUSY_WINDOW_GRID_US`): on loopback a write runs the broker's whole TCP
//! receive path in midge's context (about 10 µs), so under load one write per
//! message would cost midge more CPU than the broker spends (docs/PERFORMANCE.md,
//! "Send-side bias"). A grid step never pushes a wake past the publishing
//! window for a message due before its end. Keepalive, reconnect waits, read
//! pacing and publishers with a `batch_window` stay on tokio's timer.

use super::order::{self, ClientOrder};
use super::session::{KeepAliveAction, Request};
use super::state::Client;
use super::task::Served;
use crate::control::Phase;
use crate::mqtt::connection::Connection;
use crate::mqtt::handshake::connection_cause;
use crate::record::vocab::{BatchMode, Cause};
use crate::record::ClientRecord;
use crate::workers::timer::{self, Wake};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Without a batch window, a publisher on the precise timer wakes at its
/// message's intended time, but at most once per step of this grid (µs),
/// the worker timer's own finest step: what falls due within a step goes
/// out in one write. (It was 1 ms, which put about half a millisecond of
/// midge's own delay into the e2e p50 of any publisher sending more than a
/// message per millisecond.)
const PRECISE_GRID_US: u64 = timer::MIN_GAP.as_micros() as u64;

/// The grid while the publisher's worker is busy (adaptive batching): a
/// write costs a system call that also runs the broker's receive path, so
/// under load a publisher sends what fell due in a 2 ms step in one write,
/// for about a millisecond of publish lag on average (midge's share of the
/// e2e p50, reported as the send bias).
const BUSY_PRECISE_GRID_US: u64 = 2000;

/// The busy grid when a 2 ms step's messages would fill a quarter of the
/// publisher's inflight window: it must not wait on its own window.
const BUSY_WINDOW_GRID_US: u64 = 1000;

/// With batching off (`batch_window = "0ms"`) a publisher keeps the 1 ms
/// step it always had: that mode is the reference the receive-side bias is
/// measured against (docs/PERFORMANCE.md), and at 60k msg/s a finer step
/// would cost it a third more CPU.
const OFF_GRID_US: u64 = 1000;

/// The step a publisher on the precise timer keeps to, by the run's batch
/// mode, its worker's verdict (only adaptive batching judges it) and
/// whether its inflight window allows the coarse busy step.
fn precise_grid_us(mode: BatchMode, worker_busy: bool, coarse_fits_window: bool) -> u64 {
    match (mode, worker_busy, coarse_fits_window) {
        (BatchMode::Off, ..) => OFF_GRID_US,
        (_, false, _) => PRECISE_GRID_US,
        (_, true, true) => BUSY_PRECISE_GRID_US,
        (_, true, false) => BUSY_WINDOW_GRID_US,
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

/// What a serving client waits for next (`Client::next_wake`).
struct NextWake {
    /// The earliest deadline's timer, if `timed` (else a far one, never polled).
    wake: Wake,
    timed: bool,
    /// Reads wait: a slow consumer's hold, or the batching pace.
    reads_held: bool,
    /// The deadlines the timer's wake-up looks at (`on_timer`).
    next_publish: Option<std::time::Instant>,
    keepalive_at: Option<std::time::Instant>,
}

impl Client {
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
                let mut open = self.link.gen.clone();
                open.wrote_us = conn.wrote_us;
                open.ended_us = horizon_us.max(open.attempt_us);
                open.cause = None;
                timeline.push(open);
            }
            let (publish_log, rx) = self.recorder.copy_logs();
            ClientRecord {
                index: self.index,
                timeline,
                limits: self.limits.as_ref().map(|l| l.0.clone()).unwrap_or_default(),
                publish_log,
                rx,
                publishing: None,
                witness: self.recorder.copy_witness(),
                max_inbound_inflight: self.session.max_inbound_inflight(),
                max_inbound_packet: conn.map_or(0, |c| c.counters.largest_in).max(self.session.max_inbound_packet),
            }
        });
    }

    /// Carries out a `kill` or `malformed` order if it names this client.
    pub(super) async fn misbehave(&mut self, conn: &mut Connection, order: &ClientOrder) -> Result<(), Cause> {
        if order.kills(self.index, self.link.gen.connected_us.unwrap_or(0)) {
            // Killed: no DISCONNECT, the socket just closes (the broker sends the will).
            return Err(Cause::FaultInjected);
        }
        let Some(malformed) = order.malformed_for(self.index) else { return Ok(()) };
        self.link.own_doubt = true;
        order::carry_out(conn, malformed, &self.connect_options(), self.link.receive_maximum).await
    }

    /// The connected part of a generation: until shutdown or a planned
    /// leave (`Ok`), or a drop (`Err(cause)`).
    // An async block, not an async fn, as `run_client`: an idle client's
    // future would keep the arguments twice.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn serve<'a>(
        &'a mut self,
        conn: &'a mut Connection,
        phase: &'a mut watch::Receiver<Phase>,
        orders: &'a mut watch::Receiver<Option<Arc<ClientOrder>>>,
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
                let NextWake { wake, timed, reads_held, next_publish, keepalive_at } = self.next_wake(conn, current);
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
                    read = conn.read_packet(), if !reads_held => match read {
                        Ok(Some(p)) => {
                            let now = self.now_us();
                            Woke::Read(self.take_packets(conn, Some(p), now), now)
                        }
                        Ok(None) => return Err(Cause::NetworkEof),
                        Err(e) => return Err(connection_cause(&e)),
                    },
                    _ = wake, if timed => Woke::Timer,
                };
                match woke {
                    Woke::Phase => {}
                    Woke::Read(taken, now) => self.on_packets(conn, taken, now).await?,
                    Woke::Timer => self.on_timer(conn, next_publish, keepalive_at).await?,
                }
            }
        }
    }

    /// What a serving client waits for next: one timer for the earliest of
    /// its deadlines (the next publish, keepalive, a paced read or a stall,
    /// a retry, a planned leave), and whether reads wait.
    fn next_wake(&mut self, conn: &mut Connection, current: Phase) -> NextWake {
        let (hold_at, stall_at) = self.hold_reads(current);
        // A slow consumer's hold, or the batching pace, whichever is later.
        let hold_at = hold_at.max(conn.read_paced_until());
        let (hold_at, stall_at) =
            (hold_at.map(|us| self.ctx.run.clock.instant_at(us)), stall_at.map(|us| self.ctx.run.clock.instant_at(us)));
        let ready = self.publisher.publishing && !self.publishing_done() && self.session.can_publish();
        let seq = self.slot(self.recorder.published());
        // With a batch window, a publisher wakes at most once per window
        // and sends everything due by then (tokio's timer, on the
        // window's grid). Without one, it wakes at its message's
        // intended time on the worker's precise timer — but at most once
        // per grid step (`publisher_grid_us`), so a fast publisher sends
        // what fell due within a step in one write.
        let window_us = self.ctx.plan.batch_window.as_micros() as u64;
        let precise = window_us == 0 && timer::available();
        let grid_us = if precise { self.publisher_grid_us() } else { window_us };
        let next_publish = match self.publisher.schedule.as_mut() {
            Some(s) if ready => s.is_due_before_end(seq).then(|| {
                let tick =
                    if grid_us > 0 { crate::mqtt::pace::next_tick(self.publisher.published_at_us, grid_us) } else { 0 };
                self.ctx.run.clock.instant_at(grid_wake_us(s.intended_us(seq), tick, s.end_us()))
            }),
            _ => None,
        };
        // Adaptive batching holds no acknowledgement back that a quarter
        // full inflight window waits for.
        conn.set_reads_urgent(self.inflight_quarter_full());
        let keepalive_at = self.session.keepalive_deadline_us().map(|us| self.ctx.run.clock.instant_at(us));
        let retry_at = self
            .group
            .retry_interval
            .and_then(|r| self.session.next_retry_us(r.as_micros() as u64))
            .map(|us| self.ctx.run.clock.instant_at(us));
        let wake_at = {
            // (In a block: kept out of the idle client's future.)
            let leave_at = self.leave_at_us().map(|us| self.ctx.run.clock.instant_at(us));
            [next_publish, keepalive_at, hold_at, stall_at, retry_at, leave_at].into_iter().flatten().min()
        };
        // One timer for both deadlines: a busy publisher re-arms one, not
        // two, per wake-up. The precise one when the next publish or
        // paced read comes first, tokio's for keepalive (and with a
        // batch window).
        let wake = match wake_at {
            Some(at) if precise && (next_publish == Some(at) || hold_at == Some(at)) => Wake::precise(self.index, at),
            // (A disabled branch's far deadline is never polled.)
            at => Wake::tokio(at.unwrap_or_else(|| std::time::Instant::now() + Duration::from_secs(3600))),
        };
        NextWake { wake, timed: wake_at.is_some(), reads_held: hold_at.is_some(), next_publish, keepalive_at }
    }

    /// The step a publisher on the precise timer keeps to (`precise_grid_us`):
    /// 100 µs, or 2 ms while its worker is busy — 1 ms there when what one
    /// step sends fills a quarter of its inflight window, so the coarser
    /// step does not make it wait on its own window (it judges right after a
    /// write, when the window is at its fullest).
    fn publisher_grid_us(&self) -> u64 {
        let qos0 = self.group.publish.as_ref().is_some_and(|p| p.qos == 0);
        let busy = crate::mqtt::pace::worker_busy(self.now_us());
        precise_grid_us(self.ctx.plan.batch_mode, busy, qos0 || !self.inflight_quarter_full())
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
        let hold = pacing.hold_until(now);
        let change = pacing.held_change(hold.is_some());
        if change != 0 {
            self.ctx.metrics.held_back.fetch_add(change, std::sync::atomic::Ordering::Relaxed);
        }
        (hold, pacing.next_stall_after(now))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_worker_steps_on_the_timers_finest_grid_a_busy_one_on_2_ms() {
        let adaptive = BatchMode::Adaptive;
        assert_eq!(precise_grid_us(adaptive, false, true), 100);
        assert_eq!(precise_grid_us(adaptive, false, false), 100, "a quiet worker never coarsens");
        assert_eq!(precise_grid_us(adaptive, true, true), 2000);
        assert_eq!(precise_grid_us(adaptive, true, false), 1000, "a quarter-full window keeps a 1 ms step");
        assert_eq!(precise_grid_us(BatchMode::Off, false, true), 1000, "batching off keeps its 1 ms step");
        // A publisher 167 µs apart on a quiet worker leaves at each message's
        // intended time: the next tick after a send at 1,000 µs is 1,100.
        let tick = crate::mqtt::pace::next_tick(1_000, precise_grid_us(adaptive, false, true));
        assert_eq!(grid_wake_us(1_167, tick, 5_000_000), 1_167);
    }

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
}
