//! The command line as users and scripts call it: exit statuses, messages,
//! report files, every scenario in scenarios/ run as shipped (the bug
//! reproductions of scenarios/bugs/ too), and `midge shrink`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn midge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("midge binary runs")
}

/// The scenarios in scenarios/ and scenarios/bugs/.
fn scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut v: Vec<PathBuf> = [dir.clone(), dir.join("bugs")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
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
    // A 1 s run has two or three seconds of points: too few for a line
    // over time (it would read as a ramp), said in words instead; the HDR
    // percentiles are plotted (tests/browser.rs sees a longer run's plots).
    assert_eq!(html.matches("<svg").count(), 1, "only the HDR percentiles are plotted");
    assert!(html.contains("latency by percentile (HDR)"), "{html}");
    for what in ["messages per second", "e2e latency p99", "connected clients", "CPU, % of one core"] {
        assert!(html.contains(&format!("No plot of {what}: the run's time series has only ")), "{what}: {html}");
    }
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

#[test]
fn run_and_validate_help_say_what_a_scenario_is_where_to_look_and_the_exit_statuses() {
    for command in ["run", "validate"] {
        let out = midge(&[command, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8_lossy(&out.stdout);
        for needed in [
            "A scenario is a TOML file",
            "scenarios/",
            "docs/",
            "mqtt://",
            "mqtts://",
            "ws://",
            "wss://",
            "tcp://",
            "embedded",
            "+tls",
            "+wss",
            "spawn:mosquitto",
            "until Ctrl-C",
            "Exit status",
        ] {
            assert!(help.contains(needed), "`{command} --help` lacks {needed:?}:\n{help}");
        }
    }
    let help = String::from_utf8_lossy(&midge(&["run", "--help"]).stdout).to_string();
    for status in ["0 ", "1 ", "2 ", "130", "143", "129"] {
        assert!(help.contains(&format!("\n  {status}")), "run --help lacks exit status {status}:\n{help}");
    }
    let out_help = help.split("--out <OUT>").nth(1).unwrap_or_default();
    assert!(out_help.split("\n  -").next().unwrap_or_default().contains("report.html"), "{help}");
}

#[test]
fn zero_workers_are_refused() {
    for command in ["run", "capacity"] {
        let out = midge(&[command, "scenarios/quickstart.toml", "--workers", "0"]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("0 workers would run no client"), "{command}: {err}");
    }
}

/// `validate` of a run of two brokers says how many clients go to each,
/// from which groups: round-robin within a group, a group's own `broker`
/// all on that one.
#[test]
fn validate_shows_how_the_clients_spread_over_several_brokers() {
    let text = r#"
name = "two"
[broker]
url = ["mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:1884"]
[[group]]
name = "five"
clients = 5
subscribe = { filter = "t" }
[[group]]
name = "own"
clients = 2
broker = "mqtt://127.0.0.1:1884"
subscribe = { filter = "t" }
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let out = midge(&["validate", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(
        lines,
        ["  mqtt://127.0.0.1:1883: 3 clients (five 3)", "  mqtt://127.0.0.1:1884: 4 clients (five 2, own 2)"]
    );
}

/// `validate` of a scenario written into a temporary folder: (exit status, stderr).
fn validate_text(text: &str) -> (Option<i32>, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let out = midge(&["validate", path.to_str().unwrap()]);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string(), path)
}

#[test]
fn scenario_errors_suggest_the_closest_key_and_show_no_parser_internals() {
    let (code, err, path) = validate_text("name = \"x\"\n[[group]]\nname = \"g\"\nclient = 3\n");
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!("{}:4:1: unknown field `client` — did you mean `clients`?", path.display())),
        "{err}"
    );

    let (code, err, path) = validate_text("name = \"x\"\nduration = \"-5s\"\n");
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!("{}:2:12: invalid duration \"-5s\": a duration cannot be negative", path.display())),
        "{err}"
    );
    assert!(!err.contains("expected number"), "a parser's words: {err}");

    let (code, err, path) = validate_text("name = \"x\"\nduration = 20\n");
    assert_eq!(code, Some(2));
    assert!(err.contains(&format!("{}:2:12: invalid duration 20:", path.display())), "{err}");
    assert!(err.contains("\"20s\""), "{err}");
    assert!(!err.contains("invalid type") && !err.contains("expected a string"), "a parser's words: {err}");

    let (code, err, _) = validate_text("name = \"x\"\ndrain = \"5 parsecs\"\n");
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown unit \"parsecs\""), "{err}");

    let text = "name = \"x\"\n[[group]]\nname = \"g\"\npublish = { topic = \"a\", rate = 1.0, arrival = \"poison\" }\n";
    let (code, err, _) = validate_text(text);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown variant `poison` — did you mean `poisson`?"), "{err}");
}

