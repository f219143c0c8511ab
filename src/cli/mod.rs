//! Command line: `midge run`, `midge validate`, `midge report`, `midge compare`, `midge capacity`,
//! `midge merge`, `midge shrink` (`shrink.rs`), `midge conn|sub|pub` (`bench.rs`).
//! Parses, hands over to the runner (or the capacity search), writes the report, and turns the
//! outcome into an exit status.
//!
//! `help`: what `run --help` and `validate --help` say beyond the flags, and
//! the flag parsers. `signals`: SIGINT, SIGTERM and SIGHUP become the run's
//! interrupt channel (`stop_signal_channel`); a second signal stops spawned
//! brokers (`broker::stop_all_spawned`) and exits at once. The panic hook
//! (`stop_brokers_on_fatal_panic`) stops spawned brokers when the main thread
//! panics. `--prometheus` binds its listener here.

use crate::plan::{Overrides, Plan};
use crate::report::compare::FailOn;
use crate::runner::{self, exit, RunOptions};
use crate::scenario::ScenarioFile;
use clap::{Parser, Subcommand};
use help::{parse_duration_arg, parse_fail_on, parse_start_at, parse_workers, EXIT_HELP, SCENARIO_HELP};
use signals::{main_runtime, stop_brokers_on_fatal_panic, stop_signal_channel};
use std::path::{Path, PathBuf};

mod bench;
mod compare;
mod help;
mod shrink;
mod signals;

