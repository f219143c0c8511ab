//! Snapshots of the swarm while it runs, for the periodic report: the
//! runner asks, every client task answers with a copy of what it has
//! recorded so far (its `ClientRecord`, the open connection cut at the
//! snapshot's horizon) the next time it wakes. Nothing is shared on the hot
//! path: a client looks at one atomic per wake-up.

use crate::record::ClientRecord;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Snapshots {
    /// The round last asked for (0: none yet).
    asked: AtomicU64,
    board: Mutex<Board>,
}

#[derive(Default)]
struct Board {
    round: u64,
    /// Run-clock µs: an open connection is taken as ended here (see
    /// `Client::snapshot_record`).
    horizon_us: u64,
    /// Taken: late answers to this round are dropped.
    closed: bool,
    records: Vec<ClientRecord>,
}

impl Snapshots {
    /// Asks every client for its record, open connections cut at
    /// `horizon_us`; returns the round.
    pub fn ask(&self, horizon_us: u64) -> u64 {
        let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
        b.round += 1;
        b.horizon_us = horizon_us;
        b.closed = false;
        b.records.clear();
        self.asked.store(b.round, Ordering::Release);
        b.round
    }

    /// The round last asked for (0: none).
    pub fn asked(&self) -> u64 {
        self.asked.load(Ordering::Acquire)
    }

    /// A client's answer to `round`: `record(horizon_us)` is called only
    /// while the round is open.
    pub fn answer(&self, round: u64, record: impl FnOnce(u64) -> ClientRecord) {
        let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
        if b.round == round && !b.closed {
            let r = record(b.horizon_us);
            b.records.push(r);
        }
    }

    /// Answers so far to the open round.
    pub fn answers(&self) -> usize {
        self.board.lock().unwrap_or_else(|e| e.into_inner()).records.len()
    }

    /// Closes the round and takes its answers, by client index.
    pub fn take(&self) -> Vec<ClientRecord> {
        let mut b = self.board.lock().unwrap_or_else(|e| e.into_inner());
        b.closed = true;
        let mut records = std::mem::take(&mut b.records);
        records.sort_by_key(|r| r.index);
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: u32) -> ClientRecord {
        ClientRecord { index, ..Default::default() }
    }

    #[test]
    fn answers_count_only_for_the_open_round() {
        let s = Snapshots::default();
        assert_eq!(s.asked(), 0);
        let r1 = s.ask(1_000);
        s.answer(r1, |h| {
            assert_eq!(h, 1_000, "the horizon asked for");
            record(2)
        });
        s.answer(r1, |_| record(1));
        assert_eq!(s.answers(), 2);
        assert_eq!(s.take().iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 2]);
        // Late: the round is closed.
        s.answer(r1, |_| panic!("not called for a closed round"));
        let r2 = s.ask(2_000);
        s.answer(r1, |_| panic!("not called for an old round"));
        assert_eq!((r2, s.asked(), s.answers()), (2, 2, 0));
    }
}
