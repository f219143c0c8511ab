//! The result model (`Report`), serialized as report.json — the contract
//! scripts and merges rely on. Field names are a contract: add freely, never
//! rename or drop one. Each figure is computed by one function of
//! `crate::analysis` (docs/ARCHITECTURE.md lists which).
//!
//! Typed through to the renderers: what code matches on is an enum of
//! `record::vocab` (finding kinds, loss windows, verdicts), of the scenario
//! (`CapacityVary`) or of this model (`Comparison`, `LimitUnit`), and a
//! finding's evidence is one struct per kind (`analysis::evidence`). Where
//! report.json's bytes depend on more than the types — a map keyed by an enum
//! written in the order of its names (`lost_by_window`, `by_cause`, …) — `record::names`
//! keeps them as they were. The sections with a job of their own are in the
//! submodules (capacity, expectation, generator, latency, shards), which are
//! private: their types are reached as `analysis::model::X` (and, with the
//! whole model, as `report::X`).
//!
//! docs/report.schema.json describes every field; `tests/report_schema.rs`
//! holds the model to it.

use crate::analysis::evidence::Evidence;
use crate::record::names::serde_by_name;
use crate::record::vocab::{Cause, DrainEnd, FindingKind, LossWindow, ReasonCode, StopSignal, SubackFailure, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::record::{FaultEvent, TimePoint};

mod capacity;
mod expectation;
mod generator;
mod keys;
mod latency;
mod shards;

pub use capacity::{CapacityInfo, CapacityStep};
pub use expectation::{Comparison, ExpectationResult, LimitUnit};
pub use generator::{LoadGenerator, PublishRate};
pub use keys::{ClientId, GroupName, SysTopic};
pub use latency::{LatencyInfo, LatencySummary, OwnPart};
pub use shards::{ClockPairInfo, ShardPartInfo, ShardsInfo};

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
    /// The scenario's `[expect]`, and the QoS contract where it sets nothing
    /// (`default: true`).
    pub expectations: Vec<ExpectationResult>,
    /// pass, fail, or interrupted (a signal stopped the run: not judged).
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
    /// Each broker of the run as its clients found it: one entry per URL
    /// (one for a run of one broker).
    #[serde(default)]
    pub brokers: Vec<BrokerStats>,
    /// A run of several brokers: e2e per (publisher's broker → subscriber's
    /// broker) pair that delivered; empty with one broker.
    #[serde(default)]
    pub broker_pairs: Vec<BrokerPairInfo>,
    /// Publishers this run's subscribers heard (its run id in their tracking
    /// headers) that its plan does not hold: a `midge sub` run's view of a
    /// `midge pub` run (`unplanned::unplanned_publishers`). Owed nothing.
    #[serde(default)]
    pub unplanned_publishers: Vec<UnplannedPublisher>,
}

/// One publisher the plan does not hold, as this run's subscribers heard it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UnplannedPublisher {
    /// Its number in the tracking header (the other run's publisher index).
    pub publisher: u32,
    /// Subscribers that got at least one of its messages.
    pub subscribers: u32,
    /// Distinct messages, summed over those subscribers.
    pub received: u64,
    /// The lowest and highest sequence number any of them got.
    pub first_seq: u64,
    pub last_seq: u64,
    /// Sequence numbers missing between the first and last each subscriber
    /// got, summed over the subscribers.
    pub gaps: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// The quickest delivery, receipt minus send time, µs (null: not measured).
    pub min_one_way_us: Option<i64>,
    /// The slowest delivery, likewise.
    pub max_one_way_us: Option<i64>,
}

// report.json `brokers` (each of the run's brokers as its clients found
// it) and `broker_pairs` (e2e from publishers on one broker to subscribers
// on another: cross-node delivery in a cluster or a bridge).

