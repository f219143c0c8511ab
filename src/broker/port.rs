//! A free loopback port for a broker midge starts.

use std::net::TcpListener;

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
