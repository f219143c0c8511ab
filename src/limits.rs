//! Process limits a swarm runs into: open files (one per connection).
//!
//! Besides the open-file preflight and raise: the source-port budget and
//! spreading connections over source addresses (`plan_source_addrs`, which the
//! run record keeps in `PlanIdentity.source_addrs`).

/// Open files midge needs beyond one per client (runtime, logs, stdio, the
/// broker probe).
pub const FD_MARGIN: u64 = 64;

/// Raises the soft open-file limit towards the hard one so that `clients`
/// connections fit, and says so — with the fix — when even the hard limit is
/// too low, before a single connection is made.
pub fn ensure_open_files(clients: u64) -> Result<u64, String> {
    let needed = clients + FD_MARGIN;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("cannot read the open-file limit: {}", std::io::Error::last_os_error()));
    }
    if lim.rlim_cur >= needed {
        return Ok(lim.rlim_cur);
    }
    if lim.rlim_max < needed {
        return Err(format!(
            "the plan needs {needed} open files ({clients} clients + {FD_MARGIN}), but the hard limit is {}: \
             lower `clients`, split the run with shards on several machines, or raise the hard limit \
             (`ulimit -Hn`, /etc/security/limits.conf, or LimitNOFILE= for a service)",
            lim.rlim_max
        ));
    }
    let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(format!("cannot raise the open-file limit: {}", std::io::Error::last_os_error()));
    }
    Ok(raised.rlim_cur)
}

/// The hard open-file limit (None: it cannot be read).
pub fn hard_open_files() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim.rlim_max)
}

/// Refuses, at its `clients` key, a scenario whose clients the busiest of
/// `processes` shards could not hold under this machine's hard open-file
/// limit (+ 1: the `$SYS` watcher) — before a single client is made, so
/// `midge validate` and `midge run` answer at once. An unreadable limit
/// passes (the run's own preflight, `ensure_open_files`, then says so).
pub fn check_scenario(
    file: &crate::scenario::ScenarioFile,
    processes: u32,
) -> Result<(), crate::scenario::ScenarioError> {
    match hard_open_files() {
        Some(hard) => file.check_open_files(hard, FD_MARGIN + 1, processes),
        None => Ok(()),
    }
}

/// The kernel's ephemeral (source) port range, inclusive.
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// Share of a source address's ports a plan may count on (some sit in
/// TIME_WAIT from earlier runs, some belong to other programs).
const USABLE_SHARE: f64 = 0.95;

/// Which local addresses to connect from so that `connections` to one broker
/// address fit in the source-port range, decided before connecting. Explicit
/// addresses are checked; without them, the kernel's choice is kept when one
/// address suffices, and on loopback (where every 127.x address is this
/// machine) enough 127.0.0.x addresses are picked automatically.
pub fn plan_source_addrs(
    connections: u64,
    explicit: &[std::net::IpAddr],
    broker: std::net::SocketAddr,
    range: (u16, u16),
) -> Result<Vec<std::net::IpAddr>, String> {
    let per_addr = ((range.1 as f64 - range.0 as f64 + 1.0) * USABLE_SHARE).floor().max(1.0) as u64;
    let needed = connections.div_ceil(per_addr).max(1);
    if !explicit.is_empty() {
        if (explicit.len() as u64) < needed {
            return Err(format!(
                "{connections} connections to {broker} need {needed} source addresses ({per_addr} usable ports each, from ip_local_port_range {}-{}), but only {} were given: give more, e.g. --source-addrs 127.0.0.2-127.0.0.{}",
                range.0,
                range.1,
                explicit.len(),
                (needed + 1).min(254)
            ));
        }
        return Ok(explicit.to_vec());
    }
    if needed == 1 {
        return Ok(Vec::new());
    }
    if broker.ip().is_loopback() && broker.is_ipv4() && needed <= 253 {
        return Ok((0..needed as u8)
            .map(|i| std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2 + i)))
            .collect());
    }
    Err(format!(
        "{connections} connections to {broker} need {needed} source addresses ({per_addr} usable ports each, from ip_local_port_range {}-{}): give addresses of this machine with --source-addrs, or widen the range (sysctl net.ipv4.ip_local_port_range)",
        range.0, range.1
    ))
}

#[cfg(test)]
mod port_tests {
    use super::*;
    use crate::scenario::parse_source_addrs;
    use std::net::{IpAddr, SocketAddr};

    fn loopback() -> SocketAddr {
        "127.0.0.1:1883".parse().unwrap()
    }

    #[test]
    fn budget_per_source_address() {
        let range = (32768, 60999); // 28232 ports, 26820 usable
        assert_eq!(plan_source_addrs(20_000, &[], loopback(), range).unwrap(), Vec::<IpAddr>::new());
        let auto = plan_source_addrs(60_000, &[], loopback(), range).unwrap();
        assert_eq!(auto.len(), 3);
        assert_eq!(auto[0].to_string(), "127.0.0.2");
        let two = parse_source_addrs("127.0.0.2-3").unwrap();
        let e = plan_source_addrs(60_000, &two, loopback(), range).unwrap_err();
        assert!(e.contains("need 3 source addresses") && e.contains("--source-addrs"), "{e}");
        let remote: SocketAddr = "10.1.2.3:1883".parse().unwrap();
        let e = plan_source_addrs(60_000, &[], remote, range).unwrap_err();
        assert!(e.contains("--source-addrs"), "{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_plan_fits_and_an_impossible_one_is_refused_with_the_fix() {
        assert!(ensure_open_files(10).is_ok());
        let e = ensure_open_files(u32::MAX as u64 * 1000).unwrap_err();
        assert!(e.contains("hard limit"), "{e}");
        assert!(e.contains("lower `clients`"), "{e}");
    }
}
