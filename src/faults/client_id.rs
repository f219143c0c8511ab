//! The client id a connection through the fault proxy belongs to: read
//! from its CONNECT, on MQTT framing or inside the first WebSocket frame.

use crate::mqtt::codec::check_frame;
use bytes::Buf;

const MAX_FRAME: usize = 256 * 1024 * 1024;

/// The client id of the CONNECT in the first WebSocket frame after the
/// client's opening handshake (HTTP request), once that much has been seen.
pub(super) fn ws_connect_client_id(seen: &[u8]) -> Option<String> {
    let body = seen.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let frame = seen.get(body..)?;
    let (b1, mut at) = (*frame.get(1)?, 2usize);
    let len = match b1 & 0x7f {
        126 => {
            at += 2;
            u16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]) as usize
        }
        127 => {
            at += 8;
            u64::from_be_bytes(frame.get(2..10)?.try_into().ok()?) as usize
        }
        n => n as usize,
    };
    let mask = match b1 & 0x80 {
        0 => [0u8; 4],
        _ => {
            at += 4;
            frame.get(at - 4..at)?.try_into().ok()?
        }
    };
    let payload: Vec<u8> =
        frame.get(at..at.checked_add(len)?)?.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    let header = check_frame(&payload, MAX_FRAME).ok()??;
    if header.packet_type() != 1 {
        return Some(String::new());
    }
    Some(connect_client_id(payload.get(header.header_len..header.frame_len())?).unwrap_or_default())
}

/// The client id in a CONNECT body (variable header + payload), either version.
pub(super) fn connect_client_id(body: &[u8]) -> Option<String> {
    let mut b = body;
    let name_len = b.get(..2).map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)?;
    b = b.get(2 + name_len..)?;
    let level = *b.first()?;
    b = b.get(4..)?; // level, flags, keepalive
    if level == 5 {
        // Properties: a variable byte integer length, then the properties.
        let mut len = 0usize;
        let mut i = 0;
        loop {
            let byte = *b.get(i)?;
            len |= ((byte & 0x7f) as usize) << (7 * i);
            i += 1;
            if byte & 0x80 == 0 || i == 4 {
                break;
            }
        }
        b = b.get(i + len..)?;
    }
    let id_len = b.get(..2).map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)?;
    let mut id = b.get(2..2 + id_len)?;
    let s = String::from_utf8(id.copy_to_bytes(id_len).to_vec()).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{ConnectOptions, Packet};
    use crate::mqtt::protocol::ProtocolVersion;
    use bytes::BytesMut;

    #[test]
    fn reads_the_client_id_of_both_versions() {
        for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
            let mut b = BytesMut::new();
            Packet::Connect(ConnectOptions {
                client_id: "sub-7".into(),
                keep_alive_s: 30,
                clean_start: true,
                session_expiry_s: Some(10),
                ..Default::default()
            })
            .encode(v, &mut b)
            .unwrap();
            let h = check_frame(&b, 1024).unwrap().unwrap();
            assert_eq!(connect_client_id(&b[h.header_len..]).as_deref(), Some("sub-7"));
        }
    }

    /// The opening request, then a masked binary frame carrying CONNECT, as
    /// a ws:// client sends them; the id is found only once all of it is in.
    #[test]
    fn finds_the_client_id_inside_the_first_websocket_frame() {
        for id in ["web-1".to_string(), "x".repeat(200)] {
            let mut connect = BytesMut::new();
            Packet::Connect(ConnectOptions {
                client_id: id.clone(),
                keep_alive_s: 30,
                clean_start: true,
                ..Default::default()
            })
            .encode(ProtocolVersion::V311, &mut connect)
            .unwrap();
            let mut seen = b"GET /mqtt HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n".to_vec();
            assert_eq!(ws_connect_client_id(&seen), None, "no frame yet");
            let mask = [0x11u8, 0x22, 0x33, 0x44];
            seen.push(0x82);
            match connect.len() {
                n if n < 126 => seen.push(0x80 | n as u8),
                n => {
                    seen.push(0x80 | 126);
                    seen.extend_from_slice(&(n as u16).to_be_bytes());
                }
            }
            seen.extend_from_slice(&mask);
            seen.extend(connect.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            assert_eq!(ws_connect_client_id(&seen[..seen.len() - 1]), None, "half a frame");
            assert_eq!(ws_connect_client_id(&seen), Some(id));
        }
    }
}
