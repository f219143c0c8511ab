//! Time series that stay the same size however long a run goes on: a
//! series holds at most `capacity` points; when it is full, adjacent pairs
//! are merged exactly (counts summed, the later instant's values kept) and
//! the resolution doubles, so a day-long soak keeps as many points as an
//! hour — each covering more time — and its memory is fixed at the start.
//!
//! At most `MAX_POINTS` (3,600) points, memory allocated and written up front.
//! When full, adjacent points merge by `Rollup::absorb`: a `TimePoint`'s counts
//! add and its `span_s` too, instants keep the later value, CPU is the
//! time-weighted mean, e2e p99 the larger; a `SysPoint` keeps the later round.

use super::{SysPoint, TimePoint};
use serde::{Deserialize, Serialize};

/// Points a series keeps before it rolls up: an hour of seconds.
pub const MAX_POINTS: usize = 3_600;

/// A point that can absorb the one after it (the two adjacent in time).
pub trait Rollup: Clone {
    /// `self` followed by `later`, as one point ending where `later` ends.
    fn absorb(&mut self, later: &Self);
    /// A point that stands for none (it fills the series' memory up front).
    fn blank() -> Self;
}

impl Rollup for TimePoint {
    /// Counts over the interval add; what is read at an instant (connected,
    /// RSS) is the later one's; CPU % is the mean weighted by time; the
    /// e2e p99 of the merged interval is not known from two p99s, so the
    /// larger is kept: an upper bound, never an understatement.
    fn absorb(&mut self, later: &Self) {
        let (a, b) = (self.span_s, later.span_s);
        let mean = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) if a + b > 0.0 => Some(((x * a + y * b) / (a + b) * 10.0).round() / 10.0),
            (x, y) => y.or(x),
        };
        self.t_s = later.t_s;
        self.span_s = ((a + b) * 10.0).round() / 10.0;
        self.connected = later.connected;
        self.published += later.published;
        self.received += later.received;
        self.e2e_p99_us = self.e2e_p99_us.max(later.e2e_p99_us);
        self.midge_cpu_pct = mean(self.midge_cpu_pct, later.midge_cpu_pct);
        self.midge_rss_kib = later.midge_rss_kib.or(self.midge_rss_kib);
        self.broker_cpu_pct = mean(self.broker_cpu_pct, later.broker_cpu_pct);
        self.broker_rss_kib = later.broker_rss_kib.or(self.broker_rss_kib);
    }

    fn blank() -> Self {
        TimePoint {
            // Not all zero bits: the fill must write (a zeroed allocation
            // may be left to the kernel's untouched zero pages).
            t_s: -1.0,
            span_s: 0.0,
            connected: 0,
            published: 0,
            received: 0,
            e2e_p99_us: None,
            midge_cpu_pct: None,
            midge_rss_kib: None,
            broker_cpu_pct: None,
            broker_rss_kib: None,
        }
    }
}

impl Rollup for SysPoint {
    /// The broker's counters are cumulative: the later round says it all.
    fn absorb(&mut self, later: &Self) {
        *self = *later;
    }

    fn blank() -> Self {
        SysPoint { t_s: -1.0, ..Default::default() }
    }
}

/// A series of at most `capacity` points at one resolution: `every` raw
/// points make one kept point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series<P> {
    points: Vec<P>,
    /// The point being filled: `pending.1` raw points so far.
    pending: Option<(P, usize)>,
    /// Raw points per kept point (doubles at each roll-up).
    every: usize,
    capacity: usize,
}

impl<P: Rollup> Series<P> {
    /// A series of at most `capacity` (≥ 2) points, allocated and written
    /// up front: its pages are resident from the start, so a soak's memory
    /// does not creep up as the series fills.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2);
        let mut points = vec![P::blank(); capacity];
        points.clear();
        Series { points, pending: None, every: 1, capacity }
    }

    /// Adds the next raw point.
    pub fn push(&mut self, p: P) {
        let (acc, n) = match self.pending.take() {
            Some((mut acc, n)) => {
                acc.absorb(&p);
                (acc, n + 1)
            }
            None => (p, 1),
        };
        if n < self.every {
            self.pending = Some((acc, n));
            return;
        }
        if self.points.len() == self.capacity {
            self.halve();
            // Now `every` is twice what `acc` holds: it goes on filling.
            self.pending = Some((acc, n));
            return;
        }
        self.points.push(acc);
    }

    /// Merges adjacent pairs in place; the resolution doubles.
    fn halve(&mut self) {
        let n = self.points.len();
        for i in 0..n / 2 {
            let mut merged = self.points[2 * i].clone();
            merged.absorb(&self.points[2 * i + 1]);
            self.points[i] = merged;
        }
        if n % 2 == 1 {
            self.points.swap(n / 2, n - 1);
        }
        self.points.truncate(n.div_ceil(2));
        self.every *= 2;
    }

    /// Raw points per kept point.
    pub fn every(&self) -> usize {
        self.every
    }

    /// The points so far, the one being filled included.
    pub fn to_vec(&self) -> Vec<P> {
        let mut v = self.points.clone();
        v.extend(self.pending.as_ref().map(|(p, _)| p.clone()));
        v
    }

    /// The points, the one being filled included.
    pub fn into_vec(mut self) -> Vec<P> {
        self.points.extend(self.pending.map(|(p, _)| p));
        self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: u64, published: u64, p99: u64) -> TimePoint {
        TimePoint {
            t_s: t as f64,
            span_s: 1.0,
            connected: t as i64,
            published,
            received: 2 * published,
            e2e_p99_us: Some(p99),
            midge_cpu_pct: Some(10.0),
            midge_rss_kib: Some(1000 + t),
            broker_cpu_pct: None,
            broker_rss_kib: None,
        }
    }

    #[test]
    fn a_long_series_keeps_its_size_and_its_sums() {
        let mut s = Series::new(8);
        for t in 1..=100u64 {
            s.push(point(t, t, t * 10));
        }
        // 100 raw points at most 8 kept: 16 raw points each, the last one
        // being filled (4 raw points).
        assert_eq!(s.every(), 16);
        let v = s.to_vec();
        assert_eq!(v.len(), 7);
        assert_eq!(v.iter().map(|p| p.published).sum::<u64>(), 5050);
        assert_eq!(v.iter().map(|p| p.received).sum::<u64>(), 10100);
        assert_eq!(v.iter().map(|p| p.span_s).sum::<f64>(), 100.0);
        assert_eq!(v[0].t_s, 16.0);
        assert_eq!(v[0].span_s, 16.0);
        assert_eq!(v[0].published, (1..=16).sum::<u64>());
        assert_eq!(v[0].e2e_p99_us, Some(160));
        assert_eq!(v[0].connected, 16);
        assert_eq!(v[0].midge_rss_kib, Some(1016));
        assert_eq!(v[0].midge_cpu_pct, Some(10.0));
        let last = v.last().unwrap();
        assert_eq!((last.t_s, last.span_s, last.published), (100.0, 4.0, 97 + 98 + 99 + 100));
        assert_eq!(s.points.capacity(), 8, "never reallocated");
    }

    #[test]
    fn broker_rounds_keep_the_later_counters() {
        let mut s = Series::new(4);
        for t in 0..10u64 {
            s.push(SysPoint { t_s: t as f64, received: Some(t * 100), ..Default::default() });
        }
        let v = s.into_vec();
        assert_eq!(v.len(), 3);
        assert_eq!(v.iter().map(|p| p.received.unwrap()).collect::<Vec<_>>(), vec![300, 700, 900]);
    }
}
