//! Shared by the integration tests: real brokers on free loopback ports and
//! scenarios written inline.
#![allow(dead_code)]

use midge::broker::Mosquitto;
use midge::plan::{Overrides, Plan};
use midge::runner::{self, RunOptions, RunOutput};
use midge::scenario::ScenarioFile;
use std::path::Path;

/// Starts mosquitto (Debian's package) on a free 127.0.0.1 port with the
/// given extra config lines, and waits until it listens.
pub async fn mosquitto(extra: &[&str]) -> Mosquitto {
    let lines: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    Mosquitto::launch(&lines, false)
        .await
        .unwrap_or_else(|e| panic!("{e}: the tests need mosquitto — run them with `tests/run.sh`, which installs it"))
}

/// Two mosquittos bridged as a cluster-like pair: B bridges `cl/#` both
/// ways to A at QoS 1. Returns (A, B) once A has logged the bridge's
/// connection (and a moment for its SUBSCRIBE).
pub async fn bridged_pair() -> (Mosquitto, Mosquitto) {
    let a = mosquitto(NO_LIMITS).await;
    let address = format!("address {}", a.addr);
    let mut b_conf: Vec<&str> = NO_LIMITS.to_vec();
    b_conf.extend(["connection bridge-a", address.as_str(), "topic cl/# both 1", "cleansession true"]);
    let b = mosquitto(&b_conf).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !a.log_tail(200).iter().any(|l| l.contains("New bridge connected")) {
        assert!(std::time::Instant::now() < deadline, "the bridge never connected: {:?}", b.log_tail(20));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    (a, b)
}

/// A broker config that loses nothing to its own limits: no queue cap, no
/// inflight cap (stock mosquitto drops beyond 1000 queued messages).
pub const NO_LIMITS: &[&str] = &["max_queued_messages 0", "max_inflight_messages 0"];

pub fn parse(text: &str) -> ScenarioFile {
    ScenarioFile::parse(Path::new("inline.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

pub async fn run_text(text: &str, broker: &str) -> RunOutput {
    run_file(&parse(text), broker).await
}

pub async fn run_file(file: &ScenarioFile, broker: &str) -> RunOutput {
    let plan = Plan::build(file, &Overrides { broker: Some(broker.to_string()), ..Default::default() }).unwrap();
    match runner::run(plan, RunOptions::default()).await {
        Ok(o) => o,
        Err(e) => panic!("run failed: {e}"),
    }
}

pub fn url(m: &Mosquitto) -> String {
    format!("mqtt://{}", m.addr)
}

/// Runs a shipped scenario from scenarios/ as it is (it names its own
/// spawned broker), after `edit` on its text.
pub async fn run_shipped(name: &str, edit: impl Fn(String) -> String) -> RunOutput {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(format!("{name}.toml"));
    let text = edit(std::fs::read_to_string(&path).unwrap());
    let file = ScenarioFile::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let plan = Plan::build(&file, &Overrides::default()).unwrap();
    runner::run(plan, RunOptions::default()).await.unwrap()
}

/// Runs the midge binary as a user would, from the project folder.
pub fn midge(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("midge binary runs")
}

// ---- Exact figures from the record (the timeline, the publish logs) ----

use midge::record::{ClientRecord, Generation, RunRecord};

/// The plan a record was made from.
pub fn plan_of(rec: &RunRecord) -> Plan {
    Plan::rebuild(&rec.plan).unwrap_or_else(|e| panic!("{e}"))
}

/// A client's record, by its id.
pub fn client<'a>(rec: &'a RunRecord, id: &str) -> &'a ClientRecord {
    let i = rec.plan.client_ids.iter().position(|c| c == id).unwrap_or_else(|| panic!("no client {id}")) as u32;
    rec.clients.iter().find(|c| c.index == i).unwrap_or_else(|| panic!("{id} has no record"))
}

/// Until when a connection that midge closed (at the end, or on a planned
/// leave) was owed what was sent to it (`analysis::windows`: its end; a
/// leave less the race margin, or the slowest delivery it saw if slower,
/// and less how far the publisher's send-time log widened its band), and
/// from when (SUBACK). None: it never subscribed.
pub fn live_window(g: &Generation, widened_us: u64) -> Option<(u64, u64)> {
    use midge::record::clock::RACE_MARGIN_US;
    let from = g.live_from_us?;
    assert!(g.cause.is_none(), "a connection midge did not close: {g:?}");
    let margin = match widened_us {
        0 => RACE_MARGIN_US.max(g.slowest_delivery_us),
        by => g.slowest_delivery_us.max(RACE_MARGIN_US) + by,
    };
    let to = match g.left_us {
        Some(at) => at.saturating_sub(margin).max(from),
        None => g.ended_us,
    };
    Some((from, to))
}

/// Per publisher, the sequence numbers it got out (acknowledged, or written
/// at QoS 0) that it first wrote within [from_us, to_us].
pub fn got_out_between(rec: &RunRecord, from_us: u64, to_us: u64) -> Vec<(u32, Vec<u64>)> {
    let plan = plan_of(rec);
    rec.clients
        .iter()
        .filter_map(|c| {
            let log = c.publish_log.as_ref()?;
            let publisher = plan.clients[c.index as usize].publisher?;
            let (a, b) = log.seqs_sent_between(from_us, to_us);
            Some((publisher, (a..b).filter(|s| log.got_out.contains(*s)).collect()))
        })
        .collect()
}

/// How many of the messages got out within [from_us, to_us] `sub` received
/// (`true`) or not (`false`).
pub fn received_of(rec: &RunRecord, sub: &ClientRecord, from_us: u64, to_us: u64, received: bool) -> u64 {
    let rx = sub.rx.as_ref().expect("a subscriber");
    got_out_between(rec, from_us, to_us)
        .iter()
        .map(|(p, seqs)| {
            let got = |s: &u64| rx.streams.get(p).is_some_and(|st| st.received.contains(*s));
            seqs.iter().filter(|s| got(s) == received).count() as u64
        })
        .sum()
}

/// What a subscriber whose every connection midge closed (a clean session,
/// no drop) was owed over its live windows, and what it received beyond
/// that (a message that raced its SUBACK or its leave): (owed, extra).
pub fn owed_and_extra(rec: &RunRecord, sub: &ClientRecord) -> (u64, u64) {
    let plan = plan_of(rec);
    let rx = sub.rx.as_ref().expect("a subscriber");
    let mut owed = 0;
    for c in &rec.clients {
        let (Some(log), Some(p)) = (&c.publish_log, plan.clients[c.index as usize].publisher) else { continue };
        for (from, to) in sub.timeline.iter().filter_map(|g| live_window(g, log.sent.widened_us())) {
            let (a, b) = log.seqs_sent_between(from, to);
            owed += log.got_out.count_within(a, b);
            let received = rx.streams.get(&p).map_or(0, |s| s.received.count_within(a, b));
            let got_out = log.got_out.count_within(a, b);
            assert!(
                received >= got_out,
                "{} lost messages of publisher {p}",
                plan.clients[sub.index as usize].client_id
            );
        }
    }
    let received: u64 = rx.streams.values().map(|s| s.received.len()).sum();
    (owed, received - owed)
}

/// The offline gap between a connection that dropped and the next live one
/// (`analysis::windows`): from its last trusted moment (the last packet
/// heard, less the race margin or the slowest delivery it saw if slower)
/// to the next SUBACK (or CONNACK of a resumed session), ends excluded.
pub fn offline_gap(dropped: &Generation, next: &Generation) -> (u64, u64) {
    use midge::record::clock::RACE_MARGIN_US;
    assert!(dropped.cause.is_some(), "a connection that dropped: {dropped:?}");
    let live = dropped.live_from_us.unwrap_or(dropped.connected_us.unwrap());
    let trusted = dropped.heard_us.saturating_sub(RACE_MARGIN_US.max(dropped.slowest_delivery_us)).max(live);
    (trusted + 1, next.live_from_us.expect("the next connection subscribed") - 1)
}
