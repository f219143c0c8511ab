//! A run of several brokers (`[broker] url` a list, a group's own
//! `broker`): the brokers after the first, reached by URL (a list holds
//! external brokers only, `Plan::build` sees to it), each with its own `$SYS`
//! watcher, its retained topics cleared at the end, and its own part of the
//! record (`BrokersRecord::others`). The first broker is the run's `broker`,
//! as in a run of one.

use super::assemble::broker_record;
use super::{spawn_sys_watch, tls_record, RunError};
use crate::broker::{self, BrokerHandle};
use crate::mqtt::transport::Transport;
use crate::plan::Plan;
use crate::record::clock::RunClock;
use crate::record::{BrokerRecord, RetainedCleanup};
use crate::sys::{SysSeen, SysWatcher};
use std::sync::Arc;

/// The brokers after the first: their handles, how the clients talk to
/// each, and their `$SYS` watchers.
pub(super) struct Others {
    handles: Vec<BrokerHandle>,
    transports: Vec<(Transport, Arc<[Transport]>)>,
    sys: Vec<Option<SysWatcher>>,
}

/// The brokers after the first, each resolved (no broker is started).
pub(super) async fn reach_others(plan: &Plan) -> Result<Vec<BrokerHandle>, RunError> {
    let protocol = plan.groups.first().map(|g| g.protocol).unwrap_or_default();
    let mut handles = Vec::new();
    for b in plan.brokers.iter().skip(1) {
        handles.push(broker::start(&b.spec, protocol, &[], false).await?);
    }
    Ok(handles)
}

impl Others {
    /// Starts a `$SYS` watcher on each.
    pub fn watch(
        plan: &Plan,
        handles: Vec<BrokerHandle>,
        transports: &[(Transport, Arc<[Transport]>)],
        clock: RunClock,
    ) -> Others {
        let sys = handles
            .iter()
            .zip(transports)
            .enumerate()
            .map(|(i, (h, (t, _)))| spawn_sys_watch(plan, (h, i + 1), t.clone(), clock))
            .collect();
        Others { handles, transports: transports.to_vec(), sys }
    }

    /// Asks the watchers for their last round (at shutdown, as the first broker's).
    pub fn stop(&self) {
        self.sys.iter().flatten().for_each(SysWatcher::stop);
    }

    /// The retained topics cleared on each of them too, after the first
    /// broker's `first`: its counts stand (the same topics), and the first
    /// error on any broker is the cleanup's, named by the broker's URL.
    pub async fn clear_retained(
        &self,
        plan: &Plan,
        first: Option<RetainedCleanup>,
        clock: RunClock,
    ) -> Option<RetainedCleanup> {
        let mut first = first?;
        for (i, (h, (_, groups))) in self.handles.iter().zip(&self.transports).enumerate() {
            let done = super::cleanup::clear_retained(plan, h.addr, groups, clock).await;
            if let (None, Some(e)) = (&first.error, done.and_then(|d| d.error)) {
                first.error = Some(format!("{}: {e}", plan.brokers[i + 1].url));
            }
        }
        Some(first)
    }

    /// Each one's part of the record, in the plan's order.
    pub async fn finish(self, plan: &Plan) -> Vec<BrokerRecord> {
        let mut records = Vec::new();
        for (i, ((h, sys), (t, _))) in self.handles.iter().zip(self.sys).zip(&self.transports).enumerate() {
            let seen = match sys {
                Some(w) => w.finish().await,
                None => SysSeen::default(),
            };
            records.push(broker_record(h, seen, tls_record(&plan.brokers[i + 1], t)));
        }
        records
    }
}
