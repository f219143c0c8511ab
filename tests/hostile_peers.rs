//! Peers that misbehave: garbage instead of MQTT, a corrupted packet in the
//! middle of a run, and Ctrl-C. midge must end each with a clear cause, a
//! report and the documented exit status — never a panic.

mod support;
use midge::faults::proxy::{Action, FaultProxy, Rule};
use midge::record::names::by_name;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SMALL: &str = r#"
name = "hostile"
duration = "2s"
[[group]]
name = "sub"
client_id = { scheme = "prefix-serial", prefix = "victim-" }
subscribe = { filter = "h/#", qos = 1 }
reconnect = false
[[group]]
name = "pub"
clients = 2
publish = { topic = "h/{i}", qos = 1, rate = 20.0 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_garbage_is_a_named_connect_failure() {
    // A faulty peer (not a broker): answers every CONNECT with random bytes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0u8;
        while let Ok((mut s, _)) = listener.accept().await {
            n = n.wrapping_add(1);
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await;
                let garbage: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37).wrapping_add(n) | 0x80).collect();
                let _ = s.write_all(&garbage).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            });
        }
    });
    let out = run_text(SMALL, &format!("mqtt://{addr}")).await;
    let r = &out.report;
    assert_eq!(r.clients.connected_peak, 0);
    assert_eq!(out.exit_code, 2);
    let failures: u64 = r.clients.connect_failures.values().sum();
    assert_eq!(failures, 3, "{:?}", r.clients.connect_failures);
    assert!(
        r.clients
            .connect_failures
            .keys()
            .map(|k| k.name())
            .all(|k| k == "malformed_packet_from_broker" || k == "unexpected_packet_before_connack"),
        "{:?}",
        r.clients.connect_failures
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_packet_mid_run_drops_that_client_with_its_cause() {
    let broker = mosquitto(NO_LIMITS).await;
    let proxy =
        FaultProxy::start(broker.addr, vec![Rule::publish_to_client("victim-", 10, Action::Corrupt)]).await.unwrap();
    let out = run_text(SMALL, &format!("mqtt://{}", proxy.addr)).await;
    let r = &out.report;
    assert_eq!(proxy.applied(), 1);
    assert_eq!(by_name(&r.disconnects.by_cause).get("malformed_packet_from_broker"), Some(&1), "{:?}", r.disconnects);
    assert_eq!(r.clients.connected_peak, 3);
    // What arrived before the drop is accounted; nothing after it is expected.
    assert_eq!(r.messages.received, 9, "{:?}", r.messages);
    assert!(r.messages.published >= 70, "{:?}", r.messages);
    // A packet from the broker that cannot be decoded breaks the protocol:
    // the QoS contract's default check fails the run on it, and only on it.
    let failed: Vec<(&str, Option<u64>, bool)> =
        r.expectations.iter().filter(|e| !e.pass).map(|e| (e.name.as_str(), e.observed, e.default)).collect();
    assert_eq!(failed, vec![("protocol_violations", Some(1), true)], "{:?}", r.expectations);
    assert_eq!(out.exit_code, 1);
}

#[test]
fn ctrl_c_writes_the_report_so_far_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("int");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["run", "scenarios/quickstart.toml", "-q", "--duration", "60s", "--out"])
        .arg(&out_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    // SIGINT to the process this test started, by its PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let started = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "midge must stop promptly");
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["verdict"], "interrupted", "a clean run stopped by Ctrl-C is not a FAIL");
    assert!(r["messages"]["published"].as_u64().unwrap() > 0);
    assert_eq!(r["messages"]["lost"], 0, "a clean stop loses nothing: {}", r["messages"]);
}

