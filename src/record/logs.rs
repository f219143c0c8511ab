//! What publishers got out and subscribers received, kept per client while
//! the run goes on (no sharing on the hot path) and saved in the run record:
//! compact range sets of sequence numbers and a step function of send times.
//!
//! `RangeSet`: sorted disjoint ranges of sequence numbers; in-order delivery
//! keeps one range, so an insert is O(1). `RxLog`: per publisher's stream a
//! `StreamRx` (received, duplicates, reorders, the quickest one-way time for a
//! merge's clock bounds), plus `stale`, `foreign`, `retained_replays`,
//! `retained_from` (this run's replays by publisher index), `stale_retained`
//! (an earlier run's) and `wills` (`WillRx`: client, connection, arrival of
//! each will of this run). `PublishLog`: `sent` (`SendTimes`), `got_out`,
//! `in_doubt`.
//!
//! Send times (`SendTimes`) are a piecewise-linear function of the sequence
//! number, kept by swinging-door compression: a new point only when no straight
//! line from the last one fits every send since within its band. The band is
//! one-sided: a recorded time is never later than the real one (nothing sent
//! before a SUBACK is taken for sent after it) and at most 1 ms earlier, far
//! inside the 50 ms a live window leaves for messages that raced a drop. A
//! publisher on schedule keeps a handful of points whatever it sends, so memory
//! stays flat over a soak.
//!
//! Sends that jitter past the band each start a segment, so a log keeps at most
//! `MAX_SEGMENTS` (64): past that its band widens fourfold (4 ms, 16 ms, 64 ms,
//! …) and its segments are compressed again to the wider band (`widen`, over
//! the old line's vertices: the old line is straight between them, so a new
//! line within (new − old band) under them keeps every message within the new
//! band), until half are left. A late point that breaks a segment opens the
//! next as low as the band lets, nearer the trend the following sends keep, so
//! one late wake-up costs one segment, not two. Memory per publisher is bounded
//! whatever the jitter (reserved at its bound, `FULL_BYTES`, at the first
//! send); jitter costs precision, and the log keeps how much (`widened_us`):
//! the tally then ends the subscriber's trust at a drop that much earlier for
//! that publisher's stream (`analysis::windows::trust_less`), so a message
//! recorded up to the band early is never taken for sent before the drop.
//!
//! In doubt: QoS 1/2 publishes unacknowledged when their session is gone go to
//! `in_doubt`, outside `got_out`: never expected, never lost.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A set of u64 kept as sorted, disjoint, non-adjacent half-open ranges.
/// In-order delivery keeps it at one range, whatever the count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RangeSet {
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Inserts `x`; returns false when it was already present.
    pub fn insert(&mut self, x: u64) -> bool {
        // Fast path: extends the last range (in-order delivery).
        if let Some(last) = self.ranges.last_mut() {
            if last.1 == x {
                last.1 += 1;
                return true;
            }
            if x >= last.0 && x < last.1 {
                return false;
            }
            if x > last.1 {
                self.ranges.push((x, x + 1));
                return true;
            }
        } else {
            self.ranges.push((x, x + 1));
            return true;
        }
        // First range whose end is >= x.
        let i = self.ranges.partition_point(|&(_, end)| end < x);
        let (start, end) = self.ranges[i];
        if x >= start && x < end {
            return false;
        }
        if end == x {
            self.ranges[i].1 += 1;
            if i + 1 < self.ranges.len() && self.ranges[i + 1].0 == x + 1 {
                self.ranges[i].1 = self.ranges[i + 1].1;
                self.ranges.remove(i + 1);
            }
        } else if start == x + 1 {
            self.ranges[i].0 = x;
        } else {
            self.ranges.insert(i, (x, x + 1));
        }
        true
    }

    /// Inserts every member of [start, end) at once, merging what it
    /// touches (for long spans: no loop over the members).
    pub fn insert_span(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // The ranges that overlap or touch [start, end) are replaced by one.
        let first = self.ranges.partition_point(|&(_, e)| e < start);
        let last = self.ranges.partition_point(|&(s, _)| s <= end);
        let (mut a, mut b) = (start, end);
        if first < last {
            a = a.min(self.ranges[first].0);
            b = b.max(self.ranges[last - 1].1);
        }
        self.ranges.splice(first..last, [(a, b)]);
    }

    pub fn insert_range(&mut self, start: u64, end: u64) {
        for x in start..end {
            self.insert(x);
        }
    }

    pub fn contains(&self, x: u64) -> bool {
        let i = self.ranges.partition_point(|&(_, end)| end <= x);
        i < self.ranges.len() && self.ranges[i].0 <= x
    }

    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Inserts `x` while fewer than `MAX_KEPT_RANGES` ranges are kept (or
    /// when it joins one): a bounded record of rare events.
    pub fn insert_bounded(&mut self, x: u64) {
        // The first range ending at or after x: x joins it if it starts by x + 1.
        let i = self.ranges.partition_point(|&(_, end)| end < x);
        let joins = self.ranges.get(i).is_some_and(|&(start, _)| start <= x + 1);
        if self.ranges.len() < MAX_KEPT_RANGES || joins {
            self.insert(x);
        }
    }

    /// How many members `self` and `other` have in common.
    pub fn count_common(&self, other: &RangeSet) -> u64 {
        self.ranges.iter().map(|&(a, b)| other.count_within(a, b)).sum()
    }

    /// The largest member in [start, end).
    pub fn last_within(&self, start: u64, end: u64) -> Option<u64> {
        let i = self.ranges.partition_point(|&(a, _)| a < end);
        self.ranges[..i].last().map(|&(_, b)| b.min(end) - 1).filter(|&m| m >= start)
    }

    /// How many members fall in [start, end).
    pub fn count_within(&self, start: u64, end: u64) -> u64 {
        self.ranges.iter().map(|&(a, b)| b.min(end).saturating_sub(a.max(start))).sum()
    }

    /// The members of `self` ∩ [start, end) that are not in `other`.
    pub fn missing_from(&self, other: &RangeSet, start: u64, end: u64) -> RangeSet {
        let mut out = RangeSet::new();
        for &(a, b) in &self.ranges {
            let (a, b) = (a.max(start), b.min(end));
            let mut x = a;
            while x < b {
                // Skip over what `other` holds.
                let i = other.ranges.partition_point(|&(_, e)| e <= x);
                match other.ranges.get(i) {
                    Some(&(os, oe)) if os <= x => x = oe.min(b),
                    Some(&(os, _)) => {
                        let stop = os.min(b);
                        out.ranges.push((x, stop));
                        x = stop;
                    }
                    None => {
                        out.ranges.push((x, b));
                        x = b;
                    }
                }
            }
        }
        out.ranges.dedup();
        out
    }
}

