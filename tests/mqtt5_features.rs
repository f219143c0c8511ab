//! MQTT 5 features against mosquitto 2.0.11 (scenarios/mqtt5-features.toml):
//! message expiry for an offline persistent subscriber, topic aliases and
//! user properties, each with an exact count.

mod support;

use support::{client, offline_gap, owed_and_extra, run_shipped};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_aliases_and_user_properties_are_counted_exactly() {
    let out = run_shipped("mqtt5-features", |t| t).await;
    let r = &out.report;
    let m = &r.messages;
    let stream = |sub: &str| r.streams.iter().find(|s| s.subscriber == sub);
    assert_eq!(m.published, 60, "20 msg/s for 3 s");
    assert_eq!(m.lost, 0, "{m:?}");
    // Every message reached the persistent subscriber or expired in its queue.
    let away = m.received - 60;
    assert_eq!(away + m.expired, 60, "{m:?}");
    assert_eq!(m.expected, 120 - m.expired);
    // Expired, from the record: the oldest of what was sent while it was
    // away (from its last trusted moment to the resumed session's CONNACK;
    // what raced the cut may have arrived before it), one run of sequence
    // numbers; every one of them older than its 2 s expiry (less the
    // broker's 0.5 s of slack) when the session came back, and everything
    // else arrived.
    let rec = &out.record;
    let sub = client(rec, "away-0");
    let (from, to) = offline_gap(&sub.timeline[0], &sub.timeline[1]);
    let publisher = client(rec, "line-0").publish_log.as_ref().unwrap();
    let (a, b) = publisher.seqs_sent_between(from, to);
    let received = &sub.rx.as_ref().unwrap().streams[&0].received;
    let missing: Vec<u64> = (0..60).filter(|s| !received.contains(*s)).collect();
    assert_eq!(m.expired, missing.len() as u64, "{m:?}");
    assert!(m.expired > 0, "some messages waited longer than 2 s: {m:?}");
    let first = missing[0];
    assert!(a <= first && first + m.expired <= b, "gap {from}..{to} holds {a}..{b}: {missing:?}");
    assert_eq!(missing, (first..first + m.expired).collect::<Vec<_>>());
    let youngest = publisher.sent.time_of(first + m.expired - 1);
    assert!(to + 1 - youngest + 500_000 >= 2_000_000, "expired at {youngest}, back at {to}");
    // The live subscriber was owed all 60 and got them, nothing more.
    assert!(stream("live-0").is_none_or(|s| s.lost == 0), "the live subscriber got all 60");
    assert_eq!(owed_and_extra(rec, client(rec, "live-0")), (60, 0));
    // Topic aliases: the topic (36 bytes) went out once per connection, alias 1
    // (3 bytes of property) on every message.
    let topic = "factory/line-7/sensors/0/temperature".len() as i64;
    assert_eq!(m.topic_alias_bytes_saved, 59 * topic - 3 * 60);
    // User properties: every delivery checked, none changed by the broker.
    assert_eq!(m.user_properties_checked, m.deliveries);
    assert_eq!(m.user_properties_checked, m.received);
    assert_eq!(m.user_property_mismatches, 0);
    assert_eq!(out.exit_code, 0, "lost = 0 holds: expired messages are not lost");
    // The resumed backlog came with its expiry interval lowered to nothing
    // left (mosquitto leaves the property out then): no rule broken.
    let spec: Vec<_> = r.findings.iter().filter_map(|f| f.evidence.spec()).collect();
    assert!(spec.is_empty(), "{spec:#?}");
}

