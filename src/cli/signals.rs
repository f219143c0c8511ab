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

/// A panic that ends midge (one on the main thread, where the runner and
/// the command line run) first stops every broker midge spawned: an exit
/// by panic must not leave one behind. A client task's panic is caught by
/// its runtime and counted as a lost task; the run, and its broker, go on.
pub(super) fn stop_brokers_on_fatal_panic() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            crate::broker::stop_all_spawned();
        }
        previous(info);
    }));
}

/// The main runtime: it carries the runner, the proxy, faults and the
/// sampler (the clients run on their own worker threads, `workers::WorkerPool`).
pub(super) fn main_runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::BAD_INPUT
    })
}
