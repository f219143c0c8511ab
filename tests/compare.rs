//! `midge compare A B` as CI calls it: the table, `--json`, `--fail-on`,
//! warnings, and exit statuses 0, 1 and 2 — on hand-made report.json files,
//! and on the report of a real one-second run on the embedded broker.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn midge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("midge binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small hand-made report.json (the figures compare reads).
fn report(lost: u64, e2e_p99_us: u64) -> Value {
    let lat = |p99: u64| {
        json!({"count": 1000, "min_us": 100, "p50_us": 300, "p90_us": 600, "p99_us": p99, "p999_us": 2000,
               "max_us": 2500, "mean_us": 350.5, "hdr": ""})
    };
    json!({
        "schema": 1, "midge_version": "0.1.0", "started_at": "2025-01-01T00:00:00Z", "duration_s": 5.0,
        "run_id": "0000000000000001", "interrupted": false, "stop_signal": null,
        "scenario": {"name": "ci", "sha256": "aa11", "file": "ci.toml", "protocol": "3.1.1", "planned_duration_s": 5.0},
        "broker": {"url": "mqtt://broker.example:1883", "kind": "external", "config": null, "sys": {}},
        "clients": {"planned": 20, "connected_peak": 20, "connect_attempts": 20, "connects": 20,
                    "connect_failures": {}, "subscribe_failures": {}},
        "latency": {"connect": lat(900), "connect_tcp": lat(400), "e2e": lat(e2e_p99_us),
                    "e2e_uncorrected": lat(800), "ack": lat(700), "suback": lat(100)},
        "messages": {"published": 1000, "acked": 1000, "expected": 1000, "received": 1000 - lost, "lost": lost,
                     "duplicated": 0, "out_of_order": 0, "in_doubt": 0, "unsent": 0},
        "disconnects": {"total": 0, "by_cause": {}},
        "reconnects": 0,
        "findings": [],
        "load_generator": {"workers": 2, "cpu_s": 1.5, "cpu_utilization": 0.15, "peak_rss_kib": 30000,
                           "rss_kib_at_publish_end": 29000, "rss_bytes_per_connected_client": 1484800,
                           "publish_rates": [{"group": "sensors", "achieved_msgs_per_s": 200.0}]},
        "verdict": "pass", "error": null
    })
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

/// The cells of a table row, by the figure name.
fn row(table: &str, figure: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(figure))
        .unwrap_or_else(|| panic!("no row {figure} in\n{table}"));
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn the_table_shows_deltas_and_exits_0_without_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &report(0, 1000));
    let b = write(dir.path(), "b.json", &report(5, 900));
    let out = midge(&["compare", &a, &b]);
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{t}{}", stderr(&out));
    assert_eq!(row(&t, "lost"), ["lost", "0", "5", "+5", "—", "worse"]);
    assert_eq!(row(&t, "received"), ["received", "1000", "995", "-5", "-0.5", "%", "worse"]);
    assert_eq!(row(&t, "e2e.p99"), ["e2e.p99", "1000", "900", "-100", "-10.0", "%", "better"]);
    assert_eq!(row(&t, "published"), ["published", "1000", "1000", "0", "0.0", "%", "same"]);
    assert_eq!(row(&t, "cpu_s"), ["cpu_s", "1.5", "1.5", "0", "0.0", "%", "same"]);
    for figure in [
        "expected",
        "duplicated",
        "out_of_order",
        "in_doubt",
        "unsent",
        "connected_peak",
        "connect_failures",
        "disconnects",
        "reconnects",
        "findings",
        "connect.p50",
        "e2e.p99.9",
        "e2e_uncorrected.max",
        "ack.p90",
        "cpu_utilization",
        "peak_rss_kib",
        "rss_bytes_per_connected_client",
        "achieved_msgs_per_s.sensors",
        "duration_s",
    ] {
        row(&t, figure);
    }
    assert!(!t.contains("capacity"), "no capacity in either report:\n{t}");
    assert!(stderr(&out).is_empty(), "same scenario and broker: no warning: {}", stderr(&out));
}

