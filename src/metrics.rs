//! Recording: HDR histograms and counters. The run's clock and the gates
//! the runner waits on are not here but in `control::RunControl`.
//!
//! Clients record into one of a few shards (client index modulo shard
//! count), so two clients rarely touch the same lock and no client waits on
//! a global one; the sampler visits each shard once a second for the time
//! series, and the report merges them once at the end.
//!
//! One shard per worker, at most 16: client i runs on worker i mod n and
//! records into shard i mod n, so no two workers share a shard while there are
//! at most 16. A shard's histograms are `LazyHistogram`s (`ShardLatencies`),
//! made on their first value (188 KB each, resident once made), so an idle run
//! holds those of connect latency only; `totals` adds them into the record's
//! `Latencies`. Also: `UnrecordedDeliveries`, the ready gates (`ready`:
//! publishing waits for every client there from the start; `publishers_done`),
//! the atomics, `received_so_far` (counters only, for the drain),
//! `read_shards` (read-only, for the exporter), process and PID CPU and RSS
//! (`ResourceMeter`: CPU % over the interval since the previous sample, none
//! under `ResourceMeter::MIN_INTERVAL`).

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::record::hist::new_histogram;
use crate::record::{Counters, KernelTcp, Latencies};

#[derive(Debug, Default)]
pub struct Shard {
    pub latency: ShardLatencies,
    /// e2e latency since the last time-series sample.
    pub interval_e2e: LazyHistogram,
    pub counters: Counters,
    /// A run of several brokers: e2e latency per (publisher's broker,
    /// subscriber's broker), the pairs that delivered.
    pub e2e_pairs: Vec<(u16, u16, LazyHistogram)>,
}

impl Shard {
    /// The e2e histogram of deliveries from broker `from` to broker `to`.
    fn e2e_pair(&mut self, from: u16, to: u16) -> &mut LazyHistogram {
        let i = match self.e2e_pairs.iter().position(|(f, t, _)| (*f, *t) == (from, to)) {
            Some(i) => i,
            None => {
                self.e2e_pairs.push((from, to, LazyHistogram::default()));
                self.e2e_pairs.len() - 1
            }
        };
        &mut self.e2e_pairs[i].2
    }
}

/// A histogram that takes its memory when the first value comes. An HDR
/// histogram of `new_histogram`'s bounds is 188 KB of counts, all written
/// (so resident) when it is made; a shard holds ten, one per worker, and an
/// idle run records into two of them.
#[derive(Debug, Default)]
pub struct LazyHistogram(Option<Histogram<u64>>);

impl LazyHistogram {
    /// Records `v`, clamped to the histogram's bounds as `saturating_record` does.
    pub fn record(&mut self, v: u64) {
        self.0.get_or_insert_with(new_histogram).saturating_record(v);
    }

    /// The histogram, if anything was ever recorded into it.
    pub fn get(&self) -> Option<&Histogram<u64>> {
        self.0.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_ref().map_or(true, Histogram::is_empty)
    }

    /// Adds its values to `into` (of the same bounds, so it cannot fail).
    pub fn add_to(&self, into: &mut Histogram<u64>) {
        if let Some(h) = &self.0 {
            let _ = into.add(h);
        }
    }

    /// Empties it, keeping its memory: a histogram once used is likely used again.
    pub fn reset(&mut self) {
        if let Some(h) = self.0.as_mut().filter(|h| !h.is_empty()) {
            h.reset();
        }
    }
}

/// A shard's `Latencies`, each made on its first value.
#[derive(Debug, Default)]
pub struct ShardLatencies {
    pub connect: LazyHistogram,
    pub connect_tcp: LazyHistogram,
    pub connect_tls: LazyHistogram,
    pub connect_ws: LazyHistogram,
    pub e2e: LazyHistogram,
    pub e2e_uncorrected: LazyHistogram,
    pub ack: LazyHistogram,
    pub suback: LazyHistogram,
    pub publish_lag: LazyHistogram,
    pub receive_delay: LazyHistogram,
}

