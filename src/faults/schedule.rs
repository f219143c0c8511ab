//! Carries out a scenario's `[[fault]]`s at their times (counted from the
//! start of publishing): proxy faults on the chosen clients, and broker
//! restarts. Records what was done, and when, for the report and for loss
//! attribution.

use super::malformed::Misbehave;
use super::proxy::{FaultProxy, Targets};
use super::twin::{self, Twin};
use crate::broker::BrokerHandle;
use crate::control::Phase;
use crate::plan::{FaultPlan, Plan};
use crate::record::vocab::FaultKind;
use crate::record::RunClock;
use crate::record::TwinRecord;
use crate::scenario::{FaultAction, FaultDirection};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{watch, Mutex};
use tokio::time::Instant;

pub use crate::record::{FaultEvent, FaultLog};

fn kind_of(a: FaultAction) -> FaultKind {
    match a {
        FaultAction::Cut => FaultKind::Cut,
        FaultAction::Blackhole => FaultKind::Blackhole,
        FaultAction::Delay => FaultKind::Delay,
        FaultAction::Drop => FaultKind::Drop,
        FaultAction::RestartBroker => FaultKind::RestartBroker,
        FaultAction::DuplicateIds => FaultKind::DuplicateIds,
        FaultAction::Malformed => FaultKind::Malformed,
        FaultAction::Stall => FaultKind::Stall,
        FaultAction::Kill => FaultKind::Kill,
    }
}

fn targets(plan: &Plan, f: &FaultPlan) -> Targets {
    if f.targets.is_empty() {
        Targets::All
    } else {
        Targets::Ids(f.targets.iter().map(|&i| plan.clients[i as usize].client_id.clone()).collect::<HashSet<_>>())
    }
}

pub struct FaultContext {
    pub plan: Arc<Plan>,
    pub proxy: Option<Arc<FaultProxy>>,
    pub broker: Arc<Mutex<BrokerHandle>>,
    /// Where clients (and twins) connect.
    pub client_addr: std::net::SocketAddr,
    pub orders: watch::Sender<Option<Arc<Misbehave>>>,
    /// Touched after each order, so every client wakes up to read it.
    pub phase: watch::Sender<Phase>,
    /// How each group reaches the broker (TLS, WebSocket), by group index.
    pub transports: Arc<[crate::mqtt::transport::Transport]>,
    pub clock: RunClock,
}

/// Runs the schedule until every fault is done or the run shuts down.
pub async fn run(ctx: FaultContext, start_us: u64, mut phase: watch::Receiver<Phase>) -> FaultLog {
    let mut log = FaultLog::default();
    let mut twins = Vec::new();
    // Every kill so far rides on each order: an order that replaces one a
    // client has not read yet (the channel keeps the latest) loses no kill.
    let mut kills: Vec<(u32, u64)> = Vec::new();
    let end_us = start_us + ctx.plan.duration.as_micros() as u64;
    let secs = |us: u64| (us as f64 / 1e4).round() / 100.0;
    for f in &ctx.plan.faults {
        let due = Instant::from_std(ctx.clock.instant_at(start_us + f.at.as_micros() as u64));
        loop {
            if *phase.borrow_and_update() == Phase::Shutdown {
                return finish(log, twins).await;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                changed = phase.changed() => if changed.is_err() { break },
            }
        }
        let at = ctx.clock.now_us();
        let clients = if f.targets.is_empty() { ctx.plan.clients.len() } else { f.targets.len() } as u64;
        let mut event = FaultEvent { action: kind_of(f.action), at_s: secs(at), until_s: None, clients, error: None };
        let who = targets(&ctx.plan, f);
        match (f.action, &ctx.proxy) {
            (FaultAction::RestartBroker, _) => {
                let result = ctx.broker.lock().await.restart(f.for_).await;
                let up = ctx.clock.now_us();
                log.restarts.push((at, up));
                event.until_s = Some(secs(up));
                event.error = result.err().map(|e| e.to_string());
            }
            (FaultAction::Cut, Some(p)) => {
                p.cut(who);
                log.hits.push((at, at, f.targets.clone()));
            }
            (FaultAction::Malformed, _) => {
                let mut targets: Vec<u32> =
                    if f.targets.is_empty() { (0..ctx.plan.clients.len() as u32).collect() } else { f.targets.clone() };
                targets.sort_unstable();
                log.malformed.push((at, targets.clone()));
                let packet = f.packet.expect("validated: malformed has a packet");
                let order = Misbehave { targets, packet, size: f.size, count: f.count, kills: kills.clone() };
                let _ = ctx.orders.send(Some(Arc::new(order)));
                ctx.phase.send_modify(|_| {});
            }
            (FaultAction::Kill, _) => {
                let all = || 0..ctx.plan.clients.len() as u32;
                let hit = if f.targets.is_empty() { all().collect() } else { f.targets.clone() };
                kills.extend(hit.into_iter().map(|c| (c, at)));
                // No malformed targets: a kill order sends no bad packet.
                let packet = crate::scenario::MalformedPacket::WildcardTopic;
                let order = Misbehave { targets: Vec::new(), packet, size: 0, count: 0, kills: kills.clone() };
                let _ = ctx.orders.send(Some(Arc::new(order)));
                ctx.phase.send_modify(|_| {});
            }
            (FaultAction::DuplicateIds, _) => {
                let until_us = (at + f.for_.as_micros() as u64).min(end_us);
                event.until_s = Some(secs(until_us));
                twins.extend(spawn_twins(&ctx, &f.targets, until_us));
            }
            (FaultAction::Stall, _) => {
                // The clients stall on their own, from the plan (`client::pacing`).
                let until = (at + f.for_.as_micros() as u64).min(end_us);
                event.until_s = Some(secs(until));
                log.hits.push((at, until, f.targets.clone()));
            }
            (FaultAction::Blackhole, Some(p)) => {
                p.blackhole(who, f.for_);
                let until = at + f.for_.as_micros() as u64;
                event.until_s = Some(secs(until));
                log.hits.push((at, until, f.targets.clone()));
            }
            (FaultAction::Delay, Some(p)) => {
                p.delay(who, f.delay, f.for_);
                let until = at + f.for_.as_micros() as u64;
                event.until_s = Some(secs(until));
                log.hits.push((at, until, f.targets.clone()));
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
    finish(log, twins).await
}

/// The `duplicate-ids` fault: a twin per chosen client, with its id, its
/// source address and its reconnect policy, until `until_us`.
fn spawn_twins(ctx: &FaultContext, targets: &[u32], until_us: u64) -> Vec<tokio::task::JoinHandle<TwinRecord>> {
    let until = Instant::from_std(ctx.clock.instant_at(until_us));
    let twin_of = |i: u32| {
        let c = &ctx.plan.clients[i as usize];
        let g = ctx.plan.group_of(c);
        Twin {
            broker: ctx.client_addr,
            from: ctx.plan.source_addr(i),
            protocol: g.protocol,
            options: g.connect_options(&c.client_id),
            reconnect: g.reconnect.unwrap_or_default(),
            clock: ctx.clock,
            of_client: i,
            transport: ctx.transports[c.group as usize].clone(),
        }
    };
    targets.iter().map(|&i| tokio::spawn(twin::run(twin_of(i), until))).collect()
}

async fn finish(mut log: FaultLog, twins: Vec<tokio::task::JoinHandle<TwinRecord>>) -> FaultLog {
    for t in twins {
        if let Ok(r) = t.await {
            log.twins.push(r);
        }
    }
    log
}
