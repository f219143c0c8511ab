//! `midge shrink DIR --out FILE`: from a finished run with a finding, a
//! smaller scenario that still shows it — ready for a bug report.
//!
//! The run's folder gives the scenario (the record's `PlanIdentity`: its
//! text, path and overrides), the finding (report.json, read as plain JSON
//! by `target`) and the broker. The search (`search::Shrinker`) offers
//! candidates one step smaller; each is run for real (`runner::run`), with
//! the run's own broker setting: an external URL is reached again, an
//! embedded or spawned broker is started afresh for every candidate, the
//! same way the run started it (so no candidate inherits another's
//! sessions). The first run is the scenario as recorded: if it does not
//! show the finding, nothing is shrunk (`NOT_REPRODUCED`). A budget of
//! runs and of time bounds the search; each candidate prints one line on
//! stderr (what changed, reproduced or not, elapsed). The smallest
//! scenario that reproduced is written (`written`) with `[expect] shows`
//! set to the finding's kind, and its rule when it names one, so `midge run
//! FILE` passes exactly when it reproduces; a header says what it shows,
//! where it came from and how to rerun it, and each changed key what it was.

pub mod search;
pub mod target;
pub mod written;

use crate::plan::{Overrides, Plan};
use crate::record::vocab::StopSignal;
use crate::record::RunRecord;
use crate::runner::{self, RunOptions};
use crate::scenario::ScenarioFile;
use search::Shrinker;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use target::Target;
use tokio::sync::watch;

/// Exit statuses of `midge shrink` (README "Reproduce a bug and shrink it").
pub mod exit {
    /// The run's finding reproduced; FILE holds the smallest scenario that showed it.
    pub const REPRODUCED: i32 = 0;
    /// The folder, the finding or FILE would not do (nothing run, or nothing written).
    pub const BAD_INPUT: i32 = 2;
    /// The scenario as recorded, run again, did not show the finding: nothing written.
    pub const NOT_REPRODUCED: i32 = 3;
}

/// Default `--max-runs`.
pub const DEFAULT_MAX_RUNS: u32 = 30;
/// Default `--max-time`.
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(600);

/// What the command line passes in.
pub struct ShrinkOptions {
    /// Runs at most, the first rerun of the scenario as recorded included.
    pub max_runs: u32,
    /// No candidate starts once this has passed, or when its planned
    /// duration would take the search past it.
    pub max_time: Duration,
    /// The finding kind to keep, or `spec_violation:RULE` (default: the
    /// first about the broker).
    pub finding: Option<String>,
    pub workers: Option<usize>,
    /// A line per candidate on stderr.
    pub progress: bool,
    pub interrupt: Option<watch::Receiver<Option<StopSignal>>>,
}

impl Default for ShrinkOptions {
    fn default() -> Self {
        ShrinkOptions {
            max_runs: DEFAULT_MAX_RUNS,
            max_time: DEFAULT_MAX_TIME,
            finding: None,
            workers: None,
            progress: true,
            interrupt: None,
        }
    }
}

/// What a shrink found.
#[derive(Debug)]
pub struct ShrinkOutcome {
    pub target: Target,
    /// The finding's count in the last run that reproduced it (0: the
    /// first rerun did not).
    pub shown: u64,
    /// The changes kept, in order.
    pub kept: Vec<String>,
    /// Runs done, the first rerun included.
    pub runs: u32,
    /// The scenario written (None when the first rerun did not reproduce).
    pub written: Option<PathBuf>,
    /// How to run it again.
    pub command: String,
    /// The broker: its `$SYS/broker/version`, else what midge knows of it.
    pub broker: String,
    /// Why the search stopped.
    pub stopped: String,
    pub exit_code: i32,
}

/// The run folder read back: its scenario, overrides, finding and broker.
struct Source {
    record: RunRecord,
    target: Target,
}

fn load(dir: &Path, asked: Option<&str>) -> Result<Source, String> {
    let read =
        |name: &str| std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()));
    let record = RunRecord::from_json(&read(crate::record::RECORD_FILE)?)
        .map_err(|e| format!("{}: {e}", dir.join(crate::record::RECORD_FILE).display()))?;
    if record.plan.shard.is_some() {
        return Err(format!("{}: one shard of a sharded run; shrink a run of the whole plan", dir.display()));
    }
    let report: serde_json::Value = serde_json::from_str(&read("report.json")?)
        .map_err(|e| format!("{}: {e}", dir.join("report.json").display()))?;
    let target = target::pick(&report, asked)?;
    Ok(Source { record, target })
}

