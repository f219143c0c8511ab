//! The run record: everything a run observed, as plain owned data that
//! knows nothing about sockets, tasks or brokers. Client tasks and the
//! runner fill it; the analysis (`crate::analysis`) reads it, together with
//! the plan, and nothing else. It is saved beside report.json (`record.json`),
//! so `midge report DIR` can analyse a finished run again.
//!
//! This module imports nothing from the rest of the crate.
//!
//! Times are run-clock µs (`clock::RunClock`), causes are `vocab::Cause`s,
//! packets are `wire::FlightEntry`s (and a client's `wire::Witness`), so a
//! record can be saved, read back, and written by hand in a test
//! (`analysis::testkit`).
//!
//! Who fills what: `runner::assemble::assemble` makes the `RunRecord` from the
//! run's phases, for the final record and a periodic snapshot alike (only a
//! snapshot has `as_of_us`); `Plan::identity` gives the `PlanIdentity`; each
//! client task hands back its `ClientRecord` (timeline in `client::task`,
//! `LimitHit`s from `client::announced::limit_hits`, logs from
//! `Recorder::into_logs`); `faults::schedule::run` and `faults::twin::run`
//! write the `FaultLog`; `metrics::Metrics::totals` sums the shards into
//! `Counters` and `Latencies`; the runner's sampler writes the `TimePoint`s.
//!
//! Timelines: each client keeps one `Generation` per connection attempt. Its
//! `cause` is what the client saw (None: midge's own DISCONNECT — at the run's
//! end, or on a planned leave, which sets `left_us`); `heard_us` is the last
//! packet heard, `wrote_us` the last successful write (`Connection::wrote_us`),
//! `suback_code` the SUBACK's granted QoS or failure code, `behind` the spans
//! in which midge held back its reads (`client::pacing`). The analysis may name
//! a close better (`analysis::detect::explain`); the record keeps what was
//! seen.
//!
//! What was acknowledged is not a counter: the tally counts it from the publish
//! logs (`PublishLog::got_out`). `Counters::publish_reasons` counts only PUBACK
//! / PUBREC / PUBCOMP reasons other than success, by name.
//!
//! A record of another `RECORD_FORMAT` is refused (`RunRecord::from_json`).

pub mod clock;
pub mod hist;
pub mod logs;
pub mod merge;
pub mod names;
pub mod series;
pub mod shards;
pub mod vocab;
pub mod wire;

use hdrhistogram::Histogram;
use logs::{PublishLog, RxLog};
use serde::{Deserialize, Serialize};
use shards::ShardOf;
use std::collections::BTreeMap;
use std::time::Duration;
use vocab::{Cause, DrainEnd, Limit, ReasonCode, StopSignal, SubackFailure};
use wire::{FlightEntry, Witness};

mod brokers;
mod fault_log;

pub use brokers::{BrokerRecord, BrokersRecord, PairLatency, SysPoint, TlsRecord};
pub use fault_log::{FaultEvent, FaultLog, TwinConnection, TwinRecord};

/// The version of record.json's layout; a record of another version is refused.
pub const RECORD_FORMAT: u32 = 2;

/// The file beside report.json that holds the record.
pub const RECORD_FILE: &str = "record.json";

/// A limit the broker announced in CONNACK (MQTT 5) that this client's
/// scenario would break; the client held back instead of being dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitHit {
    pub limit: Limit,
    pub announced: u64,
    pub needed: u64,
}

