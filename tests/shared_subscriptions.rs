//! scenarios/shared-subscriptions.toml against mosquitto 2.0.11: one share
//! group of three, every message owed once to the group, and the spread over
//! the members shown (mosquitto goes round-robin: 400 messages make 133 or
//! 134 each); and a member that hangs and dies: what died with it is missed.

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

/// A member of a share group hangs (stops reading at 0.8 s) and is killed
/// at 1 s (no DISCONNECT, no reconnect): what mosquitto had routed to it
/// since it was last heard died with it — missed, as for a plain
/// subscriber's race at its drop, never lost; everything else reached the
/// other member, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_died_with_a_killed_share_member_is_missed_not_lost() {
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let text = r#"
name = "share-kill"
protocol = "5"
duration = "2s"
[[group]]
name = "members"
clients = 2
client_id = { scheme = "prefix-serial", prefix = "member-" }
subscribe = { filter = "$share/g/k/#", qos = 1 }
reconnect = false
[[group]]
name = "pub"
clients = 2
publish = { topic = "k/{i}", qos = 1, rate = 200.0 }
[[fault]]
at = "0.8s"
action = "stall"
group = "members"
clients = 1
for = "1s"
[[fault]]
at = "1s"
action = "kill"
group = "members"
clients = 1
"#;
    let out = support::run_text(text, &support::url(&broker)).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!((m.published, m.acked, m.lost, m.duplicated), (800, 800, 0, 0), "{m:?}");
    assert_eq!(m.received + m.missed_offline, 800, "each message reached the group or died with member-0: {m:?}");
    assert_eq!(m.expected, m.received, "{m:?}");
    // Between the hang and the kill (0.2 s) 80 messages went out, and
    // mosquitto alternates: half of them (give or take the schedule's edges)
    // went to member-0.
    assert!((38..=42).contains(&m.missed_offline), "{m:?}");
    let windows: Vec<_> = r.loss_windows.iter().map(|w| (w.client.as_deref(), w.lost)).collect();
    assert!(windows.iter().all(|&(c, lost)| c == Some("member-0") && lost == 0), "{windows:?}");
    assert!(r.findings.iter().all(|f| f.kind.as_str() != "qos_violation"), "{:#?}", r.findings);
}
