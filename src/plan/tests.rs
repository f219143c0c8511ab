//! The plan of small scenarios, with known streams, shares and ids.

use super::*;
use crate::scenario::ScenarioFile;
use std::path::Path;

#[test]
fn overlapping_filters_make_one_stream_per_match() {
    let text = r#"
name = "overlap"
[[group]]
name = "p"
clients = 4
client_id = { scheme = "prefix-serial", prefix = "p" }
publish = { topic = "t/{i}", qos = 1, rate = 1.0 }
[[group]]
name = "all"
subscribe = { filter = "t/#", qos = 1 }
[[group]]
name = "one"
subscribe = { filter = "t/2", qos = 0 }
"#;
    let f = ScenarioFile::parse(Path::new("x"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    assert_eq!(plan.streams.len(), 5);
    assert_eq!(plan.publishers.len(), 4);
    let to_one: Vec<_> = plan.streams.iter().filter(|s| s.subscriber_client == 5).collect();
    assert_eq!(to_one.len(), 1);
    assert_eq!(to_one[0].qos, 0);
    assert_eq!(plan.clients[0].client_id, "p0");
}

#[test]
fn credentials_come_from_files_beside_the_scenario_newline_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("user"), "alice\n").unwrap();
    std::fs::write(dir.path().join("pass"), "s3cret\r\n").unwrap();
    std::fs::write(dir.path().join("other"), "x").unwrap();
    let text = r#"
name = "files"
[broker]
username_file = "user"
password_file = "pass"
[[group]]
name = "a"
subscribe = { filter = "t" }
[[group]]
name = "b"
password_file = "other"
subscribe = { filter = "t" }
"#;
    let path = dir.path().join("s.toml");
    let f = ScenarioFile::parse(&path, text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    let secrets = plan.resolve_secrets().unwrap();
    let plan = plan.resolved(secrets, Vec::new());
    let creds = |g: usize| plan.groups[g].credentials.clone().unwrap();
    assert_eq!((creds(0).username.as_str(), creds(0).password.as_str()), ("alice", "s3cret"));
    assert_eq!((creds(1).username.as_str(), creds(1).password.as_str()), ("alice", "x"));
    assert!(!format!("{:?}", plan.groups[0]).contains("s3cret"), "Debug shows no password");
    assert!(!format!("{:?}", plan.groups[0].connect_options("c")).contains("s3cret"));

    std::fs::remove_file(dir.path().join("pass")).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    let e = plan.resolve_secrets().unwrap_err().to_string();
    assert!(e.contains("password_file") && e.contains(&dir.path().join("pass").display().to_string()), "{e}");
}

#[test]
fn a_will_payload_names_run_client_and_connection() {
    let p = will_payload(0xabc, 7, 2, Some("bye now"));
    assert_eq!(String::from_utf8_lossy(&p), "midge-will/0000000000000abc/7/2 bye now");
    assert_eq!(parse_will_payload(&p), Some((0xabc, 7, 2)));
    assert_eq!(parse_will_payload(&will_payload(1, 0, 0, None)), Some((1, 0, 0)));
    assert_eq!(parse_will_payload(b"midge-will/zz/1/2"), None);
    assert_eq!(parse_will_payload(b"hello"), None);
}

#[test]
fn a_group_with_start_after_joins_then_and_retained_topics_are_listed_once() {
    let text = r#"
name = "late"
[[group]]
name = "lamps"
clients = 3
publish = { topic = "l/{i}", qos = 1, rate = 1.0, retain = true }
[[group]]
name = "same"
clients = 2
publish = { topic = "l/0", qos = 1, rate = 1.0, retain = true }
[[group]]
name = "late"
start_after = "1500ms"
will = { topic = "w/{client}" }
subscribe = { filter = "l/+" }
"#;
    let f = ScenarioFile::parse(Path::new("x"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    assert_eq!(plan.groups[2].join_us(5), 1_500_000);
    assert_eq!(plan.groups[0].join_us(0), 0);
    assert_eq!(plan.retained_topics(), vec!["l/0", "l/1", "l/2"]);
    assert!(plan.retained_cleanup, "on by default");
    assert_eq!(plan.clients[5].will_topic.as_deref(), Some(&*format!("w/{}", plan.clients[5].client_id)));
}

#[test]
fn a_publisher_group_that_joins_later_owes_from_its_join() {
    let text = r#"
name = "late-pub"
[[group]]
name = "p"
start_after = "2s"
publish = { topic = "t", qos = 1, rate = 10.0 }
"#;
    let f = ScenarioFile::parse(Path::new("x"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    let mut s = schedule::Schedule::of_publisher(&plan, &plan.clients[0], 1_000_000, 5_000_000).unwrap();
    assert!(s.intended_us(0) >= 3_000_000, "{}", s.intended_us(0));
    assert_eq!(s.due_by(0, 5_000_000), 20, "2 s at 10 msg/s");
}

#[test]
fn a_group_that_joins_later_keeps_its_connect_rate_on_every_shard() {
    let text = r#"
name = "late-ramp"
[[group]]
name = "s"
clients = 300
start_after = "2s"
connect_rate = 100
subscribe = { filter = "t/#" }
"#;
    let f = ScenarioFile::parse(Path::new("x"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    let g = &plan.groups[0];
    assert_eq!(
        (g.join_us(0), g.join_us(1), g.join_us(100), g.join_us(299)),
        (2_000_000, 2_010_000, 3_000_000, 4_990_000)
    );
    assert_eq!(g.presence(150), vec![stages::Presence { join_us: 3_500_000, leave_us: None }]);
    // Shard 1 of 2: 50 connects/s of its own, its k-th client the whole group's 2k + 1.
    let o = Overrides {
        shard: Some(shard::ShardId { index: 1, count: 2 }),
        run_name: Some("r".into()),
        broker: Some("mqtt://127.0.0.1:1883".into()),
        ..Default::default()
    };
    let half = Plan::build(&f, &o).unwrap();
    let h = &half.groups[0];
    assert_eq!((h.clients, h.connect_rate), (150, Some(50.0)));
    assert_eq!((h.join_us(h.first_client), h.join_us(h.first_client + 1)), (2_010_000, 2_030_000));
}

#[test]
fn faults_resolve_to_their_clients_in_time_order_and_follow_a_shard() {
    let text = r#"
name = "faults"
[[group]]
name = "p"
clients = 4
publish = { topic = "t/{i}", qos = 1, rate = 1.0 }
[[group]]
name = "s"
clients = 2
subscribe = { filter = "t/#", qos = 1 }
[[fault]]
at = "3s"
action = "kill"
[[fault]]
at = "2s"
action = "stall"
group = "s"
clients = 1
for = "500ms"
[[fault]]
at = "1s"
action = "duplicate-ids"
group = "p"
clients = 3
"#;
    let f = ScenarioFile::parse(Path::new("x"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    let at: Vec<u64> = plan.faults.iter().map(|f| f.at.as_secs()).collect();
    assert_eq!(at, vec![1, 2, 3]);
    assert_eq!(plan.faults[0].targets, Targets::Clients(vec![0, 1, 2]));
    assert_eq!(plan.faults[2].targets, Targets::All);
    assert_eq!(plan.twins(), 3);
    assert_eq!(plan.stalls_of(4), vec![(2_000_000, 500_000)]);
    assert!(plan.stalls_of(5).is_empty());
    assert!(!plan.needs_proxy());
    // Shard 1 of 2 runs every second client of each group: p1, p3, s1.
    let shard = slice(plan, shard::ShardId { index: 1, count: 2 });
    assert_eq!(shard.faults[0].targets, Targets::Clients(vec![0]), "p1 (p3 is no twin's)");
    assert_eq!(shard.faults.len(), 2, "the stall names s0 only, which runs elsewhere");
    assert_eq!(shard.faults[1].targets, Targets::All);
}

#[test]
fn a_resolved_plan_carries_its_credentials_and_source_addresses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("user"), "bob\n").unwrap();
    let text = "name = \"r\"\n[[group]]\nname = \"g\"\nusername_file = \"user\"\nsubscribe = { filter = \"t\" }\n";
    let f = ScenarioFile::parse(&dir.path().join("s.toml"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    assert!(plan.groups[0].credentials.is_none(), "a built plan reads no secret");
    let secrets = plan.resolve_secrets().unwrap();
    let addr: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let plan = plan.resolved(secrets, vec![addr]);
    assert_eq!(plan.groups[0].credentials.as_ref().map(|c| c.username.as_str()), Some("bob"));
    assert_eq!(plan.source_addr(0), Some(addr));
}

#[test]
fn the_drain_waits_for_stalls_delays_and_owed_wills() {
    let plan_back = |reconnect: &str, faults: &str| {
        let text = format!(
            r#"
name = "holds"
protocol = "5"
duration = "10s"
[[group]]
name = "p"
clients = 2
clean_session = false
session_expiry = "60s"
reconnect = {reconnect}
will = {{ topic = "w/{{client}}", delay = "2s" }}
publish = {{ topic = "t/{{i}}", qos = 1, rate = 1.0 }}
[[group]]
name = "s"
subscribe = {{ filter = "t/#", qos = 1 }}
{faults}"#
        );
        Plan::build(&ScenarioFile::parse(Path::new("x"), &text).unwrap(), &Overrides::default()).unwrap()
    };
    let plan = |faults: &str| plan_back("false", faults);
    assert_eq!(plan("").holds_until_us(), None);
    // A stall at 8 s for 5 s: until 13 s.
    let stall = "[[fault]]\nat = \"8s\"\naction = \"stall\"\ngroup = \"s\"\nfor = \"5s\"\n";
    assert_eq!(plan(stall).holds_until_us(), Some(13_000_000));
    // A delay of 300 ms for 2 s from 4 s: its last packet leaves at 6.3 s;
    // for 60 s, what publishing (10 s) sent last leaves at 10.3 s.
    let delay = "[[fault]]\nat = \"4s\"\naction = \"delay\"\ndelay = \"300ms\"\nfor = \"2s\"\n";
    assert_eq!(plan(delay).holds_until_us(), Some(6_300_000));
    let long = "[[fault]]\nat = \"4s\"\naction = \"delay\"\ndelay = \"300ms\"\nfor = \"60s\"\n";
    assert_eq!(plan(long).holds_until_us(), Some(10_300_000));
    // The publishers killed at 8 s: their wills are due at 10 s, owed by
    // 10 s + the broker's 1 s will-delay check + 250 ms transit.
    let kill = "[[fault]]\nat = \"8s\"\naction = \"kill\"\ngroup = \"p\"\n";
    assert_eq!(plan(kill).holds_until_us(), Some(11_250_000));
    // Publishers that come back (after 200 ms, within a second) before
    // their 2 s will delay owe no will: nothing held.
    let back = |delay: &str| plan_back(&format!("{{ delay = \"{delay}\", jitter = 0.0 }}"), kill).holds_until_us();
    assert_eq!(back("200ms"), None);
    assert_eq!(back("1500ms"), Some(11_250_000), "back only after the will was sent");
    // Killing the subscriber (no will) holds nothing; the latest hold wins.
    assert_eq!(plan("[[fault]]\nat = \"8s\"\naction = \"kill\"\ngroup = \"s\"\n").holds_until_us(), None);
    assert_eq!(plan(&format!("{stall}{kill}{delay}")).holds_until_us(), Some(13_000_000));
}

const SEVERAL: &str = r#"
name = "nodes"
[broker]
url = ["mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:1884"]
[[group]]
name = "p"
clients = 5
publish = { topic = "t/{i}", qos = 1, rate = 1.0 }
[[group]]
name = "s"
broker = "mqtt://127.0.0.1:1885"
subscribe = { filter = "t/#", qos = 1 }
"#;

fn build_text(text: &str, broker: Option<&str>) -> anyhow::Result<Plan> {
    let f = ScenarioFile::parse(Path::new("x"), text).map_err(|e| anyhow::anyhow!("{e}"))?;
    Plan::build(&f, &Overrides { broker: broker.map(str::to_string), ..Default::default() })
}

#[test]
fn clients_spread_round_robin_over_a_list_and_a_group_keeps_its_own_broker() {
    let plan = build_text(SEVERAL, None).unwrap();
    let urls: Vec<&str> = plan.brokers.iter().map(|b| b.url.as_str()).collect();
    assert_eq!(urls, ["mqtt://127.0.0.1:1883", "mqtt://127.0.0.1:1884", "mqtt://127.0.0.1:1885"]);
    assert_eq!(plan.clients.iter().map(|c| c.broker).collect::<Vec<_>>(), [0, 1, 0, 1, 0, 2]);
    assert_eq!((plan.groups[0].brokers.clone(), plan.groups[1].brokers.clone()), (vec![0, 1], vec![2]));
    assert_eq!(&plan.publisher_brokers[..], &[0, 1, 0, 1, 0]);
    // --broker a,b (the flag twice, joined) replaces the list, not a group's own.
    let plan = build_text(SEVERAL, Some("mqtt://127.0.0.1:2001,mqtt://127.0.0.1:2002")).unwrap();
    let urls: Vec<&str> = plan.brokers.iter().map(|b| b.url.as_str()).collect();
    assert_eq!(urls, ["mqtt://127.0.0.1:2001", "mqtt://127.0.0.1:2002", "mqtt://127.0.0.1:1885"]);
    // On shard 1 of 2 a client keeps the broker of its place in the whole group.
    let o = Overrides {
        shard: Some(shard::ShardId { index: 1, count: 2 }),
        run_name: Some("r".into()),
        ..Default::default()
    };
    let half = Plan::build(&ScenarioFile::parse(Path::new("x"), SEVERAL).unwrap(), &o).unwrap();
    assert_eq!(half.clients.iter().map(|c| c.broker).collect::<Vec<_>>(), [1, 1]);
    // One broker: no pair table.
    let one = build_text(&SEVERAL.replace("broker = \"mqtt://127.0.0.1:1885\"\n", ""), Some("embedded")).unwrap();
    assert_eq!((one.brokers.len(), one.publisher_brokers.len()), (1, 0));
}

#[test]
fn several_brokers_are_urls_of_running_brokers() {
    // A list naming a broker midge would start.
    let list = SEVERAL.replace("\"mqtt://127.0.0.1:1884\"", "\"spawn:mosquitto\"");
    let e = ScenarioFile::parse(Path::new("x"), &list).unwrap_err();
    assert!(e.message.contains("broker \"spawn:mosquitto\" in a run of several brokers"), "{e}");
    assert_eq!((e.line, e.column), (4, 33), "at the URL: {e}");
    // A group's own broker is a URL.
    let own = SEVERAL.replace("broker = \"mqtt://127.0.0.1:1885\"", "broker = \"embedded\"");
    let e = ScenarioFile::parse(Path::new("x"), &own).unwrap_err();
    assert_eq!((e.line, e.column), (11, 10), "{e}");
    assert!(e.message.starts_with("group \"s\": `broker` \"embedded\": a group's own broker is a URL"), "{e}");
    let e = ScenarioFile::parse(Path::new("x"), &SEVERAL.replace("mqtt://127.0.0.1:1885", "http://x")).unwrap_err();
    assert!(e.message.contains("not supported") && e.line == 11, "{e}");
    // A group's own URL beside an embedded broker the other group uses.
    let text = SEVERAL.replace("url = [\"mqtt://127.0.0.1:1883\", \"mqtt://127.0.0.1:1884\"]", "url = \"embedded\"");
    let e = build_text(&text, None).unwrap_err().to_string();
    assert!(e.contains("broker \"embedded\" in a run of several brokers: midge starts one broker at most"), "{e}");
    // …and --broker spawn:mosquitto beside it too; alone (every group on it) it is fine.
    assert!(build_text(SEVERAL, Some("spawn:mosquitto")).is_err());
    assert!(build_text(&SEVERAL.replace("broker = \"mqtt://127.0.0.1:1885\"\n", ""), Some("spawn:mosquitto")).is_ok());
    // An empty list names nothing.
    let e = ScenarioFile::parse(
        Path::new("x"),
        &SEVERAL.replace("url = [\"mqtt://127.0.0.1:1883\", \"mqtt://127.0.0.1:1884\"]", "url = []"),
    )
    .unwrap_err();
    assert!(e.message.contains("names no broker"), "{e}");
    // A url that is neither a string nor a list.
    let e = ScenarioFile::parse(
        Path::new("x"),
        &SEVERAL.replace("url = [\"mqtt://127.0.0.1:1883\", \"mqtt://127.0.0.1:1884\"]", "url = 5"),
    )
    .unwrap_err();
    assert!(e.message.contains("a broker URL, or a list of them"), "{e}");
}

#[test]
fn each_tls_broker_checks_its_own_name_and_a_client_certificate_needs_tls_on_every_one() {
    let text = r#"
name = "tls-nodes"
[broker]
url = ["mqtts://a.test:8883", "mqtts://b.test:8883", "mqtt://c.test:1883"]
[broker.tls]
ca_file = "ca.pem"
[[group]]
name = "p"
clients = 3
publish = { topic = "t/{i}", qos = 1, rate = 1.0 }
"#;
    let plan = build_text(text, None).unwrap();
    let names: Vec<Option<String>> =
        plan.brokers.iter().map(|b| b.tls.as_ref().map(|t| t.server_name.clone())).collect();
    assert_eq!(names, [Some("a.test".to_string()), Some("b.test".to_string()), None]);
    assert!(plan.brokers[1].tls.as_ref().is_some_and(|t| t.ca_file.as_ref().is_some_and(|f| f.ends_with("ca.pem"))));
    let with_cert = text.replace("clients = 3", "clients = 3\ntls = { cert_file = \"c.pem\", key_file = \"c.key\" }");
    let e = build_text(&with_cert, None).unwrap_err().to_string();
    assert!(e.contains("needs a TLS broker") && e.contains("mqtt://c.test:1883"), "{e}");
    assert!(build_text(&with_cert.replace(", \"mqtt://c.test:1883\"", ""), None).is_ok());
}

#[test]
fn only_a_plan_with_no_duration_anywhere_runs_until_stopped() {
    let base = "name = \"t\"\n[[group]]\nname = \"g\"\npublish = { topic = \"a\", rate = 1.0 }\n";
    let build = |text: &str, duration: Option<std::time::Duration>| {
        let f = ScenarioFile::parse(Path::new("t.toml"), text).unwrap();
        Plan::build(&f, &Overrides { duration, ..Default::default() }).unwrap()
    };
    let open = build(base, None);
    assert!(open.until_stopped);
    assert_eq!(open.duration, UNTIL_STOPPED);
    let secs = std::time::Duration::from_secs;
    for (text, flag, want) in [
        (format!("duration = \"3s\"\n{base}"), None, secs(3)),
        (base.to_string(), Some(secs(5)), secs(5)),
        (format!("{base}[[stage]]\nduration = \"2s\"\n[[stage]]\nduration = \"4s\"\n"), None, secs(6)),
    ] {
        let p = build(&text, flag);
        assert!(!p.until_stopped, "{text}");
        assert_eq!(p.duration, want, "{text}");
    }
}

/// MQTT 5 options: the CONNECT carries the group's Receive Maximum and
/// Maximum Packet Size; SUBSCRIBE's options byte is QoS 1 | No Local (4) |
/// Retain As Published (8) | Retain Handling 2 (32) = 45; under No Local a
/// client that publishes and subscribes to its own topics is owed only the
/// others' messages (2 clients: 2 streams, not 4); the 3.1.1 group's
/// CONNECT carries neither limit.
#[test]
fn mqtt5_limits_and_subscription_options_reach_the_wire_and_the_streams() {
    let text = r#"
name = "options"
protocol = "5"
[[group]]
name = "echo"
clients = 2
receive_maximum = 5
maximum_packet_size = 1024
publish = { topic = "e/{i}", qos = 1, rate = 1.0 }
subscribe = { filter = "e/#", qos = 1, no_local = true, retain_as_published = true, retain_handling = 2 }
[[group]]
name = "plain"
clients = 2
publish = { topic = "p/{i}", qos = 1, rate = 1.0 }
subscribe = { filter = "p/#", qos = 1, resubscribe = true }
"#;
    let f = ScenarioFile::parse(Path::new("x"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    let (echo, plain) = (&plan.groups[0], &plan.groups[1]);
    assert_eq!((echo.resubscribe, plain.resubscribe), (false, true));
    assert_eq!((echo.receive_maximum, echo.maximum_packet_size), (Some(5), Some(1024)));
    assert_eq!((echo.no_local, echo.retain_as_published, echo.retain_handling), (true, true, 2));
    let o = echo.connect_options("echo-0");
    assert_eq!((o.receive_maximum, o.maximum_packet_size), (Some(5), Some(1024)));
    assert_eq!((echo.subscription_options(), plain.subscription_options()), (45, 1));
    assert_eq!((echo.replays_retained(), plain.replays_retained()), (false, true));
    let pairs: Vec<(u32, u32)> = plan.streams.iter().map(|s| (s.publisher_client, s.subscriber_client)).collect();
    assert_eq!(pairs, vec![(0, 1), (1, 0), (2, 2), (2, 3), (3, 2), (3, 3)]);
    let v311 = ScenarioFile::parse(
        Path::new("x"),
        &text
            .replace("protocol = \"5\"", "protocol = \"3.1.1\"")
            .replace("receive_maximum = 5\nmaximum_packet_size = 1024\n", "")
            .replace(", no_local = true, retain_as_published = true, retain_handling = 2", ""),
    )
    .unwrap();
    let plan = Plan::build(&v311, &Overrides::default()).unwrap();
    assert_eq!(plan.streams.len(), 8);
    assert_eq!(plan.groups[0].subscription_options(), 1);
}

/// A stream's delivery against its subscriber's Maximum Packet Size: a
/// PUBLISH of topic "m/0" (3 bytes), QoS 1, no properties, 1,000 bytes of
/// payload is 1 + 2 + (2 + 3 + 2 + 1 + 1000) = 1011 bytes; 1010 is over it,
/// 1011 is not; at QoS 0 it is 2 bytes smaller.
#[test]
fn a_delivery_over_the_subscribers_maximum_packet_size_is_known_from_the_plan() {
    let text = |max: u32| {
        format!(
            "name = \"m\"\nprotocol = \"5\"\n[[group]]\nname = \"p\"\npublish = {{ topic = \"m/{{i}}\", qos = 1, rate = 1.0, payload = 1000 }}\n[[group]]\nname = \"s\"\nmaximum_packet_size = {max}\nsubscribe = {{ filter = \"m/#\", qos = 1 }}\n"
        )
    };
    for (max, qos, over) in [(1010, 1, true), (1011, 1, false), (1009, 0, false), (1008, 0, true)] {
        let f = ScenarioFile::parse(Path::new("x"), &text(max)).unwrap();
        let plan = Plan::build(&f, &Overrides::default()).unwrap();
        assert_eq!(over_max_packet_size(&plan, &plan.streams[0], qos), over, "max {max}, qos {qos}");
    }
}

#[test]
fn clients_spread_over_the_brokers_round_robin_and_an_own_broker_takes_its_group() {
    let text = r#"
name = "spread"
[broker]
url = ["mqtt://a.test:1883", "mqtt://b.test:1883"]
[[group]]
name = "five"
clients = 5
subscribe = { filter = "t" }
[[group]]
name = "own"
clients = 2
broker = "mqtt://b.test:1883"
subscribe = { filter = "t" }
[[group]]
name = "one"
clients = 1
subscribe = { filter = "t" }
"#;
    let f = ScenarioFile::parse(Path::new("x"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    let shares = plan.clients_per_broker();
    let share = |url: &str, clients: u64, groups: &[(&str, u64)]| BrokerShare {
        url: url.into(),
        clients,
        groups: groups.iter().map(|(g, n)| (g.to_string(), *n)).collect(),
    };
    assert_eq!(
        shares,
        [
            share("mqtt://a.test:1883", 4, &[("five", 3), ("one", 1)]),
            share("mqtt://b.test:1883", 4, &[("five", 2), ("own", 2)]),
        ]
    );
    // As the plan's clients have it, one by one; and an outline says the same.
    for (i, s) in shares.iter().enumerate() {
        assert_eq!(plan.clients.iter().filter(|c| c.broker as usize == i).count() as u64, s.clients);
    }
    let five: Vec<u16> = plan.clients.iter().filter(|c| c.group == 0).map(|c| c.broker).collect();
    assert_eq!(five, [0, 1, 0, 1, 0]);
    assert_eq!(Plan::outline(&f, &Overrides::default()).unwrap().clients_per_broker(), shares);
}
