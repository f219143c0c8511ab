//! The drain waits for a slow tail: a subscriber whose deliveries arrive
//! 1.2 s late (midge's proxy delays everything it is sent) must lose
//! nothing when the scenario's `drain` gives them time, although publishing
//! ends with gaps between late deliveries longer than 300 ms. The quiet
//! period adapts to the slowest delivery seen (2 × 1.2 s), and report.json
//! says how the drain ended.

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
async fn a_drain_too_short_for_the_tail_ends_at_its_limit_and_reports_the_loss() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&slow_tail("500ms"), &url(&broker)).await;
    let (m, d) = (&out.report.messages, &out.report.drain);
    let ctx = format!("{m:?}\n{d:?}");
    assert_eq!(m.published, SENT, "{ctx}");
    assert_eq!(m.expected, SENT, "{ctx}");
    assert_eq!(d.ended.as_str(), "time_limit", "{ctx}");
    assert!((0.5..0.7).contains(&d.waited_s), "{ctx}");
    // The last message was still held by the proxy.
    assert!(m.lost > 0, "{ctx}");
    assert!(m.received < SENT, "{ctx}");
    assert_eq!(m.lost, m.expected - m.received, "{ctx}");
    // What was still arriving is said apart: the delivery of the message
    // sent at 5.33 s landed at 6.53 s, inside the drain's last quiet period
    // (2.4 s, up to 7.5 s), 1.2 s after it was sent.
    let a = d.still_arriving.as_ref().expect("a drain that ran out of time says what was arriving");
    assert!((1..=m.received).contains(&a.deliveries), "{a:?}\n{ctx}");
    assert!(a.e2e_p99_us.is_some_and(|us| us >= 1_200_000), "the proxy's 1.2 s delay: {a:?}");
    // Every lost message was sent within that e2e of the drain's end: on its way.
    assert_eq!(a.lost_sent_late, Some(m.lost), "{a:?}\n{ctx}");
    let md = midge::report::markdown::render(&out.report);
    assert!(md.contains("**The drain ran out of time while messages were still arriving:**"), "{md}");
    eprintln!("slow tail, drain = 500ms: lost {} of {}; {d:?}", m.lost, m.expected);
}
