//! Known answers for the comparison of two hand-made reports.

use super::*;

/// A hand-made report with every figure `compare` reads.
fn report() -> Value {
    let lat = |p50: u64| {
        json!({"count": 100, "min_us": 1, "p50_us": p50, "p90_us": p50 * 2, "p99_us": 1000,
               "p999_us": 2000, "max_us": 3000, "mean_us": 1.0, "hdr": ""})
    };
    json!({
        "schema": 1, "midge_version": "0.1.0", "duration_s": 10.0,
        "scenario": {"name": "s", "sha256": "abc", "file": "s.toml", "protocol": "5", "planned_duration_s": 10.0},
        "broker": {"url": "mqtt://10.0.0.1:1883", "kind": "external", "config": null, "sys": {}},
        "clients": {"planned": 10, "connected_peak": 10, "connect_attempts": 10, "connects": 10,
                    "connect_failures": {}, "subscribe_failures": {}},
        "latency": {"connect": lat(100), "connect_tcp": lat(50), "e2e": lat(300), "e2e_uncorrected": lat(200),
                    "ack": lat(150), "suback": lat(10)},
        "messages": {"published": 1000, "expected": 1000, "received": 1000, "lost": 0, "duplicated": 0,
                     "out_of_order": 0, "in_doubt": 0, "unsent": 0},
        "disconnects": {"total": 0, "by_cause": {}},
        "reconnects": 0,
        "findings": [],
        "load_generator": {"cpu_s": 2.0, "cpu_utilization": 0.1, "peak_rss_kib": 40000,
                           "rss_bytes_per_connected_client": 4000,
                           "publish_rates": [{"group": "sensors", "achieved_msgs_per_s": 100.0}]}
    })
}

fn set(v: &mut Value, pointer: &str, x: Value) {
    *v.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = x;
}

#[test]
fn the_same_report_is_the_same_everywhere() {
    let c = compare(&report(), &report());
    assert!(c.warnings.is_empty());
    for f in &c.figures {
        assert_eq!(f.change(), Some(Change::Same), "{}", f.name);
        assert_eq!(f.delta(), Some(0.0), "{}", f.name);
        assert_eq!(f.delta_pct(), Some(0.0), "{}", f.name);
    }
    assert!(c.figure("capacity.last_pass").is_none());
}

#[test]
fn loss_from_zero_is_worse_with_no_percentage() {
    let mut b = report();
    set(&mut b, "/messages/lost", json!(5));
    let c = compare(&report(), &b);
    let lost = c.figure("lost").unwrap();
    assert_eq!((lost.a, lost.b, lost.delta()), (Some(0.0), Some(5.0), Some(5.0)));
    assert_eq!(lost.delta_pct(), None);
    assert_eq!(lost.change(), Some(Change::Worse));
    assert_eq!(lost.worse_pct(), Some(f64::INFINITY));
}

