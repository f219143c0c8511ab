//! The plan's shape: the run's clients, streams and share groups, the
//! command line's overrides, and what a run asks of them.
//!
//! Also here: `Overrides` (the command line's, kept in the run record);
//! `Plan::retained_topics` (what the end-of-run cleanup clears);
//! `Plan::whole_plan_index` (a shard's client index in the whole plan);
//! `batch_mode` (no `batch_window` key: adaptive, zero: off, else fixed).

use super::faults::{FaultPlan, Targets};
use super::group::GroupPlan;
use super::{shard, stages};
use crate::record::vocab::BatchMode;
use crate::scenario::{BrokerSpec, Expect, FaultAction};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// Index in `Plan::clients`, unique in the run.
    pub index: u32,
    pub group: u16,
    pub client_id: String,
    pub topic: Option<String>,
    pub filter: Option<String>,
    /// Index among all publishers of the run (carried in the payload header).
    pub publisher: Option<u32>,
    /// The topic of its last will (its group has `will`).
    pub will_topic: Option<String>,
    /// Which of `Plan::brokers` it connects to (client k of its group: the
    /// group's k mod N-th).
    pub broker: u16,
}

/// One broker of the run: `[broker] url` (one or a list) and the groups' own `broker`.
#[derive(Debug, Clone)]
pub struct BrokerPlan {
    /// As written (the report's key).
    pub url: String,
    pub spec: BrokerSpec,
    /// mqtts://, wss://: certificates to trust and present, its server name.
    pub tls: Option<crate::mqtt::transport::TlsPlan>,
}

/// A (publisher, subscriber) pair whose topic matches the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPlan {
    pub publisher_client: u32,
    /// The subscriber; for a shared subscription, its share group's first member.
    pub subscriber_client: u32,
    /// min(publish qos, subscription qos): the QoS the subscriber receives at.
    pub qos: u8,
    /// A shared subscription: the index of its share group in `Plan::shares`
    /// (the stream is then (publisher, share group)).
    pub share: Option<u32>,
}

/// A share group: the clients subscribed with the same `$share/{group}/{filter}`.
/// A matching message is owed once to the group, whichever member takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePlan {
    /// The whole filter, `$share/{group}/{filter}`.
    pub filter: String,
    /// Client indices, in plan order.
    pub members: Vec<u32>,
}

/// A run without a duration publishes until stopped: its `duration` is this
/// (about ten years), so every schedule and countdown stays finite.
pub const UNTIL_STOPPED: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub scenario_path: String,
    pub scenario_sha256: String,
    /// The scenario file as it was read, and the command line's overrides:
    /// what the run record keeps so the plan can be built again.
    pub scenario_text: String,
    pub overrides: Overrides,
    pub run_id: u64,
    /// How long publishing runs; `UNTIL_STOPPED` when `until_stopped`.
    pub duration: Duration,
    /// No duration anywhere (file, `--duration`, `[[stage]]`): publishing
    /// runs until a stop signal (Ctrl-C), which ends it as the planned end
    /// would (`runner::run`), or until every counted publisher is done.
    pub until_stopped: bool,
    pub drain: Duration,
    /// `report_every`: how often the partial report is rewritten while the
    /// run goes on (None: never; the default is every 60 s for a run longer
    /// than that).
    pub report_every: Option<Duration>,
    /// `batch_window` (zero: none, or adaptive).
    pub batch_window: Duration,
    /// Adaptive without a `batch_window` key, off with a zero one, fixed otherwise.
    pub batch_mode: BatchMode,
    /// The first of `brokers` (the only one, but for a cluster's nodes).
    pub broker: BrokerSpec,
    /// mqtts:// brokers: certificates to trust and present, names resolved (`brokers[0]`'s).
    pub tls: Option<crate::mqtt::transport::TlsPlan>,
    /// Every broker the clients connect to, each once; `broker` is the first.
    pub brokers: Vec<BrokerPlan>,
    /// With several brokers: each publisher's (by publisher index, the whole
    /// plan's), for e2e latency per (publisher's broker, subscriber's) pair.
    /// Empty with one broker.
    pub publisher_brokers: std::sync::Arc<[u16]>,
    pub mosquitto_conf: Vec<String>,
    /// Shared with every client task of the group (one copy, not one per client).
    pub groups: Vec<std::sync::Arc<GroupPlan>>,
    pub clients: Vec<ClientPlan>,
    pub publishers: Vec<u32>,
    pub streams: Vec<StreamPlan>,
    /// Share groups of shared subscriptions.
    pub shares: Vec<SharePlan>,
    pub faults: Vec<FaultPlan>,
    /// `[[stage]]`s in order (empty without them: one stage of `duration`).
    pub stages: Vec<stages::StagePlan>,
    /// spawn:mosquitto with persistence on.
    pub persistence: bool,
    /// `retained_cleanup`: clear the topics midge set retained at the end.
    pub retained_cleanup: bool,
    /// Local addresses to connect from (empty: the kernel chooses); the
    /// run's own, spread wider when it needs more source ports than one
    /// address has, are set once by `Plan::resolved`.
    pub source_addrs: Vec<std::net::IpAddr>,
    pub expect: Expect,
    /// On a shard: what the slice remembers of the whole plan.
    pub shard: Option<shard::ShardSlice>,
    /// `--start-at`: when publishing starts, Unix µs (every shard alike).
    pub start_at_unix_us: Option<u64>,
}

