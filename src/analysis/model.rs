//! The result model (`Report`), serialized as report.json — the contract
//! scripts and merges rely on. Field names are a contract: add freely, never
//! rename or drop one. Each figure is computed by one function of
//! `crate::analysis` (docs/ARCHITECTURE.md lists which).

use crate::analysis::evidence::Evidence;
use crate::record::vocab::{BatchMode, DrainEnd, FindingKind, LossWindow, StopSignal, Verdict};
use crate::record::{hist, Latencies};
use crate::scenario::CapacityVary;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::record::{FaultEvent, TimePoint};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema: u32,
    pub midge_version: String,
    pub scenario: ScenarioInfo,
    pub broker: BrokerInfo,
    pub started_at: String,
    pub duration_s: f64,
    pub run_id: String,
    /// True when the run was cut short (a signal); the figures cover what ran.
    pub interrupted: bool,
    /// True in the report midge rewrites while a run goes on (`report_every`):
    /// the figures so far, decided up to `as_of_s`. False in the final report.
    #[serde(default)]
    pub partial: bool,
    /// A partial report: run-clock seconds up to which messages are decided
    /// (later ones are in flight: published, not yet expected or lost).
    #[serde(default)]
    pub as_of_s: Option<f64>,
    /// The signal that cut it short: "SIGINT", "SIGTERM" or "SIGHUP"; null when none did.
    pub stop_signal: Option<StopSignal>,
    /// How the drain after publishing ended.
    pub drain: DrainInfo,
    pub clients: ClientsInfo,
    pub latency: LatencyInfo,
    pub messages: Messages,
    pub disconnects: Disconnects,
    /// Successful connections after a client's first.
    pub reconnects: u64,
    pub findings: Vec<Finding>,
    pub streams: Vec<StreamInfo>,
    /// Offline windows and broker restarts that lost or missed messages.
    pub loss_windows: Vec<LossWindowInfo>,
    /// Share groups of shared subscriptions: what each owed and got, and how
    /// the broker spread it over the members.
    #[serde(default)]
    pub shared_subscriptions: Vec<ShareInfo>,
    /// Clients whose connection dropped at least once, with their connections.
    pub client_timelines: Vec<ClientTimeline>,
    /// The scenario's faults as carried out.
    pub faults: Vec<FaultEvent>,
    /// midge's own load while publishing, and the saturation guard's verdict.
    pub load_generator: LoadGenerator,
    pub timeseries: Vec<TimePoint>,
    /// The scenario's `[[stage]]`s (empty without them), on the time
    /// series' clock.
    #[serde(default)]
    pub stages: Vec<StageInfo>,
    pub expectations: Vec<ExpectationResult>,
    pub verdict: Verdict,
    /// Why the run could not do what the scenario asked, if it could not.
    pub error: Option<String>,
    /// `midge capacity`: the search over steps (null for an ordinary run).
    #[serde(default)]
    pub capacity: Option<CapacityInfo>,
    /// Last wills: owed by killed connections, received by subscribers.
    #[serde(default)]
    pub wills: WillsInfo,
    /// Retained messages: set, replayed to subscriptions made later, cleared.
    #[serde(default)]
    pub retained: RetainedInfo,
    /// A shard's report (`--shard I/N`) or a merged one (`midge merge`);
    /// null for an ordinary run.
    #[serde(default)]
    pub shards: Option<ShardsInfo>,
}

/// `shards`: the slice a shard's report covers, or the shards of a merge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardsInfo {
    /// N of `--shard I/N`.
    pub count: u32,
    /// I: this report is that shard's alone (null in a merged report).
    pub shard: Option<u32>,
    /// Made by `midge merge` from every shard's record.
    pub merged: bool,
    /// Merged: the latest shard's publishing start minus the earliest's, ms.
    pub start_skew_ms: Option<f64>,
    /// With `--start-at`: how late publishing started against it, ms (the
    /// latest shard's, in a merged report).
    pub start_late_ms: Option<f64>,
    /// What a shard's report leaves to the merge, in words.
    pub accounted_by_merge_only: Vec<String>,
    /// Merged: each shard.
    pub parts: Vec<ShardPartInfo>,
    /// Merged: the quickest delivery from each shard's publishers to each
    /// shard's subscribers, send and receipt each on its own machine's clock.
    pub clock_pairs: Vec<ClockPairInfo>,
    /// Merged: how far an e2e latency measured between two shards can be
    /// off because their clocks differ (the worst pair; null when no pair
    /// of shards has deliveries both ways to bound it).
    pub cross_shard_latency_bound_ms: Option<f64>,
}

