//! Issue 12's session features against a real mosquitto: last wills (the
//! `kill` fault), retained messages for a group that joins later and their
//! cleanup, and secrets from files that never show up in any output.

mod support;
use midge::record::names::by_name;
use std::io::{Read, Write};
use std::path::Path;
use support::*;

/// Kill 4 of 10 devices: exactly 4 wills owed to the watcher, 4 received,
/// matched by the connection their payload names; no tracked message lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_four_clients_delivers_exactly_four_wills() {
    let out = run_shipped("last-will", |t| t).await;
    let r = &out.report;
    let w = &r.wills;
    assert_eq!((w.expected, w.received, w.missing, w.duplicated, w.unexpected), (4, 4, 0, 0, 0), "{w:?}");
    let latency = w.latency_ms.as_ref().expect("a latency per will");
    assert!(latency.max < 1000.0 && latency.p50 <= latency.p99, "{latency:?}");
    assert_eq!(by_name(&r.disconnects.by_cause).get("fault_injected"), Some(&4), "{:?}", r.disconnects);
    assert_eq!(r.faults.len(), 1);
    assert_eq!(r.faults[0].action, midge::record::vocab::FaultKind::Kill);
    assert_eq!((r.messages.lost, r.messages.duplicated, r.messages.foreign), (0, 0, 0), "wills are no messages");
    assert_eq!(out.exit_code, 0, "{:?}", r.expectations);
    let md = midge::report::markdown::render(r);
    assert!(md.contains("Last wills: 4 expected, 4 received, 0 missing, 0 duplicated, 0 not owed"), "{md}");
}

/// Both shipped scenarios run as they are on the embedded broker too, with
/// the same exact counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_scenarios_count_the_same_on_the_embedded_broker() {
    let embedded = |t: String| t.replace("url = \"spawn:mosquitto\"", "url = \"embedded\"");
    let w = run_shipped("last-will", embedded).await.report.wills;
    assert_eq!((w.expected, w.received, w.missing, w.duplicated, w.unexpected), (4, 4, 0, 0, 0), "{w:?}");
    let r = run_shipped("retained", embedded).await.report.retained;
    assert_eq!((r.topics_set, r.expected_replays, r.replays_received, r.missing, r.cleared), (10, 10, 10, 0, Some(10)));
}

/// MQTT 5: a will with a 30 s delay on a persistent session, and a client
/// that is back 200 ms after the kill: the broker must not send the will,
/// and midge owes none. The same kill without a way back (reconnect off) owes one.
/// (Two kill faults at the same moment: neither order overwrites the other.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_will_delay_spares_a_client_that_comes_back() {
    let broker = mosquitto(&[]).await;
    let text = r#"
name = "will-delay"
duration = "2s"
protocol = "5"
[[group]]
name = "watcher"
subscribe = { filter = "wd/#", qos = 1 }
[[group]]
name = "back"
clients = 3
clean_session = false
session_expiry = "60s"
reconnect = { delay = "200ms", jitter = 0.0 }
will = { topic = "wd/{client}", qos = 1, delay = "30s" }
[[group]]
name = "gone"
clients = 2
will = { topic = "wd/{client}", qos = 1 }
reconnect = false
[[fault]]
at = "500ms"
action = "kill"
group = "back"
[[fault]]
at = "500ms"
action = "kill"
group = "gone"
"#;
    let out = run_text(text, &url(&broker)).await;
    let w = &out.report.wills;
    assert_eq!((w.expected, w.received, w.missing, w.unexpected), (2, 2, 0, 0), "{w:?}");
    assert_eq!(out.report.reconnects, 3, "the three with a way back came back");
}

