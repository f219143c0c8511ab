//! The flight recorder: the last packets a connection sent and received,
//! kept for every client in a fixed ring (no allocation per packet) and
//! dumped only when a connection ends badly, as evidence for a finding.

use serde::{Deserialize, Serialize};

pub const FLIGHT_LEN: usize = 16;

/// One packet on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlightEntry {
    /// Run-clock microseconds.
    pub t_us: u64,
    /// "sent" or "received".
    pub sent: bool,
    /// MQTT packet type number (3 = PUBLISH, …).
    pub packet_type: u8,
    /// The low nibble of the first byte (DUP, QoS, RETAIN for PUBLISH).
    pub flags: u8,
    /// Bytes on the wire.
    pub size: u32,
    /// Packet identifier, 0 when the packet has none.
    pub pkid: u16,
    /// The packet could not be decoded (received) or was malformed on purpose (sent).
    pub malformed: bool,
}

#[derive(Debug, Clone)]
pub struct FlightRecorder {
    ring: [FlightEntry; FLIGHT_LEN],
    next: usize,
    len: usize,
}

impl Default for FlightRecorder {
    fn default() -> Self {
        FlightRecorder { ring: [FlightEntry::default(); FLIGHT_LEN], next: 0, len: 0 }
    }
}

impl FlightRecorder {
    pub fn record(&mut self, e: FlightEntry) {
        self.ring[self.next] = e;
        self.next = (self.next + 1) % FLIGHT_LEN;
        self.len = (self.len + 1).min(FLIGHT_LEN);
    }

    /// The recorded packets, oldest first.
    pub fn snapshot(&self) -> Vec<FlightEntry> {
        let start = (self.next + FLIGHT_LEN - self.len) % FLIGHT_LEN;
        (0..self.len).map(|i| self.ring[(start + i) % FLIGHT_LEN]).collect()
    }

    pub fn last(&self) -> Option<&FlightEntry> {
        (self.len > 0).then(|| &self.ring[(self.next + FLIGHT_LEN - 1) % FLIGHT_LEN])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_sixteen_oldest_first() {
        let mut f = FlightRecorder::default();
        assert!(f.snapshot().is_empty() && f.last().is_none());
        for i in 0..20u64 {
            f.record(FlightEntry { t_us: i, ..Default::default() });
        }
        let s = f.snapshot();
        assert_eq!(s.len(), 16);
        assert_eq!(s.first().unwrap().t_us, 4);
        assert_eq!(f.last().unwrap().t_us, 19);
    }
}