/// The quickest delivery from one shard's publishers to another's subscribers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClockPairInfo {
    pub from: u32,
    pub to: u32,
    /// Receipt minus send, ms; negative when the clocks differ by more than the delay.
    pub min_one_way_ms: f64,
}

/// One shard of a merged run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardPartInfo {
    pub index: u32,
    pub clients: u64,
    /// How much later than the earliest shard's its clock started, ms.
    pub clock_offset_ms: f64,
    pub start_late_ms: Option<f64>,
    /// When its publishing started, s on the merged clock.
    pub publish_start_s: Option<f64>,
    pub midge_version: String,
}

/// Last wills (`session::wills`). A will is owed to every subscriber whose
/// filter matches its topic and whose subscription was live when the broker
/// had to publish it, for every connection a `kill` fault ended (not when
/// the client reconnected within an MQTT 5 will delay). Wills are not
/// tracked messages: never in `messages`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WillsInfo {
    /// (subscriber, connection) pairs owed a will.
    pub expected: u64,
    /// Owed pairs that received it.
    pub received: u64,
    pub missing: u64,
    /// Further copies of a will already received.
    pub duplicated: u64,
    /// Wills of this run received though not owed (a close midge did not
    /// make: takeover, broker restart, network).
    pub unexpected: u64,
    /// From the kill to the will's first delivery, over the owed pairs received.
    pub latency_ms: Option<SpreadMs>,
}

/// p50, p99 and max of a few samples, in milliseconds (nearest rank).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SpreadMs {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Retained messages (`session::retained`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RetainedInfo {
    /// Topics a retained message of this run got out to.
    pub topics_set: u64,
    /// Per subscription (each SUBSCRIBE a subscriber made): the retained
    /// topics it matches whose message had got out before it connected.
    pub expected_replays: u64,
    /// Retained replays of this run received (= `messages.retained_replays`).
    pub replays_received: u64,
    /// Owed replays per (subscriber, topic) that never came.
    pub missing: u64,
    /// Replays beyond those owed (a message that raced the subscription, or a repeat).
    pub extra: u64,
    /// Retained replays left on the broker by an earlier run (also in `messages.stale`).
    pub leftover_replays: u64,
    /// `retained_cleanup`: topics midge cleared at the end (null: no cleanup ran).
    pub cleared: Option<u64>,
    /// Why the cleanup stopped short, if it did.
    pub cleanup_error: Option<String>,
}

/// A capacity search (`midge capacity`): each step one run of the scenario
/// with the stepped groups' clients (or publish rate) set to the step's
/// value, judged by `[capacity.pass]`. Filled by `crate::capacity`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CapacityInfo {
    /// What stepped: "clients", "rate" or "both".
    #[serde(serialize_with = "vary_name")]
    pub vary: CapacityVary,
    /// The groups whose load stepped.
    pub groups: Vec<String>,
    /// Publishing time of each step, in seconds.
    pub hold_s: f64,
    /// The broker every step ran against.
    pub broker_url: String,
    pub broker_kind: String,
    /// The spawned broker was started afresh before every step
    /// (`[capacity] fresh_broker`), rather than once for the search.
    pub fresh_broker: bool,
    /// In the order they ran: the ladder, then the bisection.
    pub steps: Vec<CapacityStep>,
    /// The largest value that passed below `first_fail` (null: none passed).
    pub last_pass: Option<f64>,
    /// The smallest value that failed (null: none failed).
    pub first_fail: Option<f64>,
    /// Why the search stopped, in words.
    pub reason: String,
}

