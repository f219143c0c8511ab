//! Maps keyed by a vocabulary type (a `Cause`, a reason code, a loss
//! window), written in JSON as they were when they were keyed by the names:
//! each key as its name, in the order of the names, entries whose keys share
//! a name summed. Read back by parsing the names (an unknown name is an error).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::AddAssign;

/// A key counted under a stable name in record.json and report.json.
pub trait Named: Ord + Sized {
    /// The name it is counted under.
    fn name(&self) -> Cow<'static, str>;
    /// A key whose name is `name` (None: no key has it). Where several keys
    /// share a name, one of them: `from_name(n).name() == n` always.
    fn from_name(name: &str) -> Option<Self>;
}

/// The map by name: keys that share a name summed, in the order of the names
/// (the order report.json and record.json write them in).
pub fn by_name<K: Named, V: Copy + Default + AddAssign>(m: &BTreeMap<K, V>) -> BTreeMap<Cow<'static, str>, V> {
    let mut out: BTreeMap<Cow<'static, str>, V> = BTreeMap::new();
    for (k, v) in m {
        *out.entry(k.name()).or_default() += *v;
    }
    out
}

/// `#[serde(with = "…::names::serde_by_name")]` on a `BTreeMap<K, V>`.
pub mod serde_by_name {
    use super::*;

    pub fn serialize<K, V, S>(m: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Named,
        V: Copy + Default + AddAssign + Serialize,
        S: Serializer,
    {
        by_name(m).serialize(s)
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Named,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let named: BTreeMap<String, V> = BTreeMap::deserialize(d)?;
        named
            .into_iter()
            .map(|(n, v)| {
                K::from_name(&n).map(|k| (k, v)).ok_or_else(|| D::Error::custom(format!("unknown name {n:?}")))
            })
            .collect()
    }
}
