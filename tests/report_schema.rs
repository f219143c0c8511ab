//! report.json is a contract (field names may be added, never renamed or
//! dropped): a real run's report must validate against docs/report.schema.json,
//! and the schema must be strict enough to reject a dropped field or a bad
//! verdict.

mod support;
use std::path::Path;

use serde_json::Value;

const SCENARIO: &str = r#"
name = "report-schema"
description = "20 publishers -> 2 wildcard subscribers, QoS 1, on the embedded broker"
duration = "1s"
drain = "1s"
protocol = "3.1.1"

[broker]
url = "embedded"

[[group]]
name = "dashboard"
clients = 2
client_id = { scheme = "prefix-serial", prefix = "schema-dash-" }
subscribe = { filter = "schema/+/temp", qos = 1 }

[[group]]
name = "sensors"
clients = 20
client_id = { scheme = "prefix-random", prefix = "schema-sensor-" }
connect_rate = 500
publish = { topic = "schema/{client}/temp", qos = 1, rate = 20.0, payload = 64 }

[expect]
lost = 0
duplicated = 0
connect_failures = 0
"#;

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema())
        .unwrap_or_else(|e| panic!("docs/report.schema.json is not a valid schema: {e}"))
}

/// Every validation error, one per line, with where it is in the instance.
fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| format!("at {:?}: {e}", e.instance_path.as_str())).collect()
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errs = errors(validator, instance);
    assert!(
        errs.is_empty(),
        "{what} does not match docs/report.schema.json ({} errors):\n{}\n\nreport:\n{}",
        errs.len(),
        errs.join("\n"),
        serde_json::to_string_pretty(instance).unwrap()
    );
}

/// Runs the small scenario on the embedded broker; returns the report.
async fn run_scenario(dir: &Path) -> midge::analysis::model::Report {
    let path = dir.join("report-schema.toml");
    std::fs::write(&path, SCENARIO).unwrap();
    let file = midge::scenario::ScenarioFile::load(&path).expect("scenario loads");
    let plan = midge::plan::Plan::build(&file, &midge::plan::Overrides::default()).expect("plan builds");
    let output = midge::runner::run(plan, midge::runner::RunOptions::default()).await.expect("run completes");
    let r = &output.report;
    // A sanity check that the run really ran, so that the schema is checked
    // against a report with something in it.
    assert_eq!(r.clients.planned, 22);
    assert!(r.messages.published > 0, "nothing published: {:?}", r.messages);
    assert!(r.messages.expected > 0, "nothing expected: {:?}", r.messages);
    assert!(!r.timeseries.is_empty(), "no time series");
    assert!(!r.expectations.is_empty(), "no expectations evaluated");
    output.report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_matches_schema_and_schema_rejects_breakage() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_scenario(dir.path()).await;
    let value = serde_json::to_value(&report).expect("report serializes");
    let v = validator();
    assert_valid(&v, &value, "the report");

    // A dropped field must be caught.
    let mut no_lost = value.clone();
    no_lost["messages"]
        .as_object_mut()
        .expect("messages is an object")
        .remove("lost")
        .expect("messages.lost is present");
    let errs = errors(&v, &no_lost);
    assert!(!errs.is_empty(), "the schema accepts a report without messages.lost");
    assert!(errs.iter().any(|e| e.contains("lost")), "the error does not name the missing field: {errs:?}");

    // So must a verdict that is neither pass nor fail.
    let mut maybe = value.clone();
    maybe["verdict"] = Value::from("maybe");
    let errs = errors(&v, &maybe);
    assert!(!errs.is_empty(), "the schema accepts verdict \"maybe\"");

    // And a dropped top-level field, a renamed nested one, a wrong schema
    // version and a dropped by_qos level.
    let mut broken = Vec::new();
    let mut no_error = value.clone();
    no_error.as_object_mut().unwrap().remove("error");
    broken.push(("no top-level error", no_error));
    let mut renamed = value.clone();
    let e2e = renamed["latency"]["e2e"].as_object_mut().unwrap();
    let p99 = e2e.remove("p99_us").unwrap();
    e2e.insert("p99".into(), p99);
    broken.push(("latency.e2e.p99_us renamed", renamed));
    let mut version = value.clone();
    version["schema"] = Value::from(2);
    broken.push(("schema 2", version));
    let mut no_qos2 = value.clone();
    no_qos2["messages"]["by_qos"].as_object_mut().unwrap().remove("2");
    broken.push(("no by_qos \"2\"", no_qos2));
    for (what, instance) in &broken {
        assert!(!v.is_valid(instance), "the schema accepts: {what}");
    }

    // A spec_violation finding's evidence is held to its shape.
    let mut spec = value.clone();
    spec["findings"].as_array_mut().unwrap().push(spec_finding());
    assert_valid(&v, &spec, "a report with a spec_violation");
    let mut no_id = spec.clone();
    let last = no_id["findings"].as_array_mut().unwrap().last_mut().unwrap();
    last["evidence"]["rule"].as_object_mut().unwrap().remove("id");
    assert!(!v.is_valid(&no_id), "the schema accepts a spec_violation without its rule id");

    // So is a queue_withheld finding's.
    let mut withheld = value.clone();
    withheld["findings"].as_array_mut().unwrap().push(withheld_finding());
    assert_valid(&v, &withheld, "a report with a queue_withheld");
    let last = withheld["findings"].as_array_mut().unwrap().last_mut().unwrap();
    last["evidence"].as_object_mut().unwrap().remove("withheld");
    assert!(!v.is_valid(&withheld), "the schema accepts a queue_withheld without its withheld count");
}

