//! The broker under test: the embedded one (rumqttd, in-process, loopback),
//! a mosquitto midge spawns on a free loopback port, or any broker by URL.
//!
//! By job: `BrokerHandle` and `start` (here), the embedded broker
//! (`embedded`), the mosquitto process (`mosquitto`), the registry of
//! spawned PIDs (`registry`), the throwaway PKI (`pki`), the log lines that
//! tell why a client was closed (`logs`), a free port (`port`). The files
//! are private: every type has one path, `broker::…`.

mod embedded;
mod error;
mod logs;
mod mosquitto;
mod pki;
mod port;
mod registry;

use crate::mqtt::protocol::ProtocolVersion;
use crate::scenario::BrokerSpec;
use embedded::{start_embedded, wait_listening};
use mosquitto::wait_mosquitto;
use pki::Pki;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use embedded::EMBEDDED_KIND;
pub use error::BrokerError;
pub use logs::is_telling;
pub use mosquitto::{binary_version, mosquitto_binary, sweep_orphaned_dirs, Mosquitto};
pub use port::free_port;
pub use registry::{spawned_pids, stop_all_spawned, BrokerPid};

/// A running broker (or the address of an external one). Dropping it stops
/// a mosquitto midge started; so does `stop_all_spawned`, on the exits that
/// drop nothing.
pub struct BrokerHandle {
    pub addr: SocketAddr,
    /// What the report names as the broker.
    pub url: String,
    pub kind: &'static str,
    /// The configuration midge generated, when midge started the broker.
    pub config: Option<String>,
    /// The throwaway CA that signed a TLS listener's certificate midge made
    /// (`embedded+tls`, `embedded+wss`, `spawn:mosquitto+tls`): the clients trust it.
    pub ca_file: Option<PathBuf>,
    mosquitto: Option<Mosquitto>,
    /// Where the throwaway certificates live while the broker runs.
    _pki: Option<tempfile::TempDir>,
}

impl BrokerHandle {
    /// The last lines of the spawned broker's log.
    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        self.mosquitto.as_ref().map(|m| m.log_tail(lines)).unwrap_or_default()
    }

    /// The lines of the spawned broker's log (its last 8 MiB) that can tell
    /// why a client was closed, for the detectors' corroboration. Read line
    /// by line: a swarm's routine connect lines never sit in memory at once.
    pub fn telling_log_lines(&self) -> Option<Vec<String>> {
        use std::io::{BufRead, Seek};
        let m = self.mosquitto.as_ref()?;
        let mut file = std::fs::File::open(m.log_path()).ok()?;
        let len = file.metadata().ok()?.len();
        file.seek(std::io::SeekFrom::Start(len.saturating_sub(8 << 20))).ok()?;
        let lines = std::io::BufReader::new(file).split(b'\n').map_while(Result::ok);
        Some(lines.map(|l| String::from_utf8_lossy(&l).into_owned()).filter(|l| is_telling(l)).collect())
    }

    /// Resident memory of the spawned broker now, in KiB (None for other brokers).
    pub fn rss_kib(&self) -> Option<u64> {
        crate::metrics::pid_rss_kib(self.pid()?)
    }

    /// CPU seconds the spawned broker has used (None for other brokers).
    pub fn cpu_seconds(&self) -> Option<f64> {
        crate::metrics::pid_cpu_seconds(self.pid()?)
    }

    pub fn pid(&self) -> Option<u32> {
        self.mosquitto.as_ref().map(Mosquitto::pid)
    }

    /// The spawned broker's process as it is now, whenever asked: it
    /// follows the `restart-broker` fault (none while the broker is down).
    /// For other brokers, never a process.
    pub fn pid_watch(&self) -> BrokerPid {
        self.mosquitto.as_ref().map(Mosquitto::pid_watch).unwrap_or_default()
    }

    /// The `restart-broker` fault: kill -9 the spawned mosquitto, wait
    /// `down`, start it again and wait until it listens.
    pub async fn restart(&mut self, down: Duration) -> Result<(), BrokerError> {
        let m = self
            .mosquitto
            .as_mut()
            .ok_or_else(|| BrokerError::Mosquitto("only a broker midge spawned can be restarted".into()))?;
        m.kill();
        tokio::time::sleep(down).await;
        m.start_again()?;
        wait_mosquitto(m).await
    }
}

pub async fn start(
    spec: &BrokerSpec,
    protocol: ProtocolVersion,
    extra_conf: &[String],
    persistence: bool,
) -> Result<BrokerHandle, BrokerError> {
    let wire = spec.wire();
    let handle = |addr, url, kind, config, mosquitto, pki: Option<Pki>| BrokerHandle {
        addr,
        url,
        kind,
        config,
        ca_file: pki.as_ref().map(|p| p.ca.clone()),
        mosquitto,
        _pki: pki.map(|p| p.dir),
    };
    match spec {
        BrokerSpec::External { url, host, port, .. } => {
            let mut addrs = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .map_err(|e| BrokerError::Resolve { host: host.clone(), source: e })?
                .collect::<Vec<_>>();
            addrs.sort_by_key(|a| !a.is_ipv4());
            let addr = addrs.into_iter().next().ok_or_else(|| BrokerError::Resolve {
                host: host.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            })?;
            Ok(handle(addr, url.clone(), "external", None, None, None))
        }
        BrokerSpec::Embedded { .. } => {
            let pki = wire.tls().then(|| Pki::make().map_err(BrokerError::Embedded)).transpose()?;
            let (addr, config) = start_embedded(protocol, wire, pki.as_ref())?;
            wait_listening(addr, Duration::from_secs(10))
                .await
                .map_err(|_| BrokerError::Embedded(format!("not listening on {addr} after 10s")))?;
            let url = spec.ws_uri(addr).unwrap_or_else(|| format!("{}://{addr}", wire.scheme()));
            Ok(handle(addr, url, EMBEDDED_KIND, Some(config), None, pki))
        }
        BrokerSpec::SpawnMosquitto { .. } => {
            let pki = wire.tls().then(|| Pki::make().map_err(BrokerError::Mosquitto)).transpose()?;
            let mut conf = pki.as_ref().map(Pki::mosquitto_lines).unwrap_or_default();
            conf.extend(extra_conf.iter().cloned());
            let m = Mosquitto::launch(&conf, persistence).await?;
            let addr = m.addr;
            let url = format!("{}://{addr}", wire.scheme());
            Ok(handle(addr, url, "spawned mosquitto", Some(m.config.clone()), Some(m), pki))
        }
    }
}
