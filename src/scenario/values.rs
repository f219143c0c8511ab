//! The scalar values a scenario writes: durations, QoS levels, topic and
//! filter templates, each checked as it is parsed.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::time::Duration;

/// A duration written as "60s", "500ms", "2m", "1h 30m".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurVisitor)
    }
}

/// A duration is text with its unit; a bare number is refused with the
/// spelling that works (it could be seconds or milliseconds).
struct DurVisitor;

impl de::Visitor<'_> for DurVisitor {
    type Value = Dur;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration in quotes, like \"30s\"")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
        parse_duration(s).map(Dur).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Dur, E> {
        Err(E::custom(bare_number(&n.to_string())))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Dur, E> {
        Err(E::custom(bare_number(&n.to_string())))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Dur, E> {
        Err(E::custom(bare_number(&n.to_string())))
    }
}

fn bare_number(n: &str) -> String {
    format!("invalid duration {n}: a duration is written in quotes with its unit, e.g. \"{n}s\" or \"{n}ms\"")
}

/// Parses "60s", "500ms", "2m", "1h30m"; a bare "0" means zero. The error
/// says what is wrong in the user's words, never the parser's.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    const LIKE: &str = "write it like \"30s\", \"500ms\", \"2m\" or \"1h 30m\"";
    if t.starts_with('-') {
        return Err(format!("invalid duration {s:?}: a duration cannot be negative; {LIKE}"));
    }
    humantime::parse_duration(t).map_err(|e| match e {
        humantime::DurationError::UnknownUnit { unit, .. } => {
            format!("invalid duration {s:?}: unknown unit {unit:?} (ms, s, m, h, d); {LIKE}")
        }
        humantime::DurationError::Empty => format!("invalid duration {s:?}: it is empty; {LIKE}"),
        humantime::DurationError::NumberOverflow => format!("invalid duration {s:?}: too long"),
        _ => format!("invalid duration {s:?}: {LIKE}"),
    })
}

/// A QoS level, 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Qos(pub u8);

impl<'de> Deserialize<'de> for Qos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if (0..=2).contains(&v) {
            Ok(Qos(v as u8))
        } else {
            Err(de::Error::custom(format!("qos must be 0, 1 or 2, not {v}")))
        }
    }
}

/// MQTT 5 Retain Handling (a subscription option): when the broker sends
/// the retained messages a subscription matches. Written 0, 1, 2 or by
/// name: "send" (at every subscribe), "send_new" (only when the
/// subscription did not exist yet), "never".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    #[default]
    Send,
    SendNew,
    Never,
}

impl RetainHandling {
    /// The option's value on the wire (bits 4-5 of the options byte).
    pub fn code(self) -> u8 {
        match self {
            RetainHandling::Send => 0,
            RetainHandling::SendNew => 1,
            RetainHandling::Never => 2,
        }
    }
}

impl<'de> Deserialize<'de> for RetainHandling {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Code(i64),
            Name(String),
        }
        let bad = |w: &dyn std::fmt::Display| {
            de::Error::custom(format!(
                "retain_handling must be 0 or \"send\", 1 or \"send_new\", 2 or \"never\", not {w}"
            ))
        };
        match Written::deserialize(d).map_err(|_| bad(&"that"))? {
            Written::Code(0) => Ok(RetainHandling::Send),
            Written::Code(1) => Ok(RetainHandling::SendNew),
            Written::Code(2) => Ok(RetainHandling::Never),
            Written::Code(n) => Err(bad(&n)),
            Written::Name(s) => match s.as_str() {
                "send" => Ok(RetainHandling::Send),
                "send_new" => Ok(RetainHandling::SendNew),
                "never" => Ok(RetainHandling::Never),
                _ => Err(bad(&format!("{s:?}"))),
            },
        }
    }
}

/// A topic name template: `{client}`, `{i}` and `{group}` are filled per client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate(pub String);

impl<'de> Deserialize<'de> for TopicTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(de::Error::custom("topic must not be empty"));
        }
        if s.contains('+') || s.contains('#') {
            return Err(de::Error::custom(format!(
                "topic {s:?} contains a wildcard (+ or #): a PUBLISH topic must be a plain name; wildcards belong in subscribe.filter"
            )));
        }
        if s.contains('\0') {
            return Err(de::Error::custom("topic must not contain NUL"));
        }
        check_placeholders(&s).map_err(de::Error::custom)?;
        Ok(TopicTemplate(s))
    }
}

fn check_placeholders(s: &str) -> Result<(), String> {
    // emqtt-bench's %i counts from 1 and {i} from 0: taken literally or
    // translated, either would surprise; refused with the spelling that works.
    if let Some(p) = ["%i", "%c"].into_iter().find(|p| s.contains(p)) {
        return Err(format!(
            "{s:?}: `{p}` is emqtt-bench's spelling, which a scenario does not take: write {{i}} (the client's index in its group, from 0) or {{client}} (its client id), e.g. \"bench/{{i}}\""
        ));
    }
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("unclosed '{{' in {s:?}"));
        };
        let name = &after[..close];
        if !matches!(name, "client" | "i" | "group") {
            return Err(format!("unknown placeholder {{{name}}} in {s:?}: use {{client}}, {{i}} or {{group}}"));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// A subscription filter template (wildcards allowed, placeholders as in topics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterTemplate(pub String);

impl<'de> Deserialize<'de> for FilterTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::topic::validate_filter(&s).map_err(de::Error::custom)?;
        check_placeholders(&s).map_err(de::Error::custom)?;
        Ok(FilterTemplate(s))
    }
}
