//! Sharded runs and their merge, against one mosquitto started by the test:
//! the same plan run once whole and once as four shard processes (a
//! subscriber on one shard hearing publishers on the others, a share group
//! split over shards, a `drop` fault on one shard) must give the same
//! message counts, each client id on exactly one shard, and merged
//! histograms that are the sum of the shards'.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

const SCENARIO: &str = r#"
name = "sharded"
duration = "2s"
drain = "2s"

[[group]]
name = "pub"
clients = 10
client_id = { scheme = "prefix-random", prefix = "shp-" }
publish = { topic = "shard/{i}", qos = 1, rate = 100.0, count = 100 }

[[group]]
name = "sub"
clients = 3
client_id = { scheme = "prefix-random", prefix = "shs-" }
subscribe = { filter = "shard/#", qos = 0 }

[[group]]
name = "share"
clients = 2
subscribe = { filter = "$share/g/shard/#", qos = 1 }

# Exactly 5 messages lost to the first subscriber (on shard 0 of 4).
[[fault]]
at = "300ms"
action = "drop"
group = "sub"
clients = 1
count = 5
"#;

fn midge(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_midge"));
    c.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

fn counts(r: &Value) -> Vec<u64> {
    ["published", "expected", "received", "lost", "duplicated", "out_of_order"]
        .iter()
        .map(|k| r["messages"][k].as_u64().unwrap_or_else(|| panic!("messages.{k}")))
        .collect()
}

/// The ids of the clients a shard's record holds (its slice).
fn ids_run_by(dir: &Path) -> Vec<String> {
    let rec: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
    let all: Vec<String> =
        rec["plan"]["client_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let shard = &rec["plan"]["shard"];
    let (i, n) = (shard["index"].as_u64().unwrap(), shard["count"].as_u64().unwrap());
    // Client k of each group belongs to shard k mod n; groups: 10, 3, 2.
    let mut ids = Vec::new();
    let mut first = 0;
    for size in [10u64, 3, 2] {
        ids.extend((0..size).filter(|k| k % n == i).map(|k| all[(first + k) as usize].clone()));
        first += size;
    }
    assert_eq!(ids.len(), rec["clients"].as_array().unwrap().len(), "the record holds its slice");
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_merge_to_the_counts_of_one_whole_run() {
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let url = support::url(&broker);
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("sharded.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let s = scenario.to_str().unwrap();

    let whole = tmp.path().join("whole");
    let out = midge(&["run", s, "--broker", &url, "--out", whole.to_str().unwrap(), "-q", "--run-id", "whole"])
        .output()
        .unwrap();
    assert!(out.status.success(), "whole run: {}", String::from_utf8_lossy(&out.stderr));

    let start_at =
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + std::time::Duration::from_secs(3)).to_string();
    let dirs: Vec<_> = (0..4).map(|i| tmp.path().join(format!("shard{i}"))).collect();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let shard = format!("{i}/4");
            midge(&[
                "run",
                s,
                "--broker",
                &url,
                "--out",
                dirs[i].to_str().unwrap(),
                "-q",
                "--shard",
                &shard,
                "--run-id",
                "sharded",
                "--start-at",
                &start_at,
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "shard {i}/4: {}", String::from_utf8_lossy(&o.stderr));
    }
    let merged = tmp.path().join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".into(), merged.display().to_string(), "-q".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = midge(&args).output().unwrap();
    assert!(o.status.success(), "merge: {}", String::from_utf8_lossy(&o.stderr));

    let (w, m) = (report(&whole), report(&merged));
    // 10 × 100 published; 3 subscribers + 1 share group owed each; 5 dropped.
    assert_eq!(counts(&w), vec![1000, 4000, 3995, 5, 0, 0], "the whole run");
    assert_eq!(counts(&m), counts(&w), "the merged shards give the whole run's counts");
    assert_eq!(m["shards"]["merged"], true);
    let md = std::fs::read_to_string(merged.join("report.md")).unwrap();
    assert!(md.contains("Merged from 4 shards"), "report.md names the merge");
    assert_eq!(m["shards"]["parts"].as_array().unwrap().len(), 4);
    // The skew is the spread of the shards' publish starts on one clock
    // (Unix µs: each record's clock start plus its publishing start), from
    // their records; --start-at lines them up: each starts at it, or as late
    // as its record says.
    let at_unix_us =
        humantime::parse_rfc3339(&start_at).unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64;
    let starts: Vec<u64> = dirs
        .iter()
        .map(|d| {
            let rec: Value = serde_json::from_str(&std::fs::read_to_string(d.join("record.json")).unwrap()).unwrap();
            let start = rec["clock_start_unix_us"].as_u64().unwrap() + rec["publishing"]["start_us"].as_u64().unwrap();
            let late = rec["start_late_us"].as_u64().unwrap();
            assert_eq!(start, at_unix_us + late, "{}: --start-at {at_unix_us} + late {late}", d.display());
            start
        })
        .collect();
    let skew_us = starts.iter().max().unwrap() - starts.iter().min().unwrap();
    assert_eq!(m["shards"]["start_skew_ms"].as_f64().unwrap(), skew_us as f64 / 1000.0, "{starts:?}");

    // Every client id on exactly one shard; all of them run.
    let mut ids: Vec<String> = dirs.iter().flat_map(|d| ids_run_by(d)).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((n, ids.len()), (15, 15), "no client id on two shards");

    // Histograms add: the merged count is the sum of the shards'.
    let shard_reports: Vec<Value> = dirs.iter().map(|d| report(d)).collect();
    for h in ["e2e", "connect", "ack"] {
        let sum: u64 = shard_reports.iter().map(|r| r["latency"][h]["count"].as_u64().unwrap()).sum();
        assert_eq!(m["latency"][h]["count"].as_u64().unwrap(), sum, "latency.{h}.count");
    }
    // A shard's own report accounts only the streams inside it and never
    // claims loss that is not there: only shard 0 (the drop fault's
    // subscriber) lost anything, at most the 5 (those from its own publishers).
    let lost: Vec<u64> = shard_reports.iter().map(|r| r["messages"]["lost"].as_u64().unwrap()).collect();
    assert!(lost[0] <= 5 && lost[1..] == [0, 0, 0], "per-shard loss {lost:?}");
    assert_eq!(shard_reports[1]["shards"]["shard"], 1);
}

#[test]
fn a_missing_or_foreign_shard_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let o =
        midge(&["merge", tmp.path().join("nope").to_str().unwrap(), "--out", tmp.path().join("m").to_str().unwrap()])
            .output()
            .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("record.json"), "names the file it looked for");
}

#[test]
fn a_sharded_run_needs_a_shared_run_id_and_a_shared_broker() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let s = scenario.to_str().unwrap();
    let o = midge(&["run", s, "--shard", "1/2", "--broker", "mqtt://127.0.0.1:1"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--run-id"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = midge(&["run", s, "--shard", "1/2", "--run-id", "x"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shared broker"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_that_cannot_reach_the_broker_is_named_by_the_merge() {
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("s.toml");
    std::fs::write(&scenario, SCENARIO.replace("duration = \"2s\"", "duration = \"500ms\"")).unwrap();
    let s = scenario.to_str().unwrap();
    let dirs: Vec<_> = (0..2).map(|i| tmp.path().join(format!("shard{i}"))).collect();
    // A port nothing listens on: a closed port on loopback refuses at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let urls = [support::url(&broker), format!("mqtt://{closed}")];
    for i in 0..2 {
        let shard = format!("{i}/2");
        let o = midge(&[
            "run",
            s,
            "--broker",
            &urls[i],
            "--out",
            dirs[i].to_str().unwrap(),
            "-q",
            "--shard",
            &shard,
            "--run-id",
            "r",
        ])
        .output()
        .unwrap();
        assert_eq!(o.status.code(), Some(if i == 0 { 0 } else { 2 }), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(dirs[1].join("shard-error.json").exists(), "the failed shard leaves its error");
    let o = midge(&[
        "merge",
        dirs[0].to_str().unwrap(),
        dirs[1].to_str().unwrap(),
        "--out",
        tmp.path().join("m").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("shard 1/2 did not run") && err.contains("cannot reach the broker"), "{err}");
    // Without the failed shard's folder, the slice is named as missing.
    let o =
        midge(&["merge", dirs[0].to_str().unwrap(), "--out", tmp.path().join("m").to_str().unwrap()]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shard 1/2 is missing"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// emqtt-bench's habit: `midge sub` in the background, `midge pub -c 10 -I
/// 10 -t 'x/%i' -q 1` for 2 s, the same --run-id. The sub alone lists the
/// ten publishers it heard without a gap; `midge merge PUBDIR SUBDIR` counts
/// the pair exactly as one run: published = expected = received, lost 0.
/// Two runs of different run ids are refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bench_pub_and_sub_merge_into_exact_counts() {
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let port = broker.addr.port().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let (pub_dir, sub_dir, both) = (tmp.path().join("pub"), tmp.path().join("sub"), tmp.path().join("both"));
    let common = ["-h", "127.0.0.1", "-p", &port, "--run-id", "pair", "--quiet"];
    let mut sub_args = vec!["sub", "-c", "1", "-t", "x/#", "-q", "1", "--duration", "6s", "--out"];
    sub_args.push(sub_dir.to_str().unwrap());
    sub_args.extend(common);
    let sub = midge(&sub_args).spawn().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut pub_args = vec!["pub", "-c", "10", "-I", "10", "-t", "x/%i", "-q", "1", "--duration", "2s", "--out"];
    pub_args.push(pub_dir.to_str().unwrap());
    pub_args.extend(common);
    let o = midge(&pub_args).output().unwrap();
    assert!(o.status.success(), "pub: {}", String::from_utf8_lossy(&o.stderr));
    let o = sub.wait_with_output().unwrap();
    assert!(o.status.success(), "sub: {}", String::from_utf8_lossy(&o.stderr));

    let (p, s) = (report(&pub_dir), report(&sub_dir));
    let published = p["messages"]["published"].as_u64().unwrap();
    assert!(published >= 1500, "10 clients at 100/s for 2 s: {published}");
    let heard = s["unplanned_publishers"].as_array().unwrap();
    assert_eq!(heard.len(), 10, "{heard:?}");
    assert_eq!(heard.iter().map(|u| u["received"].as_u64().unwrap()).sum::<u64>(), published);
    for u in heard {
        assert_eq!(
            (u["gaps"].as_u64(), u["duplicated"].as_u64(), u["first_seq"].as_u64()),
            (Some(0), Some(0), Some(0)),
            "{u}"
        );
        let (quickest, slowest) = (u["min_one_way_us"].as_i64().unwrap(), u["max_one_way_us"].as_i64().unwrap());
        assert!(0 < quickest && quickest <= slowest, "{u}");
    }

    let o =
        midge(&["merge", pub_dir.to_str().unwrap(), sub_dir.to_str().unwrap(), "--out", both.to_str().unwrap(), "-q"])
            .output()
            .unwrap();
    assert!(o.status.success(), "merge: {}", String::from_utf8_lossy(&o.stderr));
    let m = report(&both);
    let n = |k: &str| m["messages"][k].as_u64().unwrap();
    assert_eq!(
        (n("published"), n("expected"), n("received"), n("lost")),
        (published, published, published, 0),
        "{}",
        m["messages"]
    );
    assert_eq!(m["streams"].as_array().unwrap().len(), 10);
    assert_eq!(m["unplanned_publishers"].as_array().unwrap().len(), 0, "the merge plans them all");
    assert_eq!(m["shards"]["parts"].as_array().unwrap().len(), 2);
    assert_eq!(m["verdict"], "pass");
    // The merged folder analyses again to the same report.
    let json = std::fs::read_to_string(both.join("report.json")).unwrap();
    let o = midge(&["report", both.to_str().unwrap(), "-q"]).output().unwrap();
    assert!(o.status.success(), "report: {}", String::from_utf8_lossy(&o.stderr));
    let again = std::fs::read_to_string(both.join("report.json")).unwrap();
    let differ: Vec<_> = json.lines().zip(again.lines()).filter(|(a, b)| a != b).take(5).collect();
    assert!(differ.is_empty() && json.len() == again.len(), "{differ:?}");

    // Another run id: refused, both folders named.
    let text = std::fs::read_to_string(sub_dir.join("record.json")).unwrap();
    let mut rec: Value = serde_json::from_str(&text).unwrap();
    rec["plan"]["run_id"] = Value::from(7u64);
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("record.json"), rec.to_string()).unwrap();
    let o = midge(&["merge", pub_dir.to_str().unwrap(), other.to_str().unwrap(), "--out", both.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("same --run-id"), "{}", String::from_utf8_lossy(&o.stderr));
}
