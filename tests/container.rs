//! The Dockerfile, checked without Docker (no container engine runs here):
//! every file it copies exists, midge builds from exactly those files with
//! its cargo flags, and its default command — what `docker run IMAGE` runs —
//! is a shipped scenario on the embedded broker that validates.

mod support;

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (instruction, rest of the line) of each Dockerfile instruction, continuations joined.
fn instructions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (i, rest) = l.split_once(' ').unwrap_or((l, ""));
            (i.to_uppercase(), rest.trim().to_string())
        })
        .collect()
}

/// The sources of the build context's COPYs (not `--from` a stage).
fn copied_sources() -> Vec<String> {
    let mut v = Vec::new();
    for (_, rest) in instructions().iter().filter(|(i, _)| i == "COPY") {
        if rest.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = rest.split_whitespace().collect();
        v.extend(parts[..parts.len() - 1].iter().map(|s| s.to_string()));
    }
    v
}

fn json_list(rest: &str) -> Vec<String> {
    serde_json::from_str(rest).unwrap_or_else(|e| panic!("{rest}: exec form expected: {e}"))
}

#[test]
fn every_file_the_dockerfile_copies_exists() {
    let sources = copied_sources();
    assert!(sources.contains(&"src".to_string()) && sources.contains(&"scenarios".to_string()), "{sources:?}");
    for s in sources {
        assert!(repo().join(&s).exists(), "Dockerfile copies {s}, which the repository lacks");
    }
}

#[test]
fn the_image_runs_unprivileged_and_its_default_is_the_quickstart_on_the_embedded_broker() {
    let ins = instructions();
    let last = |name: &str| ins.iter().rev().find(|(i, _)| i == name).map(|(_, r)| r.clone()).unwrap();
    assert_ne!(last("USER").split(':').next(), Some("0"), "runs as a non-root user");
    assert_ne!(last("USER"), "root");
    assert_eq!(json_list(&last("ENTRYPOINT")), vec!["midge"]);
    let cmd = json_list(&last("CMD"));
    assert_eq!(cmd[0], "run");
    // COPY scenarios /scenarios: the image's /scenarios is the repo's scenarios/.
    let scenario = repo().join(cmd[1].trim_start_matches('/'));
    let text = std::fs::read_to_string(&scenario).unwrap_or_else(|e| panic!("{}: {e}", scenario.display()));
    let file = support::parse(&text);
    assert_eq!(
        file.scenario.broker.url.as_ref().map(|u| u.joined()).as_deref(),
        Some("embedded"),
        "`docker run IMAGE` needs no broker"
    );
    let out = support::midge(&["validate", scenario.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The build stage's `cargo build …` on a folder holding only what the
/// Dockerfile copies. `cargo check` stands in for the release build (same
/// files, same `--locked` and `--bin`), so the suite stays quick; it shares
/// this test run's target folder, so only midge itself is checked again.
#[test]
fn midge_builds_from_exactly_the_files_the_dockerfile_copies() {
    let run = instructions()
        .into_iter()
        .find(|(i, r)| i == "RUN" && r.starts_with("cargo build"))
        .map(|(_, r)| r)
        .expect("the build stage runs cargo build");
    let args: Vec<&str> = run.split_whitespace().skip(2).filter(|a| *a != "--release").collect();
    assert!(args.contains(&"--locked") && args.contains(&"--bin"), "{run}");
    let tmp = tempfile::tempdir().unwrap();
    for s in copied_sources().iter().filter(|s| *s != "scenarios") {
        copy(&repo().join(s), &tmp.path().join(s));
    }
    let target = Path::new(env!("CARGO_BIN_EXE_midge")).parent().unwrap().parent().unwrap();
    let out = std::process::Command::new(env!("CARGO"))
        .arg("check")
        .args(&args)
        .arg("--quiet")
        .current_dir(tmp.path())
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo check {args:?} in the image's files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}
