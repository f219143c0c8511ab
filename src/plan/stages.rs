//! Stages: a run as a sequence of stages (`[[stage]]`), each ramping group
//! rates and client counts linearly to its targets. Times are µs from the
//! start of publishing (the stage clock).
//!
//! A publisher's rate is a piecewise-linear curve; its messages are due
//! where the curve's integral (the messages owed so far) passes each
//! message's place: `RateCurve::inverse`. A group's client count is a
//! piecewise-linear curve from 0; client i of the group joins when the
//! curve reaches i + 1 (`ClientCurve::join_us`).
//!
//! `RateCurve::inverse` is None once the rate has ended at 0. A `ClientCurve`'s
//! `presence` gives client i's stays: it joins when the count rises to i + 1
//! and leaves when it falls back to i, so the latest joined leave first.
//! `StagePlan` keeps every group's rate and client count at the end of each
//! stage (report.json `stages[]`).

use std::collections::BTreeMap;

/// One stage as planned: when it runs, and every group's rate and client
/// count at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    /// From the start of publishing (µs).
    pub start_us: u64,
    pub end_us: u64,
    /// Messages per second per client of each publishing group, at the end.
    pub rate: BTreeMap<String, f64>,
    /// Clients of each group, at the end.
    pub clients: BTreeMap<String, u32>,
}

/// A piecewise-linear rate (messages per second) over the stage clock,
/// holding its last value after the last point.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCurve {
    /// (µs, messages per second), the first at 0, times increasing.
    points: Vec<(f64, f64)>,
    /// Messages owed by each point's time (the integral from 0).
    area: Vec<f64>,
}

impl RateCurve {
    /// Starts at `start_rate`; each `(duration_us, rate)` ramps linearly to
    /// `rate` over `duration_us`.
    pub fn new(start_rate: f64, segments: &[(u64, f64)]) -> RateCurve {
        let mut points = vec![(0.0, start_rate)];
        let mut area = vec![0.0];
        for &(d, r) in segments {
            let (t0, r0) = *points.last().expect("one point at least");
            let a0 = *area.last().expect("one area at least");
            points.push((t0 + d as f64, r));
            area.push(a0 + (r0 + r) / 2.0 * d as f64 / 1e6);
        }
        RateCurve { points, area }
    }

    /// The rate at `t_us`.
    pub fn rate_at(&self, t_us: f64) -> f64 {
        let i = self.points.partition_point(|p| p.0 <= t_us);
        match self.points.get(i) {
            None => self.points.last().map_or(0.0, |p| p.1),
            Some(&(t1, r1)) => {
                let (t0, r0) = self.points[i.saturating_sub(1)];
                if t1 > t0 {
                    r0 + (r1 - r0) * (t_us - t0) / (t1 - t0)
                } else {
                    r1
                }
            }
        }
    }

    /// Messages owed by `t_us`: the integral of the rate from 0.
    pub fn integral(&self, t_us: f64) -> f64 {
        let t_us = t_us.max(0.0);
        let i = self.points.partition_point(|p| p.0 <= t_us) - 1;
        let (t0, r0) = self.points[i];
        let r = self.rate_at(t_us);
        self.area[i] + (r0 + r) / 2.0 * (t_us - t0) / 1e6
    }

    /// The first time (µs) after which more than `u` messages are owed: when
    /// message `u` is due. None if the rate never gets there (it ends at 0).
    pub fn inverse(&self, u: f64) -> Option<f64> {
        let u = u.max(0.0);
        // The first segment whose end owes more than u.
        let k = self.area[1..].partition_point(|a| *a <= u);
        if k + 1 >= self.points.len() {
            let (t, r) = *self.points.last().expect("one point at least");
            let a = *self.area.last().expect("one area at least");
            return (r > 0.0).then(|| t + (u - a) / r * 1e6);
        }
        let ((t0, r0), (t1, r1)) = (self.points[k], self.points[k + 1]);
        let span_s = (t1 - t0) / 1e6;
        let d = u - self.area[k];
        // r0·x + (r1 − r0)/(2T)·x² = d, the root in [0, T], written so that
        // it stays exact when r1 = r0 and when r0 = 0.
        let a = (r1 - r0) / (2.0 * span_s);
        let root = (r0 * r0 + 4.0 * a * d).max(0.0).sqrt();
        let x = if r0 + root > 0.0 { 2.0 * d / (r0 + root) } else { 0.0 };
        Some(t0 + x.clamp(0.0, span_s) * 1e6)
    }