/// How many of a plan's clients connect to one of its brokers, and from
/// which groups (`Plan::clients_per_broker`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerShare {
    /// The broker's URL as written.
    pub url: String,
    pub clients: u64,
    /// (group name, its clients on this broker), in the scenario's order;
    /// only groups with at least one.
    pub groups: Vec<(String, u64)>,
}

impl Plan {
    /// Per broker, in `brokers`' order: its clients and their groups, as
    /// the plan spreads them — a group's client k on its k mod N-th broker
    /// (`build::add_clients`), a group with its own `broker` all on that one.
    /// From the groups' counts alone, so it holds for an outline too.
    pub fn clients_per_broker(&self) -> Vec<BrokerShare> {
        let mut shares: Vec<BrokerShare> =
            self.brokers.iter().map(|b| BrokerShare { url: b.url.clone(), clients: 0, groups: Vec::new() }).collect();
        for g in &self.groups {
            let n = g.brokers.len() as u64;
            for (k, &b) in g.brokers.iter().enumerate() {
                // Clients k, k + n, k + 2n, … of the group.
                let mine = (g.clients as u64 + n - 1 - k as u64) / n;
                if let (Some(share), true) = (shares.get_mut(b as usize), mine > 0) {
                    share.clients += mine;
                    share.groups.push((g.name.clone(), mine));
                }
            }
        }
        shares
    }

    /// Which of `brokers` client `index` connects to.
    pub fn broker_of(&self, index: u32) -> usize {
        self.clients.get(index as usize).map_or(0, |c| c.broker as usize)
    }

    /// Publishers in the whole plan (on a shard: on every shard).
    pub fn publishers_total(&self) -> u32 {
        self.shard.as_ref().map_or(self.publishers.len() as u32, |s| s.publishers_total)
    }

    /// The local address client `index` connects from, if the plan spreads them.
    pub fn source_addr(&self, index: u32) -> Option<std::net::IpAddr> {
        let addrs = &self.source_addrs;
        (!addrs.is_empty()).then(|| addrs[index as usize % addrs.len()])
    }

    /// Client `index`'s index in the whole plan (a shard's slice renumbers
    /// its clients): what a will's payload names, so a merge can match it.
    pub fn whole_plan_index(&self, index: u32) -> u32 {
        self.shard.as_ref().and_then(|s| s.global.get(index as usize).copied()).unwrap_or(index)
    }

    /// The topics midge publishes retained messages to (each once, in plan order).
    pub fn retained_topics(&self) -> Vec<&str> {
        let mut seen = std::collections::BTreeSet::new();
        self.clients
            .iter()
            .filter(|c| self.group_of(c).publish.as_ref().is_some_and(|p| p.retain))
            .filter_map(|c| c.topic.as_deref())
            .filter(|t| seen.insert(*t))
            .collect()
    }
}

