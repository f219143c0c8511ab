//! Reconnect backoff: `delay`, multiplied by `factor` after every failed
//! attempt up to `max_delay`, each wait spread by ±`jitter` (paho's automatic
//! reconnect: 1 s doubling to 120 s). A successful CONNACK resets it.

use crate::scenario::ReconnectPolicy;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    policy: ReconnectPolicy,
    attempt: u32,
}

impl Backoff {
    pub fn new(policy: ReconnectPolicy) -> Backoff {
        Backoff { policy, attempt: 0 }
    }

    /// The wait before the next attempt; `unit_random` in [0, 1) spreads it.
    pub fn next_delay(&mut self, unit_random: f64) -> Duration {
        let p = &self.policy;
        let base = p.delay.as_secs_f64() * p.factor.powi(self.attempt.min(64) as i32);
        let capped = base.min(p.max_delay.as_secs_f64());
        let spread = 1.0 + p.jitter * (2.0 * unit_random - 1.0);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_secs_f64((capped * spread).max(0.0))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: f64) -> ReconnectPolicy {
        ReconnectPolicy { jitter, ..ReconnectPolicy::default() }
    }

    #[test]
    fn doubles_from_one_second_to_the_cap_and_resets() {
        let mut b = Backoff::new(policy(0.0));
        let waits: Vec<u64> = (0..10).map(|_| b.next_delay(0.5).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        b.reset();
        assert_eq!(b.next_delay(0.9), Duration::from_secs(1));
    }

    #[test]
    fn jitter_spreads_within_bounds() {
        let mut b = Backoff::new(policy(0.2));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(800));
        b.reset();
        assert_eq!(b.next_delay(1.0), Duration::from_millis(1200));
    }

    /// The waits really are taken: with tokio's paused clock, three failed
    /// attempts cost exactly 1 + 2 + 4 seconds.
    #[tokio::test(start_paused = true)]
    async fn waits_follow_the_schedule_in_paused_time() {
        let mut b = Backoff::new(policy(0.0));
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            tokio::time::sleep(b.next_delay(0.5)).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(7));
    }
}
