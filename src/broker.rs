//! The broker under test: the embedded one (rumqttd, in-process, loopback),
//! a mosquitto midge spawns on a free loopback port, or any broker by URL.

use crate::scenario::ProtocolVersion;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::scenario::{BrokerSpec, Wire};

/// Whether a broker log line can tell why a client was closed.
pub fn is_telling(line: &str) -> bool {
    const TELLING: &[&str] = &[
        "already connected",
        "protocol error",
        "malformed",
        "oversize",
        "not authorised",
        "disconnected",
        "closing",
        "denied",
        "bad socket",
        // "Outgoing messages are being dropped for client X." (queue full)
        "being dropped",
    ];
    let lower = line.to_lowercase();
    TELLING.iter().any(|k| lower.contains(k))
}

/// What the report calls the embedded broker.
pub const EMBEDDED_KIND: &str = "embedded (rumqttd 0.20)";

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot resolve broker host {host}: {source}")]
    Resolve { host: String, source: std::io::Error },
    #[error("cannot start the embedded broker: {0}")]
    Embedded(String),
    #[error("cannot start mosquitto: {0}")]
    Mosquitto(String),
}

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
        self.mosquitto.as_ref().map(|m| m.child.id())
    }

    /// The spawned broker's process as it is now, whenever asked: it
    /// follows the `restart-broker` fault (none while the broker is down).
    /// For other brokers, never a process.
    pub fn pid_watch(&self) -> BrokerPid {
        self.mosquitto.as_ref().map(|m| m.pid.clone()).unwrap_or_default()
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

/// A throwaway certificate authority and a server certificate it signed
/// for `localhost` and 127.0.0.1, for a TLS listener midge starts itself.
struct Pki {
    dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn make() -> Result<Pki, String> {
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
    fn mosquitto_lines(&self) -> Vec<String> {
        vec![format!("certfile {}", self.cert.display()), format!("keyfile {}", self.key.display())]
    }
}

async fn wait_mosquitto(m: &mut Mosquitto) -> Result<(), BrokerError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Ours is listening when it says so in its log (so a connection that
        // succeeds cannot be someone else's broker on that port) and lives.
        let running = std::fs::read_to_string(m.log_path())
            .map(|l| l.lines().filter(|x| x.ends_with(" running")).count() >= m.starts)
            .unwrap_or(false);
        if running && m.exited().is_none() && tokio::net::TcpStream::connect(m.addr).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = m.exited() {
            return Err(BrokerError::Mosquitto(format!(
                "mosquitto exited ({status}) before listening; its log:\n{}",
                m.log_tail(20).join("\n")
            )));
        }
        if Instant::now() > deadline {
            return Err(BrokerError::Mosquitto(format!(
                "not listening on {} after 10s; its log:\n{}",
                m.addr,
                m.log_tail(20).join("\n")
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_listening(addr: SocketAddr, limit: Duration) -> Result<(), ()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(())
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it next).
/// A free TCP port on 127.0.0.1, below the ephemeral range: a port the
/// kernel hands out as a source port (to our own thousands of clients,
/// say) could be taken again before the broker binds it.
pub fn free_port() -> std::io::Result<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (from, to) = if low > 12_000 { (10_000u16, low - 1) } else { (low, low) };
    if to > from {
        for _ in 0..200 {
            let port = rand::random::<u16>() % (to - from) + from;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// rumqttd on a loopback port, with its stock throttles lifted: no delay
/// between new connections, a high connection cap. `+ws` / `+wss` use its
/// WebSocket listener (MQTT 3.1.1 only in rumqttd 0.20); `+tls` / `+wss`
/// its rustls one, with the throwaway certificate.
fn start_embedded(
    protocol: ProtocolVersion,
    wire: Wire,
    pki: Option<&Pki>,
) -> Result<(SocketAddr, String), BrokerError> {
    let port = free_port().map_err(|e| BrokerError::Embedded(e.to_string()))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let section = match (protocol, wire.ws()) {
        (ProtocolVersion::V311, true) => "ws",
        (ProtocolVersion::V5, true) => {
            return Err(BrokerError::Embedded(
                "its WebSocket listener speaks MQTT 3.1.1 only (rumqttd 0.20): use protocol = \"3.1.1\"".into(),
            ))
        }
        (ProtocolVersion::V311, false) => "v4",
        (ProtocolVersion::V5, false) => "v5",
    };
    let tls = pki.map_or(String::new(), |p| {
        format!(
            "[{section}.1.tls]\ncertpath = {:?}\nkeypath = {:?}\n",
            p.cert.display().to_string(),
            p.key.display().to_string()
        )
    });
    let text = format!(
        r#"id = 0
[router]
id = 0
max_connections = 100000
max_outgoing_packet_count = 1000
max_segment_size = 104857600
max_segment_count = 10

[{section}.1]
name = "{section}-midge"
listen = "{addr}"
next_connection_delay_ms = 0
[{section}.1.connections]
connection_timeout_ms = 60000
max_payload_size = 16777216
max_inflight_count = 1000
dynamic_filters = true
{tls}"#
    );
    let config: rumqttd::Config = toml::from_str(&text).map_err(|e| BrokerError::Embedded(format!("config: {e}")))?;
    std::thread::Builder::new()
        .name("embedded-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                eprintln!("midge: embedded broker stopped: {e}");
            }
        })
        .map_err(|e| BrokerError::Embedded(e.to_string()))?;
    Ok((addr, text))
}

/// Where the mosquitto binary is: $MIDGE_MOSQUITTO, then PATH, then the
/// sbin directories Debian installs it to.
pub fn mosquitto_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("MIDGE_MOSQUITTO") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

/// The PIDs of the mosquitto processes this midge started and has not yet
/// stopped (and reaped): a PID is here exactly while it is our unreaped
/// child, so it cannot have been reused by another process.
static SPAWNED: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn spawned() -> std::sync::MutexGuard<'static, Vec<u32>> {
    // A panic while holding it (there is none) must not keep brokers alive.
    SPAWNED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The brokers midge has started and not yet stopped, by PID.
pub fn spawned_pids() -> Vec<u32> {
    spawned().clone()
}

/// Stops every broker this process spawned and still runs: kill -9 and
/// reap, by PID — only processes midge started itself. For the exits that
/// run no destructors: a second stop signal's `std::process::exit`, and a
/// panic that ends midge (cli's panic hook).
pub fn stop_all_spawned() {
    let mut pids = spawned();
    for pid in pids.drain(..) {
        // SAFETY: plain syscalls on a PID that is our own unreaped child.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
    }
}

/// Which process the broker is, for the sampler's once-a-second look at
/// its CPU and memory: a spawned mosquitto's current PID (updated when it
/// is killed and started again), or a fixed one (`--broker-pid`).
#[derive(Debug, Clone, Default)]
pub struct BrokerPid(Arc<AtomicU32>);

impl BrokerPid {
    /// Always this process (a broker midge did not start: `--broker-pid`).
    pub fn fixed(pid: u32) -> BrokerPid {
        BrokerPid(Arc::new(AtomicU32::new(pid)))
    }

    /// The broker's PID now; None when midge knows of no broker process
    /// (or the spawned one is down).
    pub fn get(&self) -> Option<u32> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&p| p != 0)
    }

    fn set(&self, pid: Option<u32>) {
        self.0.store(pid.unwrap_or(0), Ordering::Relaxed);
    }
}

/// A mosquitto process midge started, with its generated config and log.
pub struct Mosquitto {
    pub addr: SocketAddr,
    pub config: String,
    bin: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
    /// How many times the process was started (restarts included).
    starts: usize,
    /// The running process's PID, for whoever watches it (the sampler).
    pid: BrokerPid,
}

impl Mosquitto {
    /// Starts mosquitto on a free loopback port. `extra_conf` lines come last,
    /// so they override the generated ones. With `persistence`, sessions and
    /// queued messages are saved on every change (so a kill -9 keeps them).
    pub fn spawn_with(extra_conf: &[String], persistence: bool) -> Result<Mosquitto, BrokerError> {
        let bin = mosquitto_binary().ok_or_else(|| {
            BrokerError::Mosquitto(
                "no mosquitto binary found (install Debian's `mosquitto` package, or set MIDGE_MOSQUITTO)".into(),
            )
        })?;
        let err = |e: std::io::Error| BrokerError::Mosquitto(e.to_string());
        let dir = tempfile::Builder::new().prefix("midge-mosquitto-").tempdir().map_err(err)?;
        let port = free_port().map_err(err)?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut config = format!(
            "# generated by midge\nlistener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\nconnection_messages true\nlog_timestamp true\nsys_interval 1\n"
        );
        if persistence {
            config.push_str(&format!(
                "persistence true\npersistence_location {}/\nautosave_on_changes true\nautosave_interval 1\n",
                dir.path().display()
            ));
        } else {
            config.push_str("persistence false\n");
        }
        // Running as root, mosquitto would switch to the `mosquitto` user and
        // lose access to the files in our temp dir.
        if unsafe { libc::geteuid() } == 0 {
            config.push_str("user root\n");
        }
        for line in extra_conf {
            config.push_str(line);
            config.push('\n');
        }
        std::fs::write(dir.path().join("mosquitto.conf"), &config).map_err(err)?;
        let child = start_process(&bin, dir.path())?;
        let pid = BrokerPid::fixed(child.id());
        Ok(Mosquitto { addr, config, bin, child, dir, starts: 1, pid })
    }

    pub fn spawn(extra_conf: &[String]) -> Result<Mosquitto, BrokerError> {
        Self::spawn_with(extra_conf, false)
    }

    /// Starts mosquitto and waits until it listens; a port lost to a race
    /// (mosquitto exits: address in use) is retried on another port.
    pub async fn launch(extra_conf: &[String], persistence: bool) -> Result<Mosquitto, BrokerError> {
        let mut last = None;
        for _ in 0..5 {
            let mut m = Mosquitto::spawn_with(extra_conf, persistence)?;
            match wait_mosquitto(&mut m).await {
                Ok(()) => return Ok(m),
                Err(e) if m.exited().is_some() && m.log_tail(20).iter().any(|l| l.contains("in use")) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| BrokerError::Mosquitto("could not find a free port".into())))
    }

    /// kill -9, then start again on the same port with the same config
    /// (the log goes on in the same file).
    pub fn kill(&mut self) {
        // Nobody reads a PID that is about to be reaped (and reused).
        self.pid.set(None);
        let mut pids = spawned();
        // Not registered: `stop_all_spawned` has already killed and reaped
        // it, and its PID may belong to someone else by now.
        if let Some(i) = pids.iter().position(|&p| p == self.child.id()) {
            pids.swap_remove(i);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub fn start_again(&mut self) -> Result<(), BrokerError> {
        self.child = start_process(&self.bin, self.dir.path())?;
        self.pid.set(Some(self.child.id()));
        self.starts += 1;
        Ok(())
    }

    /// The running process's PID (it changes when the process is started again).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].iter().map(|s| s.to_string()).collect()
    }
}

/// Starts mosquitto and registers its PID (under the registry's lock, so
/// no `stop_all_spawned` can miss it).
fn start_process(bin: &Path, dir: &Path) -> Result<Child, BrokerError> {
    let err = |e: std::io::Error| BrokerError::Mosquitto(e.to_string());
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("mosquitto.log")).map_err(err)?;
    let mut pids = spawned();
    let mut command = Command::new(bin);
    command
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(err)?)
        .stderr(log);
    die_with_midge(&mut command);
    let child = spawn_from_keeper(command).map_err(|e| BrokerError::Mosquitto(format!("{}: {e}", bin.display())))?;
    pids.push(child.id());
    Ok(child)
}

/// The child gets SIGKILL when midge dies, however it dies (SIGKILL
/// included, where no handler of midge's runs): Linux's parent-death signal.
#[cfg(target_os = "linux")]
fn die_with_midge(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: between fork and exec the closure calls only prctl and
    // getppid, both async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // midge died before the prctl: nobody would send the signal.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("midge exited while starting the broker"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_midge(_: &mut Command) {}

type SpawnOrder = (Command, std::sync::mpsc::SyncSender<std::io::Result<Child>>);

/// Spawns `command` from one thread that lives as long as midge: the
/// parent-death signal fires when the *thread* that forked the child ends,
/// and a runtime's threads may come and go.
fn spawn_from_keeper(command: Command) -> std::io::Result<Child> {
    static KEEPER: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<SpawnOrder>>> =
        std::sync::OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnOrder>();
        let spawned = std::thread::Builder::new().name("midge-spawner".into()).spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
            // The senders are static: the loop never ends while midge runs.
            loop {
                std::thread::park();
            }
        });
        if let Err(e) = spawned {
            eprintln!("midge: cannot start the spawner thread: {e}");
        }
        std::sync::Mutex::new(tx)
    });
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    let sent = keeper.lock().unwrap_or_else(|e| e.into_inner()).send((command, reply));
    sent.map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer.recv().map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        // Only the process we started, by its handle (its PID).
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::is_telling;

    #[test]
    fn denials_and_bad_sockets_are_telling_and_routine_lines_are_not() {
        // mosquitto 2.0.11, an ACL that denies the topic (the denial at `log_type debug`).
        assert!(is_telling("1796086782: Denied PUBLISH from pub-1 (d0, q1, r0, m1, 'denied/0', ... (40 bytes))"));
        assert!(is_telling("1796086782: Bad socket read/write on client pub-1: Unknown error."));
        assert!(is_telling("1796086823: Client big-0 disconnected due to oversize packet."));
        assert!(is_telling("1: Client a already connected, closing old connection."));
        assert!(!is_telling("1796086782: New client connected from 127.0.0.1:46620 as pub-1 (p2, c1, k60)."));
        assert!(!is_telling("1796086782: Sending PUBACK to pub-1 (m1, rc135)"));
    }
}
