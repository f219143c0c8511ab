//! Diagnoses that must hold against real mosquitto (Debian's 2.0.11): a
//! finding states what the evidence shows. Closes the broker explains by an
//! ACL denial are no duplicate-id loop; a broker restarted behind midge's
//! back is one outage, not a protocol error of every busy publisher.

mod support;
use midge::analysis::model::{Finding, Report};
use midge::record::names::by_name;
use std::time::Duration;
use support::*;

fn findings<'a>(r: &'a Report, kind: &str) -> Vec<&'a Finding> {
    r.findings.iter().filter(|f| f.kind.as_str() == kind).collect()
}

/// The ids of the planned clients whose id starts with `prefix`.
fn ids(out: &midge::runner::RunOutput, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = out.record.plan.client_ids.iter().filter(|i| i.starts_with(prefix)).cloned().collect();
    v.sort();
    v
}

/// Runs a scenario on the broker it names itself (spawn:mosquitto).
async fn run_own_broker(text: &str) -> midge::runner::RunOutput {
    let plan = midge::plan::Plan::build(&parse(text), &Default::default()).unwrap();
    midge::runner::run(plan, Default::default()).await.unwrap_or_else(|e| panic!("run failed: {e}"))
}

/// 5 QoS 1 publishers (3.1.1, random ids) on a topic the ACL denies, one
/// subscriber; mosquitto spawned by midge, so its log is in the record.
fn acl_scenario(acl: &std::path::Path, debug_log: bool) -> String {
    let debug = if debug_log { ", \"log_type debug\"" } else { "" };
    format!(
        r#"
name = "acl-denied"
duration = "3s"
protocol = "3.1.1"
[broker]
url = "spawn:mosquitto"
mosquitto_conf = ["acl_file {}", "allow_anonymous true", "max_queued_messages 0"{debug}]
[[group]]
name = "pub"
clients = 5
client_id = {{ scheme = "prefix-random", prefix = "pub-" }}
reconnect = {{ delay = "500ms", max_delay = "500ms" }}
publish = {{ topic = "denied/{{i}}", qos = 1, rate = 10.0 }}
[[group]]
name = "sub"
client_id = {{ scheme = "prefix-random", prefix = "sub-" }}
subscribe = {{ filter = "denied/#", qos = 1 }}
"#,
        acl.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_closed_after_acl_denials_get_a_denial_finding_not_a_duplicate_id_loop() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("acl");
    // Anonymous clients may use allowed/# only: denied/… is denied.
    std::fs::write(&acl, "topic readwrite allowed/#\n").unwrap();

    // With `log_type debug` mosquitto 2.0.11 logs each denial — "Denied
    // PUBLISH from <id> (d0, q1, r0, m1, 'denied/0', ... (40 bytes))" — acks
    // the PUBLISH (a 3.1.1 PUBACK), logs "Bad socket read/write on client
    // <id>: Unknown error." and closes the publisher; it lets it in again.
    let out = run_own_broker(&acl_scenario(&acl, true)).await;
    let r = &out.report;
    let pubs = ids(&out, "pub-");
    assert_eq!(pubs.len(), 5);
    assert!(findings(r, "duplicate_id_loop").is_empty(), "{:#?}", r.findings);
    assert!(findings(r, "closed_by_broker").is_empty(), "no close left unexplained: {:#?}", r.findings);
    assert!(findings(r, "protocol_error_drop").is_empty(), "{:#?}", r.findings);
    assert!(findings(r, "broker_unavailable").is_empty(), "{:#?}", r.findings);
    let denied = findings(r, "publish_denied");
    assert_eq!(denied.len(), 1, "{:#?}", r.findings);
    let f = denied[0];
    let mut named = f.client_ids.clone();
    named.sort();
    assert_eq!(named, pubs, "the denial names the publishers");
    let evidence = f.evidence.json();
    let log: Vec<&str> = evidence["broker_log"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    for id in &pubs {
        assert!(log.iter().any(|l| l.contains(&format!("Denied PUBLISH from {id} "))), "{id}: {log:#?}");
    }
    // Every publisher connection the broker closed is one the denial finding counts.
    let closed: usize = r
        .client_timelines
        .iter()
        .filter(|t| t.client.starts_with("pub-"))
        .flat_map(|t| &t.connections)
        .filter(|c| c.connected_s.is_some() && c.cause.is_some())
        .count();
    assert!(closed >= 5, "mosquitto closes each publisher: {:#?}", r.client_timelines);
    assert_eq!(f.evidence.json()["closes"], closed, "{}", f.evidence);
    assert!(f.evidence.json()["denied"].as_u64().unwrap() >= 5);
    for cause in ["session_taken_over", "protocol_error", "broker_unavailable"] {
        assert_eq!(by_name(&r.disconnects.by_cause).get(cause), None, "{:?}", r.disconnects);
    }
    assert!(r.client_timelines.iter().all(|t| t.client.starts_with("pub-")), "the subscriber stays up");
    // mosquitto acknowledged what it denied: QoS 1 loss, and its finding names the denial.
    assert!(r.messages.lost > 0, "{:?}", r.messages);
    let qos = findings(r, "qos_violation");
    assert_eq!(qos.len(), 1, "{:#?}", r.findings);
    assert!(qos[0].summary.contains("denied PUBLISH from 5 of these publishers"), "{}", qos[0].summary);

    // Without `log_type debug` mosquitto says only "Bad socket read/write":
    // nothing shows another holder of the ids, so no duplicate-id loop and
    // no takeover; every publisher is reported with that line as evidence.
    let out = run_own_broker(&acl_scenario(&acl, false)).await;
    let r = &out.report;
    assert!(findings(r, "duplicate_id_loop").is_empty(), "{:#?}", r.findings);
    assert!(findings(r, "publish_denied").is_empty(), "{:#?}", r.findings);
    assert!(findings(r, "broker_unavailable").is_empty(), "{:#?}", r.findings);
    assert_eq!(by_name(&r.disconnects.by_cause).get("session_taken_over"), None);
    for id in ids(&out, "pub-") {
        let about: Vec<&Finding> = r.findings.iter().filter(|f| f.client_ids == vec![id.clone()]).collect();
        assert_eq!(about.len(), 1, "{id}: {:#?}", r.findings);
        assert!(["closed_by_broker", "protocol_error_drop"].contains(&about[0].kind.as_str()), "{:?}", about[0]);
        let log = about[0].evidence.json()["broker_log"].to_string();
        assert!(log.contains(&format!("Bad socket read/write on client {id}")), "{id}: {log}");
    }
    // Every PUBLISH acknowledged, none delivered (the ACL denies the
    // subscriber's read as well): the QoS finding names the ACL midge wrote.
    let m = &r.messages;
    assert!(m.expected > 0, "{m:?}");
    assert_eq!((m.received, m.lost, m.expected), (0, m.acked, m.acked), "{m:?}");
    let qos = findings(r, "qos_violation");
    assert_eq!(qos.len(), 1, "{:#?}", r.findings);
    let named = format!("midge wrote an ACL into the broker's configuration (`acl_file {}`)", acl.display());
    assert!(qos[0].summary.contains(&named), "{}", qos[0].summary);
    assert!(qos[0].summary.contains("nothing was ever delivered to sub-"), "{}", qos[0].summary);
    assert_eq!(qos[0].evidence.json()["never_delivered"], true);
    // No [expect]: the QoS contract judges the run, and its QoS 1 loss fails it.
    let failed: Vec<(&str, Option<u64>, bool)> =
        r.expectations.iter().filter(|e| !e.pass).map(|e| (e.name.as_str(), e.observed, e.default)).collect();
    assert_eq!(failed, vec![("qos1_qos2_lost", Some(m.lost), true)], "{:?}", r.expectations);
    assert_eq!((r.verdict.as_str(), out.exit_code), ("fail", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restarted_from_outside_is_one_outage_not_protocol_errors() {
    let mut broker = mosquitto(NO_LIMITS).await;
    let text = r#"
name = "outside-restart"
duration = "5s"
drain = "2s"
protocol = "3.1.1"
[[group]]
name = "pub1"
clients = 6
client_id = { scheme = "prefix-serial", prefix = "busy1-" }
reconnect = { delay = "200ms", max_delay = "200ms" }
publish = { topic = "or/{client}", qos = 1, rate = 200.0 }
[[group]]
name = "pub0"
clients = 4
client_id = { scheme = "prefix-serial", prefix = "busy0-" }
reconnect = { delay = "200ms", max_delay = "200ms" }
publish = { topic = "or/{client}", qos = 0, rate = 200.0 }
[[group]]
name = "sub"
client_id = { scheme = "prefix-serial", prefix = "watch-" }
reconnect = { delay = "200ms", max_delay = "200ms" }
subscribe = { filter = "or/#", qos = 1 }
"#;
    let file = parse(text);
    let broker_url = url(&broker);
    let run = tokio::spawn(async move { run_file(&file, &broker_url).await });
    // Mid-run, mosquitto is killed (not by midge) and started again on the
    // same port a second later.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    broker.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.start_again().expect("mosquitto starts again");
    let out = run.await.unwrap();
    let r = &out.report;

    assert!(findings(r, "protocol_error_drop").is_empty(), "{:#?}", r.findings);
    assert!(findings(r, "duplicate_id_loop").is_empty(), "{:#?}", r.findings);
    assert!(findings(r, "closed_by_broker").is_empty(), "{:#?}", r.findings);
    assert_eq!(by_name(&r.disconnects.by_cause).get("protocol_error"), None, "{:?}", r.disconnects);
    let outages = findings(r, "broker_unavailable");
    assert_eq!(outages.len(), 1, "{:#?}", r.findings);
    let f = outages[0];
    // It covers every client: all 11 were connected and all dropped.
    let mut named = f.client_ids.clone();
    named.sort();
    let mut all = ids(&out, "");
    all.sort();
    assert_eq!(named, all);
    // by_cause counts exactly the connections that dropped then.
    let dropped_then = r
        .client_timelines
        .iter()
        .flat_map(|t| &t.connections)
        .filter(|c| c.cause.is_some() && c.connected_s.is_some())
        .filter(|c| (f.first_s - 0.0015..=f.last_s + 0.0015).contains(&c.ended_s))
        .count() as u64;
    assert_eq!(dropped_then, 11, "{:#?}", r.client_timelines);
    assert_eq!(by_name(&r.disconnects.by_cause).get("broker_unavailable"), Some(&dropped_then), "{:?}", r.disconnects);
    assert_eq!(f.count, dropped_then);
    assert!((2.0..4.5).contains(&f.first_s), "{f:?}");
    // The broker was down for a second: reconnects with a 200 ms delay were refused.
    assert!(f.evidence.json()["failed_attempts"]["refused"].as_u64().unwrap_or(0) >= 1, "{}", f.evidence);
    assert!(f.evidence.json()["all_back_s"].as_f64().is_some_and(|s| s >= 0.9), "{}", f.evidence);
}
