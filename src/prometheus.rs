//! `midge run --prometheus 127.0.0.1:PORT`: the run's live figures at
//! `http://ADDR/metrics` in the Prometheus text exposition format (0.0.4),
//! for soaks watched from Grafana.
//!
//! A tiny HTTP/1.1 responder on the main runtime: `GET /metrics` gets the
//! text, anything else a 404, and every connection is closed after its
//! response. Each scrape reads the shards' cumulative counters and
//! histograms (`Metrics::read_shards`, nothing reset, so the sampler's
//! time series is undisturbed) and the run's atomics. It serves on loopback
//! only: this workplace never serves beyond the machine it runs on.
//!
//! No label carries a client id, a topic or a secret: labels are the QoS,
//! a connect failure's cause name, the run phase and the info metric's
//! version, scenario name and run id.
//!
//! HDR histograms are folded into fixed buckets from 0.1 ms to 10 s
//! (`BUCKETS_US`); the phase comes from the run's `control::Phase` watch. The
//! listener is bound by `cli` and checked (`check_listener`) before the run
//! prepares anything; the exporter is one of the run's background tasks
//! (`control::Tasks`).

use crate::control::{Phase, Shutdown};
use crate::metrics::{LazyHistogram, Metrics, ShardLatencies};
use crate::plan::Plan;
use crate::record::Counters;
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Why a non-loopback address is refused (the `--prometheus` error names it).
pub const LOOPBACK_RULE: &str =
    "midge serves /metrics on this machine only, on a loopback address (127.0.0.0/8 or ::1), e.g. 127.0.0.1:9464";

/// `--prometheus`: an IP:PORT on loopback (port 0: any free one).
pub fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr =
        s.parse().map_err(|_| format!("{s:?} is not an IP:PORT address (e.g. 127.0.0.1:9464 or [::1]:9464)"))?;
    check_loopback(addr)?;
    Ok(addr)
}

/// Loopback only: 127.0.0.0/8 or ::1.
pub fn check_loopback(addr: SocketAddr) -> Result<(), String> {
    match addr.ip().is_loopback() {
        true => Ok(()),
        false => Err(format!("{} is not a loopback address: {LOOPBACK_RULE}", addr.ip())),
    }
}

/// Histogram bucket bounds, seconds, and the same in µs (the HDR unit).
const BUCKETS_S: [&str; 16] = [
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10",
];
const BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// What a scrape shows besides the metrics: fixed for the run.
struct Source {
    metrics: Arc<Metrics>,
    phase: watch::Receiver<Phase>,
    planned: u64,
    /// `midge_info`'s labels, escaped.
    info: String,
}

/// Refuses a listener that is not on loopback (before the run starts).
pub fn check_listener(listener: &TcpListener) -> Result<SocketAddr, String> {
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    check_loopback(addr)?;
    Ok(addr)
}

/// The exporter, to run as one of the run's background tasks
/// (`control::Tasks`): serves on `listener` (bound by the caller, so it
/// knows the address; passed by `check_listener`) until `shutdown`, then
/// stops accepting, lets a response under way finish (briefly), and closes
/// the listener.
pub fn exporter(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    phase: watch::Receiver<Phase>,
    plan: &Plan,
    shutdown: Shutdown,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let info = format!(
        "version=\"{}\",scenario=\"{}\",run_id=\"{:016x}\"",
        escape_label(env!("CARGO_PKG_VERSION")),
        escape_label(&plan.name),
        plan.run_id
    );
    let source = Arc::new(Source { metrics, phase, planned: plan.clients.len() as u64, info });
    serve(listener, source, shutdown)
}

async fn serve(listener: TcpListener, source: Arc<Source>, mut shutdown: Shutdown) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let source = source.clone();
                    conns.spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(5), answer(stream, &source)).await;
                    });
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.requested() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(1), async { while conns.join_next().await.is_some() {} }).await;
    conns.shutdown().await;
}

