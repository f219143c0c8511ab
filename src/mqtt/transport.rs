//! The byte stream under a `Connection`: plain TCP, TLS over it (rustls)
//! for mqtts://, a WebSocket over either for ws:// and wss://
//! (`super::websocket`). Everything above reads and writes bytes and never
//! knows which. `Transport` is what a client needs to open one.
//!
//! `TlsClient` is shared by the run: `insecure` accepts any certificate
//! (`AcceptAnyCertificate`), `with_identity` gives a group its own client
//! certificate, `negotiated` keeps the first successful handshake's protocol
//! version and cipher suite (report.json `broker.tls`). One `Transport` per
//! group (`runner::transports`). TLS failures have cause names of their own.

use super::websocket::{WsStream, WsTarget};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, Error as TlsError, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

pub enum Stream {
    Tcp(TcpStream),
    // Boxed: a TLS session is kilobytes, a plain client should not pay for it.
    Tls(Box<TlsStream<TcpStream>>),
    /// ws:// (over `Tcp`) or wss:// (over `Tls`).
    Ws(Box<WsStream<Stream>>),
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
            Stream::Ws(s) => s.get_ref().tcp(),
        }
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.tcp().local_addr()
    }

    /// Ready when a read would find data (or the end), so the caller can
    /// wait without a buffer. TLS and WebSocket are always ready: they may
    /// hold bytes already taken off the socket.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx),
            Stream::Tls(_) | Stream::Ws(_) => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Ws(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Ws(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Ws(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Ws(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
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
    /// `insecure = true`: the broker's certificate is not verified at all.
    pub insecure: bool,
}

/// What a TLS handshake settled on (the first successful one of the run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `TLSv1_3`, `TLSv1_2`.
    pub protocol_version: String,
    /// The IANA name, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
}

/// What every client needs to speak TLS to the broker: one shared rustls
/// config (session tickets are reused across reconnects).
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    plan: TlsPlan,
    /// Shared by the run's clients (a group's own certificate included).
    negotiated: Arc<OnceLock<Negotiated>>,
}

impl TlsClient {
    /// Reads the certificates now, so a bad file is one clear error before
    /// any client connects.
    pub fn new(plan: &TlsPlan) -> Result<TlsClient, String> {
        TlsClient::build(plan, Arc::default())
    }

    /// The same settings with another client certificate (a group's
    /// `tls = { cert_file, key_file }`).
    pub fn with_identity(&self, cert_file: &Path, key_file: &Path) -> Result<TlsClient, String> {
        let plan = TlsPlan {
            cert_file: Some(cert_file.to_path_buf()),
            key_file: Some(key_file.to_path_buf()),
            ..self.plan.clone()
        };
        TlsClient::build(&plan, self.negotiated.clone())
    }

    fn build(plan: &TlsPlan, negotiated: Arc<OnceLock<Negotiated>>) -> Result<TlsClient, String> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if plan.insecure {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        } else {
            builder.with_root_certificates(root_store(plan.ca_file.as_deref())?)
        };
        let config = match (&plan.cert_file, &plan.key_file) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
                .map_err(|e| format!("client certificate {}: {e}", cert.display()))?,
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("[broker.tls] needs both cert_file and key_file for a client certificate".into()),
        };
        let server_name = ServerName::try_from(plan.server_name.clone())
            .map_err(|e| format!("TLS server name {:?}: {e}", plan.server_name))?;
        Ok(TlsClient { connector: TlsConnector::from(Arc::new(config)), server_name, plan: plan.clone(), negotiated })
    }

    /// The TLS handshake over a connected socket; the first one to succeed
    /// notes what was negotiated.
    pub async fn handshake(&self, tcp: TcpStream) -> io::Result<Stream> {
        let tls = self.connector.connect(self.server_name.clone(), tcp).await?;
        if self.negotiated.get().is_none() {
            let session = tls.get_ref().1;
            let version = session.protocol_version().map(|v| format!("{v:?}"));
            let suite = session.negotiated_cipher_suite().map(|c| format!("{:?}", c.suite()));
            if let (Some(protocol_version), Some(cipher_suite)) = (version, suite) {
                let _ = self.negotiated.set(Negotiated { protocol_version, cipher_suite });
            }
        }
        Ok(Stream::Tls(Box::new(tls)))
    }

    /// What the first successful handshake negotiated, if one succeeded.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated.get().cloned()
    }

    pub fn is_insecure(&self) -> bool {
        self.plan.insecure
    }
}

/// The CA file's certificates, or the web PKI's roots without one.
fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// `insecure = true`: any certificate is taken, whoever signed it and
/// whatever name it carries. The handshake's signatures are still checked
/// (so the session keys are the broker's), but not who the broker is.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<tokio_rustls::rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// How clients reach the broker beyond TCP: TLS (mqtts://, wss://) and a
/// WebSocket (ws://, wss://). Cheap to clone; one per group (a group may
/// bring its own client certificate).
#[derive(Clone, Default)]
pub struct Transport {
    pub tls: Option<TlsClient>,
    pub ws: Option<WsTarget>,
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
