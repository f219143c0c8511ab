//! The byte stream under a `Connection`: plain TCP, or TLS over it
//! (rustls) for mqtts:// brokers. Everything above reads and writes bytes
//! and never knows which.

use crate::record::vocab::Cause;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

pub enum Stream {
    Tcp(TcpStream),
    // Boxed: a TLS session is kilobytes, a plain client should not pay for it.
    Tls(Box<TlsStream<TcpStream>>),
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Stream {
        Stream::Tcp(s)
    }
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr(),
            Stream::Tls(s) => s.get_ref().0.local_addr(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Where the TLS settings come from, resolved against the scenario's folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsPlan {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: String,
}

/// What every client needs to speak TLS to the broker: one shared rustls
/// config (session tickets are reused across reconnects).
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl TlsClient {
    /// Reads the certificates now, so a bad file is one clear error before
    /// any client connects.
    pub fn new(plan: &TlsPlan) -> Result<TlsClient, String> {
        let mut roots = RootCertStore::empty();
        match &plan.ca_file {
            Some(path) => {
                for cert in read_certs(path)? {
                    roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let config = match (&plan.cert_file, &plan.key_file) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| format!("client certificate {}: {e}", cert.display()))?,
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("[broker.tls] needs both cert_file and key_file for a client certificate".into()),
        };
        let server_name = ServerName::try_from(plan.server_name.clone())
            .map_err(|e| format!("TLS server name {:?}: {e}", plan.server_name))?;
        Ok(TlsClient { connector: TlsConnector::from(Arc::new(config)), server_name })
    }

    /// The TLS handshake over a connected socket.
    pub async fn handshake(&self, tcp: TcpStream) -> io::Result<Stream> {
        let tls = self.connector.connect(self.server_name.clone(), tcp).await?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// The stream a connection runs over: the socket as it is, or TLS over it
/// (the handshake within `limit`). `Err` is the cause as the report counts it.
pub async fn open(tcp: TcpStream, tls: Option<&TlsClient>, limit: std::time::Duration) -> Result<Stream, Cause> {
    let Some(tls) = tls else { return Ok(Stream::Tcp(tcp)) };
    match tokio::time::timeout(limit, Box::pin(tls.handshake(tcp))).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(Cause::Tls(handshake_cause(&e))),
        Err(_) => Err(Cause::Timeout),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| format!("{}: {e}", path.display()))?
        .ok_or_else(|| format!("{}: no PEM private key in it", path.display()))
}

/// Names a TLS handshake failure the way `connect_failures` counts it.
pub fn handshake_cause(e: &io::Error) -> String {
    tls_cause(e).unwrap_or_else(|| "tls_handshake_failed".into())
}

/// The cause name of an I/O error that rustls raised: the broker's
/// certificate was refused here (`tls_bad_certificate`), or the broker sent
/// an alert (`tls_alert_certificate_required`, …, e.g. when it wants a
/// client certificate). None for other errors.
pub fn tls_cause(e: &io::Error) -> Option<String> {
    use tokio_rustls::rustls::Error;
    let inner = e.get_ref()?.downcast_ref::<Error>()?;
    Some(match inner {
        Error::InvalidCertificate(_) | Error::NoCertificatesPresented => "tls_bad_certificate".into(),
        Error::AlertReceived(alert) => {
            let name = format!("{alert:?}");
            let mut snake = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            format!("tls_alert_{snake}")
        }
        _ => "tls_error".into(),
    })
}
