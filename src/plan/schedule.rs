//! When a publisher's messages are due. Constant rate (the default: message
//! n at start + offset + n/rate, coordinated-omission correct), Poisson
//! arrivals (exponential gaps with mean 1/rate, seeded so a run can be
//! repeated), or bursts (n messages at once every n/rate). Intended times
//! are what e2e latency is measured from.
//!
//! With `[[stage]]`s the rate varies (`stages::RateCurve`): the same three
//! arrivals are laid out in messages owed rather than in time (message n of
//! a constant schedule at n + offset, bursts at multiples of n, Poisson gaps
//! of mean 1), and each place is turned into a time by the curve's inverse
//! — a time change, so Poisson arrivals stay Poisson at the varying rate.
//!
//! `Schedule::of_publisher` is the one place both the client that publishes and
//! the analysis that counts what was due (`analysis::generator::due`) get a
//! publisher's schedule from. A late-joining publisher owes from its join; with
//! client stages its places run through the publisher's stays (`Stays`, from
//! `GroupPlan::presence`): nothing is due while it is away, and sequence
//! numbers stay contiguous. `due_by` counts what was due by a time.

use rand::{Rng, SeedableRng};

use super::group::Arrival;
use super::model::{ClientPlan, Plan};
use super::stages::{Presence, RateCurve};
use std::sync::Arc;

pub struct Schedule {
    start_us: u64,
    offset_us: f64,
    interval_us: f64,
    end_us: u64,
    arrival: Arrival,
    /// Poisson: the last sequence whose time is known, and that time (µs after start + offset).
    cursor: (u64, f64),
    rng: Option<rand::rngs::StdRng>,
    /// With stages: the rate curve and the publisher's stays in the run.
    /// The places above are then in messages (`interval_us` 1, `offset_us`
    /// the fraction), and `start_us` is the start of publishing.
    curve: Option<(Arc<RateCurve>, Stays)>,
}

/// A publisher's stays in the run (its join to its leave, or to the end),
/// in messages owed: the places of its messages run through them one after
/// the other, so nothing is due while it is away and its sequence numbers
/// stay contiguous across a leave and a return.
#[derive(Debug, Clone, Default)]
struct Stays {
    /// Per stay: its join (stage clock µs), the messages the curve owed by
    /// its join and by its leave (infinite: it stays), and the places of
    /// the earlier stays.
    stays: Vec<(f64, f64, f64, f64)>,
}

impl Stays {
    fn new(curve: &RateCurve, stays: &[Presence]) -> Stays {
        let mut before = 0.0;
        let stays = stays
            .iter()
            .map(|p| {
                let from = curve.integral(p.join_us as f64);
                let to = p.leave_us.map_or(f64::INFINITY, |l| curve.integral(l as f64).max(from));
                let stay = (p.join_us as f64, from, to, before);
                before += to - from;
                stay
            })
            .collect();
        Stays { stays }
    }

    /// When the message at `place` (messages into the stays) is due, on the
    /// stage clock; None when the stays end before it.
    fn time_of(&self, curve: &RateCurve, place: f64) -> Option<f64> {
        let &(join_us, from, _, before) =
            self.stays.iter().find(|&&(_, from, to, before)| place < before + (to - from))?;
        curve.inverse(from + place - before).map(|t| t.max(join_us))
    }
}

impl Schedule {
    /// `offset_fraction` in [0, 1) spreads publishers over one interval.
    pub fn new(start_us: u64, end_us: u64, rate: f64, offset_fraction: f64, arrival: Arrival, seed: u64) -> Schedule {
        let interval_us = 1e6 / rate;
        Schedule {
            start_us,
            offset_us: interval_us * offset_fraction,
            interval_us,
            end_us,
            arrival,
            cursor: (0, 0.0),
            rng: (arrival == Arrival::Poisson).then(|| rand::rngs::StdRng::seed_from_u64(seed)),
            curve: None,
        }
    }

    /// A schedule that follows `curve` (stage clock from `start_us`) over
    /// the publisher's `stays` on that clock.
    pub fn staged(
        start_us: u64,
        end_us: u64,
        curve: Arc<RateCurve>,
        stays: &[Presence],
        offset_fraction: f64,
        arrival: Arrival,
        seed: u64,
    ) -> Schedule {
        let stays = Stays::new(&curve, stays);
        Schedule { curve: Some((curve, stays)), ..Schedule::new(start_us, end_us, 1e6, offset_fraction, arrival, seed) }
    }

