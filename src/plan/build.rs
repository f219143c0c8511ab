//! `Plan::build`: a validated scenario and the command line's overrides
//! turned into the plan (ids allocated, topics filled, streams found,
//! faults resolved to their clients); `Plan::rebuild` does it again for a
//! recorded run, from what its record keeps.
//!
//! `identity` and `rebuild` are the plan's side of the run record: `rebuild`
//! puts the recorded scenario text and overrides, run id and client ids back
//! through `Overrides`, takes the source addresses from the record, and
//! resolves no secrets.

use super::faults::fault_plans;
use super::group::{group_plan, stage_curves, target, GroupPlan};
use super::model::{BrokerPlan, ClientPlan, Overrides, Plan, UNTIL_STOPPED};
use super::secrets::secret_names;
use super::slice::slice;
use super::streams::{find_shares, find_streams};
use super::{shard, stages};
use crate::ids::IdAllocator;
use crate::record::vocab::BatchMode;
use crate::scenario::{self, BrokerSpec, BrokerUrls, ScenarioFile};
use sha2::{Digest, Sha256};
use std::time::Duration;

impl Plan {
    pub fn build(file: &ScenarioFile, overrides: &Overrides) -> anyhow::Result<Plan> {
        Self::make(file, overrides, true)
    }

    /// The plan as `build` makes it, with every check `build` does, but no
    /// client in it (no ids, topics, streams or share groups; groups keep
    /// their counts): what `midge validate` needs, in memory and time that do
    /// not grow with the clients. Not for running.
    pub fn outline(file: &ScenarioFile, overrides: &Overrides) -> anyhow::Result<Plan> {
        Self::make(file, overrides, false)
    }

