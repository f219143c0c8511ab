//! Known answers for each check, on hand-built inputs.

use super::*;
use crate::mqtt::protocol::ProtocolVersion;

fn stream(subscriber: u32, qos: u8, share: Option<u32>, out_of_order: u64) -> StreamTally {
    StreamTally { subscriber_client: subscriber, qos, share, out_of_order, ..Default::default() }
}

#[test]
fn every_rule_has_a_5_0_id_title_and_check_and_the_3_1_1_ones_theirs() {
    for r in Rule::ALL {
        assert!(r.id(ProtocolVersion::V5).is_some_and(|id| id.starts_with("MQTT-")), "{r:?}");
        assert!(!r.title().is_empty() && !r.check().is_empty() && !r.name().is_empty());
    }
    let v311: Vec<Rule> = Rule::ALL.iter().copied().filter(|r| r.id(ProtocolVersion::V311).is_some()).collect();
    assert_eq!(v311.len(), 7);
    assert_eq!(Rule::QosAboveGranted.id(ProtocolVersion::V311), Some("MQTT-3.8.4-6"));
    assert_eq!(Rule::QosAboveGranted.id(ProtocolVersion::V5), Some("MQTT-3.8.4-8"));
    assert_eq!(Rule::DupOnRedelivery.name(), "dup_on_redelivery");
}

#[test]
fn order_counts_a_subscribers_qos1_and_2_non_shared_streams() {
    let streams = [
        stream(1, 1, None, 3),
        stream(1, 2, None, 2),
        stream(1, 0, None, 50),    // QoS 0: no order owed
        stream(1, 1, Some(0), 40), // shared: MQTT 5 orders non-shared subscriptions only
        stream(2, 1, None, 7),     // another subscriber
    ];
    assert_eq!(order_breaches(&streams, 1), 5);
    assert_eq!(order_breaches(&streams, 2), 7);
    assert_eq!(order_breaches(&streams, 3), 0);
}

#[test]
fn copies_without_dup_leave_out_the_publishers_own_resends() {
    let mut w = Witness::default();
    for seq in [3, 4, 5, 9] {
        w.copy(0, seq);
    }
    w.copy(1, 2);
    let mut resent = RangeSet::new();
    resent.insert_range(4, 6);
    let resent_of = |p: u32| (p == 0).then_some(&resent);
    assert_eq!(copies_without_dup(&w, resent_of), 3, "3 and 9 of publisher 0, 2 of publisher 1");
    assert_eq!(copies_without_dup(&Witness::default(), resent_of), 0);
}

#[test]
fn qos_above_the_granted_one() {
    assert_eq!(qos_of(0b1011), 1);
    assert_eq!(qos_of(0b0100), 2);
    assert!(above_granted(2, Some(1)));
    assert!(!above_granted(1, Some(1)));
    assert!(!above_granted(2, None), "no SUBACK known: nothing to hold it to");
}

#[test]
fn receive_maximum_and_packet_size_against_what_midge_announced() {
    assert_eq!(receive_maximum_breaches(Some(10), 14, 24), 14);
    assert_eq!(receive_maximum_breaches(None, 14, 24), 0, "nothing announced: nothing owed");
    assert_eq!(receive_maximum_breaches(Some(10), 0, 24), 1, "an older record: its peak alone");
    assert_eq!(receive_maximum_breaches(Some(10), 0, 10), 0, "at the limit is within it");
    assert_eq!(packet_size_breaches(Some(1024), 3, 5000), 3, "each packet sighted");
    assert_eq!(packet_size_breaches(Some(1024), 0, 1025), 1, "none sighted, the largest read above it");
    assert_eq!(packet_size_breaches(Some(1024), 0, 1024), 0);
    assert_eq!(packet_size_breaches(None, 0, u32::MAX), 0);
    for what in [Sighting::AboveReceiveMaximum, Sighting::ReplayOnExisting, Sighting::OwnMessage] {
        assert_ne!(rule_of(what).id(ProtocolVersion::V5), None, "{what:?}");
    }
    assert_eq!(rule_of(Sighting::AboveMaximumPacketSize), Rule::MaximumPacketSize);
    assert_eq!(rule_of(Sighting::ReplayUnasked), Rule::RetainHandlingNone);
}

