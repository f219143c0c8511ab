//! Per-message accounting (design §3): what each publisher got out, what each
//! subscriber received, and the join of the two into expected / lost /
//! duplicated / out-of-order per stream.
//!
//! Publishers and subscribers keep their own logs in their own tasks (no
//! sharing on the hot path); the join runs once, after the drain.

use std::collections::HashMap;

/// A set of u64 kept as sorted, disjoint, non-adjacent half-open ranges.
/// In-order delivery keeps it at one range, whatever the count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// How many members fall in [start, end).
    pub fn count_within(&self, start: u64, end: u64) -> u64 {
        self.ranges
            .iter()
            .map(|&(a, b)| b.min(end).saturating_sub(a.max(start)))
            .sum()
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
#[derive(Debug, Clone, Default)]
pub struct StreamRx {
    pub received: RangeSet,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub max_seen: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxOutcome {
    InOrder,
    OutOfOrder,
    Duplicate,
}

impl StreamRx {
    pub fn record(&mut self, seq: u64) -> RxOutcome {
        if !self.received.insert(seq) {
            self.duplicated += 1;
            return RxOutcome::Duplicate;
        }
        match self.max_seen {
            Some(m) if seq < m => {
                self.out_of_order += 1;
                RxOutcome::OutOfOrder
            }
            _ => {
                self.max_seen = Some(seq);
                RxOutcome::InOrder
            }
        }
    }
}

/// Everything one subscriber received, by publisher index.
#[derive(Debug, Clone, Default)]
pub struct RxLog {
    pub streams: HashMap<u32, StreamRx>,
    /// midge messages from another run (retained or queued earlier).
    pub stale: u64,
    /// Messages without midge's header.
    pub foreign: u64,
}

/// Everything one publisher got out, by sequence number.
#[derive(Debug, Clone, Default)]
pub struct PublishLog {
    pub qos: u8,
    /// Run-clock microseconds at which sequence `i` was first written.
    pub sent_us: Vec<u64>,
    /// QoS 0: written to the socket. QoS 1/2: acknowledged (PUBACK / PUBCOMP).
    pub got_out: RangeSet,
    /// QoS 1/2 written but never acknowledged before the connection ended.
    pub in_doubt: RangeSet,
}

impl PublishLog {
    pub fn new(qos: u8) -> Self {
        PublishLog {
            qos,
            ..Default::default()
        }
    }

    pub fn published(&self) -> u64 {
        self.sent_us.len() as u64
    }

    /// Sequence numbers first written within [start_us, end_us].
    pub fn seqs_sent_between(&self, start_us: u64, end_us: u64) -> (u64, u64) {
        let a = self.sent_us.partition_point(|&t| t < start_us) as u64;
        let b = self.sent_us.partition_point(|&t| t <= end_us) as u64;
        (a, b.max(a))
    }
}

/// The intervals (run-clock µs, inclusive) during which a subscription was live.
pub type LiveWindows = Vec<(u64, u64)>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamTally {
    pub publisher_client: u32,
    pub subscriber_client: u32,
    pub qos: u8,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// The first lost sequence numbers, as ranges (evidence for the report).
    pub lost_ranges: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub published: u64,
    pub acked: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub in_doubt: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub total: Counts,
    pub by_qos: [Counts; 3],
    pub stale: u64,
    pub foreign: u64,
    pub streams: Vec<StreamTally>,
}

/// One stream to join: who publishes, who subscribes, at which QoS.
#[derive(Debug, Clone, Copy)]
pub struct StreamRef {
    pub publisher_client: u32,
    pub publisher_index: u32,
    pub subscriber_client: u32,
    pub qos: u8,
}

/// Joins publishers' logs with subscribers' logs over the planned streams.
pub fn tally(
    streams: &[StreamRef],
    publish_logs: &HashMap<u32, &PublishLog>,
    rx_logs: &HashMap<u32, &RxLog>,
    live: &HashMap<u32, &LiveWindows>,
) -> Tally {
    let mut t = Tally::default();
    for log in publish_logs.values() {
        let q = log.qos.min(2) as usize;
        let acked = if log.qos > 0 { log.got_out.len() } else { 0 };
        for c in [&mut t.total, &mut t.by_qos[q]] {
            c.published += log.published();
            c.acked += acked;
            c.in_doubt += log.in_doubt.len();
        }
    }
    let empty_rx = StreamRx::default();
    for s in streams {
        let Some(log) = publish_logs.get(&s.publisher_client) else {
            continue;
        };
        let rx = rx_logs
            .get(&s.subscriber_client)
            .and_then(|r| r.streams.get(&s.publisher_index))
            .unwrap_or(&empty_rx);
        let mut st = StreamTally {
            publisher_client: s.publisher_client,
            subscriber_client: s.subscriber_client,
            qos: s.qos,
            received: rx.received.len(),
            duplicated: rx.duplicated,
            out_of_order: rx.out_of_order,
            ..Default::default()
        };
        let no_windows = Vec::new();
        for &(start, end) in live
            .get(&s.subscriber_client)
            .copied()
            .unwrap_or(&no_windows)
        {
            let (a, b) = log.seqs_sent_between(start, end);
            st.expected += log.got_out.count_within(a, b);
            let missing = log.got_out.missing_from(&rx.received, a, b);
            st.lost += missing.len();
            for &r in missing.ranges() {
                if st.lost_ranges.len() < 16 {
                    st.lost_ranges.push(r);
                }
            }
        }
        let q = s.qos.min(2) as usize;
        for c in [&mut t.total, &mut t.by_qos[q]] {
            c.expected += st.expected;
            c.received += st.received;
            c.lost += st.lost;
            c.duplicated += st.duplicated;
            c.out_of_order += st.out_of_order;
        }
        t.streams.push(st);
    }
    for rx in rx_logs.values() {
        t.stale += rx.stale;
        t.foreign += rx.foreign;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(
                w[0].1 < w[1].0,
                "ranges must stay disjoint and non-adjacent"
            );
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
        assert_eq!(s.record(0), RxOutcome::InOrder);
        assert_eq!(s.record(2), RxOutcome::InOrder);
        assert_eq!(s.record(1), RxOutcome::OutOfOrder);
        assert_eq!(s.record(2), RxOutcome::Duplicate);
        assert_eq!((s.duplicated, s.out_of_order, s.received.len()), (1, 1, 3));
    }

    #[test]
    fn tally_counts_only_what_was_sent_while_the_subscription_was_live() {
        let mut log = PublishLog::new(1);
        for seq in 0..10u64 {
            log.sent_us.push(100 + seq * 10);
        }
        // 0..=8 acknowledged, 9 in doubt.
        log.got_out.insert_range(0, 9);
        log.in_doubt.insert(9);
        let mut rx = RxLog::default();
        let stream = rx.streams.entry(0).or_default();
        for seq in [2, 3, 5, 6, 6, 9] {
            stream.record(seq);
        }
        // Live from t=120 (seq 2) on.
        let windows: LiveWindows = vec![(120, u64::MAX)];
        let t = tally(
            &[StreamRef {
                publisher_client: 7,
                publisher_index: 0,
                subscriber_client: 8,
                qos: 1,
            }],
            &HashMap::from([(7, &log)]),
            &HashMap::from([(8, &rx)]),
            &HashMap::from([(8, &windows)]),
        );
        // Expected: seqs 2..=8 acked = 7. Received 2,3,5,6,9 = 5 distinct. Lost: 4,7,8.
        assert_eq!(t.total.expected, 7);
        assert_eq!(t.total.received, 5);
        assert_eq!(t.total.lost, 3);
        assert_eq!(t.total.duplicated, 1);
        assert_eq!(t.total.in_doubt, 1);
        assert_eq!(t.total.published, 10);
        assert_eq!(t.total.acked, 9);
        assert_eq!(t.streams[0].lost_ranges, vec![(4, 5), (7, 9)]);
        assert_eq!(t.by_qos[1].lost, 3);
    }
}
