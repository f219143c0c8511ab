//! `midge compare A B`: two runs' report.json, headline figure by headline
//! figure, for CI baselines. Read through `serde_json::Value`, not the
//! `Report` model, so a report from an older or newer midge of the same
//! schema (a field added or not yet there, `capacity` present or not) still
//! compares: a figure missing from one side shows as "—".
//!
//! `compare` is a pure function of the two documents; `render_table` and
//! `to_json` render its result; `check` applies `--fail-on` rules.

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
mod tests {
    use super::*;

    /// A hand-made report with every figure `compare` reads.
    fn report() -> Value {
        let lat = |p50: u64| {
            json!({"count": 100, "min_us": 1, "p50_us": p50, "p90_us": p50 * 2, "p99_us": 1000,
                   "p999_us": 2000, "max_us": 3000, "mean_us": 1.0, "hdr": ""})
        };
        json!({
            "schema": 1, "midge_version": "0.1.0", "duration_s": 10.0,
            "scenario": {"name": "s", "sha256": "abc", "file": "s.toml", "protocol": "5", "planned_duration_s": 10.0},
            "broker": {"url": "mqtt://10.0.0.1:1883", "kind": "external", "config": null, "sys": {}},
            "clients": {"planned": 10, "connected_peak": 10, "connect_attempts": 10, "connects": 10,
                        "connect_failures": {}, "subscribe_failures": {}},
            "latency": {"connect": lat(100), "connect_tcp": lat(50), "e2e": lat(300), "e2e_uncorrected": lat(200),
                        "ack": lat(150), "suback": lat(10)},
            "messages": {"published": 1000, "expected": 1000, "received": 1000, "lost": 0, "duplicated": 0,
                         "out_of_order": 0, "in_doubt": 0, "unsent": 0},
            "disconnects": {"total": 0, "by_cause": {}},
            "reconnects": 0,
            "findings": [],
            "load_generator": {"cpu_s": 2.0, "cpu_utilization": 0.1, "peak_rss_kib": 40000,
                               "rss_bytes_per_connected_client": 4000,
                               "publish_rates": [{"group": "sensors", "achieved_msgs_per_s": 100.0}]}
        })
    }

