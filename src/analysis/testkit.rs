//! A kit for the analysis's unit tests: a plan from a short inline scenario
//! (fixed run id and client ids), an empty run record for it, and helpers
//! that write into the record what a run would have observed — connections,
//! twins, faults, publish logs, receipts. No socket, no broker, no clock.

use crate::plan::{Overrides, Plan};
use crate::record::logs::PublishLog;
use crate::record::vocab::{Cause, DrainEnd};
use crate::record::wire::FlightEntry;
use crate::record::{
    hist, BrokerRecord, ClientRecord, Counters, DrainRecord, FaultLog, Generation, GeneratorRecord, Latencies,
    RunRecord, TwinConnection, TwinRecord, RECORD_FORMAT,
};
use crate::scenario::ScenarioFile;
use std::path::Path;
use std::time::Duration;

/// A map keyed by a vocabulary type, by name (as report.json counts it).
pub fn names<K: crate::record::names::Named>(
    m: &std::collections::BTreeMap<K, u64>,
) -> std::collections::BTreeMap<String, u64> {
    crate::record::names::by_name(m).into_iter().map(|(k, v)| (k.into_owned(), v)).collect()
}

/// Run-clock µs when every client had ended, in the records this kit makes.
pub const RUN_END_US: u64 = 10_000_000;

/// What the report names as the broker in this kit's records.
pub const BROKER_URL: &str = "mqtt://broker.test:1883";

fn parse(toml: &str) -> ScenarioFile {
    ScenarioFile::parse(Path::new("test.toml"), toml).unwrap_or_else(|e| panic!("test scenario: {e}"))
}

fn build(file: &ScenarioFile, client_ids: Vec<String>) -> Plan {
    let overrides = Overrides { client_ids: Some(client_ids), run_id: Some(1), ..Default::default() };
    Plan::build(file, &overrides).expect("test plan")
}

/// The plan of an inline scenario, client ids fixed to `<group><i>`
/// ("pub0", "sub0", …), run id 1.
pub fn plan(toml: &str) -> Plan {
    let file = parse(toml);
    let ids = file
        .scenario
        .groups
        .iter()
        .flat_map(|g| {
            let g = g.get_ref();
            (0..g.clients).map(move |i| format!("{}{i}", g.name))
        })
        .collect();
    build(&file, ids)
}

/// The plan of an inline scenario with the ids its own `client_id` schemes
/// give (use a deterministic scheme: fixed or prefix-serial), run id 1.
pub fn plan_own_ids(toml: &str) -> Plan {
    build(&parse(toml), Vec::new())
}

/// A record of a run of `plan` that observed nothing yet: one client record
/// per planned client with an empty timeline, every planned client counted
/// as connected at the peak (so the run is no "nobody connected" error),
/// publishing 10 s, ending at `RUN_END_US`.
pub fn record(plan: &Plan) -> RunRecord {
    RunRecord {
        format: RECORD_FORMAT,
        midge_version: "test".into(),
        plan: plan.identity(),
        broker: BrokerRecord { url: BROKER_URL.into(), kind: "test".into(), ..Default::default() },
        brokers: Default::default(),
        started_at: "2024-01-01T00:00:00Z".into(),
        clock_start_unix_us: 1_704_067_200_000_000,
        start_late_us: None,
        publish_elapsed: Duration::from_secs(10),
        publishing: None,
        interrupted: false,
        as_of_us: None,
        stop_signal: None,
        drain: DrainRecord {
            ended: DrainEnd::Complete,
            waited_us: 300_000,
            quiet_period_us: 300_000,
            in_flight_at_end: 0,
            offline_at_end: 0,
            awaiting_backlog_at_end: 0,
        },
        lost_tasks: 0,
        run_end_us: RUN_END_US,
        connected_peak: plan.clients.len() as u64,
        counters: Counters::default(),
        latencies: Latencies::new(),
        timeseries: Vec::new(),
        clients: plan.clients.iter().map(|c| ClientRecord { index: c.index, ..Default::default() }).collect(),
        faults: FaultLog::default(),
        generator: GeneratorRecord {
            workers: 1,
            cpu_s: 1.0,
            wall_s: 10.0,
            rss_kib_at_publish_end: 10_000,
            peak_rss_kib: 12_000,
            loop_delay: hist::new_histogram(),
            broker_cpu_s: None,
            broker_rss_kib: None,
            kernel_tcp: None,
        },
        retained_cleanup: None,
        merged: None,
    }
}

