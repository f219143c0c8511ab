//! Carries out a scenario's `[[fault]]`s at their times (counted from the
//! start of publishing): proxy faults on the chosen clients, broker
//! restarts, twins, and orders to the clients (`kill`, `malformed`; see
//! `client::order`). Records what was done, and when, for the report and
//! for loss attribution.

use super::proxy::{self, FaultProxy};
use super::twin::{self, Twin};
use crate::broker::BrokerHandle;
use crate::client::order::{ClientOrder, Kill, MalformedOrder};
use crate::control::Phase;
use crate::plan::{FaultPlan, Plan, Targets};
use crate::record::clock::RunClock;
use crate::record::TwinRecord;
use crate::scenario::FaultAction;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::record::{FaultEvent, FaultLog};

/// The proxy's targets: the chosen clients by their ids.
fn proxy_targets(plan: &Plan, targets: &Targets) -> proxy::ClientIds {
    match targets {
        Targets::All => proxy::ClientIds::All,
        Targets::Clients(v) => {
            proxy::ClientIds::Ids(v.iter().map(|&i| plan.clients[i as usize].client_id.clone()).collect())
        }
    }
}

pub struct FaultContext {
    pub plan: Arc<Plan>,
    /// midge's proxy in front of each broker (empty: no fault needs one).
    /// A proxy fault acts on every one: its clients are cut wherever they are.
    pub proxies: Vec<Arc<FaultProxy>>,
    pub broker: Arc<Mutex<BrokerHandle>>,
    /// Where clients (and twins) connect, by broker.
    pub endpoints: Arc<[crate::client::Endpoint]>,
    pub orders: watch::Sender<Option<Arc<ClientOrder>>>,
    /// Touched after each order, so every client wakes up to read it.
    pub phase: watch::Sender<Phase>,
    pub clock: RunClock,
}

/// What the schedule has done so far.
struct Done {
    log: FaultLog,
    twins: Vec<JoinHandle<TwinRecord>>,
    /// Every kill so far: each order carries them all (see `client::order`).
    kills: Vec<Kill>,
    /// Run-clock µs when publishing ends (timed faults end by then).
    end_us: u64,
}

/// Seconds, to the hundredth, as the record has them.
fn secs(us: u64) -> f64 {
    (us as f64 / 1e4).round() / 100.0
}

/// Runs the schedule until every fault is done or the run shuts down.
pub async fn run(ctx: FaultContext, start_us: u64, mut phase: watch::Receiver<Phase>) -> FaultLog {
    let end_us = start_us + ctx.plan.duration.as_micros() as u64;
    let mut done = Done { log: FaultLog::default(), twins: Vec::new(), kills: Vec::new(), end_us };
    for f in &ctx.plan.faults {
        let due = Instant::from_std(ctx.clock.instant_at(start_us + f.at.as_micros() as u64));
        loop {
            if *phase.borrow_and_update() == Phase::Shutdown {
                return finish(done).await;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                changed = phase.changed() => if changed.is_err() { break },
            }
        }
        let event = carry_out(&ctx, f, &mut done).await;
        done.log.events.push(event);
    }
    finish(done).await
}

