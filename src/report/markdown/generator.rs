//! report.md's "## midge itself" (the load generator's own health, its
//! publish rates and batching) and the broker's process and `$SYS` counters
//! over the run's own rounds.

use crate::analysis::model::{LatencyInfo, LoadGenerator, Report};
use crate::record::vocab::{BatchMode, LossWindow};
use std::fmt::Write;

/// "## midge itself": the load generator's own health, so a reader can tell
/// The kernel's TCP socket memory beside midge's RSS: machine-wide, so it
/// says so.
fn kernel_sockets(g: &LoadGenerator) -> String {
    let Some(kib) = g.kernel_socket_kib else { return String::new() };
    let per_client =
        g.kernel_socket_bytes_per_connected_client.map_or(String::new(), |b| format!(", {b} B per connected client"));
    let sockets = g.kernel_tcp_sockets.map_or(String::new(), |n| format!(" over {n} TCP sockets"));
    format!("; kernel TCP socket buffers {kib} KiB machine-wide{sockets}{per_client}")
}

/// a slow broker from a slow midge, with the publish rates and batching notes.
pub(super) fn load_generator(o: &mut String, r: &Report) {
    let g = &r.load_generator;
    let _ = writeln!(
        o,
        "## midge itself\n\n{} worker thread(s), {:.2} CPU-s while publishing ({:.0}% of the workers), RSS {} KiB when publishing ended{} (peak {} KiB){}; event-loop delay p99 {:.2} ms; publish lag p50 {:.2} ms, p99 {:.2} ms{}{}.\n",
        g.workers,
        g.cpu_s,
        g.cpu_utilization * 100.0,
        g.rss_kib_at_publish_end,
        g.rss_bytes_per_connected_client.map_or(String::new(), |b| format!(" ({:.1} KiB per connected client)", b as f64 / 1024.0)),
        g.peak_rss_kib,
        kernel_sockets(g),
        g.loop_delay.p99_us as f64 / 1000.0,
        g.publish_lag.p50_us as f64 / 1000.0,
        g.publish_lag.p99_us as f64 / 1000.0,
        match (g.broker_cpu_s, g.broker_rss_kib) {
            (Some(c), Some(m)) => format!("; {} used {c:.2} CPU-s and held {m} KiB", broker_process(r)),
            (Some(c), None) => format!("; {} used {c:.2} CPU-s", broker_process(r)),
            _ => String::new(),
        },
        if g.source_addrs.is_empty() { String::new() } else { format!("; source addresses {}", g.source_addrs.join(", ")) }
    );
    for rate in &g.publish_rates {
        let _ = writeln!(
            o,
            "- publish rate of `{}` ({} publishers, {}): {:.1} msg/s asked, {:.1} achieved ({:+.2} %)",
            rate.group,
            rate.publishers,
            rate.arrival,
            rate.target_msgs_per_s,
            rate.achieved_msgs_per_s,
            rate.deviation_pct
        );
        if rate.held_by_limit > 0 {
            let names: Vec<String> = g.held_by_limit.iter().map(|(l, n)| format!("{l}: {n}")).collect();
            let _ = writeln!(
                o,
                "  - {} of its {} due held back by a limit the broker announced ({}; all groups): the broker's policy, not midge's saturation",
                rate.held_by_limit,
                rate.due,
                names.join(", ")
            );
        }
    }
    let broker_peaks = broker_peaks(r);
    if let Some((cpu, rss)) = broker_peaks {
        let midge_cpu = r.timeseries.iter().filter_map(|p| p.midge_cpu_pct).fold(0.0, f64::max);
        let _ = writeln!(
            o,
            "- the broker's process, second by second: CPU up to {}, RSS up to {} (midge's own CPU up to {midge_cpu:.1} % of a core)",
            cpu.map_or("?".to_string(), |c| format!("{c:.1} % of a core")),
            rss.map_or("?".to_string(), |k| format!("{k} KiB"))
        );
    }
    let batching = batching_lines(g);
    for line in &batching {
        let _ = writeln!(o, "- {line}");
    }
    if !g.publish_rates.is_empty() || broker_peaks.is_some() || !batching.is_empty() {
        o.push('\n');
    }
}

/// What batching did to the figures, or would do, in words (none when it
/// did nothing and midge was not busy).
fn batching_lines(g: &LoadGenerator) -> Vec<String> {
    let mut lines = Vec::new();
    match g.batch_mode {
        BatchMode::Fixed => lines.push(format!(
            "batch window {:.1} ms: publishers send what is due once per window and busy connections read once per window, so latencies are no finer than that (and a broker that delays small writes, like mosquitto without `set_tcp_nodelay`, adds up to about two windows more)",
            g.batch_window_us as f64 / 1000.0
        )),
        BatchMode::Adaptive if g.paced_reads > 0 => lines.push(format!(
            "adaptive batching: {} of {} socket reads waited for a 1 ms tick (connections taking in at least {} packets per ms, or on a worker moving at least {} per ms, where publishers also step on a 2 ms grid), so those latencies are no finer than about 1–2 ms; `batch_window = \"0ms\"` turns it off",
            g.paced_reads,
            g.socket_reads,
            crate::mqtt::pace::ADAPTIVE_BUSY_PACKETS_PER_MS,
            crate::mqtt::pace::WORKER_BUSY_PACKETS_PER_MS
        )),
        BatchMode::Off if g.cpu_utilization >= 0.5 && !g.saturated => lines.push(format!(
            "midge was busy ({:.0}% of its workers): `batch_window = \"1ms\"` would about halve its CPU per message, at a latency resolution of about a millisecond",
            g.cpu_utilization * 100.0
        )),
        _ => {}
    }
    lines
}

