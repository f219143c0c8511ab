//! `midge conn`, `midge sub`, `midge pub`: emqtt-bench's command lines
//! (`-h` host, `-c` clients, `-I` publish interval, `-t bench/%i`, …), each
//! turned into a scenario file's text (`scenario_text`) that is parsed,
//! planned and run exactly as `midge run` runs a file, with the same report.
//! `--save-scenario FILE` writes that text, so the command can move to a
//! file (`midge run FILE` runs the same plan).
//!
//! Several brokers (`broker_urls`): emqtt-bench's host list `-h h1,h2` (one
//! URL per host, all on the -p port) or `--broker a,b` / `--broker`
//! repeated, written as `[broker] url = [...]`: the clients spread
//! round-robin, as `midge run` spreads them. One broker is written
//! `url = "..."` as it always was (saved scenarios are a contract).
//!
//! The run id comes from `--run-id NAME` alone (not from the scenario, as a
//! `midge run`'s does), default "bench": a `midge pub` and a `midge sub`
//! given the same name tag and read the same tracking headers, and
//! `midge merge PUBDIR SUBDIR` accounts them as one run.
//!
//! A password is never taken on the command line (every user of the machine
//! sees it in `ps`): `-P`/`--password` is refused, `--password-env VAR` and
//! `--password-file FILE` name where it is.

use crate::plan::Overrides;
use crate::scenario::{BrokerUrls, ScenarioFile};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Which emqtt-bench command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchKind {
    Conn,
    Sub,
    Pub,
}

impl BenchKind {
    fn name(self) -> &'static str {
        match self {
            BenchKind::Conn => "conn",
            BenchKind::Sub => "sub",
            BenchKind::Pub => "pub",
        }
    }
}

/// The run id name when `--run-id` is not given: a plain `midge pub` and a
/// plain `midge sub` read each other's messages.
pub const DEFAULT_RUN_NAME: &str = "bench";

/// The run id of a bench command: from the name alone, so a pub and a sub
/// (different scenarios) given the same name share it; 16 hex digits are
/// the id itself.
pub fn run_id(name: &str) -> u64 {
    match u64::from_str_radix(name, 16) {
        Ok(id) if name.len() == 16 => id,
        _ => crate::plan::shard::derived_run_id("midge-bench", name),
    }
}

/// A flag emqtt-bench writes as `-C`, `-C true` or `-C false`.
fn bool_value(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{s:?}: true or false")),
    }
}

