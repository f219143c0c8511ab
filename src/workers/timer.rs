//! Precise wake-ups for publishers: one high-resolution timer per worker
//! thread.
//!
//! tokio's timer wheel counts in whole milliseconds and rounds a deadline up
//! to the next one, so a publisher woken by it leaves up to a millisecond
//! after its message's intended time — more than a quiet broker takes to
//! deliver it. Here each worker thread has one Linux `timerfd`
//! (`CLOCK_MONOTONIC`, absolute deadlines in nanoseconds) registered with
//! that worker's tokio reactor, and a thread-local min-heap of (deadline,
//! slot): the `Driver` (run by the worker beside its clients) waits for the
//! timerfd, wakes every publisher whose deadline has come, and sets the
//! timerfd to the next deadline. A client lives on one worker and never
//! moves, so it is known by its index in its own thread's heap, and
//! carries no timer state of its own.
//!
//! The timerfd fires at most once per `MIN_GAP` on a worker: thousands of
//! publishers with deadlines a few µs apart are woken together rather than
//! one thread wake-up each. Keepalive and everything coarse stay on tokio's
//! timer; where no driver runs (a unit test's runtime, another OS, or
//! `MIDGE_TOKIO_TIMER=1`) `available()` is false and callers use tokio's.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A worker's timer fires at most this often: what is due within it is
/// woken by one fire.
pub const MIN_GAP: Duration = Duration::from_micros(100);

/// One client's wait, by its index.
#[derive(Default)]
struct Slot {
    /// The deadline it waits for (in the heap), if any.
    deadline: Option<Instant>,
    /// Who to wake: set while a `PreciseSleep` is polled.
    waker: Option<Waker>,
}

struct Wheel {
    fd: i32,
    /// (deadline, client); entries whose client waits for another deadline are stale.
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
    /// By client index: one per publisher that ever waited here (a few
    /// dozen bytes each, on the worker, not in the client).
    slots: HashMap<u32, Slot>,
    /// What the timerfd is set to (None: nothing, or it has fired).
    armed: Option<Instant>,
    fired_at: Option<Instant>,
    /// An `Instant` and the `CLOCK_MONOTONIC` reading just after it.
    epoch: (Instant, Duration),
}

thread_local! {
    static WHEEL: RefCell<Option<Wheel>> = const { RefCell::new(None) };
}

fn with_wheel<R>(f: impl FnOnce(&mut Wheel) -> R) -> Option<R> {
    WHEEL.try_with(|w| w.borrow_mut().as_mut().map(f)).ok().flatten()
}

/// Whether this thread has a precise timer (a worker thread with its driver running).
pub fn available() -> bool {
    WHEEL.try_with(|w| w.borrow().is_some()).unwrap_or(false)
}

impl Wheel {
    fn new(fd: i32) -> Wheel {
        let at = Instant::now();
        Wheel {
            fd,
            heap: BinaryHeap::new(),
            slots: HashMap::new(),
            armed: None,
            fired_at: None,
            epoch: (at, monotonic_now()),
        }
    }

    fn is_live(&self, (deadline, key): (Instant, u32)) -> bool {
        self.slots.get(&key).is_some_and(|s| s.deadline == Some(deadline))
    }

