//! The Plan: a validated scenario turned into concrete clients, ids, topics
//! and streams. Everything a run needs to know before the first connection.

pub mod schedule;
pub mod stages;

use crate::ids::IdAllocator;
use crate::record::vocab::BatchMode;
use crate::scenario::{self, BrokerSpec, Expect, ProtocolVersion, ScenarioFile};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// When a publisher's messages are due (see `schedule`): at a
/// constant rate, as Poisson arrivals, or in bursts of n.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    #[default]
    Constant,
    Poisson,
    Burst(u32),
}

#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub qos: u8,
    pub rate: f64,
    pub payload: usize,
    pub retain: bool,
    pub count: Option<u64>,
    pub start_after: Duration,
    pub arrival: Arrival,
    /// With `[[stage]]`s: the rate over the stage clock (starting at `rate`);
    /// the schedule follows it.
    pub curve: Option<std::sync::Arc<stages::RateCurve>>,
}

#[derive(Debug, Clone)]
pub struct GroupPlan {
    pub name: String,
    pub first_client: u32,
    pub clients: u32,
    pub connect_rate: Option<f64>,
    pub protocol: ProtocolVersion,
    pub clean_session: bool,
    pub keepalive: Duration,
    pub max_inflight: u16,
    /// Filled from the environment by `Plan::resolve_secrets` just before a run.
    pub credentials: Option<Credentials>,
    /// Names of the environment variables holding the user name and password.
    pub secret_env: Option<(String, Option<String>)>,
    pub publish: Option<PublishPlan>,
    pub subscribe_qos: Option<u8>,
    /// None: a lost connection ends the client.
    pub reconnect: Option<scenario::ReconnectPolicy>,
    /// MQTT 5 session expiry sent with `clean_session = false`.
    pub session_expiry_s: u32,
    pub retry_connect: bool,
    /// With `[[stage]]`s naming this group's `clients`: its client count over
    /// the stage clock (from 0); its clients join as it rises.
    pub client_curve: Option<std::sync::Arc<stages::ClientCurve>>,
}

impl GroupPlan {
    /// Whether the broker keeps this group's session (and queues for it) while offline.
    pub fn persistent(&self) -> bool {
        !self.clean_session
    }

    /// When client `index` (of the whole plan, one of this group's) joins
    /// the run: µs from the start of publishing; 0 for a client that
    /// connects before publishing starts, as every client does without a
    /// client ramp.
    pub fn join_us(&self, index: u32) -> u64 {
        self.client_curve.as_ref().map_or(0, |c| c.join_us(index - self.first_client))
    }

    /// The CONNECT a client of this group sends (its twin sends the same).
    pub fn connect_options(&self, client_id: &str) -> crate::mqtt::ConnectOptions {
        let creds = self.credentials.clone();
        let v5 = self.protocol == ProtocolVersion::V5;
        crate::mqtt::ConnectOptions {
            client_id: client_id.to_string(),
            keep_alive_s: self.keepalive.as_secs().min(u16::MAX as u64) as u16,
            clean_start: self.clean_session,
            username: creds.as_ref().map(|c| c.username.clone()),
            password: creds.map(|c| c.password),
            session_expiry_s: (v5 && self.persistent()).then_some(self.session_expiry_s),
            receive_maximum: None,
        }
    }
}

/// One scheduled fault, resolved to the clients it hits.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// From the start of publishing.
    pub at: Duration,
    pub action: scenario::FaultAction,
    /// Client indices hit; empty means every client.
    pub targets: Vec<u32>,
    pub for_: Duration,
    pub delay: Duration,
    pub count: u64,
    pub direction: scenario::FaultDirection,
    pub packet: Option<scenario::MalformedPacket>,
    pub size: usize,
}

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
    pub duration: Duration,
    pub drain: Duration,
    /// `batch_window` (zero: none, or adaptive).
    pub batch_window: Duration,
    /// Adaptive without a `batch_window` key, off with a zero one, fixed otherwise.
    pub batch_mode: BatchMode,
    pub broker: BrokerSpec,
    /// mqtts:// brokers: certificates to trust and present, names resolved.
    pub tls: Option<crate::mqtt::transport::TlsPlan>,
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
    /// Local addresses to connect from (empty: the kernel chooses); the
    /// runner may fill it when the plan needs more source ports than one has.
    pub source_addrs: Vec<std::net::IpAddr>,
    pub expect: Expect,
}