/// What every bench command takes: where the broker is, how many clients,
/// how they connect, and midge's own run options.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Print help (`-h` is the host, as in emqtt-bench).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// The broker's host name or address; a comma list (`-h h1,h2`) spreads
    /// the clients round-robin over the hosts, all on the one -p port.
    #[arg(short = 'h', long, default_value = "localhost")]
    host: String,
    /// The broker's port (default: 1883; 8883 with -S, 8083 with --ws, 8084 with both).
    #[arg(short, long)]
    port: Option<u16>,
    /// The whole broker URL instead of -h/-p/-S/--ws: mqtt://, mqtts://,
    /// ws://, wss://host:port, "embedded" or "spawn:mosquitto". Several
    /// running brokers (a cluster's nodes): a comma list or --broker again;
    /// the clients are spread round-robin over them.
    #[arg(long)]
    broker: Vec<String>,
    /// How many clients.
    #[arg(short = 'c', long = "count", default_value_t = 200)]
    clients: u32,
    /// The number the clients count from: %i runs from N+1 to N+count.
    #[arg(short = 'n', long = "startnumber", value_name = "N", default_value_t = 0)]
    start_number: u32,
    /// Milliseconds between two connects.
    #[arg(short = 'i', long = "interval", value_name = "MS", default_value_t = 10)]
    interval_ms: u64,
    /// Connects per second (instead of -i).
    #[arg(short = 'R', long = "connrate", value_name = "PER_S")]
    conn_rate: Option<f64>,
    /// Keepalive, seconds.
    #[arg(short = 'k', long, value_name = "S", default_value_t = 300)]
    keepalive: u64,
    /// Clean start (false: persistent sessions).
    #[arg(short = 'C', long = "clean", value_parser = bool_value, num_args = 0..=1, default_value = "true", default_missing_value = "true")]
    clean: bool,
    /// MQTT 5 session expiry interval, seconds (with -C false).
    #[arg(short = 'x', long = "session-expiry", value_name = "S")]
    session_expiry: Option<u64>,
    /// MQTT protocol version: 4 (3.1.1) or 5.
    #[arg(short = 'V', long = "version", default_value_t = 5)]
    protocol: u8,
    /// Client id prefix (default: this machine's host name).
    #[arg(long)]
    prefix: Option<String>,
    /// Client ids are the prefix and the client's number only.
    #[arg(long, value_parser = bool_value, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    shortids: bool,
    /// Connect from this local address (or a list, "127.0.0.2-127.0.0.9").
    #[arg(long, value_name = "ADDR")]
    ifaddr: Option<String>,
    /// TLS (mqtts://, or wss:// with --ws).
    #[arg(short = 'S', long = "ssl", value_parser = bool_value, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    ssl: bool,
    /// PEM file of the certificate authorities to trust (default: the public web roots).
    #[arg(long, value_name = "FILE")]
    cacertfile: Option<PathBuf>,
    /// Client certificate (PEM), if the broker asks for one.
    #[arg(long, value_name = "FILE")]
    certfile: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "FILE")]
    keyfile: Option<PathBuf>,
    /// Take any certificate the broker shows, unverified.
    #[arg(long)]
    insecure: bool,
    /// WebSocket transport (ws://, or wss:// with -S).
    #[arg(long, value_parser = bool_value, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    ws: bool,
    /// User name.
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// The environment variable holding the password.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// The file holding the password (a trailing newline is trimmed).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Refused: a password on the command line is visible to every user in `ps`.
    #[arg(short = 'P', long = "password", hide = true, value_name = "PASSWORD")]
    password: Option<String>,
    /// How long to run (publish, for `pub`), e.g. "30s" (default: 10s).
    #[arg(long, value_parser = crate::scenario::parse_duration)]
    duration: Option<std::time::Duration>,
    /// Write the report into exactly this directory (default: reports/<command>-<timestamp>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Names the run: a `pub` and a `sub` with the same NAME read each
    /// other's tracking headers and merge (`midge merge PUBDIR SUBDIR`).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_RUN_NAME)]
    run_id: String,
    /// Serve live metrics at http://ADDR/metrics (loopback only, as for `run`).
    #[arg(long, value_name = "ADDR", value_parser = crate::prometheus::parse_listen_addr)]
    prometheus: Option<std::net::SocketAddr>,
    /// Client worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// No live progress line and no summary on stdout (-q is the QoS here).
    #[arg(long)]
    quiet: bool,
    /// Also write the equivalent scenario to FILE (`midge run FILE` runs the same plan).
    #[arg(long, value_name = "FILE")]
    save_scenario: Option<PathBuf>,
}

/// `midge sub`'s own flags.
#[derive(clap::Args, Debug, Clone)]
pub struct SubArgs {
    /// The filter to subscribe to; %i is the client's number, %c its client id.
    #[arg(short = 't', long)]
    topic: String,
    /// Subscription QoS.
    #[arg(short = 'q', long, default_value_t = 0)]
    qos: u8,
    #[command(flatten)]
    common: CommonArgs,
}

/// `midge pub`'s own flags.
#[derive(clap::Args, Debug, Clone)]
pub struct PubArgs {
    /// The topic to publish to; %i is the client's number, %c its client id.
    #[arg(short = 't', long)]
    topic: String,
    /// Publish QoS.
    #[arg(short = 'q', long, default_value_t = 0)]
    qos: u8,
    /// Milliseconds between two messages of one client.
    #[arg(short = 'I', long = "interval_of_msg", value_name = "MS", default_value_t = 1000)]
    interval_of_msg: u64,
    /// Payload size in bytes (at least 40: midge's tracking header).
    #[arg(short = 's', long = "size", default_value_t = 256)]
    size: usize,
    /// Publish retained.
    #[arg(short = 'r', long = "retain", value_parser = bool_value, num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    retain: bool,
    /// Messages to publish in all (0: no limit), split evenly over the clients.
    #[arg(short = 'L', long = "limit", default_value_t = 0)]
    limit: u64,
    /// QoS 1/2 messages in flight per client.
    #[arg(short = 'F', long = "inflight")]
    inflight: Option<u16>,
    #[command(flatten)]
    common: CommonArgs,
}