    /// The mean rate over [0, `t_us`].
    pub fn mean(&self, t_us: f64) -> f64 {
        if t_us > 0.0 {
            self.integral(t_us) / (t_us / 1e6)
        } else {
            self.rate_at(0.0)
        }
    }
}

/// A group's client count over the stage clock: linear ramps from 0, up
/// and down.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCurve {
    /// (µs, clients), the first (0, 0).
    points: Vec<(f64, f64)>,
}

impl ClientCurve {
    pub fn new(segments: &[(u64, f64)]) -> ClientCurve {
        let mut points = vec![(0.0, 0.0)];
        for &(d, n) in segments {
            let t0 = points.last().expect("one point at least").0;
            points.push((t0 + d as f64, n));
        }
        ClientCurve { points }
    }

    /// When the group's client `i` (0-based) joins: the first time the
    /// count reaches i + 1 (µs from the start of publishing; 0 when it is
    /// there from the start).
    pub fn join_us(&self, i: u32) -> u64 {
        let want = i as f64 + 1.0;
        for w in self.points.windows(2) {
            let ((t0, c0), (t1, c1)) = (w[0], w[1]);
            if c0 >= want {
                return t0 as u64;
            }
            if c1 >= want {
                return (t0 + (want - c0) / (c1 - c0) * (t1 - t0)).ceil() as u64;
            }
        }
        self.points.last().map_or(0, |p| p.0 as u64)
    }

    /// When the group's client `i` (0-based) is there: it joins when the
    /// count rises to i + 1 and leaves when it falls back to i, so over a
    /// ramp down the clients leave one by one at evenly spaced times, the
    /// last one at the stage's end, the most recently joined first (µs from
    /// the start of publishing).
    pub fn presence(&self, i: u32) -> Vec<Presence> {
        let (join_at, leave_at) = (i as f64 + 1.0, i as f64);
        let mut out: Vec<Presence> = Vec::new();
        for w in self.points.windows(2) {
            let ((t0, c0), (t1, c1)) = (w[0], w[1]);
            let at = |c: f64| (t0 + (c - c0) / (c1 - c0) * (t1 - t0)).ceil() as u64;
            match out.last_mut() {
                Some(Presence { leave_us: None, .. }) if c1 <= leave_at => {
                    let leave_us = if c0 <= leave_at { t0 as u64 } else { at(leave_at) };
                    out.last_mut().expect("a stay to end").leave_us = Some(leave_us);
                }
                Some(Presence { leave_us: None, .. }) => {}
                _ if c1 >= join_at => {
                    let join_us = if c0 >= join_at { t0 as u64 } else { at(join_at) };
                    out.push(Presence { join_us, leave_us: None });
                }
                _ => {}
            }
        }
        out
    }
}

