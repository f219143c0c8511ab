//! `midge compare A B`: two runs' report.json, headline figure by headline
//! figure, for CI baselines. Read through `serde_json::Value`, not the
//! `Report` model, so a report from an older or newer midge of the same
//! schema (a field added or not yet there, `capacity` present or not) still
//! compares: a figure missing from one side shows as "—".
//!
//! `compare` is a pure function of the two documents; `render_table` and
//! `to_json` render its result; `check` applies `--fail-on` rules.
//!
//! `cli::compare_reports` turns the outcome into the exit status: 0, 1 when a
//! `--fail-on FIGURE:PCT` rule failed, 2 when a report cannot be read or a rule
//! is bad.

use crate::analysis::model::SCHEMA_VERSION;
use crate::record::vocab::FindingKind;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Which way a figure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Set by the scenario, not by how well the broker did (published, duration).
    Neither,
}

impl Better {
    fn name(self) -> Option<&'static str> {
        match self {
            Better::Lower => Some("lower"),
            Better::Higher => Some("higher"),
            Better::Neither => None,
        }
    }
}

/// How a figure moved from A to B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Better,
    Worse,
    Same,
}

impl Change {
    pub fn name(self) -> &'static str {
        match self {
            Change::Better => "better",
            Change::Worse => "worse",
            Change::Same => "same",
        }
    }
}

/// One headline figure of both reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The name `--fail-on` takes: `lost`, `e2e.p99`, `cpu_s`, …
    pub name: String,
    /// None: not in that report (older midge, no samples, no capacity search).
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub better: Better,
    /// Shown in the table only when either side is non-zero (findings by kind).
    pub quiet_when_zero: bool,
}

impl Figure {
    pub fn delta(&self) -> Option<f64> {
        Some(self.b? - self.a?)
    }

    /// (B − A) / A in percent; 0 when both are 0; None when A is 0 and B is
    /// not (no finite percentage), or a side is missing.
    pub fn delta_pct(&self) -> Option<f64> {
        let (a, b) = (self.a?, self.b?);
        if a == b {
            Some(0.0)
        } else if a == 0.0 {
            None
        } else {
            Some((b - a) / a.abs() * 100.0)
        }
    }

    /// better, worse or same; None when a side is missing, or the figure
    /// changed and has no better direction.
    pub fn change(&self) -> Option<Change> {
        let d = self.delta()?;
        if d == 0.0 {
            return Some(Change::Same);
        }
        match (self.better, d < 0.0) {
            (Better::Lower, true) | (Better::Higher, false) => Some(Change::Better),
            (Better::Lower, false) | (Better::Higher, true) => Some(Change::Worse),
            (Better::Neither, _) => None,
        }
    }

    /// How far the figure moved the wrong way, in percent of A (infinite
    /// when A was 0): 0 when it did not get worse. For a figure with no
    /// better direction, any change counts. None when a side is missing.
    pub fn worse_pct(&self) -> Option<f64> {
        let (a, b) = (self.a?, self.b?);
        let worse_by = match self.better {
            Better::Lower => b - a,
            Better::Higher => a - b,
            Better::Neither => (b - a).abs(),
        };
        if worse_by <= 0.0 {
            Some(0.0)
        } else if a == 0.0 {
            Some(f64::INFINITY)
        } else {
            Some(worse_by / a.abs() * 100.0)
        }
    }
}

/// Both reports' headline figures, in table order, and what makes the
/// comparison doubtful.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub figures: Vec<Figure>,
    /// Different scenarios or brokers: the deltas may not mean much.
    pub warnings: Vec<String>,
}

impl Comparison {
    pub fn figure(&self, name: &str) -> Option<&Figure> {
        self.figures.iter().find(|f| f.name == name)
    }
}

/// The latency histograms compared, and the percentiles of each.
const LATENCIES: &[&str] = &["connect", "e2e", "e2e_uncorrected", "ack"];
const PERCENTILES: &[(&str, &str)] =
    &[("p50", "p50_us"), ("p90", "p90_us"), ("p99", "p99_us"), ("p99.9", "p999_us"), ("max", "max_us")];

