//! Latency histograms (HDR, microseconds) and their form in the run record:
//! the V2 serialization, base64 — the same bytes report.json carries.
//!
//! Bounds: 1 µs to one hour (`MAX_US`), 3 significant digits.

use base64::Engine;
use hdrhistogram::serialization::{Deserializer as HdrDeserializer, Serializer as _, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Highest latency a histogram holds: one hour in microseconds.
pub const MAX_US: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static bounds are valid")
}

/// The V2 serialization of a histogram, base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    let _ = V2Serializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads what `encode` wrote.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("histogram: {e}"))?;
    let h: Histogram<u64> =
        HdrDeserializer::new().deserialize(&mut bytes.as_slice()).map_err(|e| format!("histogram: {e:?}"))?;
    // Back into the standard bounds, so that histograms of two records add.
    let mut out = new_histogram();
    out.add(&h).map_err(|e| format!("histogram: {e:?}"))?;
    Ok(out)
}

/// `#[serde(with = "crate::record::hist")]` for a `Histogram<u64>` field.
pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
    encode(h).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
    decode(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_the_record_byte_for_byte() {
        let mut h = new_histogram();
        for v in [1, 7, 100, 1_000, 123_456, MAX_US] {
            h.record(v).unwrap();
        }
        let text = encode(&h);
        let back = decode(&text).unwrap();
        assert_eq!(back, h);
        assert_eq!(encode(&back), text);
        assert_eq!(encode(&decode(&encode(&new_histogram())).unwrap()), encode(&new_histogram()));
    }
}