#[test]
fn expiry_is_held_to_the_whole_seconds_a_message_surely_waited() {
    let s = 1_000_000;
    // Published with 10 s, sent at 1 s, its subscriber back at 5.5 s: it waited 4 s at least.
    assert_eq!(expiry_breach(10, Some(6), s, 5 * s + s / 2, false), None);
    assert_eq!(expiry_breach(10, Some(7), s, 5 * s + s / 2, false), None, "a second's slack");
    assert_eq!(expiry_breach(10, Some(8), s, 5 * s + s / 2, false), Some(ExpiryBreach::NotDecremented));
    assert_eq!(expiry_breach(10, Some(10), s, 5 * s + s / 2, true), Some(ExpiryBreach::NotDecremented));
    assert_eq!(expiry_breach(10, None, s, 2 * s, false), Some(ExpiryBreach::NotDecremented), "the property dropped");
    assert_eq!(expiry_breach(2, None, s, 3 * s + s / 2, false), None, "nothing left in whole seconds: may be left out");
    assert_eq!(expiry_breach(2, None, 5 * s, s, false), Some(ExpiryBreach::NotDecremented), "a live delivery keeps it");
    // A live delivery (sent after its connection came up) keeps its interval.
    assert_eq!(expiry_breach(10, Some(10), 9 * s, 5 * s, false), None);
    // Expiry 2 s, away from 1 s to 4 s: 3 whole seconds past, delivered all the same.
    assert_eq!(expiry_breach(2, Some(0), s, 4 * s, false), Some(ExpiryBreach::DeliveredExpired));
    assert_eq!(expiry_breach(2, Some(0), s, 4 * s - 1, false), None, "within the second's slack");
    assert_eq!(expiry_breach(2, Some(0), s, 4 * s, true), None, "a redelivery started before it expired");
}

#[test]
fn retain_options_and_no_local_take_the_subscriptions_setting() {
    assert_eq!(retain_flag_breaches(false, 3), 3);
    assert_eq!(retain_flag_breaches(true, 3), 0);
    assert_eq!(retain_handling_breaches(2, 4, false), Some((Rule::RetainHandlingNone, 4)));
    assert_eq!(retain_handling_breaches(1, 4, true), Some((Rule::RetainHandlingExisting, 4)));
    assert_eq!(retain_handling_breaches(1, 4, false), None, "a new subscription gets its replays");
    assert_eq!(retain_handling_breaches(0, 4, true), None);
    assert_eq!(retain_handling_breaches(2, 0, true), None);
    assert_eq!(no_local_breaches(true, 12), 12);
    assert_eq!(no_local_breaches(false, 12), 0);
}

#[test]
fn session_present_is_a_breach_only_on_a_clean_start() {
    assert!(session_present_breach(true, true));
    assert!(!session_present_breach(true, false));
    assert!(!session_present_breach(false, true), "a resumed session");
}

/// docs/guide/findings.md's row for a rule: name, 3.1.1 id, 5.0 id, title, what midge checks.
fn readme_row(r: Rule) -> String {
    let id = |p| r.id(p).map_or("—".to_string(), |id| format!("`{id}`"));
    format!(
        "| `{}` | {} | {} | {} | {} |",
        r.name(),
        id(ProtocolVersion::V311),
        id(ProtocolVersion::V5),
        r.title(),
        r.check()
    )
}

#[test]
fn findings_guide_lists_every_rule_midge_checks() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/guide/findings.md")).unwrap();
    let rows: Vec<String> = Rule::ALL.iter().map(|r| readme_row(*r)).collect();
    let missing: Vec<&String> = rows.iter().filter(|row| !readme.contains(row.as_str())).collect();
    assert!(missing.is_empty(), "docs/guide/findings.md lacks these rows:\n{}", rows.join("\n"));
}
