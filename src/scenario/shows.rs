//! `[expect] shows`: what a bug reproduction must show. Each entry is a
//! finding kind (`"qos_violation"`), or a `spec_violation` narrowed to one
//! rule of the protocol, named by its name or its id in either protocol
//! (`"spec_violation:receive_maximum"`, `"spec_violation:MQTT-3.3.4-9"`).
//! Parsed into a `Shown` when the file is read: an unknown kind or rule is
//! a scenario error with its file:line:column (the rule's with a "did you
//! mean"), never an expectation that silently cannot pass.

use super::hint::closest;
use crate::mqtt::protocol::ProtocolVersion;
use crate::mqtt::rules::Rule;
use crate::record::vocab::FindingKind;
use serde::{Deserialize, Deserializer};
use std::fmt;

/// One entry of `[expect] shows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub kind: FindingKind,
    /// Only findings of this rule count (a `spec_violation` only).
    pub rule: Option<Rule>,
}

impl Shown {
    pub fn kind(kind: FindingKind) -> Shown {
        Shown { kind, rule: None }
    }

    /// A finding kind, or `spec_violation:RULE` (a name or an id).
    pub fn parse(word: &str) -> Result<Shown, String> {
        let (kind_word, rule_word) = match word.split_once(':') {
            Some((k, r)) => (k, Some(r)),
            None => (word, None),
        };
        let kind: FindingKind = kind_word.parse()?;
        let Some(rule_word) = rule_word else { return Ok(Shown::kind(kind)) };
        if kind != FindingKind::SpecViolation {
            return Err(format!(
                "{word:?}: only a spec_violation names a rule (`spec_violation:RULE`); a {kind} finding has none"
            ));
        }
        match Rule::from_word(rule_word) {
            Some(rule) => Ok(Shown { kind, rule: Some(rule) }),
            None => Err(unknown_rule(word, rule_word)),
        }
    }
}

impl Shown {
    /// Why no run of groups speaking `protocols` could show it (a rule of
    /// MQTT 5 only, no group speaking 5); None when one could.
    pub fn unreachable(&self, protocols: &[ProtocolVersion]) -> Option<String> {
        let rule = self.rule?;
        if protocols.iter().any(|p| rule.id(*p).is_some()) {
            return None;
        }
        Some(format!(
            "{self}: {} is a rule of MQTT 5 only, and no group speaks MQTT 5 (`protocol = \"5\"`)",
            rule.name()
        ))
    }
}

fn unknown_rule(word: &str, rule: &str) -> String {
    let names: Vec<String> = Rule::ALL.iter().map(|r| r.name()).collect();
    let known: Vec<String> = Rule::ALL.iter().flat_map(|r| r.words()).collect();
    let guess = closest(rule, &known).map(|w| format!(" — did you mean `{w}`?")).unwrap_or_default();
    format!(
        "unknown rule `{rule}` in {word:?}{guess} (a rule's name or its MQTT-x.y.z-n id in 3.1.1 or 5.0; the names: {})",
        names.join(", ")
    )
}

/// As the scenario writes it: the kind, or `spec_violation:<rule name>`.
impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Some(r) => write!(f, "{}:{}", self.kind, r.name()),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl<'de> Deserialize<'de> for Shown {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Shown::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_alone_or_a_spec_violation_with_its_rule() {
        assert_eq!(Shown::parse("qos_violation"), Ok(Shown::kind(FindingKind::QosViolation)));
        let rm = Shown { kind: FindingKind::SpecViolation, rule: Some(Rule::ReceiveMaximum) };
        assert_eq!(Shown::parse("spec_violation:MQTT-3.3.4-9"), Ok(rm));
        assert_eq!(Shown::parse("spec_violation:receive_maximum"), Ok(rm));
        assert_eq!(rm.to_string(), "spec_violation:receive_maximum");
        let granted = Some(Rule::QosAboveGranted);
        assert_eq!(Shown::parse("spec_violation:MQTT-3.8.4-6").unwrap().rule, granted, "3.1.1's id");
        assert_eq!(Shown::parse("spec_violation:MQTT-3.8.4-8").unwrap().rule, granted, "5.0's id");
    }

    #[test]
    fn an_unknown_rule_is_an_error_with_the_nearest_one() {
        let e = Shown::parse("spec_violation:MQTT-3.3.4-7").unwrap_err();
        assert!(
            e.starts_with(
                "unknown rule `MQTT-3.3.4-7` in \"spec_violation:MQTT-3.3.4-7\" — did you mean `MQTT-3.3.4-9`?"
            ),
            "{e}"
        );
        let e = Shown::parse("spec_violation:recieve_maximum").unwrap_err();
        assert!(e.contains("did you mean `receive_maximum`?"), "{e}");
        assert!(e.contains("topic_order, dup_on_redelivery"), "lists the names: {e}");
        let e = Shown::parse("qos_violation:MQTT-3.3.4-9").unwrap_err();
        assert!(e.contains("only a spec_violation names a rule"), "{e}");
        let e = Shown::parse("spec_violaton:MQTT-3.3.4-9").unwrap_err();
        assert!(e.contains("unknown finding kind \"spec_violaton\""), "{e}");
    }

    #[test]
    fn an_mqtt_5_rule_needs_a_group_speaking_5() {
        let rm = Shown::parse("spec_violation:MQTT-3.3.4-9").unwrap();
        let e = rm.unreachable(&[ProtocolVersion::V311]).unwrap();
        assert!(e.contains("receive_maximum is a rule of MQTT 5 only"), "{e}");
        assert_eq!(rm.unreachable(&[ProtocolVersion::V311, ProtocolVersion::V5]), None);
        let order = Shown::parse("spec_violation:topic_order").unwrap();
        assert_eq!(order.unreachable(&[ProtocolVersion::V311]), None);
        assert_eq!(Shown::kind(FindingKind::QosViolation).unreachable(&[]), None);
    }
}