/// One step of a capacity search: one run, its folder `steps/NN/`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CapacityStep {
    /// The step's folder, relative to the capacity run's: "steps/01".
    pub dir: String,
    /// Clients per stepped group, or msg/s per client.
    pub value: f64,
    /// Clients of the stepped groups, together.
    pub clients: u64,
    /// msg/s per client of the (first) stepped publishing group; 0 when none publishes.
    pub rate_per_client: f64,
    /// What the broker owed the subscribers (`messages.expected`).
    pub offered: u64,
    /// What they got (`messages.received`).
    pub delivered: u64,
    pub lost: u64,
    /// Failed connection attempts, every cause.
    pub connect_failures: u64,
    pub e2e_p50_us: u64,
    pub e2e_p99_us: u64,
    pub connect_p99_us: u64,
    /// CPU seconds the broker used over the whole step (connect, publish,
    /// drain); null unless midge started it.
    pub broker_cpu_s: Option<f64>,
    /// The broker's resident memory at the step's end; null unless midge started it.
    pub broker_rss_kib: Option<u64>,
    /// `load_generator.cpu_utilization` of the step.
    pub midge_cpu_utilization: f64,
    pub pass: bool,
    /// Not judged: midge was saturated (or a signal stopped the step).
    pub invalid: bool,
    /// The rules that failed (or why the step is invalid), in words.
    pub why: Vec<String>,
}

/// One `[[stage]]`: when it ran (seconds on the run clock, as
/// `timeseries[].t_s`) and where it left each group's rate and clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageInfo {
    /// From 1, in the scenario's order.
    pub index: u32,
    pub start_s: f64,
    pub end_s: f64,
    /// Messages per second per client of each publishing group, at the end.
    pub rate: std::collections::BTreeMap<String, f64>,
    /// Connected clients of each group planned at the end.
    pub clients: std::collections::BTreeMap<String, u32>,
}

