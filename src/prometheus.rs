//! `midge run --prometheus ADDR`: the run's live figures at
//! `http://ADDR/metrics` in the OpenMetrics text format (which Prometheus
//! scrapes as it does its own 0.0.4 text), for soaks watched from Grafana
//! (`deploy/grafana/midge.json` queries these names).
//!
//! Served by axum (`GET /metrics`; anything else a 404) and encoded by the
//! `prometheus-client` crate's text encoder: one `Collector` (`Source`) reads,
//! at each scrape, the shards' cumulative counters and histograms
//! (`Metrics::read_shards`, nothing reset, so the sampler's time series is
//! undisturbed), the run's atomics, the latest periodic snapshot
//! (`Progress::so_far`: lost and findings so far) and midge's and the
//! broker's process (CPU seconds, resident memory). ADDR is whatever the
//! user names (`0.0.0.0:9464` in a pod, where Prometheus scrapes the pod's
//! address; `127.0.0.1:9464` on a workstation); port 0 picks a free one.
//!
//! No label carries a client id, a topic or a secret: labels are the QoS,
//! a connect failure's cause name, the run phase, a finding's kind, the
//! info metric's version, scenario name and run id, and a broker's URL as
//! given without user info (`midge_broker_*`: per broker of the run, from
//! `Metrics::per_broker`'s atomics — no client is visited at a scrape).
//!
//! HDR histograms are folded into fixed buckets from 0.1 ms to 10 s
//! (`BUCKETS_US`); the phase comes from the run's `control::Phase` watch. The
//! listener is bound by `cli` before the run prepares anything; the exporter
//! is one of the run's background tasks (`control::Tasks`).

use crate::broker::BrokerPid;
use crate::control::{Phase, Shutdown};
use crate::metrics::{BrokerLive, LazyHistogram, Metrics, ShardLatencies};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::record::Counters;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use hdrhistogram::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The Content-Type of a scrape's answer.
pub const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `--prometheus`: HOST:PORT or IP:PORT, any address (port 0: any free one).
pub fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let bad = || {
        format!("{s:?} is not an address to listen on: write IP:PORT or HOST:PORT, e.g. 0.0.0.0:9464 (a pod, scraped by Prometheus), 127.0.0.1:9464 (this machine only) or [::1]:9464")
    };
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    let mut addrs = s.to_socket_addrs().map_err(|e| format!("{}: {e}", bad()))?;
    addrs.next().ok_or_else(bad)
}

/// The address the exporter will serve on (before the run starts).
pub fn check_listener(listener: &TcpListener) -> Result<SocketAddr, String> {
    listener.local_addr().map_err(|e| format!("--prometheus: the listener has no address: {e}"))
}

/// Histogram bucket bounds, seconds, and the same in µs (the HDR unit).
const BUCKETS_S: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// What a scrape reads: the run's live state, and what is fixed for the run.
struct Source {
    metrics: Arc<Metrics>,
    phase: watch::Receiver<Phase>,
    /// The latest periodic snapshot's figures (lost, findings so far).
    progress: Progress,
    /// The broker's process, when midge knows it (spawned, or `--broker-pid`).
    broker_pid: BrokerPid,
    planned: u64,
    /// Each broker's `broker` label, in the plan's order (`broker_label`).
    brokers: Vec<String>,
    /// `midge_info`'s labels, escaped.
    info: [(&'static str, String); 3],
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("planned", &self.planned).field("info", &self.info).finish_non_exhaustive()
    }
}

/// What the exporter needs of the run besides its listener.
pub struct ExporterInputs {
    pub metrics: Arc<Metrics>,
    pub phase: watch::Receiver<Phase>,
    pub progress: Progress,
    pub broker_pid: BrokerPid,
}

/// The exporter, to run as one of the run's background tasks
/// (`control::Tasks`): serves on `listener` (bound by the caller, so it
/// knows the address) until `shutdown`, then stops accepting, lets a
/// response under way finish (at most 1 s), and closes the listener.
pub fn exporter(
    listener: TcpListener,
    inputs: ExporterInputs,
    plan: &Plan,
    shutdown: Shutdown,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let info = [
        ("version", escape_label(env!("CARGO_PKG_VERSION"))),
        ("scenario", escape_label(&plan.name)),
        ("run_id", format!("{:016x}", plan.run_id)),
    ];
    let ExporterInputs { metrics, phase, progress, broker_pid } = inputs;
    let brokers = plan.brokers.iter().map(|b| broker_label(&b.url)).collect();
    let planned = plan.clients.len() as u64;
    let source = Source { metrics, phase, progress, broker_pid, planned, brokers, info };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(source));
    serve(listener, Arc::new(registry), shutdown)
}