#[derive(Parser, Debug)]
#[command(
    name = "midge",
    version,
    about = "Load- and soak-test MQTT brokers with a swarm of clients, and account for every message."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario and write its report (report.html, report.json, report.md).
    #[command(after_help = format!("{SCENARIO_HELP}\n\n{EXIT_HELP}"))]
    Run {
        /// The scenario file (TOML), e.g. scenarios/quickstart.toml.
        scenario: PathBuf,
        /// Broker to test (overrides the scenario): mqtt://, mqtts://, ws://,
        /// wss:// URL, "embedded" or "spawn:mosquitto" (see below). Several
        /// (a cluster's nodes) as a comma list or by repeating --broker: each
        /// group's clients spread over them round-robin.
        #[arg(long)]
        broker: Vec<String>,
        /// Write the report (report.html to open in a browser, report.json,
        /// report.md) and the run record (record.json) into exactly this
        /// directory (default: reports/<scenario>-<timestamp>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// How long to publish, e.g. "30s" (overrides the scenario's duration;
        /// with none anywhere, until Ctrl-C).
        #[arg(long, value_parser = parse_duration_arg)]
        duration: Option<std::time::Duration>,
        /// No live progress line and no summary on stdout.
        #[arg(long, short)]
        quiet: bool,
        /// Connect from these local addresses, e.g. "127.0.0.2-127.0.0.9" or a
        /// comma list (default: the kernel's choice, or enough 127.0.0.x
        /// addresses picked automatically when one has too few source ports).
        #[arg(long, value_parser = crate::scenario::parse_source_addrs)]
        source_addrs: Option<Vec<std::net::IpAddr>>,
        /// Client worker threads, each a single-threaded runtime (default: one per core).
        #[arg(long, value_parser = parse_workers)]
        workers: Option<usize>,
        /// The PID of a broker on this machine that midge did not start: its
        /// CPU and memory go into the time series beside midge's own (a
        /// spawned broker's are measured without it).
        #[arg(long, value_name = "PID")]
        broker_pid: Option<u32>,
        /// Serve live metrics for Prometheus at http://ADDR/metrics while the
        /// run goes on, on the address named: 127.0.0.1:9464 (this machine
        /// only), 0.0.0.0:9464 (a pod, scraped by Prometheus); port 0 picks a
        /// free one. deploy/grafana/midge.json is a dashboard over them.
        #[arg(long, value_name = "ADDR", value_parser = crate::prometheus::parse_listen_addr)]
        prometheus: Option<std::net::SocketAddr>,
        #[command(flatten)]
        shard: ShardArgs,
    },
    /// Merge the run folders of a sharded run (`midge run --shard I/N`, one
    /// per shard) into one report, as if one process had run the whole plan:
    /// the records are joined and analysed once (streams that cross shards
    /// included). A missing shard, or a folder of another run, is named.
    /// Two folders of a `midge pub` and a `midge sub` with the same --run-id
    /// merge likewise: one plan of both, counted exactly as one run.
    Merge {
        /// The shards' run folders (each holding record.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the merged report goes.
        #[arg(long)]
        out: PathBuf,
        /// No summary on stdout.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Find how much load the broker holds: step the scenario's `[capacity]`
    /// table (clients or publish rate), one run per step, until a step fails
    /// the pass rule, then bisect; write DIR/capacity.json, the knee step's
    /// report with the search in it, and every step under DIR/steps/NN/.
    Capacity {
        /// The scenario file (TOML), with a `[capacity]` table.
        scenario: PathBuf,
        /// Broker to test: mqtt://host:port, "embedded" or "spawn:mosquitto"
        /// (overrides the scenario; a spawned or embedded broker is started
        /// once for the whole search).
        #[arg(long)]
        broker: Option<String>,
        /// Write the search into exactly this directory
        /// (default: reports/<scenario>-capacity-<timestamp>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No live progress and no summary on stdout.
        #[arg(long, short)]
        quiet: bool,
        /// Connect from these local addresses (as for `run`).
        #[arg(long, value_parser = crate::scenario::parse_source_addrs)]
        source_addrs: Option<Vec<std::net::IpAddr>>,
        /// Client worker threads (as for `run`).
        #[arg(long, value_parser = parse_workers)]
        workers: Option<usize>,
    },
    /// emqtt-bench's `conn`: -c clients connect (-i ms apart, or -R per
    /// second) and stay connected; the report says how many made it and how fast.
    #[command(disable_help_flag = true)]
    Conn(bench::ConnArgs),
    /// emqtt-bench's `sub`, e.g. `midge sub -c 1 -t 'bench/#' -q 1`: what the
    /// tracking headers say per publisher (gaps, duplicates, order, e2e).
    #[command(disable_help_flag = true)]
    Sub(bench::SubArgs),
    /// emqtt-bench's `pub`, e.g. `midge pub -c 1000 -I 10 -t 'bench/%i'`;
    /// `midge merge PUBDIR SUBDIR` joins it with a `midge sub` of the same --run-id.
    #[command(disable_help_flag = true)]
    Pub(bench::PubArgs),
    /// Cut a finished run's finding down to a small scenario that still shows it.
    ///
    /// Drops groups, halves clients, duration (faults move with
    /// it) and rates, running each candidate for real against the run's
    /// broker (an external URL again, an embedded or spawned one started
    /// the same way). Writes the smallest that reproduced to FILE, with
    /// `[expect] shows` set, and prints the command to rerun it. Exit 0:
    /// reproduced (and shrunk as far as the budget went); 3: the first
    /// rerun did not show the finding (nothing written); 2: bad input.
    Shrink(shrink::ShrinkArgs),
    /// Check a scenario file without running it (and that one process here can hold its clients).
    #[command(after_help = format!("{SCENARIO_HELP}\n\nExit status: 0 the scenario is valid; 2 it is not (file:line:column: what is wrong)."))]
    Validate {
        /// The scenario file (TOML), e.g. scenarios/quickstart.toml.
        scenario: PathBuf,
        /// The run is to be split over N shards (`run --shard I/N`): one shard's clients must fit.
        #[arg(long, value_name = "N")]
        shards: Option<u32>,
    },
    /// Analyse a finished run again from its record (DIR/record.json) and
    /// write report.json, report.md and report.html anew.
    Report {
        /// The run's folder (the one holding record.json).
        dir: PathBuf,
        /// No summary on stdout.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Compare two runs' report.json figure by figure (A the baseline, B the
    /// new run): counts, latency percentiles, midge's own load, capacity.
    Compare {
        /// The baseline: a report.json, or a run folder holding one.
        a: PathBuf,
        /// The run compared with it: a report.json, or a run folder holding one.
        b: PathBuf,
        /// Exit 1 when FIGURE (a name as printed, e.g. e2e.p99) got worse by
        /// more than PCT percent; `lost:0` fails on any increase. Repeatable.
        #[arg(long = "fail-on", value_name = "FIGURE:PCT", value_parser = parse_fail_on)]
        fail_on: Vec<FailOn>,
        /// The comparison as JSON on stdout, for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Sharding a run over several processes or machines (`midge merge` joins them).
#[derive(clap::Args, Debug, Default)]
pub struct ShardArgs {
    /// Run the I-th of N slices of the plan (0 ≤ I < N), e.g. 2/8. Default:
    /// $MIDGE_SHARD, or $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's
    /// pod) of --shards N.
    #[arg(long, env = "MIDGE_SHARD", value_name = "I/N")]
    shard: Option<crate::plan::shard::ShardId>,
    /// How many shards, when the index comes from $JOB_COMPLETION_INDEX.
    #[arg(long, env = "MIDGE_SHARDS", value_name = "N")]
    shards: Option<u32>,
    /// Names the run: its run id is derived from the scenario and NAME, so
    /// every shard given the same NAME shares it (16 hex digits: the id itself).
    #[arg(long, env = "MIDGE_RUN_ID", value_name = "NAME")]
    run_id: Option<String>,
    /// When publishing starts, RFC 3339 (e.g. 2026-12-01T10:00:00Z), the same
    /// for every shard so their stages line up; a shard not ready by then
    /// starts late and its report says by how much.
    #[arg(long, env = "MIDGE_START_AT", value_name = "TIME", value_parser = parse_start_at)]
    start_at: Option<u64>,
    /// Also print the run record (record.json) on stdout at the end, for
    /// log collection (the summary then goes to stderr).
    #[arg(long)]
    print_record: bool,
}

impl ShardArgs {
    /// The shard to run: --shard / $MIDGE_SHARD, else $JOB_COMPLETION_INDEX of --shards.
    fn shard(&self) -> Result<Option<crate::plan::shard::ShardId>, String> {
        if self.shard.is_some() {
            return Ok(self.shard);
        }
        match (std::env::var("JOB_COMPLETION_INDEX").ok(), self.shards) {
            (Some(i), Some(n)) => format!("{}/{n}", i.trim()).parse().map(Some).map_err(|e| format!("JOB_COMPLETION_INDEX: {e}")),
            (None, Some(n)) => Err(format!("--shards {n}: which shard is this? give --shard I/{n} (or run as a Kubernetes Indexed Job, which sets JOB_COMPLETION_INDEX)")),
            _ => Ok(None),
        }
    }
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    crate::runner::memory::tune_malloc();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::BAD_INPUT } else { exit::PASS };
        }
    };
    match cli.command {
        Command::Validate { scenario, shards } => validate(&scenario, shards.unwrap_or(1)),
        Command::Report { dir, quiet } => rerender(&dir, quiet),
        Command::Compare { a, b, fail_on, json } => compare::compare_reports(&a, &b, &fail_on, json),
        Command::Merge { dirs, out, quiet } => merge(&dirs, &out, quiet),
        Command::Run {
            scenario,
            broker,
            out,
            duration,
            quiet,
            source_addrs,
            workers,
            broker_pid,
            prometheus,
            shard,
        } => {
            if let Some(pid) = broker_pid.filter(|&p| !crate::metrics::pid_exists(p)) {
                eprintln!(
                    "error: --broker-pid {pid}: no such process on this machine (/proc/{pid} does not exist); give the PID of the broker's process, e.g. from `pgrep mosquitto`"
                );
                return exit::BAD_INPUT;
            }
            stop_brokers_on_fatal_panic();
            let which = match shard.shard() {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::BAD_INPUT;
                }
            };
            let overrides = Overrides {
                broker: broker_list(&broker),
                duration,
                source_addrs,
                broker_pid,
                shard: which,
                run_name: shard.run_id.clone(),
                start_at_unix_us: shard.start_at,
                ..Default::default()
            };
            run(&scenario, overrides, out, RunFlags { quiet, workers, prometheus, print_record: shard.print_record })
        }
        Command::Conn(a) => bench_run(&bench::Bench::Conn(a)),
        Command::Sub(a) => bench_run(&bench::Bench::Sub(a)),
        Command::Pub(a) => bench_run(&bench::Bench::Pub(a)),
        Command::Shrink(args) => {
            stop_brokers_on_fatal_panic();
            shrink::shrink(args)
        }
        Command::Capacity { scenario, broker, out, quiet, source_addrs, workers } => {
            stop_brokers_on_fatal_panic();
            let opts = crate::capacity::CapacityOptions { broker, source_addrs, workers, ..Default::default() };
            capacity(&scenario, opts, out, quiet)
        }
    }
}

