//! broker_unavailable: many connections the broker dropped at one moment
//! (`explain::outages`), then — from the clients' timelines — how long until
//! they got back in and which connection attempts failed in between. The
//! drops are the broker's, not each client's protocol error or takeover.

use super::explain::{Outage, OUTAGE_MIN_DROPS, OUTAGE_WINDOW_US};
use super::words::secs;
use crate::analysis::evidence::{Evidence, OutageEvidence};
use crate::analysis::model::Finding;
use crate::plan::Plan;
use crate::record::names::by_name;
use crate::record::vocab::{Cause, FindingKind};
use crate::record::RunRecord;
use std::collections::BTreeMap;

/// How one dropped client fared: when it got back in, and its failed attempts before.
fn comeback(record: &RunRecord, client: u32, dropped_us: u64) -> (Option<u64>, Vec<Cause>) {
    let mut failed = Vec::new();
    for g in record.clients[client as usize].timeline.iter().filter(|g| g.attempt_us >= dropped_us) {
        match g.connected_us {
            Some(t) => return (Some(t), failed),
            None => failed.extend(g.cause.clone()),
        }
    }
    (None, failed)
}

pub fn broker_unavailable(plan: &Plan, record: &RunRecord, outages: &[Outage]) -> Vec<Finding> {
    outages
        .iter()
        .map(|o| {
            let n = o.drops.len();
            let mut failed: BTreeMap<Cause, u64> = BTreeMap::new();
            let mut back: Vec<u64> = Vec::new();
            for (client, at) in &o.drops {
                let (again, fails) = comeback(record, *client, *at);
                back.extend(again);
                for f in fails {
                    *failed.entry(f).or_default() += 1;
                }
            }
            let mut causes: BTreeMap<Cause, u64> = BTreeMap::new();
            for (client, at) in &o.drops {
                let g = record.clients[*client as usize].timeline.iter().find(|g| g.ended_us == *at);
                if let Some(c) = g.and_then(|g| g.cause.as_ref()) {
                    *causes.entry(c.clone()).or_default() += 1;
                }
            }
            let first_back = back.iter().min().map(|t| secs(t.saturating_sub(o.from_us)));
            let all_back = (back.len() == n).then(|| back.iter().max().map(|t| secs(t - o.from_us))).flatten();
            let never = n - back.len();
            let failed_total: u64 = failed.values().sum();
            let window_ms = OUTAGE_WINDOW_US / 1000;
            let comeback_text = match (first_back, all_back) {
                (None, _) => "none of them got back in before the run ended".to_string(),
                (Some(f), Some(a)) => format!("the first got back in {f:.3} s later, all {n} within {a:.3} s"),
                (Some(f), None) => {
                    format!("the first got back in {f:.3} s later; {never} of them did not get back in before the run ended")
                }
            };
            let failed_text = if failed.is_empty() {
                "no connection attempt failed in between".to_string()
            } else {
                format!(
                    "{failed_total} connection attempt(s) failed in between ({})",
                    by_name(&failed).iter().map(|(k, v)| format!("{k} ×{v}")).collect::<Vec<_>>().join(", ")
                )
            };
            let ids: Vec<String> =
                o.drops.iter().map(|(c, _)| plan.clients[*c as usize].client_id.clone()).collect();
            Finding {
                kind: FindingKind::BrokerUnavailable,
                summary: format!(
                    "the broker dropped {n} of the {} connections up at {:.3} s within {window_ms} ms, with no reason given; {comeback_text}; {failed_text}. The broker went away (or closed everyone at once): these drops are counted as broker_unavailable, not as each client's protocol error or takeover.",
                    o.connected,
                    secs(o.from_us)
                ),
                client_ids: ids.iter().take(20).cloned().collect(),
                count: n as u64,
                first_s: secs(o.from_us),
                last_s: secs(o.to_us),
                evidence: Evidence::Outage(OutageEvidence {
                    window_ms,
                    min_drops: OUTAGE_MIN_DROPS,
                    dropped: n,
                    connected_before: o.connected,
                    causes,
                    first_back_s: first_back,
                    all_back_s: all_back,
                    never_back: never,
                    failed_attempts: failed,
                    clients: ids.iter().take(50).cloned().collect(),
                }),
            }
        })
        .collect()
}
