//! `midge capacity`: a clients search that finds mosquitto's connection
//! limit, a rate search that finds the knee of a subscriber slowed by midge's
//! proxy, and the command line around them. 127.0.0.1 only, bounded.

mod support;

use midge::capacity::{self, CapacityOptions, CapacityOutput};
use midge::scenario::ScenarioFile;
use std::path::Path;
use support::midge;

/// Runs the search in `dir/out`. A search that midge's own saturation
/// stopped (a busy test machine: the guard calls midge saturated when its
/// 10 ms timer fires 20 ms late) says nothing about the broker: it is run
/// again, up to three times in all.
async fn search(dir: &Path, text: &str) -> CapacityOutput {
    let path = dir.join("capacity.toml");
    std::fs::write(&path, text).unwrap();
    let file = ScenarioFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join("out");
    for attempt in 1..=3 {
        let _ = std::fs::remove_dir_all(&out);
        let output = capacity::run(&file, &out, CapacityOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
        capacity::write(&out, &output).unwrap();
        if !output.info.reason.starts_with("midge was saturated") || attempt == 3 {
            return output;
        }
        eprintln!("attempt {attempt}: {} — again", output.info.reason);
    }
    unreachable!()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// 100, 200, 300, 400 publishers (then 350 and 325) on a mosquitto that
/// takes 301 connections: 300 for the publishers, one for midge's $SYS
/// watcher. At max_connections mosquitto accepts the TCP connection and
/// closes it at once: connect failures. mosquitto 2.0.11 miscounts the limit
/// once clients have disconnected, so the broker starts afresh every step.
const CLIENTS: &str = r#"
name = "capacity-clients"
duration = "1s"
drain = "1s"

[broker]
url = "spawn:mosquitto"
mosquitto_conf = ["max_connections 301"]

[[group]]
name = "sensors"
client_id = { scheme = "prefix-random", prefix = "capc-" }
publish = { topic = "capc/{client}", qos = 0, rate = 1.0, payload = 64 }

[capacity]
vary = "clients"
start = 100
step = 100
max_steps = 6
hold = "1s"
bisect = 2
fresh_broker = true

[capacity.pass]
connect_failures = 0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_search_finds_the_connection_limit() {
    let dir = tempfile::tempdir().unwrap();
    let output = search(dir.path(), CLIENTS).await;
    let c = &output.info;
    let values: Vec<f64> = c.steps.iter().map(|s| s.value).collect();
    assert_eq!(values, vec![100.0, 200.0, 300.0, 400.0, 350.0, 325.0], "{c:#?}");
    let (pass, fail) = (c.last_pass.unwrap(), c.first_fail.unwrap());
    assert!(pass <= 300.0 && 300.0 < fail, "last pass {pass}, first fail {fail}: {c:#?}");
    assert_eq!((pass, fail), (300.0, 325.0));
    assert!(c.reason.contains("connect failures"), "{}", c.reason);
    let failed = c.steps.iter().find(|s| s.value == 400.0).unwrap();
    assert!(!failed.pass && !failed.invalid);
    // About 100: exactly the connection attempts that got no CONNACK in the
    // step's record, one per client the broker turned away (no retry within
    // the step); the others connected, all at once (the step's peak).
    let step = json(&dir.path().join("out/steps/04/record.json"));
    let clients = step["clients"].as_array().unwrap();
    let timeline = |c: &serde_json::Value| c["timeline"].as_array().unwrap().clone();
    let refused_attempts = clients.iter().flat_map(timeline).filter(|g| g["connected_us"].is_null()).count() as u64;
    let connected = clients.iter().filter(|c| timeline(c).iter().any(|g| !g["connected_us"].is_null())).count() as u64;
    assert_eq!((failed.connect_failures, connected), (refused_attempts, 400 - refused_attempts), "{failed:?}");
    assert_eq!(json(&dir.path().join("out/steps/04/report.json"))["clients"]["connected_peak"], connected);
    // 300 for the publishers (midge's $SYS watcher takes one of the 301);
    // mosquitto 2.0.11 lets one or two more in than it should.
    assert!((300..=302).contains(&connected), "{failed:?}");
    assert!(failed.why.iter().any(|w| w.starts_with("connect failures")), "{failed:?}");
    assert!(
        c.steps.iter().all(|s| s.broker_cpu_s.is_some() && s.broker_rss_kib.is_some()),
        "the spawned broker is measured"
    );
    assert_eq!(output.exit_code, 0);

    // On disk: capacity.json, the knee step's report with the same search in
    // it, and every step's own run folder.
    let out = dir.path().join("out");
    let on_disk = json(&out.join("capacity.json"));
    assert_eq!(on_disk["first_fail"], 325.0);
    assert_eq!(on_disk["steps"].as_array().unwrap().len(), 6);
    let report = json(&out.join("report.json"));
    assert_eq!(report["capacity"], on_disk, "report.json carries the same search");
    assert_eq!(report["clients"]["planned"], 325, "report.json is the first failing step's");
    assert_eq!(report["broker"]["kind"], "spawned mosquitto", "the search's broker is named as midge's");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Capacity") && md.contains("Holds 300 clients") && md.contains("breaks at 325 clients"),
        "{md}"
    );
    // It leads with the answer, not the knee step's (failing) verdict.
    let head = md.split("\n\n").take(3).collect::<Vec<_>>().join("\n\n");
    assert!(head.starts_with("# midge: ") && head.contains(" — capacity\n\n**Holds 300 clients"), "{head}");
    assert!(head.contains("steps/06") && !head.contains("— FAIL"), "{head}");
    assert!(md.contains("Broker mqtt://127.0.0.1:") && md.contains("(spawned mosquitto)"), "{md}");
    // report.html opens with the search: its sentence, the two curves with
    // the knee marked, and the table of steps, before the step's own plots.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let section = html.find("<h2>Capacity</h2>").expect("report.html has a Capacity section");
    let answer = html.find("<p class=\"answer\">Holds 300 clients").expect("report.html opens with the answer");
    assert!(answer < section && html[..answer].contains("capacity</span></h1>"), "{}", &html[..answer]);
    assert!(section < html.find("<h2>Over time</h2>").unwrap(), "the Capacity section comes first");
    for needle in [
        "capacity: messages offered and delivered per step",
        "capacity: latency per step",
        "last pass 300",
        "first fail 325",
        "<td>steps/06</td>",
    ] {
        assert!(html[section..].contains(needle), "report.html lacks {needle:?}");
    }
    let capacity_html = &html[section..html.find("<h2>Messages</h2>").unwrap()];
    assert_eq!(capacity_html.matches("<svg").count(), 2, "the Capacity section has its two plots");
    assert!(!["<script", "href=", "src="].iter().any(|s| capacity_html.contains(s)), "nothing fetched");
    let step_html = std::fs::read_to_string(out.join("steps/01/report.html")).unwrap();
    assert!(!step_html.contains("<h2>Capacity</h2>"), "a step's report.html is an ordinary run's");
    for n in 1..=6 {
        let step = out.join(format!("steps/{n:02}"));
        for f in ["report.json", "report.md", "report.html", "record.json"] {
            assert!(step.join(f).exists(), "{}/{f}", step.display());
        }
        assert_eq!(json(&step.join("report.json"))["capacity"], serde_json::Value::Null, "a step is an ordinary run");
    }
    assert_eq!(json(&out.join("steps/03/report.json"))["clients"]["connected_peak"], 300);
}

/// One subscriber, then 20 and 40 publishers at 2 msg/s on a mosquitto
/// that takes 22 connections ($SYS watcher, subscriber, 20 publishers); the
/// rule asks only for `delivered_ratio`. Offered is what the plan asked for
/// (clients × rate × hold per subscriber: 40, then 80), so the publishers
/// that never connected fail the step at 40, and are named.
const OFFERED: &str = r#"
name = "capacity-offered"
duration = "1s"
drain = "1s"

[broker]
url = "spawn:mosquitto"
mosquitto_conf = ["max_connections 22"]

[[group]]
name = "sub"
client_id = { scheme = "prefix-serial", prefix = "capo-sub-" }
subscribe = { filter = "capo/#", qos = 1 }

[[group]]
name = "pub"
connect_rate = 200
client_id = { scheme = "prefix-random", prefix = "capo-" }
publish = { topic = "capo/{client}", qos = 1, rate = 2.0, payload = 64 }

[capacity]
vary = "clients"
group = "pub"
start = 20
factor = 2.0
max_steps = 2
hold = "1s"
fresh_broker = true

[capacity.pass]
delivered_ratio = 0.99
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_offers_what_the_plan_asked_for_and_fails_on_clients_never_connected() {
    let dir = tempfile::tempdir().unwrap();
    let output = search(dir.path(), OFFERED).await;
    let c = &output.info;
    let values: Vec<f64> = c.steps.iter().map(|s| s.value).collect();
    assert_eq!(values, vec![20.0, 40.0], "{c:#?}");
    assert_eq!((c.last_pass, c.first_fail), (Some(20.0), Some(40.0)), "{c:#?}");
    let (held, broke) = (&c.steps[0], &c.steps[1]);
    assert_eq!((held.planned_offered, held.delivered, held.never_connected), (40, 40, 0), "{held:?}");
    assert_eq!(held.delivered_ratio, 1.0);
    // Which e2e the steps judged: plain TCP, to the kernel's receive stamp.
    let kernel = midge::record::vocab::ReceiveTime::Kernel;
    assert_eq!((held.e2e_receive_time, broke.e2e_receive_time), (kernel, kernel), "{c:#?}");
    assert_eq!(broke.planned_offered, 80, "40 publishers × 2 msg/s × 1 s, one subscriber");
    // mosquitto 2.0.11 lets one or two more in than it should.
    let missing = broke.never_connected;
    assert!((18..=20).contains(&missing), "{broke:?}");
    assert_eq!(broke.delivered, 2 * (40 - missing), "every connected publisher's 2 delivered");
    assert_eq!(broke.offered, broke.delivered, "messages.expected leaves the unconnected out");
    assert_eq!(broke.delivered_ratio, broke.delivered as f64 / 80.0);
    assert!(!broke.pass && !broke.invalid, "{broke:?}");
    // The causes as the step's report counts them (mosquitto closes at once:
    // closed_before_connack, now and then a reset).
    let step = json(&dir.path().join("out/steps/02/report.json"));
    let causes = step["clients"]["connect_failures"].as_object().unwrap();
    let failures: Vec<String> = causes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let failures = failures.join(", ");
    assert_eq!(causes.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), broke.connect_failures);
    assert_eq!(broke.why[0], format!("{missing} of 40 clients never connected ({failures})"), "{broke:?}");
    assert!(
        broke.why[1].starts_with(&format!(
            "delivered {} of 80 offered ({:.2}% < 99.00%): {missing} clients never connected ({failures})",
            broke.delivered,
            broke.delivered_ratio * 100.0
        )),
        "{broke:?}"
    );
    let md = std::fs::read_to_string(dir.path().join("out/report.md")).unwrap();
    assert!(md.contains("Holds 20 clients") && md.contains("40 of 40 delivered"), "{md}");
    assert!(
        md.contains("e2e judged: from the intended send (midge's send lag included) to the kernel's receive stamp"),
        "{md}"
    );
    assert!(md.contains(&format!("breaks at 40 clients: {missing} of 40 clients never connected")), "{md}");
}