/// What one subscriber saw of one publisher.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamRx {
    pub received: RangeSet,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub max_seen: Option<u64>,
    /// The quickest delivery: receipt minus the publisher's send time, µs,
    /// each on its own machine's clock (negative when the clocks differ by
    /// more than the delay). Across shards, the two directions' minima bound
    /// the clocks' offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_one_way_us: Option<i64>,
    /// The slowest delivery, measured as `min_one_way_us` is (a backlog
    /// queued while the subscriber was away included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_one_way_us: Option<i64>,
    /// The sequence numbers that arrived below the highest seen (counted in
    /// `out_of_order`), kept up to `MAX_KEPT_RANGES` ranges: the tally
    /// takes out those the publisher itself sent again (`PublishLog::resent`).
    #[serde(default, skip_serializing_if = "RangeSet::is_empty")]
    pub reordered: RangeSet,
    /// (sequence, run-clock µs taken in) of each message that arrived above
    /// a gap — past `max_seen` + 1 — in order of arrival, up to
    /// `MAX_KEPT_RANGES`: the first arrival above a missing message is the
    /// latest moment a broker keeping the topic's order came to it (the
    /// tally's expiry excuse, `tally::expired_before_its_successor`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub above_gaps: Vec<(u64, u64)>,
}

/// Most ranges `StreamRx::reordered` and `PublishLog::resent` keep, so
/// memory stays flat whatever the broker or the network does.
pub const MAX_KEPT_RANGES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxOutcome {
    InOrder,
    OutOfOrder,
    Duplicate,
}

