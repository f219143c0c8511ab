//! `midge merge DIR…`: a sharded run's folders (one per `--shard I/N`)
//! back into one run. Each shard's record is checked to belong to the same
//! run (scenario, run id, shard count), every shard must be there exactly
//! once, and the records are joined (`record::merge`) and analysed once
//! against the whole plan, so loss, duplicates, order and windows of the
//! streams that cross shards come out as if one process had run it all.
//!
//! A shard that could not run leaves `shard-error.json` (`SHARD_ERROR_FILE`,
//! written by `cli`) instead of a record; the merge names that shard's error
//! when it refuses to merge without it. Shards must agree on scenario hash, run
//! id, shard count and overrides, each given once, none missing; the whole plan
//! is built again with each client's id from the shard that ran it.
//!
//! Two folders of one run id but different scenarios are a pair: a `midge
//! pub` and a `midge sub` (`merge_pair`). Their scenarios are joined into one
//! (`joined_scenario`: the publishing run's groups first, so the publisher
//! numbers its messages carry stay its own), their records joined like two
//! shards, each group's part noted (`MergedFrom::group_parts`), and the
//! whole analysed once: published, expected, received, lost as one run of
//! both would count them. Differing run ids are refused by name.

use crate::analysis::analyse;
use crate::analysis::model::Report;
use crate::plan::shard::ShardId;
use crate::plan::{global_indices, Plan};
use crate::record::merge::{combine, ShardPart};
use crate::record::shards::ShardOf;
use crate::record::{PlanIdentity, RunRecord, RECORD_FILE};
use std::path::{Path, PathBuf};

/// The file a shard that could not run writes instead of its record.
pub const SHARD_ERROR_FILE: &str = "shard-error.json";

/// What a shard that could not run leaves behind, so the merge can say why
/// its slice is missing.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShardError {
    pub shard: ShardOf,
    pub run_id: String,
    pub scenario_sha256: String,
    pub error: String,
}

pub struct Merged {
    pub report: Report,
    pub warnings: Vec<String>,
}

