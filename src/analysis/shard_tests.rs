//! Known answers for sharded runs: a plan sliced in two, a record made by
//! hand for each shard (the second shard's clock started 2 s later), each
//! shard's own report, and the merge of the two analysed once.

use super::analyse;
use super::testkit::{self as kit, connect, every, publish, receive};
use crate::plan::shard::ShardId;
use crate::plan::{global_indices, slice, Plan};
use crate::record::merge::{combine, ShardPart};
use crate::record::vocab::{Cause, FindingKind};
use crate::record::RunRecord;

const S: u64 = 1_000_000;

/// pub0, pub1 (publisher indices 0 and 1) publish to t/0, t/1; sub0 and
/// sub1 subscribe to t/#. Shard 0 of 2 runs pub0 and sub0, shard 1 pub1 and sub1.
fn whole() -> Plan {
    kit::plan(
        r#"
name = "sharded"
[[group]]
name = "pub"
clients = 2
publish = { topic = "t/{i}", qos = 1, rate = 100.0 }
[[group]]
name = "sub"
clients = 2
subscribe = { filter = "t/#", qos = 1 }
"#,
    )
}

fn shard(i: u32) -> ShardId {
    ShardId { index: i, count: 2 }
}

/// A shard's record: its publisher (local 0) sends 100 messages from
/// `publish_from_us` on its own clock; its subscriber (local 1) hears both publishers, all but
/// `missing` of publisher 1 (on shard 0, a stream that crosses shards).
fn shard_record(plan: &Plan, clock_start_us: u64, publish_from_us: u64, missing: Option<u64>) -> RunRecord {
    let mut rec = kit::record(plan);
    rec.clock_start_unix_us = clock_start_us;
    connect(&mut rec, 0, S / 2, 10 * S, None);
    connect(&mut rec, 1, S / 2, 10 * S, None);
    publish(&mut rec, 0, 1, every(publish_from_us, 10_000, 100));
    receive(&mut rec, 1, 0, 0..100);
    receive(&mut rec, 1, 1, (0..100).filter(|s| Some(*s) != missing));
    rec
}

#[test]
fn a_shard_reports_only_its_own_streams_and_the_merge_finds_the_cross_shard_loss() {
    let whole = whole();
    let plans: Vec<Plan> = (0..2).map(|i| slice(whole.clone(), shard(i))).collect();
    assert_eq!(plans[0].streams.len(), 1, "pub0 → sub0 only: the other streams cross shards");
    let base = 1_700_000_000_000_000;
    let mut records = [shard_record(&plans[0], base, 3 * S, Some(7)), shard_record(&plans[1], base + 2 * S, S, None)];
    // The quickest deliveries (µs): within a shard 100; shard 1 → 0: 300; 0 → 1: −200 (its clock behind).
    for (shard, rec) in records.iter_mut().enumerate() {
        let rx = rec.clients[1].rx.as_mut().unwrap();
        for (publisher, stream) in rx.streams.iter_mut() {
            stream.min_one_way_us = Some(match (*publisher as usize == shard, shard) {
                (true, _) => 100,
                (false, 0) => 300,
                (false, _) => -200,
            });
        }
    }

    // Both publish from 3 s on the merged clock, when every subscriber is live.
    // Each shard alone: its one stream, complete — no false loss from the
    // stream it cannot judge.
    for (p, r) in plans.iter().zip(&records) {
        let m = analyse(p, r).messages;
        assert_eq!((m.published, m.expected, m.received, m.lost), (100, 100, 100, 0));
    }

    let parts = (0..2)
        .map(|i| ShardPart { record: records[i].clone(), global: global_indices(&whole, shard(i as u32)) })
        .collect();
    let merged = combine(parts, whole.identity());
    let r = analyse(&whole, &merged);
    let m = &r.messages;
    assert_eq!((m.published, m.expected, m.received, m.lost), (200, 400, 399, 1));
    let lost: Vec<_> =
        r.streams.iter().filter(|s| s.lost > 0).map(|s| (s.publisher.as_str(), s.subscriber.as_str())).collect();
    assert_eq!(lost, vec![("pub1", "sub0")]);
    // Shard 1's times moved 2 s later onto the merged clock; its clients took their whole-plan places.
    assert_eq!(merged.clients[3].timeline[0].connected_us, Some(2 * S + S / 2), "sub1");
    assert_eq!(merged.clients[1].publish_log.as_ref().unwrap().sent.span(), Some((3 * S, 3 * S + 990_000)), "pub1");
    let shards = r.shards.expect("a merged report says so");
    assert!(shards.merged);
    let offsets: Vec<f64> = shards.parts.iter().map(|p| p.clock_offset_ms).collect();
    assert_eq!(offsets, vec![0.0, 2000.0]);
    let pairs: Vec<(u32, u32, f64)> = shards.clock_pairs.iter().map(|p| (p.from, p.to, p.min_one_way_ms)).collect();
    assert_eq!(pairs, vec![(0, 0, 0.1), (0, 1, -0.2), (1, 0, 0.3), (1, 1, 0.1)]);
    // Δ(clock 1 − clock 0) ∈ [−0.3, −0.2] ms: a cross-shard latency is at most 0.3 ms off.
    assert_eq!(shards.cross_shard_latency_bound_ms, Some(0.3));
}