/// One broker of the run (`analysis::brokers::per_broker`); a run of one
/// broker has one.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BrokerStats {
    /// The broker's URL (the key).
    pub url: String,
    /// embedded, mosquitto (spawned) or external.
    pub kind: String,
    /// Clients planned on it (a group's own `broker`, or round-robin over a list).
    pub clients: u64,
    /// Of those, the ones that connected at least once.
    pub connected: u64,
    /// Of those, the ones that never connected.
    pub failed: u64,
    /// Connection attempts of its clients that failed.
    pub connect_failures: u64,
    /// Connections of its clients that came up and ended otherwise than by
    /// midge's own DISCONNECT.
    pub disconnects: u64,
    /// Connect latency (TCP connect to CONNACK) of its clients' connections,
    /// exact (nearest rank); null when none connected.
    pub connect_p50_us: Option<u64>,
    pub connect_p99_us: Option<u64>,
    /// Its `$SYS` counters over the run's own window (as `broker.sys_run`).
    #[serde(default)]
    pub sys_run: Option<SysRunInfo>,
}

/// Deliveries from publishers on broker `from` to subscribers on broker
/// `to` (`analysis::brokers::broker_pairs`); only in a run of several brokers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BrokerPairInfo {
    pub from: String,
    pub to: String,
    /// Deliveries counted in the e2e latency (first copies and duplicates alike).
    pub deliveries: u64,
    /// e2e latency from the intended send (HDR histogram quantiles).
    pub e2e_p50_us: u64,
    pub e2e_p99_us: u64,
    pub e2e_max_us: u64,
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
    /// Owed pairs that never received it although it was due while the
    /// subscriber still listened.
    pub missing: u64,
    /// Owed pairs that never received it, whose subscriber stopped listening
    /// before the will had to have arrived (its delay plus the broker's
    /// will-delay granularity, 1 s): not yet due, not missing (a `drain`
    /// too short to wait for it).
    #[serde(default)]
    pub not_yet_due: u64,
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

/// One `[[stage]]`: when it ran (seconds on the run clock, as
/// `timeseries[].t_s`) and where it left each group's rate and clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageInfo {
    /// From 1, in the scenario's order.
    pub index: u32,
    pub start_s: f64,
    pub end_s: f64,
    /// Messages per second per client of each publishing group, at the end.
    pub rate: BTreeMap<GroupName, f64>,
    /// Connected clients of each group planned at the end.
    pub clients: BTreeMap<GroupName, u32>,
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
    /// Subscribers back on a resumed session after publishes that had
    /// received nothing on it at the end: the broker had not begun to send
    /// what it may hold for them.
    #[serde(default)]
    pub awaiting_backlog_at_end: u64,
    /// `ended: time_limit`: what was still arriving when the drain ran out
    /// (`build::still_arriving`); null otherwise.
    #[serde(default)]
    pub still_arriving: Option<StillArriving>,
}

/// A drain that ran out of time: the deliveries of the time series'
/// seconds that cover its last quiet period, and the end-to-end latency
/// then — messages still on their way, not lost by the broker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StillArriving {
    /// Run-clock seconds the counted time series points cover.
    pub from_s: f64,
    pub to_s: f64,
    /// Deliveries in them.
    pub deliveries: u64,
    /// The largest e2e p99 among them, µs (null: no sample).
    pub e2e_p99_us: Option<u64>,
    /// Of `messages.lost`, those sent within that e2e p99 of the drain's
    /// end: likely still on their way, not lost by the broker (null without
    /// an e2e sample, or when a stream kept only its first lost ranges).
    #[serde(default)]
    pub lost_sent_late: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioInfo {
    pub name: String,
    pub sha256: String,
    pub file: String,
    pub protocol: String,
    pub planned_duration_s: f64,
    /// A bug reproduction: what its `[expect] shows` says the run shows,
    /// as the scenario writes it (`kind` or `spec_violation:rule`); empty
    /// for an ordinary run. Its PASS means the broker showed it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shows: Vec<String>,
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
    pub sys: BTreeMap<SysTopic, String>,
    /// The broker's main counters round by round ($SYS, on the run clock;
    /// empty when it publishes none).
    #[serde(default)]
    pub sys_series: Vec<crate::record::SysPoint>,
    /// TLS as the clients used it (mqtts://, wss://): `insecure` (the
    /// broker's certificate NOT verified), the negotiated protocol version
    /// and cipher suite. Null without TLS.
    #[serde(default)]
    pub tls: Option<crate::record::TlsRecord>,
    /// The `$SYS` counters over the run's own window (`analysis::sys_run`);
    /// null when no round of them began inside the run.
    #[serde(default)]
    pub sys_run: Option<SysRunInfo>,
    /// `--broker-pid`: the process midge measured as the broker's (CPU,
    /// RSS), which it did not start; null otherwise.
    #[serde(default)]
    pub pid_given: Option<u32>,
}