/// One publisher into one QoS 1 subscriber whose every packet midge's proxy
/// delays by 10 ms. mosquitto sends it one message at a time
/// (`max_inflight_messages 1`), so it takes at most one per round trip —
/// 1 / (2 × 10 ms) = 50 msg/s, a little less with the proxy's own time —
/// and keeps only 2 more queued (`max_queued_messages 2`): a rate past the
/// knee loses messages within a 2 s step.
const RATE: &str = r#"
name = "capacity-rate"
duration = "2s"
drain = "3s"

[broker]
url = "spawn:mosquitto"
mosquitto_conf = ["max_inflight_messages 1", "max_queued_messages 2"]

[[group]]
name = "slow"
client_id = { scheme = "prefix-serial", prefix = "capr-sub-" }
subscribe = { filter = "capr/#", qos = 1 }

[[group]]
name = "pub"
client_id = { scheme = "prefix-serial", prefix = "capr-pub-" }
publish = { topic = "capr/{i}", qos = 1, rate = 10.0, payload = 64 }

[[fault]]
at = "0s"
action = "delay"
group = "slow"
delay = "10ms"
for = "30s"

[capacity]
vary = "rate"
group = "pub"
start = 10
factor = 2.0
max_steps = 5
hold = "2s"
bisect = 3

