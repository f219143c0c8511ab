//! Reports for people and scripts: report.json (the `Report` model, which
//! the analysis fills), report.md and report.html, written into a run's
//! folder beside its run record — and written again from that record by
//! `midge report DIR`. `compare` sets two runs' report.json side by side
//! (`midge compare A B`).

pub mod compare;
pub mod html;
pub mod markdown;

pub use crate::analysis::model::*;

use crate::plan::Plan;
use crate::record::{RunRecord, RECORD_FILE};
use std::path::Path;

impl Report {
    pub fn write_files(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json + "\n")?;
        std::fs::write(dir.join("report.md"), markdown::render(self))?;
        std::fs::write(dir.join("report.html"), html::render(self))?;
        Ok(())
    }

    pub fn passed(&self) -> bool {
        self.verdict == crate::record::vocab::Verdict::Pass
    }
}

/// Writes the run record beside the reports.
pub fn write_record(record: &RunRecord, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(RECORD_FILE), record.to_json())
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
