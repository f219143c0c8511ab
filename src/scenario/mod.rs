//! Scenario files: the TOML a user writes, parsed and validated.
//!
//! Every key a shipped scenario or the guide (docs/guide/scenarios.md) names is a contract: keys may be added,
//! never renamed. Unknown keys are errors. Every error carries the file, line
//! and column it refers to, so `midge validate` can point at the mistake.

use crate::mqtt::protocol::ProtocolVersion;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

mod bounds;
mod broker_url;
mod capacity;
mod fault;
mod hint;
mod reconnect;
mod shows;
mod source_addrs;
mod validate;
mod values;

pub use broker_url::{several_are_external, BrokerSpec, BrokerUrls, Wire};
pub use capacity::{CapacityPass, CapacitySpec, CapacityVary, DEFAULT_MAX_STEPS, MAX_STEPS_LIMIT};
pub use fault::{FaultAction, FaultDirection, FaultSpec, MalformedPacket};
pub use reconnect::{ReconnectPolicy, ReconnectSpec};
pub use shows::Shown;
pub use source_addrs::parse_source_addrs;
pub use values::{parse_duration, Dur, FilterTemplate, Qos, RetainHandling, TopicTemplate};

/// A scenario error located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    /// `mqtt://host:port`, `embedded` or `spawn:mosquitto`; or a list of
    /// URLs, the clients spread over them round-robin.
    pub url: Option<BrokerUrls>,
    /// The user name itself (a user name is no secret; the password never
    /// lives in the file). Takes the place of `username_env` / `username_file`.
    pub username: Option<String>,
    /// Name of the environment variable holding the user name.
    pub username_env: Option<String>,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// Files holding the user name and password (mounted secrets), relative
    /// to the scenario file; a trailing newline is trimmed.
    pub username_file: Option<String>,
    pub password_file: Option<String>,
    /// Refused (`validate`): an inline password would live in the file.
    pub password: Option<Spanned<toml::Value>>,
    /// Extra lines for the generated mosquitto.conf (spawn:mosquitto only).
    #[serde(default)]
    pub mosquitto_conf: Vec<String>,
    /// spawn:mosquitto keeps sessions and queued messages on disk (and across
    /// a `restart-broker` fault).
    #[serde(default)]
    pub persistence: bool,
    /// Local addresses to connect from, e.g. "127.0.0.2-127.0.0.9" (spreads
    /// connections past one address's source-port range).
    pub source_addrs: Option<String>,
    /// For mqtts:// brokers: which certificates to trust, and a client
    /// certificate if the broker asks for one.
    pub tls: Option<TlsSection>,
}

/// `[broker.tls]`. Paths are relative to the scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM file of the certificate authorities to trust (default: the
    /// public web roots).
    pub ca_file: Option<String>,
    /// PEM client certificate chain and key, for brokers that require one.
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    /// Name to check the broker's certificate against (default: the URL's host).
    pub server_name: Option<String>,
    /// Take any certificate the broker shows, unverified (a self-signed
    /// test broker). The report says so prominently.
    #[serde(default)]
    pub insecure: bool,
}

