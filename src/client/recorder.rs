//! A client's accounting: what it published and got out (its `PublishLog`),
//! what it received (its `RxLog`), and the shared histograms and counters in
//! its metrics shard. The client task calls it; it does no I/O.
//!
//! QoS 0 is got out once written: `queued` puts a QoS 0 message in the send log
//! only; `written` adds it to `got_out` once the flush that carried it
//! succeeded. A QoS 0 message whose write failed was published but is owed to
//! nobody. QoS 1/2: in flight when queued, in `got_out` when acknowledged
//! (`acked`), refused ones counted in `rejected`.
//!
//! In doubt is never lost: QoS 1/2 publishes unacknowledged when their session
//! is gone go to `PublishLog::in_doubt` (`in_doubt`), outside `got_out`.
//!
//! A delivery counts only once its acknowledgement was written: `take_in` notes
//! it; `record_deliveries` puts it in the receipt log and the shard (e2e
//! histograms, the received counters, the slowest delivery) only after the
//! flush that carried its PUBACK / PUBREC succeeded, or every 256 deliveries
//! (`UnrecordedDeliveries`). If the flush fails, `forget_unacknowledged` drops
//! them — the broker still holds them and will deliver them again — and returns
//! the packet ids of the QoS 2 ones, which `Session::forget_inbound` takes out
//! of the inbound QoS 2 state.
//!
//! Counted apart, never as deliveries: a will (payload `midge-will/…`, not the
//! tracking header) goes to `RxLog::wills` only (another run's counts as
//! stale); a tracked PUBLISH with RETAIN set is the broker replaying a retained
//! message on subscribe, which the protocol requires: it counts in
//! `retained_replays` / `retained_from` only — never a receipt, a duplicate, an
//! e2e sample, or a slowest delivery that would widen the live-window margin;
//! another run's retained message counts in `stale` and `stale_retained`.
//!
//! The slowest delivery (`Generation::slowest_delivery_us`, the margin a
//! subscriber is distrusted by before a drop, and `Delivery::first`, the
//! drain's quiet period) is taken from first deliveries only: never a DUP
//! copy, a sequence this subscriber already has (a resend), or a resumed
//! backlog — a message sent before this connection's CONNACK, which the
//! broker queued while the subscriber was away. Deliveries midge held back
//! (`held_back`: a stall, a `max_rate`) count for the connection's margin but
//! not for the drain's quiet period: their lateness is midge's own doing.
//!
//! The witness (`record::wire::Witness`, made at its first sighting): where
//! deliveries are recorded, a QoS ≥ 1 copy of a message already taken in
//! with DUP = 0 and a reorder are sighted (`record_deliveries`); the rest of
//! what it sees comes from `client::witness`.
//!
//! Latencies recorded here: `connect*` (`connected`, from `ConnectTimes`),
//! `e2e` / `e2e_uncorrected` (from the header's intended and actual send
//! times), `ack` (`acked`), `suback` (`suback`), `publish_lag`
//! (`record_publishes`).

use super::session::Outbound;
use crate::metrics::{Delivery, Metrics, UnrecordedDeliveries};
use crate::mqtt::codec::Publish;
use crate::mqtt::connection::Received;
use crate::mqtt::flight::FlightRecorder;
use crate::payload::{Decoded, Header};
use crate::record::clock::RunClock;
use crate::record::logs::{PublishLog, RxLog, RxOutcome};
use crate::record::wire::{Sighting, WirePacket, Witness};
use crate::record::{Counters, Generation};
use std::sync::atomic::Ordering;

/// How long each step of a successful connect took (µs): to CONNACK in
/// all (every handshake included), and the TCP connect, TLS and WebSocket
/// handshakes alone (the last two only when they happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectTimes {
    pub total_us: u64,
    pub tcp_us: u64,
    pub tls_us: Option<u64>,
    pub ws_us: Option<u64>,
}

impl ConnectTimes {
    /// From a dial's step times (run-clock µs), CONNACK read at `connack_us`.
    pub fn of(d: &crate::mqtt::handshake::Dialed, connack_us: u64) -> ConnectTimes {
        let ws_from = d.tls_us.unwrap_or(d.tcp_us);
        ConnectTimes {
            total_us: connack_us - d.started_us,
            tcp_us: d.tcp_us - d.started_us,
            tls_us: d.tls_us.map(|t| t - d.tcp_us),
            ws_us: d.ws_us.map(|w| w - ws_from),
        }
    }
}

