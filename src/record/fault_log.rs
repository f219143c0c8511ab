//! What the scenario's faults did, as carried out (`faults::schedule::run`,
//! `faults::twin::run`): the events report.json lists, and what loss
//! attribution and the detectors need — broker restarts, proxy hits,
//! malformed sends, duplicate-ids twins.

use super::vocab::{Cause, FaultKind};
use serde::{Deserialize, Serialize};

/// A fault as it was carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    pub action: FaultKind,
    /// Run time when it began, in seconds.
    pub at_s: f64,
    /// When it ended (blackhole, delay, restart); null for instant faults.
    pub until_s: Option<f64>,
    /// How many planned clients it was aimed at (all of them when no group was named).
    pub clients: u64,
    pub error: Option<String>,
}

/// One connection of a duplicate-ids twin (run-clock µs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwinConnection {
    pub connected_us: u64,
    pub ended_us: u64,
    /// None when the twin left at the end of the fault.
    pub cause: Option<Cause>,
}

/// The twin of a `duplicate-ids` fault: its connections and what it took in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwinRecord {
    pub client_id: String,
    /// The planned client whose id it shares.
    pub of_client: u32,
    pub connections: Vec<TwinConnection>,
    /// Messages the broker delivered to the twin instead.
    pub deliveries: u64,
}

/// What the scenario's faults did, and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultLog {
    pub events: Vec<FaultEvent>,
    /// Broker restarts: (killed, listening again), run-clock µs.
    pub restarts: Vec<(u64, u64)>,
    /// Proxy faults: (from, to, client indices hit; empty = all), run-clock
    /// µs. A cut lasts an instant; a blackhole or delay its `for`.
    pub hits: Vec<(u64, u64, Vec<u32>)>,
    /// Malformed packets sent: (when, client indices).
    pub malformed: Vec<(u64, Vec<u32>)>,
    /// The twins of duplicate-ids faults.
    pub twins: Vec<TwinRecord>,
}