/// A group's `tls = { cert_file, key_file }`: its own client certificate
/// instead of `[broker.tls]`'s. Paths are relative to the scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupTls {
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdScheme {
    PrefixSerial,
    PrefixRandom,
    PrefixTime,
    PrefixTimeRandom,
    Fixed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIdSpec {
    pub scheme: IdScheme,
    pub prefix: Option<String>,
    pub id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    pub topic: TopicTemplate,
    #[serde(default)]
    pub qos: Qos,
    /// Messages per second per client, on a constant-rate schedule.
    pub rate: f64,
    /// Payload size in bytes, the tracking header included.
    #[serde(default = "default_payload")]
    pub payload: usize,
    #[serde(default)]
    pub retain: bool,
    /// Stop after this many messages per client (otherwise: until the duration ends).
    pub count: Option<u64>,
    /// Begin this long after publishing starts (a later stage of the run).
    pub start_after: Option<Dur>,
    /// "constant" (default), "poisson" or "burst".
    #[serde(default)]
    pub arrival: ArrivalSpec,
    /// Messages per burst with arrival = "burst" (default 10).
    pub burst: Option<u32>,
    /// MQTT 5 message expiry interval: a message the broker held longer is
    /// not delivered, and not owed.
    pub expiry: Option<Dur>,
    /// MQTT 5: send the topic once per connection, then a topic alias (if
    /// the broker's Topic Alias Maximum allows one).
    #[serde(default)]
    pub topic_alias: bool,
    /// MQTT 5 user properties on every message, checked on delivery.
    pub user_properties: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ArrivalSpec {
    #[default]
    Constant,
    Poisson,
    Burst,
}

fn default_payload() -> usize {
    crate::payload::HEADER_LEN
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribeSpec {
    pub filter: FilterTemplate,
    #[serde(default)]
    pub qos: Qos,
    /// A slow consumer: take in at most this many messages per second
    /// (reads are paced, so the broker's queue for the client fills).
    pub max_rate: Option<f64>,
    /// MQTT 5 subscription options (absent: the protocol's defaults, off /
    /// off / send): the broker does not send a client its own messages
    /// back; keeps RETAIN as published on live deliveries; when it replays
    /// retained messages.
    pub no_local: Option<bool>,
    pub retain_as_published: Option<bool>,
    pub retain_handling: Option<RetainHandling>,
    /// SUBSCRIBE again on a connection that resumed a session holding the
    /// subscription (as clients that do not trust the session do); by
    /// default midge relies on the session.
    pub resubscribe: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    #[serde(default = "one")]
    pub clients: u32,
    /// This group's own broker (a URL): publishers on one cluster node,
    /// subscribers on another. Absent: `[broker] url`'s.
    pub broker: Option<Spanned<String>>,
    pub client_id: Option<ClientIdSpec>,
    /// The number `{i}` and a `prefix-serial` id count from (default 0):
    /// emqtt-bench's `-n`, whose `%i` counts from `-n` + 1.
    pub first_index: Option<u32>,
    /// New connections per second for this group; absent means as fast as possible.
    pub connect_rate: Option<f64>,
    #[serde(default = "yes")]
    pub clean_session: bool,
    pub keepalive: Option<Dur>,
    /// Per-group protocol override.
    pub protocol: Option<ProtocolVersion>,
    /// Outbound QoS 1/2 publishes awaiting acknowledgement, per client.
    pub max_inflight: Option<u16>,
    /// A publisher's own queue while disconnected (paho's
    /// `max_queued_messages_set`): messages due while offline wait, up to
    /// this many, and go out on reconnect; the rest are never sent (unsent).
    /// Absent: no bound.
    pub max_queued: Option<u64>,
    /// MQTT 3.1.1: resend an unacknowledged QoS 1/2 PUBLISH (DUP) or PUBREL
    /// on the same connection after this long (paho's `message_retry_set`).
    pub retry_interval: Option<Dur>,
    /// SO_RCVBUF / SO_SNDBUF of the group's sockets, in bytes, set before
    /// connect (absent: the kernel's default and its autotuning). Small
    /// buffers bound the kernel memory a run of many idle clients holds.
    pub rcvbuf: Option<Spanned<u32>>,
    pub sndbuf: Option<Spanned<u32>>,
    /// MQTT 5 CONNECT Receive Maximum: at most this many QoS 1/2 PUBLISHes
    /// the broker may have in flight toward each client (1..=65535).
    pub receive_maximum: Option<Spanned<i64>>,
    /// MQTT 5 CONNECT Maximum Packet Size, bytes: the largest packet the
    /// broker may send each client (1..=268435460).
    pub maximum_packet_size: Option<Spanned<i64>>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub username_file: Option<String>,
    pub password_file: Option<String>,
    /// Refused (`validate`): an inline password would live in the file.
    pub password: Option<Spanned<toml::Value>>,
    /// Last will: the broker publishes it when a connection ends without DISCONNECT.
    pub will: Option<Spanned<WillSpec>>,
    /// Connect this long after publishing starts (a group that joins later).
    pub start_after: Option<Dur>,
    pub publish: Option<Spanned<PublishSpec>>,
    pub subscribe: Option<Spanned<SubscribeSpec>>,
    /// Its own TLS client certificate (mqtts://, wss:// brokers).
    pub tls: Option<Spanned<GroupTls>>,
    /// `reconnect = false`, or `{ delay, max_delay, factor, jitter }`.
    /// Default: on, 1 s doubling to 120 s (paho's automatic reconnect).
    pub reconnect: Option<ReconnectSpec>,
    /// MQTT 5 session expiry for `clean_session = false` (default: never expires).
    pub session_expiry: Option<Dur>,
    /// Keep retrying when the first connection is refused (e.g. bad
    /// credentials), with the reconnect backoff. Off by default: no storm.
    #[serde(default)]
    pub retry_connect: bool,
}

/// `will = { topic, payload, qos, retain, delay }`. midge puts its own tag
/// first in the payload (run, client, connection) so each will received is
/// matched to the connection that left it; `payload` text follows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WillSpec {
    pub topic: TopicTemplate,
    pub payload: Option<String>,
    #[serde(default)]
    pub qos: Qos,
    #[serde(default)]
    pub retain: bool,
    /// MQTT 5 Will Delay Interval.
    pub delay: Option<Spanned<Dur>>,
}

/// One `[[stage]]`: how long it lasts, and where the rates and client counts
/// it names are at its end (each ramps linearly from the previous stage's
/// value; a group it does not name holds its value).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub duration: Spanned<Dur>,
    /// Messages per second per client, by group name, at the end of the stage.
    pub rate: Option<std::collections::BTreeMap<Spanned<String>, f64>>,
    /// Connected clients, by group name, at the end of the stage.
    pub clients: Option<std::collections::BTreeMap<Spanned<String>, u32>>,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub lost: Option<u64>,
    pub duplicated: Option<u64>,
    pub out_of_order: Option<u64>,
    pub connect_failures: Option<u64>,
    /// At most this many connections closed because the broker broke the
    /// protocol (default 0).
    pub protocol_violations: Option<u64>,
    /// At least this many messages received in all.
    pub received_min: Option<u64>,
    pub connect_p99: Option<Dur>,
    pub e2e_p99: Option<Dur>,
    pub ack_p99: Option<Dur>,
    /// Finding kinds that must not appear (only kinds midge can report).
    #[serde(default)]
    pub findings: Vec<crate::record::vocab::FindingKind>,
    /// Findings that must appear, at least once each: what a bug
    /// reproduction shows (`scenarios/bugs/`, `midge shrink`'s output). A
    /// kind, or a spec_violation of one rule (`"spec_violation:MQTT-3.3.4-9"`).
    #[serde(default)]
    pub shows: Vec<Shown>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    /// How long publishing runs once every client is connected and subscribed.
    pub duration: Option<Dur>,
    /// How long to wait for in-flight messages after publishing stops.
    pub drain: Option<Dur>,
    /// How often report.json and report.md are rewritten while the run goes
    /// on (marked partial), so a soak killed outright still leaves a
    /// report. Default: every 60 s for a run longer than that; "0s": never.
    pub report_every: Option<Dur>,
    /// Publishers send everything due within this window in one write, and
    /// a busy connection reads at most once per window: far fewer system
    /// calls, latency resolution no finer than the window. 0: a wake-up per
    /// arriving packet. None (the default): adaptive — a connection batches
    /// its reads to 1 ms only while it takes in many packets per ms.
    pub batch_window: Option<Spanned<Dur>>,
    #[serde(default)]
    pub protocol: ProtocolVersion,
    #[serde(default)]
    pub broker: BrokerSection,
    #[serde(rename = "group", default)]
    pub groups: Vec<Spanned<Group>>,
    #[serde(rename = "fault", default)]
    pub faults: Vec<Spanned<FaultSpec>>,
    /// `[[stage]]`: the run as stages, each ramping group rates and client
    /// counts linearly to its targets (absent: one stage of `duration`).
    #[serde(rename = "stage", default)]
    pub stages: Vec<Spanned<StageSpec>>,
    #[serde(default)]
    pub expect: Expect,
    /// At the end, clear every topic midge published retained messages to
    /// (an empty retained message each), so a rerun starts clean. Default true.
    pub retained_cleanup: Option<bool>,
    /// `[capacity]`: what `midge capacity` steps and how it judges a step
    /// (ignored by `midge run`).
    pub capacity: Option<toml::Spanned<CapacitySpec>>,
}

/// A `midge capacity` step's hold when neither `[capacity] hold` nor the
/// scenario's duration says (`midge run` without a duration runs until Ctrl-C).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(3);
/// The periodic report of a run longer than this comes this often (`report_every`).
pub const DEFAULT_REPORT_EVERY: Duration = Duration::from_secs(60);
pub const MAX_BATCH_WINDOW: Duration = Duration::from_millis(100);
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_INFLIGHT: u16 = 20;

/// A parsed scenario with the text it came from (for hashing and error positions).
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub path: PathBuf,
    pub text: String,
    pub scenario: Scenario,
}