pub struct Recorder {
    shard: usize,
    // Boxed: only publishers (or subscribers) have one, and an idle
    // client's task should carry no more than a pointer for them.
    publish_log: Option<Box<PublishLog>>,
    rx: Option<Box<RxLog>>,
    /// Deliveries taken in whose acknowledgements are not written yet.
    unrecorded: UnrecordedDeliveries,
    /// QoS 0 messages queued but not yet written to the socket: [start, end).
    unwritten: (u64, u64),
    /// What it saw that a rule may forbid (made at the first sighting).
    witness: Option<Box<Witness>>,
}

/// Where a batch of deliveries was recorded: when, on which connection,
/// and that connection's flight recorder (for a sighting's neighbours).
pub struct Batch<'a> {
    pub at_us: u64,
    pub connection: u32,
    pub flight: &'a FlightRecorder,
    /// This subscriber's broker and each publisher's (`record_deliveries`).
    pub route: (u16, &'a [u16]),
}

impl Recorder {
    pub fn new(shard: usize, publish_qos: Option<u8>, subscribes: bool) -> Recorder {
        Recorder {
            shard,
            publish_log: publish_qos.map(|q| Box::new(PublishLog::new(q))),
            rx: subscribes.then(Box::default),
            unrecorded: UnrecordedDeliveries::default(),
            unwritten: (0, 0),
            witness: None,
        }
    }

    pub fn count(&self, m: &Metrics, f: impl FnOnce(&mut Counters)) {
        m.with(self.shard, |s| f(&mut s.counters));
    }

    /// A successful connect: its latency to CONNACK, and of each step that
    /// happened (TCP; TLS and WebSocket handshakes only when they did).
    pub fn connected(&self, m: &Metrics, t: ConnectTimes) {
        m.with(self.shard, |s| {
            s.latency.connect.record(t.total_us.max(1));
            s.latency.connect_tcp.record(t.tcp_us.max(1));
            if let Some(us) = t.tls_us {
                s.latency.connect_tls.record(us.max(1));
            }
            if let Some(us) = t.ws_us {
                s.latency.connect_ws.record(us.max(1));
            }
            s.counters.connects += 1;
        });
    }

    pub fn suback(&self, m: &Metrics, latency_us: u64) {
        m.with(self.shard, |s| s.latency.suback.record(latency_us.max(1)));
    }

    /// Messages this publisher has written so far.
    pub fn published(&self) -> u64 {
        self.publish_log.as_ref().map_or(0, |l| l.published())
    }

    /// A PUBLISH taken in: its header decoded, its latency noted; recorded
    /// once its acknowledgement is written (`record_deliveries`). A replay of
    /// a retained message (RETAIN set on delivery) is counted apart: the
    /// protocol requires it on subscribe, so it is no duplicate, and its age
    /// is no latency. Returns a tracked delivery's age from its actual send.
    /// `held_back`: midge was holding back this subscriber's reads. `received`:
    /// when (the kernel's stamp where there is one, `Connection::received_at`).
    /// `as_published`: the subscription has MQTT 5 Retain As Published, so
    /// a live delivery keeps its RETAIN too; a replay is then one sent
    /// before this connection came up, on a connection that subscribed (a
    /// resumed session's queued messages are no replay). `existed`: this
    /// connection resumed a session holding a granted subscription and
    /// subscribed again (`Client::subscribed_again`), its replays counted
    /// in `replays_on_existing` too.
    pub fn take_in(
        &mut self,
        m: &Publish,
        (run_id, clock): (u64, RunClock),
        received: Received,
        gen: &mut Generation,
        (held_back, as_published, existed): (bool, bool, bool),
    ) -> Option<u64> {
        let now = received.at_us;
        let rx = self.rx.get_or_insert_with(Default::default);
        if let Some((run, client, connection)) = crate::plan::parse_will_payload(&m.payload) {
            match run == run_id {
                true => rx.wills.push(crate::record::logs::WillRx { client, connection, at_us: now }),
                false => rx.stale += 1,
            }
            return None;
        }
        let came_up_unix = clock.unix_us(gen.connected_us.unwrap_or(0));
        let subscribed_here = !gen.session_present || gen.suback_code.is_some();
        let replay = |h: &Header| m.retain && !(as_published && (h.sent_us >= came_up_unix || !subscribed_here));
        match Header::decode(&m.payload, run_id) {
            Decoded::Tracked(h) if replay(&h) => {
                rx.retained_replays += 1;
                rx.replays_on_existing += u64::from(existed);
                *rx.retained_from.entry(h.publisher).or_default() += 1;
            }
            Decoded::Stale if m.retain => {
                rx.stale += 1;
                rx.stale_retained += 1;
            }
            Decoded::Tracked(h) => {
                let qos = m.qos;
                let pkid = m.pkid;
                let now_unix = clock.unix_us(now);
                let e2e_us = now_unix.saturating_sub(h.intended_us).max(1);
                let one_way_us = now_unix as i64 - h.sent_us as i64;
                let raw_us = one_way_us.max(1) as u64;
                // Queued while away (or in flight at the drop), a copy, a resend: not first.
                let resumed = h.sent_us < came_up_unix;
                let again = rx.streams.get(&h.publisher).is_some_and(|s| s.received.contains(h.seq));
                let first = !(m.dup || resumed || again);
                if first {
                    gen.slowest_delivery_us = gen.slowest_delivery_us.max(raw_us);
                }
                self.unrecorded.push(Delivery {
                    qos: qos.min(2),
                    pkid,
                    publisher: h.publisher,
                    seq: h.seq,
                    e2e_us,
                    one_way_us,
                    first: first && !held_back,
                    dup: m.dup,
                    receive_delay_us: received.delay_us,
                });
                return Some(raw_us);
            }
            Decoded::Stale => rx.stale += 1,
            Decoded::Foreign => rx.foreign += 1,
        }
        None
    }

