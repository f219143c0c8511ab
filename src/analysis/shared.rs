//! Shared subscriptions (`$share/{group}/{filter}`): a matching message is
//! owed once to the share group while any member is live, whichever member
//! takes it. The stream is (publisher, share group): its receipts are the
//! union of the members', a message two members got is a duplicate, and how
//! the broker spread the messages over the members is kept for the report.

use super::windows::{trust_less, windows, Connected, Windows};
use crate::record::logs::RxLog;
use crate::record::logs::{RangeSet, StreamRx};
use std::collections::{BTreeMap, HashMap};

/// What one share group got, over all its streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareTally {
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    /// Delivered to more than one member (or twice to one).
    pub duplicated: u64,
    /// Distinct messages each member received, by client index.
    pub per_member: BTreeMap<u32, u64>,
}

/// The union of what the members received from one publisher; a message
/// more than one member got counts as duplicated.
pub fn merged_rx(rx_logs: &HashMap<u32, &RxLog>, members: &[u32], publisher_index: u32) -> StreamRx {
    let mut merged = StreamRx::default();
    let mut total = 0;
    for m in members {
        let Some(rx) = rx_logs.get(m).and_then(|r| r.streams.get(&publisher_index)) else { continue };
        total += rx.received.len();
        merged.duplicated += rx.duplicated;
        merged.out_of_order += rx.out_of_order;
        for &(a, b) in rx.received.ranges() {
            merged.received.insert_range(a, b);
        }
    }
    merged.duplicated += total - merged.received.len();
    merged
}

/// Distinct messages each member received from one publisher.
pub fn per_member(rx_logs: &HashMap<u32, &RxLog>, members: &[u32], publisher_index: u32) -> Vec<(u32, u64)> {
    let count = |m: &u32| rx_logs.get(m).and_then(|r| r.streams.get(&publisher_index)).map_or(0, |s| s.received.len());
    members.iter().map(|m| (*m, count(m))).collect()
}

/// The share group is live while any member's subscription is: the union
/// of the members' live windows; offline while none is (what is sent then is
/// missed by the group, as for a clean session).
///
/// `less_trust_us`: each member's trust at a drop ends that much earlier
/// (the publisher's widened send-time band, `windows::trust_less`).
pub fn shared_windows(
    members: &[u32],
    connections: &HashMap<u32, Vec<Connected>>,
    less_trust_us: u64,
    run_end_us: u64,
) -> Windows {
    let mut live = RangeSet::new();
    for m in members {
        let conns = connections.get(m).map_or(&[][..], Vec::as_slice);
        let less_trusted;
        let conns = match less_trust_us {
            0 => conns,
            by_us => {
                less_trusted = trust_less(conns, by_us);
                &less_trusted[..]
            }
        };
        for &(a, b) in &windows(conns, false, None, run_end_us).live {
            live.insert_span(a, b + 1);
        }
    }
    let mut w = Windows { live: live.ranges().iter().map(|&(a, b)| (a, b - 1)).collect(), ..Default::default() };
    let starts = w.live.iter().skip(1).map(|l| l.0);
    let gaps: Vec<(u64, u64)> = w.live.iter().zip(starts).map(|(l, next)| (l.1 + 1, next - 1)).collect();
    w.offline = gaps;
    if let Some(&(_, end)) = w.live.last() {
        if end < run_end_us {
            w.offline.push((end + 1, run_end_us));
        }
    }
    w
}
