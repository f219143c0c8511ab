//! Process limits a swarm runs into: open files (one per connection).

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
