//! The `[[fault]]`s resolved to the clients they hit. "No `group`" means
//! every client: that is decided here, once, as `Targets::All`; the fault
//! schedule, the clients' own stalls, the proxy and the record each ask
//! `Targets`, never an empty list.
//!
//! `Plan::build` refuses faults the transport cannot carry
//! (`scenario::FaultAction::refused_over`), as validation does; the runner
//! checks again for plans made otherwise.

use super::group::GroupPlan;
use crate::scenario::{self, FaultAction};
use std::time::Duration;

/// Which clients of the plan a fault hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Every client of the run (the fault names no group).
    All,
    /// These client indices, ascending (never empty).
    Clients(Vec<u32>),
}

impl Targets {
    /// Whether client `index` is hit.
    pub fn hits(&self, index: u32) -> bool {
        match self {
            Targets::All => true,
            Targets::Clients(v) => v.binary_search(&index).is_ok(),
        }
    }

    /// The indices hit, ascending, out of a plan of `clients` clients.
    pub fn indices(&self, clients: usize) -> Vec<u32> {
        match self {
            Targets::All => (0..clients as u32).collect(),
            Targets::Clients(v) => v.clone(),
        }
    }

    /// As the record keeps them: the chosen indices, or an empty list for all.
    pub fn recorded(&self) -> Vec<u32> {
        match self {
            Targets::All => Vec::new(),
            Targets::Clients(v) => v.clone(),
        }
    }

    /// On a shard: the targets renumbered by `local_of` (whole-plan index
    /// to the shard's, `u32::MAX` for a client elsewhere); None when it
    /// names clients and none of them is here.
    fn sliced(&self, local_of: &[u32]) -> Option<Targets> {
        match self {
            Targets::All => Some(Targets::All),
            Targets::Clients(v) => {
                let here: Vec<u32> = v.iter().map(|g| local_of[*g as usize]).filter(|l| *l != u32::MAX).collect();
                (!here.is_empty()).then_some(Targets::Clients(here))
            }
        }
    }
}

/// One scheduled fault, resolved to the clients it hits.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// From the start of publishing.
    pub at: Duration,
    pub action: FaultAction,
    pub targets: Targets,
}

impl FaultPlan {
    /// A fault's part on a shard; None when none of the clients it names is there.
    pub(super) fn sliced(&self, local_of: &[u32]) -> Option<FaultPlan> {
        Some(FaultPlan { targets: self.targets.sliced(local_of)?, ..self.clone() })
    }
}

/// The `[[fault]]`s resolved to the clients they hit, in time order.
pub(super) fn fault_plans(
    specs: &[toml::Spanned<scenario::FaultSpec>],
    brokers: &[(&scenario::BrokerSpec, &str)],
    groups: &[std::sync::Arc<GroupPlan>],
) -> anyhow::Result<Vec<FaultPlan>> {
    let mut faults = Vec::new();
    let (broker, broker_url) = brokers[0];
    for f in specs {
        let f = f.get_ref();
        // With several brokers, a fault hits its clients on whichever broker each is.
        for (spec, url) in brokers {
            if let Err(why) = f.action.refused_over(spec.wire()) {
                anyhow::bail!("fault {}: {why} (the broker here is {url})", f.name());
            }
        }
        if matches!(f.action, FaultAction::RestartBroker { .. }) && !broker.is_spawned_mosquitto() {
            anyhow::bail!(
                "fault restart-broker needs a broker midge starts itself: use broker \"spawn:mosquitto\" (the broker here is {broker_url})"
            );
        }
        let targets = match &f.group {
            None => Targets::All,
            Some(name) => {
                let g = groups.iter().find(|g| &g.name == name).expect("validated");
                let n = f.clients.unwrap_or(g.clients);
                Targets::Clients((g.first_client..g.first_client + n).collect())
            }
        };
        faults.push(FaultPlan { at: f.at.0, action: f.action, targets });
    }
    faults.sort_by_key(|f| f.at);
    Ok(faults)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_say_all_once() {
        let all = Targets::All;
        assert!(all.hits(7));
        assert_eq!(all.indices(3), vec![0, 1, 2]);
        assert!(all.recorded().is_empty());
        let some = Targets::Clients(vec![2, 4]);
        assert!(some.hits(4) && !some.hits(3));
        assert_eq!(some.recorded(), vec![2, 4]);
        // Client 2 is this shard's 0; client 4 is elsewhere.
        let local_of = [u32::MAX, u32::MAX, 0, u32::MAX, u32::MAX];
        assert_eq!(some.sliced(&local_of), Some(Targets::Clients(vec![0])));
        assert_eq!(Targets::Clients(vec![4]).sliced(&local_of), None);
        assert_eq!(all.sliced(&local_of), Some(Targets::All));
    }
}
