//! Local addresses to connect from, as a scenario or `--source-addrs`
//! writes them.

/// Parses "127.0.0.2-127.0.0.9", "127.0.0.2-9" or "127.0.0.2,127.0.0.3" (mixable).
pub fn parse_source_addrs(s: &str) -> Result<Vec<std::net::IpAddr>, String> {
    use std::net::{IpAddr, Ipv4Addr};
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            None => {
                out.push(part.parse::<IpAddr>().map_err(|_| format!("source address {part:?} is not an IP address"))?)
            }
            Some((a, b)) => {
                let start: Ipv4Addr =
                    a.trim().parse().map_err(|_| format!("source range {part:?}: {a:?} is not an IPv4 address"))?;
                let end: Ipv4Addr = match b.trim().parse::<Ipv4Addr>() {
                    Ok(e) => e,
                    Err(_) => {
                        let last: u8 = b.trim().parse().map_err(|_| {
                            format!("source range {part:?}: {b:?} is neither an IPv4 address nor a last octet")
                        })?;
                        let o = start.octets();
                        Ipv4Addr::new(o[0], o[1], o[2], last)
                    }
                };
                let (s, e) = (u32::from(start), u32::from(end));
                if e < s || e - s > 65_535 {
                    return Err(format!("source range {part:?} is empty or too wide"));
                }
                out.extend((s..=e).map(|x| IpAddr::V4(Ipv4Addr::from(x))));
            }
        }
    }
    if out.is_empty() {
        return Err("no source addresses given".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_lists() {
        let v = parse_source_addrs("127.0.0.2-127.0.0.4,127.0.0.9").unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(parse_source_addrs("127.0.0.2-9").unwrap().len(), 8);
        assert!(parse_source_addrs("127.0.0.9-127.0.0.2").is_err());
        assert!(parse_source_addrs("nope").is_err());
    }
}