async fn serve(listener: TcpListener, registry: Arc<Registry>, mut shutdown: Shutdown) {
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape)).with_state(registry);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop_rx.await;
    });
    let mut server = std::pin::pin!(std::future::IntoFuture::into_future(server));
    tokio::select! {
        _ = &mut server => return,
        _ = shutdown.requested() => {}
    }
    let _ = stop_tx.send(());
    // Dropped after the grace: the listener and any lingering connection with it.
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
}

/// `GET /metrics`: the exposition text of this moment.
async fn scrape(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    let mut body = String::with_capacity(8192);
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (axum::http::StatusCode::OK, [(CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)], body),
        Err(_) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "midge could not encode its metrics\n".to_string(),
        ),
    }
}

impl Collector for Source {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let m = &self.metrics;
        let mut c = Counters::default();
        let (mut e2e, mut connect, mut ack) = (Buckets::default(), Buckets::default(), Buckets::default());
        m.read_shards(|counters: &Counters, l: &ShardLatencies| {
            c.add(counters);
            // A histogram nothing was recorded into adds nothing.
            e2e.add_lazy(&l.e2e);
            connect.add_lazy(&l.connect);
            ack.add_lazy(&l.ack);
        });
        let help = "midge's version, the scenario's name and the run id; always 1.";
        e.encode_descriptor("midge", help, None, MetricType::Info)?.encode_info(&self.info)?;
        self.encode_run(&mut e, &c)?;
        self.encode_brokers(&mut e)?;
        encode_messages(&mut e, &c)?;
        histogram(
            &mut e,
            "midge_e2e_latency_seconds",
            "End-to-end latency, from a message's intended send time to its receipt.",
            &e2e,
        )?;
        histogram(
            &mut e,
            "midge_connect_latency_seconds",
            "Time from connecting to the CONNACK (TLS included).",
            &connect,
        )?;
        histogram(
            &mut e,
            "midge_ack_latency_seconds",
            "Time from a QoS 1 or 2 PUBLISH to its PUBACK or PUBCOMP.",
            &ack,
        )?;
        self.encode_so_far(&mut e)?;
        self.encode_processes(&mut e)
    }
}

impl Source {
    /// The phase, the clients, the connections.
    fn encode_run(&self, e: &mut DescriptorEncoder, c: &Counters) -> fmt::Result {
        let phase = *self.phase.borrow();
        let help = "The run's phase: 1 for the current one, 0 for the others.";
        let mut family = e.encode_descriptor("midge_run_phase", help, None, MetricType::Gauge)?;
        for (name, on) in [
            ("connecting", phase == Phase::Connecting),
            ("publishing", matches!(phase, Phase::Publishing { .. })),
            ("draining", phase == Phase::Draining),
            ("shutdown", phase == Phase::Shutdown),
        ] {
            ConstGauge::new(on as i64).encode(family.encode_family(&[("phase", name)])?)?;
        }
        let m = &self.metrics;
        gauge(e, "midge_clients_planned", "Clients the scenario plans.", self.planned as i64)?;
        gauge(
            e,
            "midge_clients_connected",
            "Clients connected right now.",
            m.connected.load(Ordering::Relaxed).max(0),
        )?;
        gauge(
            e,
            "midge_messages_in_flight",
            "QoS 1 and 2 publishes awaiting their acknowledgement right now.",
            m.inflight.load(Ordering::Relaxed).max(0),
        )?;
        counter(e, "midge_connect_attempts", "Connection attempts (TCP, TLS, CONNECT).", c.connect_attempts)?;
        counter(e, "midge_connects", "Connections the broker accepted (CONNACK success).", c.connects)?;
        counter(e, "midge_reconnects", "Successful connections after a client's first.", c.reconnects)?;
        let help = "Failed connection attempts, by cause.";
        let mut family = e.encode_descriptor("midge_connect_failures", help, None, MetricType::Counter)?;
        for (cause, n) in crate::record::names::by_name(&c.connect_failures) {
            ConstCounter::new(n).encode(family.encode_family(&[("cause", escape_label(&cause))])?)?;
        }
        Ok(())
    }