#[test]
fn emqtt_bench_placeholders_in_a_scenario_topic_are_refused_with_the_scenario_spelling() {
    for (key, text) in [
        ("topic", "publish = { topic = \"bench/%i\", rate = 1.0 }"),
        ("topic", "publish = { topic = \"bench/%c/x\", rate = 1.0 }"),
        ("filter", "subscribe = { filter = \"bench/%i/#\" }"),
    ] {
        let (code, err, path) = validate_text(&format!("name = \"x\"\n[[group]]\nname = \"g\"\n{text}\n"));
        assert_eq!(code, Some(2), "{key}: {err}");
        assert!(err.contains(&format!("{}:4:", path.display())), "{err}");
        assert!(err.contains("emqtt-bench's spelling") && err.contains("{i}") && err.contains("{client}"), "{err}");
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

/// The client ids a mosquitto's log names in lines containing `what`
/// ("New client connected from … as ID (…)", "Received PUBLISH from ID (…)"),
/// those starting with `prefix`, sorted (the clients run concurrently).
fn ids_in_log(m: &midge::broker::Mosquitto, what: &str, after: &str, prefix: &str) -> Vec<String> {
    let mut ids: Vec<String> = m
        .log_tail(10_000)
        .iter()
        .filter(|l| l.contains(what))
        .filter_map(|l| l.split_once(after).and_then(|(_, rest)| rest.split(' ').next()).map(str::to_string))
        .filter(|id| id.starts_with(prefix))
        .collect();
    ids.sort();
    ids
}

/// Each of report.json's `brokers[]`: (url, clients, connected, failed).
fn broker_rows(r: &serde_json::Value) -> Vec<(String, u64, u64, u64)> {
    let n = |b: &serde_json::Value, k: &str| b[k].as_u64().unwrap_or(u64::MAX);
    let rows = r["brokers"].as_array().expect("brokers[]");
    rows.iter()
        .map(|b| (b["url"].as_str().unwrap().to_string(), n(b, "clients"), n(b, "connected"), n(b, "failed")))
        .collect()
}

/// emqtt-bench's host list: `midge conn -c 10 -h 127.0.0.1,127.0.0.2 -p P`
/// spreads the clients round-robin over two mosquittos (one listening on
/// 127.0.0.1:P, the other on 127.0.0.2:P): 5 on each, all connected, each
/// broker's log naming exactly its 5; the saved scenario lists both URLs and
/// `midge run` on it spreads them the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_host_list_spreads_the_clients_over_the_hosts() {
    let a = support::mosquitto(&[]).await;
    let port = a.addr.port();
    let on_second_address = format!("listener {port} 127.0.0.2");
    let b = support::mosquitto(&[on_second_address.as_str()]).await;
    let dir = tempfile::tempdir().unwrap();
    let (out_dir, saved, rerun) = (dir.path().join("conn"), dir.path().join("conn.toml"), dir.path().join("rerun"));
    let p = port.to_string();
    let out = midge(&[
        "conn",
        "-c",
        "10",
        "-h",
        "127.0.0.1,127.0.0.2",
        "-p",
        &p,
        "-i",
        "0",
        "--prefix",
        "bh",
        "--shortids",
        "--duration",
        "1s",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
        "--save-scenario",
        saved.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (url_a, url_b) = (format!("mqtt://127.0.0.1:{port}"), format!("mqtt://127.0.0.2:{port}"));
    let want = vec![(url_a.clone(), 5, 5, 0), (url_b.clone(), 5, 5, 0)];
    assert_eq!(broker_rows(&report(&out_dir)), want);
    let connected = |m| ids_in_log(m, "New client connected from", " as ", "bh");
    assert_eq!(connected(&a), ["bh1", "bh3", "bh5", "bh7", "bh9"], "client k on host k mod 2");
    assert_eq!(connected(&b), ["bh10", "bh2", "bh4", "bh6", "bh8"]);
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(text.contains(&format!("url = [\"{url_a}\", \"{url_b}\"]")), "{text}");

    let out = midge(&["run", saved.to_str().unwrap(), "--quiet", "--out", rerun.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(broker_rows(&report(&rerun)), want);
    let twice = |ids: &[&str]| ids.iter().flat_map(|id| [id.to_string(), id.to_string()]).collect::<Vec<_>>();
    assert_eq!(connected(&a), twice(&["bh1", "bh3", "bh5", "bh7", "bh9"]), "the rerun: the same 5 again on each");
    assert_eq!(connected(&b), twice(&["bh10", "bh2", "bh4", "bh6", "bh8"]));
}

/// `midge pub -c 4 --broker A,B` on two mosquittos (two ports): 2 publishers
/// on each, and each broker's log shows exactly its own 2 publishing their
/// -L 8 / 4 = 2 messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_pub_on_a_broker_list_publishes_on_both() {
    let a = support::mosquitto(&["log_type debug"]).await;
    let b = support::mosquitto(&["log_type debug"]).await;
    let (url_a, url_b) = (support::url(&a), support::url(&b));
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("pub");
    let brokers = format!("{url_a},{url_b}");
    let out = midge(&[
        "pub",
        "-c",
        "4",
        "--broker",
        &brokers,
        "-t",
        "bh/%i",
        "-q",
        "1",
        "-I",
        "100",
        "-L",
        "8",
        "-i",
        "0",
        "--prefix",
        "bp",
        "--shortids",
        "--duration",
        "1s",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = report(&out_dir);
    assert_eq!(broker_rows(&r), vec![(url_a, 2, 2, 0), (url_b, 2, 2, 0)]);
    assert_eq!(r["messages"]["published"], 8);
    let published = |m| ids_in_log(m, "Received PUBLISH from", "Received PUBLISH from ", "bp");
    assert_eq!(published(&a), ["bp1", "bp1", "bp3", "bp3"]);
    assert_eq!(published(&b), ["bp2", "bp2", "bp4", "bp4"]);
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

/// scenarios/bugs/ as shipped, on the Debian mosquitto (2.0.11) they
/// name: each reproduces what it says, so each run passes its [expect].
#[test]
fn shipped_bug_scenarios_reproduce_on_debians_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out_dir = dir.path().join(name);
        let file = format!("scenarios/bugs/{name}.toml");
        let out = midge(&["run", &file, "-q", "--out", out_dir.to_str().unwrap()]);
        let r = report(&out_dir);
        assert_eq!(r["broker"]["sys"]["$SYS/broker/version"], "mosquitto version 2.0.11", "{name}");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            r["expectations"]
        );
        r
    };
    let passed = |r: &serde_json::Value, name: &str| {
        let e = r["expectations"].as_array().unwrap().iter().find(|e| e["name"] == name);
        assert_eq!(e.unwrap_or_else(|| panic!("no {name}: {}", r["expectations"]))["pass"], true, "{name}");
    };
    // Every file in scenarios/bugs/ is run here.
    let mut shipped: Vec<String> = std::fs::read_dir("scenarios/bugs")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    assert_eq!(
        shipped,
        [
            "mosquitto-expired-queue-stall.toml",
            "mosquitto-expiry-reorder.toml",
            "mosquitto-max-connections.toml",
            "mosquitto-receive-maximum.toml"
        ]
    );
    // A resumed queue never begun (eclipse/mosquitto#2609): queue_withheld
    // naming what was lost, beside the qos_violation.
    let r = run("mosquitto-expired-queue-stall");
    passed(&r, "shows queue_withheld findings");
    passed(&r, "shows qos_violation findings");
    let withheld = r["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "queue_withheld").expect("raised");
    assert_eq!(withheld["evidence"]["withheld"], r["messages"]["lost"], "{withheld}");
    assert_eq!(withheld["evidence"]["client"], "archiver-0", "{withheld}");
    // Out of order on one topic: a qos_violation and a spec_violation under
    // the topic order rule, which [expect] shows asks for.
    let r = run("mosquitto-expiry-reorder");
    passed(&r, "shows qos_violation findings");
    passed(&r, "shows spec_violation [MQTT-4.6.0-6] findings");
    let ooo = r["messages"]["out_of_order"].as_u64().unwrap();
    assert!(ooo > 0, "out of order");
    let qos = r["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "qos_violation").expect("raised");
    assert_eq!(qos["count"], ooo, "{qos}");
    // max_connections 6, yet all 8 late clients (and the $SYS watcher) connected.
    let r = run("mosquitto-max-connections");
    assert_eq!(r["clients"]["connected_peak"], 8);
    assert_eq!(r["clients"]["connect_failures"], serde_json::json!({}));
    assert!(r["broker"]["config"].as_str().unwrap().contains("max_connections 6"));
    // Receive Maximum 5, more in flight: a spec_violation under MQTT-3.3.4-9.
    let r = run("mosquitto-receive-maximum");
    passed(&r, "shows spec_violation [MQTT-3.3.4-9] findings");
    let spec = r["findings"].as_array().unwrap().iter().find(|f| f["kind"] == "spec_violation").expect("raised");
    assert_eq!(spec["evidence"]["rule"]["id"], "MQTT-3.3.4-9", "{spec}");
    assert_eq!(spec["evidence"]["client"], "narrow-0", "{spec}");
    assert!(spec["count"].as_u64().unwrap() > 0, "{spec}");
    assert_eq!(r["messages"]["lost"], 0);
    // Its shrink (one run: the budget ends the search at the rerun as
    // recorded) writes a scenario that names the rule, in `shows` and in
    // its header.
    let small = dir.path().join("rm.toml");
    let run_dir = dir.path().join("mosquitto-receive-maximum");
    let out = midge(&["shrink", run_dir.to_str().unwrap(), "--out", small.to_str().unwrap(), "--max-runs", "1", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("shows:  spec_violation (rule MQTT-3.3.4-9)"));
    let text = std::fs::read_to_string(&small).unwrap();
    assert!(text.contains("\n# Reproduces: spec_violation [MQTT-3.3.4-9] (receive_maximum): a server sends no more QoS 1/2 PUBLISHes unacknowledged than the client's Receive Maximum.\n"), "{text}");
    assert!(text.contains("# Broker: mosquitto version 2.0.11 ("), "{text}");
    assert!(text.contains("# Nothing smaller reproduced: this is the scenario as recorded."), "{text}");
    let doc: toml::Table = text.parse().unwrap();
    assert_eq!(
        doc["expect"]["shows"].as_array().unwrap(),
        &[toml::Value::from("spec_violation:MQTT-3.3.4-9")],
        "{text}"
    );
}

/// A loss shown among bystanders: a proxy drop of 3 PUBLISH to the QoS 1
/// subscriber (a qos_violation), next to a group that only connects and a
/// group with its own traffic. `midge shrink` drops both, cuts the
/// publishers to one, and the scenario it writes, run again, still shows it.
#[test]
fn shrink_removes_the_bystanders_and_its_scenario_still_shows_the_finding() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("loss.toml");
    std::fs::write(
        &scenario,
        r#"name = "loss-among-bystanders"
duration = "1s"
drain = "500ms"
[broker]
url = "spawn:mosquitto"
[[group]]
name = "sub"
subscribe = { filter = "data/#", qos = 1 }
[[group]]
name = "pub"
clients = 4
publish = { topic = "data/{i}", qos = 1, rate = 5.0, payload = 64 }
[[group]]
name = "idle"
clients = 3
[[group]]
name = "chatter"
clients = 2
publish = { topic = "chat/{i}", qos = 0, rate = 5.0, payload = 64 }
subscribe = { filter = "chat/#", qos = 0 }
[[fault]]
at = "300ms"
action = "drop"
group = "sub"
count = 3
"#,
    )
    .unwrap();
    let run_dir = dir.path().join("run");
    let out = midge(&["run", scenario.to_str().unwrap(), "-q", "--out", run_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "the loss fails the run: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report(&run_dir)["messages"]["lost"], 3);

    let small = dir.path().join("small.toml");
    let args =
        ["shrink", run_dir.to_str().unwrap(), "--out", small.to_str().unwrap(), "--max-runs", "7", "--max-time", "50s"];
    let out = midge(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // One progress line per run, the first the scenario as recorded.
    assert!(stderr.starts_with("midge shrink: run 01: as recorded: reproduced (qos_violation: "), "{stderr}");
    assert!(stderr.contains("run 02: drop group \"sub\": not reproduced"), "{stderr}");
    assert!(stdout.contains("shows:  qos_violation"), "{stdout}");
    // Runs 04 to 07 drop both bystander groups and halve the publishers twice; then the budget ends it.
    assert!(stdout.contains("(7 runs; the budget of 7 runs is spent)"), "{stdout}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("midge shrink: run ")).count(), 7, "{stderr}");
    assert!(stdout.contains(&format!("rerun:  midge run {}", small.display())), "{stdout}");
    let text = std::fs::read_to_string(&small).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let groups: Vec<(String, i64)> = doc["group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap().to_string(), g.get("clients").and_then(|c| c.as_integer()).unwrap_or(1)))
        .collect();
    assert_eq!(groups, [("sub".to_string(), 1), ("pub".to_string(), 1)], "{text}");
    assert_eq!(doc["expect"]["shows"].as_array().unwrap(), &[toml::Value::from("qos_violation")], "{text}");
    assert_eq!(doc["fault"].as_array().unwrap().len(), 1, "the drop stays: {text}");
    // The file says what it reproduces, where from, and what each key was.
    assert!(text.starts_with("# A bug reproduction, shrunk by `midge shrink`.\n"), "{text}");
    assert!(text.contains("\n# Reproduces: qos_violation: a delivery guarantee was broken.\n"), "{text}");
    assert!(text.contains(&format!(" ({}).\n", run_dir.display())), "the run folder: {text}");
    assert!(text.contains(&format!("\n# Rerun: midge run {}\n", small.display())), "{text}");
    assert!(text.contains("\n#   drop group \"idle\"\n"), "{text}");
    assert!(text.contains("\nclients = 1  # was 4\n"), "{text}");

    // The written scenario, run again: the loss again, and the run passes
    // because [expect] shows asks for it.
    let rerun_dir = dir.path().join("rerun");
    let out = midge(&["run", small.to_str().unwrap(), "-q", "--out", rerun_dir.to_str().unwrap()]);
    let r = report(&rerun_dir);
    assert_eq!(out.status.code(), Some(0), "{}", r["expectations"]);
    assert!(r["messages"]["lost"].as_u64().unwrap() > 0);
    assert!(r["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "qos_violation"));

    // A finding the rerun does not show: exit 3, nothing written.
    let none = dir.path().join("none.toml");
    let out =
        midge(&["shrink", rerun_dir.to_str().unwrap(), "--out", none.to_str().unwrap(), "--finding", "session_lost"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the run has no session_lost finding: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut edited = report(&rerun_dir);
    edited["findings"] = serde_json::json!([{ "kind": "session_lost", "count": 1, "evidence": {} }]);
    std::fs::write(rerun_dir.join("report.json"), edited.to_string()).unwrap();
    let out = midge(&["shrink", rerun_dir.to_str().unwrap(), "--out", none.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("not reproduced: "));
    assert!(!none.exists());
}
