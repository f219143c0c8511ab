//! The broker's own `$SYS` counters over the run's own window: the rise of
//! each from the first round inside the run to the last (a broker midge did
//! not start has counted since it started, so its values at the end are not
//! the run's), how old the last round was when the run ended, and how often
//! the broker published (`broker.sys_run`; report.md's "The broker's own
//! counters"; the slow-consumer finding's `broker_dropped`).
//!
//! A counter the first round did not carry counts from 0 (mosquitto
//! publishes a counter first when it changes). With fewer than two rounds
//! inside the run there is no rise to give: the rises are null.

use crate::analysis::model::SysRunInfo;
use crate::record::SysPoint;

/// The rounds that began inside the run (the run clock up to `run_end_us`).
fn inside(series: &[SysPoint], run_end_us: u64) -> &[SysPoint] {
    let end_s = run_end_us as f64 / 1e6;
    let n = series.iter().take_while(|p| p.t_s <= end_s + 0.05).count();
    &series[..n]
}

/// How far one counter rose from the first round inside the run to the
/// last; None with fewer than two rounds or a counter never published.
pub fn rise(series: &[SysPoint], run_end_us: u64, counter: impl Fn(&SysPoint) -> Option<u64>) -> Option<u64> {
    let rounds = inside(series, run_end_us);
    if rounds.len() < 2 {
        return None;
    }
    let last = rounds.iter().rev().find_map(&counter)?;
    Some(last.saturating_sub(rounds.first().and_then(&counter).unwrap_or(0)))
}

/// The broker's `sys_interval`, when midge wrote its configuration (the last
/// such line: the scenario's `mosquitto_conf` comes after midge's own).
pub fn configured_interval_s(config: Option<&str>) -> Option<u64> {
    let lines = config?.lines().filter_map(|l| l.trim().strip_prefix("sys_interval"));
    lines.filter_map(|v| v.trim().parse().ok()).next_back()
}

/// `broker.sys_run`: None when no round of `$SYS` values began inside the run.
pub fn sys_run(series: &[SysPoint], run_end_us: u64, config: Option<&str>) -> Option<SysRunInfo> {
    let rounds = inside(series, run_end_us);
    let (first, last) = (rounds.first()?, rounds.last()?);
    let mut gaps: Vec<f64> = rounds.windows(2).map(|w| w[1].t_s - w[0].t_s).collect();
    gaps.sort_by(f64::total_cmp);
    let tenth = |v: f64| (v * 10.0).round() / 10.0;
    Some(SysRunInfo {
        from_s: first.t_s,
        to_s: last.t_s,
        rounds: rounds.len() as u64,
        received: rise(series, run_end_us, |p| p.received),
        sent: rise(series, run_end_us, |p| p.sent),
        dropped: rise(series, run_end_us, |p| p.dropped),
        clients_at_last_round: last.clients,
        last_round_age_s: tenth((run_end_us as f64 / 1e6 - last.t_s).max(0.0)),
        round_every_s: gaps.get(gaps.len() / 2).map(|g| tenth(*g)).filter(|_| !gaps.is_empty()),
        sys_interval_s: configured_interval_s(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(t_s: f64, received: Option<u64>, dropped: Option<u64>) -> SysPoint {
        SysPoint { t_s, received, sent: received.map(|r| r + 5), dropped, clients: Some(12), received_1min: None }
    }

    #[test]
    fn the_counters_rise_over_the_rounds_inside_the_run_only() {
        // An external broker that had received 232000 before the run; the
        // run ends at 20.5 s, a round at 21.0 s came after it.
        let series = [
            round(0.3, Some(232_000), None),
            round(10.3, Some(237_000), Some(40)),
            round(20.3, Some(252_000), Some(100)),
            round(21.0, Some(260_000), Some(900)),
        ];
        let s = sys_run(&series, 20_500_000, None).expect("three rounds inside");
        assert_eq!(
            s,
            SysRunInfo {
                from_s: 0.3,
                to_s: 20.3,
                rounds: 3,
                received: Some(20_000),
                sent: Some(20_000),
                dropped: Some(100),
                clients_at_last_round: Some(12),
                last_round_age_s: 0.2,
                round_every_s: Some(10.0),
                sys_interval_s: None,
            }
        );
        // One round inside: no rise to give.
        let one = sys_run(&series[..1], 5_000_000, None).unwrap();
        assert_eq!((one.rounds, one.received, one.dropped, one.round_every_s), (1, None, None, None));
        assert_eq!(one.last_round_age_s, 4.7);
        assert_eq!(sys_run(&[], 5_000_000, None), None);
        assert_eq!(sys_run(&series[3..], 20_500_000, None), None, "no round inside the run");
    }

    #[test]
    fn the_interval_is_the_last_sys_interval_midge_wrote() {
        let conf = "listener 1883 127.0.0.1\nsys_interval 1\nmax_queued_messages 10\nsys_interval 10\n";
        assert_eq!(configured_interval_s(Some(conf)), Some(10));
        assert_eq!(configured_interval_s(Some("listener 1883\n")), None);
        assert_eq!(configured_interval_s(None), None);
    }
}
