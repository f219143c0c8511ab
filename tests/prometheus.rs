//! `--prometheus`: the live metrics a scrape sees while a run goes on, in
//! the OpenMetrics text format, against what the report says at the end;
//! every metric the Grafana dashboard (deploy/grafana/midge.json) queries is
//! served; and what the flag takes.

mod support;
use support::*;

use midge::plan::{Overrides, Plan};
use midge::runner::{self, RunOptions};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SCENARIO: &str = r#"
name = "prom-live"
duration = "5s"
drain = "2s"
[[group]]
name = "sub"
clients = 2
client_id = { scheme = "prefix-serial", prefix = "promsub-" }
subscribe = { filter = "prom/#", qos = 1 }
[[group]]
name = "pub"
clients = 4
client_id = { scheme = "prefix-serial", prefix = "prompub-" }
connect_rate = 100
publish = { topic = "prom/{client}", qos = 1, rate = 20.0, payload = 64, count = 60 }
"#;

/// A plain HTTP/1.1 GET: the status line and the body (checked against Content-Length).
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| bad("no end of head"))?;
    let status = head.lines().next().unwrap_or_default().to_string();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("no Content-Length"))?;
    if length != body.len() {
        return Err(bad("Content-Length differs from the body"));
    }
    let content_type = "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8";
    if status.contains("200") && !head.to_ascii_lowercase().contains(content_type) {
        return Err(bad("not the OpenMetrics text format"));
    }
    Ok((status, body.to_string()))
}

/// One scrape, parsed: every sample by `name{labels}` (labels sorted), and
/// every family's type.
#[derive(Debug)]
struct Scrape {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
    text: String,
}

impl Scrape {
    fn get(&self, key: &str) -> f64 {
        *self.samples.get(key).unwrap_or_else(|| panic!("no sample {key} in\n{}", self.text))
    }

    /// The sum of a family's samples over all its labels.
    fn sum(&self, name: &str) -> f64 {
        self.samples.iter().filter(|(k, _)| k.split('{').next() == Some(name)).map(|(_, v)| v).sum()
    }

    fn family_of(&self, sample: &str) -> String {
        family_of(&self.types, sample)
    }
}

/// The family a sample belongs to: OpenMetrics writes a counter's samples
/// as NAME_total, an info's as NAME_info, a histogram's as NAME_bucket,
/// _sum and _count.
fn family_of(types: &BTreeMap<String, String>, sample: &str) -> String {
    if types.get(sample).is_some_and(|t| t == "gauge") {
        return sample.to_string();
    }
    for (suffix, kind) in [
        ("_total", "counter"),
        ("_info", "info"),
        ("_bucket", "histogram"),
        ("_sum", "histogram"),
        ("_count", "histogram"),
    ] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if types.get(base).is_some_and(|t| t == kind) {
                return base.to_string();
            }
        }
    }
    panic!("sample {sample} has no # TYPE line before it");
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `k="v",k="v"` with the text format's escapes; panics on anything else.
fn parse_labels(s: &str, line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad labels in {line:?}"));
        assert!(is_name(key), "bad label name {key:?} in {line:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?} in {line:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        out.push((key.to_string(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    out
}

/// Parses the exposition text; panics where it breaks the format: every
/// sample line is `name{labels} value` or `name value`, and its family's
/// # HELP and # TYPE come before it.
fn parse_scrape(text: &str) -> Scrape {
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut sampled = BTreeSet::new();
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end:\n{text}");
    for line in text.lines().filter(|l| *l != "# EOF") {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
            assert!(is_name(name) && !help.is_empty(), "{line:?}");
            assert!(helps.insert(name.to_string()), "HELP twice: {line:?}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
            assert!(is_name(name), "{line:?}");
            assert!(["counter", "gauge", "histogram", "summary", "info", "unknown"].contains(&kind), "{line:?}");
            assert!(!sampled.contains(name), "TYPE after samples: {line:?}");
            assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "TYPE twice: {line:?}");
            continue;
        }
        assert!(!line.is_empty() && !line.starts_with('#'), "unexpected line {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, mut labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("bad labels: {line:?}"));
                (name, parse_labels(inner, line))
            }
            None => (series, Vec::new()),
        };
        assert!(is_name(name), "bad name in {line:?}");
        let family = family_of(&types, name);
        assert!(helps.contains(&family), "no # HELP before {line:?}");
        sampled.insert(family);
        labels.sort();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let key = format!("{name}{{{}}}", labels.join(","));
        assert!(samples.insert(key, value).is_none(), "sample twice: {line:?}");
    }
    Scrape { samples, types, text: text.to_string() }
}