impl StreamRx {
    pub fn note_one_way(&mut self, us: i64) {
        self.min_one_way_us = Some(self.min_one_way_us.map_or(us, |m| m.min(us)));
        self.max_one_way_us = Some(self.max_one_way_us.map_or(us, |m| m.max(us)));
    }

    /// Takes in `seq` at `at_us` (run clock).
    pub fn record(&mut self, seq: u64, at_us: u64) -> RxOutcome {
        if !self.received.insert(seq) {
            self.duplicated += 1;
            return RxOutcome::Duplicate;
        }
        match self.max_seen {
            Some(m) if seq < m => {
                self.out_of_order += 1;
                self.reordered.insert_bounded(seq);
                RxOutcome::OutOfOrder
            }
            last => {
                let above_gap = last.map_or(seq > 0, |m| seq > m + 1);
                if above_gap && self.above_gaps.len() < MAX_KEPT_RANGES {
                    self.above_gaps.push((seq, at_us));
                }
                self.max_seen = Some(seq);
                RxOutcome::InOrder
            }
        }
    }
}

/// Everything one subscriber received, by publisher index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxLog {
    pub streams: HashMap<u32, StreamRx>,
    /// midge messages from another run (retained or queued earlier).
    pub stale: u64,
    /// Messages without midge's header.
    pub foreign: u64,
    /// Deliveries with the RETAIN flag: replays of a retained message on
    /// subscribe, which the protocol requires — never duplicates, never
    /// latency samples.
    #[serde(default)]
    pub retained_replays: u64,
    /// Of `retained_replays`, those taken in on a connection that resumed
    /// its session and subscribed again: the subscription existed there
    /// (under retain handling 1 the broker owed none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replays_on_existing: u64,
    /// The retained replays of this run by publisher index (its topic).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retained_from: BTreeMap<u32, u32>,
    /// Retained replays from another run (left on the broker earlier);
    /// also counted in `stale`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stale_retained: u64,
    /// Last wills of this run's clients received, in order of arrival.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wills: Vec<WillRx>,
    /// Connections (timeline indices) back on a resumed session after
    /// publishes whose backlog never began: still awaited
    /// (`Metrics::awaiting_backlog`) when the connection ended, nothing
    /// delivered on it (finding `queue_withheld`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backlog_never_began: Vec<u32>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One last will received: whose connection left it, and when it came.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WillRx {
    /// The client that left it (plan index) and its connection (timeline index).
    pub client: u32,
    pub connection: u32,
    /// Run-clock µs.
    pub at_us: u64,
}

