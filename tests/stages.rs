//! `[[stage]]`: rates and client counts that ramp over a run. What the
//! publishers sent must be exactly what the ramped schedule made due, with
//! nothing lost, and the time series must show the ramp.

mod support;
use support::*;

fn rate_ramp(broker: &str) -> String {
    format!(
        r#"
name = "stages-rate"
drain = "3s"
protocol = "5"
[broker]
url = "{broker}"
[[group]]
name = "sub"
clients = 2
client_id = {{ scheme = "prefix-serial", prefix = "stage-sub-" }}
subscribe = {{ filter = "stage/#", qos = 1 }}
[[group]]
name = "pub"
clients = 10
client_id = {{ scheme = "prefix-random", prefix = "stage-pub-" }}
publish = {{ topic = "stage/{{client}}", qos = 1, rate = 0.0, payload = 64 }}
[[stage]]
duration = "4s"
rate = {{ pub = 40.0 }}
[[stage]]
duration = "3s"
[expect]
lost = 0
duplicated = 0
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_ramp_publishes_exactly_what_was_due_and_rises_then_holds() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&rate_ramp("mqtt://x"), &url(&broker)).await;
    let r = &out.report;
    let m = &r.messages;
    let ctx = format!("{m:?}\n{:?}", r.load_generator.publish_rates);
    // 10 publishers × (area of 0 → 40 over 4 s = 80, + 40 × 3 s = 120) = 2000.
    let rates = &r.load_generator.publish_rates[0];
    assert_eq!(rates.due, 2000, "{ctx}");
    assert_eq!(rates.sent, rates.due, "{ctx}");
    assert_eq!(m.published, 2000, "{ctx}");
    assert_eq!(m.unsent, 0, "{ctx}");
    assert_eq!(m.expected, 4000, "{ctx}");
    assert_eq!(m.received, 4000, "{ctx}");
    assert_eq!(m.lost, 0, "{ctx}");
    assert_eq!(m.duplicated, 0, "{ctx}");
    assert_eq!(out.exit_code, 0, "{ctx}");
    assert_eq!(r.duration_s.round(), 7.0, "the run lasts the stages' sum");

    // The stages in the report.
    assert_eq!(r.stages.len(), 2);
    assert_eq!(r.stages[0].index, 1);
    assert_eq!(r.stages[0].rate["pub"], 40.0);
    assert_eq!(r.stages[1].rate["pub"], 40.0);
    assert_eq!(r.stages[0].clients["pub"], 10);
    assert!((r.stages[0].end_s - r.stages[0].start_s - 4.0).abs() < 1e-3, "{:?}", r.stages);
    assert_eq!(r.stages[0].end_s, r.stages[1].start_s);

    // The time series: published per second rises through the ramp (about
    // 40, 120, 200, 280), then holds near 400.
    let start = r.stages[0].start_s;
    // Each point counts the second before it: keep the whole seconds.
    let per_s = |from: f64, to: f64| -> Vec<u64> {
        r.timeseries
            .iter()
            .filter(|p| p.t_s - 1.0 >= start + from - 0.1 && p.t_s <= start + to)
            .map(|p| p.published)
            .collect()
    };
    let ramp = per_s(0.0, 4.0);
    let hold = per_s(4.1, 7.0);
    let series: Vec<(f64, u64)> = r.timeseries.iter().map(|p| (p.t_s - start, p.published)).collect();
    assert!(ramp.len() >= 3 && hold.len() >= 2, "{series:?}");
    assert!(ramp.windows(2).all(|w| w[1] + 30 >= w[0]), "the ramp does not fall: {series:?}");
    assert!(ramp.last().unwrap() > &(ramp[0] + 150), "the ramp rises: {series:?}");
    assert!(hold.iter().all(|n| (340..=460).contains(n)), "the hold holds near 400/s: {series:?}");
}

