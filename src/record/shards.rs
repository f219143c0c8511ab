//! What a record says of sharding: which slice of the plan it holds, or
//! (merged) which shards it was made of.

use serde::{Deserialize, Serialize};

/// Which slice of a sharded run a record holds: `index` of `count`, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardOf {
    pub index: u32,
    pub count: u32,
}

/// What the merged record says of the shards it was made of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    pub shards: Vec<ShardSummary>,
    /// A `pub` and a `sub` run merged (`midge merge PUBDIR SUBDIR`): the
    /// part that ran each group of the joined plan, by group index. Empty
    /// for shards, whose clients are dealt out k mod N (`plan::shard::owner`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_parts: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSummary {
    pub shard: ShardOf,
    pub clients: u64,
    /// How much later than the earliest shard's this shard's clock started, µs.
    pub clock_offset_us: u64,
    /// With `--start-at`: how late its publishing started against it.
    pub start_late_us: Option<u64>,
    /// When its publishing started, on the merged clock (µs).
    pub publish_start_us: Option<u64>,
    pub midge_version: String,
}
