//! A plan made ready to run: secrets read.

use super::model::Plan;
use super::secrets::Credentials;

impl Plan {
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
}
