//! The crate's modules depend on each other in one direction only. This test
//! reads the sources under src/ (std only, no parser crate), finds every
//! reference a file makes to another module of the crate (`use crate::…`,
//! `use super::…`, `pub use …`, `crate::…`/`super::…`/`self::…` paths in code,
//! and paths through a child module or a module imported by `use`), and
//! checks four rules:
//!
//! 1. a file references only modules of its own layer or a lower one
//!    (`LAYERS` below; a module missing from the table is an error);
//! 2. no cycle among the module files, same layer or not;
//! 3. `record` references nothing of the crate but itself;
//! 4. no cycle among the top-level modules: `a` and `b` of one layer may not
//!    reference each other, even through files that form no cycle of their
//!    own (`a::x` → `b::y` and `b::z` → `a::w`). Checked once rule 2 holds
//!    (a file cycle across modules is reported once, as a file cycle).
//!
//! Comments, doc comments, string literals and `#[cfg(test)] mod … { … }`
//! blocks are ignored: unit tests may reach anywhere.
//!
//! `layers_self_check` runs the analyser on hand-written sources, so a broken
//! analyser cannot pass silently; `src_dependencies_point_one_way` runs it on
//! the real src/.
//!
//! What follows from the rules:
//!
//! - Children import siblings, not their `mod.rs`. A `pub use child::X` in a
//!   `mod.rs` is an edge from the `mod.rs` to the child; a child that reaches a
//!   sibling through the parent's re-export (`super::X`, `crate::mqtt::Packet`)
//!   adds the edge back and closes a cycle. So `codec/decode.rs` imports
//!   `super::packet::…`, `codec/encode.rs` imports
//!   `crate::mqtt::protocol::ProtocolVersion`, the detectors import
//!   `super::explain::…` and `super::words::…`, the client's files import
//!   `super::state::…`, and the live windows sit in `analysis/windows.rs`,
//!   apart from the tally, so that `tally.rs` and `shared.rs` both import
//!   `super::windows::…` (`tally.rs` imports `super::shared::…`, never the
//!   other way). A bare `mod child;` is no edge.
//! - Shared types live in the lowest layer that needs them, with one import
//!   path each (`RunClock` from `record::clock`, `Phase` from `control`,
//!   `ProtocolVersion` from `mqtt::protocol`, `Report` from
//!   `analysis::model`): no module re-exports another top-level module's
//!   types; a parent re-exports only its own private children.
//! - Out-of-line test files are modules like any other: `analysis/tests.rs`,
//!   `analysis/testkit.rs` and `analysis/detect/tests.rs` obey the table; only
//!   inline `#[cfg(test)] mod tests { … }` may reach anywhere.
//! - Rule 4 holds with no exception: what two top-level modules of one layer
//!   both need lives below them or with the one that is imported (the run's
//!   `Phase` in `control`; the fault schedule's orders to the clients in
//!   `client::order`, so the client never imports `faults`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, low to high, by top-level module. A module may reference its
/// own layer and those below, never above. The order is the data flow turned
/// into a dependency direction: at the bottom the record (what a run observed,
/// as plain data) imports nothing; above it the pure building blocks (topics,
/// payloads, the MQTT codec), then the scenario and its plan; the analysis
/// reads only the record and the plan, the report only renders the analysis;
/// the layers with I/O (metrics, limits, broker processes, workers, the
/// client tasks, faults, $SYS) sit above everything pure, the runner drives
/// them, and the command line (with the crate root, `lib.rs`/`main.rs`, which
/// may import anything) is on top. A new module must be placed here on purpose.
const LAYERS: &[&[&str]] = &[
    &["record"],                                                                 // 0
    &["topic", "payload", "mqtt"],                                               // 1
    &["scenario", "ids"],                                                        // 2
    &["plan"],                                                                   // 3
    &["analysis"],                                                               // 4
    &["report"],                                                                 // 5
    &["metrics", "limits", "broker", "workers", "progress", "merge", "control"], // 6
    &["client", "faults", "sys"],                                                // 7
    &["runner", "capacity", "prometheus", "shrink"],                             // 8
    &["cli"],                                                                    // 9, with the crate root
];

/// The crate root (`lib.rs`, `main.rs`) sits with the top layer.
const ROOT_LAYER: usize = LAYERS.len() - 1;

