//! Run control: where the run stands and what runs beside the swarm, below
//! the client, the faults, the exporter and the runner, so that each of them
//! reads the run's state from here and none imports another for it.
//!
//! - `Phase`: the run's stage, broadcast on a `watch` channel the runner
//!   owns. Every client task, the fault schedule, the progress line and the
//!   Prometheus exporter follow it; `Phase::Shutdown` is the clients'
//!   shutdown broadcast.
//! - `RunControl`: the run clock and the two `ReadyGate`s — counts the
//!   runner waits on (every client connected and subscribed before
//!   publishing; every counted publisher done) — shared with every client.
//! - `Tasks`: the background tasks of a run (the sampler, the periodic
//!   snapshot, the Prometheus exporter), spawned by name and stopped
//!   together: one shutdown signal every task watches (`Shutdown`), then
//!   every handle awaited — the shutdown pattern of tokio's mini-redis.
//!   A task that panicked is named in what `Tasks::stop` returns.
//! - `stop_requested`: the stop signal the command line forwards, named.

use crate::record::clock::RunClock;
use crate::record::vocab::StopSignal;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// Where the run stands; every client task watches it (the shutdown broadcast).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Clients connect and subscribe; nobody publishes yet.
    Connecting,
    /// Publishing, on a schedule counted from `start_us`; a message whose
    /// intended time is `end_us` or later is not sent (run-clock µs).
    Publishing { start_us: u64, end_us: u64 },
    /// No new publishes; acks and deliveries still flow.
    Draining,
    /// Disconnect now.
    Shutdown,
}

/// Waits for a stop signal (SIGINT, SIGTERM, SIGHUP: the command line
/// watches them) and names it, or waits forever when there is none.
pub async fn stop_requested(rx: &mut Option<watch::Receiver<Option<StopSignal>>>) -> StopSignal {
    match rx {
        Some(rx) => loop {
            if let Some(s) = *rx.borrow_and_update() {
                return s;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        },
        None => std::future::pending().await,
    }
}

/// Counts clients that are connected and subscribed (or gave up), so the
/// runner knows when publishing can start without a false loss.
#[derive(Debug, Default)]
pub struct ReadyGate {
    count: AtomicU32,
    notify: Notify,
}

impl ReadyGate {
    pub fn mark_ready(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Acquire)
    }

    pub async fn wait_for(&self, n: u32) {
        loop {
            let notified = self.notify.notified();
            if self.count() >= n {
                return;
            }
            notified.await;
        }
    }
}

/// The run's own time and the counts it waits on, shared by the runner and
/// every client task: the one run clock (`RunClock`), the clients ready for
/// publishing to start, and the publishers that will publish no more.
#[derive(Debug)]
pub struct RunControl {
    pub clock: RunClock,
    /// Clients connected and subscribed, refused, held back, or with nothing
    /// to subscribe: publishing starts when every client there from the
    /// start is (or the wait for that times out).
    pub ready: ReadyGate,
    /// Publishers that will publish no more (their `count` is sent, or they are gone).
    pub publishers_done: ReadyGate,
}

impl RunControl {
    pub fn new(clock: RunClock) -> RunControl {
        RunControl { clock, ready: ReadyGate::default(), publishers_done: ReadyGate::default() }
    }
}

/// The background tasks a run starts beside its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskName {
    /// The per-second time series and progress line (`runner::probes`).
    Sampler,
    /// The snapshot of the run so far and the partial report (`runner::periodic`).
    Periodic,
    /// The `--prometheus` listener (`prometheus`).
    Exporter,
}

/// What a background task watches to know it must stop.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once the tasks are told to stop (at once if they were).
    pub async fn requested(&mut self) {
        // An error means the sender is gone: that, too, is a stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// A run's background tasks: spawned by name, stopped together.
pub struct Tasks {
    shutdown: watch::Sender<bool>,
    running: Vec<(TaskName, JoinHandle<()>)>,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks { shutdown: watch::channel(false).0, running: Vec::new() }
    }
}

impl Tasks {
    /// Spawns `task` on the current runtime; it gets the shared `Shutdown`.
    pub fn spawn<F, Fut>(&mut self, name: TaskName, task: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = Shutdown(self.shutdown.subscribe());
        self.running.push((name, tokio::spawn(task(shutdown))));
    }

    /// The tasks running, by name, in the order they were spawned.
    pub fn names(&self) -> Vec<TaskName> {
        self.running.iter().map(|(n, _)| *n).collect()
    }

    /// Tells every task to stop and waits for each to end; returns those
    /// that panicked.
    pub async fn stop(mut self) -> Vec<TaskName> {
        let _ = self.shutdown.send(true);
        let mut failed = Vec::new();
        for (name, handle) in std::mem::take(&mut self.running) {
            if handle.await.is_err() {
                failed.push(name);
            }
        }
        failed
    }
}

impl Drop for Tasks {
    /// A run that ends early (an error) leaves no task behind.
    fn drop(&mut self) {
        for (_, handle) in &self.running {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn tasks_stop_together_on_one_signal_and_a_panic_is_named() {
        let mut tasks = Tasks::default();
        let stopped = Arc::new(AtomicU32::new(0));
        for name in [TaskName::Sampler, TaskName::Periodic] {
            let stopped = stopped.clone();
            tasks.spawn(name, |mut shutdown| async move {
                shutdown.requested().await;
                assert!(shutdown.is_requested());
                stopped.fetch_add(1, Ordering::SeqCst);
            });
        }
        tasks.spawn(TaskName::Exporter, |mut shutdown| async move {
            shutdown.requested().await;
            panic!("the exporter fails on its way out");
        });
        assert_eq!(tasks.names(), [TaskName::Sampler, TaskName::Periodic, TaskName::Exporter]);
        tokio::task::yield_now().await;
        assert_eq!(stopped.load(Ordering::SeqCst), 0, "nothing stops before it is told");
        assert_eq!(tasks.stop().await, [TaskName::Exporter]);
        assert_eq!(stopped.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_dropped_set_aborts_its_tasks() {
        let mut tasks = Tasks::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tasks.spawn(TaskName::Sampler, |_| async move {
            let _tx = tx;
            std::future::pending::<()>().await
        });
        drop(tasks);
        assert!(rx.await.is_err(), "the task (and its sender) is gone");
    }

    #[tokio::test]
    async fn the_ready_gate_opens_at_its_count() {
        let gate = Arc::new(ReadyGate::default());
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.wait_for(2).await }
        });
        gate.mark_ready();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        gate.mark_ready();
        waiter.await.unwrap();
        assert_eq!(gate.count(), 2);
    }
}