    fn register(&mut self, key: u32, deadline: Instant, waker: &Waker) {
        let s = self.slots.entry(key).or_default();
        match &s.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => s.waker = Some(waker.clone()),
        }
        if s.deadline != Some(deadline) {
            s.deadline = Some(deadline);
            self.heap.push(Reverse((deadline, key)));
            self.arm();
        }
    }

    /// Sets the timerfd to the earliest live deadline, but no sooner than
    /// `MIN_GAP` after the last fire; leaves it when it is set earlier
    /// already (that fire sets it again).
    fn arm(&mut self) {
        while let Some(&Reverse(top)) = self.heap.peek() {
            if self.is_live(top) {
                break;
            }
            self.heap.pop();
        }
        let Some(&Reverse((first, _))) = self.heap.peek() else { return };
        let at = self.fired_at.map_or(first, |f| first.max(f + MIN_GAP));
        if self.armed.is_some_and(|a| a <= at) {
            return;
        }
        let mono = self.epoch.1 + at.saturating_duration_since(self.epoch.0);
        set_timerfd(self.fd, mono.max(Duration::from_nanos(1)));
        self.armed = Some(at);
    }

    /// The timerfd fired: hands over the wakers of everything due by `now`.
    fn fire(&mut self, now: Instant, due: &mut Vec<Waker>) {
        self.armed = None;
        self.fired_at = Some(now);
        while let Some(&Reverse(top)) = self.heap.peek() {
            if top.0 > now {
                break;
            }
            self.heap.pop();
            if let Some(s) = self.slots.get_mut(&top.1).filter(|s| s.deadline == Some(top.0)) {
                s.deadline = None;
                due.extend(s.waker.take());
            }
        }
        self.arm();
    }
}