/// `midge conn`'s flags: the common ones.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// One bench command, parsed.
pub enum Bench {
    Conn(ConnArgs),
    Sub(SubArgs),
    Pub(PubArgs),
}

impl Bench {
    fn kind(&self) -> BenchKind {
        match self {
            Bench::Conn(_) => BenchKind::Conn,
            Bench::Sub(_) => BenchKind::Sub,
            Bench::Pub(_) => BenchKind::Pub,
        }
    }

    fn common(&self) -> &CommonArgs {
        match self {
            Bench::Conn(a) => &a.common,
            Bench::Sub(a) => &a.common,
            Bench::Pub(a) => &a.common,
        }
    }
}

/// TOML's quoting of a string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A path as written into the scenario: absolute, so the file works from anywhere.
fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

/// The broker URLs, in the order the clients are spread over them
/// (client k on URL k mod N): `--broker` (a comma list, or the flag
/// repeated), else one URL per `-h` host (a comma list) with the one -p port
/// and the scheme -S/--ws give.
fn broker_urls(c: &CommonArgs) -> Result<Vec<String>, String> {
    if !c.broker.is_empty() {
        let given = c.broker.join(",");
        let urls = list_items(&given).map_err(|e| format!("--broker {given:?}: {e}"))?;
        BrokerUrls(urls.clone()).parse().map_err(|e| format!("--broker: {e}"))?;
        return Ok(urls);
    }
    let (scheme, port) = match (c.ssl, c.ws) {
        (false, false) => ("mqtt", 1883),
        (true, false) => ("mqtts", 8883),
        (false, true) => ("ws", 8083),
        (true, true) => ("wss", 8084),
    };
    let port = c.port.unwrap_or(port);
    let hosts = list_items(&c.host).map_err(|e| format!("-h {:?}: {e}", c.host))?;
    let url = |host: String| {
        if !is_host(&host) {
            return Err(format!(
                "-h {:?}: {host:?} is not a host name or IP address (-h takes hosts, comma-separated; the port goes in -p, a whole URL in --broker)",
                c.host
            ));
        }
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
        Ok(format!("{scheme}://{host}:{port}"))
    };
    hosts.into_iter().map(url).collect()
}

/// The items of a comma list, trimmed; an empty one is an error.
fn list_items(list: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
    match items.iter().any(String::is_empty) {
        true => Err("an empty item in the list (a comma too many, or nothing given)".into()),
        false => Ok(items),
    }
}