impl ShardLatencies {
    /// Adds every histogram into its counterpart of `into`.
    pub fn add_to(&self, into: &mut Latencies) {
        self.connect.add_to(&mut into.connect);
        self.connect_tcp.add_to(&mut into.connect_tcp);
        self.connect_tls.add_to(&mut into.connect_tls);
        self.connect_ws.add_to(&mut into.connect_ws);
        self.e2e.add_to(&mut into.e2e);
        self.e2e_uncorrected.add_to(&mut into.e2e_uncorrected);
        self.ack.add_to(&mut into.ack);
        self.suback.add_to(&mut into.suback);
        self.publish_lag.add_to(&mut into.publish_lag);
        self.receive_delay.add_to(&mut into.receive_delay);
    }
}

/// One tracked message a subscriber took in.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub qos: u8,
    /// Its packet id (QoS 2: held by the session until PUBREL).
    pub pkid: u16,
    pub publisher: u32,
    pub seq: u64,
    /// e2e µs from the intended send.
    pub e2e_us: u64,
    /// Receipt minus the actual send, µs, signed: publisher and subscriber
    /// may sit on machines whose clocks differ (shards).
    pub one_way_us: i64,
    /// A first delivery the broker could send at once: no DUP copy, resend
    /// or resumed backlog, nothing midge held back. Only these set the
    /// drain's quiet period (`Metrics::slowest_delivery_us`).
    pub first: bool,
    /// The DUP flag it came with.
    pub dup: bool,
    /// midge's taking it in minus the kernel's receive stamp (µs); None
    /// without a kernel stamp (TLS, WebSocket, not Linux).
    pub receive_delay_us: Option<u64>,
}

impl Delivery {
    /// e2e µs from the actual send (at least 1).
    pub fn raw_us(&self) -> u64 {
        self.one_way_us.max(1) as u64
    }
}

/// Deliveries one client has taken in but not yet recorded: the subscriber
/// notes each message here and records a read's worth at once — into its
/// own receipt log and, under one lock, into its shard — after the read's
/// acknowledgements went out (or every `CAPACITY` messages).
#[derive(Debug, Default)]
pub struct UnrecordedDeliveries {
    deliveries: Vec<Delivery>,
}

impl UnrecordedDeliveries {
    const CAPACITY: usize = 256;

    pub fn push(&mut self, d: Delivery) {
        if self.deliveries.capacity() == 0 {
            self.deliveries.reserve_exact(Self::CAPACITY);
        }
        self.deliveries.push(d);
    }

    pub fn is_full(&self) -> bool {
        self.deliveries.len() >= Self::CAPACITY
    }

    pub fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    /// Forgets them: their connection died before they were acknowledged,
    /// so the broker will deliver them again.
    pub fn clear(&mut self) {
        self.deliveries.clear();
    }

    /// Packet ids of the QoS 2 deliveries among them.
    pub fn qos2_pkids(&self) -> impl Iterator<Item = u16> + '_ {
        self.deliveries.iter().filter(|d| d.qos == 2).map(|d| d.pkid)
    }

    /// Each, in the order they arrived.
    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    /// Records them into the shard; returns the slowest first one's
    /// send-to-receipt µs (`Delivery::first`; 0 when none). `pair_of`: the
    /// (publisher's broker, subscriber's broker) of a delivery from a
    /// publisher (by index), in a run of several brokers.
    pub fn drain_into(&mut self, shard: &mut Shard, pair_of: impl Fn(u32) -> Option<(u16, u16)>) -> u64 {
        let mut slowest = 0;
        for d in self.deliveries.drain(..) {
            shard.latency.e2e.record(d.e2e_us);
            if let Some((from, to)) = pair_of(d.publisher) {
                shard.e2e_pair(from, to).record(d.e2e_us);
            }
            shard.latency.e2e_uncorrected.record(d.raw_us());
            shard.interval_e2e.record(d.e2e_us);
            if let Some(us) = d.receive_delay_us {
                shard.latency.receive_delay.record(us.max(1));
            }
            shard.counters.received[d.qos as usize] += 1;
            if d.first {
                slowest = slowest.max(d.raw_us());
            }
        }
        slowest
    }
}

