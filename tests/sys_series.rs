//! The broker's own counters over time (`broker.sys_series`), beside
//! midge's: a spawned mosquitto publishes `$SYS` every second, so a few
//! seconds of load give a few rounds, and a queue overflow's dropped count
//! is set beside midge's lost in report.md.

mod support;

use midge::plan::{Overrides, Plan};
use midge::runner::{self, RunOptions};
use midge::scenario::ScenarioFile;
use std::path::Path;
use support::run_shipped;

const LOAD: &str = r#"
name = "sys-series"
duration = "4s"
drain = "3s"

[broker]
url = "spawn:mosquitto"

[[group]]
name = "sub"
client_id = { scheme = "prefix-serial", prefix = "sys-sub-" }
subscribe = { filter = "sys/#", qos = 1 }

[[group]]
name = "pub"
clients = 4
client_id = { scheme = "prefix-serial", prefix = "sys-pub-" }
publish = { topic = "sys/{i}", qos = 1, rate = 25.0, payload = 64 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_mosquittos_counters_are_kept_each_second() {
    let file = ScenarioFile::parse(Path::new("sys-series.toml"), LOAD).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::build(&file, &Overrides::default()).unwrap();
    let out = runner::run(plan, RunOptions::default()).await.unwrap_or_else(|e| panic!("run failed: {e}"));
    let r = &out.report;
    let series = &r.broker.sys_series;
    assert!(series.len() >= 2, "a round a second over a few seconds: {series:?}");
    assert!(series.windows(2).all(|w| w[0].t_s <= w[1].t_s), "in time order: {series:?}");
    let received: Vec<u64> = series.iter().filter_map(|p| p.received).collect();
    assert!(received.len() >= 2, "{series:?}");
    assert!(received.windows(2).all(|w| w[0] <= w[1]), "a counter never falls: {received:?}");
    assert!(r.messages.published > 0);
    assert!(
        *received.last().unwrap() >= r.messages.published,
        "the broker received at least what midge published ({}): {received:?}",
        r.messages.published
    );
    // On the run clock: within the run, not on a clock of its own.
    let last_t = series.last().unwrap().t_s;
    let run_s = r.timeseries.last().map_or(0.0, |p| p.t_s);
    assert!(last_t <= run_s + 2.0, "series ends at {last_t} s, the run at {run_s} s");
    assert!(series.iter().any(|p| p.clients.is_some_and(|c| c >= 1)), "{series:?}");
    // Over the run's own rounds: the broker received exactly what midge
    // published (its counters rose from before the first PUBLISH to after
    // the drain), at its sys_interval of 1 s.
    let run = r.broker.sys_run.as_ref().expect("rounds inside the run");
    assert_eq!(run.received, Some(r.messages.published), "{run:?}");
    assert_eq!(run.sys_interval_s, Some(1), "{run:?}");
    assert_eq!(run.rounds, series.len() as u64, "every round began inside the run: {series:?}");
    // The record holds it, so a re-render has it too.
    assert_eq!(out.record.broker.sys_series, *series);
    // report.html plots it, beside midge's own rates.
    let html = midge::report::html::render(r);
    assert!(html.contains("counters (per second)"), "the plot of the broker's counters");
    assert!(html.contains("broker received") && html.contains("midge published"), "its legend");
    // No drop, no line about drops.
    assert!(!midge::report::markdown::render(r).contains("messages dropped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_brokers_dropped_count_is_set_beside_midges_lost() {
    let out = run_shipped("queue-overflow", |t| t).await;
    let r = &out.report;
    assert_eq!(r.messages.lost, 300, "{:?}", r.messages);
    let dropped = r.broker.sys_series.iter().rev().find_map(|p| p.dropped);
    assert_eq!(dropped, Some(300), "{:?}", r.broker.sys_series);
    assert_eq!(r.broker.sys_run.as_ref().and_then(|s| s.dropped), Some(300), "{:?}", r.broker.sys_run);
    let md = midge::report::markdown::render(r);
    assert!(
        md.contains(
            "the broker counted 300 messages dropped; midge counted 300 lost (300 of them while subscribers were offline)."
        ),
        "{md}"
    );
    assert!(!md.contains("The broker's count is"), "they agree: {md}");
}
