//! Loss accounting across reconnects, sessions and broker restarts, on real
//! mosquitto, with faults the tests know exactly.

mod support;
use midge::analysis::model::Report;
use midge::faults::proxy::{Action, Direction, FaultProxy, Rule};
use midge::record::names::by_name;
use support::*;

fn window(r: &Report, kind: &str) -> u64 {
    r.messages.lost_by_window[&kind.parse().unwrap()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_gets_everything_sent_while_it_was_away() {
    let out = run_shipped("persistent-session", |t| t).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!(m.lost, 0, "{m:?}");
    assert_eq!(m.published, 1200, "20 machines × 10/s × 6 s");
    assert_eq!(m.acked, 1200);
    assert_eq!(m.expected, 1200, "a persistent session expects everything");
    assert_eq!(m.received, 1200);
    // Queued: what was got out between the drop and the resumed session's
    // CONNACK (about 3 s × 200/s), from the record.
    let sub = client(&out.record, "archiver-0");
    let (ended, back) = (sub.timeline[0].ended_us, sub.timeline[1].live_from_us.unwrap());
    let away: u64 = got_out_between(&out.record, ended + 1, back - 1).iter().map(|(_, s)| s.len() as u64).sum();
    assert_eq!(m.queued_offline, away, "{m:?}");
    assert!(away > 400, "{m:?}");
    assert_eq!(m.missed_offline, 0);
    assert_eq!(r.reconnects, 1);
    let t = &r.client_timelines[0];
    assert_eq!(t.client, "archiver-0");
    assert_eq!(t.connections.len(), 2);
    assert_eq!(t.connections[0].cause.as_deref(), Some("network_eof"));
    assert!(t.connections[1].session_present, "the broker kept the session");
    let away = t.connections[1].connected_s.unwrap() - t.connections[0].ended_s;
    assert!(away >= 3.0, "reconnect waited its 3 s delay: {away}");
    assert_eq!(out.exit_code, 0, "{:?}", r.expectations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_session_misses_exactly_what_was_sent_while_it_was_away() {
    let out = run_shipped("clean-session-reconnect", |t| t).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!(m.lost, 0, "{m:?}");
    assert_eq!(m.duplicated, 0);
    assert_eq!(m.acked, 1200);
    // Every acknowledged message either arrived or was missed while offline.
    assert_eq!(m.received + m.missed_offline, m.acked, "{m:?}");
    let w: Vec<_> = r.loss_windows.iter().filter(|w| w.kind.as_str() == "subscriber_offline").collect();
    assert_eq!(w.len(), 1, "{:?}", r.loss_windows);
    assert_eq!(w[0].missed_offline, m.missed_offline);
    assert_eq!(w[0].client.as_deref(), Some("dashboard-0"));
    // From the timeline: missed is what was got out between the last
    // trusted moment before the drop and the resubscription and never
    // received; received is what was owed in the two live windows plus
    // what raced them (sent in the gap, yet delivered).
    let sub = client(&out.record, "dashboard-0");
    let (from, to) = offline_gap(&sub.timeline[0], &sub.timeline[1]);
    assert_eq!(m.missed_offline, received_of(&out.record, sub, from, to, false), "gap {from}..{to}: {m:?}");
    let raced = received_of(&out.record, sub, from, to, true);
    assert_eq!(m.received, m.expected + raced, "{m:?}");
    assert!(m.missed_offline > 400, "about 3 s × 200/s: {m:?}");
    assert!(!r.client_timelines[0].connections[1].session_present);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_overflow_loses_exactly_what_the_broker_could_not_queue() {
    let out = run_shipped("queue-overflow", |t| t).await;
    let m = &out.report.messages;
    assert_eq!(m.published, 400);
    assert_eq!(m.queued_offline, 400, "everything was sent while the subscriber was away");
    assert_eq!(m.received, 100, "max_queued_messages 100");
    assert_eq!(m.lost, 300, "{m:?}");
    assert_eq!(window(&out.report, "subscriber_offline"), 300);
    assert_eq!(window(&out.report, "steady"), 0);
    assert!(
        out.report.findings.iter().any(|f| f.kind.as_str() == "qos_violation"),
        "QoS 1 loss is a contract violation"
    );
    // mosquitto's own counters agree: it received all 400 and dropped 300.
    let sys = &out.report.broker.sys;
    assert_eq!(sys.get("$SYS/broker/publish/messages/received").map(String::as_str), Some("400"), "{sys:?}");
    assert_eq!(sys.get("$SYS/broker/publish/messages/dropped").map(String::as_str), Some("300"), "{sys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_loses_the_queue_without_persistence_and_keeps_it_with() {
    let out = run_shipped("broker-restart", |t| t).await;
    let r = &out.report;
    assert_eq!(r.messages.lost, 200, "{:?}", r.messages);
    assert_eq!(window(r, "broker_restart"), 200);
    assert_eq!(r.faults.len(), 2);
    assert_eq!(r.faults[1].action.as_str(), "restart-broker");
    assert!(r.faults[1].error.is_none());
    assert!(r.reconnects >= 11, "every client came back after the restart: {}", r.reconnects);
    assert_eq!(out.exit_code, 0, "the scenario expects this loss");
    // report.html marks the restart's loss window on the plots and lists it.
    let html = midge::report::html::render(r);
    assert!(html.contains("<td>broker_restart</td><td>–</td>"), "loss windows table");
    assert!(html.contains(r##"opacity="0.15" fill="#D62728""##), "the loss window is shaded on the plots");
    assert!(html.contains("<svg"), "at least the rates plot");

    let out = run_shipped("broker-restart", |t| t.replace("persistence = false", "persistence = true")).await;
    let r = &out.report;
    assert_eq!(r.messages.lost, 0, "{:?}", r.messages);
    assert_eq!(r.messages.received, 200);
    assert!(r.broker.config.as_deref().unwrap().contains("persistence true"));
}

fn cut_all_three_times(clean: bool) -> String {
    format!(
        r#"
name = "cut-storm"
duration = "4s"
drain = "5s"
[[group]]
name = "sub"
clients = 2
client_id = {{ scheme = "prefix-serial", prefix = "s-" }}
clean_session = {clean}
subscribe = {{ filter = "cs/#", qos = 1 }}
reconnect = {{ delay = "200ms" }}
[[group]]
name = "pub"
clients = 5
client_id = {{ scheme = "prefix-serial", prefix = "p-" }}
clean_session = {clean}
publish = {{ topic = "cs/{{i}}", qos = 1, rate = 50.0 }}
reconnect = {{ delay = "200ms" }}
[[fault]]
at = "500ms"
action = "cut"
[[fault]]
at = "1500ms"
action = "cut"
[[fault]]
at = "2500ms"
action = "cut"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_cuts_count_nothing_twice_and_miss_nothing() {
    let broker = mosquitto(NO_LIMITS).await;
    let out = run_text(&cut_all_three_times(false), &url(&broker)).await;
    let r = &out.report;
    let m = &r.messages;
    assert_eq!(r.reconnects, 7 * 3, "{:?}", r.client_timelines);
    assert_eq!(m.published, 5 * 50 * 4);
    assert_eq!(m.in_doubt, 0, "persistent publishers resend what was in flight");
    assert_eq!(m.acked, m.published);
    assert_eq!(m.expected, 2 * m.acked, "persistent subscribers expect everything");
    assert_eq!(m.received, m.expected, "{m:?}");
    assert_eq!(m.lost, 0);
    assert_eq!(r.disconnects.total, 21);
    // Resumed sessions, redeliveries with DUP = 1, resends: mosquitto broke no rule.
    let spec: Vec<_> = r.findings.iter().filter(|f| f.kind.as_str() == "spec_violation").collect();
    assert!(spec.is_empty(), "{spec:#?}");

    let out = run_text(&cut_all_three_times(true), &url(&broker)).await;
    let m = &out.report.messages;
    assert_eq!(out.report.reconnects, 21);
    assert_eq!(m.lost, 0, "{m:?}");
    // Clean sessions: what was in flight at a cut is in doubt, never lost;
    // every acknowledged message reached each subscriber or was missed offline.
    assert_eq!(m.published, m.acked + m.in_doubt);
    assert!(m.received + m.missed_offline >= 2 * m.acked, "{m:?}");
    let spec: Vec<_> = out.report.findings.iter().filter(|f| f.kind.as_str() == "spec_violation").collect();
    assert!(spec.is_empty(), "{spec:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacknowledged_publishes_are_resent_with_dup_after_reconnect() {
    let broker = mosquitto(NO_LIMITS).await;
    // The broker's 5th PUBACK to the publisher never arrives: the proxy cuts
    // the connection instead. The persistent publisher must resend with DUP.
    // (8 messages: the second connection sees only 4 PUBACKs, so one cut.)
    let proxy = FaultProxy::start(
        broker.addr,
        vec![Rule {
            client_prefix: "dup-pub".into(),
            direction: Direction::ToClient,
            packet_type: 4,
            nth: 5,
            action: Action::Cut,
        }],
    )
    .await
    .unwrap();
    let text = r#"
name = "dup-resend"
duration = "2s"
[[group]]
name = "sub"
client_id = { scheme = "prefix-serial", prefix = "dup-sub" }
subscribe = { filter = "dup/#", qos = 1 }
[[group]]
name = "pub"
client_id = { scheme = "prefix-serial", prefix = "dup-pub" }
clean_session = false
max_inflight = 1
reconnect = { delay = "100ms" }
publish = { topic = "dup/a", qos = 1, rate = 20.0, count = 8 }
"#;
    let out = run_text(text, &format!("mqtt://{}", proxy.addr)).await;
    let m = &out.report.messages;
    assert_eq!(proxy.dup_publishes(), 1, "exactly the one unacknowledged publish was resent");
    assert_eq!(out.report.reconnects, 1);
    assert_eq!(m.published, 8);
    assert_eq!(m.acked, 8, "{m:?}");
    assert_eq!(m.in_doubt, 0);
    assert_eq!(m.lost, 0);
    assert_eq!(m.received, 8);
    // mosquitto passes the DUP resend on as a new delivery: a QoS 1 duplicate, not a violation.
    assert_eq!(m.duplicated, 1, "{m:?}");
    // (The cut itself shows as a drop right after a PUBLISH; no delivery guarantee was broken.)
    assert!(!out.report.findings.iter().any(|f| f.kind.as_str() == "qos_violation"), "{:?}", out.report.findings);
    // The copy without DUP is the publisher's own resend, not the broker's redelivery: no rule broken.
    let witness = client(&out.record, "dup-sub0").witness.as_ref().expect("the copy was sighted");
    assert_eq!(witness.copies.values().map(|s| s.len()).sum::<u64>(), 1);
    assert!(!out.report.findings.iter().any(|f| f.kind.as_str() == "spec_violation"), "{:?}", out.report.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_is_noticed_by_keepalive_and_survived() {
    let broker = mosquitto(NO_LIMITS).await;
    let text = r#"
name = "blackhole"
duration = "7s"
drain = "4s"
[[group]]
name = "sub"
client_id = { scheme = "prefix-serial", prefix = "bh-sub" }
keepalive = "1s"
subscribe = { filter = "bh/#", qos = 1 }
reconnect = { delay = "100ms" }
[[group]]
name = "pub"
publish = { topic = "bh/a", qos = 1, rate = 20.0 }
[[fault]]
at = "1s"
action = "blackhole"
group = "sub"
for = "3s"
"#;
    let out = run_text(text, &url(&broker)).await;
    let r = &out.report;
    assert_eq!(by_name(&r.disconnects.by_cause).get("keepalive_timeout"), Some(&1), "{:?}", r.disconnects);
    assert_eq!(r.reconnects, 1);
    assert_eq!(r.messages.lost, 0, "{:?}", r.messages);
    assert!(r.messages.missed_offline > 0);
    assert_eq!(r.faults[0].action.as_str(), "blackhole");
    // Routine keepalive closes (ours, and the broker's on its side) are no findings.
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

/// A batch window changes when midge reads and writes, never what it counts:
/// across a drop, a resumed session and a broker that drops for a full
/// queue, the answers are those of the exact runs above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_window_keeps_reconnect_accounting_exact() {
    let batched = |t: String| t.replacen("drain = \"5s\"", "drain = \"5s\"\nbatch_window = \"5ms\"", 1);
    let out = run_shipped("persistent-session", batched).await;
    let m = &out.report.messages;
    assert_eq!(out.report.load_generator.batch_window_us, 5_000);
    // (A QoS 1 message whose PUBACK the cut swallowed comes again: a
    // duplicate is allowed at least once, as in the exact run.)
    assert_eq!((m.published, m.acked, m.expected, m.received, m.lost), (1200, 1200, 1200, 1200, 0), "{m:?}");
    assert_eq!(out.report.reconnects, 1);

    let out = run_shipped("queue-overflow", batched).await;
    let m = &out.report.messages;
    assert_eq!(out.report.load_generator.batch_window_us, 5_000);
    assert_eq!((m.published, m.queued_offline, m.received, m.lost), (400, 400, 100, 300), "{m:?}");
}

/// A run starts from a clean slate: the same persistent `prefix-serial` ids
/// run twice against one broker, the second time with another filter. The
/// first connection starts clean (MQTT 5: clean start with the session
/// expiry; 3.1.1: clean, DISCONNECT, then persistent — one attempt, one
/// connection in the report), so the broker's session from the first run
/// (the old filter) is not trusted and the second run gets everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_left_by_an_earlier_run_is_not_trusted() {
    let broker = mosquitto(NO_LIMITS).await;
    let text = |protocol: &str, topic: &str| {
        format!(
            r#"
name = "slate"
protocol = "{protocol}"
duration = "0.5s"
[[group]]
name = "sub"
clients = 2
client_id = {{ scheme = "prefix-serial", prefix = "slate-{protocol}-" }}
clean_session = false
subscribe = {{ filter = "{topic}/#", qos = 1 }}
[[group]]
name = "pub"
clients = 2
publish = {{ topic = "{topic}/{{i}}", qos = 1, rate = 50.0 }}
"#
        )
    };
    for protocol in ["3.1.1", "5"] {
        for topic in ["first", "second"] {
            let out = run_text(&text(protocol, topic), &url(&broker)).await;
            let r = &out.report;
            let m = &r.messages;
            let ctx = format!("MQTT {protocol}, filter {topic}/#: {m:?}");
            assert_eq!((m.published, m.expected, m.received, m.lost), (50, 100, 100, 0), "{ctx}");
            assert_eq!((m.duplicated, m.stale, m.missed_offline), (0, 0, 0), "{ctx}");
            let c = &r.clients;
            assert_eq!((c.connect_attempts, c.connects, r.reconnects, r.disconnects.total), (4, 4, 0, 0), "{ctx}");
            let subs = &out.record.clients[..2];
            assert!(subs.iter().all(|c| c.timeline.len() == 1 && !c.timeline[0].session_present), "{ctx}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_hits_its_clients_on_every_broker_of_the_run() {
    // Two brokers, each with its own publishers and subscriber: a proxy in
    // front of each, and one `cut` of every client cuts them on both.
    let (a, b) = (mosquitto(NO_LIMITS).await, mosquitto(NO_LIMITS).await);
    let group = |name: &str, broker: &str, clients: u32, what: &str| {
        format!(
            "[[group]]\nname = \"{name}\"\nbroker = \"{broker}\"\nclients = {clients}\nclean_session = false\nreconnect = {{ delay = \"200ms\" }}\n{what}\n"
        )
    };
    let text = format!(
        "name = \"cut-both\"\nduration = \"2s\"\ndrain = \"3s\"\n{}{}{}{}[[fault]]\nat = \"700ms\"\naction = \"cut\"\n",
        group("sa", &url(&a), 1, "subscribe = { filter = \"ca/#\", qos = 1 }"),
        group("sb", &url(&b), 1, "subscribe = { filter = \"cb/#\", qos = 1 }"),
        group("pa", &url(&a), 2, "publish = { topic = \"ca/{i}\", qos = 1, rate = 20.0 }"),
        group("pb", &url(&b), 2, "publish = { topic = \"cb/{i}\", qos = 1, rate = 20.0 }"),
    );
    let out = run_text(&text, &url(&a)).await;
    let r = &out.report;
    let per: Vec<_> = r.brokers.iter().map(|b| (b.url.clone(), b.clients, b.disconnects)).collect();
    assert_eq!(per, vec![(url(&a), 3, 3), (url(&b), 3, 3)], "{:?}", r.client_timelines);
    assert_eq!((r.reconnects, r.disconnects.total), (6, 6));
    let m = &r.messages;
    assert_eq!((m.published, m.in_doubt, m.lost), (4 * 40, 0, 0), "{m:?}");
    assert_eq!(m.received, m.published, "each message has one subscriber, on its own broker: {m:?}");
}