/// One connection attempt of a client and, if it connected, how it went.
/// Times are run-clock microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    pub attempt_us: u64,
    /// Its connect latency in µs (`ConnectTimes::total_us`, at least 1), once
    /// CONNACK accepted it; 0: it never connected. (No `Option`: a u32 fits
    /// the padding an idle client's task already has.)
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connect_us: u32,
    /// CONNACK accepted.
    pub connected_us: Option<u64>,
    pub session_present: bool,
    /// The subscription became live: SUBACK, or CONNACK of a resumed session.
    pub live_from_us: Option<u64>,
    /// The last packet received on this connection.
    pub heard_us: u64,
    /// The last successful write on this connection (0: none).
    #[serde(default)]
    pub wrote_us: u64,
    /// The broker's answer to the subscription (SUBACK): the QoS granted
    /// (0–2), or a failure code (≥ 0x80). None: no SUBACK on this connection.
    #[serde(default)]
    pub suback_code: Option<u8>,
    /// The slowest first delivery seen on this connection (send to
    /// receipt): no DUP copy, resend or resumed backlog (`Recorder::take_in`).
    /// The margin its subscription is distrusted by before a drop.
    pub slowest_delivery_us: u64,
    /// Spans in which midge held back this connection's reads (a
    /// subscriber's `max_rate`, a `stall` fault) until it had caught up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub behind: Vec<(u64, u64)>,
    pub ended_us: u64,
    /// Why it ended; None when midge ended it (DISCONNECT at the end of the
    /// run, or a planned leave: `left_us`).
    pub cause: Option<Cause>,
    /// A planned leave (a client stage ramping the group down): when the
    /// client stopped publishing and was owed nothing more (run-clock µs);
    /// it then waited for its publishes in flight and sent DISCONNECT
    /// (`ended_us`). None: it did not leave on plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_us: Option<u64>,
    /// The last packets of a connection that ended badly (empty otherwise).
    pub flight: Vec<FlightEntry>,
}

/// Everything one client observed, handed back when its task ends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Index in the plan's clients.
    pub index: u32,
    pub timeline: Vec<Generation>,
    pub limits: Vec<LimitHit>,
    /// Boxed: a record is small (about 100 B) where a list holds every
    /// client's, idle ones too; the logs live on the heap only when there.
    pub publish_log: Option<Box<PublishLog>>,
    pub rx: Option<Box<RxLog>>,
    /// When this client's publishing ran, where it differs from the run's
    /// (a merged run: each client's shard's window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing: Option<PublishWindow>,
    /// What it saw on the wire that may break a rule (`wire::Witness`); None: nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<Box<Witness>>,
    /// Against the MQTT 5 limits the client announced (0: none, or an older
    /// record): the most QoS 1/2 PUBLISHes the broker had in flight toward it
    /// at once (`client::session::inbound`), the largest packet it sent (bytes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_inbound_inflight: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_inbound_packet: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ClientRecord {
    pub fn ever_connected(&self) -> bool {
        self.timeline.iter().any(|g| g.connected_us.is_some())
    }
}

/// One second of the run (or more, once a long run's series is rolled up:
/// `span_s`, see `series::Series`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimePoint {
    /// Run-clock seconds at the end of the interval the point covers.
    pub t_s: f64,
    /// Seconds the point covers: 1, or a multiple once rolled up
    /// (`published` and `received` count over all of it).
    #[serde(default = "one_second")]
    pub span_s: f64,
    pub connected: i64,
    pub published: u64,
    pub received: u64,
    pub e2e_p99_us: Option<u64>,
    /// midge's CPU over the interval since the previous point, % of one
    /// core (user + system, all its threads; 0.1 resolution). None in a
    /// record from before midge measured it.
    #[serde(default)]
    pub midge_cpu_pct: Option<f64>,
    /// midge's resident memory when the point was taken, KiB.
    #[serde(default)]
    pub midge_rss_kib: Option<u64>,
    /// The broker's CPU over the interval, % of one core: only for a broker
    /// midge knows the process of (spawned, or `--broker-pid`), and while
    /// that process runs.
    #[serde(default)]
    pub broker_cpu_pct: Option<f64>,
    /// The broker's resident memory when the point was taken, KiB (as
    /// `broker_cpu_pct`).
    #[serde(default)]
    pub broker_rss_kib: Option<u64>,
}

fn one_second() -> f64 {
    1.0
}