/// MQTT 5 wills with a 2 s delay, their clients killed 1 s before the end
/// of publishing (2 s): mosquitto checks will delays once a second, so the
/// wills come 2–3 s after the kill, after publishing. The drain waits for
/// them (`Plan::holds_until_us`): both received, every time.
fn delayed_wills(drain: &str) -> String {
    format!(
        r#"
name = "will-near-the-end"
duration = "2s"
drain = "{drain}"
protocol = "5"
[[group]]
name = "watcher"
subscribe = {{ filter = "wn/#", qos = 1 }}
[[group]]
name = "dying"
clients = 2
clean_session = false
session_expiry = "60s"
reconnect = false
will = {{ topic = "wn/{{client}}", qos = 1, delay = "2s" }}
[[fault]]
at = "1s"
action = "kill"
group = "dying"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_waits_for_wills_owed_after_the_end() {
    let broker = mosquitto(&[]).await;
    let out = run_text(&delayed_wills("5s"), &url(&broker)).await;
    let (w, d) = (&out.report.wills, &out.report.drain);
    assert_eq!((w.expected, w.received, w.missing, w.not_yet_due), (2, 2, 0, 0), "{w:?}\n{d:?}");
    // Owed by 1 s + 2 s + the 1 s check + 250 ms: 2.25 s into the drain, then quiet.
    assert_eq!(d.ended.as_str(), "complete", "{d:?}");
    assert!((2.25..4.0).contains(&d.waited_s), "{d:?}");
    // Both after their 2 s delay (the smaller one is the p50 of two).
    assert!(w.latency_ms.as_ref().expect("two received").p50 >= 2000.0, "{w:?}");
    // A drain too short to wait for them ends 3.5 s in: after the wills were
    // due (3 s), before the broker's check had to have sent them (4 s).
    // Whatever did not come is not yet due, never missing.
    let out = run_text(&delayed_wills("1500ms"), &url(&broker)).await;
    let (w, d) = (&out.report.wills, &out.report.drain);
    assert_eq!(d.ended.as_str(), "time_limit", "{d:?}");
    assert_eq!((w.expected, w.missing, w.received + w.not_yet_due), (2, 0, 2), "{w:?}");
}

/// A takeover closes the old connection without DISCONNECT: mosquitto
/// publishes its will (observed with 2.0.11), and midge owes one per
/// takeover of a planned client (the twin has no will).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_takeover_of_a_will_bearing_client_owes_one_will() {
    let broker = mosquitto(&[]).await;
    let text = r#"
name = "takeover-wills"
duration = "2s"
[[group]]
name = "watcher"
subscribe = { filter = "tw/#", qos = 1 }
[[group]]
name = "dev"
clients = 2
will = { topic = "tw/{client}", qos = 1 }
[[fault]]
at = "300ms"
action = "duplicate-ids"
group = "dev"
for = "1s"
"#;
    let out = run_text(text, &url(&broker)).await;
    let w = &out.report.wills;
    let takeovers = by_name(&out.report.disconnects.by_cause).get("session_taken_over").copied().unwrap_or(0);
    assert!(takeovers >= 2, "{:?}", out.report.disconnects);
    assert_eq!((w.expected, w.received, w.missing, w.unexpected), (takeovers, takeovers, 0, 0), "{w:?}");
}

fn retained_text(start_after: bool, cleanup: bool) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/retained.toml");
    let mut text = std::fs::read_to_string(path).unwrap();
    if !start_after {
        text = text.replace("start_after = \"1s\"\n", "");
    }
    text.replace("retained_cleanup = true", &format!("retained_cleanup = {cleanup}"))
}

/// The late subscriber gets exactly one replay per topic; cleanup clears
/// all 10, so a rerun's early subscriber finds nothing left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_subscriber_gets_one_replay_per_topic_and_cleanup_leaves_none() {
    let broker = mosquitto(&[]).await;
    let first = run_text(&retained_text(true, true), &url(&broker)).await;
    let r = &first.report.retained;
    assert_eq!((r.topics_set, r.expected_replays, r.replays_received, r.missing, r.extra), (10, 10, 10, 0, 0), "{r:?}");
    assert_eq!((r.leftover_replays, r.cleared), (0, Some(10)), "{r:?}");
    assert_eq!(first.report.messages.retained_replays, 10);
    assert_eq!((first.report.messages.lost, first.report.messages.duplicated), (0, 0));
    assert_eq!(first.exit_code, 0, "{:?}", first.report.expectations);
    let md = midge::report::markdown::render(&first.report);
    assert!(md.contains("10 replays owed to later subscriptions, 10 received, 0 missing, 0 extra; 10 topics cleared"));

    // Subscribed before anything was published: no replay owed, none left over.
    let rerun = run_text(&retained_text(false, true), &url(&broker)).await;
    let r = &rerun.report.retained;
    assert_eq!((r.expected_replays, r.replays_received, r.leftover_replays), (0, 0, 0), "{r:?}");
    assert_eq!(rerun.report.messages.stale, 0);
    assert_eq!(rerun.report.messages.received, 10, "the live deliveries");
}

/// With `retained_cleanup = false` the topics stay set: the next run's
/// early subscriber sees the 10 leftovers, counted apart (stale retained
/// replays), never as loss or duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cleanup_the_next_run_sees_the_leftovers_apart() {
    let broker = mosquitto(&[]).await;
    let keep = run_text(&retained_text(true, false), &url(&broker)).await;
    assert_eq!(keep.report.retained.cleared, None);
    assert_eq!(keep.report.retained.replays_received, 10);
    let next = run_text(&retained_text(false, true), &url(&broker)).await;
    let r = &next.report.retained;
    assert_eq!((r.leftover_replays, r.replays_received, r.expected_replays), (10, 0, 0), "{r:?}");
    let m = &next.report.messages;
    assert_eq!((m.stale, m.lost, m.duplicated, m.received), (10, 0, 0, 10), "{m:?}");
    assert_eq!(next.exit_code, 0, "{:?}", next.report.expectations);
}

