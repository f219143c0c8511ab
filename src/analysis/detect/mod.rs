//! Detectors (design §4): read every client's timeline in the run record —
//! and the twins', the faults midge carried out, and the spawned broker's
//! log lines — and explain the disconnects. `explain` names the cause of
//! every connection end (midge's own faults and inferred takeovers named as
//! such); each detector then turns its share into findings that name the
//! clients, counts, first and last time, and carry their evidence.

mod auth;
mod duplicate_id;
mod limits;
mod protocol;
mod qos;
mod saturation;

pub use auth::auth_refused;
pub use duplicate_id::{duplicate_id_loops, external_takeovers, MIN_LOOP_CYCLES};
pub use limits::broker_limits;
pub use protocol::protocol_error_drops;
pub use qos::qos_violations;
pub use saturation::generator_saturated;

use crate::plan::Plan;
use crate::record::vocab::Cause;
use crate::record::{FaultLog, FlightEntry, RunRecord};
use std::collections::BTreeMap;

/// A close this soon after another connection with the same id came up is a takeover.
const TAKEOVER_WINDOW_US: u64 = 1_000_000;
/// A usurper may come up this long after the close it caused (the broker
/// closes the old connection before it sends the new one's CONNACK).
const TAKEOVER_LEAD_US: u64 = 50_000;
/// CONNACKs of a near-simultaneous pair may arrive in either order by this much.
const CONNACK_ORDER_SLACK_US: u64 = 5_000;
/// A close this soon after a packet we sent, with nothing received since, is blamed on that packet (3.1.1).
pub const CLOSE_AFTER_SEND_US: u64 = 500_000;
/// A drop this soon after a fault that hits the client is the fault's doing.
const FAULT_WINDOW_US: u64 = 1_000_000;
/// A drop may be seen this much before midge logged the fault that caused it.
const FAULT_SLACK_US: u64 = 10_000;
/// A connection closed by the broker this soon after it came up, again and again, looks like a takeover from outside.
pub const SHORT_LIVED_US: u64 = 5_000_000;

/// Who held a connection: a planned client, or the twin of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    Client(u32),
    Twin(u32),
}

impl Owner {
    fn client(self) -> u32 {
        match self {
            Owner::Client(i) | Owner::Twin(i) => i,
        }
    }
}

/// One connection of a client id, from a planned client or a twin.
#[derive(Debug, Clone)]
pub struct Conn<'a> {
    pub owner: Owner,
    pub connected_us: u64,
    pub ended_us: u64,
    pub cause: Option<&'a Cause>,
    pub flight: &'a [FlightEntry],
}

/// A connection closed because another with the same id came up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Takeover {
    pub at_us: u64,
    pub closed: Owner,
    /// The connection that came up (the closed one itself when the broker
    /// said "taken over" and no usurper is in this run).
    pub by: Owner,
}

/// Every connection end, explained.
#[derive(Debug, Default)]
pub struct Explained<'a> {
    /// Connection ends of planned clients by cause name.
    pub by_cause: BTreeMap<String, u64>,
    /// Takeovers by client id.
    pub takeovers: BTreeMap<&'a str, Vec<Takeover>>,
    /// Connections dropped for a protocol reason, by client index.
    pub protocol_drops: BTreeMap<u32, Vec<Conn<'a>>>,
    /// Ends (µs) of connections the broker closed soon after they came up,
    /// with no reason and no usurper in this run, by client index.
    pub short_lived: BTreeMap<u32, Vec<u64>>,
}

/// Every connection that came up, by client id (ids in order).
pub fn connections_by_id<'a>(plan: &'a Plan, record: &'a RunRecord) -> BTreeMap<&'a str, Vec<Conn<'a>>> {
    let mut by_id: BTreeMap<&str, Vec<Conn>> = BTreeMap::new();
    for c in &record.clients {
        let id = plan.clients[c.index as usize].client_id.as_str();
        for g in &c.timeline {
            if let Some(connected_us) = g.connected_us {
                let conn = Conn {
                    owner: Owner::Client(c.index),
                    connected_us,
                    ended_us: g.ended_us,
                    cause: g.cause.as_ref(),
                    flight: &g.flight,
                };
                by_id.entry(id).or_default().push(conn);
            }
        }
    }
    for t in &record.faults.twins {
        let id = plan.clients[t.of_client as usize].client_id.as_str();
        for c in &t.connections {
            let conn = Conn {
                owner: Owner::Twin(t.of_client),
                connected_us: c.connected_us,
                ended_us: c.ended_us,
                cause: c.cause.as_ref(),
                flight: &[],
            };
            by_id.entry(id).or_default().push(conn);
        }
    }
    by_id
}

