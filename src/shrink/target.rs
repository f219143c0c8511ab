//! Which finding `midge shrink` keeps alive, and whether a report still
//! shows it. Read from report.json as plain JSON (`serde_json::Value`), so a
//! finding kind or an evidence field newer than this code is matched all
//! the same: the same finding is the same `kind` and, when the finding's
//! `evidence` carries a `rule`, the same rule (its `id` when the rule is an
//! object, else the value itself).

use crate::mqtt::rules::Rule;
use crate::scenario::Shown;
use serde_json::Value;

/// Kinds about midge or the scenario rather than the broker: never the
/// finding picked by default (`--finding` can still name them).
const NOT_THE_BROKERS: [&str; 2] = ["generator_saturated", "broker_limit"];

/// The finding a shrink keeps alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: String,
    /// The rule's key (`evidence.rule`), when the finding names one.
    pub rule: Option<String>,
    /// Its count in the run shrunk.
    pub count: u64,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "{} (rule {r})", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

fn findings(report: &Value) -> impl Iterator<Item = &Value> {
    report.get("findings").and_then(Value::as_array).into_iter().flatten()
}

fn kind_of(f: &Value) -> &str {
    f.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// A rule as one comparable string: a string as is, an object by its `id`.
fn rule_of(f: &Value) -> Option<String> {
    let rule = f.get("evidence")?.get("rule")?;
    match rule {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => Some(o.get("id").and_then(Value::as_str).map_or_else(|| rule.to_string(), str::to_string)),
        other => Some(other.to_string()),
    }
}

/// Whether `f` is of the rule `asked` names (a name or either protocol's id).
fn of_rule(f: &Value, asked: Option<Rule>) -> bool {
    match asked {
        None => true,
        Some(rule) => rule_of(f).and_then(|r| Rule::from_word(&r)) == Some(rule),
    }
}

/// The finding to keep: the first of kind `asked` when given (`KIND`, or
/// `spec_violation:RULE` for one rule, as `[expect] shows` takes it), else
/// the first finding about the broker (report.json order). Err says what
/// the report holds instead, or why `asked` names no rule.
pub fn pick(report: &Value, asked: Option<&str>) -> Result<Target, String> {
    let (asked_kind, asked_rule) = match asked.map(|a| (a, a.split_once(':'))) {
        Some((a, Some(_))) => {
            let shown = Shown::parse(a)?;
            (Some(shown.kind.as_str()), shown.rule)
        }
        Some((a, None)) => (Some(a), None),
        None => (None, None),
    };
    let found = match asked_kind {
        Some(k) => findings(report).find(|f| kind_of(f) == k && of_rule(f, asked_rule)),
        None => findings(report).find(|f| !NOT_THE_BROKERS.contains(&kind_of(f))),
    };
    match found {
        Some(f) => Ok(Target {
            kind: kind_of(f).to_string(),
            rule: rule_of(f),
            count: f.get("count").and_then(Value::as_u64).unwrap_or(0),
        }),
        None => {
            let kinds: Vec<&str> = findings(report).map(kind_of).collect();
            let held = if kinds.is_empty() { "no findings".to_string() } else { format!("only {}", kinds.join(", ")) };
            Err(match asked {
                Some(k) => format!("the run has no {k} finding ({held})"),
                None => format!("the run has no finding about the broker to shrink ({held}); name one with --finding"),
            })
        }
    }
}

/// How many of `target` a report shows (the sum of the matching findings'
/// counts; 0: not reproduced).
pub fn shown(report: &Value, target: &Target) -> u64 {
    findings(report)
        .filter(|f| kind_of(f) == target.kind && rule_of(f) == target.rule)
        .map(|f| f.get("count").and_then(Value::as_u64).unwrap_or(1).max(1))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Value {
        json!({ "findings": [
            { "kind": "generator_saturated", "count": 1, "evidence": {} },
            { "kind": "qos_violation", "count": 7, "evidence": { "lost": 7 } },
            { "kind": "spec_violation", "count": 3, "evidence": { "rule": { "id": "MQTT-3.3.1-1", "title": "DUP" } } },
            { "kind": "spec_violation", "count": 2, "evidence": { "rule": "MQTT-4.6.0-6" } },
        ]})
    }

    #[test]
    fn the_default_target_is_the_first_finding_about_the_broker() {
        let t = pick(&report(), None).unwrap();
        assert_eq!(t, Target { kind: "qos_violation".into(), rule: None, count: 7 });
        let t = pick(&report(), Some("spec_violation")).unwrap();
        assert_eq!((t.rule.as_deref(), t.count), (Some("MQTT-3.3.1-1"), 3));
        assert_eq!(t.to_string(), "spec_violation (rule MQTT-3.3.1-1)");
        let saturated = pick(&report(), Some("generator_saturated")).unwrap();
        assert_eq!(saturated.count, 1);
    }

    #[test]
    fn a_rule_asked_for_picks_that_rules_finding() {
        let t = pick(&report(), Some("spec_violation:topic_order")).unwrap();
        assert_eq!((t.rule.as_deref(), t.count), (Some("MQTT-4.6.0-6"), 2));
        let t = pick(&report(), Some("spec_violation:MQTT-3.3.1-1")).unwrap();
        assert_eq!((t.rule.as_deref(), t.count), (Some("MQTT-3.3.1-1"), 3));
        let e = pick(&report(), Some("spec_violation:no_local")).unwrap_err();
        assert!(e.starts_with("the run has no spec_violation:no_local finding"), "{e}");
        let e = pick(&report(), Some("spec_violation:MQTT-4.6.0-7")).unwrap_err();
        assert!(e.contains("did you mean `MQTT-4.6.0-6`?"), "{e}");
    }

    #[test]
    fn no_target_says_what_the_report_holds() {
        let e = pick(&report(), Some("session_lost")).unwrap_err();
        assert_eq!(e, "the run has no session_lost finding (only generator_saturated, qos_violation, spec_violation, spec_violation)");
        let only_midge = json!({ "findings": [{ "kind": "generator_saturated", "count": 1 }] });
        assert!(pick(&only_midge, None).unwrap_err().contains("name one with --finding"));
        assert!(pick(&json!({ "findings": [] }), None).unwrap_err().contains("(no findings)"));
    }

    #[test]
    fn the_same_finding_is_the_same_kind_and_rule() {
        let r = report();
        let dup = pick(&r, Some("spec_violation")).unwrap();
        assert_eq!(shown(&r, &dup), 3, "the other rule's 2 do not count");
        let order = Target { kind: "spec_violation".into(), rule: Some("MQTT-4.6.0-6".into()), count: 2 };
        assert_eq!(shown(&r, &order), 2);
        let qos = pick(&r, None).unwrap();
        assert_eq!(shown(&r, &qos), 7);
        assert_eq!(
            shown(&json!({ "findings": [{ "kind": "qos_violation", "count": 2, "evidence": { "rule": "X" } }] }), &qos),
            0
        );
        assert_eq!(shown(&json!({}), &qos), 0);
    }
}
