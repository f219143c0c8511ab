//! listen_backlog_overflow: TCP connects that took about 1 s, 3 s or 7 s —
//! the kernel's SYN retransmissions (an initial RTO of 1 s, doubling) — are
//! connects whose first SYN was dropped, as Linux does when a listening
//! socket's accept queue (its backlog: mosquitto's is 100) is full. On
//! loopback nothing else takes a second. The finding counts the connects in
//! each retry band and, for a broker on this machine, the rise of the
//! kernel's `TcpExtListenOverflows` during the run (`BrokerRecord`).
//!
//! Clustered means: at least one TCP connect in a band, and at least twice
//! as many in the bands as between them (from 500 ms on, outside the bands)
//! — a loaded machine that slows every connect spreads them evenly instead.

use super::words::secs;
use crate::analysis::evidence::{BacklogEvidence, Evidence, RetryBand};
use crate::analysis::model::Finding;
use crate::record::vocab::FindingKind;
use crate::record::RunRecord;

/// When the kernel sends a SYN again after the first went unanswered, µs.
pub const SYN_RETRIES_US: [u64; 3] = [1_000_000, 3_000_000, 7_000_000];
/// A retry band: from this much before a retry…
pub const BAND_BEFORE_US: u64 = 50_000;
/// …to this much after it (the handshake then, on a loaded machine).
pub const BAND_AFTER_US: u64 = 500_000;
/// Connects slower than this and outside every band count against a cluster.
pub const SLOW_FROM_US: u64 = 500_000;

/// The band a TCP connect time falls in, by index into `SYN_RETRIES_US`.
fn band_of(us: u64) -> Option<usize> {
    SYN_RETRIES_US.iter().position(|r| us + BAND_BEFORE_US >= *r && us < r + BAND_AFTER_US)
}

pub fn listen_backlog_overflow(record: &RunRecord) -> Option<Finding> {
    let h = &record.latencies.connect_tcp;
    let mut in_band = [0u64; 3];
    let mut between = 0u64;
    for v in h.iter_recorded() {
        let (us, n) = (h.highest_equivalent(v.value_iterated_to()), v.count_at_value());
        match band_of(us) {
            Some(i) => in_band[i] += n,
            None if us >= SLOW_FROM_US => between += n,
            None => {}
        }
    }
    let banded: u64 = in_band.iter().sum();
    if banded == 0 || banded < 2 * between {
        return None;
    }
    let overflows = record.broker.listen_overflows;
    let bands: Vec<RetryBand> = SYN_RETRIES_US
        .iter()
        .zip(in_band)
        .map(|(r, connects)| RetryBand {
            connects,
            from_ms: (r - BAND_BEFORE_US) / 1000,
            retry_s: r / 1_000_000,
            to_ms: (r + BAND_AFTER_US) / 1000,
        })
        .collect();
    let counted: Vec<String> =
        bands.iter().filter(|b| b.connects > 0).map(|b| format!("{} at ≈{} s", b.connects, b.retry_s)).collect();
    let kernel = match overflows {
        Some(0) => "; the kernel's TcpExtListenOverflows did not rise during the run (a broker in another network namespace, or a SYN lost elsewhere)".to_string(),
        Some(n) => format!("; the kernel's TcpExtListenOverflows rose by {n} during the run"),
        None => "; the broker is not on this machine (or /proc/net/netstat is unreadable): the kernel's overflow count is not known".to_string(),
    };
    // When: the connections whose attempt took as long as a retry.
    let slow: Vec<(u64, u64)> = record
        .clients
        .iter()
        .flat_map(|c| &c.timeline)
        .filter_map(|g| g.connected_us.map(|c| (g.attempt_us, c)))
        .filter(|(a, c)| c.saturating_sub(*a) + BAND_BEFORE_US >= SYN_RETRIES_US[0])
        .collect();
    Some(Finding {
        kind: FindingKind::ListenBacklogOverflow,
        summary: format!(
            "{banded} of {} TCP connects waited for the kernel's SYN retry ({}){kernel}: the broker's listen backlog (accept queue) overflowed when many connected at once, so the kernel dropped their SYNs — not slow CONNECT handling. A lower connect_rate, or a larger backlog on the broker (and net.core.somaxconn), avoids it.",
            h.len(),
            counted.join(", ")
        ),
        client_ids: Vec::new(),
        count: banded,
        first_s: secs(slow.iter().map(|(a, _)| *a).min().unwrap_or(0)),
        last_s: secs(slow.iter().map(|(_, c)| *c).max().unwrap_or(0)),
        evidence: Evidence::Backlog(BacklogEvidence {
            bands,
            between_bands: between,
            listen_overflows: overflows,
            tcp_connects: h.len(),
        }),
    })
}