fn clients_ramp(broker: &str) -> String {
    format!(
        r#"
name = "stages-clients"
drain = "3s"
[broker]
url = "{broker}"
[[group]]
name = "sub"
clients = 1
client_id = {{ scheme = "prefix-serial", prefix = "stagec-sub-" }}
subscribe = {{ filter = "stagec/#", qos = 1 }}
[[group]]
name = "devices"
clients = 30
client_id = {{ scheme = "prefix-random", prefix = "stagec-dev-" }}
publish = {{ topic = "stagec/{{client}}", qos = 1, rate = 10.0, payload = 64 }}
[[group]]
name = "watchers"
clients = 20
client_id = {{ scheme = "prefix-random", prefix = "stagec-watch-" }}
subscribe = {{ filter = "stagec/#", qos = 1 }}
[[stage]]
duration = "3s"
clients = {{ devices = 30, watchers = 10 }}
[[stage]]
duration = "2s"
clients = {{ watchers = 20 }}
[[stage]]
duration = "1s"
[expect]
lost = 0
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_ramp_connects_up_to_the_target_and_leaves_cleanly() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&clients_ramp("mqtt://x"), &url(&broker)).await;
    let r = &out.report;
    let m = &r.messages;
    let ctx = format!("{m:?}\n{:?}\n{:?}", r.disconnects, r.timeseries);
    assert_eq!(r.clients.planned, 51, "{ctx}");
    assert_eq!(r.clients.connected_peak, 51, "every client of the last target connected: {ctx}");
    assert_eq!(r.clients.connects, 51, "{ctx}");
    // The devices joined through the first stage (0 → 30 over 3 s): device k
    // joins at (k + 1)/10 s and owes 10 msg/s from its join, its messages
    // offset by k/30 of an interval, to the end at 6 s: the n-th at
    // (k + 1)/10 + (n + k/30)/10 s < 6, so 59 − k of them (`plan::schedule`).
    // 30 × 59 − (0 + … + 29) = 1335. What was due went out, nothing was lost.
    let rates = &r.load_generator.publish_rates[0];
    assert_eq!(rates.due, 1335, "{ctx}");
    assert_eq!(rates.sent, rates.due, "{ctx}");
    let plan = plan_of(&out.record);
    let devices = &plan.groups[1];
    for k in 0..30u32 {
        let c = out.record.clients.iter().find(|c| c.index == devices.first_client + k).unwrap();
        assert_eq!(devices.join_us(c.index), (k as u64 + 1) * 100_000, "device {k}");
        assert_eq!(c.publish_log.as_ref().unwrap().published(), 59 - k as u64, "device {k}: {ctx}");
    }
    assert_eq!(m.unsent, 0, "{ctx}");
    assert_eq!(m.lost, 0, "{ctx}");
    assert_eq!(m.duplicated, 0, "{ctx}");
    // Each subscriber is owed what was got out between its SUBACK and its
    // end; a watcher may also get a message that raced its SUBACK, sent
    // before it (more than owed): both counted from the record.
    let (mut owed, mut extra) = (0, 0);
    for c in out.record.clients.iter().filter(|c| c.rx.is_some()) {
        let (o, e) = owed_and_extra(&out.record, c);
        (owed, extra) = (owed + o, extra + e);
    }
    assert_eq!((m.expected, m.received), (owed, owed + extra), "{ctx}");
    assert!(m.expected > 0, "{ctx}");
    // Every connection ended with midge's own DISCONNECT at the end.
    assert_eq!(r.disconnects.total, 0, "{ctx}");
    assert!(r.disconnects.by_cause.is_empty(), "{ctx}");
    assert_eq!(out.exit_code, 0, "{ctx}");
    // The time series shows the clients coming in.
    let connected: Vec<i64> = r.timeseries.iter().map(|p| p.connected).collect();
    assert!(connected.first().is_some_and(|n| *n < 20), "{connected:?}");
    assert!(connected.contains(&51), "{connected:?}");
    assert_eq!(r.stages[0].clients["watchers"], 10);
    assert_eq!(r.stages[2].clients["devices"], 30);
}

#[test]
fn a_stage_naming_an_unknown_group_is_located() {
    let text = rate_ramp("embedded").replace("rate = { pub = 40.0 }", "rate = { pub = 40.0, pubz = 3.0 }");
    let e = midge::scenario::ScenarioFile::parse(std::path::Path::new("s.toml"), &text).unwrap_err();
    let line = text.lines().position(|l| l.contains("pubz")).unwrap() + 1;
    let column = text.lines().nth(line - 1).unwrap().find("pubz").unwrap() + 1;
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert!(e.message.contains("no group named \"pubz\""), "{e}");
    assert!(e.to_string().starts_with(&format!("s.toml:{line}:{column}: stage 1:")), "{e}");
}

