//! How the run reaches each of its brokers: `transports` (TLS from the
//! broker's `[broker.tls]` plan or the throwaway CA, a group's own client
//! certificate, the WebSocket URI), `tls_record`, `spawn_sys_watch` (the
//! `$SYS` watcher, straight to the broker, never through the proxy).
//!
//! A run of several brokers (`[broker] url` a list, a group's own
//! `broker`): the brokers after the first (`Others`), reached by URL (a list
//! holds external brokers only, `Plan::build` sees to it), each with its own
//! `$SYS` watcher, its retained topics cleared at the end, and its own part of
//! the record (`BrokersRecord::others`). The first broker is the run's
//! `broker`, as in a run of one, and the only one midge may start.

use super::assemble::broker_record;
use crate::broker::{self, BrokerError, BrokerHandle};
use crate::mqtt::transport::{TlsClient, Transport};
use crate::mqtt::websocket::WsTarget;
use crate::plan::{BrokerPlan, Plan};
use crate::record::clock::RunClock;
use crate::record::{BrokerRecord, RetainedCleanup, TlsRecord};
use crate::sys::{SysSeen, SysWatcher};
use std::sync::Arc;
use std::time::Duration;

/// The brokers after the first: their handles, how the clients talk to
/// each, and their `$SYS` watchers.
pub(super) struct Others {
    handles: Vec<BrokerHandle>,
    transports: Vec<(Transport, Arc<[Transport]>)>,
    sys: Vec<Option<SysWatcher>>,
}

/// The brokers after the first, each resolved (no broker is started).
pub(super) async fn reach_others(plan: &Plan) -> Result<Vec<BrokerHandle>, BrokerError> {
    let protocol = plan.groups.first().map(|g| g.protocol).unwrap_or_default();
    let mut handles = Vec::new();
    for b in plan.brokers.iter().skip(1) {
        handles.push(broker::start(&b.spec, protocol, &[], false).await?);
    }
    Ok(handles)
}

/// TLS and WebSocket for one of the run's brokers: the broker-wide
/// `Transport`, and one per group (a group's own client certificate).
/// Without a `ca_file`, a broker midge started with a throwaway CA is
/// trusted through that CA.
pub(super) fn transports(
    plan: &Plan,
    b: &BrokerPlan,
    broker: &BrokerHandle,
) -> Result<(Transport, Arc<[Transport]>), String> {
    let tls = match &b.tls {
        None => None,
        Some(p) => {
            let mut p = p.clone();
            p.ca_file = p.ca_file.or_else(|| broker.ca_file.clone());
            Some(TlsClient::new(&p)?)
        }
    };
    let ws = b.spec.ws_uri(broker.addr).map(|uri| WsTarget { uri });
    let base = Transport { tls, ws };
    let per_group = plan
        .groups
        .iter()
        .map(|g| match (&g.tls_identity, &base.tls) {
            (Some((cert, key)), Some(tls)) => {
                let tls = tls.with_identity(cert, key).map_err(|e| format!("group {:?}: {e}", g.name))?;
                Ok(Transport { tls: Some(tls), ws: base.ws.clone() })
            }
            _ => Ok(base.clone()),
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((base, per_group.into()))
}

/// The record's word on TLS: verified or not, and what was negotiated.
pub(super) fn tls_record(b: &BrokerPlan, transport: &Transport) -> Option<TlsRecord> {
    let (tls, negotiated) = (transport.tls.as_ref()?, transport.tls.as_ref()?.negotiated());
    Some(TlsRecord {
        insecure: tls.is_insecure(),
        server_name: b.tls.as_ref().map(|t| t.server_name.clone()).unwrap_or_default(),
        protocol_version: negotiated.as_ref().map(|n| n.protocol_version.clone()),
        cipher_suite: negotiated.map(|n| n.cipher_suite),
    })
}

/// A broker's own counters, straight to the broker (never through the
/// proxy's faults); `nth`: which of the run's brokers (its watcher's client
/// id is its own, as a cluster's nodes share one id space). The embedded
/// broker publishes none.
pub(super) fn spawn_sys_watch(
    plan: &Plan,
    (broker, nth): (&BrokerHandle, usize),
    transport: Transport,
    clock: RunClock,
) -> Option<SysWatcher> {
    if broker.kind == broker::EMBEDDED_KIND {
        return None;
    }
    let group = plan.groups.first()?;
    let id = match nth {
        0 => format!("midge-sys-{:08x}", plan.run_id as u32),
        n => format!("midge-sys-{:08x}-{n}", plan.run_id as u32),
    };
    let mut options = group.connect_options(&id);
    options.keep_alive_s = 60;
    options.clean_start = true;
    options.session_expiry_s = None;
    Some(SysWatcher::spawn(crate::sys::SysWatch {
        addr: broker.addr,
        protocol: group.protocol,
        transport,
        options,
        clock,
        // The generated mosquitto.conf says `sys_interval 1`.
        interval: broker.pid().is_some().then_some(Duration::from_secs(1)),
    }))
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