    /// Per broker of the run (one series each, labelled by its URL):
    /// clients connected now, connects, connect failures, connections lost.
    fn encode_brokers(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let live = self.metrics.per_broker();
        let brokers = || self.brokers.iter().zip(live);
        let help = "Clients connected right now, by the broker they connect to.";
        let mut family = e.encode_descriptor("midge_broker_connected", help, None, MetricType::Gauge)?;
        for (url, b) in brokers() {
            let now = b.connected.load(Ordering::Relaxed).max(0);
            ConstGauge::new(now).encode(family.encode_family(&[("broker", url.as_str())])?)?;
        }
        let counters: [(&str, &str, BrokerCounter); 3] = [
            ("midge_broker_connects", "Connections the broker accepted (CONNACK success).", |b| &b.connects),
            ("midge_broker_connect_failures", "Failed connection attempts to the broker, any cause.", |b| {
                &b.connect_failures
            }),
            (
                "midge_broker_disconnects",
                "Connections to the broker that were lost (ended by an error, not by plan or the run's end).",
                |b| &b.disconnects,
            ),
        ];
        for (name, help, field) in counters {
            let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (url, b) in brokers() {
                let n = field(b).load(Ordering::Relaxed);
                ConstCounter::new(n).encode(family.encode_family(&[("broker", url.as_str())])?)?;
            }
        }
        Ok(())
    }

    /// The latest periodic snapshot's lost messages and findings
    /// (`runner::periodic`; 0 and none before the first).
    fn encode_so_far(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let so_far = self.progress.so_far();
        let help = "Messages lost as of the latest periodic report (scenario report_every; a message still in flight is never counted); 0 before the first.";
        gauge(e, "midge_messages_lost_so_far", help, so_far.as_ref().map_or(0, |s| s.lost as i64))?;
        let help = "Run-clock seconds the latest periodic report decides lost and findings up to; 0 before the first.";
        let as_of = ConstGauge::new(so_far.as_ref().map_or(0.0, |s| s.as_of_s));
        as_of.encode(e.encode_descriptor("midge_snapshot_as_of_seconds", help, None, MetricType::Gauge)?)?;
        let help = "Findings of the latest periodic report, by kind.";
        let mut family = e.encode_descriptor("midge_findings_so_far", help, None, MetricType::Gauge)?;
        for (kind, n) in so_far.map(|s| s.findings).unwrap_or_default() {
            ConstGauge::new(n as i64).encode(family.encode_family(&[("kind", escape_label(&kind))])?)?;
        }
        Ok(())
    }