/// `--broker`, a comma list or the flag given several times, as one comma
/// list (`BrokerUrls::from_list` splits it again); None: not given.
fn broker_list(broker: &[String]) -> Option<String> {
    (!broker.is_empty()).then(|| broker.join(","))
}

/// `midge validate`: the file, the open-file limit, the plan (whole only when small: `Plan::outline`).
fn validate(path: &Path, shards: u32) -> i32 {
    let f = match ScenarioFile::load(path).and_then(|f| crate::limits::check_scenario(&f, shards).map(|()| f)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return exit::BAD_INPUT;
        }
    };
    let whole = f.small_enough_to_plan_whole();
    match if whole { Plan::build(&f, &Overrides::default()) } else { Plan::outline(&f, &Overrides::default()) } {
        Ok(plan) => {
            let clients: u64 = plan.groups.iter().map(|g| g.clients as u64).sum();
            let streams = if whole { format!("{} streams", plan.streams.len()) } else { "streams found at run".into() };
            let until = if plan.until_stopped { "; no duration: publishes until Ctrl-C" } else { "" };
            println!(
                "{}: ok — scenario {:?}, {} groups, {clients} clients, {streams}{until}",
                path.display(),
                plan.name,
                plan.groups.len()
            );
            if plan.brokers.len() > 1 {
                for line in broker_lines(&plan.clients_per_broker()) {
                    println!("  {line}");
                }
            }
            exit::PASS
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            exit::BAD_INPUT
        }
    }
}

