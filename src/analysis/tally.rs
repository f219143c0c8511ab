//! The tally (design §3): the join of what each publisher got out with what
//! each subscriber received, over the planned streams and the subscribers'
//! live windows — expected, lost, duplicated, out of order, missed or queued
//! while offline — and the window each lost message fell in.
//!
//! Expected is exact: a message counts as expected for a subscriber only if the
//! publisher got it out (`PublishLog::got_out`: QoS 0 written, QoS 1/2
//! acknowledged) and first wrote it inside one of the subscriber's live windows
//! (`super::windows`). A window opens at SUBACK: the broker has the
//! subscription, so anything written after it must be delivered — no false
//! losses at a window's start. A refused subscription never opens one: its
//! client expects nothing (and gets a `subscribe_refused` finding). A stream
//! promises at most the QoS its SUBACK last granted (`build::tally_run`,
//! `granted_qos`): a downgraded grant lowers what it is held to.
//!
//! Between windows: for a persistent session at QoS ≥ 1 what was sent while it
//! was away is `queued_offline` (still owed); otherwise it is `missed_offline`,
//! not lost. A message with an MQTT 5 expiry that was older than its expiry
//! when the broker could first deliver it is `expired`: taken out of
//! `expected`, never lost — whether the persistent subscriber was away (its
//! age when it came back, less `EXPIRY_SLACK_US`) or connected but held back
//! by midge, stalled or slow (its age when the subscriber caught up, at the
//! end of a `behind` span, less the race margin): the broker discards an
//! expired message when it comes to send it, to any client. What is missing
//! from a share group's stream and was sent while a member's drop raced
//! (`Windows::raced`) is missed, as a plain subscriber's race would be.
//!
//! A message that came in below the highest sequence because its publisher
//! sent it again (`PublishLog::resent`) is not `out_of_order`. In a merged
//! run a stream between two shards reads the subscriber's connections through
//! `windows::across_shards` (`TallyInput::across`).
//!
//! Every lost message is attributed to one window (`attribute`), in this order:
//! a broker restart that held it, a session the broker lost, the subscriber's
//! offline gap, a span in which the subscriber was behind (`slow_consumer`),
//! the publisher's offline gap, else steady state. Every `LossWindow` key is
//! always present in `lost_by_window`.
//!
//! Over the limit midge announced: a stream whose deliveries are larger than
//! the MQTT 5 Maximum Packet Size its subscriber announced owes nothing; what
//! got out inside the subscriber's live windows is `over_max_packet_size`,
//! never expected, never lost (the broker must discard it).
//!
//! Held by the broker: when the run ended while midge itself kept a
//! subscriber from taking in what the broker held for it (a `stall` still
//! on, a `max_rate` backlog, a `delay` fault; `TallyInput::held_at_end`),
//! what it never received *after its last delivery on the stream* is
//! `held_by_broker`: still owed (in `expected`), never lost, no window, no
//! violation. A gap below a later delivery is still loss: the broker skipped it.
//!
//! A publisher whose send-time log widened its band (`record::logs`) is trusted
//! that much less at a subscriber's drop (`windows::trust_less`); share groups'
//! windows are not cut so (`shared_windows` reads the members' connections as
//! recorded).

use super::shared::{merged_rx, per_member, shared_windows, ShareTally};
pub use super::windows::{
    across_shards, publisher_gaps, trust_less, windows, AcrossShards, Connected, End, Windows, EXPIRY_SLACK_US,
};
use crate::record::clock::RACE_MARGIN_US;
use crate::record::logs::{PublishLog, RxLog, StreamRx};
use crate::record::vocab::LossWindow;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamTally {
    pub publisher_client: u32,
    pub subscriber_client: u32,
    /// A shared subscription's stream: its share group (see `StreamRef::share`).
    pub share: Option<u32>,
    pub qos: u8,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Got out while the (clean-session) subscriber was offline and never
    /// received: not expected, so not lost.
    pub missed_offline: u64,
    /// Got out while the persistent-session subscriber was away: expected
    /// (the broker must queue it).
    pub queued_offline: u64,
    /// Past their MQTT 5 expiry when the broker could first deliver them (see `Counts::expired`).
    pub expired: u64,
    /// Owed, and still held by the broker when the run ended (see `Counts::held_by_broker`).
    pub held_by_broker: u64,
    /// Not owed: over the subscriber's own Maximum Packet Size (see `Counts::over_max_packet_size`).
    pub over_max_packet_size: u64,
    /// The first lost sequence numbers, as ranges (evidence for the report).
    pub lost_ranges: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub published: u64,
    pub acked: u64,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub in_doubt: u64,
    pub missed_offline: u64,
    pub queued_offline: u64,
    /// Sent with an MQTT 5 expiry while a persistent subscriber was away or
    /// held back (stalled, slow), and past it when the broker could first
    /// deliver them: the broker discards them; not owed.
    #[serde(default)]
    pub expired: u64,
    /// Owed to a subscriber that midge itself was holding back when the run
    /// ended (a stall, a `max_rate` backlog, a delay fault), sent after its
    /// last delivery on the stream: the broker still held them. Expected,
    /// never lost.
    #[serde(default)]
    pub held_by_broker: u64,
    /// Got out inside a subscriber's live window but larger, as delivered,
    /// than the MQTT 5 Maximum Packet Size that subscriber (midge) announced:
    /// the broker must discard them (§3.1.2.11.4). A limit midge set, not
    /// a broker failure: neither expected nor lost.
    #[serde(default)]
    pub over_max_packet_size: u64,
}

/// A window that lost or missed messages, for the report's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowTally {
    pub kind: LossWindow,
    /// The client whose window it is (none for a broker restart).
    pub client: Option<u32>,
    pub start_us: u64,
    pub end_us: u64,
    pub lost: u64,
    /// Of `lost`, those missing below a later delivery on their stream:
    /// proof the broker skipped them (not merely still held them).
    pub below_later: u64,
    pub missed_offline: u64,
}

