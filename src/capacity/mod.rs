//! `midge capacity`: how much load a broker holds, and where it breaks.
//! Each step is one ordinary run (`runner::run`) of the scenario with the
//! stepped groups' clients (or publish rate) set to the step's value, all
//! against one broker started once for the whole search; each step is
//! judged by `[capacity.pass]` (`rule::judge`), and the sequence of steps
//! (`search::Search`) climbs a ladder to the first failing step, then
//! bisects between the last pass and the first fail.
//!
//! Each step: `step::step_text` → `Plan::build` (`Overrides`: the broker is the
//! search's one URL, the duration its `hold`) → `runner::run` → the step folder
//! `steps/NN/` (report files and record) → `rule::judge`. With `fresh_broker`
//! the spawned broker is restarted before every step (`BrokerHandle::restart`).
//! At the end `capacity.json` holds the `CapacityInfo`, and the knee step's
//! report (the first failing step's, else the last run's) gets
//! `Report.capacity` and is written as the search's own report.{json,md,html}.
//! A search cannot reach a TLS listener midge starts (its steps go by URL and
//! would not trust the throwaway certificate).

pub mod rule;
pub mod search;
pub mod step;

use crate::analysis::model::{CapacityInfo, CapacityStep, Report};
use crate::broker::{self, BrokerError, BrokerHandle};
use crate::plan::{Overrides, Plan};
use crate::record::vocab::StopSignal;
use crate::runner::{self, exit, RunOptions};
use crate::scenario::{BrokerSpec, CapacitySpec, CapacityVary, ScenarioFile};
use search::{End, Outcome, Search};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// The file the search is written to, beside report.json.
pub const CAPACITY_FILE: &str = "capacity.json";

/// How long the broker gets between steps to close the last step's connections.
const SETTLE: Duration = Duration::from_millis(500);

/// What the command line passes in.
#[derive(Default)]
pub struct CapacityOptions {
    /// `--broker` (overrides the scenario's).
    pub broker: Option<String>,
    pub source_addrs: Option<Vec<std::net::IpAddr>>,
    pub workers: Option<usize>,
    /// The live progress line during each step, and a line per step on stderr.
    pub progress: bool,
    pub interrupt: Option<watch::Receiver<Option<StopSignal>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    #[error("{0}: no [capacity] table: `midge capacity` needs one (what to step, from where, and the pass rule; see docs/guide/capacity.md)")]
    NoTable(PathBuf),
    #[error("{0}")]
    Plan(String),
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

pub struct CapacityOutput {
    pub info: CapacityInfo,
    /// The report of the step at the knee (the first failing step, else
    /// the last step run), with `capacity` filled; None when no step ran.
    pub report: Option<Report>,
    pub exit_code: i32,
}

/// A step's value as people read it: clients whole, rates without trailing zeros.
pub fn fmt_value(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// "clients" or "msg/s per client".
pub fn unit(vary: CapacityVary) -> &'static str {
    match vary {
        CapacityVary::Rate => "msg/s per client",
        CapacityVary::Clients | CapacityVary::Both => "clients",
    }
}

/// The broker every step runs against: started once here when the scenario
/// (or `--broker`) asks midge to start one, and stopped when this is dropped.
struct SearchBroker {
    url: String,
    kind: String,
    handle: Option<BrokerHandle>,
}

async fn start_broker(base: &Plan, url: &str) -> Result<SearchBroker, BrokerError> {
    match &base.broker {
        BrokerSpec::External { .. } => Ok(SearchBroker { url: url.to_string(), kind: "external".into(), handle: None }),
        spec => {
            let protocol = base.groups.first().map(|g| g.protocol).unwrap_or_default();
            let handle = broker::start(spec, protocol, &base.mosquitto_conf, base.persistence).await?;
            Ok(SearchBroker { url: handle.url.clone(), kind: handle.kind.to_string(), handle: Some(handle) })
        }
    }
}

fn signalled(rx: &Option<watch::Receiver<Option<StopSignal>>>) -> Option<StopSignal> {
    rx.as_ref().and_then(|r| *r.borrow())
}

/// What every step of one search shares.
struct Searching<'a> {
    file: &'a ScenarioFile,
    spec: &'a CapacitySpec,
    groups: Vec<usize>,
    hold: Duration,
    out: &'a Path,
    opts: &'a CapacityOptions,
}

