//! The Plan: a validated scenario turned into concrete clients, ids, topics
//! and streams. Everything a run needs to know before the first connection.

pub mod schedule;
pub mod shard;
pub mod stages;

use crate::ids::IdAllocator;
use crate::record::vocab::BatchMode;
use crate::scenario::{self, BrokerSpec, Expect, ProtocolVersion, ScenarioFile};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// Debug shows no password (a plan may end up in a log or a panic message).
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// Where a credential comes from: never the scenario itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable, by name.
    Env(String),
    /// A file (a mounted secret), its path resolved against the scenario's directory.
    File(std::path::PathBuf),
}

impl SecretSource {
    /// The secret, a trailing newline trimmed from a file's; errors name the
    /// variable or file (and the key that named it), never the value.
    pub fn read(&self, key: &str) -> anyhow::Result<String> {
        match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                anyhow::anyhow!(
                    "environment variable {name} (named by {key}_env) is not set; secrets come from the environment or a file ({key}_file)"
                )
            }),
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {key}_file {}: {e}", path.display()))?;
                Ok(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string())
            }
        }
    }
}

/// A group's last will; the topic is filled per client (`ClientPlan::will_topic`).
#[derive(Debug, Clone)]
pub struct WillPlan {
    /// Text after midge's tag in the payload.
    pub payload: Option<String>,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 Will Delay Interval, seconds.
    pub delay_s: Option<u32>,
}

/// What a will's payload starts with: `midge-will/<run id>/<client index>/<connection>`.
pub const WILL_TAG: &str = "midge-will/";

/// The payload of client `index`'s will on its `connection`-th connection attempt.
pub fn will_payload(run_id: u64, index: u32, connection: u32, text: Option<&str>) -> Vec<u8> {
    let mut p = format!("{WILL_TAG}{run_id:016x}/{index}/{connection}");
    if let Some(t) = text {
        p.push(' ');
        p.push_str(t);
    }
    p.into_bytes()
}

/// A will payload midge made: (run id, client index, connection), or None.
pub fn parse_will_payload(payload: &[u8]) -> Option<(u64, u32, u32)> {
    let text = std::str::from_utf8(payload.strip_prefix(WILL_TAG.as_bytes())?).ok()?;
    let tag = text.split(' ').next()?;
    let mut parts = tag.split('/');
    let run = u64::from_str_radix(parts.next()?, 16).ok()?;
    let index = parts.next()?.parse().ok()?;
    let connection = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((run, index, connection))
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
    /// MQTT 5 message expiry interval, in seconds.
    pub expiry_s: Option<u32>,
    pub topic_alias: bool,
    pub user_properties: Vec<(String, String)>,
    /// The PUBLISH properties on the wire (MQTT 5): expiry and user
    /// properties, and the same with topic alias 1.
    pub props: bytes::Bytes,
    pub props_alias: bytes::Bytes,
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
    /// A publisher's own queue while disconnected (None: unbounded).
    pub max_queued: Option<u64>,
    /// MQTT 3.1.1: resend unacknowledged QoS 1/2 on the same connection after this long.
    pub retry_interval: Option<Duration>,
    /// Filled from the environment or files by `Plan::resolve_secrets` just before a run.
    pub credentials: Option<Credentials>,
    /// Where the user name and password come from.
    pub secret_env: Option<(SecretSource, Option<SecretSource>)>,
    pub will: Option<WillPlan>,
    /// `start_after`: the group connects this long after publishing starts.
    pub start_after: Duration,
    pub publish: Option<PublishPlan>,
    pub subscribe_qos: Option<u8>,
    /// A slow consumer: at most this many deliveries taken in per second.
    pub max_rate: Option<f64>,
    /// None: a lost connection ends the client.
    pub reconnect: Option<scenario::ReconnectPolicy>,
    /// MQTT 5 session expiry sent with `clean_session = false`.
    pub session_expiry_s: u32,
    pub retry_connect: bool,
    /// With `[[stage]]`s naming this group's `clients`: its client count over
    /// the stage clock (from 0); its clients join as it rises.
    pub client_curve: Option<std::sync::Arc<stages::ClientCurve>>,
    /// Its own TLS client certificate and key (a group's `tls`), resolved
    /// against the scenario's folder; None: `[broker.tls]`'s.
    pub tls_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// On a shard (`--shard I/N`): this group's clients are every N-th of
    /// the whole group's, from the I-th.
    pub slice: Option<shard::ShardId>,
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
        let curve = self.client_curve.as_ref().map_or(0, |c| c.join_us(self.place_in_group(index)));
        curve + self.start_after.as_micros() as u64
    }

    /// Client `index`'s place in the whole group: joins and leaves follow
    /// the whole plan, not a shard's slice of it.
    fn place_in_group(&self, index: u32) -> u32 {
        let k = index - self.first_client;
        self.slice.map_or(k, |s| k * s.count + s.index)
    }

    /// When client `index` is in the run, µs from the start of publishing:
    /// one stay from its join to the end without a client stage; with one,
    /// a stay per rise of the group's count past it (left by a ramp down).
    pub fn presence(&self, index: u32) -> Vec<stages::Presence> {
        let after = self.start_after.as_micros() as u64;
        let Some(curve) = &self.client_curve else {
            return vec![stages::Presence { join_us: after, leave_us: None }];
        };
        let shift = |p: stages::Presence| stages::Presence {
            join_us: p.join_us + after,
            leave_us: p.leave_us.map(|l| l + after),
        };
        curve.presence(self.place_in_group(index)).into_iter().map(shift).collect()
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
            will: None,
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
    /// The topic of its last will (its group has `will`).
    pub will_topic: Option<String>,
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
    /// `report_every`: how often the partial report is rewritten while the
    /// run goes on (None: never; the default is every 60 s for a run longer
    /// than that).
    pub report_every: Option<Duration>,
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
    /// `retained_cleanup`: clear the topics midge set retained at the end.
    pub retained_cleanup: bool,
    /// Local addresses to connect from (empty: the kernel chooses); the
    /// runner may fill it when the plan needs more source ports than one has.
    pub source_addrs: Vec<std::net::IpAddr>,
    pub expect: Expect,
    /// On a shard: what the slice remembers of the whole plan.
    pub shard: Option<shard::ShardSlice>,
    /// `--start-at`: when publishing starts, Unix µs (every shard alike).
    pub start_at_unix_us: Option<u64>,
}

