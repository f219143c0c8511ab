//! Exact message accounting against real brokers: N publishers × M messages
//! to K subscribers must come out as exactly N·M·K expected and received.

mod support;
use midge::record::vocab::{BatchMode, Verdict};
use support::*;

fn fan_in(protocol: &str, qos: u8, publishers: u32, count: u64, subscribers: u32) -> String {
    format!(
        r#"
name = "exact-{protocol}-q{qos}"
duration = "3s"
drain = "3s"
protocol = "{protocol}"
[[group]]
name = "sub"
clients = {subscribers}
client_id = {{ scheme = "prefix-serial", prefix = "sub-" }}
subscribe = {{ filter = "exact/#", qos = {qos} }}
[[group]]
name = "pub"
clients = {publishers}
client_id = {{ scheme = "prefix-random", prefix = "pub-" }}
connect_rate = 200
max_inflight = 10
publish = {{ topic = "exact/{{client}}", qos = {qos}, rate = 100.0, payload = 100, count = {count} }}
[expect]
lost = 0
duplicated = 0
out_of_order = 0
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_qos_and_version_is_counted_exactly_on_mosquitto() {
    let broker = mosquitto(NO_LIMITS).await;
    for protocol in ["3.1.1", "5"] {
        for qos in [0u8, 1, 2] {
            let (n, m, k) = (8u64, 40u64, 3u64);
            let out = run_text(&fan_in(protocol, qos, n as u32, m, k as u32), &url(&broker)).await;
            let r = &out.report;
            let msg = &r.messages;
            let ctx = format!("protocol {protocol} qos {qos}: {msg:?}");
            assert_eq!(msg.published, n * m, "{ctx}");
            assert_eq!(msg.expected, n * m * k, "{ctx}");
            assert_eq!(msg.received, n * m * k, "{ctx}");
            assert_eq!(msg.lost, 0, "{ctx}");
            assert_eq!(msg.duplicated, 0, "{ctx}");
            assert_eq!(msg.out_of_order, 0, "{ctx}");
            assert_eq!(msg.in_doubt, 0, "{ctx}");
            assert_eq!(msg.streams, n * k, "{ctx}");
            assert_eq!(msg.acked, if qos == 0 { 0 } else { n * m }, "{ctx}");
            assert_eq!(msg.by_qos[&qos].received, n * m * k, "{ctx}");
            assert_eq!(r.latency.e2e.count, n * m * k, "{ctx}");
            assert_eq!(r.latency.ack.count, if qos == 0 { 0 } else { n * m }, "{ctx}");
            assert_eq!(r.latency.connect.count, n + k, "{ctx}");
            assert_eq!(r.latency.suback.count, k, "{ctx}");
            assert_eq!(r.clients.connected_peak, n + k, "{ctx}");
            assert_eq!(r.disconnects.total, 0, "{ctx}");
            assert_eq!(out.exit_code, 0, "{ctx}");
            assert_eq!(r.verdict, Verdict::Pass);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_counts_exactly() {
    let out = run_text(&fan_in("3.1.1", 1, 10, 30, 2), "embedded").await;
    let m = &out.report.messages;
    assert_eq!((m.published, m.expected, m.received, m.lost), (300, 600, 600, 0), "{m:?}");
    assert!(out.report.broker.kind.contains("embedded"));
    assert_eq!(out.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_filters_give_one_stream_per_match() {
    let broker = mosquitto(NO_LIMITS).await;
    let text = r#"
name = "overlap"
duration = "2s"
[[group]]
name = "all"
subscribe = { filter = "ov/#", qos = 1 }
[[group]]
name = "two"
subscribe = { filter = "ov/2/x", qos = 1 }
[[group]]
name = "plus"
clients = 2
subscribe = { filter = "ov/+/x", qos = 0 }
[[group]]
name = "none"
subscribe = { filter = "other/#", qos = 1 }
[[group]]
name = "p"
clients = 4
client_id = { scheme = "prefix-serial", prefix = "ovp" }
publish = { topic = "ov/{i}/x", qos = 1, rate = 50.0, count = 25 }
"#;
    let out = run_text(text, &url(&broker)).await;
    let m = &out.report.messages;
    // all: 4 streams, two: 1, plus: 2 × 4 = 8, none: 0.
    assert_eq!(m.streams, 13, "{m:?}");
    assert_eq!(m.expected, 13 * 25, "{m:?}");
    assert_eq!(m.received, 13 * 25, "{m:?}");
    assert_eq!(m.by_qos[&0].expected, 8 * 25, "{m:?}");
    assert_eq!(m.by_qos[&1].expected, 5 * 25, "{m:?}");
    assert_eq!(m.lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_messages_from_another_run_are_counted_apart() {
    let broker = mosquitto(NO_LIMITS).await;
    // A retained message left by one run is delivered to the next run's
    // subscriber on subscribe: it must show as stale, not as a duplicate.
    // (`retained_cleanup = false`: by default a run clears what it retained.)
    let retained = r#"
name = "retain-1"
duration = "1s"
retained_cleanup = false
[[group]]
name = "p"
publish = { topic = "stale/t", qos = 1, rate = 10.0, count = 1, retain = true }
"#;
    run_text(retained, &url(&broker)).await;
    let next = r#"
name = "retain-2"
duration = "1s"
[[group]]
name = "s"
subscribe = { filter = "stale/#", qos = 1 }
[[group]]
name = "p"
publish = { topic = "stale/u", qos = 1, rate = 10.0, count = 5 }
"#;
    let out = run_text(next, &url(&broker)).await;
    let m = &out.report.messages;
    assert_eq!(m.stale, 1, "{m:?}");
    assert_eq!((m.expected, m.received, m.duplicated, m.lost), (5, 5, 0, 0), "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_and_poisson_arrivals_are_tracked_exactly_too() {
    let broker = mosquitto(NO_LIMITS).await;
    for (arrival, extra) in [("burst", ", burst = 20"), ("poisson", "")] {
        let text = format!(
            r#"
name = "arrivals-{arrival}"
duration = "2s"
[[group]]
name = "s"
subscribe = {{ filter = "arr/#", qos = 1 }}
[[group]]
name = "p"
clients = 10
publish = {{ topic = "arr/{{i}}", qos = 1, rate = 100.0, arrival = "{arrival}"{extra} }}
"#
        );
        let out = run_text(&text, &url(&broker)).await;
        let m = &out.report.messages;
        if arrival == "burst" {
            assert_eq!(m.published, 2000, "bursts keep the exact rate: {m:?}");
        } else {
            // 2,000 expected; a Poisson count's sd is about 45.
            assert!((1700..=2300).contains(&m.published), "{m:?}");
        }
        assert_eq!((m.lost, m.received), (0, m.expected), "{arrival}: {m:?}");
        assert_eq!(m.expected, m.published);
    }
}

/// `batch_window` trades latency resolution for system calls; it must not
/// change a single count, and the schedule must still hold its rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_window_keeps_counts_exact_and_the_rate_on_target() {
    let broker = mosquitto(NO_LIMITS).await;
    for (window, qos) in [("0ms", 1u8), ("5ms", 1), ("5ms", 0), ("20ms", 2)] {
        let text = fan_in("5", qos, 10, 1000, 2)
            .replace("rate = 100.0", "rate = 500.0")
            .replace("max_inflight = 10", "max_inflight = 100")
            .replace("drain = \"3s\"", &format!("drain = \"3s\"\nbatch_window = \"{window}\""));
        let out = run_text(&text, &url(&broker)).await;
        let r = &out.report;
        let m = &r.messages;
        let ctx = format!("window {window} qos {qos}: {m:?}");
        assert_eq!(
            (m.published, m.expected, m.received, m.lost, m.duplicated),
            (10_000, 20_000, 20_000, 0, 0),
            "{ctx}"
        );
        assert_eq!(r.latency.e2e.count, 20_000, "{ctx}");
        let g = &r.load_generator;
        let window_us = window.trim_end_matches("ms").parse::<u64>().unwrap() * 1000;
        assert_eq!(g.batch_window_us, window_us, "{ctx}");
        let mode = if window_us == 0 { BatchMode::Off } else { BatchMode::Fixed };
        assert_eq!(g.batch_mode, mode, "{ctx}");
        if mode == BatchMode::Off {
            assert_eq!(g.paced_reads, 0, "an explicit 0ms never batches reads: {g:?}");
        }
        assert_eq!(g.publish_rates.len(), 1, "{ctx}");
        let rate = &g.publish_rates[0];
        assert_eq!((rate.group.as_str(), rate.publishers, rate.target_msgs_per_s), ("pub", 10, 5000.0), "{ctx}");
        // Within 1 %, plus what a late first or last send (on a busy CI
        // machine) moves the measured span: at most 2 × max lag over 2 s.
        let lag_pct = 2.0 * g.publish_lag.max_us as f64 / 2e6 * 100.0;
        assert!(rate.deviation_pct.abs() < 1.0 + lag_pct, "constant rate within 1 %: {rate:?}, lag {lag_pct:.2} %");
        assert_eq!(out.exit_code, 0, "{ctx}");
        if window != "0ms" && qos == 0 {
            // 10 publishers × 2 s / 5 ms ≈ 4,000 writes for 10,000 messages;
            // 2 subscribers × 2 s / 5 ms ≈ 800 reads for 20,000 deliveries.
            assert!(g.socket_writes * 2 < m.published, "publishers batch their writes: {g:?}");
            assert!(g.socket_reads * 4 < m.deliveries, "subscribers batch their reads: {g:?}");
        }
    }
}

/// Without a `batch_window` key midge batches only under load: a busy
/// subscriber reads once per millisecond tick and fast publishers send
/// several messages per write, while at a trickle every packet is read and
/// every message written at once. Counts stay exact either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_batching_batches_under_load_and_not_at_a_trickle() {
    let broker = mosquitto(NO_LIMITS).await;
    // (per-publisher rate, count): 10 × 20 msg/s is 0.2 packets per ms at
    // the subscriber; 10 × 4,000 msg/s is 40 (well past a worker's busy
    // threshold: at 2,000 msg/s a worker sat near it and batched only
    // 46 % of its writes in one run of two).
    for (rate, count, loaded) in [(20.0, 20u64, false), (4000.0, 4000, true)] {
        let text = fan_in("5", 0, 10, count, 1)
            .replace("rate = 100.0", &format!("rate = {rate:.1}"))
            .replace("duration = \"3s\"", "duration = \"5s\"");
        let out = run_text(&text, &url(&broker)).await;
        let (g, m) = (&out.report.load_generator, &out.report.messages);
        let ctx = format!("{rate} msg/s: {g:?} {m:?}");
        assert_eq!((m.published, m.expected, m.received, m.lost), (10 * count, 10 * count, 10 * count, 0), "{ctx}");
        assert_eq!((g.batch_mode, g.batch_window_us), (BatchMode::Adaptive, 0), "{ctx}");
        let share = g.publish_writes_batched as f64 / g.publish_writes as f64;
        assert!((share - g.batched_publish_share.unwrap_or(-1.0)).abs() < 0.0005, "{ctx}");
        if loaded {
            // 40 deliveries per ms arrive in about one read per ms.
            assert!(g.paced_reads > 0, "a busy subscriber batches its reads: {ctx}");
            assert!(g.socket_reads * 4 < m.deliveries, "{ctx}");
            assert!(g.publish_writes_batched * 2 > g.publish_writes, "most publish writes carry more than one: {ctx}");
        } else {
            assert_eq!(g.paced_reads, 0, "a trickle is read at once: {ctx}");
            // A message every 50 ms per publisher goes out alone (unless a
            // stall of the machine made one 50 ms late).
            assert!(share < 0.05, "publishers do not batch a trickle: {ctx}");
            assert!(g.publish_writes * 20 > m.published * 19, "{ctx}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridged_brokers_publishers_on_one_subscribers_on_the_other_count_exactly() {
    let (a, b) = bridged_pair().await;
    let (url_a, url_b) = (url(&a), url(&b));
    let (n, m, k) = (6u64, 20u64, 2u64);

    // Publishers on node A, subscribers on node B: every message crosses the bridge.
    let text = format!(
        r#"
name = "cross-node"
duration = "2s"
drain = "3s"
[[group]]
name = "sub"
broker = "{url_b}"
clients = {k}
subscribe = {{ filter = "cl/#", qos = 1 }}
[[group]]
name = "pub"
broker = "{url_a}"
clients = {n}
publish = {{ topic = "cl/{{client}}", qos = 1, rate = 20.0, payload = 64, count = {m} }}
"#
    );
    let out = run_text(&text, &url_a).await;
    let r = &out.report;
    let msg = &r.messages;
    assert_eq!(
        (msg.published, msg.expected, msg.received, msg.lost, msg.duplicated),
        (n * m, n * m * k, n * m * k, 0, 0),
        "{msg:?}"
    );
    assert_eq!(r.brokers.len(), 2, "{:?}", r.brokers);
    // The subscribers' group comes first, so its broker is the first listed.
    let (on_b, on_a) = (&r.brokers[0], &r.brokers[1]);
    assert_eq!((on_b.url.as_str(), on_a.url.as_str()), (url_b.as_str(), url_a.as_str()));
    assert_eq!((on_a.clients, on_a.connected, on_a.failed, on_a.disconnects), (n, n, 0, 0), "{on_a:?}");
    assert_eq!((on_b.clients, on_b.connected, on_b.failed, on_b.disconnects), (k, k, 0, 0), "{on_b:?}");
    assert!(on_a.connect_p50_us.is_some_and(|p| p > 0) && on_a.connect_p99_us >= on_a.connect_p50_us, "{on_a:?}");
    // The cross-node e2e: every delivery went A → B.
    assert_eq!(r.broker_pairs.len(), 1, "{:?}", r.broker_pairs);
    let pair = &r.broker_pairs[0];
    assert_eq!((pair.from.as_str(), pair.to.as_str(), pair.deliveries), (url_a.as_str(), url_b.as_str(), n * m * k));
    assert!(pair.e2e_p50_us > 0 && pair.e2e_p99_us >= pair.e2e_p50_us && pair.e2e_max_us >= pair.e2e_p99_us);
    let md = midge::report::markdown::render(r);
    assert!(md.contains("## Brokers") && md.contains(&format!("{url_a} → {url_b}")), "{md}");
    assert_eq!(out.exit_code, 0, "{:?}", r.expectations);

    // A list: 10 publishers and 2 subscribers round-robin over [A, B]: 5 + 1 on each.
    let text = format!(
        r#"
name = "round-robin"
duration = "2s"
drain = "3s"
[broker]
url = ["{url_a}", "{url_b}"]
[[group]]
name = "pub"
clients = 10
publish = {{ topic = "cl/rr/{{client}}", qos = 1, rate = 20.0, payload = 64, count = {m} }}
[[group]]
name = "sub"
clients = 2
subscribe = {{ filter = "cl/rr/#", qos = 1 }}
"#
    );
    let file = parse(&text);
    let plan = midge::plan::Plan::build(&file, &Default::default()).unwrap();
    let out = midge::runner::run(plan, Default::default()).await.unwrap();
    let r = &out.report;
    let msg = &r.messages;
    assert_eq!((msg.published, msg.expected, msg.received, msg.lost), (10 * m, 20 * m, 20 * m, 0), "{msg:?}");
    let counts: Vec<_> = r.brokers.iter().map(|b| (b.url.clone(), b.clients, b.connected, b.failed)).collect();
    assert_eq!(counts, vec![(url_a.clone(), 6, 6, 0), (url_b.clone(), 6, 6, 0)]);
    // Each pair carried what 5 publishers sent to 1 subscriber.
    let pairs: Vec<_> = r.broker_pairs.iter().map(|p| (p.from.clone(), p.to.clone(), p.deliveries)).collect();
    assert_eq!(
        pairs,
        vec![
            (url_a.clone(), url_a.clone(), 5 * m),
            (url_a.clone(), url_b.clone(), 5 * m),
            (url_b.clone(), url_a.clone(), 5 * m),
            (url_b.clone(), url_b.clone(), 5 * m),
        ]
    );
    assert_eq!(out.exit_code, 0, "{:?}", r.expectations);
}
