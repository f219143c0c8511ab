//! The drain waits for a slow tail: a subscriber whose deliveries arrive
//! 1.2 s late (midge's proxy delays everything it is sent) must lose
//! nothing when the scenario's `drain` gives them time, although publishing
//! ends with gaps between late deliveries longer than 300 ms. The quiet
//! period adapts to the slowest delivery seen (2 × 1.2 s), and report.json
//! says how the drain ended.
//!
//! What midge itself holds past the end — a stall, a delay fault — the drain
//! waits out (`Plan::holds_until_us`), and what it still held when a short
//! `drain` ran out is `held_by_broker`, never lost.

mod support;
use support::*;

/// Three QoS 1 publishers, 2 messages each at 0.25/s, spread over the
/// interval: sent at 0, 1.33, 2.67, 4.0, 5.33 and 6.67 s, so each arrives at
/// the delayed subscriber 1.2 s later (the proxy holds a read for its delay,
/// so the sends are spaced wider than it). Publishing ends at 7 s; the last
/// message lands 0.87 s into the drain, after 0.47 s without any.
fn slow_tail(drain: &str) -> String {
    format!(
        r#"
name = "slow-tail"
duration = "7s"
drain = "{drain}"
[[group]]
name = "sub"
client_id = {{ scheme = "prefix-serial", prefix = "tail-sub-" }}
subscribe = {{ filter = "tail/#", qos = 1 }}
[[group]]
name = "pub"
clients = 3
client_id = {{ scheme = "prefix-serial", prefix = "tail-pub-" }}
publish = {{ topic = "tail/{{i}}", qos = 1, rate = 0.25, count = 2 }}

[[fault]]
at = "0s"
action = "delay"
group = "sub"
delay = "1.2s"
for = "60s"
"#
    )
}

const SENT: u64 = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tail_is_waited_for_and_nothing_is_lost() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&slow_tail("10s"), &url(&broker)).await;
    let (m, d) = (&out.report.messages, &out.report.drain);
    let ctx = format!("{m:?}\n{d:?}");
    assert_eq!(m.published, SENT, "{ctx}");
    assert_eq!(m.expected, SENT, "{ctx}");
    assert_eq!(m.received, SENT, "{ctx}");
    assert_eq!(m.lost, 0, "{ctx}");
    assert_eq!(d.ended.as_str(), "complete", "{ctx}");
    assert_eq!((d.in_flight_at_end, d.offline_at_end), (0, 0), "{ctx}");
    // 2 × the slowest delivery: the 1.2 s delay and what broker and loopback add.
    let slowest_ms = out.report.latency.e2e_uncorrected.max_us as f64 / 1e3;
    assert!((1200.0..1300.0).contains(&slowest_ms), "{ctx}\nslowest {slowest_ms} ms");
    assert!((d.quiet_period_ms as f64 - 2.0 * slowest_ms).abs() <= 0.01 * 2.0 * slowest_ms, "{ctx}");
    // The last delivery lands ~0.9 s into the drain, then a quiet period.
    assert!((3.0..4.5).contains(&d.waited_s), "{ctx}");
    assert_eq!(out.exit_code, 0, "{ctx}");
    eprintln!("slow tail, drain = 10s: {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_too_short_for_the_tail_ends_at_its_limit_and_calls_the_tail_held_not_lost() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&slow_tail("500ms"), &url(&broker)).await;
    let (m, d) = (&out.report.messages, &out.report.drain);
    let ctx = format!("{m:?}\n{d:?}");
    assert_eq!(m.published, SENT, "{ctx}");
    assert_eq!(m.expected, SENT, "{ctx}");
    assert_eq!(d.ended.as_str(), "time_limit", "{ctx}");
    assert!((0.5..0.7).contains(&d.waited_s), "{ctx}");
    // The last message (sent at 6.67 s, due at the subscriber 1.2 s later)
    // was still held by the delay fault when the drain ended: held, not lost.
    assert_eq!(m.lost, 0, "{ctx}");
    assert_eq!((m.received, m.held_by_broker), (SENT - 1, 1), "{ctx}");
    assert!(out.report.findings.iter().all(|f| f.kind.as_str() != "qos_violation"), "{:?}", out.report.findings);
    // What was still arriving is said apart: the delivery of the message
    // sent at 5.33 s landed at 6.53 s, inside the drain's last quiet period,
    // 1.2 s after it was sent; none of it is counted lost.
    let a = d.still_arriving.as_ref().expect("a drain that ran out of time says what was arriving");
    assert!((1..=m.received).contains(&a.deliveries), "{a:?}\n{ctx}");
    assert!(a.e2e_p99_us.is_some_and(|us| us >= 1_200_000), "the proxy's 1.2 s delay: {a:?}");
    assert_eq!(a.lost_sent_late, Some(0), "{a:?}\n{ctx}");
    eprintln!("slow tail, drain = 500ms: held {} of {}; {d:?}", m.held_by_broker, m.expected);
}

