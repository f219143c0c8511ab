//! The fault proxy's packet rewrites that break one rule of the protocol
//! with a well-formed packet: a 3.1.1 QoS 0 PUBLISH raised to QoS 1, an
//! MQTT 5 PUBLISH's expiry interval set, a Topic Alias added, a PUBLISH
//! padded with a User Property, a QoS ≥ 1 PUBLISH under another packet id,
//! an MQTT 5 SUBSCRIBE's options changed. Anything they cannot read passes
//! as it was.

use bytes::BytesMut;

/// A 3.1.1 QoS 0 PUBLISH re-framed at QoS 1 under `pkid` (anything else as it was).
pub fn raised_to_qos1(frame: &[u8], header_len: usize, pkid: u16) -> BytesMut {
    let body = &frame[header_len..];
    let topic_end = body.get(..2).map(|l| 2 + u16::from_be_bytes([l[0], l[1]]) as usize);
    let (Some(end), true) = (topic_end, frame[0] & 0x06 == 0) else { return BytesMut::from(frame) };
    if end > body.len() {
        return BytesMut::from(frame);
    }
    let mut out = BytesMut::with_capacity(frame.len() + 4);
    out.extend_from_slice(&[(frame[0] & 0xf9) | 0x02]);
    put_varint(&mut out, body.len() + 2);
    out.extend_from_slice(&body[..end]);
    out.extend_from_slice(&pkid.to_be_bytes());
    out.extend_from_slice(&body[end..]);
    out
}

/// A QoS ≥ 1 PUBLISH re-framed at QoS 0, without its packet id (anything else as it was).
pub fn lowered_to_qos0(frame: &[u8], header_len: usize) -> BytesMut {
    let Some(at) = pkid_at(frame, header_len) else { return BytesMut::from(frame) };
    let mut out = BytesMut::with_capacity(frame.len());
    out.extend_from_slice(&[frame[0] & 0xf1]);
    put_varint(&mut out, frame.len() - header_len - 2);
    out.extend_from_slice(&frame[header_len..at]);
    out.extend_from_slice(&frame[at + 2..]);
    out
}

fn put_varint(out: &mut BytesMut, mut len: usize) {
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        out.extend_from_slice(&[if len > 0 { byte | 0x80 } else { byte }]);
        if len == 0 {
            return;
        }
    }
}

