//! The command line as users and scripts call it: exit statuses, messages,
//! report files, and every scenario in scenarios/ run as shipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn midge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("midge binary runs")
}

fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_shipped_scenario_validates() {
    let all = scenarios();
    assert!(all.len() >= 4);
    for s in all {
        let out = midge(&["validate", s.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", s.display(), String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    }
}

#[test]
fn a_bad_scenario_names_file_line_and_column_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"x\"\n[[group]]\nname = \"g\"\nclinets = 3\n").unwrap();
    let out = midge(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:4:1:", path.display())), "{err}");
    assert!(err.contains("clinets"), "{err}");

    // The same error from `run`, before anything connects.
    let out = midge(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_flags_exit_2() {
    let out = midge(&["run", "scenarios/quickstart.toml", "--duration", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid duration"));
    let out = midge(&["run", "scenarios/quickstart.toml", "--broker", "ftp://x"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unreachable_broker_exits_2_with_a_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = midge(&["run", "scenarios/quickstart.toml", "-q", "--broker", &format!("mqtt://127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the broker"), "{err}");
}

#[test]
fn quickstart_runs_on_the_embedded_broker_and_writes_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("qs");
    let out = midge(&["run", "scenarios/quickstart.toml", "--duration", "1s", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# midge: quickstart — PASS"), "{stdout}");
    assert!(out_dir.join("report.md").exists());
    let r = report(&out_dir);
    assert_eq!(r["schema"], 1);
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["clients"]["planned"], 202);
    assert_eq!(r["clients"]["connected_peak"], 202);
    // 200 sensors at 5 msg/s for exactly 1 s.
    assert_eq!(r["messages"]["published"], 1000);
    assert_eq!(r["messages"]["received"], 2000);
    assert_eq!(r["messages"]["lost"], 0);
    assert!(r["broker"]["kind"].as_str().unwrap().contains("embedded"));
    // report.html: self-contained, with the plots and the verdict.
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("quickstart") && html.contains("PASS"), "{html}");
    assert_eq!(
        html.matches("<svg").count(),
        6,
        "rates, e2e p99, connected clients, midge's CPU and memory and the HDR percentiles are plotted"
    );
    for outside in ["<script", "src=\"http", "href=\"http", "url(", "@import"] {
        assert!(!html.contains(outside), "report.html fetches nothing: found {outside}");
    }
}

/// fan-in, fan-out and connect-storm as shipped (on the spawned mosquitto
/// they name), shortened with --duration.
#[test]
fn shipped_load_scenarios_run_and_pass() {
    let dir = tempfile::tempdir().unwrap();
    for (name, planned, published) in [("fan-in", 501, 2000), ("fan-out", 201, 40), ("connect-storm", 3000, 0)] {
        let out_dir = dir.path().join(name);
        let file = format!("scenarios/{name}.toml");
        let out = midge(&["run", &file, "-q", "--duration", "2s", "--out", out_dir.to_str().unwrap()]);
        let r = report(&out_dir);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            r["expectations"]
        );
        assert_eq!(r["clients"]["connected_peak"], planned, "{name}");
        assert_eq!(r["messages"]["published"], published, "{name}");
        assert_eq!(r["messages"]["lost"], 0, "{name}");
        assert_eq!(r["messages"]["expected"], r["messages"]["received"], "{name}");
        assert!(
            r["broker"]["config"].as_str().unwrap().contains("listener"),
            "{name}: the spawned broker's config is reported"
        );
        assert_eq!(r["latency"]["connect"]["count"], planned, "{name}");
    }
}

/// `midge conn -c 200` (emqtt-bench's command line) connects 200 clients,
/// and `--save-scenario` writes the scenario it ran: the file validates,
/// is the very text the run recorded, and plans the same clients.
#[test]
fn bench_conn_connects_200_and_saves_the_scenario_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (out_dir, saved) = (dir.path().join("conn"), dir.path().join("conn.toml"));
    let out = midge(&[
        "conn",
        "--broker",
        "spawn:mosquitto",
        "-c",
        "200",
        "-i",
        "1",
        "-n",
        "7",
        "--shortids",
        "--prefix",
        "bc-",
        "--duration",
        "1s",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
        "--save-scenario",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = report(&out_dir);
    assert_eq!((r["clients"]["planned"].as_u64(), r["clients"]["connects"].as_u64()), (Some(200), Some(200)));
    assert_eq!(r["clients"]["connected_peak"], 200);

    let out = midge(&["validate", saved.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("200 clients"));
    let text = std::fs::read_to_string(&saved).unwrap();
    let record: midge::record::RunRecord =
        midge::record::RunRecord::from_json(&std::fs::read_to_string(out_dir.join("record.json")).unwrap()).unwrap();
    assert_eq!(record.plan.scenario_text, text, "the saved file is the scenario the run ran");
    let ran = midge::plan::Plan::rebuild(&record.plan).unwrap();
    let file = midge::scenario::ScenarioFile::load(&saved).unwrap();
    let overrides = midge::plan::Overrides { run_id: Some(record.plan.run_id), ..Default::default() };
    let again = midge::plan::Plan::build(&file, &overrides).unwrap();
    let ids = |p: &midge::plan::Plan| p.clients.iter().map(|c| c.client_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&ran));
    assert_eq!((ids(&ran)[0].as_str(), ids(&ran)[199].as_str()), ("bc-8", "bc-207"), "-n 7: %i from 8");
    assert_eq!((again.duration, again.groups[0].clients), (ran.duration, 200));
}

/// A password is never taken on the command line, and never echoed.
#[test]
fn bench_commands_refuse_a_password_on_the_command_line() {
    for cmd in [&["conn"][..], &["sub", "-t", "a/#"], &["pub", "-t", "a/b"]] {
        let mut args = cmd.to_vec();
        args.extend(["-u", "me", "-P", "hunter2", "--broker", "mqtt://127.0.0.1:1"]);
        let out = midge(&args);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--password-env") && !err.contains("hunter2"), "{cmd:?}: {err}");
    }
}
