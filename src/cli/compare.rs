//! `midge compare A B`: the table (or JSON) and the exit status.

use crate::report::compare::{self, FailOn};
use crate::runner::exit;
use std::path::Path;

/// `midge compare A B`: 0 (or 1 when a `--fail-on` figure got worse by
/// more than its limit), 2 for a file that is not a midge report or an
/// unknown figure name.
pub(super) fn compare_reports(a: &Path, b: &Path, rules: &[FailOn], json: bool) -> i32 {
    let (ra, rb) = match (compare::load(a), compare::load(b)) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let c = compare::compare(&ra, &rb);
    let outcomes = match compare::check(&c, rules) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    let (la, lb) = (a.display().to_string(), b.display().to_string());
    if json {
        let j = compare::to_json(&c, &la, &lb, &outcomes);
        println!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    } else {
        print!("{}", compare::render_table(&c, &la, &lb));
        if !outcomes.is_empty() {
            println!();
            for o in &outcomes {
                println!("{}", o.describe());
            }
        }
    }
    for o in outcomes.iter().filter(|o| o.worse_pct.is_none()) {
        eprintln!("warning: --fail-on {}: not in both reports, not checked", o.rule.figure);
    }
    if outcomes.iter().any(|o| o.failed) {
        exit::EXPECTATION_FAILED
    } else {
        exit::PASS
    }
}