/// When each sequence number was first written, kept as a piecewise-linear
/// function of the sequence number with a one-sided error: a message's
/// recorded time is never later than its real one and at most
/// `RESOLUTION_US` earlier — far inside the 50 ms a live window already
/// leaves for messages that raced a drop, and never late, so nothing sent
/// before a SUBACK is ever taken for sent after it. A segment grows while one
/// straight line fits every message in it (swinging-door compression); the
/// next starts exactly at the first message that does not fit. A publisher
/// that keeps its schedule keeps a handful of segments whatever it sends, so
/// a day-long soak stays flat; a burst that fits in the resolution is one
/// flat segment.
///
/// Sends that jitter past the band (a loaded machine wakes a publisher
/// late now and then) each start a segment, and those would grow with the
/// run. So a log keeps at most `MAX_SEGMENTS`: past that its band widens
/// fourfold (4 ms, 16 ms, 64 ms, …) and the segments so far are compressed
/// again to the wider band (`widen`), as often as needed to get back to
/// half. Memory per publisher is bounded whatever the jitter; what jitter
/// costs is precision. The widening beyond the resolution (`widened_us`) is kept, and
/// the analysis ends a subscriber's trust that much earlier for this
/// publisher's stream (`windows::Connected::slowest_delivery_us`, raised in
/// `tally`), so a message recorded up to the band early is never taken for
/// sent inside a window it was really sent after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendTimes {
    /// (first sequence, its recorded time — exact, or as far under it as the
    /// band lets when it was late —, the time the line gives the
    /// segment's last sequence), run-clock µs; a segment ends where the
    /// next begins (the last one at `len - 1`).
    segments: Vec<(u64, u64, u64)>,
    /// The slopes (µs per message) from the open segment's start that keep
    /// every message in it within its band: the steepest and the shallowest.
    hi: f64,
    lo: f64,
    len: u64,
    /// Run-clock µs of the last message (for the pace while sending).
    last_us: u64,
    /// How far the band has widened beyond `RESOLUTION_US` (0: never).
    #[serde(default)]
    widened_us: u64,
    /// The last sequence in the open (last) segment.
    #[serde(default)]
    open_last: u64,
}

impl SendTimes {
    pub const RESOLUTION_US: u64 = 1_000;
    /// The band the compression keeps to, a little inside the resolution
    /// so that integer rounding never crosses it.
    const BAND_US: f64 = (Self::RESOLUTION_US - 2) as f64;
    /// Segments a log keeps before its band widens (24 bytes each).
    pub const MAX_SEGMENTS: usize = 64;

    /// How much earlier than its real time a message may be recorded,
    /// beyond `RESOLUTION_US` (0 unless sends jittered past the band often).
    pub fn widened_us(&self) -> u64 {
        self.widened_us
    }

    /// Notes the next sequence number, written at `t_us` (non-decreasing).
    pub fn push(&mut self, t_us: u64) {
        if self.segments.capacity() == 0 {
            // The log's whole bound at once: a vector doubling as its
            // publisher falls behind would creep up for the run's first
            // minutes (docs/PERFORMANCE.md, "Soak memory").
            self.segments.reserve_exact(Self::MAX_SEGMENTS + 1);
        }
        let seq = self.len;
        self.len += 1;
        self.last_us = t_us;
        let band = Self::BAND_US + self.widened_us as f64;
        if self.add(seq, t_us, band) && self.segments.len() > Self::MAX_SEGMENTS {
            self.widen();
        }
    }

    /// Puts (`seq`, `t_us`) on the open segment if one straight line from
    /// its start still fits every point within `band` below it; else opens
    /// a segment there (and says so).
    fn add(&mut self, seq: u64, t_us: u64, band: f64) -> bool {
        let Some(&(s0, t0, _)) = self.segments.last() else {
            self.segments.push((seq, t_us, t_us));
            self.open_last = seq;
            return true;
        };
        // The slopes from the segment's start that put this point in its band.
        let d = (seq - s0) as f64;
        let rise = t_us as f64 - t0 as f64;
        let (lo, hi) = ((rise - band) / d, rise / d);
        let (lo, hi) = if self.open_last == s0 { (lo, hi) } else { (self.lo.max(lo), self.hi.min(hi)) };
        self.open_last = seq;
        if lo <= hi {
            (self.lo, self.hi) = (lo, hi);
            let end = t0 + (hi.max(0.0) * d).floor() as u64;
            self.segments.last_mut().expect("checked").2 = end;
            false
        } else {
            // A point above the band (late) opens its segment as low as the
            // band lets it, nearer the trend the next points will follow;
            // a point below the line (early) at its own time.
            let trend = t0 as f64 + self.hi.max(0.0) * d;
            let anchor = if t_us as f64 - band > trend { t_us - band.max(0.0).floor() as u64 } else { t_us };
            self.segments.push((seq, anchor, anchor));
            true
        }
    }