    /// midge's process and the broker's (when midge knows its PID).
    fn encode_processes(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let help = "CPU seconds midge's process has used (user and system).";
        ConstCounter::new(crate::metrics::process_cpu_seconds()).encode(e.encode_descriptor(
            "midge_process_cpu_seconds",
            help,
            None,
            MetricType::Counter,
        )?)?;
        let rss = crate::metrics::process_rss_kib() as i64 * 1024;
        gauge(e, "midge_process_resident_memory_bytes", "midge's resident memory.", rss)?;
        let pid = self.broker_pid.get();
        let help = "CPU seconds the broker's process has used: a spawned broker's or --broker-pid's (none for another broker).";
        let mut family = e.encode_descriptor("midge_broker_cpu_seconds", help, None, MetricType::Counter)?;
        if let Some(cpu) = pid.and_then(crate::metrics::pid_cpu_seconds) {
            ConstCounter::new(cpu).encode(family.encode_family(&[("pid", pid.unwrap_or_default().to_string())])?)?;
        }
        let help = "The broker's resident memory: a spawned broker's or --broker-pid's (none for another broker).";
        let mut family = e.encode_descriptor("midge_broker_resident_memory_bytes", help, None, MetricType::Gauge)?;
        if let Some(kib) = pid.and_then(crate::metrics::pid_rss_kib) {
            let labels = [("pid", pid.unwrap_or_default().to_string())];
            ConstGauge::new(kib as i64 * 1024).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// Messages published and delivered by QoS, bytes on the sockets.
fn encode_messages(e: &mut DescriptorEncoder, c: &Counters) -> fmt::Result {
    let help = "PUBLISH packets midge's publishers wrote, by QoS.";
    let mut family = e.encode_descriptor("midge_messages_published", help, None, MetricType::Counter)?;
    for (qos, n) in c.published.iter().enumerate() {
        ConstCounter::new(*n).encode(family.encode_family(&[("qos", qos.to_string())])?)?;
    }
    let help = "PUBLISH packets midge's subscribers received, duplicates included, by QoS.";
    let mut family = e.encode_descriptor("midge_messages_delivered", help, None, MetricType::Counter)?;
    for (qos, n) in c.received.iter().enumerate() {
        ConstCounter::new(*n).encode(family.encode_family(&[("qos", qos.to_string())])?)?;
    }
    counter(e, "midge_socket_bytes_in", "Bytes read from the broker, counted when a connection ends.", c.bytes_in)?;
    counter(e, "midge_socket_bytes_out", "Bytes written to the broker, counted when a connection ends.", c.bytes_out)
}

/// A histogram in the fixed buckets: per-bucket counts (not yet cumulative;
/// the last one +Inf), the count and the sum in µs.
#[derive(Debug, Default)]
struct Buckets {
    counts: [u64; BUCKETS_US.len() + 1],
    count: u64,
    sum_us: u128,
}

impl Buckets {
    /// Adds an HDR histogram: each recorded value falls in the first bucket
    /// whose bound is at least the top of its HDR bucket (3 significant
    /// digits); the sum takes each value's median equivalent.
    fn add(&mut self, h: &Histogram<u64>) {
        if h.is_empty() {
            return;
        }
        for v in h.iter_recorded() {
            let (value, n) = (v.value_iterated_to(), v.count_at_value());
            let i = BUCKETS_US.iter().position(|&le| value <= le).unwrap_or(BUCKETS_US.len());
            self.counts[i] += n;
            self.count += n;
            self.sum_us += h.median_equivalent(value) as u128 * n as u128;
        }
    }

    fn add_lazy(&mut self, h: &LazyHistogram) {
        if let Some(h) = h.get() {
            self.add(h);
        }
    }

    /// (upper bound in seconds, count in that bucket alone), +Inf last as
    /// the encoder writes it (`f64::MAX`).
    fn bounds(&self) -> Vec<(f64, u64)> {
        BUCKETS_S.iter().copied().chain([f64::MAX]).zip(self.counts).collect()
    }
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> fmt::Result {
    ConstGauge::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// A counter; the encoder writes its sample as `NAME_total`.
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    ConstCounter::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn histogram(e: &mut DescriptorEncoder, name: &str, help: &str, b: &Buckets) -> fmt::Result {
    let mut m: MetricEncoder = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    m.encode_histogram::<()>(b.sum_us as f64 / 1e6, b.count, &b.bounds(), None)
}

/// One of a broker's live counters (`BrokerLive`).
type BrokerCounter = fn(&BrokerLive) -> &AtomicU64;

/// A broker's `broker` label: its URL as given, without any user info
/// (`user:password@`), escaped.
fn broker_label(url: &str) -> String {
    let shown = match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    };
    escape_label(&shown)
}

/// A label value as the text format writes it: backslash, quote and newline
/// escaped (the encoder writes label values as given).
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_is_accepted_and_a_wrong_one_is_named() {
        for ok in ["127.0.0.1:9464", "127.8.9.10:0", "[::1]:9464", "0.0.0.0:9464", "10.0.0.1:9000", "localhost:0"] {
            assert!(parse_listen_addr(ok).is_ok(), "{ok}");
        }
        for bad in ["127.0.0.1", "localhost", ":9464", "127.0.0.1:99999", "no such host"] {
            let e = parse_listen_addr(bad).unwrap_err();
            assert!(e.contains("not an address to listen on") && e.contains("0.0.0.0:9464"), "{bad}: {e}");
        }
    }

    /// The encoder's text of one collector.
    fn text_of(c: impl Collector) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(c));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[derive(Debug)]
    struct One(Buckets);

    impl Collector for One {
        fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
            histogram(&mut e, "x_seconds", "help", &self.0)?;
            counter(&mut e, "x_things", "help", 7)?;
            gauge(&mut e, "x_now", "help", -3)
        }
    }

    #[test]
    fn buckets_are_filled_from_the_hdr_histogram() {
        let mut h = crate::record::hist::new_histogram();
        for us in [50, 100, 101, 700, 3_000_000, 20_000_000] {
            h.saturating_record(us);
        }
        let mut b = Buckets::default();
        b.add(&h);
        b.add(&crate::record::hist::new_histogram());
        b.add_lazy(&LazyHistogram::default());
        assert_eq!(b.count, 6);
        assert_eq!(b.counts[0], 2, "50 and 100 µs are ≤ 0.0001 s");
        assert_eq!(b.counts[1], 1, "101 µs");
        assert_eq!(b.counts[3], 1, "700 µs ≤ 0.001 s");
        assert_eq!(b.counts[14], 1, "3 s ≤ 5 s");
        assert_eq!(b.counts[16], 1, "20 s: only +Inf");
        let sum_s = b.sum_us as f64 / 1e6;
        assert!((sum_s - 23.000951).abs() < 0.02, "{sum_s}");
        let o = text_of(One(b));
        assert!(o.contains("# TYPE x_seconds histogram\n"), "{o}");
        assert!(o.contains("x_seconds_bucket{le=\"0.0001\"} 2\n"), "{o}");
        assert!(o.contains("x_seconds_bucket{le=\"0.00025\"} 3\n"), "{o}");
        assert!(o.contains("x_seconds_bucket{le=\"10.0\"} 5\n"), "{o}");
        assert!(o.contains("x_seconds_bucket{le=\"+Inf\"} 6\n"), "{o}");
        assert!(o.contains("x_seconds_count 6\n"), "{o}");
        assert!(o.contains("# TYPE x_things counter\nx_things_total 7\n"), "{o}");
        assert!(o.contains("# TYPE x_now gauge\nx_now -3\n"), "{o}");
        assert!(o.ends_with("# EOF\n"), "{o}");
    }

    #[test]
    fn a_broker_label_is_its_url_without_user_info() {
        assert_eq!(broker_label("mqtt://127.0.0.1:1883"), "mqtt://127.0.0.1:1883");
        assert_eq!(broker_label("mqtts://alice:s3cret@b.test:8883/x@y"), "mqtts://b.test:8883/x@y");
        assert_eq!(broker_label("ws://u@h:9001/mqtt"), "ws://h:9001/mqtt");
        assert_eq!(broker_label("embedded+tls"), "embedded+tls");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("a\nb"), "a\\nb");
    }
}
