//! MQTT 5: what the broker announced in CONNACK, against what a client's
//! scenario asks. A publish or subscription that would break a limit is held
//! back and reported (a `broker_limit` finding), rather than sent and
//! punished with a disconnect. No I/O.

use crate::mqtt::codec::ConnAck;
use crate::plan::{ClientPlan, GroupPlan};
use crate::record::vocab::Limit;
use crate::record::LimitHit;

/// The limits this client would break; publishing ones first.
pub fn limit_hits(group: &GroupPlan, me: &ClientPlan, ack: &ConnAck) -> Vec<LimitHit> {
    let mut hits = Vec::new();
    let hit = |limit, announced, needed| LimitHit { limit, announced, needed };
    if let Some(p) = &group.publish {
        let topic = me.topic.as_deref().unwrap_or_default();
        // Fixed header (at most 5) + topic + packet id + properties length + payload.
        let size = (5 + 2 + topic.len() + 2 + 1 + p.payload) as u64;
        if let Some(max) = ack.max_packet_size.filter(|&max| size > max as u64) {
            hits.push(hit(Limit::MaximumPacketSize, max as u64, size));
        }
        if let Some(q) = ack.maximum_qos.filter(|&q| p.qos > q) {
            hits.push(hit(Limit::MaximumQos, q as u64, p.qos as u64));
        }
        if p.retain && ack.retain_available == Some(false) {
            hits.push(hit(Limit::RetainAvailable, 0, 1));
        }
    }
    if let Some(f) = &me.filter {
        if ack.wildcard_available == Some(false) && (f.contains('+') || f.contains('#')) {
            hits.push(hit(Limit::WildcardSubscriptionAvailable, 0, 1));
        }
        if ack.shared_available == Some(false) && f.starts_with("$share/") {
            hits.push(hit(Limit::SharedSubscriptionAvailable, 0, 1));
        }
    }
    hits
}

/// Whether a hit stops the client publishing (else it stops subscribing).
pub fn blocks_publishing(h: &LimitHit) -> bool {
    h.limit.blocks_publishing()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Overrides, Plan};
    use crate::scenario::ScenarioFile;

    fn plan() -> Plan {
        let text = r#"
name = "x"
protocol = "5"
[[group]]
name = "p"
publish = { topic = "t/{i}", qos = 2, rate = 1.0, payload = 1000, retain = true }
[[group]]
name = "s"
subscribe = { filter = "t/#", qos = 1 }
"#;
        Plan::build(&ScenarioFile::parse(std::path::Path::new("x.toml"), text).unwrap(), &Overrides::default()).unwrap()
    }

    #[test]
    fn every_announced_limit_the_scenario_breaks_is_named() {
        let plan = plan();
        let ack = ConnAck {
            max_packet_size: Some(100),
            maximum_qos: Some(1),
            retain_available: Some(false),
            wildcard_available: Some(false),
            ..Default::default()
        };
        let publisher = limit_hits(&plan.groups[0], &plan.clients[0], &ack);
        let names: Vec<_> = publisher.iter().map(|h| h.limit).collect();
        assert_eq!(names, [Limit::MaximumPacketSize, Limit::MaximumQos, Limit::RetainAvailable]);
        assert_eq!((publisher[0].announced, publisher[0].needed), (100, 5 + 2 + 3 + 2 + 1 + 1000));
        assert!(publisher.iter().all(blocks_publishing));
        let subscriber = limit_hits(&plan.groups[1], &plan.clients[1], &ack);
        assert_eq!(subscriber, [LimitHit { limit: Limit::WildcardSubscriptionAvailable, announced: 0, needed: 1 }]);
        assert!(limit_hits(&plan.groups[0], &plan.clients[0], &ConnAck::default()).is_empty());
    }
}