/// Within one scrape: buckets cumulative, +Inf = _count, one phase current.
fn check_consistent(s: &Scrape) {
    for (family, kind) in &s.types {
        if kind != "histogram" {
            continue;
        }
        let mut buckets: Vec<(f64, f64)> = s
            .samples
            .iter()
            .filter_map(|(k, v)| {
                let le = k.strip_prefix(&format!("{family}_bucket{{le="))?.strip_suffix('}')?;
                Some((if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() }, *v))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(buckets.len() >= 10, "{family}: {buckets:?}");
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{family} not cumulative: {buckets:?}");
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, s.get(&format!("{family}_count{{}}"))), "{family}");
        assert!(s.get(&format!("{family}_sum{{}}")) >= 0.0);
    }
    let phases: Vec<(&String, &f64)> = s.samples.iter().filter(|(k, _)| k.starts_with("midge_run_phase{")).collect();
    assert_eq!(phases.len(), 4, "{phases:?}");
    assert_eq!(phases.iter().filter(|(_, v)| **v == 1.0).count(), 1, "{phases:?}");
    // Every delivery and every connect is recorded with its latency, under one lock.
    assert_eq!(s.sum("midge_messages_delivered_total"), s.get("midge_e2e_latency_seconds_count{}"), "{}", s.text);
    assert_eq!(s.get("midge_connects_total{}"), s.get("midge_connect_latency_seconds_count{}"), "{}", s.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_during_the_run_shows_live_figures_that_agree_with_the_report() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let plan =
        Plan::build(&parse(SCENARIO), &Overrides { broker: Some("embedded".into()), ..Default::default() }).unwrap();
    let client_ids: Vec<String> = plan.clients.iter().map(|c| c.client_id.clone()).collect();
    assert_eq!(client_ids.len(), 6);

    // Scrapes every 150 ms from a plain thread until the run is over.
    let done = Arc::new(AtomicBool::new(false));
    let scraper = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut bodies = Vec::new();
            let mut not_found = None;
            while !done.load(Ordering::Relaxed) {
                if not_found.is_none() {
                    not_found = get(addr, "/nope").ok();
                }
                if let Ok((status, body)) = get(addr, "/metrics") {
                    assert_eq!(status, "HTTP/1.1 200 OK");
                    bodies.push(body);
                }
                std::thread::sleep(Duration::from_millis(150));
            }
            (bodies, not_found)
        })
    };
    let opts = RunOptions { prometheus: Some(listener), ..Default::default() };
    let out = runner::run(plan, opts).await.expect("run completes");
    done.store(true, Ordering::Relaxed);
    let (bodies, not_found) = scraper.join().unwrap();

    // Stopped with the run: nothing listens there any more.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "the exporter outlived the run");
    let (status, _) = not_found.expect("a GET of another path was answered");
    assert_eq!(status, "HTTP/1.1 404 Not Found");

    let r = &out.report;
    assert_eq!(out.exit_code, 0, "{:?}", r.messages);
    assert_eq!(r.messages.published, 240);
    assert!(bodies.len() >= 10, "only {} scrapes", bodies.len());
    let scrapes: Vec<Scrape> = bodies.iter().map(|b| parse_scrape(b)).collect();
    for (s, body) in scrapes.iter().zip(&bodies) {
        check_consistent(s);
        for id in &client_ids {
            assert!(!body.contains(id.as_str()), "client id {id} in\n{body}");
        }
        for name in [
            "midge_info",
            "midge_run_phase",
            "midge_clients_connected",
            "midge_clients_planned",
            "midge_connect_attempts_total",
            "midge_connects_total",
            "midge_connect_failures_total",
            "midge_messages_published_total",
            "midge_messages_delivered_total",
            "midge_messages_in_flight",
            "midge_reconnects_total",
            "midge_socket_bytes_in_total",
            "midge_socket_bytes_out_total",
            "midge_e2e_latency_seconds_bucket",
            "midge_connect_latency_seconds_bucket",
            "midge_ack_latency_seconds_bucket",
            "midge_messages_lost_so_far",
            "midge_findings_so_far",
            "midge_process_cpu_seconds_total",
            "midge_process_resident_memory_bytes",
            "midge_broker_cpu_seconds_total",
            "midge_broker_resident_memory_bytes",
        ] {
            let kind = &s.types[&s.family_of(name)];
            let want = match name {
                "midge_info" => "info",
                f if f.ends_with("_total") => "counter",
                f if f.ends_with("_bucket") => "histogram",
                _ => "gauge",
            };
            assert_eq!(kind, want, "{name}");
        }
        assert!(s.get("midge_process_resident_memory_bytes{}") > 1e6, "{}", s.text);
        let info =
            format!("midge_info{{run_id={},scenario=prom-live,version={}}}", r.run_id, env!("CARGO_PKG_VERSION"));
        assert_eq!(s.get(&info), 1.0);
        assert_eq!(s.get("midge_clients_planned{}"), r.clients.planned as f64);
        assert!(s.get("midge_clients_connected{}") <= 6.0);
    }

    // Counters and histograms never go down from one scrape to the next.
    for w in scrapes.windows(2) {
        for (key, before) in &w[0].samples {
            let family = w[0].family_of(key.split('{').next().unwrap());
            if matches!(w[0].types[&family].as_str(), "counter" | "histogram") {
                let after = w[1].samples.get(key).unwrap_or_else(|| panic!("{key} gone"));
                assert!(after >= before, "{key} went down: {before} → {after}");
            }
        }
    }

    // It was watched while publishing, and the figures grew.
    let publishing: Vec<&Scrape> =
        scrapes.iter().filter(|s| s.get("midge_run_phase{phase=publishing}") == 1.0).collect();
    assert!(publishing.len() >= 3, "{} scrapes while publishing", publishing.len());
    assert!(publishing.iter().any(|s| s.get("midge_clients_connected{}") == 6.0));
    let first = &scrapes[0];
    let last = scrapes.last().unwrap();
    assert!(last.sum("midge_messages_published_total") > first.sum("midge_messages_published_total"));

    // The last scrape against the report: never more than the run's final figures.
    let published = last.sum("midge_messages_published_total");
    assert!(published > 0.0 && published <= r.messages.published as f64, "{published} vs {}", r.messages.published);
    assert_eq!(last.get("midge_messages_published_total{qos=0}"), 0.0);
    let delivered = last.sum("midge_messages_delivered_total");
    assert!(delivered > 0.0 && delivered <= r.messages.deliveries as f64, "{delivered} vs {}", r.messages.deliveries);
    let e2e = last.get("midge_e2e_latency_seconds_count{}");
    assert!(e2e <= r.latency.e2e.count as f64, "{e2e} vs {}", r.latency.e2e.count);
    assert!(last.get("midge_ack_latency_seconds_count{}") <= r.latency.ack.count as f64);
    assert!(last.get("midge_connects_total{}") <= r.clients.connects as f64);
    assert!(last.get("midge_connect_attempts_total{}") <= r.clients.connect_attempts as f64);
    assert_eq!(last.sum("midge_connect_failures_total"), 0.0);
    // The e2e sum in seconds lies between count × min and count × max.
    let e2e_sum = last.get("midge_e2e_latency_seconds_sum{}");
    assert!(e2e_sum > 0.0 && e2e_sum <= e2e * (r.latency.e2e.max_us as f64 / 1e6) * 1.01, "{e2e_sum}");
}

