//! Who was the bottleneck: every time-series point carries midge's CPU and
//! memory, and the broker's when midge knows its process — a spawned
//! mosquitto (followed across a restart) or `--broker-pid` — and
//! report.html plots them.

mod support;

use midge::record::TimePoint;
use serde_json::Value;
use support::{midge, mosquitto, run_text};

/// 40 publishers at 50 msg/s into 2 wildcard subscribers: 2,000 msg/s in,
/// 4,000 out, for 5 s (enough seconds for report.html to plot them over
/// time: a shorter series is said in words).
const LOAD: &str = r#"
name = "resources"
duration = "5s"
drain = "2s"
protocol = "3.1.1"

[[group]]
name = "dash"
clients = 2
client_id = { scheme = "prefix-serial", prefix = "res-dash-" }
subscribe = { filter = "res/+/v", qos = 1 }

[[group]]
name = "sensors"
clients = 40
client_id = { scheme = "prefix-serial", prefix = "res-sensor-" }
connect_rate = 1000
publish = { topic = "res/{client}/v", qos = 1, rate = 50.0, payload = 64 }
"#;

/// Every point has midge's memory, and midge's CPU unless its interval was
/// too short for one (only the last may be).
fn assert_midge_measured(points: &[TimePoint]) {
    assert!(points.len() >= 3, "a few seconds of points: {points:?}");
    for (i, p) in points.iter().enumerate() {
        assert!(p.midge_rss_kib.is_some_and(|k| k > 1024), "point {i}: midge's RSS: {p:?}");
        let last = i + 1 == points.len();
        assert!(
            p.midge_cpu_pct.is_some_and(|c| c > 0.0) || (last && p.midge_cpu_pct.is_none()),
            "point {i}: midge's CPU: {p:?}"
        );
    }
}

/// The figure of report.html whose caption is `caption`.
fn figure<'a>(html: &'a str, caption: &str) -> &'a str {
    html.split("<figure>").find(|f| f.contains(caption)).unwrap_or_else(|| panic!("no plot {caption:?}"))
}

