//! broker_limit: a limit the broker announced (MQTT 5 CONNACK) that the
//! scenario would break; the clients held back instead of being dropped.

use crate::analysis::evidence::{Evidence, LimitEvidence};
use crate::analysis::model::Finding;
use crate::plan::Plan;
use crate::record::vocab::{FindingKind, Limit};
use crate::record::RunRecord;
use std::collections::BTreeMap;

fn what(limit: Limit, announced: u64, needed: u64) -> String {
    match limit {
        Limit::MaximumPacketSize => {
            format!("its PUBLISH would be {needed} bytes but the broker's Maximum Packet Size is {announced}: they did not publish")
        }
        Limit::MaximumQos => {
            format!("it publishes at QoS {needed} but the broker's Maximum QoS is {announced}: they did not publish")
        }
        Limit::RetainAvailable => {
            "it publishes retained messages but the broker has Retain Available = 0: they did not publish".into()
        }
        Limit::WildcardSubscriptionAvailable => {
            "its filter has a wildcard but the broker has Wildcard Subscription Available = 0: they did not subscribe"
                .into()
        }
        other => format!("the broker announced {other} = {announced}: they held back"),
    }
}

pub fn broker_limits(plan: &Plan, record: &RunRecord) -> Vec<Finding> {
    let mut by: BTreeMap<(u16, Limit, u64, u64), Vec<String>> = BTreeMap::new();
    for c in &record.clients {
        let p = &plan.clients[c.index as usize];
        for h in &c.limits {
            by.entry((p.group, h.limit, h.announced, h.needed)).or_default().push(p.client_id.clone());
        }
    }
    by.into_iter()
        .map(|((g, limit, announced, needed), ids)| {
            let group = &plan.groups[g as usize].name;
            Finding {
                kind: FindingKind::BrokerLimit,
                summary: format!("group {group} ({} clients): {}", ids.len(), what(limit, announced, needed)),
                client_ids: ids.iter().take(20).cloned().collect(),
                count: ids.len() as u64,
                first_s: 0.0,
                last_s: 0.0,
                evidence: Evidence::Limit(LimitEvidence { group: group.clone(), limit, announced, needed }),
            }
        })
        .collect()
}