/// How the drain after publishing ended, and what was still outstanding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrainInfo {
    pub ended: DrainEnd,
    pub waited_s: f64,
    /// max(300 ms, 2 × the slowest delivery seen), at the end.
    pub quiet_period_ms: u64,
    /// QoS 1/2 publishes still unacknowledged at the end.
    pub in_flight_at_end: u64,
    /// Clients still waiting to reconnect at the end.
    pub offline_at_end: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioInfo {
    pub name: String,
    pub sha256: String,
    pub file: String,
    pub protocol: String,
    pub planned_duration_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BrokerInfo {
    pub url: String,
    pub kind: String,
    /// The configuration midge generated when it started the broker.
    pub config: Option<String>,
    /// The broker's own counters: the last value of each `$SYS/#` topic it
    /// published during the run (empty when it publishes none).
    #[serde(default)]
    pub sys: std::collections::BTreeMap<String, String>,
    /// The broker's main counters round by round ($SYS, on the run clock;
    /// empty when it publishes none).
    #[serde(default)]
    pub sys_series: Vec<crate::record::SysPoint>,
    /// TLS as the clients used it (mqtts://, wss://): `insecure` (the
    /// broker's certificate NOT verified), the negotiated protocol version
    /// and cipher suite. Null without TLS.
    #[serde(default)]
    pub tls: Option<crate::record::TlsRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientsInfo {
    pub planned: u64,
    pub connected_peak: u64,
    pub connect_attempts: u64,
    /// Connection attempts the broker accepted (CONNACK success).
    #[serde(default)]
    pub connects: u64,
    pub connect_failures: BTreeMap<String, u64>,
    pub subscribe_failures: BTreeMap<String, u64>,
    /// Connections a client stage's ramp down ended on plan (midge's
    /// DISCONNECT mid-run): no disconnect, no failure.
    #[serde(default)]
    pub planned_leaves: u64,
    /// Connections of clients back after a planned leave (a later stage
    /// ramping up again): not reconnects.
    #[serde(default)]
    pub rejoins: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// The HDR histogram, V2-serialized, base64.
    pub hdr: String,
}

impl LatencySummary {
    pub fn from_histogram(h: &Histogram<u64>) -> LatencySummary {
        let empty = h.is_empty();
        let q = |x: f64| if empty { 0 } else { h.value_at_quantile(x) };
        LatencySummary {
            count: h.len(),
            min_us: if empty { 0 } else { h.min() },
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if empty { 0 } else { h.max() },
            mean_us: if empty { 0.0 } else { (h.mean() * 10.0).round() / 10.0 },
            hdr: hist::encode(h),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencyInfo {
    /// TCP connect start to CONNACK.
    pub connect: LatencySummary,
    /// TCP handshake only.
    pub connect_tcp: LatencySummary,
    /// TLS handshake only (count 0 without TLS).
    #[serde(default)]
    pub connect_tls: LatencySummary,
    /// WebSocket handshake only (count 0 without a WebSocket).
    #[serde(default)]
    pub connect_ws: LatencySummary,
    /// Intended send time to receipt (coordinated-omission corrected).
    pub e2e: LatencySummary,
    /// Actual send time to receipt.
    pub e2e_uncorrected: LatencySummary,
    /// PUBLISH to PUBACK (QoS 1) or PUBCOMP (QoS 2).
    pub ack: LatencySummary,
    /// SUBSCRIBE to SUBACK.
    pub suback: LatencySummary,
}

impl LatencyInfo {
    pub fn from(l: &Latencies) -> LatencyInfo {
        LatencyInfo {
            connect: LatencySummary::from_histogram(&l.connect),
            connect_tcp: LatencySummary::from_histogram(&l.connect_tcp),
            connect_tls: LatencySummary::from_histogram(&l.connect_tls),
            connect_ws: LatencySummary::from_histogram(&l.connect_ws),
            e2e: LatencySummary::from_histogram(&l.e2e),
            e2e_uncorrected: LatencySummary::from_histogram(&l.e2e_uncorrected),
            ack: LatencySummary::from_histogram(&l.ack),
            suback: LatencySummary::from_histogram(&l.suback),
        }
    }
}

/// Message counters for one QoS level (the same counters as the totals).
pub use crate::analysis::tally::Counts as QosCounts;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Messages {
    pub published: u64,
    pub acked: u64,
    pub expected: u64,
    /// Distinct tracked messages received, summed over streams.
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub in_doubt: u64,
    /// midge messages from an earlier run (retained or queued).
    pub stale: u64,
    /// Messages without midge's header (someone else's traffic).
    pub foreign: u64,
    /// Replays of this run's retained messages on subscribe (RETAIN set on
    /// delivery): required by the protocol, so never duplicates and never
    /// latency samples.
    #[serde(default)]
    pub retained_replays: u64,
    /// QoS 1/2 publishes the broker refused with an error reason code.
    pub rejected: u64,
    /// Messages the publishers' schedules made due but midge never sent
    /// (publisher offline, inflight window full, broker not accepting).
    #[serde(default)]
    pub unsent: u64,
    /// PUBLISH packets delivered, duplicates included.
    pub deliveries: u64,
    /// Acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK) for a
    /// packet id midge had nothing in flight under: a broker bug, or a
    /// resend after a lost acknowledgement.
    #[serde(default)]
    pub unsolicited_acks: u64,
    /// PUBACK / PUBREC / PUBCOMP reason codes other than success (MQTT 5),
    /// by name: refusals (≥ 0x80, also in `rejected`) and
    /// `no_matching_subscribers` (0x10).
    #[serde(default)]
    pub publish_reasons: BTreeMap<String, u64>,
    /// Lost messages by the window they fell in: steady, subscriber_offline,
    /// publisher_offline, broker_restart, session_lost (and session_expired,
    /// always 0: what falls after an expiry is missed, never lost).
    #[serde(serialize_with = "loss_windows_by_name")]
    pub lost_by_window: BTreeMap<LossWindow, u64>,
    /// Got out while a clean-session subscriber was offline: not expected, not lost.
    pub missed_offline: u64,
    /// Got out while a persistent-session subscriber was offline: expected (the broker must queue them).
    pub queued_offline: u64,
    pub streams: u64,
    pub by_qos: BTreeMap<String, QosCounts>,
    /// MQTT 5: sent with a message expiry while a persistent subscriber was
    /// away, and past it when the subscriber came back: the broker discards
    /// them, so they are neither expected nor lost.
    #[serde(default)]
    pub expired: u64,
    /// MQTT 5 topic aliases: topic bytes left out of PUBLISHes less the
    /// alias property bytes added (negative if aliases cost more than they saved).
    #[serde(default)]
    pub topic_alias_bytes_saved: i64,
    /// MQTT 5 user properties: tracked deliveries checked against what their
    /// publisher sent, and those that differed (missing, changed, reordered).
    #[serde(default)]
    pub user_properties_checked: u64,
    #[serde(default)]
    pub user_property_mismatches: u64,
    /// MQTT 3.1.1 `retry_interval`: unacknowledged PUBLISH (DUP) and PUBREL
    /// packets sent again on the same connection.
    #[serde(default)]
    pub publish_retries: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Disconnects {
    pub total: u64,
    pub by_cause: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub kind: FindingKind,
    pub summary: String,
    pub client_ids: Vec<String>,
    pub count: u64,
    pub first_s: f64,
    pub last_s: f64,
    pub evidence: Evidence,
}

/// One (publisher, subscriber) stream with anything worth a look.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamInfo {
    pub publisher: String,
    pub subscriber: String,
    pub qos: u8,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// First lost sequence numbers, as [start, end) ranges.
    pub lost_seqs: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExpectationResult {
    pub name: String,
    /// For people: "<= 0", ">= 100", "<= 50000 us".
    pub threshold: String,
    /// The observed value (null when there was nothing to observe).
    pub observed: Option<u64>,
    pub pass: bool,
    /// For scripts: the comparison ("<=" or ">="), the limit and its unit ("count" or "us").
    pub op: Comparison,
    pub limit: u64,
    pub unit: LimitUnit,
}

/// How an expectation holds its observed value against its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = ">=")]
    AtLeast,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::AtMost => "<=",
            Comparison::AtLeast => ">=",
        }
    }
}

/// What an expectation's limit counts: messages and failures, or microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitUnit {
    Count,
    Us,
}

impl LimitUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitUnit::Count => "count",
            LimitUnit::Us => "us",
        }
    }
}