    /// Too many segments: the band widens fourfold and the segments so far
    /// are compressed again, until at most half of `MAX_SEGMENTS` are left.
    /// The old line is never above the truth and at most the old band below
    /// it, and it is straight between its vertices: a new line never above
    /// the vertices and at most (new band − old band) below them keeps every
    /// message within the new band.
    fn widen(&mut self) {
        while self.segments.len() > Self::MAX_SEGMENTS / 2 {
            let old_band = Self::RESOLUTION_US + self.widened_us;
            let new_band = old_band * 4;
            let mut again = SendTimes {
                segments: Vec::with_capacity(Self::MAX_SEGMENTS + 1),
                len: self.len,
                last_us: self.last_us,
                widened_us: new_band - Self::RESOLUTION_US,
                ..Default::default()
            };
            // A few µs inside: each pass rounds down once more.
            let band = (new_band - old_band) as f64 - 4.0;
            for (seq, t) in self.vertices() {
                let before = again.open_last;
                let opened = again.add(seq, t, band);
                if opened && again.segments.len() > 1 && seq > before + 1 {
                    // Segments must follow on without a gap (a segment's
                    // line runs to the one before the next): the new one
                    // starts right after the last point, on the old line.
                    again.segments.pop();
                    let s = before + 1;
                    let t_s = self.time_of(s);
                    again.segments.push((s, t_s, t_s));
                    again.open_last = s;
                    again.add(seq, t, band);
                }
            }
            *self = again;
        }
    }

    /// Every segment's first and last point on the line.
    fn vertices(&self) -> Vec<(u64, u64)> {
        let mut v = Vec::with_capacity(2 * self.segments.len());
        for (i, &(s0, t0, t_end)) in self.segments.iter().enumerate() {
            v.push((s0, t0));
            let last = self.segments.get(i + 1).map_or(self.len.saturating_sub(1), |next| next.0 - 1);
            if last > s0 {
                v.push((last, t_end));
            }
        }
        v
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// When `seq` was written (never later than it was, at most
    /// `RESOLUTION_US` earlier).
    pub fn time_of(&self, seq: u64) -> u64 {
        let i = self.segments.partition_point(|&(first, _, _)| first <= seq).saturating_sub(1);
        let (s0, t0, t_end) = self.segments[i];
        let last = self.segments.get(i + 1).map_or(self.len.saturating_sub(1), |next| next.0 - 1);
        if last <= s0 {
            return t0;
        }
        t0 + ((t_end - t0) as u128 * (seq.min(last) - s0) as u128 / (last - s0) as u128) as u64
    }

    /// First and last write times (µs), when anything was written.
    pub fn span(&self) -> Option<(u64, u64)> {
        self.segments.first().map(|&(_, first, _)| (first, self.last_us))
    }

    /// The first sequence whose recorded time is at or after `t_us` (`len` if none).
    fn first_at_or_after(&self, t_us: u64) -> u64 {
        self.first_seq_where(|t| t >= t_us)
    }

    /// The first sequence whose recorded time is after `t_us` (`len` if none).
    fn first_after(&self, t_us: u64) -> u64 {
        self.first_seq_where(|t| t > t_us)
    }

    /// The first sequence whose recorded time passes `test` (times never
    /// decrease, so a binary search over the sequence numbers finds it).
    fn first_seq_where(&self, test: impl Fn(u64) -> bool) -> u64 {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if test(self.time_of(mid)) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// The same log on a clock `by_us` later (a shard's clock moved onto
    /// the merged run's).
    pub fn shift(&mut self, by_us: u64) {
        for (_, t0, t_end) in &mut self.segments {
            *t0 += by_us;
            *t_end += by_us;
        }
        if !self.segments.is_empty() {
            self.last_us += by_us;
        }
    }

    /// Segments kept (what the log costs grows with these).
    pub fn points(&self) -> usize {
        self.segments.len()
    }

    /// Bytes a log holds from its first message on (24 per segment).
    pub const FULL_BYTES: usize = (Self::MAX_SEGMENTS + 1) * std::mem::size_of::<(u64, u64, u64)>();

    /// Bytes this log holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.segments.capacity() * std::mem::size_of::<(u64, u64, u64)>()
    }
}

/// Everything one publisher got out, by sequence number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublishLog {
    pub qos: u8,
    /// When each sequence number was first written.
    pub sent: SendTimes,
    /// QoS 0: written to the socket. QoS 1/2: acknowledged (PUBACK / PUBCOMP).
    pub got_out: RangeSet,
    /// QoS 1/2 written but never acknowledged before the connection ended.
    pub in_doubt: RangeSet,
    /// Sent again by the publisher itself (a PUBLISH with DUP: `retry_interval`,
    /// or a resumed session), up to `MAX_KEPT_RANGES` ranges: such a copy
    /// arriving below the highest sequence is no reordering by the broker.
    #[serde(default, skip_serializing_if = "RangeSet::is_empty")]
    pub resent: RangeSet,
}

