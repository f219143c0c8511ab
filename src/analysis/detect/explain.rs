//! `explain`: the cause of every connection end, with midge's own faults,
//! inferred takeovers and broker outages named as such, and the connections
//! each detector needs sorted out for it.
//!
//! A name is inferred only with evidence to point at: `protocol_error` for a
//! 3.1.1 close needs a malformed packet, a broker line saying why, or a repeat;
//! an outside takeover needs the broker's "already connected" line; a broker
//! outage needs at least max(`OUTAGE_MIN_DROPS`, half of those up) drops within
//! `OUTAGE_WINDOW_US`; what nothing explains is left to `closed_by_broker`,
//! which says so. `by_cause` counts every planned client's connection end
//! (report.json `disconnects`).

use super::brokerlog::{denied_publisher, lines_about, says_why};
use crate::plan::Plan;
use crate::record::vocab::Cause;
use crate::record::wire::FlightEntry;
use crate::record::{FaultLog, RunRecord};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A close this soon after another connection with the same id came up is a takeover.
const TAKEOVER_WINDOW_US: u64 = 1_000_000;
/// A usurper may come up this long after the close it caused (the broker
/// closes the old connection before it sends the new one's CONNACK, and
/// midge sees the two on different connections: on a loaded machine one
/// task may run a 100 ms loop delay after the other — 50 ms missed one
/// takeover of 17 in `tests/detectors.rs` under a full suite plus builds).
const TAKEOVER_LEAD_US: u64 = 250_000;
/// CONNACKs of a near-simultaneous pair may arrive in either order by this much.
const CONNACK_ORDER_SLACK_US: u64 = 5_000;
/// A close this soon after a packet we sent, with nothing received since, is blamed on that packet (3.1.1).
pub const CLOSE_AFTER_SEND_US: u64 = 500_000;
/// A drop this soon after a fault that hits the client is the fault's doing.
const FAULT_WINDOW_US: u64 = 1_000_000;
/// A drop may be seen this much before midge logged the fault that caused it.
const FAULT_SLACK_US: u64 = 10_000;
/// A connection closed by the broker this soon after it came up, again and
/// again, is reported (`closed_by_broker`, or a `duplicate_id_loop` when the
/// broker's log names another holder of the id).
pub const SHORT_LIVED_US: u64 = 5_000_000;
/// Closes this close together are one moment, for telling a broker outage.
pub const OUTAGE_WINDOW_US: u64 = 200_000;
/// The fewest connections an outage drops; below it, a few clients' bad luck.
pub const OUTAGE_MIN_DROPS: usize = 3;
/// Closes after the same packet type that support blaming it (3.1.1).
pub const MIN_REPEATED_CLOSES: usize = 2;

/// Who held a connection: a planned client, or the twin of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    Client(u32),
    Twin(u32),
}