/// One step run and judged.
struct StepDone {
    step: CapacityStep,
    report: Report,
    outcome: Outcome,
}

/// Runs the search described by the scenario's `[capacity]` table, writing
/// every step's run into `out/steps/NN/` and the search into
/// `out/capacity.json` and `out/report.{json,md,html}`.
pub async fn run(file: &ScenarioFile, out: &Path, opts: CapacityOptions) -> Result<CapacityOutput, CapacityError> {
    let spec: CapacitySpec = file
        .scenario
        .capacity
        .as_ref()
        .map(|c| c.get_ref().clone())
        .ok_or_else(|| CapacityError::NoTable(file.path.clone()))?;
    let base_overrides = Overrides { broker: opts.broker.clone(), ..Default::default() };
    let base =
        Plan::build(file, &base_overrides).map_err(|e| CapacityError::Plan(format!("{}: {e}", file.path.display())))?;
    let groups = file.capacity_groups();
    let group_names: Vec<String> = groups.iter().map(|&i| file.scenario.groups[i].get_ref().name.clone()).collect();
    // A scenario without a duration would run until Ctrl-C: a step holds the default instead.
    let base_hold = if base.until_stopped { crate::scenario::DEFAULT_DURATION } else { base.duration };
    let hold = spec.hold.map(|h| h.0).unwrap_or(base_hold);
    let url = opts
        .broker
        .clone()
        .or_else(|| file.scenario.broker.url.as_ref().map(|u| u.joined()))
        .unwrap_or_else(|| "embedded".into());
    // Each step reaches the broker by its URL, which cannot carry the
    // throwaway CA of a TLS listener midge starts.
    if base.broker.is_tls() && !matches!(base.broker, BrokerSpec::External { .. }) {
        return Err(CapacityError::Plan(format!(
            "midge capacity cannot search {url}: its steps reach the broker by URL and would not trust the throwaway certificate; use mqtts:// or wss:// with [broker.tls], or the same broker over TCP or +ws"
        )));
    }
    let mut broker = start_broker(&base, &url).await?;
    if spec.fresh_broker && broker.handle.as_ref().and_then(|h| h.pid()).is_none() {
        return Err(CapacityError::Plan(format!(
            "{}: [capacity] fresh_broker = true needs spawn:mosquitto (a broker midge starts), not {url}",
            file.path.display()
        )));
    }
    let mut info = CapacityInfo {
        vary: spec.vary,
        groups: group_names,
        hold_s: hold.as_secs_f64(),
        broker_url: broker.url.clone(),
        broker_kind: broker.kind.clone(),
        fresh_broker: spec.fresh_broker,
        steps: Vec::new(),
        last_pass: None,
        first_fail: None,
        reason: String::new(),
    };
    let ctx = Searching { file, spec: &spec, groups, hold, out, opts: &opts };
    let mut search = Search::new(&spec);
    let (reports, stopped, failed_to_run) = search_steps(&ctx, &mut broker, &mut search, &mut info).await;
    drop(broker);
    Ok(conclude(info, &search, reports, stopped, failed_to_run))
}

/// Runs steps until the search ends, a signal stops it, or a step cannot run.
async fn search_steps(
    ctx: &Searching<'_>,
    broker: &mut SearchBroker,
    search: &mut Search,
    info: &mut CapacityInfo,
) -> (Vec<Report>, Option<StopSignal>, Option<String>) {
    let mut reports: Vec<Report> = Vec::new();
    while let Some(value) = search.next_value() {
        if let Some(s) = signalled(&ctx.opts.interrupt) {
            return (reports, Some(s), None);
        }
        let n = info.steps.len() + 1;
        if n > 1 {
            tokio::time::sleep(SETTLE).await;
            if let (true, Some(h)) = (ctx.spec.fresh_broker, broker.handle.as_mut()) {
                if let Err(e) = h.restart(Duration::ZERO).await {
                    return (reports, None, Some(format!("step {n:02}: cannot start the broker afresh: {e}")));
                }
            }
        }
        let done = match run_step(ctx, broker, n, value, info.vary).await {
            Ok(done) => done,
            Err(e) => return (reports, None, Some(e)),
        };
        let r = &done.report;
        let signal = r.interrupted.then(|| r.stop_signal.unwrap_or(StopSignal::Sigint));
        info.steps.push(done.step);
        reports.push(done.report);
        search.record(value, done.outcome);
        if signal.is_some() {
            return (reports, signal, None);
        }
    }
    (reports, None, None)
}