impl PublishLog {
    pub fn new(qos: u8) -> Self {
        PublishLog { qos, ..Default::default() }
    }

    pub fn published(&self) -> u64 {
        self.sent.len()
    }

    /// Sequence numbers first written within [start_us, end_us] (to the
    /// resolution of `SendTimes`).
    pub fn seqs_sent_between(&self, start_us: u64, end_us: u64) -> (u64, u64) {
        let a = self.sent.first_at_or_after(start_us);
        let b = self.sent.first_after(end_us);
        (a, b.max(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_rangeset_keeps_its_ranges_and_still_grows_the_ones_it_has() {
        let mut r = RangeSet::new();
        for k in 0..MAX_KEPT_RANGES as u64 + 10 {
            r.insert_bounded(k * 10);
        }
        assert_eq!(r.ranges().len(), MAX_KEPT_RANGES);
        // Next to a kept range (either side): kept; a new range: not.
        r.insert_bounded(11);
        r.insert_bounded(19);
        r.insert_bounded(15);
        assert_eq!((r.ranges().len(), r.ranges()[1], r.len()), (MAX_KEPT_RANGES, (10, 12), MAX_KEPT_RANGES as u64 + 2));
        let mut other = RangeSet::new();
        other.insert_span(5, 25);
        assert_eq!(r.count_common(&other), 4, "10, 11, 19, 20");
    }

    #[test]
    fn the_last_member_within_a_span() {
        let mut r = RangeSet::new();
        r.insert_span(5, 10);
        r.insert_span(20, 30);
        assert_eq!(r.last_within(0, 100), Some(29));
        assert_eq!(r.last_within(0, 25), Some(24));
        assert_eq!(r.last_within(0, 20), Some(9));
        assert_eq!(r.last_within(10, 20), None);
        assert_eq!(r.last_within(7, 8), Some(7));
        assert_eq!(r.last_within(0, 5), None);
    }

    #[test]
    fn rangeset_merges_and_counts() {
        let mut r = RangeSet::new();
        for x in [0, 1, 2, 5, 4, 3, 10, 8, 9] {
            assert!(r.insert(x));
        }
        assert_eq!(r.ranges(), &[(0, 6), (8, 11)]);
        assert!(!r.insert(4));
        assert!(!r.insert(10));
        assert!(r.contains(9) && !r.contains(7) && !r.contains(11));
        assert_eq!(r.len(), 9);
        assert_eq!(r.count_within(4, 9), 3);
        assert!(r.insert(7));
        assert_eq!(r.ranges(), &[(0, 6), (7, 11)]);
        assert!(r.insert(6));
        assert_eq!(r.ranges(), &[(0, 11)]);
    }

    #[test]
    fn spans_merge_what_they_touch() {
        let mut r = RangeSet::new();
        r.insert_span(10, 20);
        r.insert_span(30, 40);
        r.insert_span(20, 25);
        assert_eq!(r.ranges(), &[(10, 25), (30, 40)]);
        r.insert_span(5, 35);
        assert_eq!(r.ranges(), &[(5, 40)]);
        r.insert_span(50, 50);
        assert_eq!(r.ranges(), &[(5, 40)]);
        r.insert_span(0, 2);
        assert_eq!(r.len(), 37);
    }

    #[test]
    fn rangeset_random_inserts_match_a_btreeset() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut r = RangeSet::new();
        let mut b = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let x = rng.gen_range(0..400);
            assert_eq!(r.insert(x), b.insert(x));
        }
        assert_eq!(r.len(), b.len() as u64);
        for w in r.ranges().windows(2) {
            assert!(w[0].1 < w[1].0, "ranges must stay disjoint and non-adjacent");
        }
        let mut other = RangeSet::new();
        other.insert_range(0, 400);
        let missing = other.missing_from(&r, 0, 400);
        assert_eq!(missing.len(), 400 - b.len() as u64);
        for x in 0..400 {
            assert_eq!(missing.contains(x), !b.contains(&x));
        }
    }

    #[test]
    fn stream_rx_counts_duplicates_and_reorder() {
        let mut s = StreamRx::default();
        assert_eq!(s.record(0, 10), RxOutcome::InOrder);
        assert_eq!(s.record(2, 20), RxOutcome::InOrder);
        assert_eq!(s.record(1, 30), RxOutcome::OutOfOrder);
        assert_eq!(s.record(2, 40), RxOutcome::Duplicate);
        assert_eq!((s.duplicated, s.out_of_order, s.received.len()), (1, 1, 3));
        // 2 came above the gap at 1; the late 1 closed it from below.
        assert_eq!(s.above_gaps, vec![(2, 20)]);
    }

    #[test]
    fn the_first_arrival_above_each_gap_is_kept_in_order_bounded() {
        let mut s = StreamRx::default();
        for (seq, at) in [(3, 100), (4, 110), (9, 200), (10, 210), (7, 220), (12, 300)] {
            s.record(seq, at);
        }
        // 0–2 missing below 3 (a stream that starts late), 5–8 below 9, 11 below 12.
        assert_eq!(s.above_gaps, vec![(3, 100), (9, 200), (12, 300)]);
        let mut s = StreamRx::default();
        for k in 0..(MAX_KEPT_RANGES as u64 + 10) {
            s.record(2 * k + 1, k);
        }
        assert_eq!(s.above_gaps.len(), MAX_KEPT_RANGES);
    }

    #[test]
    fn a_steady_publisher_keeps_a_handful_of_points_whatever_it_sends() {
        let mut sent = SendTimes::default();
        // 1,000,000 messages one microsecond apart, then 3,000,000 at 10 per
        // second with 0.3 ms of jitter: straight lines, within the band.
        for seq in 0..1_000_000u64 {
            sent.push(seq);
        }
        assert_eq!(sent.points(), 1);
        assert_eq!(sent.time_of(1_999), 1_999);
        let log = PublishLog { qos: 0, sent: sent.clone(), ..Default::default() };
        assert_eq!(log.seqs_sent_between(1_000, 2_999), (1_000, 3_000));
        assert_eq!(log.seqs_sent_between(5_000_000, 6_000_000), (1_000_000, 1_000_000));
        let start = 10_000_000u64;
        for k in 0..3_000_000u64 {
            sent.push(start + k * 100_000 + (k * 7919 % 300));
        }
        assert!(sent.points() <= 8, "{} points for 4,000,000 messages", sent.points());
        assert_eq!(sent.heap_bytes(), SendTimes::FULL_BYTES, "reserved at its bound, never more");
    }

    #[test]
    fn recorded_times_are_never_late_and_at_most_the_resolution_early() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut sent = SendTimes::default();
        let mut truth = Vec::new();
        let mut t = 0u64;
        for _ in 0..20_000 {
            // Bursts, pauses and jitter: gaps from 0 to 20 ms.
            t += if rng.gen_bool(0.1) { rng.gen_range(0..20_000) } else { rng.gen_range(0..300) };
            truth.push(t);
            sent.push(t);
        }
        // So irregular a log widens its band (a real publisher keeps to its
        // schedule far better): the bound is the band it ended with.
        let band = SendTimes::RESOLUTION_US + sent.widened_us();
        let mut prev = 0;
        for (seq, &real) in truth.iter().enumerate() {
            let recorded = sent.time_of(seq as u64);
            assert!(recorded <= real && real - recorded <= band, "seq {seq}: {recorded} vs {real}");
            assert!(recorded >= prev, "times never go back");
            prev = recorded;
        }
        // A window takes every message sent in it a resolution after its
        // start, and none sent before its start or after its end.
        let log = PublishLog { qos: 0, sent, ..Default::default() };
        let (start, end) = (truth[5_000], truth[6_000]);
        let (a, b) = log.seqs_sent_between(start, end);
        for (seq, &real) in truth.iter().enumerate() {
            let inside = (a..b).contains(&(seq as u64));
            if inside {
                assert!(real >= start && real <= end + band, "seq {seq} at {real}");
            }
            if real >= start + band && real <= end {
                assert!(inside, "seq {seq} at {real} is in [{start}, {end}]");
            }
        }
    }

