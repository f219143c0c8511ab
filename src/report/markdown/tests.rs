use crate::analysis::testkit;
use crate::record::vocab::LossWindow;

/// Each window a loss falls in is told in words, slow consumers too (report.md
/// once printed the raw key `slow_consumer` there).
#[test]
fn losses_are_told_in_words_for_every_window() {
    let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n");
    let mut r = crate::analysis::analyse(&plan, &testkit::record(&plan));
    r.messages.lost = 935;
    r.messages.lost_by_window.insert(LossWindow::SlowConsumer, 932);
    r.messages.lost_by_window.insert(LossWindow::Steady, 3);
    let md = super::render(&r);
    assert!(
        md.contains(
            "**935 messages lost**: 932 owed to a slow consumer while it was behind on its reads; \
             3 in steady state (both ends connected).\n"
        ),
        "{md}"
    );
    assert!(!md.contains("932 slow_consumer"), "{md}");
}

/// pub0 sends 100 messages at `qos` from 1 s, 10 ms apart; sub0 gets all
/// but seqs 90, 91, 92.
fn three_lost(qos: u8, expect: &str) -> crate::analysis::model::Report {
    use testkit::{connect, every, publish, receive};
    let plan = testkit::plan(&format!(
        "name = \"t\"\n[[group]]\nname = \"pub\"\npublish = {{ topic = \"t/1\", qos = {qos}, rate = 100.0 }}\n[[group]]\nname = \"sub\"\nsubscribe = {{ filter = \"t/#\", qos = {qos} }}\n[expect]\n{}\n",
        if expect == "interrupted" { "" } else { expect }
    ));
    let mut rec = testkit::record(&plan);
    connect(&mut rec, 0, 500_000, 10_000_000, None);
    connect(&mut rec, 1, 500_000, 10_000_000, None);
    publish(&mut rec, 0, qos, every(1_000_000, 10_000, 100));
    receive(&mut rec, 1, 0, (0..90).chain(93..100));
    if expect == "interrupted" {
        rec.interrupted = true;
        rec.stop_signal = Some(crate::record::vocab::StopSignal::Sigint);
    }
    crate::analysis::analyse(&plan, &rec)
}

#[test]
fn the_default_expectations_are_marked_and_said_to_be_the_qos_contract() {
    let md = super::render(&three_lost(1, ""));
    assert!(md.starts_with("# midge: t — FAIL\n"), "{md}");
    assert!(md.contains("| qos1_qos2_lost (default) | \"<= 0\" | 3 | **FAIL** |\n"), "{md}");
    assert!(md.contains("| connect_failures (default) | \"<= 0\" | 0 | pass |\n"), "{md}");
    assert!(md.contains("Rows marked (default) are the QoS contract"), "{md}");
    let md = super::render(&three_lost(1, "lost = 3\nduplicated = 0\nconnect_failures = 0\nprotocol_violations = 0"));
    assert!(md.starts_with("# midge: t — PASS\n"), "{md}");
    assert!(!md.contains("(default)"), "{md}");
}

#[test]
fn qos_0_loss_is_in_the_headline_and_passes_unless_asked() {
    let md = super::render(&three_lost(0, ""));
    assert!(md.starts_with("# midge: t — PASS\n"), "{md}");
    assert!(md.contains("**QoS 0:** 3 of 100 lost — reported, not judged"), "{md}");
    let html = crate::report::html::render(&three_lost(0, ""));
    assert!(
        html.contains(
            "<p>QoS 0: 3 of 100 lost — reported, not judged (QoS 0 promises no delivery; [expect] lost judges it).</p>"
        ),
        "{html}"
    );
    let md = super::render(&three_lost(0, "lost = 0"));
    assert!(md.starts_with("# midge: t — FAIL\n"), "{md}");
    assert!(!md.contains("**QoS 0:**"), "{md}");
}

#[test]
fn an_interrupted_run_is_headlined_interrupted_with_what_was_measured() {
    let md = super::render(&three_lost(1, "interrupted"));
    assert!(md.starts_with("# midge: t — INTERRUPTED\n"), "{md}");
    assert!(
        md.contains("stopped early by SIGINT, after 10.0 s of publishing; figures cover what ran, and it is not judged. Measured: 100 published, 97 received, 3 lost, 0 in doubt.\n"),
        "{md}"
    );
}

#[test]
fn a_run_that_published_for_0_s_says_only_the_connections_were_judged() {
    let plan = testkit::plan(
        "name = \"t\"\nduration = \"0s\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n",
    );
    let r = crate::analysis::analyse(&plan, &testkit::record(&plan));
    assert_eq!(r.scenario.planned_duration_s, 0.0);
    let md = super::render(&r);
    assert!(
        md.contains(
            "**Nothing published:** publishing lasted 0 s, so no message was due; only the connections were judged.\n"
        ),
        "{md}"
    );
}

