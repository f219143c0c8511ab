//! A plan made ready to run. Two things only the run can know are resolved
//! once, into a new plan, and the plan is never changed after:
//!
//! - the credentials, read from the environment variables or files the
//!   scenario names (secrets never live in the file). `resolve_secrets`
//!   reads them first thing, so a missing one fails before a broker starts
//!   — and `midge validate` and the analysis (`Plan::rebuild`) need none;
//! - the local addresses to connect from: the scenario's or
//!   `--source-addrs`, or spread wider by the runner when the run needs more
//!   source ports than one address has towards where the clients connect
//!   (known only once the broker and the proxy are up).
//!
//! `Plan::resolved` takes both and returns the plan the run uses.

use super::group::GroupPlan;
use super::model::Plan;
use super::secrets::Credentials;
use std::net::IpAddr;
use std::sync::Arc;

/// Each group's credentials, by group index (None: the group sends none).
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<Option<Credentials>>);

impl Plan {
    /// Reads every group's credentials from where the scenario names them;
    /// errors name the group and the variable or file, never a value.
    pub fn resolve_secrets(&self) -> anyhow::Result<Secrets> {
        let read = |g: &GroupPlan| -> anyhow::Result<Option<Credentials>> {
            let Some((user, pass)) = &g.secret_env else { return Ok(None) };
            let ctx = |e: anyhow::Error| anyhow::anyhow!("group {:?}: {e}", g.name);
            Ok(Some(Credentials {
                username: user.read("username").map_err(ctx)?,
                password: match pass {
                    Some(p) => p.read("password").map_err(ctx)?,
                    None => String::new(),
                },
            }))
        };
        Ok(Secrets(self.groups.iter().map(|g| read(g)).collect::<anyhow::Result<_>>()?))
    }

    /// The plan the run uses: its groups with their credentials, its
    /// clients spread over `source_addrs` (empty: the kernel chooses).
    pub fn resolved(self, secrets: Secrets, source_addrs: Vec<IpAddr>) -> Plan {
        let groups = self
            .groups
            .iter()
            .zip(secrets.0.into_iter().chain(std::iter::repeat(None)))
            .map(|(g, credentials)| match credentials {
                Some(c) => Arc::new(GroupPlan { credentials: Some(c), ..(**g).clone() }),
                None => g.clone(),
            })
            .collect();
        Plan { groups, source_addrs, ..self }
    }
}
