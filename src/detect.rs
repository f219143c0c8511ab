//! Detectors (design §4): read every client's timeline — and the twins',
//! the faults midge carried out, and the spawned broker's log — and explain
//! the disconnects: duplicate-id takeover loops, protocol-error drops,
//! refused credentials, limits the broker announced. Each finding names the
//! clients, counts, first and last time, and carries its evidence.

use crate::client::task::Generation;
use crate::client::ClientOutcome;
use crate::faults::schedule::FaultLog;
use crate::mqtt::codec::packet_type_name;
use crate::mqtt::flight::FlightEntry;
use crate::plan::Plan;
use crate::report::Finding;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// Takeovers of one id needed before it is called a loop.
pub const MIN_LOOP_CYCLES: usize = 3;
/// A close this soon after another connection with the same id came up is a takeover.
const TAKEOVER_WINDOW_US: u64 = 1_000_000;
/// A close this soon after a packet we sent, with nothing received since, is blamed on that packet (3.1.1).
const CLOSE_AFTER_SEND_US: u64 = 500_000;
/// A drop this soon after a fault that hits the client is the fault's doing.
const FAULT_WINDOW_US: u64 = 1_000_000;
/// A connection closed by the broker this soon after it came up, again and again, looks like a takeover from outside.
const SHORT_LIVED_US: u64 = 5_000_000;

/// MQTT 5 DISCONNECT reasons that mean "you broke the protocol".
const PROTOCOL_CAUSES: &[&str] = &[
    "malformed_packet",
    "protocol_error",
    "implementation_specific_error",
    "topic_name_invalid",
    "receive_maximum_exceeded",
    "topic_alias_invalid",
    "packet_too_large",
    "message_rate_too_high",
    "quota_exceeded",
    "payload_format_invalid",
    "retain_not_supported",
    "qos_not_supported",
    "shared_subscriptions_not_supported",
    "subscription_identifiers_not_supported",
    "wildcard_subscriptions_not_supported",
    "malformed_packet_from_broker",
    "protocol_error_from_broker",
];

const AUTH_CAUSES: &[&str] = &["not_authorized", "bad_username_or_password", "bad_authentication_method"];

/// What the detectors make of a run.
#[derive(Debug, Default)]
pub struct Detected {
    pub findings: Vec<Finding>,
    /// Every connection end by cause, with midge's own faults and inferred
    /// takeovers named as such.
    pub by_cause: BTreeMap<String, u64>,
}

/// One connection of a client id, from a planned client or a twin.
#[derive(Debug, Clone)]
struct Conn<'a> {
    owner: Owner,
    connected_us: u64,
    ended_us: u64,
    cause: Option<&'a str>,
    flight: &'a [FlightEntry],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Client(u32),
    Twin(u32),
}

/// The packet a close is blamed on: a malformed packet we sent shortly
/// before, else the last packet we sent if nothing came back after it. A
/// PINGREQ or DISCONNECT breaks no rule, so a close after one is not blamed.
fn offending(flight: &[FlightEntry], ended_us: u64) -> Option<&FlightEntry> {
    let recent = |e: &&FlightEntry| e.sent && ended_us.saturating_sub(e.t_us) <= CLOSE_AFTER_SEND_US;
    if let Some(bad) = flight.iter().rev().filter(recent).find(|e| e.malformed) {
        return Some(bad);
    }
    flight.last().filter(|e| recent(e) && !matches!(e.packet_type, 12 | 14))
}

fn describe(e: Option<&FlightEntry>) -> String {
    match e {
        Some(e) => format!(
            "{}{} of {} bytes",
            if e.malformed { "a malformed " } else { "" },
            if e.packet_type == 0 { "packet" } else { packet_type_name(e.packet_type) },
            e.size
        ),
        None => "a packet".into(),
    }
}

fn secs(us: u64) -> f64 {
    (us as f64 / 1e3).round() / 1e3
}

fn flight_json(flight: &[FlightEntry]) -> Value {
    Value::Array(
        flight
            .iter()
            .map(|e| {
                json!({
                    "t_s": secs(e.t_us),
                    "direction": if e.sent { "sent" } else { "received" },
                    "type": if e.malformed && e.packet_type == 0 { "INVALID" } else { packet_type_name(e.packet_type) },
                    "size": e.size,
                    "packet_id": e.pkid,
                    "flags": e.flags,
                    "malformed": e.malformed,
                })
            })
            .collect(),
    )
}

/// Whether a broker log line can tell why a client was closed.
pub fn is_telling(line: &str) -> bool {
    const TELLING: &[&str] =
        &["already connected", "protocol error", "malformed", "oversize", "not authorised", "disconnected", "closing"];
    let lower = line.to_lowercase();
    TELLING.iter().any(|k| lower.contains(k))
}