/// Whether a plot's legend (or any of its text) names `line`.
fn names(plot: &str, line: &str) -> bool {
    plot.lines().any(|l| l.trim() == line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_broker_is_measured_beside_midge_and_plotted() {
    let out = run_text(LOAD, "spawn:mosquitto").await;
    let r = &out.report;
    assert!(r.messages.received > 1000, "the load ran: {:?}", r.messages);
    let points = &r.timeseries;
    assert_midge_measured(points);
    for (i, p) in points.iter().enumerate() {
        assert!(p.broker_rss_kib.is_some_and(|k| k > 0), "point {i}: the broker's RSS: {p:?}");
        let last = i + 1 == points.len();
        assert!(p.broker_cpu_pct.is_some() || last, "point {i}: the broker's CPU: {p:?}");
    }
    assert!(points.iter().any(|p| p.broker_cpu_pct.is_some_and(|c| c > 0.0)), "mosquitto did some work: {points:?}");
    // The last sample (after the drain) is near what `publish` read at its end.
    let at_publish_end = r.load_generator.broker_rss_kib.expect("the spawned broker's RSS") as f64;
    let last = points.last().unwrap().broker_rss_kib.unwrap() as f64;
    assert!(
        (last - at_publish_end).abs() <= (0.25 * at_publish_end).max(2048.0),
        "last sample {last} KiB, at publish end {at_publish_end} KiB"
    );
    // The kernel's TCP sockets when publishing ended, machine-wide: at least
    // both ends of the 42 connections to the local broker and its listener.
    let g = &r.load_generator;
    assert!(g.kernel_tcp_sockets.is_some_and(|n| n > 2 * 42), "{:?}", g.kernel_tcp_sockets);
    let per_client = g.kernel_socket_kib.map(|k| k * 1024 / 42);
    assert_eq!(g.kernel_socket_bytes_per_connected_client, per_client, "over the 42 connected");
    // The record carries them (so `midge report DIR` draws the same).
    assert_eq!(out.record.timeseries, r.timeseries);

    let dir = tempfile::tempdir().unwrap();
    r.write_files(dir.path()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("CPU, % of one core") && html.contains("memory (resident), MiB"), "the two plots");
    assert_eq!(
        html.matches("<svg").count(),
        7,
        "rates, e2e, connected, CPU, memory, the broker's counters, percentiles"
    );
    for caption in ["CPU, % of one core", "memory (resident), MiB"] {
        let plot = figure(&html, caption);
        assert!(names(plot, "midge") && names(plot, "broker"), "both lines in the {caption} legend");
    }
    for outside in ["<script", "src=\"http", "href=\"http", "url(", "@import"] {
        assert!(!html.contains(outside), "report.html fetches nothing: found {outside}");
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("- the broker's process, second by second: CPU up to "), "{md}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    let first = &json["timeseries"][0];
    for k in ["midge_cpu_pct", "midge_rss_kib", "broker_cpu_pct", "broker_rss_kib"] {
        assert!(first.get(k).is_some(), "report.json timeseries[0].{k}: {first}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_is_followed_to_its_new_process() {
    let text = format!("{}\n[[fault]]\nat = \"1s\"\naction = \"restart-broker\"\nfor = \"1500ms\"\n", LOAD);
    let out = run_text(&text, "spawn:mosquitto").await;
    let points = &out.report.timeseries;
    assert_midge_measured(points);
    let down = points.iter().position(|p| p.broker_rss_kib.is_none()).expect("a second while the broker was down");
    assert!(points[down].broker_cpu_pct.is_none(), "{points:?}");
    assert!(points[..down].iter().any(|p| p.broker_rss_kib.is_some()), "measured before the restart: {points:?}");
    let after = &points[down..];
    let back = after.iter().position(|p| p.broker_rss_kib.is_some()).expect("measured again after the restart");
    let n = after.len();
    assert!(
        after[back..n - 1].iter().all(|p| p.broker_rss_kib.is_some() && p.broker_cpu_pct.is_some()),
        "the new process, every second: {points:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_has_no_process_of_its_own() {
    let out = run_text(LOAD, "embedded").await;
    let points = &out.report.timeseries;
    assert_midge_measured(points);
    assert!(points.iter().all(|p| p.broker_cpu_pct.is_none() && p.broker_rss_kib.is_none()), "{points:?}");
    // midge's own plots are drawn all the same, with no broker line.
    let html = midge::report::html::render(&out.report);
    for caption in ["CPU, % of one core", "memory (resident), MiB"] {
        let plot = figure(&html, caption);
        assert!(names(plot, "midge") && !names(plot, "broker"), "midge only in {caption}");
    }
    assert!(!midge::report::markdown::render(&out.report).contains("the broker's process"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_pid_measures_a_broker_midge_did_not_start() {
    // No queue cap: 5 s of 4,000 msg/s out on a busy machine can overflow
    // stock mosquitto's 1000 and fail the run, which is not this test's point.
    let m = mosquitto(support::NO_LIMITS).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("resources.toml");
    std::fs::write(&scenario, LOAD).unwrap();
    let out_dir = dir.path().join("out");
    let pid = m.pid().to_string();
    let ran = tokio::task::block_in_place(|| {
        midge(&[
            "run",
            scenario.to_str().unwrap(),
            "-q",
            "--broker",
            &support::url(&m),
            "--broker-pid",
            &pid,
            "--out",
            out_dir.to_str().unwrap(),
        ])
    });
    assert_eq!(ran.status.code(), Some(0), "{}", String::from_utf8_lossy(&ran.stderr));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(r["broker"]["kind"], "external", "the broker stays external");
    let points = r["timeseries"].as_array().unwrap();
    assert!(points.len() >= 3, "{points:?}");
    for p in points {
        assert!(p["broker_rss_kib"].as_u64().is_some_and(|k| k > 0), "{p}");
        assert!(p["midge_rss_kib"].as_u64().is_some_and(|k| k > 0), "{p}");
    }
    assert!(points.iter().any(|p| p["broker_cpu_pct"].as_f64().is_some_and(|c| c > 0.0)), "{points:?}");
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(names(figure(&html, "CPU, % of one core"), "broker"), "the broker's line");
}

#[test]
fn broker_pid_of_no_process_exits_2_with_a_clear_message() {
    let out = midge(&["run", "scenarios/quickstart.toml", "-q", "--broker-pid", "999999"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--broker-pid 999999") && err.contains("no such process"), "{err}");
}

/// SO_RCVBUF or SO_SNDBUF of a connected socket, as the kernel reports it.
fn buffer_size(stream: &tokio::net::TcpStream, option: libc::c_int) -> libc::c_int {
    use std::os::fd::AsRawFd;
    let mut size: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket fd, and a c_int with its length to fill.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            &mut size as *mut libc::c_int as *mut _,
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
    size
}

/// A group's `rcvbuf` and `sndbuf` reach its sockets before connect: Linux
/// doubles what is asked (its bookkeeping room), so 4096 reads back 8192 —
/// from the kernel's source address and from a chosen one alike. A group
/// without them keeps the kernel's default (tcp_rmem's, autotuned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_socket_buffer_sizes_are_set_before_connect() {
    use midge::mqtt::handshake::connect_tcp;
    use midge::plan::{Overrides, Plan};
    let m = mosquitto(&[]).await;
    let text =
        "name = \"bufs\"\nduration = \"1s\"\n[[group]]\nname = \"small\"\nclients = 2\nrcvbuf = 4096\nsndbuf = 6144\n\
                [[group]]\nname = \"plain\"\n";
    let plan = Plan::build(&support::parse(text), &Overrides::default()).unwrap();
    let (small, plain) = (plan.groups[0].socket_buffers, plan.groups[1].socket_buffers);
    for from in [None, Some("127.0.0.1".parse().unwrap())] {
        let s = connect_tcp(m.addr, from, small).await.unwrap();
        assert_eq!(
            (buffer_size(&s, libc::SO_RCVBUF), buffer_size(&s, libc::SO_SNDBUF)),
            (8192, 12288),
            "from {from:?}"
        );
    }
    let s = connect_tcp(m.addr, None, plain).await.unwrap();
    let default_rcv = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_rmem").unwrap();
    let default_rcv: libc::c_int = default_rcv.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(buffer_size(&s, libc::SO_RCVBUF) >= default_rcv, "the kernel's default ({default_rcv} or more)");
}
