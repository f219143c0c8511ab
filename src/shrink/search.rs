//! The pure core of `midge shrink`: from a scenario (its TOML tree), the
//! candidates one step smaller, tried greedily. No broker, no clock: the
//! caller runs each candidate and says whether it reproduced
//! (`Shrinker::record`); a candidate that reproduced becomes the current
//! scenario and the candidates are made afresh from it.
//!
//! The candidates of a scenario, in the order tried (biggest cut first):
//! 1. drop a whole group (with the faults aimed at it and its stage targets),
//!    while more than one group is left;
//! 2. halve a group's clients (down to 1; its stage client targets too);
//! 3. drop one `[[fault]]`;
//! 4. halve the duration (not below `MIN_DURATION`): once with the faults
//!    where they are (when they all start before the new end), once with
//!    every time scaled with it — fault `at` and `for`, the groups' and
//!    publishers' `start_after`, the stages' durations;
//! 5. halve a fault's `count` (drop, malformed; down to 1);
//! 6. halve the `drain` (absent: the default 3 s; not below `MIN_DRAIN`);
//! 7. halve a group's publish rate (not below `MIN_RATE`; its stage rate
//!    targets too).
//!
//! A candidate already tried (the same text) is never offered again, nor a
//! change that failed once (the same words, e.g. `drop group "sub"` or
//! `duration 2s -> 1s, …`), even on a scenario made smaller since: what
//! the finding needed then it most likely needs still, and every run costs.
//! So a fault is named by what it does to whom (`drop fault cut of "sub"`),
//! not by its time, which a scaled duration moves.

use crate::scenario::parse_duration;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use toml::{Table, Value};

/// A duration is not halved below this.
pub const MIN_DURATION: Duration = Duration::from_secs(1);
/// The drain is not shortened below this: in-flight messages still need
/// their time to arrive, or a shorter drain would show losses of its own.
pub const MIN_DRAIN: Duration = Duration::from_secs(1);
/// A publish rate is not halved below this (messages per second per client).
pub const MIN_RATE: f64 = 1.0;

/// One smaller scenario to try.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// What changed, as the progress line says it, e.g. `drop group "idle"`.
    pub change: String,
    /// The scenario's text (TOML, re-written from its tree: no comments).
    pub text: String,
}

/// The greedy search over one scenario.
pub struct Shrinker {
    original: Table,
    current: Table,
    queue: VecDeque<(String, Table)>,
    tried: HashSet<String>,
    failed: HashSet<String>,
    pending: Option<(String, Table)>,
    kept: Vec<String>,
}

impl Shrinker {
    /// The search from `text`; `duration` is the duration the run actually
    /// had when a `--duration` override replaced the file's.
    pub fn new(text: &str, duration: Option<Duration>) -> Result<Shrinker, String> {
        let mut current: Table = text.parse().map_err(|e: toml::de::Error| e.message().to_string())?;
        if let (Some(d), false) = (duration, has_stages(&current)) {
            current.insert("duration".into(), Value::String(fmt_dur(d)));
        }
        let mut tried = HashSet::new();
        tried.insert(to_text(&current));
        let queue = candidates(&current).into();
        Ok(Shrinker {
            original: current.clone(),
            current,
            queue,
            tried,
            failed: HashSet::new(),
            pending: None,
            kept: Vec::new(),
        })
    }

    /// The scenario as it stands (the smallest that reproduced so far).
    pub fn current(&self) -> &Table {
        &self.current
    }

    /// The scenario the search started from (the run's duration in it).
    pub fn original(&self) -> &Table {
        &self.original
    }

    /// The scenario as it stands, as text.
    pub fn current_text(&self) -> String {
        to_text(&self.current)
    }

    /// The changes kept so far, in order.
    pub fn kept(&self) -> &[String] {
        &self.kept
    }

    /// The next candidate not tried yet; None when every candidate of the
    /// current scenario failed to reproduce (the search is done).
    pub fn next_candidate(&mut self) -> Option<Candidate> {
        debug_assert!(self.pending.is_none(), "record the last candidate first");
        while let Some((change, doc)) = self.queue.pop_front() {
            if self.failed.contains(&change) {
                continue;
            }
            let text = to_text(&doc);
            if self.tried.insert(text.clone()) {
                self.pending = Some((change.clone(), doc));
                return Some(Candidate { change, text });
            }
        }
        None
    }

