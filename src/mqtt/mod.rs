//! MQTT on the wire: the packet model and codec, reason-code names, and the
//! `Connection` that owns a socket.

pub mod codec;
pub mod connection;
pub mod flight;
pub mod handshake;
pub mod pace;
pub mod protocol;
pub mod reason;
pub mod rules;
pub mod rxstamp;
pub mod sockopt;
pub mod transport;
pub mod websocket;
