//! `expectations` of report.json: the scenario's `[expect]`, each checked
//! (`analysis::expect`).

use serde::{Deserialize, Serialize};

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
    /// True when the scenario's `[expect]` did not set it and the QoS
    /// contract stands in (`analysis::expect`); false when the scenario asked.
    #[serde(default)]
    pub default: bool,
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
