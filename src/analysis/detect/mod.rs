//! Detectors: read every client's timeline in the run record —
//! and the twins', the faults midge carried out, and the spawned broker's
//! log lines — and explain the disconnects. `explain` names the cause of
//! every connection end (midge's own faults, inferred takeovers and broker
//! outages named as such); each detector then turns its share into findings that name the
//! clients, counts, first and last time, and carry their evidence.
//!
//! Detectors read, never steer: they run in the analysis, over the record;
//! the client tasks only record. `explain` may name a close better than the
//! client could (`fault_injected`, `session_taken_over`, `protocol_error`,
//! `broker_unavailable`); the record keeps what was seen. Each finding's
//! evidence is its kind's own struct (`analysis::evidence`).

mod auth;
mod backlog;
mod brokerlog;
mod closed;
mod denied;
mod duplicate_id;
mod explain;
mod limits;
mod outage;
mod protocol;
mod qos;
mod saturation;
mod sessions;
mod slow;
mod spec;
mod subscriptions;
mod withheld;
mod words;

pub use auth::auth_refused;
pub use backlog::{listen_backlog_overflow, SYN_RETRIES_US};
pub use closed::closed_by_broker;
pub use denied::publish_denied;
pub use duplicate_id::{duplicate_id_loops, external_takeovers, MIN_LOOP_CYCLES};
pub use explain::{
    connections_by_id, denied_clients, explain, outages, Conn, Explained, Outage, Owner, Takeover, CLOSE_AFTER_SEND_US,
    MIN_REPEATED_CLOSES, OUTAGE_MIN_DROPS, OUTAGE_WINDOW_US, SHORT_LIVED_US,
};
pub use limits::broker_limits;
pub use outage::broker_unavailable;
pub use protocol::protocol_error_drops;
pub use qos::{acl_file_line, qos_violations};
pub use saturation::generator_saturated;
pub use sessions::sessions_lost;
pub use slow::{slow_consumers, sys_dropped_rise};
pub use spec::{spec_violations, Announced};
pub use subscriptions::subscribe_refused;
pub use withheld::{queues_withheld, MIN_WITHHELD_US};
pub use words::{secs, subscriber_name};

#[cfg(test)]
mod tests;