impl Plan {
    /// The local address client `index` connects from, if the plan spreads them.
    pub fn source_addr(&self, index: u32) -> Option<std::net::IpAddr> {
        let addrs = &self.source_addrs;
        (!addrs.is_empty()).then(|| addrs[index as usize % addrs.len()])
    }

    /// Whether any fault needs midge's proxy between the clients and the broker.
    pub fn needs_proxy(&self) -> bool {
        use scenario::FaultAction::*;
        self.faults.iter().any(|f| matches!(f.action, Cut | Blackhole | Delay | Drop))
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
}

impl Plan {
    pub fn build(file: &ScenarioFile, overrides: &Overrides) -> anyhow::Result<Plan> {
        let s = &file.scenario;
        let broker_url =
            overrides.broker.clone().or_else(|| s.broker.url.clone()).unwrap_or_else(|| "embedded".to_string());
        let broker = BrokerSpec::parse(&broker_url).map_err(|e| anyhow::anyhow!("--broker: {e}"))?;
        let scenario_dir = scenario_dir(file);
        let tls = tls_plan(&s.broker, &broker, &scenario_dir);
        let mut ids = IdAllocator::new();
        let mut groups = Vec::new();
        let mut clients = Vec::new();
        let mut publishers = Vec::new();
        for (gi, g) in s.groups.iter().enumerate() {
            let g = g.get_ref();
            let secret_env = secret_names(
                g.username_env.as_ref().or(s.broker.username_env.as_ref()),
                g.password_env.as_ref().or(s.broker.password_env.as_ref()),
            )
            .map_err(|e| anyhow::anyhow!("group {:?}: {e}", g.name))?;
            let first_client = clients.len() as u32;
            add_clients(&mut ids, overrides.client_ids.as_deref(), gi as u16, g, &mut clients, &mut publishers);
            let mut group = group_plan(g, s.protocol, first_client, secret_env);
            stage_curves(&s.stages, &mut group);
            groups.push(std::sync::Arc::new(group));
        }
        let shares = find_shares(&clients);
        let streams = find_streams(&groups, &clients, &shares);
        let faults = fault_plans(&s.faults, &broker, &broker_url, &groups)?;
        let stages = stage_plans(&s.stages, &groups);
        Ok(Plan {
            name: s.name.clone(),
            scenario_path: file.path.display().to_string(),
            scenario_sha256: hex(&Sha256::digest(file.text.as_bytes())),
            scenario_text: file.text.clone(),
            overrides: overrides.clone(),
            run_id: overrides.run_id.unwrap_or_else(rand::random),
            duration: overrides
                .duration
                .or(s.duration.map(|d| d.0))
                .or((!s.stages.is_empty()).then(|| s.stages.iter().map(|st| st.get_ref().duration.get_ref().0).sum()))
                .unwrap_or(scenario::DEFAULT_DURATION),
            drain: s.drain.map(|d| d.0).unwrap_or(scenario::DEFAULT_DRAIN),
            batch_window: s.batch_window.as_ref().map(|w| w.get_ref().0).unwrap_or_default(),
            batch_mode: match s.batch_window.as_ref().map(|w| w.get_ref().0) {
                None => BatchMode::Adaptive,
                Some(Duration::ZERO) => BatchMode::Off,
                Some(_) => BatchMode::Fixed,
            },
            broker,
            tls,
            mosquitto_conf: s
                .broker
                .mosquitto_conf
                .iter()
                .map(|l| l.replace("{scenario_dir}", &scenario_dir.display().to_string()))
                .collect(),
            groups,
            clients,
            publishers,
            streams,
            shares,
            faults,
            stages,
            persistence: s.broker.persistence,
            source_addrs: match (&overrides.source_addrs, &s.broker.source_addrs) {
                (Some(v), _) => v.clone(),
                (None, Some(list)) => scenario::parse_source_addrs(list).map_err(|e| anyhow::anyhow!(e))?,
                (None, None) => Vec::new(),
            },
            expect: s.expect.clone(),
        })
    }

    /// Reads the credentials from the environment variables the scenario
    /// names (secrets never live in the file). Done just before a run, so
    /// `midge validate` does not need them.
    pub fn resolve_secrets(&mut self) -> anyhow::Result<()> {
        let read = |name: &str, key: &str| {
            std::env::var(name).map_err(|_| {
                anyhow::anyhow!(
                    "environment variable {name} (named by {key}) is not set; secrets come from the environment"
                )
            })
        };
        for g in self.groups.iter_mut().map(std::sync::Arc::make_mut) {
            if let Some((user, pass)) = &g.secret_env {
                let ctx = |e: anyhow::Error| anyhow::anyhow!("group {:?}: {e}", g.name);
                g.credentials = Some(Credentials {
                    username: read(user, "username_env").map_err(ctx)?,
                    password: match pass {
                        Some(p) => read(p, "password_env").map_err(ctx)?,
                        None => String::new(),
                    },
                });
            }
        }
        Ok(())
    }

