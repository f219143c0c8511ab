//! One packet model for both protocol versions, encoded and decoded over the
//! mqttbytes codecs. Decoding is check-then-parse: the fixed header says
//! whether a whole frame is buffered before anything is parsed, and nothing a
//! broker sends can panic the decoder (the few delegated parses run under
//! `catch_unwind`; a panic there is reported as a malformed packet).
//!
//! What a bad packet costs: it ends the connection with cause
//! `malformed_packet_from_broker`; a well-formed packet a server must not send
//! is refused by `client::session::Session::handle` with
//! `protocol_error_from_broker`.

mod decode;
mod encode;
mod packet;
pub mod props;

pub use decode::decode;
pub use encode::{publish_size, put_frame, put_publish, put_remaining_length};
pub use packet::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::protocol::ProtocolVersion::{self, *};
    use bytes::{Bytes, BytesMut};

    fn round_trip(p: Packet, v: ProtocolVersion) -> Packet {
        let mut b = BytesMut::new();
        p.encode(v, &mut b).unwrap();
        let out = decode(&mut b, v, DEFAULT_MAX_INCOMING).unwrap().unwrap();
        assert!(b.is_empty());
        out
    }

    /// SUBSCRIBE carries the options byte as given on MQTT 5 (QoS 1, No
    /// Local, Retain As Published, Retain Handling 2: 0x2D) and only its
    /// QoS bits on 3.1.1; CONNECT carries Receive Maximum and Maximum
    /// Packet Size as properties on MQTT 5, as mqttbytes reads them back.
    #[test]
    fn subscription_options_and_connect_limits_on_the_wire() {
        let sub = Packet::Subscribe { pkid: 1, filters: vec![("a".into(), 0x2D)] };
        let mut b = BytesMut::new();
        sub.encode(V5, &mut b).unwrap();
        assert_eq!(&b[..], &[0x82, 7, 0, 1, 0, 0, 1, b'a', 0x2D]);
        b.clear();
        sub.encode(V311, &mut b).unwrap();
        assert_eq!(&b[..], &[0x82, 6, 0, 1, 0, 1, b'a', 0x01]);
        let connect = ConnectOptions {
            client_id: "c".into(),
            keep_alive_s: 5,
            clean_start: true,
            receive_maximum: Some(5),
            maximum_packet_size: Some(1024),
            ..Default::default()
        };
        b.clear();
        Packet::Connect(connect).encode(V5, &mut b).unwrap();
        let Ok(mqttbytes::v5::Packet::Connect(c)) = mqttbytes::v5::read(&mut b, 1 << 20) else { panic!("a CONNECT") };
        let props = c.properties.expect("properties");
        assert_eq!((props.receive_maximum, props.max_packet_size), (Some(5), Some(1024)));
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
                    props: if v == V5 { Bytes::from_static(&[0x02, 0, 0, 0, 9]) } else { Bytes::new() },
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