/// `midge validate` of a run of several brokers: one line per broker, its
/// clients and from which groups, e.g. `mqtt://a:1883: 3 clients (sub 2, pub 1)`.
fn broker_lines(shares: &[crate::plan::BrokerShare]) -> Vec<String> {
    shares
        .iter()
        .map(|s| {
            let groups: Vec<String> = s.groups.iter().map(|(g, n)| format!("{g} {n}")).collect();
            match s.clients {
                0 => format!("{}: no clients", s.url),
                1 => format!("{}: 1 client ({})", s.url, groups.join(", ")),
                n => format!("{}: {n} clients ({})", s.url, groups.join(", ")),
            }
        })
        .collect()
}

/// `midge merge`: the shards' records joined and analysed once, written to `out`.
fn merge(dirs: &[PathBuf], out: &Path, quiet: bool) -> i32 {
    match crate::merge::merge_dirs(dirs, out) {
        Ok(merged) => {
            for w in &merged.warnings {
                eprintln!("warning: {w}");
            }
            if !quiet {
                println!("{}", crate::report::markdown::render(&merged.report));
            }
            print_report_paths(out);
            runner::exit_code(&merged.report)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::BAD_INPUT
        }
    }
}

fn rerender(dir: &Path, quiet: bool) -> i32 {
    match crate::report::rerender(dir) {
        Ok(report) => {
            if !quiet {
                println!("{}", crate::report::markdown::render(&report));
            }
            print_report_paths(dir);
            runner::exit_code(&report)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::BAD_INPUT
        }
    }
}