    #[test]
    fn jitter_widens_the_band_and_the_segments_stay_bounded() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut sent = SendTimes::default();
        let mut truth = Vec::new();
        // 10 msg/s for 10 hours; one send in 20 wakes 2–12 ms late.
        for k in 0..360_000u64 {
            let late = if rng.gen_bool(0.05) { rng.gen_range(2_000..12_000) } else { rng.gen_range(0..300) };
            let t = k * 100_000 + late;
            truth.push(t);
            sent.push(t);
        }
        assert!((3_000..=63_000).contains(&sent.widened_us()), "widened {} µs", sent.widened_us());
        assert!(sent.points() <= SendTimes::MAX_SEGMENTS, "{} segments", sent.points());
        for (seq, &real) in truth.iter().enumerate() {
            let recorded = sent.time_of(seq as u64);
            let band = SendTimes::RESOLUTION_US + sent.widened_us();
            assert!(recorded <= real && real - recorded <= band, "seq {seq}: {recorded} vs {real}");
        }
    }

    #[test]
    fn any_jitter_keeps_the_log_bounded_and_the_band_honest() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut sent = SendTimes::default();
        let mut truth = Vec::new();
        // 100 msg/s with a heavy tail: 10 % of sends 1–300 ms late.
        for k in 0..200_000u64 {
            let late = if rng.gen_bool(0.1) { rng.gen_range(1_000..300_000) } else { rng.gen_range(0..500) };
            let t = k * 10_000 + late;
            let t = t.max(truth.last().copied().unwrap_or(0));
            truth.push(t);
            sent.push(t);
            assert!(sent.points() <= SendTimes::MAX_SEGMENTS + 1);
            // Its memory is flat: the bound from the first message on.
            assert_eq!(sent.heap_bytes(), SendTimes::FULL_BYTES);
        }
        let band = SendTimes::RESOLUTION_US + sent.widened_us();
        assert!(band <= 1_024_000, "band {band}");
        let mut prev = 0;
        for (seq, &real) in truth.iter().enumerate() {
            let recorded = sent.time_of(seq as u64);
            assert!(recorded <= real && real - recorded <= band, "seq {seq}: {recorded} vs {real} (band {band})");
            assert!(recorded >= prev);
            prev = recorded;
        }
    }

    #[test]
    fn send_times_keep_every_message_of_a_slow_publisher() {
        let mut sent = SendTimes::default();
        for seq in 0..10u64 {
            sent.push(seq * 10_000 + if seq == 5 { 5_000 } else { 0 });
        }
        for seq in 0..10u64 {
            let real = seq * 10_000 + if seq == 5 { 5_000 } else { 0 };
            let recorded = sent.time_of(seq);
            assert!(recorded <= real && real - recorded <= SendTimes::RESOLUTION_US, "{seq}: {recorded} vs {real}");
        }
    }
}
