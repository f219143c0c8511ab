//! Reports for people and scripts: report.json (the `Report` model, which
//! the analysis fills), report.md and report.html, written into a run's
//! folder beside its run record — and written again from that record by
//! `midge report DIR`. `compare` sets two runs' report.json side by side
//! (`midge compare A B`).
//!
//! Every file goes through `write_atomically` (a temporary file in the same
//! folder, fsync, rename, folder fsync). `write_partial` writes json and md
//! only. `rerender` reads `record.json`, rebuilds the plan (`Plan::rebuild`)
//! and runs `analysis::analyse` again: for an unchanged midge the three files
//! come back byte for byte (`tests/rerender.rs`).

pub mod compare;
pub mod html;
pub mod markdown;

use crate::analysis::model::*;

use crate::plan::Plan;
use crate::record::{RunRecord, RECORD_FILE};
use std::path::Path;

impl Report {
    /// report.json, report.md and report.html, each replaced atomically.
    pub fn write_files(&self, dir: &Path) -> std::io::Result<()> {
        self.write_partial(dir)?;
        write_atomically(dir, "report.html", html::render(self).as_bytes())
    }

    /// report.json and report.md, each replaced atomically (the periodic
    /// report while a run goes on; the final one adds report.html).
    pub fn write_partial(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(dir, "report.json", (json + "\n").as_bytes())?;
        write_atomically(dir, "report.md", markdown::render(self).as_bytes())
    }

    pub fn passed(&self) -> bool {
        self.verdict == crate::record::vocab::Verdict::Pass
    }
}

/// Replaces `dir/name` with `bytes` so that a reader (or a kill at any
/// moment) sees the old file or the new one, whole: a temporary file in the
/// same folder, flushed to disk, renamed over the old one, the folder synced.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    write_atomically_with(dir, name, |f| f.write_all(bytes))
}

/// `write_atomically`, the bytes written by `write` into a buffered file:
/// a large file (the run record) streams out and is never held whole in memory.
pub fn write_atomically_with(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::io::BufWriter::with_capacity(64 * 1024, std::fs::File::create(&tmp)?);
    write(&mut f)?;
    let f = f.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    // The rename itself reaches the disk with the folder's entry.
    std::fs::File::open(dir).and_then(|d| d.sync_all())
}

/// Writes the run record beside the reports, streamed (the same bytes as
/// `RunRecord::to_json`): a 10,000-client record is megabytes of text that
/// would otherwise be built in memory after the analysis, above the run's
/// peak.
pub fn write_record(record: &RunRecord, dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    write_atomically_with(dir, RECORD_FILE, |f| {
        serde_json::to_writer(&mut *f, record).map_err(std::io::Error::other)?;
        f.write_all(b"\n")
    })
}

/// `midge report DIR`: reads the run record in `dir`, builds the run's plan
/// again, analyses the record and writes report.json, report.md and
/// report.html anew.
pub fn rerender(dir: &Path) -> Result<Report, String> {
    let path = dir.join(RECORD_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let record = RunRecord::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let plan = Plan::rebuild(&record.plan).map_err(|e| format!("{}: the run's plan: {e}", path.display()))?;
    let report = crate::analysis::analyse(&plan, &record);
    report.write_files(dir).map_err(|e| format!("cannot write the report to {}: {e}", dir.display()))?;
    Ok(report)
}