/// scenarios/bugs/mosquitto-expired-queue-stall.toml on mosquitto 2.0.11: the
/// subscriber is away from 0.2 s until after publishing ended, every message
/// of its 20-message in-flight window expired meanwhile, and mosquitto never
/// begins the rest of its queue (eclipse/mosquitto#2609): one queue_withheld
/// for archiver-0 naming exactly what was lost and what expired. With
/// `max_inflight_messages 100` the window holds what has not expired, the
/// queue comes: nothing lost, no finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_queue_whose_inflight_window_all_expired_is_withheld_on_mosquitto_2_0_11() {
    use midge::record::vocab::FindingKind;
    let out = run_shipped("bugs/mosquitto-expired-queue-stall", |t| t).await;
    let (r, m) = (&out.report, &out.report.messages);
    assert_eq!(m.published, 100, "{m:?}");
    assert!(m.lost > 0 && m.expired > 0, "{m:?}");
    let withheld: Vec<_> = r.findings.iter().filter(|f| f.kind == FindingKind::QueueWithheld).collect();
    assert_eq!(withheld.len(), 1, "{:#?}", r.findings);
    let (f, e) = (withheld[0], withheld[0].evidence.withheld().expect("its evidence"));
    assert_eq!(f.client_ids, vec!["archiver-0".to_string()]);
    assert_eq!((f.count, e.withheld, e.expired), (m.lost, m.lost, m.expired), "{f:#?}");
    assert_eq!(e.connection, 1, "the resumed connection");
    assert_eq!(client(&out.record, "archiver-0").rx.as_ref().unwrap().backlog_never_began, vec![1]);
    assert!(r.findings.iter().any(|f| f.kind == FindingKind::QosViolation), "{:#?}", r.findings);
    assert_eq!(out.exit_code, 0, "[expect] shows both: {:?}", r.expectations);
    let md = midge::report::markdown::render(r);
    assert!(md.contains("### queue_withheld — the broker never began to send a resumed session's queue"), "{md}");

    let wide = |t: String| {
        t.replace(
            "url = \"spawn:mosquitto\"",
            "url = \"spawn:mosquitto\"\nmosquitto_conf = [\"max_inflight_messages 100\"]",
        )
    };
    let out = run_shipped("bugs/mosquitto-expired-queue-stall", wide).await;
    let r = &out.report;
    assert!(r.broker.config.as_deref().unwrap_or_default().contains("max_inflight_messages 100"));
    assert_eq!((r.messages.published, r.messages.lost), (100, 0), "{:?}", r.messages);
    assert!(r.messages.expired > 0, "{:?}", r.messages);
    assert!(r.findings.iter().all(|f| f.kind != FindingKind::QueueWithheld), "{:#?}", r.findings);
}

/// A message with an expiry that waited in mosquitto's queue for a stalled
/// (connected) subscriber past its expiry is discarded when mosquitto comes
/// to send it — not counted as dropped by the broker, and `expired` in
/// midge's report, never lost.
///
/// mosquitto keeps time in whole seconds of wall-clock time: it stores
/// `expiry = now_s + 1` on receipt and discards at sending when `now_s >
/// expiry`. So from the timeline — each message's send time (Unix), the
/// stall's end (when mosquitto could send again, up to the subscriber's
/// catching up plus the race margin; mosquitto reads its clock once per turn
/// of its loop, so each moment is known to the margin) — each message is: kept (too young
/// whatever the exact moments), expired if it waited in the queue, or in the
/// band (a second's boundary within the race margin) either way. Only the
/// inflight window mosquitto had written before the stall (20 messages at
/// most, its `max_inflight_messages`) arrives however old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_expire_while_a_connected_subscriber_is_stalled_are_expired_not_lost() {
    use midge::record::clock::RACE_MARGIN_US;
    use midge::record::vocab::FindingKind;
    let broker = support::mosquitto(&["max_queued_messages 0"]).await;
    let text = r#"