    /// When message `seq` is due (run-clock µs). Poisson times are drawn in
    /// order, so `seq` must not go backwards by more than the cursor.
    pub fn intended_us(&mut self, seq: u64) -> u64 {
        let after_start = match self.arrival {
            Arrival::Constant => seq as f64 * self.interval_us,
            Arrival::Burst(n) => {
                let n = n.max(1) as u64;
                (seq / n * n) as f64 * self.interval_us
            }
            Arrival::Poisson => {
                debug_assert!(seq >= self.cursor.0, "Poisson times are drawn in order");
                let rng = self.rng.as_mut().expect("poisson schedules have a generator");
                while self.cursor.0 < seq {
                    let u: f64 = rng.gen::<f64>();
                    self.cursor.1 += -(1.0 - u).ln() * self.interval_us;
                    self.cursor.0 += 1;
                }
                self.cursor.1
            }
        };
        match &self.curve {
            None => self.start_us + (self.offset_us + after_start) as u64,
            // Never due: the rate ends at 0 before this message's place.
            Some((curve, stays)) => stays
                .time_of(curve, self.offset_us + after_start)
                .map_or(u64::MAX, |t| self.start_us.saturating_add(t as u64)),
        }
    }

    /// The end of the publishing window (run-clock µs): nothing is due from it on.
    pub fn end_us(&self) -> u64 {
        self.end_us
    }

    pub fn is_due_before_end(&mut self, seq: u64) -> bool {
        self.intended_us(seq) < self.end_us
    }