/// Figure names `--fail-on` accepts even when neither report has them.
const ALWAYS_KNOWN: &[&str] = &["unsent", "capacity.last_pass"];

fn num(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_f64)
}

/// The sum of a `{name: count}` object; None when it is missing.
fn sum(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(Value::as_object).map(|m| m.values().filter_map(Value::as_f64).sum())
}

fn findings_of(v: &Value, kind: &str) -> Option<f64> {
    let list = v.get("findings")?.as_array()?;
    Some(list.iter().filter(|f| f.get("kind").and_then(Value::as_str) == Some(kind)).count() as f64)
}

fn finding_kinds(v: &Value) -> Vec<String> {
    let list = v.get("findings").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    list.iter().filter_map(|f| f.get("kind").and_then(Value::as_str)).map(str::to_string).collect()
}

/// `load_generator.publish_rates[]` as (group, achieved msg/s).
fn rates(v: &Value) -> Vec<(String, Option<f64>)> {
    let list = v.pointer("/load_generator/publish_rates").and_then(Value::as_array).map(Vec::as_slice);
    list.unwrap_or_default()
        .iter()
        .filter_map(|r| {
            let group = r.get("group")?.as_str()?.to_string();
            Some((group, r.get("achieved_msgs_per_s").and_then(Value::as_f64)))
        })
        .collect()
}

/// `capacity` as an object, when the report has one (absent or null: None).
fn capacity(v: &Value) -> Option<&serde_json::Map<String, Value>> {
    v.get("capacity").and_then(Value::as_object)
}

