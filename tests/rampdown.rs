//! Client stages that ramp down (and up again): clients leave on plan, one
//! by one, with a clean DISCONNECT after they stop publishing, and come back
//! under the same id. What was due, expected and received must stay exact:
//! a publisher owes only inside its stays, a subscriber is owed nothing
//! after it left (nor what raced its leave), and a planned leave is no
//! disconnect, no failure and no reconnect.

mod support;
use midge::analysis::model::Report;
use midge::record::RunRecord;
use support::*;

const S: f64 = 1.0;

/// Messages a publisher of `rate` msg/s owes over its stays (seconds from
/// the start of publishing): the rate times the time it is there (every
/// stay here lasts a whole number of messages).
fn owed(rate: f64, stays: &[(f64, f64)]) -> u64 {
    stays.iter().map(|(a, b)| (rate * (b - a)).round() as u64).sum()
}

/// What each client of the group starting at `first` published, by place in the group.
fn published(record: &RunRecord, first: u32, n: u32) -> Vec<u64> {
    (first..first + n)
        .map(|i| {
            let c = record.clients.iter().find(|c| c.index == i).expect("every client ran");
            c.publish_log.as_ref().map_or(0, |l| l.published())
        })
        .collect()
}

/// A clean run: nothing lost, no finding, no disconnect, no reconnect, a pass.
fn assert_clean(r: &Report, ctx: &str) {
    let m = &r.messages;
    assert_eq!((m.lost, m.duplicated, m.unsent, m.in_doubt), (0, 0, 0, 0), "{ctx}");
    assert_eq!(m.missed_offline, 0, "a planned leave misses nothing: {ctx}");
    // On a busy machine midge may find itself saturated (a finding about
    // midge, not the broker); nothing else.
    let saturated = midge::record::vocab::FindingKind::GeneratorSaturated;
    assert!(r.findings.iter().all(|f| f.kind == saturated), "{:?}\n{ctx}", r.findings);
    assert_eq!(r.disconnects.total, 0, "a planned leave is no disconnect: {ctx}");
    assert_eq!(r.reconnects, 0, "a rejoin is no reconnect: {ctx}");
    assert!(r.clients.connect_failures.is_empty(), "{ctx}");
    assert_eq!(r.verdict, midge::record::vocab::Verdict::Pass, "{ctx}");
}

fn publishers_down(broker: &str) -> String {
    format!(
        r#"
name = "rampdown-publishers"
drain = "2s"
[broker]
url = "{broker}"
[[group]]
name = "sub"
clients = 1
client_id = {{ scheme = "prefix-random", prefix = "rd1-sub-" }}
subscribe = {{ filter = "rd1/#", qos = 1 }}
[[group]]
name = "pub"
clients = 10
client_id = {{ scheme = "prefix-random", prefix = "rd1-pub-" }}
publish = {{ topic = "rd1/{{client}}", qos = 1, rate = 20.0, payload = 64 }}
[[stage]]
duration = "1s"
clients = {{ pub = 10 }}
[[stage]]
duration = "1s"
[[stage]]
duration = "2s"
clients = {{ pub = 2 }}
[[stage]]
duration = "1s"
[expect]
lost = 0
"#
    )
}

/// 10 publishers join over 1 s (publisher i at (i + 1) / 10 s), hold, and
/// ramp down to 2 over 2 s: publisher i ≥ 2 leaves at 2 + (10 − i) / 4 s,
/// the last to join first. Each owes 20 msg/s over its own stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_that_ramp_down_publish_exactly_their_stays() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&publishers_down("mqtt://x"), &url(&broker)).await;
    let (r, m) = (&out.report, &out.report.messages);
    let ctx = format!("{m:?}\n{:?}\n{:?}", r.clients, r.load_generator.publish_rates);
    let stay = |i: u32| {
        let join = (i + 1) as f64 / 10.0;
        let leave = if i >= 2 { 2.0 + (10 - i) as f64 / 4.0 } else { 5.0 * S };
        owed(20.0, &[(join, leave)])
    };
    let want: Vec<u64> = (0..10).map(stay).collect();
    assert_eq!(want, vec![98, 96, 74, 67, 60, 53, 46, 39, 32, 25]);
    assert_eq!(published(&out.record, 1, 10), want, "each publisher its own stay: {ctx}");
    assert_eq!(m.published, 590, "{ctx}");
    assert_eq!(r.load_generator.publish_rates[0].due, 590, "{ctx}");
    assert_eq!((m.acked, m.expected, m.received), (590, 590, 590), "{ctx}");
    assert_eq!((r.clients.planned_leaves, r.clients.rejoins), (8, 0), "{ctx}");
    let md = midge::report::markdown::render(r);
    assert!(md.contains("Planned leaves (client stages ramping down, clean DISCONNECT): 8."), "{md}");
    eprintln!("{ctx}");
    assert_clean(r, &ctx);
    // Connected falls through the ramp down: 11 at the peak, 3 at the end.
    let connected: Vec<i64> = r.timeseries.iter().map(|p| p.connected).collect();
    assert_eq!(r.clients.connected_peak, 11, "{connected:?}");
    assert!(connected.contains(&11), "{connected:?}");
    let start = r.stages[0].start_s;
    let late = r.timeseries.iter().filter(|p| p.t_s > start + 4.2 && p.t_s < start + 5.0);
    assert!(late.clone().count() > 0 && late.clone().all(|p| p.connected == 3), "{connected:?}");
    assert_eq!(r.stages[2].clients["pub"], 2);
}