    /// The schedule of a planned publisher for publishing that starts at
    /// `start_us` and ends at `end_us` (run clock): one place, used by the
    /// client that publishes and by the analysis that counts what was due.
    pub fn of_publisher(plan: &Plan, client: &ClientPlan, start_us: u64, end_us: u64) -> Option<Schedule> {
        let group = plan.group_of(client);
        let (p, pi) = (group.publish.as_ref()?, client.publisher?);
        let publishers = plan.publishers_total().max(1) as f64;
        let seed = plan.run_id ^ (pi as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if let Some(curve) = &p.curve {
            return Some(Schedule::staged(
                start_us,
                end_us,
                curve.clone(),
                &group.presence(client.index),
                pi as f64 / publishers,
                p.arrival,
                seed,
            ));
        }
        // A group that joins later (`start_after`) owes nothing before it joins.
        Some(Schedule::new(
            start_us + (p.start_after.as_micros() as u64).max(group.join_us(client.index)),
            end_us,
            p.rate,
            pi as f64 / publishers,
            p.arrival,
            seed,
        ))
    }

    /// How many messages, from `first` on, are due before `until_us` (and
    /// before the end): what a publisher that had sent `first` owed then.
    pub fn due_by(&mut self, first: u64, until_us: u64) -> u64 {
        let mut n = first;
        while self.is_due_before_end(n) && self.intended_us(n) < until_us {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One stay, from `join_us` to the end.
    fn from(join_us: u64) -> Vec<Presence> {
        vec![Presence { join_us, leave_us: None }]
    }

    fn count_before_end(s: &mut Schedule) -> u64 {
        let mut n = 0;
        while s.is_due_before_end(n) {
            n += 1;
        }
        n
    }

    #[test]
    fn constant_rate_is_exact() {
        let mut s = Schedule::new(0, 10_000_000, 100.0, 0.0, Arrival::Constant, 1);
        assert_eq!(count_before_end(&mut s), 1000);
        assert_eq!(s.intended_us(10), 100_000);
    }

    #[test]
    fn bursts_keep_the_rate_and_share_a_time() {
        let mut s = Schedule::new(0, 10_000_000, 100.0, 0.0, Arrival::Burst(10), 1);
        assert_eq!(count_before_end(&mut s), 1000);
        assert_eq!(s.intended_us(10), s.intended_us(19));
        assert_eq!(s.intended_us(20) - s.intended_us(10), 100_000);
    }

    #[test]
    fn poisson_keeps_the_mean_rate_and_repeats_with_its_seed() {
        let mut s = Schedule::new(0, 100_000_000, 100.0, 0.0, Arrival::Poisson, 42);
        let n = count_before_end(&mut s);
        // 10,000 expected; a Poisson count's sd is 100.
        assert!((9_500..=10_500).contains(&n), "{n}");
        let mut a = Schedule::new(0, 1, 100.0, 0.0, Arrival::Poisson, 7);
        let mut b = Schedule::new(0, 1, 100.0, 0.0, Arrival::Poisson, 7);
        assert_eq!(a.intended_us(500), b.intended_us(500));
        let mut c = Schedule::new(0, 1, 100.0, 0.0, Arrival::Poisson, 9);
        let times: Vec<u64> = (0..50).map(|i| c.intended_us(i)).collect();
        let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().any(|g| *g < 5_000) && gaps.iter().any(|g| *g > 20_000), "{gaps:?}");
    }

    #[test]
    fn a_staged_schedule_follows_the_ramp() {
        // 0 → 10 msg/s over 10 s, then 10 msg/s for 10 s; publishing from 1 s.
        let curve = Arc::new(RateCurve::new(0.0, &[(10_000_000, 10.0), (10_000_000, 10.0)]));
        let mut s = Schedule::staged(1_000_000, 21_000_000, curve.clone(), &from(0), 0.0, Arrival::Constant, 1);
        // Message n at √(2n) s into the ramp: 50 in the ramp, 100 in the hold.
        assert_eq!(s.intended_us(2), 3_000_000);
        assert_eq!(s.intended_us(8), 5_000_000);
        assert_eq!(s.due_by(0, 11_000_000), 50);
        assert_eq!(count_before_end(&mut s), 150);
        assert_eq!(s.intended_us(60), 12_000_000);
        // A publisher that joins at 10 s owes only what comes after.
        let mut late =
            Schedule::staged(1_000_000, 21_000_000, curve.clone(), &from(10_000_000), 0.0, Arrival::Constant, 1);
        assert_eq!(late.intended_us(0), 11_000_000);
        assert_eq!(count_before_end(&mut late), 100);
        // Bursts and Poisson arrivals follow the same curve.
        let mut b = Schedule::staged(0, 20_000_000, curve.clone(), &from(0), 0.0, Arrival::Burst(10), 1);
        assert_eq!(count_before_end(&mut b), 150);
        assert_eq!(b.intended_us(10), b.intended_us(19));
        let long = Arc::new(RateCurve::new(0.0, &[(100_000_000, 200.0)]));
        let mut p = Schedule::staged(0, 100_000_000, long.clone(), &from(0), 0.0, Arrival::Poisson, 3);
        let n = count_before_end(&mut p);
        let mut p = Schedule::staged(0, 100_000_000, long, &from(0), 0.0, Arrival::Poisson, 3);
        // 10,000 expected; sd 100. The first half owes a quarter of them.
        assert!((9_500..=10_500).contains(&n), "{n}");
        let first_half = p.due_by(0, 50_000_000);
        assert!((2_250..=2_750).contains(&first_half), "{first_half}");
    }

    #[test]
    fn a_rate_down_to_zero_stops_the_messages() {
        let curve = Arc::new(RateCurve::new(10.0, &[(2_000_000, 0.0), (5_000_000, 0.0)]));
        let mut s = Schedule::staged(0, 7_000_000, curve, &from(0), 0.5, Arrival::Constant, 1);
        // 10 messages owed; places 0.5 … 9.5.
        assert_eq!(count_before_end(&mut s), 10);
        assert_eq!(s.intended_us(10), u64::MAX);
    }

    /// 20 msg/s; the publisher is there 1–3 s and 4 s to the end (6 s):
    /// 40 + 40 messages, none due while it is away, numbered on.
    #[test]
    fn nothing_is_due_while_a_publisher_is_away() {
        let curve = Arc::new(RateCurve::new(20.0, &[(6_000_000, 20.0)]));
        let stays = [
            Presence { join_us: 1_000_000, leave_us: Some(3_000_000) },
            Presence { join_us: 4_000_000, leave_us: None },
        ];
        for offset in [0.0, 0.25, 0.99] {
            let mut s = Schedule::staged(0, 6_000_000, curve.clone(), &stays, offset, Arrival::Constant, 1);
            assert_eq!(count_before_end(&mut s), 80, "offset {offset}");
            assert_eq!(s.due_by(0, 3_500_000), 40, "none due while away");
            let t = s.intended_us(40);
            assert!((4_000_000..4_050_000).contains(&t), "message 40 opens the second stay: {t}");
            assert!(s.intended_us(39) < 3_000_000);
        }
        // A last leave: nothing more is ever due.
        let once = [Presence { join_us: 0, leave_us: Some(2_000_000) }];
        let mut s = Schedule::staged(0, 6_000_000, curve, &once, 0.5, Arrival::Constant, 1);
        assert_eq!(count_before_end(&mut s), 40);
        assert_eq!(s.intended_us(40), u64::MAX);
    }
}