/// mosquitto's log lines about a client that tell why it was closed.
fn broker_lines(log: Option<&str>, client_id: &str) -> Vec<String> {
    let Some(log) = log else { return Vec::new() };
    log.lines().filter(|l| l.contains(client_id) && is_telling(l)).take(12).map(str::to_string).collect()
}

pub fn detect(plan: &Plan, outcomes: &[ClientOutcome], faults: &FaultLog, broker_log: Option<&str>) -> Detected {
    let id_of = |o: Owner| match o {
        Owner::Client(i) | Owner::Twin(i) => plan.clients[i as usize].client_id.as_str(),
    };
    let name_of = |o: Owner| match o {
        Owner::Client(i) => {
            let c = &plan.clients[i as usize];
            let g = plan.group_of(c);
            format!("{} (group {}, client {} of {})", c.client_id, g.name, i - g.first_client + 1, g.clients)
        }
        Owner::Twin(i) => format!("{} (duplicate-ids twin)", plan.clients[i as usize].client_id),
    };

    // Every connection that came up, by client id.
    let mut by_id: HashMap<&str, Vec<Conn>> = HashMap::new();
    for o in outcomes {
        for g in o.timeline.iter() {
            if let Some(connected_us) = g.connected_us {
                by_id.entry(plan.clients[o.index as usize].client_id.as_str()).or_default().push(Conn {
                    owner: Owner::Client(o.index),
                    connected_us,
                    ended_us: g.ended_us,
                    cause: g.cause.as_deref(),
                    flight: &g.flight,
                });
            }
        }
    }
    for t in &faults.twins {
        for c in &t.connections {
            by_id.entry(plan.clients[t.of_client as usize].client_id.as_str()).or_default().push(Conn {
                owner: Owner::Twin(t.of_client),
                connected_us: c.connected_us,
                ended_us: c.ended_us,
                cause: c.cause.as_deref(),
                flight: &[],
            });
        }
    }

    let hit_by_fault = |owner: Owner, ended: u64| {
        let Owner::Client(i) = owner else { return false };
        let near = |at: u64| at <= ended + 10_000 && ended <= at + FAULT_WINDOW_US;
        let during = |from: u64, to: u64| from <= ended + 10_000 && ended <= to + FAULT_WINDOW_US;
        faults.hits.iter().any(|(from, to, targets)| during(*from, *to) && (targets.is_empty() || targets.contains(&i)))
            || faults.restarts.iter().any(|(kill, _)| near(*kill))
    };

    let mut out = Detected::default();
    let mut takeovers: BTreeMap<&str, Vec<(u64, Owner, Owner)>> = BTreeMap::new();
    let mut protocol_drops: BTreeMap<u32, Vec<&Conn>> = BTreeMap::new();
    let mut short_lived: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut ids: Vec<&&str> = by_id.keys().collect();
    ids.sort();
    for id in ids {
        let conns = &by_id[*id];
        for c in conns {
            let Some(cause) = c.cause else { continue };
            let closed_by_peer = matches!(cause, "network_eof" | "network_reset");
            let label = if closed_by_peer && hit_by_fault(c.owner, c.ended_us) {
                "fault_injected".to_string()
            } else if cause == "session_taken_over" || closed_by_peer {
                // Who came up with the same id just before (or as) this one was closed?
                let usurper = conns
                    .iter()
                    .filter(|o| o.owner != c.owner)
                    .filter(|o| {
                        o.connected_us <= c.ended_us + 50_000 && c.ended_us <= o.connected_us + TAKEOVER_WINDOW_US
                    })
                    // (CONNACKs of a near-simultaneous pair may arrive in either order.)
                    .filter(|o| o.connected_us + 5_000 >= c.connected_us)
                    .min_by_key(|o| c.ended_us.abs_diff(o.connected_us));
                match usurper {
                    Some(u) => {
                        takeovers.entry(id).or_default().push((c.ended_us, c.owner, u.owner));
                        "session_taken_over".to_string()
                    }
                    None if cause == "session_taken_over" => {
                        takeovers.entry(id).or_default().push((c.ended_us, c.owner, c.owner));
                        cause.to_string()
                    }
                    None => {
                        if let (Some(_), Owner::Client(i)) = (offending(c.flight, c.ended_us), c.owner) {
                            protocol_drops.entry(i).or_default().push(c);
                            // MQTT 3.1.1 says nothing; the close right after our packet says it.
                            "protocol_error".to_string()
                        } else {
                            if let Owner::Client(i) = c.owner {
                                if c.ended_us.saturating_sub(c.connected_us) <= SHORT_LIVED_US {
                                    short_lived.entry(i).or_default().push(c.ended_us);
                                }
                            }
                            cause.to_string()
                        }
                    }
                }
            } else {
                if PROTOCOL_CAUSES.contains(&cause) {
                    if let Owner::Client(i) = c.owner {
                        protocol_drops.entry(i).or_default().push(c);
                    }
                }
                cause.to_string()
            };
            if let Owner::Client(_) = c.owner {
                *out.by_cause.entry(label).or_default() += 1;
            }
        }
    }

    // duplicate_id_loop: an id whose connections keep being taken over.
    for (id, list) in &mut takeovers {
        if list.len() < MIN_LOOP_CYCLES {
            continue;
        }
        list.sort_by_key(|t| t.0);
        let mut owners: Vec<Owner> = list.iter().flat_map(|(_, a, b)| [*a, *b]).collect();
        owners.sort_by_key(|o| match o {
            Owner::Client(i) => (0, *i),
            Owner::Twin(i) => (1, *i),
        });
        owners.dedup();
        let first = list.iter().map(|t| t.0).min().unwrap_or(0);
        let last = list.iter().map(|t| t.0).max().unwrap_or(0);
        let period_s = if list.len() > 1 { secs((last - first) / (list.len() as u64 - 1)) } else { 0.0 };
        out.findings.push(Finding {
            kind: "duplicate_id_loop".into(),
            summary: format!(
                "client id \"{id}\" is used by {} connections at once: the broker closed one each time the other came up, {} times (every {period_s:.2} s). Give each client its own id.",
                owners.len(),
                list.len()
            ),
            client_ids: vec![id.to_string()],
            count: list.len() as u64,
            first_s: secs(first),
            last_s: secs(last),
            evidence: json!({
                "client_id": id,
                "connections": owners.iter().map(|o| name_of(*o)).collect::<Vec<_>>(),
                "cycles": list.len(),
                "period_s": period_s,
                "takeovers": list.iter().take(20).map(|(at, closed, by)| json!({
                    "at_s": secs(*at), "closed": name_of(*closed), "by": name_of(*by),
                })).collect::<Vec<_>>(),
                "broker_log": broker_lines(broker_log, id),
            }),
        });
    }
    // The same pattern with the other party outside this run.
    for (i, ends) in &short_lived {
        if ends.len() < MIN_LOOP_CYCLES {
            continue;
        }
        let id = id_of(Owner::Client(*i));
        let first = *ends.iter().min().unwrap_or(&0);
        let last = *ends.iter().max().unwrap_or(&0);
        out.findings.push(Finding {
            kind: "duplicate_id_loop".into(),
            summary: format!(
                "client id \"{id}\" was closed by the broker {} times within {} s of connecting, with no other connection of that id in this run: something outside this run likely uses the same id.",
                ends.len(),
                SHORT_LIVED_US / 1_000_000
            ),
            client_ids: vec![id.to_string()],
            count: ends.len() as u64,
            first_s: secs(first),
            last_s: secs(last),
            evidence: json!({
                "client_id": id,
                "connections": [name_of(Owner::Client(*i)), "unknown (outside this run)"],
                "cycles": ends.len(),
                "closed_at_s": ends.iter().take(20).map(|t| secs(*t)).collect::<Vec<_>>(),
                "broker_log": broker_lines(broker_log, id),
            }),
        });
    }

    // protocol_error_drop: one finding per client, with its flight recorder.
    for (i, drops) in &protocol_drops {
        let id = id_of(Owner::Client(*i));
        let last = drops.last().expect("non-empty");
        let cause = last.cause.unwrap_or("network_eof");
        let why = if cause == "malformed_packet_from_broker" {
            "midge closed it: the broker sent a packet that could not be decoded".to_string()
        } else if cause == "protocol_error_from_broker" {
            "midge closed it: the broker sent a packet a server must not send".to_string()
        } else if PROTOCOL_CAUSES.contains(&cause) {
            format!("the broker closed it with reason {cause}")
        } else {
            format!(
                "the broker closed it right after midge sent {} (no reason given)",
                describe(offending(last.flight, last.ended_us))
            )
        };
        let why = match (PROTOCOL_CAUSES.contains(&cause), offending(last.flight, last.ended_us)) {
            (true, Some(e)) if e.malformed => format!("{why}, after midge sent {}", describe(Some(e))),
            _ => why,
        };
        out.findings.push(Finding {
            kind: "protocol_error_drop".into(),
            summary: format!("{}: connection dropped for a protocol reason — {why}", name_of(Owner::Client(*i))),
            client_ids: vec![id.to_string()],
            count: drops.len() as u64,
            first_s: secs(drops.first().map_or(0, |c| c.ended_us)),
            last_s: secs(last.ended_us),
            evidence: json!({
                "cause": cause,
                "drops_at_s": drops.iter().take(20).map(|c| secs(c.ended_us)).collect::<Vec<_>>(),
                "flight_recorder": flight_json(last.flight),
                "broker_log": broker_lines(broker_log, id),
            }),
        });
    }

    out.findings.extend(auth_refused(plan, outcomes, broker_log));
    out.findings.extend(broker_limits(plan, outcomes));
    out
}

