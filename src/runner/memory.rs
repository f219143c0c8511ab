//! How midge's own memory behaves over a long run: glibc's malloc settings
//! and handing freed memory back. A soak's RSS must stay flat
//! (docs/PERFORMANCE.md, "Soak memory").

/// Allocations of this many bytes or more get their own mapping.
const MMAP_THRESHOLD: i32 = 128 * 1024;
/// How far RSS may rise above where the last trim left it before the
/// sampler trims again.
const TRIM_SLACK_KIB: u64 = 256;

/// Sets glibc's malloc up for a long run: mmap threshold pinned, one arena.
/// Called first thing in `cli::main`, before any thread exists: glibc fixes
/// its arena limit when the first thread other than main allocates (a
/// tokio runtime's worker, say), so a later `M_ARENA_MAX` came too late
/// (`malloc_stats` showed two arenas). `runner::run` calls it again for
/// library users: there the mmap threshold still takes, the arena limit
/// only if no other thread has allocated yet.
///
/// Pins glibc's mmap threshold at its default, 128 KiB. glibc raises it
/// (up to 32 MiB) each time a mapped block larger than it is freed, so after
/// the first latency histogram (188 KB) comes and goes every later one —
/// the sampler's each second, the snapshot's a dozen a minute — is carved
/// from a heap instead: zeroed there in full (resident, where a fresh
/// mapping touches only the buckets written), and left behind as holes the
/// small allocations then pin. Mapped, a histogram costs only its written
/// pages and is unmapped when freed.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning, and is safe to
    // call anytime.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        // One arena for every thread: what a snapshot or a burst frees on
        // one worker is reused by the others, and `malloc_trim` reaches it
        // all (per-thread arenas each kept their own high-water mark).
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands the memory a snapshot freed back to the system. A snapshot's copies,
/// analysis and report are freed at once, but glibc keeps freed memory for
/// later (its heap top only shrinks past a threshold, and its per-thread
/// arenas not at all), so without this a soak's RSS ratchets up toward the
/// largest snapshot so far.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// When the sampler hands free memory back. A burst of load (a broker that
/// stalls, a busy machine) raises the live heap for a few seconds — larger
/// in-flight tables, batches, read buffers — and glibc keeps the pages once
/// they are freed, so without a trim RSS would sit at the largest burst so
/// far: on a soak a ratchet, though the live heap is flat. A trim is due
/// when RSS has risen `TRIM_SLACK_KIB` above where the last one left it (or
/// the lowest seen since); most seconds it is not.
#[derive(Debug, Default)]
pub struct Trimmer {
    floor_kib: Option<u64>,
}

impl Trimmer {
    /// Notes a sample of RSS; true when a trim is due (then `trimmed`).
    pub fn note(&mut self, rss_kib: u64) -> bool {
        match self.floor_kib {
            Some(floor) if rss_kib > floor + TRIM_SLACK_KIB => true,
            Some(floor) => {
                self.floor_kib = Some(floor.min(rss_kib));
                false
            }
            None => {
                self.floor_kib = Some(rss_kib);
                false
            }
        }
    }

    /// A trim left RSS at `rss_kib`: the new floor, whatever it was.
    pub fn trimmed(&mut self, rss_kib: u64) {
        self.floor_kib = Some(rss_kib);
    }

    /// Trims if one is due after a sample of `rss_kib`.
    pub fn after_sample(&mut self, rss_kib: u64) {
        if self.note(rss_kib) {
            release_free_memory();
            self.trimmed(crate::metrics::process_rss_kib());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_is_due_only_past_the_slack_above_the_floor() {
        let mut t = Trimmer::default();
        assert!(!t.note(10_000), "the first sample sets the floor");
        assert!(!t.note(10_000 + TRIM_SLACK_KIB), "at the slack: not yet");
        assert!(t.note(10_000 + TRIM_SLACK_KIB + 1));
        // The trim got back all but 100 KiB: that is the floor now.
        t.trimmed(10_100);
        assert!(!t.note(10_300));
        assert!(t.note(10_400));
        t.trimmed(10_150);
        // RSS falling (a snapshot's own trim) lowers the floor.
        assert!(!t.note(9_000));
        assert!(!t.note(9_000 + TRIM_SLACK_KIB));
        assert!(t.note(9_001 + TRIM_SLACK_KIB));
        // A trim that gets nothing back raises the floor to where RSS is.
        t.trimmed(12_000);
        assert!(!t.note(12_000 + TRIM_SLACK_KIB));
    }
}