    /// The retained replays taken in so far, and of them those on a
    /// subscription that existed (`RxLog::replays_on_existing`).
    pub fn replays(&self) -> (u64, u64) {
        self.rx.as_ref().map_or((0, 0), |rx| (rx.retained_replays, rx.replays_on_existing))
    }

    /// So many deliveries wait that their acknowledgements should go out now.
    pub fn deliveries_pile_up(&self) -> bool {
        self.unrecorded.is_full()
    }

    /// Records the deliveries taken in since the last call: into the receipt
    /// log, and into the shared histograms under one shard lock. A QoS ≥ 1
    /// copy with DUP = 0 or a reorder is sighted (`Witness`), at `batch`.
    /// `batch.route`, in a run of several brokers: this subscriber's broker
    /// and each publisher's (`Plan::publisher_brokers`), for e2e per pair of
    /// brokers (empty with one broker: no pair is recorded).
    pub fn record_deliveries(&mut self, m: &Metrics, batch: &Batch) {
        let (to, from) = batch.route;
        if self.unrecorded.is_empty() {
            return;
        }
        let rx = self.rx.get_or_insert_with(Default::default);
        for d in self.unrecorded.deliveries() {
            let stream = rx.streams.entry(d.publisher).or_default();
            let outcome = stream.record(d.seq, batch.at_us);
            stream.note_one_way(d.one_way_us);
            let what = match outcome {
                _ if d.qos == 0 => continue,
                RxOutcome::Duplicate if !d.dup => Sighting::CopyWithoutDup,
                RxOutcome::OutOfOrder => Sighting::Reordered,
                _ => continue,
            };
            let w = self.witness.get_or_insert_with(Default::default);
            if what == Sighting::CopyWithoutDup {
                w.copy(d.publisher, d.seq);
            }
            let p = WirePacket {
                t_us: batch.at_us,
                connection: batch.connection,
                packet_type: 3,
                flags: (d.dup as u8) << 3 | d.qos << 1,
                pkid: d.pkid,
                publisher: Some(d.publisher),
                seq: Some(d.seq),
                ..Default::default()
            };
            w.sight(what, p, || batch.flight.snapshot());
        }
        let unrecorded = &mut self.unrecorded;
        let pair_of = |p: u32| Some((*from.get(p as usize)?, to));
        let slowest_us = m.with(self.shard, |s| unrecorded.drain_into(s, pair_of));
        m.slowest_delivery_us.fetch_max(slowest_us, Ordering::Relaxed);
    }

    /// Their acknowledgements could not be written: the broker still holds
    /// them and will deliver them again, so they do not count. Returns the
    /// packet ids of the QoS 2 ones: the session must take their redelivery
    /// as new, or a PUBREC that never arrived would turn into a loss.
    pub fn forget_unacknowledged(&mut self) -> Vec<u16> {
        let pkids = self.unrecorded.qos2_pkids().collect();
        self.unrecorded.clear();
        pkids
    }