/// Reads, checks, joins, analyses and writes the merged run into `out`:
/// a `pub` and a `sub` run (`pair`), or the shards of one run.
pub fn merge_dirs(dirs: &[PathBuf], out: &Path) -> Result<Merged, String> {
    if let Some((a, b)) = pair(dirs)? {
        return merge_pair(a, b, out);
    }
    let shards = load_shards(dirs)?;
    let warnings = version_warnings(&shards);
    let identity = whole_identity(&shards)?;
    let plan = Plan::rebuild(&identity).map_err(|e| format!("the run's plan: {e}"))?;
    let mut parts = Vec::new();
    for (dir, record) in shards {
        let of = record.plan.shard.unwrap_or(ShardOf { index: 0, count: 1 });
        let global = global_indices(&plan, ShardId { index: of.index, count: of.count });
        if global.len() != record.clients.len() {
            return Err(format!(
                "{}: shard {}/{} holds {} clients, its slice of the plan has {}",
                dir.display(),
                of.index,
                of.count,
                record.clients.len(),
                global.len()
            ));
        }
        parts.push(ShardPart { record, global });
    }
    let record = combine(parts, identity);
    let report = analyse(&plan, &record);
    report.write_files(out).map_err(|e| format!("cannot write the report to {}: {e}", out.display()))?;
    crate::report::write_record(&record, out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(Merged { report, warnings })
}

/// A run's folder and its record.
type Run = (PathBuf, RunRecord);

/// Two folders whose records are two whole runs of different scenarios
/// (a `midge pub` and a `midge sub`): a pair, when their run ids agree.
fn pair(dirs: &[PathBuf]) -> Result<Option<(Run, Run)>, String> {
    let [a, b] = dirs else { return Ok(None) };
    let (Ok(ra), Ok(rb)) = (read_record(a)?, read_record(b)?) else { return Ok(None) };
    if ra.plan.shard.is_some() || rb.plan.shard.is_some() || ra.plan.scenario_sha256 == rb.plan.scenario_sha256 {
        return Ok(None);
    }
    if ra.plan.run_id != rb.plan.run_id {
        return Err(format!(
            "{} (run id {:016x}) and {} (run id {:016x}) are not one run: a `midge pub` and a `midge sub` merge when given the same --run-id NAME (`midge run` files: the same 16-hex-digit --run-id)",
            a.display(),
            ra.plan.run_id,
            b.display(),
            rb.plan.run_id
        ));
    }
    Ok(Some(((a.clone(), ra), (b.clone(), rb))))
}

/// A `pub` run and a `sub` run of one run id as one run: the plan of both
/// scenarios' groups (the publishing run's first, so its publisher numbers
/// stay those its messages carry), both records joined on one clock.
fn merge_pair(a: Run, b: Run, out: &Path) -> Result<Merged, String> {
    let publishes = |r: &RunRecord| Plan::rebuild(&r.plan).map(|p| !p.publishers.is_empty());
    let (pa, pb) = (publishes(&a.1), publishes(&b.1));
    let (pa, pb) =
        (pa.map_err(|e| format!("{}: {e}", a.0.display()))?, pb.map_err(|e| format!("{}: {e}", b.0.display()))?);
    let ((pub_dir, pub_rec), (sub_dir, sub_rec)) = match (pa, pb) {
        (true, true) => {
            return Err(format!(
                "{} and {} both publish: their publisher numbers would collide; merge a run that publishes with one that only subscribes",
                a.0.display(),
                b.0.display()
            ))
        }
        (false, true) => (b, a),
        _ => (a, b),
    };
    let text = joined_scenario(&pub_rec.plan.scenario_text, &sub_rec.plan.scenario_text)
        .map_err(|e| format!("cannot join {} and {}: {e}", pub_dir.display(), sub_dir.display()))?;
    let mut id = pub_rec.plan.clone();
    id.scenario_sha256 = crate::plan::hex(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
    id.scenario_text = text;
    id.source_addrs = Vec::new();
    id.client_ids.extend(sub_rec.plan.client_ids.iter().cloned());
    let plan = Plan::rebuild(&id).map_err(|e| format!("the joined plan: {e}"))?;
    let pub_clients = pub_rec.plan.client_ids.len() as u32;
    let pub_groups = Plan::rebuild(&pub_rec.plan).map_or(0, |p| p.groups.len());
    let parts = vec![
        ShardPart { global: (0..pub_clients).collect(), record: as_part(pub_rec, 0) },
        ShardPart { global: (pub_clients..plan.clients.len() as u32).collect(), record: as_part(sub_rec, 1) },
    ];
    let mut record = combine(parts, id);
    if let Some(m) = record.merged.as_mut() {
        m.group_parts = (0..plan.groups.len()).map(|g| u32::from(g >= pub_groups)).collect();
    }
    let report = analyse(&plan, &record);
    report.write_files(out).map_err(|e| format!("cannot write the report to {}: {e}", out.display()))?;
    crate::report::write_record(&record, out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(Merged { report, warnings: Vec::new() })
}

/// A whole run's record as part `index` of 2 of a pair.
fn as_part(mut record: RunRecord, index: u32) -> RunRecord {
    record.plan.shard = Some(ShardOf { index, count: 2 });
    record
}

/// One scenario of two: the first's settings, both files' groups (the
/// first's, then the second's). Stages and faults name groups and clients of
/// one file, so a file with them is not joined.
pub fn joined_scenario(first: &str, second: &str) -> Result<String, String> {
    let parse = |t: &str| t.parse::<toml::Table>().map_err(|e| e.to_string());
    let (mut a, b) = (parse(first)?, parse(second)?);
    for t in [&a, &b] {
        if let Some(key) = ["stage", "fault"].into_iter().find(|k| t.contains_key(*k)) {
            return Err(format!("a scenario with [[{key}]] cannot be joined with another"));
        }
    }
    let groups = |t: &toml::Table| t.get("group").and_then(|g| g.as_array()).cloned().unwrap_or_default();
    let mut all = groups(&a);
    let names = |v: &[toml::Value]| -> Vec<String> {
        v.iter().filter_map(|g| g.get("name").and_then(|n| n.as_str()).map(str::to_string)).collect()
    };
    let second_groups = groups(&b);
    if let Some(n) = names(&second_groups).iter().find(|n| names(&all).contains(n)) {
        return Err(format!("both have a group named {n:?}"));
    }
    all.extend(second_groups);
    let name = |t: &toml::Table| t.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string();
    let joined = format!("{}+{}", name(&a), name(&b));
    a.insert("name".into(), toml::Value::String(joined));
    a.insert("group".into(), toml::Value::Array(all));
    toml::to_string(&a).map_err(|e| e.to_string())
}

/// Every folder's record, checked to be the shards of one run, each once,
/// none missing; sorted by shard.
fn load_shards(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, RunRecord)>, String> {
    let mut shards: Vec<(PathBuf, RunRecord)> = Vec::new();
    let mut failed: Vec<ShardError> = Vec::new();
    for dir in dirs {
        match read_record(dir)? {
            Ok(r) => shards.push((dir.clone(), r)),
            Err(e) => failed.push(e),
        }
    }
    let Some((first_dir, first)) = shards.first() else {
        return Err(match failed.first() {
            Some(e) => format!("no shard ran: shard {}/{}: {}", e.shard.index, e.shard.count, e.error),
            None => "no run folders given".to_string(),
        });
    };
    let count = first.plan.shard.map_or(1, |s| s.count);
    for (dir, r) in &shards[1..] {
        check_same_run(first_dir, first, dir, r)?;
    }
    let mut by_index: Vec<Option<&PathBuf>> = vec![None; count as usize];
    for (dir, r) in &shards {
        let i = r.plan.shard.map_or(0, |s| s.index) as usize;
        if let Some(other) = by_index[i] {
            return Err(format!("shard {i}/{count} given twice: {} and {}", other.display(), dir.display()));
        }
        by_index[i] = Some(dir);
    }
    let missing: Vec<String> = (0..count as usize)
        .filter(|i| by_index[*i].is_none())
        .map(|i| match failed.iter().find(|e| e.shard.index as usize == i) {
            Some(e) => format!("shard {i}/{count} did not run: {}", e.error),
            None => format!("shard {i}/{count} is missing (no folder given holds its record.json)"),
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!("cannot merge a run with a slice missing: {}", missing.join("; ")));
    }
    shards.sort_by_key(|(_, r)| r.plan.shard.map_or(0, |s| s.index));
    Ok(shards)
}

/// A folder's record, or the error its shard left instead.
fn read_record(dir: &Path) -> Result<Result<RunRecord, ShardError>, String> {
    let path = dir.join(RECORD_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => RunRecord::from_json(&text).map(Ok).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) => {
            let err_path = dir.join(SHARD_ERROR_FILE);
            match std::fs::read_to_string(&err_path) {
                Ok(text) => serde_json::from_str(&text).map(Err).map_err(|e| format!("{}: {e}", err_path.display())),
                Err(_) => Err(format!("{}: {e}", path.display())),
            }
        }
    }
}

/// The same scenario, run id and number of shards, or the folder is named.
fn check_same_run(a_dir: &Path, a: &RunRecord, b_dir: &Path, b: &RunRecord) -> Result<(), String> {
    let (pa, pb) = (&a.plan, &b.plan);
    let foreign = |what: &str| {
        Err(format!("{} is not a shard of the run in {}: another {what}", b_dir.display(), a_dir.display()))
    };
    if pa.scenario_sha256 != pb.scenario_sha256 {
        return foreign("scenario (its SHA-256 differs)");
    }
    if pa.run_id != pb.run_id {
        return foreign(&format!("run id ({:016x}, not {:016x})", pb.run_id, pa.run_id));
    }
    if pa.shard.map(|s| s.count) != pb.shard.map(|s| s.count) {
        return foreign("number of shards");
    }
    if pa.broker_override != pb.broker_override || pa.duration_override != pb.duration_override {
        return foreign("--broker or --duration");
    }
    Ok(())
}

/// The whole plan's identity: each client's id as the shard that ran it chose it.
fn whole_identity(shards: &[(PathBuf, RunRecord)]) -> Result<PlanIdentity, String> {
    let mut id = shards[0].1.plan.clone();
    id.shard = None;
    id.source_addrs = Vec::new();
    let plan = Plan::rebuild(&id).map_err(|e| format!("the run's plan: {e}"))?;
    for (_, r) in shards {
        let Some(of) = r.plan.shard else { continue };
        for g in global_indices(&plan, ShardId { index: of.index, count: of.count }) {
            if let Some(cid) = r.plan.client_ids.get(g as usize) {
                id.client_ids[g as usize] = cid.clone();
            }
        }
    }
    Ok(id)
}

/// Shards run by different midge versions still merge, with a warning.
fn version_warnings(shards: &[(PathBuf, RunRecord)]) -> Vec<String> {
    let first = &shards[0].1.midge_version;
    shards
        .iter()
        .filter(|(_, r)| &r.midge_version != first)
        .map(|(dir, r)| format!("{} was run by midge {}, the first shard by {first}", dir.display(), r.midge_version))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::joined_scenario;

    const PUB: &str = "name = \"pub\"\nduration = \"2s\"\n[broker]\nurl = \"mqtt://127.0.0.1:1883\"\n[[group]]\nname = \"pub\"\nclients = 2\npublish = { topic = \"x/{i}\", qos = 1, rate = 1.0 }\n";
    const SUB: &str = "name = \"sub\"\n[[group]]\nname = \"sub\"\nsubscribe = { filter = \"x/#\", qos = 1 }\n";

    #[test]
    fn a_pair_is_one_scenario_of_both_groups_the_publishers_first() {
        let text = joined_scenario(PUB, SUB).unwrap();
        let f = crate::scenario::ScenarioFile::parse(std::path::Path::new("j.toml"), &text).unwrap();
        let names: Vec<_> = f.scenario.groups.iter().map(|g| g.get_ref().name.clone()).collect();
        assert_eq!((f.scenario.name.as_str(), names), ("pub+sub", vec!["pub".to_string(), "sub".to_string()]));
        assert_eq!(f.scenario.duration.unwrap().0, std::time::Duration::from_secs(2), "the first's settings");
        let plan = crate::plan::Plan::build(&f, &crate::plan::Overrides::default()).unwrap();
        assert_eq!(plan.streams.len(), 2, "each publisher to the subscriber");
        assert!(joined_scenario(PUB, PUB).unwrap_err().contains("both have a group named \"pub\""));
        let staged = format!("{SUB}[[stage]]\nduration = \"1s\"\n");
        assert!(joined_scenario(PUB, &staged).unwrap_err().contains("[[stage]]"));
    }
}
