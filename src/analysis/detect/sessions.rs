//! session_lost: a persistent session came back without its session
//! (CONNACK session_present = 0) before the expiry the client asked for ran
//! out — the broker discarded what it owed. (Back after the expiry, nothing
//! was owed: that is `session_expired`, missed, and no finding.)

use super::words::secs;
use crate::analysis::evidence::{Evidence, SessionLostEvidence, SpanEvidence};
use crate::analysis::model::Finding;
use crate::analysis::tally::{windows_by_client, WindowTally};
use crate::plan::Plan;
use crate::record::vocab::{FindingKind, LossWindow};

pub fn sessions_lost(plan: &Plan, windows: &[WindowTally]) -> Vec<Finding> {
    let by_client = windows_by_client(windows, |w| w.kind == LossWindow::SessionLost);
    by_client
        .into_iter()
        .map(|(client, list)| {
            let c = &plan.clients[client as usize];
            let g = plan.group_of(c);
            let lost: u64 = list.iter().map(|w| w.lost).sum();
            let expiry = match (g.protocol.as_str(), g.session_expiry_s) {
                ("5", s) if s != u32::MAX => format!("its session expiry of {s} s"),
                _ => "a session that never expires".to_string(),
            };
            Finding {
                kind: FindingKind::SessionLost,
                summary: format!(
                    "{} (group {}) came back {} time(s) to find its session gone (session_present = 0) within {expiry}: the broker discarded {lost} message(s) it owed",
                    c.client_id,
                    g.name,
                    list.len()
                ),
                client_ids: vec![c.client_id.clone()],
                count: lost,
                first_s: secs(list.first().map_or(0, |w| w.start_us)),
                last_s: secs(list.last().map_or(0, |w| w.end_us)),
                evidence: Evidence::SessionLost(SessionLostEvidence {
                    group: g.name.clone(),
                    session_expiry_s: (g.session_expiry_s != u32::MAX).then_some(g.session_expiry_s),
                    offline: list.iter().map(|w| SpanEvidence { from_s: secs(w.start_us), to_s: secs(w.end_us), lost: w.lost }).collect(),
                }),
            }
        })
        .collect()
}
