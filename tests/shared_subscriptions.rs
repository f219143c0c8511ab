//! scenarios/shared-subscriptions.toml against mosquitto 2.0.11: one share
//! group of three, every message owed once to the group, and the spread over
//! the members shown (mosquitto goes round-robin: 400 messages make 133 or
//! 134 each).

mod support;

use support::run_shipped;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_group_gets_each_message_once_spread_round_robin() {
    let out = run_shipped("shared-subscriptions", |t| t).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!((m.published, m.expected, m.received, m.lost, m.duplicated), (400, 400, 400, 0, 0), "{m:?}");
    assert_eq!(m.deliveries, 400, "once to the group, not once per member");
    let s = &r.shared_subscriptions[0];
    assert_eq!((s.filter.as_str(), s.members, s.expected, s.received), ("$share/workers/jobs/#", 3, 400, 400));
    let mut counts: Vec<u64> = s.per_member.values().copied().collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![133, 133, 134], "round-robin: {:?}", s.per_member);
    assert_eq!((s.min_share_pct, s.max_share_pct, s.fair_share_pct, s.max_deviation_pct), (33.3, 33.5, 33.3, 0.2));
    let md = midge::report::markdown::render(r);
    assert!(md.contains("an even spread is 33.3 % each, the most uneven member is 0.2 points off it"), "{md}");
    assert_eq!(out.exit_code, 0);
}
