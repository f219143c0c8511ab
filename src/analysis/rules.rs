//! What midge checks for each rule of the protocol (`Rule::check`; the
//! rules themselves, their ids, names and titles: `mqtt::rules`), and the
//! checks: pure functions, one per rule, over what the record holds. The client applies
//! the wire-side ones as it reads (`client::witness`: only what they flag is
//! kept); `detect::spec` turns their counts into `spec_violation` findings.
//!
//! The checks that take a scenario setting as a parameter (`receive_maximum`,
//! `maximum_packet_size`, `retain_as_published`, `retain_handling`,
//! `no_local`) hold with midge's defaults until a scenario sets them: a
//! broker may send up to 65,535 in flight and any size, and a subscription
//! without those options owes none of their restrictions.

use crate::analysis::tally::StreamTally;
use crate::mqtt::rules::Rule;
use crate::record::logs::RangeSet;
use crate::record::wire::{Sighting, Witness};
use std::collections::BTreeMap;

impl Rule {
    /// What midge checks, in a line (docs/guide/findings.md's table).
    pub fn check(self) -> &'static str {
        match self {
            Rule::TopicOrder => "a QoS ≥ 1 delivery below the highest sequence of its (non-shared) stream, less the publisher's own DUP resends",
            Rule::DupOnRedelivery => "a QoS ≥ 1 copy of a message already taken in (or under a QoS 2 id awaiting PUBREL) with DUP = 0, less the publisher's own resends",
            Rule::QosAboveGranted => "a delivery's QoS above the SUBACK's granted QoS (a resumed session: the last granted)",
            Rule::PacketIdInUse => "another message under a QoS 2 packet id still awaiting PUBREL",
            Rule::AckPacketId => "an ack for an id midge had nothing in flight under (not after midge's own retry, malformed packet or second PUBREC; a resumed session's PUBREL excepted)",
            Rule::SessionPresentOnCleanStart => "CONNACK Session Present = 1 on a connection midge opened with clean start / clean session",
            Rule::RetainOnLive => "RETAIN = 1 on a message published after the subscription went live",
            Rule::ReceiveMaximum => "a QoS ≥ 1 PUBLISH received while those midge held unacknowledged were already at the Receive Maximum it announced (the count; the peak and its time are in the finding)",
            Rule::MaximumPacketSize => "a packet received above the Maximum Packet Size midge announced (each PUBLISH sighted; else the largest packet read)",
            Rule::ExpiryDecremented => "a delivery's expiry interval above the publisher's less the whole seconds it surely waited (1 s slack), or none where more than a second was left",
            Rule::ExpiredDelivered => "a first (DUP = 0) delivery that had waited more than a second past its expiry before its connection came up",
            Rule::RetainHandlingExisting => "a retained replay on a connection that resumed its session and subscribed again (`subscribe.resubscribe`) where the broker last granted it (the subscription existed), under retain handling 1; a new subscription's replay is owed",
            Rule::RetainHandlingNone => "any retained replay under retain handling 2",
            Rule::NoLocal => "a delivery of the subscriber's own message under no local",
            Rule::TopicAliasNotAllowed => "a Topic Alias property on a delivery (midge announces no Topic Alias Maximum)",
        }
    }
}

/// TopicOrder: a subscriber's QoS ≥ 1 deliveries out of order on its
/// non-shared streams (the tally already took out the publishers' resends).
pub fn order_breaches(streams: &[StreamTally], subscriber: u32) -> u64 {
    streams
        .iter()
        .filter(|s| s.subscriber_client == subscriber && s.qos >= 1 && s.share.is_none())
        .map(|s| s.out_of_order)
        .sum()
}

/// DupOnRedelivery: the copies delivered with DUP = 0 that no publisher
/// sent again itself (`resent`: a publisher's resent sequences).
pub fn copies_without_dup<'a>(witness: &Witness, resent: impl Fn(u32) -> Option<&'a RangeSet>) -> u64 {
    witness
        .copies
        .iter()
        .map(|(p, seqs)| match resent(*p) {
            Some(r) => seqs.len() - seqs.count_common(r),
            None => seqs.len(),
        })
        .sum()
}

/// QoS of a PUBLISH's first-byte flags.
pub fn qos_of(flags: u8) -> u8 {
    (flags >> 1) & 3
}

/// QosAboveGranted: a delivery at `qos` on a subscription granted `granted`.
pub fn above_granted(qos: u8, granted: Option<u8>) -> bool {
    granted.is_some_and(|g| qos > g)
}

/// ReceiveMaximum: the QoS ≥ 1 PUBLISHes received while those in flight
/// toward midge were already at the Receive Maximum it announced (each one
/// the client sighted, `Sighting::AboveReceiveMaximum`); 0 where it
/// announced none. The peak is apart (`Witness::in_flight_peak`); where
/// none was sighted (a record from before the sighting) but the most in
/// flight (`max_inbound_inflight`) was above it, that one.
pub fn receive_maximum_breaches(announced: Option<u16>, sighted: u64, peak: u32) -> u64 {
    match announced {
        Some(_) if sighted > 0 => sighted,
        // A record from before the sighting was kept: its peak alone shows
        // the limit was passed, at least once.
        Some(max) => u64::from(peak > u32::from(max)),
        None => 0,
    }
}