/// `GET /metrics` once; the body, or nothing while nobody listens.
fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// Every file under `dir`, as text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push((p.display().to_string(), String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()));
        }
    }
    out
}

/// Credentials from files next to the scenario (a right and a wrong
/// password, both unique strings); stdout, stderr, every file of the run
/// folder and live Prometheus scrapes never contain either.
#[test]
fn passwords_from_files_appear_in_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("midge-secret-{:016x}", rand::random::<u64>());
    let wrong = format!("midge-wrong-{:016x}", rand::random::<u64>());
    let status = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(dir.path().join("passwd"))
        .args(["hygiene", &secret])
        .status()
        .expect("mosquitto_passwd (Debian package mosquitto)");
    assert!(status.success());
    std::fs::write(dir.path().join("user"), "hygiene\n").unwrap();
    std::fs::write(dir.path().join("password"), format!("{secret}\n")).unwrap();
    std::fs::write(dir.path().join("wrong"), &wrong).unwrap();
    let scenario = dir.path().join("hygiene.toml");
    std::fs::write(
        &scenario,
        r#"
name = "hygiene"
duration = "2s"
[broker]
url = "spawn:mosquitto"
mosquitto_conf = ["allow_anonymous false", "password_file {scenario_dir}/passwd"]
username_file = "user"
password_file = "password"
[[group]]
name = "staff"
clients = 3
publish = { topic = "h/{client}", qos = 1, rate = 5.0 }
subscribe = { filter = "h/#", qos = 1 }
[[group]]
name = "intruders"
clients = 2
password_file = "wrong"
publish = { topic = "h/{client}", qos = 1, rate = 5.0 }
"#,
    )
    .unwrap();
    let port = midge::broker::free_port().unwrap();
    let out_dir = dir.path().join("out");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut bodies = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                bodies.extend(scrape(port));
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            bodies
        })
    };
    let prometheus = format!("127.0.0.1:{port}");
    let run =
        midge(&["run", scenario.to_str().unwrap(), "--prometheus", &prometheus, "--out", out_dir.to_str().unwrap()]);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let bodies = scraper.join().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(1), "the intruders' refusals fail connect_failures: {stderr}");
    assert!(stdout.contains("auth_refused"), "{stdout}");
    assert!(bodies.iter().any(|b| b.contains("midge_")), "no scrape during the run: {bodies:?}");
    let mut outputs = vec![("stdout".to_string(), stdout), ("stderr".to_string(), stderr)];
    outputs.extend(bodies.into_iter().map(|b| ("a scrape".to_string(), b)));
    let files = files_under(&out_dir);
    assert!(files.iter().any(|(p, _)| p.ends_with("record.json")), "{:?}", files.iter().map(|f| &f.0));
    outputs.extend(files);
    for (what, text) in &outputs {
        assert!(!text.contains(&secret) && !text.contains(&wrong), "a password in {what}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["clients"]["connected_peak"], 3, "the right password from its file works");
}

/// A password file that cannot be read: exit 2, the file named.
#[test]
fn an_unreadable_password_file_is_named_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(dir.path().join("user"), "u").unwrap();
    std::fs::write(
        &scenario,
        "name = \"s\"\nduration = \"1s\"\n[broker]\nurl = \"embedded\"\nusername_file = \"user\"\npassword_file = \"secrets/nowhere\"\n[[group]]\nname = \"g\"\nsubscribe = { filter = \"a\" }\n",
    )
    .unwrap();
    let out = midge(&["run", scenario.to_str().unwrap(), "--out", dir.path().join("out").to_str().unwrap(), "-q"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("password_file") && err.contains("secrets/nowhere"), "{err}");
}

/// last-will.toml in two shards against one mosquitto: the watcher (on
/// shard 0) receives the wills of devices on both; each shard's report
/// leaves the other's to the merge, and the merge owes and finds all 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wills_across_shards_merge_to_exactly_four() {
    let broker = mosquitto(&[]).await;
    let tmp = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/last-will.toml");
    let dirs: Vec<_> = (0..2).map(|i| tmp.path().join(format!("shard{i}"))).collect();
    // Both shards at once: the watcher must be there when shard 1 kills.
    let children: Vec<_> = (0..2)
        .map(|i| {
            std::process::Command::new(env!("CARGO_BIN_EXE_midge"))
                .args(["run", scenario.to_str().unwrap(), "--broker", &url(&broker), "-q", "--run-id", "wills"])
                .args(["--shard", &format!("{i}/2"), "--out", dirs[i].to_str().unwrap()])
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let merged = tmp.path().join("merged");
    let o = midge(&[
        "merge",
        dirs[0].to_str().unwrap(),
        dirs[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("report.json")).unwrap()).unwrap();
    let w = &report["wills"];
    let counts = ["expected", "received", "missing", "duplicated", "unexpected"].map(|k| w[k].as_u64().unwrap());
    assert_eq!(counts, [4, 4, 0, 0, 0], "{w}");
}
