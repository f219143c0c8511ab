//! `load_generator` of report.json: midge measuring itself
//! (`analysis::generator`).

use super::latency::LatencySummary;
use crate::record::vocab::{BatchMode, Limit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// midge measuring itself: when it, not the broker, is the bottleneck,
/// every latency and rate in the report describes midge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadGenerator {
    pub workers: u64,
    /// CPU seconds midge used while publishing.
    pub cpu_s: f64,
    /// cpu_s / (publishing wall time × workers).
    pub cpu_utilization: f64,
    /// Highest resident memory over the whole run (report building included).
    pub peak_rss_kib: u64,
    /// Resident memory when publishing ended, every client still connected:
    /// what holding the swarm costs.
    pub rss_kib_at_publish_end: u64,
    /// rss_kib_at_publish_end over the peak of connected clients (process
    /// baseline included); null when nobody connected.
    pub rss_bytes_per_connected_client: Option<u64>,
    /// Memory the kernel charged to TCP sockets' queued data when publishing
    /// ended (/proc/net/sockstat `mem` pages × page size), machine-wide:
    /// every process's sockets, a broker's on this machine included. Idle
    /// sockets hold next to none; the socket structures are not in it.
    /// Null where unreadable.
    #[serde(default)]
    pub kernel_socket_kib: Option<u64>,
    /// kernel_socket_kib over the peak of connected clients, in bytes (null
    /// when unreadable or nobody connected).
    #[serde(default)]
    pub kernel_socket_bytes_per_connected_client: Option<u64>,
    /// TCP sockets in use on the machine at that moment (sockstat `inuse`):
    /// what kernel_socket_kib is spread over (both ends of each loopback
    /// connection to a local broker).
    #[serde(default)]
    pub kernel_tcp_sockets: Option<u64>,
    /// How late a 10 ms timer fired on midge's runtime (event-loop delay).
    pub loop_delay: LatencySummary,
    /// How late publishes left against their constant-rate slots.
    pub publish_lag: LatencySummary,
    pub saturated: bool,
    pub reasons: Vec<String>,
    /// Local addresses the clients connected from (empty: the kernel's choice).
    pub source_addrs: Vec<String>,
    /// CPU seconds the broker used while publishing: the spawned one, or the
    /// process `--broker-pid` names (null for other brokers).
    pub broker_cpu_s: Option<f64>,
    /// Resident memory of the spawned broker when publishing ended (null for other brokers).
    pub broker_rss_kib: Option<u64>,
    /// The scenario's `batch_window` in µs (0: none): latency figures are
    /// no finer than this.
    pub batch_window_us: u64,
    /// Messages due that a limit the broker announced held back, by the
    /// limit's name (`maximum_qos`, `maximum_packet_size`, `retain_available`):
    /// the broker's policy, never midge's saturation.
    #[serde(default)]
    pub held_by_limit: BTreeMap<Limit, u64>,
    /// Per publishing group: the rate asked for and the rate achieved.
    pub publish_rates: Vec<PublishRate>,
    /// Times a publisher had a message due and a full inflight window: the
    /// broker's acknowledgements, not midge, set the pace then.
    #[serde(default)]
    pub publish_window_full: u64,
    /// Socket reads (that brought data) and writes of every client
    /// connection, and their bytes: with deliveries and publishes, how many
    /// packets midge moves per system call.
    pub socket_reads: u64,
    pub socket_writes: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// How midge batched: `adaptive` (no `batch_window`: busy connections
    /// only, up to 1 ms), `fixed` (a positive `batch_window`), `off` (zero).
    #[serde(default = "default_batch_mode")]
    pub batch_mode: BatchMode,
    /// Writes that carried PUBLISHes (one per publisher wake-up that sent),
    /// and those that carried more than one.
    #[serde(default)]
    pub publish_writes: u64,
    #[serde(default)]
    pub publish_writes_batched: u64,
    /// publish_writes_batched / publish_writes (null: nothing published).
    #[serde(default)]
    pub batched_publish_share: Option<f64>,
    /// Socket reads that waited for a batching window's tick (in
    /// `socket_reads` too); 0 when nothing was busy enough to batch.
    #[serde(default)]
    pub paced_reads: u64,
}

/// Reports written before `batch_mode` had only the fixed window or none.
fn default_batch_mode() -> BatchMode {
    BatchMode::Off
}

/// How closely a group's publishers kept their schedule over the whole
/// publishing period: what they sent against what their schedules made due.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishRate {
    pub group: String,
    pub arrival: String,
    /// Publishers whose schedule made anything due.
    pub publishers: u64,
    /// The asked rate: rate × publishers.
    pub target_msgs_per_s: f64,
    /// target × sent / due.
    pub achieved_msgs_per_s: f64,
    /// (sent − due) / due, in percent.
    pub deviation_pct: f64,
    /// Messages the schedules made due while publishing ran (`count` at most).
    #[serde(default)]
    pub due: u64,
    /// Messages written.
    #[serde(default)]
    pub sent: u64,
    /// Due but never sent (publisher offline, inflight window full, broker not accepting).
    #[serde(default)]
    pub unsent: u64,
    /// Of `unsent`: due from publishers a limit the broker announced held
    /// back (its policy, never midge's saturation).
    #[serde(default)]
    pub held_by_limit: u64,
    /// The sum over publishers of (messages − 1) / (last send − first send):
    /// the pace while they were sending.
    #[serde(default)]
    pub span_msgs_per_s: f64,
}