/// Whether one of midge's own faults hit this client's connection as it ended.
pub fn hit_by_fault(faults: &FaultLog, owner: Owner, ended_us: u64) -> bool {
    let Owner::Client(i) = owner else { return false };
    let during = |from: u64, to: u64| from <= ended_us + FAULT_SLACK_US && ended_us <= to + FAULT_WINDOW_US;
    faults.hits.iter().any(|(from, to, targets)| during(*from, *to) && (targets.is_empty() || targets.contains(&i)))
        || faults.restarts.iter().any(|(kill, _)| during(*kill, *kill))
}

/// The connection of another owner with the same id that came up just
/// before (or as) `c` was closed.
pub fn usurper<'a>(c: &Conn, same_id: &'a [Conn<'a>]) -> Option<&'a Conn<'a>> {
    same_id
        .iter()
        .filter(|o| o.owner != c.owner)
        .filter(|o| {
            o.connected_us <= c.ended_us + TAKEOVER_LEAD_US && c.ended_us <= o.connected_us + TAKEOVER_WINDOW_US
        })
        .filter(|o| o.connected_us + CONNACK_ORDER_SLACK_US >= c.connected_us)
        .min_by_key(|o| c.ended_us.abs_diff(o.connected_us))
}

/// The packet a close is blamed on: a malformed packet we sent shortly
/// before, else the last packet we sent if nothing came back after it. A
/// PINGREQ or DISCONNECT breaks no rule, so a close after one is not blamed.
pub fn offending(flight: &[FlightEntry], ended_us: u64) -> Option<&FlightEntry> {
    let recent = |e: &&FlightEntry| e.sent && ended_us.saturating_sub(e.t_us) <= CLOSE_AFTER_SEND_US;
    if let Some(bad) = flight.iter().rev().filter(recent).find(|e| e.malformed) {
        return Some(bad);
    }
    flight.last().filter(|e| recent(e) && !matches!(e.packet_type, 12 | 14))
}

/// Names the cause of every connection end and sorts the telling ones out
/// for the detectors.
pub fn explain<'a>(by_id: &'a BTreeMap<&'a str, Vec<Conn<'a>>>, faults: &FaultLog) -> Explained<'a> {
    let mut out = Explained::default();
    for (id, conns) in by_id {
        for c in conns {
            let Some(cause) = c.cause else { continue };
            let label = explain_one(&mut out, id, c, conns, cause, faults);
            if let Owner::Client(_) = c.owner {
                *out.by_cause.entry(label).or_default() += 1;
            }
        }
    }
    out
}

/// The cause name of one connection end; files it with its detector.
fn explain_one<'a>(
    out: &mut Explained<'a>,
    id: &'a str,
    c: &Conn<'a>,
    same_id: &'a [Conn<'a>],
    cause: &Cause,
    faults: &FaultLog,
) -> String {
    let closed_by_peer = cause.is_close_without_reason();
    if closed_by_peer && hit_by_fault(faults, c.owner, c.ended_us) {
        return Cause::FaultInjected.name();
    }
    if !closed_by_peer && !cause.is_takeover_reason() {
        if cause.is_protocol_reason() {
            if let Owner::Client(i) = c.owner {
                out.protocol_drops.entry(i).or_default().push(c.clone());
            }
        }
        return cause.name();
    }
    if let Some(u) = usurper(c, same_id) {
        out.takeovers.entry(id).or_default().push(Takeover { at_us: c.ended_us, closed: c.owner, by: u.owner });
        return Cause::SessionTakenOver.name();
    }
    if cause.is_takeover_reason() {
        out.takeovers.entry(id).or_default().push(Takeover { at_us: c.ended_us, closed: c.owner, by: c.owner });
        return cause.name();
    }
    let Owner::Client(i) = c.owner else { return cause.name() };
    if offending(c.flight, c.ended_us).is_some() {
        out.protocol_drops.entry(i).or_default().push(c.clone());
        // MQTT 3.1.1 says nothing; the close right after our packet says it.
        return Cause::ProtocolError.name();
    }
    if c.ended_us.saturating_sub(c.connected_us) <= SHORT_LIVED_US {
        out.short_lived.entry(i).or_default().push(c.ended_us);
    }
    cause.name()
}

/// Seconds, to the millisecond, as the report prints times.
pub fn secs(us: u64) -> f64 {
    (us as f64 / 1e3).round() / 1e3
}

/// How the report names a connection's owner.
pub fn name_of(plan: &Plan, o: Owner) -> String {
    let c = &plan.clients[o.client() as usize];
    match o {
        Owner::Client(i) => {
            let g = plan.group_of(c);
            format!("{} (group {}, client {} of {})", c.client_id, g.name, i - g.first_client + 1, g.clients)
        }
        Owner::Twin(_) => format!("{} (duplicate-ids twin)", c.client_id),
    }
}

/// The broker's log lines that mention a client id (they were kept because
/// they can tell why a client was closed).
pub fn broker_lines(log: Option<&[String]>, client_id: &str) -> Vec<String> {
    log.unwrap_or_default().iter().filter(|l| l.contains(client_id)).take(12).cloned().collect()
}

#[cfg(test)]
mod tests;