/// Options from the command line that override the scenario.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub broker: Option<String>,
    pub duration: Option<Duration>,
    /// `--source-addrs`, already parsed.
    pub source_addrs: Option<Vec<std::net::IpAddr>>,
    /// The run id to use (default: a random one).
    pub run_id: Option<u64>,
    /// Client ids an earlier build chose (a recorded run's plan built again):
    /// the i-th planned client gets the i-th.
    pub client_ids: Option<Vec<String>>,
    /// `--broker-pid`: the process of a local broker midge did not start,
    /// whose CPU and memory the time series follows.
    pub broker_pid: Option<u32>,
    /// `--shard I/N`: run only that slice of the plan.
    pub shard: Option<shard::ShardId>,
    /// `--run-id NAME`: the run id is derived from the scenario and NAME, so
    /// every shard of a run shares it (16 hex digits: that id itself).
    pub run_name: Option<String>,
    /// `--start-at`: when publishing starts, Unix µs.
    pub start_at_unix_us: Option<u64>,
}

impl Plan {
    pub fn group_of(&self, client: &ClientPlan) -> &GroupPlan {
        &self.groups[client.group as usize]
    }

    /// Whether any fault needs midge's proxy between the clients and the broker.
    pub fn needs_proxy(&self) -> bool {
        self.faults.iter().any(|f| f.action.needs_proxy())
    }

    /// The `stall` faults client `index` takes part in: (at, for), µs from
    /// the start of publishing, in time order.
    pub fn stalls_of(&self, index: u32) -> Vec<(u64, u64)> {
        let stall = |f: &FaultPlan| match f.action {
            FaultAction::Stall { for_ } if f.targets.hits(index) => {
                Some((f.at.as_micros() as u64, for_.as_micros() as u64))
            }
            _ => None,
        };
        self.faults.iter().filter_map(stall).collect()
    }

    /// Until when (µs from the start of publishing) the broker may still owe
    /// deliveries by midge's own doing, whatever the counters say: the
    /// latest `hold_of` any fault. None: nothing is held. The drain waits for it.
    pub fn holds_until_us(&self) -> Option<u64> {
        self.faults.iter().filter_map(|f| self.hold_of(f)).max()
    }

    /// Until when (µs from the start of publishing) fault `f` keeps
    /// something owed from arriving: a `stall` to its end (the subscriber
    /// reads nothing until then, publishing or not); a `delay` until what it
    /// delayed last — sent by its end or publishing's, whichever is first —
    /// is through; a `kill` or `cut` until the will of every will-bearing
    /// client it ends must have arrived (`will_owed_by_us`: its delay plus
    /// the broker's will-delay granularity) — unless its group reconnects
    /// (first delay, jitter and a second to connect) before the will delay
    /// ends, which cancels the will. None for the other faults.
    pub fn hold_of(&self, f: &FaultPlan) -> Option<u64> {
        let at = f.at.as_micros() as u64;
        let will_owed_by = || {
            let with_will = |&i: &u32| self.clients.get(i as usize).filter(|c| c.will_topic.is_some());
            let due = |c: &ClientPlan| {
                let g = self.group_of(c);
                let delay_us = g.will_delay_us();
                // Back (at its first reconnect, within a second) before the delay ends: no will.
                let back_us = g.reconnect.map(|r| r.delay.mul_f64(1.0 + r.jitter).as_micros() as u64 + 1_000_000);
                let comes_back = delay_us > 0 && back_us.is_some_and(|b| b < delay_us);
                (!comes_back).then(|| super::will::will_owed_by_us(at + delay_us, delay_us > 0))
            };
            f.targets.indices(self.clients.len()).iter().filter_map(with_will).filter_map(due).max()
        };
        match f.action {
            FaultAction::Stall { for_ } => Some(at + for_.as_micros() as u64),
            FaultAction::Delay { delay, for_ } => {
                let last_sent = (at + for_.as_micros() as u64).min(self.duration.as_micros() as u64);
                Some(last_sent + delay.as_micros() as u64)
            }
            FaultAction::Kill | FaultAction::Cut => will_owed_by(),
            _ => None,
        }
    }

    /// How many twin connections the `duplicate-ids` faults open.
    pub fn twins(&self) -> u64 {
        let twins = |f: &FaultPlan| match (&f.action, &f.targets) {
            (FaultAction::DuplicateIds { .. }, Targets::Clients(v)) => v.len() as u64,
            (FaultAction::DuplicateIds { .. }, Targets::All) => self.clients.len() as u64,
            _ => 0,
        };
        self.faults.iter().map(twins).sum()
    }
}
