//! What Kubernetes, systemd, CI timeouts and `timeout` send: SIGTERM and
//! SIGHUP stop a run as Ctrl-C does — a short drain, the report of what ran,
//! exit 143 or 129 — and a second signal quits at once. On every way out,
//! the mosquitto midge spawned is gone afterwards.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `midge run` on the quick start against a mosquitto it spawns, for
/// up to 60 s (the test stops it long before).
fn start(out_dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["run", "scenarios/quickstart.toml", "-q", "--broker", "spawn:mosquitto", "--duration", "60s", "--out"])
        .arg(out_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("midge runs")
}

/// The PIDs of `parent`'s children whose command is `name`, from
/// /proc/<parent>/task/*/children.
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

/// Waits (bounded) for midge's spawned mosquitto to appear; returns its PID.
fn spawned_mosquitto(midge: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let [pid] = children_named(midge, "mosquitto")[..] {
            return pid;
        }
        assert!(Instant::now() < deadline, "midge did not spawn mosquitto within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` is still a mosquitto process (a PID reused by another
/// process, or a zombie, does not count).
fn mosquitto_alive(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rfind(')').and_then(|i| stat[i + 2..].chars().next());
    comm.trim() == "mosquitto" && state.is_some_and(|s| s != 'Z' && s != 'X')
}

/// The stderr lines of `child`, one by one, on a channel.
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits (bounded) for a stderr line containing `what`; returns everything read.
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, what: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !seen.iter().any(|l| l.contains(what)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("no stderr line with {what:?} within 15 s; stderr so far:\n{}", seen.join("\n")),
        }
    }
}

/// Waits for `child` to exit, at most `limit`; kills it (by its PID) and
/// fails if it does not.
fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("midge did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to the process this test started, by its PID.
fn send(child: &Child, signal: i32) {
    unsafe { libc::kill(child.id() as i32, signal) };
}

fn report(out_dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out_dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).unwrap()
}

/// One signal mid-run: the run stops promptly, writes the report of what
/// ran, exits with `status`, and its mosquitto is gone.
fn one_signal(signal: i32, name: &str, status: i32) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir: PathBuf = dir.path().join("out");
    let mut child = start(&out_dir);
    let mut lines = Vec::new();
    let stderr = stderr_lines(&mut child);
    let mosquitto = spawned_mosquitto(child.id());
    // Publishing for a while (the quick start's clients connect in < 1 s).
    std::thread::sleep(Duration::from_secs(3));
    assert!(mosquitto_alive(mosquitto));
    send(&child, signal);
    let sent = Instant::now();
    let exit = wait_bounded(&mut child, Duration::from_secs(30));
    let took = sent.elapsed();
    lines.extend(stderr.try_iter());
    let stderr = lines.join("\n");
    assert_eq!(exit.code(), Some(status), "{stderr}");
    assert!(stderr.contains(&format!("interrupted by {name}")), "the message names the signal: {stderr}");
    let r = report(&out_dir);
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["stop_signal"], name);
    assert_eq!(r["verdict"], "interrupted", "a stopped run is measured, not judged");
    assert_eq!(r["drain"]["ended"], "interrupted");
    assert!(r["drain"]["waited_s"].as_f64().unwrap() <= 2.1, "{}", r["drain"]);
    assert!(r["messages"]["published"].as_u64().unwrap() > 0);
    assert_eq!(r["messages"]["lost"], 0, "a clean stop loses nothing: {}", r["messages"]);
    assert!(!mosquitto_alive(mosquitto), "midge's mosquitto (pid {mosquitto}) outlived it");
    // `midge report` exits as the run did.
    let again = Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["report", "-q"])
        .arg(&out_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(status));
    eprintln!("{name}: exit {status} {:.2} s after the signal; drain {}", took.as_secs_f64(), r["drain"]);
}

#[test]
fn sigterm_stops_the_run_writes_the_report_exits_143_and_stops_the_broker() {
    one_signal(libc::SIGTERM, "SIGTERM", 143);
}

#[test]
fn sighup_stops_the_run_and_exits_129() {
    one_signal(libc::SIGHUP, "SIGHUP", 129);
}

