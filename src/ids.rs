//! Client identifiers: unique across the run unless the scenario asks for a
//! shared id (`scheme = "fixed"`), which provokes takeover loops on purpose.
//!
//! Random ids are drawn from a generator seeded with the run id
//! (`IdAllocator::seeded`, called by `Plan::build`), so every shard of a run
//! builds the same ids.

use crate::scenario::{ClientIdSpec, IdScheme};
use rand::distributions::Alphanumeric;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

const RANDOM_LEN: usize = 10;
/// MQTT 3.1.1 servers must accept 23 bytes; most accept far more.
pub const PORTABLE_ID_LEN: usize = 23;

/// Hands out client ids, remembering every id it gave so none repeats.
pub struct IdAllocator {
    used: HashSet<String>,
    started_ms: u128,
    /// Random suffixes come from the run id: every shard of a run builds the
    /// same ids, so each client id is used by exactly one shard.
    rng: rand::rngs::StdRng,
}

impl Default for IdAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl IdAllocator {
    pub fn new() -> Self {
        Self::seeded(rand::random(), None)
    }

    /// Ids drawn from `seed`; time schemes use `started_ms` (default: now).
    pub fn seeded(seed: u64, started_ms: Option<u128>) -> Self {
        let now =
            || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        IdAllocator {
            used: HashSet::new(),
            started_ms: started_ms.unwrap_or_else(now),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }

    /// The id of the `index`-th client (0-based, within its group) of group `group`.
    pub fn next(&mut self, spec: &ClientIdSpec, group: &str, index: u32) -> String {
        let prefix = spec.prefix.clone().unwrap_or_else(|| format!("{group}-"));
        if spec.scheme == IdScheme::Fixed {
            return spec.id.clone().unwrap_or_default();
        }
        loop {
            let id = match spec.scheme {
                IdScheme::PrefixSerial => format!("{prefix}{index}"),
                IdScheme::PrefixRandom => format!("{prefix}{}", self.random_suffix()),
                IdScheme::PrefixTime => format!("{prefix}{}-{index}", self.started_ms),
                IdScheme::PrefixTimeRandom => {
                    let started_ms = self.started_ms;
                    format!("{prefix}{started_ms}-{}", self.random_suffix())
                }
                IdScheme::Fixed => unreachable!("handled above"),
            };
            if self.used.insert(id.clone()) {
                return id;
            }
            // A serial or time id can only repeat when two groups share a prefix;
            // fall back to a random suffix rather than hand out a duplicate.
            if matches!(spec.scheme, IdScheme::PrefixSerial | IdScheme::PrefixTime) {
                let id = format!("{prefix}{index}-{}", self.random_suffix());
                if self.used.insert(id.clone()) {
                    return id;
                }
            }
        }
    }
}

impl IdAllocator {
    fn random_suffix(&mut self) -> String {
        (&mut self.rng).sample_iter(&Alphanumeric).take(RANDOM_LEN).map(char::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(scheme: IdScheme, prefix: Option<&str>) -> ClientIdSpec {
        ClientIdSpec {
            scheme,
            prefix: prefix.map(str::to_string),
            id: Some("X".into()).filter(|_| scheme == IdScheme::Fixed),
        }
    }

    #[test]
    fn schemes_give_unique_ids() {
        let mut ids = IdAllocator::new();
        let mut seen = HashSet::new();
        for scheme in [IdScheme::PrefixSerial, IdScheme::PrefixRandom, IdScheme::PrefixTime, IdScheme::PrefixTimeRandom]
        {
            for i in 0..500 {
                let id = ids.next(&spec(scheme, Some("s-")), "g", i);
                assert!(id.starts_with("s-"));
                assert!(seen.insert(id));
            }
        }
    }

    #[test]
    fn serial_ids_from_two_groups_with_one_prefix_stay_unique() {
        let mut ids = IdAllocator::new();
        let a = ids.next(&spec(IdScheme::PrefixSerial, Some("p")), "a", 0);
        let b = ids.next(&spec(IdScheme::PrefixSerial, Some("p")), "b", 0);
        assert_ne!(a, b);
    }

    #[test]
    fn fixed_ids_are_shared() {
        let mut ids = IdAllocator::new();
        let s = spec(IdScheme::Fixed, None);
        assert_eq!(ids.next(&s, "g", 0), "X");
        assert_eq!(ids.next(&s, "g", 1), "X");
    }
}