impl Owner {
    pub fn client(self) -> u32 {
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
    /// Connection ends of planned clients by cause (as explained).
    pub by_cause: BTreeMap<Cause, u64>,
    /// Takeovers by client id.
    pub takeovers: BTreeMap<&'a str, Vec<Takeover>>,
    /// Connections dropped for a protocol reason, by client index.
    pub protocol_drops: BTreeMap<u32, Vec<Conn<'a>>>,
    /// Connections the broker closed soon after they came up, with no
    /// reason, no usurper in this run and no packet to blame, by client index.
    pub short_lived: BTreeMap<u32, Vec<Conn<'a>>>,
    /// Connections closed right after a packet midge sent (3.1.1, no
    /// reason), with nothing to support calling it a protocol error.
    pub closed_after_packet: BTreeMap<u32, Vec<Conn<'a>>>,
    /// The broker outages: many connections dropped at one moment.
    pub outages: Vec<Outage>,
    /// Clients whose PUBLISHes the broker's log says it denied, with the
    /// connections of theirs it closed (explained by nothing else).
    pub denied: BTreeMap<u32, Vec<Conn<'a>>>,
}

/// Many connections the broker dropped at one moment (`OUTAGE_WINDOW_US`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outage {
    pub from_us: u64,
    pub to_us: u64,
    /// Connections of planned clients that were up during it.
    pub connected: u64,
    /// The connections it dropped: (client index, ended µs), in time order.
    pub drops: Vec<(u32, u64)>,
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

/// A close by the broker that gave no reason: what it may be, before the
/// outages and the support for blaming a packet are known.
fn closed_without_reason(faults: &FaultLog, c: &Conn) -> bool {
    c.cause.is_some_and(|x| x.is_close_without_reason()) && !hit_by_fault(faults, c.owner, c.ended_us)
}

/// Whether the close came right after a malformed packet midge sent on purpose.
fn after_malformed(c: &Conn) -> bool {
    offending(c.flight, c.ended_us).is_some_and(|e| e.malformed)
}

/// The broker outages of a run: at least max(`OUTAGE_MIN_DROPS`, half of
/// the planned clients' connections up at that moment) closed by the broker
/// within `OUTAGE_WINDOW_US`, none by midge's own fault, right after a
/// malformed packet, or of a client the broker's log says it denied
/// (`denied`) — and either every connection up in that window dropped, or
/// a dropped client's next connection attempt failed (the broker was not
/// there to take it). A group cut by midge's proxy is midge's fault; a few
/// clients closed for what they sent leave the others up and get back in.
pub fn outages(record: &RunRecord, faults: &FaultLog, denied: &BTreeSet<u32>) -> Vec<Outage> {
    let mut ups: Vec<u64> = Vec::new();
    let mut downs: Vec<u64> = Vec::new();
    let mut drops: Vec<(u64, u32)> = Vec::new();
    for c in &record.clients {
        for g in &c.timeline {
            let Some(connected_us) = g.connected_us else { continue };
            ups.push(connected_us);
            downs.push(g.ended_us);
            let conn = Conn {
                owner: Owner::Client(c.index),
                connected_us,
                ended_us: g.ended_us,
                cause: g.cause.as_ref(),
                flight: &g.flight,
            };
            if closed_without_reason(faults, &conn) && !after_malformed(&conn) && !denied.contains(&c.index) {
                drops.push((g.ended_us, c.index));
            }
        }
    }
    ups.sort_unstable();
    downs.sort_unstable();
    drops.sort_unstable();
    // Connections up at some time in [from, to]: came up by `to`, not ended before `from`.
    let up_in =
        |from: u64, to: u64| ups.partition_point(|&x| x <= to).saturating_sub(downs.partition_point(|&x| x < from));
    let next_attempt_failed = |client: u32, after_us: u64| {
        record.clients[client as usize]
            .timeline
            .iter()
            .find(|g| g.attempt_us >= after_us)
            .is_some_and(|g| g.connected_us.is_none() && g.cause.is_some())
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < drops.len() {
        let from = drops[i].0;
        let j = i + drops[i..].partition_point(|(t, _)| *t <= from + OUTAGE_WINDOW_US);
        let n = j - i;
        let connected = up_in(from, drops[j - 1].0);
        let enough = n >= OUTAGE_MIN_DROPS.max(connected.div_ceil(2));
        if enough && (n >= connected || drops[i..j].iter().any(|(t, c)| next_attempt_failed(*c, *t))) {
            out.push(Outage { from_us: from, to_us: drops[j - 1].0, connected: connected as u64, drops: Vec::new() });
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// What a connection end is, before the support for blaming a packet is weighed.
enum Kind {
    /// Named by its own cause (or one already inferred).
    Named(Cause),
    /// One of the drops of outage `k`.
    Outage(usize),
    /// Closed right after a packet of this type (3.1.1, no reason); `first`:
    /// the first of its type on the connection.
    AfterPacket { packet_type: u8, first: bool },
    /// Closed soon after it came up, no reason, nothing to blame.
    ShortLived,
    /// The broker denied this client's PUBLISHes.
    Denied,
    /// Closed with no reason and nothing to say about it.
    Plain,
}

/// Whether the blamed packet is the first of its type the connection sent
/// (the flight recorder still holds the CONNECT, and none of that type since).
fn first_of_its_type(flight: &[FlightEntry], e: &FlightEntry) -> bool {
    let Some(connect) = flight.iter().position(|x| x.sent && x.packet_type == 1) else { return false };
    let sent_of_type = flight[connect + 1..].iter().filter(|x| x.sent && x.packet_type == e.packet_type).count();
    sent_of_type == 1
}

/// Names the cause of every connection end and sorts the telling ones out
/// for the detectors.
pub fn explain<'a>(plan: &'a Plan, by_id: &'a BTreeMap<&'a str, Vec<Conn<'a>>>, record: &RunRecord) -> Explained<'a> {
    let faults = &record.faults;
    let log = record.broker.log_lines.as_deref();
    let denied = denied_clients(plan, log);
    let mut out = Explained { outages: outages(record, faults, &denied), ..Default::default() };
    // First pass: what each end is.
    let mut kinds: Vec<(&'a str, &'a Conn<'a>, Kind)> = Vec::new();
    for (id, conns) in by_id {
        for c in conns {
            let Some(cause) = c.cause else { continue };
            let kind = classify(&mut out, id, c, conns, cause, faults, &denied);
            kinds.push((id, c, kind));
        }
    }
    // What supports blaming a packet: the broker's log says why, the same
    // client was closed after that packet type before, or clients of one
    // group were each closed at their first packet of that type.
    let mut per_client: HashMap<(u32, u8), usize> = HashMap::new();
    let mut per_group: HashMap<(u16, u8), BTreeSet<u32>> = HashMap::new();
    for (_, c, kind) in &kinds {
        if let (Kind::AfterPacket { packet_type, first }, Owner::Client(i)) = (kind, c.owner) {
            *per_client.entry((i, *packet_type)).or_default() += 1;
            if *first {
                per_group.entry((plan.clients[i as usize].group, *packet_type)).or_default().insert(i);
            }
        }
    }
    let supported = |id: &str, i: u32, packet_type: u8, first: bool| {
        lines_about(log, id).any(|l| says_why(l))
            || per_client.get(&(i, packet_type)).is_some_and(|n| *n >= MIN_REPEATED_CLOSES)
            || (first
                && per_group
                    .get(&(plan.clients[i as usize].group, packet_type))
                    .is_some_and(|s| s.len() >= MIN_REPEATED_CLOSES))
    };
    // Second pass: the name each end is counted under, and its detector.
    for (id, c, kind) in kinds {
        let cause = c.cause.expect("only ends with a cause");
        let label = match kind {
            Kind::Named(named) => named,
            Kind::Outage(k) => {
                out.outages[k].drops.push((c.owner.client(), c.ended_us));
                Cause::BrokerUnavailable
            }
            Kind::AfterPacket { packet_type, first } => {
                let i = c.owner.client();
                if supported(id, i, packet_type, first) {
                    out.protocol_drops.entry(i).or_default().push(c.clone());
                    // MQTT 3.1.1 says nothing; the close right after our packet, and its support, say it.
                    Cause::ProtocolError
                } else {
                    out.closed_after_packet.entry(i).or_default().push(c.clone());
                    cause.clone()
                }
            }
            Kind::ShortLived => {
                out.short_lived.entry(c.owner.client()).or_default().push(c.clone());
                cause.clone()
            }
            Kind::Denied => {
                out.denied.entry(c.owner.client()).or_default().push(c.clone());
                cause.clone()
            }
            Kind::Plain => cause.clone(),
        };
        if let Owner::Client(_) = c.owner {
            *out.by_cause.entry(label).or_default() += 1;
        }
    }
    for o in &mut out.outages {
        o.drops.sort_by_key(|(i, t)| (*t, *i));
    }
    out.outages.retain(|o| !o.drops.is_empty());
    out
}

/// The planned clients whose PUBLISHes the broker's log says it denied.
pub fn denied_clients(plan: &Plan, log: Option<&[String]>) -> BTreeSet<u32> {
    let named: BTreeSet<&str> = log.unwrap_or_default().iter().filter_map(|l| denied_publisher(l)).collect();
    if named.is_empty() {
        return BTreeSet::new();
    }
    plan.clients.iter().filter(|c| named.contains(c.client_id.as_str())).map(|c| c.index).collect()
}

/// What one connection end is; files takeovers and protocol reasons with
/// their detectors.
fn classify<'a>(
    out: &mut Explained<'a>,
    id: &'a str,
    c: &Conn<'a>,
    same_id: &'a [Conn<'a>],
    cause: &Cause,
    faults: &FaultLog,
    denied: &BTreeSet<u32>,
) -> Kind {
    let closed_by_peer = cause.is_close_without_reason();
    if closed_by_peer && hit_by_fault(faults, c.owner, c.ended_us) {
        return Kind::Named(Cause::FaultInjected);
    }
    if !closed_by_peer && !cause.is_takeover_reason() {
        if cause.is_protocol_reason() {
            if let Owner::Client(i) = c.owner {
                out.protocol_drops.entry(i).or_default().push(c.clone());
            }
        }
        return Kind::Named(cause.clone());
    }
    if let Some(u) = usurper(c, same_id) {
        out.takeovers.entry(id).or_default().push(Takeover { at_us: c.ended_us, closed: c.owner, by: u.owner });
        return Kind::Named(Cause::SessionTakenOver);
    }
    if cause.is_takeover_reason() {
        out.takeovers.entry(id).or_default().push(Takeover { at_us: c.ended_us, closed: c.owner, by: c.owner });
        return Kind::Named(cause.clone());
    }
    let Owner::Client(i) = c.owner else { return Kind::Named(cause.clone()) };
    let blamed = offending(c.flight, c.ended_us);
    if blamed.is_some_and(|e| e.malformed) {
        // midge's malformed fault: the bad packet is the support.
        out.protocol_drops.entry(i).or_default().push(c.clone());
        return Kind::Named(Cause::ProtocolError);
    }
    if let Some(k) = out.outages.iter().position(|o| (o.from_us..=o.to_us).contains(&c.ended_us)) {
        return Kind::Outage(k);
    }
    if denied.contains(&i) {
        return Kind::Denied;
    }
    if let Some(e) = blamed {
        return Kind::AfterPacket { packet_type: e.packet_type, first: first_of_its_type(c.flight, e) };
    }
    if c.ended_us.saturating_sub(c.connected_us) <= SHORT_LIVED_US {
        return Kind::ShortLived;
    }
    Kind::Plain
}
