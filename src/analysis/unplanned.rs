//! `unplanned_publishers` in report.json: what the tracking headers of this
//! run's id say of publishers the plan does not hold — a `midge sub` run
//! alone hears a `midge pub` run's publishers (same `--run-id`), which its
//! own plan knows nothing of. Nothing is owed by them (no publish log says
//! what went out), so none of it is in `messages`' expected, received or
//! lost; per publisher, across this run's subscribers: what arrived, the
//! sequence numbers missing between the first and the last each subscriber
//! got (`gaps`, a loss the broker would have to explain — or a subscriber
//! that came and went), duplicates, out of order, and the quickest and
//! slowest delivery (receipt minus the header's send time).
//! `midge merge PUBDIR SUBDIR` gives the exact accounting.

use super::model::UnplannedPublisher;
use crate::plan::Plan;
use crate::record::RunRecord;
use std::collections::BTreeMap;

/// Per publisher number the plan does not hold, in number order.
pub fn unplanned_publishers(plan: &Plan, record: &RunRecord) -> Vec<UnplannedPublisher> {
    let planned = plan.shard.as_ref().map_or(plan.publishers.len() as u32, |s| s.publishers_total);
    let mut by: BTreeMap<u32, UnplannedPublisher> = BTreeMap::new();
    for c in &record.clients {
        let Some(rx) = &c.rx else { continue };
        for (&publisher, s) in rx.streams.iter().filter(|(p, _)| **p >= planned) {
            let (Some(&(first, _)), Some(&(_, end))) = (s.received.ranges().first(), s.received.ranges().last()) else {
                continue;
            };
            let u = by.entry(publisher).or_insert(UnplannedPublisher {
                publisher,
                subscribers: 0,
                received: 0,
                first_seq: first,
                last_seq: end - 1,
                gaps: 0,
                duplicated: 0,
                out_of_order: 0,
                min_one_way_us: None,
                max_one_way_us: None,
            });
            u.subscribers += 1;
            u.received += s.received.len();
            u.first_seq = u.first_seq.min(first);
            u.last_seq = u.last_seq.max(end - 1);
            u.gaps += (end - first) - s.received.len();
            u.duplicated += s.duplicated;
            u.out_of_order += s.out_of_order;
            u.min_one_way_us = join(u.min_one_way_us, s.min_one_way_us, i64::min);
            u.max_one_way_us = join(u.max_one_way_us, s.max_one_way_us, i64::max);
        }
    }
    by.into_values().collect()
}

fn join(a: Option<i64>, b: Option<i64>, pick: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::testkit::{self, receive};

    const SUB_ONLY: &str = r#"
name = "t"
[[group]]
name = "sub"
clients = 2
subscribe = { filter = "x/#", qos = 1 }
"#;

    #[test]
    fn a_sub_only_run_reports_what_each_publisher_sent_it() {
        let plan = testkit::plan(SUB_ONLY);
        let mut rec = testkit::record(&plan);
        // Publisher 3: sub0 got 0..=9 but 4 and 7 (2 gaps), 5 twice, 8 before 6;
        // sub1 got 2..=5 whole. Publisher 0: sub1 got 0 and 1.
        receive(&mut rec, 0, 3, [0, 1, 2, 3, 5, 5, 8, 6, 9]);
        receive(&mut rec, 1, 3, [2, 3, 4, 5]);
        receive(&mut rec, 1, 0, [0, 1]);
        let stream = rec.clients[1].rx.as_mut().unwrap().streams.get_mut(&3).unwrap();
        stream.note_one_way(1200);
        stream.note_one_way(3400);
        rec.clients[0].rx.as_mut().unwrap().streams.get_mut(&3).unwrap().note_one_way(900);
        let u = unplanned_publishers(&plan, &rec);
        assert_eq!(u.len(), 2);
        assert_eq!(
            u[1],
            UnplannedPublisher {
                publisher: 3,
                subscribers: 2,
                received: 8 + 4,
                first_seq: 0,
                last_seq: 9,
                gaps: 2,
                duplicated: 1,
                out_of_order: 1,
                min_one_way_us: Some(900),
                max_one_way_us: Some(3400),
            }
        );
        assert_eq!((u[0].publisher, u[0].received, u[0].gaps, u[0].last_seq), (0, 2, 0, 1));
        let report = crate::analysis::analyse(&plan, &rec);
        assert_eq!(report.unplanned_publishers, u, "the report carries them");
        assert_eq!(report.messages.received, 0, "nothing of them is owed or counted as received");
        let md = crate::report::markdown::render(&report);
        assert!(
            md.contains("2 publishers of run") && md.contains("| 3 | 2 | 12 | 0–9 | 2 | 1 | 1 | 0.900 ms | 3.400 ms |"),
            "{md}"
        );
    }

    #[test]
    fn planned_publishers_are_not_listed() {
        let plan = testkit::plan(
            r#"
name = "t"
[[group]]
name = "pub"
publish = { topic = "x/1", qos = 1, rate = 1.0 }
[[group]]
name = "sub"
subscribe = { filter = "x/#", qos = 1 }
"#,
        );
        let mut rec = testkit::record(&plan);
        receive(&mut rec, 1, 0, [0, 1, 2]);
        assert!(unplanned_publishers(&plan, &rec).is_empty());
        receive(&mut rec, 1, 1, [7]);
        assert_eq!(unplanned_publishers(&plan, &rec)[0].publisher, 1);
    }
}
