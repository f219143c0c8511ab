//! The flight recorder: the last packets a connection sent and received,
//! kept for every client in a fixed ring (no allocation per packet) and
//! dumped only when a connection ends badly, as evidence for a finding.
//!
//! The ring is 16 slots of 16 B each, in the `Connection`; it is copied into
//! the client's `Generation` only when a connection ends badly.

pub const FLIGHT_LEN: usize = 16;

use crate::record::wire::FlightEntry;

/// A `FlightEntry` packed into 16 bytes (every connection carries 16 of them).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    t_us: u64,
    size: u32,
    pkid: u16,
    /// The packet's first byte: type and flags.
    byte1: u8,
    /// Bit 0: sent; bit 1: malformed.
    bits: u8,
}

impl Slot {
    fn pack(e: &FlightEntry) -> Slot {
        Slot {
            t_us: e.t_us,
            size: e.size,
            pkid: e.pkid,
            byte1: (e.packet_type << 4) | (e.flags & 0x0f),
            bits: e.sent as u8 | (e.malformed as u8) << 1,
        }
    }

    fn unpack(self) -> FlightEntry {
        FlightEntry {
            t_us: self.t_us,
            sent: self.bits & 1 != 0,
            packet_type: self.byte1 >> 4,
            flags: self.byte1 & 0x0f,
            size: self.size,
            pkid: self.pkid,
            malformed: self.bits & 2 != 0,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct FlightRecorder {
    ring: [Slot; FLIGHT_LEN],
    next: u8,
    len: u8,
}

impl FlightRecorder {
    pub fn record(&mut self, e: FlightEntry) {
        self.ring[self.next as usize] = Slot::pack(&e);
        self.next = (self.next + 1) % FLIGHT_LEN as u8;
        self.len = (self.len + 1).min(FLIGHT_LEN as u8);
    }

    /// The recorded packets, oldest first.
    pub fn snapshot(&self) -> Vec<FlightEntry> {
        let (next, len) = (self.next as usize, self.len as usize);
        let start = (next + FLIGHT_LEN - len) % FLIGHT_LEN;
        (0..len).map(|i| self.ring[(start + i) % FLIGHT_LEN].unpack()).collect()
    }

    pub fn last(&self) -> Option<FlightEntry> {
        (self.len > 0).then(|| self.ring[(self.next as usize + FLIGHT_LEN - 1) % FLIGHT_LEN].unpack())
    }

    /// The last packet received (a reply queued since comes after it).
    pub fn last_received(&self) -> Option<FlightEntry> {
        (1..=self.len as usize)
            .map(|back| self.ring[(self.next as usize + FLIGHT_LEN - back) % FLIGHT_LEN].unpack())
            .find(|e| !e.sent)
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
        f.record(FlightEntry { t_us: 20, sent: true, ..Default::default() });
        assert_eq!(f.last_received().unwrap().t_us, 19, "the reply queued after it is skipped");
        assert!(FlightRecorder::default().last_received().is_none());
    }

    #[test]
    fn entries_survive_packing() {
        let mut f = FlightRecorder::default();
        let e = FlightEntry {
            t_us: 1 << 40,
            sent: true,
            packet_type: 3,
            flags: 0b1011,
            size: 1 << 30,
            pkid: 65535,
            malformed: true,
        };
        f.record(e);
        assert_eq!(f.last(), Some(e));
        assert_eq!(std::mem::size_of::<FlightRecorder>(), 16 * 16 + 8);
    }
}