/// Cumulative counters of the whole swarm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub connect_attempts: u64,
    /// CONNACKs that accepted.
    pub connects: u64,
    pub published: [u64; 3],
    /// PUBLISH packets delivered to subscribers (duplicates included).
    pub received: [u64; 3],
    /// QoS 1/2 publishes the broker refused with an error reason code (MQTT 5).
    pub rejected: u64,
    /// Acknowledgements for packet ids that had nothing in flight.
    pub unsolicited_acks: u64,
    /// Times a publisher had a message due and a full inflight window.
    #[serde(default)]
    pub publish_window_full: u64,
    /// PUBACK / PUBREC reason codes other than success (MQTT 5), by name:
    /// refusals (≥ 0x80) and `no_matching_subscribers` (0x10).
    #[serde(default, with = "names::serde_by_name")]
    pub publish_reasons: BTreeMap<ReasonCode, u64>,
    /// Successful connections after a client's first.
    pub reconnects: u64,
    /// Failed connection attempts by cause (record.json: by name, as all
    /// the maps keyed by a vocabulary type; `names::serde_by_name`).
    #[serde(with = "names::serde_by_name")]
    pub connect_failures: BTreeMap<Cause, u64>,
    /// Refused subscriptions by reason name.
    #[serde(with = "names::serde_by_name")]
    pub subscribe_failures: BTreeMap<SubackFailure, u64>,
    /// Over every connection that ended: socket reads and writes, bytes.
    pub socket_reads: u64,
    pub socket_writes: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// MQTT 5 topic aliases: topic bytes left out of PUBLISHes, and alias
    /// property bytes added to them.
    #[serde(default)]
    pub topic_alias_bytes_left_out: u64,
    #[serde(default)]
    pub topic_alias_bytes_added: u64,
    /// Tracked deliveries whose MQTT 5 user properties were checked against
    /// their publisher's, and those that did not match.
    #[serde(default)]
    pub user_properties_checked: u64,
    #[serde(default)]
    pub user_property_mismatches: u64,
    /// MQTT 3.1.1 `retry_interval`: PUBLISH (DUP) and PUBREL packets sent
    /// again on the same connection.
    #[serde(default)]
    pub publish_retries: u64,
    /// Writes that carried PUBLISHes, and those that carried more than one.
    #[serde(default)]
    pub publish_writes: u64,
    #[serde(default)]
    pub publish_writes_batched: u64,
    /// Reads that waited for a batching window's tick.
    #[serde(default)]
    pub paced_reads: u64,
}

/// Adds counts by key.
fn add_counts<K: Ord + Clone>(dst: &mut BTreeMap<K, u64>, src: &BTreeMap<K, u64>) {
    for (k, v) in src {
        *dst.entry(k.clone()).or_default() += v;
    }
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.connect_attempts += o.connect_attempts;
        self.connects += o.connects;
        for q in 0..3 {
            self.published[q] += o.published[q];
            self.received[q] += o.received[q];
        }
        self.rejected += o.rejected;
        self.reconnects += o.reconnects;
        self.unsolicited_acks += o.unsolicited_acks;
        self.publish_window_full += o.publish_window_full;
        self.socket_reads += o.socket_reads;
        self.socket_writes += o.socket_writes;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.topic_alias_bytes_left_out += o.topic_alias_bytes_left_out;
        self.topic_alias_bytes_added += o.topic_alias_bytes_added;
        self.user_properties_checked += o.user_properties_checked;
        self.user_property_mismatches += o.user_property_mismatches;
        self.publish_retries += o.publish_retries;
        self.publish_writes += o.publish_writes;
        self.publish_writes_batched += o.publish_writes_batched;
        self.paced_reads += o.paced_reads;
        add_counts(&mut self.connect_failures, &o.connect_failures);
        add_counts(&mut self.subscribe_failures, &o.subscribe_failures);
        add_counts(&mut self.publish_reasons, &o.publish_reasons);
    }

    pub fn published_total(&self) -> u64 {
        self.published.iter().sum()
    }

    pub fn received_total(&self) -> u64 {
        self.received.iter().sum()
    }
}

