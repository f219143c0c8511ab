//! The fault schedule's orders to running clients (`kill`, `malformed`),
//! and the bad packets of `malformed` as raw bytes: what no encoder would
//! produce, sent on purpose to see how the broker reacts.
//!
//! The orders travel on one `watch` channel that keeps the latest value, and
//! a client reads it when it wakes (the schedule touches the phase channel
//! after each order). So every order carries every kill so far: an order
//! that replaces one a client has not read yet loses no kill. A `malformed`
//! order is carried once per order value; a later kill order carries none.
//! The order lives here, below `faults`, so the client never imports the
//! fault schedule (which imports the client).
//!
//! A killed client ends its connection with `Cause::FaultInjected`, no
//! DISCONNECT (a connection made after the kill is spared: `ClientOrder::kills`
//! compares the kill's time with the connection's), then follows its
//! reconnect policy.

use crate::mqtt::codec::{put_frame, ConnectOptions, Packet};
use crate::mqtt::connection::Connection;
use crate::mqtt::handshake::connection_cause;
use crate::mqtt::protocol::ProtocolVersion;
use crate::record::vocab::Cause;
use crate::scenario::MalformedPacket;
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

/// A client killed by a `kill` fault: no DISCONNECT, its socket just closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    pub client: u32,
    /// Run-clock µs of the kill: a connection that came up later survives it.
    pub at_us: u64,
}

/// Chosen clients send a bad packet now (the `malformed` fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedOrder {
    /// Sorted client indices.
    pub targets: Vec<u32>,
    pub packet: MalformedPacket,
    /// An oversize packet's payload bytes.
    pub size: usize,
    /// Receive-maximum: how many PUBLISH beyond the broker's maximum.
    pub count: u64,
}

/// What the fault schedule orders the clients to do; every client watches
/// for it and carries out what names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOrder {
    /// Every `kill` fault so far.
    pub kills: Vec<Kill>,
    /// The latest `malformed` fault, if this order is one.
    pub malformed: Option<MalformedOrder>,
}

impl ClientOrder {
    /// Whether a kill hits `client`'s connection that came up at `connected_us`.
    pub fn kills(&self, client: u32, connected_us: u64) -> bool {
        self.kills.iter().any(|k| k.client == client && connected_us <= k.at_us)
    }

    /// The bad packets `client` is to send, if the order names it.
    pub fn malformed_for(&self, client: u32) -> Option<&MalformedOrder> {
        self.malformed.as_ref().filter(|m| m.targets.binary_search(&client).is_ok())
    }
}

/// Writes the order's bad packets on a client's connection. `connect` is
/// the client's own CONNECT (for a second one); `receive_maximum` what the
/// broker announced.
pub async fn carry_out(
    conn: &mut Connection,
    order: &MalformedOrder,
    connect: &ConnectOptions,
    receive_maximum: Option<u16>,
) -> Result<(), Cause> {
    // Ids no outbound publish of ours uses (the broker's acks for them count as unsolicited).
    let mut next_id = 60_000u16;
    let pkids = || {
        next_id = next_id.wrapping_add(1).max(1);
        next_id
    };
    let protocol = conn.protocol;
    for p in packets(order.packet, protocol, connect, order.size, order.count, receive_maximum, pkids) {
        conn.write_raw(&p, 0).await.map_err(|e| connection_cause(&e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::codec::{check_frame, decode, CodecError};

    fn opts() -> ConnectOptions {
        ConnectOptions { client_id: "c".into(), keep_alive_s: 5, clean_start: true, ..Default::default() }
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

    #[test]
    fn an_order_kills_older_connections_and_names_its_malformed_targets() {
        let order = ClientOrder {
            kills: vec![Kill { client: 3, at_us: 1_000 }],
            malformed: Some(MalformedOrder {
                targets: vec![1, 5],
                packet: MalformedPacket::Oversize,
                size: 10,
                count: 1,
            }),
        };
        assert!(order.kills(3, 1_000) && !order.kills(3, 1_001) && !order.kills(1, 0));
        assert!(order.malformed_for(5).is_some() && order.malformed_for(3).is_none());
        assert!(ClientOrder { malformed: None, ..order }.malformed_for(5).is_none());
    }
}
