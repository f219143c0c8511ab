//! Paho client settings midge now has: `max_queued` (a publisher's own
//! queue while disconnected, paho's `max_queued_messages_set`) and
//! `retry_interval` (MQTT 3.1.1 resends on the same connection, paho's
//! `message_retry_set`), each against mosquitto with exact counts.

mod support;

use midge::record::vocab::FindingKind;
use support::{mosquitto, run_text, url, NO_LIMITS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_offline_queue_leaves_the_rest_unsent() {
    // The publisher is cut as publishing starts and back 2 s later; its 100
    // messages all fall due (0.5 s to 1.49 s) while it is away. Its queue
    // holds 30: those go out on reconnect, 70 are never sent.
    let broker = mosquitto(NO_LIMITS).await;
    let text = r#"
name = "max-queued"
duration = "3s"
[[group]]
name = "sub"
subscribe = { filter = "q/#", qos = 1 }
[[group]]
name = "pub"
max_queued = 30
reconnect = { delay = "2s" }
publish = { topic = "q/{i}", qos = 1, rate = 100.0, count = 100, payload = 64, start_after = "0.5s" }
[[fault]]
at = "0s"
action = "cut"
group = "pub"
"#;
    let out = run_text(text, &url(&broker)).await;
    let m = &out.report.messages;
    assert_eq!((m.published, m.unsent), (30, 70), "{m:?}");
    assert_eq!((m.expected, m.received, m.lost, m.in_doubt), (30, 30, 0, 0), "{m:?}");
    assert_eq!(out.report.reconnects, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_publishes_are_resent_after_the_retry_interval() {
    // midge's proxy loses three PUBLISH packets on their way to the broker;
    // with retry_interval midge sends them again on the same connection
    // after 500 ms (DUP), and nothing is lost or left in doubt.
    let broker = mosquitto(NO_LIMITS).await;
    let text = r#"
name = "retry"
duration = "2s"
[[group]]
name = "sub"
subscribe = { filter = "r/#", qos = 1 }
[[group]]
name = "pub"
retry_interval = "500ms"
publish = { topic = "r/{i}", qos = 1, rate = 50.0, payload = 64 }
[[fault]]
at = "0.5s"
action = "drop"
group = "pub"
direction = "to-broker"
count = 3
"#;
    let out = run_text(text, &url(&broker)).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!(m.publish_retries, 3, "{m:?}");
    assert_eq!((m.published, m.acked, m.received, m.lost, m.in_doubt, m.duplicated), (100, 100, 100, 0, 0, 0), "{m:?}");
    assert_eq!(r.disconnects.total, 0, "the same connection");
    // The resends arrive below the highest sequence: the publisher's own
    // doing, not the broker breaking QoS 1 order.
    let sub = out.record.clients.iter().find_map(|c| c.rx.as_ref()).expect("the subscriber's log");
    let raw: u64 = sub.streams.values().map(|s| s.out_of_order).sum();
    assert_eq!(raw, 3, "the three resends came in below the highest sequence");
    let resent = out.record.clients.iter().find_map(|c| c.publish_log.as_ref()).map(|l| l.resent.len());
    assert_eq!(resent, Some(3));
    assert_eq!(m.out_of_order, 0, "{m:?}");
    let violations: Vec<_> = r.findings.iter().filter(|f| f.kind == FindingKind::QosViolation).collect();
    assert!(violations.is_empty(), "{violations:#?}");
}