/// Compares two report.json documents figure by figure.
pub fn compare(a: &Value, b: &Value) -> Comparison {
    let mut figures = Vec::new();
    let mut add = |name: &str, better: Better, get: &dyn Fn(&Value) -> Option<f64>| {
        figures.push(Figure { name: name.to_string(), a: get(a), b: get(b), better, quiet_when_zero: false });
    };
    use Better::{Higher, Lower, Neither};

    // Messages.
    add("published", Neither, &|v| num(v, "/messages/published"));
    add("expected", Neither, &|v| num(v, "/messages/expected"));
    add("received", Higher, &|v| num(v, "/messages/received"));
    for name in ["lost", "duplicated", "out_of_order", "in_doubt"] {
        add(name, Lower, &|v| num(v, &format!("/messages/{name}")));
    }
    if a.pointer("/messages/unsent").is_some() || b.pointer("/messages/unsent").is_some() {
        add("unsent", Lower, &|v| num(v, "/messages/unsent"));
    }
    // Connections.
    add("connected_peak", Higher, &|v| num(v, "/clients/connected_peak"));
    add("connect_failures", Lower, &|v| sum(v, "/clients/connect_failures"));
    add("disconnects", Lower, &|v| num(v, "/disconnects/total"));
    add("reconnects", Lower, &|v| num(v, "/reconnects"));
    // Findings: the total, then every kind (the table shows the non-zero ones).
    add("findings", Lower, &|v| v.get("findings").and_then(Value::as_array).map(|l| l.len() as f64));
    let mut kinds: Vec<String> = FindingKind::ALL.iter().map(|k| k.as_str().to_string()).collect();
    for k in finding_kinds(a).into_iter().chain(finding_kinds(b)) {
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    for kind in &kinds {
        figures.push(Figure {
            name: format!("findings.{kind}"),
            a: findings_of(a, kind),
            b: findings_of(b, kind),
            better: Lower,
            quiet_when_zero: true,
        });
    }
    let mut add = |name: String, better: Better, get: &dyn Fn(&Value) -> Option<f64>| {
        figures.push(Figure { name, a: get(a), b: get(b), better, quiet_when_zero: false });
    };
    // Latency, µs.
    for lat in LATENCIES {
        for (short, field) in PERCENTILES {
            // A histogram without samples has no percentiles (its zeros are not latencies).
            add(format!("{lat}.{short}"), Lower, &|v| {
                let count = num(v, &format!("/latency/{lat}/count"))?;
                if count > 0.0 {
                    num(v, &format!("/latency/{lat}/{field}"))
                } else {
                    None
                }
            });
        }
    }
    // midge's own load.
    add("cpu_s".into(), Lower, &|v| num(v, "/load_generator/cpu_s"));
    add("cpu_utilization".into(), Lower, &|v| num(v, "/load_generator/cpu_utilization"));
    add("peak_rss_kib".into(), Lower, &|v| num(v, "/load_generator/peak_rss_kib"));
    add("rss_bytes_per_connected_client".into(), Lower, &|v| num(v, "/load_generator/rss_bytes_per_connected_client"));
    let mut groups: Vec<String> = Vec::new();
    for (g, _) in rates(a).into_iter().chain(rates(b)) {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    for g in &groups {
        add(format!("achieved_msgs_per_s.{g}"), Higher, &|v| {
            rates(v).into_iter().find(|(group, _)| group == g).and_then(|(_, r)| r)
        });
    }
    add("duration_s".into(), Neither, &|v| num(v, "/duration_s"));
    // The capacity search, when both runs made one.
    if let (Some(ca), Some(cb)) = (capacity(a), capacity(b)) {
        let (la, lb) = (ca.get("last_pass").unwrap_or(&Value::Null), cb.get("last_pass").unwrap_or(&Value::Null));
        match (la.as_object(), lb.as_object()) {
            // An object: each numeric field of it (no better direction known for them).
            (Some(_), _) | (_, Some(_)) => {
                let mut keys: BTreeSet<&String> = BTreeSet::new();
                for o in [la.as_object(), lb.as_object()].into_iter().flatten() {
                    keys.extend(o.iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k));
                }
                for k in keys {
                    figures.push(Figure {
                        name: format!("capacity.last_pass.{k}"),
                        a: la.get(k).and_then(Value::as_f64),
                        b: lb.get(k).and_then(Value::as_f64),
                        better: Neither,
                        quiet_when_zero: false,
                    });
                }
            }
            _ => figures.push(Figure {
                name: "capacity.last_pass".into(),
                a: la.as_f64(),
                b: lb.as_f64(),
                better: Higher,
                quiet_when_zero: false,
            }),
        }
    }
    Comparison { figures, warnings: warnings(a, b) }
}

fn text<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// Different scenarios or brokers. A broker midge started (embedded or
/// spawned: it has a generated config) gets a new port each run, so only
/// an external broker's url is compared.
fn warnings(a: &Value, b: &Value) -> Vec<String> {
    let mut w = Vec::new();
    let (sa, sb) = (text(a, "/scenario/sha256"), text(b, "/scenario/sha256"));
    if sa != sb {
        fn name(v: &Value) -> &str {
            text(v, "/scenario/name").unwrap_or("?")
        }
        w.push(format!(
            "A and B ran different scenarios ({} sha256 {}…, {} sha256 {}…): the deltas may reflect the scenario, not the broker",
            name(a),
            sa.unwrap_or("?").chars().take(12).collect::<String>(),
            name(b),
            sb.unwrap_or("?").chars().take(12).collect::<String>()
        ));
    }
    let (ka, kb) = (text(a, "/broker/kind"), text(b, "/broker/kind"));
    let (ua, ub) = (text(a, "/broker/url"), text(b, "/broker/url"));
    let started = |v: &Value| v.pointer("/broker/config").is_some_and(|c| !c.is_null());
    if ka != kb {
        w.push(format!("A and B ran against different brokers ({} and {})", ka.unwrap_or("?"), kb.unwrap_or("?")));
    } else if !started(a) && !started(b) && ua != ub {
        w.push(format!("A and B ran against different brokers ({} and {})", ua.unwrap_or("?"), ub.unwrap_or("?")));
    }
    fn version(v: &Value) -> Option<&str> {
        v.pointer("/broker/sys").and_then(|s| s.get("$SYS/broker/version")).and_then(Value::as_str)
    }
    if let (Some(va), Some(vb)) = (version(a), version(b)) {
        if va != vb {
            w.push(format!("A and B ran against different broker versions ({va} and {vb})"));
        }
    }
    w
}

/// Reads a report.json, or the report.json in a run folder, and checks it
/// is a midge report of the schema this midge reads.
pub fn load(path: &Path) -> Result<Value, String> {
    let file: PathBuf = if path.is_dir() { path.join("report.json") } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", file.display()))?;
    match v.get("schema") {
        Some(s) if s.as_u64() == Some(u64::from(SCHEMA_VERSION)) => Ok(v),
        Some(s) if v.get("midge_version").is_some() => {
            Err(format!("{}: report schema {s}; this midge reads schema {SCHEMA_VERSION}", file.display()))
        }
        _ => Err(format!("{}: not a midge report (no \"schema\": {SCHEMA_VERSION})", file.display())),
    }
}

/// `--fail-on FIGURE:PCT`: fail when FIGURE got worse by more than PCT percent.
#[derive(Debug, Clone, PartialEq)]
pub struct FailOn {
    pub figure: String,
    pub pct: f64,
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<FailOn, String> {
        let (figure, pct) =
            s.rsplit_once(':').ok_or_else(|| format!("{s:?}: expected FIGURE:PCT, e.g. e2e.p99:10 or lost:0"))?;
        let pct_text = pct.trim().trim_end_matches('%').trim();
        let pct: f64 = pct_text.parse().map_err(|_| format!("{s:?}: {pct:?} is not a percentage"))?;
        if figure.is_empty() || !pct.is_finite() || pct < 0.0 {
            return Err(format!("{s:?}: expected FIGURE:PCT with PCT ≥ 0, e.g. e2e.p99:10 or lost:0"));
        }
        Ok(FailOn { figure: figure.to_string(), pct })
    }
}

/// One `--fail-on` rule applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleOutcome {
    pub rule: FailOn,
    /// How far the figure got worse, in percent of A (0: not worse; infinite:
    /// from 0); None when a report lacks the figure.
    pub worse_pct: Option<f64>,
    pub failed: bool,
}