/// One request, one response, then close.
async fn answer(mut stream: TcpStream, source: &Source) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line = request.split(|&b| b == b'\r' || b == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, content_type, body) = if method == b"GET" && path == b"/metrics" {
        ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render(source))
    } else {
        ("404 Not Found", "text/plain; charset=utf-8", "not found: midge serves GET /metrics\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// A histogram in the fixed buckets: per-bucket counts (not yet cumulative;
/// the last one +Inf), the count and the sum in µs.
#[derive(Default)]
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
}

/// The exposition text of one scrape.
fn render(source: &Source) -> String {
    let m = &source.metrics;
    let mut c = Counters::default();
    let (mut e2e, mut connect, mut ack) = (Buckets::default(), Buckets::default(), Buckets::default());
    m.read_shards(|counters: &Counters, l: &ShardLatencies| {
        c.add(counters);
        // A histogram nothing was recorded into adds nothing.
        e2e.add_lazy(&l.e2e);
        connect.add_lazy(&l.connect);
        ack.add_lazy(&l.ack);
    });
    let phase = *source.phase.borrow();
    let mut out = String::with_capacity(8192);
    let o = &mut out;

    family(o, "midge_info", "gauge", "midge's version, the scenario's name and the run id; always 1.");
    let _ = writeln!(o, "midge_info{{{}}} 1", source.info);
    family(o, "midge_run_phase", "gauge", "The run's phase: 1 for the current one, 0 for the others.");
    for (name, on) in [
        ("connecting", phase == Phase::Connecting),
        ("publishing", matches!(phase, Phase::Publishing { .. })),
        ("draining", phase == Phase::Draining),
        ("shutdown", phase == Phase::Shutdown),
    ] {
        let _ = writeln!(o, "midge_run_phase{{phase=\"{name}\"}} {}", on as u8);
    }
    gauge(o, "midge_clients_planned", "Clients the scenario plans.", source.planned as i64);
    gauge(o, "midge_clients_connected", "Clients connected right now.", m.connected.load(Ordering::Relaxed).max(0));
    gauge(
        o,
        "midge_messages_in_flight",
        "QoS 1 and 2 publishes awaiting their acknowledgement right now.",
        m.inflight.load(Ordering::Relaxed).max(0),
    );
    counter(o, "midge_connect_attempts_total", "Connection attempts (TCP, TLS, CONNECT).", c.connect_attempts);
    counter(o, "midge_connects_total", "Connections the broker accepted (CONNACK success).", c.connects);
    counter(o, "midge_reconnects_total", "Successful connections after a client's first.", c.reconnects);
    family(o, "midge_connect_failures_total", "counter", "Failed connection attempts, by cause.");
    for (cause, n) in crate::record::names::by_name(&c.connect_failures) {
        let _ = writeln!(o, "midge_connect_failures_total{{cause=\"{}\"}} {n}", escape_label(&cause));
    }
    family(o, "midge_messages_published_total", "counter", "PUBLISH packets midge's publishers wrote, by QoS.");
    for (qos, n) in c.published.iter().enumerate() {
        let _ = writeln!(o, "midge_messages_published_total{{qos=\"{qos}\"}} {n}");
    }
    family(
        o,
        "midge_messages_delivered_total",
        "counter",
        "PUBLISH packets midge's subscribers received, duplicates included, by QoS.",
    );
    for (qos, n) in c.received.iter().enumerate() {
        let _ = writeln!(o, "midge_messages_delivered_total{{qos=\"{qos}\"}} {n}");
    }
    counter(
        o,
        "midge_socket_bytes_in_total",
        "Bytes read from the broker, counted when a connection ends.",
        c.bytes_in,
    );
    counter(
        o,
        "midge_socket_bytes_out_total",
        "Bytes written to the broker, counted when a connection ends.",
        c.bytes_out,
    );
    histogram(
        o,
        "midge_e2e_latency_seconds",
        "End-to-end latency, from a message's intended send time to its receipt.",
        &e2e,
    );
    histogram(o, "midge_connect_latency_seconds", "Time from connecting to the CONNACK (TLS included).", &connect);
    histogram(o, "midge_ack_latency_seconds", "Time from a QoS 1 or 2 PUBLISH to its PUBACK or PUBCOMP.", &ack);
    out
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

fn gauge(o: &mut String, name: &str, help: &str, value: i64) {
    family(o, name, "gauge", help);
    let _ = writeln!(o, "{name} {value}");
}

fn counter(o: &mut String, name: &str, help: &str, value: u64) {
    family(o, name, "counter", help);
    let _ = writeln!(o, "{name} {value}");
}

fn histogram(o: &mut String, name: &str, help: &str, b: &Buckets) {
    family(o, name, "histogram", help);
    let mut cumulative = 0;
    for (le, n) in BUCKETS_S.iter().zip(b.counts) {
        cumulative += n;
        let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {}", b.count);
    let _ = writeln!(o, "{name}_sum {}", b.sum_us as f64 / 1e6);
    let _ = writeln!(o, "{name}_count {}", b.count);
}

/// A label value as the text format writes it: backslash, quote and newline escaped.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_accepted() {
        for ok in ["127.0.0.1:9464", "127.8.9.10:0", "[::1]:9464"] {
            assert!(parse_listen_addr(ok).is_ok(), "{ok}");
        }
        for bad in ["10.0.0.1:9000", "0.0.0.0:9464", "[::]:9464", "[::ffff:127.0.0.1]:1", "192.168.1.2:80"] {
            let e = parse_listen_addr(bad).unwrap_err();
            assert!(e.contains("not a loopback address") && e.contains("127.0.0.0/8 or ::1"), "{bad}: {e}");
        }
        assert!(parse_listen_addr("localhost:9464").unwrap_err().contains("IP:PORT"));
        assert!(parse_listen_addr("127.0.0.1").is_err());
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
        let mut o = String::new();
        histogram(&mut o, "x_seconds", "help", &b);
        assert!(o.contains("x_seconds_bucket{le=\"0.0001\"} 2\n"), "{o}");
        assert!(o.contains("x_seconds_bucket{le=\"0.00025\"} 3\n"), "{o}");
        assert!(o.contains("x_seconds_bucket{le=\"10\"} 5\n"), "{o}");
        assert!(o.contains("x_seconds_bucket{le=\"+Inf\"} 6\n"), "{o}");
        assert!(o.contains("x_seconds_count 6\n"), "{o}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("a\nb"), "a\\nb");
    }
}
