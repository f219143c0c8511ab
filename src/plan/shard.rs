//! Shards: `--shard I/N` runs the I-th of N slices of one plan, so N
//! machines (or N pods of a Kubernetes Indexed Job) load one broker
//! together and `midge merge` puts their records back into the one run.
//!
//! Every shard builds the whole plan first, the same way (same run id, so
//! the same client ids, publisher indices and schedules), then keeps its
//! slice: client k of each group (k counted within the group) belongs to
//! shard k mod N, so each shard gets its fair part of every group and a
//! count that does not divide evenly is spread, never dropped. Client ids,
//! publisher indices and sequence spaces stay those of the whole plan.
//!
//! `ShardSlice` is what a slice remembers of the whole plan (among it the share
//! groups that cross shards); `derived_run_id` is the run id every shard shares
//! (SHA-256 of the scenario's hash and `--run-id`). A shard's slice (`slice`,
//! `global_indices`) renumbers clients but keeps whole-plan ids and publisher
//! indices, divides connect rates by N, leaves out streams and share groups
//! that cross shards, and keeps faults for the clients they hit on this shard.

/// Which slice of the plan a process runs: `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardId {
    pub index: u32,
    pub count: u32,
}

impl std::str::FromStr for ShardId {
    type Err = String;

    /// "I/N", 0 ≤ I < N (Kubernetes' JOB_COMPLETION_INDEX counts from 0 too).
    fn from_str(s: &str) -> Result<ShardId, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: a shard is I/N, e.g. 0/4"))?;
        let parse = |x: &str| x.trim().parse::<u32>().map_err(|_| format!("{s:?}: {x:?} is not a whole number"));
        let (index, count) = (parse(i)?, parse(n)?);
        if count == 0 || index >= count {
            return Err(format!("{s:?}: I/N needs 0 ≤ I < N (shards count from 0)"));
        }
        Ok(ShardId { index, count })
    }
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a sliced plan remembers of the whole one.
#[derive(Debug, Clone)]
pub struct ShardSlice {
    pub id: ShardId,
    /// The whole plan's index of each of this slice's clients (by local index).
    pub global: Vec<u32>,
    /// Every client id of the whole plan, in its order (the record keeps
    /// these, so the merge can build the whole plan again).
    pub all_client_ids: Vec<String>,
    /// Publishers in the whole plan (schedules spread their offsets over all).
    pub publishers_total: u32,
    /// Share groups with members on other shards: accounted only by the merge.
    pub shares_elsewhere: Vec<String>,
}

/// The owner of client `k` of a group (k counted within the group).
pub fn owner(k: u32, count: u32) -> u32 {
    k % count
}

/// The run id every shard of a run shares: 64 bits of
/// SHA-256(scenario's SHA-256, name), where the name is `--run-id` (or the
/// `--start-at` time when no name is given).
pub fn derived_run_id(scenario_sha256: &str, name: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{scenario_sha256}\n{name}").as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("a SHA-256 is 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ids_parse_and_refuse_nonsense() {
        assert_eq!("1/4".parse::<ShardId>(), Ok(ShardId { index: 1, count: 4 }));
        assert!("4/4".parse::<ShardId>().is_err());
        assert!("0/0".parse::<ShardId>().is_err());
        assert!("x/2".parse::<ShardId>().is_err());
        assert!("3".parse::<ShardId>().is_err());
    }

    #[test]
    fn a_count_that_does_not_divide_is_spread_not_dropped() {
        let per_shard: Vec<u32> = (0..4).map(|i| (0..10).filter(|k| owner(*k, 4) == i).count() as u32).collect();
        assert_eq!(per_shard, vec![3, 3, 2, 2]);
    }

    #[test]
    fn the_derived_run_id_depends_on_scenario_and_name() {
        let a = derived_run_id("abc", "soak-1");
        assert_eq!(a, derived_run_id("abc", "soak-1"));
        assert_ne!(a, derived_run_id("abc", "soak-2"));
        assert_ne!(a, derived_run_id("abd", "soak-1"));
    }
}
