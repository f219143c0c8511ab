//! `[[fault]]`: what happens, when, to whom — typed. The file's keys are
//! flat (`at`, `action`, `group`, `clients`, `for`, `delay`, `count`,
//! `direction`, `packet`, `size`: a user contract); they deserialize into
//! `FaultKeys` and from there, in one step, into a `FaultSpec` whose
//! `FaultAction` carries each action's own fields with their defaults
//! applied. Keys an action does not use are accepted and ignored, as they
//! always were. An action missing a key it needs is refused there, so the
//! error points at the `[[fault]]` table. Checks that need the rest of the
//! file (the group exists, the broker's wire) are in `validate`.

use super::broker_url::Wire;
use super::values::Dur;
use crate::record::vocab::FaultKind;
use serde::Deserialize;
use std::time::Duration;

/// `for` when an action that takes it is given none.
const DEFAULT_FOR: Duration = Duration::from_secs(1);
/// A `malformed` oversize packet's payload when `size` is not given.
const DEFAULT_OVERSIZE: usize = 1024 * 1024;

/// The bad packet a `malformed` fault sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MalformedPacket {
    /// PUBLISH to a topic name with a wildcard.
    WildcardTopic,
    /// PUBLISH larger than the broker's maximum packet size (`size` bytes of payload).
    Oversize,
    /// More QoS 1 PUBLISH in flight than the broker's Receive Maximum (`count`).
    ReceiveMaximum,
    /// A fixed header whose remaining length never ends.
    BadRemainingLength,
    /// A second CONNECT on an established connection.
    SecondConnect,
}

/// Which way a `drop` fault loses PUBLISH packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FaultDirection {
    #[default]
    ToClient,
    ToBroker,
    Both,
}

impl FaultDirection {
    /// (towards the client, towards the broker).
    pub fn ways(self) -> (bool, bool) {
        match self {
            FaultDirection::ToClient => (true, false),
            FaultDirection::ToBroker => (false, true),
            FaultDirection::Both => (true, true),
        }
    }
}

/// What a fault does, with the keys that action takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Close the chosen clients' connections now.
    Cut,
    /// Stop forwarding for `for_` without closing: keepalive must notice.
    Blackhole { for_: Duration },
    /// Add `delay` to every packet for `for_`.
    Delay { delay: Duration, for_: Duration },
    /// Lose the next `count` PUBLISH packets going `direction`.
    Drop { count: u64, direction: FaultDirection },
    /// kill -9 the spawned mosquitto and start it again after `down`.
    RestartBroker { down: Duration },
    /// For `for_`, a twin connection with the same client id as each chosen
    /// client, reconnecting as they do: the two knock each other off.
    DuplicateIds { for_: Duration },
    /// The chosen clients send a bad packet on purpose (`size`: an
    /// oversize packet's payload; `count`: receive-maximum's excess).
    Malformed { packet: MalformedPacket, size: usize, count: u64 },
    /// The chosen clients stop reading their socket for `for_` without
    /// disconnecting (keepalive pings still go out), then resume.
    Stall { for_: Duration },
    /// The chosen clients close their sockets without DISCONNECT (their
    /// wills fire); they reconnect as their group's policy says.
    Kill,
}

impl FaultAction {
    /// The record's name for it.
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultAction::Cut => FaultKind::Cut,
            FaultAction::Blackhole { .. } => FaultKind::Blackhole,
            FaultAction::Delay { .. } => FaultKind::Delay,
            FaultAction::Drop { .. } => FaultKind::Drop,
            FaultAction::RestartBroker { .. } => FaultKind::RestartBroker,
            FaultAction::DuplicateIds { .. } => FaultKind::DuplicateIds,
            FaultAction::Malformed { .. } => FaultKind::Malformed,
            FaultAction::Stall { .. } => FaultKind::Stall,
            FaultAction::Kill => FaultKind::Kill,
        }
    }

    /// Whether midge's proxy (between the clients and the broker) carries it out.
    pub fn needs_proxy(&self) -> bool {
        needs_proxy(self.kind())
    }

    /// Whether midge's proxy can carry this fault out over `wire`; `Err`
    /// says why not. The proxy works on bytes and finds each connection's
    /// client id in its CONNECT: over TLS it cannot read it; over a plain
    /// WebSocket it can (and cut, blackhole and delay act on the bytes),
    /// but dropping one PUBLISH would mean taking the WebSocket frames
    /// apart and framing the rest again.
    pub fn refused_over(&self, wire: Wire) -> Result<(), &'static str> {
        refused_over(self.kind(), wire)
    }
}

fn needs_proxy(kind: FaultKind) -> bool {
    matches!(kind, FaultKind::Cut | FaultKind::Blackhole | FaultKind::Delay | FaultKind::Drop)
}

fn refused_over(kind: FaultKind, wire: Wire) -> Result<(), &'static str> {
    match (kind, wire) {
        (FaultKind::Cut | FaultKind::Blackhole | FaultKind::Delay | FaultKind::Drop, Wire::Tls | Wire::Wss) => Err(
            "needs midge's proxy, which cannot read TLS (it finds each client by its CONNECT): run it against mqtt:// or ws://",
        ),
        (FaultKind::Drop, Wire::Ws) => Err(
            "cannot drop chosen PUBLISH packets inside WebSocket frames (midge's proxy would have to re-frame the stream); cut, blackhole and delay work over ws://, drop over mqtt://",
        ),
        _ => Ok(()),
    }
}

