//! What belongs to one connection only, dropped with it.

/// A publisher's MQTT 5 topic alias on its current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Alias {
    /// Not used (not asked for, 3.1.1, the broker allows none, or the topic
    /// is no longer than the alias property).
    Off,
    /// The next PUBLISH carries the topic and sets alias 1.
    Announce,
    /// PUBLISHes carry alias 1 and an empty topic.
    InUse,
}