#[cfg(target_os = "linux")]
fn monotonic_now() -> Duration {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime fills the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn monotonic_now() -> Duration {
    Duration::ZERO
}

#[cfg(target_os = "linux")]
fn set_timerfd(fd: i32, at: Duration) {
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let spec = libc::itimerspec {
        it_interval: zero,
        it_value: libc::timespec { tv_sec: at.as_secs() as libc::time_t, tv_nsec: at.subsec_nanos() as _ },
    };
    // SAFETY: `fd` is the driver's timerfd (the wheel is gone once the
    // driver drops it); the spec is a valid itimerspec.
    unsafe { libc::timerfd_settime(fd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) };
}

#[cfg(not(target_os = "linux"))]
fn set_timerfd(_fd: i32, _at: Duration) {}

/// Runs a worker's precise timer; while it runs, `available()` is true on
/// its thread. Dropping it (the worker stopping) takes the timer away.
pub struct Driver {
    #[cfg(target_os = "linux")]
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    due: Vec<Waker>,
}

impl Driver {
    /// Creates the timerfd and registers it with the current runtime's
    /// reactor (call inside the worker's runtime). None where that fails or
    /// is not Linux: the thread keeps tokio's timer.
    #[cfg(target_os = "linux")]
    pub fn install() -> Option<Driver> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: plain system call; the fd is owned below.
        let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the AsyncFd owns `owned`, which stays open and the same
        // fd until the AsyncFd drops it.
        let fd =
            unsafe { tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }.ok()?;
        let wheel = Wheel::new(fd.get_ref().as_raw_fd());
        WHEEL.with(|w| *w.borrow_mut() = Some(wheel));
        Some(Driver { fd, due: Vec::new() })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn install() -> Option<Driver> {
        None
    }

    /// Wakes publishers as their deadlines come, until dropped.
    #[cfg(target_os = "linux")]
    pub async fn run(mut self) {
        use std::os::fd::AsRawFd;
        loop {
            let Ok(mut guard) = self.fd.readable().await else { return };
            let mut expirations = [0u8; 8];
            // SAFETY: reads 8 bytes into an 8-byte buffer. Nothing is left
            // to read until the next expiry, which is a new edge: clearing
            // the readiness here loses no fire.
            unsafe { libc::read(self.fd.get_ref().as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
            guard.clear_ready();
            let now = Instant::now();
            let due = &mut self.due;
            with_wheel(|w| w.fire(now, due));
            // Woken outside the wheel's borrow.
            for waker in self.due.drain(..) {
                waker.wake();
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub async fn run(self) {}
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Before the timerfd closes: nobody may set it afterwards.
        let _ = WHEEL.try_with(|w| w.borrow_mut().take());
    }
}

/// Completes at `deadline` (within the timer's latency, tens of µs, and
/// at most `MIN_GAP` later when the worker's timer just fired), for the
/// client `key` (its index: unique on its worker). Where the thread has no
/// precise timer it completes at once: the caller looks again and takes
/// tokio's timer.
pub fn sleep_until(key: u32, deadline: Instant) -> PreciseSleep {
    PreciseSleep { key, registered: false, deadline }
}

pub struct PreciseSleep {
    key: u32,
    registered: bool,
    deadline: Instant,
}

impl Future for PreciseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            return Poll::Ready(());
        }
        let (key, deadline) = (this.key, this.deadline);
        this.registered = with_wheel(|w| w.register(key, deadline, cx.waker())).is_some();
        if this.registered {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl Drop for PreciseSleep {
    fn drop(&mut self) {
        // The deadline stays in the heap (the next wait is most likely for
        // the same one); only the waker goes, so a fire nobody waits for
        // wakes nobody.
        if self.registered {
            with_wheel(|w| w.slots.get_mut(&self.key).map(|s| s.waker = None));
        }
    }
}

/// A client's next wake-up: the precise timer for its next publish,
/// tokio's for the rest. One future, the size of tokio's `Sleep`, so an
/// idle client's state does not grow.
pub enum Wake {
    Precise(PreciseSleep),
    Tokio(tokio::time::Sleep),
}

impl Wake {
    pub fn precise(key: u32, deadline: Instant) -> Wake {
        Wake::Precise(sleep_until(key, deadline))
    }

    pub fn tokio(deadline: Instant) -> Wake {
        Wake::Tokio(tokio::time::sleep_until(deadline.into()))
    }
}

impl Future for Wake {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: a pin projection; neither variant is moved out of.
        match unsafe { self.get_unchecked_mut() } {
            Wake::Precise(p) => Pin::new(p).poll(cx),
            Wake::Tokio(s) => unsafe { Pin::new_unchecked(s) }.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    #[test]
    fn fires_in_deadline_order_and_skips_stale_entries() {
        let mut w = Wheel::new(-1);
        let waker = &Waker::from(Arc::new(Noop));
        let t0 = Instant::now() + Duration::from_secs(10);
        let (a, b) = (7, 9);
        w.register(a, t0 + Duration::from_millis(2), waker);
        w.register(b, t0 + Duration::from_millis(1), waker);
        // a moves its deadline: the old entry is stale.
        w.register(a, t0 + Duration::from_millis(3), waker);
        assert_eq!(w.armed, Some(t0 + Duration::from_millis(1)));
        let mut due = Vec::new();
        w.fire(t0 + Duration::from_micros(2500), &mut due);
        assert_eq!(due.len(), 1, "only b; a's old deadline is stale");
        assert_eq!(w.armed, Some(t0 + Duration::from_millis(3)));
        due.clear();
        w.fire(t0 + Duration::from_millis(4), &mut due);
        assert_eq!(due.len(), 1, "a");
        assert!(w.heap.is_empty());
    }

    #[test]
    fn fires_no_more_often_than_the_min_gap() {
        let mut w = Wheel::new(-1);
        let waker = &Waker::from(Arc::new(Noop));
        let t0 = Instant::now() + Duration::from_secs(10);
        w.register(1, t0, waker);
        let mut due = Vec::new();
        w.fire(t0, &mut due);
        w.register(2, t0 + Duration::from_micros(10), waker);
        assert_eq!(w.armed, Some(t0 + MIN_GAP));
    }

    #[test]
    fn a_worker_wakes_a_sleeper_at_its_deadline() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let driver = Driver::install().expect("timerfd");
            assert!(available());
            let sleeper = tokio::spawn(async {
                let mut late = Vec::new();
                for _ in 0..5 {
                    let at = Instant::now() + Duration::from_micros(1500);
                    sleep_until(3, at).await;
                    late.push(Instant::now() - at);
                }
                late
            });
            let late = tokio::select! {
                late = sleeper => late.unwrap(),
                _ = driver.run() => unreachable!("the driver runs until dropped"),
            };
            // Not a timing test (the machine may be busy): it woke, not early.
            assert_eq!(late.len(), 5);
        });
        assert!(!available(), "the driver took the timer away with it");
    }

    #[tokio::test]
    async fn without_a_driver_it_is_not_available_and_does_not_wait() {
        assert!(!available());
        sleep_until(0, Instant::now() + Duration::from_secs(60)).await;
    }
}
