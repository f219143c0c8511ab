//! The PIDs of the brokers midge spawned, so that every exit stops them
//! (even those that run no destructor), and the broker's process as the
//! sampler sees it (`BrokerPid`).
//!
//! `stop_all_spawned` kills and reaps the registered mosquittos, and removes
//! their folders (`/tmp/midge-mosquitto-*`: config, log, persistence) — before a
//! second signal's `std::process::exit`, from the panic hook `cli` installs (a
//! panic on the main thread; a client task's panic is caught and counted as a
//! lost task, and the run and its broker go on), and in `main` after
//! `cli::main` returns. The normal end and errors drop the handle.
//! `BrokerPid` follows a spawned mosquitto across restarts
//! (`BrokerHandle::restart`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// The PIDs of the mosquitto processes this midge started and has not yet
/// stopped (and reaped): a PID is here exactly while it is our unreaped
/// child, so it cannot have been reused by another process.
static SPAWNED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

pub(super) fn spawned() -> std::sync::MutexGuard<'static, Vec<u32>> {
    // A panic while holding it (there is none) must not keep brokers alive.
    SPAWNED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The folders of the spawned mosquittos whose handles still live: removed
/// by `stop_all_spawned` on the exits that run no destructor (the handle's
/// `TempDir` removes its own on every other).
static DIRS: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

fn dirs() -> std::sync::MutexGuard<'static, Vec<std::path::PathBuf>> {
    DIRS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A spawned broker's folder, to remove if midge exits without destructors.
pub(super) fn register_dir(dir: &std::path::Path) {
    dirs().push(dir.to_path_buf());
}

/// The folder's handle is going away (and removes it itself).
pub(super) fn forget_dir(dir: &std::path::Path) {
    dirs().retain(|d| d != dir);
}

/// The brokers midge has started and not yet stopped, by PID.
pub fn spawned_pids() -> Vec<u32> {
    spawned().clone()
}

/// Stops every broker this process spawned and still runs: kill -9 and
/// reap, by PID — only processes midge started itself — and removes their
/// folders. For the exits that
/// run no destructors: a second stop signal's `std::process::exit`, and a
/// panic that ends midge (cli's panic hook).
pub fn stop_all_spawned() {
    let mut pids = spawned();
    for pid in pids.drain(..) {
        // SAFETY: plain syscalls on a PID that is our own unreaped child.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
    }
    // Its brokers gone, nothing writes there any more.
    for dir in dirs().drain(..) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Which process the broker is, for the sampler's once-a-second look at
/// its CPU and memory: a spawned mosquitto's current PID (updated when it
/// is killed and started again), or a fixed one (`--broker-pid`).
#[derive(Debug, Clone, Default)]
pub struct BrokerPid(Arc<AtomicU32>);

impl BrokerPid {
    /// Always this process (a broker midge did not start: `--broker-pid`).
    pub fn fixed(pid: u32) -> BrokerPid {
        BrokerPid(Arc::new(AtomicU32::new(pid)))
    }

    /// The broker's PID now; None when midge knows of no broker process
    /// (or the spawned one is down).
    pub fn get(&self) -> Option<u32> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&p| p != 0)
    }

    pub(super) fn set(&self, pid: Option<u32>) {
        self.0.store(pid.unwrap_or(0), Ordering::Relaxed);
    }
}
