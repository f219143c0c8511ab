//! The packet model both protocol versions share, and framing: whether a
//! buffer holds a whole packet yet, checked before anything is parsed.

use bytes::Bytes;

/// Largest packet midge accepts from a broker unless told otherwise.
pub const DEFAULT_MAX_INCOMING: usize = 16 * 1024 * 1024;

/// Debug shows no password: options end up in error messages and logs.
#[derive(Clone, Default, PartialEq, Eq)]
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
    /// MQTT 5 only: the largest packet (bytes) we accept from the server.
    pub maximum_packet_size: Option<u32>,
    /// The last will the broker publishes if the connection ends without DISCONNECT.
    pub will: Option<Will>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("client_id", &self.client_id)
            .field("keep_alive_s", &self.keep_alive_s)
            .field("clean_start", &self.clean_start)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("session_expiry_s", &self.session_expiry_s)
            .field("receive_maximum", &self.receive_maximum)
            .field("maximum_packet_size", &self.maximum_packet_size)
            .field("will", &self.will)
            .finish()
    }
}

/// A last will as CONNECT carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// MQTT 5 Will Delay Interval, seconds.
    pub delay_s: Option<u32>,
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
    /// MQTT 5: the properties as they were on the wire (empty on 3.1.1).
    pub props: Bytes,
    pub payload: Bytes,
}

/// SUBSCRIBE's `filters`: each with its subscription options byte — the
/// QoS in bits 0-1; MQTT 5's No Local (bit 2), Retain As Published (bit 3)
/// and Retain Handling (bits 4-5) above it (not sent on 3.1.1).
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
