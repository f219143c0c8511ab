//! subscribe_refused: the broker answered SUBSCRIBE with a failure code
//! (3.1.1: 0x80; MQTT 5: a reason such as not_authorized). Such a client
//! expects nothing (its subscription never went live); once per group.

use super::words::secs;
use crate::analysis::evidence::{Evidence, SubscribeEvidence};
use crate::analysis::model::Finding;
use crate::mqtt::protocol::ProtocolVersion;
use crate::plan::Plan;
use crate::record::names::by_name;
use crate::record::vocab::{FindingKind, SubackFailure};
use crate::record::RunRecord;
use std::collections::BTreeMap;

pub fn subscribe_refused(plan: &Plan, record: &RunRecord) -> Vec<Finding> {
    // group → [(client id, code, when)]
    let mut by_group: BTreeMap<u16, Vec<(&str, u8, u64)>> = BTreeMap::new();
    for c in &record.clients {
        let p = &plan.clients[c.index as usize];
        let last_refusal = c
            .timeline
            .iter()
            .rev()
            .find_map(|g| g.suback_code.filter(|&code| code >= 0x80).map(|code| (code, g.heard_us)));
        if let Some((code, at)) = last_refusal {
            by_group.entry(p.group).or_default().push((p.client_id.as_str(), code, at));
        }
    }
    by_group
        .into_iter()
        .map(|(g, list)| {
            let group = &plan.groups[g as usize];
            let mut codes: BTreeMap<SubackFailure, u64> = BTreeMap::new();
            for &(_, code, _) in &list {
                *codes.entry(SubackFailure::of(group.protocol == ProtocolVersion::V5, code)).or_default() += 1;
            }
            let filter = plan.clients[group.first_client as usize].filter.clone().unwrap_or_default();
            let codes_text = by_name(&codes).iter().map(|(k, v)| format!("{k} ×{v}")).collect::<Vec<_>>().join(", ");
            Finding {
                kind: FindingKind::SubscribeRefused,
                summary: format!(
                    "group {}: the broker refused the subscription to {filter:?} of {} client(s) ({codes_text}); they expect nothing",
                    group.name,
                    list.len()
                ),
                client_ids: list.iter().take(20).map(|(id, _, _)| id.to_string()).collect(),
                count: list.len() as u64,
                first_s: secs(list.iter().map(|x| x.2).min().unwrap_or(0)),
                last_s: secs(list.iter().map(|x| x.2).max().unwrap_or(0)),
                evidence: Evidence::SubscribeRefused(SubscribeEvidence {
                    group: group.name.clone(),
                    filter: filter.to_string(),
                    codes,
                }),
            }
        })
        .collect()
}