/// The windows `keep` selects, by the client they belong to (0 when none).
pub fn windows_by_client(
    windows: &[WindowTally],
    keep: impl Fn(&WindowTally) -> bool,
) -> std::collections::BTreeMap<u32, Vec<&WindowTally>> {
    let mut by_client: std::collections::BTreeMap<u32, Vec<&WindowTally>> = Default::default();
    for w in windows.iter().filter(|w| keep(w)) {
        by_client.entry(w.client.unwrap_or(0)).or_default().push(w);
    }
    by_client
}

#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub total: Counts,
    pub by_qos: [Counts; 3],
    pub stale: u64,
    pub foreign: u64,
    pub retained_replays: u64,
    pub streams: Vec<StreamTally>,
    pub lost_by_window: std::collections::BTreeMap<LossWindow, u64>,
    pub windows: Vec<WindowTally>,
    /// Per share group (as `TallyInput::shares`).
    pub shares: Vec<ShareTally>,
}

/// One stream to join: who publishes, who subscribes, at which QoS.
#[derive(Debug, Clone, Copy)]
pub struct StreamRef {
    pub publisher_client: u32,
    pub publisher_index: u32,
    pub subscriber_client: u32,
    pub qos: u8,
    /// The subscriber's session outlives its connections (clean_session = false).
    pub persistent: bool,
    /// How long the broker keeps that session after a drop (MQTT 5 session
    /// expiry; None: until it is resumed).
    pub session_expiry_us: Option<u64>,
    /// A shared subscription: the index of its share group in `TallyInput::shares`.
    pub share: Option<u32>,
    /// The publisher's MQTT 5 message expiry (None: its messages never expire).
    pub message_expiry_us: Option<u64>,
    /// A delivery on this stream would be larger than the Maximum Packet
    /// Size the subscriber announced (`plan::streams::over_max_packet_size`):
    /// the broker must discard it, so nothing is owed (`over_max_packet_size`).
    pub over_max_packet_size: bool,
}

/// Everything the join reads.
pub struct TallyInput<'a> {
    pub streams: &'a [StreamRef],
    pub publish_logs: HashMap<u32, &'a PublishLog>,
    pub rx_logs: HashMap<u32, &'a RxLog>,
    pub connections: HashMap<u32, Vec<Connected>>,
    /// Broker restarts: (killed, listening again), run-clock µs.
    pub restarts: &'a [(u64, u64)],
    pub run_end_us: u64,
    /// The members (client indices) of each share group.
    pub shares: Vec<&'a [u32]>,
    /// Per subscriber: the spans in which midge held back its reads and it
    /// had not caught up (`Generation::behind`).
    pub behind: HashMap<u32, Vec<(u64, u64)>>,
    /// A merged run's shards: streams between two shards read the
    /// subscriber's connections through `windows::across_shards`.
    pub across: Option<AcrossShards>,
    /// Subscribers midge itself kept from taking in what the broker held
    /// for them when the run ended (`build::held_at_end`).
    pub held_at_end: HashSet<u32>,
}

fn window_tally(
    windows: &mut Vec<WindowTally>,
    kind: LossWindow,
    client: Option<u32>,
    (start_us, end_us): (u64, u64),
) -> &mut WindowTally {
    let i = match windows.iter().position(|w| w.kind == kind && w.client == client && w.start_us == start_us) {
        Some(i) => i,
        None => {
            windows.push(WindowTally { kind, client, start_us, end_us, lost: 0, below_later: 0, missed_offline: 0 });
            windows.len() - 1
        }
    };
    &mut windows[i]
}

/// Joins publishers' logs with subscribers' logs over the planned streams.
pub fn tally(input: &TallyInput<'_>) -> Tally {
    let mut t = Tally { shares: vec![ShareTally::default(); input.shares.len()], ..Default::default() };
    for log in input.publish_logs.values() {
        let q = log.qos.min(2) as usize;
        let acked = if log.qos > 0 { log.got_out.len() } else { 0 };
        for c in [&mut t.total, &mut t.by_qos[q]] {
            c.published += log.published();
            c.acked += acked;
            c.in_doubt += log.in_doubt.len();
        }
    }
    for s in input.streams {
        let Some(log) = input.publish_logs.get(&s.publisher_client) else { continue };
        let st = tally_stream(input, s, log, &mut t);
        if let Some(i) = s.share {
            add_to_share(
                &mut t.shares[i as usize],
                &st,
                &per_member(&input.rx_logs, input.shares[i as usize], s.publisher_index),
            );
        }
        let q = s.qos.min(2) as usize;
        for c in [&mut t.total, &mut t.by_qos[q]] {
            c.expected += st.expected;
            c.received += st.received;
            c.lost += st.lost;
            c.duplicated += st.duplicated;
            c.out_of_order += st.out_of_order;
            c.missed_offline += st.missed_offline;
            c.queued_offline += st.queued_offline;
            c.expired += st.expired;
            c.held_by_broker += st.held_by_broker;
            c.over_max_packet_size += st.over_max_packet_size;
        }
        t.streams.push(st);
    }
    for rx in input.rx_logs.values() {
        t.stale += rx.stale;
        t.foreign += rx.foreign;
        t.retained_replays += rx.retained_replays;
    }
    for &kind in LossWindow::ALL {
        t.lost_by_window.entry(kind).or_default();
    }
    t.windows.sort_by_key(|w| (w.start_us, w.kind, w.client));
    t
}

fn add_to_share(share: &mut ShareTally, st: &StreamTally, members: &[(u32, u64)]) {
    share.expected += st.expected;
    share.received += st.received;
    share.lost += st.lost;
    share.duplicated += st.duplicated;
    for &(m, n) in members {
        *share.per_member.entry(m).or_default() += n;
    }
}

