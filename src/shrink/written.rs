//! The scenario `midge shrink` writes: the smallest that reproduced, with
//! `[expect] shows` set to the finding (`spec_violation:<rule id>` when the
//! finding names a rule midge knows, so the file passes on that rule only),
//! under a header saying what it reproduces (kind, rule id and title, its
//! count in the last run that showed it), which run it was shrunk from, the
//! broker, the date and the command to rerun it; and every key the search
//! changed says what it was (`clients = 1  # was 4`). Comments only: the
//! file parses to the same scenario as the search's text (`toml_edit`
//! keeps the tree `toml` wrote and adds the comments).

use super::search::{fault_label, faults, fmt_dur};
use super::target::Target;
use crate::mqtt::rules::Rule;
use crate::record::vocab::FindingKind;
use crate::scenario::{DEFAULT_DRAIN, DEFAULT_DURATION};
use std::path::Path;
use toml::{Table, Value};
use toml_edit::{DocumentMut, Item};

/// What the header says besides the scenario.
pub struct Provenance<'a> {
    pub target: &'a Target,
    /// The finding's count in the last run that reproduced it.
    pub shown: u64,
    /// The run folder shrunk, and its run id.
    pub dir: &'a Path,
    pub run_id: u64,
    /// The broker as a bug report names it (`$SYS/broker/version` when known).
    pub broker: &'a str,
    /// The day of the shrink, `YYYY-MM-DD`.
    pub date: &'a str,
    /// How to run the file again.
    pub rerun: &'a str,
    /// The changes kept, in order.
    pub kept: &'a [String],
}

/// The rule of the target, when it names one midge knows.
fn rule_of(target: &Target) -> Option<Rule> {
    target.rule.as_deref().and_then(Rule::from_word)
}

/// The target as `[expect] shows` names it (None: a kind this midge does
/// not know, which `shows` could not parse).
pub fn shows_entry(target: &Target) -> Option<String> {
    let kind: FindingKind = target.kind.parse().ok()?;
    match (kind, rule_of(target), &target.rule) {
        (FindingKind::SpecViolation, Some(_), Some(id)) => Some(format!("{kind}:{id}")),
        _ => Some(kind.to_string()),
    }
}

/// The header: `# ` lines, each ending in a newline.
fn header(p: &Provenance) -> String {
    let t = p.target;
    let what = match (rule_of(t), &t.rule) {
        (Some(rule), Some(id)) => format!("{} [{id}] ({}): {}", t.kind, rule.name(), rule.title()),
        (None, Some(id)) => format!("{} [{id}]", t.kind),
        _ => match t.kind.parse::<FindingKind>() {
            Ok(k) => format!("{k}: {}", k.title()),
            Err(_) => t.kind.clone(),
        },
    };
    let mut lines = vec![
        "A bug reproduction, shrunk by `midge shrink`.".to_string(),
        format!("Reproduces: {what}."),
        format!("Shown {} time(s) in the last run that reproduced it (the run shrunk: {}).", p.shown, t.count),
        format!("Shrunk on {} from run {} ({}).", p.date, p.run_id, p.dir.display()),
        format!("Broker: {}.", p.broker),
        format!("Rerun: {}", p.rerun),
    ];
    if p.kept.is_empty() {
        lines.push("Nothing smaller reproduced: this is the scenario as recorded.".into());
    } else {
        lines.push("Changes kept, in order (each key changed says what it was):".into());
        lines.extend(p.kept.iter().map(|k| format!("  {k}")));
    }
    lines.iter().map(|l| format!("# {l}\n")).collect()
}

/// The file's text: the header, then `current` with `[expect] shows` set
/// and a comment on every key that differs from `original`.
pub fn written_text(current: &Table, original: &Table, p: &Provenance) -> String {
    let mut doc = current.clone();
    let mut expect = Table::new();
    if let Some(entry) = shows_entry(p.target) {
        expect.insert("shows".into(), Value::Array(vec![Value::String(entry)]));
    }
    doc.insert("expect".into(), Value::Table(expect));
    let body = toml::to_string(&doc).unwrap_or_default();
    let body = match body.parse::<DocumentMut>() {
        Ok(mut edit) => {
            tidy(&mut edit);
            annotate(edit.as_table_mut(), &doc, original, true);
            edit.to_string()
        }
        Err(_) => body,
    };
    format!("{}{}\n", header(p), body.trim_end())
}