    fn set(v: &mut Value, pointer: &str, x: Value) {
        *v.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer}")) = x;
    }

    #[test]
    fn the_same_report_is_the_same_everywhere() {
        let c = compare(&report(), &report());
        assert!(c.warnings.is_empty());
        for f in &c.figures {
            assert_eq!(f.change(), Some(Change::Same), "{}", f.name);
            assert_eq!(f.delta(), Some(0.0), "{}", f.name);
            assert_eq!(f.delta_pct(), Some(0.0), "{}", f.name);
        }
        assert!(c.figure("capacity.last_pass").is_none());
    }

    #[test]
    fn loss_from_zero_is_worse_with_no_percentage() {
        let mut b = report();
        set(&mut b, "/messages/lost", json!(5));
        let c = compare(&report(), &b);
        let lost = c.figure("lost").unwrap();
        assert_eq!((lost.a, lost.b, lost.delta()), (Some(0.0), Some(5.0), Some(5.0)));
        assert_eq!(lost.delta_pct(), None);
        assert_eq!(lost.change(), Some(Change::Worse));
        assert_eq!(lost.worse_pct(), Some(f64::INFINITY));
    }

    #[test]
    fn lower_latency_is_better_by_ten_percent() {
        let mut b = report();
        set(&mut b, "/latency/e2e/p99_us", json!(900));
        let c = compare(&report(), &b);
        let f = c.figure("e2e.p99").unwrap();
        assert_eq!(f.delta(), Some(-100.0));
        assert_eq!(f.delta_pct(), Some(-10.0));
        assert_eq!(f.change(), Some(Change::Better));
        assert_eq!(f.worse_pct(), Some(0.0));
        // Higher is better for what arrived and the achieved rate.
        set(&mut b, "/messages/received", json!(990));
        set(&mut b, "/load_generator/publish_rates/0/achieved_msgs_per_s", json!(110.0));
        let c = compare(&report(), &b);
        assert_eq!(c.figure("received").unwrap().change(), Some(Change::Worse));
        assert!((c.figure("received").unwrap().worse_pct().unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(c.figure("achieved_msgs_per_s.sensors").unwrap().change(), Some(Change::Better));
        // Published is set by the scenario: changed, neither better nor worse.
        set(&mut b, "/messages/published", json!(1100));
        let c = compare(&report(), &b);
        assert_eq!(c.figure("published").unwrap().change(), None);
    }

    #[test]
    fn figures_cover_the_headline_numbers() {
        let mut a = report();
        set(&mut a, "/clients/connect_failures", json!({"refused": 2, "timeout": 1}));
        set(&mut a, "/findings", json!([{"kind": "session_lost"}, {"kind": "session_lost"}, {"kind": "new_kind"}]));
        let c = compare(&a, &report());
        let names: Vec<&str> = c.figures.iter().map(|f| f.name.as_str()).collect();
        for n in [
            "published",
            "received",
            "expected",
            "lost",
            "duplicated",
            "out_of_order",
            "in_doubt",
            "unsent",
            "connected_peak",
            "connect_failures",
            "disconnects",
            "reconnects",
            "findings",
            "findings.session_lost",
            "findings.qos_violation",
            "findings.new_kind",
            "connect.p50",
            "e2e.p99.9",
            "e2e_uncorrected.max",
            "ack.p90",
            "cpu_s",
            "cpu_utilization",
            "peak_rss_kib",
            "rss_bytes_per_connected_client",
            "achieved_msgs_per_s.sensors",
            "duration_s",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert_eq!(c.figure("connect_failures").unwrap().a, Some(3.0));
        assert_eq!(c.figure("findings").unwrap().a, Some(3.0));
        assert_eq!(c.figure("findings.session_lost").unwrap().a, Some(2.0));
        assert_eq!(c.figure("findings.session_lost").unwrap().change(), Some(Change::Better));
        assert_eq!(c.figure("e2e.p99.9").unwrap().a, Some(2000.0));
    }

    #[test]
    fn missing_figures_are_dashes_not_errors() {
        let mut a = report();
        a["messages"].as_object_mut().unwrap().remove("unsent");
        set(&mut a, "/load_generator/rss_bytes_per_connected_client", Value::Null);
        set(&mut a, "/latency/ack/count", json!(0));
        let c = compare(&a, &report());
        for name in ["unsent", "rss_bytes_per_connected_client", "ack.p99"] {
            let f = c.figure(name).unwrap();
            assert_eq!((f.a, f.delta(), f.change()), (None, None, None), "{name}");
        }
        // Neither has unsent: no row, but --fail-on unsent is still a known name.
        let c = compare(&a, &a);
        assert!(c.figure("unsent").is_none());
        let out = check(&c, &["unsent:0".parse().unwrap()]).unwrap();
        assert_eq!((out[0].worse_pct, out[0].failed), (None, false));
    }

    #[test]
    fn capacity_only_when_both_have_one() {
        let mut a = report();
        let b = report();
        a["capacity"] = json!({"last_pass": 5000});
        assert!(compare(&a, &b).figure("capacity.last_pass").is_none());
        let mut b = b;
        b["capacity"] = Value::Null;
        assert!(compare(&a, &b).figure("capacity.last_pass").is_none());
        b["capacity"] = json!({"last_pass": 4000});
        let f = compare(&a, &b).figure("capacity.last_pass").cloned().unwrap();
        assert_eq!((f.delta_pct(), f.change()), (Some(-20.0), Some(Change::Worse)));
        b["capacity"] = json!({"last_pass": null});
        let f = compare(&a, &b).figure("capacity.last_pass").cloned().unwrap();
        assert_eq!((f.a, f.b), (Some(5000.0), None));
        // An object: each numeric field.
        a["capacity"] = json!({"last_pass": {"clients": 1000, "label": "x"}});
        b["capacity"] = json!({"last_pass": {"clients": 2000}});
        let c = compare(&a, &b);
        assert_eq!(c.figure("capacity.last_pass.clients").unwrap().delta(), Some(1000.0));
        assert!(c.figure("capacity.last_pass.label").is_none());
    }

    #[test]
    fn fail_on_thresholds() {
        let mut b = report();
        set(&mut b, "/latency/e2e/p99_us", json!(1150));
        set(&mut b, "/messages/lost", json!(1));
        let c = compare(&report(), &b);
        let rules: Vec<FailOn> =
            ["e2e.p99:10", "e2e.p99:20", "lost:0", "duplicated:0"].iter().map(|s| s.parse().unwrap()).collect();
        let out = check(&c, &rules).unwrap();
        let failed: Vec<bool> = out.iter().map(|o| o.failed).collect();
        assert_eq!(failed, [true, false, true, false]);
        assert!((out[0].worse_pct.unwrap() - 15.0).abs() < 1e-9);
        assert!(out[0].describe().starts_with("FAIL e2e.p99: got worse by 15.0 %"), "{}", out[0].describe());
        // Better is never a failure.
        let c = compare(&b, &report());
        assert!(check(&c, &rules).unwrap().iter().all(|o| !o.failed));
        // A figure with no better direction fails on a change either way.
        let mut b2 = report();
        set(&mut b2, "/messages/published", json!(800));
        let out = check(&compare(&report(), &b2), &["published:10".parse().unwrap()]).unwrap();
        assert!(out[0].failed);
    }

    #[test]
    fn unknown_figures_and_bad_rules_are_refused() {
        let c = compare(&report(), &report());
        let e = check(&c, &["e2e.p98:10".parse().unwrap()]).unwrap_err();
        assert!(e.contains("\"e2e.p98\"") && e.contains("e2e.p99") && e.contains("capacity.last_pass"), "{e}");
        for bad in ["e2e.p99", "e2e.p99:", "e2e.p99:x", ":5", "lost:-1"] {
            assert!(bad.parse::<FailOn>().is_err(), "{bad}");
        }
        assert_eq!("e2e.p99:12.5%".parse::<FailOn>().unwrap(), FailOn { figure: "e2e.p99".into(), pct: 12.5 });
    }

    #[test]
    fn warns_on_other_scenario_or_broker() {
        let mut b = report();
        set(&mut b, "/scenario/sha256", json!("def"));
        set(&mut b, "/broker/url", json!("mqtt://10.0.0.2:1883"));
        let w = compare(&report(), &b).warnings;
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("different scenarios") && w[1].contains("10.0.0.2"), "{w:?}");
        // A broker midge started gets a new port each run: not a different broker.
        let mut a = report();
        set(&mut a, "/broker/config", json!("port 1"));
        set(&mut a, "/broker/kind", json!("spawned mosquitto"));
        let mut b = a.clone();
        set(&mut b, "/broker/url", json!("mqtt://127.0.0.1:40000"));
        set(&mut b, "/broker/config", json!("port 2"));
        assert!(compare(&a, &b).warnings.is_empty());
        set(&mut b, "/broker/kind", json!("embedded (rumqttd 0.20)"));
        assert!(compare(&a, &b).warnings[0].contains("different brokers"));
    }

    #[test]
    fn table_and_json() {
        let mut b = report();
        set(&mut b, "/messages/lost", json!(5));
        set(&mut b, "/latency/e2e/p99_us", json!(900));
        set(&mut b, "/findings", json!([{"kind": "qos_violation"}]));
        let c = compare(&report(), &b);
        let t = render_table(&c, "a.json", "b.json");
        let row = |name: &str| {
            t.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("{name}\n{t}"))
        };
        assert_eq!(row("lost").split_whitespace().collect::<Vec<_>>(), ["lost", "0", "5", "+5", "—", "worse"]);
        assert_eq!(
            row("e2e.p99").split_whitespace().collect::<Vec<_>>(),
            ["e2e.p99", "1000", "900", "-100", "-10.0", "%", "better"]
        );
        assert!(row("findings.qos_violation").ends_with("worse"));
        assert!(!t.contains("findings.session_lost"), "{t}");
        assert!(row("published").ends_with("same"));

        let out = check(&c, &["lost:0".parse().unwrap()]).unwrap();
        let j = to_json(&c, "a.json", "b.json", &out);
        let fig = |name: &str| j["figures"].as_array().unwrap().iter().find(|f| f["figure"] == name).unwrap().clone();
        assert_eq!(
            fig("e2e.p99"),
            json!({"figure": "e2e.p99", "a": 1000, "b": 900, "delta": -100, "delta_pct": -10,
                   "better": "lower", "direction": "better"})
        );
        assert_eq!(fig("lost")["delta_pct"], Value::Null);
        assert_eq!(fig("published")["better"], Value::Null);
        assert_eq!(fig("cpu_utilization")["a"], json!(0.1));
        assert_eq!(j["failed"], json!(true));
        assert_eq!(j["fail_on"][0]["worse_pct"], json!("inf"));
    }

    #[test]
    fn load_checks_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.json");
        std::fs::write(&p, report().to_string()).unwrap();
        assert!(load(&p).is_ok());
        assert!(load(dir.path()).is_ok(), "a run folder holding report.json");
        std::fs::write(&p, "{\"name\": \"x\"}").unwrap();
        assert!(load(&p).unwrap_err().contains("not a midge report"));
        std::fs::write(&p, "{\"schema\": 2, \"midge_version\": \"9\"}").unwrap();
        assert!(load(&p).unwrap_err().contains("schema 2"));
        std::fs::write(&p, "not json").unwrap();
        assert!(load(&p).unwrap_err().contains("not JSON"));
        assert!(load(&dir.path().join("nope.json")).is_err());
    }
}
