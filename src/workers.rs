//! midge's client threads: one single-threaded tokio runtime per worker,
//! each owning the clients spawned onto it (client `i` on worker `i % n`).
//!
//! Why not one multi-threaded runtime: a swarm's clients never share state
//! with each other, so work stealing buys nothing, while its cross-thread
//! wake-ups (a futex and an eventfd write whenever a timer or a socket
//! wakes a task parked on the other worker) cost as much as the batching of
//! `batch_window` saves. Here a timer tick wakes one thread, which serves
//! every client of its own that is due, and sleeps again.
//!
//! Each worker also runs a precise timer (`timer`: a timerfd and a heap of
//! deadlines) that wakes its publishers at their messages' intended times,
//! finer than tokio's millisecond wheel. `MIDGE_TOKIO_TIMER=1` leaves it out
//! (publishers then wake on tokio's timer, as before), for comparison.
//!
//! Everything shared with the client tasks is `Arc`ed and `Sync` (plan, metrics
//! shards, atomics, watch channels). The main runtime keeps the runner, proxy,
//! faults, the run's background tasks (sampler, periodic snapshot, Prometheus
//! exporter) and the `$SYS` watcher.

pub mod timer;

use std::future::Future;
use std::thread::JoinHandle;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

pub struct WorkerPool {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    /// Starts `n` worker threads (at least one), each with its own runtime
    /// and, unless `MIDGE_TOKIO_TIMER=1`, its precise timer.
    pub fn start(n: usize) -> std::io::Result<WorkerPool> {
        let precise = !std::env::var_os("MIDGE_TOKIO_TIMER").is_some_and(|v| !v.is_empty() && v != "0");
        let mut pool = WorkerPool { handles: Vec::new(), stops: Vec::new(), threads: Vec::new() };
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            pool.handles.push(runtime.handle().clone());
            pool.stops.push(stop_tx);
            let thread = std::thread::Builder::new().name(format!("midge-worker-{i}")).spawn(move || {
                // Runs the clients until the pool is dropped; the runtime's
                // drop then cancels whatever is left.
                runtime.block_on(async move {
                    match precise.then(timer::Driver::install).flatten() {
                        Some(driver) => tokio::select! {
                            _ = stop_rx => {}
                            _ = driver.run() => {}
                        },
                        None => {
                            let _ = stop_rx.await;
                        }
                    }
                });
            })?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Spawns `fut` on worker `key % len`: a client stays on one thread.
    pub fn spawn<F>(&self, key: usize, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handles[key % self.handles.len()].spawn(fut)
    }

    /// Every worker's runtime handle (for per-worker probes).
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spreads_tasks_over_its_threads_and_stops_on_drop() {
        let pool = WorkerPool::start(2).unwrap();
        assert_eq!(pool.len(), 2);
        let mut names = Vec::new();
        for key in 0..4 {
            let name = pool.spawn(key, async { std::thread::current().name().unwrap_or("").to_string() });
            names.push(name.await.unwrap());
        }
        assert_eq!(names, ["midge-worker-0", "midge-worker-1", "midge-worker-0", "midge-worker-1"]);
        let forever = pool.spawn(0, std::future::pending::<()>());
        drop(pool);
        assert!(forever.await.unwrap_err().is_cancelled(), "a pool's tasks end with it");
    }
}
