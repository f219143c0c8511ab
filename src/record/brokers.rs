//! What a run of several brokers (a cluster's nodes, bridged brokers)
//! observed beyond `RunRecord::broker` (the first's): each other broker's
//! own record (its `$SYS` values), and e2e latency per (publisher's broker,
//! subscriber's broker) pair, by index in the plan's brokers. And how the
//! clients spoke TLS (`TlsRecord`).

use super::hist;
use super::BrokerRecord;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

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