pub struct Metrics {
    shards: Vec<Mutex<Shard>>,
    /// Clients connected right now.
    pub connected: AtomicI64,
    pub connected_peak: AtomicI64,
    /// QoS 1/2 publishes awaiting acknowledgement right now.
    pub inflight: AtomicI64,
    /// Clients that lost their connection and are waiting to reconnect.
    pub offline: AtomicI64,
    /// Subscribers whose reads midge holds back right now (a stall, a
    /// `max_rate`): the broker still holds what they owe; the drain waits.
    pub held_back: AtomicI64,
    /// The slowest first delivery so far (send to receipt, µs; see
    /// `Delivery::first`): the drain's quiet period adapts to it. One
    /// `fetch_max` per recorded batch.
    pub slowest_delivery_us: AtomicU64,
    /// Subscribers back on a resumed session that may be owed a queue
    /// (something was published while they were away) and have received
    /// nothing on the resumed connection yet: the drain waits for the broker
    /// to begin sending it (a loaded broker may take longer than a quiet
    /// period to start).
    pub awaiting_backlog: AtomicI64,
    /// When a publisher last queued a message (run-clock µs, to within
    /// `PUBLISH_MARK_US`; 0: none yet): a client back on a resumed session compares it
    /// with when it dropped.
    pub last_publish_us: AtomicU64,
    /// Per broker of the plan, in its order (one for a run of one): the
    /// live connection figures the exporter shows per broker.
    per_broker: Vec<BrokerLive>,
}

/// One broker's live connection figures, for the exporter's
/// `midge_broker_*` series: bumped by its clients as `connected` is, read at
/// each scrape (no client is visited).
#[derive(Debug, Default)]
pub struct BrokerLive {
    /// Its clients connected right now.
    pub connected: AtomicI64,
    /// Connections it accepted (CONNACK success).
    pub connects: AtomicU64,
    /// Connection attempts to it that failed (any cause).
    pub connect_failures: AtomicU64,
    /// Connections to it that were lost (ended by an error, not by plan or
    /// the run's end): report.json `brokers[].disconnects` counts the same.
    pub disconnects: AtomicU64,
}

/// How stale `Metrics::last_publish_us` may be: stored at most once per
/// millisecond, so publishers at load do not all write one cache line.
pub const PUBLISH_MARK_US: u64 = 1_000;

impl Metrics {
    /// Metrics in `shards` shards.
    pub fn new(shards: usize) -> Metrics {
        Metrics {
            shards: (0..shards.max(1)).map(|_| Mutex::new(Shard::default())).collect(),
            connected: AtomicI64::new(0),
            connected_peak: AtomicI64::new(0),
            inflight: AtomicI64::new(0),
            offline: AtomicI64::new(0),
            held_back: AtomicI64::new(0),
            slowest_delivery_us: AtomicU64::new(0),
            awaiting_backlog: AtomicI64::new(0),
            last_publish_us: AtomicU64::new(0),
            per_broker: vec![BrokerLive::default()],
        }
    }

    /// With live figures for `brokers` brokers (at least one).
    pub fn with_brokers(mut self, brokers: usize) -> Metrics {
        self.per_broker = (0..brokers.max(1)).map(|_| BrokerLive::default()).collect();
        self
    }

    /// Each broker's live figures, in the plan's order.
    pub fn per_broker(&self) -> &[BrokerLive] {
        &self.per_broker
    }