/// Each subscriber group behind the proxy sees the broker break one rule
/// once (the proxy breaks it on the 5th packet of its kind: a QoS 1 and a
/// QoS 2 copy without DUP, a reorder, RETAIN on a live delivery, QoS 1 on a
/// QoS 0 grant, Session Present on a clean start), the publisher
/// gets one PUBACK twice: each shows as exactly one spec_violation under
/// its rule's MQTT 3.1.1 id, and nobody else shows any.
const WITNESS: &str = r#"
name = "witness"
duration = "2s"
[[group]]
name = "pub"
client_id = { scheme = "prefix-serial", prefix = "pub-" }
publish = { topic = "w/1", qos = 1, rate = 50.0 }
[[group]]
name = "fine"
client_id = { scheme = "prefix-serial", prefix = "fine-" }
subscribe = { filter = "w/#", qos = 1 }
[[group]]
name = "dup"
client_id = { scheme = "prefix-serial", prefix = "dup-" }
subscribe = { filter = "w/#", qos = 1 }
[[group]]
name = "swap"
client_id = { scheme = "prefix-serial", prefix = "swap-" }
subscribe = { filter = "w/#", qos = 1 }
[[group]]
name = "ret"
client_id = { scheme = "prefix-serial", prefix = "ret-" }
subscribe = { filter = "w/#", qos = 1 }
[[group]]
name = "raise"
client_id = { scheme = "prefix-serial", prefix = "raise-" }
subscribe = { filter = "w/#", qos = 0 }
[[group]]
name = "sp"
client_id = { scheme = "prefix-serial", prefix = "sp-" }
subscribe = { filter = "w/#", qos = 1 }
[[group]]
name = "pub2"
client_id = { scheme = "prefix-serial", prefix = "two-" }
publish = { topic = "w2/1", qos = 2, rate = 50.0 }
[[group]]
name = "dup2"
client_id = { scheme = "prefix-serial", prefix = "dup2-" }
subscribe = { filter = "w2/#", qos = 2 }
[[group]]
name = "reuse"
client_id = { scheme = "prefix-serial", prefix = "reuse-" }
subscribe = { filter = "w2/#", qos = 2 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_breaks_one_rule_once_shows_that_rule_once() {
    use midge::faults::proxy::Direction;
    let broker = mosquitto(NO_LIMITS).await;
    let to_client = |prefix: &str, packet_type: u8, action: Action| Rule {
        client_prefix: prefix.into(),
        direction: Direction::ToClient,
        packet_type,
        nth: if packet_type == 2 { 1 } else { 5 },
        action,
    };
    let rules = vec![
        to_client("dup-", 3, Action::Duplicate),
        // QoS 2: the copy comes while its id still awaits PUBREL.
        to_client("dup2-", 3, Action::Duplicate),
        to_client("swap-", 3, Action::SwapWithNext),
        to_client("ret-", 3, Action::SetFlags(1)),
        to_client("raise-", 3, Action::RaiseToQos1 { pkid: 0xfff0 }),
        // The broker never sent that QoS 1 PUBLISH: midge's PUBACK for it stops here.
        Rule {
            client_prefix: "raise-".into(),
            direction: Direction::ToBroker,
            packet_type: 4,
            nth: 1,
            action: Action::Drop,
        },
        to_client("sp-", 2, Action::SessionPresent),
        to_client("pub-", 4, Action::Duplicate),
        // QoS 2: the 4th message again, right behind the 5th under its id (awaiting PUBREL).
        to_client("reuse-", 3, Action::ReusePacketId),
    ];
    let proxy = FaultProxy::start(broker.addr, rules).await.unwrap();
    let out = run_text(WITNESS, &format!("mqtt://{}", proxy.addr)).await;
    assert_eq!(proxy.applied(), 9);
    let mut got: Vec<(String, String, u64)> = out
        .report
        .findings
        .iter()
        .filter_map(|f| f.evidence.spec().map(|e| (e.rule.id.clone(), e.client.clone(), f.count)))
        .collect();
    got.sort();
    let want = [
        ("MQTT-2.3.1-4", "reuse-0"),
        ("MQTT-2.3.1-6", "pub-0"),
        ("MQTT-3.2.2-1", "sp-0"),
        ("MQTT-3.3.1-1", "dup-0"),
        ("MQTT-3.3.1-1", "dup2-0"),
        ("MQTT-3.3.1-9", "ret-0"),
        ("MQTT-3.8.4-6", "raise-0"),
        ("MQTT-4.6.0-6", "swap-0"),
    ];
    let want: Vec<(String, String, u64)> = want.iter().map(|(r, c)| (r.to_string(), c.to_string(), 1)).collect();
    assert_eq!(got, want, "{:#?}", out.report.findings);
    // The packets: the copy without DUP is the 5th PUBLISH again, same id.
    let dup = out.report.findings.iter().filter_map(|f| f.evidence.spec()).find(|e| e.client == "dup-0").unwrap();
    let p = &dup.packets[0];
    assert_eq!((p.packet_type.as_str(), p.dup, p.qos, p.seq), ("PUBLISH", false, 1, Some(4)), "{dup:?}");
    assert_eq!(p.topic.as_deref(), Some("w/1"));
    assert!(!dup.flight_recorder.is_empty());
    // Flags as read off the wire, not off the PUBACK midge queued after it.
    let packet_of = |client: &str| {
        let e = out.report.findings.iter().filter_map(|f| f.evidence.spec()).find(|e| e.client == client).unwrap();
        e.packets[0].clone()
    };
    let (ret, raised) = (packet_of("ret-0"), packet_of("raise-0"));
    assert_eq!((ret.qos, ret.retain, ret.dup, ret.granted_qos), (1, true, false, Some(1)), "{ret:?}");
    assert_eq!((raised.qos, raised.packet_id, raised.granted_qos), (1, 0xfff0, Some(0)), "{raised:?}");
    let unknown = packet_of("pub-0");
    assert_eq!(unknown.packet_type, "PUBACK");
    // The most QoS ≥ 1 PUBLISHes in flight toward a subscriber and its largest packet.
    let fine = client(&out.record, "fine-0");
    assert!(fine.max_inbound_inflight >= 1 && fine.max_inbound_packet > 40, "{fine:?}");
    // report.md and report.html list them by rule, with the packets.
    let md = midge::report::markdown::render(&out.report);
    let section = &md[md.find("## Protocol violations").expect("the section")..];
    assert!(
        section.contains("### [MQTT-3.3.1-1] the DUP flag is set to 1 when a PUBLISH is re-delivered"),
        "{section}"
    );
    let row = format!("| dup-0 | {} | received | PUBLISH | QoS 1 | {} | w/1 | pub-0 #4 |", p.t_s, p.packet_id);
    assert!(section.contains(&row), "{row}\n{section}");
    assert!(section.contains("| sp-0 |") && section.contains("| CONNACK | - |"), "{section}");
    let html = midge::report::html::render(&out.report);
    assert_eq!(html.matches("<h3>[MQTT-").count(), 7, "one table per rule");
    // The reused id: the 4th message under the 5th's id.
    let reused = packet_of("reuse-0");
    assert_eq!(
        (reused.packet_type.as_str(), reused.qos, reused.dup, reused.seq),
        ("PUBLISH", 2, false, Some(3)),
        "{reused:?}"
    );
}