name = "stalled-expiry"
protocol = "5"
duration = "3s"
# (The drain's quiet period follows the slowest delivery — the stall's
# backlog — so it would run to its limit; everything is in by then anyway.)
drain = "1s"
[[group]]
name = "staller"
subscribe = { filter = "x/#", qos = 1 }
[[group]]
name = "src"
clients = 2
publish = { topic = "x/{i}", qos = 1, rate = 100.0, payload = 64, expiry = "1s" }
[[fault]]
at = "0.3s"
action = "stall"
group = "staller"
for = "2.5s"
"#;
    let out = support::run_text(text, &support::url(&broker)).await;
    let (r, rec) = (&out.report, &out.record);
    let m = &r.messages;
    let staller = &rec.clients[0];
    let behind: Vec<(u64, u64)> = staller.timeline.iter().flat_map(|g| g.behind.iter().copied()).collect();
    assert_eq!(behind.len(), 1, "{behind:?}");
    let start = rec.publishing.expect("it published").start_us;
    let stall = (start + 300_000, start + 2_800_000);
    let unix_s = |run_us: u64| (rec.clock_start_unix_us + run_us) / 1_000_000;
    // When mosquitto could send again: from the stall's end to the catching up (and the margin).
    // mosquitto's clock is read once per turn of its loop: up to the margin stale.
    let (d_lo, d_hi) = (unix_s(stall.1 - RACE_MARGIN_US), unix_s(behind[0].1 + RACE_MARGIN_US));
    let rx = staller.rx.as_ref().expect("the staller received");
    let (mut must_expire, mut old_received, mut missing) = (0, 0, 0);
    for p in &rec.clients[1..] {
        let log = p.publish_log.as_ref().expect("a publisher");
        let index = p.index - 1;
        let got = &rx.streams[&index].received;
        for seq in 0..log.published() {
            let sent = log.sent.time_of(seq);
            // Stamped by mosquitto within the margin of our send (the log is
            // at most 1 ms early; mosquitto's clock up to the margin stale).
            let (u_lo, u_hi) = (unix_s(sent.saturating_sub(RACE_MARGIN_US)), unix_s(sent + 1_000 + RACE_MARGIN_US));
            let queued = stall.0 <= sent + RACE_MARGIN_US && sent < stall.1;
            let kept = !queued || d_hi <= u_lo + 1;
            // (What was sent within the margin of the stall's start may have
            // been read before midge's task saw the stall begin.)
            let expires = queued && sent >= stall.0 + RACE_MARGIN_US && d_lo > u_hi + 1;
            let arrived = got.contains(seq);
            assert!(
                arrived || !kept,
                "{}: seq {seq} (sent {sent} µs) was young enough to be sent, and is missing",
                p.index
            );
            missing += u64::from(!arrived);
            must_expire += u64::from(expires);
            old_received += u64::from(expires && arrived);
        }
    }
    eprintln!("stall {stall:?}, behind {behind:?}: {missing} missing, {must_expire} had to expire, {old_received} of those arrived; {m:?}");
    assert!(old_received <= 20, "only mosquitto's inflight window goes out before the stall: {old_received}");
    assert!(must_expire >= 50, "the stall is 2.5 s, at least 0.45 s of it 2 s before its end: {must_expire}");
    assert_eq!((m.lost, m.expired), (0, missing), "{m:?}");
    assert_eq!((m.expected + m.expired, m.received), (m.published, m.expected), "{m:?}");
    assert!(m.expired >= must_expire - old_received, "{m:?}");
    // Reconciled with the broker: mosquitto does not count what it discarded
    // as expired among its dropped messages, and it dropped none.
    let dropped: Vec<u64> = rec.broker.sys_series.iter().filter_map(|p| p.dropped).collect();
    assert!(dropped.len() >= 2, "mosquitto's $SYS every second: {dropped:?}");
    assert_eq!(dropped.last().unwrap() - dropped[0], 0, "{dropped:?}");
    // (No assertion on order: at the stall's end mosquitto 2.0.11 sometimes
    // sends a fresh message ahead of the rest of its queue — reported as
    // out_of_order, the broker's doing — but never a loss.)
    let violations = r.findings.iter().filter(|f| f.kind == FindingKind::QosViolation);
    assert!(violations.clone().all(|f| f.evidence.json()["lost"] == 0), "{:#?}", violations.collect::<Vec<_>>());
}

