//! `shards` in report.json: which slice a shard's report covers, or which
//! shards a merged report was made of and how well their starts lined up.

use super::model::{ShardPartInfo, ShardsInfo};
use crate::plan::Plan;
use crate::record::RunRecord;

/// None for an ordinary run (neither a shard nor a merge).
pub fn shards_info(plan: &Plan, record: &RunRecord) -> Option<ShardsInfo> {
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    if let Some(m) = &record.merged {
        let starts: Vec<u64> = m.shards.iter().filter_map(|s| s.publish_start_us).collect();
        let skew = starts.iter().max().zip(starts.iter().min()).map(|(a, b)| ms(a - b));
        return Some(ShardsInfo {
            count: m.shards.first().map_or(1, |s| s.shard.count),
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
    })
}