/// auth_refused: once per group, with counts by code.
fn auth_refused(plan: &Plan, outcomes: &[ClientOutcome], broker_log: Option<&str>) -> Vec<Finding> {
    let mut by_group: BTreeMap<u16, Vec<(&ClientOutcome, Vec<&Generation>)>> = BTreeMap::new();
    for o in outcomes {
        let refused: Vec<&Generation> =
            o.timeline.iter().filter(|g| g.cause.as_deref().is_some_and(|c| AUTH_CAUSES.contains(&c))).collect();
        if !refused.is_empty() {
            by_group.entry(plan.clients[o.index as usize].group).or_default().push((o, refused));
        }
    }
    by_group
        .into_iter()
        .map(|(g, list)| {
            let group = &plan.groups[g as usize];
            let mut codes: BTreeMap<String, u64> = BTreeMap::new();
            for (_, gens) in &list {
                for gen in gens {
                    *codes.entry(gen.cause.clone().unwrap_or_default()).or_default() += 1;
                }
            }
            let attempts: u64 = codes.values().sum();
            let first = list.iter().flat_map(|(_, g)| g.iter().map(|x| x.ended_us)).min().unwrap_or(0);
            let last = list.iter().flat_map(|(_, g)| g.iter().map(|x| x.ended_us)).max().unwrap_or(0);
            let ids: Vec<String> =
                list.iter().map(|(o, _)| plan.clients[o.index as usize].client_id.clone()).collect();
            let storm = group.retry_connect && attempts > list.len() as u64;
            let codes_text = codes.iter().map(|(k, v)| format!("{k} ×{v}")).collect::<Vec<_>>().join(", ");
            Finding {
                kind: "auth_refused".into(),
                summary: if storm {
                    format!(
                        "group {}: the broker refused the credentials of {} clients ({codes_text}); they kept retrying as the scenario asks — {attempts} refused attempts",
                        group.name,
                        list.len()
                    )
                } else {
                    format!(
                        "group {}: the broker refused the credentials of {} clients ({codes_text}); they did not retry. Check username_env / password_env.",
                        group.name,
                        list.len()
                    )
                },
                client_ids: ids.iter().take(20).cloned().collect(),
                count: list.len() as u64,
                first_s: secs(first),
                last_s: secs(last),
                evidence: json!({
                    "group": group.name,
                    "clients": list.len(),
                    "attempts": attempts,
                    "codes": codes,
                    "retried": group.retry_connect,
                    // mosquitto does not name a refused client ("Client <unknown> … not authorised").
                    "broker_log": broker_log
                        .map(|l| l.lines().filter(|x| x.contains("not authorised")).take(5).map(str::to_string).collect::<Vec<_>>())
                        .unwrap_or_default(),
                }),
            }
        })
        .collect()
}

