//! Encoding: `Packet::encode` for everything midge sends (and the server
//! packets the tests and hostile peers need), plus the hand-written PUBLISH
//! and framing helpers the hot path uses directly.

use super::packet::{CodecError, ConnectOptions, Packet};
use crate::mqtt::protocol::ProtocolVersion;
use bytes::{BufMut, BytesMut};
use mqttbytes::QoS;

fn qos_of(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

fn put_ack(buf: &mut BytesMut, byte1: u8, pkid: u16, reason: u8, v5: bool) {
    if v5 && reason != 0 {
        buf.put_slice(&[byte1, 3]);
        buf.put_u16(pkid);
        buf.put_u8(reason);
    } else {
        buf.put_slice(&[byte1, 2]);
        buf.put_u16(pkid);
    }
}

/// An mqttbytes write's result, its error named after the packet.
fn encoded(packet: &'static str, r: Result<usize, mqttbytes::Error>) -> Result<(), CodecError> {
    r.map(|_| ()).map_err(|e| CodecError::Encode { packet, detail: format!("{e:?}") })
}

impl Packet {
    /// Appends the encoded packet to `buf`.
    pub fn encode(&self, protocol: ProtocolVersion, buf: &mut BytesMut) -> Result<(), CodecError> {
        let v5 = protocol == ProtocolVersion::V5;
        match self {
            Packet::Connect(o) => encode_connect(o, v5, buf),
            Packet::Publish(p) => {
                put_publish(buf, v5, p.dup, p.qos, p.retain, &p.topic, p.pkid, &p.props, p.payload.len());
                buf.put_slice(&p.payload);
                Ok(())
            }
            Packet::PubAck { pkid, reason } => {
                put_ack(buf, 0x40, *pkid, *reason, v5);
                Ok(())
            }
            Packet::PubRec { pkid, reason } => {
                put_ack(buf, 0x50, *pkid, *reason, v5);
                Ok(())
            }
            Packet::PubRel { pkid, reason } => {
                put_ack(buf, 0x62, *pkid, *reason, v5);
                Ok(())
            }
            Packet::PubComp { pkid, reason } => {
                put_ack(buf, 0x70, *pkid, *reason, v5);
                Ok(())
            }
            Packet::Subscribe { pkid, filters } => encode_subscribe(*pkid, filters, v5, buf),
            Packet::Unsubscribe { pkid, filters } => {
                encode_unsubscribe(*pkid, filters, v5, buf);
                Ok(())
            }
            Packet::PingReq => {
                buf.put_slice(&[0xC0, 0]);
                Ok(())
            }
            Packet::PingResp => {
                buf.put_slice(&[0xD0, 0]);
                Ok(())
            }
            Packet::Disconnect { reason } => {
                if v5 && *reason != 0 {
                    buf.put_slice(&[0xE0, 1, *reason]);
                } else {
                    buf.put_slice(&[0xE0, 0]);
                }
                Ok(())
            }
            Packet::ConnAck(c) => {
                buf.put_slice(&[0x20, if v5 { 3 } else { 2 }, c.session_present as u8, c.code]);
                if v5 {
                    buf.put_u8(0);
                }
                Ok(())
            }
            Packet::SubAck { pkid, codes } => {
                encode_suback(*pkid, codes, v5, buf);
                Ok(())
            }
            Packet::UnsubAck { pkid } => {
                put_ack(buf, 0xB0, *pkid, 0, false);
                Ok(())
            }
        }
    }
}

/// CONNECT, over mqttbytes (MQTT 5: session expiry, receive maximum and
/// maximum packet size as properties).
fn encode_connect(o: &ConnectOptions, v5: bool, buf: &mut BytesMut) -> Result<(), CodecError> {
    let name = "CONNECT";
    if v5 {
        let mut c = mqttbytes::v5::Connect::new(o.client_id.clone());
        c.keep_alive = o.keep_alive_s;
        c.clean_session = o.clean_start;
        if let Some(u) = &o.username {
            c.set_login(u.clone(), o.password.clone().unwrap_or_default());
        }
        c.last_will = o.will.as_ref().map(|w| mqttbytes::v5::LastWill {
            topic: w.topic.clone(),
            message: w.payload.clone().into(),
            qos: qos_of(w.qos),
            retain: w.retain,
            properties: w.delay_s.map(|d| mqttbytes::v5::WillProperties {
                delay_interval: Some(d),
                payload_format_indicator: None,
                message_expiry_interval: None,
                content_type: None,
                response_topic: None,
                correlation_data: None,
                user_properties: Vec::new(),
            }),
        });
        if o.session_expiry_s.is_some() || o.receive_maximum.is_some() || o.maximum_packet_size.is_some() {
            c.properties = Some(mqttbytes::v5::ConnectProperties {
                session_expiry_interval: o.session_expiry_s,
                receive_maximum: o.receive_maximum,
                max_packet_size: o.maximum_packet_size,
                topic_alias_max: None,
                request_response_info: None,
                request_problem_info: None,
                user_properties: Vec::new(),
                authentication_method: None,
                authentication_data: None,
            });
        }
        encoded(name, c.write(buf))
    } else {
        let mut c = mqttbytes::v4::Connect::new(o.client_id.clone());
        c.keep_alive = o.keep_alive_s;
        c.clean_session = o.clean_start;
        c.last_will = o
            .will
            .as_ref()
            .map(|w| mqttbytes::v4::LastWill::new(w.topic.clone(), w.payload.clone(), qos_of(w.qos), w.retain));
        if let Some(u) = &o.username {
            c.set_login(u.clone(), o.password.clone().unwrap_or_default());
        }
        encoded(name, c.write(buf))
    }
}

/// One filter of an MQTT 5 SUBSCRIBE from its options byte (see `Packet::Subscribe`).
fn v5_filter(filter: &str, options: u8) -> mqttbytes::v5::SubscribeFilter {
    let mut f = mqttbytes::v5::SubscribeFilter::new(filter.to_string(), qos_of(options & 0b11));
    f.nolocal = options & 0b100 != 0;
    f.preserve_retain = options & 0b1000 != 0;
    f.retain_forward_rule = match (options >> 4) & 0b11 {
        0 => mqttbytes::v5::RetainForwardRule::OnEverySubscribe,
        1 => mqttbytes::v5::RetainForwardRule::OnNewSubscribe,
        _ => mqttbytes::v5::RetainForwardRule::Never,
    };
    f
}

/// SUBSCRIBE, over mqttbytes (3.1.1: the QoS bits of each options byte only).
fn encode_subscribe(pkid: u16, filters: &[(String, u8)], v5: bool, buf: &mut BytesMut) -> Result<(), CodecError> {
    let name = "SUBSCRIBE";
    if v5 {
        let mut s = mqttbytes::v5::Subscribe::new_many(filters.iter().map(|(f, o)| v5_filter(f, *o)));
        s.pkid = pkid;
        encoded(name, s.write(buf))
    } else {
        let mut s = mqttbytes::v4::Subscribe::new_many(
            filters.iter().map(|(f, o)| mqttbytes::v4::SubscribeFilter::new(f.clone(), qos_of(*o & 0b11))),
        );
        s.pkid = pkid;
        encoded(name, s.write(buf))
    }
}

fn encode_unsubscribe(pkid: u16, filters: &[String], v5: bool, buf: &mut BytesMut) {
    let mut body = BytesMut::new();
    body.put_u16(pkid);
    if v5 {
        body.put_u8(0);
    }
    for f in filters {
        body.put_u16(f.len() as u16);
        body.put_slice(f.as_bytes());
    }
    put_frame(buf, 0xA2, &body);
}

fn encode_suback(pkid: u16, codes: &[u8], v5: bool, buf: &mut BytesMut) {
    let mut body = BytesMut::new();
    body.put_u16(pkid);
    if v5 {
        body.put_u8(0);
    }
    body.put_slice(codes);
    put_frame(buf, 0x90, &body);
}

/// Writes a PUBLISH up to (not including) its payload of `payload_len`
/// bytes, which the caller appends: the hot path writes the tracking header
/// straight into the connection's buffer.
#[allow(clippy::too_many_arguments)]
pub fn put_publish(
    buf: &mut BytesMut,
    v5: bool,
    dup: bool,
    qos: u8,
    retain: bool,
    topic: &[u8],
    pkid: u16,
    props: &[u8],
    payload_len: usize,
) {
    let props_len = if v5 { var_int_len(props.len()) + props.len() } else { 0 };
    let remaining = 2 + topic.len() + if qos > 0 { 2 } else { 0 } + props_len + payload_len;
    buf.reserve(5 + remaining);
    buf.put_u8(0x30 | (u8::from(dup) << 3) | ((qos & 3) << 1) | u8::from(retain));
    put_remaining_length(buf, remaining);
    buf.put_u16(topic.len() as u16);
    buf.put_slice(topic);
    if qos > 0 {
        buf.put_u16(pkid);
    }
    if v5 {
        put_remaining_length(buf, props.len());
        buf.put_slice(props);
    }
}

/// The whole size (bytes, fixed header included) of the PUBLISH
/// `put_publish` writes for these lengths: what MQTT 5's Maximum Packet
/// Size is compared with.
pub fn publish_size(v5: bool, qos: u8, topic_len: usize, props_len: usize, payload_len: usize) -> usize {
    let props = if v5 { var_int_len(props_len) + props_len } else { 0 };
    let remaining = 2 + topic_len + if qos > 0 { 2 } else { 0 } + props + payload_len;
    1 + var_int_len(remaining) + remaining
}

/// Bytes a variable byte integer takes.
fn var_int_len(n: usize) -> usize {
    match n {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a fixed header with the remaining length, then the body.
pub fn put_frame(buf: &mut BytesMut, byte1: u8, body: &[u8]) {
    buf.put_u8(byte1);
    put_remaining_length(buf, body.len());
    buf.put_slice(body);
}

pub fn put_remaining_length(buf: &mut BytesMut, mut len: usize) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        buf.put_u8(b);
        if len == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod publish_encoding_tests {
    use super::*;

    /// The hand-written PUBLISH encoder agrees with mqttbytes, byte for byte.
    #[test]
    fn put_publish_matches_mqttbytes() {
        for (topic, qos, payload) in
            [("a", 0u8, 10usize), ("fleet/sensor-abcdefghij/telemetry", 1, 128), ("t", 1, 20000)]
        {
            let body = vec![b'.'; payload];
            let mut ours = BytesMut::new();
            put_publish(&mut ours, false, false, qos, false, topic.as_bytes(), 7, &[], payload);
            ours.put_slice(&body);
            let mut theirs = BytesMut::new();
            let mut p = mqttbytes::v4::Publish::new(topic, qos_of(qos), body.clone());
            p.pkid = 7;
            p.write(&mut theirs).unwrap();
            assert_eq!(&ours[..], &theirs[..], "{topic} qos {qos} payload {payload}");
            assert_eq!(publish_size(false, qos, topic.len(), 0, payload), ours.len());
        }
    }

    /// `publish_size` is what `put_publish` writes, MQTT 5 properties and
    /// a two-byte remaining length included: 1 + 2 + (2 + 1 + 2 + 1 + 5 + 120).
    #[test]
    fn publish_size_is_the_written_size() {
        let props = super::super::props::publish_properties(Some(60), None, &[]);
        let mut b = BytesMut::new();
        put_publish(&mut b, true, false, 1, false, b"t", 9, &props, 120);
        assert_eq!(b.len() + 120, 134);
        assert_eq!(publish_size(true, 1, 1, props.len(), 120), 134);
        assert_eq!(publish_size(true, 0, 1, props.len(), 120), 132);
    }
}