/// Adds a connection of `client` that came up at `connected_us` (subscription
/// live at once, last heard at its end) and ended at `ended_us`, for `cause`
/// (None: midge's own DISCONNECT). Returns it for further touches.
pub fn connect(
    rec: &mut RunRecord,
    client: u32,
    connected_us: u64,
    ended_us: u64,
    cause: Option<Cause>,
) -> &mut Generation {
    let timeline = &mut rec.clients[client as usize].timeline;
    timeline.push(Generation {
        attempt_us: connected_us,
        connected_us: Some(connected_us),
        live_from_us: Some(connected_us),
        heard_us: ended_us,
        wrote_us: ended_us,
        // A persistent session comes back resumed unless a test says otherwise.
        session_present: true,
        ended_us,
        cause,
        ..Default::default()
    });
    timeline.last_mut().expect("just pushed")
}

/// Adds a connection attempt of `client` that the broker refused at `at_us`.
pub fn refuse(rec: &mut RunRecord, client: u32, at_us: u64, cause: Cause) {
    rec.clients[client as usize].timeline.push(Generation {
        attempt_us: at_us,
        ended_us: at_us,
        cause: Some(cause),
        ..Default::default()
    });
}

/// Adds a connection of the duplicate-ids twin of `of_client` (the twin
/// record is made on first use).
pub fn twin(rec: &mut RunRecord, plan: &Plan, of_client: u32, connected_us: u64, ended_us: u64, cause: Option<Cause>) {
    let faults = &mut rec.faults;
    let i = match faults.twins.iter().position(|t| t.of_client == of_client) {
        Some(i) => i,
        None => {
            faults.twins.push(TwinRecord {
                client_id: plan.clients[of_client as usize].client_id.clone(),
                of_client,
                ..Default::default()
            });
            faults.twins.len() - 1
        }
    };
    faults.twins[i].connections.push(TwinConnection { connected_us, ended_us, cause });
}

/// A proxy fault hit `clients` (empty: all) from `from_us` to `to_us`.
pub fn fault_hit(rec: &mut RunRecord, from_us: u64, to_us: u64, clients: &[u32]) {
    rec.faults.hits.push((from_us, to_us, clients.to_vec()));
}

/// The broker was killed at `kill_us` and listening again at `up_us`.
pub fn broker_restart(rec: &mut RunRecord, kill_us: u64, up_us: u64) {
    rec.faults.restarts.push((kill_us, up_us));
}

/// `client` published one message at each of `times` (sequence numbers 0,
/// 1, … in order), every one of them got out (written at QoS 0, acknowledged
/// at QoS 1/2).
pub fn publish(rec: &mut RunRecord, client: u32, qos: u8, times: impl IntoIterator<Item = u64>) -> &mut PublishLog {
    let mut log = PublishLog::new(qos);
    for t in times {
        log.sent.push(t);
    }
    log.got_out.insert_range(0, log.published());
    rec.clients[client as usize].publish_log.insert(Box::new(log))
}

/// `n` send times, one every `every_us` from `from_us`.
pub fn every(from_us: u64, every_us: u64, n: u64) -> impl Iterator<Item = u64> {
    (0..n).map(move |k| from_us + k * every_us)
}

/// `subscriber` received these sequence numbers (in this order) from the
/// publisher with publisher index `publisher_index`.
pub fn receive(rec: &mut RunRecord, subscriber: u32, publisher_index: u32, seqs: impl IntoIterator<Item = u64>) {
    let rx = rec.clients[subscriber as usize].rx.get_or_insert_with(Default::default);
    let stream = rx.streams.entry(publisher_index).or_default();
    for seq in seqs {
        stream.record(seq, 0);
    }
}

/// A packet midge sent (`sent`) or received, for a flight recorder.
pub fn packet(t_us: u64, sent: bool, packet_type: u8, size: u32) -> FlightEntry {
    FlightEntry { t_us, sent, packet_type, size, ..Default::default() }
}