impl RuleOutcome {
    /// One line for people.
    pub fn describe(&self) -> String {
        let FailOn { figure, pct } = &self.rule;
        let limit = fmt_num(*pct);
        match self.worse_pct {
            None => format!("{figure}: not in both reports — not checked (limit {limit} %)"),
            Some(w) if self.failed && w.is_infinite() => format!("FAIL {figure}: got worse from 0 (limit {limit} %)"),
            Some(w) if self.failed => format!("FAIL {figure}: got worse by {w:.1} % (limit {limit} %)"),
            Some(w) if w > 0.0 => format!("ok   {figure}: got worse by {w:.1} %, within {limit} %"),
            Some(_) => format!("ok   {figure}: not worse (limit {limit} %)"),
        }
    }
}

/// Every figure name `--fail-on` accepts for this comparison.
pub fn known_figures(c: &Comparison) -> Vec<String> {
    let mut names: Vec<String> = c.figures.iter().map(|f| f.name.clone()).collect();
    for n in ALWAYS_KNOWN {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    names
}

/// Applies the `--fail-on` rules; an unknown figure name is an error that
/// lists the valid ones.
pub fn check(c: &Comparison, rules: &[FailOn]) -> Result<Vec<RuleOutcome>, String> {
    let known = known_figures(c);
    rules
        .iter()
        .map(|rule| {
            if !known.contains(&rule.figure) {
                return Err(format!("--fail-on: unknown figure {:?} (one of: {})", rule.figure, known.join(", ")));
            }
            let worse_pct = c.figure(&rule.figure).and_then(Figure::worse_pct);
            let failed = worse_pct.is_some_and(|w| w > rule.pct);
            Ok(RuleOutcome { rule: rule.clone(), worse_pct, failed })
        })
        .collect()
}

/// A number for people: integers without decimals, others to 3 decimals
/// with trailing zeros dropped.
fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_string(), fmt_num)
}

