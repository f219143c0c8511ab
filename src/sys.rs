//! The broker's own counters: one extra connection, outside the swarm and
//! its accounting, subscribed to `$SYS/#`, keeping the last value of each
//! topic (mosquitto: clients connected, messages received / sent / dropped,
//! heap, load averages). They go to `report.json` → `broker.sys`, beside
//! what midge measured, so a loss can be read against the broker's own
//! "dropped" counter. The main counters are also kept round by round
//! (`broker.sys_series`), on the run clock, to set beside midge's own time
//! series.
//!
//! The watcher is not one of the run's shared background tasks
//! (`control::Tasks`): it is asked to stop before the clients disconnect
//! (the broker's last round of values arrives meanwhile, `SysWatcher::stop`)
//! and collected after (`SysWatcher::finish`), so it has a stop of its own.
//!
//! A round begins with `$SYS/broker/uptime`; each `SysPoint` is the main
//! counters at a round's end on the run clock, counters carried over from
//! earlier rounds (mosquitto publishes only what changed). After the stop it
//! waits for one more round (when the interval is known) so the last values are
//! those of the run's end. The series rolls up past `MAX_POINTS` rounds,
//! keeping the later round (`record::series`).

use crate::mqtt::codec::{ConnectOptions, Packet};
use crate::mqtt::connection::Connection;
use crate::mqtt::handshake::{dial, Dial};
use crate::mqtt::protocol::ProtocolVersion;
use crate::mqtt::transport::Transport;
use crate::record::clock::RunClock;
use crate::record::series::{Series, MAX_POINTS};
use crate::record::SysPoint;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// At most this many topics are kept (a broker with per-client $SYS topics
/// could publish thousands).
const MAX_TOPICS: usize = 500;
/// How long connecting may take, CONNACK included.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Values longer than this are cut (they are counters and version strings).
const MAX_VALUE: usize = 200;
/// The topic that begins each round of `$SYS` values (mosquitto publishes
/// it first, every interval).
const ROUND_TOPIC: &str = "$SYS/broker/uptime";

pub struct SysWatch {
    pub addr: SocketAddr,
    pub protocol: ProtocolVersion,
    pub transport: Transport,
    pub options: ConnectOptions,
    /// The run's clock (the swarm's): the series' times are on it.
    pub clock: RunClock,
    /// The broker's $SYS interval when midge knows it (the mosquitto it
    /// spawned publishes every second): after the stop, wait for one more
    /// round so the values are those of the run's end.
    pub interval: Option<Duration>,
}

/// What the watcher saw.
#[derive(Debug, Default)]
pub struct SysSeen {
    /// The last value of every `$SYS` topic.
    pub last: BTreeMap<String, String>,
    /// The main counters after each round (rolled up past `MAX_POINTS`
    /// rounds: a long soak keeps fewer, later rounds, never more).
    pub series: Vec<SysPoint>,
}

/// What the watcher has seen so far, shared with `SysWatcher::snapshot`.
#[derive(Debug)]
struct Seen {
    last: BTreeMap<String, String>,
    series: Series<SysPoint>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen { last: BTreeMap::new(), series: Series::new(MAX_POINTS) }
    }
}

impl Seen {
    fn to_seen(&self) -> SysSeen {
        SysSeen { last: self.last.clone(), series: self.series.to_vec() }
    }

    fn counter(&self, topic: &str) -> Option<u64> {
        self.last.get(topic).and_then(|v| v.trim().parse().ok())
    }

    /// Closes the round begun at `t_us` (run clock): the counters as they stand.
    fn close_round(&mut self, t_us: u64) {
        let point = SysPoint {
            t_s: (t_us as f64 / 1e5).round() / 10.0,
            received: self.counter("$SYS/broker/publish/messages/received"),
            sent: self.counter("$SYS/broker/publish/messages/sent"),
            dropped: self.counter("$SYS/broker/publish/messages/dropped"),
            clients: self.counter("$SYS/broker/clients/connected"),
            received_1min: self
                .last
                .get("$SYS/broker/load/messages/received/1min")
                .and_then(|v| v.trim().parse().ok())
                .filter(|v: &f64| v.is_finite()),
        };
        self.series.push(point);
    }
}

/// What a `SysWatcher` has seen, readable while it goes on.
#[derive(Clone)]
pub struct SysView(Arc<Mutex<Seen>>);

