//! Adaptive batching (no I/O): when a connection reads at once and when it
//! lets packets gather until the next millisecond tick. A read costs a
//! system call whatever it brings, so under load one read per tick does the
//! work of dozens; at low load every read happens at once, so latency
//! figures stay as fine as the machine allows.
//!
//! Load is judged twice, each time with hysteresis: the connection's own
//! packet rate, and its worker thread's (every connection of a worker runs
//! on that thread, so a thread-local count is the worker's) — in a fan-in
//! each publisher's acknowledgements are a trickle while the worker as a
//! whole is busy.
//!
//! Batching must never cost throughput. A read is not held back while the
//! client's own inflight window needs its acknowledgements (`urgent`), nor,
//! for a while, after the broker was seen holding deliveries back: a QoS ≥ 1
//! delivery is answered at the next tick, and a broker whose inflight window
//! for this client (which midge cannot see) is smaller than a tick's worth
//! queues the rest — the freshest delivery of a read then arrives old
//! (`held_back`), and deliveries are answered at once for a time that
//! doubles each time it happens.
//!
//! The thresholds: a connection is busy while it takes in at least
//! `ADAPTIVE_BUSY_PACKETS_PER_MS` (8) packets per ms, its worker while it takes
//! in and sends at least `WORKER_BUSY_PACKETS_PER_MS` (16) per ms
//! (`worker_busy`, a thread-local `RateLook`). A connection busy on its own reads
//! on a 100 µs grid (`BUSY_READ_TICK_US`), one that is quiet on a busy worker
//! at the next 1 ms tick, and a publisher on the precise timer steps on a 2 ms
//! grid instead of 100 µs (`client::serve`). Held back, in the sense above: the
//! freshest QoS ≥ 1 delivery of a read over `HELD_BACK_AGE_US` (5 ms) old, or
//! of unknown age; deliveries are then answered at once for `ANSWER_AT_ONCE_US`
//! (50 ms), doubling each time, at most `MAX_ANSWER_AT_ONCE_US` (10 s).

use std::cell::Cell;

/// The first multiple of `window` µs after `t_us`. Batching wakes on a grid
/// rather than `window` after the last wake: the timer wheel rounds a
/// deadline up to its next millisecond, which would stretch a 1 ms window
/// to 2 ms.
pub fn next_tick(t_us: u64, window_us: u64) -> u64 {
    (t_us / window_us + 1) * window_us
}

/// A connection that took in at least this many packets per millisecond,
/// over a look of at least `ADAPTIVE_WINDOW_US`, reads once per `BUSY_READ_TICK_US` tick.
/// At 8 packets per read the read's own cost is small beside the packets'.
pub const ADAPTIVE_BUSY_PACKETS_PER_MS: u64 = 8;
/// A worker thread that took in and sent at least this many packets per
/// millisecond (16,000 a second) batches every connection's reads.
pub const WORKER_BUSY_PACKETS_PER_MS: u64 = 16;
/// The adaptive window, and the shortest look at a pace: a connection that
/// is quiet on its own but whose worker is busy reads on this grid.
pub const ADAPTIVE_WINDOW_US: u64 = 1000;
/// The read grid of a connection busy on its own (a subscriber taking in at
/// least `ADAPTIVE_BUSY_PACKETS_PER_MS`): at that pace a read still brings
/// a packet or more, and a delivery waits at most this long to be read, so
/// batching adds at most ~50 µs to the receive time on average, where a
/// kernel stamp (one per read, of its newest bytes) cannot take it out.
/// The worker's precise timer (`workers::timer`, `MIN_GAP`) keeps it.
pub const BUSY_READ_TICK_US: u64 = 100;
/// A busy pace is judged quiet again only over a look this long, below half
/// its threshold: a read that happened to catch the start of a burst does
/// not end batching.
pub const QUIET_LOOK_US: u64 = 4000;
/// The freshest QoS ≥ 1 delivery of a read older than this (from its actual
/// send) means the broker held deliveries back.
pub const HELD_BACK_AGE_US: u64 = 5000;
/// How long deliveries are answered at once after the first hold-back; it
/// doubles with each one after, up to `MAX_ANSWER_AT_ONCE_US`.
pub const ANSWER_AT_ONCE_US: u64 = 50_000;
pub const MAX_ANSWER_AT_ONCE_US: u64 = 10_000_000;

/// A packet rate judged with hysteresis: busy after a look of at least
/// `ADAPTIVE_WINDOW_US` at `busy_per_ms` or more; quiet again only after a
/// look of at least `QUIET_LOOK_US` below half that.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RateLook {
    look_from_us: u64,
    packets: u32,
    busy: bool,
}

impl RateLook {
    pub fn add(&mut self, packets: u32) {
        self.packets = self.packets.saturating_add(packets);
    }

