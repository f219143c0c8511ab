//! qos_violation: deliveries that broke their QoS guarantee — QoS 1 loss,
//! QoS 2 loss or duplicates, reorder within one QoS (QoS 0 loss is loss, not
//! a violation). One finding per subscriber and QoS, with the streams.

use super::words::{secs, subscriber_name};
use crate::analysis::evidence::{Evidence, QosEvidence, StreamEvidence};
use crate::analysis::model::Finding;
use crate::analysis::tally::StreamTally;
use crate::plan::Plan;
use crate::record::vocab::FindingKind;
use std::collections::{BTreeMap, BTreeSet};

/// (subscriber, share group, qos) → [(stream, violating losses, violating duplicates)]
type ViolationsBySubscriber<'a> = BTreeMap<(u32, Option<u32>, u8), Vec<(&'a StreamTally, u64, u64)>>;

fn by_subscriber(streams: &[StreamTally]) -> ViolationsBySubscriber<'_> {
    let mut by_sub: ViolationsBySubscriber = Default::default();
    for s in streams {
        let lost = if s.qos >= 1 { s.lost } else { 0 };
        let dup = if s.qos == 2 { s.duplicated } else { 0 };
        if lost + dup + s.out_of_order > 0 {
            by_sub.entry((s.subscriber_client, s.share, s.qos)).or_default().push((s, lost, dup));
        }
    }
    by_sub
}

/// The `acl_file` line of a broker configuration midge wrote, if it has one.
pub fn acl_file_line(config: Option<&str>) -> Option<String> {
    config?.lines().map(str::trim).find(|l| l.starts_with("acl_file")).map(str::to_string)
}

/// Whether a subscriber (or share group) was owed messages and got none on
/// any of its streams: acknowledged, never delivered.
fn never_delivered(streams: &[StreamTally], sub: u32, share: Option<u32>) -> bool {
    let mine = || streams.iter().filter(|s| s.subscriber_client == sub && s.share == share);
    mine().all(|s| s.received == 0) && mine().any(|s| s.lost > 0)
}

/// What is known of a denial behind the loss, and its likely cause: the ACL
/// midge wrote into the broker's configuration, or the pattern of a denial.
fn denial_hint(acl_file: Option<&str>, never: bool, subscriber: &str) -> String {
    const HOW: &str = "mosquitto acknowledges a PUBLISH its ACL denies (3.1.1; MQTT 5 answers 0x87) and drops it, and grants a subscription its ACL denies and never delivers on it";
    match (acl_file, never) {
        (Some(acl), true) => format!(
            "; nothing was ever delivered to {subscriber} on any stream, and midge wrote an ACL into the broker's configuration (`{acl}`): the likely cause is that it denies these topics — {HOW}; add `log_type debug` to mosquitto_conf to see each denial in the broker's log"
        ),
        (Some(acl), false) => format!(
            "; midge wrote an ACL into the broker's configuration (`{acl}`): if it denies some of these topics, {HOW}"
        ),
        (None, true) => format!(
            "; everything was acknowledged and nothing ever delivered to {subscriber} on any stream: the pattern of an authorization denial (the topic or the subscriber's read denied) more than of loss in transit — {HOW}"
        ),
        (None, false) => String::new(),
    }
}

/// `denied`: publishers whose PUBLISHes the broker's log says it denied; a
/// finding over their streams says so (the `publish_denied` finding has the
/// lines). `acl_file`: the ACL line of the configuration midge wrote, named
/// with the pattern of a denial (`denial_hint`).
pub fn qos_violations(
    plan: &Plan,
    streams: &[StreamTally],
    run_end_us: u64,
    denied: &BTreeSet<u32>,
    acl_file: Option<&str>,
) -> Vec<Finding> {
    let id = |c: u32| plan.clients[c as usize].client_id.clone();
    by_subscriber(streams)
        .into_iter()
        .map(|((sub, share, qos), list)| {
            let subscriber = subscriber_name(plan, sub, share);
            let lost: u64 = list.iter().map(|(_, l, _)| l).sum();
            let dup: u64 = list.iter().map(|(_, _, d)| d).sum();
            let reordered: u64 = list.iter().map(|(s, _, _)| s.out_of_order).sum();
            let what: Vec<String> = [(lost, "lost"), (dup, "delivered twice"), (reordered, "out of order")]
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, word)| format!("{n} {word}"))
                .collect();
            let publishers: Vec<String> = list.iter().map(|(s, _, _)| id(s.publisher_client)).collect();
            let named = publishers.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            let more = if publishers.len() > 3 { format!(" and {} more", publishers.len() - 3) } else { String::new() };
            let mut client_ids = vec![subscriber.clone()];
            client_ids.extend(publishers.iter().take(20).cloned());
            let denied_pubs: Vec<String> = list
                .iter()
                .filter(|(s, _, _)| denied.contains(&s.publisher_client))
                .map(|(s, _, _)| id(s.publisher_client))
                .collect();
            let denial = match denied_pubs.len() {
                0 => String::new(),
                n => format!(
                    "; the broker's log says it denied PUBLISH from {n} of these publishers ({}{}; see publish_denied)",
                    denied_pubs.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
                    if n > 3 { format!(" and {} more", n - 3) } else { String::new() }
                ),
            };
            let never = never_delivered(streams, sub, share) && lost > 0;
            let hint = if denied_pubs.is_empty() { denial_hint(acl_file, never, &subscriber) } else { String::new() };
            let evidence = Evidence::Qos(QosEvidence {
                acl_file: acl_file.map(str::to_string),
                never_delivered: never,
                qos,
                subscriber: subscriber.clone(),
                lost,
                duplicated: dup,
                out_of_order: reordered,
                streams: list
                    .iter()
                    .take(20)
                    .map(|(s, l, d)| StreamEvidence {
                        publisher: id(s.publisher_client),
                        lost: *l,
                        lost_seqs: if *l > 0 { s.lost_ranges.clone() } else { Vec::new() },
                        duplicated: *d,
                        out_of_order: s.out_of_order,
                    })
                    .collect(),
                // Absent from report.json when no publisher was denied.
                denied_publishers: denied_pubs.iter().take(20).cloned().collect(),
            });
            Finding {
                kind: FindingKind::QosViolation,
                summary: format!(
                    "QoS {qos} deliveries to {} broke their guarantee: {} on {} stream(s), from {named}{more}{denial}{hint}",
                    subscriber,
                    what.join(", "),
                    list.len()
                ),
                client_ids,
                count: lost + dup + reordered,
                first_s: 0.0,
                last_s: secs(run_end_us),
                evidence,
            }
        })
        .collect()
}
