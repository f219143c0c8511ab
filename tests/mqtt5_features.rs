//! MQTT 5 features against mosquitto 2.0.11 (scenarios/mqtt5-features.toml):
//! message expiry for an offline persistent subscriber, topic aliases and
//! user properties, each with an exact count.

mod support;

use support::{client, offline_gap, owed_and_extra, run_shipped};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_aliases_and_user_properties_are_counted_exactly() {
    let out = run_shipped("mqtt5-features", |t| t).await;
    let r = &out.report;
    let m = &r.messages;
    let stream = |sub: &str| r.streams.iter().find(|s| s.subscriber == sub);
    assert_eq!(m.published, 60, "20 msg/s for 3 s");
    assert_eq!(m.lost, 0, "{m:?}");
    // Every message reached the persistent subscriber or expired in its queue.
    let away = m.received - 60;
    assert_eq!(away + m.expired, 60, "{m:?}");
    assert_eq!(m.expected, 120 - m.expired);
    // Expired, from the record: the oldest of what was sent while it was
    // away (from its last trusted moment to the resumed session's CONNACK;
    // what raced the cut may have arrived before it), one run of sequence
    // numbers; every one of them older than its 2 s expiry (less the
    // broker's 0.5 s of slack) when the session came back, and everything
    // else arrived.
    let rec = &out.record;
    let sub = client(rec, "away-0");
    let (from, to) = offline_gap(&sub.timeline[0], &sub.timeline[1]);
    let publisher = client(rec, "line-0").publish_log.as_ref().unwrap();
    let (a, b) = publisher.seqs_sent_between(from, to);
    let received = &sub.rx.as_ref().unwrap().streams[&0].received;
    let missing: Vec<u64> = (0..60).filter(|s| !received.contains(*s)).collect();
    assert_eq!(m.expired, missing.len() as u64, "{m:?}");
    assert!(m.expired > 0, "some messages waited longer than 2 s: {m:?}");
    let first = missing[0];
    assert!(a <= first && first + m.expired <= b, "gap {from}..{to} holds {a}..{b}: {missing:?}");
    assert_eq!(missing, (first..first + m.expired).collect::<Vec<_>>());
    let youngest = publisher.sent.time_of(first + m.expired - 1);
    assert!(to + 1 - youngest + 500_000 >= 2_000_000, "expired at {youngest}, back at {to}");
    // The live subscriber was owed all 60 and got them, nothing more.
    assert!(stream("live-0").is_none_or(|s| s.lost == 0), "the live subscriber got all 60");
    assert_eq!(owed_and_extra(rec, client(rec, "live-0")), (60, 0));
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
