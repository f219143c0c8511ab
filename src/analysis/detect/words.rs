//! How findings name things: times, connections, the broker's own lines.

use super::explain::Owner;
use crate::plan::Plan;

/// Seconds, to the millisecond, as the report prints times.
pub fn secs(us: u64) -> f64 {
    (us as f64 / 1e3).round() / 1e3
}

/// How the report names a connection's owner.
pub fn name_of(plan: &Plan, o: Owner) -> String {
    let c = &plan.clients[o.client() as usize];
    match o {
        Owner::Client(i) => {
            let g = plan.group_of(c);
            format!("{} (group {}, client {} of {})", c.client_id, g.name, i - g.first_client + 1, g.clients)
        }
        Owner::Twin(_) => format!("{} (duplicate-ids twin)", c.client_id),
    }
}

/// The broker's log lines that mention a client id (they were kept because
/// they can tell why a client was closed).
pub fn broker_lines(log: Option<&[String]>, client_id: &str) -> Vec<String> {
    log.unwrap_or_default().iter().filter(|l| l.contains(client_id)).take(12).cloned().collect()
}

/// How the report names a stream's subscriber: the client, or for a shared
/// subscription the share group's filter (`$share/{group}/{filter}`).
pub fn subscriber_name(plan: &Plan, subscriber_client: u32, share: Option<u32>) -> String {
    match share {
        Some(i) => plan.shares[i as usize].filter.clone(),
        None => plan.clients[subscriber_client as usize].client_id.clone(),
    }
}