/// Two publishers at 100 msg/s QoS 1 for 3 s; the subscriber stalls from
/// 2 s for 2.5 s — past the end of publishing — on a mosquitto that queues
/// without limit. The broker holds all the subscriber did not read.
fn stalled_past_the_end(drain: &str) -> String {
    format!(
        r#"
name = "stall-past-end"
duration = "3s"
drain = "{drain}"
[[group]]
name = "sub"
client_id = {{ scheme = "prefix-serial", prefix = "held-sub-" }}
subscribe = {{ filter = "held/#", qos = 1 }}
[[group]]
name = "pub"
clients = 2
client_id = {{ scheme = "prefix-serial", prefix = "held-pub-" }}
publish = {{ topic = "held/{{i}}", qos = 1, rate = 100.0 }}

[[fault]]
at = "2s"
action = "stall"
group = "sub"
for = "2.5s"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_waits_for_a_stall_that_outlasts_publishing_and_nothing_is_lost() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&stalled_past_the_end("10s"), &url(&broker)).await;
    let (m, d) = (&out.report.messages, &out.report.drain);
    let ctx = format!("{m:?}\n{d:?}\n{:?}", out.report.findings);
    assert_eq!((m.published, m.expected, m.received, m.lost, m.held_by_broker), (600, 600, 600, 0, 0), "{ctx}");
    // The stall ends 1.5 s into the drain; the backlog comes at once, then a quiet period.
    assert_eq!(d.ended.as_str(), "complete", "{ctx}");
    assert!((1.5..3.0).contains(&d.waited_s), "{ctx}");
    // (midge's own saturation on a loaded machine is no finding about the broker.)
    assert!(out.report.findings.iter().all(|f| f.kind.as_str() == "generator_saturated"), "{ctx}");
    assert_eq!(out.exit_code, 0, "{ctx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_shorter_than_the_stall_leaves_the_backlog_held_by_the_broker_not_lost() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&stalled_past_the_end("500ms"), &url(&broker)).await;
    let (m, d) = (&out.report.messages, &out.report.drain);
    let ctx = format!("{m:?}\n{d:?}\n{:?}", out.report.findings);
    assert_eq!(d.ended.as_str(), "time_limit", "{ctx}");
    assert_eq!((m.published, m.expected, m.lost), (600, 600, 0), "{ctx}");
    // What came before the stall (sent in its first 2 s: 400) arrived; the
    // rest the broker still held when midge closed the subscriber.
    assert_eq!(m.received + m.held_by_broker, 600, "{ctx}");
    eprintln!("stall past the end, drain = 500ms: received {}, held {}; {d:?}", m.received, m.held_by_broker);
    assert!((190..=210).contains(&m.held_by_broker), "{ctx}");
    assert_eq!(out.report.streams.iter().map(|s| s.held_by_broker).sum::<u64>(), m.held_by_broker, "{ctx}");
    // Neither a QoS violation nor a slow consumer's loss is built on it.
    // (midge's own saturation on a loaded machine is no finding about the broker.)
    assert!(out.report.findings.iter().all(|f| f.kind.as_str() == "generator_saturated"), "{ctx}");
    let md = midge::report::markdown::render(&out.report);
    assert!(md.contains("still held by the broker when the run ended"), "{md}");
}
