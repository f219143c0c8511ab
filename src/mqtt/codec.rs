//! One packet model for both protocol versions, encoded and decoded over the
//! mqttbytes codecs. Decoding is check-then-parse: the fixed header says
//! whether a whole frame is buffered before anything is parsed, and nothing a
//! broker sends can panic the decoder (the few delegated parses run under
//! `catch_unwind`; a panic there is reported as a malformed packet).

use super::ProtocolVersion;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use mqttbytes::QoS;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Largest packet midge accepts from a broker unless told otherwise.
pub const DEFAULT_MAX_INCOMING: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    pub client_id: String,
    pub keep_alive_s: u16,
    pub clean_start: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    /// MQTT 5 only: 0 ends the session with the connection.
    pub session_expiry_s: Option<u32>,
    /// MQTT 5 only: how many QoS 1/2 publishes we accept in flight.
    pub receive_maximum: Option<u16>,
}

/// What the broker said in CONNACK (MQTT 5 properties where present).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAck {
    pub session_present: bool,
    /// Raw return code (3.1.1) or reason code (5).
    pub code: u8,
    pub max_packet_size: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub topic_alias_maximum: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<bool>,
    pub wildcard_available: Option<bool>,
    pub shared_available: Option<bool>,
    pub server_keep_alive: Option<u16>,
    pub assigned_client_id: Option<String>,
    pub reason_string: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: u8,
    pub retain: bool,
    /// The topic name's bytes (checked to be UTF-8 on decode; kept raw so a
    /// delivery costs no allocation).
    pub topic: Bytes,
    pub pkid: u16,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(ConnectOptions),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck { pkid: u16, reason: u8 },
    PubRec { pkid: u16, reason: u8 },
    PubRel { pkid: u16, reason: u8 },
    PubComp { pkid: u16, reason: u8 },
    Subscribe { pkid: u16, filters: Vec<(String, u8)> },
    SubAck { pkid: u16, codes: Vec<u8> },
    Unsubscribe { pkid: u16, filters: Vec<String> },
    UnsubAck { pkid: u16 },
    PingReq,
    PingResp,
    Disconnect { reason: u8 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("packet of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("malformed remaining length")]
    MalformedRemainingLength,
    #[error("invalid packet type {0}")]
    InvalidPacketType(u8),
    #[error("malformed {packet}: {detail}")]
    Malformed { packet: &'static str, detail: String },
    #[error("{0} is not a packet a server sends")]
    Unexpected(&'static str),
    #[error("cannot encode {packet}: {detail}")]
    Encode { packet: &'static str, detail: String },
}

/// The fixed header of a fully buffered frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub byte1: u8,
    pub header_len: usize,
    pub remaining_len: usize,
}

impl FrameHeader {
    pub fn packet_type(&self) -> u8 {
        self.byte1 >> 4
    }
    pub fn frame_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

pub fn packet_type_name(t: u8) -> &'static str {
    match t {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        15 => "AUTH",
        _ => "RESERVED",
    }
}

/// Checks whether `buf` starts with a whole frame. `Ok(None)`: read more.
pub fn check_frame(buf: &[u8], max: usize) -> Result<Option<FrameHeader>, CodecError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let mut remaining_len = 0usize;
    let mut shift = 0;
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        remaining_len |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 21 {
            return Err(CodecError::MalformedRemainingLength);
        }
    }
    let header = FrameHeader { byte1: buf[0], header_len: i, remaining_len };
    if header.packet_type() == 0 {
        return Err(CodecError::InvalidPacketType(0));
    }
    if header.frame_len() > max {
        return Err(CodecError::TooLarge { size: header.frame_len(), max });
    }
    if buf.len() < header.frame_len() {
        return Ok(None);
    }
    Ok(Some(header))
}

fn malformed(packet: &'static str, detail: impl Into<String>) -> CodecError {
    CodecError::Malformed { packet, detail: detail.into() }
}

fn lib_err(packet: &'static str, e: mqttbytes::Error) -> CodecError {
    malformed(packet, format!("{e:?}"))
}

/// Runs a parse delegated to mqttbytes so that a panic inside it becomes an error.
fn guarded<T>(packet: &'static str, f: impl FnOnce() -> Result<T, mqttbytes::Error>) -> Result<T, CodecError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| lib_err(packet, e)),
        Err(_) => Err(malformed(packet, "decoder panicked on this input")),
    }
}