/// Latency histograms (microseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    #[serde(with = "hist")]
    pub connect: Histogram<u64>,
    #[serde(with = "hist")]
    pub connect_tcp: Histogram<u64>,
    /// The TLS handshake alone (mqtts://, wss://); empty without TLS.
    #[serde(with = "hist", default = "hist::new_histogram")]
    pub connect_tls: Histogram<u64>,
    /// The WebSocket handshake alone (ws://, wss://); empty without it.
    #[serde(with = "hist", default = "hist::new_histogram")]
    pub connect_ws: Histogram<u64>,
    #[serde(with = "hist")]
    pub e2e: Histogram<u64>,
    #[serde(with = "hist")]
    pub e2e_uncorrected: Histogram<u64>,
    #[serde(with = "hist")]
    pub ack: Histogram<u64>,
    #[serde(with = "hist")]
    pub suback: Histogram<u64>,
    /// How late each publish left against its slot in the schedule.
    #[serde(with = "hist")]
    pub publish_lag: Histogram<u64>,
    /// Per delivery with a kernel receive stamp: midge's taking it in minus
    /// the kernel's stamp (at least 1 µs); empty where none had one.
    #[serde(with = "hist", default = "hist::new_histogram")]
    pub receive_delay: Histogram<u64>,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            connect: hist::new_histogram(),
            connect_tcp: hist::new_histogram(),
            connect_tls: hist::new_histogram(),
            connect_ws: hist::new_histogram(),
            e2e: hist::new_histogram(),
            e2e_uncorrected: hist::new_histogram(),
            ack: hist::new_histogram(),
            suback: hist::new_histogram(),
            publish_lag: hist::new_histogram(),
            receive_delay: hist::new_histogram(),
        }
    }

    pub fn add(&mut self, o: &Latencies) {
        // Same bounds everywhere, so adding cannot fail.
        let _ = self.connect.add(&o.connect);
        let _ = self.connect_tcp.add(&o.connect_tcp);
        let _ = self.connect_tls.add(&o.connect_tls);
        let _ = self.connect_ws.add(&o.connect_ws);
        let _ = self.e2e.add(&o.e2e);
        let _ = self.e2e_uncorrected.add(&o.e2e_uncorrected);
        let _ = self.ack.add(&o.ack);
        let _ = self.suback.add(&o.suback);
        let _ = self.publish_lag.add(&o.publish_lag);
        let _ = self.receive_delay.add(&o.receive_delay);
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

/// What midge measured of itself (and of a broker it spawned) while publishing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorRecord {
    pub workers: usize,
    pub cpu_s: f64,
    pub wall_s: f64,
    pub rss_kib_at_publish_end: u64,
    /// Highest resident memory over the whole run, analysis included.
    pub peak_rss_kib: u64,
    /// How late a 10 ms timer fired on each worker.
    #[serde(with = "hist")]
    pub loop_delay: Histogram<u64>,
    pub broker_cpu_s: Option<f64>,
    pub broker_rss_kib: Option<u64>,
    /// The kernel's TCP sockets when publishing ended (/proc/net/sockstat);
    /// None where unreadable, and in records written before it.
    #[serde(default)]
    pub kernel_tcp: Option<KernelTcp>,
}

/// The kernel's TCP sockets at one moment, machine-wide (the network
/// namespace's /proc/net/sockstat): every process's sockets, a broker's
/// on this machine too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelTcp {
    /// Sockets in use (`inuse`: established and listening, not TIME_WAIT).
    pub sockets: u64,
    /// Memory charged to TCP sockets' queued data (`mem` pages × page size),
    /// in KiB: what their send and receive buffers hold, not their size limit
    /// nor the socket structures themselves.
    pub mem_kib: u64,
}

/// What the plan was made from, so that the same plan can be built again
/// for a re-analysis: the scenario as it was, the command line's overrides,
/// and what was chosen at run time (run id, client ids, source addresses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanIdentity {
    pub scenario_path: String,
    pub scenario_text: String,
    pub scenario_sha256: String,
    pub run_id: u64,
    /// `--broker`, when given.
    pub broker_override: Option<String>,
    /// `--duration`, when given.
    pub duration_override: Option<Duration>,
    /// Local addresses the clients connected from (empty: the kernel's choice).
    pub source_addrs: Vec<String>,
    /// Every planned client's id, in plan order (random schemes differ per build).
    /// On a shard: every client of the whole plan, not only the shard's.
    pub client_ids: Vec<String>,
    /// `--shard I/N`: the slice of the plan this run ran (None: all of it).
    #[serde(default)]
    pub shard: Option<ShardOf>,
    /// `--start-at`: when publishing was to start, Unix µs.
    #[serde(default)]
    pub start_at_unix_us: Option<u64>,
    /// `--broker-pid`: the process measured as the broker's, one midge did not start.
    #[serde(default)]
    pub broker_pid: Option<u32>,
}

