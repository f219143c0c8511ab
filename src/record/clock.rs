//! The run clock: every event time in a run is microseconds from one
//! monotonic instant; the payload header carries the same clock shifted to
//! Unix time so that machines can compare.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A message younger than this (or than the slowest delivery a connection
/// saw, if slower) when a connection was last heard from may still have been
/// in transit when it died: it raced the drop. Here, below both readers:
/// the analysis judges losses with it, and a client leaving on plan waits
/// it out so that what it sent last is not called lost.
pub const RACE_MARGIN_US: u64 = 50_000;

#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    start: Instant,
    start_unix_us: u64,
}

impl RunClock {
    pub fn new() -> RunClock {
        let start_unix_us = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        RunClock { start: Instant::now(), start_unix_us }
    }

    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    pub fn unix_us(&self, run_us: u64) -> u64 {
        self.start_unix_us + run_us
    }

    pub fn instant_at(&self, run_us: u64) -> Instant {
        self.start + std::time::Duration::from_micros(run_us)
    }

    /// A CLOCK_REALTIME time (Unix ns, a kernel receive timestamp) as
    /// run-clock µs; None before the run's start. The offset is the one
    /// taken at the start (`start_unix_us`), which the payload header's
    /// times use too, so e2e compares like with like. It holds over a run:
    /// NTP slews CLOCK_REALTIME and CLOCK_MONOTONIC (the run clock's
    /// `Instant`) at the same rate; only a step of the wall clock (settimeofday)
    /// would move them apart, and that moves the header's times just as much.
    /// The caller clamps a stamp to its own "now" (a stamp is never later).
    pub fn run_us_of_unix_ns(&self, unix_ns: u64) -> Option<u64> {
        (unix_ns / 1000).checked_sub(self.start_unix_us)
    }

    pub fn start_unix_us(&self) -> u64 {
        self.start_unix_us
    }
}

impl Default for RunClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_timestamp_turns_into_run_clock_microseconds() {
        let clock = RunClock { start: Instant::now(), start_unix_us: 1_765_000_000_000_000 };
        // 2.5 s and 1,999 ns after the start: 2,500,001 µs (ns truncated).
        assert_eq!(clock.run_us_of_unix_ns(1_765_000_002_500_001_999), Some(2_500_001));
        assert_eq!(clock.run_us_of_unix_ns(1_765_000_000_000_000_000), Some(0));
        assert_eq!(clock.run_us_of_unix_ns(1_764_999_999_999_999_000), None, "before the start");
        // And back: the same Unix µs the header's times are compared in.
        assert_eq!(clock.unix_us(2_500_001), 1_765_000_002_500_001);
    }
}