/// One share group (`$share/{group}/{filter}`): a matching message is owed
/// once to the group while any member is live.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShareInfo {
    pub filter: String,
    pub members: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    /// Delivered to more than one member (or twice to one).
    pub duplicated: u64,
    /// Distinct messages each member received, by client id.
    pub per_member: BTreeMap<String, u64>,
    /// The smallest and largest member's part of what the group received, in percent.
    pub min_share_pct: f64,
    pub max_share_pct: f64,
    /// 100 / members: each member's part of an even spread, in percent.
    #[serde(default)]
    pub fair_share_pct: f64,
    /// How uneven the spread was: the largest distance of a member's part
    /// from the fair share, in percentage points.
    #[serde(default)]
    pub max_deviation_pct: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LossWindowInfo {
    /// subscriber_offline, publisher_offline, broker_restart, session_lost,
    /// or session_expired (which only ever misses: nothing was owed).
    pub kind: LossWindow,
    /// The client whose window it is (null for a broker restart).
    pub client: Option<String>,
    pub start_s: f64,
    pub end_s: f64,
    pub lost: u64,
    pub missed_offline: u64,
}

/// One connection attempt in a client's timeline (run time in seconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConnectionInfo {
    pub attempt_s: f64,
    pub connected_s: Option<f64>,
    pub session_present: bool,
    pub live_s: Option<f64>,
    pub ended_s: f64,
    /// Why it ended (null: midge's own DISCONNECT at the end of the run).
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientTimeline {
    pub client: String,
    pub group: String,
    pub connections: Vec<ConnectionInfo>,
}