/// One stay of a client in the run (µs from the start of publishing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence {
    pub join_us: u64,
    /// None: it stays to the run's end.
    pub leave_us: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn a_linear_ramp_owes_the_area_under_it() {
        // 0 → 10 msg/s over 10 s: t²/2 messages by t seconds.
        let c = RateCurve::new(0.0, &[(10 * S, 10.0)]);
        assert_eq!(c.integral(10e6), 50.0);
        assert_eq!(c.integral(2e6), 2.0);
        assert_eq!(c.integral(4e6), 8.0);
        assert_eq!(c.rate_at(5e6), 5.0);
        // Message n is due at √(2n) s.
        assert_eq!(c.inverse(0.0), Some(0.0));
        assert_eq!(c.inverse(2.0), Some(2e6));
        assert_eq!(c.inverse(8.0), Some(4e6));
        assert_eq!(c.inverse(18.0), Some(6e6));
        assert_eq!(c.inverse(50.0), Some(10e6));
        // Past the ramp the rate holds at 10 msg/s.
        assert_eq!(c.inverse(60.0), Some(11e6));
        assert_eq!(c.integral(12e6), 70.0);
    }

    #[test]
    fn ramp_hold_and_down_to_zero() {
        // 10 → 20 over 2 s (30), hold 20 for 1 s (20), 20 → 0 over 2 s (20).
        let c = RateCurve::new(10.0, &[(2 * S, 20.0), (S, 20.0), (2 * S, 0.0)]);
        assert_eq!(c.integral(2e6), 30.0);
        assert_eq!(c.integral(3e6), 50.0);
        assert_eq!(c.integral(5e6), 70.0);
        assert_eq!(c.inverse(40.0), Some(2.5e6));
        // Down to 0: 20 of the last stage's messages, then none ever again.
        // Message 69 leaves 1 owed: the rate r there has r² / (2 · 10/s) = 1
        // left under it, r = √20, √20 / 10 s before the end.
        assert_eq!(c.inverse(69.0).map(|t| t.round()), Some((5e6 - 20f64.sqrt() / 10.0 * 1e6).round()));
        assert_eq!(c.inverse(70.0), None);
        assert_eq!(c.inverse(1000.0), None);
    }

    #[test]
    fn zero_rate_owes_nothing_until_it_rises() {
        let c = RateCurve::new(0.0, &[(S, 0.0), (S, 10.0)]);
        // Message 0 waits for the rate to rise (after 1 s), not at 0.
        assert_eq!(c.inverse(0.0), Some(1e6));
        assert_eq!(c.integral(2e6), 5.0);
        let flat = RateCurve::new(0.0, &[(S, 0.0)]);
        assert_eq!(flat.inverse(0.0), None);
    }

    #[test]
    fn a_constant_curve_is_a_constant_rate() {
        let c = RateCurve::new(100.0, &[(10 * S, 100.0)]);
        for n in [0u64, 1, 10, 999, 1000, 5000] {
            let t = c.inverse(n as f64).unwrap();
            assert!((t - n as f64 * 10_000.0).abs() < 1e-3, "{n}: {t}");
        }
        assert_eq!(c.mean(10e6), 100.0);
    }

    #[test]
    fn clients_join_as_the_count_reaches_them() {
        // 0 → 10 over 1 s, hold, 10 → 20 over 1 s.
        let c = ClientCurve::new(&[(S, 10.0), (S, 10.0), (S, 20.0)]);
        assert_eq!(c.join_us(0), 100_000);
        assert_eq!(c.join_us(9), 1_000_000);
        assert_eq!(c.join_us(10), 2_100_000);
        assert_eq!(c.join_us(19), 3_000_000);
        // A jump within a stage of its own: all at its end at the latest.
        let c = ClientCurve::new(&[(S, 5.0)]);
        assert_eq!(c.join_us(4), S);
    }

    #[test]
    fn clients_leave_one_by_one_the_latest_first() {
        // 0 → 10 over 1 s, hold 1 s, 10 → 2 over 2 s (one leave every 250 ms).
        let c = ClientCurve::new(&[(S, 10.0), (S, 10.0), (2 * S, 2.0)]);
        let stay = |join_us, leave_us| vec![Presence { join_us, leave_us }];
        assert_eq!(c.presence(9), stay(S, Some(2_250_000)), "the last to join leaves first");
        assert_eq!(c.presence(8), stay(900_000, Some(2_500_000)));
        assert_eq!(c.presence(2), stay(300_000, Some(4 * S)), "the last leave at the stage's end");
        assert_eq!(c.presence(1), stay(200_000, None));
        assert_eq!(c.presence(0), stay(100_000, None));
        let leaves: Vec<u64> = (2..10).rev().map(|i| c.presence(i)[0].leave_us.unwrap()).collect();
        assert!(leaves.windows(2).all(|w| w[1] - w[0] == 250_000), "{leaves:?}");
    }

    #[test]
    fn clients_that_left_come_back_when_the_count_rises_again() {
        // 0 → 4 over 400 ms, 4 → 1 over 3 s, 1 → 3 over 2 s, then down to 0 over 3 s.
        let c = ClientCurve::new(&[(400_000, 4.0), (3 * S, 1.0), (2 * S, 3.0), (3 * S, 0.0)]);
        let p = |join_us, leave_us| Presence { join_us, leave_us: Some(leave_us) };
        assert_eq!(c.presence(3), vec![p(400_000, 1_400_000)]);
        assert_eq!(c.presence(2), vec![p(300_000, 2_400_000), p(5_400_000, 6_400_000)]);
        assert_eq!(c.presence(1), vec![p(200_000, 3_400_000), p(4_400_000, 7_400_000)]);
        assert_eq!(c.presence(0), vec![p(100_000, 8_400_000)], "the last leaves as the run ends");
        // A hold at 0 after the ramp down: nobody is there.
        let c = ClientCurve::new(&[(S, 2.0), (S, 0.0), (S, 0.0)]);
        assert_eq!(c.presence(0), vec![p(500_000, 2 * S)]);
    }
}