#[test]
fn slices_spread_a_group_and_keep_whole_plan_ids_and_publisher_indices() {
    let whole = kit::plan(
        r#"
name = "spread"
[[group]]
name = "pub"
clients = 5
publish = { topic = "t/{i}", qos = 0, rate = 1.0 }
"#,
    );
    let parts: Vec<Plan> = (0..2).map(|i| slice(whole.clone(), shard(i))).collect();
    let ids: Vec<Vec<&str>> = parts.iter().map(|p| p.clients.iter().map(|c| c.client_id.as_str()).collect()).collect();
    assert_eq!(ids, vec![vec!["pub0", "pub2", "pub4"], vec!["pub1", "pub3"]]);
    let publishers: Vec<Option<u32>> = parts[1].clients.iter().map(|c| c.publisher).collect();
    assert_eq!(publishers, vec![Some(1), Some(3)]);
    assert_eq!(parts[1].publishers_total(), 5, "schedules spread over the whole plan's publishers");
    assert_eq!(parts[1].identity().client_ids.len(), 5, "the record keeps every id of the whole plan");
}

#[test]
fn a_duplicate_id_loop_between_two_shards_is_one_finding_of_the_merge() {
    // Both clients of "fx" share the id "same"; client 0 runs on shard 0,
    // client 1 on shard 1, whose clock started 1 s later. On the merged
    // clock: 0 up 1–2 s, 1 up 2–3 s, 0 up 3–4 s, 1 up from 4 s: 3 takeovers.
    let whole = kit::plan_own_ids(
        "name = \"t\"\n[[group]]\nname = \"fx\"\nclients = 2\nclient_id = { scheme = \"fixed\", id = \"same\" }\n",
    );
    let plans: Vec<Plan> = (0..2).map(|i| slice(whole.clone(), shard(i))).collect();
    let base = 1_700_000_000_000_000;
    let mut a = kit::record(&plans[0]);
    a.clock_start_unix_us = base;
    connect(&mut a, 0, S, 2 * S, Some(Cause::NetworkEof));
    connect(&mut a, 0, 3 * S, 4 * S, Some(Cause::NetworkEof));
    let mut b = kit::record(&plans[1]);
    b.clock_start_unix_us = base + S;
    connect(&mut b, 0, S, 2 * S, Some(Cause::NetworkEof));
    connect(&mut b, 0, 3 * S, 7 * S, None);
    let parts = [a, b]
        .into_iter()
        .enumerate()
        .map(|(i, record)| ShardPart { record, global: global_indices(&whole, shard(i as u32)) })
        .collect();
    let r = analyse(&whole, &combine(parts, whole.identity()));
    let loops: Vec<_> = r.findings.iter().filter(|f| f.kind == FindingKind::DuplicateIdLoop).collect();
    assert_eq!(loops.len(), 1, "{:#?}", r.findings);
    assert_eq!((loops[0].count, loops[0].client_ids.clone()), (3, vec!["same".to_string()]));
    assert_eq!(kit::names(&r.disconnects.by_cause).get("session_taken_over"), Some(&3));
}

/// The two shards' records merged (shard 1's clock started later, so its
/// times move onto the merged clock).
fn merge(whole: &Plan, records: [RunRecord; 2]) -> RunRecord {
    let parts = records
        .into_iter()
        .enumerate()
        .map(|(i, record)| ShardPart { record, global: global_indices(whole, shard(i as u32)) })
        .collect();
    combine(parts, whole.identity())
}

/// Sets each stream's quickest delivery so that the cross-shard latency
/// bound comes out at `bound_us` (within a shard: 100 µs).
fn bound_clocks(records: &mut [RunRecord; 2], bound_us: i64) {
    for (shard, rec) in records.iter_mut().enumerate() {
        let rx = rec.clients[1].rx.as_mut().unwrap();
        for (publisher, stream) in rx.streams.iter_mut() {
            stream.min_one_way_us = Some(match (*publisher as usize == shard, shard) {
                (true, _) => 100,
                (false, 0) => bound_us,
                (false, _) => 100 - bound_us,
            });
        }
    }
}

