//! What a client keeps over the whole run (`Client`), split by lifetime:
//! the run-long parts here — its place in the plan, the session (which may
//! outlive a connection), the recorder, its timeline of connections — and
//! in their own parts the publisher (`publish.rs`), the presence under
//! client stages (`stay.rs`), the pacing of a slow consumer (`pacing.rs`)
//! and what belongs to one connection only (`link.rs`).
//!
//! Ownership: each client task owns its `Connection`, `Session` and `Recorder`
//! (with its `PublishLog` and `RxLog`) outright, in its `Client`; nothing
//! about a message is shared between tasks while the run goes on, and the
//! runner sees them only in the `ClientRecord` the task hands back. Shared on
//! the hot path (`ClientContext`): the client's metrics shard (taken once per
//! read's deliveries and once per publish batch), a few atomics (connected,
//! peak, inflight, offline, the slowest delivery) and the ready gates
//! (`control::ReadyGate`).

use super::link::Link;
use super::order::ClientOrder;
use super::pacing::Pacing;
use super::recorder::Recorder;
use super::session::Session;
use super::snapshot::Snapshots;
use crate::control::RunControl;
use crate::metrics::Metrics;
use crate::mqtt::protocol::ProtocolVersion;
use crate::plan::schedule::Schedule;
use crate::plan::Plan;
use crate::plan::{ClientPlan, GroupPlan};
use crate::record::Counters;
use crate::record::{Generation, LimitHit};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

pub(super) struct Client {
    pub(super) ctx: Arc<ClientContext>,
    /// Its index in the plan's clients (`me`): the plan is shared, so the
    /// client keeps no copy of its ids and topics.
    pub(super) index: u32,
    pub(super) group: Arc<GroupPlan>,
    /// The protocol state; it outlives a connection (a resumed session).
    pub(super) session: Session,
    pub(super) recorder: Recorder,
    pub(super) ready_marked: bool,
    /// The current connection attempt (replaced at each one).
    pub(super) link: Link,
    /// The connections that ended, in order (`link.gen` is the current one).
    pub(super) timeline: Vec<Generation>,
    /// The last snapshot round answered (its low 32 bits: a round every
    /// report interval never wraps them in a run).
    pub(super) answered: u32,
    /// The client as publisher (`publish.rs`).
    pub(super) publisher: Publisher,
    /// The broker's announced limits this client ran into (None: none).
    pub(super) limits: Option<Box<LimitHits>>,
    /// A slow or stalled consumer's held-back reads (None: reads freely).
    pub(super) pacing: Option<Box<Pacing>>,
    /// Some publisher sends user properties: deliveries are checked.
    pub(super) checks_user_props: bool,
    /// An MQTT 5 subscriber, and some publisher sets a message expiry:
    /// deliveries' expiry intervals are witnessed (`client::witness`).
    pub(super) checks_expiry: bool,
    /// Under client stages only (boxed: most clients have none): where the
    /// client stands on the stage clock (`stay.rs`).
    pub(super) stay: Option<Box<StayClock>>,
}

/// A client as publisher: its schedule from the start of publishing on,
/// and where it stands in it (a client without a publish stays as made).
#[derive(Default)]
pub(super) struct Publisher {
    pub(super) schedule: Option<Box<Schedule>>,
    pub(super) publishing: bool,
    /// The broker's announced limits forbid this client's publishing.
    pub(super) blocked: bool,
    /// It will publish no more, and the run was told (`mark_done`).
    pub(super) done_marked: bool,
    /// When `publish_due` last ran (run clock, µs).
    pub(super) published_at_us: u64,
    /// Schedule slots given up to `max_queued` (never sent: unsent); boxed,
    /// made at the first gap: most publishers never have one.
    pub(super) skips: Option<Box<SlotSkips>>,
}

/// How clients reach one of the run's brokers.
#[derive(Clone)]
pub struct Endpoint {
    /// The broker, or midge's fault proxy in front of it.
    pub addr: SocketAddr,
    /// How each group reaches it (TLS, WebSocket), by group index: a group
    /// may bring its own client certificate.
    pub transports: Arc<[crate::mqtt::transport::Transport]>,
}

impl ClientContext {
    /// Where client `index` connects.
    pub fn endpoint_of(&self, index: u32) -> &Endpoint {
        &self.endpoints[self.plan.broker_of(index)]
    }
}

