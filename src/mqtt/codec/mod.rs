//! One packet model for both protocol versions, encoded and decoded over the
//! mqttbytes codecs. Decoding is check-then-parse: the fixed header says
//! whether a whole frame is buffered before anything is parsed, and nothing a
//! broker sends can panic the decoder (the few delegated parses run under
//! `catch_unwind`; a panic there is reported as a malformed packet).

mod decode;
mod encode;

pub use decode::decode;
pub use encode::{put_frame, put_publish, put_remaining_length};

use bytes::Bytes;

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::ProtocolVersion::{self, *};
    use bytes::BytesMut;

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