/// MQTT 5 rules on the wire, each broken once by the proxy on the 5th
/// PUBLISH toward one subscriber: its expiry interval raised to an hour (a
/// live delivery keeps the publisher's 10 s at most), a Topic Alias added
/// (midge announces no Topic Alias Maximum), 2,000 bytes of User Property
/// added above the 1,024-byte Maximum Packet Size the subscriber announced.
/// And once by other means: a retain handling 2 SUBSCRIBE reaches the
/// broker as retain handling 0 (its one retained topic replayed once); a
/// no local client's 5th PUBLISH is copied back to it at QoS 0. Each shows
/// once under its MQTT 5 id; the untouched subscriber shows nothing. A
/// publisher's one retained message, with a 1 s expiry, reaches the broker
/// with an hour's: a subscriber 2.5 s later gets it, expired (once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt5_rules_broken_once_show_once() {
    use midge::faults::proxy::{Action, Direction, FaultProxy, Rule};
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let fifth = |prefix: &str, action: Action| Rule {
        client_prefix: prefix.into(),
        direction: Direction::ToClient,
        packet_type: 3,
        nth: 5,
        action,
    };
    let rules = vec![
        fifth("exp-", Action::SetExpiry(3600)),
        fifth("alias-", Action::AddTopicAlias(1)),
        // 2,000 bytes more: above the 1,024 big- announced (mosquitto honours it itself).
        fifth("big-", Action::Pad(2000)),
        // never- asks retain handling 2; the broker is told 0 and replays lamp5/0 once.
        Rule {
            client_prefix: "never-".into(),
            direction: Direction::ToBroker,
            packet_type: 8,
            nth: 1,
            action: Action::ClearSubscribeOptions(0x30),
        },
        // mine-'s 5th PUBLISH comes back to it, under no local.
        Rule {
            client_prefix: "mine-".into(),
            direction: Direction::ToBroker,
            packet_type: 3,
            nth: 5,
            action: Action::EchoToClient,
        },
        // fade-'s one retained message, expiring in 1 s, reaches the broker as an hour's.
        Rule {
            client_prefix: "fade-".into(),
            direction: Direction::ToBroker,
            packet_type: 3,
            nth: 1,
            action: Action::SetExpiry(3600),
        },
    ];
    let proxy = FaultProxy::start(broker.addr, rules).await.unwrap();
    let text = r#"
name = "witness-5"
protocol = "5"
duration = "3s"
[[group]]
name = "pub"
client_id = { scheme = "prefix-serial", prefix = "pub-" }
publish = { topic = "w5/1", qos = 1, rate = 50.0, expiry = "10s" }
[[group]]
name = "fine"
client_id = { scheme = "prefix-serial", prefix = "fine-" }
subscribe = { filter = "w5/#", qos = 1 }
[[group]]
name = "exp"
client_id = { scheme = "prefix-serial", prefix = "exp-" }
subscribe = { filter = "w5/#", qos = 1 }
[[group]]
name = "alias"
client_id = { scheme = "prefix-serial", prefix = "alias-" }
subscribe = { filter = "w5/#", qos = 1 }
[[group]]
name = "big"
client_id = { scheme = "prefix-serial", prefix = "big-" }
maximum_packet_size = 1024
subscribe = { filter = "w5/#", qos = 1 }
[[group]]
name = "lamp"
client_id = { scheme = "prefix-serial", prefix = "lamp-" }
publish = { topic = "lamp5/0", qos = 1, rate = 5.0, retain = true }
[[group]]
name = "never"
client_id = { scheme = "prefix-serial", prefix = "never-" }
start_after = "1s"
subscribe = { filter = "lamp5/#", qos = 1, retain_handling = "never" }
[[group]]
name = "mine"
client_id = { scheme = "prefix-serial", prefix = "mine-" }
publish = { topic = "mine5/{i}", qos = 1, rate = 20.0 }
subscribe = { filter = "mine5/#", qos = 1, no_local = true }
[[group]]
name = "fade"
client_id = { scheme = "prefix-serial", prefix = "fade-" }
publish = { topic = "fade5/0", qos = 1, rate = 10.0, count = 1, retain = true, expiry = "1s" }
[[group]]
name = "stale"
client_id = { scheme = "prefix-serial", prefix = "stale-" }
start_after = "2.5s"
subscribe = { filter = "fade5/#", qos = 1 }
"#;
    let out = support::run_text(text, &format!("mqtt://{}", proxy.addr)).await;
    assert_eq!(proxy.applied(), 6);
    type Seen = (String, String, u64, Option<u32>, Option<u16>);
    let mut got: Vec<Seen> = out
        .report
        .findings
        .iter()
        .filter_map(|f| f.evidence.spec())
        .filter(|e| e.client != "stale-0")
        .map(|e| {
            let first = e.packets.first();
            let (expiry, alias) = (first.and_then(|p| p.expiry_s), first.and_then(|p| p.topic_alias));
            (e.rule.id.clone(), e.client.clone(), e.count, expiry, alias)
        })
        .collect();
    got.sort();
    let want = vec![
        ("MQTT-3.1.2-24".to_string(), "big-0".to_string(), 1, Some(10), None),
        ("MQTT-3.1.2-27".to_string(), "alias-0".to_string(), 1, Some(10), Some(1)),
        ("MQTT-3.3.1-11".to_string(), "never-0".to_string(), 1, None, None),
        ("MQTT-3.3.2-6".to_string(), "exp-0".to_string(), 1, Some(3600), None),
        ("MQTT-3.8.3-3".to_string(), "mine-0".to_string(), 1, None, None),
    ];
    assert_eq!(got, want, "{:#?}", out.report.findings);
    // Each shows its packet: the padded PUBLISH with its size, the replay
    // with RETAIN, the echo of mine-0's own 5th message (its sequence 4).
    let spec_of = |client: &str| {
        let f = out.report.findings.iter().find(|f| f.evidence.spec().is_some_and(|e| e.client == client));
        f.unwrap_or_else(|| panic!("{client}: {:#?}", out.report.findings))
    };
    let big = spec_of("big-0").evidence.spec().unwrap();
    let size = big.packets[0].size.expect("the oversize packet's size");
    assert!(size > 2000 + 24, "{big:?}");
    assert_eq!(big.announced_limit, Some(1024));
    assert!(spec_of("big-0").summary.contains(&format!("a {size}-byte PUBLISH sent to big-0")), "{big:?}");
    let never = spec_of("never-0").evidence.spec().unwrap();
    let p = &never.packets[..];
    assert_eq!(p.len(), 1, "{never:?}");
    assert_eq!(
        (p[0].retain, p[0].publisher.as_deref(), p[0].topic.as_deref()),
        (true, Some("lamp-0"), Some("lamp5/0"))
    );
    let mine = spec_of("mine-0").evidence.spec().unwrap();
    let p = &mine.packets[..];
    assert_eq!((p.len(), p[0].qos, p[0].publisher.as_deref(), p[0].seq), (1, 0, Some("mine-0"), Some(4)), "{mine:?}");
    for client in ["big-0", "never-0", "mine-0"] {
        let f = spec_of(client);
        let t = f.evidence.spec().unwrap().packets[0].t_s;
        assert_eq!((f.first_s, f.last_s), (t, t), "{client}: one packet, its time: {f:?}");
    }
    // fade-0's message, replayed to stale-0 2.5 s after its 1 s ran out: once.
    let stale: Vec<_> =
        out.report.findings.iter().filter_map(|f| f.evidence.spec()).filter(|e| e.client == "stale-0").collect();
    assert_eq!(stale.len(), 1, "{stale:#?}");
    assert_eq!((stale[0].rule.id.as_str(), stale[0].count), ("MQTT-3.3.2-5", 1), "{stale:#?}");
    let p = &stale[0].packets[0];
    assert_eq!((p.retain, p.seq, p.publisher.as_deref()), (true, Some(0), Some("fade-0")), "{p:?}");
    // The padded PUBLISH was read whole: above 1,024 by the 2,000 added.
    let big = support::client(&out.record, "big-0");
    assert!(big.max_inbound_packet > 2000, "{}", big.max_inbound_packet);
}

