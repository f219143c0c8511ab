//! Soaks: while a run goes on, midge rewrites report.json and report.md in
//! its folder every `report_every`, atomically and marked partial, so a run
//! killed outright (SIGKILL: no handler of midge's runs) still leaves a
//! complete, schema-valid report with no false loss — and the mosquitto it
//! spawned dies with it (the parent-death signal).

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
name = "soak-report"
duration = "8s"
drain = "2s"
report_every = "2s"

[broker]
url = "spawn:mosquitto"
mosquitto_conf = ["max_queued_messages 0", "max_inflight_messages 0"]

[[group]]
name = "sub"
clients = 2
subscribe = { filter = "soak/#", qos = 1 }

[[group]]
name = "pub"
clients = 20
connect_rate = 500
publish = { topic = "soak/{i}", qos = 1, rate = 50.0, payload = 64 }
"#;

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::options().should_validate_formats(true).build(&schema).unwrap()
}

/// The PIDs of `parent`'s children named `name` (/proc/<parent>/task/*/children).
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else { return Vec::new() };
    let mut pids: Vec<u32> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Whether `pid` is still a live mosquitto (not a zombie, not a reused PID).
fn mosquitto_alive(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rfind(')').and_then(|i| stat[i + 2..].chars().next());
    comm.trim() == "mosquitto" && state.is_some_and(|s| s != 'Z' && s != 'X')
}

/// The partial report in `out`, once one says it is decided past `as_of_s`.
fn wait_for_partial(child: &mut Child, out: &Path, as_of_s: f64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "midge ended before its partial report");
        if let Some(r) =
            std::fs::read_to_string(out.join("report.json")).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            if r["as_of_s"].as_f64().is_some_and(|t| t >= as_of_s) {
                return r;
            }
        }
        assert!(Instant::now() < deadline, "no partial report decided past {as_of_s} s within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_soak_killed_outright_leaves_a_complete_partial_report_and_no_broker() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("soak.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_midge"))
        // Its broker's folder in this test's own, removed with it: a SIGKILL
        // leaves it (the next spawn sweeps it, `sweep_orphaned_dirs`).
        .env("TMPDIR", dir.path())
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("midge runs");
    // Publishing starts within a second; the report every 2 s after the swarm's start.
    let seen = wait_for_partial(&mut child, &out, 2.0);
    let mosquitto = children_named(child.id(), "mosquitto");
    assert_eq!(mosquitto.len(), 1, "midge spawned one mosquitto");
    // SIGKILL: nothing of midge's runs after this.
    child.kill().unwrap();
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(5);
    while mosquitto_alive(mosquitto[0]) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!mosquitto_alive(mosquitto[0]), "the spawned mosquitto (pid {}) outlived a SIGKILLed midge", mosquitto[0]);
    // Its folder stayed (no handler ran); the next spawn sweeps it.
    let left = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("midge-mosquitto-"))
            .count()
    };
    assert_eq!(left(), 1);
    assert_eq!(midge::broker::sweep_orphaned_dirs(dir.path()), 1);
    assert_eq!(left(), 0);

    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let errors: Vec<String> = validator().iter_errors(&r).map(|e| format!("at {}: {e}", e.instance_path)).collect();
    assert!(errors.is_empty(), "the partial report is schema-valid:\n{}", errors.join("\n"));
    assert!(std::fs::read_to_string(out.join("report.md")).unwrap().contains("soak-report"));
    assert_eq!(r["partial"], true);
    assert_eq!(r["drain"]["ended"], "not_yet");
    assert!(r["as_of_s"].as_f64().unwrap() >= seen["as_of_s"].as_f64().unwrap());
    let m = &r["messages"];
    let n = |k: &str| m[k].as_u64().unwrap_or_else(|| panic!("messages.{k}: {m}"));
    // 20 publishers × 50 msg/s to 2 subscribers for a few seconds: each
    // message owed twice; those sent after the horizon are in flight, not lost.
    assert!(n("published") > 0 && n("expected") > 0, "{m}");
    assert_eq!(n("lost"), 0, "no false loss in a partial report: {m}");
    assert_eq!(n("expected"), n("received").min(n("expected")), "{m}");
    assert!(n("expected") <= 2 * n("acked"), "{m}");
    assert!(n("received") <= 2 * n("published"), "{m}");
    assert!(r["timeseries"].as_array().unwrap().len() >= 2, "the time series so far");
    eprintln!(
        "partial report as of {} s: published {}, acked {}, expected {}, received {}",
        r["as_of_s"],
        n("published"),
        n("acked"),
        n("expected"),
        n("received")
    );
}

#[test]
fn the_final_report_replaces_the_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("short.toml");
    std::fs::write(&scenario, SCENARIO.replace("duration = \"8s\"", "duration = \"3s\"")).unwrap();
    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["partial"], false);
    assert_eq!(r["as_of_s"], Value::Null);
    assert_eq!(r["messages"]["lost"], 0);
    assert_eq!(r["messages"]["expected"], r["messages"]["received"]);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
}