/// MaximumPacketSize: the packets above the Maximum Packet Size midge
/// announced, each sighted (`Sighting::AboveMaximumPacketSize`); where none
/// was sighted but the largest packet in (`max_inbound_packet`) was above
/// it (one midge could not decode), that one.
pub fn packet_size_breaches(announced: Option<u32>, sighted: u64, largest: u32) -> u64 {
    match announced {
        Some(_) if sighted > 0 => sighted,
        Some(max) => u64::from(largest > max),
        None => 0,
    }
}

/// Which expiry rule a delivery breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryBreach {
    DeliveredExpired,
    NotDecremented,
}

/// ExpiredDelivered / ExpiryDecremented, for a message published with an
/// expiry of `published_s`, delivered with `delivered_s` (None: no
/// property), sent at `sent_us` and delivered on a connection up from
/// `connected_us` (run-clock µs): the broker held it at least the whole
/// seconds between (it could not send it sooner). Brokers count expiry in
/// whole seconds, so each side gets a second's slack: a missing property
/// is a breach only where more than that second was left (mosquitto 2.0.11
/// leaves it out of what it resumes with nothing left in whole seconds).
/// `dup`: a redelivery, whose onward delivery started earlier (no expiry
/// applies to it).
pub fn expiry_breach(
    published_s: u32,
    delivered_s: Option<u32>,
    sent_us: u64,
    connected_us: u64,
    dup: bool,
) -> Option<ExpiryBreach> {
    let held_s = connected_us.saturating_sub(sent_us) / 1_000_000;
    if !dup && held_s > u64::from(published_s) {
        return Some(ExpiryBreach::DeliveredExpired);
    }
    match delivered_s {
        None if u64::from(published_s) > held_s + 1 => Some(ExpiryBreach::NotDecremented),
        None => None,
        Some(d) if u64::from(d) + held_s > u64::from(published_s) + 1 => Some(ExpiryBreach::NotDecremented),
        Some(_) => None,
    }
}

/// RetainOnLive: RETAIN = 1 on live deliveries is a breach only with
/// retain as published off.
pub fn retain_flag_breaches(retain_as_published: bool, sighted: u64) -> u64 {
    if retain_as_published {
        0
    } else {
        sighted
    }
}

/// RetainHandlingNone / RetainHandlingExisting: retained replays a
/// subscription under `retain_handling` should not have had; `existed`:
/// the subscription was there before this SUBSCRIBE (a resumed session).
pub fn retain_handling_breaches(retain_handling: u8, replays: u64, existed: bool) -> Option<(Rule, u64)> {
    match retain_handling {
        2 if replays > 0 => Some((Rule::RetainHandlingNone, replays)),
        1 if existed && replays > 0 => Some((Rule::RetainHandlingExisting, replays)),
        _ => None,
    }
}

/// NoLocal: the subscriber's own messages it received under no local.
pub fn no_local_breaches(no_local: bool, own_received: u64) -> u64 {
    if no_local {
        own_received
    } else {
        0
    }
}

/// SessionPresentOnCleanStart: a CONNACK's Session Present = 1 to a CONNECT
/// midge sent with clean start (3.1.1: clean session) set.
pub fn session_present_breach(clean_start: bool, session_present: bool) -> bool {
    clean_start && session_present
}

/// The rule a sighting is evidence for (Reordered and CopyWithoutDup are
/// counted from the tally and `copies`; the others one per sighting).
pub fn rule_of(what: Sighting) -> Rule {
    match what {
        Sighting::Reordered => Rule::TopicOrder,
        Sighting::CopyWithoutDup => Rule::DupOnRedelivery,
        Sighting::AboveGranted => Rule::QosAboveGranted,
        Sighting::PacketIdReused => Rule::PacketIdInUse,
        Sighting::UnknownAck => Rule::AckPacketId,
        Sighting::RetainOnLive => Rule::RetainOnLive,
        Sighting::ExpiryNotDecremented => Rule::ExpiryDecremented,
        Sighting::DeliveredExpired => Rule::ExpiredDelivered,
        Sighting::TopicAlias => Rule::TopicAliasNotAllowed,
        Sighting::SessionPresent => Rule::SessionPresentOnCleanStart,
        Sighting::AboveReceiveMaximum => Rule::ReceiveMaximum,
        Sighting::AboveMaximumPacketSize => Rule::MaximumPacketSize,
        Sighting::ReplayUnasked => Rule::RetainHandlingNone,
        Sighting::ReplayOnExisting => Rule::RetainHandlingExisting,
        Sighting::OwnMessage => Rule::NoLocal,
    }
}

/// Rule → count of one client, as the checks found them (zero counts left out).
pub type Breaches = BTreeMap<Rule, u64>;

#[cfg(test)]
mod tests;
