//! Every file under `src/` stays readable at once: at most `MAX_CODE_LINES`
//! lines of non-test code. Non-test code is a file's lines before its inline
//! `#[cfg(test)] mod … { … }` block (kept at the end of a file, by the
//! crate's habit); a file that is itself a test module (declared
//! `#[cfg(test)] mod name;` by its parent) counts nothing. Function length is
//! clippy's part (`clippy::too_many_lines`, bound in clippy.toml).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const MAX_CODE_LINES: usize = 600;

/// Lines of `text` before its first `#[cfg(test)]` that opens a module.
fn code_lines(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let opens_test_module =
        |i: usize| lines[i].trim() == "#[cfg(test)]" && lines.get(i + 1).is_some_and(|next| is_mod_line(next));
    (0..lines.len()).find(|&i| opens_test_module(i)).unwrap_or(lines.len())
}

fn is_mod_line(line: &str) -> bool {
    let t = line.trim_start();
    let t = t.strip_prefix("pub(crate) ").or_else(|| t.strip_prefix("pub ")).unwrap_or(t);
    t.starts_with("mod ")
}

/// The names of the out-of-line test modules `text` declares
/// (`#[cfg(test)]` then `mod name;`).
fn test_module_names(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].trim() == "#[cfg(test)]" && is_mod_line(w[1]) && w[1].trim_end().ends_with(';'))
        .filter_map(|w| w[1].trim().trim_end_matches(';').rsplit(' ').next().map(str::to_string))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files of out-of-line test modules: `name.rs` beside a declaring
/// `mod.rs`, or under the declaring file's own folder.
fn test_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut set = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        let folder = if f.file_name().is_some_and(|n| n == "mod.rs" || n == "lib.rs") {
            f.parent().unwrap().to_path_buf()
        } else {
            f.with_extension("")
        };
        for name in test_module_names(&text) {
            set.insert(folder.join(format!("{name}.rs")));
            set.insert(folder.join(&name).join("mod.rs"));
        }
    }
    set
}

#[test]
fn no_file_in_src_holds_more_than_600_lines_of_non_test_code() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let tests = test_files(&files);
    let mut over: Vec<String> = files
        .iter()
        .filter(|f| !tests.contains(*f))
        .map(|f| (f, code_lines(&std::fs::read_to_string(f).unwrap())))
        .filter(|(_, n)| *n > MAX_CODE_LINES)
        .map(|(f, n)| format!("{}: {n} lines of non-test code", f.strip_prefix(&src).unwrap().display()))
        .collect();
    over.sort();
    assert!(over.is_empty(), "split these by job (at most {MAX_CODE_LINES} lines each):\n{}", over.join("\n"));
    assert!(files.len() > 50 && !tests.is_empty(), "the walk found the crate: {} files", files.len());
}

#[test]
fn code_lines_stop_at_the_inline_test_module_and_test_files_are_found() {
    let text = "use a;\n\nfn f() {}\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {}\n}\n";
    assert_eq!(code_lines(text), 3);
    assert_eq!(code_lines("fn f() {}\n#[cfg(test)]\nfn helper() {}\n"), 3, "a cfg(test) item that is no module counts");
    assert_eq!(code_lines(""), 0);
    let parent = "mod build;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\npub(crate) mod testkit;\n";
    assert_eq!(test_module_names(parent), vec!["tests".to_string(), "testkit".to_string()]);
    let dir = tempfile::tempdir().unwrap();
    let declaring = dir.path().join("mod.rs");
    std::fs::write(&declaring, parent).unwrap();
    let found = test_files(&[declaring]);
    assert!(found.contains(&dir.path().join("tests.rs")) && found.contains(&dir.path().join("testkit.rs")));
    assert!(!found.contains(&dir.path().join("build.rs")));
}