    /// Whether the candidate last returned reproduced the finding (a
    /// candidate that could not even run counts as not reproduced).
    pub fn record(&mut self, reproduced: bool) {
        let Some((change, doc)) = self.pending.take() else { return };
        if reproduced {
            self.queue = candidates(&doc).into();
            self.current = doc;
            self.kept.push(change);
        } else {
            self.failed.insert(change);
        }
    }
}

fn to_text(doc: &Table) -> String {
    toml::to_string(doc).unwrap_or_default()
}

/// A duration as a scenario writes it: "4s", "1500ms".
pub fn fmt_dur(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn has_stages(doc: &Table) -> bool {
    doc.get("stage").and_then(Value::as_array).is_some_and(|a| !a.is_empty())
}

fn groups(doc: &Table) -> &[Value] {
    doc.get("group").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn groups_mut(doc: &mut Table) -> Option<&mut Vec<Value>> {
    doc.get_mut("group").and_then(Value::as_array_mut)
}

fn name_of(g: &Value) -> String {
    g.get("name").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(n) => Some(*n as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn dur_of(v: Option<&Value>) -> Option<Duration> {
    v.and_then(Value::as_str).and_then(|s| parse_duration(s).ok())
}

/// Every candidate one step smaller than `doc`, in the order tried.
pub fn candidates(doc: &Table) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    let names: Vec<String> = groups(doc).iter().map(name_of).collect();
    if names.len() > 1 {
        out.extend(names.iter().map(|n| (format!("drop group {n:?}"), drop_group(doc, n))));
    }
    for (i, g) in groups(doc).iter().enumerate() {
        let clients = g.get("clients").and_then(Value::as_integer).unwrap_or(1);
        if clients > 1 {
            let to = clients / 2;
            out.push((format!("group {:?}: {clients} -> {to} clients", names[i]), set_clients(doc, i, to)));
        }
    }
    out.extend(drop_faults(doc));
    out.extend(halve_duration(doc));
    out.extend(halve_fault_counts(doc));
    out.extend(shorten_drain(doc));
    for (i, g) in groups(doc).iter().enumerate() {
        if let Some(rate) = number(g.get("publish").and_then(|p| p.get("rate"))).filter(|&r| r > MIN_RATE) {
            let to = (rate / 2.0).max(MIN_RATE);
            let change = format!("group {:?}: rate {} -> {} msg/s", names[i], fmt_num(rate), fmt_num(to));
            out.push((change, set_rate(doc, i, rate, to)));
        }
    }
    out
}

pub fn faults(doc: &Table) -> &[Value] {
    doc.get("fault").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// The `i`-th fault as the progress line names it: `cut of "sub"`, by what
/// it does and to whom, not by when (a scaled duration moves it) nor by its
/// index (a dropped fault shifts it); `#2`, … where several are alike.
pub fn fault_label(doc: &Table, i: usize) -> String {
    let what = |f: &Value| {
        let action = f.get("action").and_then(Value::as_str).unwrap_or("?").to_string();
        match f.get("group").and_then(Value::as_str) {
            Some(g) => format!("{action} of {g:?}"),
            None => action,
        }
    };
    let all = faults(doc);
    let label = what(&all[i]);
    let alike = all.iter().filter(|f| what(f) == label).count();
    match all[..i].iter().filter(|f| what(f) == label).count() {
        _ if alike == 1 => label,
        before => format!("{label} #{}", before + 1),
    }
}

/// One candidate per `[[fault]]`: the scenario without it.
fn drop_faults(doc: &Table) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    for i in 0..faults(doc).len() {
        let mut d = doc.clone();
        if let Some(fs) = d.get_mut("fault").and_then(Value::as_array_mut) {
            fs.remove(i);
            if fs.is_empty() {
                d.remove("fault");
            }
        }
        out.push((format!("drop fault {}", fault_label(doc, i)), d));
    }
    out
}

/// One candidate per fault with a `count` above 1 (drop, malformed): half of it.
fn halve_fault_counts(doc: &Table) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    for (i, f) in faults(doc).iter().enumerate() {
        let Some(count) = f.get("count").and_then(Value::as_integer).filter(|&c| c > 1) else { continue };
        let to = count / 2;
        let mut d = doc.clone();
        if let Some(t) = tables_mut(&mut d, "fault").nth(i) {
            t.insert("count".into(), Value::Integer(to));
        }
        out.push((format!("fault {}: count {count} -> {to}", fault_label(doc, i)), d));
    }
    out
}

/// Half the drain (`drain`, the scenario default when absent), not below
/// `MIN_DRAIN`.
fn shorten_drain(doc: &Table) -> Option<(String, Table)> {
    let from = dur_of(doc.get("drain")).unwrap_or(crate::scenario::DEFAULT_DRAIN);
    let to = Duration::from_millis(((from / 2).max(MIN_DRAIN)).as_millis() as u64);
    if to >= from {
        return None;
    }
    let mut d = doc.clone();
    d.insert("drain".into(), Value::String(fmt_dur(to)));
    Some((format!("drain {} -> {}", fmt_dur(from), fmt_dur(to)), d))
}

fn fmt_num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The tables of an array of tables (`[[fault]]`, `[[stage]]`), mutable.
fn tables_mut<'a>(doc: &'a mut Table, key: &str) -> impl Iterator<Item = &'a mut Table> {
    doc.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_table_mut)
}

