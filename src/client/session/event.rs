//! What the session says of a packet from the broker: the `Event` it means
//! and the `Step` (the reply to write, and the event) `Session::handle`
//! returns. Plain data, so the client and the tests match on it.

use crate::mqtt::codec::{Packet, Publish};
use crate::mqtt::reason::{AckReason, SubAckCode};
use crate::record::vocab::Cause;

/// What a packet from the broker means for the client, beyond the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Nothing,
    /// A PUBLISH to take in (the broker sends it for the first time).
    Delivery(Publish),
    /// A QoS 2 PUBLISH under an id still awaiting PUBREL, answered with
    /// PUBREC only and not taken in: the message first delivered under it
    /// again (`same_message`: a resend, which must carry DUP), or another
    /// one reusing the id.
    Again {
        publish: Publish,
        same_message: bool,
    },
    /// Our publish `seq` completed (PUBACK, or PUBCOMP for QoS 2), with its
    /// reason (MQTT 5; `Noted(0x10)`: no matching subscribers).
    Acked {
        seq: u64,
        latency_us: u64,
        reason: AckReason,
    },
    /// MQTT 5: the broker refused our publish `seq` (`reason` is a refusal).
    Rejected {
        seq: u64,
        reason: AckReason,
    },
    /// MQTT 5: a PUBREC that goes on with a reason other than success
    /// (0x10: no matching subscribers).
    Noted {
        reason: AckReason,
    },
    /// An acknowledgement for an id nothing of ours was waiting under.
    Unsolicited,
    /// Our SUBSCRIBE was answered; `code` is the first granted QoS or failure.
    SubAcked {
        latency_us: u64,
        code: SubAckCode,
    },
    /// The connection must end, for this cause.
    Closed(Cause),
}

/// One packet handled: the reply to queue (if any) and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub reply: Option<Packet>,
    pub event: Event,
}

impl Step {
    pub(super) fn new(reply: Option<Packet>, event: Event) -> Step {
        Step { reply, event }
    }
}