    /// A publisher queued a message at `now_us` (run clock).
    pub fn mark_published(&self, now_us: u64) {
        let last = self.last_publish_us.load(Ordering::Relaxed);
        if last == 0 || now_us >= last + PUBLISH_MARK_US {
            // Never 0 once marked: 0 is "nothing published".
            self.last_publish_us.fetch_max(now_us.max(1), Ordering::Relaxed);
        }
    }

    /// Whether anything was published after `dropped_us` (run clock),
    /// to within `PUBLISH_MARK_US` — leaning to yes.
    pub fn published_since(&self, dropped_us: u64) -> bool {
        let last = self.last_publish_us.load(Ordering::Relaxed);
        last != 0 && last + PUBLISH_MARK_US > dropped_us
    }

    /// A client of broker `broker` (its index in the plan) got its CONNACK.
    pub fn on_connected(&self, broker: u16) {
        let now = self.connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.connected_peak.fetch_max(now, Ordering::Relaxed);
        if let Some(b) = self.per_broker.get(broker as usize) {
            b.connected.fetch_add(1, Ordering::Relaxed);
            b.connects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection to broker `broker` ended; `lost`: by an error (not by
    /// plan or the run's end).
    pub fn on_disconnected(&self, broker: u16, lost: bool) {
        self.connected.fetch_sub(1, Ordering::Relaxed);
        if let Some(b) = self.per_broker.get(broker as usize) {
            b.connected.fetch_sub(1, Ordering::Relaxed);
            b.disconnects.fetch_add(lost as u64, Ordering::Relaxed);
        }
    }

    /// A connection attempt to broker `broker` failed.
    pub fn on_connect_failed(&self, broker: u16) {
        if let Some(b) = self.per_broker.get(broker as usize) {
            b.connect_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn shard_for(&self, client_index: u32) -> usize {
        client_index as usize % self.shards.len()
    }

    /// Records into one shard. A poisoned lock (a panicking client) must not
    /// lose the rest of the run's figures, so the data is taken as it is.
    pub fn with<R>(&self, shard: usize, f: impl FnOnce(&mut Shard) -> R) -> R {
        let mut guard = self.shards[shard].lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Cumulative counters of all shards, and the e2e latencies since the
    /// last call (for the time series; None when there were none, so an
    /// idle run makes no histogram a second).
    pub fn sample(&self) -> (Counters, Option<Histogram<u64>>) {
        let mut counters = Counters::default();
        let mut interval: Option<Histogram<u64>> = None;
        for i in 0..self.shards.len() {
            self.with(i, |s| {
                counters.add(&s.counters);
                if !s.interval_e2e.is_empty() {
                    s.interval_e2e.add_to(interval.get_or_insert_with(new_histogram));
                    s.interval_e2e.reset();
                }
            });
        }
        (counters, interval)
    }

    /// Deliveries recorded so far, over all shards: counters only, no
    /// histogram is read (the drain asks every 50 ms).
    pub fn received_so_far(&self) -> u64 {
        (0..self.shards.len()).map(|i| self.with(i, |s| s.counters.received_total())).sum()
    }

    /// Reads every shard's cumulative counters and histograms in turn, under
    /// its lock, changing nothing (the per-interval histogram the sampler
    /// resets is not shown): for a live view that must not disturb the time
    /// series, such as the Prometheus exporter's scrape.
    pub fn read_shards(&self, mut f: impl FnMut(&Counters, &ShardLatencies)) {
        for i in 0..self.shards.len() {
            self.with(i, |s| f(&s.counters, &s.latency));
        }
    }

    /// e2e latency per (publisher's broker, subscriber's broker) pair that
    /// delivered, over all shards, in pair order.
    pub fn pair_latencies(&self) -> Vec<crate::record::PairLatency> {
        let mut pairs: Vec<crate::record::PairLatency> = Vec::new();
        for i in 0..self.shards.len() {
            self.with(i, |s| {
                for (from, to, h) in &s.e2e_pairs {
                    let at = match pairs.iter().position(|p| (p.from, p.to) == (*from, *to)) {
                        Some(at) => at,
                        None => {
                            pairs.push(crate::record::PairLatency { from: *from, to: *to, e2e: new_histogram() });
                            pairs.len() - 1
                        }
                    };
                    h.add_to(&mut pairs[at].e2e);
                }
            });
        }
        pairs.sort_by_key(|p| (p.from, p.to));
        pairs
    }

    pub fn totals(&self) -> (Counters, Latencies) {
        let mut counters = Counters::default();
        let mut latency = Latencies::new();
        for i in 0..self.shards.len() {
            self.with(i, |s| {
                counters.add(&s.counters);
                s.latency.add_to(&mut latency);
            });
        }
        (counters, latency)
    }
}

/// What one time-series point says about resources: midge's CPU and memory,
/// and the broker's when midge knows its process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Resources {
    pub midge_cpu_pct: Option<f64>,
    pub midge_rss_kib: Option<u64>,
    pub broker_cpu_pct: Option<f64>,
    pub broker_rss_kib: Option<u64>,
}

/// CPU and memory of midge and of the broker's process, for the sampler:
/// each `sample` reads getrusage and /proc (a few small files) and turns
/// the CPU time used since the previous one into % of one core.
#[derive(Debug)]
pub struct ResourceMeter {
    at: std::time::Instant,
    midge_cpu_s: f64,
    /// The broker's PID at the last sample, and its CPU seconds then (None
    /// when they could not be read).
    broker: Option<(u32, Option<f64>)>,
}

impl ResourceMeter {
    /// A CPU % over less than this is too coarse to report (the broker's
    /// CPU time comes in clock ticks of 10 ms): the run's last, partial
    /// interval may be this short.
    pub const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

    pub fn new(broker_pid: Option<u32>) -> ResourceMeter {
        ResourceMeter {
            at: std::time::Instant::now(),
            midge_cpu_s: process_cpu_seconds(),
            broker: broker_pid.map(|p| (p, pid_cpu_seconds(p))),
        }
    }

    /// Resources since the previous sample (or `new`); `broker_pid` is the
    /// broker's process now (it changes when a spawned broker restarts).
    pub fn sample(&mut self, broker_pid: Option<u32>) -> Resources {
        let now = std::time::Instant::now();
        let elapsed = now - self.at;
        let pct = |cpu_s: f64| {
            (elapsed >= Self::MIN_INTERVAL).then(|| (cpu_s.max(0.0) / elapsed.as_secs_f64() * 1000.0).round() / 10.0)
        };
        let midge_cpu_s = process_cpu_seconds();
        let midge_rss_kib = process_rss_kib();
        let broker_cpu_s = broker_pid.and_then(pid_cpu_seconds);
        let broker_cpu_pct = match (broker_pid, broker_cpu_s, self.broker) {
            // The same process as last time: what it used since.
            (Some(p), Some(cpu), Some((last, Some(was)))) if p == last => pct(cpu - was),
            // Its last reading failed: nothing to subtract.
            (Some(p), Some(_), Some((last, None))) if p == last => None,
            // A process the last sample did not see (started since, as
            // after a broker restart): all it used is within the interval.
            (Some(_), Some(cpu), _) => pct(cpu),
            _ => None,
        };
        let r = Resources {
            midge_cpu_pct: pct(midge_cpu_s - self.midge_cpu_s),
            midge_rss_kib: (midge_rss_kib > 0).then_some(midge_rss_kib),
            broker_cpu_pct,
            broker_rss_kib: broker_pid.and_then(pid_rss_kib),
        };
        self.at = now;
        self.midge_cpu_s = midge_cpu_s;
        self.broker = broker_pid.map(|p| (p, broker_cpu_s));
        r
    }
}

/// Whether a process with this PID exists (its /proc entry).
pub fn pid_exists(pid: u32) -> bool {
    pid != 0 && std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
}

/// CPU seconds (user + system) this process has used so far.
pub fn process_cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we pass.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Peak resident memory of this process, in KiB.
pub fn process_peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// This process's resident memory now, in KiB (0 where /proc is missing).
pub fn process_rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// Resident memory of another process (a broker midge spawned), in KiB.
pub fn pid_rss_kib(pid: u32) -> Option<u64> {
    let kib = status_kib_of(&format!("/proc/{pid}/status"), "VmRSS:");
    (kib > 0).then_some(kib)
}

fn status_kib(field: &str) -> u64 {
    status_kib_of("/proc/self/status", field)
}

fn status_kib_of(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// CPU seconds another process (a broker midge spawned) has used, from /proc.
pub fn pid_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / ticks.max(1.0))
}

/// The kernel's `TcpExtListenOverflows` (/proc/net/netstat): connections
/// dropped because a listening socket's accept queue (its backlog) was
/// full, counted for this network namespace since boot; None where it
/// cannot be read.
pub fn listen_overflows() -> Option<u64> {
    listen_overflows_in(&std::fs::read_to_string("/proc/net/netstat").ok()?)
}

/// `ListenOverflows` from the text of /proc/net/netstat: a "TcpExt:" line of
/// names, then one of values.
pub fn listen_overflows_in(netstat: &str) -> Option<u64> {
    let mut tcp_ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let at = names.split_whitespace().position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// The kernel's TCP sockets now (/proc/net/sockstat); None where it cannot
/// be read.
pub fn kernel_tcp() -> Option<KernelTcp> {
    // SAFETY: sysconf only reads a system value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    kernel_tcp_in(&std::fs::read_to_string("/proc/net/sockstat").ok()?, u64::try_from(page).ok()?)
}

/// The "TCP:" line of /proc/net/sockstat's text (`inuse N … mem PAGES`),
/// with pages of `page_bytes`.
pub fn kernel_tcp_in(sockstat: &str, page_bytes: u64) -> Option<KernelTcp> {
    let line = sockstat.lines().find_map(|l| l.strip_prefix("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let field = |name: &str| -> Option<u64> {
        let at = words.iter().position(|w| *w == name)?;
        words.get(at + 1)?.parse().ok()
    };
    Some(KernelTcp { sockets: field("inuse")?, mem_kib: field("mem")?.checked_mul(page_bytes)? / 1024 })
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_broker_counts_its_own_clients_and_a_stray_index_changes_no_broker() {
        use super::Metrics;
        use std::sync::atomic::Ordering::Relaxed;
        let m = Metrics::new(2).with_brokers(2);
        m.on_connected(0);
        m.on_connected(1);
        m.on_connected(1);
        m.on_disconnected(1, true);
        m.on_disconnected(0, false);
        m.on_connect_failed(1);
        m.on_connect_failed(7);
        let b = m.per_broker();
        let figures = |i: usize| {
            let b = &b[i];
            (
                b.connected.load(Relaxed),
                b.connects.load(Relaxed),
                b.connect_failures.load(Relaxed),
                b.disconnects.load(Relaxed),
            )
        };
        assert_eq!(b.len(), 2);
        assert_eq!(figures(0), (0, 1, 0, 0));
        assert_eq!(figures(1), (1, 2, 1, 1));
        assert_eq!(m.connected.load(Relaxed), 1);
        assert_eq!(m.connected_peak.load(Relaxed), 3);
        assert_eq!(Metrics::new(1).per_broker().len(), 1, "one broker: one series");
    }

    #[test]
    fn kernel_tcp_is_read_from_sockstat() {
        let text = "sockets: used 20102\nTCP: inuse 20004 orphan 0 tw 12 alloc 20009 mem 37\nUDP: inuse 0 mem 0\n";
        // 37 pages of 4 KiB: 148 KiB; UDP's `mem` is not TCP's.
        assert_eq!(kernel_tcp_in(text, 4096), Some(KernelTcp { sockets: 20004, mem_kib: 148 }));
        assert_eq!(kernel_tcp_in(text, 65536), Some(KernelTcp { sockets: 20004, mem_kib: 2368 }));
        assert_eq!(kernel_tcp_in("UDP: inuse 0 mem 0\n", 4096), None);
        assert_eq!(kernel_tcp_in("TCP: inuse 3 orphan 0\n", 4096), None, "no mem field");
    }

    #[test]
    fn listen_overflows_are_read_by_name_from_netstat() {
        let text =
            "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 4 913 920\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(listen_overflows_in(text), Some(913));
        assert_eq!(listen_overflows_in("IpExt: InNoRoutes\nIpExt: 0\n"), None);
    }

    use super::*;
    use crate::record::vocab::Cause;

    #[test]
    fn resources_measure_this_process_and_a_process_by_pid() {
        let me = std::process::id();
        let mut m = ResourceMeter::new(Some(me));
        // Too soon: no CPU % over a few microseconds, memory all the same.
        let r = m.sample(Some(me));
        assert_eq!((r.midge_cpu_pct, r.broker_cpu_pct), (None, None));
        assert!(r.midge_rss_kib.is_some_and(|k| k > 0) && r.broker_rss_kib.is_some_and(|k| k > 0), "{r:?}");
        // Busy for a while: both see this process's CPU.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < ResourceMeter::MIN_INTERVAL + std::time::Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let r = m.sample(Some(me));
        assert!(r.midge_cpu_pct.is_some_and(|p| p > 20.0), "{r:?}");
        assert!(r.broker_cpu_pct.is_some_and(|p| p > 20.0), "{r:?}");
        // No broker process known, or one that does not exist: nothing.
        let r = m.sample(None);
        assert_eq!((r.broker_cpu_pct, r.broker_rss_kib), (None, None));
        assert!(!pid_exists(0) && pid_exists(me));
        assert_eq!(pid_rss_kib(u32::MAX), None);
    }

    #[test]
    fn shards_merge_and_interval_resets() {
        let m = Metrics::new(3);
        for i in 0..6u32 {
            m.with(m.shard_for(i), |s| {
                s.counters.published[1] += 1;
                s.interval_e2e.record(100 + i as u64);
                *s.counters.connect_failures.entry(Cause::Refused).or_default() += 1;
            });
        }
        let (c, h) = m.sample();
        assert_eq!(c.published_total(), 6);
        assert_eq!(c.connect_failures[&Cause::Refused], 6);
        assert_eq!(h.map(|h| h.len()), Some(6));
        let (_, h) = m.sample();
        assert!(h.is_none(), "nothing since: no histogram");
    }

    #[test]
    fn a_lazy_histogram_is_made_by_its_first_value_and_adds_like_a_histogram() {
        let mut lazy = LazyHistogram::default();
        let mut plain = new_histogram();
        assert!(lazy.get().is_none() && lazy.is_empty());
        lazy.reset();
        assert!(lazy.get().is_none(), "reset makes none");
        for v in [0, 1, 250, 7_000, crate::record::hist::MAX_US + 5] {
            lazy.record(v);
            plain.saturating_record(v);
        }
        assert_eq!(lazy.get(), Some(&plain));
        assert_eq!(lazy.get().unwrap().max(), plain.max());
        let mut sum = new_histogram();
        lazy.add_to(&mut sum);
        LazyHistogram::default().add_to(&mut sum);
        assert_eq!(sum, plain);
        lazy.reset();
        assert!(lazy.is_empty() && lazy.get().is_some(), "emptied, memory kept");
    }

    #[test]
    fn totals_hold_only_what_was_recorded() {
        let m = Metrics::new(2);
        m.with(0, |s| s.latency.connect.record(300));
        m.with(1, |s| s.latency.connect.record(500));
        m.with(1, |s| s.latency.suback.record(20));
        m.with(0, |s| assert!(s.latency.e2e.get().is_none() && s.latency.suback.get().is_none()));
        let (_, l) = m.totals();
        assert_eq!((l.connect.len(), l.connect.max(), l.suback.len(), l.e2e.len()), (2, 500, 1, 0));
    }

    #[test]
    fn the_last_publish_is_marked_to_the_millisecond_and_leans_to_published() {
        let m = Metrics::new(1);
        assert!(!m.published_since(0), "nothing published yet");
        m.mark_published(0);
        assert!(m.published_since(0), "the first publish is marked, at 0 too");
        m.mark_published(5_000);
        m.mark_published(5_400); // within the millisecond: not stored
        assert_eq!(m.last_publish_us.load(Ordering::Relaxed), 5_000);
        m.mark_published(6_000);
        assert_eq!(m.last_publish_us.load(Ordering::Relaxed), 6_000);
        // Dropped at 6.5 ms: the publish at 6.4 ms may not be marked, so yes.
        assert!(m.published_since(6_500));
        assert!(m.published_since(6_999));
        assert!(!m.published_since(7_000));
    }

    #[test]
    fn received_so_far_counts_without_histograms_and_slowest_is_a_max() {
        let m = Metrics::new(2);
        let mut batch = UnrecordedDeliveries::default();
        // The 5 s one is a resumed backlog (not a first delivery): counted, not the slowest.
        for (i, raw_us, first) in [(0u64, 900u64, true), (1, 1_200_000, true), (2, 40, true), (3, 5_000_000, false)] {
            let one_way_us = raw_us as i64;
            batch.push(Delivery {
                qos: 1,
                pkid: 1,
                publisher: 0,
                seq: i,
                e2e_us: raw_us,
                one_way_us,
                first,
                dup: false,
                receive_delay_us: None,
            });
        }
        let slowest = m.with(0, |s| batch.drain_into(s, |_| None));
        assert_eq!(slowest, 1_200_000);
        m.slowest_delivery_us.fetch_max(slowest, Ordering::Relaxed);
        m.slowest_delivery_us.fetch_max(5, Ordering::Relaxed);
        assert_eq!(m.slowest_delivery_us.load(Ordering::Relaxed), 1_200_000);
        m.with(1, |s| s.counters.received[0] += 2);
        assert_eq!(m.received_so_far(), 6);
    }

    #[test]
    fn pair_latencies_add_up_over_shards_by_pair() {
        let m = Metrics::new(2);
        let delivery = |publisher: u32, e2e_us: u64| Delivery {
            qos: 1,
            pkid: 1,
            publisher,
            seq: 0,
            e2e_us,
            one_way_us: e2e_us as i64,
            first: true,
            dup: false,
            receive_delay_us: None,
        };
        // Publishers 0 and 2 on broker 0, publisher 1 on broker 1; subscribers on broker 1 (shard 0) and 0 (shard 1).
        let brokers = [0u16, 1, 0];
        for (shard, to, batch) in [(0, 1u16, [(0, 100), (1, 50), (2, 300)]), (1, 0, [(0, 200), (1, 400), (1, 500)])] {
            let mut b = UnrecordedDeliveries::default();
            batch.into_iter().for_each(|(p, us)| b.push(delivery(p, us)));
            m.with(shard, |s| b.drain_into(s, |p| Some((brokers[p as usize], to))));
        }
        let pairs: Vec<_> = m.pair_latencies().iter().map(|p| (p.from, p.to, p.e2e.len(), p.e2e.max())).collect();
        assert_eq!(pairs, vec![(0, 0, 1, 200), (0, 1, 2, 300), (1, 0, 2, 500), (1, 1, 1, 50)]);
        // One broker: no pair is made.
        let one = Metrics::new(1);
        let mut b = UnrecordedDeliveries::default();
        b.push(delivery(0, 10));
        one.with(0, |s| b.drain_into(s, |_| None));
        assert!(one.pair_latencies().is_empty());
        assert_eq!(one.totals().1.e2e.len(), 1);
    }
}