/// The subscriber's windows for one stream: its own connections, or a
/// share group's members' (seen across shards in a merged run).
fn stream_windows(
    input: &TallyInput<'_>,
    s: &StreamRef,
    sub_conns: &[Connected],
    persistent: bool,
    widened_us: u64,
) -> Windows {
    let Some(i) = s.share else {
        return windows(sub_conns, persistent, s.session_expiry_us, input.run_end_us);
    };
    let members = input.shares[i as usize];
    match input.across.as_ref() {
        Some(a) => {
            let seen = members_across(members, &input.connections, a, s.publisher_client);
            shared_windows(members, &seen, widened_us, input.run_end_us)
        }
        None => shared_windows(members, &input.connections, widened_us, input.run_end_us),
    }
}

/// Closes the lost range open at `seq`, if any (while fewer than
/// `MAX_LOST_RANGES` are listed).
fn end_lost_range(st: &mut StreamTally, lost_from: &mut Option<u64>, seq: u64) {
    if let (Some(from), true) = (lost_from.take(), st.lost_ranges.len() < MAX_LOST_RANGES) {
        st.lost_ranges.push((from, seq));
    }
}

/// A live window that ends where a persistent session then expired: what
/// the broker still held for it at the cut went with the session. Past the
/// window's last delivery on this stream (seqs `a..b`) nothing proves the
/// broker skipped a message, so from there on it is missed, not lost; a gap
/// below a later delivery stays lost. Returns that first sequence and the
/// expired gap.
fn died_with_session(w: &Windows, end: u64, rx: &StreamRx, (a, b): (u64, u64)) -> Option<(u64, Span)> {
    let gap = *w.expired.iter().find(|g| g.0 == end + 1)?;
    Some((rx.received.last_within(a, b).map_or(a, |m| m + 1), gap))
}

/// Most lost ranges a stream lists as evidence.
const MAX_LOST_RANGES: usize = 16;

/// One stream: what was expected in the subscriber's live windows, what of
/// it never arrived (each loss attributed to its window in `t`), and what
/// fell between windows (queued for a persistent session, else missed).
fn tally_stream(input: &TallyInput<'_>, s: &StreamRef, log: &PublishLog, t: &mut Tally) -> StreamTally {
    let empty_rx = StreamRx::default();
    let merged;
    let rx = match s.share {
        Some(i) => {
            merged = merged_rx(&input.rx_logs, input.shares[i as usize], s.publisher_index);
            &merged
        }
        None => {
            input.rx_logs.get(&s.subscriber_client).and_then(|r| r.streams.get(&s.publisher_index)).unwrap_or(&empty_rx)
        }
    };
    let mut st = StreamTally {
        publisher_client: s.publisher_client,
        subscriber_client: s.subscriber_client,
        share: s.share,
        qos: s.qos,
        received: rx.received.len(),
        duplicated: rx.duplicated,
        // A copy the publisher itself sent again (DUP) that came in below the
        // highest sequence is its resend, not the broker's reordering.
        out_of_order: rx.out_of_order.saturating_sub(rx.reordered.count_common(&log.resent)),
        ..Default::default()
    };
    let no_connections = Vec::new();
    let sub_conns = input.connections.get(&s.subscriber_client).unwrap_or(&no_connections);
    // A subscriber on another shard than its publisher: another clock, and no drain for it.
    let across = input.across.as_ref();
    let seen_across;
    let sub_conns = match across.filter(|a| a.apart(s.publisher_client, s.subscriber_client)) {
        Some(a) if s.share.is_none() => {
            seen_across = across_shards(sub_conns, a.bound_us);
            &seen_across
        }
        _ => sub_conns,
    };
    // Send times known only to a widened band: trust the subscriber that
    // much less at a drop, so no message is taken for sent before it.
    let less_trusted;
    let widened_us = log.sent.widened_us();
    let sub_conns = match widened_us {
        0 => sub_conns,
        by_us => {
            less_trusted = trust_less(sub_conns, by_us);
            &less_trusted
        }
    };
    let pub_conns = input.connections.get(&s.publisher_client).unwrap_or(&no_connections);
    // Receipt and send times on one clock: the successor's arrival can age a message.
    let one_clock = !across.is_some_and(|a| a.apart(s.publisher_client, s.subscriber_client));
    let successors = if one_clock { &rx.above_gaps[..] } else { &[][..] };
    let persistent = s.persistent && s.qos > 0 && s.share.is_none();
    let w = stream_windows(input, s, sub_conns, persistent, widened_us);
    let pub_gaps = publisher_gaps(pub_conns, input.run_end_us);
    let behind = match s.share {
        Some(_) => &[][..],
        None => input.behind.get(&s.subscriber_client).map_or(&[][..], Vec::as_slice),
    };
    // Held back by midge at the end: from past the last delivery on, the broker still holds it.
    let held_from = (s.share.is_none() && input.held_at_end.contains(&s.subscriber_client))
        .then(|| rx.max_seen.map_or(0, |m| m + 1));
    if s.over_max_packet_size {
        st.over_max_packet_size = got_out_within(log, &w.live);
        return st;
    }
    for &(start, end) in &w.live {
        let (a, b) = log.seqs_sent_between(start, end);
        st.expected += log.got_out.count_within(a, b);
        let died = died_with_session(&w, end, rx, (a, b));
        let missing = log.got_out.missing_from(&rx.received, a, b);
        for &(ra, rb) in missing.ranges() {
            let mut lost_from = None;
            for seq in ra..=rb {
                let sent = (seq < rb).then(|| log.sent.time_of(seq));
                let excused = sent.and_then(|t| excused(s, (&w, behind, successors), seq, t)).or_else(|| {
                    died.filter(|&(from, _)| seq >= from && seq < rb).map(|(_, gap)| Excused::DiedWithSession(gap))
                });
                if excused.is_some() || seq == rb {
                    end_lost_range(&mut st, &mut lost_from, seq);
                    let (kind, member, span) = match excused {
                        Some(Excused::Expired) => {
                            st.expired += 1;
                            st.expected -= 1;
                            continue;
                        }
                        Some(Excused::Raced(member, span)) => (LossWindow::SubscriberOffline, member, span),
                        Some(Excused::DiedWithSession(gap)) => (LossWindow::SessionExpired, s.subscriber_client, gap),
                        None => continue,
                    };
                    st.missed_offline += 1;
                    window_tally(&mut t.windows, kind, Some(member), span).missed_offline += 1;
                    st.expected -= 1;
                    continue;
                }
                if held_from.is_some_and(|h| seq >= h) {
                    end_lost_range(&mut st, &mut lost_from, seq);
                    st.held_by_broker += 1;
                    continue;
                }
                lost_from.get_or_insert(seq);
                st.lost += 1;
                let (kind, client, span) = attribute(sent.unwrap_or(0), s, &w, (&pub_gaps, behind), input.restarts);
                *t.lost_by_window.entry(kind).or_default() += 1;
                if kind != LossWindow::Steady {
                    let w = window_tally(&mut t.windows, kind, client, span);
                    w.lost += 1;
                    w.below_later += u64::from(rx.max_seen.is_some_and(|m| m > seq));
                }
            }
        }
    }
    if persistent {
        for &(from, to) in &w.away {
            let (a, b) = log.seqs_sent_between(from, to);
            st.queued_offline += log.got_out.count_within(a, b);
        }
    }
    // What fell between two live windows was owed to nobody: missed.
    let (missed_gaps, kind) =
        if persistent { (&w.expired, LossWindow::SessionExpired) } else { (&w.offline, LossWindow::SubscriberOffline) };
    for &gap in missed_gaps {
        let (a, b) = log.seqs_sent_between(gap.0, gap.1);
        let n = log.got_out.missing_from(&rx.received, a, b).len();
        if n > 0 {
            st.missed_offline += n;
            window_tally(&mut t.windows, kind, Some(s.subscriber_client), gap).missed_offline += n;
        }
    }
    st
}

