//! Who owes whom: a stream per (publisher, subscriber) whose topic matches
//! the filter, and share groups for shared subscriptions.
//!
//! Share groups: `SharePlan` {`filter`, `members`} in `Plan::shares`; a shared
//! subscription's stream is (publisher, share group), `StreamPlan::share`.

use super::group::GroupPlan;
use super::model::{ClientPlan, Plan, SharePlan, StreamPlan};

/// Clients subscribed with the same `$share/{group}/{filter}` form one share group.
pub(super) fn find_shares(clients: &[ClientPlan]) -> Vec<SharePlan> {
    let mut shares: Vec<SharePlan> = Vec::new();
    for c in clients {
        let Some(filter) = c.filter.as_deref().filter(|f| crate::topic::shared(f).is_some()) else { continue };
        match shares.iter_mut().find(|s| s.filter == filter) {
            Some(s) => s.members.push(c.index),
            None => shares.push(SharePlan { filter: filter.to_string(), members: vec![c.index] }),
        }
    }
    shares
}

/// A stream for every (publisher, subscriber) whose topic matches the
/// filter, and one for every (publisher, share group) whose topic matches
/// the share's filter. A subscriber with MQTT 5 `no_local` is owed none of
/// its own messages: no stream from itself (no share group has `no_local`:
/// MQTT 5 forbids it, the scenario refuses it).
pub(super) fn find_streams(
    groups: &[std::sync::Arc<GroupPlan>],
    clients: &[ClientPlan],
    shares: &[SharePlan],
) -> Vec<StreamPlan> {
    let subscribers: Vec<&ClientPlan> =
        clients.iter().filter(|c| c.filter.as_deref().is_some_and(|f| crate::topic::shared(f).is_none())).collect();
    let sub_qos = |c: u32| groups[clients[c as usize].group as usize].subscribe_qos.unwrap_or(0);
    let mut streams = Vec::new();
    for p in clients.iter().filter(|c| c.topic.is_some()) {
        let topic = p.topic.as_deref().unwrap_or_default();
        let pub_qos = groups[p.group as usize].publish.as_ref().map_or(0, |x| x.qos);
        let owed = |s: &&&ClientPlan| {
            crate::topic::matches(s.filter.as_deref().unwrap_or_default(), topic)
                && !(s.index == p.index && groups[s.group as usize].no_local)
        };
        for s in subscribers.iter().filter(owed) {
            let qos = pub_qos.min(sub_qos(s.index));
            streams.push(StreamPlan { publisher_client: p.index, subscriber_client: s.index, qos, share: None });
        }
        for (i, share) in shares.iter().enumerate() {
            let (_, filter) = crate::topic::shared(&share.filter).expect("a share group's filter is shared");
            if crate::topic::matches(filter, topic) {
                let first = share.members[0];
                let qos = pub_qos.min(sub_qos(first));
                streams.push(StreamPlan {
                    publisher_client: p.index,
                    subscriber_client: first,
                    qos,
                    share: Some(i as u32),
                });
            }
        }
    }
    streams
}

/// Whether a delivery on `stream` at `qos` is larger than the MQTT 5
/// Maximum Packet Size its subscriber announced (`GroupPlan::maximum_packet_size`;
/// a share group's: its first member's): the broker must discard every one
/// (§3.1.2.11.4). Its size is the publisher's PUBLISH as the broker sends it
/// to an MQTT 5 client: its topic in full (no alias), the message expiry and
/// user properties it was published with, `qos`'s packet id.
pub fn over_max_packet_size(plan: &Plan, stream: &StreamPlan, qos: u8) -> bool {
    let subscriber = &plan.clients[stream.subscriber_client as usize];
    let Some(max) = plan.group_of(subscriber).maximum_packet_size else { return false };
    let publisher = &plan.clients[stream.publisher_client as usize];
    let (Some(p), Some(topic)) = (plan.group_of(publisher).publish.as_ref(), publisher.topic.as_deref()) else {
        return false;
    };
    crate::mqtt::codec::publish_size(true, qos, topic.len(), p.props.len(), p.payload) > max as usize
}
