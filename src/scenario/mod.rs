//! Scenario files: the TOML a user writes, parsed and validated.
//!
//! Every key named in the design notes (§2) is a contract: keys may be added,
//! never renamed. Unknown keys are errors. Every error carries the file, line
//! and column it refers to, so `midge validate` can point at the mistake.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

mod broker_url;
mod source_addrs;

pub use crate::mqtt::ProtocolVersion;
pub use broker_url::BrokerSpec;
pub use source_addrs::parse_source_addrs;

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

/// A duration written as "60s", "500ms", "2m", "1h 30m".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(Dur).map_err(de::Error::custom)
    }
}

/// Parses "60s", "500ms", "2m", "1h30m"; a bare "0" means zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid duration {s:?} ({e}): write it like \"30s\", \"500ms\" or \"2m\""))
}

/// A QoS level, 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Qos(pub u8);

impl<'de> Deserialize<'de> for Qos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if (0..=2).contains(&v) {
            Ok(Qos(v as u8))
        } else {
            Err(de::Error::custom(format!("qos must be 0, 1 or 2, not {v}")))
        }
    }
}

/// A topic name template: `{client}`, `{i}` and `{group}` are filled per client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTemplate(pub String);

impl<'de> Deserialize<'de> for TopicTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(de::Error::custom("topic must not be empty"));
        }
        if s.contains('+') || s.contains('#') {
            return Err(de::Error::custom(format!(
                "topic {s:?} contains a wildcard (+ or #): a PUBLISH topic must be a plain name; wildcards belong in subscribe.filter"
            )));
        }
        if s.contains('\0') {
            return Err(de::Error::custom("topic must not contain NUL"));
        }
        check_placeholders(&s).map_err(de::Error::custom)?;
        Ok(TopicTemplate(s))
    }
}

