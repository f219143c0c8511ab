//! midge: a swarm of MQTT clients against a broker, and an exact account of
//! what the broker did to them. `main.rs` only calls `cli::main`; tests and
//! benchmarks drive the same library.
//!
//! Data flow: `scenario` (parse + validate) → `plan` (ids, topics, streams)
//! → `runner` (broker, ramp, phases) → one `client` task per client
//! (`mqtt` on the wire, `client::session` protocol state, `client::recorder`
//! accounting) → the run `record` → `analysis::analyse` (tally, detectors,
//! expectations) → `report` (json, md, html). Layers point one way, from the
//! CLI down to the record; `tests/layers.rs` holds them to it and
//! docs/ARCHITECTURE.md draws them.

// No function over 120 lines (clippy.toml sets the bound); CI's clippy
// runs with -D warnings, so this holds every function to it.
#![warn(clippy::too_many_lines)]

pub mod analysis;
pub mod broker;
pub mod capacity;
pub mod cli;
pub mod client;
pub mod control;
pub mod faults;
pub mod ids;
pub mod limits;
pub mod merge;
pub mod metrics;
pub mod mqtt;
pub mod payload;
pub mod plan;
pub mod progress;
pub mod prometheus;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod sys;
pub mod topic;
pub mod workers;
