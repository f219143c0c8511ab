//! report.json `brokers` (each of the run's brokers as its clients found
//! it) and `broker_pairs` (e2e from publishers on one broker to subscribers
//! on another: cross-node delivery in a cluster or a bridge).

use super::SysRunInfo;
use serde::{Deserialize, Serialize};

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