/// The broker's own counters over the run: each one's rise from the first
/// `$SYS` round inside the run to the last (null: fewer than two rounds, or
/// never published), the rounds' times and how old the last was at the end.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SysRunInfo {
    /// Run-clock seconds when the first and the last round inside the run began.
    pub from_s: f64,
    pub to_s: f64,
    pub rounds: u64,
    /// PUBLISH packets received, sent, and messages dropped between them.
    pub received: Option<u64>,
    pub sent: Option<u64>,
    pub dropped: Option<u64>,
    /// `$SYS/broker/clients/connected` at the last round.
    pub clients_at_last_round: Option<u64>,
    /// From the last round's start to the run's end, seconds.
    pub last_round_age_s: f64,
    /// The median spacing of the rounds, seconds (null with one round).
    pub round_every_s: Option<f64>,
    /// The broker's `sys_interval` when midge wrote its configuration.
    pub sys_interval_s: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientsInfo {
    pub planned: u64,
    pub connected_peak: u64,
    pub connect_attempts: u64,
    /// Connection attempts the broker accepted (CONNACK success).
    #[serde(default)]
    pub connects: u64,
    /// Failed connection attempts by cause.
    #[serde(with = "serde_by_name")]
    pub connect_failures: BTreeMap<Cause, u64>,
    /// Refused subscriptions by SUBACK failure.
    #[serde(with = "serde_by_name")]
    pub subscribe_failures: BTreeMap<SubackFailure, u64>,
    /// Connections a client stage's ramp down ended on plan (midge's
    /// DISCONNECT mid-run): no disconnect, no failure.
    #[serde(default)]
    pub planned_leaves: u64,
    /// Connections of clients back after a planned leave (a later stage
    /// ramping up again): not reconnects.
    #[serde(default)]
    pub rejoins: u64,
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
    #[serde(default, with = "serde_by_name")]
    pub publish_reasons: BTreeMap<ReasonCode, u64>,
    /// Lost messages by the window they fell in: steady, subscriber_offline,
    /// publisher_offline, broker_restart, session_lost (and session_expired,
    /// always 0: what falls after an expiry is missed, never lost).
    #[serde(with = "serde_by_name")]
    pub lost_by_window: BTreeMap<LossWindow, u64>,
    /// Got out while a clean-session subscriber was offline: not expected, not lost.
    pub missed_offline: u64,
    /// Got out while a persistent-session subscriber was offline: expected (the broker must queue them).
    pub queued_offline: u64,
    pub streams: u64,
    /// By QoS level (0, 1, 2; JSON writes the keys as strings).
    pub by_qos: BTreeMap<u8, QosCounts>,
    /// MQTT 5: sent with a message expiry while a persistent subscriber was
    /// away, and past it when the subscriber came back: the broker discards
    /// them, so they are neither expected nor lost.
    #[serde(default)]
    pub expired: u64,
    /// Owed to a subscriber midge itself was holding back when the run ended
    /// (a stall still on, a `max_rate` backlog, a delay fault) and sent after
    /// its last delivery on the stream: the broker still held them. In
    /// `expected`, never in `lost`.
    #[serde(default)]
    pub held_by_broker: u64,
    /// Got out to a subscriber but larger, as delivered, than the MQTT 5
    /// Maximum Packet Size it (midge) announced: the broker must discard
    /// them. Not expected, not lost.
    #[serde(default)]
    pub over_max_packet_size: u64,
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
    #[serde(with = "serde_by_name")]
    pub by_cause: BTreeMap<Cause, u64>,
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
    /// Still held by the broker for this subscriber when the run ended (see `Messages::held_by_broker`).
    #[serde(default)]
    pub held_by_broker: u64,
    /// First lost sequence numbers, as [start, end) ranges.
    pub lost_seqs: Vec<(u64, u64)>,
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
    pub per_member: BTreeMap<ClientId, u64>,
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

/// How many client timelines report.json lists one by one.
pub const MAX_LISTED_TIMELINES: usize = 100;

/// How many streams report.json lists one by one (the ones with trouble first).
pub const MAX_LISTED_STREAMS: usize = 200;
