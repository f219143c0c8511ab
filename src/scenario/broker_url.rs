//! Where the broker under test is: `embedded`, `spawn:mosquitto`, or a
//! `mqtt://` / `mqtts://` URL.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerSpec {
    Embedded,
    SpawnMosquitto,
    /// `tls`: mqtts:// (the clients speak TLS; see `[broker.tls]`).
    External {
        url: String,
        host: String,
        port: u16,
        tls: bool,
    },
}

impl BrokerSpec {
    pub fn parse(s: &str) -> Result<BrokerSpec, String> {
        let s = s.trim();
        match s {
            "embedded" => return Ok(BrokerSpec::Embedded),
            "spawn:mosquitto" => return Ok(BrokerSpec::SpawnMosquitto),
            _ => {}
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(format!("broker {s:?}: expected mqtt://host:port, \"embedded\" or \"spawn:mosquitto\""));
        };
        let tls = match scheme {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" | "tls" => true,
            _ => {
                return Err(format!("broker {s:?}: scheme {scheme}:// is not supported yet (mqtt:// and mqtts:// are)"))
            }
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or_else(|| format!("broker {s:?}: unclosed '[' in IPv6 address"))?;
            (h.to_string(), p.strip_prefix(':').unwrap_or(""))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (rest.to_string(), ""),
            }
        };
        let port = if port.is_empty() {
            if tls {
                8883
            } else {
                1883
            }
        } else {
            port.parse::<u16>().map_err(|_| format!("broker {s:?}: port {port:?} is not a number from 1 to 65535"))?
        };
        if host.is_empty() {
            return Err(format!("broker {s:?}: no host"));
        }
        Ok(BrokerSpec::External { url: s.to_string(), host, port, tls })
    }

    /// The host name a TLS client checks the certificate against.
    pub fn host(&self) -> Option<&str> {
        match self {
            BrokerSpec::External { host, .. } => Some(host),
            _ => None,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, BrokerSpec::External { tls: true, .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_broker_urls() {
        assert_eq!(BrokerSpec::parse("embedded"), Ok(BrokerSpec::Embedded));
        assert_eq!(BrokerSpec::parse("spawn:mosquitto"), Ok(BrokerSpec::SpawnMosquitto));
        assert_eq!(
            BrokerSpec::parse("mqtt://127.0.0.1:1999"),
            Ok(BrokerSpec::External {
                url: "mqtt://127.0.0.1:1999".into(),
                host: "127.0.0.1".into(),
                port: 1999,
                tls: false
            })
        );
        assert!(matches!(BrokerSpec::parse("mqtt://[::1]:7"), Ok(BrokerSpec::External { port: 7, .. })));
        assert!(matches!(BrokerSpec::parse("mqtt://localhost"), Ok(BrokerSpec::External { port: 1883, .. })));
        assert!(matches!(
            BrokerSpec::parse("mqtts://localhost"),
            Ok(BrokerSpec::External { port: 8883, tls: true, .. })
        ));
        assert!(matches!(
            BrokerSpec::parse("mqtts://127.0.0.1:18883"),
            Ok(BrokerSpec::External { port: 18883, tls: true, .. })
        ));
        assert!(BrokerSpec::parse("ws://localhost").unwrap_err().contains("not supported yet"));
        assert!(BrokerSpec::parse("mqtt://h:notaport").is_err());
        assert!(BrokerSpec::parse("127.0.0.1:1883").is_err());
        assert!(BrokerSpec::parse("wss://h:1").unwrap_err().contains("not supported"));
    }
}