/// `doc` without group `name`, the faults aimed at it, its stage targets,
/// and a `[capacity]` that steps it.
fn drop_group(doc: &Table, name: &str) -> Table {
    let mut d = doc.clone();
    if let Some(gs) = groups_mut(&mut d) {
        gs.retain(|g| name_of(g) != name);
    }
    if let Some(faults) = d.get_mut("fault").and_then(Value::as_array_mut) {
        faults.retain(|f| f.get("group").and_then(Value::as_str) != Some(name));
    }
    for stage in tables_mut(&mut d, "stage") {
        for key in ["rate", "clients"] {
            if let Some(m) = stage.get_mut(key).and_then(Value::as_table_mut) {
                m.remove(name);
            }
        }
    }
    if d.get("capacity").and_then(|c| c.get("group")).and_then(Value::as_str) == Some(name) {
        d.remove("capacity");
    }
    d
}

fn set_clients(doc: &Table, i: usize, to: i64) -> Table {
    let mut d = doc.clone();
    let mut name = String::new();
    if let Some(g) = groups_mut(&mut d).and_then(|gs| gs.get_mut(i)).and_then(Value::as_table_mut) {
        name = g.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        g.insert("clients".into(), Value::Integer(to));
    }
    for stage in tables_mut(&mut d, "stage") {
        if let Some(n) = stage.get_mut("clients").and_then(|m| m.get_mut(&name)) {
            if let Some(c) = n.as_integer() {
                *n = Value::Integer(c.min(to));
            }
        }
    }
    d
}

fn set_rate(doc: &Table, i: usize, from: f64, to: f64) -> Table {
    let mut d = doc.clone();
    let mut name = String::new();
    let g = groups_mut(&mut d).and_then(|gs| gs.get_mut(i)).and_then(Value::as_table_mut);
    if let Some(g) = g {
        name = g.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(p) = g.get_mut("publish").and_then(Value::as_table_mut) {
            p.insert("rate".into(), Value::Float(to));
        }
    }
    let factor = to / from;
    for stage in tables_mut(&mut d, "stage") {
        if let Some(r) = stage.get_mut("rate").and_then(|m| m.get_mut(&name)) {
            if let Some(v) = number(Some(r)) {
                *r = Value::Float(v * factor);
            }
        }
    }
    d
}

/// The scenario's duration: the stages' sum when it has stages, else
/// `duration` (the scenario default when absent).
pub fn duration_of(doc: &Table) -> Duration {
    if has_stages(doc) {
        let stages = doc.get("stage").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        return stages.iter().filter_map(|s| dur_of(s.get("duration"))).sum();
    }
    dur_of(doc.get("duration")).unwrap_or(crate::scenario::DEFAULT_DURATION)
}