/// MQTT 5 CONNECT limits and subscription options midge announces, on
/// mosquitto 2.0.11, in one run:
/// - `receive_maximum = 5` under bursts of 100: nothing lost, and the
///   record shows mosquitto 2.0.11 breaking the limit (`max_inbound_inflight`
///   above 5: once messages queue for the client it sends them all, with no
///   regard for the client's quota). Confirmed apart from midge, 2026-12-06:
///   a raw MQTT 5 client (Python sockets) announcing Receive Maximum 5 and
///   acknowledging every 50 ms received 245 QoS 1 PUBLISHes between two of
///   its acknowledgements from a `mosquitto_pub -l` flood of 400. The
///   witness names it: a `spec_violation` under [MQTT-3.3.4-9] for narrow
///   (its count the excess over 5), none for wide (which announced no
///   limit), and the default `protocol_violations` fails on it — the one
///   failed expectation of the run (exit 1): the broker breaks the rule.
/// - `no_local` on a group that publishes and subscribes to its own topics:
///   no self stream planned, none delivered, no loss;
/// - `retain_handling = "never"` on a late subscriber: no retained replay
///   owed or received, where a late subscriber with the default got one
///   (and, with `retain_as_published`, its live deliveries that keep
///   RETAIN = 1 counted as receipts, not replays);
/// - `maximum_packet_size = 1024` under a publisher of 2,000-byte messages:
///   mosquitto sends none of them (`max_inbound_packet` ≤ 1024) and they are
///   `over_max_packet_size`, not lost; the small messages arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_limits_and_subscription_options_hold_on_mosquitto() {
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let text = r#"
name = "mqtt5-options"
protocol = "5"
duration = "2s"
drain = "1s"
[[group]]
name = "narrow"
client_id = { scheme = "prefix-serial", prefix = "narrow-" }
receive_maximum = 5
subscribe = { filter = "rm/#", qos = 1 }
[[group]]
name = "wide"
client_id = { scheme = "prefix-serial", prefix = "wide-" }
subscribe = { filter = "rm/#", qos = 1 }
[[group]]
name = "burst"
client_id = { scheme = "prefix-serial", prefix = "burst-" }
publish = { topic = "rm/{i}", qos = 1, rate = 400.0, arrival = "burst", burst = 100, payload = 64 }
[[group]]
name = "echo"
client_id = { scheme = "prefix-serial", prefix = "echo-" }
clients = 2
publish = { topic = "echo/{i}", qos = 1, rate = 20.0, payload = 64 }
subscribe = { filter = "echo/#", qos = 1, no_local = true }
[[group]]
name = "lamp"
client_id = { scheme = "prefix-serial", prefix = "lamp-" }
publish = { topic = "lamp/0", qos = 1, rate = 5.0, payload = 64, retain = true }
[[group]]
name = "late"
client_id = { scheme = "prefix-serial", prefix = "late-" }
start_after = "1s"
subscribe = { filter = "lamp/#", qos = 1, retain_as_published = true }
[[group]]
name = "late-never"
client_id = { scheme = "prefix-serial", prefix = "late-never-" }
start_after = "1s"
subscribe = { filter = "lamp/#", qos = 1, retain_handling = "never" }
[[group]]
name = "small"
client_id = { scheme = "prefix-serial", prefix = "small-" }
maximum_packet_size = 1024
subscribe = { filter = "mix/#", qos = 1 }
[[group]]
name = "big"
client_id = { scheme = "prefix-serial", prefix = "big-" }
publish = { topic = "mix/big", qos = 1, rate = 20.0, payload = 2000 }
[[group]]
name = "little"
client_id = { scheme = "prefix-serial", prefix = "little-" }
publish = { topic = "mix/little", qos = 1, rate = 20.0, payload = 64 }
"#;
    let out = support::run_text(text, &support::url(&broker)).await;
    let (r, rec) = (&out.report, &out.record);
    let m = &r.messages;
    let (narrow, wide) = (client(rec, "narrow-0"), client(rec, "wide-0"));
    eprintln!("in flight toward narrow {}, wide {}; {m:?}", narrow.max_inbound_inflight, wide.max_inbound_inflight);
    assert_eq!(m.lost, 0, "{m:?}");
    // Receive Maximum 5: mosquitto 2.0.11 sends more at once (see above).
    assert!(narrow.max_inbound_inflight > 5, "{}", narrow.max_inbound_inflight);
    assert!(wide.max_inbound_inflight > 5, "{}", wide.max_inbound_inflight);
    let plan = support::plan_of(rec);
    let pubs = |c: &midge::record::ClientRecord| plan.clients[c.index as usize].publisher.unwrap();
    let sent = |c: &midge::record::ClientRecord| c.publish_log.as_ref().unwrap().published();
    let got = |sub: &midge::record::ClientRecord, from: &midge::record::ClientRecord| {
        sub.rx.as_ref().and_then(|rx| rx.streams.get(&pubs(from))).map_or(0, |s| s.received.len())
    };
    let burst = client(rec, "burst-0");
    assert!(sent(burst) >= 500, "{}", sent(burst));
    assert_eq!((got(narrow, burst), got(wide, burst)), (sent(burst), sent(burst)));
    // No Local: each echo client is owed the other's messages only, and got nothing of its own.
    for (me, other) in [("echo-0", "echo-1"), ("echo-1", "echo-0")] {
        let (me, other) = (client(rec, me), client(rec, other));
        let streams = plan.streams.iter().filter(|s| s.subscriber_client == me.index);
        assert_eq!(streams.map(|s| s.publisher_client).collect::<Vec<_>>(), vec![other.index]);
        assert_eq!((got(me, me), got(me, other)), (0, sent(other)), "no own messages back");
    }
    // Retain Handling 2: no replay owed or received; the default one got its replay.
    let replays = |id: &str| client(rec, id).rx.as_ref().map_or(0, |rx| rx.retained_replays);
    assert_eq!((replays("late-0"), replays("late-never-0")), (1, 0));
    assert_eq!((r.retained.expected_replays, r.retained.missing, r.retained.extra), (1, 0, 0));
    // Retain As Published: late's live deliveries keep RETAIN = 1 and are
    // receipts all the same (none lost, above), the replay counted apart.
    let (late, lamp) = (client(rec, "late-0"), client(rec, "lamp-0"));
    assert!(got(late, lamp) >= 3, "about 5 sent in its last second: {}", got(late, lamp));
    // Maximum Packet Size: the 2,000-byte messages are never sent to small, not lost.
    let (small, big, little) = (client(rec, "small-0"), client(rec, "big-0"), client(rec, "little-0"));
    // The largest packet small got is one of little's: 1 + 1 + (2 + 10
    // ("mix/little") + 2 (packet id) + 1 (no properties) + 64) = 81 bytes.
    assert_eq!(small.max_inbound_packet, 81);
    assert_eq!(m.over_max_packet_size, sent(big), "{m:?}");
    let md = midge::report::markdown::render(r);
    let line = format!("{} messages were larger, as delivered, than the MQTT 5 `maximum_packet_size`", sent(big));
    assert!(md.contains(&line), "{md}");
    assert_eq!((got(small, big), got(small, little)), (0, sent(little)));
    // [MQTT-3.3.4-9] broken toward narrow only: no other rule broken. Its
    // count: the PUBLISHes narrow-0 sighted arriving with 5 already in
    // flight (at least one per PUBLISH of its peak above 5); the peak and
    // when it was reached apart, each packet with the count it made.
    let spec: Vec<_> = r.findings.iter().filter_map(|f| f.evidence.spec()).collect();
    let seen: Vec<(&str, &str, u64)> = spec.iter().map(|e| (e.rule.id.as_str(), e.client.as_str(), e.count)).collect();
    let w = narrow.witness.as_deref().expect("narrow-0 sighted it");
    let over = w.of(midge::record::wire::Sighting::AboveReceiveMaximum).expect("sighted").count;
    let peak = w.in_flight_peak.expect("the peak above 5");
    assert_eq!(peak.in_flight, narrow.max_inbound_inflight);
    assert!(over >= u64::from(peak.in_flight - 5), "{over} {peak:?}");
    assert_eq!(seen, vec![("MQTT-3.3.4-9", "narrow-0", over)], "{:#?}", r.findings);
    let e = spec[0];
    assert_eq!(e.rule.name, "receive_maximum");
    assert_eq!((e.announced_limit, e.peak_in_flight), (Some(5), Some(peak.in_flight)));
    assert_eq!(e.packets.len(), 4, "{e:?}");
    assert!(e.packets.iter().all(|p| p.in_flight.is_some_and(|n| n > 5) && p.qos == 1), "{e:?}");
    let f = r.findings.iter().find(|f| f.kind == midge::record::vocab::FindingKind::SpecViolation).unwrap();
    eprintln!("{}", f.summary);
    let words = format!("{} QoS>0 PUBLISHes in flight toward narrow-0 at {:.2} s", peak.in_flight, e.peak_s.unwrap());
    assert!(f.summary.contains(&words) && f.summary.contains(&format!("exceeded {over} times")), "{}", f.summary);
    assert!(f.first_s <= e.peak_s.unwrap() && f.last_s < r.duration_s, "{f:?}");
    let section = &md[md.find("### [MQTT-3.3.4-9]").expect("report.md names the rule")..];
    assert!(section.contains("| narrow-0 |") && section.contains("in flight"), "{section}");
    let failed: Vec<(&str, Option<u64>)> =
        r.expectations.iter().filter(|e| !e.pass).map(|e| (e.name.as_str(), e.observed)).collect();
    assert_eq!(failed, vec![("protocol_violations", Some(over))]);
    assert_eq!(out.exit_code, 1);
}

