//! The tracking header at the start of every message midge publishes.
//!
//! Layout (big endian, 40 bytes): magic "MDG1", run id (u64), publisher index
//! (u32), sequence (u64), intended send time and actual send time (u64
//! microseconds since the Unix epoch). Padding follows up to the configured size.
//! The run id keeps stale retained or queued messages from earlier runs apart.
//!
//! `Decoded`: tracked (this run's header), stale (another run's), foreign (no
//! midge header).

use bytes::{BufMut, BytesMut};

pub const MAGIC: [u8; 4] = *b"MDG1";
pub const HEADER_LEN: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub run_id: u64,
    pub publisher: u32,
    pub seq: u64,
    pub intended_us: u64,
    pub sent_us: u64,
}

/// What a received payload turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    Tracked(Header),
    /// A midge message from another run (retained or queued from earlier).
    Stale,
    /// Not a midge message at all.
    Foreign,
}

impl Header {
    /// Writes the header and pads with a fixed byte up to `size`.
    pub fn write(&self, size: usize, out: &mut BytesMut) {
        out.reserve(size.max(HEADER_LEN));
        out.put_slice(&MAGIC);
        out.put_u64(self.run_id);
        out.put_u32(self.publisher);
        out.put_u64(self.seq);
        out.put_u64(self.intended_us);
        out.put_u64(self.sent_us);
        if size > HEADER_LEN {
            out.put_bytes(b'.', size - HEADER_LEN);
        }
    }

    pub fn decode(payload: &[u8], run_id: u64) -> Decoded {
        if payload.len() < HEADER_LEN || payload[..4] != MAGIC {
            return Decoded::Foreign;
        }
        let u64_at = |i: usize| u64::from_be_bytes(payload[i..i + 8].try_into().unwrap());
        let header = Header {
            run_id: u64_at(4),
            publisher: u32::from_be_bytes(payload[12..16].try_into().unwrap()),
            seq: u64_at(16),
            intended_us: u64_at(24),
            sent_us: u64_at(32),
        };
        if header.run_id != run_id {
            Decoded::Stale
        } else {
            Decoded::Tracked(header)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let h = Header { run_id: 7, publisher: 3, seq: 1 << 40, intended_us: 11, sent_us: 12 };
        let mut b = BytesMut::new();
        h.write(100, &mut b);
        assert_eq!(b.len(), 100);
        assert_eq!(Header::decode(&b, 7), Decoded::Tracked(h));
        assert_eq!(Header::decode(&b, 8), Decoded::Stale);
        assert_eq!(Header::decode(b"hello", 7), Decoded::Foreign);
        assert_eq!(Header::decode(&b[..39], 7), Decoded::Foreign);
    }
}
