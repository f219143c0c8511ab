//! Shared subscriptions (`$share/{group}/{filter}`): a matching message is
//! owed once to the share group while any member is live, whichever member
//! takes it. The stream is (publisher, share group): its receipts are the
//! union of the members', a message two members got is a duplicate, and how
//! the broker spread the messages over the members is kept for the report.
//!
//! The group is live while any member is (`shared_windows`: the union of the
//! members' live windows); its offline gaps are missed as for a clean session,
//! except that a gap in which every member is away on plan — in a `left` span,
//! or not joined yet — is not offline. `merged_rx` is the union of the members'
//! receipts, `per_member` counts distinct messages per member.
//!
//! A member that drops gets the race allowance a plain subscriber gets: what
//! was sent from its last trusted moment (the last packet heard less the race
//! margin) to its end (and the margin after it, until the broker noticed) may
//! have been routed to it by the broker and died with it (`Windows::raced`);
//! missing, it is missed (`subscriber_offline`, the member's window), not
//! lost — even while other members stayed live.
//! `ShareTally` keeps the group's figures. The spread is reported (report.json
//! `shared_subscriptions[]`: min / max / fair share and the largest deviation),
//! not judged.

use super::windows::{trust_less, windows, Connected, End, Windows};
use crate::record::clock::RACE_MARGIN_US;
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
            merged.received.insert_span(a, b);
        }
        for &(a, b) in rx.reordered.ranges() {
            merged.reordered.insert_span(a, b);
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
/// missed by the group, as for a clean session) — unless every member is
/// away on plan then (left on plan, or not joined yet): owed to nobody.
///
/// `less_trust_us`: each member's trust at a drop ends that much earlier
/// (the publisher's widened send-time band, `windows::trust_less`).
pub fn shared_windows(
    members: &[u32],
    connections: &HashMap<u32, Vec<Connected>>,
    less_trust_us: u64,
    run_end_us: u64,
) -> Windows {
    let each: Vec<Windows> = members
        .iter()
        .map(|m| {
            let conns = connections.get(m).map_or(&[][..], Vec::as_slice);
            match less_trust_us {
                0 => windows(conns, false, None, run_end_us),
                by_us => windows(&trust_less(conns, by_us), false, None, run_end_us),
            }
        })
        .collect();
    let mut live = RangeSet::new();
    for &(a, b) in each.iter().flat_map(|w| &w.live) {
        live.insert_span(a, b + 1);
    }
    let mut w = Windows { live: live.ranges().iter().map(|&(a, b)| (a, b - 1)).collect(), ..Default::default() };
    let starts = w.live.iter().skip(1).map(|l| l.0);
    let mut gaps: Vec<(u64, u64)> = w.live.iter().zip(starts).map(|(l, next)| (l.1 + 1, next - 1)).collect();
    if let Some(&(_, end)) = w.live.last() {
        if end < run_end_us {
            gaps.push((end + 1, run_end_us));
        }
    }
    // No member is live inside a gap, so each stays in one state through it.
    let away_on_plan = |at: u64, m: &Windows| {
        m.live.first().map_or(true, |l| l.0 > at) || m.left.iter().any(|&(a, b)| a <= at && at <= b)
    };
    w.offline = gaps.into_iter().filter(|g| !each.iter().all(|m| away_on_plan(g.0, m))).collect();
    for &m in members {
        let conns = connections.get(&m).map_or(&[][..], Vec::as_slice);
        for c in trust_less(conns, less_trust_us) {
            // The broker routes to the member until it notices the drop: to
            // the race margin after midge saw it end.
            if c.end == End::Dropped && c.live_from_us.is_some() {
                w.raced.push((m, (c.trusted_until() + 1, c.ended_us + RACE_MARGIN_US)));
            }
        }
    }
    w
}
