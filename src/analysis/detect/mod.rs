//! Detectors: read every client's timeline in the run record —
//! and the twins', the faults midge carried out, and the spawned broker's
//! log lines — and explain the disconnects. `explain` names the cause of
//! every connection end (midge's own faults and inferred takeovers named as
//! such); each detector then turns its share into findings that name the
//! clients, counts, first and last time, and carry their evidence.

mod auth;
mod duplicate_id;
mod explain;
mod limits;
mod protocol;
mod qos;
mod saturation;
mod sessions;
mod subscriptions;
mod words;

pub use auth::auth_refused;
pub use duplicate_id::{duplicate_id_loops, external_takeovers, MIN_LOOP_CYCLES};
pub use explain::{connections_by_id, explain, Conn, Explained, Owner, Takeover, CLOSE_AFTER_SEND_US, SHORT_LIVED_US};
pub use limits::broker_limits;
pub use protocol::protocol_error_drops;
pub use qos::qos_violations;
pub use saturation::generator_saturated;
pub use sessions::sessions_lost;
pub use subscriptions::subscribe_refused;
pub use words::{secs, subscriber_name};

#[cfg(test)]
mod tests;
