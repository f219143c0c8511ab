//! The live progress display on stderr: one redrawn line on a terminal
//! (indicatif), or a plain line every few seconds when stderr is a file or a
//! CI log. The stage it names and the countdown to publishing's end follow
//! the run's `Phase` (watched, never set by hand).
//!
//! `SoFar`: lost, e2e p99 and findings by kind of the latest snapshot, from
//! `runner::periodic`.

use crate::analysis::model::Report;
use crate::control::Phase;
use crate::record::clock::RunClock;
use crate::record::{Counters, TimePoint};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often a plain progress line is written when stderr is no terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    /// Plain lines (stderr is no terminal): when the last one was written.
    plain: Option<Arc<Mutex<Instant>>>,
    planned: u32,
    phase: watch::Receiver<Phase>,
    /// The run clock `Phase::Publishing`'s end is on.
    clock: RunClock,
    /// The last snapshot's figures (`runner::periodic`), once there is one.
    so_far: Arc<Mutex<Option<SoFar>>>,
}

/// What the last snapshot of the run says (see `runner::periodic`): lost
/// counts only messages sent before its horizon, a margin before it was
/// taken, so a message still in flight is never called lost.
#[derive(Debug, Clone, PartialEq)]
pub struct SoFar {
    /// Run-clock seconds the figures are decided up to.
    pub as_of_s: f64,
    pub lost: u64,
    /// e2e p99 over the whole run so far, µs.
    pub e2e_p99_us: Option<u64>,
    /// Findings by kind, in the report's order.
    pub findings: Vec<(String, u64)>,
}

impl SoFar {
    pub fn of(r: &Report) -> SoFar {
        let mut findings: Vec<(String, u64)> = Vec::new();
        for f in &r.findings {
            match findings.iter_mut().find(|(k, _)| k == f.kind.as_str()) {
                Some((_, n)) => *n += 1,
                None => findings.push((f.kind.as_str().to_string(), 1)),
            }
        }
        SoFar {
            as_of_s: r.as_of_s.unwrap_or(r.duration_s),
            lost: r.messages.lost,
            e2e_p99_us: (r.latency.e2e.count > 0).then_some(r.latency.e2e.p99_us),
            findings,
        }
    }

    /// " · lost 0 (to 52 s) · p99 so far 3.1 ms · findings 0"
    fn words(&self) -> String {
        let p99 = self.e2e_p99_us.map_or("–".to_string(), |us| format!("{:.1} ms", us as f64 / 1000.0));
        let total: u64 = self.findings.iter().map(|(_, n)| n).sum();
        let kinds: Vec<String> = self.findings.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        let kinds = if kinds.is_empty() { String::new() } else { format!(" ({})", kinds.join(", ")) };
        format!(" · lost {} (to {:.0} s) · p99 so far {p99} · findings {total}{kinds}", self.lost, self.as_of_s)
    }
}

impl Progress {
    pub fn new(enabled: bool, planned: u32, phase: watch::Receiver<Phase>, clock: RunClock) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (enabled && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("static template"));
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
            bar
        });
        Progress {
            bar,
            plain: (enabled && !terminal).then(|| Arc::new(Mutex::new(Instant::now()))),
            planned,
            phase,
            clock,
            so_far: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether anything is displayed (a bar or plain lines).
    pub fn shown(&self) -> bool {
        self.bar.is_some() || self.plain.is_some()
    }

    /// The figures of the latest snapshot, shown from the next update on.
    pub fn set_so_far(&self, so_far: SoFar) {
        if let Ok(mut s) = self.so_far.lock() {
            *s = Some(so_far);
        }
    }

    /// The latest snapshot's figures, if there was one (the `--prometheus` exporter reads them).
    pub fn so_far(&self) -> Option<SoFar> {
        self.so_far.lock().ok().and_then(|s| s.clone())
    }

    fn line(&self, p: &TimePoint, totals: &Counters) -> String {
        let phase = *self.phase.borrow();
        let stage = stage_word(phase);
        let p99 = p.e2e_p99_us.map_or("–".to_string(), |us| format!("{:.1} ms", us as f64 / 1000.0));
        let failures: u64 = totals.connect_failures.values().sum();
        let left = match phase {
            Phase::Publishing { end_us, .. } => {
                let left = self.clock.instant_at(end_us).saturating_duration_since(Instant::now());
                // A run without a duration (`plan::UNTIL_STOPPED`) has years left.
                match left > Duration::from_secs(365 * 24 * 3600) {
                    true => " (until Ctrl-C)".to_string(),
                    false => format!(" ({} s left)", left.as_secs()),
                }
            }
            _ => String::new(),
        };
        let so_far = self.so_far.lock().ok().and_then(|s| s.as_ref().map(SoFar::words)).unwrap_or_default();
        format!(
            "{stage}{left} · connected {}/{} ({failures} failed) · published {} ({}/s) · received {} ({}/s) · e2e p99 {p99}{so_far}",
            p.connected,
            self.planned,
            totals.published_total(),
            p.published,
            totals.received_total(),
            p.received,
        )
    }

    pub fn update(&self, p: &TimePoint, totals: &Counters) {
        if let Some(bar) = &self.bar {
            bar.set_message(self.line(p, totals));
        } else if let Some(last) = &self.plain {
            let mut last = last.lock().expect("not poisoned");
            if last.elapsed() >= PLAIN_EVERY {
                *last = Instant::now();
                eprintln!("midge: t={:.0}s {}", p.t_s, self.line(p, totals));
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The stage a phase is shown as.
fn stage_word(phase: Phase) -> &'static str {
    match phase {
        Phase::Connecting => "connecting",
        Phase::Publishing { .. } => "publishing",
        Phase::Draining => "draining",
        Phase::Shutdown => "disconnecting",
    }
}

#[cfg(test)]
mod tests {
    use super::{stage_word, Phase, SoFar};

    #[test]
    fn the_stage_follows_the_phase() {
        let words = [Phase::Connecting, Phase::Publishing { start_us: 0, end_us: 1 }, Phase::Draining, Phase::Shutdown]
            .map(stage_word);
        assert_eq!(words, ["connecting", "publishing", "draining", "disconnecting"]);
    }

    #[test]
    fn the_line_says_what_the_last_snapshot_decided() {
        let so_far = SoFar {
            as_of_s: 52.4,
            lost: 3,
            e2e_p99_us: Some(3_100),
            findings: vec![("qos_violation".into(), 2), ("closed_by_broker".into(), 1)],
        };
        assert_eq!(
            so_far.words(),
            " · lost 3 (to 52 s) · p99 so far 3.1 ms · findings 3 (qos_violation ×2, closed_by_broker ×1)"
        );
        let quiet = SoFar { as_of_s: 9.0, lost: 0, e2e_p99_us: None, findings: vec![] };
        assert_eq!(quiet.words(), " · lost 0 (to 9 s) · p99 so far – · findings 0");
    }
}