#[test]
fn lower_latency_is_better_by_ten_percent() {
    let mut b = report();
    set(&mut b, "/latency/e2e/p99_us", json!(900));
    let c = compare(&report(), &b);
    let f = c.figure("e2e.p99").unwrap();
    assert_eq!(f.delta(), Some(-100.0));
    assert_eq!(f.delta_pct(), Some(-10.0));
    assert_eq!(f.change(), Some(Change::Better));
    assert_eq!(f.worse_pct(), Some(0.0));
    // Higher is better for what arrived and the achieved rate.
    set(&mut b, "/messages/received", json!(990));
    set(&mut b, "/load_generator/publish_rates/0/achieved_msgs_per_s", json!(110.0));
    let c = compare(&report(), &b);
    assert_eq!(c.figure("received").unwrap().change(), Some(Change::Worse));
    assert!((c.figure("received").unwrap().worse_pct().unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(c.figure("achieved_msgs_per_s.sensors").unwrap().change(), Some(Change::Better));
    // Published is set by the scenario: changed, neither better nor worse.
    set(&mut b, "/messages/published", json!(1100));
    let c = compare(&report(), &b);
    assert_eq!(c.figure("published").unwrap().change(), None);
}

#[test]
fn figures_cover_the_headline_numbers() {
    let mut a = report();
    set(&mut a, "/clients/connect_failures", json!({"refused": 2, "timeout": 1}));
    set(&mut a, "/findings", json!([{"kind": "session_lost"}, {"kind": "session_lost"}, {"kind": "new_kind"}]));
    let c = compare(&a, &report());
    let names: Vec<&str> = c.figures.iter().map(|f| f.name.as_str()).collect();
    for n in [
        "published",
        "received",
        "expected",
        "lost",
        "duplicated",
        "out_of_order",
        "in_doubt",
        "unsent",
        "connected_peak",
        "connect_failures",
        "disconnects",
        "reconnects",
        "findings",
        "findings.session_lost",
        "findings.qos_violation",
        "findings.new_kind",
        "connect.p50",
        "e2e.p99.9",
        "e2e_uncorrected.max",
        "ack.p90",
        "cpu_s",
        "cpu_utilization",
        "peak_rss_kib",
        "rss_bytes_per_connected_client",
        "achieved_msgs_per_s.sensors",
        "duration_s",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert_eq!(c.figure("connect_failures").unwrap().a, Some(3.0));
    assert_eq!(c.figure("findings").unwrap().a, Some(3.0));
    assert_eq!(c.figure("findings.session_lost").unwrap().a, Some(2.0));
    assert_eq!(c.figure("findings.session_lost").unwrap().change(), Some(Change::Better));
    assert_eq!(c.figure("e2e.p99.9").unwrap().a, Some(2000.0));
}

#[test]
fn missing_figures_are_dashes_not_errors() {
    let mut a = report();
    a["messages"].as_object_mut().unwrap().remove("unsent");
    set(&mut a, "/load_generator/rss_bytes_per_connected_client", Value::Null);
    set(&mut a, "/latency/ack/count", json!(0));
    let c = compare(&a, &report());
    for name in ["unsent", "rss_bytes_per_connected_client", "ack.p99"] {
        let f = c.figure(name).unwrap();
        assert_eq!((f.a, f.delta(), f.change()), (None, None, None), "{name}");
    }
    // Neither has unsent: no row, but --fail-on unsent is still a known name.
    let c = compare(&a, &a);
    assert!(c.figure("unsent").is_none());
    let out = check(&c, &["unsent:0".parse().unwrap()]).unwrap();
    assert_eq!((out[0].worse_pct, out[0].failed), (None, false));
}

#[test]
fn capacity_only_when_both_have_one() {
    let mut a = report();
    let b = report();
    a["capacity"] = json!({"last_pass": 5000});
    assert!(compare(&a, &b).figure("capacity.last_pass").is_none());
    let mut b = b;
    b["capacity"] = Value::Null;
    assert!(compare(&a, &b).figure("capacity.last_pass").is_none());
    b["capacity"] = json!({"last_pass": 4000});
    let f = compare(&a, &b).figure("capacity.last_pass").cloned().unwrap();
    assert_eq!((f.delta_pct(), f.change()), (Some(-20.0), Some(Change::Worse)));
    b["capacity"] = json!({"last_pass": null});
    let f = compare(&a, &b).figure("capacity.last_pass").cloned().unwrap();
    assert_eq!((f.a, f.b), (Some(5000.0), None));
    // An object: each numeric field.
    a["capacity"] = json!({"last_pass": {"clients": 1000, "label": "x"}});
    b["capacity"] = json!({"last_pass": {"clients": 2000}});
    let c = compare(&a, &b);
    assert_eq!(c.figure("capacity.last_pass.clients").unwrap().delta(), Some(1000.0));
    assert!(c.figure("capacity.last_pass.label").is_none());
}

#[test]
fn fail_on_thresholds() {
    let mut b = report();
    set(&mut b, "/latency/e2e/p99_us", json!(1150));
    set(&mut b, "/messages/lost", json!(1));
    let c = compare(&report(), &b);
    let rules: Vec<FailOn> =
        ["e2e.p99:10", "e2e.p99:20", "lost:0", "duplicated:0"].iter().map(|s| s.parse().unwrap()).collect();
    let out = check(&c, &rules).unwrap();
    let failed: Vec<bool> = out.iter().map(|o| o.failed).collect();
    assert_eq!(failed, [true, false, true, false]);
    assert!((out[0].worse_pct.unwrap() - 15.0).abs() < 1e-9);
    assert!(out[0].describe().starts_with("FAIL e2e.p99: got worse by 15.0 %"), "{}", out[0].describe());
    // Better is never a failure.
    let c = compare(&b, &report());
    assert!(check(&c, &rules).unwrap().iter().all(|o| !o.failed));
    // A figure with no better direction fails on a change either way.
    let mut b2 = report();
    set(&mut b2, "/messages/published", json!(800));
    let out = check(&compare(&report(), &b2), &["published:10".parse().unwrap()]).unwrap();
    assert!(out[0].failed);
}

#[test]
fn unknown_figures_and_bad_rules_are_refused() {
    let c = compare(&report(), &report());
    let e = check(&c, &["e2e.p98:10".parse().unwrap()]).unwrap_err();
    assert!(e.contains("\"e2e.p98\"") && e.contains("e2e.p99") && e.contains("capacity.last_pass"), "{e}");
    for bad in ["e2e.p99", "e2e.p99:", "e2e.p99:x", ":5", "lost:-1"] {
        assert!(bad.parse::<FailOn>().is_err(), "{bad}");
    }
    assert_eq!("e2e.p99:12.5%".parse::<FailOn>().unwrap(), FailOn { figure: "e2e.p99".into(), pct: 12.5 });
}

#[test]
fn warns_on_other_scenario_or_broker() {
    let mut b = report();
    set(&mut b, "/scenario/sha256", json!("def"));
    set(&mut b, "/broker/url", json!("mqtt://10.0.0.2:1883"));
    let w = compare(&report(), &b).warnings;
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("different scenarios") && w[1].contains("10.0.0.2"), "{w:?}");
    // A broker midge started gets a new port each run: not a different broker.
    let mut a = report();
    set(&mut a, "/broker/config", json!("port 1"));
    set(&mut a, "/broker/kind", json!("spawned mosquitto"));
    let mut b = a.clone();
    set(&mut b, "/broker/url", json!("mqtt://127.0.0.1:40000"));
    set(&mut b, "/broker/config", json!("port 2"));
    assert!(compare(&a, &b).warnings.is_empty());
    set(&mut b, "/broker/kind", json!("embedded (rumqttd 0.20)"));
    assert!(compare(&a, &b).warnings[0].contains("different brokers"));
}

#[test]
fn table_and_json() {
    let mut b = report();
    set(&mut b, "/messages/lost", json!(5));
    set(&mut b, "/latency/e2e/p99_us", json!(900));
    set(&mut b, "/findings", json!([{"kind": "qos_violation"}]));
    let c = compare(&report(), &b);
    let t = render_table(&c, "a.json", "b.json");
    let row = |name: &str| {
        t.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("{name}\n{t}"))
    };
    assert_eq!(row("lost").split_whitespace().collect::<Vec<_>>(), ["lost", "0", "5", "+5", "—", "worse"]);
    assert_eq!(
        row("e2e.p99").split_whitespace().collect::<Vec<_>>(),
        ["e2e.p99", "1000", "900", "-100", "-10.0", "%", "better"]
    );
    assert!(row("findings.qos_violation").ends_with("worse"));
    assert!(!t.contains("findings.session_lost"), "{t}");
    assert!(row("published").ends_with("same"));

    let out = check(&c, &["lost:0".parse().unwrap()]).unwrap();
    let j = to_json(&c, "a.json", "b.json", &out);
    let fig = |name: &str| j["figures"].as_array().unwrap().iter().find(|f| f["figure"] == name).unwrap().clone();
    assert_eq!(
        fig("e2e.p99"),
        json!({"figure": "e2e.p99", "a": 1000, "b": 900, "delta": -100, "delta_pct": -10,
               "better": "lower", "direction": "better"})
    );
    assert_eq!(fig("lost")["delta_pct"], Value::Null);
    assert_eq!(fig("published")["better"], Value::Null);
    assert_eq!(fig("cpu_utilization")["a"], json!(0.1));
    assert_eq!(j["failed"], json!(true));
    assert_eq!(j["fail_on"][0]["worse_pct"], json!("inf"));
}

#[test]
fn load_checks_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("report.json");
    std::fs::write(&p, report().to_string()).unwrap();
    assert!(load(&p).is_ok());
    assert!(load(dir.path()).is_ok(), "a run folder holding report.json");
    std::fs::write(&p, "{\"name\": \"x\"}").unwrap();
    assert!(load(&p).unwrap_err().contains("not a midge report"));
    std::fs::write(&p, "{\"schema\": 2, \"midge_version\": \"9\"}").unwrap();
    assert!(load(&p).unwrap_err().contains("schema 2"));
    std::fs::write(&p, "not json").unwrap();
    assert!(load(&p).unwrap_err().contains("not JSON"));
    assert!(load(&dir.path().join("nope.json")).is_err());
}
