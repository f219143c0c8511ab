//! report.md under "## Messages": where the lost messages went — each loss
//! window kind in words (`window_words` matches every `LossWindow`, so a new
//! kind cannot reach report.md as a raw key) — and the loss windows' table.

use crate::analysis::model::{Messages, Report};
use crate::record::vocab::LossWindow;
use std::fmt::Write;

/// What the messages lost in a window of this kind were, for "N … lost".
fn window_words(kind: LossWindow) -> &'static str {
    match kind {
        LossWindow::Steady => "in steady state (both ends connected)",
        LossWindow::SubscriberOffline => "published while their subscriber was offline or reconnecting",
        LossWindow::PublisherOffline => "published around their publisher's drop",
        LossWindow::BrokerRestart => "held by the broker when it was restarted",
        LossWindow::SessionExpired => "published after their subscriber's session expired (nothing was owed)",
        LossWindow::SessionLost => "owed to a session the broker discarded before it expired",
        LossWindow::SlowConsumer => "owed to a slow consumer while it was behind on its reads",
    }
}

/// Still under "## Messages": where the lost messages went, told apart from
/// those a clean session rightly missed and those the broker had to queue.
pub(super) fn message_losses(o: &mut String, r: &Report) {
    let m = &r.messages;
    if m.lost > 0 {
        // In the order of the windows' names, as report.json lists them.
        let mut lost: Vec<(LossWindow, u64)> = m.lost_by_window.iter().map(|(k, n)| (*k, *n)).collect();
        lost.sort_by_key(|(k, _)| k.as_str());
        let parts: Vec<String> =
            lost.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{n} {}", window_words(*k))).collect();
        let _ = writeln!(o, "**{} messages lost**: {}.\n", m.lost, parts.join("; "));
    }
    if m.missed_offline > 0 {
        let _ = writeln!(
            o,
            "{} messages were published while clean-session subscribers were offline and never reached them: missed, as a clean session means, not lost.\n",
            m.missed_offline
        );
    }
    if m.queued_offline > 0 {
        let _ = writeln!(
            o,
            "{} messages were published while persistent-session subscribers were away; the broker had to queue them.\n",
            m.queued_offline
        );
    }
    mqtt5_lines(o, m);
}

/// MQTT 5 message expiry, topic aliases and user properties, when used.
fn mqtt5_lines(o: &mut String, m: &Messages) {
    if m.expired > 0 {
        let _ = writeln!(o, "{} messages passed their MQTT 5 expiry while queued for an offline persistent subscriber: the broker discarded them, and nobody was owed them (not lost).\n", m.expired);
    }
    if m.topic_alias_bytes_saved != 0 {
        let _ = writeln!(
            o,
            "MQTT 5 topic aliases saved {} bytes on the wire (topic bytes left out less alias properties added).\n",
            m.topic_alias_bytes_saved
        );
    }
    if m.user_properties_checked > 0 {
        let _ = writeln!(
            o,
            "MQTT 5 user properties checked on {} deliveries: {} did not match what their publisher sent.\n",
            m.user_properties_checked, m.user_property_mismatches
        );
    }
}

/// Still under "## Messages": the first 30 loss windows as a table.
pub(super) fn loss_windows(o: &mut String, r: &Report) {
    if r.loss_windows.is_empty() {
        return;
    }
    let _ = writeln!(o, "| window | client | from (s) | to (s) | lost | missed offline |");
    let _ = writeln!(o, "|---|---|---|---|---|---|");
    for w in r.loss_windows.iter().take(30) {
        let _ = writeln!(
            o,
            "| {} | {} | {:.3} | {:.3} | {} | {} |",
            w.kind,
            w.client.as_deref().unwrap_or("(broker)"),
            w.start_s,
            w.end_s,
            w.lost,
            w.missed_offline
        );
    }
    o.push('\n');
}