/// A run over two mosquittos (`--broker A,B`): while every client is
/// connected, each broker's series shows exactly half of them, and the
/// per-broker series add up to `midge_clients_connected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broker_has_its_own_series_and_they_add_up() {
    let (a, b) = (mosquitto(&[]).await, mosquitto(&[]).await);
    let (url_a, url_b) = (url(&a), url(&b));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scenario = r#"
name = "prom-brokers"
duration = "2s"
drain = "1s"
[[group]]
name = "sub"
clients = 6
connect_rate = 200
subscribe = { filter = "pb/#", qos = 0 }
"#;
    let overrides = Overrides { broker: Some(format!("{url_a},{url_b}")), ..Default::default() };
    let plan = Plan::build(&parse(scenario), &overrides).unwrap();
    let scraper = std::thread::spawn(move || {
        // Until a scrape while publishing sees all six connected.
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let Ok((_, body)) = get(addr, "/metrics") else { continue };
            let s = parse_scrape(&body);
            let publishing = s.samples.get("midge_run_phase{phase=publishing}") == Some(&1.0);
            if publishing && s.samples.get("midge_clients_connected{}") == Some(&6.0) {
                return Some(s);
            }
        }
        None
    });
    let out = runner::run(plan, RunOptions { prometheus: Some(listener), ..Default::default() }).await.unwrap();
    assert_eq!(out.report.clients.connects, 6, "{:?}", out.report.brokers);
    let s = scraper.join().unwrap().expect("a scrape while publishing with every client connected");
    for (name, kind) in [
        ("midge_broker_connected", "gauge"),
        ("midge_broker_connects", "counter"),
        ("midge_broker_connect_failures", "counter"),
        ("midge_broker_disconnects", "counter"),
    ] {
        assert_eq!(s.types[name], kind, "{name}");
    }
    for u in [&url_a, &url_b] {
        assert_eq!(s.get(&format!("midge_broker_connected{{broker={u}}}")), 3.0, "{u}:\n{}", s.text);
        assert_eq!(s.get(&format!("midge_broker_connects_total{{broker={u}}}")), 3.0, "{u}:\n{}", s.text);
        assert_eq!(s.get(&format!("midge_broker_connect_failures_total{{broker={u}}}")), 0.0, "{u}");
        assert_eq!(s.get(&format!("midge_broker_disconnects_total{{broker={u}}}")), 0.0, "{u}");
    }
    assert_eq!(s.samples.keys().filter(|k| k.starts_with("midge_broker_connected{")).count(), 2, "{}", s.text);
    assert_eq!(s.sum("midge_broker_connected"), s.get("midge_clients_connected{}"));
    assert_eq!(s.sum("midge_broker_connects_total"), s.get("midge_connects_total{}"));
}