fn subscribers_down(broker: &str) -> String {
    format!(
        r#"
name = "rampdown-subscribers"
drain = "2s"
[broker]
url = "{broker}"
[[group]]
name = "pub"
clients = 2
client_id = {{ scheme = "prefix-random", prefix = "rd2-pub-" }}
publish = {{ topic = "rd2/{{client}}", qos = 1, rate = 50.0, payload = 64 }}
[[group]]
name = "sub"
clients = 4
client_id = {{ scheme = "prefix-random", prefix = "rd2-sub-" }}
subscribe = {{ filter = "rd2/#", qos = 1 }}
[[stage]]
duration = "1s"
clients = {{ sub = 4 }}
[[stage]]
duration = "1s"
[[stage]]
duration = "1500ms"
clients = {{ sub = 1 }}
[[stage]]
duration = "1s"
[expect]
lost = 0
"#
    )
}

/// Two constant publishers (50 msg/s each, 4.5 s: 450 messages) and 4
/// subscribers that join at 0.25 s steps and ramp down to 1 over 1.5 s
/// from 2 s: subscriber 3 leaves at 2.5 s, 2 at 3 s, 1 at 3.5 s. A leaver
/// is owed what was sent while it was there, less what raced its leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_that_ramp_down_are_owed_only_their_stays() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&subscribers_down("mqtt://x"), &url(&broker)).await;
    let (r, m) = (&out.report, &out.report.messages);
    let ctx = format!("{m:?}\n{:?}", r.clients);
    assert_eq!(m.published, 450, "{ctx}");
    // At most 100 msg/s over each stay: 425 + 300 + 225 + 150.
    let stays = [(0.25, 4.5), (0.5, 3.5), (0.75, 3.0), (1.0, 2.5)];
    let most: u64 = stays.iter().map(|s| owed(100.0, &[*s])).sum();
    assert_eq!(most, 1100);
    assert_eq!(r.clients.planned_leaves, 3, "{ctx}");
    eprintln!("{ctx}");
    assert_clean(r, &ctx);
    // Less the set-up after each join and the race margin before each leave:
    // each subscriber is owed what was got out from its SUBACK to its end,
    // or to its leave less the race margin (from the record); it may also
    // have received what raced either (more than owed).
    let owed_to = |id: &str| r.streams.iter().filter(|s| s.subscriber == id).map(|s| s.expected).sum::<u64>();
    let subs: Vec<&str> = out.record.plan.client_ids[2..].iter().map(String::as_str).collect();
    let (mut all, mut extra) = (0, 0);
    for (k, id) in subs.iter().enumerate() {
        let (o, e) = owed_and_extra(&out.record, client(&out.record, id));
        assert_eq!(owed_to(id), o, "subscriber {k}: {ctx}");
        assert!(o <= owed(100.0, &[stays[k]]), "subscriber {k}: {ctx}");
        (all, extra) = (all + o, extra + e);
    }
    assert_eq!((m.expected, m.received), (all, all + extra), "{ctx}");
    assert!(m.expected <= most, "{ctx}");
}

fn down_and_up(broker: &str, clean: bool) -> String {
    format!(
        r#"
name = "rampdown-and-up"
drain = "2s"
[broker]
url = "{broker}"
[[group]]
name = "pub"
clients = 3
client_id = {{ scheme = "prefix-random", prefix = "rd3-pub-" }}
publish = {{ topic = "rd3/{{client}}", qos = 1, rate = 20.0, payload = 64 }}
[[group]]
name = "sub"
clients = 3
clean_session = {clean}
client_id = {{ scheme = "prefix-random", prefix = "rd3-sub-" }}
subscribe = {{ filter = "rd3/#", qos = 1 }}
[[stage]]
duration = "600ms"
clients = {{ pub = 3, sub = 3 }}
[[stage]]
duration = "1s"
clients = {{ pub = 1, sub = 1 }}
[[stage]]
duration = "1s"
[[stage]]
duration = "1s"
clients = {{ pub = 3, sub = 3 }}
[[stage]]
duration = "1s"
[expect]
lost = 0
"#
    )
}