    fn make(file: &ScenarioFile, overrides: &Overrides, per_client: bool) -> anyhow::Result<Plan> {
        let s = &file.scenario;
        let (brokers, file_brokers) = broker_plans(file, overrides)?;
        let (broker, tls) = (brokers[0].spec.clone(), brokers[0].tls.clone());
        let scenario_dir = scenario_dir(file);
        let scenario_sha256 = hex(&Sha256::digest(file.text.as_bytes()));
        let run_id = run_id(overrides, &scenario_sha256, &broker)?;
        let mut ids = IdAllocator::seeded(run_id, overrides.start_at_unix_us.map(|us| us as u128 / 1000));
        let mut groups = Vec::new();
        let mut clients = Vec::new();
        let mut publishers = Vec::new();
        let mut next_client = 0u32;
        for (gi, g) in s.groups.iter().enumerate() {
            let g = g.get_ref();
            let secret_env =
                secret_names(g, &s.broker, &scenario_dir).map_err(|e| anyhow::anyhow!("group {:?}: {e}", g.name))?;
            let first_client = next_client;
            next_client += g.clients;
            let mut group = group_plan(g, s.protocol, first_client, secret_env);
            group.brokers = match &g.broker {
                Some(own) => vec![brokers.iter().position(|b| &b.url == own.get_ref()).unwrap_or(0) as u16],
                None => file_brokers.clone(),
            };
            if per_client {
                let given = overrides.client_ids.as_deref();
                add_clients(&mut ids, given, (gi as u16, &group.brokers), g, &mut clients, &mut publishers);
            }
            if let Some(t) = &g.tls {
                if let Some(b) = group.brokers.iter().map(|&b| &brokers[b as usize]).find(|b| !b.spec.is_tls()) {
                    anyhow::bail!(
                        "group {:?}: `tls` (a client certificate) needs a TLS broker (mqtts://, wss://, +tls, +wss), not {}",
                        g.name,
                        b.url
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
        let specs: Vec<(&BrokerSpec, &str)> = brokers.iter().map(|b| (&b.spec, b.url.as_str())).collect();
        let faults = fault_plans(&s.faults, &specs, &groups)?;
        let publisher_brokers = match brokers.len() {
            1 => Vec::new(),
            _ => publishers.iter().map(|&c| clients[c as usize].broker).collect(),
        };
        let stages = stage_plans(&s.stages, &groups);
        let duration = overrides
            .duration
            .or(s.duration.map(|d| d.0))
            .or((!s.stages.is_empty()).then(|| s.stages.iter().map(|st| st.get_ref().duration.get_ref().0).sum()));
        let until_stopped = duration.is_none();
        let duration = duration.unwrap_or(UNTIL_STOPPED);
        let plan = Plan {
            name: s.name.clone(),
            scenario_path: file.path.display().to_string(),
            scenario_sha256,
            scenario_text: file.text.clone(),
            overrides: overrides.clone(),
            run_id,
            duration,
            until_stopped,
            drain: s.drain.map(|d| d.0).unwrap_or(scenario::DEFAULT_DRAIN),
            report_every: report_every(s.report_every.map(|d| d.0), duration),
            batch_window: s.batch_window.as_ref().map(|w| w.get_ref().0).unwrap_or_default(),
            batch_mode: match s.batch_window.as_ref().map(|w| w.get_ref().0) {
                None => BatchMode::Adaptive,
                Some(Duration::ZERO) => BatchMode::Off,
                Some(_) => BatchMode::Fixed,
            },
            broker,
            tls,
            brokers,
            publisher_brokers: publisher_brokers.into(),
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
        Ok(match overrides.shard.filter(|_| per_client) {
            Some(id) => slice(plan, id),
            None => plan,
        })
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

/// The run's brokers, each once: `--broker` or `[broker] url` (one or a
/// list; `embedded` without either), when a group uses it, then the groups'
/// own; and the indices of the first (the brokers a group without its own
/// `broker` spreads its clients over).
fn broker_plans(file: &ScenarioFile, overrides: &Overrides) -> anyhow::Result<(Vec<BrokerPlan>, Vec<u16>)> {
    let s = &file.scenario;
    let listed = match &overrides.broker {
        Some(b) => BrokerUrls::from_list(b),
        None => s.broker.url.clone().unwrap_or_else(|| BrokerUrls(vec!["embedded".into()])),
    };
    listed.parse().map_err(|e| anyhow::anyhow!("--broker: {e}"))?;
    let mut urls: Vec<String> = Vec::new();
    let mut add = |u: &String| match urls.iter().position(|x| x == u) {
        Some(i) => i as u16,
        None => {
            urls.push(u.clone());
            urls.len() as u16 - 1
        }
    };
    let uses_listed = s.groups.is_empty() || s.groups.iter().any(|g| g.get_ref().broker.is_none());
    let file_brokers: Vec<u16> = match uses_listed {
        true => listed.0.iter().map(&mut add).collect(),
        false => Vec::new(),
    };
    for g in &s.groups {
        if let Some(own) = &g.get_ref().broker {
            add(own.get_ref());
        }
    }
    let specs = urls.iter().map(|u| BrokerSpec::parse(u)).collect::<Result<Vec<_>, _>>().map_err(anyhow::Error::msg)?;
    scenario::several_are_external(&specs, &urls).map_err(anyhow::Error::msg)?;
    let dir = scenario_dir(file);
    let brokers = urls
        .into_iter()
        .zip(specs)
        .map(|(url, spec)| BrokerPlan { tls: tls_plan(&s.broker, &spec, &dir), url, spec })
        .collect();
    Ok((brokers, file_brokers))
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
    (gi, brokers): (u16, &[u16]),
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
        let n = g.first_index.unwrap_or(0).saturating_add(i);
        let client_id = match given.and_then(|v| v.get(clients.len())) {
            Some(id) => id.clone(),
            None => ids.next(&id_spec, &g.name, n),
        };
        let fill =
            |t: &str| t.replace("{client}", &client_id).replace("{i}", &n.to_string()).replace("{group}", &g.name);
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
            broker: brokers[i as usize % brokers.len()],
        });
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
            shard: self.shard.as_ref().map(|s| crate::record::shards::ShardOf { index: s.id.index, count: s.id.count }),
            start_at_unix_us: self.start_at_unix_us,
            broker_pid: self.overrides.broker_pid,
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
        let plan = Plan::build(&file, &overrides)?;
        let planned = plan.shard.as_ref().map_or(plan.clients.len(), |s| s.all_client_ids.len());
        anyhow::ensure!(
            id.client_ids.len() == planned,
            "the scenario plans {planned} clients, the record {}",
            id.client_ids.len()
        );
        let source_addrs = id.source_addrs.iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
        Ok(Plan { source_addrs, ..plan })
    }
}

/// The periodic report's interval: the scenario's `report_every` ("0s":
/// never), else every 60 s for a run longer than that.
fn report_every(asked: Option<Duration>, duration: Duration) -> Option<Duration> {
    match asked {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => (duration > scenario::DEFAULT_REPORT_EVERY).then_some(scenario::DEFAULT_REPORT_EVERY),
    }
}