/// One `[[fault]]`: what happens, when (from the start of publishing), to whom.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "FaultKeys")]
pub struct FaultSpec {
    pub at: Dur,
    /// The group hit (None: every client of the run).
    pub group: Option<String>,
    /// Only the first N clients of the group (default: all of them).
    pub clients: Option<u32>,
    pub action: FaultAction,
}

impl FaultSpec {
    /// The action's name in error messages, as it has always been spelled
    /// there ("restartbroker": the kind's variant name, lower-cased).
    pub fn name(&self) -> String {
        format!("{:?}", self.action.kind()).to_lowercase()
    }
}

/// A `[[fault]]` table's keys as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultKeys {
    at: Dur,
    action: FaultKind,
    group: Option<String>,
    clients: Option<u32>,
    #[serde(rename = "for")]
    for_: Option<Dur>,
    delay: Option<Dur>,
    count: Option<u64>,
    #[serde(default)]
    direction: FaultDirection,
    packet: Option<MalformedPacket>,
    size: Option<usize>,
}

impl TryFrom<FaultKeys> for FaultSpec {
    type Error = String;

    fn try_from(k: FaultKeys) -> Result<FaultSpec, String> {
        if k.action == FaultKind::RestartBroker && k.group.is_some() {
            return Err("fault restart-broker restarts the whole broker: remove `group`".into());
        }
        if k.action == FaultKind::DuplicateIds && k.group.is_none() {
            return Err("fault duplicate-ids needs `group` (whose ids get a twin)".into());
        }
        let action = action_of(&k)?;
        Ok(FaultSpec { at: k.at, group: k.group, clients: k.clients, action })
    }
}

/// The typed action: the keys it needs present, its defaults applied.
fn action_of(k: &FaultKeys) -> Result<FaultAction, String> {
    let for_or_default = k.for_.map_or(DEFAULT_FOR, |d| d.0);
    Ok(match k.action {
        FaultKind::Cut => FaultAction::Cut,
        FaultKind::Blackhole => {
            let for_ = k.for_.ok_or("fault blackhole needs `for` (how long to stop forwarding)")?.0;
            FaultAction::Blackhole { for_ }
        }
        FaultKind::Delay => match (k.delay, k.for_) {
            (Some(delay), Some(for_)) => FaultAction::Delay { delay: delay.0, for_: for_.0 },
            _ => return Err("fault delay needs `delay` (added latency) and `for` (how long)".into()),
        },
        FaultKind::Drop => {
            if k.count == Some(0) {
                return Err("fault drop: `count` must be at least 1".into());
            }
            FaultAction::Drop { count: k.count.unwrap_or(1), direction: k.direction }
        }
        FaultKind::RestartBroker => FaultAction::RestartBroker { down: for_or_default },
        FaultKind::DuplicateIds => FaultAction::DuplicateIds { for_: for_or_default },
        FaultKind::Malformed => FaultAction::Malformed {
            packet: k.packet.ok_or(
                "fault malformed needs `packet`: wildcard-topic, oversize, receive-maximum, bad-remaining-length or second-connect",
            )?,
            size: k.size.unwrap_or(DEFAULT_OVERSIZE),
            count: k.count.unwrap_or(1),
        },
        FaultKind::Stall => FaultAction::Stall { for_: k.for_.ok_or("fault stall needs `for` (how long to stop reading)")?.0 },
        FaultKind::Kill => FaultAction::Kill,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(keys: &str) -> Result<FaultSpec, String> {
        toml::from_str::<FaultSpec>(&format!("at = \"1s\"\n{keys}")).map_err(|e| e.message().to_string())
    }

    #[test]
    fn each_action_carries_its_own_keys_with_their_defaults() {
        assert_eq!(spec("action = \"cut\"\nfor = \"9s\"").unwrap().action, FaultAction::Cut);
        assert_eq!(
            spec("action = \"delay\"\ndelay = \"20ms\"\nfor = \"2s\"").unwrap().action,
            FaultAction::Delay { delay: Duration::from_millis(20), for_: Duration::from_secs(2) }
        );
        assert_eq!(
            spec("action = \"drop\"").unwrap().action,
            FaultAction::Drop { count: 1, direction: FaultDirection::ToClient }
        );
        assert_eq!(
            spec("action = \"restart-broker\"").unwrap().action,
            FaultAction::RestartBroker { down: DEFAULT_FOR }
        );
        assert_eq!(
            spec("action = \"malformed\"\npacket = \"oversize\"").unwrap().action,
            FaultAction::Malformed { packet: MalformedPacket::Oversize, size: DEFAULT_OVERSIZE, count: 1 }
        );
    }

    #[test]
    fn an_action_without_a_key_it_needs_is_refused() {
        assert!(spec("action = \"stall\"").unwrap_err().contains("fault stall needs `for`"));
        assert!(spec("action = \"delay\"\nfor = \"1s\"").unwrap_err().contains("needs `delay`"));
        assert!(spec("action = \"malformed\"").unwrap_err().contains("needs `packet`"));
        assert!(spec("action = \"drop\"\ncount = 0").unwrap_err().contains("at least 1"));
        assert!(spec("action = \"duplicate-ids\"").unwrap_err().contains("needs `group`"));
    }

    #[test]
    fn the_kind_names_the_action() {
        assert_eq!(FaultAction::Stall { for_: DEFAULT_FOR }.kind(), FaultKind::Stall);
        assert!(FaultAction::Cut.needs_proxy() && !FaultAction::Kill.needs_proxy());
        assert!(FaultAction::Drop { count: 1, direction: FaultDirection::Both }.refused_over(Wire::Ws).is_err());
    }
}