/// As a scenario is written by hand: `name` and `description` first, a
/// group's or fault's sub-tables inline (`publish = { … }`), `[expect]` last.
fn tidy(edit: &mut DocumentMut) {
    let rank = |k: &toml_edit::Key| ["name", "description"].iter().position(|n| *n == k.get()).unwrap_or(2);
    edit.as_table_mut().sort_values_by(|a, _, b, _| rank(a).cmp(&rank(b)));
    for (_, item) in edit.as_table_mut().iter_mut() {
        let Item::ArrayOfTables(a) = item else { continue };
        for t in a.iter_mut() {
            let subs: Vec<String> = t.iter().filter(|(_, i)| i.is_table()).map(|(k, _)| k.to_string()).collect();
            for key in subs {
                if let Some(Item::Table(inner)) = t.remove(&key) {
                    t.insert(&key, Item::Value(toml_edit::Value::InlineTable(inner.into_inline_table())));
                }
            }
            t.sort_values_by(|a, _, b, _| rank(a).cmp(&rank(b)));
        }
    }
    if let Some(Item::Table(expect)) = edit.get_mut("expect") {
        expect.set_position(usize::MAX);
    }
}

/// A value as its comment says it: a string bare, anything else as TOML.
fn said(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What `key` was, when it changed (None: unchanged).
fn was(key: &str, now: Option<&Value>, before: Option<&Value>, top: bool) -> Option<String> {
    if now == before {
        return None;
    }
    Some(match (before, key) {
        (Some(v), _) => format!("was {}", said(v)),
        (None, "duration") if top => format!("was {} (the default)", fmt_dur(DEFAULT_DURATION)),
        (None, "drain") if top => format!("was {} (the default)", fmt_dur(DEFAULT_DRAIN)),
        (None, _) => "was not set".to_string(),
    })
}

/// The original of `now`'s `i`-th table in the array `key`: a group by
/// name, a fault by what it does to whom, a stage by its place.
fn original_of<'a>(key: &str, now: &Table, before: &'a Table, i: usize) -> Option<&'a Table> {
    let nth = |t: &'a Table, j: usize| t.get(key)?.as_array()?.get(j)?.as_table();
    let j = match key {
        "group" => {
            let name = nth_value(now, key, i)?.get("name")?;
            before.get(key)?.as_array()?.iter().position(|g| g.get("name") == Some(name))?
        }
        "fault" => {
            let label = fault_label(now, i);
            (0..faults(before).len()).find(|&j| fault_label(before, j) == label)?
        }
        _ => i,
    };
    nth(before, j)
}

fn nth_value<'a>(t: &'a Table, key: &str, i: usize) -> Option<&'a Value> {
    t.get(key)?.as_array()?.get(i)
}