[capacity.pass]
lost = 0
delivered_ratio = 1.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_search_finds_the_knee_of_a_slowed_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let output = search(dir.path(), RATE).await;
    let c = &output.info;
    let (Some(pass), Some(fail)) = (c.last_pass, c.first_fail) else { panic!("10 msg/s passes, 80 fails: {c:#?}") };
    // The steps follow from their outcomes exactly: the ladder 10, 20, 40,
    // 80, 160 up to its first fail, then three halvings of the gap between
    // the last pass and the first fail (rates to a thousandth).
    let mut want = Vec::new();
    let (mut lo, mut hi) = (None, None);
    for v in [10.0, 20.0, 40.0, 80.0, 160.0] {
        want.push(v);
        let step = c.steps.iter().find(|s| s.value == v).unwrap_or_else(|| panic!("no step at {v}: {c:#?}"));
        if step.pass {
            lo = Some(v);
        } else {
            hi = Some(v);
            break;
        }
    }
    let (mut lo, mut hi) = (lo.expect("10 msg/s passes"), hi.expect("160 msg/s fails"));
    for _ in 0..3 {
        let mid = ((lo + hi) / 2.0 * 1000.0).round() / 1000.0;
        want.push(mid);
        let step = c.steps.iter().find(|s| s.value == mid).unwrap_or_else(|| panic!("no step at {mid}: {c:#?}"));
        if step.pass {
            lo = mid
        } else {
            hi = mid
        }
    }
    let values: Vec<f64> = c.steps.iter().map(|s| s.value).collect();
    assert_eq!(values, want, "{c:#?}");
    assert_eq!((pass, fail), (lo, hi), "{c:#?}");
    // Each step's delivered and lost are its own record's: what the
    // subscriber received, and what the publisher got out that it did not.
    for s in &c.steps {
        let text = std::fs::read_to_string(dir.path().join("out").join(&s.dir).join("record.json")).unwrap();
        let rec = midge::record::RunRecord::from_json(&text).unwrap();
        let publisher = support::client(&rec, "capr-pub-0").publish_log.clone().unwrap();
        let rx = support::client(&rec, "capr-sub-0").rx.clone().unwrap();
        let received = rx.streams.get(&0).map(|r| r.received.clone()).unwrap_or_default();
        let lost = publisher.got_out.missing_from(&received, 0, publisher.published()).len();
        assert_eq!((s.delivered, s.lost), (received.len(), lost), "{s:?}");
        assert_eq!(s.pass, s.lost == 0 && s.why.is_empty(), "{s:?}");
    }
    // The knee can be no higher than 50 msg/s (one message per 20 ms round
    // trip), plus the 2 queued over 2 s: any rate above 51 loses.
    assert!(fail <= 51.0, "last pass {pass}, first fail {fail}: {c:#?}");
    assert!(pass >= 20.0, "a 20 ms round trip holds 20 msg/s with room to spare: {c:#?}");
    let at_fail = c.steps.iter().find(|s| s.value == fail).unwrap();
    assert!(at_fail.lost > 0 && at_fail.why.iter().any(|w| w.starts_with("lost")), "{at_fail:?}");
    assert!(c.reason.contains("lost"), "{}", c.reason);
    assert_eq!(c.steps.iter().filter(|s| s.value > 51.0).filter(|s| s.pass).count(), 0, "{c:#?}");
    assert_eq!(output.exit_code, 0);
}