/// An external broker that had counted 232000 before the run: report.md
/// gives the rise over the run's own rounds, their age and spacing.
#[test]
fn the_brokers_counters_are_the_runs_own() {
    let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n");
    let mut rec = testkit::record(&plan);
    let round = |t_s: f64, received: u64, dropped: Option<u64>| crate::record::SysPoint {
        t_s,
        received: Some(received),
        sent: Some(received + 3),
        dropped,
        clients: Some(2),
        received_1min: None,
    };
    rec.run_end_us = 20_500_000;
    rec.broker.sys_series = vec![round(0.3, 232_000, None), round(10.3, 237_000, None), round(20.3, 252_000, Some(7))];
    let r = crate::analysis::analyse(&plan, &rec);
    let md = super::render(&r);
    assert!(
        md.contains("The broker's own counters ($SYS) over the run, from its round at 0.3 s to its round at 20.3 s (3 rounds, one every 10.0 s; the last 0.2 s before the run's end): PUBLISH received 20000, sent 20000, dropped 7. Clients connected at the last round: 2.\n"),
        "{md}"
    );
    assert!(md.contains("During the run, the broker counted 7 messages dropped"), "{md}");
    assert!(!md.contains("232000") && !md.contains("252000"), "no count from before the run: {md}");
}

#[test]
fn a_broker_given_by_pid_is_never_called_spawned() {
    let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n");
    let mut rec = testkit::record(&plan);
    rec.generator.broker_cpu_s = Some(1.49);
    rec.plan.broker_pid = Some(4242);
    let md = super::render(&crate::analysis::analyse(&plan, &rec));
    assert!(md.contains("; the broker's process (PID 4242, --broker-pid) used 1.49 CPU-s"), "{md}");
    assert!(!md.contains("spawned"), "{md}");
    rec.plan.broker_pid = None;
    let md = super::render(&crate::analysis::analyse(&plan, &rec));
    assert!(md.contains("; the spawned broker used 1.49 CPU-s"), "{md}");
}

#[test]
fn a_drain_that_ran_out_of_time_says_what_was_still_arriving() {
    use crate::analysis::model::StillArriving;
    let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n");
    let mut r = crate::analysis::analyse(&plan, &testkit::record(&plan));
    r.drain.waited_s = 3.37;
    r.drain.still_arriving = Some(StillArriving {
        from_s: 12.0,
        to_s: 14.0,
        deliveries: 350,
        e2e_p99_us: Some(4_700_000),
        lost_sent_late: Some(13),
    });
    let md = super::render(&r);
    assert!(
        md.contains("**The drain ran out of time while messages were still arriving:** 350 deliveries from 12.0 s to 14.0 s (the time series' seconds over its last quiet period), end-to-end p99 4700 ms then; 13 of the lost were sent within that of the drain's end. What is counted lost may in part have been on its way, not lost by the broker: the drain (3.37 s) was too short for this broker"),
        "{md}"
    );
    // Still arriving, but none of the lost was sent that late: no count depends on it.
    r.drain.still_arriving = Some(StillArriving {
        from_s: 12.0,
        to_s: 14.0,
        deliveries: 9,
        e2e_p99_us: Some(1_200_000),
        lost_sent_late: Some(0),
    });
    let md = super::render(&r);
    assert!(md.contains("9 deliveries from 12.0 s to 14.0 s (the time series' seconds over its last quiet period), end-to-end p99 1200 ms then; none of the lost was sent within that of the drain's end, so no count depends on it."), "{md}");
    assert!(!md.contains("may in part have been on its way"), "{md}");
    r.drain.still_arriving =
        Some(StillArriving { from_s: 12.0, to_s: 14.0, deliveries: 0, e2e_p99_us: None, lost_sent_late: None });
    let md = super::render(&r);
    assert!(md.contains("**The drain ran out of time** after 3.37 s; nothing arrived from 12.0 s to 14.0 s"), "{md}");
}

/// The "midge's own part" line, measured (kernel stamps on 60 of 100
/// deliveries) and not (no stamp, a fixed 2 ms window: the bound is said).
#[test]
fn midges_own_part_is_one_line_under_the_latency_table() {
    use crate::record::vocab::ReceiveTime;
    let plan = testkit::plan("name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"a\", rate = 10.0 }\n");
    let mut r = crate::analysis::analyse(&plan, &testkit::record(&plan));
    r.latency.e2e.count = 100;
    r.latency.own = crate::analysis::model::OwnPart {
        send_lag_p50_us: 300,
        send_lag_p99_us: 1_500,
        receive_delay_p50_us: 40,
        receive_delay_p99_us: 900,
        receive_delay_measured: true,
        receive_delay_deliveries: 60,
        batching_bound_us: 1_000,
        e2e_receive_time: ReceiveTime::Mixed,
    };
    let md = super::render(&r);
    assert!(
        md.contains(
            "midge's own part: send lag p50 0.30 ms, p99 1.50 ms (in e2e from the intended send, not from the actual send); \
             receive delay p50 0.04 ms, p99 0.90 ms (kernel receive timestamps on 60 of 100 deliveries; \
             e2e runs to the kernel's stamp, so this is in neither e2e figure).\n"
        ),
        "{md}"
    );
    r.latency.own = crate::analysis::model::OwnPart { batching_bound_us: 2_000, ..Default::default() };
    let md = super::render(&r);
    assert!(md.contains("batched reads could have added up to 2.00 ms to each e2e figure."), "{md}");
}

