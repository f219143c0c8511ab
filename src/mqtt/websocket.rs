//! MQTT over WebSocket (ws:// and wss://): the opening handshake
//! (tokio-tungstenite, subprotocol `mqtt`) and `WsStream`, which turns the
//! binary messages back into a byte stream, so that `Connection` and
//! everything above it never knows. Generic over the stream underneath
//! (TCP, or TLS for wss://), so this file knows nothing of `transport`.
//!
//! WebSocket failures have cause names of their own (`ws_http_<status>`,
//! `ws_handshake_failed`, `ws_wrong_subprotocol`, …). `WsStream` writes one
//! message per write and reads payloads in order.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// The subprotocol MQTT over WebSocket asks for (MQTT 3.1.1 §6, MQTT 5 §6).
pub const SUBPROTOCOL: &str = "mqtt";

/// Where the WebSocket handshake goes: the URL's scheme, host, port and path
/// (the path defaults to "/mqtt"). The TCP connection itself may go
/// elsewhere (midge's fault proxy); the Host header still names the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsTarget {
    /// `ws://host:port/path` or `wss://host:port/path`.
    pub uri: String,
}

/// A WebSocket connection read and written as bytes: every write is one
/// binary message; reads hand out message payloads in order.
pub struct WsStream<S> {
    ws: WebSocketStream<S>,
    /// The rest of the last message read that did not fit the caller's buffer.
    pending: Vec<u8>,
    at: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        self.ws.get_ref()
    }
}

/// The opening handshake over a connected stream, asking for `mqtt`.
/// `Err` is the name `connect_failures` counts it under, or the I/O error.
pub async fn handshake<S>(stream: S, target: &WsTarget) -> Result<WsStream<S>, WsFailure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = target.uri.as_str().into_client_request().map_err(|e| {
        let _ = e;
        WsFailure::Named("ws_bad_url".into())
    })?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(SUBPROTOCOL));
    let (ws, response) = tokio_tungstenite::client_async(request, stream).await.map_err(failure)?;
    // A broker that picked another subprotocol would not speak MQTT to us;
    // one that names none is tolerated (some proxies strip the header).
    if let Some(p) = response.headers().get("Sec-WebSocket-Protocol") {
        if !p.as_bytes().eq_ignore_ascii_case(SUBPROTOCOL.as_bytes()) {
            return Err(WsFailure::Named("ws_wrong_subprotocol".into()));
        }
    }
    Ok(WsStream { ws, pending: Vec::new(), at: 0 })
}

/// Why a WebSocket handshake failed.
#[derive(Debug)]
pub enum WsFailure {
    /// A socket (or TLS) error underneath.
    Io(io::Error),
    /// A cause name: `ws_http_404`, `ws_handshake_failed`, ….
    Named(String),
}

fn failure(e: WsError) -> WsFailure {
    match e {
        WsError::Io(e) => WsFailure::Io(e),
        WsError::Http(response) => WsFailure::Named(format!("ws_http_{}", response.status().as_u16())),
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            WsFailure::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the WebSocket handshake"))
        }
        _ => WsFailure::Named("ws_handshake_failed".into()),
    }
}

/// A WebSocket error as the I/O error `Connection` counts causes by.
fn to_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => io::ErrorKind::BrokenPipe.into(),
        // The TCP connection closed under the WebSocket (no Close frame): a
        // plain close, as over TCP.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => io::ErrorKind::UnexpectedEof.into(),
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        use futures_util::Stream as _;
        let me = self.get_mut();
        loop {
            if me.at < me.pending.len() {
                let n = buf.remaining().min(me.pending.len() - me.at);
                buf.put_slice(&me.pending[me.at..me.at + n]);
                me.at += n;
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut me.ws).poll_next(cx)) {
                // End of stream, or the broker's Close: EOF to the reader.
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                Some(Ok(Message::Binary(data))) => {
                    me.pending = data;
                    me.at = 0;
                }
                // MQTT over WebSocket is binary only (§6): a text message is the broker's error.
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text WebSocket message from the broker (MQTT needs binary)",
                    )))
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        use futures_util::Sink as _;
        let me = self.get_mut();
        ready!(Pin::new(&mut me.ws).poll_ready(cx)).map_err(to_io)?;
        Pin::new(&mut me.ws).start_send(Message::Binary(buf.to_vec())).map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        use futures_util::Sink as _;
        Pin::new(&mut self.get_mut().ws).poll_flush(cx).map_err(to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        use futures_util::Sink as _;
        Pin::new(&mut self.get_mut().ws).poll_close(cx).map_err(to_io)
    }
}
