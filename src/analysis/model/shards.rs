//! `shards` of report.json: a shard's slice (`--shard I/N`) or the shards
//! of a merge (`midge merge`).

use serde::{Deserialize, Serialize};

/// `shards`: the slice a shard's report covers, or the shards of a merge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardsInfo {
    /// N of `--shard I/N`.
    pub count: u32,
    /// I: this report is that shard's alone (null in a merged report).
    pub shard: Option<u32>,
    /// Made by `midge merge` from every shard's record.
    pub merged: bool,
    /// Merged: the latest shard's publishing start minus the earliest's, ms.
    pub start_skew_ms: Option<f64>,
    /// With `--start-at`: how late publishing started against it, ms (the
    /// latest shard's, in a merged report).
    pub start_late_ms: Option<f64>,
    /// What a shard's report leaves to the merge, in words.
    pub accounted_by_merge_only: Vec<String>,
    /// Merged: each shard.
    pub parts: Vec<ShardPartInfo>,
    /// Merged: the quickest delivery from each shard's publishers to each
    /// shard's subscribers, send and receipt each on its own machine's clock.
    pub clock_pairs: Vec<ClockPairInfo>,
    /// Merged: how far an e2e latency measured between two shards can be
    /// off because their clocks differ (the worst pair; null when no pair
    /// of shards has deliveries both ways to bound it).
    pub cross_shard_latency_bound_ms: Option<f64>,
}

/// The quickest delivery from one shard's publishers to another's subscribers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClockPairInfo {
    pub from: u32,
    pub to: u32,
    /// Receipt minus send, ms; negative when the clocks differ by more than the delay.
    pub min_one_way_ms: f64,
}

/// One shard of a merged run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardPartInfo {
    pub index: u32,
    pub clients: u64,
    /// How much later than the earliest shard's its clock started, ms.
    pub clock_offset_ms: f64,
    pub start_late_ms: Option<f64>,
    /// When its publishing started, s on the merged clock.
    pub publish_start_s: Option<f64>,
    pub midge_version: String,
}
