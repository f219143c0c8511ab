//! The windows of the join: when a subscriber's subscription was live (so
//! what a publisher got out then is owed), when it was offline or away, and
//! when a publisher could not be trusted to have got anything out.
//!
//! The rules, in short. A subscription is live from SUBACK (or a resumed
//! session's CONNACK) to its last trusted moment: the last packet heard less
//! the race margin (the slowest first delivery seen on that connection — no
//! DUP copy, resend or resumed backlog, `client::recorder` —, at least
//! `record::clock::RACE_MARGIN_US`, 50 ms) — younger messages may have been in
//! transit when it died; the leave less the same margin after a planned leave;
//! its end when midge closed it after the drain (or at a snapshot's horizon).
//! A persistent session at QoS ≥ 1 has one window over all its connections;
//! anything else has one per connection.
//!
//! A persistent session is owed its queue only until its expiry. Back with
//! `session_present` = 0 after its negotiated MQTT 5 session expiry ran out
//! (within `EXPIRY_SLACK_US`, 500 ms: the broker's clock starts when it notices
//! the drop), its window ends and what was sent while it was gone is missed (an
//! `expired` gap, `session_expired`), not lost. Back without its session before
//! the expiry (or a 3.1.1 or never-expiring session back without it), the
//! broker discarded what it owed: lost in a `session_lost` gap (finding
//! `session_lost`).
//!
//! After a clean session's planned leave the subscriber is away on plan
//! (`left`): owed nothing, missed nothing.
//!
//! A publisher is trusted until its last successful write: its offline gaps
//! (`publisher_gaps`) run from `Generation::wrote_us` less the race margin to
//! its next CONNACK — not from the last packet it heard, since a QoS 0
//! publisher hears nothing while it publishes.
//!
//! In a merged run, a stream whose publisher and subscriber ran on different
//! shards reads the subscriber's connections through `across_shards`: its
//! windows narrow by the measured clock bound at both ends, and a close at
//! the end of the subscriber's shard is trusted only to the race margin
//! before it (another shard may still have been publishing); what was sent
//! after a subscriber's end is never owed.
//!
//! `RACE_MARGIN_US` is also the time a leaving subscriber reads on
//! (`client::stay`).

use crate::record::clock::RACE_MARGIN_US;

/// One connection of a client, as the join needs it (run-clock µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connected {
    /// The subscription became live (SUBACK, or CONNACK of a resumed session).
    pub live_from_us: Option<u64>,
    pub connected_us: u64,
    pub heard_us: u64,
    /// The last successful write (0: none).
    pub wrote_us: u64,
    pub slowest_delivery_us: u64,
    pub ended_us: u64,
    pub end: End,
    /// CONNACK said the broker still held the session.
    pub session_present: bool,
}

/// How a connection ended, as the join reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// midge's DISCONNECT at the run's end, after the drain (or a snapshot's
    /// horizon): what was sent to it had time to arrive.
    Closed,
    /// A planned leave at `at_us` (a client stage ramping down): midge's
    /// DISCONNECT with no drain before it; owed nothing sent after it.
    Left { at_us: u64 },
    /// Dropped: the broker, the network or a fault ended it.
    Dropped,
    /// midge's DISCONNECT at the end of its own shard's run, seen from a
    /// publisher on another shard (`across_shards`): that shard may still
    /// have been publishing, with no drain on this side, so what was sent
    /// within the race margin of the close may have been in flight. Owed
    /// nothing after it.
    ClosedAcross,
}

impl Connected {
    /// Until when the connection is known to have carried what was sent to
    /// it. After a drop or a planned leave, what was sent within the race
    /// margin (or the slowest delivery seen, if slower) of its last sure
    /// moment — the last packet heard, the leave — may still have been on
    /// its way: in flight, never lost (as after a snapshot's horizon).
    pub(super) fn trusted_until(&self) -> u64 {
        let last_sure = match self.end {
            End::Closed => return self.ended_us,
            End::Left { at_us } => at_us,
            End::Dropped => self.heard_us,
            End::ClosedAcross => self.ended_us,
        };
        last_sure
            .saturating_sub(RACE_MARGIN_US.max(self.slowest_delivery_us))
            .max(self.live_from_us.unwrap_or(self.connected_us))
    }

    /// Whether the broker owes this connection's session what is sent
    /// until the next one: after a drop; after a planned leave only when
    /// the session persists (the broker queues for it as for a drop).
    fn owed_while_away(&self, persistent: bool) -> bool {
        match self.end {
            End::Closed | End::ClosedAcross => false,
            End::Left { .. } => persistent,
            End::Dropped => true,
        }
    }
}

/// `conns` with their trust after the last packet heard cut `by_us`
/// shorter (the race margin widened by a publisher's send-time band).
pub fn trust_less(conns: &[Connected], by_us: u64) -> Vec<Connected> {
    conns
        .iter()
        .map(|c| Connected { slowest_delivery_us: c.slowest_delivery_us.max(RACE_MARGIN_US) + by_us, ..*c })
        .collect()
}

/// A merged run's shards, as the join reads them: which shard each client
/// ran on, and how far a latency measured between two shards can be off
/// (`shards::latency_bound_us`: the clocks' offset bound).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcrossShards {
    /// Client index → shard index.
    pub shard_of: std::collections::HashMap<u32, u32>,
    pub bound_us: u64,
}

impl AcrossShards {
    /// Whether `a` and `b` ran on different shards (different clocks).
    pub fn apart(&self, a: u32, b: u32) -> bool {
        self.shard_of.get(&a) != self.shard_of.get(&b)
    }
}

