//! The drain after publishing: wait while deliveries still arrive (the
//! quiet period adapts to the slowest delivery seen), while publishes are in
//! flight or clients are offline and anything still moves — up to `drain`.
//!
//! It ends `complete` only when nothing is in flight, nobody waits to
//! reconnect, and no delivery came for the quiet period, max(300 ms, 2 × the
//! slowest send-to-receipt time seen so far): a subscriber whose deliveries run
//! 1.2 s late gets 2.4 s of quiet, not a false loss. A client back from offline
//! restarts the quiet period; so does a subscriber back on a resumed
//! session after publishes when its first delivery comes
//! (`Metrics::awaiting_backlog`: until then it is outstanding, as a client
//! offline is — a loaded broker may begin a queued backlog later than any
//! quiet period, and ending before it would count the backlog lost). `Recorder::record_deliveries` keeps the maximum
//! in `Metrics::slowest_delivery_us` (one `fetch_max` per recorded batch); the
//! drain looks every 50 ms at counters and atomics only
//! (`Metrics::received_so_far`), never at the histograms. If nothing moves at
//! all for `stall_period` (max(2 s, 4 × the quiet period)) while something is
//! still in flight or offline, it ends `quiet`; at the scenario's `drain` it
//! ends `time_limit`. The record keeps how it ended (`DrainRecord`).
//!
//! Holds: what midge itself keeps the broker holding does not end the drain.
//! Until `Plan::holds_until_us` — a `stall` still on (the subscriber reads
//! nothing), a `delay` fault still on, a will still owed after a `kill` or
//! `cut` (its delay plus the broker's one-second will-delay check) — the
//! drain neither ends `complete` nor `quiet`, and the quiet period starts
//! again when the hold ends (the backlog comes then); so while any
//! subscriber's reads are held back right now (`Metrics::held_back`: a
//! `max_rate` backlog, however slow its pace). Only the slowest *first*
//! delivery sets the quiet period (`Recorder::take_in`): no resend, no resumed
//! backlog, nothing a stall or a `max_rate` held back.

use crate::metrics::Metrics;
use crate::record::vocab::DrainEnd;
use crate::record::DrainRecord;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::{sleep, Instant};

/// The shortest quiet period of the drain.
pub const MIN_QUIET: Duration = Duration::from_millis(300);

/// How long deliveries must have stopped before the drain believes no more
/// are coming: max(`MIN_QUIET`, 2 × the slowest delivery seen so far).
pub fn quiet_period(slowest_delivery_us: u64) -> Duration {
    MIN_QUIET.max(Duration::from_micros(slowest_delivery_us.saturating_mul(2)))
}

/// How long nothing at all may move — no delivery, no acknowledgement, no
/// client back — before the drain stops although publishes are still in
/// flight or clients offline: max(2 s, 4 × the quiet period).
pub fn stall_period(quiet: Duration) -> Duration {
    Duration::from_secs(2).max(quiet * 4)
}

/// Deliveries so far, publishes in flight, clients offline, resumed
/// subscribers awaiting their backlog.
type Seen = (u64, i64, i64, i64);

/// The drain's state, one look every 50 ms: whether it is over, and how.
struct DrainWatch {
    /// Deliveries, in flight, offline, awaiting a backlog: at the last look.
    last: Seen,
    /// When deliveries last changed, and when anything last did.
    delivered_at: Instant,
    moved_at: Instant,
}

impl DrainWatch {
    fn new(now: Instant, seen: Seen) -> DrainWatch {
        DrainWatch { last: seen, delivered_at: now, moved_at: now }
    }