fn slug(name: &str) -> String {
    let s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    s.trim_matches('-').to_string()
}

fn default_out_dir(name: &str) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace([':', '-'], "")
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_string();
    PathBuf::from("reports").join(format!("{}-{stamp}", slug(name)))
}

/// `midge run`'s options besides the plan's.
struct RunFlags {
    quiet: bool,
    workers: Option<usize>,
    prometheus: Option<std::net::SocketAddr>,
    print_record: bool,
}

/// `midge conn|sub|pub`: the scenario the flags stand for, run as a file is.
fn bench_run(b: &bench::Bench) -> i32 {
    let line = std::env::args().collect::<Vec<_>>().join(" ").replace(['\n', '\r'], " ");
    match bench::prepare(b, &line) {
        Ok(p) => {
            stop_brokers_on_fatal_panic();
            let flags = RunFlags { quiet: p.quiet, workers: p.workers, prometheus: p.prometheus, print_record: false };
            run_file(p.file, p.overrides, p.out, flags)
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::BAD_INPUT
        }
    }
}

fn run(path: &Path, overrides: Overrides, out: Option<PathBuf>, flags: RunFlags) -> i32 {
    match ScenarioFile::load(path) {
        Ok(f) => run_file(f, overrides, out, flags),
        Err(e) => {
            eprintln!("error: {e}");
            exit::BAD_INPUT
        }
    }
}

fn run_file(file: ScenarioFile, overrides: Overrides, out: Option<PathBuf>, flags: RunFlags) -> i32 {
    let RunFlags { quiet, workers, prometheus, print_record } = flags;
    let processes = overrides.shard.map_or(1, |s| s.count);
    if let Err(e) = crate::limits::check_scenario(&file, processes) {
        eprintln!("error: {e}");
        return exit::BAD_INPUT;
    }
    let plan = match Plan::build(&file, &overrides) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}: {e}", file.path.display());
            return exit::BAD_INPUT;
        }
    };
    let out_dir = out.unwrap_or_else(|| default_out_dir(&plan.name));
    // A shard that cannot run says so in its folder, so the merge can name it.
    let shard_error = plan.shard.as_ref().map(|s| crate::merge::ShardError {
        shard: crate::record::shards::ShardOf { index: s.id.index, count: s.id.count },
        run_id: format!("{:016x}", plan.run_id),
        scenario_sha256: plan.scenario_sha256.clone(),
        error: String::new(),
    });
    let runtime = match main_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let until_stopped = plan.until_stopped;
    if until_stopped {
        eprintln!("midge: {}: no duration — publishing until Ctrl-C (or --duration 30s)", file.path.display());
    }
    runtime.block_on(async move {
        let interrupt_rx = stop_signal_channel(until_stopped);
        let prometheus = match prometheus {
            Some(addr) => match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => {
                    let bound = listener.local_addr().unwrap_or(addr);
                    eprintln!("midge: Prometheus metrics at http://{bound}/metrics");
                    Some(listener)
                }
                Err(e) => {
                    eprintln!("error: --prometheus {addr}: cannot listen there: {e}");
                    return exit::BAD_INPUT;
                }
            },
            None => None,
        };
        let opts = RunOptions {
            progress: !quiet,
            interrupt: Some(interrupt_rx),
            workers,
            prometheus,
            report_dir: Some(out_dir.clone()),
        };
        let output = match runner::run(plan, opts).await {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: {e}");
                if let Some(mut marker) = shard_error {
                    marker.error = e.to_string();
                    let _ = std::fs::create_dir_all(&out_dir).and_then(|()| {
                        let text = serde_json::to_string_pretty(&marker).map_err(std::io::Error::other)?;
                        std::fs::write(out_dir.join(crate::merge::SHARD_ERROR_FILE), text + "\n")
                    });
                }
                return exit::BAD_INPUT;
            }
        };
        let written =
            output.report.write_files(&out_dir).and_then(|()| crate::report::write_record(&output.record, &out_dir));
        if let Err(e) = written {
            eprintln!("error: cannot write the report to {}: {e}", out_dir.display());
            if !quiet {
                println!("{}", crate::report::markdown::render(&output.report));
            }
            return exit::BAD_INPUT.max(output.exit_code);
        }
        if print_record {
            print!("{}", output.record.to_json());
            if !quiet {
                eprintln!("{}", crate::report::markdown::render(&output.report));
            }
        } else if !quiet {
            println!("{}", crate::report::markdown::render(&output.report));
        }
        if let Some(e) = &output.report.error {
            eprintln!("error: {e}");
        }
        print_report_paths(&out_dir);
        output.exit_code
    })
}

