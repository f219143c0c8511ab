//! duplicate_id_loop: a client id whose connections keep being closed by the
//! broker as another connection with the same id comes up — within this run
//! (a planned client and its twin, or two clients given one id), or with the
//! other party outside it.

use super::brokerlog::already_connected;
use super::explain::{Conn, Owner, Takeover, SHORT_LIVED_US};
use super::words::{broker_lines, name_of, secs};
use crate::analysis::evidence::{DuplicateIdEvidence, Evidence, TakeoverEvidence};
use crate::analysis::model::Finding;
use crate::plan::Plan;
use crate::record::vocab::FindingKind;
use std::collections::BTreeMap;

/// Takeovers of one id needed before it is called a loop.
pub const MIN_LOOP_CYCLES: usize = 3;

/// How the evidence names a usurper that is not in this run.
const OUTSIDE: &str = "unknown (outside this run)";

/// One finding per id taken over at least `MIN_LOOP_CYCLES` times in this run.
pub fn duplicate_id_loops(
    plan: &Plan,
    takeovers: &BTreeMap<&str, Vec<Takeover>>,
    broker_log: Option<&[String]>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (id, list) in takeovers {
        if list.len() < MIN_LOOP_CYCLES {
            continue;
        }
        let mut list = list.clone();
        list.sort_by_key(|t| t.at_us);
        let mut owners: Vec<Owner> = list.iter().flat_map(|t| [t.closed, t.by]).collect();
        owners.sort();
        owners.dedup();
        // A takeover the broker named (MQTT 5, 0x8E) with no usurper in this
        // run is filed as taken over by itself: the other party is outside.
        let by_name = |t: &Takeover| if t.by == t.closed { OUTSIDE.to_string() } else { name_of(plan, t.by) };
        let mut connections: Vec<String> = owners.iter().map(|o| name_of(plan, *o)).collect();
        if list.iter().any(|t| t.by == t.closed) {
            connections.push(OUTSIDE.to_string());
        }
        let first = list.first().map_or(0, |t| t.at_us);
        let last = list.last().map_or(0, |t| t.at_us);
        let period_s = if list.len() > 1 { secs((last - first) / (list.len() as u64 - 1)) } else { 0.0 };
        out.push(Finding {
            kind: FindingKind::DuplicateIdLoop,
            summary: format!(
                "client id \"{id}\" is used by {} connections at once: the broker closed one each time the other came up, {} times (every {period_s:.2} s). Give each client its own id.",
                connections.len(),
                list.len()
            ),
            client_ids: vec![id.to_string()],
            count: list.len() as u64,
            first_s: secs(first),
            last_s: secs(last),
            evidence: Evidence::DuplicateId(DuplicateIdEvidence {
                client_id: id.to_string(),
                connections,
                cycles: list.len(),
                period_s: Some(period_s),
                takeovers: Some(
                    list.iter()
                        .take(20)
                        .map(|t| TakeoverEvidence { at_s: secs(t.at_us), closed: name_of(plan, t.closed), by: by_name(t) })
                        .collect(),
                ),
                closed_at_s: None,
                broker_log: broker_lines(broker_log, id),
            }),
        });
    }
    out
}

/// The same pattern with the other party outside this run: a client the
/// broker closed again and again soon after it connected, with no reason
/// given and no other connection of its id in the run — and the broker's
/// log saying another connection with that id came up ("already
/// connected"). Without that line, nothing shows another holder of the id:
/// `closed_by_broker` says what is known instead.
pub fn external_takeovers(
    plan: &Plan,
    short_lived: &BTreeMap<u32, Vec<Conn>>,
    broker_log: Option<&[String]>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, conns) in short_lived {
        let id = plan.clients[*i as usize].client_id.as_str();
        if conns.len() < MIN_LOOP_CYCLES || !already_connected(broker_log, id) {
            continue;
        }
        let ends: Vec<u64> = conns.iter().map(|c| c.ended_us).collect();
        let first = *ends.iter().min().unwrap_or(&0);
        let last = *ends.iter().max().unwrap_or(&0);
        out.push(Finding {
            kind: FindingKind::DuplicateIdLoop,
            summary: format!(
                "client id \"{id}\" was closed by the broker {} times within {} s of connecting, with no other connection of that id in this run, and the broker's log says another connection with that id came up (\"already connected\"): something outside this run uses the same id.",
                ends.len(),
                SHORT_LIVED_US / 1_000_000
            ),
            client_ids: vec![id.to_string()],
            count: ends.len() as u64,
            first_s: secs(first),
            last_s: secs(last),
            evidence: Evidence::DuplicateId(DuplicateIdEvidence {
                client_id: id.to_string(),
                connections: vec![name_of(plan, Owner::Client(*i)), OUTSIDE.to_string()],
                cycles: ends.len(),
                closed_at_s: Some(ends.iter().take(20).map(|t| secs(*t)).collect()),
                period_s: None,
                takeovers: None,
                broker_log: broker_lines(broker_log, id),
            }),
        });
    }
    out
}
