//! Where the broker under test is, and how clients talk to it: `embedded`
//! (`+tls`, `+ws`, `+wss`), `spawn:mosquitto` (`+tls`), or a `mqtt://`,
//! `mqtts://`, `ws://` or `wss://` URL.
//!
//! `BrokerSpec` carries the path of a ws:// or wss:// URL (default `/mqtt`);
//! `Wire` says how clients talk to it (tcp, tls, ws, wss) and decides which
//! faults the proxy can carry; `ws_uri` is the URI a client's WebSocket
//! handshake asks for.

/// How clients talk to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    #[default]
    Tcp,
    /// MQTT over TLS (mqtts://).
    Tls,
    /// MQTT over WebSocket (ws://).
    Ws,
    /// MQTT over WebSocket over TLS (wss://).
    Wss,
}

impl Wire {
    pub fn tls(self) -> bool {
        matches!(self, Wire::Tls | Wire::Wss)
    }

    pub fn ws(self) -> bool {
        matches!(self, Wire::Ws | Wire::Wss)
    }

    /// The URL scheme that names it.
    pub fn scheme(self) -> &'static str {
        match self {
            Wire::Tcp => "mqtt",
            Wire::Tls => "mqtts",
            Wire::Ws => "ws",
            Wire::Wss => "wss",
        }
    }

    /// The port a URL without one means.
    fn default_port(self) -> u16 {
        match self {
            Wire::Tcp => 1883,
            Wire::Tls => 8883,
            Wire::Ws => 80,
            Wire::Wss => 443,
        }
    }
}

/// The WebSocket path when a ws:// URL names none (and for local brokers).
pub const DEFAULT_WS_PATH: &str = "/mqtt";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerSpec {
    /// The in-process rumqttd; `+tls`, `+ws`, `+wss` give it that listener
    /// (with a throwaway certificate for the TLS ones).
    Embedded { wire: Wire },
    /// A mosquitto midge starts; `+tls` gives it a TLS listener with a
    /// throwaway certificate.
    SpawnMosquitto { wire: Wire },
    /// Any broker by URL; `path` is the WebSocket path (ws://, wss://).
    External { url: String, host: String, port: u16, wire: Wire, path: String },
}

impl BrokerSpec {
    pub const EMBEDDED: BrokerSpec = BrokerSpec::Embedded { wire: Wire::Tcp };
    pub const SPAWN_MOSQUITTO: BrokerSpec = BrokerSpec::SpawnMosquitto { wire: Wire::Tcp };

    pub fn parse(s: &str) -> Result<BrokerSpec, String> {
        let s = s.trim();
        if let Some(local) = parse_local(s)? {
            return Ok(local);
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(format!(
                "broker {s:?}: expected mqtt://host:port (or mqtts://, ws://, wss://), \"embedded\" or \"spawn:mosquitto\""
            ));
        };
        let wire = match scheme {
            "mqtt" | "tcp" => Wire::Tcp,
            "mqtts" | "ssl" | "tls" => Wire::Tls,
            "ws" => Wire::Ws,
            "wss" => Wire::Wss,
            _ => {
                return Err(format!(
                    "broker {s:?}: scheme {scheme}:// is not supported (mqtt://, mqtts://, ws:// and wss:// are)"
                ))
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = host_port(s, authority)?;
        let port = match port {
            "" => wire.default_port(),
            p => p.parse::<u16>().map_err(|_| format!("broker {s:?}: port {p:?} is not a number from 1 to 65535"))?,
        };
        if host.is_empty() {
            return Err(format!("broker {s:?}: no host"));
        }
        let path = match path.trim_end_matches('/') {
            _ if !wire.ws() => String::new(),
            "" => DEFAULT_WS_PATH.to_string(),
            _ => path.to_string(),
        };
        Ok(BrokerSpec::External { url: s.to_string(), host, port, wire, path })
    }

    /// The host name a TLS client checks the certificate against: the URL's,
    /// or `localhost` for a broker midge starts (its throwaway certificate
    /// names `localhost` and 127.0.0.1).
    pub fn host(&self) -> Option<&str> {
        match self {
            BrokerSpec::External { host, .. } => Some(host),
            _ => Some("localhost"),
        }
    }

    pub fn wire(&self) -> Wire {
        match self {
            BrokerSpec::Embedded { wire } | BrokerSpec::SpawnMosquitto { wire } | BrokerSpec::External { wire, .. } => {
                *wire
            }
        }
    }

    pub fn is_tls(&self) -> bool {
        self.wire().tls()
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, BrokerSpec::Embedded { .. })
    }

    pub fn is_spawned_mosquitto(&self) -> bool {
        matches!(self, BrokerSpec::SpawnMosquitto { .. })
    }

    /// The URI of the WebSocket handshake (ws://, wss://), for a broker
    /// listening at `addr`: the URL's host, port and path as written (the
    /// Host header names the broker even when midge's proxy is in between).
    pub fn ws_uri(&self, addr: std::net::SocketAddr) -> Option<String> {
        let wire = self.wire();
        if !wire.ws() {
            return None;
        }
        Some(match self {
            BrokerSpec::External { host, port, path, .. } if host.contains(':') => {
                format!("{}://[{host}]:{port}{path}", wire.scheme())
            }
            BrokerSpec::External { host, port, path, .. } => format!("{}://{host}:{port}{path}", wire.scheme()),
            _ => format!("{}://{addr}{DEFAULT_WS_PATH}", wire.scheme()),
        })
    }
}

/// `[broker] url` and `--broker`: one broker, or several (a cluster's
/// nodes, bridged brokers) that the clients of a group without its own
/// `broker` are spread over round-robin (client k of the group on URL k mod
/// N). Several are external brokers only: midge starts one broker at most.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerUrls(pub Vec<String>);

impl BrokerUrls {
    /// A comma list (`--broker a,b`, or the flag given twice and joined).
    pub fn from_list(s: &str) -> BrokerUrls {
        BrokerUrls(s.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect())
    }

