//! Scale features, tested for function (never for speed): connections
//! spread over source addresses, preflights that refuse an impossible plan
//! with the fix, and the saturation guard.

mod support;
use midge::plan::{Overrides, Plan};
use midge::runner::{self, RunOptions};
use std::process::Command;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_really_come_from_the_listed_source_addresses() {
    let broker = mosquitto(&[]).await;
    let file = parse(
        r#"
name = "spread"
duration = "1s"
[[group]]
name = "c"
clients = 30
client_id = { scheme = "prefix-serial", prefix = "spread-" }
"#,
    );
    let overrides = Overrides {
        broker: Some(url(&broker)),
        source_addrs: Some(midge::scenario::parse_source_addrs("127.0.0.2-127.0.0.4").unwrap()),
        ..Default::default()
    };
    let out = runner::run(Plan::build(&file, &overrides).unwrap(), RunOptions::default()).await.unwrap();
    assert_eq!(out.report.clients.connected_peak, 30);
    assert_eq!(out.report.load_generator.source_addrs, vec!["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    // The broker's side of the story: its log names every peer address.
    let log = std::fs::read_to_string(broker.log_path()).unwrap();
    for last in 2..=4 {
        let n = log.matches(&format!("New connection from 127.0.0.{last}:")).count();
        assert_eq!(n, 10, "127.0.0.{last}: {n} connections");
    }
    // From 127.0.0.1 only the test's readiness probe, midge's preflight
    // probe and its $SYS watcher (outside the swarm).
    assert!(log.matches("New connection from 127.0.0.1:").count() <= 3);
}

#[test]
fn a_plan_beyond_the_open_file_limit_is_refused_before_connecting_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    std::fs::write(&path, "name = \"huge\"\n[[group]]\nname = \"g\"\nclients = 1000000\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["run", path.to_str().unwrap(), "-q", "--broker", "embedded"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("open files") && err.contains("hard limit") && err.contains("lower `clients`"), "{err}");
}

#[test]
fn the_saturation_guard_fires_when_midge_is_starved_and_not_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let starved = dir.path().join("starved.toml");
    // One worker thread and far more messages than it can make: midge is the bottleneck.
    std::fs::write(
        &starved,
        "name = \"starved\"\nduration = \"3s\"\n[[group]]\nname = \"s\"\nsubscribe = { filter = \"x/#\" }\n[[group]]\nname = \"p\"\nclients = 50\npublish = { topic = \"x/{i}\", qos = 0, rate = 20000.0 }\n",
    )
    .unwrap();
    let run = |file: &std::path::Path, extra: &[&str]| {
        let out_dir = dir.path().join(file.file_stem().unwrap());
        let out = Command::new(env!("CARGO_BIN_EXE_midge"))
            .args(["run", file.to_str().unwrap(), "-q", "--out", out_dir.to_str().unwrap()])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
        (out, r)
    };
    let (_, r) = run(&starved, &["--workers", "1", "--broker", "embedded"]);
    assert_eq!(r["load_generator"]["saturated"], true, "{}", r["load_generator"]);
    assert!(r["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "generator_saturated"));

    let calm = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let (out, r) = run(&calm, &["--duration", "2s"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(r["load_generator"]["saturated"], false, "{}", r["load_generator"]);
    assert!(r["load_generator"]["cpu_s"].as_f64().unwrap() > 0.0);
}