/// The broker as a bug report names it.
fn broker_words(record: &RunRecord) -> String {
    let b = &record.broker;
    match b.sys.get("$SYS/broker/version") {
        Some(v) => format!("{v} ({}, {})", b.kind, b.url),
        None => match crate::broker::binary_version().filter(|_| b.kind.contains("mosquitto")) {
            Some(v) => format!("{v} ({}, {})", b.kind, b.url),
            None => format!("{} at {}", b.kind, b.url),
        },
    }
}

/// One candidate run: how many of the finding it showed, and its record.
async fn try_text(
    path: &Path,
    text: &str,
    broker: &Option<String>,
    opts: &ShrinkOptions,
    target: &Target,
) -> Result<(u64, RunRecord), String> {
    let file = ScenarioFile::parse(path, text).map_err(|e| e.to_string())?;
    let plan =
        Plan::build(&file, &Overrides { broker: broker.clone(), ..Default::default() }).map_err(|e| e.to_string())?;
    let run_opts = RunOptions {
        progress: false,
        interrupt: opts.interrupt.clone(),
        workers: opts.workers,
        prometheus: None,
        report_dir: None,
    };
    let out = runner::run(plan, run_opts).await.map_err(|e| format!("could not run: {e}"))?;
    let value = serde_json::to_value(&out.report).map_err(|e| e.to_string())?;
    Ok((target::shown(&value, target), out.record))
}

/// The planned duration of a candidate (0 when it does not parse).
fn planned(text: &str) -> Duration {
    text.parse::<toml::Table>().map(|d| search::duration_of(&d)).unwrap_or_default()
}

fn signalled(opts: &ShrinkOptions) -> Option<StopSignal> {
    opts.interrupt.as_ref().and_then(|r| *r.borrow())
}

/// A run without a duration anywhere ran until Ctrl-C: its candidates run
/// for as long as it published (at least a second), or none would end.
fn ran_until_stopped(scenario_text: &str, published_us: Option<u64>) -> Option<Duration> {
    let doc: toml::Table = scenario_text.parse().ok()?;
    if doc.contains_key("duration") || doc.contains_key("stage") {
        return None;
    }
    Some(Duration::from_micros(published_us?.max(1_000_000)))
}

/// Shrinks the run in `dir` and writes the result to `out`.
pub async fn shrink(dir: &Path, out: &Path, opts: &ShrinkOptions) -> Result<ShrinkOutcome, String> {
    let Source { record, target } = load(dir, opts.finding.as_deref())?;
    let id = &record.plan;
    let path = PathBuf::from(&id.scenario_path);
    let broker_override = id.broker_override.clone();
    let window = record.publishing.as_ref().map(|w| w.stopped_us.saturating_sub(w.start_us));
    let duration = id.duration_override.or_else(|| ran_until_stopped(&id.scenario_text, window));
    let mut shrinker = Shrinker::new(&id.scenario_text, duration)?;
    let started = Instant::now();
    let rerun = match &broker_override {
        Some(b) => format!("midge run {} --broker {b}", out.display()),
        None => format!("midge run {}", out.display()),
    };
    let mut outcome = ShrinkOutcome {
        target: target.clone(),
        shown: 0,
        kept: Vec::new(),
        runs: 0,
        written: None,
        command: rerun,
        broker: broker_words(&record),
        stopped: String::new(),
        exit_code: exit::REPRODUCED,
    };
    let say = |n: u32, change: &str, verdict: &str| {
        if opts.progress {
            eprintln!("midge shrink: run {n:02}: {change}: {verdict} ({:.1} s)", started.elapsed().as_secs_f64());
        }
    };
    // The scenario as recorded, first.
    outcome.runs = 1;
    let first = try_text(&path, &shrinker.current_text(), &broker_override, opts, &target).await;
    if let Some(s) = signalled(opts) {
        return Err(format!("interrupted by {s} during the first rerun"));
    }
    match first {
        Ok((n, rec)) if n > 0 => {
            say(1, "as recorded", &format!("reproduced ({target}: {n})"));
            outcome.shown = n;
            outcome.broker = broker_words(&rec);
        }
        Ok(_) => {
            say(1, "as recorded", "not reproduced");
            outcome.stopped = format!("the scenario as recorded, run again, did not show {target}");
            outcome.exit_code = exit::NOT_REPRODUCED;
            return Ok(outcome);
        }
        Err(e) => return Err(format!("the scenario as recorded: {e}")),
    }
    outcome.stopped = loop {
        if let Some(s) = signalled(opts) {
            break format!("interrupted by {s}");
        }
        if outcome.runs >= opts.max_runs {
            break format!("the budget of {} runs is spent", opts.max_runs);
        }
        let Some(c) = shrinker.next_candidate() else { break "no smaller candidate reproduces".into() };
        if started.elapsed() + planned(&c.text) > opts.max_time {
            break format!("the budget of {} s would be passed", opts.max_time.as_secs());
        }
        outcome.runs += 1;
        let n = outcome.runs;
        match try_text(&path, &c.text, &broker_override, opts, &target).await {
            Ok((shown, rec)) if shown > 0 => {
                say(n, &c.change, &format!("reproduced ({shown})"));
                outcome.shown = shown;
                outcome.broker = broker_words(&rec);
                shrinker.record(true);
            }
            Ok(_) => {
                say(n, &c.change, "not reproduced");
                shrinker.record(false);
            }
            Err(e) => {
                say(n, &c.change, &format!("could not run: {e}"));
                shrinker.record(false);
            }
        }
    };
    outcome.kept = shrinker.kept().to_vec();
    let today = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let provenance = written::Provenance {
        target: &target,
        shown: outcome.shown,
        dir,
        run_id: id.run_id,
        broker: &outcome.broker,
        date: today.get(..10).unwrap_or(&today),
        rerun: &outcome.command,
        kept: &outcome.kept,
    };
    let text = written::written_text(shrinker.current(), shrinker.original(), &provenance);
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    outcome.written = Some(out.to_path_buf());
    Ok(outcome)
}