#[test]
fn stage_mistakes_are_scenario_errors() {
    let base = rate_ramp("embedded");
    let err = |text: String| midge::scenario::ScenarioFile::parse(std::path::Path::new("s.toml"), &text).unwrap_err();
    // `duration` must be the stages' sum when it is there.
    let e = err(base.replace("drain = \"3s\"", "duration = \"5s\"\ndrain = \"3s\""));
    assert_eq!((e.line, e.column), (3, 1), "{e}");
    assert!(e.message.contains("add up to 7s"), "{e}");
    assert!(midge::scenario::ScenarioFile::parse(
        std::path::Path::new("s.toml"),
        &base.replace("drain = \"3s\"", "duration = \"7s\"\ndrain = \"3s\"")
    )
    .is_ok());
    // A rate for a group that does not publish.
    let e = err(base.replace("rate = { pub = 40.0 }", "rate = { sub = 4.0 }"));
    assert!(e.message.contains("does not publish"), "{e}");
    // Client targets are at most the group's clients, and the highest is its clients.
    let e = err(base.replace("rate = { pub = 40.0 }", "clients = { pub = 11 }"));
    assert!(e.message.contains("which has 10"), "{e}");
    let e = err(base.replace("rate = { pub = 40.0 }", "clients = { pub = 5 }"));
    assert!(e.message.contains("the highest client target must be the group's `clients`"), "{e}");
    let line = base.lines().position(|l| l.contains("rate = { pub = 40.0 }")).unwrap() + 1;
    assert_eq!((e.line, e.column), (line, 13), "at the highest target: {e}");
    // A ramp down (10, then 4) is no error: clients leave.
    let down = base
        .replace("rate = { pub = 40.0 }", "clients = { pub = 10 }")
        .replace("duration = \"3s\"\n", "duration = \"3s\"\nclients = { pub = 4 }\n");
    assert!(midge::scenario::ScenarioFile::parse(std::path::Path::new("s.toml"), &down).is_ok());
    // Without stages a zero rate is still an error.
    let plain = base.split("[[stage]]").next().unwrap().to_string();
    let e = err(plain);
    assert!(e.message.contains("publish.rate must be a positive number"), "{e}");
}

/// A group that joins late keeps its `connect_rate`: 300 subscribers with
/// `start_after = "500ms"`, `connect_rate = 100` join from 0.5 s to 3.49 s
/// after publishing starts, 100 a second, never all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_group_keeps_its_connect_rate() {
    let broker = mosquitto(NO_LIMITS).await;
    let text = r#"
name = "late-ramp"
duration = "4s"
drain = "2s"
[[group]]
name = "pub"
client_id = { scheme = "prefix-serial", prefix = "late-ramp-pub-" }
publish = { topic = "late-ramp/0", qos = 1, rate = 2.0 }
[[group]]
name = "late"
clients = 300
start_after = "500ms"
connect_rate = 100
client_id = { scheme = "prefix-serial", prefix = "late-ramp-sub-" }
subscribe = { filter = "late-ramp/#", qos = 1 }
"#;
    let out = run_text(text, &url(&broker)).await;
    let start = out.record.publishing.expect("publishing ran").start_us;
    // Each client's first connection: when it began (midge's pace) and came up.
    assert!(out.record.clients[1..].iter().all(|c| c.timeline.first().is_some_and(|g| g.connected_us.is_some())));
    let mut connects: Vec<u64> = out.record.clients[1..].iter().map(|c| c.timeline[0].attempt_us - start).collect();
    connects.sort_unstable();
    assert_eq!(connects.len(), 300, "every late client connected");
    assert!(connects[0] >= 500_000, "none before start_after: {}", connects[0]);
    let span = connects[299] - connects[0];
    assert!(span >= 2_900_000, "spread over 3 s at 100/s, not at once: {span} µs");
    // No second holds more than 100 (+1 for timer jitter at its edge).
    let busiest = connects.iter().map(|&t| connects.iter().filter(|&&u| u >= t && u < t + 1_000_000).count()).max();
    assert!(busiest.unwrap() <= 101, "busiest second: {busiest:?}");
    eprintln!("late group: connects from {} µs over {span} µs, busiest second {busiest:?}", connects[0]);
    let m = &out.report.messages;
    assert_eq!((m.lost, m.unsent), (0, 0), "{m:?}");
}
