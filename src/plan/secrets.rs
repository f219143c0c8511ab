//! Credentials and where they come from: never the scenario itself, but
//! an environment variable or a file (a mounted secret) it names. They are
//! read just before a run (`resolve`), so `midge validate` needs none.
//!
//! Secrets never leave the plan. Credentials come from environment variables
//! or files (`SecretSource`), read by `Plan::resolve_secrets` just before a
//! run; the scenario text (kept in the run record) names only variables and
//! paths, an inline `password` is refused, errors name the variable or file,
//! never the value, and `Credentials` / `ConnectOptions` redact the password
//! in `Debug`. `tests/session_features.rs` greps stdout, stderr, every file of
//! the run folder and Prometheus scrapes for the password.

use crate::scenario;

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
    /// `[broker] username`: a user name written in the scenario (never a password).
    Given(String),
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
            SecretSource::Given(value) => Ok(value.clone()),
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {key}_file {}: {e}", path.display()))?;
                Ok(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string())
            }
        }
    }
}

/// Where a group's credentials come from: its own `_env` / `_file` keys,
/// else `[broker]`'s; file paths relative to the scenario's directory.
pub(super) fn secret_names(
    g: &scenario::Group,
    b: &scenario::BrokerSection,
    dir: &std::path::Path,
) -> Result<Option<(SecretSource, Option<SecretSource>)>, String> {
    let source = |env: &Option<String>, file: &Option<String>| match (env, file) {
        (Some(e), _) => Some(SecretSource::Env(e.clone())),
        (None, Some(f)) => Some(SecretSource::File(dir.join(f))),
        (None, None) => None,
    };
    let user = source(&g.username_env, &g.username_file)
        .or_else(|| source(&b.username_env, &b.username_file))
        .or_else(|| b.username.clone().map(SecretSource::Given));
    let pass = source(&g.password_env, &g.password_file).or_else(|| source(&b.password_env, &b.password_file));
    match (user, pass) {
        (None, None) => Ok(None),
        (Some(u), p) => Ok(Some((u, p))),
        (None, Some(_)) => Err("a password (password_env / password_file) is set without a user name".into()),
    }
}
