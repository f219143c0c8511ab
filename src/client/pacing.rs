//! Slow and stalled consumers (no I/O). midge holds back a subscriber's
//! reads — at most `subscribe.max_rate` deliveries a second, or none at all
//! while a `stall` fault lasts — so that the broker's queue for it fills the
//! way it does for a real slow consumer: unacknowledged QoS ≥ 1 deliveries
//! use up the broker's inflight window, and unread bytes close the TCP
//! window. The client task asks when it may read next, tells what it took
//! in, and gets back the spans in which the client was behind (the
//! `slow_consumer` loss window).
//!
//! `subscribe.max_rate` is a GCRA cap with a `BURST_US` burst; `stall` faults
//! come from the plan, on the publishing clock. A `behind` span runs from the
//! first held-back read until a delivery under `CAUGHT_UP_US` old arrives; the
//! spans go to `Generation::behind`.

use crate::plan::{ClientPlan, Plan};

/// A burst this long (at `max_rate`) is taken in without waiting: a read
/// that brings a handful of packets is not cut into single deliveries.
pub const BURST_US: u64 = 50_000;

/// A delivery younger than this (from its actual send) means the client
/// has caught up: its behind span ends there.
pub const CAUGHT_UP_US: u64 = 100_000;

#[derive(Debug, Clone, Default)]
pub struct Pacing {
    /// µs between two deliveries at `max_rate` (0: no cap).
    interval_us: u64,
    /// The cap's theoretical arrival time (GCRA): a delivery may be taken
    /// in while this is at most `BURST_US` ahead of now.
    tat_us: u64,
    /// This client's stalls, from the start of publishing: (at, for) in µs.
    planned_stalls: Vec<(u64, u64)>,
    /// The same on the run clock, once publishing has started: [from, to).
    stalls: Vec<(u64, u64)>,
    /// Since when the client is behind: held back and not caught up yet.
    behind_since: Option<u64>,
    /// Closed behind spans, run-clock µs.
    behind: Vec<(u64, u64)>,
    /// Counted in `Metrics::held_back` (held back at the last look).
    counted_held: bool,
}

impl Pacing {
    /// The pacing of client `me`, if its group has a `max_rate` or a
    /// `stall` fault names it.
    pub fn of(plan: &Plan, me: &ClientPlan) -> Option<Box<Pacing>> {
        let group = plan.group_of(me);
        let planned_stalls = plan.stalls_of(me.index);
        let interval_us = group.max_rate.map_or(0, |r| (1e6 / r).round().max(1.0) as u64);
        (me.filter.is_some() && (interval_us > 0 || !planned_stalls.is_empty()))
            .then(|| Box::new(Pacing { interval_us, planned_stalls, ..Default::default() }))
    }

    /// Publishing started at `start_us`: the stalls get their run-clock times.
    pub fn publishing_from(&mut self, start_us: u64) {
        if self.stalls.is_empty() {
            self.stalls = self.planned_stalls.iter().map(|&(at, len)| (start_us + at, start_us + at + len)).collect();
        }
    }

    /// Until when the client must not read (None: it may read now). Being
    /// held back makes it behind.
    pub fn hold_until(&mut self, now_us: u64) -> Option<u64> {
        let stall = self.stalls.iter().find(|&&(from, to)| from <= now_us && now_us < to).map(|&(_, to)| to);
        let capped = (self.interval_us > 0 && self.tat_us > now_us + BURST_US).then(|| self.tat_us - BURST_US);
        let until = stall.max(capped);
        if until.is_some() {
            self.behind_since.get_or_insert(now_us);
        }
        until
    }

    /// When the next stall begins (so a client waiting on its socket wakes for it).
    pub fn next_stall_after(&self, now_us: u64) -> Option<u64> {
        self.stalls.iter().map(|&(from, _)| from).filter(|&from| from > now_us).min()
    }

    /// A delivery taken in at `now_us`, sent `age_us` before (None: not
    /// one of this run's). A fresh one while not held back ends a behind span.
    pub fn took_in(&mut self, now_us: u64, age_us: Option<u64>) {
        if self.interval_us > 0 {
            self.tat_us = self.tat_us.max(now_us) + self.interval_us;
        }
        if let (Some(since), Some(age)) = (self.behind_since, age_us) {
            let held = self.stalls.iter().any(|&(from, to)| from <= now_us && now_us < to)
                || (self.interval_us > 0 && self.tat_us > now_us + BURST_US);
            if age < CAUGHT_UP_US && !held {
                self.behind.push((since, now_us));
                self.behind_since = None;
            }
        }
    }

    /// Whether the client is held back now (`held`) changed since the last
    /// call: +1 or -1 for `Metrics::held_back`, 0 when it did not.
    pub fn held_change(&mut self, held: bool) -> i64 {
        let change = i64::from(held) - i64::from(self.counted_held);
        self.counted_held = held;
        change
    }

    /// Whether the client is behind (so an unanswered PINGREQ may just be
    /// unread: keepalive must not call the connection dead).
    pub fn is_behind(&self) -> bool {
        self.behind_since.is_some()
    }

    /// The connection ended at `now_us`: its behind spans, an open one closed there.
    pub fn take_behind(&mut self, now_us: u64) -> Vec<(u64, u64)> {
        if let Some(since) = self.behind_since.take() {
            self.behind.push((since, now_us));
        }
        std::mem::take(&mut self.behind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(rate: f64) -> Pacing {
        Pacing { interval_us: (1e6 / rate) as u64, ..Default::default() }
    }

    #[test]
    fn a_rate_cap_lets_a_burst_through_then_paces() {
        let mut p = capped(1000.0);
        // 1 ms apart: 50 deliveries fit in the 50 ms burst, the 52nd waits.
        for _ in 0..51 {
            assert_eq!(p.hold_until(0), None);
            p.took_in(0, Some(10));
        }
        assert_eq!(p.hold_until(0), Some(1_000));
        assert!(p.is_behind());
        assert_eq!(p.hold_until(1_000), None);
    }

    #[test]
    fn a_stall_holds_until_its_end_and_the_span_closes_when_caught_up() {
        let mut p = Pacing { planned_stalls: vec![(1_000_000, 2_000_000)], ..Default::default() };
        p.publishing_from(500_000);
        assert_eq!(p.hold_until(1_400_000), None);
        assert_eq!(p.hold_until(1_500_000), Some(3_500_000));
        // After the stall: old deliveries keep it behind, a fresh one ends it.
        p.took_in(3_500_000, Some(2_000_000));
        assert!(p.is_behind());
        p.took_in(3_600_000, Some(CAUGHT_UP_US - 1));
        assert!(!p.is_behind());
        assert_eq!(p.take_behind(9_000_000), vec![(1_500_000, 3_600_000)]);
    }

    #[test]
    fn the_held_back_count_changes_only_when_holding_does() {
        let mut p = capped(10.0);
        assert_eq!(
            [p.held_change(true), p.held_change(true), p.held_change(false), p.held_change(false)],
            [1, 0, -1, 0]
        );
    }

    #[test]
    fn an_open_span_closes_with_the_connection() {
        let mut p = capped(10.0);
        p.took_in(0, Some(10));
        assert_eq!(p.hold_until(0), Some(50_000));
        assert_eq!(p.take_behind(70_000), vec![(0, 70_000)]);
        assert!(p.take_behind(80_000).is_empty());
    }
}