/// The plan of step `n`: the stepped groups' clients or rate set to `value`.
fn step_plan(ctx: &Searching<'_>, broker_url: &str, n: usize, value: f64) -> Result<Plan, String> {
    let build = || -> Result<Plan, String> {
        let text = step::step_text(&ctx.file.text, &ctx.groups, ctx.spec.vary, value, ctx.spec.start)?;
        let file = ScenarioFile::parse(&ctx.file.path, &text).map_err(|e| e.to_string())?;
        let o = Overrides {
            broker: Some(broker_url.to_string()),
            duration: Some(ctx.hold),
            source_addrs: ctx.opts.source_addrs.clone(),
            ..Default::default()
        };
        Plan::build(&file, &o).map_err(|e| e.to_string())
    };
    build().map_err(|e| format!("step {n:02} ({}): {e}", fmt_value(value)))
}

/// Runs one step against the search's broker, writes its folder and judges it.
async fn run_step(
    ctx: &Searching<'_>,
    broker: &SearchBroker,
    n: usize,
    value: f64,
    vary: CapacityVary,
) -> Result<StepDone, String> {
    let plan = step_plan(ctx, &broker.url, n, value)?;
    let (clients, rate) = stepped_load(&plan, &ctx.groups);
    let planned_offered = rule::planned_offered(&plan);
    let stepped = rule::stepped_clients(&plan, &ctx.groups);
    if ctx.opts.progress {
        let (v, r) = (fmt_value(value), fmt_value(rate));
        eprintln!("midge capacity: step {n:02}: {v} {} ({clients} clients, {r} msg/s per client)", unit(vary));
    }
    let handle = broker.handle.as_ref();
    let cpu_before = handle.and_then(|h| h.cpu_seconds());
    let o = ctx.opts;
    let run_opts = RunOptions {
        progress: o.progress,
        interrupt: o.interrupt.clone(),
        workers: o.workers,
        prometheus: None,
        report_dir: None,
    };
    let output = runner::run(plan, run_opts)
        .await
        .map_err(|e| format!("step {n:02} ({}) could not run: {e}", fmt_value(value)))?;
    let broker_cpu_s = match (cpu_before, handle.and_then(|h| h.cpu_seconds())) {
        (Some(a), Some(b)) => Some(((b - a) * 1000.0).round() / 1000.0),
        _ => None,
    };
    let dir = format!("steps/{n:02}");
    let step_dir = ctx.out.join(&dir);
    output
        .report
        .write_files(&step_dir)
        .and_then(|()| crate::report::write_record(&output.record, &step_dir))
        .map_err(|e| format!("cannot write step {n:02} to {}: {e}", step_dir.display()))?;
    let never_connected = rule::never_connected(&stepped, &output.record);
    let planned = rule::Planned { offered: planned_offered, clients, never_connected };
    let judged = rule::judge(&ctx.spec.pass, &output.report, &planned);
    let r = &output.report;
    let step = CapacityStep {
        dir,
        value,
        clients,
        rate_per_client: rate,
        offered: r.messages.expected,
        planned_offered,
        delivered_ratio: rule::delivered_ratio(r, &planned),
        delivered: r.messages.received,
        lost: r.messages.lost,
        connect_failures: r.clients.connect_failures.values().sum(),
        never_connected,
        e2e_p50_us: r.latency.e2e.p50_us,
        e2e_p99_us: r.latency.e2e.p99_us,
        e2e_receive_time: r.latency.own.e2e_receive_time,
        connect_p99_us: r.latency.connect.p99_us,
        broker_cpu_s,
        broker_rss_kib: handle.and_then(|h| h.rss_kib()),
        midge_cpu_utilization: r.load_generator.cpu_utilization,
        pass: judged.outcome == Outcome::Pass,
        invalid: judged.outcome == Outcome::Invalid,
        why: judged.why,
    };
    if ctx.opts.progress {
        let verdict = match judged.outcome {
            Outcome::Pass => "pass".to_string(),
            Outcome::Fail => format!("FAIL: {}", step.why.join("; ")),
            Outcome::Invalid => format!("invalid: {}", step.why.join("; ")),
        };
        eprintln!("midge capacity: step {n:02}: {verdict}");
    }
    Ok(StepDone { step, report: output.report, outcome: judged.outcome })
}