    /// A message queued for the socket: QoS 1/2 is in flight now; QoS 0 is
    /// out once the write succeeds (`written`).
    pub fn queued(&mut self, m: &Metrics, qos: u8, seq: u64, now: u64) {
        let log = self.publish_log.get_or_insert_with(|| Box::new(PublishLog::new(qos)));
        log.sent.push(now);
        m.mark_published(now);
        if qos > 0 {
            m.inflight.fetch_add(1, Ordering::Relaxed);
        } else if self.unwritten.0 == self.unwritten.1 {
            self.unwritten = (seq, seq + 1);
        } else {
            self.unwritten.1 = seq + 1;
        }
    }

    /// The queued messages reached the socket (`ok`), or never will.
    pub fn written(&mut self, ok: bool) {
        let (start, end) = std::mem::take(&mut self.unwritten);
        if let (true, Some(log)) = (ok && end > start, self.publish_log.as_mut()) {
            log.got_out.insert_range(start, end);
        }
    }

    /// A batch written: counted, with how late each left against its slot.
    pub fn record_publishes(&self, m: &Metrics, qos: u8, lags: &[u64]) {
        m.with(self.shard, |s| {
            s.counters.published[qos as usize] += lags.len() as u64;
            for &lag in lags {
                s.latency.publish_lag.record(lag);
            }
        });
    }

    /// Our publish `seq` was acknowledged (or, `rejected`, refused).
    pub fn acked(&mut self, m: &Metrics, seq: u64, latency_us: u64, rejected: bool) {
        m.inflight.fetch_sub(1, Ordering::Relaxed);
        let Some(log) = self.publish_log.as_mut() else { return };
        if rejected {
            self.count(m, |c| c.rejected += 1);
            return;
        }
        log.got_out.insert(seq);
        // What was acknowledged is counted from the log (`got_out`), once, by the tally.
        m.with(self.shard, |s| s.latency.ack.record(latency_us.max(1)));
    }

    /// Our publish `seq` went out again (DUP): a copy the broker may deliver
    /// below the highest sequence, by our doing, not its reordering.
    pub fn resent(&mut self, seq: u64) {
        if let Some(log) = self.publish_log.as_mut() {
            log.resent.insert_bounded(seq);
        }
    }

    /// Publishes still in flight when their session is gone are in doubt.
    pub fn in_doubt(&mut self, m: &Metrics, left: Vec<Outbound>) {
        m.inflight.fetch_sub(left.len() as i64, Ordering::Relaxed);
        if let Some(log) = self.publish_log.as_mut() {
            for o in left {
                log.in_doubt.insert(o.seq);
            }
        }
    }

    /// The witness, made at its first sighting.
    pub fn witness(&mut self) -> &mut Witness {
        self.witness.get_or_insert_with(Default::default)
    }

    /// The witness so far (for a snapshot), or for good (for the record).
    pub fn copy_witness(&self) -> Option<Box<Witness>> {
        self.witness.clone()
    }

    pub fn take_witness(&mut self) -> Option<Box<Witness>> {
        self.witness.take()
    }

    /// A connection (timeline index) ended still awaiting its resumed
    /// session's backlog: nothing came on it (`RxLog::backlog_never_began`).
    pub fn backlog_never_began(&mut self, connection: u32) {
        if let Some(rx) = self.rx.as_mut() {
            rx.backlog_never_began.push(connection);
        }
    }

    /// The logs, for the run record.
    /// Copies of the logs so far (for a snapshot).
    pub fn copy_logs(&self) -> (Option<Box<PublishLog>>, Option<Box<RxLog>>) {
        (self.publish_log.clone(), self.rx.clone())
    }

