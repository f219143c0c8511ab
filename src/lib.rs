//! midge: a swarm of MQTT clients against a broker, and an exact account of
//! what the broker did to them. `main.rs` only calls `cli::main`; tests and
//! benchmarks drive the same library.
//!
//! Data flow: `scenario` (parse + validate) → `plan` (ids, topics, streams)
//! → `runner` (broker, ramp, phases) → one `client` task per client
//! (`mqtt` on the wire, `session` state, `track` logs, `metrics` shards)
//! → `track::tally` → `report` (json + md) and `expect` (verdict).

pub mod analysis;
pub mod broker;
pub mod cli;
pub mod client;
pub mod faults;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod mqtt;
pub mod payload;
pub mod plan;
pub mod progress;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod sys;
pub mod topic;
pub mod workers;
