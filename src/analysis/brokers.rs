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
                    connect_us.extend((g.connect_us > 0).then_some(u64::from(g.connect_us)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::testkit;
    use crate::record::vocab::Cause;
    use crate::record::PairLatency;

    const TWO: &str = r#"
name = "t"
[broker]
url = ["mqtt://a.test:1883", "mqtt://b.test:1883"]
[[group]]
name = "pub"
clients = 5
publish = { topic = "t/{client}", qos = 1, rate = 10.0 }
[[group]]
name = "sub"
broker = "mqtt://c.test:1883"
clients = 2
subscribe = { filter = "t/#", qos = 1 }
"#;

    #[test]
    fn nearest_rank_is_exact() {
        let v: Vec<u64> = (1..=200).collect();
        assert_eq!((nearest_rank(&v, 50.0), nearest_rank(&v, 99.0)), (Some(100), Some(198)));
        assert_eq!((nearest_rank(&[7], 50.0), nearest_rank(&[7], 99.0)), (Some(7), Some(7)));
        assert_eq!(nearest_rank(&[3, 9], 50.0), Some(3));
        assert_eq!(nearest_rank(&[], 50.0), None);
    }

    #[test]
    fn each_broker_counts_its_own_clients() {
        let plan = testkit::plan(TWO);
        // pub0, pub2, pub4 on a; pub1, pub3 on b; both subscribers on c.
        let on: Vec<u16> = plan.clients.iter().map(|c| c.broker).collect();
        assert_eq!(on, vec![0, 1, 0, 1, 0, 2, 2]);
        let mut rec = testkit::record(&plan);
        // a: pub0 connects in 1 ms, pub2 in 3 ms then is dropped, pub4 is refused twice.
        testkit::connect(&mut rec, 0, 1_000, 9_000_000, None).connect_us = 1_000;
        testkit::connect(&mut rec, 2, 3_000, 4_000_000, Some(Cause::NetworkReset)).connect_us = 3_000;
        testkit::connect(&mut rec, 2, 4_500_000, 9_000_000, None).connect_us = 2_000;
        testkit::refuse(&mut rec, 4, 1_000, Cause::Refused);
        testkit::refuse(&mut rec, 4, 2_000_000, Cause::Refused);
        // b: both in 10 ms; c: one subscriber in 4 ms, the other never tried.
        testkit::connect(&mut rec, 1, 10_000, 9_000_000, None).connect_us = 10_000;
        testkit::connect(&mut rec, 3, 10_000, 9_000_000, None).connect_us = 10_000;
        testkit::connect(&mut rec, 5, 4_000, 9_000_000, None).connect_us = 4_000;
        let stats = per_broker(&plan, &rec);
        let rows: Vec<_> = stats
            .iter()
            .map(|s| (s.url.as_str(), s.clients, s.connected, s.failed, s.connect_failures, s.disconnects))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("mqtt://a.test:1883", 3, 2, 1, 2, 1),
                ("mqtt://b.test:1883", 2, 2, 0, 0, 0),
                ("mqtt://c.test:1883", 2, 1, 1, 0, 0),
            ]
        );
        // a's connects took 1, 2 and 3 ms: p50 2 ms, p99 3 ms.
        let p = |s: &BrokerStats| (s.connect_p50_us, s.connect_p99_us);
        assert_eq!(
            stats.iter().map(p).collect::<Vec<_>>(),
            vec![(Some(2_000), Some(3_000)), (Some(10_000), Some(10_000)), (Some(4_000), Some(4_000)),]
        );
    }

    #[test]
    fn pairs_are_named_by_url_and_one_broker_has_one_entry_and_no_pair() {
        let plan = testkit::plan(TWO);
        // Publishers 0, 2 (on a) and 1, 3 (on b) by publisher index.
        assert_eq!(&plan.publisher_brokers[..], &[0, 1, 0, 1, 0]);
        let mut rec = testkit::record(&plan);
        let mut e2e = crate::record::hist::new_histogram();
        for us in [100, 200, 300, 400] {
            e2e.record(us).unwrap();
        }
        rec.brokers.e2e_pairs.push(PairLatency { from: 1, to: 2, e2e });
        let pairs = broker_pairs(&plan, &rec);
        assert_eq!(pairs.len(), 1);
        let p = &pairs[0];
        assert_eq!((p.from.as_str(), p.to.as_str(), p.deliveries), ("mqtt://b.test:1883", "mqtt://c.test:1883", 4));
        assert_eq!((p.e2e_p50_us, p.e2e_max_us), (200, 400));

        let one = testkit::plan("name = \"t\"\n[[group]]\nname = \"sub\"\nsubscribe = { filter = \"t/#\" }\n");
        let rec = testkit::record(&one);
        let stats = per_broker(&one, &rec);
        assert_eq!(stats.len(), 1);
        // The started broker goes by its record's address.
        assert_eq!((stats[0].url.as_str(), stats[0].clients), (testkit::BROKER_URL, 1));
        assert!(broker_pairs(&one, &rec).is_empty() && one.publisher_brokers.is_empty());
    }
}
