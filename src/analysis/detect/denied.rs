//! publish_denied: the broker's log says it denied PUBLISHes of these
//! clients (mosquitto, at `log_type debug`: "Denied PUBLISH from <id> …"),
//! and the connections of theirs it closed are put down to that — not to a
//! duplicate id, not to a protocol error. One finding per group, with the
//! broker's lines and the loss on the publishers' streams.

use super::brokerlog::{denied_publisher, is_publish_denial, mentions, says_why};
use super::explain::Conn;
use super::words::secs;
use crate::analysis::evidence::{DeniedEvidence, Evidence};
use crate::analysis::model::Finding;
use crate::analysis::tally::StreamTally;
use crate::plan::Plan;
use crate::record::vocab::FindingKind;
use std::collections::{BTreeMap, BTreeSet};

/// How many of the broker's lines the evidence quotes.
const MAX_BROKER_LINES: usize = 12;

pub fn publish_denied(
    plan: &Plan,
    denied: &BTreeSet<u32>,
    closes: &BTreeMap<u32, Vec<Conn>>,
    streams: &[StreamTally],
    broker_log: Option<&[String]>,
) -> Vec<Finding> {
    let mut by_group: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
    for i in denied {
        by_group.entry(plan.clients[*i as usize].group).or_default().push(*i);
    }
    by_group
        .into_iter()
        .map(|(g, clients)| {
            let group = &plan.groups[g as usize];
            let ids: Vec<&str> = clients.iter().map(|i| plan.clients[*i as usize].client_id.as_str()).collect();
            let named: BTreeSet<&str> = ids.iter().copied().collect();
            let all = broker_log.unwrap_or_default();
            // In log order, so the first lines quoted name different clients.
            let denials: Vec<&String> =
                all.iter().filter(|l| denied_publisher(l).is_some_and(|who| named.contains(who))).collect();
            let mut quoted: Vec<String> = denials.iter().take(MAX_BROKER_LINES / 2).map(|l| l.to_string()).collect();
            let other = all.iter().filter(|l| !is_publish_denial(l) && says_why(l) && ids.iter().any(|id| mentions(l, id)));
            quoted.extend(other.take(MAX_BROKER_LINES - quoted.len()).cloned());
            let mut ends: Vec<u64> =
                clients.iter().flat_map(|i| closes.get(i).into_iter().flatten().map(|c| c.ended_us)).collect();
            ends.sort_unstable();
            let set: BTreeSet<u32> = clients.iter().copied().collect();
            let lost: u64 = streams.iter().filter(|s| set.contains(&s.publisher_client)).map(|s| s.lost).sum();
            let n = clients.len();
            let closed = if ends.is_empty() {
                "it did not close their connections".to_string()
            } else {
                format!("it closed their connections {} time(s)", ends.len())
            };
            let lost_text = if lost > 0 {
                format!("; {lost} message(s) they published were lost (see qos_violation)")
            } else {
                String::new()
            };
            Finding {
                kind: FindingKind::PublishDenied,
                summary: format!(
                    "group {}: the broker denied {} PUBLISH from {n} client(s) (its log: \"{}\"), and {closed}{lost_text}. Not a duplicate id, not a takeover: the broker's log names the denial.",
                    group.name,
                    denials.len(),
                    denials.first().map_or("", |l| l.as_str())
                ),
                client_ids: ids.iter().take(20).map(|s| s.to_string()).collect(),
                count: denials.len() as u64,
                first_s: secs(ends.first().copied().unwrap_or(0)),
                last_s: secs(ends.last().copied().unwrap_or(0)),
                evidence: Evidence::Denied(DeniedEvidence {
                    group: group.name.clone(),
                    clients: n,
                    denied: denials.len(),
                    closes: ends.len(),
                    closed_at_s: ends.iter().take(20).map(|t| secs(*t)).collect(),
                    lost,
                    broker_log: quoted,
                }),
            }
        })
        .collect()
}
