//! Carries out a scenario's `[[fault]]`s at their times (counted from the
//! start of publishing): proxy faults on the chosen clients, and broker
//! restarts. Records what was done, and when, for the report and for loss
//! attribution.

use super::proxy::{FaultProxy, Targets};
use crate::broker::BrokerHandle;
use crate::client::Phase;
use crate::metrics::RunClock;
use crate::plan::{FaultPlan, Plan};
use crate::scenario::{FaultAction, FaultDirection};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;

/// A fault as it was carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    pub action: String,
    /// Run time when it began, in seconds.
    pub at_s: f64,
    /// When it ended (blackhole, delay, restart); null for instant faults.
    pub until_s: Option<f64>,
    /// How many planned clients it was aimed at (all of them when no group was named).
    pub clients: u64,
    pub error: Option<String>,
}

#[derive(Debug, Default)]
pub struct FaultLog {
    pub events: Vec<FaultEvent>,
    /// Broker restarts: (killed, listening again), run-clock µs.
    pub restarts: Vec<(u64, u64)>,
}

fn action_name(a: FaultAction) -> &'static str {
    match a {
        FaultAction::Cut => "cut",
        FaultAction::Blackhole => "blackhole",
        FaultAction::Delay => "delay",
        FaultAction::Drop => "drop",
        FaultAction::RestartBroker => "restart-broker",
    }
}

fn targets(plan: &Plan, f: &FaultPlan) -> Targets {
    if f.targets.is_empty() {
        Targets::All
    } else {
        Targets::Ids(
            f.targets
                .iter()
                .map(|&i| plan.clients[i as usize].client_id.clone())
                .collect::<HashSet<_>>(),
        )
    }
}

pub struct FaultContext {
    pub plan: Arc<Plan>,
    pub proxy: Option<Arc<FaultProxy>>,
    pub broker: Arc<Mutex<BrokerHandle>>,
    pub clock: RunClock,
}

/// Runs the schedule until every fault is done or the run shuts down.
pub async fn run(ctx: FaultContext, start_us: u64, mut phase: watch::Receiver<Phase>) -> FaultLog {
    let mut log = FaultLog::default();
    let secs = |us: u64| (us as f64 / 1e4).round() / 100.0;
    for f in &ctx.plan.faults {
        let due = Instant::from_std(ctx.clock.instant_at(start_us + f.at.as_micros() as u64));
        loop {
            if *phase.borrow_and_update() == Phase::Shutdown {
                return log;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                changed = phase.changed() => if changed.is_err() { return log },
            }
        }
        let at = ctx.clock.now_us();
        let clients = if f.targets.is_empty() {
            ctx.plan.clients.len()
        } else {
            f.targets.len()
        } as u64;
        let mut event = FaultEvent {
            action: action_name(f.action).to_string(),
            at_s: secs(at),
            until_s: None,
            clients,
            error: None,
        };
        let who = targets(&ctx.plan, f);
        match (f.action, &ctx.proxy) {
            (FaultAction::RestartBroker, _) => {
                let result = ctx.broker.lock().await.restart(f.for_).await;
                let up = ctx.clock.now_us();
                log.restarts.push((at, up));
                event.until_s = Some(secs(up));
                event.error = result.err().map(|e| e.to_string());
            }
            (FaultAction::Cut, Some(p)) => p.cut(who),
            (FaultAction::Blackhole, Some(p)) => {
                p.blackhole(who, f.for_);
                event.until_s = Some(secs(at + f.for_.as_micros() as u64));
            }
            (FaultAction::Delay, Some(p)) => {
                p.delay(who, f.delay, f.for_);
                event.until_s = Some(secs(at + f.for_.as_micros() as u64));
            }
            (FaultAction::Drop, Some(p)) => {
                let (to_client, to_broker) = match f.direction {
                    FaultDirection::ToClient => (true, false),
                    FaultDirection::ToBroker => (false, true),
                    FaultDirection::Both => (true, true),
                };
                p.drop_publishes(who, f.count, to_client, to_broker);
            }
            (_, None) => event.error = Some("no fault proxy in front of the broker".into()),
        }
        log.events.push(event);
    }
    log
}