impl ScenarioFile {
    pub fn load(path: &Path) -> Result<ScenarioFile, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("cannot read scenario: {e}"),
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ScenarioFile, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ScenarioError { file: path.to_path_buf(), line, column, message: hint::humane(e.message().trim()) }
        })?;
        let file = ScenarioFile { path: path.to_path_buf(), text: text.to_string(), scenario };
        file.validate()?;
        Ok(file)
    }

    /// The groups a capacity search steps, by index: the one `[capacity]
    /// group` names, else every group that publishes. Empty without a
    /// `[capacity]` table (or when nothing matches).
    pub fn capacity_groups(&self) -> Vec<usize> {
        let Some(c) = &self.scenario.capacity else { return Vec::new() };
        let groups = self.scenario.groups.iter().map(|g| g.get_ref()).enumerate();
        match &c.get_ref().group {
            Some(name) => groups.filter(|(_, g)| &g.name == name).map(|(i, _)| i).collect(),
            None => groups.filter(|(_, g)| g.publish.is_some()).map(|(i, _)| i).collect(),
        }
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ScenarioError {
        let (line, column) = line_col(&self.text, offset);
        ScenarioError { file: self.path.clone(), line, column, message: message.into() }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::rules::Rule;

    fn parse(text: &str) -> Result<ScenarioFile, ScenarioError> {
        ScenarioFile::parse(Path::new("t.toml"), text)
    }

    const OK: &str = r#"
name = "t"
duration = "2s"
[[group]]
name = "pub"
clients = 3
publish = { topic = "a/{client}", qos = 1, rate = 10.0, payload = 64 }
[[group]]
name = "sub"
subscribe = { filter = "a/+", qos = 1 }
"#;

    #[test]
    fn parses_a_valid_scenario() {
        let f = parse(OK).unwrap();
        assert_eq!(f.scenario.groups.len(), 2);
        assert_eq!(f.scenario.duration.unwrap().0, Duration::from_secs(2));
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = OK.replace("clients = 3", "clients = 3\ncolour = \"red\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, 7, "{e}");
        assert_eq!(e.column, 1, "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn bad_qos_points_at_the_value() {
        let text = OK.replace("qos = 1, rate", "qos = 3, rate");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("qos must be 0, 1 or 2"), "{e}");
    }

    #[test]
    fn bad_duration_is_explained() {
        let text = OK.replace("\"2s\"", "\"two seconds\"");
        let e = parse(&text).unwrap_err();
        assert_eq!((e.line, e.column), (3, 12), "{e}");
        assert!(e.message.contains("invalid duration"), "{e}");
    }

    #[test]
    fn socket_buffer_sizes_parse_and_are_bounded() {
        let f = parse(&OK.replace("clients = 3", "clients = 3\nrcvbuf = 4096\nsndbuf = 2048")).unwrap();
        let g = &f.scenario.groups[0].get_ref();
        assert_eq!(
            (g.rcvbuf.as_ref().map(|b| *b.get_ref()), g.sndbuf.as_ref().map(|b| *b.get_ref())),
            (Some(4096), Some(2048))
        );
        // Too small: the error points at the value, line 8 column 10.
        let e = parse(&OK.replace("clients = 3", "clients = 3\nsndbuf = 4096\nrcvbuf = 512")).unwrap_err();
        assert_eq!((e.line, e.column), (8, 10), "{e}");
        assert_eq!(e.message, "group \"pub\": `rcvbuf` must be between 1024 and 1073741824 bytes, not 512");
        let e = parse(&OK.replace("clients = 3", "clients = 3\nsndbuf = 2000000000")).unwrap_err();
        assert_eq!((e.line, e.column), (7, 10), "{e}");
        assert!(e.message.contains("`sndbuf` must be between 1024 and 1073741824 bytes"), "{e}");
        // Not a number of bytes: the TOML error, at the value.
        let e = parse(&OK.replace("clients = 3", "clients = 3\nrcvbuf = \"4KiB\"")).unwrap_err();
        assert_eq!((e.line, e.column), (7, 10), "{e}");
    }

    #[test]
    fn wildcard_in_publish_topic_is_an_error() {
        let text = OK.replace("a/{client}", "a/+");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("wildcard"), "{e}");
    }

    #[test]
    fn expect_findings_take_only_kinds_midge_reports() {
        let ok = format!("{OK}\n[expect]\nfindings = [\"duplicate_id_loop\"]\n");
        assert!(parse(&ok).is_ok());
        // A disconnect cause is no finding: the expectation could never fail.
        let text = format!("{OK}\n[expect]\nfindings = [\"keepalive_timeout\"]\n");
        let e = parse(&text).unwrap_err();
        let line = text.lines().position(|l| l.starts_with("findings")).unwrap() + 1;
        assert_eq!((e.line, e.column), (line, 12), "{e}");
        assert!(e.message.contains("unknown finding kind \"keepalive_timeout\""), "{e}");
        assert!(e.message.contains("duplicate_id_loop"), "the error lists the kinds: {e}");
    }

    #[test]
    fn a_finding_both_forbidden_and_shown_is_refused() {
        assert!(parse(&format!("{OK}\n[expect]\nshows = [\"qos_violation\"]\n")).is_ok());
        let text = format!("{OK}\n[expect]\nfindings = [\"qos_violation\"]\nshows = [\"qos_violation\"]\n");
        let e = parse(&text).unwrap_err();
        let line = text.lines().position(|l| l == "[expect]").unwrap() + 1;
        assert_eq!((e.line, e.column), (line, 1), "{e}");
        assert!(e.message.contains("qos_violation is in `findings`"), "{e}");
    }

    #[test]
    fn shows_names_a_rule_by_id_or_name_and_an_unknown_one_is_an_error_where_it_is() {
        let text = format!("{OK}\n[expect]\nshows = [\"qos_violation\", \"spec_violation:MQTT-4.6.0-6\"]\n");
        let shows = parse(&text).unwrap().scenario.expect.shows;
        let order = Shown { kind: crate::record::vocab::FindingKind::SpecViolation, rule: Some(Rule::TopicOrder) };
        assert_eq!(shows, [Shown::kind(crate::record::vocab::FindingKind::QosViolation), order]);
        let text = format!("{OK}\n[expect]\nshows = [\"spec_violation:MQTT-4.6.0-7\"]\n");
        let e = parse(&text).unwrap_err();
        let line = text.lines().position(|l| l.starts_with("shows")).unwrap() + 1;
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains("unknown rule `MQTT-4.6.0-7`"), "{e}");
        assert!(e.message.contains("did you mean `MQTT-4.6.0-6`?"), "{e}");
        // An MQTT 5 rule in a scenario whose groups all speak 3.1.1.
        let text = format!("{OK}\n[expect]\nshows = [\"spec_violation:receive_maximum\"]\n");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("a rule of MQTT 5 only"), "{e}");
        assert!(
            parse(&format!("protocol = \"5\"\n{OK}\n[expect]\nshows = [\"spec_violation:receive_maximum\"]\n")).is_ok()
        );
    }

    #[test]
    fn semantic_errors_point_at_the_group() {
        let text = OK.replace("clients = 3", "clients = 0");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("group \"pub\""), "{e}");
    }

    #[test]
    fn fixed_scheme_needs_an_id() {
        let text = OK.replace("clients = 3", "clients = 3\nclient_id = { scheme = \"fixed\" }");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("fixed"), "{e}");
    }

    #[test]
    fn batch_window_is_bounded_and_located() {
        let f = parse(&OK.replace("duration = \"2s\"", "duration = \"2s\"\nbatch_window = \"2ms\"")).unwrap();
        assert_eq!(f.scenario.batch_window.unwrap().get_ref().0, Duration::from_millis(2));
        let e = parse(&OK.replace("duration = \"2s\"", "duration = \"2s\"\nbatch_window = \"1s\"")).unwrap_err();
        assert_eq!((e.line, e.column), (4, 16), "{e}");
        assert!(e.message.contains("batch_window") && e.message.contains("100ms"), "{e}");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
