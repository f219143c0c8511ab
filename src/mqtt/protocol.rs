//! The MQTT protocol version a group speaks, as a scenario writes it
//! (`protocol = "3.1.1"`, `protocol = 5`).

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// The MQTT protocol version a group speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolVersion {
    #[default]
    V311,
    V5,
}

impl ProtocolVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V311 => "3.1.1",
            ProtocolVersion::V5 => "5",
        }
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = StringOrNumber::deserialize(d)?.0;
        match s.as_str() {
            "3.1.1" | "4" | "v4" | "311" => Ok(ProtocolVersion::V311),
            "5" | "5.0" | "v5" => Ok(ProtocolVersion::V5),
            other => Err(de::Error::custom(format!("unknown protocol {other:?}: expected \"3.1.1\" or \"5\""))),
        }
    }
}

/// Accepts `protocol = 5` as well as `protocol = "5"`.
struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
            F(f64),
        }
        Ok(StringOrNumber(match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::I(i) => i.to_string(),
            Raw::F(f) => f.to_string(),
        }))
    }
}
