//! SIGINT, SIGTERM and SIGHUP become the run's interrupt channel
//! (`stop_signal_channel`); a second signal stops spawned brokers
//! (`broker::stop_all_spawned`) and exits at once.

use crate::record::vocab::StopSignal;
use crate::runner::exit;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// SIGINT, SIGTERM and SIGHUP: the first stops the run (drain briefly,
/// write the report of what ran), a second of any quits at once.
struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<StopSignals> {
        Ok(StopSignals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> StopSignal {
        tokio::select! {
            _ = self.int.recv() => StopSignal::Sigint,
            _ = self.term.recv() => StopSignal::Sigterm,
            _ = self.hup.recv() => StopSignal::Sighup,
        }
    }

    /// `until_stopped`: the run has no duration, and the first signal is its planned end.
    async fn handle(mut self, interrupt: tokio::sync::watch::Sender<Option<StopSignal>>, until_stopped: bool) {
        let first = self.next().await;
        if until_stopped {
            eprintln!("\nmidge: {first} — publishing ends here; draining and writing the report (Ctrl-C or another signal quits at once)");
        } else {
            eprintln!(
                "\nmidge: interrupted by {first} — stopping the clients and writing the report (Ctrl-C or another signal quits at once)"
            );
        }
        let _ = interrupt.send(Some(first));
        let second = self.next().await;
        eprintln!("midge: {second} again — stopping the brokers midge started and quitting at once, without a report");
        crate::broker::stop_all_spawned();
        std::process::exit(exit::of_signal(second));
    }
}

/// SIGINT, SIGTERM and SIGHUP, delivered as the run's interrupt (inside the runtime).
pub(super) fn stop_signal_channel(
    until_stopped: bool,
) -> tokio::sync::watch::Receiver<Option<crate::record::vocab::StopSignal>> {
    let (interrupt_tx, interrupt_rx) = tokio::sync::watch::channel(None);
    match StopSignals::listen() {
        Ok(signals) => {
            tokio::spawn(signals.handle(interrupt_tx, until_stopped));
        }
        Err(e) => eprintln!("midge: cannot listen for stop signals: {e}"),
    }
    interrupt_rx
}
