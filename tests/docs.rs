//! The front page and the guide hold together: README.md stays a front page
//! (at most `MAX_README_LINES` lines, the details in docs/), and every
//! relative link in README.md and docs/**/*.md leads to a file that exists
//! — and, when it names a heading (`file.md#heading`), to a heading that
//! exists, by GitHub's anchors.

use std::path::{Path, PathBuf};

const MAX_README_LINES: usize = 250;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            markdown_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}

/// The text outside code: fenced blocks and `inline code` left out.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            let mut in_code = false;
            for piece in line.split('`') {
                if !in_code {
                    out.push_str(piece);
                }
                in_code = !in_code;
            }
            out.push('\n');
        }
    }
    out
}

/// Every `](target)` of a Markdown text's prose.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text);
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].trim().to_string());
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(anchor(&line.trim_start_matches('#').replace('`', "")));
        }
    }
    out
}

/// The broken links of one file: (link, why).
fn broken(file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut bad = Vec::new();
    for link in links(&text) {
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (path, fragment) = link.split_once('#').map_or((link.as_str(), None), |(p, f)| (p, Some(f)));
        let target = if path.is_empty() { file.to_path_buf() } else { file.parent().unwrap().join(path) };
        if !target.exists() {
            bad.push((link.clone(), format!("{} does not exist", target.display())));
            continue;
        }
        if let Some(fragment) = fragment.filter(|_| target.extension().is_some_and(|e| e == "md")) {
            let headings = anchors(&std::fs::read_to_string(&target).unwrap());
            if !headings.iter().any(|h| h == fragment) {
                bad.push((link.clone(), format!("no heading #{fragment} in {}: {headings:?}", target.display())));
            }
        }
    }
    bad
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let mut files = vec![root().join("README.md")];
    markdown_files(&root().join("docs"), &mut files);
    assert!(files.len() > 10, "the guide is there: {files:?}");
    let bad: Vec<String> = files
        .iter()
        .flat_map(|f| broken(f).into_iter().map(move |(link, why)| format!("{}: ({link}): {why}", f.display())))
        .collect();
    assert!(bad.is_empty(), "broken links:\n{}", bad.join("\n"));
}

#[test]
fn the_readme_is_a_front_page_that_links_the_guide() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(lines <= MAX_README_LINES, "README.md has {lines} lines; the details belong in docs/guide/");
    // The two set-up commands (.ci/run runs the second), and the guide by task.
    assert!(text.contains("cargo run --release -- run scenarios/quickstart.toml"));
    assert!(text.contains("\ntests/run.sh\n"));
    for page in ["mosquitto", "loss-bug", "capacity", "soak", "beyond-one-machine", "scenarios", "numbers", "findings"]
    {
        assert!(text.contains(&format!("(docs/guide/{page}.md)")), "README links docs/guide/{page}.md");
    }
}

/// The checker itself: a missing file, a missing heading and a good link.
#[test]
fn the_link_checker_finds_what_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.md"), "# Live metrics (Prometheus)\n\n## `x` y\n").unwrap();
    std::fs::write(
        dir.path().join("a.md"),
        "[ok](b.md#live-metrics-prometheus) [ok2](b.md#x-y) [web](https://e.com/x) `[code](nope.md)`\n\
         ```\n[fenced](nope.md)\n```\n[gone](c.md) [bad anchor](b.md#nope) [self](#nothing)\n",
    )
    .unwrap();
    let bad: Vec<String> = broken(&dir.path().join("a.md")).into_iter().map(|(l, _)| l).collect();
    assert_eq!(bad, ["c.md", "b.md#nope", "#nothing"]);
}
