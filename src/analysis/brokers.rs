//! Per broker, for a run of several (a cluster's nodes, bridged brokers):
//! report.json `brokers` — each broker's clients, how many connected, failed
//! and were dropped, and their connect latency — and `broker_pairs`, e2e
//! from publishers on one broker to subscribers on another. A run of one
//! broker has one `brokers` entry and no pairs.
//!
//! Counts and connect latency come from the clients' timelines (each
//! `Generation`'s `connect_us`), so they are exact: p50 and p99 are nearest
//! ranks of the measured values, not histogram buckets. Pair latencies come
//! from the record's per-pair histograms (`BrokersRecord::e2e_pairs`).

use super::model::{BrokerPairInfo, BrokerStats};
use crate::plan::Plan;
use crate::record::{BrokerRecord, RunRecord};

/// The `p`-th percentile (0–100) of `sorted` by nearest rank; None when empty.
pub fn nearest_rank(sorted: &[u64], p: f64) -> Option<u64> {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n.max(1)) - 1).copied()
}

/// The record of broker `i` of the plan (the first is the run's `broker`).
fn record_of(record: &RunRecord, i: usize) -> Option<&BrokerRecord> {
    match i {
        0 => Some(&record.broker),
        i => record.brokers.others.get(i - 1),
    }
}

/// The URL broker `i` goes by: as its record has it (a started broker's
/// address), else as the scenario wrote it.
fn url_of(plan: &Plan, record: &RunRecord, i: usize) -> String {
    let written = plan.brokers.get(i).map(|b| b.url.clone()).unwrap_or_default();
    match (&plan.brokers.get(i).map(|b| &b.spec), record_of(record, i)) {
        (Some(crate::scenario::BrokerSpec::External { .. }), _) | (_, None) => written,
        (_, Some(r)) => r.url.clone(),
    }
}

/// report.json `brokers`: one entry per broker of the plan, in its order.
pub fn per_broker(plan: &Plan, record: &RunRecord) -> Vec<BrokerStats> {
    (0..plan.brokers.len().max(1))
        .map(|i| {
            let mine = record.clients.iter().filter(|c| plan.broker_of(c.index) == i);
            let mut stats = BrokerStats {
                url: url_of(plan, record, i),
                kind: record_of(record, i).map(|r| r.kind.clone()).unwrap_or_default(),
                clients: plan.clients.iter().filter(|c| c.broker as usize == i).count() as u64,
                sys_run: record_of(record, i)
                    .and_then(|r| super::sys_run::sys_run(&r.sys_series, record.run_end_us, r.config.as_deref())),
                ..Default::default()
            };
            let mut connect_us = Vec::new();
            for c in mine {
                let connected = c.ever_connected();
                stats.connected += connected as u64;
                stats.failed += !connected as u64;
                for g in &c.timeline {
                    match g.connected_us {
                        Some(_) => stats.disconnects += g.cause.is_some() as u64,
                        None => stats.connect_failures += g.cause.is_some() as u64,
                    }
                    connect_us.extend(g.connect_us);
                }
            }
            connect_us.sort_unstable();
            stats.connect_p50_us = nearest_rank(&connect_us, 50.0);
            stats.connect_p99_us = nearest_rank(&connect_us, 99.0);
            stats
        })
        .collect()
}

/// report.json `broker_pairs`: e2e per (publisher's broker, subscriber's
/// broker) pair that delivered, in pair order.
pub fn broker_pairs(plan: &Plan, record: &RunRecord) -> Vec<BrokerPairInfo> {
    record
        .brokers
        .e2e_pairs
        .iter()
        .filter(|p| !p.e2e.is_empty())
        .map(|p| BrokerPairInfo {
            from: url_of(plan, record, p.from as usize),
            to: url_of(plan, record, p.to as usize),
            deliveries: p.e2e.len(),
            e2e_p50_us: p.e2e.value_at_quantile(0.5),
            e2e_p99_us: p.e2e.value_at_quantile(0.99),
            e2e_max_us: p.e2e.max(),
        })
        .collect()
}
