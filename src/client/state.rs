//! What a client keeps over the whole run (`Client`), split by lifetime:
//! the run-long parts here — its place in the plan, the session (which may
//! outlive a connection), the recorder, its timeline of connections — and
//! in their own parts the publisher (`publish.rs`), the presence under
//! client stages (`stay.rs`), the pacing of a slow consumer (`pacing.rs`)
//! and what belongs to one connection only (`link.rs`).

use super::link::Alias;
use super::pacing::Pacing;
use super::publish::SlotSkips;
use super::recorder::Recorder;
use super::session::Session;
use super::stay::StayClock;
use super::task::ClientContext;
use crate::metrics::Counters;
use crate::plan::schedule::Schedule;
use crate::plan::{ClientPlan, GroupPlan};
use crate::record::{Generation, LimitHit};
use crate::scenario::ProtocolVersion;
use std::sync::Arc;

pub(super) struct Client {
    pub(super) ctx: Arc<ClientContext>,
    /// Its index in the plan's clients (`me`): the plan is shared, so the
    /// client keeps no copy of its ids and topics.
    pub(super) index: u32,
    pub(super) group: Arc<GroupPlan>,
    pub(super) session: Session,
    pub(super) recorder: Recorder,
    pub(super) ready_marked: bool,
    pub(super) done_marked: bool,
    pub(super) gen: Generation,
    /// The connections that ended, in order (`gen` is the current one).
    pub(super) timeline: Vec<Generation>,
    /// The last snapshot round answered (its low 32 bits: a round every
    /// report interval never wraps them in a run).
    pub(super) answered: u32,
    pub(super) schedule: Option<Box<Schedule>>,
    pub(super) publishing: bool,
    /// The broker's announced limits forbid this client's publishing.
    pub(super) publish_blocked: bool,
    pub(super) limits: Vec<LimitHit>,
    pub(super) receive_maximum: Option<u16>,
    /// When `publish_due` last ran (run clock, µs).
    pub(super) published_at_us: u64,
    /// A slow or stalled consumer's held-back reads (None: reads freely).
    pub(super) pacing: Option<Box<Pacing>>,
    /// MQTT 5 topic alias on this connection.
    pub(super) alias: Alias,
    /// On this connection: topic bytes the alias left out, alias property bytes it added.
    pub(super) alias_bytes: (u64, u64),
    /// Some publisher sends user properties: deliveries are checked.
    pub(super) checks_user_props: bool,
    /// Schedule slots given up to `max_queued` (never sent: unsent); boxed,
    /// made at the first gap: most publishers never have one.
    pub(super) skips: Option<Box<SlotSkips>>,
    /// Connection attempts so far (the next one's timeline index): the will names it.
    pub(super) attempts: u32,
    /// Under client stages only (boxed: most clients have none): where the
    /// client stands on the stage clock (`stay.rs`).
    pub(super) stay: Option<Box<StayClock>>,
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
        Client {
            session: Session::new(group.max_inflight, group.keepalive.as_secs().min(u16::MAX as u64) as u16),
            recorder: Recorder::new(shard, group.publish.as_ref().map(|p| p.qos), me.filter.is_some()),
            ctx: ctx.clone(),
            index,
            group,
            ready_marked: false,
            done_marked: false,
            gen: Generation::default(),
            timeline: Vec::new(),
            answered: 0,
            schedule: None,
            publishing: false,
            publish_blocked: false,
            limits: Vec::new(),
            receive_maximum: None,
            published_at_us: 0,
            pacing: Pacing::of(&ctx.plan, me),
            alias: Alias::Off,
            alias_bytes: (0, 0),
            skips: None,
            checks_user_props,
            attempts: 0,
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
        self.ctx.metrics.clock.now_us()
    }

    /// This publisher will publish no more: the run need not wait for it.
    pub(super) fn mark_done(&mut self) {
        if !self.done_marked && self.group.publish.is_some() {
            self.done_marked = true;
            self.ctx.metrics.publishers_done.mark_ready();
        }
    }

    pub(super) fn mark_ready(&mut self) {
        if !self.ready_marked {
            self.ready_marked = true;
            self.ctx.metrics.ready.mark_ready();
        }
    }

    pub(super) fn count(&self, f: impl FnOnce(&mut Counters)) {
        self.recorder.count(&self.ctx.metrics, f);
    }
}
