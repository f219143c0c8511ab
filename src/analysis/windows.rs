//! The windows of the join: when a subscriber's subscription was live (so
//! what a publisher got out then is owed), when it was offline or away, and
//! when a publisher could not be trusted to have got anything out.

/// A message younger than this (or than the slowest delivery a connection
/// saw, if slower) when a connection was last heard from may still have been
/// in transit when it died: it raced the drop.
pub const RACE_MARGIN_US: u64 = 50_000;

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
    /// Ended by midge's own DISCONNECT (not a drop).
    pub graceful: bool,
    /// CONNACK said the broker still held the session.
    pub session_present: bool,
}

impl Connected {
    /// Until when the connection is known to have carried what was sent to it.
    fn trusted_until(&self) -> u64 {
        if self.graceful {
            self.ended_us
        } else {
            self.heard_us
                .saturating_sub(RACE_MARGIN_US.max(self.slowest_delivery_us))
                .max(self.live_from_us.unwrap_or(self.connected_us))
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
}

/// A session that comes back this close to its expiry (or later) without
/// its session is taken as expired: the broker's expiry clock starts when it
/// notices the drop and runs on its own timer.
pub const EXPIRY_SLACK_US: u64 = 500_000;

/// For a persistent session at QoS >= 1 the broker must hold what is sent
/// while the subscriber is away, so one window spans all its connections;
/// otherwise each connection has its own window and what is sent between them
/// is missed, not lost.
pub fn windows(connections: &[Connected], persistent: bool, expiry_us: Option<u64>, run_end_us: u64) -> Windows {
    let mut w = Windows::default();
    let mut prev_end: Option<(u64, u64)> = None;
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
        prev_end = (!c.graceful).then_some((to, c.ended_us));
    }
    if let Some((trusted, ended)) = prev_end {
        gap(&mut w.offline, trusted, run_end_us + 1);
        gap(&mut w.away, ended, run_end_us + 1);
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
        prev = (!c.graceful).then(|| c.wrote_us.max(c.connected_us).saturating_sub(RACE_MARGIN_US));
    }
    if let Some(p) = prev {
        gaps.push((p, run_end_us));
    }
    gaps
}
