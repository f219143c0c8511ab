//! Last wills: what a group's will is, and the tag midge puts first in
//! its payload so each will received is matched to the connection that left it.
//!
//! `WillPlan` is a group's will; its payload is
//! `midge-will/<run>/<client>/<connection>` (`will_payload`,
//! `parse_will_payload`), the client index that of the whole plan.

/// A group's last will; the topic is filled per client (`ClientPlan::will_topic`).
#[derive(Debug, Clone)]
pub struct WillPlan {
    /// Text after midge's tag in the payload.
    pub payload: Option<String>,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 Will Delay Interval, seconds.
    pub delay_s: Option<u32>,
}

/// How late after its due time a broker may publish a delayed will: it
/// checks will delays on a timer (mosquitto once a second), so a will with
/// delay d after a drop arrives within d .. d + 1 s.
pub const WILL_DELAY_GRANULARITY_US: u64 = 1_000_000;

/// Beside the granularity, time for a will published when due to reach a
/// subscriber (a loaded broker, a busy subscriber).
pub const WILL_TRANSIT_US: u64 = 250_000;

/// By when a will due at `due_us` (run-clock µs) must have arrived: a will
/// with no delay at once (within the transit allowance), a delayed one
/// within the broker's will-delay granularity after its due time.
pub fn will_owed_by_us(due_us: u64, delayed: bool) -> u64 {
    due_us + if delayed { WILL_DELAY_GRANULARITY_US } else { 0 } + WILL_TRANSIT_US
}

/// What a will's payload starts with: `midge-will/<run id>/<client index>/<connection>`.
pub const WILL_TAG: &str = "midge-will/";

/// The payload of client `index`'s will on its `connection`-th connection attempt.
pub fn will_payload(run_id: u64, index: u32, connection: u32, text: Option<&str>) -> Vec<u8> {
    let mut p = format!("{WILL_TAG}{run_id:016x}/{index}/{connection}");
    if let Some(t) = text {
        p.push(' ');
        p.push_str(t);
    }
    p.into_bytes()
}

/// A will payload midge made: (run id, client index, connection), or None.
pub fn parse_will_payload(payload: &[u8]) -> Option<(u64, u32, u32)> {
    let text = std::str::from_utf8(payload.strip_prefix(WILL_TAG.as_bytes())?).ok()?;
    let tag = text.split(' ').next()?;
    let mut parts = tag.split('/');
    let run = u64::from_str_radix(parts.next()?, 16).ok()?;
    let index = parts.next()?.parse().ok()?;
    let connection = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((run, index, connection))
}