    /// The verdict at `now_us`, judged afresh once the look is long enough.
    pub fn judge(&mut self, now_us: u64, busy_per_ms: u64) -> bool {
        let look_us = now_us.saturating_sub(self.look_from_us);
        let per_ms_x1000 = self.packets as u64 * 1000;
        if self.busy && look_us >= QUIET_LOOK_US {
            self.busy = 2 * per_ms_x1000 >= busy_per_ms * look_us;
        } else if !self.busy && look_us >= ADAPTIVE_WINDOW_US {
            self.busy = per_ms_x1000 >= busy_per_ms * look_us;
        } else {
            return self.busy;
        }
        self.look_from_us = now_us;
        self.packets = 0;
        self.busy
    }

    pub fn is_busy(&self) -> bool {
        self.busy
    }
}

thread_local! {
    /// The packets this worker thread's connections took in and sent.
    static WORKER: Cell<RateLook> = const { Cell::new(RateLook { look_from_us: 0, packets: 0, busy: false }) };
}

/// Counts `packets` taken in or sent by a connection of this worker.
pub fn worker_moved(packets: u32) {
    WORKER.with(|w| {
        let mut look = w.get();
        look.add(packets);
        w.set(look);
    });
}

/// Whether this worker is busy at `now_us`.
pub fn worker_busy(now_us: u64) -> bool {
    WORKER.with(|w| {
        let mut look = w.get();
        let busy = look.judge(now_us, WORKER_BUSY_PACKETS_PER_MS);
        w.set(look);
        busy
    })
}

/// One connection's adaptive pace.
#[derive(Debug, Default, Clone, Copy)]
pub struct AdaptivePace {
    own: RateLook,
    /// A packet since the last read wants an answer (a QoS 1/2 PUBLISH,
    /// PUBREC, PUBREL).
    answer_owed: bool,
    /// Until this run-clock µs, reads owing an answer happen at once (the
    /// broker was seen holding deliveries back).
    answer_at_once_until_us: u64,
    /// How long the next hold-back makes that (0: `ANSWER_AT_ONCE_US`).
    answer_at_once_us: u64,
    /// The age of the freshest QoS ≥ 1 delivery since the last read
    /// (µs, saturating; None: none).
    freshest_age_us: Option<u32>,
    /// Set by the client: what this connection reads is needed at once.
    pub urgent: bool,
}

impl AdaptivePace {
    /// A whole packet was taken in (`wants_answer`: the broker waits for
    /// midge's reply to it).
    pub fn took_in(&mut self, wants_answer: bool) {
        self.own.add(1);
        self.answer_owed |= wants_answer;
    }

    /// A QoS ≥ 1 delivery taken in was `age_us` old from its actual send
    /// (`u64::MAX`: unknown, not this run's).
    pub fn delivery_age(&mut self, age_us: u64) {
        let age = age_us.min(u32::MAX as u64) as u32;
        self.freshest_age_us = Some(self.freshest_age_us.map_or(age, |f| f.min(age)));
    }

    /// Before a read at `now_us`, with the worker's verdict: the run-clock
    /// µs to wait for (0: read now).
    pub fn next_read_us(&mut self, now_us: u64, worker_busy: bool) -> u64 {
        if let Some(age) = self.freshest_age_us.take() {
            self.freshest_delivery(now_us, age as u64);
        }
        let own_busy = self.own.judge(now_us, ADAPTIVE_BUSY_PACKETS_PER_MS);
        let answer_now = std::mem::take(&mut self.answer_owed) && now_us < self.answer_at_once_until_us;
        if answer_now || self.urgent {
            0
        } else if own_busy {
            next_tick(now_us, BUSY_READ_TICK_US)
        } else if worker_busy {
            next_tick(now_us, ADAPTIVE_WINDOW_US)
        } else {
            0
        }
    }

    /// The freshest QoS ≥ 1 delivery of the read at `now_us` was this old:
    /// past `HELD_BACK_AGE_US`, answers go out at once for a while.
    pub fn freshest_delivery(&mut self, now_us: u64, age_us: u64) {
        if age_us <= HELD_BACK_AGE_US || now_us < self.answer_at_once_until_us {
            return;
        }
        let span = self.answer_at_once_us.max(ANSWER_AT_ONCE_US);
        self.answer_at_once_until_us = now_us + span;
        self.answer_at_once_us = (2 * span).min(MAX_ANSWER_AT_ONCE_US);
    }

