//! The `[capacity]` table: what `midge capacity` steps (clients, the
//! per-client publish rate, or both), how (a start, then a factor or an
//! increment), for how long per step, and the rule a step must pass.

use super::values::Dur;
use crate::record::vocab::FindingKind;
use serde::Deserialize;

/// What a capacity search steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CapacityVary {
    /// The stepped groups' `clients`.
    Clients,
    /// The stepped groups' `publish.rate` (messages per second per client).
    Rate,
    /// `clients` = the step's value, and `publish.rate` grows in proportion
    /// (the scenario's rate × value / start).
    Both,
}

impl CapacityVary {
    pub fn as_str(self) -> &'static str {
        match self {
            CapacityVary::Clients => "clients",
            CapacityVary::Rate => "rate",
            CapacityVary::Both => "both",
        }
    }

    /// Whether the step's value is a client count (a whole number).
    pub fn counts_clients(self) -> bool {
        self != CapacityVary::Rate
    }
}

/// `[capacity]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySpec {
    pub vary: CapacityVary,
    /// The group whose load steps (default: every publishing group).
    pub group: Option<String>,
    /// The first step's value: clients per stepped group, or msg/s per client.
    pub start: f64,
    /// Each step is the last × factor (> 1) …
    pub factor: Option<f64>,
    /// … or the last + step (> 0): exactly one of the two.
    pub step: Option<f64>,
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// Publishing time per step (default: the scenario's `duration`).
    pub hold: Option<Dur>,
    /// After the first failing step, this many steps halving the gap
    /// between the last pass and the first fail.
    #[serde(default)]
    pub bisect: u32,
    /// spawn:mosquitto only: start the broker afresh (same port, same
    /// config) before every step, rather than once for the whole search —
    /// for a limit the broker miscounts across steps (mosquitto 2.0.11
    /// counts `max_connections` wrong once clients have disconnected).
    #[serde(default)]
    pub fresh_broker: bool,
    /// The rule a step must pass.
    #[serde(default)]
    pub pass: CapacityPass,
}

pub const DEFAULT_MAX_STEPS: u32 = 8;
/// The most steps a ladder may have (bisection steps come on top).
pub const MAX_STEPS_LIMIT: u32 = 64;

fn default_max_steps() -> u32 {
    DEFAULT_MAX_STEPS
}

/// `[capacity.pass]`: every rule set must hold for a step to pass.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityPass {
    /// delivered (received) / offered (expected) at least this.
    pub delivered_ratio: Option<f64>,
    pub e2e_p99: Option<Dur>,
    pub connect_p99: Option<Dur>,
    /// At most this many lost.
    pub lost: Option<u64>,
    /// At most this many failed connection attempts.
    pub connect_failures: Option<u64>,
    /// Finding kinds that fail a step.
    #[serde(default)]
    pub findings: Vec<FindingKind>,
}
