//! How many clients a scenario may ask for, checked on the file alone (no
//! client is made to check it): at most `MAX_CLIENTS` in all, whatever the
//! machine (every shard builds the whole plan, a few hundred bytes a
//! client); and, for the processes that are to run it, no more per process
//! than the open-file limit lets one hold (`clients_per_process`,
//! `check_open_files`: the limit is passed in, this module does no I/O —
//! `limits::check_scenario` reads it). Errors point at the `clients` key.

use super::{ScenarioError, ScenarioFile};

/// The most clients a scenario may have, all groups together.
pub const MAX_CLIENTS: u64 = 10_000_000;

/// A plan `midge validate` builds whole (to count its streams): at most this
/// many clients, and this many (publisher, subscriber) pairs to match.
const WHOLE_PLAN_CLIENTS: u64 = 100_000;
const WHOLE_PLAN_PAIRS: u64 = 2_000_000;

impl ScenarioFile {
    /// Where group `i`'s `clients` key is (else the group's table).
    fn clients_key_at(&self, i: usize) -> usize {
        let g = &self.scenario.groups[i];
        let span = g.span();
        let text = self.text.get(span.clone()).unwrap_or_default();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let key = line.trim_start();
            if key.strip_prefix("clients").is_some_and(|rest| rest.trim_start().starts_with('=')) {
                return span.start + offset + (line.len() - key.len());
            }
            offset += line.len();
        }
        span.start
    }

    /// At most `MAX_CLIENTS` in all: the error names the group that goes over.
    pub(super) fn validate_client_total(&self) -> Result<(), ScenarioError> {
        let mut total = 0u64;
        for (i, g) in self.scenario.groups.iter().enumerate() {
            let g = g.get_ref();
            total += g.clients as u64;
            if total > MAX_CLIENTS {
                let all = if total == g.clients as u64 {
                    String::new()
                } else {
                    format!(" ({total} with the groups before it)")
                };
                return Err(self.error_at(
                    self.clients_key_at(i),
                    format!(
                        "group {:?}: {} clients{all}: a scenario has at most {MAX_CLIENTS}; split the load into several runs",
                        g.name, g.clients
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the whole plan (clients, topics, streams) is small enough to
    /// build just to check it: `midge validate` builds it then (and counts its
    /// streams), else only `Plan::outline`.
    pub fn small_enough_to_plan_whole(&self) -> bool {
        let groups = self.scenario.groups.iter().map(|g| g.get_ref());
        let publishers: u64 = groups.clone().filter(|g| g.publish.is_some()).map(|g| g.clients as u64).sum();
        let subscribers: u64 = groups.filter(|g| g.subscribe.is_some()).map(|g| g.clients as u64).sum();
        self.clients_per_process(1) <= WHOLE_PLAN_CLIENTS && publishers * subscribers <= WHOLE_PLAN_PAIRS
    }

    /// The clients the busiest of `processes` shards holds: client k of each
    /// group runs on shard k mod N, so shard 0 holds ⌈clients / N⌉ of each.
    pub fn clients_per_process(&self, processes: u32) -> u64 {
        let n = processes.max(1) as u64;
        self.scenario.groups.iter().map(|g| (g.get_ref().clients as u64).div_ceil(n)).sum()
    }

    /// Refuses a scenario whose clients (over `processes` shards) one process
    /// cannot hold: one open file per connection plus `margin`, against the
    /// hard open-file limit `hard_limit`. The error points at the largest
    /// group's `clients` and says how many shards would do.
    pub fn check_open_files(&self, hard_limit: u64, margin: u64, processes: u32) -> Result<(), ScenarioError> {
        let per_process = self.clients_per_process(processes);
        if per_process + margin <= hard_limit {
            return Ok(());
        }
        let room = hard_limit.saturating_sub(margin).max(1);
        let mut shards = (self.clients_per_process(1).div_ceil(room)).min(u32::MAX as u64) as u32;
        while shards < u32::MAX && self.clients_per_process(shards) + margin > hard_limit {
            shards += 1;
        }
        let largest =
            (0..self.scenario.groups.len()).max_by_key(|&i| self.scenario.groups[i].get_ref().clients).unwrap_or(0);
        let over = if processes > 1 { format!(" (over {processes} shards)") } else { String::new() };
        Err(self.error_at(
            self.clients_key_at(largest),
            format!(
                "{per_process} clients in one process{over} need {} open files ({per_process} + {margin}), but the hard limit is {hard_limit}: lower `clients`, split the run with shards (--shard I/N, N ≥ {shards}; on several machines), or raise the hard limit (`ulimit -Hn`, /etc/security/limits.conf, or LimitNOFILE= for a service)",
                per_process + margin
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Result<ScenarioFile, ScenarioError> {
        ScenarioFile::parse(Path::new("b.toml"), text)
    }

    #[test]
    fn an_absurd_client_count_is_refused_at_its_key() {
        let e = parse("name = \"x\"\n[[group]]\nname = \"g\"\n  clients = 4000000000\n").unwrap_err();
        assert_eq!((e.line, e.column), (4, 3), "{e}");
        assert_eq!(
            e.message,
            "group \"g\": 4000000000 clients: a scenario has at most 10000000; split the load into several runs"
        );
        // Together over the bound: the group that goes over is named.
        let e = parse(
            "name = \"x\"\n[[group]]\nname = \"a\"\nclients = 6000000\n[[group]]\nname = \"b\"\nclients = 5000000\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (7, 1), "{e}");
        assert!(e.message.starts_with("group \"b\": 5000000 clients (11000000 with the groups before it)"), "{e}");
        assert!(parse("name = \"x\"\n[[group]]\nname = \"a\"\nclients = 10000000\n").is_ok());
    }

    #[test]
    fn one_process_holds_no_more_clients_than_its_open_files() {
        let f =
            parse("name = \"x\"\n[[group]]\nname = \"a\"\nclients = 1000000\n[[group]]\nname = \"b\"\nclients = 3\n")
                .unwrap();
        assert_eq!(
            (f.clients_per_process(1), f.clients_per_process(2), f.clients_per_process(51)),
            (1_000_003, 500_002, 19_609)
        );
        let e = f.check_open_files(20_000, 64, 1).unwrap_err();
        assert_eq!((e.line, e.column), (4, 1), "at the largest group's clients: {e}");
        assert!(
            e.message.starts_with(
                "1000003 clients in one process need 1000067 open files (1000003 + 64), but the hard limit is 20000"
            ),
            "{e}"
        );
        // ⌈1000000 / 51⌉ + ⌈3 / 51⌉ = 19609, + 64 fits 20000; 50 shards would not.
        assert!(e.message.contains("--shard I/N, N ≥ 51"), "{e}");
        assert!(f.check_open_files(20_000, 64, 51).is_ok());
        let e = f.check_open_files(20_000, 64, 50).unwrap_err();
        assert!(e.message.starts_with("20001 clients in one process (over 50 shards)"), "{e}");
    }
}