/// midge measuring itself: when it, not the broker, is the bottleneck,
/// every latency and rate in the report describes midge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadGenerator {
    pub workers: u64,
    /// CPU seconds midge used while publishing.
    pub cpu_s: f64,
    /// cpu_s / (publishing wall time × workers).
    pub cpu_utilization: f64,
    /// Highest resident memory over the whole run (report building included).
    pub peak_rss_kib: u64,
    /// Resident memory when publishing ended, every client still connected:
    /// what holding the swarm costs.
    pub rss_kib_at_publish_end: u64,
    /// rss_kib_at_publish_end over the peak of connected clients (process
    /// baseline included); null when nobody connected.
    pub rss_bytes_per_connected_client: Option<u64>,
    /// How late a 10 ms timer fired on midge's runtime (event-loop delay).
    pub loop_delay: LatencySummary,
    /// How late publishes left against their constant-rate slots.
    pub publish_lag: LatencySummary,
    pub saturated: bool,
    pub reasons: Vec<String>,
    /// Local addresses the clients connected from (empty: the kernel's choice).
    pub source_addrs: Vec<String>,
    /// CPU seconds the broker used while publishing: the spawned one, or the
    /// process `--broker-pid` names (null for other brokers).
    pub broker_cpu_s: Option<f64>,
    /// Resident memory of the spawned broker when publishing ended (null for other brokers).
    pub broker_rss_kib: Option<u64>,
    /// The scenario's `batch_window` in µs (0: none): latency figures are
    /// no finer than this.
    pub batch_window_us: u64,
    /// Per publishing group: the rate asked for and the rate achieved.
    pub publish_rates: Vec<PublishRate>,
    /// Times a publisher had a message due and a full inflight window: the
    /// broker's acknowledgements, not midge, set the pace then.
    #[serde(default)]
    pub publish_window_full: u64,
    /// Socket reads (that brought data) and writes of every client
    /// connection, and their bytes: with deliveries and publishes, how many
    /// packets midge moves per system call.
    pub socket_reads: u64,
    pub socket_writes: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// How midge batched: `adaptive` (no `batch_window`: busy connections
    /// only, up to 1 ms), `fixed` (a positive `batch_window`), `off` (zero).
    #[serde(default = "default_batch_mode")]
    pub batch_mode: BatchMode,
    /// Writes that carried PUBLISHes (one per publisher wake-up that sent),
    /// and those that carried more than one.
    #[serde(default)]
    pub publish_writes: u64,
    #[serde(default)]
    pub publish_writes_batched: u64,
    /// publish_writes_batched / publish_writes (null: nothing published).
    #[serde(default)]
    pub batched_publish_share: Option<f64>,
    /// Socket reads that waited for a batching window's tick (in
    /// `socket_reads` too); 0 when nothing was busy enough to batch.
    #[serde(default)]
    pub paced_reads: u64,
}

/// `capacity.vary` in report.json: the scenario's word for it.
fn vary_name<S: serde::Serializer>(vary: &CapacityVary, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(vary.as_str())
}

/// `lost_by_window` in report.json: keyed by the windows' names, in the
/// order of those names (as it was when the map was keyed by strings), not
/// in the enum's order.
fn loss_windows_by_name<S: serde::Serializer>(m: &BTreeMap<LossWindow, u64>, s: S) -> Result<S::Ok, S::Error> {
    let by_name: BTreeMap<&str, u64> = m.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    by_name.serialize(s)
}

/// Reports written before `batch_mode` had only the fixed window or none.
fn default_batch_mode() -> BatchMode {
    BatchMode::Off
}

/// How closely a group's publishers kept their schedule over the whole
/// publishing period: what they sent against what their schedules made due.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishRate {
    pub group: String,
    pub arrival: String,
    /// Publishers whose schedule made anything due.
    pub publishers: u64,
    /// The asked rate: rate × publishers.
    pub target_msgs_per_s: f64,
    /// target × sent / due.
    pub achieved_msgs_per_s: f64,
    /// (sent − due) / due, in percent.
    pub deviation_pct: f64,
    /// Messages the schedules made due while publishing ran (`count` at most).
    #[serde(default)]
    pub due: u64,
    /// Messages written.
    #[serde(default)]
    pub sent: u64,
    /// Due but never sent (publisher offline, inflight window full, broker not accepting).
    #[serde(default)]
    pub unsent: u64,
    /// The sum over publishers of (messages − 1) / (last send − first send):
    /// the pace while they were sending.
    #[serde(default)]
    pub span_msgs_per_s: f64,
}

/// How many client timelines report.json lists one by one.
pub const MAX_LISTED_TIMELINES: usize = 100;

/// How many streams report.json lists one by one (the ones with trouble first).
pub const MAX_LISTED_STREAMS: usize = 200;
