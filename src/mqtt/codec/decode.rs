//! Decoding: check-then-parse, PUBLISH without allocating, the rest by
//! hand or (MQTT 5 CONNACK) delegated to mqttbytes under `catch_unwind`.

use super::packet::{check_frame, packet_type_name, CodecError, ConnAck, FrameHeader, Packet, Publish};
use crate::mqtt::protocol::ProtocolVersion;
use bytes::{Buf, Bytes, BytesMut};
use std::panic::{catch_unwind, AssertUnwindSafe};

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
    decode_control(header, frame, protocol == ProtocolVersion::V5).map(Some)
}

/// Decodes a packet other than PUBLISH (and MQTT 5 CONNACK) from its body.
fn decode_control(header: FrameHeader, mut body: Bytes, v5: bool) -> Result<Packet, CodecError> {
    let t = header.packet_type();
    let name = packet_type_name(t);
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
    Ok(packet)
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
    let props = match v5 {
        true => {
            let len = read_variable_int(&mut body, name)?;
            if len > body.remaining() {
                return Err(malformed(name, "properties longer than the packet"));
            }
            body.split_to(len)
        }
        false => Bytes::new(),
    };
    Ok(Packet::Publish(Publish {
        dup: byte1 & 0b1000 != 0,
        qos,
        retain: byte1 & 1 != 0,
        topic,
        pkid,
        props,
        payload: body,
    }))
}
