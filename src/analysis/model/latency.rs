//! `latency` of report.json: each latency as percentiles and its HDR
//! histogram.

use crate::record::vocab::ReceiveTime;
use crate::record::{hist, Latencies};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub min_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// The HDR histogram, V2-serialized, base64.
    pub hdr: String,
}

impl LatencySummary {
    pub fn from_histogram(h: &Histogram<u64>) -> LatencySummary {
        let empty = h.is_empty();
        let q = |x: f64| if empty { 0 } else { h.value_at_quantile(x) };
        LatencySummary {
            count: h.len(),
            min_us: if empty { 0 } else { h.min() },
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if empty { 0 } else { h.max() },
            mean_us: if empty { 0.0 } else { (h.mean() * 10.0).round() / 10.0 },
            hdr: hist::encode(h),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencyInfo {
    /// TCP connect start to CONNACK.
    pub connect: LatencySummary,
    /// TCP handshake only.
    pub connect_tcp: LatencySummary,
    /// TLS handshake only (count 0 without TLS).
    #[serde(default)]
    pub connect_tls: LatencySummary,
    /// WebSocket handshake only (count 0 without a WebSocket).
    #[serde(default)]
    pub connect_ws: LatencySummary,
    /// Intended send time to receipt (coordinated-omission corrected).
    pub e2e: LatencySummary,
    /// Actual send time to receipt.
    pub e2e_uncorrected: LatencySummary,
    /// PUBLISH to PUBACK (QoS 1) or PUBCOMP (QoS 2).
    pub ack: LatencySummary,
    /// SUBSCRIBE to SUBACK.
    pub suback: LatencySummary,
    /// Per delivery with a kernel receive stamp (plain TCP on Linux):
    /// midge's taking it in minus the kernel's stamp (count 0 without one).
    #[serde(default)]
    pub receive_delay: LatencySummary,
    /// midge's own part of the latency it reports (`OwnPart`).
    #[serde(default)]
    pub own: OwnPart,
}

/// midge's own part of the latency it reports, measured in the run:
/// `send_lag` (actual minus intended send: in e2e, not in e2e_uncorrected)
/// and `receive_delay` (midge taking a delivery in minus the kernel's
/// receive stamp: in neither, since e2e runs to the kernel's stamp). Where
/// no delivery had a kernel stamp (TLS, WebSocket, not Linux) the receive
/// delay is not measured and is in both e2e figures: `batching_bound_us`
/// is how much a paced read could add to a delivery's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OwnPart {
    pub send_lag_p50_us: u64,
    pub send_lag_p99_us: u64,
    /// 0 when not measured.
    pub receive_delay_p50_us: u64,
    pub receive_delay_p99_us: u64,
    /// Some delivery had a kernel receive stamp.
    pub receive_delay_measured: bool,
    /// Deliveries with a kernel stamp, of `e2e.count`.
    pub receive_delay_deliveries: u64,
    /// The most a paced read holds what arrived: the batch window (fixed),
    /// the adaptive window (1 ms), 0 with batching off.
    pub batching_bound_us: u64,
    /// What e2e ran to: the kernel's receive stamp, midge's own time, a mix.
    pub e2e_receive_time: ReceiveTime,
}

impl LatencyInfo {
    pub fn from(l: &Latencies) -> LatencyInfo {
        LatencyInfo {
            connect: LatencySummary::from_histogram(&l.connect),
            connect_tcp: LatencySummary::from_histogram(&l.connect_tcp),
            connect_tls: LatencySummary::from_histogram(&l.connect_tls),
            connect_ws: LatencySummary::from_histogram(&l.connect_ws),
            e2e: LatencySummary::from_histogram(&l.e2e),
            e2e_uncorrected: LatencySummary::from_histogram(&l.e2e_uncorrected),
            ack: LatencySummary::from_histogram(&l.ack),
            suback: LatencySummary::from_histogram(&l.suback),
            receive_delay: LatencySummary::from_histogram(&l.receive_delay),
            own: OwnPart::default(),
        }
    }
}
