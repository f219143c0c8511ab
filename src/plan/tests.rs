//! The plan of small scenarios, with known streams, shares and ids.

use super::*;
use std::path::Path;

#[test]
fn overlapping_filters_make_one_stream_per_match() {
    let text = r#"
name = "overlap"
[[group]]
name = "p"
clients = 4
client_id = { scheme = "prefix-serial", prefix = "p" }
publish = { topic = "t/{i}", qos = 1, rate = 1.0 }
[[group]]
name = "all"
subscribe = { filter = "t/#", qos = 1 }
[[group]]
name = "one"
subscribe = { filter = "t/2", qos = 0 }
"#;
    let f = ScenarioFile::parse(Path::new("x"), text).unwrap();
    let plan = Plan::build(&f, &Overrides::default()).unwrap();
    assert_eq!(plan.streams.len(), 5);
    assert_eq!(plan.publishers.len(), 4);
    let to_one: Vec<_> = plan.streams.iter().filter(|s| s.subscriber_client == 5).collect();
    assert_eq!(to_one.len(), 1);
    assert_eq!(to_one[0].qos, 0);
    assert_eq!(plan.clients[0].client_id, "p0");
}