/// Retain handling 1 ("send_new", MQTT-3.3.1-10): a persistent MQTT 5
/// subscriber with `resubscribe` (SUBSCRIBE again on every resumed
/// session), killed 3 times and back 100 ms later each time; 3 retained
/// topics set once after it first subscribed. Through the fault proxy each
/// of its SUBSCRIBEs reaches the broker as retain handling 0, so the
/// broker replays the 3 topics on each of the 3 resumed connections, whose
/// subscription existed: exactly 9 under [MQTT-3.3.1-10], with the
/// replayed PUBLISHes (RETAIN, the lamps' topics). The same run straight on
/// mosquitto 2.0.11 (retain handling 1 as asked) gives no spec_violation
/// and no replay: mosquitto keeps to the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_handling_1_replays_on_an_existing_subscription_show_under_their_rule() {
    use midge::faults::proxy::{Action, Direction, FaultProxy, Rule};
    let broker = support::mosquitto(support::NO_LIMITS).await;
    let text = |root: &str| {
        format!(
            r#"
name = "rh1-{root}"
protocol = "5"
duration = "3s"
[[group]]
name = "lamp"
client_id = {{ scheme = "prefix-serial", prefix = "{root}-lamp-" }}
clients = 3
start_after = "300ms"
publish = {{ topic = "{root}/{{i}}", qos = 1, rate = 10.0, count = 1, retain = true }}
[[group]]
name = "keep"
client_id = {{ scheme = "prefix-serial", prefix = "{root}-keep-" }}
clean_session = false
session_expiry = "60s"
reconnect = {{ delay = "100ms", jitter = 0.0 }}
subscribe = {{ filter = "{root}/#", qos = 1, retain_handling = 1, resubscribe = true }}
[[fault]]
at = "800ms"
action = "kill"
group = "keep"
[[fault]]
at = "1.5s"
action = "kill"
group = "keep"
[[fault]]
at = "2.2s"
action = "kill"
group = "keep"
"#
        )
    };
    let spec = |out: &midge::runner::RunOutput| -> Vec<(String, String, u64)> {
        let spec = out.report.findings.iter().filter_map(|f| f.evidence.spec());
        spec.map(|e| (e.rule.id.clone(), e.client.clone(), e.count)).collect()
    };
    // Straight on mosquitto: no replay to a subscription that existed.
    let out = support::run_text(&text("rh1ok"), &support::url(&broker)).await;
    let keep = client(&out.record, "rh1ok-keep-0");
    let resumed = keep.timeline.iter().filter(|g| g.session_present && g.suback_code.is_some()).count();
    assert_eq!(resumed, 3, "three resumed sessions that subscribed again: {:#?}", keep.timeline);
    let rx = keep.rx.as_deref().unwrap();
    assert_eq!((rx.retained_replays, rx.replays_on_existing), (0, 0), "{rx:?}");
    assert_eq!(spec(&out), vec![], "{:#?}", out.report.findings);
    // Through the proxy: the broker is told retain handling 0 on every SUBSCRIBE.
    let rules = vec![Rule {
        client_prefix: "rh1x-keep-".into(),
        direction: Direction::ToBroker,
        packet_type: 8,
        nth: 1,
        action: Action::ClearSubscribeOptions(0x30),
    }];
    let proxy = FaultProxy::start(broker.addr, rules).await.unwrap();
    let out = support::run_text(&text("rh1x"), &format!("mqtt://{}", proxy.addr)).await;
    assert_eq!(proxy.applied(), 4, "the first SUBSCRIBE and the three again");
    assert_eq!(
        spec(&out),
        vec![("MQTT-3.3.1-10".to_string(), "rh1x-keep-0".to_string(), 9)],
        "{:#?}",
        out.report.findings
    );
    let f = out.report.findings.iter().find(|f| f.evidence.spec().is_some()).unwrap();
    let e = f.evidence.spec().unwrap();
    assert_eq!(e.rule.name, "retain_handling_existing");
    assert_eq!(e.packets.len(), 4, "the first 4 of 9: {e:?}");
    for p in &e.packets {
        let lamp = p.publisher.as_deref().unwrap_or_default();
        assert!(
            p.retain && lamp.starts_with("rh1x-lamp-") && p.topic.as_deref().is_some_and(|t| t.starts_with("rh1x/")),
            "{p:?}"
        );
    }
    // From the first replay (on the first resume, after 0.8 s) to the last (after 2.2 s).
    assert!(f.first_s > 0.8 && f.last_s > 2.2 && f.last_s < out.report.duration_s, "{f:?}");
    let r = &out.report.retained;
    assert_eq!((r.expected_replays, r.replays_received, r.extra), (0, 9, 9), "{r:?}");
}
