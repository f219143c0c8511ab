//! report.md's "Shards" section: what a shard's own report leaves out, or
//! which shards a merged report joined and how far their clocks can be trusted.

use crate::analysis::model::ShardsInfo;
use std::fmt::Write;

pub fn shards_section(s: &ShardsInfo) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "## Shards\n");
    match s.shard {
        Some(i) => {
            let _ = writeln!(
                o,
                "This is shard {i} of {} (`--shard {i}/{}`): its figures cover only the streams inside this slice. Left to `midge merge`: {}.\n",
                s.count,
                s.count,
                s.accounted_by_merge_only.join("; ")
            );
        }
        None => merged(&mut o, s),
    }
    if let Some(late) = s.start_late_ms.filter(|l| *l > 0.0) {
        let _ = writeln!(o, "Publishing started {late:.1} ms after `--start-at` (clients still connecting).\n");
    }
    o
}

fn merged(o: &mut String, s: &ShardsInfo) {
    let _ = writeln!(o, "Merged from {} shards, analysed as one run.\n", s.count);
    let _ = writeln!(o, "| shard | clients | clock offset | publishing began | late vs --start-at |");
    let _ = writeln!(o, "|---|---|---|---|---|");
    for p in &s.parts {
        let opt = |v: Option<f64>, unit: &str| v.map_or("–".to_string(), |v| format!("{v:.3} {unit}"));
        let _ = writeln!(
            o,
            "| {} | {} | {:.3} ms | {} | {} |",
            p.index,
            p.clients,
            p.clock_offset_ms,
            opt(p.publish_start_s, "s"),
            opt(p.start_late_ms, "ms")
        );
    }
    let _ = writeln!(o);
    if let Some(skew) = s.start_skew_ms {
        let _ = writeln!(o, "Publishing starts spread over {skew:.1} ms.");
    }
    let _ = match s.cross_shard_latency_bound_ms {
        Some(b) => writeln!(
            o,
            "Clocks: a latency measured between two shards is off by at most {b:.3} ms (bounded by the quickest delivery each way).\n"
        ),
        None => writeln!(
            o,
            "Clocks: no pair of shards delivered both ways, so how far their clocks differ is not measured; cross-shard latencies carry that unknown offset.\n"
        ),
    };
}