/// Publishers and subscribers 3 → 1 → 3: client 2 is there 0.6–1.1 s and
/// from 3.6 s, client 1 0.4–1.6 s and from 3.1 s, client 0 from 0.2 s; the
/// run ends at 4.6 s. The same ids come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_ramp_down_and_up_again_come_back_under_their_ids() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&down_and_up("mqtt://x", true), &url(&broker)).await;
    let (r, m) = (&out.report, &out.report.messages);
    let ctx = format!("{m:?}\n{:?}", r.clients);
    let stays: [&[(f64, f64)]; 3] = [&[(0.2, 4.6)], &[(0.4, 1.6), (3.1, 4.6)], &[(0.6, 1.1), (3.6, 4.6)]];
    let want: Vec<u64> = stays.iter().map(|s| owed(20.0, s)).collect();
    assert_eq!(want, vec![88, 54, 30]);
    assert_eq!(published(&out.record, 0, 3), want, "{ctx}");
    assert_eq!(m.published, 172, "{ctx}");
    assert_eq!((r.clients.planned_leaves, r.clients.rejoins), (4, 4), "{ctx}");
    assert_eq!(r.clients.connects, 10, "6 joins and 4 rejoins: {ctx}");
    eprintln!("{ctx}");
    assert_clean(r, &ctx);
    // Subscriber 0 is owed everything from its SUBACK; the others (clean
    // sessions) what was got out in their stays, from their SUBACK to their
    // leave less the race margin: from the record. What raced a SUBACK or
    // a leave may have arrived too.
    let (mut all, mut extra) = (0, 0);
    for id in &out.record.plan.client_ids[3..] {
        let (o, e) = owed_and_extra(&out.record, client(&out.record, id));
        (all, extra) = (all + o, extra + e);
    }
    assert_eq!((m.expected, m.received), (all, all + extra), "{ctx}");
    let first = owed_and_extra(&out.record, client(&out.record, &out.record.plan.client_ids[3])).0;
    assert!(first <= 172 && m.expected - first < 2 * 172, "{ctx}");
    // The timelines: two connections each for clients 1 and 2, the first left on plan.
    for i in [1usize, 2, 4, 5] {
        let t = &out.record.clients.iter().find(|c| c.index as usize == i).unwrap().timeline;
        assert_eq!(t.len(), 2, "client {i}: {t:?}");
        assert!(t[0].left_us.is_some() && t[0].cause.is_none() && t[1].left_us.is_none(), "{t:?}");
    }
}

/// The same with persistent subscriber sessions: as for a reconnect, the
/// broker queues what is sent while they are away, and it is owed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_subscriber_back_from_a_planned_leave_is_owed_its_queue() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&down_and_up("mqtt://x", false), &url(&broker)).await;
    let (r, m) = (&out.report, &out.report.messages);
    let ctx = format!("{m:?}\n{:?}", r.clients);
    assert_eq!(m.published, 172, "{ctx}");
    assert!(m.queued_offline > 0, "{ctx}");
    assert_eq!((r.clients.planned_leaves, r.clients.rejoins), (4, 4), "{ctx}");
    eprintln!("{ctx}");
    assert_clean(r, &ctx);
    // The subscribers back from a leave resumed their sessions.
    let back = out.record.clients.iter().filter(|c| c.index >= 3).flat_map(|c| c.timeline.iter().skip(1));
    assert!(back.clone().count() == 2 && back.clone().all(|g| g.session_present), "{ctx}");
}

/// scenarios/ramp-down.toml as shipped, on the embedded broker: 40 sensors
/// and 8 viewers ramp up over 3 s, hold 4 s and leave over the last 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_ramp_down_runs_on_the_embedded_broker_and_everyone_leaves() {
    let out = run_shipped("ramp-down", |t| t).await;
    let (r, m) = (&out.report, &out.report.messages);
    let ctx = format!("{m:?}\n{:?}\n{:?}", r.clients, r.findings);
    assert!(r.broker.kind.contains("embedded"), "{ctx}");
    // Sensor i is there from (i + 1) × 75 ms to 7 s + (40 − i) × 75 ms, at
    // 5 msg/s: 1400 messages over all stays (each stay owes its share,
    // rounded by its place in the interval; the roundings cancel here).
    let area: f64 = (0..40).map(|i| 5.0 * (7.0 + (40 - i) as f64 * 0.075 - (i + 1) as f64 * 0.075)).sum();
    assert_eq!(area.round(), 1400.0);
    assert_eq!((m.published, r.load_generator.publish_rates[0].due), (1400, 1400), "{ctx}");
    assert_eq!((m.lost, m.unsent, m.missed_offline), (0, 0, 0), "{ctx}");
    assert_eq!((r.clients.planned_leaves, r.disconnects.total), (48, 0), "{ctx}");
    // On a busy machine midge may find itself saturated; nothing else.
    assert!(r.findings.iter().all(|f| f.kind == midge::record::vocab::FindingKind::GeneratorSaturated), "{ctx}");
    assert_eq!(out.exit_code, 0, "{ctx}");
}