    /// As `--broker` and the run record keep it: a comma list.
    pub fn joined(&self) -> String {
        self.0.join(",")
    }

    /// Each URL parsed; several must all be external brokers.
    pub fn parse(&self) -> Result<Vec<BrokerSpec>, String> {
        if self.0.is_empty() {
            return Err("broker: an empty list names no broker".into());
        }
        let specs = self.0.iter().map(|u| BrokerSpec::parse(u)).collect::<Result<Vec<_>, _>>()?;
        several_are_external(&specs, &self.0)?;
        Ok(specs)
    }
}

/// Several brokers in one run must all be brokers midge reaches by URL:
/// it starts at most one broker, and a list of brokers is a cluster's nodes.
pub fn several_are_external(specs: &[BrokerSpec], urls: &[String]) -> Result<(), String> {
    let distinct: std::collections::BTreeSet<&String> = urls.iter().collect();
    match specs.iter().zip(urls).find(|(s, _)| !matches!(s, BrokerSpec::External { .. })) {
        Some((_, local)) if distinct.len() > 1 => Err(format!(
            "broker {local:?} in a run of several brokers: midge starts one broker at most, so several brokers (a list, or a group's own `broker`) must all be URLs of brokers already running (mqtt://, mqtts://, ws://, wss://)"
        )),
        _ => Ok(()),
    }
}

impl<'de> serde::Deserialize<'de> for BrokerUrls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Urls;
        impl<'de> serde::de::Visitor<'de> for Urls {
            type Value = BrokerUrls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a broker URL, or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BrokerUrls, E> {
                Ok(BrokerUrls(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<BrokerUrls, A::Error> {
                let mut urls = Vec::new();
                while let Some(u) = seq.next_element::<String>()? {
                    urls.push(u);
                }
                Ok(BrokerUrls(urls))
            }
        }
        d.deserialize_any(Urls)
    }
}

/// `embedded[+tls|+ws|+wss]`, `spawn:mosquitto[+tls]`; None for a URL.
fn parse_local(s: &str) -> Result<Option<BrokerSpec>, String> {
    let (base, wire) = match s.split_once('+') {
        None => (s, Wire::Tcp),
        Some((base, "tls")) => (base, Wire::Tls),
        Some((base, "ws")) => (base, Wire::Ws),
        Some((base, "wss")) => (base, Wire::Wss),
        Some((base @ ("embedded" | "spawn:mosquitto"), other)) => {
            return Err(format!("broker {s:?}: unknown transport +{other} after {base} (+tls, +ws or +wss)"))
        }
        Some(_) => return Ok(None),
    };
    match base {
        "embedded" => Ok(Some(BrokerSpec::Embedded { wire })),
        "spawn:mosquitto" if wire.ws() => Err(format!(
            "broker {s:?}: Debian's mosquitto has no WebSocket listener; use \"embedded+ws\" or a ws:// URL"
        )),
        "spawn:mosquitto" => Ok(Some(BrokerSpec::SpawnMosquitto { wire })),
        _ => Ok(None),
    }
}

/// Host and port (possibly empty) of a URL's authority; `[v6]` brackets off.
fn host_port<'a>(s: &str, authority: &'a str) -> Result<(String, &'a str), String> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or_else(|| format!("broker {s:?}: unclosed '[' in IPv6 address"))?;
        return Ok((h.to_string(), p.strip_prefix(':').unwrap_or("")));
    }
    Ok(match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p),
        None => (authority.to_string(), ""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_broker_urls() {
        assert_eq!(BrokerSpec::parse("embedded"), Ok(BrokerSpec::EMBEDDED));
        assert_eq!(BrokerSpec::parse("spawn:mosquitto"), Ok(BrokerSpec::SPAWN_MOSQUITTO));
        assert_eq!(
            BrokerSpec::parse("mqtt://127.0.0.1:1999"),
            Ok(BrokerSpec::External {
                url: "mqtt://127.0.0.1:1999".into(),
                host: "127.0.0.1".into(),
                port: 1999,
                wire: Wire::Tcp,
                path: String::new(),
            })
        );
        assert!(matches!(BrokerSpec::parse("mqtt://[::1]:7"), Ok(BrokerSpec::External { port: 7, .. })));
        assert!(matches!(BrokerSpec::parse("mqtt://localhost"), Ok(BrokerSpec::External { port: 1883, .. })));
        assert!(matches!(BrokerSpec::parse("mqtt://localhost/"), Ok(BrokerSpec::External { port: 1883, .. })));
        assert!(matches!(
            BrokerSpec::parse("mqtts://localhost"),
            Ok(BrokerSpec::External { port: 8883, wire: Wire::Tls, .. })
        ));
        assert!(matches!(
            BrokerSpec::parse("mqtts://127.0.0.1:18883"),
            Ok(BrokerSpec::External { port: 18883, wire: Wire::Tls, .. })
        ));
        assert!(BrokerSpec::parse("mqtt://h:notaport").is_err());
        assert!(BrokerSpec::parse("127.0.0.1:1883").is_err());
        assert!(BrokerSpec::parse("http://h:1").unwrap_err().contains("not supported"));
    }

    #[test]
    fn parses_websocket_urls_and_local_transports() {
        let ws = BrokerSpec::parse("ws://127.0.0.1:9001").unwrap();
        assert_eq!(ws.wire(), Wire::Ws);
        assert_eq!(ws.ws_uri(([127, 0, 0, 1], 5).into()).as_deref(), Some("ws://127.0.0.1:9001/mqtt"));
        let wss = BrokerSpec::parse("wss://broker.example/mqtt/ws").unwrap();
        assert!(matches!(&wss, BrokerSpec::External { port: 443, wire: Wire::Wss, path, .. } if path == "/mqtt/ws"));
        assert_eq!(wss.ws_uri(([127, 0, 0, 1], 5).into()).as_deref(), Some("wss://broker.example:443/mqtt/ws"));
        assert!(matches!(BrokerSpec::parse("ws://h"), Ok(BrokerSpec::External { port: 80, .. })));
        assert_eq!(BrokerSpec::parse("[::1]").ok(), None);
        let v6 = BrokerSpec::parse("ws://[::1]:9001/").unwrap();
        assert_eq!(v6.ws_uri(([127, 0, 0, 1], 5).into()).as_deref(), Some("ws://[::1]:9001/mqtt"));
        assert_eq!(BrokerSpec::parse("embedded+ws"), Ok(BrokerSpec::Embedded { wire: Wire::Ws }));
        assert_eq!(BrokerSpec::parse("embedded+wss"), Ok(BrokerSpec::Embedded { wire: Wire::Wss }));
        let local = BrokerSpec::parse("embedded+ws").unwrap();
        assert_eq!(local.ws_uri(([127, 0, 0, 1], 5).into()).as_deref(), Some("ws://127.0.0.1:5/mqtt"));
        assert_eq!(BrokerSpec::parse("spawn:mosquitto+tls"), Ok(BrokerSpec::SpawnMosquitto { wire: Wire::Tls }));
        assert!(BrokerSpec::parse("spawn:mosquitto+ws").unwrap_err().contains("no WebSocket listener"));
        assert!(BrokerSpec::parse("embedded+quic").unwrap_err().contains("unknown transport"));
        assert_eq!(BrokerSpec::parse("mqtt://h").unwrap().ws_uri(([127, 0, 0, 1], 5).into()), None);
    }
}