/// The halved-duration candidates (none when the duration is at the floor).
fn halve_duration(doc: &Table) -> Vec<(String, Table)> {
    let from = duration_of(doc);
    let to = Duration::from_millis(((from / 2).max(MIN_DURATION)).as_millis() as u64);
    if to >= from {
        return Vec::new();
    }
    let factor = to.as_secs_f64() / from.as_secs_f64();
    let mut out = Vec::new();
    let fault_starts = doc.get("fault").and_then(Value::as_array).into_iter().flatten().map(|f| dur_of(f.get("at")));
    let faults_fit = fault_starts.clone().all(|at| at.unwrap_or_default() < to);
    if !has_stages(doc) && faults_fit && fault_starts.count() > 0 {
        let mut d = doc.clone();
        d.insert("duration".into(), Value::String(fmt_dur(to)));
        out.push((format!("duration {} -> {}, faults kept in place", fmt_dur(from), fmt_dur(to)), d));
    }
    let mut d = doc.clone();
    if has_stages(&d) {
        for stage in tables_mut(&mut d, "stage") {
            scale_key(stage, "duration", factor);
        }
    } else {
        d.insert("duration".into(), Value::String(fmt_dur(to)));
    }
    for fault in tables_mut(&mut d, "fault") {
        scale_key(fault, "at", factor);
        scale_key(fault, "for", factor);
    }
    for g in tables_mut(&mut d, "group") {
        scale_key(g, "start_after", factor);
        if let Some(p) = g.get_mut("publish").and_then(Value::as_table_mut) {
            scale_key(p, "start_after", factor);
        }
    }
    out.push((format!("duration {} -> {}, faults scaled with it", fmt_dur(from), fmt_dur(to)), d));
    out
}