    /// Boxed as they are: a client's record stays small in the swarm's
    /// list of records (`ClientRecord`).
    pub fn into_logs(self) -> (Option<Box<PublishLog>>, Option<Box<RxLog>>) {
        (self.publish_log, self.rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};

    const RUN: u64 = 0x5eed;

    /// Publisher 0's `seq`, sent at run-clock `sent_us`.
    fn delivery(clock: RunClock, seq: u64, sent_us: u64, dup: bool) -> Publish {
        let mut payload = BytesMut::new();
        let unix = clock.unix_us(sent_us);
        Header { run_id: RUN, publisher: 0, seq, intended_us: unix, sent_us: unix }.write(64, &mut payload);
        Publish {
            dup,
            qos: 1,
            retain: false,
            topic: Bytes::new(),
            pkid: 1,
            props: Bytes::new(),
            payload: payload.freeze(),
        }
    }

    fn record(r: &mut Recorder, m: &Metrics) {
        let flight = FlightRecorder::default();
        r.record_deliveries(m, &Batch { at_us: 0, connection: 0, flight: &flight, route: (0, &[]) });
    }

    /// Taken in by midge at `us`, with no kernel stamp.
    fn at(us: u64) -> Received {
        Received { at_us: us, delay_us: None }
    }

    /// With a kernel stamp, e2e runs to the kernel's receive time, and
    /// midge's own delay after it goes to `receive_delay`; without one,
    /// e2e runs to midge's time and no delay is recorded.
    #[test]
    fn a_kernel_stamp_is_the_receive_time_and_the_rest_is_midges_delay() {
        let clock = RunClock::new();
        let m = Metrics::new(1);
        let mut r = Recorder::new(0, None, true);
        let mut gen = Generation { connected_us: Some(1_000_000), ..Default::default() };
        // Sent (and intended) at 2 s; the kernel had it at 2.0003 s, midge took it in 1.5 ms later.
        let stamped = Received { at_us: 2_000_300, delay_us: Some(1_500) };
        assert_eq!(
            r.take_in(&delivery(clock, 0, 2_000_000, false), (RUN, clock), stamped, &mut gen, (false, false, false)),
            Some(300)
        );
        // Another, unstamped (a read the kernel had no stamp for), taken in 700 µs after its send.
        r.take_in(&delivery(clock, 1, 2_100_000, false), (RUN, clock), at(2_100_700), &mut gen, (false, false, false));
        record(&mut r, &m);
        let l = m.totals().1;
        assert_eq!((l.e2e.len(), l.e2e.min(), l.e2e.max()), (2, 300, 700));
        assert_eq!((l.receive_delay.len(), l.receive_delay.min(), l.receive_delay.max()), (1, 1_500, 1_500));
    }

    #[test]
    fn only_first_deliveries_set_the_slowest_delivery() {
        let clock = RunClock::new();
        let m = Metrics::new(1);
        let mut r = Recorder::new(0, None, true);
        // A connection up at 10 s; seq 0 comes 20 ms after its send.
        let mut gen = Generation { connected_us: Some(10_000_000), ..Default::default() };
        r.take_in(
            &delivery(clock, 0, 10_100_000, false),
            (RUN, clock),
            at(10_120_000),
            &mut gen,
            (false, false, false),
        );
        record(&mut r, &m);
        assert_eq!(gen.slowest_delivery_us, 20_000);
        // A resumed backlog (sent at 5 s, before the CONNACK): 5.2 s old, not first.
        r.take_in(&delivery(clock, 1, 5_000_000, false), (RUN, clock), at(10_200_000), &mut gen, (false, false, false));
        // A DUP copy and a resend of seq 0, both a second late.
        r.take_in(&delivery(clock, 2, 10_200_000, true), (RUN, clock), at(11_200_000), &mut gen, (false, false, false));
        r.take_in(
            &delivery(clock, 0, 10_100_000, false),
            (RUN, clock),
            at(11_300_000),
            &mut gen,
            (false, false, false),
        );
        record(&mut r, &m);
        assert_eq!(gen.slowest_delivery_us, 20_000);
        assert_eq!(m.slowest_delivery_us.load(Ordering::Relaxed), 20_000);
        // Held back by midge 400 ms: the connection's margin, not the drain's.
        r.take_in(&delivery(clock, 3, 11_400_000, false), (RUN, clock), at(11_800_000), &mut gen, (true, false, false));
        record(&mut r, &m);
        assert_eq!(gen.slowest_delivery_us, 400_000);
        assert_eq!(m.slowest_delivery_us.load(Ordering::Relaxed), 20_000);
        // Every one of them was received all the same.
        assert_eq!(m.received_so_far(), 5);
    }

    /// The resumed backlog's 5 s age, through the recorder into the record
    /// and the analysis: a clean-session sub0 up 0.5–2 s, dropped, up again
    /// 7–9.5 s and dropped for good; on its second connection a message sent
    /// at 1.99 s (before its CONNACK) arrives 5.01 s late, the rest within
    /// 20 ms. pub0 sends one every 10 ms from 1 s (seq k at 1 s + k × 10 ms);
    /// 800..=809 (sent 9.0–9.09 s, while sub0 was up) never arrive: lost. Had
    /// the backlog set the margin, sub0 would be trusted to 7 s only and
    /// they would be missed_offline.
    #[test]
    fn a_resumed_backlog_does_not_widen_the_distrust_before_a_later_drop() {
        use crate::analysis::testkit::{self as kit, connect, every, publish, receive};
        use crate::record::vocab::Cause;
        let plan = kit::plan(
            "name = \"t\"\n[[group]]\nname = \"pub\"\npublish = { topic = \"t/1\", qos = 1, rate = 100.0 }\n\
             [[group]]\nname = \"sub\"\nsubscribe = { filter = \"t/#\", qos = 1 }\n",
        );
        let mut rec = kit::record(&plan);
        connect(&mut rec, 0, 500_000, 10_000_000, None);
        connect(&mut rec, 1, 500_000, 2_000_000, Some(Cause::NetworkEof));
        connect(&mut rec, 1, 7_000_000, 9_500_000, Some(Cause::NetworkEof));
        let (clock, m) = (RunClock::new(), Metrics::new(1));
        let mut r = Recorder::new(0, None, true);
        let second = &mut rec.clients[1].timeline[1];
        r.take_in(&delivery(clock, 99, 1_990_000, false), (RUN, clock), at(7_000_000), second, (false, false, false));
        r.take_in(&delivery(clock, 600, 7_000_000, false), (RUN, clock), at(7_020_000), second, (false, false, false));
        record(&mut r, &m);
        assert_eq!(second.slowest_delivery_us, 20_000);
        publish(&mut rec, 0, 1, every(1_000_000, 10_000, 900));
        receive(&mut rec, 1, 0, (0..96).chain(600..800).chain(810..846));
        let report = crate::analysis::analyse(&plan, &rec);
        let msgs = &report.messages;
        // Trusted to 1.95 s and 9.45 s (the 50 ms race margin): owed 0..=95
        // and 600..=845; missed 96..=599 and 846..=899 while it was away.
        assert_eq!((msgs.expected, msgs.received, msgs.lost, msgs.missed_offline), (342, 332, 10, 558));
        assert_eq!(report.streams[0].lost_seqs, vec![(800, 810)]);
    }

    /// Under Retain As Published a live delivery of a retaining publisher
    /// keeps RETAIN: sent after the connection came up, it is a receipt;
    /// one sent before it (on a connection that subscribed) is the replay;
    /// on a resumed session that did not subscribe, RETAIN never means a
    /// replay (a queued message). Without the option RETAIN is a replay.
    #[test]
    fn retain_as_published_keeps_live_deliveries_apart_from_replays() {
        let clock = RunClock::new();
        let retained = |seq: u64, sent_us: u64| Publish { retain: true, ..delivery(clock, seq, sent_us, false) };
        let mut r = Recorder::new(0, None, true);
        let mut gen = Generation { connected_us: Some(1_000_000), ..Default::default() };
        r.take_in(&retained(0, 500_000), (RUN, clock), at(1_100_000), &mut gen, (false, true, false));
        r.take_in(&retained(1, 1_200_000), (RUN, clock), at(1_300_000), &mut gen, (false, true, false));
        r.take_in(&retained(2, 1_400_000), (RUN, clock), at(1_500_000), &mut gen, (false, false, false));
        let mut resumed = Generation { connected_us: Some(5_000_000), session_present: true, ..Default::default() };
        r.take_in(&retained(3, 4_000_000), (RUN, clock), at(5_100_000), &mut resumed, (false, true, false));
        let taken: Vec<u64> = r.unrecorded.deliveries().iter().map(|d| d.seq).collect();
        assert_eq!(taken, vec![1, 3]);
        let rx = r.rx.as_ref().unwrap();
        assert_eq!((rx.retained_replays, rx.retained_from.get(&0).copied()), (2, Some(2)));
        assert_eq!(rx.replays_on_existing, 0, "both on a connection whose subscription was new");
        // A resumed session that subscribed again: its subscription existed.
        let mut again = Generation { session_present: true, suback_code: Some(1), ..resumed };
        r.take_in(&retained(4, 4_500_000), (RUN, clock), at(5_200_000), &mut again, (false, false, true));
        let rx = r.rx.as_ref().unwrap();
        assert_eq!((rx.retained_replays, rx.replays_on_existing), (3, 1));
    }
}
