//! The live one-line progress display (stderr, only on a terminal).

use crate::metrics::{Counters, TimePoint};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    planned: u32,
    stage: Arc<Mutex<&'static str>>,
}

impl Progress {
    pub fn new(enabled: bool, planned: u32) -> Progress {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("static template"));
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
            bar
        });
        Progress { bar, planned, stage: Arc::new(Mutex::new("connecting")) }
    }

    pub fn set_stage(&self, stage: &'static str) {
        if let Ok(mut s) = self.stage.lock() {
            *s = stage;
        }
    }

    pub fn update(&self, p: &TimePoint, totals: &Counters) {
        let Some(bar) = &self.bar else { return };
        let stage = self.stage.lock().map(|s| *s).unwrap_or("running");
        let p99 = p.e2e_p99_us.map_or("–".to_string(), |us| format!("{:.1} ms", us as f64 / 1000.0));
        let failures: u64 = totals.connect_failures.values().sum();
        bar.set_message(format!(
            "{stage} · connected {}/{} ({failures} failed) · published {} ({}/s) · received {} ({}/s) · e2e p99 {p99}",
            p.connected,
            self.planned,
            totals.published_total(),
            p.published,
            totals.received_total(),
            p.received,
        ));
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