/// broker_limit: a limit the broker announced (MQTT 5) that the scenario would break.
fn broker_limits(plan: &Plan, outcomes: &[ClientOutcome]) -> Vec<Finding> {
    let mut by: BTreeMap<(u16, &'static str, u64, u64), Vec<String>> = BTreeMap::new();
    for o in outcomes {
        let c = &plan.clients[o.index as usize];
        for h in &o.limits {
            by.entry((c.group, h.limit, h.announced, h.needed)).or_default().push(c.client_id.clone());
        }
    }
    by.into_iter()
        .map(|((g, limit, announced, needed), ids)| {
            let group = &plan.groups[g as usize].name;
            let what = match limit {
                "maximum_packet_size" => {
                    format!("its PUBLISH would be {needed} bytes but the broker's Maximum Packet Size is {announced}: they did not publish")
                }
                "maximum_qos" => format!("it publishes at QoS {needed} but the broker's Maximum QoS is {announced}: they did not publish"),
                "retain_available" => "it publishes retained messages but the broker has Retain Available = 0: they did not publish".into(),
                "wildcard_subscription_available" => {
                    "its filter has a wildcard but the broker has Wildcard Subscription Available = 0: they did not subscribe".into()
                }
                other => format!("the broker announced {other} = {announced}: they held back"),
            };
            Finding {
                kind: "broker_limit".into(),
                summary: format!("group {group} ({} clients): {what}", ids.len()),
                client_ids: ids.iter().take(20).cloned().collect(),
                count: ids.len() as u64,
                first_s: 0.0,
                last_s: 0.0,
                evidence: json!({ "group": group, "limit": limit, "announced": announced, "needed": needed }),
            }
        })
        .collect()
}