fn read_variable_int(body: &mut Bytes, packet: &'static str) -> Result<usize, CodecError> {
    let mut value = 0usize;
    for shift in [0, 7, 14, 21] {
        if !body.has_remaining() {
            return Err(malformed(packet, "truncated variable byte integer"));
        }
        let b = body.get_u8();
        value |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(malformed(packet, "variable byte integer longer than 4 bytes"))
}

fn read_pkid(body: &mut Bytes, packet: &'static str) -> Result<u16, CodecError> {
    if body.remaining() < 2 {
        return Err(malformed(packet, "missing packet identifier"));
    }
    match body.get_u16() {
        0 => Err(malformed(packet, "packet identifier 0")),
        id => Ok(id),
    }
}

/// Decodes one packet from the front of `buf`, consuming it. `Ok(None)`: read more.
pub fn decode(buf: &mut BytesMut, protocol: ProtocolVersion, max: usize) -> Result<Option<Packet>, CodecError> {
    let Some(header) = check_frame(buf, max)? else {
        return Ok(None);
    };
    let t = header.packet_type();
    let name = packet_type_name(t);
    if t == 3 {
        let mut frame = buf.split_to(header.frame_len()).freeze();
        frame.advance(header.header_len);
        return decode_publish(header.byte1, frame, protocol == ProtocolVersion::V5).map(Some);
    }
    if t == 2 && protocol == ProtocolVersion::V5 {
        let mut frame = buf.split_to(header.frame_len());
        return decode_delegated(&mut frame, header, protocol, max).map(Some);
    }
    let mut frame = buf.split_to(header.frame_len()).freeze();
    frame.advance(header.header_len);
    let mut body = frame;
    let v5 = protocol == ProtocolVersion::V5;
    let ack_reason = |body: &mut Bytes| {
        if v5 && body.has_remaining() {
            body.get_u8()
        } else {
            0
        }
    };
    let packet = match t {
        2 => {
            if body.remaining() < 2 {
                return Err(malformed(name, "shorter than 2 bytes"));
            }
            let flags = body.get_u8();
            let code = body.get_u8();
            Packet::ConnAck(ConnAck { session_present: flags & 1 == 1, code, ..ConnAck::default() })
        }
        4 => {
            let pkid = read_pkid(&mut body, name)?;
            Packet::PubAck { pkid, reason: ack_reason(&mut body) }
        }
        5 => {
            let pkid = read_pkid(&mut body, name)?;
            Packet::PubRec { pkid, reason: ack_reason(&mut body) }
        }
        6 => {
            if header.byte1 & 0x0f != 0b0010 {
                return Err(malformed(name, "reserved flags must be 0010"));
            }
            let pkid = read_pkid(&mut body, name)?;
            Packet::PubRel { pkid, reason: ack_reason(&mut body) }
        }
        7 => {
            let pkid = read_pkid(&mut body, name)?;
            Packet::PubComp { pkid, reason: ack_reason(&mut body) }
        }
        9 => {
            let pkid = read_pkid(&mut body, name)?;
            if v5 {
                let props = read_variable_int(&mut body, name)?;
                if props > body.remaining() {
                    return Err(malformed(name, "properties longer than the packet"));
                }
                body.advance(props);
            }
            if !body.has_remaining() {
                return Err(malformed(name, "no return codes"));
            }
            Packet::SubAck { pkid, codes: body.to_vec() }
        }
        11 => Packet::UnsubAck { pkid: read_pkid(&mut body, name)? },
        12 => Packet::PingReq,
        13 => {
            if body.has_remaining() {
                return Err(malformed(name, "PINGRESP must be empty"));
            }
            Packet::PingResp
        }
        14 => Packet::Disconnect { reason: if body.has_remaining() { body.get_u8() } else { 0 } },
        1 | 8 | 10 => return Err(CodecError::Unexpected(name)),
        15 => return Err(CodecError::Unexpected(name)),
        other => return Err(CodecError::InvalidPacketType(other)),
    };
    Ok(Some(packet))
}

fn decode_delegated(
    frame: &mut BytesMut,
    header: FrameHeader,
    protocol: ProtocolVersion,
    max: usize,
) -> Result<Packet, CodecError> {
    let name = packet_type_name(header.packet_type());
    match protocol {
        ProtocolVersion::V311 => Err(malformed(name, "not delegated in MQTT 3.1.1")),
        ProtocolVersion::V5 => {
            let raw = frame.clone();
            match guarded(name, || mqttbytes::v5::read(frame, max)) {
                Ok(mqttbytes::v5::Packet::ConnAck(c)) => {
                    let p = c.properties.unwrap_or_else(mqttbytes::v5::ConnAckProperties::new);
                    Ok(Packet::ConnAck(ConnAck {
                        session_present: c.session_present,
                        code: c.code as u8,
                        max_packet_size: p.max_packet_size,
                        receive_maximum: p.receive_max,
                        topic_alias_maximum: p.topic_alias_max,
                        maximum_qos: p.max_qos,
                        retain_available: p.retain_available.map(|v| v != 0),
                        wildcard_available: p.wildcard_subscription_available.map(|v| v != 0),
                        shared_available: p.shared_subscription_available.map(|v| v != 0),
                        server_keep_alive: p.server_keep_alive,
                        assigned_client_id: p.assigned_client_identifier,
                        reason_string: p.reason_string,
                    }))
                }
                // A reason code mqttbytes does not know still tells us why we
                // were refused: keep the raw byte rather than fail the decode.
                Err(_) if header.packet_type() == 2 && header.remaining_len >= 2 => {
                    let body = &raw[header.header_len..];
                    Ok(Packet::ConnAck(ConnAck {
                        session_present: body[0] & 1 == 1,
                        code: body[1],
                        ..ConnAck::default()
                    }))
                }
                Err(e) => Err(e),
                Ok(_) => Err(malformed(name, "decoded as another packet type")),
            }
        }
    }
}

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

impl Packet {
    pub fn type_name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck { .. } => "PUBACK",
            Packet::PubRec { .. } => "PUBREC",
            Packet::PubRel { .. } => "PUBREL",
            Packet::PubComp { .. } => "PUBCOMP",
            Packet::Subscribe { .. } => "SUBSCRIBE",
            Packet::SubAck { .. } => "SUBACK",
            Packet::Unsubscribe { .. } => "UNSUBSCRIBE",
            Packet::UnsubAck { .. } => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect { .. } => "DISCONNECT",
        }
    }

    /// Appends the encoded packet to `buf`.
    pub fn encode(&self, protocol: ProtocolVersion, buf: &mut BytesMut) -> Result<(), CodecError> {
        let v5 = protocol == ProtocolVersion::V5;
        let name = self.type_name();
        let enc = |r: Result<usize, mqttbytes::Error>| {
            r.map(|_| ()).map_err(|e| CodecError::Encode { packet: name, detail: format!("{e:?}") })
        };
        match self {
            Packet::Connect(o) => {
                if v5 {
                    let mut c = mqttbytes::v5::Connect::new(o.client_id.clone());
                    c.keep_alive = o.keep_alive_s;
                    c.clean_session = o.clean_start;
                    if let Some(u) = &o.username {
                        c.set_login(u.clone(), o.password.clone().unwrap_or_default());
                    }
                    if o.session_expiry_s.is_some() || o.receive_maximum.is_some() {
                        c.properties = Some(mqttbytes::v5::ConnectProperties {
                            session_expiry_interval: o.session_expiry_s,
                            receive_maximum: o.receive_maximum,
                            max_packet_size: None,
                            topic_alias_max: None,
                            request_response_info: None,
                            request_problem_info: None,
                            user_properties: Vec::new(),
                            authentication_method: None,
                            authentication_data: None,
                        });
                    }
                    enc(c.write(buf))
                } else {
                    let mut c = mqttbytes::v4::Connect::new(o.client_id.clone());
                    c.keep_alive = o.keep_alive_s;
                    c.clean_session = o.clean_start;
                    if let Some(u) = &o.username {
                        c.set_login(u.clone(), o.password.clone().unwrap_or_default());
                    }
                    enc(c.write(buf))
                }
            }
            Packet::Publish(p) => {
                put_publish(buf, v5, p.dup, p.qos, p.retain, &p.topic, p.pkid, p.payload.len());
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
            Packet::Subscribe { pkid, filters } => {
                if v5 {
                    let mut s = mqttbytes::v5::Subscribe::new_many(
                        filters.iter().map(|(f, q)| mqttbytes::v5::SubscribeFilter::new(f.clone(), qos_of(*q))),
                    );
                    s.pkid = *pkid;
                    enc(s.write(buf))
                } else {
                    let mut s = mqttbytes::v4::Subscribe::new_many(
                        filters.iter().map(|(f, q)| mqttbytes::v4::SubscribeFilter::new(f.clone(), qos_of(*q))),
                    );
                    s.pkid = *pkid;
                    enc(s.write(buf))
                }
            }
            Packet::Unsubscribe { pkid, filters } => {
                let mut body = BytesMut::new();
                body.put_u16(*pkid);
                if v5 {
                    body.put_u8(0);
                }
                for f in filters {
                    body.put_u16(f.len() as u16);
                    body.put_slice(f.as_bytes());
                }
                put_frame(buf, 0xA2, &body);
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
                let mut body = BytesMut::new();
                body.put_u16(*pkid);
                if v5 {
                    body.put_u8(0);
                }
                body.put_slice(codes);
                put_frame(buf, 0x90, &body);
                Ok(())
            }
            Packet::UnsubAck { pkid } => {
                put_ack(buf, 0xB0, *pkid, 0, false);
                Ok(())
            }
        }
    }
}

