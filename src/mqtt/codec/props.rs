//! MQTT 5 PUBLISH properties midge writes and checks: message expiry
//! interval (0x02), topic alias (0x23) and user properties (0x26). The
//! other properties a broker may forward are skipped, never an error.
//!
//! `publish_properties` is computed once per group (`plan::PublishPlan::props`
//! and, with a topic alias, `props_alias`), not per message; `user_properties`
//! reads a delivery's user properties, skipping the others, and
//! `expiry_and_alias` its Message Expiry Interval and Topic Alias (for
//! `client::witness`); neither ever panics.

use bytes::{BufMut, BytesMut};

const MESSAGE_EXPIRY: u8 = 0x02;
const TOPIC_ALIAS: u8 = 0x23;
const USER_PROPERTY: u8 = 0x26;

/// Bytes the topic alias property takes in a PUBLISH (identifier and u16).
pub const TOPIC_ALIAS_LEN: usize = 3;

/// A PUBLISH's properties as they go on the wire (without their length).
pub fn publish_properties(expiry_s: Option<u32>, alias: Option<u16>, user: &[(String, String)]) -> BytesMut {
    let mut b = BytesMut::new();
    if let Some(e) = expiry_s {
        b.put_u8(MESSAGE_EXPIRY);
        b.put_u32(e);
    }
    if let Some(a) = alias {
        b.put_u8(TOPIC_ALIAS);
        b.put_u16(a);
    }
    for (k, v) in user {
        b.put_u8(USER_PROPERTY);
        for s in [k, v] {
            b.put_u16(s.len() as u16);
            b.put_slice(s.as_bytes());
        }
    }
    b
}

/// A two-byte-length string (or binary data) off the front of `p`.
fn string<'a>(p: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u16::from_be_bytes([*p.first()?, *p.get(1)?]) as usize;
    let s = p.get(2..2 + len)?;
    *p = &p[2 + len..];
    Some(s)
}

/// The Message Expiry Interval and Topic Alias among a delivery's
/// properties (each None when absent, or when the properties cannot be read).
pub fn expiry_and_alias(mut p: &[u8]) -> (Option<u32>, Option<u16>) {
    let (mut expiry, mut alias) = (None, None);
    while let Some((&id, rest)) = p.split_first() {
        match id {
            MESSAGE_EXPIRY => expiry = rest.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            TOPIC_ALIAS => alias = rest.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])),
            _ => {}
        }
        match property_len(id, rest) {
            Some(n) if n <= rest.len() => p = &rest[n..],
            _ => break,
        }
    }
    (expiry, alias)
}

/// Where the value of the first property `id` starts in `p` (None: absent,
/// or the properties cannot be read that far).
pub fn value_at(p: &[u8], id: u8) -> Option<usize> {
    let mut at = 0;
    while let Some(&here) = p.get(at) {
        if here == id {
            return Some(at + 1);
        }
        at += 1 + property_len(here, &p[at + 1..]).filter(|n| at + 1 + n <= p.len())?;
    }
    None
}

/// Bytes the value of property `id` takes at the front of `p` (None: a
/// property midge does not know the size of, or cut short).
fn property_len(id: u8, p: &[u8]) -> Option<usize> {
    let string_at =
        |at: usize| -> Option<usize> { Some(2 + u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]) as usize) };
    match id {
        0x01 => Some(1),
        MESSAGE_EXPIRY => Some(4),
        TOPIC_ALIAS => Some(2),
        0x03 | 0x08 | 0x09 => string_at(0),
        0x0B => Some(p.iter().position(|b| b & 0x80 == 0)? + 1),
        USER_PROPERTY => {
            let k = string_at(0)?;
            Some(k + string_at(k)?)
        }
        _ => None,
    }
}

/// The user properties among a PUBLISH's properties, in order; None when
/// the properties cannot be read (a property midge does not know the size of).
pub fn user_properties(mut p: &[u8]) -> Option<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    let take = |p: &mut &[u8], n: usize| -> Option<()> { (p.len() >= n).then(|| *p = &p[n..]) };
    while let Some((&id, rest)) = p.split_first() {
        p = rest;
        match id {
            0x01 => take(&mut p, 1)?,
            0x02 => take(&mut p, 4)?,
            0x23 => take(&mut p, 2)?,
            0x03 | 0x08 => {
                string(&mut p)?;
            }
            0x09 => {
                string(&mut p)?; // correlation data: binary, same layout
            }
            0x0B => {
                // subscription identifier: a variable byte integer
                while *p.first()? & 0x80 != 0 {
                    take(&mut p, 1)?;
                }
                take(&mut p, 1)?
            }
            USER_PROPERTY => {
                let (k, v) = (string(&mut p)?, string(&mut p)?);
                out.push((std::str::from_utf8(k).ok()?, std::str::from_utf8(v).ok()?));
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_and_alias_are_read_past_other_properties() {
        let user = vec![("k".to_string(), "v".to_string())];
        let mut b = BytesMut::new();
        b.put_slice(&[0x01, 1, 0x08, 0, 1, b'r']);
        b.extend_from_slice(&publish_properties(Some(7), Some(3), &user));
        assert_eq!(expiry_and_alias(&b), (Some(7), Some(3)));
        let user_first = [&[0x26, 0, 1, b'k', 0, 1, b'v'][..], &[0x02, 0, 0, 1, 0]].concat();
        assert_eq!(expiry_and_alias(&user_first), (Some(256), None));
        assert_eq!(expiry_and_alias(&[]), (None, None));
        // Cut short, or a property of unknown size: what was read, never a panic.
        assert_eq!(expiry_and_alias(&[0x02, 0, 0]), (None, None));
        assert_eq!(expiry_and_alias(&[0x7f, 0x02, 0, 0, 0, 1]), (None, None));
        assert_eq!(expiry_and_alias(&[0x0B, 0x80]), (None, None));
        assert_eq!(value_at(&user_first, 0x02), Some(8));
        assert_eq!(value_at(&user_first, 0x23), None);
        assert_eq!(value_at(&[0x7f, 0x02], 0x02), None);
    }

    #[test]
    fn properties_round_trip_and_unknown_ones_are_skipped() {
        let user = vec![("site".to_string(), "a".to_string()), ("k".to_string(), "v".to_string())];
        let b = publish_properties(Some(2), Some(1), &user);
        assert_eq!(&b[..8], &[0x02, 0, 0, 0, 2, 0x23, 0, 1]);
        assert_eq!(user_properties(&b), Some(vec![("site", "a"), ("k", "v")]));
        // What a broker forwards: expiry (remaining), a subscription identifier, content type.
        let mut fwd = vec![0x02, 0, 0, 0, 1, 0x0B, 0x81, 0x01, 0x03, 0, 1, b'x'];
        fwd.extend_from_slice(&b[8..]);
        assert_eq!(user_properties(&fwd), Some(vec![("site", "a"), ("k", "v")]));
        assert_eq!(user_properties(&[0x26, 0, 5, b'a']), None, "truncated: no panic");
        assert_eq!(user_properties(&[0x7f]), None);
        assert_eq!(user_properties(&[]), Some(vec![]));
    }
}