fn check_placeholders(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("unclosed '{{' in {s:?}"));
        };
        let name = &after[..close];
        if !matches!(name, "client" | "i" | "group") {
            return Err(format!("unknown placeholder {{{name}}} in {s:?}: use {{client}}, {{i}} or {{group}}"));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// A subscription filter template (wildcards allowed, placeholders as in topics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterTemplate(pub String);

impl<'de> Deserialize<'de> for FilterTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::topic::validate_filter(&s).map_err(de::Error::custom)?;
        check_placeholders(&s).map_err(de::Error::custom)?;
        Ok(FilterTemplate(s))
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    /// `mqtt://host:port`, `embedded` or `spawn:mosquitto`.
    pub url: Option<String>,
    /// Name of the environment variable holding the user name.
    pub username_env: Option<String>,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    #[serde(default = "one")]
    pub clients: u32,
    pub client_id: Option<ClientIdSpec>,
    /// New connections per second for this group; absent means as fast as possible.
    pub connect_rate: Option<f64>,
    #[serde(default = "yes")]
    pub clean_session: bool,
    pub keepalive: Option<Dur>,
    /// Per-group protocol override.
    pub protocol: Option<ProtocolVersion>,
    /// Outbound QoS 1/2 publishes awaiting acknowledgement, per client.
    pub max_inflight: Option<u16>,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub publish: Option<Spanned<PublishSpec>>,
    pub subscribe: Option<Spanned<SubscribeSpec>>,
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

/// How a client reconnects after a lost connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectPolicy {
    pub delay: Duration,
    pub max_delay: Duration,
    pub factor: f64,
    pub jitter: f64,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy { delay: Duration::from_secs(1), max_delay: Duration::from_secs(120), factor: 2.0, jitter: 0.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReconnectSpec {
    Off,
    On(ReconnectPolicy),
}

impl<'de> Deserialize<'de> for ReconnectSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            delay: Option<Dur>,
            max_delay: Option<Dur>,
            factor: Option<f64>,
            jitter: Option<f64>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Table(Table),
        }
        let raw = Raw::deserialize(d).map_err(|_| {
            de::Error::custom(
                "reconnect must be true, false or { delay = \"1s\", max_delay = \"120s\", factor = 2.0, jitter = 0.2 }",
            )
        })?;
        match raw {
            Raw::Flag(false) => Ok(ReconnectSpec::Off),
            Raw::Flag(true) => Ok(ReconnectSpec::On(ReconnectPolicy::default())),
            Raw::Table(t) => {
                let d = ReconnectPolicy::default();
                let p = ReconnectPolicy {
                    delay: t.delay.map_or(d.delay, |x| x.0),
                    max_delay: t.max_delay.map_or(d.max_delay, |x| x.0),
                    factor: t.factor.unwrap_or(d.factor),
                    jitter: t.jitter.unwrap_or(d.jitter),
                };
                if !(p.factor >= 1.0 && p.factor.is_finite()) {
                    return Err(de::Error::custom(format!("reconnect.factor must be at least 1.0, not {}", p.factor)));
                }
                if !(0.0..=1.0).contains(&p.jitter) {
                    return Err(de::Error::custom(format!(
                        "reconnect.jitter must be between 0 and 1, not {}",
                        p.jitter
                    )));
                }
                if p.max_delay < p.delay {
                    return Err(de::Error::custom("reconnect.max_delay must not be below reconnect.delay"));
                }
                Ok(ReconnectSpec::On(p))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultAction {
    /// Close the chosen clients' connections now.
    Cut,
    /// Stop forwarding for `for` without closing: keepalive must notice.
    Blackhole,
    /// Add `delay` to every packet for `for`.
    Delay,
    /// Lose the next `count` PUBLISH packets (direction: to-client by default).
    Drop,
    /// kill -9 the spawned mosquitto and start it again after `for`.
    RestartBroker,
    /// For `for`, a twin connection with the same client id as each chosen
    /// client, reconnecting as they do: the two knock each other off.
    DuplicateIds,
    /// The chosen clients send a bad packet (`packet`) on purpose.
    Malformed,
}

/// The bad packet a `malformed` fault sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MalformedPacket {
    /// PUBLISH to a topic name with a wildcard.
    WildcardTopic,
    /// PUBLISH larger than the broker's maximum packet size (`size` bytes of payload).
    Oversize,
    /// More QoS 1 PUBLISH in flight than the broker's Receive Maximum (`count`).
    ReceiveMaximum,
    /// A fixed header whose remaining length never ends.
    BadRemainingLength,
    /// A second CONNECT on an established connection.
    SecondConnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FaultDirection {
    #[default]
    ToClient,
    ToBroker,
    Both,
}

/// One `[[fault]]`: what happens, when (from the start of publishing), to whom.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub at: Dur,
    pub action: FaultAction,
    pub group: Option<String>,
    /// Only the first N clients of the group (default: all of them).
    pub clients: Option<u32>,
    #[serde(rename = "for")]
    pub for_: Option<Dur>,
    pub delay: Option<Dur>,
    pub count: Option<u64>,
    #[serde(default)]
    pub direction: FaultDirection,
    /// malformed: which bad packet.
    pub packet: Option<MalformedPacket>,
    /// malformed oversize: payload bytes.
    pub size: Option<usize>,
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
    /// At least this many messages received in all.
    pub received_min: Option<u64>,
    pub connect_p99: Option<Dur>,
    pub e2e_p99: Option<Dur>,
    pub ack_p99: Option<Dur>,
    /// Finding kinds that must not appear.
    #[serde(default)]
    pub findings: Vec<String>,
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
    /// Publishers send everything due within this window in one write, and
    /// a busy connection reads at most once per window: far fewer system
    /// calls, latency resolution no finer than the window. 0 (the default):
    /// a wake-up per due message and per arriving packet.
    pub batch_window: Option<Spanned<Dur>>,
    #[serde(default)]
    pub protocol: ProtocolVersion,
    #[serde(default)]
    pub broker: BrokerSection,
    #[serde(rename = "group", default)]
    pub groups: Vec<Spanned<Group>>,
    #[serde(rename = "fault", default)]
    pub faults: Vec<Spanned<FaultSpec>>,
    #[serde(default)]
    pub expect: Expect,
}

pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(3);
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
            ScenarioError { file: path.to_path_buf(), line, column, message: e.message().trim().to_string() }
        })?;
        let file = ScenarioFile { path: path.to_path_buf(), text: text.to_string(), scenario };
        file.validate()?;
        Ok(file)
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ScenarioError {
        let (line, column) = line_col(&self.text, offset);
        ScenarioError { file: self.path.clone(), line, column, message: message.into() }
    }

    /// Checks that cross the boundaries of one value (which the types cannot see).
    fn validate(&self) -> Result<(), ScenarioError> {
        let s = &self.scenario;
        if s.name.trim().is_empty() {
            return Err(self.error_at(0, "`name` must not be empty"));
        }
        if s.groups.is_empty() {
            return Err(self.error_at(self.text.len(), "no [[group]]: a scenario needs at least one group of clients"));
        }
        if let Some(w) = &s.batch_window {
            if w.get_ref().0 > MAX_BATCH_WINDOW {
                return Err(self.error_at(
                    w.span().start,
                    format!(
                        "`batch_window` must be at most {}ms: it bounds latency resolution",
                        MAX_BATCH_WINDOW.as_millis()
                    ),
                ));
            }
        }
        if let Some(list) = &s.broker.source_addrs {
            if let Err(e) = parse_source_addrs(list) {
                let at = self.text.find(list.as_str()).unwrap_or(0);
                return Err(self.error_at(at, format!("broker.source_addrs: {e}")));
            }
        }
        if let Some(url) = &s.broker.url {
            if let Err(e) = BrokerSpec::parse(url) {
                let at = self.text.find(url.as_str()).unwrap_or(0);
                return Err(self.error_at(at, e));
            }
        }
        let mut names = std::collections::HashSet::new();
        for g in &s.groups {
            let at = g.span().start;
            let group = g.get_ref();
            if group.name.trim().is_empty() {
                return Err(self.error_at(at, "group `name` must not be empty"));
            }
            if !names.insert(group.name.as_str()) {
                return Err(
                    self.error_at(at, format!("group name {:?} is used twice: names must be unique", group.name))
                );
            }
            let ctx = |m: String| format!("group {:?}: {m}", group.name);
            if group.clients == 0 {
                return Err(self.error_at(at, ctx("`clients` must be at least 1".into())));
            }
            if let Some(rate) = group.connect_rate {
                if !(rate > 0.0 && rate.is_finite()) {
                    return Err(self.error_at(at, ctx(format!("`connect_rate` must be a positive number, not {rate}"))));
                }
            }
            if group.max_inflight == Some(0) {
                return Err(self.error_at(at, ctx("`max_inflight` must be at least 1".into())));
            }
            if let Some(k) = group.keepalive {
                if k.0.as_secs() > u16::MAX as u64 {
                    return Err(self.error_at(at, ctx("`keepalive` must be at most 65535s (MQTT limit)".into())));
                }
            }
            if let Some(spec) = &group.client_id {
                match spec.scheme {
                    IdScheme::Fixed => {
                        if spec.id.as_deref().unwrap_or("").is_empty() {
                            return Err(
                                self.error_at(at, ctx("client_id scheme \"fixed\" needs `id = \"...\"`".into()))
                            );
                        }
                    }
                    _ => {
                        if spec.id.is_some() {
                            return Err(self.error_at(
                                at,
                                ctx("`id` is only for scheme \"fixed\"; use `prefix` with the prefix-* schemes".into()),
                            ));
                        }
                    }
                }
            }
            if let Some(p) = &group.publish {
                let pat = p.span().start;
                let p = p.get_ref();
                if !(p.rate > 0.0 && p.rate.is_finite()) {
                    return Err(self.error_at(
                        pat,
                        ctx(format!("publish.rate must be a positive number of messages per second, not {}", p.rate)),
                    ));
                }
                if p.payload < crate::payload::HEADER_LEN {
                    return Err(self.error_at(
                        pat,
                        ctx(format!(
                            "publish.payload must be at least {} bytes: every message carries midge's tracking header",
                            crate::payload::HEADER_LEN
                        )),
                    ));
                }
                if p.payload > 256 * 1024 * 1024 {
                    return Err(self.error_at(pat, ctx("publish.payload must be at most 256 MiB (MQTT limit)".into())));
                }
                if p.count == Some(0) {
                    return Err(self.error_at(pat, ctx("publish.count must be at least 1".into())));
                }
            }
        }
        for f in &s.faults {
            let at = f.span().start;
            let fault = f.get_ref();
            let name = format!("{:?}", fault.action).to_lowercase();
            match &fault.group {
                Some(g) => {
                    let Some(group) = s.groups.iter().find(|x| &x.get_ref().name == g) else {
                        return Err(self.error_at(at, format!("fault {name}: no group named {g:?}")));
                    };
                    if fault.clients.is_some_and(|n| n == 0 || n > group.get_ref().clients) {
                        return Err(self.error_at(
                            at,
                            format!(
                                "fault {name}: `clients` must be from 1 to the group's {} clients",
                                group.get_ref().clients
                            ),
                        ));
                    }
                }
                None if fault.clients.is_some() => {
                    return Err(self.error_at(at, format!("fault {name}: `clients` needs `group`")));
                }
                None => {}
            }
            match fault.action {
                FaultAction::Blackhole if fault.for_.is_none() => {
                    return Err(self.error_at(at, "fault blackhole needs `for` (how long to stop forwarding)"));
                }
                FaultAction::Delay if fault.for_.is_none() || fault.delay.is_none() => {
                    return Err(self.error_at(at, "fault delay needs `delay` (added latency) and `for` (how long)"));
                }
                FaultAction::RestartBroker if fault.group.is_some() => {
                    return Err(self.error_at(at, "fault restart-broker restarts the whole broker: remove `group`"));
                }
                FaultAction::Malformed if fault.packet.is_none() => {
                    return Err(self.error_at(
                        at,
                        "fault malformed needs `packet`: wildcard-topic, oversize, receive-maximum, bad-remaining-length or second-connect",
                    ));
                }
                FaultAction::DuplicateIds if fault.group.is_none() => {
                    return Err(self.error_at(at, "fault duplicate-ids needs `group` (whose ids get a twin)"));
                }
                FaultAction::Drop if fault.count == Some(0) => {
                    return Err(self.error_at(at, "fault drop: `count` must be at least 1"));
                }
                _ => {}
            }
        }
        for kind in &s.expect.findings {
            if !crate::report::FINDING_KINDS.contains(&kind.as_str()) {
                let at = self.text.find(kind.as_str()).unwrap_or(0);
                return Err(self.error_at(
                    at,
                    format!(
                        "unknown finding kind {kind:?} in expect.findings: one of {}",
                        crate::report::FINDING_KINDS.join(", ")
                    ),
                ));
            }
        }
        Ok(())
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
    fn wildcard_in_publish_topic_is_an_error() {
        let text = OK.replace("a/{client}", "a/+");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("wildcard"), "{e}");
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
