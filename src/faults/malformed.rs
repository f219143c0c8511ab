//! The bad packets of the `malformed` fault, as raw bytes: what no encoder
//! would produce, sent on purpose to see how the broker reacts.

use crate::mqtt::codec::{put_frame, ConnectOptions, Packet};
use crate::scenario::{MalformedPacket, ProtocolVersion};
use bytes::{BufMut, BytesMut};

/// A QoS 0 or 1 PUBLISH with any topic (wildcards included) and payload size.
fn publish(protocol: ProtocolVersion, topic: &str, qos: u8, pkid: u16, payload: usize) -> Vec<u8> {
    let mut body = BytesMut::with_capacity(topic.len() + payload + 8);
    body.put_u16(topic.len() as u16);
    body.put_slice(topic.as_bytes());
    if qos > 0 {
        body.put_u16(pkid);
    }
    if protocol == ProtocolVersion::V5 {
        body.put_u8(0); // no properties
    }
    body.put_bytes(b'!', payload);
    let mut out = BytesMut::new();
    put_frame(&mut out, 0x30 | (qos << 1), &body);
    out.to_vec()
}

/// The packets to write, in order. `pkids` supplies packet ids for QoS 1
/// publishes; `receive_maximum` is what the broker announced (if it did).
pub fn packets(
    kind: MalformedPacket,
    protocol: ProtocolVersion,
    connect: &ConnectOptions,
    size: usize,
    count: u64,
    receive_maximum: Option<u16>,
    mut pkids: impl FnMut() -> u16,
) -> Vec<Vec<u8>> {
    match kind {
        MalformedPacket::WildcardTopic => vec![publish(protocol, "midge/+/wildcard", 0, 0, 8)],
        MalformedPacket::Oversize => vec![publish(protocol, "midge/oversize", 0, 0, size)],
        MalformedPacket::ReceiveMaximum => {
            let n = receive_maximum.map_or(count.max(1), |m| m as u64 + count.max(1));
            (0..n).map(|_| publish(protocol, "midge/receive-maximum", 1, pkids(), 8)).collect()
        }
        MalformedPacket::BadRemainingLength => vec![vec![0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]],
        MalformedPacket::SecondConnect => {
            let mut b = BytesMut::new();
            // Encoding a CONNECT cannot fail for options midge built itself.
            let _ = Packet::Connect(connect.clone()).encode(protocol, &mut b);
            vec![b.to_vec()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{check_frame, decode, CodecError};

    fn opts() -> ConnectOptions {
        ConnectOptions {
            client_id: "c".into(),
            keep_alive_s: 5,
            clean_start: true,
            username: None,
            password: None,
            session_expiry_s: None,
            receive_maximum: None,
        }
    }

    #[test]
    fn each_bad_packet_is_what_it_says() {
        for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
            let mut next = 100u16;
            let wild = packets(MalformedPacket::WildcardTopic, v, &opts(), 0, 1, None, || 1);
            let mut b = BytesMut::from(&wild[0][..]);
            match decode(&mut b, v, 1 << 20).unwrap().unwrap() {
                Packet::Publish(p) => assert_eq!(p.topic, "midge/+/wildcard"),
                p => panic!("{p:?}"),
            }
            let big = packets(MalformedPacket::Oversize, v, &opts(), 5000, 1, None, || 1);
            assert!(big[0].len() > 5000);
            assert!(matches!(check_frame(&big[0], 4096), Err(CodecError::TooLarge { .. })));
            let many = packets(MalformedPacket::ReceiveMaximum, v, &opts(), 0, 1, Some(20), || {
                next += 1;
                next
            });
            assert_eq!(many.len(), 21);
            let bad = packets(MalformedPacket::BadRemainingLength, v, &opts(), 0, 1, None, || 1);
            assert_eq!(check_frame(&bad[0], 1 << 30), Err(CodecError::MalformedRemainingLength));
            let again = packets(MalformedPacket::SecondConnect, v, &opts(), 0, 1, None, || 1);
            assert_eq!(again[0][0] >> 4, 1);
        }
    }
}
