//! What a run of several brokers (a cluster's nodes, bridged brokers)
//! observed beyond `RunRecord::broker` (the first's): each other broker's
//! own record (its `$SYS` values), and e2e latency per (publisher's broker,
//! subscriber's broker) pair, by index in the plan's brokers. And how the
//! clients spoke TLS (`TlsRecord`); the broker's own record (`BrokerRecord`,
//! its `$SYS` rounds `SysPoint`).

use super::hist;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokersRecord {
    /// The brokers after the first, in the plan's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<BrokerRecord>,
    /// e2e latency (from the intended send) per pair that delivered, by
    /// (from, to); empty with one broker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub e2e_pairs: Vec<PairLatency>,
}

impl BrokersRecord {
    pub fn is_empty(&self) -> bool {
        self.others.is_empty() && self.e2e_pairs.is_empty()
    }

    /// Adds `other`'s pair latencies into these (a merge of shards); the
    /// other brokers' records are the first shard's that has them.
    pub fn add(&mut self, other: &BrokersRecord) {
        for p in &other.e2e_pairs {
            match self.e2e_pairs.iter_mut().find(|q| (q.from, q.to) == (p.from, p.to)) {
                Some(q) => {
                    // Same bounds everywhere, so adding cannot fail.
                    let _ = q.e2e.add(&p.e2e);
                }
                None => self.e2e_pairs.push(p.clone()),
            }
        }
        self.e2e_pairs.sort_by_key(|p| (p.from, p.to));
        if self.others.is_empty() {
            self.others = other.others.clone();
        }
    }
}

/// The deliveries from publishers on broker `from` to subscribers on broker `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairLatency {
    pub from: u16,
    pub to: u16,
    #[serde(with = "hist")]
    pub e2e: Histogram<u64>,
}

/// TLS as the run used it: whether the broker's certificate was verified,
/// and what the first successful handshake negotiated (None when no
/// handshake succeeded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsRecord {
    /// `[broker.tls] insecure = true`: the broker's certificate was NOT verified.
    pub insecure: bool,
    /// The name the certificate was checked against.
    pub server_name: String,
    /// `TLSv1_3`, `TLSv1_2`.
    pub protocol_version: Option<String>,
    /// The IANA name of the cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: Option<String>,
}

/// The broker the run talked to, as the run saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokerRecord {
    /// What the report names as the broker.
    pub url: String,
    pub kind: String,
    /// The configuration midge generated, when midge started the broker.
    pub config: Option<String>,
    /// The lines of a spawned broker's log that can tell why a client was
    /// closed (None when midge did not start the broker).
    pub log_lines: Option<Vec<String>>,
    /// The last value of each `$SYS` topic the broker published.
    pub sys: BTreeMap<String, String>,
    /// The broker's main counters over the run, one point per `$SYS` round
    /// (every `sys_interval`; mosquitto waits more than the interval, so its
    /// `sys_interval 1`, the one midge spawns it with, gives a round about
    /// every 2 s).
    #[serde(default)]
    pub sys_series: Vec<SysPoint>,
    /// How far the kernel's `TcpExtListenOverflows` rose during the run, for
    /// a broker on this machine (a loopback address): connections dropped
    /// because a listen backlog was full. None otherwise, or unreadable.
    #[serde(default)]
    pub listen_overflows: Option<u64>,
    /// How the clients spoke TLS to the broker (None: they did not).
    #[serde(default)]
    pub tls: Option<TlsRecord>,
}

/// The broker's own counters after one round of `$SYS` values (mosquitto
/// publishes a counter only when it changed, so each is the last value
/// seen, carried over). None: not published (yet) by this broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SysPoint {
    /// Run-clock seconds (0.1 resolution) when the round began.
    pub t_s: f64,
    /// `$SYS/broker/publish/messages/received`: PUBLISH packets received.
    pub received: Option<u64>,
    /// `$SYS/broker/publish/messages/sent`: PUBLISH packets sent ($SYS ones included).
    pub sent: Option<u64>,
    /// `$SYS/broker/publish/messages/dropped`: messages the broker dropped
    /// (a full queue, an offline client over its limits).
    pub dropped: Option<u64>,
    /// `$SYS/broker/clients/connected` (the $SYS watcher is one of them).
    pub clients: Option<u64>,
    /// `$SYS/broker/load/messages/received/1min`: the broker's own moving
    /// average of messages received per minute.
    #[serde(default)]
    pub received_1min: Option<f64>,
}