impl SysView {
    /// The values and rounds so far.
    pub fn snapshot(&self) -> SysSeen {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).to_seen()
    }
}

pub struct SysWatcher {
    handle: JoinHandle<()>,
    stop: watch::Sender<bool>,
    seen: Arc<Mutex<Seen>>,
}

impl SysWatcher {
    pub fn spawn(w: SysWatch) -> SysWatcher {
        let (stop, stop_rx) = watch::channel(false);
        let seen = Arc::new(Mutex::new(Seen::default()));
        SysWatcher { handle: tokio::spawn(watch_sys(w, stop_rx, seen.clone())), stop, seen }
    }

    /// A view of what it has seen so far (for the periodic report).
    pub fn view(&self) -> SysView {
        SysView(self.seen.clone())
    }

    /// Asks the watcher to stop (after one more round of values, when the
    /// broker's interval is known).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// The last value of every `$SYS` topic seen, and the rounds.
    pub async fn finish(self) -> SysSeen {
        self.stop();
        let _ = self.handle.await;
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()));
        SysSeen { last: seen.last, series: seen.series.into_vec() }
    }
}

async fn watch_sys(w: SysWatch, mut stop: watch::Receiver<bool>, seen: Arc<Mutex<Seen>>) {
    // When the round being received began (run clock µs).
    let mut round: Option<u64> = None;
    watch_rounds(&w, &mut stop, &seen, &mut round).await;
    if let Some(t) = round {
        seen.lock().unwrap_or_else(|e| e.into_inner()).close_round(t);
    }
}

/// Reads `$SYS/#` into `seen` until stopped (or the connection ends);
/// `round`: when the round not yet closed began.
async fn watch_rounds(w: &SysWatch, stop: &mut watch::Receiver<bool>, seen: &Mutex<Seen>, round: &mut Option<u64>) {
    let Some(mut conn) = connect(w).await else { return };
    let keepalive = Duration::from_secs(w.options.keep_alive_s.max(1) as u64 / 2);
    let sub = Packet::Subscribe { pkid: 1, filters: vec![("$SYS/#".to_string(), 0)] };
    if conn.write_packet(&sub).await.is_err() {
        return;
    }
    // Set once stopping: wait for the next `$SYS/broker/uptime` (the start
    // of a round) until then.
    let mut last_round: Option<tokio::time::Instant> = None;
    let far = tokio::time::Instant::now() + Duration::from_secs(3600);
    loop {
        tokio::select! {
            // mosquitto starts a round about every two intervals (it waits
            // more than `sys_interval`), so wait that long and a half for the
            // next one: a shorter wait missed it now and then.
            _ = stop.changed(), if last_round.is_none() => match w.interval {
                Some(i) => last_round = Some(tokio::time::Instant::now() + 2 * i + i / 2),
                None => break,
            },
            _ = tokio::time::sleep_until(last_round.unwrap_or(far)), if last_round.is_some() => break,
            _ = tokio::time::sleep(keepalive) => {
                if conn.write_packet(&Packet::PingReq).await.is_err() {
                    return;
                }
            }
            read = conn.read_packet() => match read {
                Ok(Some(Packet::Publish(m))) => {
                    let topic = String::from_utf8_lossy(&m.topic).into_owned();
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if seen.last.len() < MAX_TOPICS || seen.last.contains_key(&topic) {
                        let value: String = String::from_utf8_lossy(&m.payload).chars().take(MAX_VALUE).collect();
                        let round_started = topic == ROUND_TOPIC;
                        if round_started {
                            if let Some(t) = round.replace(w.clock.now_us()) {
                                seen.close_round(t);
                            }
                        }
                        seen.last.insert(topic, value);
                        if round_started && last_round.is_some() {
                            // Let the rest of this round arrive.
                            last_round = Some(tokio::time::Instant::now() + Duration::from_millis(100));
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            },
        }
    }
    let _ = conn.write_packet(&Packet::Disconnect { reason: 0 }).await;
}

async fn connect(w: &SysWatch) -> Option<Box<Connection>> {
    let d = Dial {
        to: w.addr,
        from: None,
        buffers: Default::default(),
        transport: &w.transport,
        protocol: w.protocol,
        clock: w.clock,
        limit: CONNECT_TIMEOUT,
    };
    dial(d, &w.options).await.ok().map(|d| d.conn)
}