fn fmt_delta(d: Option<f64>) -> String {
    match d {
        Some(d) if d > 0.0 => format!("+{}", fmt_num(d)),
        Some(d) => fmt_num(d),
        None => "—".into(),
    }
}

fn fmt_pct(p: Option<f64>) -> String {
    match p {
        Some(0.0) => "0.0 %".into(),
        Some(p) => format!("{p:+.1} %"),
        None => "—".into(),
    }
}

/// The comparison as a table for people: figure, A, B, Δ, Δ %, and
/// better / worse / same ("—" where a side is missing or the figure has no
/// better direction). Findings of a kind neither run had are left out.
pub fn render_table(c: &Comparison, a_label: &str, b_label: &str) -> String {
    let header = ["figure", "A", "B", "Δ", "Δ %", ""];
    let rows: Vec<[String; 6]> = c
        .figures
        .iter()
        .filter(|f| !(f.quiet_when_zero && f.a.unwrap_or(0.0) == 0.0 && f.b.unwrap_or(0.0) == 0.0))
        .map(|f| {
            [
                f.name.clone(),
                fmt_opt(f.a),
                fmt_opt(f.b),
                fmt_delta(f.delta()),
                fmt_pct(f.delta_pct()),
                f.change().map_or("—", Change::name).to_string(),
            ]
        })
        .collect();
    let width =
        |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([header[i].chars().count()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..6).map(width).collect();
    let pad = |s: &str, w: usize, left: bool| {
        let fill = " ".repeat(w.saturating_sub(s.chars().count()));
        if left {
            format!("{s}{fill}")
        } else {
            format!("{fill}{s}")
        }
    };
    let line = |cells: [&str; 6]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(&pad(cell, widths[i], i == 0 || i == 5));
        }
        l.trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "A: {a_label}");
    let _ = writeln!(out, "B: {b_label}");
    let _ = writeln!(out, "(latencies in µs; peak_rss_kib in KiB; cpu_s and duration_s in seconds)");
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", line(header));
    for r in &rows {
        let _ = writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }
    out
}

/// A JSON number: an integer when the value is one.
fn jnum(x: Option<f64>, decimals: i32) -> Value {
    match x {
        Some(x) if x.is_finite() => {
            let scale = 10f64.powi(decimals);
            let x = (x * scale).round() / scale;
            if x.fract() == 0.0 && x.abs() < 1e15 {
                json!(x as i64)
            } else {
                json!(x)
            }
        }
        _ => Value::Null,
    }
}

/// The comparison for scripts: every figure (findings of every kind
/// included) with a, b, delta, delta_pct, `better` ("lower", "higher" or
/// null) and `direction` ("better", "worse", "same", or null), the
/// warnings, and the `--fail-on` rules applied.
pub fn to_json(c: &Comparison, a_label: &str, b_label: &str, rules: &[RuleOutcome]) -> Value {
    let figures: Vec<Value> = c
        .figures
        .iter()
        .map(|f| {
            json!({
                "figure": f.name,
                "a": jnum(f.a, 6),
                "b": jnum(f.b, 6),
                "delta": jnum(f.delta(), 6),
                "delta_pct": jnum(f.delta_pct(), 2),
                "better": f.better.name(),
                "direction": f.change().map(Change::name),
            })
        })
        .collect();
    let fail_on: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "figure": r.rule.figure,
                "threshold_pct": jnum(Some(r.rule.pct), 6),
                "worse_pct": r.worse_pct.map(|w| if w.is_infinite() { json!("inf") } else { jnum(Some(w), 2) }),
                "checked": r.worse_pct.is_some(),
                "failed": r.failed,
            })
        })
        .collect();
    json!({
        "a": a_label,
        "b": b_label,
        "warnings": c.warnings,
        "figures": figures,
        "fail_on": fail_on,
        "failed": rules.iter().any(|r| r.failed),
    })
}

#[cfg(test)]
mod tests;