/// What the run shares with every client.
pub struct ClientContext {
    pub plan: Arc<Plan>,
    pub metrics: Arc<Metrics>,
    /// The run clock and the gates the runner waits on.
    pub run: Arc<RunControl>,
    /// Where clients connect, by index in `Plan::brokers` (`Plan::broker_of`).
    pub endpoints: Arc<[Endpoint]>,
    /// Orders from the fault schedule (`kill`, `malformed`); each client keeps a clone.
    pub orders: watch::Receiver<Option<Arc<ClientOrder>>>,
    /// The runner's requests for a copy of every client's record (the
    /// periodic report).
    pub snapshots: Arc<Snapshots>,
}

/// A publisher with `max_queued`: the schedule slots it gave up because
/// more messages fell due while it was offline than its queue holds.
/// Message `seq` (contiguous, as the tracking header needs) takes slot
/// `slot(seq)`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SlotSkips {
    /// Slots skipped before `at_seq`'s gap.
    offset: u64,
    /// The latest gap: from message `at_seq` on, `len` more slots are skipped.
    at_seq: u64,
    len: u64,
}

impl SlotSkips {
    pub(super) fn slot(&self, seq: u64) -> u64 {
        seq + self.offset + if seq >= self.at_seq { self.len } else { 0 }
    }

    /// Slots given up so far.
    pub(super) fn total(&self) -> u64 {
        self.offset + self.len
    }

    /// From message `at_seq` on, skip `len` more slots.
    pub(super) fn skip(&mut self, at_seq: u64, len: u64) {
        *self = SlotSkips { offset: self.total(), at_seq, len };
    }
}

/// The broker's announced limits a client ran into: rarely any, so boxed
/// behind a thin pointer in every client's task.
#[derive(Debug, Clone, Default)]
pub(super) struct LimitHits(pub(super) Vec<LimitHit>);

/// A client's place on the stage clock under client stages.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StayClock {
    /// The start of publishing: the stage clock's zero (None: not yet).
    pub(super) start_us: Option<u64>,
    /// When the current stay ends on plan (run clock; None: at the end).
    pub(super) leave_at_us: Option<u64>,
    /// Back from a planned leave: the next connection is a rejoin.
    pub(super) rejoin: bool,
}

impl Client {
    pub(super) fn new(ctx: &Arc<ClientContext>, index: u32) -> Client {
        let me = &ctx.plan.clients[index as usize];
        let group = ctx.plan.groups[me.group as usize].clone();
        let shard = ctx.metrics.shard_for(index);
        // A 3.1.1 subscriber gets no properties at all: nothing to check.
        let checks_user_props = me.filter.is_some()
            && group.protocol == ProtocolVersion::V5
            && ctx.plan.groups.iter().any(|g| g.publish.as_ref().is_some_and(|p| !p.user_properties.is_empty()));
        let checks_expiry = me.filter.is_some()
            && group.protocol == ProtocolVersion::V5
            && ctx.plan.groups.iter().any(|g| g.publish.as_ref().is_some_and(|p| p.expiry_s.is_some()));
        Client {
            session: Session::new(group.max_inflight, group.keepalive.as_secs().min(u16::MAX as u64) as u16),
            recorder: Recorder::new(shard, group.publish.as_ref().map(|p| p.qos), me.filter.is_some()),
            ctx: ctx.clone(),
            index,
            group,
            ready_marked: false,
            link: Link::default(),
            timeline: Vec::new(),
            publisher: Publisher::default(),
            answered: 0,
            limits: None,
            pacing: Pacing::of(&ctx.plan, me),
            checks_user_props,
            checks_expiry,
            stay: ctx.plan.groups[ctx.plan.clients[index as usize].group as usize]
                .client_curve
                .is_some()
                .then(Box::default),
        }
    }

    /// This client in the plan.
    pub(super) fn me(&self) -> &ClientPlan {
        &self.ctx.plan.clients[self.index as usize]
    }

    pub(super) fn protocol(&self) -> ProtocolVersion {
        self.group.protocol
    }

    pub(super) fn protocol_v5(&self) -> bool {
        self.group.protocol == ProtocolVersion::V5
    }

    pub(super) fn now_us(&self) -> u64 {
        self.ctx.run.clock.now_us()
    }

    /// This publisher will publish no more: the run need not wait for it.
    pub(super) fn mark_done(&mut self) {
        if !self.publisher.done_marked && self.group.publish.is_some() {
            self.publisher.done_marked = true;
            self.ctx.run.publishers_done.mark_ready();
        }
    }

    pub(super) fn mark_ready(&mut self) {
        if !self.ready_marked {
            self.ready_marked = true;
            self.ctx.run.ready.mark_ready();
        }
    }

    pub(super) fn count(&self, f: impl FnOnce(&mut Counters)) {
        self.recorder.count(&self.ctx.metrics, f);
    }
}
