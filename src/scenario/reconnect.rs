//! `reconnect = false`, `true` or `{ delay, max_delay, factor, jitter }`.

use super::values::Dur;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::time::Duration;

/// How a client reconnects after a lost connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectPolicy {
    pub delay: Duration,
    pub max_delay: Duration,
    pub factor: f64,
    pub jitter: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy { delay: Duration::from_secs(1), max_delay: Duration::from_secs(120), factor: 2.0, jitter: 0.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReconnectSpec {
    Off,
    On(ReconnectPolicy),
}

impl<'de> Deserialize<'de> for ReconnectSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            delay: Option<Dur>,
            max_delay: Option<Dur>,
            factor: Option<f64>,
            jitter: Option<f64>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Table(Table),
        }
        let raw = Raw::deserialize(d).map_err(|_| {
            de::Error::custom(
                "reconnect must be true, false or { delay = \"1s\", max_delay = \"120s\", factor = 2.0, jitter = 0.2 }",
            )
        })?;
        match raw {
            Raw::Flag(false) => Ok(ReconnectSpec::Off),
            Raw::Flag(true) => Ok(ReconnectSpec::On(ReconnectPolicy::default())),
            Raw::Table(t) => {
                let d = ReconnectPolicy::default();
                let p = ReconnectPolicy {
                    delay: t.delay.map_or(d.delay, |x| x.0),
                    max_delay: t.max_delay.map_or(d.max_delay, |x| x.0),
                    factor: t.factor.unwrap_or(d.factor),
                    jitter: t.jitter.unwrap_or(d.jitter),
                };
                if !(p.factor >= 1.0 && p.factor.is_finite()) {
                    return Err(de::Error::custom(format!("reconnect.factor must be at least 1.0, not {}", p.factor)));
                }
                if !(0.0..=1.0).contains(&p.jitter) {
                    return Err(de::Error::custom(format!(
                        "reconnect.jitter must be between 0 and 1, not {}",
                        p.jitter
                    )));
                }
                if p.max_delay < p.delay {
                    return Err(de::Error::custom("reconnect.max_delay must not be below reconnect.delay"));
                }
                Ok(ReconnectSpec::On(p))
            }
        }
    }
}
