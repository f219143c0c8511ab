//! The analysis: pure functions of (plan, run record) — the tally, the
//! detectors, the load generator's self-measurement, the expectations — and
//! the report model they fill. No I/O, no clock: the same plan and record
//! always give the same report, which is what lets `midge report DIR`
//! re-render a finished run (and what a merge of shard records will build on).
//! `model` is the report it fills; `evidence` what each finding rests on.

pub mod brokers;
mod build;
pub mod detect;
pub mod evidence;
pub mod expect;
pub mod generator;
pub mod model;
pub mod rules;
pub mod session;
pub mod shards;
pub mod shared;
pub mod sys_run;
pub mod tally;
pub mod unplanned;
pub mod windows;

pub use build::analyse;

#[cfg(test)]
mod shard_tests;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
