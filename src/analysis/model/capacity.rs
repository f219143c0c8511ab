//! `capacity` of report.json: a `midge capacity` search, filled by
//! `crate::capacity`.

use crate::record::vocab::ReceiveTime;
use crate::scenario::CapacityVary;
use serde::{Deserialize, Serialize};

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
    /// What the broker owed the subscribers (`messages.expected`): load
    /// that never connected, was never sent or was refused is not in it.
    pub offered: u64,
    /// What the plan asked for: over its streams, what each publisher's
    /// schedule makes due over the hold (clients planned × rate × hold, per
    /// subscriber; `capacity::rule::planned_offered`).
    #[serde(default)]
    pub planned_offered: u64,
    /// delivered / planned_offered (1 when the plan offered nothing).
    #[serde(default)]
    pub delivered_ratio: f64,
    /// What they got (`messages.received`).
    pub delivered: u64,
    pub lost: u64,
    /// Failed connection attempts, every cause.
    pub connect_failures: u64,
    /// Clients of the stepped groups that never connected.
    #[serde(default)]
    pub never_connected: u64,
    pub e2e_p50_us: u64,
    pub e2e_p99_us: u64,
    /// Which e2e the step's figures (and its `e2e_p99` rule) are: from the
    /// intended send (midge's send lag included) to this receive time
    /// (`latency.own.e2e_receive_time`: the kernel's stamp leaves midge's
    /// receive delay out).
    #[serde(default)]
    pub e2e_receive_time: ReceiveTime,
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

/// `capacity.vary` in report.json: the scenario's word for it.
fn vary_name<S: serde::Serializer>(vary: &CapacityVary, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(vary.as_str())
}