/// A duration key multiplied by `factor`, to the millisecond.
fn scale_key(t: &mut Table, key: &str, factor: f64) {
    if let Some(d) = dur_of(t.get(key)) {
        let ms = (d.as_secs_f64() * factor * 1000.0).round() as u64;
        t.insert(key.into(), Value::String(fmt_dur(Duration::from_millis(ms))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{FaultAction, ScenarioFile};
    use std::path::Path;

    const TEXT: &str = concat!(
        "name = \"t\"\nduration = \"8s\"\n",
        crate::shrink::three_groups_cut!(),
        "[[fault]]\nat = \"4s\"\naction = \"cut\"\ngroup = \"idle\"\n"
    );

    fn parse(text: &str) -> ScenarioFile {
        ScenarioFile::parse(Path::new("t.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// (group names, clients, rates) of a candidate.
    fn shape(text: &str) -> Vec<(String, u32, Option<f64>)> {
        let f = parse(text);
        let gs = f.scenario.groups.iter().map(|g| g.get_ref());
        gs.map(|g| (g.name.clone(), g.clients, g.publish.as_ref().map(|p| p.get_ref().rate))).collect()
    }

    #[test]
    fn candidates_come_biggest_cut_first_and_all_parse() {
        let doc: Table = TEXT.parse().unwrap();
        let changes: Vec<String> = candidates(&doc).into_iter().map(|(c, _)| c).collect();
        assert_eq!(
            changes,
            [
                "drop group \"sub\"",
                "drop group \"pub\"",
                "drop group \"idle\"",
                "group \"pub\": 4 -> 2 clients",
                "group \"idle\": 3 -> 1 clients",
                "drop fault cut of \"sub\"",
                "drop fault cut of \"idle\"",
                // The cut of "idle" at 4 s would fall at the new end: no "kept in place".
                "duration 8s -> 4s, faults scaled with it",
                "drain 3s -> 1500ms",
                "group \"pub\": rate 8 -> 4 msg/s",
            ]
        );
        for (_, d) in candidates(&doc) {
            parse(&to_text(&d));
        }
    }

    #[test]
    fn dropping_a_group_takes_its_faults_along() {
        let doc: Table = TEXT.parse().unwrap();
        let f = parse(&to_text(&drop_group(&doc, "idle")));
        assert_eq!(f.scenario.groups.len(), 2);
        let faults: Vec<_> = f.scenario.faults.iter().map(|x| x.get_ref().group.clone()).collect();
        assert_eq!(faults, [Some("sub".to_string())]);
    }

    #[test]
    fn one_fault_is_dropped_at_a_time_and_a_faults_count_is_halved() {
        let text = format!(
            "{TEXT}[[fault]]\nat = \"3s\"\naction = \"drop\"\ngroup = \"sub\"\ncount = 5\n[[fault]]\nat = \"5s\"\naction = \"cut\"\ngroup = \"sub\"\n"
        );
        let doc: Table = text.parse().unwrap();
        let drops = drop_faults(&doc);
        let changes: Vec<&str> = drops.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            changes,
            [
                "drop fault cut of \"sub\" #1",
                "drop fault cut of \"idle\"",
                "drop fault drop of \"sub\"",
                "drop fault cut of \"sub\" #2"
            ]
        );
        let doc: Table =
            format!("{TEXT}[[fault]]\nat = \"3s\"\naction = \"drop\"\ngroup = \"sub\"\ncount = 5\n").parse().unwrap();
        let drops = drop_faults(&doc);
        let left = |d: &Table| -> Vec<String> {
            parse(&to_text(d)).scenario.faults.iter().map(|f| f.get_ref().action.kind().to_string()).collect()
        };
        assert_eq!(left(&drops[1].1), ["cut", "drop"], "the others stay, in order");
        // The last fault dropped: no `[[fault]]` left at all, and it still parses.
        let only = drop_faults(&drops[0].1).remove(0).1;
        let none = drop_faults(&only).remove(0).1;
        assert!(!none.contains_key("fault") && left(&none).is_empty());
        let halved = halve_fault_counts(&doc);
        assert_eq!(halved.len(), 1, "a cut has no count");
        assert_eq!(halved[0].0, "fault drop of \"sub\": count 5 -> 2");
        let f = parse(&to_text(&halved[0].1));
        assert!(matches!(f.scenario.faults[2].get_ref().action, FaultAction::Drop { count: 2, .. }));
        let twice = halve_fault_counts(&halved[0].1);
        assert_eq!(twice[0].0, "fault drop of \"sub\": count 2 -> 1");
        assert!(halve_fault_counts(&twice[0].1).is_empty(), "1 is the floor");
    }

    #[test]
    fn the_drain_is_halved_from_the_default_down_to_a_second() {
        let doc: Table = TEXT.parse().unwrap();
        let (change, d) = shorten_drain(&doc).unwrap();
        assert_eq!(change, "drain 3s -> 1500ms", "absent: the default 3 s");
        assert_eq!(parse(&to_text(&d)).scenario.drain.unwrap().0, Duration::from_millis(1500));
        let (change, d) = shorten_drain(&d).unwrap();
        assert_eq!((change.as_str(), dur_of(d.get("drain"))), ("drain 1500ms -> 1s", Some(MIN_DRAIN)));
        assert_eq!(shorten_drain(&d), None);
    }

    #[test]
    fn a_scaled_duration_moves_the_faults_and_start_times_with_it() {
        let doc: Table = TEXT.parse().unwrap();
        let (_, d) = halve_duration(&doc).pop().unwrap();
        let f = parse(&to_text(&d));
        assert_eq!(f.scenario.duration.unwrap().0, Duration::from_secs(4));
        let ats: Vec<_> = f.scenario.faults.iter().map(|x| x.get_ref().at.0).collect();
        assert_eq!(ats, [Duration::from_secs(1), Duration::from_secs(2)]);
        let start = f.scenario.groups[1].get_ref().publish.as_ref().unwrap().get_ref().start_after.unwrap().0;
        assert_eq!(start, Duration::from_millis(500));
        // A fault at or past the new end: only the scaled candidate.
        let late = TEXT.replace("at = \"4s\"", "at = \"5s\"");
        let changes: Vec<String> = halve_duration(&late.parse().unwrap()).into_iter().map(|(c, _)| c).collect();
        assert_eq!(changes, ["duration 8s -> 4s, faults scaled with it"]);
    }

    #[test]
    fn a_duration_override_is_the_duration_shrunk_and_one_second_is_the_floor() {
        let s = Shrinker::new(TEXT, Some(Duration::from_millis(1500))).unwrap();
        assert_eq!(parse(&s.current_text()).scenario.duration.unwrap().0, Duration::from_millis(1500));
        let doc: Table = s.current_text().parse().unwrap();
        let (_, d) = halve_duration(&doc).pop().unwrap();
        assert_eq!(duration_of(&d), MIN_DURATION);
        assert!(halve_duration(&d).is_empty(), "nothing below the floor");
    }

    #[test]
    fn stages_are_scaled_and_their_targets_follow_the_group() {
        let text = format!(
            "{}\n[[stage]]\nduration = \"4s\"\nrate = {{ pub = 8.0 }}\nclients = {{ pub = 4, idle = 3 }}\n[[stage]]\nduration = \"2s\"\n",
            TEXT.replace("duration = \"8s\"\n", "")
        );
        let doc: Table = text.parse().unwrap();
        assert_eq!(duration_of(&doc), Duration::from_secs(6));
        let (_, d) = halve_duration(&doc).pop().unwrap();
        assert_eq!(duration_of(&d), Duration::from_secs(3));
        let f = parse(&to_text(&set_clients(&set_rate(&drop_group(&d, "idle"), 1, 8.0, 4.0), 1, 2)));
        let stage = f.scenario.stages[0].get_ref();
        let rate: Vec<f64> = stage.rate.as_ref().unwrap().values().copied().collect();
        let clients: Vec<u32> = stage.clients.as_ref().unwrap().values().copied().collect();
        assert_eq!((rate, clients), (vec![4.0], vec![2]));
    }

    /// The search against a made-up broker: it "reproduces" while group
    /// "sub" is there and cut, "pub" has a client, and the duration is at
    /// least 2 s.
    #[test]
    fn the_greedy_search_keeps_what_the_finding_needs_and_drops_the_rest() {
        let mut s = Shrinker::new(TEXT, None).unwrap();
        let mut runs = 0;
        let mut log = Vec::new();
        while let Some(c) = s.next_candidate() {
            runs += 1;
            let f = ScenarioFile::parse(Path::new("t.toml"), &c.text);
            let ok = f.is_ok_and(|f| {
                let names: Vec<&str> = f.scenario.groups.iter().map(|g| g.get_ref().name.as_str()).collect();
                let cut = f.scenario.faults.iter().any(|f| f.get_ref().group.as_deref() == Some("sub"));
                names.contains(&"sub")
                    && names.contains(&"pub")
                    && cut
                    && f.scenario.duration.unwrap().0 >= Duration::from_secs(2)
            });
            log.push((c.change, ok));
            s.record(ok);
        }
        assert_eq!(
            s.kept(),
            [
                "drop group \"idle\"",
                "group \"pub\": 4 -> 2 clients",
                "group \"pub\": 2 -> 1 clients",
                "duration 8s -> 4s, faults kept in place",
                "duration 4s -> 2s, faults scaled with it",
                "drain 3s -> 1500ms",
                "drain 1500ms -> 1s",
                "group \"pub\": rate 8 -> 4 msg/s",
                "group \"pub\": rate 4 -> 2 msg/s",
                "group \"pub\": rate 2 -> 1 msg/s",
            ]
        );
        assert_eq!(shape(&s.current_text()), [("sub".into(), 1, None), ("pub".into(), 1, Some(1.0))]);
        assert_eq!(parse(&s.current_text()).scenario.duration.unwrap().0, Duration::from_secs(2));
        // A change that failed once is not tried again: 4 failures in all.
        let failed: Vec<&str> = log.iter().filter(|(_, ok)| !ok).map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            failed,
            [
                "drop group \"sub\"",
                "drop group \"pub\"",
                "drop fault cut of \"sub\"",
                "duration 2s -> 1s, faults scaled with it"
            ]
        );
        assert_eq!(runs, 14, "{log:#?}");
    }
}