/// When publishing ran (run-clock µs): the schedules start at `start_us`
/// and end at `end_us`; publishing stopped at `stopped_us` (earlier when
/// every counted publisher was done, or the run was interrupted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishWindow {
    pub start_us: u64,
    pub end_us: u64,
    pub stopped_us: u64,
}

/// How the drain after publishing went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecord {
    pub ended: DrainEnd,
    /// How long the drain lasted (the short one after a stop signal included).
    pub waited_us: u64,
    /// The quiet period at the end: max(300 ms, 2 × the slowest delivery seen).
    pub quiet_period_us: u64,
    /// QoS 1/2 publishes still unacknowledged when it ended.
    pub in_flight_at_end: u64,
    /// Clients waiting to reconnect when it ended.
    pub offline_at_end: u64,
    /// Subscribers back on a resumed session, owed a queue perhaps
    /// (something was published while they were away), that had received
    /// nothing on it when it ended (`Metrics::awaiting_backlog`).
    #[serde(default)]
    pub awaiting_backlog_at_end: u64,
}

/// Everything one run observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub format: u32,
    pub midge_version: String,
    pub plan: PlanIdentity,
    pub broker: BrokerRecord,
    /// A run of several brokers: the others, and e2e between them.
    #[serde(default, skip_serializing_if = "BrokersRecord::is_empty")]
    pub brokers: BrokersRecord,
    /// RFC 3339, seconds.
    pub started_at: String,
    /// The run clock's zero, Unix µs: every run-clock time in the record is
    /// µs after it (the merge of shards lines their clocks up by it).
    #[serde(default)]
    pub clock_start_unix_us: u64,
    /// With `--start-at`: how late publishing started against it (0: on time).
    #[serde(default)]
    pub start_late_us: Option<u64>,
    /// How long publishing lasted.
    pub publish_elapsed: Duration,
    /// When publishing ran (None: it never started).
    #[serde(default)]
    pub publishing: Option<PublishWindow>,
    /// The run was cut short (a signal); the figures cover what ran.
    /// Set in a snapshot taken while the run still goes on (the periodic
    /// report): run-clock µs up to which its figures are decided — every
    /// open connection is taken as ended here, so what was sent later is in
    /// flight, never lost. None in a finished run's record.
    #[serde(default)]
    pub as_of_us: Option<u64>,
    pub interrupted: bool,
    /// The signal that cut it short (None: it ran to its end).
    pub stop_signal: Option<StopSignal>,
    /// How the drain after publishing ended.
    pub drain: DrainRecord,
    /// Client tasks that did not finish and were not counted.
    pub lost_tasks: u64,
    /// Run-clock µs when every client had ended.
    pub run_end_us: u64,
    pub connected_peak: u64,
    pub counters: Counters,
    pub latencies: Latencies,
    pub timeseries: Vec<TimePoint>,
    pub clients: Vec<ClientRecord>,
    pub faults: FaultLog,
    pub generator: GeneratorRecord,
    /// `retained_cleanup` at the end of the run (None: nothing to clear, or off).
    #[serde(default)]
    pub retained_cleanup: Option<RetainedCleanup>,
    /// A merged run (`midge merge`): the shards it was made of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<shards::MergedFrom>,
}

/// The end-of-run clearing of the topics midge set retained messages on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainedCleanup {
    /// Topics an empty retained message was sent to.
    pub topics: u64,
    /// Of those, the ones the broker acknowledged (QoS 1).
    pub cleared: u64,
    /// Why it stopped short (cannot connect, a write failed).
    pub error: Option<String>,
}

impl RunRecord {
    /// Reads a record, refusing one of another layout.
    pub fn from_json(text: &str) -> Result<RunRecord, String> {
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let f: Format = serde_json::from_str(text).map_err(|e| format!("not a midge run record: {e}"))?;
        if f.format != RECORD_FORMAT {
            return Err(format!("record format {} is not the {RECORD_FORMAT} this midge reads", f.format));
        }
        serde_json::from_str(text).map_err(|e| format!("run record: {e}"))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record always serializes") + "\n"
    }
}