/// Comments on the keys of `edit` (the toml_edit tree of `now`) that
/// differ from `before`; `[expect]` is the shrink's own, never annotated.
fn annotate(edit: &mut toml_edit::Table, now: &Table, before: &Table, top: bool) {
    for (key, item) in edit.iter_mut() {
        let key = key.get().to_string();
        if top && key == "expect" {
            continue;
        }
        match item {
            Item::Value(v) => {
                let note = match (now.get(&key), before.get(&key)) {
                    // An inline table takes no comment inside: its changed keys are said after it.
                    (Some(Value::Table(n)), Some(Value::Table(b))) => {
                        let notes: Vec<String> = n
                            .keys()
                            .chain(b.keys().filter(|k| !n.contains_key(*k)))
                            .filter_map(|k| was(k, n.get(k), b.get(k), false).map(|w| format!("{k} {w}")))
                            .collect();
                        (!notes.is_empty()).then(|| notes.join(", "))
                    }
                    (n, b) => was(&key, n, b, top),
                };
                if let Some(note) = note {
                    v.decor_mut().set_suffix(format!("  # {note}"));
                }
            }
            Item::Table(t) => {
                if let (Some(Value::Table(n)), Some(Value::Table(b))) = (now.get(&key), before.get(&key)) {
                    annotate(t, n, b, false);
                }
            }
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter_mut().enumerate() {
                    let n = nth_value(now, &key, i).and_then(Value::as_table);
                    if let (Some(n), Some(b)) = (n, original_of(&key, now, before, i)) {
                        annotate(t, n, b, false);
                    }
                }
            }
            Item::None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Overrides, Plan};
    use crate::scenario::ScenarioFile;
    use crate::shrink::search::Shrinker;

    const TEXT: &str = concat!(
        "name = \"t\"\nduration = \"8s\"\nprotocol = \"5\"\n",
        crate::shrink::three_groups_cut!(),
        "[[fault]]\nat = \"3s\"\naction = \"drop\"\ngroup = \"sub\"\ncount = 4\n[expect]\nlost = 0\n"
    );

    fn plan_of(text: &str) -> String {
        let file = ScenarioFile::parse(Path::new("t.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut plan = Plan::build(&file, &Overrides { run_id: Some(1), ..Default::default() }).unwrap();
        (plan.scenario_text, plan.scenario_sha256) = (String::new(), String::new());
        format!("{plan:?}")
    }

    /// A search that kept: idle dropped, pub halved twice, the duration
    /// scaled, the drop's count halved, the drain halved.
    fn shrunk() -> Shrinker {
        let mut s = Shrinker::new(TEXT, None).unwrap();
        let keep = |c: &str| {
            c == "drop group \"idle\""
                || c.starts_with("group \"pub\": ") && c.ends_with("clients")
                || c.starts_with("duration 8s -> 4s, faults scaled")
                || c.starts_with("fault drop of \"sub\": count")
                || c == "drain 3s -> 1500ms"
        };
        while let Some(c) = s.next_candidate() {
            s.record(keep(&c.change));
        }
        s
    }

    #[test]
    fn the_file_says_what_it_shows_and_what_each_key_was_and_parses_to_the_same_plan() {
        let s = shrunk();
        let target = Target { kind: "spec_violation".into(), rule: Some("MQTT-4.6.0-6".into()), count: 70 };
        let kept = s.kept().to_vec();
        let p = Provenance {
            target: &target,
            shown: 68,
            dir: Path::new("runs/r1"),
            run_id: 42,
            broker: "mosquitto version 2.0.11 (spawn:mosquitto, mqtt://127.0.0.1:1883)",
            date: "2026-12-06",
            rerun: "midge run small.toml",
            kept: &kept,
        };
        let text = written_text(s.current(), s.original(), &p);
        let has = |line: &str| assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
        has("# Reproduces: spec_violation [MQTT-4.6.0-6] (topic_order): a server treats every topic as ordered: QoS 1/2 messages of one publisher arrive in the order sent.");
        has("# Shown 68 time(s) in the last run that reproduced it (the run shrunk: 70).");
        has("# Shrunk on 2026-12-06 from run 42 (runs/r1).");
        has("# Broker: mosquitto version 2.0.11 (spawn:mosquitto, mqtt://127.0.0.1:1883).");
        has("# Rerun: midge run small.toml");
        has("#   drop group \"idle\"");
        has("duration = \"4s\"  # was 8s");
        has("drain = \"1500ms\"  # was 3s (the default)");
        has("clients = 1  # was 4");
        has("at = \"1s\"  # was 2s");
        has("count = 1  # was 4");
        has("shows = [\"spec_violation:MQTT-4.6.0-6\"]");
        has("name = \"pub\"");
        has("subscribe = { filter = \"a/+\", qos = 1 }");
        has("publish = { payload = 64, qos = 1, rate = 8, start_after = \"500ms\", topic = \"a/{i}\" }  # start_after was 1s");
        assert_eq!(text.lines().find(|l| !l.starts_with('#')), Some("name = \"t\""), "name first:\n{text}");
        assert!(text.trim_end().ends_with("[expect]\nshows = [\"spec_violation:MQTT-4.6.0-6\"]"), "{text}");
        assert!(!text.contains("lost = 0"), "[expect] is the shrink's own:\n{text}");
        // Comments only: the same tree, the same plan as the search's text.
        let mut doc = s.current().clone();
        let shows = Value::Array(vec![Value::String("spec_violation:MQTT-4.6.0-6".into())]);
        doc.insert("expect".into(), Value::Table([("shows".to_string(), shows)].into_iter().collect()));
        assert_eq!(text.parse::<Table>().unwrap(), doc);
        assert_eq!(plan_of(&text), plan_of(&toml::to_string(&doc).unwrap()));
        let shown = ScenarioFile::parse(Path::new("t.toml"), &text).unwrap().scenario.expect.shows;
        assert_eq!(shown[0].rule, Some(Rule::TopicOrder));
    }

    #[test]
    fn a_kind_without_a_rule_is_shown_by_kind_and_nothing_kept_is_said() {
        let s = Shrinker::new(TEXT, None).unwrap();
        let target = Target { kind: "qos_violation".into(), rule: None, count: 3 };
        let p = Provenance {
            target: &target,
            shown: 3,
            dir: Path::new("r"),
            run_id: 1,
            broker: "embedded at embedded",
            date: "2026-12-06",
            rerun: "midge run x.toml",
            kept: &[],
        };
        let text = written_text(s.current(), s.original(), &p);
        assert!(text.contains("# Reproduces: qos_violation: a delivery guarantee was broken.\n"), "{text}");
        assert!(text.contains("# Nothing smaller reproduced"), "{text}");
        assert!(text.contains("shows = [\"qos_violation\"]"), "{text}");
        assert!(!text.contains("# was"), "nothing changed:\n{text}");
        // A rule this midge does not know: the kind alone, so the file still parses.
        let newer = Target { kind: "spec_violation".into(), rule: Some("MQTT-9.9.9-9".into()), count: 1 };
        assert_eq!(shows_entry(&newer).as_deref(), Some("spec_violation"));
        assert_eq!(shows_entry(&Target { kind: "brand_new".into(), rule: None, count: 1 }), None);
    }
}