    pub fn group_of(&self, client: &ClientPlan) -> &GroupPlan {
        &self.groups[client.group as usize]
    }
}

/// The directory the scenario file is in (absolute where it can be): TLS
/// paths and `{scenario_dir}` in mosquitto_conf are relative to it.
fn scenario_dir(file: &ScenarioFile) -> std::path::PathBuf {
    let dir = file.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// For mqtts:// brokers: `[broker.tls]` with its paths resolved, the
/// server name defaulting to the URL's host.
fn tls_plan(
    section: &scenario::BrokerSection,
    broker: &BrokerSpec,
    scenario_dir: &std::path::Path,
) -> Option<crate::mqtt::transport::TlsPlan> {
    broker.is_tls().then(|| {
        let section = section.tls.clone().unwrap_or_default();
        let path = |p: &Option<String>| p.as_ref().map(|p| scenario_dir.join(p));
        crate::mqtt::transport::TlsPlan {
            ca_file: path(&section.ca_file),
            cert_file: path(&section.cert_file),
            key_file: path(&section.key_file),
            server_name: section.server_name.clone().unwrap_or_else(|| broker.host().unwrap_or_default().to_string()),
        }
    })
}

/// Appends group `gi`'s clients (ids allocated, topic and filter filled in)
/// to `clients`, and its publishers to `publishers`.
/// The clients of one group; `given` ids (a recorded run's) come first.
fn add_clients(
    ids: &mut IdAllocator,
    given: Option<&[String]>,
    gi: u16,
    g: &scenario::Group,
    clients: &mut Vec<ClientPlan>,
    publishers: &mut Vec<u32>,
) {
    let id_spec = g.client_id.clone().unwrap_or(scenario::ClientIdSpec {
        scheme: scenario::IdScheme::PrefixRandom,
        prefix: None,
        id: None,
    });
    for i in 0..g.clients {
        let client_id = match given.and_then(|v| v.get(clients.len())) {
            Some(id) => id.clone(),
            None => ids.next(&id_spec, &g.name, i),
        };
        let fill =
            |t: &str| t.replace("{client}", &client_id).replace("{i}", &i.to_string()).replace("{group}", &g.name);
        let topic = g.publish.as_ref().map(|p| fill(&p.get_ref().topic.0));
        let filter = g.subscribe.as_ref().map(|f| fill(&f.get_ref().filter.0));
        let publisher = topic.as_ref().map(|_| {
            publishers.push(clients.len() as u32);
            publishers.len() as u32 - 1
        });
        clients.push(ClientPlan { index: clients.len() as u32, group: gi, client_id, topic, filter, publisher });
    }
}

/// One `[[group]]` with the scenario's defaults applied.
fn group_plan(
    g: &scenario::Group,
    protocol: ProtocolVersion,
    first_client: u32,
    secret_env: Option<(String, Option<String>)>,
) -> GroupPlan {
    GroupPlan {
        name: g.name.clone(),
        first_client,
        clients: g.clients,
        connect_rate: g.connect_rate,
        protocol: g.protocol.unwrap_or(protocol),
        clean_session: g.clean_session,
        keepalive: g.keepalive.map(|d| d.0).unwrap_or(scenario::DEFAULT_KEEPALIVE),
        max_inflight: g.max_inflight.unwrap_or(scenario::DEFAULT_MAX_INFLIGHT),
        credentials: None,
        secret_env,
        publish: g.publish.as_ref().map(|p| publish_plan(p.get_ref())),
        subscribe_qos: g.subscribe.as_ref().map(|f| f.get_ref().qos.0),
        reconnect: match g.reconnect {
            None => Some(scenario::ReconnectPolicy::default()),
            Some(scenario::ReconnectSpec::On(p)) => Some(p),
            Some(scenario::ReconnectSpec::Off) => None,
        },
        session_expiry_s: g.session_expiry.map_or(u32::MAX, |d| d.0.as_secs().min(u32::MAX as u64) as u32),
        retry_connect: g.retry_connect,
        client_curve: None,
    }
}

fn publish_plan(p: &scenario::PublishSpec) -> PublishPlan {
    PublishPlan {
        qos: p.qos.0,
        rate: p.rate,
        payload: p.payload,
        retain: p.retain,
        count: p.count,
        start_after: p.start_after.map_or(Duration::ZERO, |d| d.0),
        arrival: match p.arrival {
            scenario::ArrivalSpec::Constant => Arrival::Constant,
            scenario::ArrivalSpec::Poisson => Arrival::Poisson,
            scenario::ArrivalSpec::Burst => Arrival::Burst(p.burst.unwrap_or(10).max(1)),
        },
        curve: None,
    }
}

/// A stage's target for group `name` in one of its tables.
fn target<T: Copy>(table: &Option<std::collections::BTreeMap<toml::Spanned<String>, T>>, name: &str) -> Option<T> {
    table.iter().flatten().find(|(k, _)| k.get_ref() == name).map(|(_, v)| *v)
}

/// With `[[stage]]`s: the group's rate curve (from its `publish.rate`, if
/// it publishes) and, if a stage sets its `clients`, its client curve (from 0).
fn stage_curves(specs: &[toml::Spanned<scenario::StageSpec>], group: &mut GroupPlan) {
    if specs.is_empty() {
        return;
    }
    let us = |st: &scenario::StageSpec| st.duration.get_ref().0.as_micros() as u64;
    if let Some(p) = group.publish.as_mut() {
        let mut rate = p.rate;
        let segments: Vec<(u64, f64)> = specs
            .iter()
            .map(|st| {
                rate = target(&st.get_ref().rate, &group.name).unwrap_or(rate);
                (us(st.get_ref()), rate)
            })
            .collect();
        p.curve = Some(std::sync::Arc::new(stages::RateCurve::new(p.rate, &segments)));
    }
    if specs.iter().any(|st| target(&st.get_ref().clients, &group.name).is_some()) {
        let mut n = 0.0;
        let segments: Vec<(u64, f64)> = specs
            .iter()
            .map(|st| {
                n = target(&st.get_ref().clients, &group.name).map_or(n, f64::from);
                (us(st.get_ref()), n)
            })
            .collect();
        group.client_curve = Some(std::sync::Arc::new(stages::ClientCurve::new(&segments)));
    }
}

/// The stages as planned: times, and every group's rate and clients at each end.
fn stage_plans(
    specs: &[toml::Spanned<scenario::StageSpec>],
    groups: &[std::sync::Arc<GroupPlan>],
) -> Vec<stages::StagePlan> {
    let mut rates: std::collections::BTreeMap<String, f64> =
        groups.iter().filter_map(|g| Some((g.name.clone(), g.publish.as_ref()?.rate))).collect();
    let mut clients: std::collections::BTreeMap<String, u32> =
        groups.iter().map(|g| (g.name.clone(), if g.client_curve.is_some() { 0 } else { g.clients })).collect();
    let mut at = 0u64;
    specs
        .iter()
        .map(|st| {
            let st = st.get_ref();
            for (name, r) in rates.iter_mut() {
                *r = target(&st.rate, name).unwrap_or(*r);
            }
            for (name, n) in clients.iter_mut() {
                *n = target(&st.clients, name).unwrap_or(*n);
            }
            let start_us = at;
            at += st.duration.get_ref().0.as_micros() as u64;
            stages::StagePlan { start_us, end_us: at, rate: rates.clone(), clients: clients.clone() }
        })
        .collect()
}

/// The `[[fault]]`s resolved to the clients they hit, in time order.
fn fault_plans(
    specs: &[toml::Spanned<scenario::FaultSpec>],
    broker: &BrokerSpec,
    broker_url: &str,
    groups: &[std::sync::Arc<GroupPlan>],
) -> anyhow::Result<Vec<FaultPlan>> {
    let mut faults = Vec::new();
    for f in specs {
        let f = f.get_ref();
        if f.action == scenario::FaultAction::RestartBroker && *broker != BrokerSpec::SpawnMosquitto {
            anyhow::bail!(
                "fault restart-broker needs a broker midge starts itself: use broker \"spawn:mosquitto\" (the broker here is {broker_url})"
            );
        }
        let targets = match &f.group {
            None => Vec::new(),
            Some(name) => {
                let g = groups.iter().find(|g| &g.name == name).expect("validated");
                let n = f.clients.unwrap_or(g.clients);
                (g.first_client..g.first_client + n).collect()
            }
        };
        faults.push(FaultPlan {
            at: f.at.0,
            action: f.action,
            targets,
            for_: f.for_.map_or(Duration::from_secs(1), |d| d.0),
            delay: f.delay.map_or(Duration::ZERO, |d| d.0),
            count: f.count.unwrap_or(1),
            direction: f.direction,
            packet: f.packet,
            size: f.size.unwrap_or(1024 * 1024),
        });
    }
    faults.sort_by_key(|f| f.at);
    Ok(faults)
}

fn secret_names(
    user_env: Option<&String>,
    pass_env: Option<&String>,
) -> Result<Option<(String, Option<String>)>, String> {
    match (user_env, pass_env) {
        (None, None) => Ok(None),
        (Some(u), p) => Ok(Some((u.clone(), p.cloned()))),
        (None, Some(_)) => Err("password_env is set without username_env".into()),
    }
}

/// Clients subscribed with the same `$share/{group}/{filter}` form one share group.
fn find_shares(clients: &[ClientPlan]) -> Vec<SharePlan> {
    let mut shares: Vec<SharePlan> = Vec::new();
    for c in clients {
        let Some(filter) = c.filter.as_deref().filter(|f| crate::topic::shared(f).is_some()) else { continue };
        match shares.iter_mut().find(|s| s.filter == filter) {
            Some(s) => s.members.push(c.index),
            None => shares.push(SharePlan { filter: filter.to_string(), members: vec![c.index] }),
        }
    }
    shares
}

/// A stream for every (publisher, subscriber) whose topic matches the
/// filter, and one for every (publisher, share group) whose topic matches
/// the share's filter.
fn find_streams(groups: &[std::sync::Arc<GroupPlan>], clients: &[ClientPlan], shares: &[SharePlan]) -> Vec<StreamPlan> {
    let subscribers: Vec<&ClientPlan> =
        clients.iter().filter(|c| c.filter.as_deref().is_some_and(|f| crate::topic::shared(f).is_none())).collect();
    let sub_qos = |c: u32| groups[clients[c as usize].group as usize].subscribe_qos.unwrap_or(0);
    let mut streams = Vec::new();
    for p in clients.iter().filter(|c| c.topic.is_some()) {
        let topic = p.topic.as_deref().unwrap_or_default();
        let pub_qos = groups[p.group as usize].publish.as_ref().map_or(0, |x| x.qos);
        for s in subscribers.iter().filter(|s| crate::topic::matches(s.filter.as_deref().unwrap_or_default(), topic)) {
            let qos = pub_qos.min(sub_qos(s.index));
            streams.push(StreamPlan { publisher_client: p.index, subscriber_client: s.index, qos, share: None });
        }
        for (i, share) in shares.iter().enumerate() {
            let (_, filter) = crate::topic::shared(&share.filter).expect("a share group's filter is shared");
            if crate::topic::matches(filter, topic) {
                let first = share.members[0];
                let qos = pub_qos.min(sub_qos(first));
                streams.push(StreamPlan {
                    publisher_client: p.index,
                    subscriber_client: first,
                    qos,
                    share: Some(i as u32),
                });
            }
        }
    }
    streams
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Plan {
    /// What this plan was made from, for the run record.
    pub fn identity(&self) -> crate::record::PlanIdentity {
        crate::record::PlanIdentity {
            scenario_path: self.scenario_path.clone(),
            scenario_text: self.scenario_text.clone(),
            scenario_sha256: self.scenario_sha256.clone(),
            run_id: self.run_id,
            broker_override: self.overrides.broker.clone(),
            duration_override: self.overrides.duration,
            source_addrs: self.source_addrs.iter().map(|a| a.to_string()).collect(),
            client_ids: self.clients.iter().map(|c| c.client_id.clone()).collect(),
        }
    }

    /// The plan of a recorded run, built again from its scenario text and
    /// overrides, with what was chosen at run time put back (run id, client
    /// ids, source addresses). Secrets are not resolved: the analysis needs none.
    pub fn rebuild(id: &crate::record::PlanIdentity) -> anyhow::Result<Plan> {
        let file = ScenarioFile::parse(std::path::Path::new(&id.scenario_path), &id.scenario_text)?;
        let overrides = Overrides {
            broker: id.broker_override.clone(),
            duration: id.duration_override,
            source_addrs: None,
            run_id: Some(id.run_id),
            client_ids: Some(id.client_ids.clone()),
            // What it measured is in the record's time series.
            broker_pid: None,
        };
        let mut plan = Plan::build(&file, &overrides)?;
        anyhow::ensure!(
            id.client_ids.len() == plan.clients.len(),
            "the scenario plans {} clients, the record {}",
            plan.clients.len(),
            id.client_ids.len()
        );
        plan.source_addrs = id.source_addrs.iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests;
