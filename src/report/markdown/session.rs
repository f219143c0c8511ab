//! report.md's lines on last wills and retained messages, under "## Messages",
//! only when the run had any.

use crate::analysis::model::Report;
use std::fmt::Write;

/// One paragraph each for wills and retained messages (nothing when neither).
pub fn wills_and_retained(o: &mut String, r: &Report) {
    let w = &r.wills;
    if w.expected + w.received + w.duplicated + w.unexpected > 0 {
        let _ = write!(
            o,
            "Last wills: {} expected, {} received, {} missing, {} duplicated, {} not owed",
            w.expected, w.received, w.missing, w.duplicated, w.unexpected
        );
        if w.not_yet_due > 0 {
            let _ = write!(o, ", {} not yet due when the run ended (the will delay and the broker's one-second will-delay check outlast the drain)", w.not_yet_due);
        }
        match &w.latency_ms {
            Some(l) => {
                let _ = writeln!(o, "; kill to delivery p50 {} ms, p99 {} ms, max {} ms.\n", l.p50, l.p99, l.max);
            }
            None => o.push_str(".\n\n"),
        }
    }
    let t = &r.retained;
    if t.topics_set + t.replays_received + t.leftover_replays > 0 || t.cleared.is_some() {
        let _ = write!(
            o,
            "Retained messages: {} topics set; {} replays owed to later subscriptions, {} received, {} missing, {} extra",
            t.topics_set, t.expected_replays, t.replays_received, t.missing, t.extra
        );
        if t.leftover_replays > 0 {
            let _ = write!(o, "; {} left over from an earlier run", t.leftover_replays);
        }
        match (t.cleared, &t.cleanup_error) {
            (Some(n), None) => {
                let _ = write!(o, "; {n} topics cleared at the end");
            }
            (Some(n), Some(e)) => {
                let _ = write!(o, "; {n} topics cleared at the end, then: {e}");
            }
            (None, _) => {}
        }
        o.push_str(".\n\n");
    }
}