/// The search's result: the knee, why it stopped, the exit status, and the
/// report of the step at the knee (the first failing one, else the last run).
fn conclude(
    mut info: CapacityInfo,
    search: &Search,
    mut reports: Vec<Report>,
    stopped: Option<StopSignal>,
    failed_to_run: Option<String>,
) -> CapacityOutput {
    info.last_pass = search.last_pass();
    info.first_fail = search.first_fail();
    info.reason = reason(&info, search.end(), stopped, failed_to_run.as_deref());
    let exit_code = match (stopped, &failed_to_run) {
        (Some(s), _) => exit::of_signal(s),
        (None, Some(_)) => exit::BAD_INPUT,
        (None, None) if info.last_pass.is_none() => exit::EXPECTATION_FAILED,
        (None, None) => exit::PASS,
    };
    let at = info
        .first_fail
        .and_then(|f| info.steps.iter().position(|s| s.value == f))
        .or_else(|| info.steps.len().checked_sub(1));
    let report = at.map(|i| {
        let mut r = reports.swap_remove(i);
        // The step reached the search's broker by its URL; the search knows
        // whether midge started it.
        r.broker.kind.clone_from(&info.broker_kind);
        r.capacity = Some(info.clone());
        r
    });
    CapacityOutput { info, report, exit_code }
}

/// Clients of the stepped groups together, and the first stepped publishing
/// group's rate per client (0 when none publishes).
fn stepped_load(plan: &Plan, groups: &[usize]) -> (u64, f64) {
    let stepped = groups.iter().filter_map(|&i| plan.groups.get(i));
    let clients = stepped.clone().map(|g| g.clients as u64).sum();
    let rate = stepped.filter_map(|g| g.publish.as_ref()).map(|p| p.rate).next().unwrap_or(0.0);
    (clients, rate)
}

/// Why the search stopped, in words.
fn reason(info: &CapacityInfo, end: Option<End>, stopped: Option<StopSignal>, failed: Option<&str>) -> String {
    let unit = unit(info.vary);
    let step_at = |v: f64| info.steps.iter().find(|s| s.value == v);
    let why_at = |v: f64| step_at(v).map(|s| s.why.join("; ")).unwrap_or_default();
    if let Some(e) = failed {
        return e.to_string();
    }
    if let Some(s) = stopped {
        return format!("interrupted by {s} at step {:02}", info.steps.len());
    }
    match end {
        Some(End::Invalid(v)) => {
            format!(
                "midge was saturated at {} {unit}: {} — that step says nothing about the broker",
                fmt_value(v),
                why_at(v)
            )
        }
        Some(End::PassedAll) => format!(
            "every step passed, up to {} {unit} (the last of the ladder's steps)",
            info.last_pass.map(fmt_value).unwrap_or_default()
        ),
        Some(End::FirstStepFails) => {
            let v = info.first_fail.unwrap_or_default();
            format!("the first step ({} {unit}) already fails: {}", fmt_value(v), why_at(v))
        }
        Some(End::Knee) | None => {
            let v = info.first_fail.unwrap_or_default();
            format!("{} {unit} fails: {}", fmt_value(v), why_at(v))
        }
    }
}

/// Writes `capacity.json` and, when a step ran, the knee step's report
/// (with the search in it) as report.json, report.md and report.html.
pub fn write(out: &Path, output: &CapacityOutput) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let json = serde_json::to_string_pretty(&output.info).map_err(std::io::Error::other)?;
    std::fs::write(out.join(CAPACITY_FILE), json + "\n")?;
    if let Some(r) = &output.report {
        r.write_files(out)?;
    }
    Ok(())
}