    /// `seen`: deliveries so far, publishes in flight, clients offline,
    /// resumed subscribers awaiting their backlog; `held`: midge itself
    /// still keeps the broker holding something.
    fn look(&mut self, now: Instant, seen: Seen, quiet: Duration, held: bool) -> Option<DrainEnd> {
        // A client back from offline gets a quiet period of its own: a
        // resumed session's queue is still on its way to it. So does one
        // whose backlog began, and the end of a hold: the backlog comes after it.
        let back = seen.2 < self.last.2 || seen.3 < self.last.3;
        if seen.0 != self.last.0 || back || held {
            self.delivered_at = now;
        }
        if held {
            self.moved_at = now;
        }
        if seen != self.last {
            self.moved_at = now;
        }
        self.last = seen;
        let quiet_enough = now - self.delivered_at >= quiet;
        let outstanding = seen.1 > 0 || seen.2 > 0 || seen.3 > 0;
        match (quiet_enough, outstanding) {
            (true, false) => Some(DrainEnd::Complete),
            (true, true) if now - self.moved_at >= stall_period(quiet) => Some(DrainEnd::Quiet),
            _ => None,
        }
    }
}

/// Drains: keeps going while QoS 1/2 publishes are in flight, clients wait
/// to reconnect, deliveries still arrive within the quiet period (which
/// adapts to the slowest first delivery seen), or until `held_until` (midge's
/// own holds: `Plan::holds_until_us`) and while a subscriber's reads are held
/// back (`Metrics::held_back`); stops at `limit` at the latest.
/// Reads counters and atomics only, never the histograms.
pub async fn drain(metrics: &Metrics, limit: Duration, held_until: Option<Instant>) -> DrainRecord {
    let started = Instant::now();
    let deadline = started + limit;
    let held_until = held_until.unwrap_or(started);
    let seen = || {
        let gauge = |g: &std::sync::atomic::AtomicI64| g.load(Ordering::Relaxed);
        (metrics.received_so_far(), gauge(&metrics.inflight), gauge(&metrics.offline), gauge(&metrics.awaiting_backlog))
    };
    let mut watch = DrainWatch::new(started, seen());
    let ended = loop {
        let quiet = quiet_period(metrics.slowest_delivery_us.load(Ordering::Relaxed));
        let now = Instant::now();
        let held = now < held_until || metrics.held_back.load(Ordering::Relaxed) > 0;
        if let Some(end) = watch.look(now, seen(), quiet, held) {
            break end;
        }
        if now >= deadline {
            break DrainEnd::TimeLimit;
        }
        sleep(Duration::from_millis(50).min(deadline.saturating_duration_since(now))).await;
    };
    DrainRecord {
        ended,
        waited_us: started.elapsed().as_micros() as u64,
        quiet_period_us: quiet_period(metrics.slowest_delivery_us.load(Ordering::Relaxed)).as_micros() as u64,
        in_flight_at_end: metrics.inflight.load(Ordering::Relaxed).max(0) as u64,
        offline_at_end: metrics.offline.load(Ordering::Relaxed).max(0) as u64,
        awaiting_backlog_at_end: metrics.awaiting_backlog.load(Ordering::Relaxed).max(0) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_quiet_period_adapts_to_the_slowest_delivery() {
        assert_eq!(quiet_period(0), MIN_QUIET);
        assert_eq!(quiet_period(100_000), MIN_QUIET);
        assert_eq!(quiet_period(1_200_000), 2400 * MS);
        assert_eq!(stall_period(MIN_QUIET), 2000 * MS);
        assert_eq!(stall_period(2400 * MS), 9600 * MS);
        // queue_withheld takes a resumed connection this long with nothing on it as evidence.
        assert_eq!(stall_period(MIN_QUIET).as_micros() as u64, crate::analysis::detect::MIN_WITHHELD_US);
    }

    #[test]
    fn the_drain_ends_complete_quiet_or_not_yet() {
        let t0 = Instant::now();
        let quiet = 300 * MS;
        // Deliveries keep coming: not over, however settled the rest is.
        let mut w = DrainWatch::new(t0, (10, 0, 0, 0));
        assert_eq!(w.look(t0 + 200 * MS, (11, 0, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 450 * MS, (11, 0, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 500 * MS, (11, 0, 0, 0), quiet, false), Some(DrainEnd::Complete));
        // Quiet, but a publish in flight: wait while anything moves…
        let mut w = DrainWatch::new(t0, (10, 3, 0, 0));
        assert_eq!(w.look(t0 + 400 * MS, (10, 3, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 1900 * MS, (10, 1, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 3800 * MS, (10, 1, 0, 0), quiet, false), None);
        // …and stop, quiet, once nothing has for the stall period.
        assert_eq!(w.look(t0 + 3900 * MS, (10, 1, 0, 0), quiet, false), Some(DrainEnd::Quiet));
        // A client offline keeps it going the same way; its return starts a
        // quiet period (its resumed session's queue may still come).
        let mut w = DrainWatch::new(t0, (10, 0, 1, 0));
        assert_eq!(w.look(t0 + 1000 * MS, (10, 0, 1, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 1100 * MS, (10, 0, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 1400 * MS, (10, 0, 0, 0), quiet, false), Some(DrainEnd::Complete));
    }

    #[test]
    fn a_hold_keeps_the_drain_going_and_its_end_starts_a_quiet_period() {
        let t0 = Instant::now();
        let quiet = 300 * MS;
        // Nothing moves, nothing outstanding: without the hold it would be
        // complete at 300 ms; held until 5 s (a stalled subscriber), it
        // neither ends complete nor quiet however long nothing moves…
        let mut w = DrainWatch::new(t0, (10, 0, 0, 0));
        for ms in [300, 2_500, 4_950] {
            assert_eq!(w.look(t0 + ms * MS, (10, 0, 0, 0), quiet, true), None, "{ms} ms");
        }
        // …and after its end waits a quiet period of its own for the backlog.
        assert_eq!(w.look(t0 + 5_000 * MS, (10, 0, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 5_100 * MS, (250, 0, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 5_350 * MS, (250, 0, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 5_400 * MS, (250, 0, 0, 0), quiet, false), Some(DrainEnd::Complete));
    }

    /// The false loss this prevents: a loaded broker began a resumed
    /// session's queue 0.4 s after the CONNACK, and a drain that had ended a
    /// quiet period after the return counted the whole backlog lost.
    #[test]
    fn a_resumed_subscriber_owed_a_backlog_is_waited_for_until_its_first_delivery() {
        let t0 = Instant::now();
        let quiet = 300 * MS;
        // Back at 1.1 s (offline 1 → 0), its backlog awaited (0 → 1).
        let mut w = DrainWatch::new(t0, (10, 0, 1, 0));
        assert_eq!(w.look(t0 + 1100 * MS, (10, 0, 0, 1), quiet, false), None);
        assert_eq!(w.look(t0 + 1500 * MS, (10, 0, 0, 1), quiet, false), None, "a quiet period is not enough");
        assert_eq!(w.look(t0 + 2900 * MS, (10, 0, 0, 1), quiet, false), None);
        // Its first delivery at 3 s starts a quiet period of its own.
        assert_eq!(w.look(t0 + 3000 * MS, (40, 0, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 3250 * MS, (40, 0, 0, 0), quiet, false), None);
        assert_eq!(w.look(t0 + 3300 * MS, (40, 0, 0, 0), quiet, false), Some(DrainEnd::Complete));
        // A backlog that never comes (all of it expired, or nothing matched
        // its filter): the drain ends quiet once nothing moved for the stall period.
        let mut w = DrainWatch::new(t0, (10, 0, 1, 0));
        assert_eq!(w.look(t0 + 1100 * MS, (10, 0, 0, 1), quiet, false), None);
        assert_eq!(w.look(t0 + 3050 * MS, (10, 0, 0, 1), quiet, false), None);
        assert_eq!(w.look(t0 + 3100 * MS, (10, 0, 0, 1), quiet, false), Some(DrainEnd::Quiet));
    }
}
