//! What belongs to one connection attempt only: made when it starts; when
//! it ends its generation goes to the client's timeline and the rest (the
//! topic alias, the broker's Receive Maximum) is dropped with it.

use crate::record::Generation;

/// One connection attempt of a client.
#[derive(Debug, Default)]
pub(super) struct Link {
    /// This connection in the client's timeline.
    pub(super) gen: Generation,
    /// MQTT 5 topic alias on this connection.
    pub(super) alias: Alias,
    /// Topic bytes the alias left out, alias property bytes it added.
    pub(super) alias_bytes: (u64, u64),
    /// The broker's Receive Maximum (MQTT 5 CONNACK), if it announced one.
    pub(super) receive_maximum: Option<u16>,
    /// midge sent a PUBLISH again (a 3.1.1 retry), a malformed packet, or a
    /// second PUBREC (for a QoS 2 copy) on this connection: an ack for an
    /// unknown id may be the answer to it.
    pub(super) own_doubt: bool,
    /// Counted in `Metrics::awaiting_backlog`: back on a resumed session
    /// after publishes, nothing received on this connection yet.
    pub(super) awaiting_backlog: bool,
}

impl Link {
    /// An attempt starting at `now_us` (run clock).
    pub(super) fn starting(now_us: u64) -> Link {
        Link { gen: Generation { attempt_us: now_us, heard_us: now_us, ..Default::default() }, ..Default::default() }
    }
}

/// A publisher's MQTT 5 topic alias on its current connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Alias {
    /// Not used (not asked for, 3.1.1, the broker allows none, or the topic
    /// is no longer than the alias property).
    #[default]
    Off,
    /// The next PUBLISH carries the topic and sets alias 1.
    Announce,
    /// PUBLISHes carry alias 1 and an empty topic.
    InUse,
}