/// The broker process's highest CPU % and RSS over the time series, when
/// midge knew its process (spawned, or `--broker-pid`).
fn broker_peaks(r: &Report) -> Option<(Option<f64>, Option<u64>)> {
    let cpu = r.timeseries.iter().filter_map(|p| p.broker_cpu_pct).reduce(f64::max);
    let rss = r.timeseries.iter().filter_map(|p| p.broker_rss_kib).max();
    (cpu.is_some() || rss.is_some()).then_some((cpu, rss))
}

/// The broker's own $SYS counters, when it published them, to set beside midge's.
pub(super) fn broker_counters(o: &mut String, r: &Report) {
    let Some(s) = &r.broker.sys_run else { return };
    let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    let every = match (s.round_every_s, s.sys_interval_s) {
        (Some(e), Some(i)) => format!(", one every {e:.1} s (sys_interval {i} s)"),
        (Some(e), None) => format!(", one every {e:.1} s"),
        (None, Some(i)) => format!(" (sys_interval {i} s)"),
        (None, None) => String::new(),
    };
    let clients =
        s.clients_at_last_round.map_or(String::new(), |c| format!(" Clients connected at the last round: {c}."));
    if s.rounds < 2 {
        let _ = writeln!(
            o,
            "The broker's own counters ($SYS): one round inside the run, at {:.1} s{every}, {:.1} s before its end: no rise over the run to set beside midge's counts.{clients}\n",
            s.from_s, s.last_round_age_s
        );
    } else {
        let _ = writeln!(
            o,
            "The broker's own counters ($SYS) over the run, from its round at {:.1} s to its round at {:.1} s ({} rounds{every}; the last {:.1} s before the run's end): PUBLISH received {}, sent {}, dropped {}.{clients}\n",
            s.from_s,
            s.to_s,
            s.rounds,
            s.last_round_age_s,
            n(s.received),
            n(s.sent),
            n(s.dropped)
        );
    }
    if let Some(dropped) = s.dropped.filter(|&d| d > 0) {
        let m = &r.messages;
        let offline = m.lost_by_window.get(&LossWindow::SubscriberOffline).copied().unwrap_or(0);
        let slow = m.lost_by_window.get(&LossWindow::SlowConsumer).copied().unwrap_or(0);
        let slow = if slow > 0 { format!(", {slow} while slow consumers were behind") } else { String::new() };
        let differ = match dropped.cmp(&m.lost) {
            std::cmp::Ordering::Equal => String::new(),
            std::cmp::Ordering::Greater => format!(" The broker's count is {} more.", dropped - m.lost),
            std::cmp::Ordering::Less => format!(" The broker's count is {} fewer.", m.lost - dropped),
        };
        let _ = writeln!(
            o,
            "During the run, the broker counted {dropped} messages dropped; midge counted {} lost ({offline} of them while subscribers were offline{slow}).{differ}\n",
            m.lost
        );
    }
}

/// The broker whose process midge measured: the one it spawned (it wrote
/// its configuration), or the one `--broker-pid` named.
fn broker_process(r: &Report) -> String {
    match r.broker.pid_given {
        Some(pid) => format!("the broker's process (PID {pid}, --broker-pid)"),
        None => "the spawned broker".to_string(),
    }
}
/// "midge's own part: …": send lag and receive delay (report.json
/// `latency.own`), and where the receive delay was not measured, how much
/// batched reads could have added.
pub(super) fn own_part_line(l: &LatencyInfo) -> String {
    let own = &l.own;
    let ms = |us: u64| us as f64 / 1000.0;
    let receive = if own.receive_delay_measured {
        format!(
            "receive delay p50 {:.2} ms, p99 {:.2} ms (kernel receive timestamps on {} of {} deliveries; e2e runs to the kernel's stamp, so this is in neither e2e figure)",
            ms(own.receive_delay_p50_us),
            ms(own.receive_delay_p99_us),
            own.receive_delay_deliveries,
            l.e2e.count
        )
    } else if own.batching_bound_us > 0 {
        format!(
            "receive delay not measured (no kernel receive timestamps: TLS, WebSocket or not Linux): batched reads could have added up to {:.2} ms to each e2e figure",
            ms(own.batching_bound_us)
        )
    } else {
        "receive delay not measured (no kernel receive timestamps: TLS, WebSocket or not Linux); batching was off"
            .to_string()
    };
    format!(
        "midge's own part: send lag p50 {:.2} ms, p99 {:.2} ms (in e2e from the intended send, not from the actual send); {receive}.",
        ms(own.send_lag_p50_us),
        ms(own.send_lag_p99_us),
    )
}
