//! `midge shrink DIR --out FILE`: the command line of `crate::shrink`.

use super::signals::{main_runtime, stop_signal_channel};
use crate::shrink::{self, ShrinkOptions};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ShrinkArgs {
    /// The finished run's folder (it holds record.json and report.json).
    dir: PathBuf,
    /// Where the smallest scenario that reproduced is written (TOML).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Runs at most, the first rerun of the scenario as recorded included.
    #[arg(long, value_name = "N", default_value_t = shrink::DEFAULT_MAX_RUNS)]
    max_runs: u32,
    /// Time at most, e.g. "10m": no candidate starts that would end past it.
    #[arg(long, value_name = "DUR", value_parser = crate::scenario::parse_duration, default_value = "10m")]
    max_time: std::time::Duration,
    /// The finding kind to keep, e.g. qos_violation, or one rule's
    /// spec_violation, e.g. spec_violation:MQTT-3.3.4-9 (default: the
    /// report's first finding about the broker). A finding with
    /// `evidence.rule` keeps its rule too.
    #[arg(long, value_name = "KIND")]
    finding: Option<String>,
    /// Client worker threads (as for `run`).
    #[arg(long)]
    workers: Option<usize>,
    /// No line per candidate on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs the shrink and prints its summary; returns the exit status.
pub(super) fn shrink(args: ShrinkArgs) -> i32 {
    let runtime = match main_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let opts = ShrinkOptions {
            max_runs: args.max_runs.max(1),
            max_time: args.max_time,
            finding: args.finding,
            workers: args.workers,
            progress: !args.quiet,
            interrupt: Some(stop_signal_channel(false)),
        };
        match shrink::shrink(&args.dir, &args.out, &opts).await {
            Ok(outcome) => {
                print!("{}", shrink::summary(&outcome));
                outcome.exit_code
            }
            Err(e) => {
                eprintln!("error: {}: {e}", args.dir.display());
                shrink::exit::BAD_INPUT
            }
        }
    })
}
