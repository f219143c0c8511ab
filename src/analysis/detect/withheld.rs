//! queue_withheld: a persistent subscriber came back on a resumed session
//! (Session Present = 1) after messages were published for it, and nothing
//! came on that connection to its end (`RxLog::backlog_never_began`), while
//! messages published during its absence and not past their expiry are
//! lost (counted in its `subscriber_offline` window). The broker held the
//! session and its subscription but never began to send the queue.
//!
//! A connection that ended within a moment for another reason — a fault's
//! cut, the broker closing it — is no evidence: the connection must have
//! lasted at least `MIN_WITHHELD_US` (the drain's shortest stall period,
//! `runner::drain::stall_period`) or ended with the run after a drain that
//! waited the stall period for it (`DrainEnd::Quiet`). No finding when
//! nothing was lost (all of it expired, say) or the backlog began.
//!
//! No protocol rule is claimed: MQTT sets no time by which a resumed queue
//! must begin; the finding says what was seen.

use super::words::secs;
use crate::analysis::evidence::{Evidence, WithheldEvidence};
use crate::analysis::model::Finding;
use crate::analysis::tally::{StreamTally, Tally, WindowTally};
use crate::plan::Plan;
use crate::record::vocab::{DrainEnd, FindingKind, LossWindow};
use crate::record::{ClientRecord, Generation, RunRecord};
use std::collections::BTreeMap;

/// How long a resumed connection must have lasted with nothing on it to
/// be evidence of a withheld queue: the drain's shortest stall period.
pub const MIN_WITHHELD_US: u64 = 2_000_000;

/// Most publishers, and lost ranges per publisher, the evidence lists.
const MAX_LISTED: usize = 4;

/// One finding per persistent subscriber with a resumed connection on
/// which its backlog never began while its absence lost messages.
pub fn queues_withheld(plan: &Plan, record: &RunRecord, tally: &Tally) -> Vec<Finding> {
    record.clients.iter().filter_map(|c| withheld(plan, record, tally, c)).collect()
}

/// The connection of `c` that shows a withheld queue (the first, if several).
fn withheld(plan: &Plan, record: &RunRecord, tally: &Tally, c: &ClientRecord) -> Option<Finding> {
    let client = plan.clients.get(c.index as usize)?;
    if !plan.group_of(client).persistent() {
        return None;
    }
    let (i, gen, window) = c.rx.as_ref()?.backlog_never_began.iter().find_map(|&i| {
        let gen = c.timeline.get(i as usize)?;
        // Its offline window began after the connection before it came up.
        let before = c.timeline[..i as usize].iter().rev().find_map(|g| g.connected_us).unwrap_or(0);
        let window = evidence_of_withheld(record, tally, (c.index, before), gen)?;
        Some((i, gen, window))
    })?;
    let connected_us = gen.connected_us?;
    let mine: Vec<&StreamTally> =
        tally.streams.iter().filter(|s| s.subscriber_client == c.index && s.share.is_none()).collect();
    let expired: u64 = mine.iter().map(|s| s.expired).sum();
    let qos = mine.iter().filter(|s| s.lost > 0).map(|s| s.qos).max().unwrap_or(1);
    let id = |p: u32| plan.clients.get(p as usize).map_or_else(|| format!("client {p}"), |c| c.client_id.clone());
    let first_lost: BTreeMap<String, Vec<(u64, u64)>> = mine
        .iter()
        .filter(|s| !s.lost_ranges.is_empty())
        .take(MAX_LISTED)
        .map(|s| (id(s.publisher_client), s.lost_ranges.iter().take(MAX_LISTED).copied().collect()))
        .collect();
    let (unexpired, older) = match expired {
        0 => ("", String::new()),
        n => (" and not past their expiry", format!(" ({n} message(s) to it expired in the run)")),
    };
    let summary = format!(
        "{}'s session resumed at {} s (Session Present = 1) and nothing came on that connection in the {} s to its end: {} QoS {qos} message(s) published while it was away{unexpired} never came{older}",
        client.client_id,
        secs(connected_us),
        secs(gen.ended_us.saturating_sub(connected_us)),
        window.lost,
    );
    Some(Finding {
        kind: FindingKind::QueueWithheld,
        summary,
        client_ids: vec![client.client_id.clone()],
        count: window.lost,
        first_s: secs(connected_us),
        last_s: secs(gen.ended_us),
        evidence: Evidence::Withheld(WithheldEvidence {
            client: client.client_id.clone(),
            connection: i,
            ended_s: secs(gen.ended_us),
            expired,
            first_lost,
            resumed_s: secs(connected_us),
            withheld: window.lost,
        }),
    })
}

/// The offline window before `gen` (a connection of `client` whose backlog
/// never began; the connection before it came up at `after_us`) when `gen`
/// is evidence of a withheld queue: resumed, long enough or ended with the
/// run after a quiet drain, and messages of that window lost.
fn evidence_of_withheld<'a>(
    record: &RunRecord,
    tally: &'a Tally,
    (client, after_us): (u32, u64),
    gen: &Generation,
) -> Option<&'a WindowTally> {
    let connected_us = gen.connected_us.filter(|_| gen.session_present)?;
    let lasted = gen.ended_us.saturating_sub(connected_us) >= MIN_WITHHELD_US;
    let with_the_run = gen.cause.is_none() && gen.left_us.is_none() && record.drain.ended == DrainEnd::Quiet;
    if !(lasted || with_the_run) {
        return None;
    }
    let before = tally
        .windows
        .iter()
        .filter(|w| w.kind == LossWindow::SubscriberOffline && w.client == Some(client))
        .find(|w| after_us <= w.start_us && w.start_us < connected_us)?;
    (before.lost > 0).then_some(before)
}