/// The module that may import only itself (rule 3).
const SELF_CONTAINED: &str = "record";

/// One source file: its path as `src/…` with `/` separators, and its text.
struct Source {
    path: String,
    text: String,
}

/// What the analyser found; `problems()` is empty when the crate is layered.
#[derive(Debug, Default)]
struct Analysis {
    /// "module X is not in the layer table (src/…)"
    unplaced: Vec<String>,
    /// Rule 1: "src/a.rs: imports crate::b (layer N) from layer M"
    upward: Vec<String>,
    /// Rule 3: "src/record/…: record imports crate::x; …"
    record: Vec<String>,
    /// Rule 2: one cycle, as "a -> b -> a", if there is any.
    cycle: Option<String>,
    /// Rule 4: one cycle among top-level modules, as "a -> b -> a".
    top_cycle: Option<String>,
}

impl Analysis {
    fn problems(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        v.extend(self.unplaced.iter().cloned());
        v.extend(self.upward.iter().cloned());
        v.extend(self.record.iter().cloned());
        v.extend(self.cycle.iter().map(|c| format!("import cycle: {c}")));
        v.extend(self.top_cycle.iter().map(|c| format!("import cycle between top-level modules: {c}")));
        v
    }
}

/// `src/lib.rs`, `src/main.rs` → `[]`; `src/a.rs`, `src/a/mod.rs` → `[a]`;
/// `src/a/b.rs` → `[a, b]`.
fn module_of(path: &str) -> Vec<String> {
    let rel = path.strip_prefix("src/").unwrap_or(path);
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    if rel == "lib" || rel == "main" {
        return Vec::new();
    }
    let rel = rel.strip_suffix("/mod").unwrap_or(rel);
    rel.split('/').map(str::to_string).collect()
}

fn display(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        module.join("::")
    }
}

fn layer_of(module: &[String]) -> Option<usize> {
    match module.first() {
        None => Some(ROOT_LAYER),
        Some(top) => LAYERS.iter().position(|layer| layer.contains(&top.as_str())),
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Tokens of a Rust source with comments, strings, chars, numbers and
/// lifetimes left out: only identifiers, `::` and punctuation remain.
fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut toks = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1);
        } else if ch == '\'' {
            if at(i + 1) == '\\' {
                // An escaped char literal ('\n', '\'', '\u{…}'): past the
                // escaped char, up to the closing quote.
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3; // 'x'
            } else {
                // A lifetime or label: drop it.
                i += 1;
                while i < c.len() && is_ident_char(c[i]) {
                    i += 1;
                }
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && is_ident_char(c[i]) {
                i += 1;
            }
        } else if is_ident_start(ch) {
            let start = i;
            while i < c.len() && is_ident_char(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let raw = matches!(word.as_str(), "r" | "br" | "cr");
            if raw && (at(i) == '"' || (at(i) == '#' && (at(i + 1) == '"' || at(i + 1) == '#'))) {
                // A raw string: r"…", r#"…"#, …
                let mut hashes = 0;
                while at(i) == '#' {
                    hashes += 1;
                    i += 1;
                }
                i += 1; // the opening quote
                'raw: while i < c.len() {
                    if c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                        i += 1 + hashes;
                        break 'raw;
                    }
                    i += 1;
                }
            } else if word == "r" && at(i) == '#' && is_ident_start(at(i + 1)) {
                // A raw identifier: r#type.
                i += 1;
                let start = i;
                while i < c.len() && is_ident_char(c[i]) {
                    i += 1;
                }
                toks.push(Tok::Ident(c[start..i].iter().collect()));
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                i = skip_string(&c, i + 1);
            } else if word == "b" && at(i) == '\'' {
                i += 1;
                while i < c.len() && c[i] != '\'' {
                    if c[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            } else {
                toks.push(Tok::Ident(word));
            }
        } else if ch == ':' && at(i + 1) == ':' {
            toks.push(Tok::Sep);
            i += 2;
        } else {
            toks.push(Tok::Punct(ch));
            i += 1;
        }
    }
    toks
}

