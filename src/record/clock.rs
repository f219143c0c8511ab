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

    pub fn start_unix_us(&self) -> u64 {
        self.start_unix_us
    }
}

impl Default for RunClock {
    fn default() -> Self {
        Self::new()
    }
}