/// The run's last lines: the page to open, then the machine-readable report.
fn print_report_paths(dir: &Path) {
    eprintln!("report: {}", dir.join("report.html").display());
    eprintln!("report: {}", dir.join("report.json").display());
}

/// `midge capacity`: the search, with the same stop signals as a run (the
/// step running when one comes is cut short and written; the search stops).
fn capacity(path: &Path, mut opts: crate::capacity::CapacityOptions, out: Option<PathBuf>, quiet: bool) -> i32 {
    let file = match ScenarioFile::load(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if file.scenario.capacity.is_none() {
        eprintln!("error: {}", crate::capacity::CapacityError::NoTable(path.to_path_buf()));
        return exit::BAD_INPUT;
    }
    let out_dir = out.unwrap_or_else(|| default_out_dir(&format!("{}-capacity", file.scenario.name)));
    let runtime = match main_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let interrupt_rx = stop_signal_channel(false);
        opts.progress = !quiet;
        opts.interrupt = Some(interrupt_rx);
        let output = match crate::capacity::run(&file, &out_dir, opts).await {
            Ok(o) => o,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        };
        if let Err(e) = crate::capacity::write(&out_dir, &output) {
            eprintln!("error: cannot write the capacity report to {}: {e}", out_dir.display());
            return exit::BAD_INPUT.max(output.exit_code);
        }
        if !quiet {
            println!("{}", crate::report::markdown::capacity_section(&output.info));
        }
        eprintln!("capacity: {}", out_dir.join(crate::capacity::CAPACITY_FILE).display());
        output.exit_code
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_is_a_comma_list_or_the_flag_repeated() {
        let parse = |args: &[&str]| {
            let argv = ["midge", "run", "s.toml"].into_iter().chain(args.iter().copied());
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Run { broker, .. } => broker_list(&broker),
                other => panic!("not a run: {other:?}"),
            }
        };
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&["--broker", "embedded"]).as_deref(), Some("embedded"));
        let both = parse(&["--broker", "mqtt://127.0.0.1:1,mqtt://127.0.0.1:2", "--broker", "mqtt://127.0.0.1:3"]);
        assert_eq!(both.as_deref(), Some("mqtt://127.0.0.1:1,mqtt://127.0.0.1:2,mqtt://127.0.0.1:3"));
    }

    #[test]
    fn validate_names_each_broker_with_its_clients_and_groups() {
        let share = |url: &str, clients, groups: &[(&str, u64)]| crate::plan::BrokerShare {
            url: url.into(),
            clients,
            groups: groups.iter().map(|(g, n)| (g.to_string(), *n)).collect(),
        };
        let lines = broker_lines(&[
            share("mqtt://a:1", 4, &[("five", 3), ("one", 1)]),
            share("mqtt://b:2", 1, &[("five", 1)]),
            share("mqtt://c:3", 0, &[]),
        ]);
        assert_eq!(
            lines,
            ["mqtt://a:1: 4 clients (five 3, one 1)", "mqtt://b:2: 1 client (five 1)", "mqtt://c:3: no clients"]
        );
    }
}