#[test]
fn fail_on_exits_1_when_a_figure_got_worse_past_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &report(0, 1000));
    let worse = write(dir.path(), "worse.json", &report(1, 1150));

    let out = midge(&["compare", &a, &worse, "--fail-on", "lost:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("FAIL lost: got worse from 0"), "{}", stdout(&out));

    let out = midge(&["compare", &a, &worse, "--fail-on", "e2e.p99:10"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("FAIL e2e.p99: got worse by 15.0 % (limit 10 %)"), "{}", stdout(&out));

    // Within the limit, or better: 0.
    let out = midge(&["compare", &a, &worse, "--fail-on", "e2e.p99:20", "--fail-on", "duplicated:0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = midge(&["compare", &worse, &a, "--fail-on", "lost:0", "--fail-on", "e2e.p99:0"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Several rules: one failing is enough.
    let out = midge(&["compare", &a, &worse, "--fail-on", "e2e.p99:20", "--fail-on", "lost:0"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn json_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &report(0, 1000));
    let b = write(dir.path(), "b.json", &report(5, 900));
    let out = midge(&["compare", &a, &b, "--json", "--fail-on", "lost:0"]);
    assert_eq!(out.status.code(), Some(1));
    let j: Value = serde_json::from_str(&stdout(&out)).expect("stdout is JSON");
    let fig = |name: &str| {
        j["figures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["figure"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(
        fig("e2e.p99"),
        json!({"figure": "e2e.p99", "a": 1000, "b": 900, "delta": -100, "delta_pct": -10,
               "better": "lower", "direction": "better"})
    );
    assert_eq!(fig("lost")["direction"], "worse");
    assert_eq!(fig("lost")["delta_pct"], Value::Null);
    // Every finding kind is there for scripts, also the ones neither run had.
    assert_eq!(fig("findings.qos_violation")["direction"], "same");
    assert_eq!(j["failed"], true);
    assert_eq!(j["fail_on"][0]["figure"], "lost");
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &report(0, 1000));
    let other = write(dir.path(), "other.json", &json!({"name": "not a report"}));
    std::fs::write(dir.path().join("broken.json"), "{").unwrap();
    let missing = dir.path().join("missing.json");

    let out = midge(&["compare", &a, missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));

    let out = midge(&["compare", &other, &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a midge report"), "{}", stderr(&out));

    let out = midge(&["compare", &a, dir.path().join("broken.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // An unknown figure lists the valid names.
    let out = midge(&["compare", &a, &a, "--fail-on", "e2e.p98:10"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown figure \"e2e.p98\"") && err.contains("e2e.p99") && err.contains("lost"), "{err}");
    assert!(stdout(&out).is_empty());

    // A rule that is not FIGURE:PCT.
    let out = midge(&["compare", &a, &a, "--fail-on", "lost"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn other_scenario_or_broker_warns_but_does_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &report(0, 1000));
    let mut other = report(0, 1000);
    other["scenario"]["sha256"] = json!("bb22");
    other["broker"]["url"] = json!("mqtt://other.example:1883");
    let b = write(dir.path(), "b.json", &other);
    let out = midge(&["compare", &a, &b, "--fail-on", "lost:0"]);
    assert_eq!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("warning: A and B ran different scenarios"), "{err}");
    assert!(err.contains("different brokers") && err.contains("other.example"), "{err}");
}

#[test]
fn capacity_is_compared_when_both_reports_have_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut ra = report(0, 1000);
    let mut rb = report(0, 1000);
    ra["capacity"] = json!({"last_pass": 8000});
    rb["capacity"] = json!({"last_pass": 6000});
    let (a, b) = (write(dir.path(), "a.json", &ra), write(dir.path(), "b.json", &rb));
    let out = midge(&["compare", &a, &b, "--fail-on", "capacity.last_pass:20"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(
        row(&stdout(&out), "capacity.last_pass"),
        ["capacity.last_pass", "8000", "6000", "-2000", "-25.0", "%", "worse"]
    );

    // Only one has it (or it is null): no row, the rule is not checked, exit 0.
    rb["capacity"] = Value::Null;
    let b = write(dir.path(), "b.json", &rb);
    let out = midge(&["compare", &a, &b, "--fail-on", "capacity.last_pass:20"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!stdout(&out).contains("\ncapacity.last_pass "), "{}", stdout(&out));
    assert!(stderr(&out).contains("not in both reports"), "{}", stderr(&out));
}

/// A real report.json (a one-second quickstart on the embedded broker, on
/// 127.0.0.1), compared with itself through its run folder: every figure
/// is read, and every one is the same.
#[test]
fn a_real_run_compared_with_itself() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = midge(&["run", "scenarios/quickstart.toml", "--duration", "1s", "-q", "--out", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = run.to_str().unwrap();
    let out = midge(&["compare", r, r, "--fail-on", "e2e.p99:0", "--fail-on", "lost:0"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let t = stdout(&out);
    let table: Vec<&str> =
        t.lines().skip_while(|l| !l.starts_with("figure")).skip(1).take_while(|l| !l.is_empty()).collect();
    assert!(table.len() > 35, "{t}");
    for line in table {
        assert!(line.ends_with("same"), "{line}");
    }
    assert_eq!(row(&t, "published")[1], "1000", "{t}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