impl Plan {
    /// Publishers in the whole plan (on a shard: on every shard).
    pub fn publishers_total(&self) -> u32 {
        self.shard.as_ref().map_or(self.publishers.len() as u32, |s| s.publishers_total)
    }

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
    pub fn build(file: &ScenarioFile, overrides: &Overrides) -> anyhow::Result<Plan> {
        let s = &file.scenario;
        let broker_url =
            overrides.broker.clone().or_else(|| s.broker.url.clone()).unwrap_or_else(|| "embedded".to_string());
        let broker = BrokerSpec::parse(&broker_url).map_err(|e| anyhow::anyhow!("--broker: {e}"))?;
        let scenario_dir = scenario_dir(file);
        let tls = tls_plan(&s.broker, &broker, &scenario_dir);
        let scenario_sha256 = hex(&Sha256::digest(file.text.as_bytes()));
        let run_id = run_id(overrides, &scenario_sha256, &broker)?;
        let mut ids = IdAllocator::seeded(run_id, overrides.start_at_unix_us.map(|us| us as u128 / 1000));
        let mut groups = Vec::new();
        let mut clients = Vec::new();
        let mut publishers = Vec::new();
        for (gi, g) in s.groups.iter().enumerate() {
            let g = g.get_ref();
            let secret_env =
                secret_names(g, &s.broker, &scenario_dir).map_err(|e| anyhow::anyhow!("group {:?}: {e}", g.name))?;
            let first_client = clients.len() as u32;
            add_clients(&mut ids, overrides.client_ids.as_deref(), gi as u16, g, &mut clients, &mut publishers);
            let mut group = group_plan(g, s.protocol, first_client, secret_env);
            if let Some(t) = &g.tls {
                if !broker.is_tls() {
                    anyhow::bail!(
                        "group {:?}: `tls` (a client certificate) needs a TLS broker (mqtts://, wss://, +tls, +wss), not {broker_url}",
                        g.name
                    );
                }
                let t = t.get_ref();
                group.tls_identity = Some((scenario_dir.join(&t.cert_file), scenario_dir.join(&t.key_file)));
            }
            stage_curves(&s.stages, &mut group);
            groups.push(std::sync::Arc::new(group));
        }
        let shares = find_shares(&clients);
        let streams = find_streams(&groups, &clients, &shares);
        let faults = fault_plans(&s.faults, &broker, &broker_url, &groups)?;
        let stages = stage_plans(&s.stages, &groups);
        let mut plan = Plan {
            name: s.name.clone(),
            scenario_path: file.path.display().to_string(),
            scenario_sha256,
            scenario_text: file.text.clone(),
            overrides: overrides.clone(),
            run_id,
            duration: overrides
                .duration
                .or(s.duration.map(|d| d.0))
                .or((!s.stages.is_empty()).then(|| s.stages.iter().map(|st| st.get_ref().duration.get_ref().0).sum()))
                .unwrap_or(scenario::DEFAULT_DURATION),
            drain: s.drain.map(|d| d.0).unwrap_or(scenario::DEFAULT_DRAIN),
            report_every: None,
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
            retained_cleanup: s.retained_cleanup.unwrap_or(true),
            source_addrs: match (&overrides.source_addrs, &s.broker.source_addrs) {
                (Some(v), _) => v.clone(),
                (None, Some(list)) => scenario::parse_source_addrs(list).map_err(|e| anyhow::anyhow!(e))?,
                (None, None) => Vec::new(),
            },
            expect: s.expect.clone(),
            shard: None,
            start_at_unix_us: overrides.start_at_unix_us,
        };
        plan.report_every = report_every(s.report_every.map(|d| d.0), plan.duration);
        Ok(match overrides.shard {
            Some(id) => slice(plan, id),
            None => plan,
        })
    }

