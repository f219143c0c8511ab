//! Shared by the integration tests: real brokers on free loopback ports and
//! scenarios written inline.
#![allow(dead_code)]

use midge::broker::Mosquitto;
use midge::plan::{Overrides, Plan};
use midge::runner::{self, RunOptions, RunOutput};
use midge::scenario::ScenarioFile;
use std::path::Path;

/// Starts mosquitto (Debian's package) on a free 127.0.0.1 port with the
/// given extra config lines, and waits until it listens.
pub async fn mosquitto(extra: &[&str]) -> Mosquitto {
    let lines: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    Mosquitto::launch(&lines, false)
        .await
        .unwrap_or_else(|e| panic!("{e}: the tests need mosquitto — run them with `tests/run.sh`, which installs it"))
}

/// A broker config that loses nothing to its own limits: no queue cap, no
/// inflight cap (stock mosquitto drops beyond 1000 queued messages).
pub const NO_LIMITS: &[&str] = &["max_queued_messages 0", "max_inflight_messages 0"];

pub fn parse(text: &str) -> ScenarioFile {
    ScenarioFile::parse(Path::new("inline.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

pub async fn run_text(text: &str, broker: &str) -> RunOutput {
    run_file(&parse(text), broker).await
}

pub async fn run_file(file: &ScenarioFile, broker: &str) -> RunOutput {
    let plan = Plan::build(file, &Overrides { broker: Some(broker.to_string()), ..Default::default() }).unwrap();
    match runner::run(plan, RunOptions::default()).await {
        Ok(o) => o,
        Err(e) => panic!("run failed: {e}"),
    }
}

pub fn url(m: &Mosquitto) -> String {
    format!("mqtt://{}", m.addr)
}

/// Runs a shipped scenario from scenarios/ as it is (it names its own
/// spawned broker), after `edit` on its text.
pub async fn run_shipped(name: &str, edit: impl Fn(String) -> String) -> RunOutput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.toml"));
    let text = edit(std::fs::read_to_string(&path).unwrap());
    let file = ScenarioFile::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::build(&file, &Overrides::default()).unwrap();
    runner::run(plan, RunOptions::default()).await.unwrap()
}

/// Runs the midge binary as a user would, from the project folder.
pub fn midge(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("midge binary runs")
}
