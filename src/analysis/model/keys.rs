//! Open names that key the report's maps, each its own type so a map says
//! what it is keyed by. Each is written as its string (`transparent`), and
//! ordered and looked up by it (`Borrow<str>`), so report.json and every
//! lookup by name read as they did when the keys were plain strings.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }
    };
}

name_type! {
    /// An MQTT client id (a share group's member).
    ClientId
}

name_type! {
    /// A scenario group's name (`[[group]] name`).
    GroupName
}

name_type! {
    /// A `$SYS/…` topic the broker published its counters on.
    SysTopic
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn names_key_maps_as_their_strings() {
        let m: BTreeMap<SysTopic, String> =
            [("$SYS/broker/uptime".into(), "1".to_string()), ("$SYS/broker/clients/total".into(), "2".to_string())]
                .into();
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"$SYS/broker/clients/total":"2","$SYS/broker/uptime":"1"}"#);
        assert_eq!(m.get("$SYS/broker/uptime").map(String::as_str), Some("1"));
        let back: BTreeMap<SysTopic, String> = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        let ids: BTreeMap<ClientId, u64> = [("m1".into(), 1), ("m0".into(), 2)].into();
        assert_eq!((ids["m0"], ids.keys().next().map(ClientId::as_str)), (2, Some("m0")));
        assert_eq!(GroupName::from("pubs").to_string(), "pubs");
    }
}