/// A failed expectation's reason, as report.html shows it beside FAIL.
#[test]
fn a_failed_expectation_says_why_in_words() {
    use crate::analysis::model::{Comparison, ExpectationResult, LimitUnit};
    let e = |observed, pass, op, limit, unit| ExpectationResult {
        name: "x".into(),
        threshold: String::new(),
        observed,
        pass,
        op,
        limit,
        unit,
        default: false,
    };
    let reason = super::expectation_reason;
    assert_eq!(reason(&e(Some(3), false, Comparison::AtMost, 0, LimitUnit::Count)), "3 is more than the 0 allowed");
    assert_eq!(
        reason(&e(Some(10_000), false, Comparison::AtLeast, 99_999, LimitUnit::Count)),
        "10000 is less than the 99999 asked for"
    );
    assert_eq!(
        reason(&e(Some(78_207), false, Comparison::AtMost, 20_000, LimitUnit::Us)),
        "78 ms is more than the 20 ms allowed"
    );
    assert_eq!(
        reason(&e(Some(2_500), false, Comparison::AtMost, 1, LimitUnit::Us)),
        "2.50 ms is more than the 1 µs allowed"
    );
    assert_eq!(reason(&e(None, false, Comparison::AtMost, 1, LimitUnit::Us)), "nothing was observed to judge");
    assert_eq!(reason(&e(Some(0), true, Comparison::AtMost, 0, LimitUnit::Count)), "");
}

/// "Protocol violations" shows the packets of an announced limit broken:
/// the Receive Maximum's peak and each PUBLISH's in-flight count, the
/// Maximum Packet Size's packet with its size.
#[test]
fn announced_limits_broken_show_their_packets_and_the_peak() {
    use crate::record::wire::{Sighting, WirePacket};
    use testkit::{connect, every, publish};
    let plan = testkit::plan(
        "name = \"t\"\nprotocol = \"5\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"t/1\", qos = 1, rate = 10.0 }\n\
         [[group]]\nname = \"sub\"\nreceive_maximum = 5\nmaximum_packet_size = 1024\nsubscribe = { filter = \"t/#\", qos = 1 }\n",
    );
    let mut rec = testkit::record(&plan);
    connect(&mut rec, 0, 500_000, 10_000_000, None);
    connect(&mut rec, 1, 500_000, 10_000_000, None);
    publish(&mut rec, 0, 1, every(1_000_000, 100_000, 10));
    let c = &mut rec.clients[1];
    (c.max_inbound_inflight, c.max_inbound_packet) = (7, 2_000);
    let w = c.witness.get_or_insert_with(Default::default);
    let at = |t_us: u64, seq: u64| WirePacket {
        t_us,
        packet_type: 3,
        flags: 0b0010,
        pkid: 3,
        publisher: Some(0),
        seq: Some(seq),
        ..Default::default()
    };
    for (n, t) in [(6, 2_000_000), (7, 2_100_000)] {
        w.sight(Sighting::AboveReceiveMaximum, WirePacket { in_flight: Some(n), ..at(t, n.into()) }, Vec::new);
        w.in_flight(n, t);
    }
    w.sight(Sighting::AboveMaximumPacketSize, WirePacket { size: Some(2_000), ..at(3_000_000, 9) }, Vec::new);
    let md = super::render(&crate::analysis::analyse(&plan, &rec));
    assert!(md.contains("- sub0: 7 in flight at most at 2.1 s, its Receive Maximum 5\n"), "{md}");
    assert!(md.contains("| sub0 | 2.1 | received | PUBLISH | QoS 1; 7 in flight | 3 | t/1 | pub0 #7 |\n"), "{md}");
    assert!(md.contains("- sub0: its Maximum Packet Size 1024 bytes, the largest shown 2000 bytes\n"), "{md}");
    assert!(md.contains("| sub0 | 3 | received | PUBLISH | QoS 1; 2000 bytes | 3 | t/1 | pub0 #9 |\n"), "{md}");
}

/// A bug reproduction says under its title what its PASS means; a failing
/// one points at the expectations; an ordinary run says nothing of it.
#[test]
fn a_bug_reproduction_says_what_its_verdict_means() {
    let r = three_lost(1, "shows = [\"qos_violation\"]");
    assert_eq!(r.scenario.shows, vec!["qos_violation".to_string()]);
    let md = super::render(&r);
    assert!(
        md.contains(
            "# midge: t — PASS\n\nA bug reproduction: the broker showed what it says (qos_violation), so it passes.\n"
        ),
        "{md}"
    );
    let html = crate::report::html::render(&r);
    assert!(html.contains("A bug reproduction: the broker showed what it says (qos_violation)"), "{html}");
    let r = three_lost(1, "shows = [\"spec_violation:topic_order\"]");
    let md = super::render(&r);
    assert!(
        md.contains("A bug reproduction (spec_violation:topic_order) that fails: the expectations below say which did not hold.\n"),
        "{md}"
    );
    let r = three_lost(1, "lost = 3");
    assert!(r.scenario.shows.is_empty());
    assert!(!super::render(&r).contains("bug reproduction"));
}