/// A queue_withheld finding as midge writes it.
fn withheld_finding() -> Value {
    use midge::analysis::evidence::{Evidence, WithheldEvidence};
    use midge::analysis::model::Finding;
    let f = Finding {
        kind: midge::record::vocab::FindingKind::QueueWithheld,
        summary: "s".into(),
        client_ids: vec!["s-0".into()],
        count: 25,
        first_s: 5.2,
        last_s: 7.3,
        evidence: Evidence::Withheld(WithheldEvidence {
            client: "s-0".into(),
            connection: 1,
            ended_s: 7.3,
            expired: 70,
            first_lost: [("p-0".to_string(), vec![(75, 100)])].into(),
            resumed_s: 5.2,
            withheld: 25,
        }),
    };
    serde_json::to_value(&f).unwrap()
}

/// A spec_violation finding as midge writes it.
fn spec_finding() -> Value {
    use midge::analysis::evidence::{Evidence, RuleEvidence, SpecEvidence, SpecPacket};
    use midge::analysis::model::Finding;
    let packet = SpecPacket {
        direction: "received".into(),
        packet_id: 7,
        publisher: Some("p-0".into()),
        qos: 1,
        seq: Some(4),
        t_s: 1.5,
        topic: Some("w/1".into()),
        packet_type: "PUBLISH".into(),
        size: Some(90),
        in_flight: Some(6),
        ..Default::default()
    };
    let f = Finding {
        kind: midge::record::vocab::FindingKind::SpecViolation,
        summary: "s".into(),
        client_ids: vec!["s-0".into()],
        count: 1,
        first_s: 1.5,
        last_s: 1.5,
        evidence: Evidence::Spec(SpecEvidence {
            client: "s-0".into(),
            count: 1,
            flight_recorder: Vec::new(),
            packets: vec![packet],
            rule: RuleEvidence {
                id: "MQTT-3.3.1-1".into(),
                name: "dup_on_redelivery".into(),
                protocol: "3.1.1".into(),
                title: "t".into(),
            },
            announced_limit: Some(5),
            peak_in_flight: Some(9),
            peak_s: Some(1.5),
        }),
    };
    serde_json::to_value(&f).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_json_on_disk_matches_schema() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_scenario(dir.path()).await;
    let out = dir.path().join("out");
    report.write_files(&out).expect("report files written");
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json exists");
    let value: Value = serde_json::from_str(&text).expect("report.json is JSON");
    assert_valid(&validator(), &value, "report.json");
    // What is on disk reads back as a Report (floats aside, the same one).
    let back: midge::analysis::model::Report =
        serde_json::from_value(value).expect("report.json parses back into a Report");
    assert_eq!(back.run_id, report.run_id);
    assert_eq!(back.messages, report.messages);
    assert_eq!(back.verdict, report.verdict);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_report_with_its_tls_and_handshakes_matches_schema() {
    let text = SCENARIO.replace("url = \"embedded\"", "url = \"embedded+wss\"").replace("clients = 20", "clients = 3");
    let file = midge::scenario::ScenarioFile::parse(Path::new("wss.toml"), &text).expect("scenario parses");
    let plan = midge::plan::Plan::build(&file, &midge::plan::Overrides::default()).expect("plan builds");
    let report = midge::runner::run(plan, midge::runner::RunOptions::default()).await.expect("run completes").report;
    let value = serde_json::to_value(&report).expect("report serializes");
    assert_eq!(value["latency"]["connect_tls"]["count"], 5);
    assert_eq!(value["latency"]["connect_ws"]["count"], 5);
    assert_eq!(value["broker"]["tls"]["insecure"], false);
    let v = validator();
    assert_valid(&v, &value, "the wss report");
    let mut bad = value.clone();
    bad["broker"]["tls"]["insecure"] = Value::from("no");
    assert!(!v.is_valid(&bad), "the schema accepts broker.tls.insecure = \"no\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_of_two_brokers_matches_schema() {
    // Publishers and a subscriber on one mosquitto, an idle subscriber on
    // another: two `brokers` entries, one pair.
    let (a, b) = (support::mosquitto(&[]).await, support::mosquitto(&[]).await);
    let (url_a, url_b) = (support::url(&a), support::url(&b));
    let text = format!(
        r#"
name = "two-brokers"
duration = "1s"
drain = "1s"
[[group]]
name = "pub"
broker = "{url_a}"
clients = 2
publish = {{ topic = "two/{{client}}", qos = 1, rate = 20.0 }}
[[group]]
name = "sub"
broker = "{url_a}"
subscribe = {{ filter = "two/#", qos = 1 }}
[[group]]
name = "idle"
broker = "{url_b}"
subscribe = {{ filter = "nothing/#", qos = 1 }}
"#
    );
    let out = support::run_text(&text, &url_a).await;
    let value = serde_json::to_value(&out.report).expect("report serializes");
    assert_valid(&validator(), &value, "a report of two brokers");
    assert_eq!(value["brokers"].as_array().map(Vec::len), Some(2));
    assert_eq!(value["brokers"][1]["url"], Value::from(url_b), "{}", value["brokers"]);
    assert_eq!(value["broker_pairs"][0]["to"], Value::from(url_a.clone()), "{}", value["broker_pairs"]);
    let mut no_pairs = value.clone();
    no_pairs.as_object_mut().unwrap().remove("broker_pairs");
    assert!(!validator().is_valid(&no_pairs), "the schema accepts a report without broker_pairs");
}
