//! When a publisher's messages are due. Constant rate (the default: message
//! n at start + offset + n/rate, coordinated-omission correct), Poisson
//! arrivals (exponential gaps with mean 1/rate, seeded so a run can be
//! repeated), or bursts (n messages at once every n/rate). Intended times
//! are what e2e latency is measured from.

use rand::{Rng, SeedableRng};

pub use super::Arrival;
use super::{ClientPlan, Plan};

pub struct Schedule {
    start_us: u64,
    offset_us: f64,
    interval_us: f64,
    end_us: u64,
    arrival: Arrival,
    /// Poisson: the last sequence whose time is known, and that time (µs after start + offset).
    cursor: (u64, f64),
    rng: Option<rand::rngs::StdRng>,
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
        }
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
        self.start_us + (self.offset_us + after_start) as u64
    }

    pub fn is_due_before_end(&mut self, seq: u64) -> bool {
        self.intended_us(seq) < self.end_us
    }

    /// The schedule of a planned publisher for publishing that starts at
    /// `start_us` and ends at `end_us` (run clock): one place, used by the
    /// client that publishes and by the analysis that counts what was due.
    pub fn of_publisher(plan: &Plan, client: &ClientPlan, start_us: u64, end_us: u64) -> Option<Schedule> {
        let (p, pi) = (plan.group_of(client).publish.as_ref()?, client.publisher?);
        let publishers = plan.publishers.len().max(1) as f64;
        Some(Schedule::new(
            start_us + p.start_after.as_micros() as u64,
            end_us,
            p.rate,
            pi as f64 / publishers,
            p.arrival,
            plan.run_id ^ (pi as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
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
}