    pub fn is_busy(&self) -> bool {
        self.own.is_busy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes in `n` packets, then asks before a read at `now_us`.
    fn after(p: &mut AdaptivePace, n: u32, now_us: u64) -> u64 {
        for _ in 0..n {
            p.took_in(false);
        }
        p.next_read_us(now_us, false)
    }

    #[test]
    fn adaptive_pace_batches_only_while_packets_come_fast() {
        let mut p = AdaptivePace::default();
        // A trickle: one packet a millisecond is read at once.
        assert_eq!(after(&mut p, 0, 10_000), 0);
        for t in 1..=5u64 {
            assert_eq!(after(&mut p, 1, 10_000 + t * 1000), 0, "{t}");
        }
        // Load: 20 packets over the next millisecond; the next read waits
        // for the next 100 µs tick, and the ones after while it stays busy.
        assert_eq!(after(&mut p, 20, 16_000), 16_100);
        assert_eq!(after(&mut p, 3, 16_300), 16_400, "within a look the verdict stands");
        assert_eq!(after(&mut p, 17, 17_000), 17_100);
        // A read that caught one packet of a burst does not end it: busy
        // stays until a 4 ms look falls below half the threshold.
        assert_eq!(after(&mut p, 1, 18_000), 18_100);
        assert_eq!(after(&mut p, 30, 19_000), 19_100);
        assert_eq!(after(&mut p, 2, 20_000), 20_100, "3 + 17 + 1 + 30 + 2 over 4 ms: busy");
        // The load goes: 4 packets over the next 4 ms is quiet.
        assert_eq!(after(&mut p, 4, 24_000), 0);
        assert_eq!(after(&mut p, 1, 25_500), 0);
    }

    #[test]
    fn adaptive_pace_judges_by_rate_not_by_a_late_read() {
        let mut p = AdaptivePace::default();
        assert_eq!(after(&mut p, 0, 1_000), 0);
        // 40 packets over 10 ms (a stalled reader) is 4 per ms: still quiet.
        assert_eq!(after(&mut p, 40, 11_000), 0);
        // Exactly the threshold over 2 ms is busy.
        assert_eq!(after(&mut p, 2 * ADAPTIVE_BUSY_PACKETS_PER_MS as u32, 13_000), 13_100);
    }

    #[test]
    fn a_busy_worker_batches_a_quiet_connection_but_never_an_urgent_one() {
        let mut p = AdaptivePace::default();
        assert_eq!(p.next_read_us(1_000, false), 0);
        p.took_in(false);
        assert_eq!(p.next_read_us(1_200, true), 2_000, "a trickle of PUBACKs on a busy worker");
        p.urgent = true;
        assert_eq!(p.next_read_us(1_300, true), 0, "its own inflight window waits");
    }

    #[test]
    fn answers_wait_for_the_tick_until_the_broker_holds_deliveries_back() {
        // On a busy worker a QoS 1 delivery wants its PUBACK: answered at the tick.
        let mut p = AdaptivePace::default();
        p.took_in(true);
        assert_eq!(p.next_read_us(2_100, true), 3_000);
        // A read whose freshest delivery is 6 ms old: the broker queued
        // them (its inflight window). Answers go out at once for 50 ms …
        p.freshest_delivery(3_000, 6_000);
        p.took_in(true);
        assert_eq!(p.next_read_us(3_100, true), 0);
        assert_eq!(p.next_read_us(3_200, true), 4_000, "nothing owed: paced");
        p.took_in(true);
        assert_eq!(p.next_read_us(52_999, true), 0);
        p.took_in(true);
        assert_eq!(p.next_read_us(53_000, true), 54_000, "50 ms later: paced again");
        // … and for twice as long the next time; a fresh read changes nothing.
        p.freshest_delivery(53_000, HELD_BACK_AGE_US);
        p.took_in(true);
        assert_eq!(p.next_read_us(53_100, true), 54_000);
        p.freshest_delivery(53_100, HELD_BACK_AGE_US + 1);
        p.took_in(true);
        assert_eq!(p.next_read_us(153_099, true), 0);
        p.took_in(true);
        assert_eq!(p.next_read_us(153_100, true), 154_000);
    }

    #[test]
    fn the_freshest_delivery_of_a_read_decides() {
        let mut p = AdaptivePace::default();
        // One old and one fresh delivery: the broker is not holding back.
        p.delivery_age(9_000);
        p.delivery_age(100);
        p.took_in(true);
        assert_eq!(p.next_read_us(1_000, true), 2_000);
        // All old, or of unknown age: answers go out at once.
        p.delivery_age(6_000);
        p.delivery_age(u64::MAX);
        p.took_in(true);
        assert_eq!(p.next_read_us(1_100, true), 0);
    }

    #[test]
    fn the_worker_look_is_per_thread() {
        worker_moved(100);
        assert!(!worker_busy(500), "a look shorter than the window decides nothing");
        assert!(worker_busy(1_000));
        let other = std::thread::spawn(|| worker_busy(1_000)).join().unwrap();
        assert!(!other);
        // 10 packets over the next 4 ms is below half the threshold.
        worker_moved(10);
        assert!(!worker_busy(5_000));
    }
}