#[test]
fn a_scenario_without_a_capacity_table_exits_2_naming_the_file() {
    let out = midge(&["capacity", "scenarios/quickstart.toml", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scenarios/quickstart.toml") && err.contains("no [capacity] table"), "{err}");
}

#[test]
fn a_bad_capacity_table_is_located() {
    let text = format!("{}\nfactor = 2.0\n", CLIENTS.replace("[capacity.pass]\nconnect_failures = 0\n", ""));
    let e = ScenarioFile::parse(Path::new("c.toml"), &text).unwrap_err();
    assert!(e.message.contains("exactly one of `factor`"), "{e}");
    let line = text.lines().position(|l| l == "[capacity]").unwrap() + 1;
    assert_eq!(e.line, line, "{e}");
    let text = CLIENTS.replace("start = 100", "start = 100\ngroup = \"nobody\"");
    let e = ScenarioFile::parse(Path::new("c.toml"), &text).unwrap_err();
    assert!(e.message.contains("no group named \"nobody\""), "{e}");
    let text = CLIENTS.replace("start = 100", "start = 100.5");
    assert!(ScenarioFile::parse(Path::new("c.toml"), &text).unwrap_err().message.contains("whole number"));
}

#[test]
fn the_shipped_capacity_scenario_validates_and_runs_as_one_ordinary_run() {
    let out = midge(&["validate", "scenarios/capacity.toml"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let out = midge(&["run", "scenarios/capacity.toml", "-q", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = json(&dir.path().join("report.json"));
    assert_eq!(r["clients"]["connected_peak"], 51);
    assert_eq!(r["capacity"], serde_json::Value::Null);
}