#[test]
fn a_second_signal_quits_at_once_and_still_stops_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let mut child = start(&out_dir);
    let stderr = stderr_lines(&mut child);
    let mosquitto = spawned_mosquitto(child.id());
    // Its folder (config, log): `-c /tmp/midge-mosquitto-…/mosquitto.conf`.
    let cmdline = std::fs::read_to_string(format!("/proc/{mosquitto}/cmdline")).unwrap();
    let conf = cmdline.split('\0').find(|a| a.ends_with("mosquitto.conf")).expect("mosquitto -c FILE");
    let folder = Path::new(conf).parent().unwrap().to_path_buf();
    assert!(folder.file_name().unwrap().to_str().unwrap().starts_with("midge-mosquitto-"), "{folder:?}");
    assert!(folder.exists());
    std::thread::sleep(Duration::from_secs(3));
    send(&child, libc::SIGTERM);
    // The second only once midge has taken the first (two at once may be
    // delivered as one); the stop it began takes ≥ 300 ms of drain.
    let mut lines = Vec::new();
    wait_for_line(&stderr, "interrupted by SIGTERM", &mut lines);
    send(&child, libc::SIGTERM);
    let sent = Instant::now();
    let exit = wait_bounded(&mut child, Duration::from_secs(10));
    let took = sent.elapsed();
    lines.extend(stderr.try_iter());
    let stderr = lines.join("\n");
    assert!(exit.code().is_some_and(|c| c != 0), "{exit:?}: {stderr}");
    assert!(stderr.contains("quitting at once"), "{stderr}");
    assert!(took < Duration::from_secs(2), "the second signal quits at once, not after {took:?}");
    assert!(!out_dir.join("report.json").exists(), "quitting at once writes no report");
    assert!(!mosquitto_alive(mosquitto), "midge's mosquitto (pid {mosquitto}) outlived it");
    assert!(!folder.exists(), "midge's mosquitto folder {folder:?} outlived it");
    eprintln!("second SIGTERM: exit {exit:?} {:.3} s after it", took.as_secs_f64());
}

/// emqtt-bench's habit: a run with no duration publishes until Ctrl-C, and
/// Ctrl-C is then its planned end — a full drain, a judged report (not
/// `interrupted`), exit 0 — and the last lines name report.html.
#[test]
fn a_run_without_a_duration_runs_until_ctrl_c_and_reports_normally() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("open.toml");
    std::fs::write(
        &scenario,
        "name = \"open\"\ndrain = \"1s\"\n[[group]]\nname = \"sub\"\nsubscribe = { filter = \"open/#\", qos = 1 }\n\
         [[group]]\nname = \"pub\"\nclients = 2\npublish = { topic = \"open/{i}\", qos = 1, rate = 20.0 }\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["run", scenario.to_str().unwrap(), "-q", "--broker", "embedded", "--out"])
        .arg(&out_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("midge runs");
    let stderr = stderr_lines(&mut child);
    let mut lines = Vec::new();
    wait_for_line(&stderr, "publishing until Ctrl-C", &mut lines);
    // Well past the old 10 s default would be too slow a test; 3 s shows it
    // is still going when the signal comes (checked: published spans it).
    std::thread::sleep(Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "a run without a duration ended on its own");
    send(&child, libc::SIGINT);
    let exit = wait_bounded(&mut child, Duration::from_secs(20));
    lines.extend(stderr.try_iter());
    let stderr = lines.join("\n");
    assert_eq!(exit.code(), Some(0), "{stderr}");
    assert!(stderr.contains("publishing ends here"), "{stderr}");
    let html = format!("report: {}", out_dir.join("report.html").display());
    assert!(stderr.lines().any(|l| l == html), "the page to open is named: {stderr}");
    assert!(out_dir.join("report.html").exists());
    let r = report(&out_dir);
    assert_eq!(r["interrupted"], false, "{}", r["drain"]);
    assert_eq!(r["verdict"], "pass", "{}", r["expectations"]);
    assert_ne!(r["drain"]["ended"], "interrupted", "{}", r["drain"]);
    let planned = r["scenario"]["planned_duration_s"].as_f64().unwrap();
    assert!((2.0..10.0).contains(&planned), "the publishing window it ran: {planned}");
    let published = r["messages"]["published"].as_u64().unwrap();
    assert!(published >= 80, "2 publishers × 20/s for ≥ 2 s: {published}");
    assert_eq!(r["messages"]["lost"], 0, "{}", r["messages"]);
    assert_eq!(r["messages"]["received"], r["messages"]["expected"], "{}", r["messages"]);
}
