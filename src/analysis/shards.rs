//! `shards` in report.json: which slice a shard's report covers, or which
//! shards a merged report was made of and how well their starts lined up.
//!
//! A shard's own report accounts only the streams inside its slice: a stream
//! whose ends sit on two shards, a share group split over shards, wills and
//! retained topics of other shards, and `received_min` are left to the merge —
//! and `accounted_by_merge_only` says so — so it never shows a loss it cannot
//! judge. A merge lists each part, the start skew (latest minus earliest
//! publishing start), and bounds the clocks: the quickest delivery per
//! (publisher's shard, subscriber's shard) from each stream's `min_one_way_us`
//! (`quickest_between_shards`), and from both directions of a pair how far a
//! cross-shard latency can be off (`latency_bound_us`). The join of a merge
//! narrows the windows of streams between shards by that bound (`across`).

use super::model::{ClockPairInfo, ShardPartInfo, ShardsInfo};
use super::windows::AcrossShards;
use crate::plan::Plan;
use crate::record::RunRecord;
use std::collections::BTreeMap;

/// None for an ordinary run (neither a shard nor a merge).
pub fn shards_info(plan: &Plan, record: &RunRecord) -> Option<ShardsInfo> {
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    if let Some(m) = &record.merged {
        let starts: Vec<u64> = m.shards.iter().filter_map(|s| s.publish_start_us).collect();
        let skew = starts.iter().max().zip(starts.iter().min()).map(|(a, b)| ms(a - b));
        let count = m.shards.first().map_or(1, |s| s.shard.count);
        let pairs = quickest_between_shards(plan, record, count);
        return Some(ShardsInfo {
            cross_shard_latency_bound_ms: latency_bound_us(&pairs).map(|us| us as f64 / 1000.0),
            clock_pairs: pairs
                .iter()
                .map(|((from, to), us)| ClockPairInfo { from: *from, to: *to, min_one_way_ms: *us as f64 / 1000.0 })
                .collect(),
            count,
            shard: None,
            merged: true,
            start_skew_ms: skew,
            start_late_ms: m.shards.iter().filter_map(|s| s.start_late_us).max().map(ms),
            accounted_by_merge_only: Vec::new(),
            parts: m
                .shards
                .iter()
                .map(|s| ShardPartInfo {
                    index: s.shard.index,
                    clients: s.clients,
                    clock_offset_ms: ms(s.clock_offset_us),
                    start_late_ms: s.start_late_us.map(ms),
                    publish_start_s: s.publish_start_us.map(|us| (us as f64 / 1e3).round() / 1e3),
                    midge_version: s.midge_version.clone(),
                })
                .collect(),
        });
    }
    let slice = plan.shard.as_ref()?;
    let mut elsewhere = vec![
        "streams whose publisher and subscriber run on different shards".to_string(),
        "the [expect] received_min figure (a whole-run count)".to_string(),
        "last wills left by clients on other shards, and retained topics set there".to_string(),
    ];
    elsewhere.extend(slice.shares_elsewhere.iter().map(|f| format!("share group {f} (members on other shards)")));
    Some(ShardsInfo {
        count: slice.id.count,
        shard: Some(slice.id.index),
        merged: false,
        start_skew_ms: None,
        start_late_ms: record.start_late_us.map(ms),
        accounted_by_merge_only: elsewhere,
        parts: Vec::new(),
        clock_pairs: Vec::new(),
        cross_shard_latency_bound_ms: None,
    })
}

/// The shard client `client` (whole-plan index) ran on, of `count`: its
/// group's part in a pub/sub merge (`MergedFrom::group_parts`), else dealt
/// out k mod `count`.
fn shard_of(plan: &Plan, record: &RunRecord, client: u32, count: u32) -> u32 {
    let c = &plan.clients[client as usize];
    let parts = record.merged.as_ref().map_or(&[][..], |m| &m.group_parts[..]);
    match parts.get(c.group as usize) {
        Some(part) => *part,
        None => crate::plan::shard::owner(c.index - plan.group_of(c).first_client, count),
    }
}

/// For the join of a merged run (None otherwise): each client's shard and
/// the cross-shard latency bound (0 when no pair of shards has deliveries
/// both ways), by which the windows of streams between shards narrow
/// (`windows::across_shards`).
pub fn across(plan: &Plan, record: &RunRecord) -> Option<AcrossShards> {
    let m = record.merged.as_ref()?;
    let count = m.shards.first().map_or(1, |s| s.shard.count);
    let bound_us = latency_bound_us(&quickest_between_shards(plan, record, count)).unwrap_or(0);
    let shard_of = plan.clients.iter().map(|c| (c.index, shard_of(plan, record, c.index, count))).collect();
    Some(AcrossShards { shard_of, bound_us })
}

/// The quickest delivery from each shard's publishers to each shard's
/// subscribers (send on one machine's clock, receipt on the other's), µs.
fn quickest_between_shards(plan: &Plan, record: &RunRecord, count: u32) -> BTreeMap<(u32, u32), i64> {
    let shard_of = |client: u32| shard_of(plan, record, client, count);
    let mut quickest: BTreeMap<(u32, u32), i64> = BTreeMap::new();
    for c in &record.clients {
        let Some(rx) = &c.rx else { continue };
        for (publisher, stream) in &rx.streams {
            let (Some(us), Some(p)) = (stream.min_one_way_us, plan.publishers.get(*publisher as usize)) else {
                continue;
            };
            let q = quickest.entry((shard_of(*p), shard_of(c.index))).or_insert(us);
            *q = (*q).min(us);
        }
    }
    quickest
}

/// How far a latency measured between two shards can be from the truth:
/// the clocks' offset Δ (b's minus a's) lies within [−min(b→a), min(a→b)],
/// since no delivery takes less than nothing; a latency measured between
/// them is off by Δ, so by at most max(|min(a→b)|, |min(b→a)|). The worst pair's, µs; None when no
/// pair of shards has deliveries both ways.
fn latency_bound_us(quickest: &BTreeMap<(u32, u32), i64>) -> Option<u64> {
    quickest
        .iter()
        .filter(|((a, b), _)| a < b)
        .filter_map(|((a, b), ab)| quickest.get(&(*b, *a)).map(|ba| ab.unsigned_abs().max(ba.unsigned_abs())))
        .max()
}
