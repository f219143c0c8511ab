//! The Plan: a validated scenario turned into concrete clients, ids, topics
//! and streams. Everything a run needs to know before the first connection.
//!
//! By job: `build` (scenario + overrides → plan), `model` (the plan's
//! shape), `group` (a group's options and curves), `faults` (whom each
//! fault hits), `streams` (who owes whom), `secrets` and `resolve`
//! (credentials, read just before a run), `will` (will payloads), `slice`
//! and `shard` (a shard's part), `stages` and `schedule` (rates over time).

mod build;
mod faults;
mod group;
mod model;
mod resolve;
pub mod schedule;
mod secrets;
pub mod shard;
mod slice;
pub mod stages;
mod streams;
mod will;

pub use build::hex;
pub use faults::{FaultPlan, Targets};
pub use group::{Arrival, GroupPlan, PublishPlan};
pub use model::{BrokerPlan, BrokerShare, ClientPlan, Overrides, Plan, SharePlan, StreamPlan, UNTIL_STOPPED};
pub use secrets::{Credentials, SecretSource};
pub use slice::{global_indices, slice};
pub use streams::over_max_packet_size;
pub use will::{parse_will_payload, will_owed_by_us, will_payload, WillPlan, WILL_TAG};

#[cfg(test)]
mod tests;