/// What `log` got out inside `windows` (run-clock µs spans).
fn got_out_within(log: &PublishLog, windows: &[(u64, u64)]) -> u64 {
    windows
        .iter()
        .map(|&(start, end)| log.seqs_sent_between(start, end))
        .map(|(a, b)| log.got_out.count_within(a, b))
        .sum()
}

/// The share members' connections as `publisher` sees them: through
/// `across_shards` for the members on another shard.
fn members_across(
    members: &[u32],
    connections: &HashMap<u32, Vec<Connected>>,
    a: &AcrossShards,
    publisher: u32,
) -> HashMap<u32, Vec<Connected>> {
    let seen = |m: u32, conns: &[Connected]| match a.apart(publisher, m) {
        true => across_shards(conns, a.bound_us),
        false => conns.to_vec(),
    };
    members.iter().filter_map(|&m| connections.get(&m).map(|c| (m, seen(m, c)))).collect()
}

/// Why a message missing inside a live window is not lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Excused {
    /// Past its MQTT 5 expiry before the broker could deliver it.
    Expired,
    /// Sent while this share-group member's drop raced (`Windows::raced`):
    /// the broker may have routed it to the member that died.
    Raced(u32, (u64, u64)),
    /// Held for a persistent session at its cut, past its last delivery,
    /// and the session then expired (`died_with_session`).
    DiedWithSession(Span),
}

/// `successors`: `StreamRx::above_gaps` where receipt and send times are on
/// one clock (none across shards).
fn excused(
    s: &StreamRef,
    (w, behind, successors): (&Windows, &[Span], &[(u64, u64)]),
    seq: u64,
    sent: u64,
) -> Option<Excused> {
    let expired = expired_while_away(s, w, sent)
        || expired_while_held_back(s, behind, sent)
        || expired_before_its_successor(s, successors, seq, sent);
    if expired {
        return Some(Excused::Expired);
    }
    let raced = w.raced.iter().find(|(_, (a, b))| *a <= sent && sent <= *b);
    raced.map(|&(member, span)| Excused::Raced(member, span))
}

/// A message with an MQTT 5 expiry, sent while its persistent subscriber
/// was offline (from its last trusted moment: what raced the drop waited in
/// the broker's queue too) and older than its expiry when the subscriber
/// came back: the broker discards it rather than deliver it (within
/// `EXPIRY_SLACK_US`: the broker's clock and ours differ by the time on the
/// wire), so it is owed to nobody.
fn expired_while_away(s: &StreamRef, w: &Windows, sent: u64) -> bool {
    let Some(expiry) = s.message_expiry_us else { return false };
    w.offline.iter().any(|&(from, to)| from <= sent && sent <= to && to + 1 - sent + EXPIRY_SLACK_US >= expiry)
}

/// A message with an MQTT 5 expiry, sent while midge held back the
/// subscriber's reads (a `stall`, a `max_rate`: a `behind` span) and older
/// than its expiry when the subscriber caught up: the broker discards an
/// expired message when it comes to send it, to a connected client as to a
/// returning one (mosquitto does not count it as dropped). The broker sends
/// again as soon as the reads resume, so the span's end is taken to within
/// the race margin; what was sent just before the span opened (within the
/// margin) may have waited behind it too.
fn expired_while_held_back(s: &StreamRef, behind: &[Span], sent: u64) -> bool {
    let Some(expiry) = s.message_expiry_us else { return false };
    behind.iter().any(|&(from, to)| {
        from.saturating_sub(RACE_MARGIN_US) <= sent && sent <= to && to - sent + RACE_MARGIN_US >= expiry
    })
}