#[test]
fn a_subscriber_that_closed_while_a_late_shard_still_published_is_owed_nothing_that_raced_its_close() {
    // Shard 1 started 2 s late: pub1 sends 100 messages from 9.5 s on the
    // merged clock, every 10 ms; sub0 (shard 0) closed at the end of its own
    // run at 10 s and had pub1's 0..45 (sent up to 9.94 s). 45..=50 were
    // still on their way at its close (no drain on shard 0 waited for
    // shard 1), 51.. were sent after its end: owed nothing. Trusted to its
    // close less the race margin (50 ms) and the clock bound (0.3 ms):
    // sent by 9.9497 s, seqs 0..=44.
    let whole = whole();
    let plans: Vec<Plan> = (0..2).map(|i| slice(whole.clone(), shard(i))).collect();
    let base = 1_700_000_000_000_000;
    let mut records = [kit::record(&plans[0]), kit::record(&plans[1])];
    records[1].clock_start_unix_us = base + 2 * S;
    records[0].clock_start_unix_us = base;
    for (rec, publish_from) in records.iter_mut().zip([3 * S, 7 * S + S / 2]) {
        connect(rec, 0, S / 2, 10 * S, None);
        connect(rec, 1, S / 2, 10 * S, None);
        publish(rec, 0, 1, every(publish_from, 10_000, 100));
        receive(rec, 1, 0, 0..100);
    }
    receive(&mut records[0], 1, 1, 0..45);
    receive(&mut records[1], 1, 1, 0..100);
    bound_clocks(&mut records, 300);
    let r = analyse(&whole, &merge(&whole, records));
    assert_eq!(r.shards.as_ref().unwrap().cross_shard_latency_bound_ms, Some(0.3));
    let late: Vec<_> = r
        .streams
        .iter()
        .filter(|s| (s.publisher.as_str(), s.subscriber.as_str()) == ("pub1", "sub0"))
        .map(|s| (s.expected, s.received, s.lost))
        .collect();
    assert_eq!(late, vec![(45, 45, 0)]);
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.missed_offline), (345, 345, 0, 0), "{m:?}");
}

#[test]
fn the_clock_bound_between_shards_narrows_a_window_at_a_drop() {
    // The clocks of the two shards may differ by up to 30 ms. pub1 (shard 1)
    // sends 100 messages from 4 s on the merged clock; sub0 (shard 0, clean
    // session) was last heard at 5.0 s, dropped at 5.01 s and came back at
    // 6 s; it had pub1's 0..=92 (sent up to 4.92 s). Trusted to 5.0 s less
    // the race margin and the bound (4.92 s): 93..=99 are missed, not lost —
    // with the margin alone (4.95 s) 93..=95 would count as lost.
    let whole = whole();
    let plans: Vec<Plan> = (0..2).map(|i| slice(whole.clone(), shard(i))).collect();
    let base = 1_700_000_000_000_000;
    let mut records = [kit::record(&plans[0]), kit::record(&plans[1])];
    records[0].clock_start_unix_us = base;
    records[1].clock_start_unix_us = base + 2 * S;
    connect(&mut records[0], 0, S / 2, 10 * S, None);
    connect(&mut records[0], 1, S / 2, 5 * S + 10_000, Some(Cause::NetworkEof)).heard_us = 5 * S;
    connect(&mut records[0], 1, 6 * S, 10 * S, None);
    publish(&mut records[0], 0, 1, every(3 * S, 10_000, 100));
    receive(&mut records[0], 1, 0, 0..100);
    receive(&mut records[0], 1, 1, 0..93);
    connect(&mut records[1], 0, S / 2, 10 * S, None);
    connect(&mut records[1], 1, S / 2, 10 * S, None);
    publish(&mut records[1], 0, 1, every(2 * S, 10_000, 100));
    receive(&mut records[1], 1, 0, 0..100);
    receive(&mut records[1], 1, 1, 0..100);
    bound_clocks(&mut records, 30_000);
    let r = analyse(&whole, &merge(&whole, records));
    assert_eq!(r.shards.as_ref().unwrap().cross_shard_latency_bound_ms, Some(30.0));
    let m = &r.messages;
    assert_eq!((m.expected, m.received, m.lost, m.missed_offline), (393, 393, 0, 7), "{m:?}");
}
