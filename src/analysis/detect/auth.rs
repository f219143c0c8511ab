//! auth_refused: CONNACK refused the credentials. Once per group, with the
//! codes counted; a storm only when the scenario asked for retries.

use super::words::secs;
use crate::analysis::evidence::{AuthEvidence, Evidence};
use crate::analysis::model::Finding;
use crate::plan::Plan;
use crate::record::names::by_name;
use crate::record::vocab::{Cause, FindingKind};
use crate::record::{ClientRecord, Generation, RunRecord};
use std::collections::BTreeMap;

/// How many of mosquitto's "not authorised" lines the evidence quotes.
const MAX_BROKER_LINES: usize = 5;

type RefusedByGroup<'a> = BTreeMap<u16, Vec<(&'a ClientRecord, Vec<&'a Generation>)>>;

fn refused_by_group<'a>(plan: &Plan, record: &'a RunRecord) -> RefusedByGroup<'a> {
    let mut by_group: RefusedByGroup = BTreeMap::new();
    for c in &record.clients {
        let refused: Vec<&Generation> =
            c.timeline.iter().filter(|g| g.cause.as_ref().is_some_and(|c| c.is_auth_refusal())).collect();
        if !refused.is_empty() {
            by_group.entry(plan.clients[c.index as usize].group).or_default().push((c, refused));
        }
    }
    by_group
}

pub fn auth_refused(plan: &Plan, record: &RunRecord) -> Vec<Finding> {
    let broker_log = record.broker.log_lines.as_deref();
    refused_by_group(plan, record)
        .into_iter()
        .map(|(g, list)| {
            let group = &plan.groups[g as usize];
            let mut codes: BTreeMap<Cause, u64> = BTreeMap::new();
            for cause in list.iter().flat_map(|(_, gens)| gens).filter_map(|g| g.cause.as_ref()) {
                *codes.entry(cause.clone()).or_default() += 1;
            }
            let attempts: u64 = codes.values().sum();
            let ends = || list.iter().flat_map(|(_, g)| g.iter().map(|x| x.ended_us));
            let ids: Vec<String> = list.iter().map(|(c, _)| plan.clients[c.index as usize].client_id.clone()).collect();
            let storm = group.retry_connect && attempts > list.len() as u64;
            let codes_text = by_name(&codes).iter().map(|(k, v)| format!("{k} ×{v}")).collect::<Vec<_>>().join(", ");
            let (name, n) = (&group.name, list.len());
            Finding {
                kind: FindingKind::AuthRefused,
                summary: if storm {
                    format!("group {name}: the broker refused the credentials of {n} clients ({codes_text}); they kept retrying as the scenario asks — {attempts} refused attempts")
                } else {
                    format!("group {name}: the broker refused the credentials of {n} clients ({codes_text}); they did not retry. Check username_env / password_env.")
                },
                client_ids: ids.iter().take(20).cloned().collect(),
                count: n as u64,
                first_s: secs(ends().min().unwrap_or(0)),
                last_s: secs(ends().max().unwrap_or(0)),
                evidence: Evidence::AuthRefused(AuthEvidence {
                    group: group.name.clone(),
                    clients: n,
                    attempts,
                    codes,
                    retried: group.retry_connect,
                    // mosquitto does not name a refused client ("Client <unknown> … not authorised").
                    broker_log: broker_log
                        .map(|l| l.iter().filter(|x| x.contains("not authorised")).take(MAX_BROKER_LINES).cloned().collect())
                        .unwrap_or_default(),
                }),
            }
        })
        .collect()
}
