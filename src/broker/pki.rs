//! A throwaway PKI for a TLS listener midge starts itself (`embedded+tls`,
//! `embedded+wss`, `spawn:mosquitto+tls`): a CA made for the run, a server
//! certificate it signed, all in a temporary directory that lives as long
//! as the broker. The clients trust that CA (`BrokerHandle::ca_file`).

use std::path::PathBuf;

/// A throwaway certificate authority and a server certificate it signed
/// for `localhost` and 127.0.0.1, for a TLS listener midge starts itself.
pub(super) struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn make() -> Result<Pki, String> {
        let err = |e: &dyn std::fmt::Display| format!("throwaway TLS certificate: {e}");
        let ca_key = rcgen::KeyPair::generate().map_err(|e| err(&e))?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| err(&e))?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "midge throwaway CA");
        let ca = ca_params.self_signed(&ca_key).map_err(|e| err(&e))?;
        let key = rcgen::KeyPair::generate().map_err(|e| err(&e))?;
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(|e| err(&e))?
            .signed_by(&key, &ca, &ca_key)
            .map_err(|e| err(&e))?;
        let dir = tempfile::Builder::new().prefix("midge-pki-").tempdir().map_err(|e| err(&e))?;
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).map(|_| p).map_err(|e| err(&e))
        };
        let (ca, cert, key) = (
            write("ca.pem", &ca.pem())?,
            write("server.pem", &cert.pem())?,
            write("server.key", &key.serialize_pem())?,
        );
        Ok(Pki { dir, ca, cert, key })
    }

    /// The listener lines that turn mosquitto's listener into a TLS one.
    pub fn mosquitto_lines(&self) -> Vec<String> {
        vec![format!("certfile {}", self.cert.display()), format!("keyfile {}", self.key.display())]
    }
}