/// A host name (letters, digits, '.', '-', '_'; not starting with '-') or
/// an IP address (an IPv6 one bare or in brackets).
fn is_host(h: &str) -> bool {
    let bare = h.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
    if let Some(v6) = bare {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    h.parse::<std::net::IpAddr>().is_ok()
        || (!h.starts_with('-') && h.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_')))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "midge".to_string())
}

/// The scenario a bench command stands for, as the text of a scenario file.
pub fn scenario_text(bench: &Bench, command_line: &str) -> Result<String, String> {
    let c = bench.common();
    let kind = bench.kind();
    if c.password.is_some() {
        return Err("-P/--password: a password on the command line is visible to every user of this machine (ps, shell history); give --password-env VAR or --password-file FILE".into());
    }
    let protocol = match c.protocol {
        4 => "3.1.1",
        5 => "5",
        3 => return Err("-V 3: midge speaks MQTT 3.1.1 (-V 4) and 5 (-V 5), not 3.1".into()),
        v => return Err(format!("-V {v}: 4 (MQTT 3.1.1) or 5")),
    };
    if c.clients == 0 {
        return Err("-c 0: at least one client".into());
    }
    let mut t = String::new();
    let _ = writeln!(t, "# midge {}, as a scenario file: `midge run` on this file runs the same plan.", kind.name());
    let _ = writeln!(t, "# From: {command_line}");
    let _ = writeln!(t, "name = {}", quoted(kind.name()));
    if let Some(d) = c.duration {
        let _ = writeln!(t, "duration = {}", quoted(&humantime::format_duration(d).to_string()));
    }
    let _ = writeln!(t, "protocol = {}", quoted(protocol));
    broker_section(&mut t, c)?;
    group_section(&mut t, bench)?;
    Ok(t)
}

fn broker_section(t: &mut String, c: &CommonArgs) -> Result<(), String> {
    // One broker: `url = "..."`, as bench commands have always written it.
    let urls = match broker_urls(c)?.as_slice() {
        [one] => quoted(one),
        several => format!("[{}]", several.iter().map(|u| quoted(u)).collect::<Vec<_>>().join(", ")),
    };
    let _ = writeln!(t, "\n[broker]\nurl = {urls}");
    if let Some(u) = &c.username {
        let _ = writeln!(t, "username = {}", quoted(u));
    }
    if let Some(v) = &c.password_env {
        let _ = writeln!(t, "password_env = {}", quoted(v));
    }
    if let Some(f) = &c.password_file {
        let _ = writeln!(t, "password_file = {}", quoted(&absolute(f)));
    }
    if let Some(a) = &c.ifaddr {
        let _ = writeln!(t, "source_addrs = {}", quoted(a));
    }
    let files = [("ca_file", &c.cacertfile), ("cert_file", &c.certfile), ("key_file", &c.keyfile)];
    if c.insecure || files.iter().any(|(_, f)| f.is_some()) {
        let _ = writeln!(t, "\n[broker.tls]");
        for (key, f) in files {
            if let Some(f) = f {
                let _ = writeln!(t, "{key} = {}", quoted(&absolute(f)));
            }
        }
        if c.insecure {
            let _ = writeln!(t, "insecure = true");
        }
    }
    Ok(())
}

fn group_section(t: &mut String, bench: &Bench) -> Result<(), String> {
    let c = bench.common();
    let kind = bench.kind();
    let _ = writeln!(t, "\n[[group]]\nname = {}\nclients = {}", quoted(kind.name()), c.clients);
    let _ = writeln!(t, "first_index = {}", c.start_number.saturating_add(1));
    let prefix = c.prefix.clone().unwrap_or_else(host_name);
    let id = match c.shortids {
        true => format!("{{ scheme = \"prefix-serial\", prefix = {} }}", quoted(&prefix)),
        false => format!(
            "{{ scheme = \"prefix-random\", prefix = {} }}",
            quoted(&format!("{prefix}_bench_{}_", kind.name()))
        ),
    };
    let _ = writeln!(t, "client_id = {id}");
    let rate = match (c.conn_rate, c.interval_ms) {
        (Some(r), _) if r > 0.0 => r,
        (Some(r), _) => return Err(format!("-R {r}: connects per second must be above 0")),
        (None, 0) => 0.0,
        (None, ms) => 1000.0 / ms as f64,
    };
    if rate > 0.0 {
        let _ = writeln!(t, "connect_rate = {rate}");
    }
    let _ = writeln!(t, "keepalive = \"{}s\"\nclean_session = {}", c.keepalive, c.clean);
    if let Some(x) = c.session_expiry {
        let _ = writeln!(t, "session_expiry = \"{x}s\"");
    }
    match bench {
        Bench::Conn(_) => {}
        Bench::Sub(s) => {
            let filter = crate::topic::from_emqtt_bench(&s.topic).map_err(|e| format!("-t {e}"))?;
            let _ = writeln!(t, "subscribe = {{ filter = {}, qos = {} }}", quoted(&filter), s.qos);
        }
        Bench::Pub(p) => publish_line(t, p)?,
    }
    Ok(())
}

fn publish_line(t: &mut String, p: &PubArgs) -> Result<(), String> {
    let topic = crate::topic::from_emqtt_bench(&p.topic).map_err(|e| format!("-t {e}"))?;
    if p.interval_of_msg == 0 {
        return Err("-I 0: give the milliseconds between two messages of a client (1 or more)".into());
    }
    if p.size < crate::payload::HEADER_LEN {
        return Err(format!(
            "-s {}: midge's messages carry a {}-byte tracking header; give -s {} or more",
            p.size,
            crate::payload::HEADER_LEN,
            crate::payload::HEADER_LEN
        ));
    }
    let clients = u64::from(p.common.clients);
    if p.limit % clients != 0 {
        return Err(format!(
            "-L {}: midge gives every client the same count; give a multiple of -c {clients} (e.g. -L {})",
            p.limit,
            (p.limit / clients + 1) * clients
        ));
    }
    if let Some(f) = p.inflight {
        let _ = writeln!(t, "max_inflight = {f}");
    }
    let rate = 1000.0 / p.interval_of_msg as f64;
    let _ =
        write!(t, "publish = {{ topic = {}, qos = {}, rate = {rate:?}, payload = {}", quoted(&topic), p.qos, p.size);
    if p.retain {
        let _ = write!(t, ", retain = true");
    }
    if p.limit > 0 {
        let _ = write!(t, ", count = {}", p.limit / clients);
    }
    let _ = writeln!(t, " }}");
    Ok(())
}

/// What `cli` needs to run a bench command: the parsed scenario, the
/// overrides (the run id), and the run flags.
pub struct Prepared {
    pub file: ScenarioFile,
    pub overrides: Overrides,
    pub out: Option<PathBuf>,
    pub quiet: bool,
    pub workers: Option<usize>,
    pub prometheus: Option<std::net::SocketAddr>,
}

/// The scenario text parsed (and saved with `--save-scenario`), ready to run.
pub fn prepare(bench: &Bench, command_line: &str) -> Result<Prepared, String> {
    let text = scenario_text(bench, command_line)?;
    let c = bench.common();
    let path = c.save_scenario.clone().unwrap_or_else(|| PathBuf::from(format!("midge-{}.toml", bench.kind().name())));
    let file = ScenarioFile::parse(&path, &text)
        .map_err(|e| format!("{e}\n(the scenario midge made of the flags:)\n{text}"))?;
    if let Some(save) = &c.save_scenario {
        std::fs::write(save, &text).map_err(|e| format!("--save-scenario {}: {e}", save.display()))?;
        eprintln!("midge: scenario written to {} (`midge run {}` runs it again)", save.display(), save.display());
    }
    let overrides = Overrides { run_id: Some(run_id(&c.run_id)), ..Default::default() };
    Ok(Prepared { file, overrides, out: c.out.clone(), quiet: c.quiet, workers: c.workers, prometheus: c.prometheus })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct T {
        #[command(subcommand)]
        b: B,
    }
    #[derive(clap::Subcommand)]
    enum B {
        #[command(disable_help_flag = true)]
        Pub(PubArgs),
        #[command(disable_help_flag = true)]
        Sub(SubArgs),
        #[command(disable_help_flag = true)]
        Conn(ConnArgs),
    }

    fn bench(args: &[&str]) -> Bench {
        match T::try_parse_from(std::iter::once("midge").chain(args.iter().copied())).unwrap().b {
            B::Pub(p) => Bench::Pub(p),
            B::Sub(s) => Bench::Sub(s),
            B::Conn(c) => Bench::Conn(c),
        }
    }

    #[test]
    fn pub_flags_make_the_scenario_emqtt_bench_means() {
        let b = bench(&[
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            "1884",
            "-c",
            "10",
            "-I",
            "10",
            "-t",
            "x/%i",
            "-q",
            "1",
            "-s",
            "64",
            "-L",
            "1000",
            "-n",
            "5",
            "--prefix",
            "p",
            "--shortids",
            "-C",
            "false",
            "-x",
            "60",
            "-V",
            "4",
            "-i",
            "20",
        ]);
        let text = scenario_text(&b, "midge pub …").unwrap();
        let f = ScenarioFile::parse(Path::new("p.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let plan = crate::plan::Plan::build(&f, &Overrides::default()).unwrap();
        assert_eq!(plan.clients.len(), 10);
        let c = &plan.clients[0];
        // %i counts from -n + 1; --shortids: the prefix and the number.
        assert_eq!((c.topic.as_deref(), c.client_id.as_str()), (Some("x/6"), "p6"));
        assert_eq!(plan.clients[9].topic.as_deref(), Some("x/15"));
        let g = f.scenario.groups[0].get_ref();
        let p = g.publish.as_ref().unwrap().get_ref();
        assert_eq!((p.rate, p.payload, p.count, p.qos.0), (100.0, 64, Some(100), 1));
        assert_eq!((g.connect_rate, g.clean_session), (Some(50.0), false));
        assert!(text.contains("url = \"mqtt://127.0.0.1:1884\""), "{text}");
        assert!(text.contains("protocol = \"3.1.1\""), "{text}");
    }

    #[test]
    fn sub_and_conn_and_the_transports() {
        let text = scenario_text(&bench(&["sub", "-t", "bench/#", "-q", "2", "-S", "--ws"]), "x").unwrap();
        assert!(text.contains("url = \"wss://localhost:8084\""), "{text}");
        assert!(text.contains("subscribe = { filter = \"bench/#\", qos = 2 }"), "{text}");
        let text = scenario_text(&bench(&["conn", "--broker", "spawn:mosquitto", "-c", "3", "-i", "0"]), "x").unwrap();
        assert!(text.contains("url = \"spawn:mosquitto\"") && !text.contains("connect_rate"), "{text}");
        assert!(ScenarioFile::parse(Path::new("c.toml"), &text).is_ok());
    }

    /// A single host is written as bench commands have always written it:
    /// users' saved scenarios are a contract, so this is the whole text.
    #[test]
    fn one_host_writes_the_scenario_text_it_always_did() {
        let args = ["conn", "-h", "10.0.0.7", "-p", "1999", "-c", "3", "--prefix", "p", "--shortids"];
        let text = scenario_text(&bench(&args), "midge conn …").unwrap();
        let want = "# midge conn, as a scenario file: `midge run` on this file runs the same plan.\n# From: midge conn …\nname = \"conn\"\nprotocol = \"5\"\n\n[broker]\nurl = \"mqtt://10.0.0.7:1999\"\n\n[[group]]\nname = \"conn\"\nclients = 3\nfirst_index = 1\nclient_id = { scheme = \"prefix-serial\", prefix = \"p\" }\nconnect_rate = 100\nkeepalive = \"300s\"\nclean_session = true\n";
        assert_eq!(text, want);
        let one = |args: &[&str]| broker_urls(bench(args).common()).unwrap();
        assert_eq!(one(&["conn", "--broker", "spawn:mosquitto"]), ["spawn:mosquitto"]);
        assert_eq!(one(&["conn", "-h", "::1", "-p", "2"]), ["mqtt://[::1]:2"]);
    }

    /// emqtt-bench's `-h h1,h2 -p P`: one URL per host on the one port, the
    /// clients round-robin over them; `--broker a,b` and `--broker` repeated alike.
    #[test]
    fn a_host_list_spreads_the_clients_over_the_hosts() {
        let args = ["conn", "-h", "127.0.0.1, 127.0.0.2,broker-3.lan", "-p", "1884", "-c", "7", "-S"];
        let text = scenario_text(&bench(&args), "x").unwrap();
        let want = "url = [\"mqtts://127.0.0.1:1884\", \"mqtts://127.0.0.2:1884\", \"mqtts://broker-3.lan:1884\"]\n";
        assert!(text.contains(want), "{text}");
        let f = ScenarioFile::parse(Path::new("c.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let plan = crate::plan::Plan::build(&f, &Overrides::default()).unwrap();
        let urls: Vec<&str> = plan.brokers.iter().map(|b| b.url.as_str()).collect();
        assert_eq!(urls, ["mqtts://127.0.0.1:1884", "mqtts://127.0.0.2:1884", "mqtts://broker-3.lan:1884"]);
        let on: Vec<u16> = plan.clients.iter().map(|c| c.broker).collect();
        assert_eq!(on, [0, 1, 2, 0, 1, 2, 0]);

        let urls = |args: &[&str]| broker_urls(bench(args).common()).unwrap();
        let (a, b, c) = ("mqtt://127.0.0.1:1", "mqtt://127.0.0.1:2", "mqtt://127.0.0.1:3");
        assert_eq!(urls(&["pub", "-t", "t", "--broker", &format!("{a},{b}"), "--broker", c]), [a, b, c]);
        assert_eq!(urls(&["sub", "-t", "t", "-h", "h1,h2", "--ws"]), ["ws://h1:8083", "ws://h2:8083"]);
        // --broker wins over -h, as it always did.
        assert_eq!(urls(&["conn", "-h", "h1,h2", "--broker", a]), [a]);
    }

    #[test]
    fn a_bad_host_or_broker_list_is_refused_naming_the_flag() {
        let refused = |args: &[&str]| scenario_text(&bench(args), "x").unwrap_err();
        let e = refused(&["conn", "-h", "127.0.0.1,,127.0.0.2"]);
        assert!(e.starts_with("-h \"127.0.0.1,,127.0.0.2\": an empty item"), "{e}");
        assert!(refused(&["conn", "-h", "a,"]).starts_with("-h \"a,\": an empty item"));
        let e = refused(&["conn", "-h", "a,b:1884"]);
        assert!(e.starts_with("-h \"a,b:1884\": \"b:1884\" is not a host name") && e.contains("-p"), "{e}");
        assert!(refused(&["conn", "-h", "mqtt://a"]).contains("\"mqtt://a\" is not a host name"));
        assert!(refused(&["conn", "-h", "a b"]).contains("\"a b\" is not a host name"));
        let e = refused(&["conn", "--broker", "mqtt://127.0.0.1:1,", "--broker", "mqtt://127.0.0.1:2"]);
        assert!(e.starts_with("--broker \"mqtt://127.0.0.1:1,,mqtt://127.0.0.1:2\": an empty item"), "{e}");
        let e = refused(&["conn", "--broker", "mqtt://127.0.0.1:1,ftp://x"]);
        assert!(e.starts_with("--broker: ") && e.contains("ftp://x"), "{e}");
        let e = refused(&["conn", "--broker", "embedded,mqtt://127.0.0.1:1"]);
        assert!(e.starts_with("--broker: ") && e.contains("midge starts one broker at most"), "{e}");
    }

    #[test]
    fn credentials_and_tls_files_go_where_a_scenario_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "secret\n").unwrap();
        let args = ["conn", "-u", "me", "--password-file", pw.to_str().unwrap(), "-S", "--cacertfile", "ca.pem"];
        let text = scenario_text(&bench(&args), "x").unwrap();
        assert!(text.contains("username = \"me\""), "{text}");
        assert!(text.contains(&format!("password_file = {}", quoted(pw.to_str().unwrap()))), "{text}");
        assert!(!text.contains("secret"), "the password itself is never in the scenario");
        assert!(
            text.contains("[broker.tls]\nca_file = ") && text.contains("url = \"mqtts://localhost:8883\""),
            "{text}"
        );
        let f = ScenarioFile::parse(&dir.path().join("c.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let plan = crate::plan::Plan::build(&f, &Overrides::default()).unwrap();
        let secrets = plan.resolve_secrets().unwrap();
        let plan = plan.resolved(secrets, Vec::new());
        let creds = plan.groups[0].credentials.as_ref().expect("credentials resolved");
        assert_eq!((creds.username.as_str(), creds.password.as_str()), ("me", "secret"));
    }

    #[test]
    fn what_midge_cannot_do_is_refused_by_name() {
        let refused = |args: &[&str]| scenario_text(&bench(args), "x").unwrap_err();
        assert!(refused(&["conn", "-P", "hunter2"]).contains("--password-env"));
        assert!(!refused(&["conn", "-P", "hunter2"]).contains("hunter2"), "the password is never echoed");
        assert!(refused(&["pub", "-t", "a", "-s", "10"]).contains("40"));
        assert!(refused(&["pub", "-t", "a", "-c", "3", "-L", "10"]).contains("-L 12"));
        assert!(refused(&["conn", "-V", "3"]).contains("3.1.1"));
        assert!(refused(&["sub", "-t", "a/%u"]).contains("%u"));
    }

    #[test]
    fn a_run_name_gives_the_same_id_whatever_the_command() {
        assert_eq!(run_id("x"), run_id("x"));
        assert_ne!(run_id("x"), run_id("y"));
        assert_eq!(run_id("00000000000000ff"), 255);
    }
}
