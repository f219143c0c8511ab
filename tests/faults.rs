//! A faulty proxy between midge and mosquitto drops, duplicates and swaps
//! chosen PUBLISH packets towards the subscriber; midge must report exactly
//! that loss, duplicate and reorder, on the right stream and sequence.

mod support;
use midge::faults::proxy::{Action, FaultProxy, Rule};
use support::*;

fn one_stream(protocol: &str, qos: u8) -> String {
    format!(
        r#"
name = "proxy-{protocol}-{qos}"
duration = "2s"
drain = "2s"
protocol = "{protocol}"
[[group]]
name = "sub"
client_id = {{ scheme = "prefix-serial", prefix = "victim-" }}
subscribe = {{ filter = "px/#", qos = {qos} }}
[[group]]
name = "pub"
client_id = {{ scheme = "prefix-serial", prefix = "src-" }}
publish = {{ topic = "px/a", qos = {qos}, rate = 100.0, count = 60 }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_duplicated_and_swapped_publishes_are_reported_exactly() {
    let broker = mosquitto(NO_LIMITS).await;
    for (protocol, qos) in [("3.1.1", 1u8), ("5", 1), ("3.1.1", 0), ("5", 2)] {
        let proxy = FaultProxy::start(
            broker.addr,
            vec![
                Rule::publish_to_client("victim-", 5, Action::Drop),
                Rule::publish_to_client("victim-", 10, Action::Duplicate),
                Rule::publish_to_client("victim-", 20, Action::SwapWithNext),
            ],
        )
        .await
        .unwrap();
        let out = run_text(&one_stream(protocol, qos), &format!("mqtt://{}", proxy.addr)).await;
        let m = &out.report.messages;
        let ctx = format!("{protocol} qos {qos}: {m:?}");
        assert_eq!(proxy.applied(), 3, "{ctx}");
        assert_eq!(m.published, 60, "{ctx}");
        assert_eq!(m.expected, 60, "{ctx}");
        assert_eq!(m.lost, 1, "{ctx}");
        assert_eq!(m.received, 59, "{ctx}");
        // A QoS 2 duplicate with the same packet id before PUBREL is the same
        // message (exactly-once), so the client must not count it twice.
        assert_eq!(m.duplicated, if qos == 2 { 0 } else { 1 }, "{ctx}");
        assert_eq!(m.out_of_order, 1, "{ctx}");
        let s = &out.report.streams[0];
        assert_eq!(s.subscriber, "victim-0");
        assert_eq!(s.publisher, "src-0");
        assert_eq!(s.lost_seqs, vec![(4, 5)], "{ctx}");
        // Contract violations: QoS 1/2 loss and any reorder; QoS 0 loss and QoS 1 duplicates are not.
        let v: Vec<_> = out.report.findings.iter().filter(|f| f.kind.as_str() == "qos_violation").collect();
        assert_eq!(v.len(), 1, "{ctx}: {:?}", out.report.findings);
        assert_eq!(v[0].count, if qos == 0 { 1 } else { 2 }, "{ctx}: {:?}", v[0]);
        assert_eq!(
            v[0].evidence.json()["streams"][0]["lost_seqs"],
            serde_json::json!(if qos == 0 { vec![] } else { vec![(4, 5)] })
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_message_fails_the_lost_expectation_with_exit_1() {
    let broker = mosquitto(NO_LIMITS).await;
    let proxy =
        FaultProxy::start(broker.addr, vec![Rule::publish_to_client("victim-", 3, Action::Drop)]).await.unwrap();
    let text = one_stream("3.1.1", 1) + "[expect]\nlost = 0\n";
    let out = run_text(&text, &format!("mqtt://{}", proxy.addr)).await;
    assert_eq!(out.report.messages.lost, 1);
    assert_eq!(out.report.verdict.as_str(), "fail");
    assert_eq!(out.exit_code, 1);
    let lost = out.report.expectations.iter().find(|e| e.name == "lost").unwrap();
    assert!(!lost.pass);
    assert_eq!(lost.observed, Some(1));
}
