//! Detectors on real mosquitto, both protocol versions: duplicate-id loops,
//! protocol-error drops, refused credentials, announced limits — each
//! provoked on purpose, each reported exactly once, and nothing reported
//! for clients that were left alone.

mod support;
use midge::analysis::model::{Finding, Report};
use midge::record::names::by_name;
use support::*;

fn findings<'a>(r: &'a Report, kind: &str) -> Vec<&'a Finding> {
    r.findings.iter().filter(|f| f.kind.as_str() == kind).collect()
}

fn protocol(p: &'static str) -> impl Fn(String) -> String {
    move |t| t.replace("protocol = \"3.1.1\"", &format!("protocol = \"{p}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_sharing_an_id_are_one_duplicate_id_loop() {
    for p in ["3.1.1", "5"] {
        let out = run_shipped("duplicate-id-loop", protocol(p)).await;
        let r = &out.report;
        assert_eq!(r.scenario.protocol, p);
        let loops = findings(r, "duplicate_id_loop");
        assert_eq!(loops.len(), 1, "{p}: {:?}", r.findings);
        assert_eq!(r.findings.len(), 1, "{p}: nothing else to report: {:?}", r.findings);
        let f = loops[0];
        assert_eq!(f.client_ids, vec!["shared-device".to_string()]);
        // Consistent with the timelines: every connection of the pair that
        // was closed was closed by a takeover, and each is one cycle.
        let closed: u64 = r
            .client_timelines
            .iter()
            .filter(|t| t.client == "shared-device")
            .flat_map(|t| t.connections.iter())
            .filter(|c| c.connected_s.is_some() && c.cause.is_some())
            .count() as u64;
        assert_eq!(f.count, closed, "{p}");
        assert!(f.count >= 6, "{p}: 6 s with 0.5 s reconnects: {}", f.count);
        assert_eq!(
            by_name(&r.disconnects.by_cause).get("session_taken_over"),
            Some(&closed),
            "{p}: {:?}",
            r.disconnects
        );
        let period = f.evidence.json()["period_s"].as_f64().unwrap();
        assert!((0.4..=1.0).contains(&period), "{p}: period {period}");
        assert_eq!(f.evidence.json()["connections"].as_array().unwrap().len(), 2);
        let evidence = f.evidence.json();
        let log = evidence["broker_log"].as_array().unwrap();
        assert!(log.iter().any(|l| l.as_str().unwrap().contains("already connected")), "{p}: {log:?}");
        assert_eq!(r.messages.lost, 0, "{p}: the unique clients are untouched");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_ids_fault_twins_a_client_for_a_while() {
    let broker = mosquitto(NO_LIMITS).await;
    let text = r#"
name = "twin"
duration = "5s"
[[group]]
name = "devices"
clients = 3
client_id = { scheme = "prefix-serial", prefix = "device-" }
reconnect = { delay = "300ms", max_delay = "300ms" }
publish = { topic = "d/{i}", qos = 0, rate = 5.0 }
[[fault]]
at = "500ms"
action = "duplicate-ids"
group = "devices"
clients = 1
for = "3s"
"#;
    let out = run_text(text, &url(&broker)).await;
    let r = &out.report;
    let loops = findings(r, "duplicate_id_loop");
    assert_eq!(loops.len(), 1, "{:?}", r.findings);
    assert_eq!(loops[0].client_ids, vec!["device-0".to_string()]);
    assert!(loops[0].count >= 3);
    let who = loops[0].evidence.json()["connections"].to_string();
    assert!(who.contains("duplicate-ids twin") && who.contains("group devices"), "{who}");
    assert_eq!(r.faults[0].action.as_str(), "duplicate-ids");
    // The twin is gone after 3 s: device-0 ends connected, like the others.
    assert!(r.client_timelines.iter().all(|t| t.client == "device-0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_provoked_client_gets_one_protocol_error_drop_with_its_bad_packet() {
    for p in ["3.1.1", "5"] {
        let out = run_shipped("protocol-error", protocol(p)).await;
        let r = &out.report;
        let drops = findings(r, "protocol_error_drop");
        let mut who: Vec<&str> = drops.iter().map(|f| f.client_ids[0].as_str()).collect();
        who.sort();
        assert_eq!(who, vec!["again-0", "bad-length-0", "bad-topic-0", "too-big-0"], "{p}: {:?}", r.findings);
        assert_eq!(r.findings.len(), 4, "{p}: bystanders have none: {:?}", r.findings);
        for f in &drops {
            assert_eq!(f.count, 1, "{p}: {f:?}");
            let evidence = f.evidence.json();
            let flight = evidence["flight_recorder"].as_array().unwrap();
            assert!(!flight.is_empty() && flight.len() <= 16);
            let bad: Vec<_> = flight.iter().filter(|e| e["malformed"] == true && e["direction"] == "sent").collect();
            assert_eq!(bad.len(), 1, "{p}: the offending packet is in the recorder: {flight:?}");
            let expected_type = if f.client_ids[0] == "again-0" { "CONNECT" } else { "PUBLISH" };
            assert_eq!(bad[0]["type"], expected_type, "{p}");
            if f.client_ids[0] == "too-big-0" {
                assert!(bad[0]["size"].as_u64().unwrap() > 20_000);
                if p == "5" {
                    assert_eq!(f.evidence.json()["cause"], "packet_too_large");
                }
            }
            let log = f.evidence.json()["broker_log"].to_string();
            assert!(log.contains("disconnected due to"), "{p}: mosquitto's word: {log}");
        }
        assert_eq!(r.disconnects.total, 4, "{p}: {:?}", r.disconnects);
        assert_eq!(r.messages.lost, 0, "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_one_finding_per_group_without_a_storm() {
    std::env::set_var("MIDGE_USER", "midge");
    std::env::set_var("MIDGE_PASSWORD", "midge-secret");
    std::env::set_var("MIDGE_WRONG_PASSWORD", "guess");
    for p in ["3.1.1", "5"] {
        let out = run_shipped("auth-refused", |t| {
            t.replace("duration = \"2s\"", &format!("duration = \"2s\"\nprotocol = \"{p}\""))
        })
        .await;
        let r = &out.report;
        let refused = findings(r, "auth_refused");
        assert_eq!(refused.len(), 1, "{p}: {:?}", r.findings);
        let f = refused[0];
        assert_eq!(f.count, 5);
        assert_eq!(f.evidence.json()["group"], "intruders");
        assert_eq!(f.evidence.json()["attempts"], 5, "{p}: no reconnect storm");
        assert_eq!(f.evidence.json()["codes"]["not_authorized"], 5, "{p}: {}", f.evidence);
        assert_eq!(r.clients.connect_attempts, 10);
        assert_eq!(r.clients.connected_peak, 5);
        assert_eq!(out.exit_code, 0, "{p}: the scenario expects 5 refusals");
    }
    // Asked to keep retrying, the refused clients storm — and that is reported too.
    let out = run_shipped("auth-refused", |t| {
        t.replace(
            "password_env = \"MIDGE_WRONG_PASSWORD\"",
            "password_env = \"MIDGE_WRONG_PASSWORD\"\nretry_connect = true\nreconnect = { delay = \"200ms\", max_delay = \"200ms\" }",
        )
    })
    .await;
    let f = findings(&out.report, "auth_refused")[0];
    assert!(f.evidence.json()["attempts"].as_u64().unwrap() > 20, "{}", f.evidence);
    assert_eq!(f.evidence.json()["retried"], true);
    assert!(f.summary.contains("kept retrying"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_clients_honour_the_announced_maximum_packet_size() {
    let broker = mosquitto(&["max_packet_size 1000"]).await;
    let text = |p: &str| {
        format!(
            r#"
name = "limits"
duration = "1s"
protocol = "{p}"
[[group]]
name = "big"
clients = 2
client_id = {{ scheme = "prefix-serial", prefix = "big-" }}
publish = {{ topic = "l/{{i}}", qos = 1, rate = 10.0, payload = 2000 }}
reconnect = false
"#
        )
    };
    let out = run_text(&text("5"), &url(&broker)).await;
    let r = &out.report;
    let limits = findings(r, "broker_limit");
    assert_eq!(limits.len(), 1, "{:?}", r.findings);
    assert_eq!(limits[0].count, 2);
    assert_eq!(limits[0].evidence.json()["limit"], "maximum_packet_size");
    assert_eq!(limits[0].evidence.json()["announced"], 1000);
    assert_eq!(r.messages.published, 0, "held back, not sent to be dropped");
    assert_eq!(r.disconnects.total, 0);
    // The broker's policy, not midge's saturation: 2 publishers × 10 msg/s × 1 s held back.
    let g = &r.load_generator;
    assert!(!g.saturated, "{:?}", g.reasons);
    assert!(findings(r, "generator_saturated").is_empty(), "{:?}", r.findings);
    assert_eq!(serde_json::to_value(&g.held_by_limit).unwrap(), serde_json::json!({ "maximum_packet_size": 20 }));
    assert_eq!((g.publish_rates[0].due, g.publish_rates[0].held_by_limit), (20, 20));

    // MQTT 3.1.1 announces nothing: the broker just drops the connection.
    let out = run_text(&text("3.1.1"), &url(&broker)).await;
    let drops = findings(&out.report, "protocol_error_drop");
    assert_eq!(drops.len(), 2, "{:?}", out.report.findings);
    assert!(drops[0].summary.contains("PUBLISH"), "{}", drops[0].summary);
}

/// mosquitto's `max_qos 1`, announced to MQTT 5 clients as Maximum QoS: 10
/// publishers at QoS 2 hold back, and that is the broker's policy — counted
/// under its name, never midge's saturation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maximum_qos_held_back_is_the_brokers_policy_not_midges_saturation() {
    let broker = mosquitto(&["max_qos 1"]).await;
    let text = r#"
name = "max-qos"
duration = "1s"
protocol = "5"
[[group]]
name = "q2"
clients = 10
publish = { topic = "mq/{i}", qos = 2, rate = 10.0 }
reconnect = false
"#;
    let out = run_text(text, &url(&broker)).await;
    let r = &out.report;
    let limits = findings(r, "broker_limit");
    assert_eq!(limits.len(), 1, "{:?}", r.findings);
    assert_eq!(limits[0].count, 10);
    let e = limits[0].evidence.json();
    assert_eq!(
        (e["limit"].as_str(), e["announced"].as_u64(), e["needed"].as_u64()),
        (Some("maximum_qos"), Some(1), Some(2))
    );
    assert!(findings(r, "generator_saturated").is_empty(), "{:?}", r.findings);
    let g = &r.load_generator;
    assert!(!g.saturated, "{:?}", g.reasons);
    // 10 publishers × 10 msg/s × 1 s, every one of them held back.
    assert_eq!(serde_json::to_value(&g.held_by_limit).unwrap(), serde_json::json!({ "maximum_qos": 100 }));
    let rate = &g.publish_rates[0];
    assert_eq!((rate.due, rate.sent, rate.unsent, rate.held_by_limit), (100, 0, 100, 100));
    assert_eq!((r.messages.published, r.disconnects.total), (0, 0));
    let md = midge::report::markdown::render(r);
    assert!(
        md.contains("  - 100 of its 100 due held back by a limit the broker announced (maximum_qos: 100; all groups)"),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_run_has_no_findings() {
    let broker = mosquitto(NO_LIMITS).await;
    let text = r#"
name = "calm"
duration = "2s"
protocol = "5"
[[group]]
name = "s"
clients = 3
subscribe = { filter = "calm/#", qos = 2 }
[[group]]
name = "p"
clients = 20
keepalive = "1s"
publish = { topic = "calm/{i}", qos = 1, rate = 20.0 }
"#;
    let out = run_text(text, &url(&broker)).await;
    assert!(out.report.findings.is_empty(), "{:?}", out.report.findings);
    assert_eq!(out.report.disconnects.total, 0);
}