/// Parses a PUBLISH body (after the fixed header) without allocating.
fn decode_publish(byte1: u8, mut body: Bytes, v5: bool) -> Result<Packet, CodecError> {
    let name = "PUBLISH";
    let qos = (byte1 >> 1) & 0b11;
    if qos == 3 {
        return Err(malformed(name, "QoS 3"));
    }
    if body.remaining() < 2 {
        return Err(malformed(name, "no topic length"));
    }
    let topic_len = body.get_u16() as usize;
    if topic_len > body.remaining() {
        return Err(malformed(name, "topic longer than the packet"));
    }
    let topic = body.split_to(topic_len);
    if std::str::from_utf8(&topic).is_err() {
        return Err(malformed(name, "topic is not UTF-8"));
    }
    let pkid = if qos > 0 { read_pkid(&mut body, name)? } else { 0 };
    if v5 {
        let props = read_variable_int(&mut body, name)?;
        if props > body.remaining() {
            return Err(malformed(name, "properties longer than the packet"));
        }
        body.advance(props);
    }
    Ok(Packet::Publish(Publish { dup: byte1 & 0b1000 != 0, qos, retain: byte1 & 1 != 0, topic, pkid, payload: body }))
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
    payload_len: usize,
) {
    let remaining = 2 + topic.len() + if qos > 0 { 2 } else { 0 } + usize::from(v5) + payload_len;
    buf.reserve(5 + remaining);
    buf.put_u8(0x30 | (u8::from(dup) << 3) | ((qos & 3) << 1) | u8::from(retain));
    put_remaining_length(buf, remaining);
    buf.put_u16(topic.len() as u16);
    buf.put_slice(topic);
    if qos > 0 {
        buf.put_u16(pkid);
    }
    if v5 {
        buf.put_u8(0); // no properties
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
mod tests {
    use super::*;
    use ProtocolVersion::*;

    fn round_trip(p: Packet, v: ProtocolVersion) -> Packet {
        let mut b = BytesMut::new();
        p.encode(v, &mut b).unwrap();
        let out = decode(&mut b, v, DEFAULT_MAX_INCOMING).unwrap().unwrap();
        assert!(b.is_empty());
        out
    }

    #[test]
    fn acks_and_publish_round_trip_in_both_versions() {
        for v in [V311, V5] {
            for p in [
                Packet::PubAck { pkid: 7, reason: 0 },
                Packet::PubRec { pkid: 65535, reason: 0 },
                Packet::PubRel { pkid: 1, reason: 0 },
                Packet::PubComp { pkid: 2, reason: 0 },
                Packet::UnsubAck { pkid: 3 },
                Packet::PingResp,
                Packet::SubAck { pkid: 9, codes: vec![1, 0x80] },
                Packet::Publish(Publish {
                    dup: true,
                    qos: 1,
                    retain: false,
                    topic: Bytes::from_static(b"a/b"),
                    pkid: 12,
                    payload: Bytes::from_static(b"hello"),
                }),
            ] {
                assert_eq!(round_trip(p.clone(), v), p);
            }
        }
        assert_eq!(round_trip(Packet::Disconnect { reason: 0x8E }, V5), Packet::Disconnect { reason: 0x8E });
        assert_eq!(round_trip(Packet::PubAck { pkid: 3, reason: 0x10 }, V5), Packet::PubAck { pkid: 3, reason: 0x10 });
    }

    #[test]
    fn connack_codes_are_kept_raw() {
        let mut b = BytesMut::from(&[0x20, 2, 0, 5][..]);
        match decode(&mut b, V311, 1024).unwrap().unwrap() {
            Packet::ConnAck(c) => assert_eq!(c.code, 5),
            p => panic!("{p:?}"),
        }
        // An MQTT 5 reason code mqttbytes does not know (0x8C bad auth method is known; 0x8D is not valid in CONNACK).
        let mut b = BytesMut::from(&[0x20, 3, 0, 0x8D, 0][..]);
        match decode(&mut b, V5, 1024).unwrap().unwrap() {
            Packet::ConnAck(c) => assert_eq!(c.code, 0x8D),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let mut full = BytesMut::new();
        Packet::PubAck { pkid: 1, reason: 0 }.encode(V311, &mut full).unwrap();
        for cut in 0..full.len() {
            let mut b = BytesMut::from(&full[..cut]);
            assert_eq!(decode(&mut b, V311, 1024).unwrap(), None);
            assert_eq!(b.len(), cut);
        }
    }

    #[test]
    fn garbage_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..40);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if !bytes.is_empty() && rng.gen_bool(0.5) {
                bytes[0] = (rng.gen_range(1..16u8) << 4) | (bytes[0] & 0x0f);
            }
            for v in [V311, V5] {
                let mut b = BytesMut::from(&bytes[..]);
                while let Ok(Some(_)) = decode(&mut b, v, 1 << 20) {}
            }
        }
    }

    #[test]
    fn oversize_and_bad_length_are_errors() {
        let mut b = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0x7f][..]);
        assert!(matches!(decode(&mut b, V311, 1024), Err(CodecError::TooLarge { .. })));
        let mut b = BytesMut::from(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01][..]);
        assert_eq!(decode(&mut b, V311, 1 << 30), Err(CodecError::MalformedRemainingLength));
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
            put_publish(&mut ours, false, false, qos, false, topic.as_bytes(), 7, payload);
            ours.put_slice(&body);
            let mut theirs = BytesMut::new();
            let mut p = mqttbytes::v4::Publish::new(topic, qos_of(qos), body.clone());
            p.pkid = 7;
            p.write(&mut theirs).unwrap();
            assert_eq!(&ours[..], &theirs[..], "{topic} qos {qos} payload {payload}");
        }
    }
}