/// The index after the closing quote of a string whose body starts at `i`.
fn skip_string(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i] != '"' {
        if c[i] == '\\' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

// ---------------------------------------------------------------- references

fn is_ident(t: Option<&Tok>, s: &str) -> bool {
    matches!(t, Some(Tok::Ident(x)) if x == s)
}

fn is_punct(t: Option<&Tok>, p: char) -> bool {
    t == Some(&Tok::Punct(p))
}

/// The index after the bracket that closes the one at `i`.
fn skip_balanced(toks: &[Tok], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < toks.len() {
        match toks[i] {
            Tok::Punct('{' | '[' | '(') => depth += 1,
            Tok::Punct('}' | ']' | ')') => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// If `#[cfg(test)]` starts at `i` and (after other attributes and a
/// visibility) introduces `mod name { … }`, the index after that block.
fn cfg_test_mod_end(toks: &[Tok], i: usize) -> Option<usize> {
    let cfg_test = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    if toks.get(i..i + cfg_test.len())? != cfg_test {
        return None;
    }
    let mut j = i + cfg_test.len();
    while is_punct(toks.get(j), '#') && is_punct(toks.get(j + 1), '[') {
        j = skip_balanced(toks, j + 1);
    }
    if is_ident(toks.get(j), "pub") {
        j += 1;
        if is_punct(toks.get(j), '(') {
            j = skip_balanced(toks, j);
        }
    }
    if is_ident(toks.get(j), "mod") && matches!(toks.get(j + 1), Some(Tok::Ident(_))) && is_punct(toks.get(j + 2), '{')
    {
        return Some(skip_balanced(toks, j + 2));
    }
    None
}

/// One leaf of a `use` tree: its path and the name it binds (None for `*`).
type UseLeaf = (Vec<String>, Option<String>);

/// Parses a use tree at `*i` (after `use`), appending its leaves to `out`.
fn parse_use_tree(toks: &[Tok], i: &mut usize, prefix: Vec<String>, out: &mut Vec<UseLeaf>) {
    let mut segs = prefix;
    if toks.get(*i) == Some(&Tok::Sep) {
        // `use ::dep::…`: an external crate.
        segs.push("::".into());
        *i += 1;
    }
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) => {
                segs.push(s.clone());
                *i += 1;
                if toks.get(*i) == Some(&Tok::Sep) {
                    *i += 1;
                    continue;
                }
                if segs.last().map(String::as_str) == Some("self") {
                    segs.pop();
                }
                let mut binding = segs.last().cloned();
                if is_ident(toks.get(*i), "as") {
                    binding = match toks.get(*i + 1) {
                        Some(Tok::Ident(a)) if a != "_" => Some(a.clone()),
                        _ => None,
                    };
                    *i += 2;
                }
                out.push((segs, binding));
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((segs, None));
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while *i < toks.len() && !is_punct(toks.get(*i), '}') {
                    let before = *i;
                    parse_use_tree(toks, i, segs.clone(), out);
                    if is_punct(toks.get(*i), ',') {
                        *i += 1;
                    } else if *i == before {
                        *i += 1; // unexpected token: do not loop forever
                    }
                }
                *i += 1;
                return;
            }
            _ => return,
        }
    }
}

/// The modules known to the analysis: module path → file.
type Modules = BTreeMap<Vec<String>, String>;

/// The absolute path (without `crate`) a path written in module `here`
/// names, or None when it is not a path into the crate.
fn absolute(
    segs: &[String],
    here: &[String],
    modules: &Modules,
    aliases: &BTreeMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    let first = segs.first()?;
    match first.as_str() {
        "crate" => Some(segs[1..].to_vec()),
        "self" => Some(here.iter().chain(&segs[1..]).cloned().collect()),
        "super" => {
            let mut base = here.to_vec();
            let mut k = 0;
            while segs.get(k).map(String::as_str) == Some("super") {
                base.pop()?;
                k += 1;
            }
            Some(base.into_iter().chain(segs[k..].iter().cloned()).collect())
        }
        _ => {
            let mut child = here.to_vec();
            child.push(first.clone());
            if modules.contains_key(&child) {
                Some(here.iter().chain(segs).cloned().collect())
            } else {
                aliases.get(first).map(|a| a.iter().chain(&segs[1..]).cloned().collect())
            }
        }
    }
}

/// The most specific existing module a path falls in.
fn resolve(abs: &[String], modules: &Modules) -> Vec<String> {
    (0..=abs.len()).rev().map(|n| abs[..n].to_vec()).find(|m| modules.contains_key(m)).unwrap_or_default()
}

/// The modules one file references (its own module excluded).
fn references(file_module: &[String], text: &str, modules: &Modules) -> BTreeSet<Vec<String>> {
    let toks = lex(text);
    let mut found = BTreeSet::new();
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Inline `mod name { … }` blocks: (name, brace depth outside the block).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut pending_mod: Option<String> = None;
    let mut depth = 0usize;
    let here = |inline: &[(String, usize)]| -> Vec<String> {
        file_module.iter().cloned().chain(inline.iter().map(|(n, _)| n.clone())).collect()
    };
    let add = |abs: Vec<String>, found: &mut BTreeSet<Vec<String>>| {
        let m = resolve(&abs, modules);
        if m != file_module {
            found.insert(m);
        }
    };
    let mut i = 0;
    while i < toks.len() {
        if let Some(end) = cfg_test_mod_end(&toks, i) {
            i = end;
            continue;
        }
        let prev = if i > 0 { toks.get(i - 1) } else { None };
        match &toks[i] {
            Tok::Punct('{') => {
                if let Some(name) = pending_mod.take() {
                    inline.push((name, depth));
                }
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                i += 1;
            }
            Tok::Punct(';') => {
                pending_mod = None;
                i += 1;
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let Some(Tok::Ident(name)) = toks.get(i + 1) {
                    pending_mod = Some(name.clone());
                }
                i += 2;
            }
            Tok::Ident(kw) if kw == "use" => {
                let mut leaves = Vec::new();
                i += 1;
                parse_use_tree(&toks, &mut i, Vec::new(), &mut leaves);
                while i < toks.len() && !is_punct(toks.get(i), ';') {
                    i += 1;
                }
                let h = here(&inline);
                for (segs, binding) in leaves {
                    if let Some(abs) = absolute(&segs, &h, modules, &aliases) {
                        if let Some(name) = binding {
                            if modules.contains_key(&abs) {
                                aliases.insert(name, abs.clone());
                            }
                        }
                        add(abs, &mut found);
                    }
                }
            }
            Tok::Ident(_)
                if toks.get(i + 1) == Some(&Tok::Sep)
                    && prev != Some(&Tok::Sep)
                    && !is_punct(prev, '.')
                    && !is_punct(prev, '$')
                    && !is_ident(prev, "in") =>
            {
                // A path in code: ident (:: ident)*
                let mut segs = Vec::new();
                while let Some(Tok::Ident(s)) = toks.get(i) {
                    segs.push(s.clone());
                    i += 1;
                    if toks.get(i) == Some(&Tok::Sep) && matches!(toks.get(i + 1), Some(Tok::Ident(_))) {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if let Some(abs) = absolute(&segs, &here(&inline), modules, &aliases) {
                    add(abs, &mut found);
                }
            }
            _ => i += 1,
        }
    }
    found
}

// ---------------------------------------------------------------- rules

fn analyse(sources: &[Source]) -> Analysis {
    let mut sources: Vec<&Source> = sources.iter().collect();
    sources.sort_by(|a, b| a.path.cmp(&b.path));
    let mut modules: Modules = BTreeMap::new();
    for s in &sources {
        // lib.rs sorts before main.rs: the library is the crate root others reach.
        modules.entry(module_of(&s.path)).or_insert_with(|| s.path.clone());
    }
    let mut analysis = Analysis::default();
    let mut unplaced: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // File-level graph, by module path.
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for s in &sources {
        let from = module_of(&s.path);
        let from_layer = layer_of(&from);
        if from_layer.is_none() {
            unplaced.entry(from[0].clone()).or_default().push(s.path.clone());
        }
        let refs = references(&from, &s.text, &modules);
        for to in &refs {
            let to_layer = layer_of(to);
            if let (Some(f), Some(t)) = (from_layer, to_layer) {
                if t > f {
                    analysis.upward.push(format!("{}: imports {} (layer {t}) from layer {f}", s.path, crate_path(to)));
                }
            }
            if from.first().map(String::as_str) == Some(SELF_CONTAINED)
                && to.first().map(String::as_str) != Some(SELF_CONTAINED)
            {
                analysis.record.push(format!(
                    "{}: {SELF_CONTAINED} imports {}; {SELF_CONTAINED} may import only itself",
                    s.path,
                    crate_path(to)
                ));
            }
        }
        if modules.get(&from) == Some(&s.path) {
            graph.entry(from).or_default().extend(refs);
        }
    }
    analysis.unplaced = unplaced
        .into_iter()
        .map(|(m, files)| format!("module {m} is not in the layer table ({})", files.join(", ")))
        .collect();
    analysis.cycle = find_cycle(&graph).map(|c| c.iter().map(|m| display(m)).collect::<Vec<_>>().join(" -> "));
    // A file cycle across modules is a cycle of the modules too: reported
    // once, by rule 2; rule 4 looks once the files are free of cycles.
    if analysis.cycle.is_none() {
        analysis.top_cycle =
            find_cycle(&top_level(&graph)).map(|c| c.iter().map(|m| display(m)).collect::<Vec<_>>().join(" -> "));
    }
    analysis
}

/// The file graph folded onto top-level modules (the crate root left out:
/// it declares every module).
fn top_level(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut top: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, tos) in graph {
        let Some(a) = from.first() else { continue };
        for b in tos.iter().filter_map(|to| to.first()) {
            if a != b {
                top.entry(vec![a.clone()]).or_default().insert(vec![b.clone()]);
            }
        }
    }
    top
}

fn crate_path(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_string()
    } else {
        format!("crate::{}", module.join("::"))
    }
}

/// One cycle of the graph (first node repeated at the end), if any.
fn find_cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<Vec<String>>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        marks: &mut BTreeMap<Vec<String>, Mark>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next) {
                Some(Mark::Open) => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    // Start the cycle at its least node, so the report is stable.
                    let mut cycle = stack[start..].to_vec();
                    let least = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap_or(0);
                    cycle.rotate_left(least);
                    cycle.push(cycle[0].clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(c) = visit(next, graph, marks, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if !marks.contains_key(node) {
            if let Some(c) = visit(node, graph, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

// ---------------------------------------------------------------- tests

fn read_sources(dir: &Path, root: &Path, out: &mut Vec<Source>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            read_sources(&p, root, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).unwrap();
            let path = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push(Source { path, text: std::fs::read_to_string(&p).unwrap() });
        }
    }
}

#[test]
fn src_dependencies_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    read_sources(&root.join("src"), root, &mut sources);
    assert!(sources.iter().any(|s| s.path == "src/lib.rs"), "src/lib.rs read");
    let problems = analyse(&sources).problems();
    for p in &problems {
        println!("{p}");
    }
    assert!(problems.is_empty(), "{} layering problem(s) in src/, listed above", problems.len());
}

fn fake(files: &[(&str, &str)]) -> Vec<Source> {
    files.iter().map(|(p, t)| Source { path: p.to_string(), text: t.to_string() }).collect()
}

#[test]
fn layers_self_check() {
    // Clean: imports point down; comments, doc comments, strings, macros'
    // `$crate` and unit tests may mention anything.
    let clean = analyse(&fake(&[
        ("src/lib.rs", "pub mod record;\npub mod topic;\npub mod plan;\n"),
        ("src/record/mod.rs", "pub mod event;\npub use event::Event;\n"),
        ("src/record/event.rs", "pub struct Event;\n"),
        (
            "src/topic.rs",
            r##"//! See crate::plan::Plan.
use crate::record::Event;
/// Not crate::plan::Plan either.
pub fn f() -> Event {
    // crate::plan::Plan
    let _s = "crate::plan::Plan";
    let _r = r#"use crate::plan;"#;
    /* crate::plan::Plan */
    let _c = '"';
    let _q = ('\'', b'\'', '\u{7f}');
    crate::record::event::Event
}
macro_rules! m { () => { $crate::plan::Plan }; }
#[cfg(test)]
mod tests {
    use crate::plan::Plan;
    use super::*;
}
"##,
        ),
        ("src/plan.rs", "use crate::{record, topic::f};\npub struct Plan(record::Event);\n"),
    ]));
    assert_eq!(clean.problems(), Vec::<String>::new());

    // An upward import, in a `use` and in a path in code.
    let upward = analyse(&fake(&[
        ("src/lib.rs", "pub mod topic;\npub mod plan;\npub mod report;\n"),
        ("src/topic.rs", "use crate::plan::Plan;\n"),
        // Literals before the path must not hide it.
        (
            "src/plan.rs",
            r##"pub struct Plan;
fn g<'a>(_: &'a str) { let _q = ('\'', b'\'', '"', r#"x"#, "\"//"); let _ = crate::report::KINDS; }
"##,
        ),
        ("src/report.rs", "pub const KINDS: u8 = 0;\n"),
    ]));
    assert_eq!(
        upward.upward,
        vec![
            "src/plan.rs: imports crate::report (layer 5) from layer 3".to_string(),
            "src/topic.rs: imports crate::plan (layer 3) from layer 1".to_string(),
        ]
    );
    assert!(upward.unplaced.is_empty() && upward.record.is_empty() && upward.cycle.is_none());

    // A two-file cycle inside one layer.
    let cycle = analyse(&fake(&[
        ("src/lib.rs", "pub mod scenario;\npub mod ids;\n"),
        ("src/scenario.rs", "use crate::ids::Id;\npub struct Scenario;\n"),
        ("src/ids.rs", "pub struct Id;\npub fn f() -> crate::scenario::Scenario { todo!() }\n"),
    ]));
    assert_eq!(cycle.problems(), vec!["import cycle: ids -> scenario -> ids".to_string()]);

    // Grouped and multi-line `use crate::{…}`, `super::`, resolution to the
    // most specific module file, rule 3 and a module missing from the table.
    let grouped = analyse(&fake(&[
        ("src/lib.rs", "pub mod record;\npub mod mqtt;\npub mod plan;\npub mod detect;\n"),
        ("src/record.rs", "use crate::mqtt::Packet;\n"),
        ("src/mqtt/mod.rs", "pub mod codec;\npub mod reason;\npub use codec::Packet;\n"),
        ("src/mqtt/reason.rs", "pub struct Code;\n"),
        (
            "src/mqtt/codec.rs",
            "use crate::{\n    record,\n    plan::{self, Plan},\n};\nuse super::{reason::Code};\npub struct Packet;\n",
        ),
        ("src/plan.rs", "pub struct Plan;\n"),
        ("src/detect.rs", "use crate::mqtt::codec::Packet;\n"),
    ]));
    assert_eq!(grouped.unplaced, vec!["module detect is not in the layer table (src/detect.rs)".to_string()]);
    assert_eq!(
        grouped.upward,
        vec![
            "src/mqtt/codec.rs: imports crate::plan (layer 3) from layer 1".to_string(),
            "src/record.rs: imports crate::mqtt (layer 1) from layer 0".to_string(),
        ]
    );
    assert_eq!(
        grouped.record,
        vec!["src/record.rs: record imports crate::mqtt; record may import only itself".to_string()]
    );
    // mqtt -> mqtt::codec (the re-export) -> record -> mqtt.
    assert_eq!(grouped.cycle.as_deref(), Some("mqtt -> mqtt::codec -> record -> mqtt"));
}

#[test]
fn layers_self_check_top_level_cycles() {
    // Two modules of one layer, each file pointing into the other module:
    // no file cycle (sys::watch -> client::dial, client::task -> sys::view),
    // but a cycle of the modules.
    let crossed = analyse(&fake(&[
        ("src/lib.rs", "pub mod client;\npub mod sys;\n"),
        ("src/client/mod.rs", "pub mod dial;\npub mod task;\n"),
        ("src/client/dial.rs", "pub fn dial() {}\n"),
        ("src/client/task.rs", "use crate::sys::view::View;\npub fn run(_: View) {}\n"),
        ("src/sys/mod.rs", "pub mod view;\npub mod watch;\n"),
        ("src/sys/view.rs", "pub struct View;\n"),
        ("src/sys/watch.rs", "pub fn watch() { crate::client::dial::dial() }\n"),
    ]));
    assert_eq!(crossed.cycle, None, "no cycle among the files");
    assert_eq!(crossed.problems(), vec!["import cycle between top-level modules: client -> sys -> client".to_string()]);

    // One direction only, and a module's files among themselves: clean.
    let one_way = analyse(&fake(&[
        ("src/lib.rs", "pub mod client;\npub mod sys;\n"),
        ("src/client/mod.rs", "pub mod dial;\npub mod task;\n"),
        ("src/client/dial.rs", "pub fn dial() {}\n"),
        ("src/client/task.rs", "use super::dial::dial;\npub fn run() { dial() }\n"),
        ("src/sys.rs", "pub fn watch() { crate::client::dial::dial() }\n"),
    ]));
    assert_eq!(one_way.problems(), Vec::<String>::new());
}
