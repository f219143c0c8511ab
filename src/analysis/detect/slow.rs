//! slow_consumer: a subscriber lost messages while midge held back its reads
//! (`subscribe.max_rate`, a `stall` fault) — the broker's queue for it was
//! full. The evidence sets midge's count beside the broker's own: its log
//! lines about dropping the client's messages (mosquitto: "Outgoing messages
//! are being dropped for client X.") and the rise of its `$SYS`
//! `publish/messages/dropped` counter over the run.

use super::brokerlog::lines_about;
use super::words::secs;
use crate::analysis::evidence::{Evidence, SlowConsumerEvidence, SpanEvidence};
use crate::analysis::model::Finding;
use crate::analysis::tally::{windows_by_client, WindowTally};
use crate::plan::Plan;
use crate::record::vocab::{FindingKind, LossWindow};
use crate::record::SysPoint;

/// How far the broker's `$SYS` dropped counter rose over the run (its
/// rounds inside the run, `analysis::sys_run::rise`); None without two.
pub fn sys_dropped_rise(series: &[SysPoint], run_end_us: u64) -> Option<u64> {
    crate::analysis::sys_run::rise(series, run_end_us, |p| p.dropped)
}

/// A broker line saying it drops a client's outgoing messages.
pub fn says_dropping(line: &str) -> bool {
    line.to_lowercase().contains("being dropped")
}

/// What shows the loss was dropping, in words: `below` of the `lost` are
/// missing below a later delivery (the broker skipped them); for the rest,
/// after the last delivery, only the broker's own word (`broker_says`: a
/// log line, a rise of its dropped count) shows it — without it, say so.
fn evidence_of_dropping(lost: u64, below: u64, broker_says: bool) -> String {
    let skipped = match below {
        0 => String::new(),
        b if b == lost => " (each missing below a later delivery: the broker skipped it)".to_string(),
        b => format!(" ({b} missing below a later delivery: the broker skipped them)"),
    };
    let unproven = match (lost - below, broker_says) {
        (0, _) | (_, true) => String::new(),
        (n, false) => format!(
            "; {n} after its last delivery, with no sign the broker dropped them (no log line, no rise of its dropped count)"
        ),
    };
    format!("{skipped}{unproven}")
}

pub fn slow_consumers(
    plan: &Plan,
    windows: &[WindowTally],
    log: Option<&[String]>,
    series: &[SysPoint],
    run_end_us: u64,
) -> Vec<Finding> {
    let by_client = windows_by_client(windows, |w| w.kind == LossWindow::SlowConsumer && w.lost > 0);
    let broker_dropped = sys_dropped_rise(series, run_end_us);
    by_client
        .into_iter()
        .map(|(client, list)| {
            let c = &plan.clients[client as usize];
            let g = plan.group_of(c);
            let lost: u64 = list.iter().map(|w| w.lost).sum();
            let lines: Vec<&String> = lines_about(log, &c.client_id).filter(|l| says_dropping(l)).collect();
            let why = match g.max_rate {
                Some(r) => format!("took in at most {r} msg/s (max_rate)"),
                None => "stopped reading (stall fault)".to_string(),
            };
            let broker_says = match (lines.is_empty(), broker_dropped) {
                (false, Some(d)) => {
                    format!(
                        "; the broker logged that it dropped its messages and counted {d} dropped over the run ($SYS)"
                    )
                }
                (false, None) => "; the broker logged that it dropped its messages".to_string(),
                (true, Some(d)) => {
                    format!("; the broker counted {d} dropped over the run ($SYS) and logged nothing about this client")
                }
                (true, None) => {
                    "; the broker's own evidence is not available (not spawned by midge, no $SYS)".to_string()
                }
            };
            let below: u64 = list.iter().map(|w| w.below_later).sum();
            let evidence = evidence_of_dropping(lost, below, !lines.is_empty() || broker_dropped.is_some_and(|d| d > 0));
            Finding {
                kind: FindingKind::SlowConsumer,
                summary: format!(
                    "{} (group {}) {why} and lost {lost} message(s) published while it was behind{evidence}{broker_says}",
                    c.client_id, g.name
                ),
                client_ids: vec![c.client_id.clone()],
                count: lost,
                first_s: secs(list.first().map_or(0, |w| w.start_us)),
                last_s: secs(list.last().map_or(0, |w| w.end_us)),
                evidence: Evidence::SlowConsumer(SlowConsumerEvidence {
                    group: g.name.clone(),
                    max_rate: g.max_rate,
                    lost,
                    behind: list
                        .iter()
                        .map(|w| SpanEvidence { from_s: secs(w.start_us), to_s: secs(w.end_us), lost: w.lost })
                        .collect(),
                    broker_lines: lines.into_iter().cloned().collect(),
                    broker_dropped,
                    missing_below_later: below,
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::evidence_of_dropping;

    #[test]
    fn loss_is_stated_with_what_shows_it_was_dropping() {
        assert_eq!(evidence_of_dropping(3, 3, false), " (each missing below a later delivery: the broker skipped it)");
        assert_eq!(evidence_of_dropping(5, 0, true), "");
        assert_eq!(
            evidence_of_dropping(5, 2, false),
            " (2 missing below a later delivery: the broker skipped them); 3 after its last delivery, with no sign the broker dropped them (no log line, no rise of its dropped count)"
        );
    }
}
