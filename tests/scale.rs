//! Scale features, tested for function (never for speed): connections
//! spread over source addresses, preflights that refuse an impossible plan
//! with the fix, and the saturation guard.

mod support;
use midge::plan::{Overrides, Plan};
use midge::runner::{self, RunOptions};
use std::process::Command;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_really_come_from_the_listed_source_addresses() {
    let broker = mosquitto(&[]).await;
    let file = parse(
        r#"
name = "spread"
duration = "1s"
[[group]]
name = "c"
clients = 30
client_id = { scheme = "prefix-serial", prefix = "spread-" }
"#,
    );
    let overrides = Overrides {
        broker: Some(url(&broker)),
        source_addrs: Some(midge::scenario::parse_source_addrs("127.0.0.2-127.0.0.4").unwrap()),
        ..Default::default()
    };
    let out = runner::run(Plan::build(&file, &overrides).unwrap(), RunOptions::default()).await.unwrap();
    assert_eq!(out.report.clients.connected_peak, 30);
    assert_eq!(out.report.load_generator.source_addrs, vec!["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    // The broker's side of the story: its log names every peer address.
    let log = std::fs::read_to_string(broker.log_path()).unwrap();
    for last in 2..=4 {
        let n = log.matches(&format!("New connection from 127.0.0.{last}:")).count();
        assert_eq!(n, 10, "127.0.0.{last}: {n} connections");
    }
    // From 127.0.0.1 only the test's readiness probe, midge's preflight
    // probe and its $SYS watcher (outside the swarm).
    assert!(log.matches("New connection from 127.0.0.1:").count() <= 3);
}

#[test]
fn a_plan_beyond_the_open_file_limit_is_refused_before_connecting_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    std::fs::write(&path, "name = \"huge\"\n[[group]]\nname = \"g\"\nclients = 1000000\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_midge"))
        .args(["run", path.to_str().unwrap(), "-q", "--broker", "embedded"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("open files") && err.contains("hard limit") && err.contains("lower `clients`"), "{err}");
    assert!(err.contains(&format!("{}:4:1: ", path.display())), "at the `clients` key: {err}");
}

/// `midge validate` with the open-file limit set to 4096 for it: its exit
/// status, stdout, stderr, wall time and peak resident memory (KiB).
fn validate_limited(path: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, String, std::time::Duration, i64) {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_midge"));
    cmd.arg("validate").arg(path).args(extra).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it only lowers the child's own limit.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 4096, rlim_max: 4096 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = std::time::Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, for its rusage
    let mut child = cmd.spawn().unwrap();
    let (mut status, mut usage) = (0i32, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, writing into the two locals.
    assert_eq!(unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) }, child.id() as i32);
    let took = started.elapsed();
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, out, err, took, usage.ru_maxrss)
}

#[test]
fn validate_refuses_an_absurd_or_unholdable_client_count_at_once_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let absurd = dir.path().join("absurd.toml");
    std::fs::write(&absurd, "name = \"absurd\"\n[[group]]\nname = \"g\"\nclients = 4000000000\n").unwrap();
    let (code, _, err, took, _) = validate_limited(&absurd, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    assert_eq!(
        err.trim(),
        format!("{}:4:1: group \"g\": 4000000000 clients: a scenario has at most 10000000; split the load into several runs", absurd.display())
    );

    // 1,000,000 clients (500,000 publishers, 500,000 subscribers of t/#):
    // one process under a hard limit of 4096 cannot hold them. 249 shards
    // can: ⌈500000 / 249⌉ × 2 + 65 = 4083; 248 cannot (4099).
    let million = dir.path().join("million.toml");
    std::fs::write(
        &million,
        "name = \"million\"\n[[group]]\nname = \"p\"\nclients = 500000\npublish = { topic = \"t/{i}\", rate = 1.0 }\n[[group]]\nname = \"s\"\nclients = 500000\nsubscribe = { filter = \"t/#\" }\n",
    )
    .unwrap();
    let (code, _, err, took, _) = validate_limited(&million, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    assert!(
        err.starts_with(&format!(
            "{}:8:1: 1000000 clients in one process need 1000065 open files (1000000 + 65), but the hard limit is 4096: lower `clients`, split the run with shards (--shard I/N, N ≥ 249;",
            million.display()
        )),
        "{err}"
    );
    let (code, _, err, _, _) = validate_limited(&million, &["--shards", "248"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("4034 clients in one process (over 248 shards)"), "{err}");
    // Over 249 shards it validates: in well under a second and small memory,
    // since nothing is made per client (the 250 billion pairs are not matched).
    let (code, out, err, took, max_rss_kib) = validate_limited(&million, &["--shards", "249"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim(),
        format!(
            "{}: ok — scenario \"million\", 2 groups, 1000000 clients, streams found at run; no duration: publishes until Ctrl-C",
            million.display()
        )
    );
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    assert!(max_rss_kib < 32 * 1024, "validate used {max_rss_kib} KiB");
}

#[test]
fn the_saturation_guard_fires_when_midge_is_starved_and_not_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let starved = dir.path().join("starved.toml");
    // One worker thread and far more messages than it can make: midge is the bottleneck.
    std::fs::write(
        &starved,
        "name = \"starved\"\nduration = \"3s\"\n[[group]]\nname = \"s\"\nsubscribe = { filter = \"x/#\" }\n[[group]]\nname = \"p\"\nclients = 50\npublish = { topic = \"x/{i}\", qos = 0, rate = 20000.0 }\n",
    )
    .unwrap();
    let run = |file: &std::path::Path, extra: &[&str]| {
        let out_dir = dir.path().join(file.file_stem().unwrap());
        let out = Command::new(env!("CARGO_BIN_EXE_midge"))
            .args(["run", file.to_str().unwrap(), "-q", "--out", out_dir.to_str().unwrap()])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap();
        (out, r)
    };
    let (_, r) = run(&starved, &["--workers", "1", "--broker", "embedded"]);
    assert_eq!(r["load_generator"]["saturated"], true, "{}", r["load_generator"]);
    assert!(r["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "generator_saturated"));

    let calm = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let (out, r) = run(&calm, &["--duration", "2s"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(r["load_generator"]["saturated"], false, "{}", r["load_generator"]);
    assert!(r["load_generator"]["cpu_s"].as_f64().unwrap() > 0.0);
}