/// A message with an MQTT 5 expiry, missing, whose first later message
/// arrived (`StreamRx::above_gaps`) when it was older than its expiry (less
/// `EXPIRY_SLACK_US`): a broker keeps a topic's QoS ≥ 1 messages from one
/// publisher in order, so it came to this one by then at the latest — and
/// found it expired. A loaded broker that began a resumed session's queue
/// late, or sent a backlog slowly, discards what aged past its expiry while
/// it waited; its age when the subscriber came back does not show that.
/// (A broker that reorders comes to it later still: older, as expired.)
fn expired_before_its_successor(s: &StreamRef, successors: &[(u64, u64)], seq: u64, sent: u64) -> bool {
    let Some(expiry) = s.message_expiry_us else { return false };
    let next = successors.partition_point(|&(q, _)| q <= seq);
    successors.get(next).is_some_and(|&(_, at)| at + EXPIRY_SLACK_US >= sent + expiry)
}

/// A span of run-clock µs, both ends inclusive.
type Span = (u64, u64);

/// Which window a lost message (first sent at `sent`) fell in: a broker
/// restart that held it (it was waiting for an offline subscriber, or in
/// transit, when the broker died), else a session the broker discarded
/// early, else the subscriber's offline gap, else a span in which midge held
/// back the subscriber's reads (a slow consumer: the broker's queue for it
/// was full), else the publisher's offline gap, else steady state.
fn attribute(
    sent: u64,
    s: &StreamRef,
    sub: &Windows,
    (pub_gaps, behind): (&[Span], &[Span]),
    restarts: &[(u64, u64)],
) -> (LossWindow, Option<u32>, (u64, u64)) {
    let within = |(a, b): (u64, u64), x: u64| a <= x && x <= b;
    for &(kill, up) in restarts {
        let held = sub.offline.iter().any(|&g| within(g, kill) && within(g, sent));
        if held || within((kill.saturating_sub(RACE_MARGIN_US), up), sent) {
            return (LossWindow::BrokerRestart, None, (kill, up));
        }
    }
    if let Some(&g) = sub.session_lost.iter().find(|&&g| within(g, sent)) {
        return (LossWindow::SessionLost, Some(s.subscriber_client), g);
    }
    if let Some(&g) = sub.offline.iter().find(|&&g| within(g, sent)) {
        return (LossWindow::SubscriberOffline, Some(s.subscriber_client), g);
    }
    if let Some(&g) = behind.iter().find(|&&g| within(g, sent)) {
        return (LossWindow::SlowConsumer, Some(s.subscriber_client), g);
    }
    if let Some(&g) = pub_gaps.iter().find(|&&g| within(g, sent)) {
        return (LossWindow::PublisherOffline, Some(s.publisher_client), g);
    }
    (LossWindow::Steady, None, (0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(live_from: u64, heard: u64, ended: u64, end: End) -> Connected {
        Connected {
            live_from_us: Some(live_from),
            connected_us: live_from,
            heard_us: heard,
            wrote_us: heard,
            slowest_delivery_us: 0,
            ended_us: ended,
            end,
            session_present: true,
        }
    }

    /// One publisher (client 7) to one subscriber (client 8) on one broker.
    fn one_stream<'a>(
        streams: &'a [StreamRef],
        log: &'a PublishLog,
        rx: &'a RxLog,
        subscriber: Vec<Connected>,
        run_end_us: u64,
    ) -> TallyInput<'a> {
        TallyInput {
            streams,
            publish_logs: HashMap::from([(7, log)]),
            rx_logs: HashMap::from([(8, rx)]),
            connections: HashMap::from([(8, subscriber)]),
            restarts: &[],
            run_end_us,
            shares: Vec::new(),
            behind: HashMap::new(),
            across: None,
            held_at_end: HashSet::new(),
        }
    }

    fn log_every_10us(n: u64, qos: u8) -> PublishLog {
        let mut log = PublishLog::new(qos);
        for seq in 0..n {
            log.sent.push(1_000_000 + seq * 10_000);
        }
        log.got_out.insert_range(0, n);
        log
    }

    fn stream(persistent: bool) -> StreamRef {
        StreamRef {
            publisher_client: 7,
            publisher_index: 0,
            subscriber_client: 8,
            qos: 1,
            persistent,
            session_expiry_us: None,
            share: None,
            message_expiry_us: None,
            over_max_packet_size: false,
        }
    }

    #[test]
    fn tally_counts_only_what_was_sent_while_the_subscription_was_live() {
        let mut log = PublishLog::new(1);
        for seq in 0..10u64 {
            log.sent.push(100_000 + seq * 10_000);
        }
        // 0..=8 acknowledged, 9 in doubt.
        log.got_out.insert_range(0, 9);
        log.in_doubt.insert(9);
        let mut rx = RxLog::default();
        let stream_rx = rx.streams.entry(0).or_default();
        for seq in [2, 3, 5, 6, 6, 9] {
            stream_rx.record(seq, 0);
        }
        // Live from t=120 ms (seq 2) to a graceful end.
        let t = tally(&one_stream(
            &[stream(false)],
            &log,
            &rx,
            vec![conn(120_000, 1_000_000, 1_000_000, End::Closed)],
            1_000_000,
        ));
        // Expected: seqs 2..=8 acked = 7. Received 2,3,5,6,9 = 5 distinct. Lost: 4,7,8.
        assert_eq!(t.total.expected, 7);
        assert_eq!(t.total.received, 5);
        assert_eq!(t.total.lost, 3);
        assert_eq!(t.total.duplicated, 1);
        assert_eq!(t.total.in_doubt, 1);
        assert_eq!(t.total.published, 10);
        assert_eq!(t.total.acked, 9);
        assert_eq!(t.streams[0].lost_ranges, vec![(4, 5), (7, 9)]);
        assert_eq!(t.by_qos[1].lost, 3);
        assert_eq!(t.lost_by_window[&LossWindow::Steady], 3);
    }

    #[test]
    fn a_publishers_own_resend_below_the_highest_sequence_is_not_reordering() {
        // 20 messages; seqs 6 and 7 were lost on the way to the broker and
        // sent again (DUP) by the publisher; the subscriber got them after
        // 8..=12, and 15 after 16 (the broker's reordering: never resent).
        let mut log = log_every_10us(20, 1);
        log.resent.insert_range(6, 8);
        let mut rx = RxLog::default();
        for seq in (0..6).chain(8..13).chain([6, 7]).chain(13..15).chain([16, 15]).chain(17..20) {
            rx.streams.entry(0).or_default().record(seq, 0);
        }
        assert_eq!(rx.streams[&0].out_of_order, 3);
        let t = tally(&one_stream(
            &[stream(false)],
            &log,
            &rx,
            vec![conn(900_000, 2_000_000, 2_000_000, End::Closed)],
            2_000_000,
        ));
        assert_eq!((t.total.expected, t.total.received, t.total.lost, t.total.out_of_order), (20, 20, 0, 1));
    }

    #[test]
    fn loss_while_the_subscriber_was_behind_is_a_slow_consumer_window() {
        // 100 messages, one every 10 ms from t=1 s; the subscriber stays
        // connected throughout and was behind from 1.2 s to 1.5 s. It lost
        // seqs 25..=39 (sent 1.25–1.39 s, inside the span) and seq 80 (1.8 s,
        // outside it: steady).
        let log = log_every_10us(100, 1);
        let mut rx = RxLog::default();
        for seq in (0..25).chain(40..80).chain(81..100) {
            rx.streams.entry(0).or_default().record(seq, 0);
        }
        let t = tally(&TallyInput {
            behind: HashMap::from([(8, vec![(1_200_000, 1_500_000)])]),
            ..one_stream(&[stream(false)], &log, &rx, vec![conn(900_000, 3_000_000, 3_000_000, End::Closed)], 3_000_000)
        });
        assert_eq!(t.total.lost, 16);
        assert_eq!(t.lost_by_window[&LossWindow::SlowConsumer], 15);
        assert_eq!(t.lost_by_window[&LossWindow::Steady], 1);
        let w = &t.windows[0];
        assert_eq!(
            (w.kind, w.client, w.start_us, w.end_us, w.lost),
            (LossWindow::SlowConsumer, Some(8), 1_200_000, 1_500_000, 15)
        );
    }

    #[test]
    fn messages_past_their_expiry_when_a_persistent_subscriber_returns_are_expired_not_lost() {
        // 100 messages, one every 10 ms from t=1 s, expiring after 600 ms.
        // The persistent subscriber is heard until 1.3 s (trusted to 1.25 s,
        // the race margin), drops at 1.31 s and resumes at 1.8 s; it got
        // 0..=25 and 80..100. Seqs 26..80 were sent while it was offline:
        // those at least 600 ms - 500 ms slack old at 1.8 s (sent by 1.7 s,
        // 26..=70) the broker may have discarded; 71..80 it owed.
        let log = log_every_10us(100, 1);
        let mut rx = RxLog::default();
        for seq in (0..=25).chain(80..100) {
            rx.streams.entry(0).or_default().record(seq, 0);
        }
        let conns =
            vec![conn(900_000, 1_300_000, 1_310_000, End::Dropped), conn(1_800_000, 2_500_000, 2_500_000, End::Closed)];
        let mut s = stream(true);
        s.message_expiry_us = Some(600_000);
        let input = |s: StreamRef| tally(&one_stream(&[s], &log, &rx, conns.clone(), 2_500_000));
        let t = input(s);
        assert_eq!((t.total.expired, t.total.lost, t.total.expected, t.total.received), (45, 9, 55, 46));
        assert_eq!(t.streams[0].lost_ranges, vec![(71, 80)]);
        // Expiring after 2 s instead, nothing was past it: all 54 are lost.
        s.message_expiry_us = Some(2_000_000);
        let t = input(s);
        assert_eq!((t.total.expired, t.total.lost, t.total.expected), (0, 54, 100));
        assert_eq!(t.streams[0].lost_ranges, vec![(26, 80)]);
    }

    #[test]
    fn messages_that_aged_past_their_expiry_before_a_late_backlog_came_are_expired_not_lost() {
        // As above (100 messages every 10 ms from 1 s, the subscriber away
        // from 1.31 s to 1.8 s, 0..=25 and 80..100 received), but the broker
        // began the resumed queue late: 80 arrived at 2.4 s. By then 71..80
        // (sent 1.71–1.79 s) were 0.61 s and more old, past a 600 ms expiry:
        // the broker, keeping the topic's order, came to them before 80 and
        // found them expired. With the backlog on time (80 at 1.8 s) they are
        // lost; with a 2 s expiry nothing was that old, wherever 80 came.
        let log = log_every_10us(100, 1);
        let conns =
            vec![conn(900_000, 1_300_000, 1_310_000, End::Dropped), conn(1_800_000, 2_500_000, 2_500_000, End::Closed)];
        let received_with_80_at = |at_80: u64| {
            let mut rx = RxLog::default();
            let stream = rx.streams.entry(0).or_default();
            for seq in 0..=25 {
                stream.record(seq, 1_000_000 + seq * 10_000 + 1_000);
            }
            for seq in 80..100 {
                stream.record(seq, at_80 + (seq - 80) * 1_000);
            }
            rx
        };
        let run = |expiry_us: u64, at_80: u64| {
            let mut s = stream(true);
            s.message_expiry_us = Some(expiry_us);
            let rx = received_with_80_at(at_80);
            let t = tally(&one_stream(&[s], &log, &rx, conns.clone(), 2_500_000));
            (t.total.expired, t.total.lost, t.total.expected)
        };
        assert_eq!(run(600_000, 2_400_000), (54, 0, 46));
        assert_eq!(run(600_000, 1_800_000), (45, 9, 55));
        assert_eq!(run(2_000_000, 2_400_000), (0, 54, 100));
        // 80 at 2.0 s: 2.0 + 0.5 slack ≥ sent + 0.6 for sent ≤ 1.9 s: all of 71..80 too.
        assert_eq!(run(600_000, 2_000_000), (54, 0, 46));
        // 80 at 1.85 s: only those sent by 1.75 s (71..=75) aged past it.
        assert_eq!(run(600_000, 1_850_000), (50, 4, 50));
    }

    #[test]
    fn messages_past_their_expiry_when_a_held_back_subscriber_caught_up_are_expired_not_lost() {
        // 100 messages, one every 10 ms from t=1 s, expiring after 500 ms.
        // The subscriber stays connected; midge held back its reads from
        // 1.2 s until it caught up at 2.0 s. Missing: 10 (sent 1.1 s, before
        // the span: lost), 16 (1.16 s, within the race margin before it),
        // and 20..=60 (1.2–1.6 s). Those at least 500 ms - 50 ms old at 2.0 s
        // (sent by 1.55 s: 16 and 20..=55) expired in the broker's queue;
        // 56..=60 it could still have delivered: lost while behind.
        let log = log_every_10us(100, 1);
        let mut rx = RxLog::default();
        for seq in (0..100).filter(|s| *s != 10 && *s != 16 && !(20..=60).contains(s)) {
            rx.streams.entry(0).or_default().record(seq, 0);
        }
        let mut s = stream(false);
        s.message_expiry_us = Some(500_000);
        let input = |s: StreamRef| {
            tally(&TallyInput {
                behind: HashMap::from([(8, vec![(1_200_000, 2_000_000)])]),
                ..one_stream(&[s], &log, &rx, vec![conn(900_000, 3_000_000, 3_000_000, End::Closed)], 3_000_000)
            })
        };
        let t = input(s);
        assert_eq!((t.total.expired, t.total.lost, t.total.expected, t.total.received), (37, 6, 63, 57));
        assert_eq!(t.streams[0].lost_ranges, vec![(10, 11), (56, 61)]);
        assert_eq!((t.lost_by_window[&LossWindow::SlowConsumer], t.lost_by_window[&LossWindow::Steady]), (5, 1));
        // Without an expiry all 43 are lost.
        let t = input(stream(false));
        assert_eq!((t.total.expired, t.total.lost, t.total.expected), (0, 43, 100));
    }

    #[test]
    fn clean_session_misses_what_was_sent_while_offline_and_loses_nothing() {
        // 100 messages, one every 10 ms from t=1 s. The subscriber is heard
        // until t=1.3 s (seq 30 arrived), drops, and is live again at t=1.6 s.
        let log = log_every_10us(100, 1);
        let mut rx = RxLog::default();
        for seq in (0..=30).chain(60..100) {
            rx.streams.entry(0).or_default().record(seq, 0);
        }
        let conns =
            vec![conn(900_000, 1_300_000, 1_310_000, End::Dropped), conn(1_600_000, 2_500_000, 2_500_000, End::Closed)];
        let t = tally(&one_stream(&[stream(false)], &log, &rx, conns.clone(), 3_000_000));
        // Trusted until 1.3 s - 50 ms = 1.25 s: seqs 0..=25 expected in the first window.
        assert_eq!(t.total.lost, 0, "{:?}", t.streams[0]);
        assert_eq!(t.total.missed_offline, 29, "seqs 31..=59 were sent while it was away, 26..=30 still arrived");
        assert_eq!(t.total.expected, 26 + 40);
        assert_eq!(t.total.received, 71);
        assert_eq!(t.total.received + t.total.missed_offline, 100, "every message either arrived or was missed");
        assert_eq!(t.windows.len(), 1);
        assert_eq!(t.windows[0].kind, LossWindow::SubscriberOffline);
        assert_eq!(t.windows[0].missed_offline, 29);

        // The same connections with a persistent session: everything is
        // expected, and what never arrived is lost while offline.
        let t = tally(&one_stream(&[stream(true)], &log, &rx, conns, 3_000_000));
        assert_eq!(t.total.expected, 100);
        assert_eq!(t.total.lost, 29, "seqs 31..=59");
        assert_eq!(t.total.queued_offline, 28, "seqs 32..=59 were sent after it ended at 1.31 s");
        assert_eq!(t.lost_by_window[&LossWindow::SubscriberOffline], 29, "all sent after 1.25 s");
        assert_eq!(t.lost_by_window[&LossWindow::Steady], 0);
    }

    #[test]
    fn what_a_session_held_at_its_cut_past_its_last_delivery_went_with_it_when_it_expired() {
        // 100 messages, one every 10 ms from t=1 s. The persistent
        // subscriber (session expiry 200 ms) is heard until 1.3 s, trusted to
        // 1.25 s (seqs 0..=25); the broker was behind at the cut: 21..=25 never
        // came, nor 10 (below the later 20). Back at 1.6 s, its session gone.
        let log = log_every_10us(100, 1);
        let mut rx = RxLog::default();
        for seq in (0..10).chain(11..=20).chain(60..100) {
            rx.streams.entry(0).or_default().record(seq, 0);
        }
        let mut back = conn(1_600_000, 2_500_000, 2_500_000, End::Closed);
        back.session_present = false;
        let conns = vec![conn(900_000, 1_300_000, 1_310_000, End::Dropped), back];
        let mut s = stream(true);
        s.session_expiry_us = Some(200_000);
        let t = tally(&one_stream(&[s], &log, &rx, conns, 3_000_000));
        assert_eq!(t.total.lost, 1, "seq 10, below the later delivery of 20: {:?}", t.streams[0]);
        assert_eq!(t.streams[0].lost_ranges, vec![(10, 11)]);
        assert_eq!(
            t.total.missed_offline,
            5 + 34,
            "21..=25 went with the session, 26..=59 were sent while it was away"
        );
        assert_eq!((t.total.expected, t.total.received), (26 - 5 + 40, 60));
        assert_eq!(t.windows.len(), 1);
        assert_eq!((t.windows[0].kind, t.windows[0].missed_offline), (LossWindow::SessionExpired, 39));
    }

    #[test]
    fn loss_held_by_a_restarted_broker_is_attributed_to_the_restart() {
        let log = log_every_10us(100, 1);
        let mut rx = RxLog::default();
        for seq in (0..=30).chain(80..100) {
            rx.streams.entry(0).or_default().record(seq, 0);
        }
        // Offline from 1.25 s; the broker dies at 1.5 s and is back at 1.6 s;
        // the subscriber resubscribes at 1.8 s.
        let conns =
            vec![conn(900_000, 1_300_000, 1_310_000, End::Dropped), conn(1_800_000, 2_500_000, 2_500_000, End::Closed)];
        let t = tally(&TallyInput {
            streams: &[stream(true)],
            publish_logs: HashMap::from([(7, &log)]),
            rx_logs: HashMap::from([(8, &rx)]),
            connections: HashMap::from([(8, conns)]),
            restarts: &[(1_500_000, 1_600_000)],
            run_end_us: 3_000_000,
            shares: Vec::new(),
            behind: HashMap::new(),
            across: None,
            held_at_end: HashSet::new(),
        });
        assert_eq!(t.total.lost, 49, "seqs 31..=79");
        assert_eq!(t.lost_by_window[&LossWindow::BrokerRestart], 49, "held for the offline subscriber when it died");
        assert_eq!(t.lost_by_window[&LossWindow::SubscriberOffline], 0);
        let w = t.windows.iter().find(|w| w.kind == LossWindow::BrokerRestart).unwrap();
        assert_eq!((w.start_us, w.end_us, w.lost, w.client), (1_500_000, 1_600_000, 49, None));
    }

    /// sub8 is live from 0.9 s, leaves on plan at 2.0 s (its DISCONNECT
    /// at 2.05 s) and comes back at 3.0 s to the end (4 s).
    fn leave_and_return() -> [Connected; 2] {
        let left =
            Connected { end: End::Left { at_us: 2_000_000 }, ..conn(900_000, 1_990_000, 2_050_000, End::Closed) };
        [left, conn(3_000_000, 4_000_000, 4_000_000, End::Closed)]
    }

    #[test]
    fn a_planned_leave_is_owed_nothing_after_it_nor_what_raced_it() {
        let [left, back] = leave_and_return();
        // Clean session: trusted to the race margin before the leave; owed
        // nothing while away, and nothing is missed either.
        let w = windows(&[left, back], false, None, 4_000_000);
        assert_eq!(w.live, vec![(900_000, 1_950_000), (3_000_000, 4_000_000)]);
        assert_eq!((w.offline.len(), w.away.len(), w.expired.len()), (0, 0, 0));
        assert_eq!(w.left, vec![(1_950_001, 2_999_999)], "away on plan");
        let w = windows(&[left], false, None, 4_000_000);
        assert_eq!((w.live, w.offline), (vec![(900_000, 1_950_000)], vec![]), "gone for good");
        // Persistent session: the broker queues for it while away, as after a drop.
        let w = windows(&[left, back], true, None, 4_000_000);
        assert_eq!(w.live, vec![(900_000, 4_000_000)]);
        assert_eq!(w.away, vec![(2_050_001, 2_999_999)]);
        assert!(w.left.is_empty(), "owed its queue: not away on plan");
        // A leaving publisher is no offline publisher.
        assert!(publisher_gaps(&[left, back], 4_000_000).is_empty());
    }

    /// pub7 sends every 10 ms from 1 s to 3.99 s. sub8 (clean session)
    /// received up to seq 96 (sent at 1.96 s) before its leave at 2.0 s —
    /// 97..=99 were in flight — and everything from its return at 3.0 s.
    #[test]
    fn what_was_in_flight_at_a_planned_leave_is_not_lost() {
        let log = log_every_10us(300, 1);
        let mut rx = RxLog::default();
        for seq in (0..=96).chain(200..300) {
            rx.streams.entry(0).or_default().record(seq, 0);
        }
        let t = tally(&one_stream(&[stream(false)], &log, &rx, leave_and_return().to_vec(), 4_000_000));
        // Owed: seqs 0..=95 (sent by 1.95 s) and 200..=299.
        assert_eq!((t.total.expected, t.total.received, t.total.lost), (196, 197, 0));
        assert_eq!((t.total.missed_offline, t.total.queued_offline), (0, 0));
        assert!(t.windows.is_empty(), "{:?}", t.windows);
    }

    #[test]
    fn windows_follow_connections() {
        let c = [conn(10, 200_000, 200_100, End::Dropped), conn(300_000, 400_000, 400_000, End::Closed)];
        let w = windows(&c, false, None, 1_000_000);
        assert_eq!(w.live, vec![(10, 150_000), (300_000, 400_000)]);
        assert_eq!(w.offline, vec![(150_001, 299_999)]);
        assert_eq!(w.away, vec![(200_101, 299_999)]);
        let w = windows(&c, true, None, 1_000_000);
        assert_eq!(w.live, vec![(10, 400_000)]);
        // A client that dropped and never came back is offline to the end.
        let w = windows(&c[..1], false, None, 1_000_000);
        assert_eq!(w.offline, vec![(150_001, 1_000_000)]);
    }
}
