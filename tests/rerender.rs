//! `midge report DIR`: a finished run analysed again from its record
//! (DIR/record.json) gives back exactly the reports the run wrote — the
//! analysis is a pure function of (plan, record).

mod support;

use std::path::Path;
use support::midge;

const REPORTS: [&str; 3] = ["report.json", "report.md", "report.html"];

/// Runs `scenario` into a fresh folder, re-renders it from its record, and
/// checks every report file came back byte for byte.
fn run_and_rerender(scenario: &str, extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let mut args = vec!["run", scenario, "--out", out, "-q"];
    args.extend_from_slice(extra);
    let ran = midge(&args);
    assert!(ran.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&ran.stderr));
    assert!(dir.path().join("record.json").exists(), "the run keeps its record");
    let written: Vec<Vec<u8>> = REPORTS.iter().map(|f| std::fs::read(dir.path().join(f)).unwrap()).collect();
    for f in REPORTS {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    let again = midge(&["report", out, "-q"]);
    assert_eq!(again.status.code(), ran.status.code(), "{}", String::from_utf8_lossy(&again.stderr));
    for (f, before) in REPORTS.iter().zip(written) {
        let after = std::fs::read(dir.path().join(f)).unwrap();
        assert!(after == before, "{f} differs after `midge report` ({} vs {} bytes)", after.len(), before.len());
    }
    dir
}

#[test]
fn quickstart_reports_come_back_byte_for_byte() {
    run_and_rerender("scenarios/quickstart.toml", &["--duration", "2s"]);
}

#[test]
fn a_run_with_findings_and_broker_lines_comes_back_byte_for_byte() {
    // Twins, takeovers, the broker's own log lines, a failing expectation.
    let dir = run_and_rerender("scenarios/duplicate-id-loop.toml", &[]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert!(r["findings"].as_array().is_some_and(|f| !f.is_empty()), "the scenario provokes findings");
}

#[test]
fn a_wss_run_with_its_tls_and_handshakes_comes_back_byte_for_byte() {
    let dir = run_and_rerender("scenarios/websockets.toml", &["--broker", "embedded+wss"]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(r["broker"]["tls"]["protocol_version"], "TLSv1_3");
    assert_eq!(r["latency"]["connect_ws"]["count"], 7);
}

#[test]
fn a_run_with_planned_leaves_comes_back_byte_for_byte() {
    // Client stages ramping down: every leave is in the record.
    let dir = run_and_rerender("scenarios/ramp-down.toml", &[]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(r["clients"]["planned_leaves"], 48);
}

#[test]
fn a_folder_without_a_record_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = midge(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&Path::new(dir.path()).join("record.json").display().to_string()), "{err}");

    std::fs::write(dir.path().join("record.json"), "{\"format\": 99}").unwrap();
    let out = midge(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("record format 99"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_two_bridged_brokers_comes_back_byte_for_byte() {
    // `--broker A,B`: the clients round-robin over a bridged pair.
    let (a, b) = support::bridged_pair().await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("nodes.toml");
    std::fs::write(
        &scenario,
        "name = \"nodes\"\nduration = \"1s\"\n[[group]]\nname = \"pub\"\nclients = 4\npublish = { topic = \"cl/n/{client}\", qos = 1, rate = 20.0, count = 10 }\n[[group]]\nname = \"sub\"\nclients = 2\nsubscribe = { filter = \"cl/n/#\", qos = 1 }\n",
    )
    .unwrap();
    let brokers = format!("{},{}", support::url(&a), support::url(&b));
    let run = run_and_rerender(scenario.to_str().unwrap(), &["--broker", &brokers]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.path().join("report.json")).unwrap()).unwrap();
    assert_eq!((r["messages"]["received"].as_u64(), r["messages"]["lost"].as_u64()), (Some(80), Some(0)));
    let clients: Vec<_> = r["brokers"].as_array().unwrap().iter().map(|b| b["clients"].as_u64()).collect();
    assert_eq!(clients, vec![Some(3), Some(3)]);
    assert_eq!(r["broker_pairs"].as_array().map(Vec::len), Some(4), "{}", r["broker_pairs"]);
}