/// Carries out one fault now; what happened, for the record.
async fn carry_out(ctx: &FaultContext, f: &FaultPlan, done: &mut Done) -> FaultEvent {
    let at = ctx.clock.now_us();
    let clients = f.targets.indices(ctx.plan.clients.len()).len() as u64;
    let mut event = FaultEvent { action: f.action.kind(), at_s: secs(at), until_s: None, clients, error: None };
    let hit = |done: &mut Done, until: u64| done.log.hits.push((at, until, f.targets.recorded()));
    let timed = |for_: Duration| at + for_.as_micros() as u64;
    match f.action {
        FaultAction::RestartBroker { down } => {
            let result = ctx.broker.lock().await.restart(down).await;
            let up = ctx.clock.now_us();
            done.log.restarts.push((at, up));
            event.until_s = Some(secs(up));
            event.error = result.err().map(|e| e.to_string());
        }
        FaultAction::Malformed { packet, size, count } => {
            let targets = f.targets.indices(ctx.plan.clients.len());
            done.log.malformed.push((at, targets.clone()));
            order(ctx, &done.kills, Some(MalformedOrder { targets, packet, size, count }));
        }
        FaultAction::Kill => {
            let killed = f.targets.indices(ctx.plan.clients.len());
            done.kills.extend(killed.into_iter().map(|client| Kill { client, at_us: at }));
            order(ctx, &done.kills, None);
        }
        FaultAction::DuplicateIds { for_ } => {
            let until_us = timed(for_).min(done.end_us);
            event.until_s = Some(secs(until_us));
            done.twins.extend(spawn_twins(ctx, &f.targets.indices(ctx.plan.clients.len()), until_us));
        }
        FaultAction::Stall { for_ } => {
            // The clients stall on their own, from the plan (`client::pacing`).
            let until = timed(for_).min(done.end_us);
            event.until_s = Some(secs(until));
            hit(done, until);
        }
        FaultAction::Cut | FaultAction::Blackhole { .. } | FaultAction::Delay { .. } | FaultAction::Drop { .. } => {
            if ctx.proxies.is_empty() {
                event.error = Some("no fault proxy in front of the broker".into());
                return event;
            }
            let who = proxy_targets(&ctx.plan, &f.targets);
            let mut lasts = None;
            for proxy in &ctx.proxies {
                lasts = by_proxy(proxy, f.action, who.clone());
            }
            event.until_s = lasts.map(|d| secs(timed(d)));
            // A drop hits packets, not a span of time: it opens no window.
            if !matches!(f.action, FaultAction::Drop { .. }) {
                hit(done, lasts.map_or(at, timed));
            }
        }
    }
    event
}

/// Has the proxy carry out a fault on `who`; how long it lasts, if it lasts.
fn by_proxy(proxy: &FaultProxy, action: FaultAction, who: proxy::ClientIds) -> Option<Duration> {
    match action {
        FaultAction::Cut => {
            proxy.cut(who);
            None
        }
        FaultAction::Blackhole { for_ } => {
            proxy.blackhole(who, for_);
            Some(for_)
        }
        FaultAction::Delay { delay, for_ } => {
            proxy.delay(who, delay, for_);
            Some(for_)
        }
        FaultAction::Drop { count, direction } => {
            let (to_client, to_broker) = direction.ways();
            proxy.drop_publishes(who, count, to_client, to_broker);
            None
        }
        _ => None,
    }
}

/// Sends the clients an order (with every kill so far) and wakes them to read it.
fn order(ctx: &FaultContext, kills: &[Kill], malformed: Option<MalformedOrder>) {
    let _ = ctx.orders.send(Some(Arc::new(ClientOrder { kills: kills.to_vec(), malformed })));
    ctx.phase.send_modify(|_| {});
}

/// The `duplicate-ids` fault: a twin per chosen client, with its id, its
/// source address and its reconnect policy, until `until_us`.
fn spawn_twins(ctx: &FaultContext, targets: &[u32], until_us: u64) -> Vec<tokio::task::JoinHandle<TwinRecord>> {
    let until = Instant::from_std(ctx.clock.instant_at(until_us));
    let twin_of = |i: u32| {
        let c = &ctx.plan.clients[i as usize];
        let g = ctx.plan.group_of(c);
        let endpoint = &ctx.endpoints[ctx.plan.broker_of(i)];
        Twin {
            broker: endpoint.addr,
            from: ctx.plan.source_addr(i),
            protocol: g.protocol,
            options: g.connect_options(&c.client_id),
            reconnect: g.reconnect.unwrap_or_default(),
            clock: ctx.clock,
            of_client: i,
            transport: endpoint.transports[c.group as usize].clone(),
        }
    };
    targets.iter().map(|&i| tokio::spawn(twin::run(twin_of(i), until))).collect()
}

async fn finish(done: Done) -> FaultLog {
    let mut log = done.log;
    for t in done.twins {
        if let Ok(r) = t.await {
            log.twins.push(r);
        }
    }
    log
}