/// A subscriber's connections as a publisher on another shard sees them:
/// each window opens `bound_us` later and its trust at a drop or a leave
/// ends `bound_us` earlier (the two clocks may differ by that much), and a
/// close at the end of the subscriber's own run is no longer trusted to its
/// very end (`End::ClosedAcross`): the other shard may still have been
/// publishing, with no drain on this side.
pub fn across_shards(conns: &[Connected], bound_us: u64) -> Vec<Connected> {
    conns
        .iter()
        .map(|c| Connected {
            live_from_us: c.live_from_us.map(|f| f + bound_us),
            slowest_delivery_us: c.slowest_delivery_us.max(RACE_MARGIN_US) + bound_us,
            end: if c.end == End::Closed { End::ClosedAcross } else { c.end },
            ..*c
        })
        .collect()
}

/// The live windows of one subscriber for one stream, and its offline gaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Windows {
    /// Inclusive intervals in which what a publisher got out is expected.
    pub live: Vec<(u64, u64)>,
    /// Intervals between a connection's last trusted moment and the next
    /// live one (or the end of the run).
    pub offline: Vec<(u64, u64)>,
    /// Intervals between a connection's end and the next live one: what is
    /// sent in them the broker must queue for a persistent session.
    pub away: Vec<(u64, u64)>,
    /// Offline gaps after which a persistent session came back without its
    /// session (session_present = 0) because its expiry had run out: what
    /// was sent in them was owed to nobody (missed, `session_expired`).
    pub expired: Vec<(u64, u64)>,
    /// Offline gaps after which the session was gone although its expiry had
    /// not run out: the broker discarded what it owed (`session_lost`).
    pub session_lost: Vec<(u64, u64)>,
    /// Intervals after a planned leave that left nothing owed (a clean
    /// session), from its last trusted moment to the next live window (or
    /// the end of the run): away on plan, neither owed nor missed.
    pub left: Vec<(u64, u64)>,
    /// A share group's: per member (client index) that dropped, the span
    /// from its last trusted moment to the race margin after its end (the
    /// broker notices the drop a little later), in which the broker may have
    /// routed a message to it that died with it — the race a plain
    /// subscriber's window leaves out at its drop (`shared::shared_windows`).
    pub raced: Vec<(u32, (u64, u64))>,
}

/// A session that comes back this close to its expiry (or later) without
/// its session is taken as expired: the broker's expiry clock starts when it
/// notices the drop and runs on its own timer.
pub const EXPIRY_SLACK_US: u64 = 500_000;

/// For a persistent session at QoS >= 1 the broker must hold what is sent
/// while the subscriber is away, so one window spans all its connections;
/// otherwise each connection has its own window and what is sent between them
/// is missed, not lost — or, after a planned leave, owed to nobody (neither
/// expected nor missed: the subscriber was not meant to be there).
pub fn windows(connections: &[Connected], persistent: bool, expiry_us: Option<u64>, run_end_us: u64) -> Windows {
    let mut w = Windows::default();
    let mut prev_end: Option<(u64, u64)> = None;
    // The last trusted moment of a connection left on plan, owed nothing after.
    let mut left_at: Option<u64> = None;
    let gap = |v: &mut Vec<(u64, u64)>, from: u64, to: u64| {
        if to > from + 1 {
            v.push((from + 1, to - 1));
        }
    };
    for c in connections {
        let Some(from) = c.live_from_us else {
            continue;
        };
        let to = c.trusted_until();
        if let Some(trusted) = left_at.take() {
            gap(&mut w.left, trusted, from);
        }
        let mut continues = persistent && !w.live.is_empty();
        if let Some((trusted, ended)) = prev_end {
            gap(&mut w.offline, trusted, from);
            let discarded = persistent && !c.session_present;
            let expired =
                discarded && expiry_us.is_some_and(|e| c.connected_us.saturating_sub(ended) + EXPIRY_SLACK_US >= e);
            if expired {
                gap(&mut w.expired, trusted, from);
                continues = false;
            } else {
                gap(&mut w.away, ended, from);
                if discarded {
                    gap(&mut w.session_lost, trusted, from);
                }
            }
        }
        if continues {
            w.live.last_mut().expect("non-empty").1 = to;
        } else {
            w.live.push((from, to));
        }
        prev_end = c.owed_while_away(persistent).then_some((to, c.ended_us));
        left_at = (prev_end.is_none() && matches!(c.end, End::Left { .. })).then_some(to);
    }
    if let Some((trusted, ended)) = prev_end {
        gap(&mut w.offline, trusted, run_end_us + 1);
        gap(&mut w.away, ended, run_end_us + 1);
    }
    if let Some(trusted) = left_at {
        gap(&mut w.left, trusted, run_end_us + 1);
    }
    w
}

/// Offline gaps of a publisher: from its last trusted moment — its last
/// successful write, less the race margin (a QoS 0 publisher hears nothing
/// while it publishes, so what it heard says nothing) — to its next CONNACK.
pub fn publisher_gaps(connections: &[Connected], run_end_us: u64) -> Vec<(u64, u64)> {
    let mut gaps = Vec::new();
    let mut prev: Option<u64> = None;
    for c in connections {
        if let Some(p) = prev {
            gaps.push((p, c.connected_us));
        }
        // A planned leave stops publishing first: no gap to blame.
        prev = (c.end == End::Dropped).then(|| c.wrote_us.max(c.connected_us).saturating_sub(RACE_MARGIN_US));
    }
    if let Some(p) = prev {
        gaps.push((p, run_end_us));
    }
    gaps
}