/// A variable byte integer at the front of `b`: its value and its bytes.
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut v = 0usize;
    for (i, byte) in b.iter().take(4).enumerate() {
        v |= ((byte & 0x7f) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// An MQTT 5 PUBLISH's properties: where their length starts in the frame,
/// the length's bytes, and the properties' length.
fn v5_properties(frame: &[u8], header_len: usize) -> Option<(usize, usize, usize)> {
    let body = frame.get(header_len..)?;
    let topic_end = 2 + u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let at = topic_end + if frame[0] & 0x06 != 0 { 2 } else { 0 };
    let (len, n) = varint(body.get(at..)?)?;
    (at + n + len <= body.len()).then_some((header_len + at, n, len))
}

/// An MQTT 5 PUBLISH with its Message Expiry Interval set to `s` (as it was without one).
pub fn with_expiry(mut frame: BytesMut, header_len: usize, s: u32) -> BytesMut {
    if let Some((at, n, len)) = v5_properties(&frame, header_len) {
        let props = &mut frame[at + n..at + n + len];
        if let Some(v) = crate::mqtt::codec::props::value_at(props, 0x02).filter(|v| v + 4 <= props.len()) {
            props[v..v + 4].copy_from_slice(&s.to_be_bytes());
        }
    }
    frame
}

/// An MQTT 5 PUBLISH with Topic Alias `alias` added to its properties.
pub fn with_alias(frame: &[u8], header_len: usize, alias: u16) -> BytesMut {
    let mut prop = vec![0x23];
    prop.extend_from_slice(&alias.to_be_bytes());
    with_property(frame, header_len, &prop)
}

/// An MQTT 5 PUBLISH `by` bytes longer: a User Property "pad" whose value
/// is `by - 8` zero bytes (at least none; 8: its id, key and lengths).
pub fn padded(frame: &[u8], header_len: usize, by: usize) -> BytesMut {
    let value = by.saturating_sub(8).min(u16::MAX as usize);
    let mut prop = Vec::with_capacity(value + 8);
    prop.extend_from_slice(&[0x26, 0, 3]);
    prop.extend_from_slice(b"pad");
    prop.extend_from_slice(&(value as u16).to_be_bytes());
    prop.resize(prop.len() + value, 0);
    with_property(frame, header_len, &prop)
}

/// An MQTT 5 PUBLISH with the property `prop` (id and value) added last.
fn with_property(frame: &[u8], header_len: usize, prop: &[u8]) -> BytesMut {
    let Some((at, n, len)) = v5_properties(frame, header_len) else { return BytesMut::from(frame) };
    let mut body = BytesMut::with_capacity(frame.len() + prop.len() + 8);
    body.extend_from_slice(&frame[header_len..at]);
    put_varint(&mut body, len + prop.len());
    body.extend_from_slice(&frame[at + n..at + n + len]);
    body.extend_from_slice(prop);
    body.extend_from_slice(&frame[at + n + len..]);
    let mut out = BytesMut::with_capacity(body.len() + 5);
    out.extend_from_slice(&frame[..1]);
    put_varint(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

/// Where a QoS ≥ 1 PUBLISH's packet id sits in the frame.
fn pkid_at(frame: &[u8], header_len: usize) -> Option<usize> {
    let body = frame.get(header_len..)?;
    let at = header_len + 2 + u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    (frame[0] & 0x06 != 0 && at + 2 <= frame.len()).then_some(at)
}

/// A QoS ≥ 1 PUBLISH's packet id.
pub fn pkid_of(frame: &[u8], header_len: usize) -> Option<u16> {
    pkid_at(frame, header_len).map(|at| u16::from_be_bytes([frame[at], frame[at + 1]]))
}

/// A QoS ≥ 1 PUBLISH under packet id `pkid` (anything else as it was).
pub fn with_pkid(mut frame: BytesMut, header_len: usize, pkid: u16) -> BytesMut {
    if let Some(at) = pkid_at(&frame, header_len) {
        frame[at..at + 2].copy_from_slice(&pkid.to_be_bytes());
    }
    frame
}

/// An MQTT 5 SUBSCRIBE whose first filter's options lose the bits `clear`
/// (no local: 0x04, retain as published: 0x08, retain handling: 0x30).
pub fn subscribe_options_cleared(mut frame: BytesMut, header_len: usize, clear: u8) -> BytesMut {
    let at = (|| {
        let props = header_len + 2;
        let (len, n) = varint(frame.get(props..)?)?;
        let filter = props + n + len;
        let f_len = u16::from_be_bytes([*frame.get(filter)?, *frame.get(filter + 1)?]) as usize;
        let options = filter + 2 + f_len;
        (options < frame.len()).then_some(options)
    })();
    if let Some(at) = at {
        frame[at] &= !clear;
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{check_frame, Packet};
    use crate::mqtt::protocol::ProtocolVersion;

    #[test]
    fn a_qos0_publish_raised_to_qos1_keeps_topic_and_payload() {
        use crate::mqtt::codec::{decode, Publish};
        let publish = |qos: u8, pkid: u16, payload: Vec<u8>| Publish {
            dup: false,
            qos,
            retain: false,
            topic: bytes::Bytes::from_static(b"w/1"),
            pkid,
            props: bytes::Bytes::new(),
            payload: payload.into(),
        };
        // 121 bytes of remaining length: raised, it takes a second length byte.
        for size in [10, 116] {
            let mut b = BytesMut::new();
            Packet::Publish(publish(0, 0, vec![7; size])).encode(ProtocolVersion::V311, &mut b).unwrap();
            let h = check_frame(&b, 1024).unwrap().unwrap();
            let mut raised = raised_to_qos1(&b, h.header_len, 0xfff0);
            let got = decode(&mut raised, ProtocolVersion::V311, 1024).unwrap();
            assert_eq!(got, Some(Packet::Publish(publish(1, 0xfff0, vec![7; size]))));
        }
        // Anything but a QoS 0 PUBLISH passes as it was.
        let mut b = BytesMut::new();
        Packet::Publish(publish(1, 3, vec![1])).encode(ProtocolVersion::V311, &mut b).unwrap();
        assert_eq!(raised_to_qos1(&b, 2, 9), b);
    }

    #[test]
    fn an_mqtt5_publish_gets_an_expiry_and_an_alias() {
        use crate::mqtt::codec::{decode, props, Publish};
        let user = vec![("k".to_string(), "v".to_string())];
        let publish = |props: bytes::Bytes| Publish {
            dup: false,
            qos: 1,
            retain: false,
            topic: bytes::Bytes::from_static(b"w/1"),
            pkid: 9,
            props,
            payload: vec![5; 20].into(),
        };
        let mut b = BytesMut::new();
        let p = props::publish_properties(Some(10), None, &user).freeze();
        Packet::Publish(publish(p)).encode(ProtocolVersion::V5, &mut b).unwrap();
        let h = check_frame(&b, 1024).unwrap().unwrap();
        let mut expiring = with_expiry(b.clone(), h.header_len, 3600);
        let Some(Packet::Publish(got)) = decode(&mut expiring, ProtocolVersion::V5, 1024).unwrap() else { panic!() };
        assert_eq!((props::expiry_and_alias(&got.props), got.payload.len()), ((Some(3600), None), 20));
        let mut aliased = with_alias(&b, h.header_len, 1);
        let Some(Packet::Publish(got)) = decode(&mut aliased, ProtocolVersion::V5, 1024).unwrap() else { panic!() };
        assert_eq!(props::expiry_and_alias(&got.props), (Some(10), Some(1)));
        assert_eq!(props::user_properties(&got.props), Some(vec![("k", "v")]));
        assert_eq!((got.topic.as_ref(), got.pkid, got.payload.len()), (&b"w/1"[..], 9, 20));
    }

    #[test]
    fn padded_reused_lowered_and_subscribe_options_decode() {
        use crate::mqtt::codec::{decode, props, Publish};
        let publish = |qos: u8, pkid: u16| Publish {
            dup: qos > 0,
            qos,
            retain: true,
            topic: bytes::Bytes::from_static(b"w/1"),
            pkid,
            props: props::publish_properties(Some(10), None, &[]).freeze(),
            payload: vec![5; 20].into(),
        };
        let mut b = BytesMut::new();
        Packet::Publish(publish(2, 9)).encode(ProtocolVersion::V5, &mut b).unwrap();
        let h = check_frame(&b, 4096).unwrap().unwrap();
        let mut big = padded(&b, h.header_len, 2000);
        assert_eq!(big.len(), b.len() + 2000 + 2, "2,000 more, and a second byte to both lengths");
        let Some(Packet::Publish(got)) = decode(&mut big, ProtocolVersion::V5, 4096).unwrap() else { panic!() };
        assert_eq!((props::expiry_and_alias(&got.props), got.payload.len(), got.pkid), ((Some(10), None), 20, 9));
        assert_eq!(pkid_of(&b, h.header_len), Some(9));
        let mut other = with_pkid(b.clone(), h.header_len, 0x0102);
        let Some(Packet::Publish(got)) = decode(&mut other, ProtocolVersion::V5, 4096).unwrap() else { panic!() };
        assert_eq!(got, Publish { pkid: 0x0102, ..publish(2, 9) });
        let mut low = lowered_to_qos0(&b, h.header_len);
        let Some(Packet::Publish(got)) = decode(&mut low, ProtocolVersion::V5, 4096).unwrap() else { panic!() };
        assert_eq!(got, Publish { dup: false, ..publish(0, 0) });
        // SUBSCRIBE: pkid 1, no properties, "a/#", options QoS 1 | no local | retain handling 2.
        let sub = BytesMut::from(&[0x82, 9, 0, 1, 0, 0, 3, b'a', b'/', b'#', 0x25][..]);
        assert_eq!(subscribe_options_cleared(sub, 2, 0x30).last(), Some(&0x05));
    }
}
