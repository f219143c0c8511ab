//! report.md's "Publishers heard from outside this run's plan" section: a
//! `midge sub` run's view of a `midge pub` run (`unplanned_publishers`),
//! the 50 with trouble (gaps, duplicates, out of order) first.

use crate::analysis::model::Report;
use std::fmt::Write;

/// Rows shown; the rest are in report.json.
const SHOWN: usize = 50;

pub fn unplanned_publishers(o: &mut String, r: &Report) {
    let all = &r.unplanned_publishers;
    if all.is_empty() {
        return;
    }
    let received: u64 = all.iter().map(|u| u.received).sum();
    let gaps: u64 = all.iter().map(|u| u.gaps).sum();
    let _ = writeln!(o, "## Publishers heard from outside this run's plan\n");
    let _ = writeln!(
        o,
        "{} publishers of run {} this run did not plan (a `midge pub` with the same --run-id): {received} messages, {gaps} missing between the first and last each subscriber got. Owed nothing here; `midge merge PUBDIR SUBDIR` counts them exactly.\n",
        all.len(),
        r.run_id
    );
    let mut rows: Vec<_> = all.iter().collect();
    rows.sort_by_key(|u| std::cmp::Reverse(u.gaps + u.duplicated + u.out_of_order));
    let _ = writeln!(
        o,
        "| publisher | subscribers | received | seq | gaps | duplicated | out of order | quickest | slowest |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|");
    let ms = |v: Option<i64>| v.map_or("–".to_string(), |us| format!("{:.3} ms", us as f64 / 1000.0));
    for u in rows.iter().take(SHOWN) {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {}–{} | {} | {} | {} | {} | {} |",
            u.publisher,
            u.subscribers,
            u.received,
            u.first_seq,
            u.last_seq,
            u.gaps,
            u.duplicated,
            u.out_of_order,
            ms(u.min_one_way_us),
            ms(u.max_one_way_us)
        );
    }
    if rows.len() > SHOWN {
        let _ = writeln!(o, "\n{} more in report.json (`unplanned_publishers`).", rows.len() - SHOWN);
    }
    let _ = writeln!(o);
}
