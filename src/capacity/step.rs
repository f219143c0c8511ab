//! One step's scenario: the scenario's text with the stepped groups'
//! `clients` (or `publish.rate`) set to the step's value. The step's run
//! records this text, so `midge report steps/NN` builds the same plan again.
//! (The text is the scenario re-written from its TOML tree: the same keys
//! and values, without the comments.)

use crate::scenario::CapacityVary;

/// The scenario text of a step at `value`; `groups` are the stepped groups'
/// indices in `[[group]]` order, `start` the ladder's first value (for
/// `vary = "both"`, where the rate grows in proportion to the clients).
pub fn step_text(text: &str, groups: &[usize], vary: CapacityVary, value: f64, start: f64) -> Result<String, String> {
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| e.message().to_string())?;
    let list = doc.get_mut("group").and_then(|g| g.as_array_mut()).ok_or("no [[group]] in the scenario")?;
    for &i in groups {
        let g = list.get_mut(i).and_then(|g| g.as_table_mut()).ok_or_else(|| format!("no group {i}"))?;
        if vary.counts_clients() {
            g.insert("clients".into(), toml::Value::Integer(value as i64));
        }
        if vary != CapacityVary::Clients {
            let publish = g.get_mut("publish").and_then(|p| p.as_table_mut()).ok_or("the group does not publish")?;
            let base = match publish.get("rate") {
                Some(toml::Value::Float(f)) => *f,
                Some(toml::Value::Integer(n)) => *n as f64,
                _ => return Err("publish.rate is not a number".into()),
            };
            let rate = match vary {
                CapacityVary::Rate => value,
                _ => ((base * value / start) * 1000.0).round() / 1000.0,
            };
            publish.insert("rate".into(), toml::Value::Float(rate));
        }
    }
    toml::to_string(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ScenarioFile;
    use std::path::Path;

    const TEXT: &str = r#"
name = "t"   # a comment
duration = "2s"
[[group]]
name = "sub"
subscribe = { filter = "a/+", qos = 1 }
[[group]]
name = "pub"
clients = 3
publish = { topic = "a/{i}", qos = 1, rate = 4, payload = 64 }
[capacity]
vary = "both"
start = 3
factor = 2.0
"#;

    fn groups(text: &str) -> Vec<(u32, Option<f64>)> {
        let f = ScenarioFile::parse(Path::new("t.toml"), text).unwrap();
        f.scenario
            .groups
            .iter()
            .map(|g| (g.get_ref().clients, g.get_ref().publish.as_ref().map(|p| p.get_ref().rate)))
            .collect()
    }

    #[test]
    fn a_step_sets_the_stepped_groups_and_keeps_the_rest() {
        let clients = step_text(TEXT, &[1], CapacityVary::Clients, 12.0, 3.0).unwrap();
        assert_eq!(groups(&clients), vec![(1, None), (12, Some(4.0))]);
        let rate = step_text(TEXT, &[1], CapacityVary::Rate, 2.5, 1.0).unwrap();
        assert_eq!(groups(&rate), vec![(1, None), (3, Some(2.5))]);
        // Both: 6 clients (twice the start), each at twice the rate.
        let both = step_text(TEXT, &[1], CapacityVary::Both, 6.0, 3.0).unwrap();
        assert_eq!(groups(&both), vec![(1, None), (6, Some(8.0))]);
        let f = ScenarioFile::parse(Path::new("t.toml"), &both).unwrap();
        assert_eq!(f.scenario.name, "t");
        assert!(f.scenario.capacity.is_some(), "the [capacity] table stays");
    }

    #[test]
    fn a_group_that_does_not_publish_cannot_step_its_rate() {
        assert!(step_text(TEXT, &[0], CapacityVary::Rate, 2.0, 1.0).is_err());
    }
}
