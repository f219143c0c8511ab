//! MQTT 5 features against mosquitto 2.0.11 (scenarios/mqtt5-features.toml):
//! message expiry for an offline persistent subscriber, topic aliases and
//! user properties, each with an exact count.

mod support;

use support::run_shipped;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_aliases_and_user_properties_are_counted_exactly() {
    let out = run_shipped("mqtt5-features", |t| t).await;
    let r = &out.report;
    let m = &r.messages;
    let stream = |sub: &str| r.streams.iter().find(|s| s.subscriber == sub);
    assert_eq!(m.published, 60, "20 msg/s for 3 s");
    assert_eq!(m.lost, 0, "{m:?}");
    // Every message reached the persistent subscriber or expired in its queue.
    assert!(m.expired > 0, "some messages waited longer than 2 s: {m:?}");
    let away = m.received - 60;
    assert_eq!(away + m.expired, 60, "{m:?}");
    assert_eq!(m.expected, 120 - m.expired);
    assert!(stream("live-0").is_none_or(|s| s.lost == 0), "the live subscriber got all 60");
    // Topic aliases: the topic (36 bytes) went out once per connection, alias 1
    // (3 bytes of property) on every message.
    let topic = "factory/line-7/sensors/0/temperature".len() as i64;
    assert_eq!(m.topic_alias_bytes_saved, 59 * topic - 3 * 60);
    // User properties: every delivery checked, none changed by the broker.
    assert_eq!(m.user_properties_checked, m.deliveries);
    assert_eq!(m.user_properties_checked, m.received);
    assert_eq!(m.user_property_mismatches, 0);
    assert_eq!(out.exit_code, 0, "lost = 0 holds: expired messages are not lost");
}