/// What `midge shrink` prints on stdout at the end.
pub fn summary(o: &ShrinkOutcome) -> String {
    let mut s = String::new();
    match &o.written {
        Some(file) => {
            s += &format!("shrunk: {} ({} runs; {})\n", file.display(), o.runs, o.stopped);
            s += &format!(
                "shows:  {} — {} in its last run (the run shrunk had {})\n",
                o.target, o.shown, o.target.count
            );
            if o.kept.is_empty() {
                s += "kept:   nothing smaller reproduced\n";
            } else {
                s += &format!("kept:   {}\n", o.kept.join("; "));
            }
        }
        None => s += &format!("not reproduced: {}\n", o.stopped),
    }
    s += &format!("broker: {}\n", o.broker);
    if o.written.is_some() {
        s += &format!("rerun:  {}\n", o.command);
    }
    s
}

/// The tests' scenario body: a persistent subscriber, four publishers and
/// three idle bystanders, the subscriber cut at 2 s (a literal, for `concat!`).
#[cfg(test)]
macro_rules! three_groups_cut {
    () => {
        r#"[broker]
url = "embedded"
[[group]]
name = "sub"
clean_session = false
client_id = { scheme = "prefix-serial", prefix = "s-" }
subscribe = { filter = "a/+", qos = 1 }
reconnect = { delay = "3s" }
[[group]]
name = "pub"
clients = 4
publish = { topic = "a/{i}", qos = 1, rate = 8, payload = 64, start_after = "1s" }
[[group]]
name = "idle"
clients = 3
[[fault]]
at = "2s"
action = "cut"
group = "sub"
"#
    };
}
#[cfg(test)]
pub(crate) use three_groups_cut;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_until_ctrl_c_is_shrunk_over_what_it_published() {
        let open = "name = \"x\"\n[[group]]\nname = \"g\"\n";
        assert_eq!(ran_until_stopped(open, Some(7_500_000)), Some(Duration::from_micros(7_500_000)));
        assert_eq!(ran_until_stopped(open, Some(10)), Some(Duration::from_secs(1)), "at least a second");
        assert_eq!(ran_until_stopped(open, None), None, "it never published");
        assert_eq!(ran_until_stopped(&format!("duration = \"3s\"\n{open}"), Some(7_500_000)), None);
        assert_eq!(ran_until_stopped(&format!("{open}[[stage]]\nduration = \"2s\"\n"), Some(7_500_000)), None);
    }
}
