//! Slow and stalled consumers against mosquitto with its stock limits
//! (max_inflight_messages 20, max_queued_messages 1000): midge holds back a
//! subscriber's reads, the broker's queue for it fills and the broker drops
//! the rest. midge's loss must equal the broker's own count, fall in the
//! subscriber's slow_consumer window, and stay zero for a subscriber that
//! reads freely.

mod support;

use midge::analysis::model::Report;
use midge::record::vocab::LossWindow;
use support::{run_shipped, run_text};

/// How far mosquitto's `$SYS` dropped counter rose over the run.
fn broker_dropped(r: &Report) -> u64 {
    let series = &r.broker.sys_series;
    let last = series.iter().rev().find_map(|p| p.dropped).expect("a $SYS dropped count");
    last - series.first().and_then(|p| p.dropped).unwrap_or(0)
}

fn lost_to(r: &Report, subscriber: &str) -> u64 {
    r.streams.iter().filter(|s| s.subscriber == subscriber).map(|s| s.lost).sum()
}

/// The relations every slow-consumer run must keep: loss equals the
/// broker's drops, every loss sits in the client's slow_consumer window, and
/// the finding carries the broker's log line and count.
fn assert_broker_agrees(r: &Report, client: &str) {
    let m = &r.messages;
    assert!(m.lost > 0, "the broker's queue overflowed: {m:?}");
    assert_eq!(m.lost, broker_dropped(r), "midge's lost = mosquitto's $SYS dropped: {m:?}");
    assert_eq!(m.lost_by_window[&LossWindow::SlowConsumer], m.lost, "every loss in the window: {:?}", m.lost_by_window);
    assert_eq!(m.lost_by_window[&LossWindow::Steady], 0);
    assert_eq!(m.received + m.lost, m.expected, "{m:?}");
    assert_eq!(lost_to(r, client), m.lost);
    let windows: Vec<_> = r.loss_windows.iter().filter(|w| w.kind.as_str() == "slow_consumer").collect();
    assert_eq!(windows.iter().map(|w| w.lost).sum::<u64>(), m.lost);
    assert!(windows.iter().all(|w| w.client.as_deref() == Some(client)));
    let f = r.findings.iter().find(|f| f.kind.as_str() == "slow_consumer").expect("a slow_consumer finding");
    assert_eq!(f.count, m.lost);
    assert_eq!(f.client_ids, vec![client.to_string()]);
    assert_eq!(f.evidence.json()["broker_dropped"], m.lost);
    // The broker's count over the run's own $SYS rounds, in report.json and report.md.
    assert_eq!(r.broker.sys_run.as_ref().and_then(|s| s.dropped), Some(m.lost), "{:?}", r.broker.sys_run);
    assert!(f.summary.contains(&format!("counted {} dropped over the run ($SYS)", m.lost)), "{}", f.summary);
    let evidence = f.evidence.json();
    let lines = evidence["broker_lines"].as_array().unwrap();
    assert!(
        lines.iter().any(|l| l
            .as_str()
            .unwrap()
            .contains(&format!("Outgoing messages are being dropped for client {client}."))),
        "{lines:?}"
    );
    assert_eq!(r.disconnects.total, 0, "nobody dropped: {:?}", r.disconnects);
    assert_eq!(r.reconnects, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_capped_subscriber_loses_exactly_what_mosquitto_drops() {
    let out = run_shipped("slow-consumer", |t| t).await;
    let r = &out.report;
    assert_eq!(r.messages.published, 3000);
    assert_eq!(r.messages.expected, 6000, "two subscribers, every message owed to each");
    assert_broker_agrees(r, "slow-dash-0");
    assert_eq!(lost_to(r, "fast-dash-0"), 0, "the free reader loses nothing");
    assert_eq!(out.exit_code, 1, "the scenario's lost = 0 fails");
    let md = midge::report::markdown::render(r);
    assert!(md.contains("while slow consumers were behind"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_keeps_its_connection_and_loses_what_mosquitto_drops() {
    // keepalive 1 s: mosquitto closes a client silent for 1.5 s, and the
    // stall lasts 2 s. midge keeps pinging while it holds back its reads
    // (the PINGRESPs sit unread) and does not call its own stall a timeout.
    let text = r#"
name = "stall"
duration = "2.5s"
drain = "6s"
[broker]
url = "spawn:mosquitto"
[[group]]
name = "staller"
client_id = { scheme = "prefix-serial", prefix = "staller-" }
keepalive = "1s"
subscribe = { filter = "s/#", qos = 1 }
[[group]]
name = "src"
client_id = { scheme = "prefix-serial", prefix = "src-" }
publish = { topic = "s/{i}", qos = 1, rate = 1500.0, payload = 64 }
[[fault]]
at = "0.2s"
action = "stall"
group = "staller"
for = "2s"
"#;
    let out = run_text(text, "spawn:mosquitto").await;
    let r = &out.report;
    assert_eq!(r.messages.published, 3750);
    assert_broker_agrees(r, "staller-0");
    assert_eq!(r.faults[0].action.as_str(), "stall");
    let f = r.findings.iter().find(|f| f.kind.as_str() == "slow_consumer").unwrap();
    assert!(f.summary.contains("stall"), "{}", f.summary);
    // 3000 messages came during the stall; the broker could hold 1020 (1000
    // queued, 20 in flight), then dropped what came until midge read again.
    // From the record: every lost message was sent while midge held back
    // the reads (`behind`), after at least the 1000 the queue held of those
    // that came in the stall; what came later arrived.
    let rec = &out.record;
    let sub = support::client(rec, "staller-0");
    let behind = sub.timeline[0].behind[0];
    let publisher = support::client(rec, "src-0").publish_log.as_ref().unwrap();
    let received = &sub.rx.as_ref().unwrap().streams[&0].received;
    let lost = publisher.got_out.missing_from(received, 0, publisher.published());
    let (a, b) = publisher.seqs_sent_between(behind.0, behind.1);
    let ctx = format!("behind {behind:?} sent {a}..{b}, lost {:?}, received {:?}", lost.ranges(), received.ranges());
    assert_eq!(r.messages.lost, lost.len(), "{ctx}");
    assert_eq!(lost.count_within(a + 1000, b), lost.len(), "{ctx}");
    assert!(r.messages.lost >= 1500, "{ctx}");
}

/// A `max_rate` backlog longer than the drain: 20 msg/s for 2 s to a
/// subscriber that takes in at most 2/s, on a mosquitto that queues without
/// limit. Its deliveries come 500 ms apart, longer than the 300 ms quiet
/// period: the drain goes on while midge holds its reads back
/// (`Metrics::held_back`), to its 1.5 s limit. The broker then still holds
/// what the subscriber had not taken in: held by the broker, not lost, and
/// no QoS violation or slow-consumer loss is built on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_capped_backlog_longer_than_the_drain_is_held_by_the_broker_not_lost() {
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let text = r#"
name = "paced-backlog"
duration = "2s"
drain = "1500ms"
[[group]]
name = "paced"
client_id = { scheme = "prefix-serial", prefix = "paced-" }
subscribe = { filter = "pb/#", qos = 1, max_rate = 2.0 }
[[group]]
name = "src"
client_id = { scheme = "prefix-serial", prefix = "pb-src-" }
publish = { topic = "pb/{i}", qos = 1, rate = 20.0 }
"#;
    let out = run_text(text, &support::url(&broker)).await;
    let (m, d) = (&out.report.messages, &out.report.drain);
    let ctx = format!("{m:?}\n{d:?}\n{:?}", out.report.findings);
    assert_eq!(d.ended.as_str(), "time_limit", "{ctx}");
    assert!(d.waited_s >= 1.5, "{ctx}");
    assert_eq!((m.published, m.expected, m.lost), (40, 40, 0), "{ctx}");
    assert_eq!(m.received + m.held_by_broker, 40, "{ctx}");
    // 2/s over 3.5 s, from the first: 8 taken in (one more at a slot's edge), the rest held.
    eprintln!("paced backlog, drain = 1500ms: received {}, held {}; {d:?}", m.received, m.held_by_broker);
    assert!((31..=33).contains(&m.held_by_broker), "{ctx}");
    assert!(out.report.findings.is_empty(), "{ctx}");
}

/// Kernel receive timestamps: a message that arrives while midge stalls its
/// subscriber is received when the kernel had it, not when midge read it.
/// One publisher, 2 msg/s from the publishing start (seq k intended at
/// k × 500 ms: the only publisher has no offset), QoS 0; the subscriber is
/// stalled from 0.6 s to 1.3 s, so exactly one message (seq 2, intended at
/// 1.0 s) arrives in the stall, alone in its read. midge takes it in at 1.3
/// s at the earliest, and the kernel stamped it at 1.0 s + its e2e; so its
/// receive delay is at least 300 ms − e2e max (HDR maxima round up, which
/// keeps the inequality), while e2e itself — to the kernel's stamp — stays
/// a loopback figure (without the stamp it would be over 300 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_read_shows_as_midges_receive_delay_not_as_e2e() {
    use midge::record::vocab::ReceiveTime;
    let text = r#"
name = "stamped"
duration = "2s"
drain = "1s"
[broker]
url = "spawn:mosquitto"
[[group]]
name = "sub"
subscribe = { filter = "k/#", qos = 0 }
[[group]]
name = "pub"
publish = { topic = "k/1", qos = 0, rate = 2.0, payload = 64 }
[[fault]]
at = "0.6s"
action = "stall"
group = "sub"
for = "0.7s"
"#;
    let out = run_text(text, "spawn:mosquitto").await;
    let r = &out.report;
    let l = &r.latency;
    let ctx = format!("e2e {:?}\nreceive_delay {:?}\nown {:?}", l.e2e, l.receive_delay, l.own);
    eprintln!(
        "e2e max {} µs, e2e_uncorrected max {} µs, receive delay p50 {} p99 {} max {} µs",
        l.e2e.max_us,
        l.e2e_uncorrected.max_us,
        l.own.receive_delay_p50_us,
        l.own.receive_delay_p99_us,
        l.receive_delay.max_us
    );
    assert_eq!((r.messages.published, r.messages.received, r.messages.lost), (4, 4, 0), "{ctx}");
    assert_eq!(l.own.e2e_receive_time, ReceiveTime::Kernel, "{ctx}");
    assert_eq!((l.receive_delay.count, l.own.receive_delay_deliveries), (4, 4), "{ctx}");
    assert!(l.own.receive_delay_measured);
    assert!(l.e2e.max_us < 100_000, "e2e runs to the kernel's stamp, not to the stalled read: {ctx}");
    assert!(l.e2e_uncorrected.max_us < 100_000, "{ctx}");
    assert!(l.receive_delay.max_us + l.e2e.max_us >= 300_000, "{ctx}");
    // Four values: p99 is the largest, the stalled one.
    assert_eq!(l.own.receive_delay_p99_us, l.receive_delay.p99_us);
    assert!(l.own.receive_delay_p99_us + l.e2e.max_us >= 300_000, "{ctx}");
    assert!(l.own.receive_delay_p50_us < 100_000, "the other three were read at once: {ctx}");
    let md = midge::report::markdown::render(r);
    assert!(md.contains("midge's own part: send lag p50"), "{md}");
    assert!(md.contains("kernel receive timestamps on 4 of 4 deliveries"), "{md}");
}

/// The same for acknowledgements: one group publishes at QoS 1 (2 msg/s)
/// and subscribes to itself, and stops reading from 0.6 s for 0.7 s. The
/// message sent at 1.0 s and its PUBACK reach the kernel at once and midge
/// 300 ms later at the earliest: its delivery's receive delay shows the
/// stall, and the ack latency — to the kernel's stamp — does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_read_is_not_in_the_ack_latency() {
    let text = r#"
name = "ack-stamped"
duration = "2s"
drain = "1s"
[[group]]
name = "both"
subscribe = { filter = "k/#", qos = 1 }
publish = { topic = "k/1", qos = 1, rate = 2.0, payload = 64 }
[[fault]]
at = "0.6s"
action = "stall"
group = "both"
for = "0.7s"
"#;
    let out = run_text(text, "spawn:mosquitto").await;
    let (r, l) = (&out.report, &out.report.latency);
    let ctx = format!("ack {:?}\ne2e {:?}\nreceive_delay {:?}", l.ack, l.e2e, l.receive_delay);
    assert_eq!((r.messages.published, r.messages.received, r.messages.lost), (4, 4, 0), "{ctx}");
    assert_eq!(l.ack.count, 4, "{ctx}");
    assert!(l.receive_delay.max_us + l.e2e.max_us >= 300_000, "a read was held by the stall: {ctx}");
    assert!(l.ack.max_us < 100_000, "the ack latency runs to the kernel's stamp, not to the stalled read: {ctx}");
}