    /// Reads the credentials from the environment variables the scenario
    /// names (secrets never live in the file). Done just before a run, so
    /// `midge validate` does not need them.
    pub fn resolve_secrets(&mut self) -> anyhow::Result<()> {
        for g in self.groups.iter_mut().map(std::sync::Arc::make_mut) {
            if let Some((user, pass)) = &g.secret_env {
                let ctx = |e: anyhow::Error| anyhow::anyhow!("group {:?}: {e}", g.name);
                g.credentials = Some(Credentials {
                    username: user.read("username").map_err(ctx)?,
                    password: match pass {
                        Some(p) => p.read("password").map_err(ctx)?,
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

/// The run's id: given (a recorded run's), derived from `--run-id NAME`
/// (or the `--start-at` time) so that every shard of a run shares it, or
/// random. A sharded run must name it one of those ways, and must load a
/// broker all its shards share.
fn run_id(overrides: &Overrides, scenario_sha256: &str, broker: &BrokerSpec) -> anyhow::Result<u64> {
    if let Some(id) = overrides.run_id {
        return Ok(id);
    }
    let name = overrides.run_name.clone().or(overrides.start_at_unix_us.map(|us| us.to_string()));
    if let Some(shard) = overrides.shard.filter(|s| s.count > 1) {
        anyhow::ensure!(
            name.is_some(),
            "--shard {shard}: every shard must share one run id: give all of them the same --run-id NAME (or --start-at)"
        );
        anyhow::ensure!(
            matches!(broker, BrokerSpec::External { .. }),
            "--shard {shard}: every shard would start a broker of its own; give all of them the shared broker's URL (--broker mqtt://host:port)"
        );
    }
    Ok(match name {
        Some(n) if n.len() == 16 && n.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(&n, 16).expect("16 hex digits")
        }
        Some(n) => shard::derived_run_id(scenario_sha256, &n),
        None => rand::random(),
    })
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
            insecure: section.insecure,
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
        let will_topic = g.will.as_ref().map(|w| fill(&w.get_ref().topic.0));
        let publisher = topic.as_ref().map(|_| {
            publishers.push(clients.len() as u32);
            publishers.len() as u32 - 1
        });
        clients.push(ClientPlan {
            index: clients.len() as u32,
            group: gi,
            client_id,
            topic,
            filter,
            publisher,
            will_topic,
        });
    }
}

/// One `[[group]]` with the scenario's defaults applied.
fn group_plan(
    g: &scenario::Group,
    protocol: ProtocolVersion,
    first_client: u32,
    secret_env: Option<(SecretSource, Option<SecretSource>)>,
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
        max_queued: g.max_queued,
        retry_interval: g.retry_interval.map(|d| d.0),
        credentials: None,
        secret_env,
        publish: g.publish.as_ref().map(|p| publish_plan(p.get_ref())),
        subscribe_qos: g.subscribe.as_ref().map(|f| f.get_ref().qos.0),
        max_rate: g.subscribe.as_ref().and_then(|f| f.get_ref().max_rate),
        reconnect: match g.reconnect {
            None => Some(scenario::ReconnectPolicy::default()),
            Some(scenario::ReconnectSpec::On(p)) => Some(p),
            Some(scenario::ReconnectSpec::Off) => None,
        },
        session_expiry_s: g.session_expiry.map_or(u32::MAX, |d| d.0.as_secs().min(u32::MAX as u64) as u32),
        retry_connect: g.retry_connect,
        client_curve: None,
        tls_identity: None,
        will: g.will.as_ref().map(|w| {
            let w = w.get_ref();
            WillPlan {
                payload: w.payload.clone(),
                qos: w.qos.0,
                retain: w.retain,
                delay_s: w.delay.as_ref().map(|d| d.get_ref().0.as_secs().min(u32::MAX as u64) as u32),
            }
        }),
        start_after: g.start_after.map_or(Duration::ZERO, |d| d.0),
        slice: None,
    }
}

fn publish_plan(p: &scenario::PublishSpec) -> PublishPlan {
    use crate::mqtt::codec::props::publish_properties;
    let expiry_s = p.expiry.map(|d| d.0.as_secs().min(u32::MAX as u64) as u32);
    let user_properties: Vec<(String, String)> = p.user_properties.clone().unwrap_or_default().into_iter().collect();
    PublishPlan {
        props: publish_properties(expiry_s, None, &user_properties).freeze(),
        props_alias: publish_properties(expiry_s, Some(1), &user_properties).freeze(),
        expiry_s,
        topic_alias: p.topic_alias,
        user_properties,
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
        if let Err(why) = f.action.refused_over(broker.wire()) {
            anyhow::bail!(
                "fault {}: {why} (the broker here is {broker_url})",
                format!("{:?}", f.action).to_lowercase()
            );
        }
        if f.action == scenario::FaultAction::RestartBroker && !broker.is_spawned_mosquitto() {
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

/// Where a group's credentials come from: its own `_env` / `_file` keys,
/// else `[broker]`'s; file paths relative to the scenario's directory.
fn secret_names(
    g: &scenario::Group,
    b: &scenario::BrokerSection,
    dir: &std::path::Path,
) -> Result<Option<(SecretSource, Option<SecretSource>)>, String> {
    let source = |env: &Option<String>, file: &Option<String>| match (env, file) {
        (Some(e), _) => Some(SecretSource::Env(e.clone())),
        (None, Some(f)) => Some(SecretSource::File(dir.join(f))),
        (None, None) => None,
    };
    let user = source(&g.username_env, &g.username_file).or_else(|| source(&b.username_env, &b.username_file));
    let pass = source(&g.password_env, &g.password_file).or_else(|| source(&b.password_env, &b.password_file));
    match (user, pass) {
        (None, None) => Ok(None),
        (Some(u), p) => Ok(Some((u, p))),
        (None, Some(_)) => Err("a password (password_env / password_file) is set without a user name".into()),
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
            client_ids: match &self.shard {
                Some(s) => s.all_client_ids.clone(),
                None => self.clients.iter().map(|c| c.client_id.clone()).collect(),
            },
            shard: self.shard.as_ref().map(|s| crate::record::ShardOf { index: s.id.index, count: s.id.count }),
            start_at_unix_us: self.start_at_unix_us,
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
            shard: id.shard.map(|s| shard::ShardId { index: s.index, count: s.count }),
            run_name: None,
            start_at_unix_us: id.start_at_unix_us,
        };
        let mut plan = Plan::build(&file, &overrides)?;
        let planned = plan.shard.as_ref().map_or(plan.clients.len(), |s| s.all_client_ids.len());
        anyhow::ensure!(
            id.client_ids.len() == planned,
            "the scenario plans {planned} clients, the record {}",
            id.client_ids.len()
        );
        plan.source_addrs = id.source_addrs.iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
        Ok(plan)
    }
}

// Shards (`--shard I/N`, see `shard`): the slice of the whole plan a shard runs.

/// The whole plan's indices of the clients shard `id` runs, in order.
pub fn global_indices(plan: &Plan, id: shard::ShardId) -> Vec<u32> {
    plan.groups
        .iter()
        .flat_map(|g| {
            (0..g.clients).filter(move |k| shard::owner(*k, id.count) == id.index).map(move |k| g.first_client + k)
        })
        .collect()
}

/// The slice of `plan` that shard `id` runs.
pub fn slice(plan: Plan, id: shard::ShardId) -> Plan {
    let global = global_indices(&plan, id);
    let mut local_of = vec![u32::MAX; plan.clients.len()];
    for (l, g) in global.iter().enumerate() {
        local_of[*g as usize] = l as u32;
    }
    let groups: Vec<std::sync::Arc<GroupPlan>> =
        plan.groups.iter().map(|g| std::sync::Arc::new(slice_group(g, id, &local_of))).collect();
    let clients: Vec<ClientPlan> = global
        .iter()
        .enumerate()
        .map(|(l, g)| ClientPlan { index: l as u32, ..plan.clients[*g as usize].clone() })
        .collect();
    let publishers: Vec<u32> = clients.iter().filter(|c| c.publisher.is_some()).map(|c| c.index).collect();
    let all_shares = find_shares(&plan.clients);
    let mut shares = find_shares(&clients);
    let shares_elsewhere: Vec<String> = shares
        .iter()
        .filter(|s| all_shares.iter().any(|a| a.filter == s.filter && a.members.len() != s.members.len()))
        .map(|s| s.filter.clone())
        .collect();
    shares.retain(|s| !shares_elsewhere.contains(&s.filter));
    let streams: Vec<StreamPlan> = find_streams(&groups, &clients, &shares);
    let faults = plan.faults.iter().filter_map(|f| slice_fault(f, &local_of)).collect();
    let mut expect = plan.expect.clone();
    // A whole-run figure: only the merge can check it.
    expect.received_min = None;
    Plan {
        shard: Some(shard::ShardSlice {
            id,
            global,
            all_client_ids: plan.clients.iter().map(|c| c.client_id.clone()).collect(),
            publishers_total: plan.publishers.len() as u32,
            shares_elsewhere,
        }),
        groups,
        clients,
        publishers,
        streams,
        shares,
        faults,
        expect,
        ..plan
    }
}

/// A group's part on shard `id`: its clients renumbered, its connect rate
/// divided among the shards (so all of them together connect at the
/// scenario's rate).
fn slice_group(g: &GroupPlan, id: shard::ShardId, local_of: &[u32]) -> GroupPlan {
    let mine: Vec<u32> = (0..g.clients)
        .filter(|k| shard::owner(*k, id.count) == id.index)
        .map(|k| local_of[(g.first_client + k) as usize])
        .collect();
    let first_client = mine.first().copied().unwrap_or(0);
    GroupPlan {
        first_client,
        clients: mine.len() as u32,
        connect_rate: g.connect_rate.map(|r| r / id.count as f64),
        slice: Some(id),
        ..g.clone()
    }
}

/// A fault's part on this shard: its targets renumbered; None when it
/// names clients and none of them is here (an empty list would mean all).
fn slice_fault(f: &FaultPlan, local_of: &[u32]) -> Option<FaultPlan> {
    if f.targets.is_empty() {
        return Some(f.clone());
    }
    let targets: Vec<u32> = f.targets.iter().map(|g| local_of[*g as usize]).filter(|l| *l != u32::MAX).collect();
    (!targets.is_empty()).then(|| FaultPlan { targets, ..f.clone() })
}

#[cfg(test)]
mod tests;

/// The periodic report's interval: the scenario's `report_every` ("0s":
/// never), else every 60 s for a run longer than that.
fn report_every(asked: Option<Duration>, duration: Duration) -> Option<Duration> {
    match asked {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => (duration > scenario::DEFAULT_REPORT_EVERY).then_some(scenario::DEFAULT_REPORT_EVERY),
    }
}