#[test]
fn an_address_that_is_none_or_not_here_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    // No port; and an address no interface of this machine has (the bind fails, nothing is sent).
    for (addr, says) in [("localhost", "not an address to listen on"), ("192.0.2.1:9464", "cannot listen there")] {
        let out = midge(&[
            "run",
            "scenarios/quickstart.toml",
            "--prometheus",
            addr,
            "--out",
            out_dir.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(out.status.code(), Some(2), "{addr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{addr}: {err}");
        assert!(!out_dir.exists(), "no run, no report");
    }
}

/// Every `midge_…` name in the dashboard's queries.
fn dashboard_metric_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string("deploy/grafana/midge.json").expect("deploy/grafana/midge.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    for var in dashboard["templating"]["list"].as_array().expect("templating") {
        if let Some(q) = var["query"]["query"].as_str() {
            exprs.push(q.to_string());
        }
    }
    let mut names = BTreeSet::new();
    for expr in &exprs {
        let words = expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'));
        names.extend(words.filter(|w| w.starts_with("midge_")).map(str::to_string));
    }
    names
}

/// The dashboard's queries against a live scrape of a spawned mosquitto's
/// run (so the broker's PID is known), taken after a periodic report (so
/// lost so far is decided): every name it queries is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_grafana_dashboard_queries_is_served() {
    let names = dashboard_metric_names();
    assert!(names.len() >= 20, "{names:?}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scenario = SCENARIO
        .replace("duration = \"5s\"", "duration = \"4s\"\nreport_every = \"1s\"")
        .replace("count = 60", "count = 1000");
    let plan =
        Plan::build(&parse(&scenario), &Overrides { broker: Some("spawn:mosquitto".into()), ..Default::default() })
            .unwrap();
    let scraper = std::thread::spawn(move || {
        // Until a scrape while publishing carries a decided snapshot.
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(200));
            let Ok((_, body)) = get(addr, "/metrics") else { continue };
            let s = parse_scrape(&body);
            let publishing = s.samples.get("midge_run_phase{phase=publishing}") == Some(&1.0);
            if publishing && s.samples.get("midge_snapshot_as_of_seconds{}").is_some_and(|v| *v > 0.0) {
                return Some(s);
            }
        }
        None
    });
    let dir = tempfile::tempdir().unwrap();
    let opts =
        RunOptions { prometheus: Some(listener), report_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let out = runner::run(plan, opts).await.expect("run completes");
    let s = scraper.join().unwrap().expect("a scrape while publishing, after a periodic report");
    assert_eq!(out.report.messages.lost, 0);
    let served: BTreeSet<&str> = s.samples.keys().map(|k| k.split('{').next().unwrap()).collect();
    for name in &names {
        // A labelled family may be empty (no finding, no failure yet): declared is served.
        let counter = name.strip_suffix("_total").is_some_and(|b| s.types.get(b).is_some_and(|t| t == "counter"));
        let declared = counter || s.types.get(name).is_some_and(|t| t == "gauge");
        assert!(served.contains(name.as_str()) || declared, "the dashboard queries {name}, not served:\n{}", s.text);
    }
    for must in ["midge_broker_cpu_seconds_total", "midge_broker_resident_memory_bytes", "midge_messages_lost_so_far"] {
        assert!(served.contains(must), "{must}:\n{}", s.text);
    }
    assert!(s.sum("midge_broker_resident_memory_bytes") > 0.0);
    assert_eq!(s.get("midge_messages_lost_so_far{}"), 0.0);
}

#[test]
fn port_0_prints_the_bound_address() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, SCENARIO.replace("count = 60", "count = 5")).unwrap();
    let out_dir = dir.path().join("out");
    let out = midge(&[
        "run",
        scenario.to_str().unwrap(),
        "--broker",
        "embedded",
        "--prometheus",
        "127.0.0.1:0",
        "--out",
        out_dir.to_str().unwrap(),
        "-q",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let url =
        err.lines().find_map(|l| l.strip_prefix("midge: Prometheus metrics at ")).unwrap_or_else(|| panic!("{err}"));
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix("/metrics"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{url}"));
    assert_ne!(port, 0);
}
